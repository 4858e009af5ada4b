//! One connection to a Vault server: TLS, the headers every request carries, and what Vault's answers mean as
//! [`ProviderError`]s. No token or value ever goes into an error or a log line.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use external_secrets_provider::{ProviderError, SecretBytes, error_chain};
use reqwest::{Method, StatusCode};

/// Vault's namespace header (Enterprise).
const NAMESPACE_HEADER: &str = "X-Vault-Namespace";
/// The token header.
const TOKEN_HEADER: &str = "X-Vault-Token";
/// The replication state header of `readYourWrites`.
const INDEX_HEADER: &str = "X-Vault-Index";
/// The header of `forwardInconsistent`.
const INCONSISTENT_HEADER: &str = "X-Vault-Inconsistent";

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The TLS settings of a store: extra CA certificates (PEM) and a client certificate chain and key (PEM).
#[derive(Default)]
pub(crate) struct TlsSettings {
    pub(crate) ca_pem: Vec<Vec<u8>>,
    pub(crate) client_cert: Option<(Vec<u8>, SecretBytes)>,
}

/// What a connection adds to every request besides the token.
#[derive(Clone, Default)]
pub(crate) struct RequestSettings {
    pub(crate) namespace: Option<String>,
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) forward_inconsistent: bool,
    pub(crate) read_your_writes: bool,
}

/// A client of one Vault server with a store's request settings. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Connection {
    http: reqwest::Client,
    server: String,
    settings: RequestSettings,
    /// The last replication state seen, when `readYourWrites` is on.
    last_index: Arc<Mutex<Option<String>>>,
}

/// Vault's answer to one request: status and JSON body (`null` when there is none).
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: serde_json::Value,
}

impl Answer {
    /// Vault's `errors` list, joined (never a value: Vault does not echo secrets in errors).
    pub(crate) fn errors(&self) -> String {
        let errors: Vec<&str> = self
            .body
            .get("errors")
            .and_then(|e| e.as_array())
            .map(|list| list.iter().filter_map(|e| e.as_str()).collect())
            .unwrap_or_default();
        let text = errors.join("; ").replace(['\n', '\t'], " ");
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() {
            format!("HTTP {}", self.status.as_u16())
        } else {
            format!("HTTP {}: {text}", self.status.as_u16())
        }
    }

    /// The error this answer is, for a request described by `what`: 401 and 403 `Denied` (Vault answers 403 for
    /// a bad or expired token too), 429 `Throttled`, 5xx and 412 `Unavailable`, other 4xx `InvalidConfig`. A 404
    /// is decided by the caller (only a read of a secret makes it "not found").
    pub(crate) fn error(&self, what: &str) -> ProviderError {
        let message = format!("{what}: {}", self.errors());
        match self.status.as_u16() {
            401 | 403 => ProviderError::Denied(message),
            429 => ProviderError::Throttled(message),
            412 | 500..=599 => ProviderError::Unavailable(message),
            _ => ProviderError::InvalidConfig(message),
        }
    }
}

impl Connection {
    /// A connection to `server` (`http://` or `https://`), trusting the system roots plus `tls.ca_pem`.
    pub(crate) fn new(server: &str, tls: TlsSettings, settings: RequestSettings) -> Result<Self, ProviderError> {
        let server = server.trim_end_matches('/').to_string();
        if !(server.starts_with("http://") || server.starts_with("https://")) {
            return Err(ProviderError::InvalidConfig(format!("server {server:?} is not an http(s) URL")));
        }
        let config = rustls_config(tls)?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(config)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| ProviderError::Internal(format!("building the Vault HTTP client: {}", error_chain(&e))))?;
        Ok(Self { http, server, settings, last_index: Arc::default() })
    }

    /// The same server and TLS, with requests in Vault namespace `namespace` (for logins in `auth.namespace`).
    pub(crate) fn in_namespace(&self, namespace: Option<String>) -> Self {
        let mut other = self.clone();
        other.settings.namespace = namespace;
        other
    }

    /// Sends `method /v1/<path>` with `query`, `token` and `body`; answers with status and JSON. Transport
    /// failures are `Unavailable`; an answer that is not JSON (other than an empty one) is `Malformed`.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        token: Option<&SecretBytes>,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, ProviderError> {
        let url = format!("{}/v1/{}", self.server, path.trim_start_matches('/'));
        let mut request = self.http.request(method, &url);
        if !query.is_empty() {
            request = request.query(query);
        }
        for (name, value) in &self.settings.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        if let Some(namespace) = self.settings.namespace.as_deref().filter(|n| !n.is_empty()) {
            request = request.header(NAMESPACE_HEADER, namespace);
        }
        if self.settings.forward_inconsistent {
            request = request.header(INCONSISTENT_HEADER, "forward-active-node");
        }
        if self.settings.read_your_writes
            && let Some(index) = self.last_index.lock().ok().and_then(|i| i.clone())
        {
            request = request.header(INDEX_HEADER, index);
        }
        if let Some(token) = token {
            let mut value = reqwest::header::HeaderValue::from_bytes(token.expose())
                .map_err(|_| ProviderError::Auth("the Vault token is not a valid header value".to_string()))?;
            value.set_sensitive(true);
            request = request.header(TOKEN_HEADER, value);
        }
        if let Some(body) = body {
            request = request.header("Content-Type", "application/json").body(body.to_string());
        }
        let response = request.send().await.map_err(|e| {
            // reqwest's error names the URL, which holds only the server and path: no secret.
            ProviderError::Unavailable(format!("calling Vault at {}: {}", self.server, error_chain(&e)))
        })?;
        let status = response.status();
        if self.settings.read_your_writes
            && let Some(index) = response.headers().get(INDEX_HEADER).and_then(|v| v.to_str().ok())
            && let Ok(mut last) = self.last_index.lock()
        {
            *last = Some(index.to_string());
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ProviderError::Unavailable(format!("reading Vault's answer: {}", error_chain(&e))))?;
        let body = if bytes.iter().all(u8::is_ascii_whitespace) {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|_| {
                ProviderError::Malformed(format!(
                    "Vault answered {} to {path} with a body that is not JSON",
                    status.as_u16()
                ))
            })?
        };
        Ok(Answer { status, body })
    }
}

/// rustls with ring (the stack kube builds), the system roots and the store's CAs, and the client certificate.
fn rustls_config(tls: TlsSettings) -> Result<rustls::ClientConfig, ProviderError> {
    let invalid = |what: &str| ProviderError::InvalidConfig(what.to_string());
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    for pem_text in &tls.ca_pem {
        let blocks = pem::parse_many(pem_text).map_err(|_| invalid("the CA bundle is not PEM"))?;
        let mut added = 0;
        for block in blocks.into_iter().filter(|b| b.tag() == "CERTIFICATE") {
            roots
                .add(rustls::pki_types::CertificateDer::from(block.into_contents()))
                .map_err(|e| ProviderError::InvalidConfig(format!("the CA bundle has an unusable certificate: {e}")))?;
            added += 1;
        }
        if added == 0 {
            return Err(invalid("the CA bundle has no certificate"));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ProviderError::Internal(format!("TLS versions: {e}")))?
        .with_root_certificates(roots);
    let config = match tls.client_cert {
        None => builder.with_no_client_auth(),
        Some((cert_pem, key_pem)) => {
            let chain: Vec<_> = pem::parse_many(&cert_pem)
                .map_err(|_| invalid("the client certificate is not PEM"))?
                .into_iter()
                .filter(|b| b.tag() == "CERTIFICATE")
                .map(|b| rustls::pki_types::CertificateDer::from(b.into_contents()))
                .collect();
            if chain.is_empty() {
                return Err(invalid("the client certificate has no certificate"));
            }
            let key = pem::parse(key_pem.expose()).map_err(|_| invalid("the client key is not PEM"))?;
            let key = match key.tag() {
                "PRIVATE KEY" => rustls::pki_types::PrivateKeyDer::Pkcs8(key.into_contents().into()),
                "RSA PRIVATE KEY" => rustls::pki_types::PrivateKeyDer::Pkcs1(key.into_contents().into()),
                "EC PRIVATE KEY" => rustls::pki_types::PrivateKeyDer::Sec1(key.into_contents().into()),
                _ => return Err(invalid("the client key is not a PKCS#8, PKCS#1 or SEC1 private key")),
            };
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| ProviderError::InvalidConfig(format!("the client certificate and key: {e}")))?
        }
    };
    Ok(config)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn answer(status: u16, body: serde_json::Value) -> Answer {
        Answer { status: StatusCode::from_u16(status).unwrap(), body }
    }

    #[test]
    fn status_codes_map_to_the_error_taxonomy() {
        let denied = answer(403, serde_json::json!({"errors": ["1 error occurred:\n\t* permission denied\n\n"]}));
        let err = denied.error("reading secret/data/app");
        assert!(matches!(err, ProviderError::Denied(_)), "{err}");
        assert_eq!(
            err.to_string(),
            "access denied: reading secret/data/app: HTTP 403: 1 error occurred: * permission denied"
        );
        assert!(matches!(answer(503, serde_json::Value::Null).error("x"), ProviderError::Unavailable(_)));
        assert!(matches!(answer(429, serde_json::Value::Null).error("x"), ProviderError::Throttled(_)));
        assert!(matches!(answer(400, serde_json::Value::Null).error("x"), ProviderError::InvalidConfig(_)));
        assert!(!answer(500, serde_json::Value::Null).error("x").is_not_found(), "a 5xx is never not found");
    }

    #[test]
    fn servers_must_be_http_urls() {
        let err = Connection::new("vault:8200", TlsSettings::default(), RequestSettings::default()).err().unwrap();
        assert!(matches!(err, ProviderError::InvalidConfig(_)), "{err}");
        assert!(Connection::new("http://127.0.0.1:8200/", TlsSettings::default(), RequestSettings::default()).is_ok());
    }
}
