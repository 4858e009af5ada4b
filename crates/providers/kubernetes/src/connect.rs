//! Building the client a store reads with: where the API server is, which CA to trust, and who we are there.
//!
//! Credentials come from the store's spec, read through the store's [`CredentialResolver`] (which keeps to ESO's
//! namespace rules): a bearer token or a client certificate from Secrets, a ServiceAccount token minted through
//! TokenRequest, or a whole kubeconfig (`authRef`). The client built here is the provider's own, for the store's
//! API server; the operator's own *identity* is never lent to a store, only its cluster URL and CA serve as the
//! default server.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine;
use external_secrets_api::meta::SecretKeySelector;
use external_secrets_api::{
    CaProvider, CaProviderType, KubernetesProvider as KubernetesSpec, KubernetesServer, ServiceAccountSelector,
};
use external_secrets_provider::{
    CredentialErrorKind, CredentialResolver, ProviderError, SecretBytes, ServiceAccountToken, StoreKind,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use secrecy::SecretString;
use tokio::sync::{Mutex, OnceCell};

use crate::error::{chain, from_kube};

/// The `server.url` the API fills in when a store sets `server` without one (the API crate's
/// `DEFAULT_SERVER_URL`, which it does not re-export): this operator reads it as "the operator's own cluster".
const DEFAULT_SERVER_URL: &str = "kubernetes.default";

/// How long a request to the store's API server may wait for an answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The lifetime asked for ServiceAccount tokens (ESO asks for one hour).
const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// Renew a ServiceAccount token this long before it expires (or at half its life, if that is later).
const TOKEN_RENEW_MARGIN: Duration = Duration::from_secs(600);

/// The API server the operator itself talks to: the default `server` of a store. Credentials are not kept.
#[derive(Clone, Debug)]
pub(crate) struct OwnCluster {
    url: http::Uri,
    root_cert: Option<Vec<Vec<u8>>>,
    root_cert_file: Option<PathBuf>,
    tls_server_name: Option<String>,
    proxy_url: Option<http::Uri>,
}

impl OwnCluster {
    /// The URL and trust settings of `config`; its `auth_info` is ignored on purpose.
    pub(crate) fn from_config(config: &kube::Config) -> Self {
        Self {
            url: config.cluster_url.clone(),
            root_cert: config.root_cert.clone(),
            root_cert_file: config.root_cert_file.clone(),
            tls_server_name: config.tls_server_name.clone(),
            proxy_url: config.proxy_url.clone(),
        }
    }
}

/// Where the operator's own cluster is: given up front, or inferred (kubeconfig, then in-cluster) on first need.
#[derive(Debug, Default)]
pub(crate) struct OwnClusterSource {
    inferred: OnceCell<OwnCluster>,
}

impl OwnClusterSource {
    /// A source that never infers: `own` is the answer.
    pub(crate) fn fixed(own: OwnCluster) -> Self {
        Self { inferred: OnceCell::new_with(Some(own)) }
    }

    async fn get(&self) -> Result<&OwnCluster, ProviderError> {
        self.inferred
            .get_or_try_init(|| async {
                kube::Config::infer().await.map(|config| OwnCluster::from_config(&config)).map_err(|e| {
                    ProviderError::InvalidConfig(format!(
                        "server.url is not set and the operator's own API server could not be determined: {}",
                        chain(&e)
                    ))
                })
            })
            .await
    }
}

/// Who a store client is at its API server.
pub(crate) enum Identity {
    /// A ClusterSecretStore with referent authentication, built to be validated: its credentials live in the
    /// namespace of an ExternalSecret that is not known yet.
    Deferred,
    /// Credentials read once when the client was built (token or certificate from a Secret, kubeconfig).
    Fixed(kube::Client),
    /// A ServiceAccount token, minted through TokenRequest and renewed before it expires.
    ServiceAccount(Box<TokenSource>),
}

impl Identity {
    /// The client to call the store's API server with.
    pub(crate) async fn client(&self) -> Result<kube::Client, ProviderError> {
        match self {
            Identity::Deferred => Err(ProviderError::InvalidConfig(
                "this ClusterSecretStore authenticates with references in the ExternalSecret's namespace \
                 (referent authentication); it can only be read for an ExternalSecret"
                    .to_string(),
            )),
            Identity::Fixed(client) => Ok(client.clone()),
            Identity::ServiceAccount(source) => source.client().await,
        }
    }

    /// Called when the API server rejected our credentials: a minted token is dropped, so the next call mints a
    /// fresh one (the ServiceAccount may have been re-created).
    pub(crate) async fn rejected(&self) {
        if let Identity::ServiceAccount(source) = self {
            *source.current.lock().await = None;
        }
    }
}

/// Builds the identity `spec` configures, its references read through `credentials`.
pub(crate) async fn identity(
    credentials: &CredentialResolver,
    spec: &KubernetesSpec,
    own_cluster: &OwnClusterSource,
) -> Result<Identity, ProviderError> {
    if let Some(auth_ref) = &spec.auth_ref {
        return kubeconfig_client(credentials, auth_ref).await.map(Identity::Fixed);
    }
    let mut config = server_config(credentials, spec.server.as_ref(), own_cluster).await?;
    let Some(auth) = &spec.auth else {
        // ESO sends no credentials at all when `auth` is unset.
        return client_from(config).map(Identity::Fixed);
    };
    if let Some(token) = &auth.token {
        let selector = token.bearer_token.clone().unwrap_or_default();
        let token = secret_key(credentials, &selector, "auth.token.bearerToken").await?;
        config.auth_info.token = Some(bearer_token(token, "auth.token.bearerToken")?);
        client_from(config).map(Identity::Fixed)
    } else if let Some(service_account) = &auth.service_account {
        let source = TokenSource::new(credentials, service_account, config)?;
        // Mint the first token now, so that a wrong ServiceAccount shows when the store is validated.
        source.client().await?;
        Ok(Identity::ServiceAccount(Box::new(source)))
    } else if let Some(cert) = &auth.cert {
        let cert_selector = cert.client_cert.clone().unwrap_or_default();
        let key_selector = cert.client_key.clone().unwrap_or_default();
        let cert_pem = secret_key(credentials, &cert_selector, "auth.cert.clientCert").await?;
        let key_pem = secret_key(credentials, &key_selector, "auth.cert.clientKey").await?;
        let engine = base64::engine::general_purpose::STANDARD;
        // kube takes PEM data base64-encoded, as a kubeconfig's `*-data` fields hold it.
        config.auth_info.client_certificate_data = Some(engine.encode(cert_pem.expose()));
        config.auth_info.client_key_data = Some(SecretString::from(engine.encode(key_pem.expose())));
        client_from(config).map(Identity::Fixed)
    } else {
        Err(ProviderError::InvalidConfig("no auth provider given".to_string()))
    }
}

/// The configuration for `server` without credentials: its URL (the operator's own API server when the URL is
/// unset or the API default `kubernetes.default`) and the CA to trust.
async fn server_config(
    credentials: &CredentialResolver,
    server: Option<&KubernetesServer>,
    own_cluster: &OwnClusterSource,
) -> Result<kube::Config, ProviderError> {
    let configured_ca = match server {
        Some(server) => ca_certificates(credentials, server).await?,
        None => None,
    };
    let url = server.map(|s| s.url.trim()).unwrap_or_default();
    let mut config = if url.is_empty() || url == DEFAULT_SERVER_URL {
        let own = own_cluster.get().await?;
        let mut config = kube::Config::new(own.url.clone());
        config.tls_server_name = own.tls_server_name.clone();
        config.proxy_url = own.proxy_url.clone();
        match configured_ca {
            Some(ca) => config.root_cert = Some(ca),
            None => {
                config.root_cert = own.root_cert.clone();
                config.root_cert_file = own.root_cert_file.clone();
            }
        }
        config
    } else {
        let mut config = kube::Config::new(parse_url(url)?);
        config.root_cert = configured_ca;
        config
    };
    config.read_timeout = Some(REQUEST_TIMEOUT);
    config.reset_reader_on_write = true;
    Ok(config)
}

/// `server.url` as a URI; without a scheme, `https://` is assumed (never plain HTTP by accident).
fn parse_url(url: &str) -> Result<http::Uri, ProviderError> {
    let with_scheme = if url.contains("://") { url.to_string() } else { format!("https://{url}") };
    with_scheme.parse().map_err(|e| ProviderError::InvalidConfig(format!("server.url {url:?} is not a valid URL: {e}")))
}

/// The CA certificates (DER) `server.caBundle` or `server.caProvider` configure, if any.
async fn ca_certificates(
    credentials: &CredentialResolver,
    server: &KubernetesServer,
) -> Result<Option<Vec<Vec<u8>>>, ProviderError> {
    if let Some(bundle) = server.ca_bundle.as_ref().filter(|b| !b.0.is_empty()) {
        return ca_bundle_certificates(&bundle.0)
            .map(Some)
            .ok_or_else(|| ProviderError::InvalidConfig("server.caBundle holds no PEM certificate".to_string()));
    }
    let Some(provider) = &server.ca_provider else {
        return Ok(None);
    };
    let pem = ca_provider_pem(credentials, provider).await?;
    pem_certificates(&pem).map(Some).ok_or_else(|| {
        ProviderError::InvalidConfig(format!(
            "server.caProvider: {} {:?} key {:?} holds no PEM certificate",
            kind_name(provider.type_),
            provider.name,
            provider.key.as_deref().unwrap_or_default()
        ))
    })
}

/// `caBundle` is PEM once the API's base64 is decoded; like ESO, also accept it base64-encoded a second time.
fn ca_bundle_certificates(bundle: &[u8]) -> Option<Vec<Vec<u8>>> {
    pem_certificates(bundle).or_else(|| {
        let compact: Vec<u8> = bundle.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
        let engine = base64::engine::general_purpose::STANDARD;
        engine.decode(compact).ok().and_then(|decoded| pem_certificates(&decoded))
    })
}

/// The DER of every `CERTIFICATE` block in `pem`; `None` when there is none.
fn pem_certificates(pem: &[u8]) -> Option<Vec<Vec<u8>>> {
    let certificates: Vec<Vec<u8>> = pem::parse_many(pem)
        .ok()?
        .into_iter()
        .filter(|block| block.tag() == "CERTIFICATE")
        .map(pem::Pem::into_contents)
        .collect();
    (!certificates.is_empty()).then_some(certificates)
}

fn kind_name(kind: CaProviderType) -> &'static str {
    match kind {
        CaProviderType::Secret => "Secret",
        CaProviderType::ConfigMap => "ConfigMap",
    }
}

/// The PEM a `caProvider` points to. As in ESO, a ClusterSecretStore must name the namespace (no referent
/// namespace here). A missing ConfigMap or key is a configuration error, a missing Secret or key an
/// authentication one, as before the resolver.
async fn ca_provider_pem(credentials: &CredentialResolver, provider: &CaProvider) -> Result<Vec<u8>, ProviderError> {
    if credentials.scope().kind == StoreKind::ClusterSecretStore && provider.namespace.is_none() {
        return Err(ProviderError::InvalidConfig("missing namespace on caProvider secret".to_string()));
    }
    credentials.ca_provider_pem(provider, "").await.map_err(|e| match (provider.type_, e.kind()) {
        (CaProviderType::ConfigMap, CredentialErrorKind::Missing) => {
            ProviderError::InvalidConfig(format!("server.caProvider: {e}"))
        }
        _ => e.context("server.caProvider").into(),
    })
}

/// The value of one key of a Secret the store references (`field` names the reference in errors). A missing
/// Secret or key is an authentication failure, never the store's "not found".
async fn secret_key(
    credentials: &CredentialResolver,
    selector: &SecretKeySelector,
    field: &str,
) -> Result<SecretBytes, ProviderError> {
    credentials.secret_key(selector).await.map_err(|e| e.context(field).into())
}

/// A bearer token from Secret bytes: UTF-8, surrounding whitespace (a trailing newline) removed.
fn bearer_token(token: SecretBytes, field: &str) -> Result<SecretString, ProviderError> {
    let text = String::from_utf8(token.into_inner())
        .map_err(|_| ProviderError::Auth(format!("{field}: the token is not valid UTF-8")))?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(ProviderError::Auth(format!("{field}: the token is empty")));
    }
    Ok(SecretString::from(trimmed.to_string()))
}

fn client_from(config: kube::Config) -> Result<kube::Client, ProviderError> {
    kube::Client::try_from(config).map_err(|e| from_kube("building the API client", e, ProviderError::InvalidConfig))
}

/// `authRef`: a kubeconfig in a Secret, used as it is (its current context), except that it may not make the
/// operator run a command or read its own files (`exec`, `auth-provider`, `tokenFile`, file paths).
async fn kubeconfig_client(
    credentials: &CredentialResolver,
    auth_ref: &SecretKeySelector,
) -> Result<kube::Client, ProviderError> {
    let bytes = secret_key(credentials, auth_ref, "authRef").await?;
    let invalid = |why: &str| {
        ProviderError::InvalidConfig(format!(
            "authRef: the kubeconfig in Secret {:?} key {:?} {why}",
            auth_ref.name, auth_ref.key
        ))
    };
    let text = std::str::from_utf8(bytes.expose()).map_err(|_| invalid("is not UTF-8"))?;
    // The parser's message may quote the document (and so a token): it is left out.
    let kubeconfig = Kubeconfig::from_yaml(text).map_err(|_| invalid("is not a valid kubeconfig"))?;
    refuse_local_access(&kubeconfig).map_err(|why| invalid(&why))?;
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.map_err(|e| match e {
            kube::config::KubeconfigError::Parse(_) => invalid("is not a valid kubeconfig"),
            other => invalid(&format!("cannot be used: {}", chain(&other))),
        })?;
    config.read_timeout = Some(REQUEST_TIMEOUT);
    config.reset_reader_on_write = true;
    client_from(config)
}

/// Why `kubeconfig` would reach outside the Secret it came from, if it would.
fn refuse_local_access(kubeconfig: &Kubeconfig) -> Result<(), String> {
    for named in &kubeconfig.auth_infos {
        let Some(user) = &named.auth_info else { continue };
        let local = [
            (user.exec.is_some(), "exec"),
            (user.auth_provider.is_some(), "auth-provider"),
            (user.token_file.is_some(), "tokenFile"),
            (user.client_certificate.is_some(), "client-certificate"),
            (user.client_key.is_some(), "client-key"),
        ];
        if let Some((_, what)) = local.iter().find(|(set, _)| *set) {
            return Err(format!(
                "uses {what} for user {:?}, which would run a command or read a file of the operator; embed the \
                 credentials instead (token, client-certificate-data, client-key-data)",
                named.name
            ));
        }
    }
    for named in &kubeconfig.clusters {
        if named.cluster.as_ref().is_some_and(|c| c.certificate_authority.is_some()) {
            return Err(format!(
                "uses certificate-authority (a file of the operator) for cluster {:?}; use certificate-authority-data",
                named.name
            ));
        }
    }
    Ok(())
}

/// ServiceAccount tokens for one store, minted through its credential resolver and cached until shortly before
/// expiry.
pub(crate) struct TokenSource {
    credentials: CredentialResolver,
    service_account: ServiceAccountSelector,
    /// The store's server configuration, without credentials.
    server: kube::Config,
    current: Mutex<Option<MintedClient>>,
}

struct MintedClient {
    client: kube::Client,
    renew_at: Instant,
}

impl TokenSource {
    fn new(
        credentials: &CredentialResolver,
        selector: &ServiceAccountSelector,
        server: kube::Config,
    ) -> Result<Self, ProviderError> {
        if selector.name.is_empty() {
            return Err(ProviderError::InvalidConfig("auth.serviceAccount.name is not set".to_string()));
        }
        Ok(Self {
            credentials: credentials.clone(),
            service_account: selector.clone(),
            server,
            current: Mutex::new(None),
        })
    }

    /// A client with a token that is still fresh, minting one if needed (one caller mints, the others wait).
    async fn client(&self) -> Result<kube::Client, ProviderError> {
        let mut current = self.current.lock().await;
        if let Some(minted) = current.as_ref()
            && Instant::now() < minted.renew_at
        {
            return Ok(minted.client.clone());
        }
        let minted = self.mint().await?;
        let client = minted.client.clone();
        *current = Some(minted);
        Ok(client)
    }

    async fn mint(&self) -> Result<MintedClient, ProviderError> {
        let token: ServiceAccountToken = self
            .credentials
            .service_account_token(&self.service_account, &self.service_account.audiences, TOKEN_LIFETIME)
            .await
            .map_err(|e| e.context("auth.serviceAccount"))?;
        let lifetime = token.remaining().unwrap_or(TOKEN_LIFETIME);
        let mut config = self.server.clone();
        config.auth_info.token = Some(SecretString::from(token.into_string()));
        Ok(MintedClient { client: client_from(config)?, renew_at: Instant::now() + renew_after(lifetime) })
    }
}

/// When to renew a token valid for `lifetime`: [`TOKEN_RENEW_MARGIN`] before it expires, but not before half of
/// its life.
fn renew_after(lifetime: Duration) -> Duration {
    lifetime.saturating_sub(TOKEN_RENEW_MARGIN).max(lifetime / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_without_a_scheme_are_https() {
        assert_eq!(
            parse_url("kubernetes.default.svc").map(|u| u.to_string()).ok().as_deref(),
            Some("https://kubernetes.default.svc/")
        );
        assert_eq!(
            parse_url("https://10.0.0.1:6443").map(|u| u.to_string()).ok().as_deref(),
            Some("https://10.0.0.1:6443/")
        );
        assert!(parse_url("https://bad host").is_err());
    }

    const CERT_PEM: &str = "-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n";

    #[test]
    fn ca_bundles_are_pem_or_base64_pem() {
        assert_eq!(ca_bundle_certificates(CERT_PEM.as_bytes()), Some(vec![vec![1, 2, 3]]));
        let twice = base64::engine::general_purpose::STANDARD.encode(CERT_PEM);
        assert_eq!(ca_bundle_certificates(twice.as_bytes()), Some(vec![vec![1, 2, 3]]));
        assert_eq!(ca_bundle_certificates(b"not a certificate"), None);
        let key_only = "-----BEGIN PRIVATE KEY-----\nAQID\n-----END PRIVATE KEY-----\n";
        assert_eq!(ca_bundle_certificates(key_only.as_bytes()), None);
    }

    #[test]
    fn tokens_are_trimmed_and_must_be_text() {
        let token = bearer_token(SecretBytes::from("abc.def\n"), "f")
            .map(|t| secrecy::ExposeSecret::expose_secret(&t).to_string());
        assert_eq!(token.ok().as_deref(), Some("abc.def"));
        assert!(bearer_token(SecretBytes::new(vec![0xff]), "f").is_err());
        assert!(bearer_token(SecretBytes::from(" \n"), "f").is_err());
    }

    #[test]
    fn tokens_are_renewed_before_they_expire() {
        assert_eq!(renew_after(Duration::from_secs(3600)), Duration::from_secs(3000));
        assert_eq!(renew_after(Duration::from_secs(600)), Duration::from_secs(300));
        assert_eq!(renew_after(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn kubeconfigs_may_not_reach_into_the_operator() {
        let exec = Kubeconfig::from_yaml(
            "apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: /bin/sh\n",
        )
        .unwrap();
        assert!(refuse_local_access(&exec).is_err_and(|why| why.contains("exec")));
        let file = Kubeconfig::from_yaml(
            "apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    tokenFile: /var/run/secrets/token\n",
        )
        .unwrap();
        assert!(refuse_local_access(&file).is_err_and(|why| why.contains("tokenFile")));
        let ca = Kubeconfig::from_yaml("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://x\n    certificate-authority: /etc/ca.crt\n").unwrap();
        assert!(refuse_local_access(&ca).is_err());
        let embedded = Kubeconfig::from_yaml("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://x\nusers:\n- name: u\n  user:\n    token: abc\n").unwrap();
        assert_eq!(refuse_local_access(&embedded), Ok(()));
    }
}
