//! Turning a failed API server call into the provider error taxonomy.
//!
//! Messages carry the API server's own status message (it names resources and users, never Secret values) and
//! the chain of transport errors; decoding errors are reduced to a fixed text, because serde messages may quote
//! the document they failed on.

use external_secrets_provider::ProviderError;

/// The error for `err`, a failure of the call described by `context` (e.g. `reading Secret ns/name`).
///
/// `not_found` decides what a 404 means: [`ProviderError::NotFound`] only where the missing object *is* the
/// secret asked for; a missing credential Secret or ServiceAccount is an authentication problem instead.
pub(crate) fn from_kube(
    context: &str,
    err: kube::Error,
    not_found: impl FnOnce(String) -> ProviderError,
) -> ProviderError {
    match err {
        kube::Error::Api(status) => {
            let detail = if status.message.is_empty() {
                format!("{context}: HTTP {}", status.code)
            } else {
                format!("{context}: {} (HTTP {})", status.message, status.code)
            };
            match status.code {
                401 => ProviderError::Auth(detail),
                403 => ProviderError::Denied(detail),
                404 => not_found(detail),
                429 => ProviderError::Throttled(detail),
                400 | 422 => ProviderError::InvalidConfig(detail),
                408 | 500..=599 => ProviderError::Unavailable(detail),
                _ => ProviderError::Internal(detail),
            }
        }
        kube::Error::SerdeError(_) | kube::Error::FromUtf8(_) => {
            ProviderError::Malformed(format!("{context}: the API server's answer could not be decoded"))
        }
        kube::Error::Auth(e) => ProviderError::Auth(format!("{context}: {}", chain(&e))),
        kube::Error::RustlsTls(e) => ProviderError::InvalidConfig(format!("{context}: TLS set-up: {}", chain(&e))),
        kube::Error::InferKubeconfig(e) => ProviderError::InvalidConfig(format!("{context}: {}", chain(&e))),
        kube::Error::BuildRequest(e) => ProviderError::InvalidConfig(format!("{context}: {}", chain(&e))),
        e @ (kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_)) => {
            ProviderError::Unavailable(format!("{context}: {}", chain(&e)))
        }
        e => ProviderError::Internal(format!("{context}: {}", chain(&e))),
    }
}

pub(crate) use external_secrets_provider::error_chain as chain;

#[cfg(test)]
mod tests {
    use super::*;
    use external_secrets_provider::ErrorCategory;

    fn api(code: u16) -> kube::Error {
        kube::Error::Api(kube::core::Status { code, message: format!("message {code}"), ..Default::default() }.boxed())
    }

    fn category(code: u16) -> ErrorCategory {
        from_kube("reading Secret ns/db", api(code), |m| ProviderError::NotFound { key: m }).category()
    }

    #[test]
    fn maps_api_status_codes() {
        assert_eq!(category(401), ErrorCategory::Auth);
        assert_eq!(category(403), ErrorCategory::Denied);
        assert_eq!(category(404), ErrorCategory::NotFound);
        assert_eq!(category(429), ErrorCategory::Throttled);
        assert_eq!(category(400), ErrorCategory::InvalidConfig);
        assert_eq!(category(500), ErrorCategory::Unavailable);
        assert_eq!(category(503), ErrorCategory::Unavailable);
        assert_eq!(category(409), ErrorCategory::Internal);
    }

    #[test]
    fn not_found_is_what_the_caller_says() {
        let err = from_kube("reading the token Secret", api(404), ProviderError::Auth);
        assert_eq!(err.category(), ErrorCategory::Auth);
        assert_eq!(err.to_string(), "authentication failed: reading the token Secret: message 404 (HTTP 404)");
    }

    #[test]
    fn decoding_errors_do_not_quote_the_document() {
        let serde_err = serde_json::from_str::<u32>("\"hunter2\"").err().unwrap();
        assert!(serde_err.to_string().contains("hunter2"), "the premise of this test");
        let err = from_kube("reading Secret ns/db", kube::Error::SerdeError(serde_err), ProviderError::Auth);
        assert_eq!(err.category(), ErrorCategory::Malformed);
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
