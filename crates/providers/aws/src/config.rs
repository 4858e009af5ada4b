//! The store's `spec.provider.aws`, checked (without IO) and turned into what a client is built from.

use std::time::Duration;

use external_secrets_api::duration::parse_go_duration;
use external_secrets_api::{
    AwsAuth, AwsAuthSecretRef, AwsProvider as AwsSpec, AwsServiceType, AwsSessionTagsPolicy, SecretKeySelector,
    SecretStoreRetrySettings, ServiceAccountSelector,
};
use external_secrets_provider::{ProviderError, StoreContext, StoreKind};

/// Session tag keys the `Simple` and `Custom` session tag policies set (ESO's names).
const ESO_NAMESPACE_TAG: &str = "esoNamespace";
const ESO_STORE_NAME_TAG: &str = "esoStoreName";
const ESO_STORE_KIND_TAG: &str = "esoStoreKind";

/// The AWS service a store reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Service {
    SecretsManager,
    ParameterStore,
}

/// How the base credentials are obtained (before any role is assumed).
#[derive(Clone, Debug)]
pub(crate) enum Auth {
    /// The SDK default chain (environment, web identity token file, container credentials, IMDS).
    Default,
    /// Static keys read from Secrets.
    SecretRef {
        access_key_id: SecretKeySelector,
        secret_access_key: SecretKeySelector,
        session_token: Option<SecretKeySelector>,
    },
    /// A ServiceAccount token exchanged for the role its annotation names.
    ServiceAccount(ServiceAccountSelector),
}

impl Auth {
    /// The base identity `auth` configures (secretRef wins over jwt; none is the default chain).
    pub(crate) fn from_spec(auth: Option<&AwsAuth>) -> Self {
        match auth.map(|a| (&a.secret_ref, &a.jwt)) {
            Some((Some(refs), _)) => Auth::SecretRef {
                access_key_id: refs.access_key_id_secret_ref.clone().unwrap_or_default(),
                secret_access_key: refs.secret_access_key_secret_ref.clone().unwrap_or_default(),
                session_token: refs.session_token_secret_ref.clone(),
            },
            Some((None, Some(jwt))) => Auth::ServiceAccount(jwt.service_account_ref.clone().unwrap_or_default()),
            _ => Auth::Default,
        }
    }

    /// Whether some reference leaves its namespace to the ExternalSecret using a ClusterSecretStore (referent
    /// authentication).
    pub(crate) fn has_referent_refs(&self) -> bool {
        match self {
            Auth::Default => false,
            Auth::SecretRef { access_key_id, secret_access_key, session_token } => {
                access_key_id.namespace.is_none()
                    || secret_access_key.namespace.is_none()
                    || session_token.as_ref().is_some_and(|s| s.namespace.is_none())
            }
            Auth::ServiceAccount(sa) => sa.namespace.is_none(),
        }
    }
}

/// The flag that makes the operator refuse its own default credential chain to namespaced SecretStores.
pub const REFUSE_DEFAULT_FLAG: &str = "--aws-refuse-default-credentials-for-namespaced-stores";

/// Whether a store may use `auth`: with `refuse_default_for_namespaced` set, a namespaced `SecretStore` without
/// `auth` is refused, because the SDK default chain is the operator's own identity (its environment, its web
/// identity token, the node's instance role through IMDS) and a namespace admin must not borrow it. A
/// `ClusterSecretStore` is created by a cluster admin and keeps the default chain.
pub(crate) fn check_default_chain(
    auth: &Auth,
    kind: StoreKind,
    refuse_default_for_namespaced: bool,
) -> Result<(), ProviderError> {
    if refuse_default_for_namespaced && kind == StoreKind::SecretStore && matches!(auth, Auth::Default) {
        return Err(ProviderError::InvalidConfig(format!(
            "refused: a SecretStore without spec.provider.aws.auth would use the operator's own AWS identity (the \
             default credential chain), which this operator refuses to namespaced stores \
             ({REFUSE_DEFAULT_FLAG}); set auth.secretRef or auth.jwt"
        )));
    }
    Ok(())
}

/// One STS AssumeRole in the chain.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct RoleStep {
    pub(crate) role_arn: String,
    pub(crate) external_id: Option<String>,
    pub(crate) session_tags: Vec<(String, String)>,
    pub(crate) transitive_tag_keys: Vec<String>,
}

/// A checked store configuration.
#[derive(Clone, Debug)]
pub(crate) struct StoreConfig {
    pub(crate) service: Service,
    pub(crate) region: String,
    pub(crate) prefix: String,
    pub(crate) auth: Auth,
    /// `additionalRoles` in order, then `role` (which carries externalID and the session tags).
    pub(crate) roles: Vec<RoleStep>,
    /// How the SDK retries a failed call.
    pub(crate) retry: Retry,
}

/// The SDK retry behaviour a store asks for with `spec.retrySettings`, read as ESO reads it: the AWS SDK's
/// standard retryer with `maxRetries` as its *total* attempts (3 when unset; zero or less lifts the limit, leaving
/// the retry quota and the operation timeout to end the call) and, when `retryInterval` is a positive duration, that
/// fixed wait before every retry instead of the exponential backoff with jitter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Retry {
    /// Attempts per call, the first included.
    pub(crate) max_attempts: u32,
    /// The fixed wait between attempts; `None` for the SDK's backoff.
    pub(crate) interval: Option<Duration>,
}

impl Retry {
    /// The SDK's standard behaviour, used when `retrySettings` is not set.
    pub(crate) const STANDARD: Retry = Retry { max_attempts: 3, interval: None };

    /// The retry behaviour of `spec.retrySettings`.
    pub(crate) fn from_settings(settings: Option<&SecretStoreRetrySettings>) -> Result<Self, ProviderError> {
        let Some(settings) = settings else { return Ok(Self::STANDARD) };
        let max_attempts = match settings.max_retries {
            None => Self::STANDARD.max_attempts,
            Some(n) => u32::try_from(n).ok().filter(|&n| n > 0).unwrap_or(u32::MAX),
        };
        let interval = match settings.retry_interval.as_deref() {
            None => None,
            Some(text) => {
                let duration = parse_go_duration(text).map_err(|e| {
                    ProviderError::InvalidConfig(format!("spec.retrySettings.retryInterval {text:?}: {e}"))
                })?;
                duration.to_std().filter(|d| !d.is_zero())
            }
        };
        Ok(Self { max_attempts, interval })
    }
}

/// Checks the configuration as ESO's webhook and client constructor do, without IO.
pub(crate) fn validate(aws: &AwsSpec) -> Result<(), ProviderError> {
    let invalid = |m: String| Err(ProviderError::InvalidConfig(m));
    if aws.service == AwsServiceType::CertificateManager {
        return Err(ProviderError::Unsupported(
            "spec.provider.aws.service CertificateManager is not supported by this operator".to_string(),
        ));
    }
    validate_region(&aws.region)?;
    if let Some(auth) = &aws.auth {
        match (&auth.secret_ref, &auth.jwt) {
            (Some(_), Some(_)) => {
                return invalid("spec.provider.aws.auth: only one of secretRef and jwt may be set".into());
            }
            (Some(refs), None) => validate_secret_ref(refs)?,
            (None, Some(jwt)) => match &jwt.service_account_ref {
                Some(sa) if !sa.name.is_empty() => check_namespace(sa.namespace.as_deref())?,
                _ => return invalid("spec.provider.aws.auth.jwt.serviceAccountRef.name is required".into()),
            },
            (None, None) => {}
        }
    }
    if aws.role.as_deref().is_some_and(str::is_empty) {
        return invalid("spec.provider.aws.role must not be empty when set".into());
    }
    if aws.additional_roles.iter().any(String::is_empty) {
        return invalid("spec.provider.aws.additionalRoles must not contain empty role ARNs".into());
    }
    if aws.session_tags.iter().any(|t| t.key.is_empty()) {
        return invalid("spec.provider.aws.sessionTags: every tag needs a key".into());
    }
    if let Some(reserved) = aws
        .custom_session_tags
        .keys()
        .find(|k| [ESO_NAMESPACE_TAG, ESO_STORE_NAME_TAG, ESO_STORE_KIND_TAG].contains(&k.as_str()))
    {
        return invalid(format!("spec.provider.aws.customSessionTags must not set the reserved key {reserved:?}"));
    }
    if let Some(sm) = &aws.secrets_manager {
        let window = sm.recovery_window_in_days.unwrap_or(0);
        if window != 0 && !(7..=30).contains(&window) {
            return invalid(
                "spec.provider.aws.secretsManager.recoveryWindowInDays must be 0 or between 7 and 30".into(),
            );
        }
        if window != 0 && sm.force_delete_without_recovery {
            return invalid(
                "spec.provider.aws.secretsManager: forceDeleteWithoutRecovery and recoveryWindowInDays are exclusive"
                    .into(),
            );
        }
    }
    Ok(())
}

/// A region must be a DNS label (the SDK builds endpoint host names from it).
pub(crate) fn validate_region(region: &str) -> Result<(), ProviderError> {
    let valid = !region.is_empty()
        && region.len() <= 63
        && region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !region.starts_with('-')
        && !region.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(ProviderError::InvalidConfig(format!("spec.provider.aws.region {region:?} is not a valid AWS region")))
    }
}

fn validate_secret_ref(refs: &AwsAuthSecretRef) -> Result<(), ProviderError> {
    let required = [
        ("accessKeyIDSecretRef", refs.access_key_id_secret_ref.as_ref()),
        ("secretAccessKeySecretRef", refs.secret_access_key_secret_ref.as_ref()),
    ];
    for (field, selector) in required {
        match selector {
            Some(s) if !s.name.is_empty() && !s.key.is_empty() => {
                check_namespace(s.namespace.as_deref())?;
            }
            _ => {
                return Err(ProviderError::InvalidConfig(format!(
                    "spec.provider.aws.auth.secretRef.{field} needs a name and a key"
                )));
            }
        }
    }
    if let Some(token) = &refs.session_token_secret_ref {
        if token.name.is_empty() || token.key.is_empty() {
            return Err(ProviderError::InvalidConfig(
                "spec.provider.aws.auth.secretRef.sessionTokenSecretRef needs a name and a key".to_string(),
            ));
        }
        check_namespace(token.namespace.as_deref())?;
    }
    Ok(())
}

/// A namespace on a reference is only meaningful in a ClusterSecretStore; in a SecretStore it must be the
/// store's own, which the store's credential resolver checks when it reads the reference.
fn check_namespace(namespace: Option<&str>) -> Result<(), ProviderError> {
    match namespace {
        Some("") => Err(ProviderError::InvalidConfig("a reference's namespace must not be empty".to_string())),
        _ => Ok(()),
    }
}

impl StoreConfig {
    /// The configuration of the store in `ctx`, whose `spec.provider.aws` is `aws`.
    pub(crate) fn new(aws: &AwsSpec, ctx: &StoreContext) -> Result<Self, ProviderError> {
        validate(aws)?;
        let service = match aws.service {
            AwsServiceType::SecretsManager => Service::SecretsManager,
            AwsServiceType::ParameterStore => Service::ParameterStore,
            AwsServiceType::CertificateManager => {
                return Err(ProviderError::Unsupported("CertificateManager is not supported".to_string()));
            }
        };
        let auth = Auth::from_spec(aws.auth.as_ref());
        let mut roles: Vec<RoleStep> = aws
            .additional_roles
            .iter()
            .map(|arn| RoleStep {
                role_arn: arn.clone(),
                external_id: None,
                session_tags: Vec::new(),
                transitive_tag_keys: Vec::new(),
            })
            .collect();
        if let Some(role) = &aws.role {
            roles.push(RoleStep {
                role_arn: role.clone(),
                external_id: aws.external_id.clone().filter(|e| !e.is_empty()),
                session_tags: session_tags(aws, ctx),
                transitive_tag_keys: aws.transitive_tag_keys.clone(),
            });
        }
        let retry = Retry::from_settings(ctx.retry_settings())?;
        Ok(Self {
            service,
            region: aws.region.clone(),
            prefix: aws.prefix.clone().unwrap_or_default(),
            auth,
            roles,
            retry,
        })
    }
}

/// The session tags of the last assumption, as `sessionTagsPolicy` says.
fn session_tags(aws: &AwsSpec, ctx: &StoreContext) -> Vec<(String, String)> {
    let eso_tags = || {
        vec![
            (ESO_NAMESPACE_TAG.to_string(), ctx.default_namespace().unwrap_or_default().to_string()),
            (ESO_STORE_NAME_TAG.to_string(), ctx.name().to_string()),
            (ESO_STORE_KIND_TAG.to_string(), ctx.kind().as_str().to_string()),
        ]
    };
    match aws.session_tags_policy {
        AwsSessionTagsPolicy::None => aws.session_tags.iter().map(|t| (t.key.clone(), t.value.clone())).collect(),
        AwsSessionTagsPolicy::Simple => eso_tags(),
        AwsSessionTagsPolicy::Custom => {
            let mut tags = eso_tags();
            tags.extend(aws.custom_session_tags.iter().map(|(k, v)| (k.clone(), v.clone())));
            tags
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use external_secrets_api::{AwsAuth, AwsJwtAuth, AwsSecretsManager};
    use external_secrets_provider::ErrorCategory;

    fn spec() -> AwsSpec {
        AwsSpec { region: "eu-west-1".into(), ..Default::default() }
    }

    fn category(aws: &AwsSpec) -> Option<ErrorCategory> {
        validate(aws).err().map(|e| e.category())
    }

    #[test]
    fn default_chain_is_refused_only_to_namespaced_stores_and_only_with_the_flag() {
        let keys = Auth::SecretRef {
            access_key_id: SecretKeySelector::default(),
            secret_access_key: SecretKeySelector::default(),
            session_token: None,
        };
        let refused = check_default_chain(&Auth::Default, StoreKind::SecretStore, true).unwrap_err();
        assert_eq!(refused.category(), ErrorCategory::InvalidConfig);
        let message = refused.to_string();
        assert!(message.contains("refused") && message.contains(REFUSE_DEFAULT_FLAG), "{message}");
        assert!(check_default_chain(&Auth::Default, StoreKind::SecretStore, false).is_ok());
        assert!(check_default_chain(&Auth::Default, StoreKind::ClusterSecretStore, true).is_ok());
        assert!(check_default_chain(&keys, StoreKind::SecretStore, true).is_ok());
    }

    #[test]
    fn a_plain_store_is_valid() {
        assert_eq!(category(&spec()), None);
    }

    #[test]
    fn certificate_manager_is_unsupported() {
        let aws = AwsSpec { service: AwsServiceType::CertificateManager, ..spec() };
        assert_eq!(category(&aws), Some(ErrorCategory::Unsupported));
    }

    #[test]
    fn region_is_required_and_must_be_a_label() {
        for region in ["", "eu west 1", "https://x", "-eu"] {
            let aws = AwsSpec { region: region.into(), ..spec() };
            assert_eq!(category(&aws), Some(ErrorCategory::InvalidConfig), "{region:?}");
        }
        let aws = AwsSpec { region: "us-gov-west-1".into(), ..spec() };
        assert_eq!(category(&aws), None);
    }

    #[test]
    fn secret_ref_needs_both_keys_and_jwt_needs_a_service_account() {
        let half = AwsAuth {
            secret_ref: Some(AwsAuthSecretRef {
                access_key_id_secret_ref: Some(SecretKeySelector {
                    name: "c".into(),
                    key: "id".into(),
                    namespace: None,
                }),
                ..Default::default()
            }),
            jwt: None,
        };
        assert_eq!(category(&AwsSpec { auth: Some(half), ..spec() }), Some(ErrorCategory::InvalidConfig));
        let jwt = AwsAuth { secret_ref: None, jwt: Some(AwsJwtAuth { service_account_ref: None }) };
        assert_eq!(category(&AwsSpec { auth: Some(jwt), ..spec() }), Some(ErrorCategory::InvalidConfig));
    }

    #[test]
    fn recovery_window_is_checked() {
        let sm = |window, force| AwsSecretsManager {
            recovery_window_in_days: Some(window),
            force_delete_without_recovery: force,
        };
        assert_eq!(
            category(&AwsSpec { secrets_manager: Some(sm(3, false)), ..spec() }),
            Some(ErrorCategory::InvalidConfig)
        );
        assert_eq!(
            category(&AwsSpec { secrets_manager: Some(sm(7, true)), ..spec() }),
            Some(ErrorCategory::InvalidConfig)
        );
        assert_eq!(category(&AwsSpec { secrets_manager: Some(sm(30, false)), ..spec() }), None);
        assert_eq!(category(&AwsSpec { secrets_manager: Some(sm(0, true)), ..spec() }), None);
    }

    #[test]
    fn reserved_session_tags_are_refused() {
        let mut aws = spec();
        aws.custom_session_tags.insert("esoStoreName".into(), "x".into());
        assert_eq!(category(&aws), Some(ErrorCategory::InvalidConfig));
    }

    #[test]
    fn retry_settings_are_total_attempts_and_a_fixed_interval() {
        let settings = |max_retries: Option<i32>, interval: Option<&str>| SecretStoreRetrySettings {
            max_retries,
            retry_interval: interval.map(Into::into),
        };
        assert_eq!(Retry::from_settings(None).unwrap(), Retry::STANDARD);
        assert_eq!(Retry::from_settings(Some(&settings(None, None))).unwrap(), Retry::STANDARD);
        let two = Retry::from_settings(Some(&settings(Some(2), Some("1500ms")))).unwrap();
        assert_eq!(two, Retry { max_attempts: 2, interval: Some(Duration::from_millis(1500)) });
        assert_eq!(Retry::from_settings(Some(&settings(Some(1), None))).unwrap().max_attempts, 1);
        // Go's retryer treats a limit of zero or less as none.
        assert_eq!(Retry::from_settings(Some(&settings(Some(0), None))).unwrap().max_attempts, u32::MAX);
        assert_eq!(Retry::from_settings(Some(&settings(Some(-1), None))).unwrap().max_attempts, u32::MAX);
        // A zero or negative interval keeps the SDK's backoff.
        for interval in ["0", "0s", "-1s"] {
            assert_eq!(Retry::from_settings(Some(&settings(Some(5), Some(interval)))).unwrap().interval, None);
        }
        let err = Retry::from_settings(Some(&settings(Some(5), Some("5 seconds")))).unwrap_err();
        assert_eq!(err.category(), ErrorCategory::InvalidConfig);
        assert!(err.to_string().contains("retryInterval"), "{err}");
    }

    #[test]
    fn referent_refs_are_those_without_namespace() {
        let sel =
            |ns: Option<&str>| SecretKeySelector { name: "c".into(), key: "k".into(), namespace: ns.map(Into::into) };
        let auth =
            Auth::SecretRef { access_key_id: sel(Some("a")), secret_access_key: sel(Some("a")), session_token: None };
        assert!(!auth.has_referent_refs());
        let auth = Auth::SecretRef { access_key_id: sel(Some("a")), secret_access_key: sel(None), session_token: None };
        assert!(auth.has_referent_refs());
        let sa = ServiceAccountSelector { name: "sa".into(), namespace: None, audiences: vec![] };
        assert!(Auth::ServiceAccount(sa).has_referent_refs());
        assert!(!Auth::Default.has_referent_refs());
    }
}
