//! The one error taxonomy of providers.

/// A short, bounded name for what went wrong: used as condition reason detail, event reason and metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCategory {
    NotFound,
    Unsupported,
    InvalidConfig,
    Auth,
    Denied,
    Throttled,
    Unavailable,
    Malformed,
    Internal,
}

impl ErrorCategory {
    /// The label value (CamelCase, stable).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCategory::NotFound => "NotFound",
            ErrorCategory::Unsupported => "Unsupported",
            ErrorCategory::InvalidConfig => "InvalidConfig",
            ErrorCategory::Auth => "AuthFailed",
            ErrorCategory::Denied => "AccessDenied",
            ErrorCategory::Throttled => "Throttled",
            ErrorCategory::Unavailable => "Unavailable",
            ErrorCategory::Malformed => "Malformed",
            ErrorCategory::Internal => "Internal",
        }
    }
}

/// Errors of a store client or provider. Messages name keys, stores and causes, never secret values. `Clone`, so
/// that one failure can answer every key of a failed batch and every caller sharing a read.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ProviderError {
    /// The store said the secret does not exist (or is marked for deletion). Deletion policies act on this.
    #[error("secret {key:?} not found in the store")]
    NotFound { key: String },
    /// The provider or operation is not supported (e.g. a push to a read-only provider, an unknown provider).
    #[error("not supported: {0}")]
    Unsupported(String),
    /// The store configuration is wrong; retrying will not help until it changes.
    #[error("invalid store configuration: {0}")]
    InvalidConfig(String),
    /// Credentials could not be obtained or were rejected.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// The identity is not allowed to do this.
    #[error("access denied: {0}")]
    Denied(String),
    /// The store throttled us.
    #[error("throttled by the store: {0}")]
    Throttled(String),
    /// The store could not be reached or failed (timeouts, 5xx, connection errors).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store answered something we cannot use (not JSON where JSON is needed, no value in the answer).
    #[error("malformed answer: {0}")]
    Malformed(String),
    /// Anything else.
    #[error("{0}")]
    Internal(String),
}

impl ProviderError {
    /// The bounded category of this error.
    pub fn category(&self) -> ErrorCategory {
        match self {
            ProviderError::NotFound { .. } => ErrorCategory::NotFound,
            ProviderError::Unsupported(_) => ErrorCategory::Unsupported,
            ProviderError::InvalidConfig(_) => ErrorCategory::InvalidConfig,
            ProviderError::Auth(_) => ErrorCategory::Auth,
            ProviderError::Denied(_) => ErrorCategory::Denied,
            ProviderError::Throttled(_) => ErrorCategory::Throttled,
            ProviderError::Unavailable(_) => ErrorCategory::Unavailable,
            ProviderError::Malformed(_) => ErrorCategory::Malformed,
            ProviderError::Internal(_) => ErrorCategory::Internal,
        }
    }

    /// Whether retrying soon may succeed without a configuration change. Credentials and permissions may be
    /// fixed outside the cluster at any time, so they are retried too (with backoff).
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            ProviderError::Unsupported(_) | ProviderError::InvalidConfig(_) | ProviderError::NotFound { .. }
        )
    }

    /// Whether this is the store's real "not found".
    pub fn is_not_found(&self) -> bool {
        matches!(self, ProviderError::NotFound { .. })
    }
}

/// An error and its causes, `outer: inner: innermost`, skipping causes whose text the outer one already shows.
/// Only `Display` is used.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
