//! One HTTPS client for every Google endpoint the provider calls, and what Google's answers mean as
//! [`ProviderError`]s. No token or value ever goes into an error or a log line: Google's error messages name
//! resources (`projects/123/secrets/db/versions/4`), never payloads.

use std::sync::Arc;
use std::time::Duration;

use external_secrets_provider::{ProviderError, SecretBytes, error_chain};
use reqwest::{Method, StatusCode};

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest part of Google's error message kept in our error (they are short; this bounds a hostile answer).
const MAX_MESSAGE: usize = 300;

/// Google's answer to one request: status and JSON body (`null` when there is none).
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: serde_json::Value,
}

impl Answer {
    pub(crate) fn is_success(&self) -> bool {
        self.status.is_success()
    }

    /// Google's `error.status` (`NOT_FOUND`, `FAILED_PRECONDITION`, ...), or OAuth's `error` string.
    pub(crate) fn error_status(&self) -> &str {
        match self.body.get("error") {
            Some(serde_json::Value::Object(error)) => error.get("status").and_then(|s| s.as_str()).unwrap_or_default(),
            Some(serde_json::Value::String(oauth)) => oauth,
            _ => "",
        }
    }

    /// Google's `error.message` (or OAuth's `error_description`), on one line and bounded.
    pub(crate) fn error_message(&self) -> String {
        let message = match self.body.get("error") {
            Some(serde_json::Value::Object(error)) => error.get("message").and_then(|m| m.as_str()),
            Some(serde_json::Value::String(_)) => self.body.get("error_description").and_then(|m| m.as_str()),
            _ => None,
        }
        .unwrap_or_default();
        let one_line = message.split_whitespace().collect::<Vec<_>>().join(" ");
        one_line.chars().take(MAX_MESSAGE).collect()
    }

    /// `HTTP <code> <STATUS>: <message>`.
    fn describe(&self) -> String {
        let mut text = format!("HTTP {}", self.status.as_u16());
        let status = self.error_status();
        if !status.is_empty() {
            text.push(' ');
            text.push_str(status);
        }
        let message = self.error_message();
        if !message.is_empty() {
            text.push_str(": ");
            text.push_str(&message);
        }
        text
    }

    /// The error this answer is, for a request described by `what`: 401 `Auth`, 403 `Denied`, 429 `Throttled`,
    /// 5xx `Unavailable`, `FAILED_PRECONDITION` (a disabled or destroyed version) `Internal` (retried: the state
    /// can change outside the cluster), other 4xx `InvalidConfig`. A 404 is decided by the caller (only a read of
    /// a secret makes it "not found", as ESO's `parseError`).
    pub(crate) fn error(&self, what: &str) -> ProviderError {
        let message = format!("{what}: {}", self.describe());
        match self.status.as_u16() {
            401 => ProviderError::Auth(message),
            403 => ProviderError::Denied(message),
            429 => ProviderError::Throttled(message),
            500..=599 => ProviderError::Unavailable(message),
            _ if self.error_status() == "FAILED_PRECONDITION" => ProviderError::Internal(message),
            _ => ProviderError::InvalidConfig(message),
        }
    }

    /// The error of a failed token exchange: a refused credential (4xx) is `Auth`, a failing endpoint is
    /// `Unavailable`.
    pub(crate) fn auth_error(&self, what: &str) -> ProviderError {
        let message = format!("{what}: {}", self.describe());
        match self.status.as_u16() {
            429 => ProviderError::Throttled(message),
            500..=599 => ProviderError::Unavailable(message),
            _ => ProviderError::Auth(message),
        }
    }
}

/// What a request sends.
pub(crate) enum Body<'a> {
    None,
    Json(&'a serde_json::Value),
    Form(&'a [(&'a str, &'a str)]),
}

/// A client of Google's HTTPS APIs. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
}

impl Http {
    /// A client trusting the system roots.
    pub(crate) fn new() -> Result<Self, ProviderError> {
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(rustls_config()?)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| ProviderError::Internal(format!("building the Google HTTP client: {}", error_chain(&e))))?;
        Ok(Self { client })
    }

    /// Sends `method url` with `query`, bearer `token`, `headers` and `body`; answers with status and JSON.
    /// Transport failures are `Unavailable`; an answer that is not JSON (other than an empty one) is `Malformed`.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        query: &[(&str, &str)],
        token: Option<&SecretBytes>,
        headers: &[(&str, &str)],
        body: Body<'_>,
    ) -> Result<Answer, ProviderError> {
        let mut request = self.client.request(method, url);
        if !query.is_empty() {
            request = request.query(query);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(token) = token {
            let mut bearer = b"Bearer ".to_vec();
            bearer.extend_from_slice(token.expose());
            let mut value = reqwest::header::HeaderValue::from_bytes(&bearer)
                .map_err(|_| ProviderError::Auth("the Google access token is not a valid header value".to_string()))?;
            value.set_sensitive(true);
            request = request.header(reqwest::header::AUTHORIZATION, value);
        }
        request = match body {
            Body::None => request,
            Body::Json(json) => request.header("Content-Type", "application/json").body(json.to_string()),
            Body::Form(fields) => request.form(fields),
        };
        // The URL holds host, resource names and query (filters, page tokens): no secret. reqwest's error
        // names it; strip it anyway, the endpoint is named by the caller.
        let host = host_of(url);
        let response = request
            .send()
            .await
            .map_err(|e| ProviderError::Unavailable(format!("calling {host}: {}", error_chain(&e.without_url()))))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| {
            ProviderError::Unavailable(format!("reading {host}'s answer: {}", error_chain(&e.without_url())))
        })?;
        let body = if bytes.iter().all(u8::is_ascii_whitespace) {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|_| {
                ProviderError::Malformed(format!("{host} answered {} with a body that is not JSON", status.as_u16()))
            })?
        };
        Ok(Answer { status, body })
    }
}

/// `scheme://host[:port]` of `url`, for messages.
fn host_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let end = url[after_scheme..].find('/').map_or(url.len(), |i| after_scheme + i);
    &url[..end]
}

/// rustls with ring (the stack kube builds) and the system roots.
fn rustls_config() -> Result<rustls::ClientConfig, ProviderError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ProviderError::Internal(format!("TLS versions: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn answer(status: u16, body: serde_json::Value) -> Answer {
        Answer { status: StatusCode::from_u16(status).unwrap(), body }
    }

    #[test]
    fn googles_error_bodies_map_to_the_error_taxonomy() {
        let not_found = answer(
            404,
            serde_json::json!({"error": {"code": 404, "message": "Secret [projects/1/secrets/db] not found or has no versions.", "status": "NOT_FOUND"}}),
        );
        let err = not_found.error("reading db");
        assert_eq!(
            err.to_string(),
            "invalid store configuration: reading db: HTTP 404 NOT_FOUND: Secret [projects/1/secrets/db] not found or has no versions."
        );
        let disabled = answer(
            400,
            serde_json::json!({"error": {"code": 400, "message": "Secret Version [projects/1/secrets/db/versions/2] is in DISABLED state.", "status": "FAILED_PRECONDITION"}}),
        );
        assert!(matches!(disabled.error("x"), ProviderError::Internal(_)));
        assert!(disabled.error("x").is_retryable());
        assert!(matches!(answer(401, serde_json::Value::Null).error("x"), ProviderError::Auth(_)));
        assert!(matches!(answer(403, serde_json::Value::Null).error("x"), ProviderError::Denied(_)));
        assert!(matches!(answer(429, serde_json::Value::Null).error("x"), ProviderError::Throttled(_)));
        assert!(matches!(answer(503, serde_json::Value::Null).error("x"), ProviderError::Unavailable(_)));
        assert!(!answer(500, serde_json::Value::Null).error("x").is_not_found(), "a 5xx is never not found");
    }

    #[test]
    fn oauth_errors_are_auth_failures_with_their_description() {
        let refused =
            answer(400, serde_json::json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}));
        let err = refused.auth_error("exchanging the key");
        assert!(matches!(err, ProviderError::Auth(_)), "{err}");
        assert!(err.to_string().ends_with("HTTP 400 invalid_grant: Invalid JWT Signature."), "{err}");
        assert!(matches!(answer(502, serde_json::Value::Null).auth_error("x"), ProviderError::Unavailable(_)));
    }

    #[test]
    fn messages_name_the_host_only() {
        assert_eq!(
            host_of("https://secretmanager.googleapis.com/v1/projects/p/secrets?filter=x"),
            "https://secretmanager.googleapis.com"
        );
        assert_eq!(host_of("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    }
}
