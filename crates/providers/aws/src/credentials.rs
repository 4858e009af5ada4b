//! Credentials: where they come from (static keys in Secrets, the SDK default chain, a ServiceAccount token
//! exchanged through STS, STS AssumeRole on top of another identity) and the cache in front of each source, so
//! that one identity costs one token and one STS call per credential lifetime, however many stores, clients and
//! ExternalSecrets share it.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, future};
use external_secrets_api::{SecretKeySelector, ServiceAccountSelector};
use external_secrets_provider::{CredentialError, CredentialResolver, ProviderError};
use sha3::{Digest, Sha3_256};

use crate::config::{Auth, RoleStep};
use crate::error::{CredentialFailure, Kind, error_chain, sdk_error};

/// The STS session name of every assumption (ESO's).
pub const SESSION_NAME: &str = "external-secrets-provider-aws";
/// The ServiceAccount annotation naming the IAM role (IRSA).
pub const ROLE_ARN_ANNOTATION: &str = "eks.amazonaws.com/role-arn";
/// The ServiceAccount annotation overriding the token audience.
pub const AUDIENCE_ANNOTATION: &str = "eks.amazonaws.com/audience";
/// The audience of the ServiceAccount token when the annotation does not say.
pub const DEFAULT_AUDIENCE: &str = "sts.amazonaws.com";

/// Lifetime asked for a ServiceAccount token: it is only presented once, to STS.
const TOKEN_LIFETIME: Duration = Duration::from_secs(600);
/// Credentials are renewed this long before they expire (at most half their remaining lifetime).
const REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// A failure is remembered this long, so that many callers at once do not each repeat a failing STS call.
const FAILURE_TTL: Duration = Duration::from_secs(1);

/// Counters of the expensive things the provider does; see [`crate::AwsStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) token_requests: AtomicU64,
    pub(crate) sts_calls: AtomicU64,
    pub(crate) clients_built: AtomicU64,
    pub(crate) identities_built: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The base identity of a store, resolved: the credential Secrets read, the ServiceAccount's role read.
pub(crate) enum BaseIdentity {
    /// The SDK default chain.
    Default,
    /// Keys read from Secrets; the fingerprint identifies them in cache keys without holding them there.
    Static { credentials: Credentials, fingerprint: [u8; 32] },
    /// A ServiceAccount whose token is exchanged for `role_arn`.
    WebIdentity { namespace: String, service_account: String, role_arn: String, audiences: Vec<String> },
}

impl BaseIdentity {
    /// The cache key part of this identity.
    pub(crate) fn key(&self) -> BaseKey {
        match self {
            BaseIdentity::Default => BaseKey::Default,
            BaseIdentity::Static { fingerprint, .. } => BaseKey::Static(*fingerprint),
            BaseIdentity::WebIdentity { namespace, service_account, role_arn, audiences } => BaseKey::WebIdentity {
                namespace: namespace.clone(),
                service_account: service_account.clone(),
                role_arn: role_arn.clone(),
                audiences: audiences.clone(),
            },
        }
    }
}

/// What a base identity is, for cache keys. Never holds key material.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum BaseKey {
    Default,
    Static([u8; 32]),
    WebIdentity { namespace: String, service_account: String, role_arn: String, audiences: Vec<String> },
}

/// One identity: base credentials, the region and STS endpoint used to get them, and the roles assumed on top.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct IdentityKey {
    pub(crate) base: BaseKey,
    pub(crate) region: String,
    pub(crate) sts_endpoint: Option<String>,
    pub(crate) chain: Vec<RoleStep>,
}

impl IdentityKey {
    /// A short description for errors and logs (no key material).
    pub(crate) fn describe(&self) -> String {
        let base = match &self.base {
            BaseKey::Default => "the default credential chain".to_string(),
            BaseKey::Static(_) => "static keys".to_string(),
            BaseKey::WebIdentity { namespace, service_account, role_arn, .. } => {
                format!("ServiceAccount {namespace}/{service_account} as {role_arn}")
            }
        };
        match self.chain.last() {
            Some(last) => format!("{base}, then role {}", last.role_arn),
            None => base,
        }
    }
}

/// Reads the base identity the store's `auth` configures. For a ServiceAccount this reads the ServiceAccount
/// (its role annotation is part of the identity); the token itself is only requested when credentials are due.
pub(crate) async fn resolve_base(auth: &Auth, credentials: &CredentialResolver) -> Result<BaseIdentity, ProviderError> {
    match auth {
        Auth::Default => Ok(BaseIdentity::Default),
        Auth::SecretRef { access_key_id, secret_access_key, session_token } => {
            let id = read_secret_key(credentials, access_key_id).await?;
            let secret = read_secret_key(credentials, secret_access_key).await?;
            let token = match session_token {
                Some(sel) => Some(read_secret_key(credentials, sel).await?),
                None => None,
            };
            let mut hasher = Sha3_256::new();
            for part in [id.as_str(), secret.as_str(), token.as_deref().unwrap_or_default()] {
                hasher.update(part.as_bytes());
                hasher.update([0u8]);
            }
            let fingerprint: [u8; 32] = hasher.finalize().into();
            let credentials = Credentials::new(id, secret, token, None, "SecretRef");
            Ok(BaseIdentity::Static { credentials, fingerprint })
        }
        Auth::ServiceAccount(sa) => resolve_service_account(sa, credentials).await,
    }
}

/// A failure reading a credential object, as this provider reports it (`credentials: ...`).
fn credential_error(err: CredentialError) -> ProviderError {
    ProviderError::from(err.context("credentials"))
}

async fn resolve_service_account(
    sa: &ServiceAccountSelector,
    credentials: &CredentialResolver,
) -> Result<BaseIdentity, ProviderError> {
    let account = credentials.service_account(sa).await.map_err(credential_error)?;
    let (namespace, name) = (account.namespace, account.name);
    let annotations = account.annotations;
    let role_arn = annotations.get(ROLE_ARN_ANNOTATION).map(|r| r.trim()).filter(|r| !r.is_empty());
    let Some(role_arn) = role_arn else {
        return Err(ProviderError::InvalidConfig(format!(
            "ServiceAccount {namespace}/{name} has no {ROLE_ARN_ANNOTATION} annotation naming the IAM role to assume"
        )));
    };
    let mut audiences = vec![
        annotations
            .get(AUDIENCE_ANNOTATION)
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| DEFAULT_AUDIENCE.to_string()),
    ];
    audiences.extend(sa.audiences.iter().filter(|a| !a.is_empty()).cloned());
    Ok(BaseIdentity::WebIdentity { namespace, service_account: name, role_arn: role_arn.to_string(), audiences })
}

/// The value of one key of a Secret, whitespace trimmed (a trailing newline from `echo` is a common mistake).
async fn read_secret_key(
    credentials: &CredentialResolver,
    selector: &SecretKeySelector,
) -> Result<String, ProviderError> {
    let bytes = credentials.secret_key(selector).await.map_err(credential_error)?;
    let name = &selector.name;
    let missing = || {
        CredentialFailure::new(Kind::Auth, format!("Secret {name:?} has no non-empty key {:?}", selector.key))
            .to_error()
    };
    let value = String::from_utf8(bytes.into_inner()).map_err(|_| {
        CredentialFailure::new(Kind::Auth, format!("Secret {name:?} key {:?} is not UTF-8", selector.key)).to_error()
    })?;
    let value = value.trim();
    if value.is_empty() {
        return Err(missing());
    }
    Ok(value.to_string())
}

/// Where one identity's credentials come from.
pub(crate) enum Source {
    Static(Credentials),
    Default(Box<DefaultCredentialsChain>),
    WebIdentity(WebIdentity),
    AssumeRole(AssumeRole),
}

/// IRSA without a token file: TokenRequest for the ServiceAccount (through the credential resolver of the store
/// that first needed this identity), then STS AssumeRoleWithWebIdentity.
pub(crate) struct WebIdentity {
    pub(crate) credentials: CredentialResolver,
    pub(crate) namespace: String,
    pub(crate) service_account: String,
    pub(crate) role_arn: String,
    pub(crate) audiences: Vec<String>,
    /// An STS client without credentials (the call is authenticated by the token).
    pub(crate) sts: aws_sdk_sts::Client,
    pub(crate) counters: Arc<Counters>,
}

/// STS AssumeRole, signed with the previous identity of the chain.
pub(crate) struct AssumeRole {
    pub(crate) step: RoleStep,
    pub(crate) sts: aws_sdk_sts::Client,
    pub(crate) counters: Arc<Counters>,
}

impl Source {
    async fn fetch(&self) -> Result<Credentials, CredentialFailure> {
        match self {
            Source::Static(credentials) => Ok(credentials.clone()),
            Source::Default(chain) => chain.provide_credentials().await.map_err(|e| {
                let kind = match e {
                    CredentialsError::ProviderTimedOut(_) => Kind::Unavailable,
                    _ => Kind::Auth,
                };
                CredentialFailure::new(kind, format!("the default credential chain: {}", error_chain(&e)))
            }),
            Source::WebIdentity(web) => web.fetch().await,
            Source::AssumeRole(assume) => assume.fetch().await,
        }
    }
}

impl WebIdentity {
    async fn fetch(&self) -> Result<Credentials, CredentialFailure> {
        let (namespace, name) = (&self.namespace, &self.service_account);
        Counters::bump(&self.counters.token_requests);
        // The namespace was resolved (and checked) when the identity was built; it is named explicitly now, which
        // the store's rules allow for the namespace they resolved to.
        let account =
            ServiceAccountSelector { name: name.clone(), namespace: Some(namespace.clone()), audiences: Vec::new() };
        let token =
            self.credentials.service_account_token(&account, &self.audiences, TOKEN_LIFETIME).await.map_err(|e| {
                let err = ProviderError::from(e);
                CredentialFailure::new(Kind::of(&err), format!("ServiceAccount token: {}", strip_category(&err)))
            })?;
        Counters::bump(&self.counters.sts_calls);
        let out = self
            .sts
            .assume_role_with_web_identity()
            .role_arn(&self.role_arn)
            .role_session_name(SESSION_NAME)
            .web_identity_token(token.into_string())
            .send()
            .await
            .map_err(|e| {
                let err = sdk_error("AssumeRoleWithWebIdentity", &self.role_arn, &e);
                CredentialFailure::new(
                    Kind::of(&err),
                    format!("ServiceAccount {namespace}/{name}: {}", strip_category(&err)),
                )
            })?;
        from_sts(out.credentials(), "AssumeRoleWithWebIdentity", &self.role_arn)
    }
}

impl AssumeRole {
    async fn fetch(&self) -> Result<Credentials, CredentialFailure> {
        let step = &self.step;
        let tags = step
            .session_tags
            .iter()
            .map(|(k, v)| aws_sdk_sts::types::Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CredentialFailure::new(Kind::InvalidConfig, format!("session tags: {e}")))?;
        let mut request = self
            .sts
            .assume_role()
            .role_arn(&step.role_arn)
            .role_session_name(SESSION_NAME)
            .set_external_id(step.external_id.clone());
        if !tags.is_empty() {
            request = request.set_tags(Some(tags));
        }
        if !step.transitive_tag_keys.is_empty() {
            request = request.set_transitive_tag_keys(Some(step.transitive_tag_keys.clone()));
        }
        Counters::bump(&self.counters.sts_calls);
        let out = request.send().await.map_err(|e| {
            let err = sdk_error("AssumeRole", &step.role_arn, &e);
            CredentialFailure::new(Kind::of(&err), strip_category(&err))
        })?;
        from_sts(out.credentials(), "AssumeRole", &step.role_arn)
    }
}

/// The message of an error without its category prefix (the failure carries the category itself).
fn strip_category(err: &ProviderError) -> String {
    match err {
        ProviderError::NotFound { key } => format!("{key:?} not found"),
        ProviderError::Unsupported(m)
        | ProviderError::InvalidConfig(m)
        | ProviderError::Auth(m)
        | ProviderError::Denied(m)
        | ProviderError::Throttled(m)
        | ProviderError::Unavailable(m)
        | ProviderError::Malformed(m)
        | ProviderError::Internal(m) => m.clone(),
    }
}

fn from_sts(
    credentials: Option<&aws_sdk_sts::types::Credentials>,
    op: &str,
    role_arn: &str,
) -> Result<Credentials, CredentialFailure> {
    let c = credentials.ok_or_else(|| {
        CredentialFailure::new(Kind::Malformed, format!("{op} {role_arn:?}: no credentials returned"))
    })?;
    let expiry = SystemTime::try_from(*c.expiration()).ok();
    Ok(Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        expiry,
        "StsAssumeRole",
    ))
}

/// One identity's credentials, cached until shortly before they expire. Refreshes are single-flight: callers
/// that arrive while one is running wait for it and share its result.
pub(crate) struct Identity {
    description: String,
    source: Source,
    state: Mutex<State>,
    refresh: tokio::sync::Mutex<()>,
}

enum State {
    Empty,
    Ready { credentials: Credentials, refresh_at: Option<SystemTime> },
    Failed { at: Instant, failure: CredentialFailure },
}

impl Identity {
    /// An identity with nothing cached yet.
    pub(crate) fn new(description: String, source: Source) -> Self {
        Self { description, source, state: Mutex::new(State::Empty), refresh: tokio::sync::Mutex::new(()) }
    }

    /// What this identity is (no key material).
    pub(crate) fn description(&self) -> &str {
        &self.description
    }

    /// Valid credentials: cached ones while they are fresh, else new ones from the source.
    pub(crate) async fn credentials(&self) -> Result<Credentials, CredentialFailure> {
        if let Some(cached) = self.cached() {
            return cached;
        }
        let _refreshing = self.refresh.lock().await;
        if let Some(cached) = self.cached() {
            return cached;
        }
        let result = self.source.fetch().await;
        let next = match &result {
            Ok(credentials) => State::Ready { credentials: credentials.clone(), refresh_at: refresh_at(credentials) },
            Err(failure) => {
                tracing::debug!(identity = %self.description, error = %failure, "credentials could not be obtained");
                State::Failed { at: Instant::now(), failure: failure.clone() }
            }
        };
        if let Ok(mut state) = self.state.lock() {
            *state = next;
        }
        result
    }

    fn cached(&self) -> Option<Result<Credentials, CredentialFailure>> {
        let state = self.state.lock().ok()?;
        match &*state {
            State::Ready { credentials, refresh_at } if refresh_at.is_none_or(|at| SystemTime::now() < at) => {
                Some(Ok(credentials.clone()))
            }
            State::Failed { at, failure } if at.elapsed() < FAILURE_TTL => Some(Err(failure.clone())),
            _ => None,
        }
    }
}

/// When credentials are due for renewal: [`REFRESH_MARGIN`] before expiry, or halfway for short-lived ones.
fn refresh_at(credentials: &Credentials) -> Option<SystemTime> {
    let expiry = credentials.expiry()?;
    let remaining = expiry.duration_since(SystemTime::now()).unwrap_or_default();
    Some(expiry - REFRESH_MARGIN.min(remaining / 2))
}

/// An [`Identity`] as the SDK's credentials provider. The SDK's identity cache sits in front of it; this one
/// makes sure that SDK clients of the same identity (and `validate`) share one set of credentials.
#[derive(Clone)]
pub(crate) struct IdentityProvider(pub(crate) Arc<Identity>);

impl fmt::Debug for IdentityProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("IdentityProvider").field(&self.0.description).finish()
    }
}

impl ProvideCredentials for IdentityProvider {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(
            async move { self.0.credentials().await.map_err(CredentialsError::provider_error) },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expiring_in(secs: u64) -> Credentials {
        Credentials::new(
            "AKID",
            "SECRET",
            Some("TOKEN".into()),
            Some(SystemTime::now() + Duration::from_secs(secs)),
            "t",
        )
    }

    #[test]
    fn refresh_is_due_before_expiry() {
        let hour = refresh_at(&expiring_in(3600)).unwrap();
        let left = hour.duration_since(SystemTime::now()).unwrap();
        assert!(left > Duration::from_secs(3200) && left <= Duration::from_secs(3300), "{left:?}");
        // Short-lived credentials are used for half their remaining life rather than refetched on every call.
        let short = refresh_at(&expiring_in(60)).unwrap();
        let left = short.duration_since(SystemTime::now()).unwrap();
        assert!(left > Duration::from_secs(25) && left <= Duration::from_secs(30), "{left:?}");
        assert_eq!(refresh_at(&Credentials::new("a", "b", None, None, "t")), None);
    }

    #[test]
    fn descriptions_hold_no_key_material() {
        let key = IdentityKey {
            base: BaseKey::Static([7; 32]),
            region: "eu-west-1".into(),
            sts_endpoint: None,
            chain: vec![RoleStep {
                role_arn: "arn:aws:iam::1:role/r".into(),
                external_id: None,
                session_tags: vec![],
                transitive_tag_keys: vec![],
            }],
        };
        assert_eq!(key.describe(), "static keys, then role arn:aws:iam::1:role/r");
        let provider = IdentityProvider(Arc::new(Identity::new(key.describe(), Source::Static(expiring_in(10)))));
        let printed = format!("{provider:?}");
        assert!(!printed.contains("SECRET") && !printed.contains("AKID"), "{printed}");
    }

    #[tokio::test]
    async fn credentials_are_cached_once_fetched() {
        let identity = Identity::new("test".into(), Source::Static(expiring_in(3600)));
        assert!(identity.cached().is_none());
        let first = identity.credentials().await.unwrap();
        assert_eq!(first.access_key_id(), "AKID");
        assert!(matches!(identity.cached(), Some(Ok(_))));
    }
}
