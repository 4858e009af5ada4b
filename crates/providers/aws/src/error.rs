//! AWS errors mapped onto the provider error taxonomy — by error *code* only.
//!
//! HTTP status and message text are not reliable across AWS and local emulators (moto answers
//! `ResourceNotFoundException` with 404, AWS with 400), so the code decides. The one exception is ESO's own rule
//! that an `InvalidParameterException` saying "was marked for deletion" counts as not found.

use std::error::Error as StdError;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use external_secrets_provider::ProviderError;

/// The longest service message we copy into an error string.
const MAX_MESSAGE: usize = 300;

/// What went wrong, without the words: the bounded part of a [`ProviderError`], cheap to copy and to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    NotFound,
    InvalidConfig,
    Auth,
    Denied,
    Throttled,
    Unavailable,
    Malformed,
    Internal,
}

impl Kind {
    /// The kind of a provider error.
    pub(crate) fn of(err: &ProviderError) -> Self {
        match err {
            ProviderError::NotFound { .. } => Kind::NotFound,
            ProviderError::InvalidConfig(_) | ProviderError::Unsupported(_) => Kind::InvalidConfig,
            ProviderError::Auth(_) => Kind::Auth,
            ProviderError::Denied(_) => Kind::Denied,
            ProviderError::Throttled(_) => Kind::Throttled,
            ProviderError::Unavailable(_) => Kind::Unavailable,
            ProviderError::Malformed(_) => Kind::Malformed,
            ProviderError::Internal(_) => Kind::Internal,
        }
    }

    /// The error of this kind for `key` with `message` (a `NotFound` carries only the key).
    pub(crate) fn error(self, key: &str, message: String) -> ProviderError {
        match self {
            Kind::NotFound => ProviderError::NotFound { key: key.to_string() },
            Kind::InvalidConfig => ProviderError::InvalidConfig(message),
            Kind::Auth => ProviderError::Auth(message),
            Kind::Denied => ProviderError::Denied(message),
            Kind::Throttled => ProviderError::Throttled(message),
            Kind::Unavailable => ProviderError::Unavailable(message),
            Kind::Malformed => ProviderError::Malformed(message),
            Kind::Internal => ProviderError::Internal(message),
        }
    }
}

/// The kind of an AWS error code (Secrets Manager, SSM or STS), not-found codes aside (see [`is_not_found`]).
pub(crate) fn code_kind(code: &str) -> Kind {
    match code {
        c if c.starts_with("AccessDenied") => Kind::Denied,
        "ThrottlingException"
        | "Throttling"
        | "TooManyRequests"
        | "TooManyRequestsException"
        | "ThrottledException"
        | "RequestLimitExceeded"
        | "PriorRequestNotComplete" => Kind::Throttled,
        "UnrecognizedClient"
        | "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "InvalidSignature"
        | "InvalidSignatureException"
        | "SignatureDoesNotMatch"
        | "IncompleteSignature"
        | "MissingAuthenticationToken"
        | "RequestExpired"
        | "InvalidIdentityToken"
        | "IDPRejectedClaim" => Kind::Auth,
        "InternalServiceError"
        | "InternalServerError"
        | "InternalFailure"
        | "InternalError"
        | "ServiceUnavailable"
        | "ServiceUnavailableException"
        | "IDPCommunicationError" => Kind::Unavailable,
        "RegionDisabledException" => Kind::InvalidConfig,
        _ => Kind::Internal,
    }
}

/// Whether `op` failing with `code` (and `message`) means "this secret does not exist" — exactly where ESO returns
/// its `NoSecretErr`, because deletion policies act on it and a wrong "not found" deletes a user's Secret:
/// - `GetSecretValue` (and an entry of `BatchGetSecretValue`, which stands for it): `ResourceNotFoundException`, or
///   `InvalidParameterException` whose message says "was marked for deletion". AWS answers a read of a secret
///   scheduled for deletion with `InvalidRequestException`: for ESO that is an error, not a missing secret.
/// - `GetParameter` (and a name `GetParameters` lists as invalid) and `ListTagsForResource` (`metadataPolicy:
///   Fetch`): `ParameterNotFound`. A missing version (`ParameterVersionNotFound`) and the `InvalidResourceId` AWS
///   answers for the tags of a missing parameter are errors.
/// - Every other operation, `DescribeSecret` of `metadataPolicy: Fetch` included: never (ESO passes its errors on
///   as plain errors).
pub(crate) fn is_not_found(op: &str, code: &str, message: &str) -> bool {
    match op {
        "GetSecretValue" | "BatchGetSecretValue" => {
            code == "ResourceNotFoundException"
                || (code == "InvalidParameterException" && message.contains("was marked for deletion"))
        }
        "GetParameter" | "GetParameters" | "ListTagsForResource" => code == "ParameterNotFound",
        _ => false,
    }
}

/// The kind of an answer that carries no AWS error code, by its HTTP status.
pub(crate) fn status_kind(status: u16) -> Kind {
    match status {
        429 => Kind::Throttled,
        401 => Kind::Auth,
        403 => Kind::Denied,
        500..=599 => Kind::Unavailable,
        _ => Kind::Internal,
    }
}

/// Why credentials could not be obtained. It travels inside the SDK's `CredentialsError`, so that a Secrets
/// Manager or SSM call that failed for want of credentials is reported with the right category.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
pub(crate) struct CredentialFailure {
    pub(crate) kind: Kind,
    pub(crate) message: String,
}

impl CredentialFailure {
    /// A failure of `kind`.
    pub(crate) fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }

    /// The provider error for this failure.
    pub(crate) fn to_error(&self) -> ProviderError {
        let kind = if self.kind == Kind::NotFound { Kind::Auth } else { self.kind };
        kind.error("", format!("credentials: {}", self.message))
    }
}

/// Maps a failed SDK call. `op` is the AWS operation, `key` names what was asked for (never a value).
pub(crate) fn sdk_error<E>(op: &str, key: &str, err: &SdkError<E, HttpResponse>) -> ProviderError
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    if let SdkError::ServiceError(context) = err {
        let service_error = context.err();
        let message = service_error.message().unwrap_or_default();
        return match service_error.code() {
            Some(code) if is_not_found(op, code, message) => ProviderError::NotFound { key: key.to_string() },
            Some(code) => code_kind(code).error(key, describe(op, key, code, message)),
            // No AWS error code: a gateway or proxy in front of the service answered (a bare 429 or 502, say).
            // Its HTTP status is then all there is to name the problem.
            None => {
                let status = context.raw().status().as_u16();
                status_kind(status).error(key, format!("{op} {key:?}: HTTP {status} without an AWS error code"))
            }
        };
    }
    // No answer from the service: either credentials could not be resolved, or the transport failed.
    if let Some(failure) = find_source::<CredentialFailure>(err) {
        let kind = if failure.kind == Kind::NotFound { Kind::Auth } else { failure.kind };
        return kind.error(key, format!("{op} {key:?}: credentials: {}", failure.message));
    }
    if let Some(credentials) = find_source::<CredentialsError>(err) {
        return ProviderError::Auth(format!("{op} {key:?}: no credentials: {}", error_chain(credentials)));
    }
    match err {
        SdkError::ConstructionFailure(_) => {
            ProviderError::Internal(format!("{op} {key:?}: could not build the request: {}", error_chain(err)))
        }
        // The details of an unreadable answer could quote the answer, which may hold a value: leave them out.
        SdkError::ResponseError(_) => ProviderError::Unavailable(format!("{op} {key:?}: the answer could not be read")),
        _ => ProviderError::Unavailable(format!("{op} {key:?}: {}", error_chain(err))),
    }
}

/// The messages of an error and its sources, joined with `: `. Only `Display` is used: the `Debug` form of an
/// SDK error can contain the raw HTTP response, body included.
pub(crate) fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(err);
    while let Some(e) = current {
        let text = e.to_string();
        if !text.is_empty() && !parts.last().is_some_and(|last| last.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// `op "key": Code: message` with the message shortened.
pub(crate) fn describe(op: &str, key: &str, code: &str, message: &str) -> String {
    if message.is_empty() {
        format!("{op} {key:?}: {code}")
    } else {
        format!("{op} {key:?}: {code}: {}", shorten(message))
    }
}

fn shorten(message: &str) -> &str {
    match message.char_indices().nth(MAX_MESSAGE) {
        Some((end, _)) => &message[..end],
        None => message,
    }
}

/// The first error of type `T` in the source chain of `err` (itself included).
pub(crate) fn find_source<'a, T: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use external_secrets_provider::ErrorCategory;

    #[test]
    fn answers_without_an_error_code_are_named_by_their_status() {
        assert_eq!(status_kind(429), Kind::Throttled);
        assert_eq!(status_kind(502), Kind::Unavailable);
        assert_eq!(status_kind(503), Kind::Unavailable);
        assert_eq!(status_kind(401), Kind::Auth);
        assert_eq!(status_kind(403), Kind::Denied);
        assert_eq!(status_kind(404), Kind::Internal);
    }

    #[test]
    fn codes_map_to_categories() {
        let cases = [
            ("AccessDeniedException", Kind::Denied),
            ("AccessDenied", Kind::Denied),
            ("ThrottlingException", Kind::Throttled),
            ("Throttling", Kind::Throttled),
            ("TooManyRequestsException", Kind::Throttled),
            ("UnrecognizedClientException", Kind::Auth),
            ("InvalidClientTokenId", Kind::Auth),
            ("ExpiredToken", Kind::Auth),
            ("ExpiredTokenException", Kind::Auth),
            ("InvalidSignatureException", Kind::Auth),
            ("SignatureDoesNotMatch", Kind::Auth),
            ("InvalidIdentityToken", Kind::Auth),
            ("InternalServiceError", Kind::Unavailable),
            ("ServiceUnavailable", Kind::Unavailable),
            ("ValidationException", Kind::Internal),
            ("DecryptionFailure", Kind::Internal),
            ("SomethingNew", Kind::Internal),
        ];
        for (code, kind) in cases {
            assert_eq!(code_kind(code), kind, "{code}");
        }
    }

    #[test]
    fn not_found_is_decided_per_operation_as_eso_does() {
        let aws_deleted = "You can't perform this operation on the secret because it was marked for deletion.";
        let moto_deleted = "You tried to perform the operation on a secret that's currently marked deleted.";
        for op in ["GetSecretValue", "BatchGetSecretValue"] {
            assert!(is_not_found(op, "ResourceNotFoundException", "Secrets Manager can't find the specified secret."));
            assert!(is_not_found(op, "ResourceNotFoundException", ""));
            assert!(is_not_found(op, "InvalidParameterException", aws_deleted));
            // What AWS (and moto) really answer for a secret scheduled for deletion: an error in ESO.
            assert!(!is_not_found(op, "InvalidRequestException", aws_deleted));
            assert!(!is_not_found(op, "InvalidRequestException", moto_deleted));
            assert!(!is_not_found(op, "InvalidParameterException", "was Marked For Deletion"));
            assert!(!is_not_found(op, "AccessDeniedException", aws_deleted));
            assert!(!is_not_found(op, "ParameterNotFound", ""));
        }
        for op in ["GetParameter", "GetParameters"] {
            assert!(is_not_found(op, "ParameterNotFound", ""));
            assert!(!is_not_found(op, "ParameterVersionNotFound", ""));
            assert!(!is_not_found(op, "ResourceNotFoundException", ""));
        }
        // metadataPolicy: Fetch reads tags; ESO passes a missing secret or parameter on as an error.
        assert!(!is_not_found("DescribeSecret", "ResourceNotFoundException", ""));
        assert!(!is_not_found("ListTagsForResource", "InvalidResourceId", ""));
        assert!(is_not_found("ListTagsForResource", "ParameterNotFound", ""));
        assert!(!is_not_found("ListSecrets", "ValidationException", "not found"));
    }

    #[test]
    fn error_strings_name_operation_key_and_code() {
        let err = Kind::Denied.error("db", describe("GetSecretValue", "db", "AccessDeniedException", "nope"));
        assert_eq!(err.category(), ErrorCategory::Denied);
        assert_eq!(err.to_string(), "access denied: GetSecretValue \"db\": AccessDeniedException: nope");
        let long = "x".repeat(1000);
        assert!(describe("Op", "k", "C", &long).len() < 400);
        let not_found = Kind::NotFound.error("prefix/db", String::new());
        assert!(not_found.is_not_found());
    }

    #[test]
    fn credential_failures_keep_their_category() {
        let failure = CredentialFailure::new(Kind::Denied, "AssumeRoleWithWebIdentity: AccessDenied");
        assert_eq!(failure.to_error().category(), ErrorCategory::Denied);
        // A missing Secret or ServiceAccount is an authentication failure of the store, not a missing secret.
        let missing = CredentialFailure::new(Kind::NotFound, "Secret ns/creds not found");
        assert_eq!(missing.to_error().category(), ErrorCategory::Auth);
        let wrapped = CredentialsError::provider_error(failure);
        assert_eq!(find_source::<CredentialFailure>(&wrapped).map(|f| f.kind), Some(Kind::Denied));
    }

    #[test]
    fn error_chains_join_messages_without_repeats() {
        let inner = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
        let outer = CredentialsError::provider_error(inner);
        assert_eq!(error_chain(&outer), "an error occurred while loading credentials: Connection refused");
    }
}
