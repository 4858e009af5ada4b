//! ESO's Webhook provider (`spec.provider.webhook`) and Webhook generator (`generators.external-secrets.io`
//! `Webhook`), sharing one request implementation as ESO does (`providers/v1/webhook/pkg/webhook`, v2.9.0).
//!
//! A read renders `url` (with `remoteRef` query-escaped), `body` and `headers` as Go templates (see
//! [`template`]), sends `method` (GET by default; POST for a push), and takes the answer: 404 is the store's
//! "not found", any other status outside 2xx an error naming only the status (the body may hold secrets and is
//! never quoted). `result.jsonPath` (itself a template, for stores) selects the value in the JSON answer as
//! PaesslerAG/jsonpath does (see [`jsonpath`]). `secrets[]` hands every key of each named Secret to the templates
//! under its `name`; the Secret must carry the label `external-secrets.io/type: webhook`, and for a
//! ClusterSecretStore must name its namespace (ESO's rules). `caBundle` / `caProvider` replace the system roots.
//!
//! Differences from ESO (also in docs/compatibility.md): `remoteRef.property` is not sent (the controller applies
//! it to the answer, as for every provider: the fetch plan de-duplicates reads by key and version); `auth.ntlm` is
//! not supported; an unset `timeout` is 30 s, not unlimited; a push without `body` sends the value itself (ESO's
//! default template `{{ .remoteRef.<remoteKey> }}` fails for keys that are not identifiers); the DELETE of a
//! PushSecret's `deletionPolicy: Delete` has `secrets[]` in its template data (ESO's lacks them, so its headers
//! cannot authenticate); templates run with `missingkey=error`.

pub mod jsonpath;
pub mod template;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use external_secrets_api::duration::parse_go_duration;
use external_secrets_api::generators::v1alpha1::{GeneratorKind, GeneratorSpec, WebhookCaProvider, WebhookSpec};
use external_secrets_api::{CaProvider, WebhookProvider as WebhookProviderSpec};
use external_secrets_generators::{CredentialedGenerator, Generated, GeneratorError, spec_of};
use external_secrets_provider::{
    Capabilities, CredentialResolver, FindQuery, ObserveApiCall, Provider, ProviderError, PushRemoteRef,
    PushSecretData, PushSource, RemoteKey, RemoteValue, SecretBytes, StoreClient, StoreContext, StoreKind, Validation,
    error_chain,
};
use reqwest::{Method, StatusCode};

use crate::template::{TemplateData, remote_ref_for_push, remote_ref_for_read, render};

/// ESO's metric labels for this provider's calls.
const METRIC_PROVIDER: &str = "Webhook";
const METRIC_CALL: &str = "HTTPRequest";
/// The label a Secret in `secrets[]` must carry, and its value (ESO enforces it).
const TYPE_LABEL: &str = "external-secrets.io/type";
const TYPE_LABEL_VALUE: &str = "webhook";
/// An unset `timeout`: ESO waits forever; a bound keeps a hung endpoint from holding a worker.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer read; a Secret holds at most 1 MiB.
const MAX_ANSWER_BYTES: usize = 16 << 20;

/// A `secrets[]` entry: the name the templates use, and the Secret.
#[derive(Clone, Debug)]
struct TemplateSecret {
    name: String,
    secret_name: String,
    namespace: Option<String>,
}

/// The request settings ESO's store and generator share.
#[derive(Clone, Debug)]
struct Config {
    method: Option<String>,
    url: String,
    headers: BTreeMap<String, String>,
    body: String,
    timeout: Option<String>,
    json_path: String,
    secrets: Vec<TemplateSecret>,
    ca_bundle: Option<Vec<u8>>,
    ca_provider: Option<WebhookCaProvider>,
    ntlm: bool,
}

impl From<&WebhookProviderSpec> for Config {
    fn from(spec: &WebhookProviderSpec) -> Self {
        Self {
            method: spec.method.clone(),
            url: spec.url.clone(),
            headers: spec.headers.clone(),
            body: spec.body.clone().unwrap_or_default(),
            timeout: spec.timeout.clone(),
            json_path: spec.result.as_ref().and_then(|r| r.json_path.clone()).unwrap_or_default(),
            secrets: spec
                .secrets
                .iter()
                .map(|s| TemplateSecret {
                    name: s.name.clone(),
                    secret_name: s.secret_ref.name.clone(),
                    namespace: s.secret_ref.namespace.clone(),
                })
                .collect(),
            ca_bundle: spec.ca_bundle.as_ref().map(|b| b.0.clone()).filter(|b| !b.is_empty()),
            ca_provider: spec.ca_provider.clone(),
            ntlm: spec.auth.as_ref().is_some_and(|a| a.ntlm.is_some()),
        }
    }
}

impl From<&WebhookSpec> for Config {
    fn from(spec: &WebhookSpec) -> Self {
        Self {
            method: spec.method.clone(),
            url: spec.url.clone(),
            headers: spec.headers.clone(),
            body: spec.body.clone().unwrap_or_default(),
            timeout: spec.timeout.clone(),
            json_path: spec.result.json_path.clone().unwrap_or_default(),
            secrets: spec
                .secrets
                .iter()
                .map(|s| TemplateSecret {
                    name: s.name.clone(),
                    secret_name: s.secret_ref.name.clone(),
                    namespace: None,
                })
                .collect(),
            ca_bundle: spec.ca_bundle.as_ref().map(|b| b.0.clone()).filter(|b| !b.is_empty()),
            ca_provider: spec.ca_provider.clone(),
            ntlm: spec.auth.as_ref().is_some_and(|a| a.ntlm.is_some()),
        }
    }
}

/// Static checks of a configuration (no IO).
fn validate_config(config: &Config) -> Result<(), ProviderError> {
    if config.url.is_empty() {
        return Err(ProviderError::InvalidConfig("url is required".to_string()));
    }
    if let Some(method) = &config.method
        && !method.is_empty()
    {
        Method::from_bytes(method.as_bytes())
            .map_err(|_| ProviderError::InvalidConfig(format!("method {method:?} is not an HTTP method")))?;
    }
    // Only what ESO could not run either: a store ESO accepts must not be refused by admission here.
    timeout(config)?;
    Ok(())
}

fn timeout(config: &Config) -> Result<Duration, ProviderError> {
    match config.timeout.as_deref().filter(|t| !t.is_empty()) {
        None => Ok(DEFAULT_TIMEOUT),
        // Zero or less is "no limit" in Go's http.Client; the default bound applies then too.
        Some(text) => parse_go_duration(text)
            .ok()
            .map(|d| d.to_std_or_zero())
            .map(|d| if d.is_zero() { DEFAULT_TIMEOUT } else { d })
            .ok_or_else(|| ProviderError::InvalidConfig(format!("timeout {text:?} is not a Go duration"))),
    }
}

/// The endpoint, ready to call: the HTTP client (timeout, CA) and what the templates need.
#[derive(Clone)]
struct Endpoint {
    config: Arc<Config>,
    http: reqwest::Client,
    credentials: CredentialResolver,
    /// ClusterSecretStore: `secrets[]` must name their namespace (ESO's `ClusterScoped`).
    cluster_scoped: bool,
    /// `remoteRef.namespace`: the namespace of the object being synced.
    namespace: String,
}

impl Endpoint {
    async fn new(config: Config, credentials: CredentialResolver, cluster_scoped: bool) -> Result<Self, ProviderError> {
        validate_config(&config)?;
        if config.ntlm {
            return Err(ProviderError::Unsupported("auth.ntlm is not supported by this operator".to_string()));
        }
        let ca = ca_pem(&config, &credentials, cluster_scoped).await?;
        let tls = rustls_config(ca.as_deref())?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(timeout(&config)?)
            .build()
            .map_err(|e| ProviderError::Internal(format!("building the HTTP client: {}", error_chain(&e))))?;
        let namespace = credentials.scope().default_namespace().unwrap_or_default().to_string();
        Ok(Self { config: Arc::new(config), http, credentials, cluster_scoped, namespace })
    }

    /// Every key of each `secrets[]` Secret, under its name (ESO `getTemplatedSecrets`).
    async fn add_secrets(&self, data: &mut TemplateData) -> Result<(), ProviderError> {
        for (i, secret) in self.config.secrets.iter().enumerate() {
            let field = format!("secrets[{i}] ({:?})", secret.name);
            // A SecretStore (and a generator) reads its own namespace, whatever the reference says (as ESO); a
            // ClusterSecretStore the one the reference names, which it must.
            let namespace = if self.cluster_scoped {
                Some(secret.namespace.as_deref().ok_or_else(|| {
                    ProviderError::InvalidConfig(format!(
                        "{field}: a ClusterSecretStore's webhook secret must name its namespace"
                    ))
                })?)
            } else {
                None
            };
            let object = self
                .credentials
                .secret(&secret.secret_name, namespace)
                .await
                .map_err(|e| ProviderError::from(e.context(&field)))?;
            match object.labels.get(TYPE_LABEL).map(String::as_str) {
                Some(TYPE_LABEL_VALUE) => {}
                Some(_) => {
                    return Err(ProviderError::Auth(format!(
                        "{field}: Secret {}/{} has label {TYPE_LABEL} with a value other than {TYPE_LABEL_VALUE:?}",
                        object.namespace, object.name
                    )));
                }
                None => {
                    return Err(ProviderError::Auth(format!(
                        "{field}: Secret {}/{} lacks the label {TYPE_LABEL}: {TYPE_LABEL_VALUE}, which a Secret used \
                         by a webhook must carry",
                        object.namespace, object.name
                    )));
                }
            }
            for (key, value) in &object.data {
                data.set(&secret.name, key, value.expose().to_vec());
            }
        }
        Ok(())
    }

    /// The template data of a read, query-escaped for the URL and raw for everything else.
    async fn read_data(&self, remote: Option<&RemoteKey>) -> Result<(TemplateData, TemplateData), ProviderError> {
        let mut escaped = TemplateData::default();
        let mut raw = TemplateData::default();
        if let Some(remote) = remote {
            let version = remote.version.as_deref().unwrap_or_default();
            remote_ref_for_read(&mut escaped, &remote.key, version, "", &self.namespace, true);
            remote_ref_for_read(&mut raw, &remote.key, version, "", &self.namespace, false);
        }
        let mut secrets = TemplateData::default();
        self.add_secrets(&mut secrets).await?;
        escaped.merge(&secrets);
        raw.merge(&secrets);
        Ok((escaped, raw))
    }

    /// ESO `GetWebhookData`: the answer's bytes, and the raw template data (for `result.jsonPath`).
    async fn fetch(&self, remote: Option<&RemoteKey>) -> Result<(Vec<u8>, TemplateData), ProviderError> {
        let (escaped, raw) = self.read_data(remote).await?;
        let url = render_text("url", &self.config.url, &escaped)?;
        let body = render("body", &self.config.body, &raw).map_err(ProviderError::InvalidConfig)?;
        let method = self.method(Method::GET)?;
        let answer = self.send(method, &url, body, &raw).await?;
        Ok((answer, raw))
    }

    fn method(&self, default: Method) -> Result<Method, ProviderError> {
        match self.config.method.as_deref().filter(|m| !m.is_empty()) {
            None => Ok(default),
            Some(method) => Method::from_bytes(method.as_bytes())
                .map_err(|_| ProviderError::InvalidConfig(format!("method {method:?} is not an HTTP method"))),
        }
    }

    /// Sends one request with the rendered headers; the answer's body for a 2xx, else the error of its status.
    async fn send(
        &self,
        method: Method,
        url: &str,
        body: Vec<u8>,
        raw: &TemplateData,
    ) -> Result<Vec<u8>, ProviderError> {
        let mut request = self.http.request(method, url).body(body);
        for (name, value) in &self.config.headers {
            let value = render(&format!("headers[{name}]"), value, raw).map_err(ProviderError::InvalidConfig)?;
            request = request.header(name.as_str(), value);
        }
        let result = self.exchange(request).await;
        result.observed(METRIC_PROVIDER, METRIC_CALL)
    }

    async fn exchange(&self, request: reqwest::RequestBuilder) -> Result<Vec<u8>, ProviderError> {
        // reqwest's errors name the URL, whose query may hold a secret: drop it.
        let mut response = request.send().await.map_err(|e| transport_error(e.without_url()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(status_error(status));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(e.without_url()))? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(ProviderError::Malformed(format!(
                    "the webhook's answer is larger than {MAX_ANSWER_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// ESO's store `GetSecret`: the answer, or with `result.jsonPath` (a template) the one value it selects.
    async fn get_secret(&self, remote: &RemoteKey) -> Result<RemoteValue, ProviderError> {
        let (answer, raw) = self.fetch(Some(remote)).await.map_err(|e| not_found_as(e, &remote.key))?;
        let path = render_text("result.jsonPath", &self.config.json_path, &raw)?;
        if path.is_empty() {
            return Ok(RemoteValue::bytes(answer));
        }
        let document = parse_json(&answer)?;
        let selected = jsonpath::get(&path, &document).map_err(path_error)?;
        let value = jsonpath::single_value(&selected).ok_or_else(|| {
            ProviderError::Malformed(format!("result.jsonPath {path:?} matched nothing in the webhook's answer"))
        })?;
        Ok(RemoteValue::bytes(value))
    }

    /// ESO's `GetSecretMap` (the generator): the JSON answer, narrowed by `json_path`, as a map.
    async fn get_secret_map(&self, json_path: &str) -> Result<BTreeMap<String, Vec<u8>>, ProviderError> {
        let (answer, _) = self.fetch(None).await?;
        let mut document = parse_json(&answer)?;
        if !json_path.is_empty() {
            document = jsonpath::get(json_path, &document).map_err(path_error)?;
        }
        jsonpath::secret_map(document).map_err(|e| match e {
            jsonpath::MapError::NotJson => {
                ProviderError::Malformed("the value result.jsonPath selects is a string that is not JSON".to_string())
            }
            jsonpath::MapError::NotAnObject(kind) => ProviderError::Malformed(format!(
                "the webhook's answer (after result.jsonPath) is a JSON {kind}, not an object of values"
            )),
        })
    }
}

fn render_text(field: &str, text: &str, data: &TemplateData) -> Result<String, ProviderError> {
    let bytes = render(field, text, data).map_err(ProviderError::InvalidConfig)?;
    String::from_utf8(bytes)
        .map_err(|_| ProviderError::InvalidConfig(format!("{field} renders to bytes that are not UTF-8")))
}

fn parse_json(answer: &[u8]) -> Result<serde_json::Value, ProviderError> {
    serde_json::from_slice(answer).map_err(|_| {
        ProviderError::Malformed("the webhook's answer is not JSON, which result.jsonPath needs".to_string())
    })
}

fn path_error(err: jsonpath::PathError) -> ProviderError {
    match err {
        jsonpath::PathError::Invalid { .. } => ProviderError::InvalidConfig(err.to_string()),
        jsonpath::PathError::NotFound { .. } => ProviderError::Malformed(err.to_string()),
    }
}

/// The 404 of a read is the store's "not found" of that key.
fn not_found_as(err: ProviderError, key: &str) -> ProviderError {
    match err {
        ProviderError::NotFound { .. } => ProviderError::NotFound { key: key.to_string() },
        other => other,
    }
}

/// The error for an answer outside 2xx. Only the status: the body may hold secrets.
fn status_error(status: StatusCode) -> ProviderError {
    let text = format!("the webhook answered HTTP {status}");
    match status.as_u16() {
        404 => ProviderError::NotFound { key: String::new() },
        401 => ProviderError::Auth(text),
        403 => ProviderError::Denied(text),
        429 => ProviderError::Throttled(text),
        _ => ProviderError::Unavailable(text),
    }
}

fn transport_error(err: reqwest::Error) -> ProviderError {
    let what = if err.is_timeout() { "timed out" } else { "failed" };
    ProviderError::Unavailable(format!("calling the webhook {what}: {}", error_chain(&err)))
}

/// The PEM CA bundle `caBundle` or `caProvider` names, if any (ESO `FetchCACertFromSource`: `caBundle` first;
/// a ClusterSecretStore's `caProvider` must name its namespace).
async fn ca_pem(
    config: &Config,
    credentials: &CredentialResolver,
    cluster_scoped: bool,
) -> Result<Option<Vec<u8>>, ProviderError> {
    if let Some(bundle) = &config.ca_bundle {
        if pem::parse_many(bundle).is_ok_and(|blocks| !blocks.is_empty()) {
            return Ok(Some(bundle.clone()));
        }
        // ESO also takes a bundle that is base64 of the PEM once more.
        let text: Vec<u8> = bundle.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
        return base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()
            .filter(|pem_text| pem::parse_many(pem_text).is_ok_and(|blocks| !blocks.is_empty()))
            .map(Some)
            .ok_or_else(|| ProviderError::InvalidConfig("caBundle holds no PEM certificate".to_string()));
    }
    let Some(ca) = &config.ca_provider else { return Ok(None) };
    if cluster_scoped && ca.namespace.is_none() {
        return Err(ProviderError::InvalidConfig(
            "caProvider: a ClusterSecretStore's caProvider must name its namespace".to_string(),
        ));
    }
    let reference =
        CaProvider { type_: ca.type_, name: ca.name.clone(), key: ca.key.clone(), namespace: ca.namespace.clone() };
    let pem_text =
        credentials.ca_provider_pem(&reference, "").await.map_err(|e| ProviderError::from(e.context("caProvider")))?;
    Ok(Some(pem_text))
}

/// rustls with ring: the system roots, or only the configured CA (as ESO's `RootCAs`).
fn rustls_config(ca_pem: Option<&[u8]>) -> Result<rustls::ClientConfig, ProviderError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_pem {
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
        Some(pem_text) => {
            let blocks = pem::parse_many(pem_text)
                .map_err(|_| ProviderError::InvalidConfig("the CA bundle is not PEM".to_string()))?;
            for block in blocks.into_iter().filter(|b| b.tag() == "CERTIFICATE") {
                roots.add(rustls::pki_types::CertificateDer::from(block.into_contents())).map_err(|e| {
                    ProviderError::InvalidConfig(format!("the CA bundle has an unusable certificate: {e}"))
                })?;
            }
            if roots.is_empty() {
                return Err(ProviderError::InvalidConfig("the CA bundle has no certificate".to_string()));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ProviderError::Internal(format!("TLS versions: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The Webhook provider (`spec.provider.webhook`).
#[derive(Debug, Default, Clone)]
pub struct WebhookProvider;

impl WebhookProvider {
    /// The provider.
    pub fn new() -> Self {
        Self
    }

    /// The Webhook generator, to register in `main`'s generator registry.
    pub fn generators(&self) -> WebhookGenerator {
        WebhookGenerator
    }
}

#[async_trait]
impl Provider for WebhookProvider {
    type Spec = WebhookProviderSpec;

    fn capabilities(&self) -> Capabilities {
        Capabilities::ReadWrite
    }

    fn validate_spec(&self, spec: &WebhookProviderSpec, _kind: StoreKind) -> Result<(), ProviderError> {
        validate_config(&Config::from(spec))
    }

    async fn client(
        &self,
        spec: &WebhookProviderSpec,
        ctx: &StoreContext,
    ) -> Result<Arc<dyn StoreClient>, ProviderError> {
        let cluster_scoped = ctx.kind() == StoreKind::ClusterSecretStore;
        let endpoint = Endpoint::new(Config::from(spec), ctx.credentials().clone(), cluster_scoped).await?;
        Ok(Arc::new(WebhookClient { endpoint }))
    }
}

/// A client for one webhook store.
pub struct WebhookClient {
    endpoint: Endpoint,
}

#[async_trait]
impl StoreClient for WebhookClient {
    async fn get(&self, key: &RemoteKey) -> Result<RemoteValue, ProviderError> {
        self.endpoint.get_secret(key).await
    }

    async fn find(&self, _query: &FindQuery) -> Result<BTreeMap<String, RemoteValue>, ProviderError> {
        Err(ProviderError::Unsupported("dataFrom.find is not implemented by the webhook provider".to_string()))
    }

    /// ESO: a TCP connection to the URL's host (a URL whose host is a template cannot be checked).
    async fn validate(&self) -> Result<Validation, ProviderError> {
        let url = &self.endpoint.config.url;
        let Some((host, port)) = host_and_port(url) else { return Ok(Validation::Unknown) };
        let connect = tokio::net::TcpStream::connect((host.as_str(), port));
        match tokio::time::timeout(Duration::from_secs(15), connect).await {
            Ok(Ok(_)) => Ok(Validation::Ready),
            Ok(Err(e)) => Err(ProviderError::Unavailable(format!("cannot connect to {host}:{port}: {e}"))),
            Err(_) => Err(ProviderError::Unavailable(format!("connecting to {host}:{port} timed out"))),
        }
    }

    async fn push_secret(&self, source: &PushSource, data: &PushSecretData) -> Result<(), ProviderError> {
        let remote_key = &data.remote_ref.remote_key;
        if remote_key.is_empty() {
            return Err(ProviderError::InvalidConfig("remote key must be defined".to_string()));
        }
        let value = source.payload(data).ok_or_else(|| {
            ProviderError::InvalidConfig(format!(
                "the Secret has no key {:?} to push",
                data.secret_key.as_deref().unwrap_or_default()
            ))
        })?;
        let endpoint = &self.endpoint;
        let mut escaped = TemplateData::default();
        let mut raw = TemplateData::default();
        let secret_key = data.secret_key.as_deref();
        remote_ref_for_push(&mut escaped, remote_key, secret_key, value.expose(), true);
        remote_ref_for_push(&mut raw, remote_key, secret_key, value.expose(), false);
        let mut secrets = TemplateData::default();
        endpoint.add_secrets(&mut secrets).await?;
        escaped.merge(&secrets);
        raw.merge(&secrets);
        let url = render_text("url", &endpoint.config.url, &escaped)?;
        let body = if endpoint.config.body.is_empty() {
            value.expose().to_vec()
        } else {
            render("body", &endpoint.config.body, &raw).map_err(ProviderError::InvalidConfig)?
        };
        let method = endpoint.method(Method::POST)?;
        endpoint.send(method, &url, body, &raw).await.map_err(|e| not_found_as(e, remote_key))?;
        Ok(())
    }

    async fn delete_secret(&self, remote_ref: &PushRemoteRef) -> Result<(), ProviderError> {
        let endpoint = &self.endpoint;
        let mut data = TemplateData::default();
        data.set("remoteRef", "remoteKey", remote_ref.remote_key.as_bytes());
        let mut secrets = TemplateData::default();
        endpoint.add_secrets(&mut secrets).await?;
        data.merge(&secrets);
        let url = render_text("url", &endpoint.config.url, &data)?;
        match endpoint.send(Method::DELETE, &url, Vec::new(), &data).await {
            Ok(_) => Ok(()),
            Err(ProviderError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// ESO reads with the store's method and body (so a store set up for pushes would write during the check);
    /// here it is always a GET without a body, with `remoteRef.key` and `remoteRef.remoteKey` both the remote key,
    /// so that a URL written for reads or for pushes works.
    async fn secret_exists(&self, remote_ref: &PushRemoteRef) -> Result<bool, ProviderError> {
        let endpoint = &self.endpoint;
        let remote = RemoteKey::value(remote_ref.remote_key.clone());
        let (mut escaped, mut raw) = endpoint.read_data(Some(&remote)).await?;
        escaped.set("remoteRef", "remoteKey", template::query_escape(&remote_ref.remote_key));
        raw.set("remoteRef", "remoteKey", remote_ref.remote_key.as_bytes());
        let url = render_text("url", &endpoint.config.url, &escaped)?;
        match endpoint.send(Method::GET, &url, Vec::new(), &raw).await {
            Ok(_) => Ok(true),
            Err(ProviderError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// The host and port the URL names, unless its scheme or host is not plain text (a template).
fn host_and_port(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let default_port = match scheme {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    if authority.is_empty() || authority.contains("{{") || authority.contains("}}") {
        return None;
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']')?;
            (host.to_string(), after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host.to_string(), Some(port)),
            None => (authority.to_string(), None),
        },
    };
    let port = match port {
        Some(port) => port.parse().ok()?,
        None => default_port,
    };
    Some((host, port))
}

/// The Webhook generator (`generators.external-secrets.io/v1alpha1` `Webhook`, also in a `ClusterGenerator`).
/// Its `secrets[]` are read in the ExternalSecret's namespace; `result.jsonPath` is not a template there (as in
/// ESO); the answer must be a JSON object of values (after the path).
#[derive(Debug, Default, Clone)]
pub struct WebhookGenerator;

const GENERATOR_KIND: &str = "Webhook";

#[async_trait]
impl CredentialedGenerator for WebhookGenerator {
    fn kinds(&self) -> Vec<GeneratorKind> {
        vec![GeneratorKind::Webhook]
    }

    async fn generate(
        &self,
        _kind: GeneratorKind,
        spec: &GeneratorSpec,
        credentials: &CredentialResolver,
    ) -> Result<Generated, GeneratorError> {
        let spec = spec_of(GENERATOR_KIND, spec.webhook_spec.as_ref())?;
        let failed = |source| GeneratorError::Provider { kind: GENERATOR_KIND, source };
        let config = Config::from(spec);
        let json_path = config.json_path.clone();
        let endpoint = Endpoint::new(config, credentials.clone(), false).await.map_err(failed)?;
        let map = endpoint.get_secret_map(&json_path).await.map_err(failed)?;
        Ok(map.into_iter().map(|(k, v)| (k, SecretBytes::new(v))).collect())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn validation_reaches_the_host_of_plain_urls_only() {
        assert_eq!(host_and_port("http://127.0.0.1:8080/x/{{ .remoteRef.key }}"), Some(("127.0.0.1".into(), 8080)));
        assert_eq!(host_and_port("https://api.example.com/v1?q=1"), Some(("api.example.com".into(), 443)));
        assert_eq!(host_and_port("http://u:p@h"), Some(("h".into(), 80)));
        assert_eq!(host_and_port("http://[::1]:9/"), Some(("::1".into(), 9)));
        assert_eq!(host_and_port("http://{{ .auth.host }}/x"), None);
        assert_eq!(host_and_port("{{ .auth.url }}"), None);
    }

    #[test]
    fn statuses_map_to_the_taxonomy_and_name_only_the_status() {
        assert!(status_error(StatusCode::NOT_FOUND).is_not_found());
        assert!(matches!(status_error(StatusCode::UNAUTHORIZED), ProviderError::Auth(_)));
        assert!(matches!(status_error(StatusCode::FORBIDDEN), ProviderError::Denied(_)));
        assert!(matches!(status_error(StatusCode::TOO_MANY_REQUESTS), ProviderError::Throttled(_)));
        let err = status_error(StatusCode::INTERNAL_SERVER_ERROR);
        assert!(err.is_retryable());
        assert_eq!(err.to_string(), "store unavailable: the webhook answered HTTP 500 Internal Server Error");
    }

    #[test]
    fn static_validation_names_the_field() {
        let spec: WebhookProviderSpec = serde_json::from_value(serde_json::json!({
            "url": "http://h/{{ .remoteRef.key }}", "method": "GE T", "result": {"jsonPath": "$.v"}
        }))
        .unwrap();
        let err = validate_config(&Config::from(&spec)).unwrap_err();
        assert!(err.to_string().contains("method"), "{err}");
        let spec: WebhookProviderSpec =
            serde_json::from_value(serde_json::json!({"url": "http://h", "timeout": "soon"})).unwrap();
        assert!(validate_config(&Config::from(&spec)).unwrap_err().to_string().contains("timeout"));
        let spec: WebhookProviderSpec =
            serde_json::from_value(serde_json::json!({"url": "http://h", "timeout": "1m30s"})).unwrap();
        assert_eq!(timeout(&Config::from(&spec)).unwrap(), Duration::from_secs(90));
        let spec: WebhookProviderSpec =
            serde_json::from_value(serde_json::json!({"url": "http://h", "timeout": "0s"})).unwrap();
        assert_eq!(timeout(&Config::from(&spec)).unwrap(), DEFAULT_TIMEOUT, "0 is no limit in Go: our bound");
    }
}
