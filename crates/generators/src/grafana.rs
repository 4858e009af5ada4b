//! The `Grafana` generator (ESO's `generators/v1/grafana`): a service account token from Grafana's HTTP API.
//!
//! Each run finds the service account `spec.serviceAccount.name` (`GET /api/serviceaccounts/search?query=`),
//! creates it with `spec.serviceAccount.role` when there is none (`POST /api/serviceaccounts`), and adds a token
//! named by a random UUID (`POST /api/serviceaccounts/{id}/tokens`, with `secondsToLive` when set). The output is
//! ESO's: `login` (the service account's login) and `token`. The state kept in the `GeneratorState` is ESO's
//! `{"serviceAccount": {"id", "login", "tokenID"}}`; cleaning it up deletes that token
//! (`DELETE /api/serviceaccounts/{id}/tokens/{tokenID}`), a token already gone (404) counting as deleted. The
//! service account itself stays, as in ESO.
//!
//! Authentication as ESO: `auth.token` (a Grafana service account token, sent as a bearer token) first, else
//! `auth.basic` (username + password from a Secret). The Secrets are read in the ExternalSecret's namespace.
//! `spec.url` may carry a path prefix (a Grafana served under `/grafana`): the API is `<url>/api`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use external_secrets_api::SecretKeySelector;
use external_secrets_api::generators::v1alpha1::{
    GeneratorKind, GeneratorSecretKeySelector, GeneratorSpec, GrafanaSpec,
};
use external_secrets_provider::{CredentialResolver, ProviderError};
use reqwest::{Method, StatusCode, Url};
use serde::{Deserialize, Serialize};

use crate::{
    CredentialedGenerator, Generated, GeneratorError, GeneratorProviderState, SecretBytes, fill_random, spec_of,
};

const KIND: &str = "Grafana";

/// How long one call to Grafana may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The Grafana generator. Holds one HTTP client (TLS: rustls with ring and the system's roots), shared by every run.
#[derive(Clone)]
pub struct GrafanaGenerator {
    http: reqwest::Client,
}

impl std::fmt::Debug for GrafanaGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GrafanaGenerator")
    }
}

impl GrafanaGenerator {
    /// A generator with its HTTP client. Fails only when no TLS configuration can be built.
    pub fn new() -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            // A system certificate rustls cannot use is skipped, as the platform verifiers do.
            let _ = roots.add(cert);
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS configuration: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Self { http })
    }
}

/// ESO's `GrafanaServiceAccountTokenState`: which service account and token a run made.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct GrafanaTokenState {
    #[serde(rename = "serviceAccount")]
    service_account: GrafanaStateServiceAccount,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
struct GrafanaStateServiceAccount {
    id: Option<i64>,
    login: Option<String>,
    #[serde(rename = "tokenID")]
    token_id: Option<i64>,
}

/// A Grafana service account as the search and create calls return it (the fields used here).
#[derive(Deserialize)]
struct ServiceAccount {
    id: i64,
    #[serde(default)]
    name: String,
    #[serde(default)]
    login: String,
}

#[derive(Deserialize)]
struct SearchResult {
    #[serde(default, rename = "serviceAccounts")]
    service_accounts: Vec<ServiceAccount>,
}

/// The answer to a token creation. `key` is the token: never printed.
#[derive(Deserialize)]
struct NewToken {
    id: i64,
    key: String,
}

/// How a request authenticates. Holds credentials: no `Debug`.
enum Auth {
    Bearer(SecretBytes),
    Basic { username: String, password: SecretBytes },
}

/// One Grafana instance, as a spec names it.
struct Api<'a> {
    http: &'a reqwest::Client,
    base: Url,
    auth: Auth,
}

fn invalid(reason: impl Into<String>) -> GeneratorError {
    GeneratorError::InvalidSpec { kind: KIND, reason: reason.into() }
}

fn provider(source: ProviderError) -> GeneratorError {
    GeneratorError::Provider { kind: KIND, source }
}

/// `<url>/api`, ESO's `url.JoinPath("/api")` (query and fragment dropped).
fn api_base(url: &str) -> Result<Url, GeneratorError> {
    let mut base = Url::parse(url).map_err(|e| invalid(format!("spec.url {url:?} is not a URL: {e}")))?;
    if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
        return Err(invalid(format!("spec.url {url:?} is not an http(s) URL")));
    }
    let path = format!("{}/api", base.path().trim_end_matches('/'));
    base.set_path(&path);
    base.set_query(None);
    base.set_fragment(None);
    Ok(base)
}

fn selector(selector: &GeneratorSecretKeySelector) -> SecretKeySelector {
    SecretKeySelector { name: selector.name.clone(), key: selector.key.clone(), ..Default::default() }
}

impl<'a> Api<'a> {
    async fn new(
        http: &'a reqwest::Client,
        spec: &GrafanaSpec,
        credentials: &CredentialResolver,
    ) -> Result<Api<'a>, GeneratorError> {
        let base = api_base(&spec.url)?;
        let read = |field: &'static str, s: &GeneratorSecretKeySelector| {
            let selector = selector(s);
            async move {
                credentials
                    .secret_key(&selector)
                    .await
                    .map_err(|e| provider(ProviderError::from(e.context(format!("spec.auth.{field}")))))
            }
        };
        // ESO: the token first, then basic auth.
        let auth = if let Some(token) = &spec.auth.token {
            Auth::Bearer(read("token", token).await?)
        } else if let Some(basic) = &spec.auth.basic {
            Auth::Basic { username: basic.username.clone(), password: read("basic.password", &basic.password).await? }
        } else {
            return Err(invalid("no auth configuration found: set spec.auth.token or spec.auth.basic"));
        };
        Ok(Api { http, base, auth })
    }

    /// Sends one request to `<base>/<path>` and returns the answer's body, or the error its status means.
    async fn call(
        &self,
        method: Method,
        path: &[&str],
        query: Option<(&str, &str)>,
        body: Option<serde_json::Value>,
    ) -> Result<Vec<u8>, GeneratorError> {
        let mut url = self.base.clone();
        url.path_segments_mut().map_err(|()| invalid("spec.url cannot carry a path"))?.extend(path);
        if let Some((name, value)) = query {
            url.query_pairs_mut().append_pair(name, value);
        }
        let what = format!("{method} {}", url.path());
        let mut request = self.http.request(method, url).header(reqwest::header::ACCEPT, "application/json");
        request = match &self.auth {
            Auth::Bearer(token) => {
                let token = std::str::from_utf8(token.expose())
                    .map_err(|_| invalid("spec.auth.token: the token is not UTF-8"))?;
                request.bearer_auth(token.trim())
            }
            Auth::Basic { username, password } => {
                let password = std::str::from_utf8(password.expose())
                    .map_err(|_| invalid("spec.auth.basic.password: the password is not UTF-8"))?;
                request.basic_auth(username, Some(password))
            }
        };
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(&body).unwrap_or_default());
        }
        // reqwest's error names the URL, never a header.
        let response = request
            .send()
            .await
            .map_err(|e| provider(ProviderError::Unavailable(format!("{what}: {}", e.without_url()))))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| provider(ProviderError::Unavailable(format!("{what}: reading the answer: {e}"))))?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        Err(provider(status_error(status, &what, &bytes)))
    }
}

/// The error a Grafana answer of `status` means, with Grafana's `message` (its errors are `{"message": ...}`).
fn status_error(status: StatusCode, what: &str, body: &[u8]) -> ProviderError {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(|m| m.chars().take(300).collect::<String>()))
        .unwrap_or_default();
    let text = format!("Grafana answered {} to {what}: {message}", status.as_u16());
    match status {
        StatusCode::UNAUTHORIZED => ProviderError::Auth(text),
        StatusCode::FORBIDDEN => ProviderError::Denied(text),
        StatusCode::TOO_MANY_REQUESTS => ProviderError::Throttled(text),
        s if s.is_server_error() => ProviderError::Unavailable(text),
        // Anything else may be fixed in Grafana or in the generator object (not watched): retried with backoff.
        _ => ProviderError::Internal(text),
    }
}

fn parse<T: for<'de> Deserialize<'de>>(what: &str, body: &[u8]) -> Result<T, GeneratorError> {
    // serde's message may quote the body (a token): say only what did not parse.
    serde_json::from_slice(body).map_err(|_| {
        provider(ProviderError::Malformed(format!("Grafana's answer to {what} is not what its API returns")))
    })
}

fn random_token_name() -> Result<String, GeneratorError> {
    let mut bytes = [0u8; 16];
    fill_random(&mut bytes).map_err(|reason| GeneratorError::Failed { kind: KIND, reason })?;
    Ok(uuid::Builder::from_random_bytes(bytes).into_uuid().hyphenated().to_string())
}

impl GrafanaGenerator {
    async fn run(
        &self,
        spec: &GrafanaSpec,
        credentials: &CredentialResolver,
    ) -> Result<(Generated, GeneratorProviderState), GeneratorError> {
        let api = Api::new(&self.http, spec, credentials).await?;
        let name = &spec.service_account.name;
        let found: SearchResult = parse(
            "the service account search",
            &api.call(Method::GET, &["serviceaccounts", "search"], Some(("query", name)), None).await?,
        )?;
        let account = match found.service_accounts.into_iter().find(|sa| &sa.name == name) {
            Some(account) => account,
            None => parse(
                "the service account creation",
                &api.call(
                    Method::POST,
                    &["serviceaccounts"],
                    None,
                    Some(serde_json::json!({"name": name, "role": spec.service_account.role})),
                )
                .await?,
            )?,
        };
        let mut command = serde_json::json!({ "name": random_token_name()? });
        if let Some(seconds) = spec.service_account.seconds_to_live {
            command["secondsToLive"] = seconds.into();
        }
        let account_id = account.id.to_string();
        let token: NewToken = parse(
            "the token creation",
            &api.call(Method::POST, &["serviceaccounts", &account_id, "tokens"], None, Some(command)).await?,
        )?;
        let state = GrafanaTokenState {
            service_account: GrafanaStateServiceAccount {
                id: Some(account.id),
                login: Some(account.login.clone()),
                token_id: Some(token.id),
            },
        };
        let state =
            serde_json::to_value(&state).map_err(|e| GeneratorError::Failed { kind: KIND, reason: e.to_string() })?;
        let data = BTreeMap::from([
            ("login".to_string(), SecretBytes::from(account.login)),
            ("token".to_string(), SecretBytes::from(token.key)),
        ]);
        Ok((data, state))
    }

    async fn delete_token(
        &self,
        spec: &GrafanaSpec,
        state: &GeneratorProviderState,
        credentials: &CredentialResolver,
    ) -> Result<(), GeneratorError> {
        let state: GrafanaTokenState = serde_json::from_value(state.clone()).map_err(|e| GeneratorError::Failed {
            kind: KIND,
            reason: format!("the state is not a Grafana token state: {e}"),
        })?;
        let (Some(account), Some(token)) = (state.service_account.id, state.service_account.token_id) else {
            return Err(GeneratorError::Failed {
                kind: KIND,
                reason: "the state names no service account or token id".to_string(),
            });
        };
        let api = Api::new(&self.http, spec, credentials).await?;
        let (account, token) = (account.to_string(), token.to_string());
        match api.call(Method::DELETE, &["serviceaccounts", &account, "tokens", &token], None, None).await {
            Ok(_) => Ok(()),
            // The token (or its service account) is gone already: what cleanup wanted.
            Err(GeneratorError::Provider { source: ProviderError::Internal(message), .. })
                if message.starts_with("Grafana answered 404 ") =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl CredentialedGenerator for GrafanaGenerator {
    fn kinds(&self) -> Vec<GeneratorKind> {
        vec![GeneratorKind::Grafana]
    }

    async fn generate(
        &self,
        kind: GeneratorKind,
        spec: &GeneratorSpec,
        credentials: &CredentialResolver,
    ) -> Result<Generated, GeneratorError> {
        Ok(self.generate_with_state(kind, spec, credentials).await?.0)
    }

    async fn generate_with_state(
        &self,
        _kind: GeneratorKind,
        spec: &GeneratorSpec,
        credentials: &CredentialResolver,
    ) -> Result<(Generated, Option<GeneratorProviderState>), GeneratorError> {
        let spec = spec_of(KIND, spec.grafana_spec.as_ref())?;
        let (data, state) = self.run(spec, credentials).await?;
        Ok((data, Some(state)))
    }

    async fn cleanup(
        &self,
        _kind: GeneratorKind,
        spec: &GeneratorSpec,
        state: &GeneratorProviderState,
        credentials: &CredentialResolver,
    ) -> Result<(), GeneratorError> {
        let spec = spec_of(KIND, spec.grafana_spec.as_ref())?;
        self.delete_token(spec, state, credentials).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_api_is_under_the_url_path() {
        assert_eq!(api_base("https://grafana.example.com").unwrap().as_str(), "https://grafana.example.com/api");
        assert_eq!(api_base("https://x.example/grafana/?a=1").unwrap().as_str(), "https://x.example/grafana/api");
        assert!(api_base("grafana.example.com").is_err());
        assert!(api_base("ftp://grafana.example.com").is_err());
    }

    #[test]
    fn the_state_has_esos_shape() {
        let state = GrafanaTokenState {
            service_account: GrafanaStateServiceAccount {
                id: Some(3),
                login: Some("sa-1-x".into()),
                token_id: Some(9),
            },
        };
        assert_eq!(
            serde_json::to_value(&state).unwrap(),
            serde_json::json!({"serviceAccount": {"id": 3, "login": "sa-1-x", "tokenID": 9}})
        );
    }

    #[test]
    fn statuses_map_to_error_kinds_with_graphanas_message_and_nothing_else() {
        let e = status_error(StatusCode::UNAUTHORIZED, "GET /api/x", br#"{"message":"invalid API key"}"#);
        assert!(matches!(e, ProviderError::Auth(ref m) if m == "Grafana answered 401 to GET /api/x: invalid API key"));
        assert!(matches!(status_error(StatusCode::FORBIDDEN, "w", b"{}"), ProviderError::Denied(_)));
        assert!(matches!(status_error(StatusCode::BAD_GATEWAY, "w", b"<html>"), ProviderError::Unavailable(_)));
        assert!(matches!(status_error(StatusCode::BAD_REQUEST, "w", b"{}"), ProviderError::Internal(_)));
    }
}
