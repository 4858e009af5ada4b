//! The one way a provider reads the operator's cluster: a key of a Secret, a key of a ConfigMap, a
//! ServiceAccount's annotations, a token for a ServiceAccount — each in the namespace ESO's rules allow the store,
//! and nothing else. Providers never hold the operator's `kube::Client`.
//!
//! ESO's rules (`runtime/esutils/resolvers`, `FetchCACertFromSource` and each provider's auth, v2.9.0), enforced
//! here once for every provider by [`StoreScope::resolve_namespace`]:
//!
//! - A `SecretStore` reads references in its own namespace only. A reference naming another namespace is refused
//!   (ESO's admission refuses such a store; ESO's resolvers would silently read the store's namespace instead).
//! - A `ClusterSecretStore` reads a reference in the namespace the reference names; a reference without one is
//!   read in the namespace of the ExternalSecret the store serves ("referent authentication"). Validating the
//!   store on its own there is no such namespace, and the reference is refused.
//!
//! Names are checked before they go into a request path (a namespace must be a DNS label, an object name a DNS
//! subdomain), so a reference cannot walk the API server's URL space either.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use external_secrets_api::{CaProvider, CaProviderType, SecretKeySelector, ServiceAccountSelector};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use kube::Api;
use kube::api::PostParams;

use crate::names::{is_dns_label, is_dns_subdomain};
use crate::{ProviderError, SecretBytes, StoreKind};

/// The store that references are resolved for, and on whose behalf: what decides where they may point.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StoreScope {
    /// `SecretStore` or `ClusterSecretStore`.
    pub kind: StoreKind,
    /// The store's name.
    pub name: String,
    /// The store's own namespace (`SecretStore`); `None` for a `ClusterSecretStore`.
    pub namespace: Option<String>,
    /// For a `ClusterSecretStore` used by an ExternalSecret: that ExternalSecret's namespace, where references
    /// without a namespace are resolved. `None` when the store is validated on its own. Unused for a
    /// `SecretStore`.
    pub referent_namespace: Option<String>,
}

impl StoreScope {
    /// A `SecretStore` in `namespace`.
    pub fn secret_store(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            kind: StoreKind::SecretStore,
            name: name.into(),
            namespace: Some(namespace.into()),
            referent_namespace: None,
        }
    }

    /// A `ClusterSecretStore`, used for an ExternalSecret in `referent_namespace` (`None`: validated on its own).
    pub fn cluster_secret_store(name: impl Into<String>, referent_namespace: Option<String>) -> Self {
        Self { kind: StoreKind::ClusterSecretStore, name: name.into(), namespace: None, referent_namespace }
    }

    /// The namespace a reference without `namespace` resolves to: the store's own for a `SecretStore`, the
    /// ExternalSecret's for a `ClusterSecretStore` (none when validating a cluster store).
    pub fn default_namespace(&self) -> Option<&str> {
        match self.kind {
            StoreKind::SecretStore => self.namespace.as_deref(),
            StoreKind::ClusterSecretStore => self.referent_namespace.as_deref(),
        }
    }

    /// The namespace a reference to `what` (e.g. `Secret "aws-creds"`) is read in, given the namespace it names
    /// (`explicit`), as ESO's rules say (see the module docs). Pure; the resolver calls it for every read.
    pub fn resolve_namespace(&self, explicit: Option<&str>, what: &str) -> Result<String, CredentialError> {
        if let Some(namespace) = explicit
            && !is_dns_label(namespace)
        {
            return Err(CredentialError::new(
                CredentialErrorKind::InvalidReference,
                format!("the reference to {what} names namespace {namespace:?}, which is not a namespace name"),
            ));
        }
        match self.kind {
            StoreKind::SecretStore => {
                let Some(own) = self.namespace.as_deref() else {
                    return Err(CredentialError::new(
                        CredentialErrorKind::Internal,
                        format!("SecretStore {:?} has no namespace", self.name),
                    ));
                };
                match explicit {
                    Some(namespace) if namespace != own => Err(CredentialError::new(
                        CredentialErrorKind::NotAllowed,
                        format!(
                            "SecretStore {:?} in namespace {own:?} may only read references in its own namespace, \
                             but the reference to {what} names namespace {namespace:?}",
                            self.name
                        ),
                    )),
                    _ => Ok(own.to_string()),
                }
            }
            StoreKind::ClusterSecretStore => match explicit.or(self.referent_namespace.as_deref()) {
                Some(namespace) => Ok(namespace.to_string()),
                None => Err(CredentialError::new(
                    CredentialErrorKind::NotAllowed,
                    format!(
                        "the reference to {what} of ClusterSecretStore {:?} names no namespace; without one it is \
                         read in the namespace of the ExternalSecret using the store (referent authentication), \
                         and there is none here",
                        self.name
                    ),
                )),
            },
        }
    }
}

/// What went wrong resolving a reference, without the words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialErrorKind {
    /// The reference points where this store may not read (another namespace; no namespace at all).
    NotAllowed,
    /// The reference is incomplete or malformed (no name or key, a name that is not a Kubernetes name).
    InvalidReference,
    /// The object, or the key in it, does not exist.
    Missing,
    /// The API server did not accept the operator's credentials.
    Unauthorized,
    /// The operator may not read the object (RBAC).
    Denied,
    /// The API server throttled the operator.
    Throttled,
    /// The API server could not be reached or failed.
    Unavailable,
    /// The API server's answer could not be used.
    Malformed,
    /// Anything else.
    Internal,
}

/// A reference the resolver could not resolve. The message names the reference, the object and the cause, never
/// a value. Converts into the [`ProviderError`] of its kind; a missing credential object is an authentication
/// failure, never the store's "not found" (deletion policies act on that).
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
pub struct CredentialError {
    kind: CredentialErrorKind,
    message: String,
}

impl CredentialError {
    fn new(kind: CredentialErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }

    /// What went wrong.
    pub fn kind(&self) -> CredentialErrorKind {
        self.kind
    }

    /// The same error, its message prefixed with `context` (e.g. the field holding the reference).
    pub fn context(self, context: impl fmt::Display) -> Self {
        Self { kind: self.kind, message: format!("{context}: {}", self.message) }
    }
}

impl From<CredentialError> for ProviderError {
    fn from(err: CredentialError) -> Self {
        let message = err.message;
        match err.kind {
            CredentialErrorKind::NotAllowed | CredentialErrorKind::InvalidReference => {
                ProviderError::InvalidConfig(message)
            }
            CredentialErrorKind::Missing | CredentialErrorKind::Unauthorized => ProviderError::Auth(message),
            CredentialErrorKind::Denied => ProviderError::Denied(message),
            CredentialErrorKind::Throttled => ProviderError::Throttled(message),
            CredentialErrorKind::Unavailable => ProviderError::Unavailable(message),
            CredentialErrorKind::Malformed => ProviderError::Malformed(message),
            CredentialErrorKind::Internal => ProviderError::Internal(message),
        }
    }
}

/// A ServiceAccount a store references, as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceAccountInfo {
    /// The namespace it was read in (after the namespace rules).
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its annotations (IRSA's `eks.amazonaws.com/role-arn`, ...).
    pub annotations: BTreeMap<String, String>,
}

/// A whole Secret, as [`CredentialResolver::secret`] read it. `Debug` shows the keys, never the values.
#[derive(Clone)]
pub struct SecretObject {
    /// The namespace it was read in (after the namespace rules).
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its data.
    pub data: BTreeMap<String, SecretBytes>,
}

impl fmt::Debug for SecretObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretObject")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A token minted for a ServiceAccount. `Debug` shows only when it expires.
#[derive(Clone)]
pub struct ServiceAccountToken {
    token: String,
    expires_at: Option<SystemTime>,
}

impl ServiceAccountToken {
    /// The token, for the request that presents it.
    pub fn expose(&self) -> &str {
        &self.token
    }

    /// The token, by value.
    pub fn into_string(self) -> String {
        self.token
    }

    /// When the API server said the token expires.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }

    /// How long from now the token is still valid, if the API server said and it is in the future.
    pub fn remaining(&self) -> Option<Duration> {
        self.expires_at?.duration_since(SystemTime::now()).ok().filter(|d| !d.is_zero())
    }
}

impl fmt::Debug for ServiceAccountToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountToken").field("expires_at", &self.expires_at).finish_non_exhaustive()
    }
}

/// What a provider may read from the operator's cluster for one store, with the operator's identity, in the
/// namespaces the store's [`StoreScope`] allows. Cheap to clone; a provider may keep one to renew credentials
/// later (a ServiceAccount token before it expires).
#[derive(Clone)]
pub struct CredentialResolver {
    kube: kube::Client,
    scope: Arc<StoreScope>,
}

impl fmt::Debug for CredentialResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialResolver").field("scope", &self.scope).finish_non_exhaustive()
    }
}

impl CredentialResolver {
    /// A resolver for `scope`, reading with `kube` (the operator's client, which it never hands out).
    pub fn new(kube: kube::Client, scope: StoreScope) -> Self {
        Self { kube, scope: Arc::new(scope) }
    }

    /// The store references are resolved for.
    pub fn scope(&self) -> &StoreScope {
        &self.scope
    }

    /// The value of key `selector.key` of the Secret `selector` names.
    pub async fn secret_key(&self, selector: &SecretKeySelector) -> Result<SecretBytes, CredentialError> {
        let (namespace, name) = self.locate("Secret", &selector.name, selector.namespace.as_deref())?;
        let key = required_key(&selector.key, "Secret", name)?;
        let context = format!("reading Secret {namespace}/{name}");
        let secret = Api::<Secret>::namespaced(self.kube.clone(), &namespace)
            .get(name)
            .await
            .map_err(|e| from_kube(&context, e))?;
        secret.data.and_then(|mut data| data.remove(key)).map(|value| SecretBytes::new(value.0)).ok_or_else(|| {
            CredentialError::new(CredentialErrorKind::Missing, format!("Secret {namespace}/{name} has no key {key:?}"))
        })
    }

    /// The whole Secret `name` (in `namespace`, resolved by the rules): every key and the labels. For providers
    /// that hand a Secret's keys to templates (ESO's webhook provider passes every key and checks a label).
    pub async fn secret(&self, name: &str, namespace: Option<&str>) -> Result<SecretObject, CredentialError> {
        let (namespace, name) = self.locate("Secret", name, namespace)?;
        let context = format!("reading Secret {namespace}/{name}");
        let secret = Api::<Secret>::namespaced(self.kube.clone(), &namespace)
            .get(name)
            .await
            .map_err(|e| from_kube(&context, e))?;
        Ok(SecretObject {
            namespace,
            name: name.to_string(),
            labels: secret.metadata.labels.unwrap_or_default(),
            data: secret.data.unwrap_or_default().into_iter().map(|(k, v)| (k, SecretBytes::new(v.0))).collect(),
        })
    }

    /// The value of `key` of the ConfigMap `name` (in `namespace`, resolved by the rules). Only `data` is read,
    /// not `binaryData`, as in ESO.
    pub async fn config_map_key(
        &self,
        name: &str,
        namespace: Option<&str>,
        key: &str,
    ) -> Result<String, CredentialError> {
        let (namespace, name) = self.locate("ConfigMap", name, namespace)?;
        let key = required_key(key, "ConfigMap", name)?;
        let context = format!("reading ConfigMap {namespace}/{name}");
        let config_map = Api::<ConfigMap>::namespaced(self.kube.clone(), &namespace)
            .get(name)
            .await
            .map_err(|e| from_kube(&context, e))?;
        config_map.data.and_then(|mut data| data.remove(key)).ok_or_else(|| {
            CredentialError::new(
                CredentialErrorKind::Missing,
                format!("ConfigMap {namespace}/{name} has no key {key:?}"),
            )
        })
    }

    /// The PEM a store's `caProvider` points to (ESO's `FetchCACertFromSource`): key `ca.key` of its Secret or
    /// ConfigMap, `default_key` when the reference names no key.
    pub async fn ca_provider_pem(&self, ca: &CaProvider, default_key: &str) -> Result<Vec<u8>, CredentialError> {
        let key = ca.key.clone().unwrap_or_else(|| default_key.to_string());
        match ca.type_ {
            CaProviderType::Secret => {
                let selector = SecretKeySelector { name: ca.name.clone(), namespace: ca.namespace.clone(), key };
                self.secret_key(&selector).await.map(SecretBytes::into_inner)
            }
            CaProviderType::ConfigMap => {
                self.config_map_key(&ca.name, ca.namespace.as_deref(), &key).await.map(String::into_bytes)
            }
        }
    }

    /// The ServiceAccount `selector` names (its `audiences` are not used here).
    pub async fn service_account(
        &self,
        selector: &ServiceAccountSelector,
    ) -> Result<ServiceAccountInfo, CredentialError> {
        let (namespace, name) = self.locate("ServiceAccount", &selector.name, selector.namespace.as_deref())?;
        let context = format!("reading ServiceAccount {namespace}/{name}");
        let account = Api::<ServiceAccount>::namespaced(self.kube.clone(), &namespace)
            .get_metadata(name)
            .await
            .map_err(|e| from_kube(&context, e))?;
        Ok(ServiceAccountInfo {
            namespace,
            name: name.to_string(),
            annotations: account.metadata.annotations.unwrap_or_default(),
        })
    }

    /// A token for the ServiceAccount `selector` names, through the TokenRequest API, for `audiences` (none: the
    /// API server's default audience) and valid for `lifetime` (the API server may shorten it). The caller
    /// chooses the audiences: `selector.audiences` is not added implicitly.
    pub async fn service_account_token(
        &self,
        selector: &ServiceAccountSelector,
        audiences: &[String],
        lifetime: Duration,
    ) -> Result<ServiceAccountToken, CredentialError> {
        let (namespace, name) = self.locate("ServiceAccount", &selector.name, selector.namespace.as_deref())?;
        let context = format!("requesting a token for ServiceAccount {namespace}/{name}");
        let request = TokenRequest {
            spec: Some(TokenRequestSpec {
                audiences: (!audiences.is_empty()).then(|| audiences.to_vec()),
                expiration_seconds: Some(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX)),
                ..Default::default()
            }),
            ..Default::default()
        };
        let answer = Api::<ServiceAccount>::namespaced(self.kube.clone(), &namespace)
            .create_token_request(name, &PostParams::default(), &request)
            .await
            .map_err(|e| from_kube(&context, e))?;
        let status = answer.status.unwrap_or_default();
        let token = status.token.filter(|token| !token.is_empty()).ok_or_else(|| {
            CredentialError::new(CredentialErrorKind::Malformed, format!("{context}: the answer has no token"))
        })?;
        let expires_at = status
            .expiration_timestamp
            .and_then(|time| u64::try_from(time.0.as_second()).ok())
            .map(|seconds| SystemTime::UNIX_EPOCH + Duration::from_secs(seconds));
        Ok(ServiceAccountToken { token, expires_at })
    }

    /// The namespace and name of an object of `kind` a reference names, checked.
    fn locate<'a>(
        &self,
        kind: &str,
        name: &'a str,
        namespace: Option<&str>,
    ) -> Result<(String, &'a str), CredentialError> {
        if name.is_empty() {
            return Err(CredentialError::new(
                CredentialErrorKind::InvalidReference,
                format!("the {kind} reference has no name"),
            ));
        }
        if !is_dns_subdomain(name) {
            return Err(CredentialError::new(
                CredentialErrorKind::InvalidReference,
                format!("{kind} name {name:?} is not a valid object name"),
            ));
        }
        let namespace = self.scope.resolve_namespace(namespace, &format!("{kind} {name:?}"))?;
        Ok((namespace, name))
    }
}

fn required_key<'a>(key: &'a str, kind: &str, name: &str) -> Result<&'a str, CredentialError> {
    if key.is_empty() {
        return Err(CredentialError::new(
            CredentialErrorKind::InvalidReference,
            format!("the reference to {kind} {name:?} names no key"),
        ));
    }
    Ok(key)
}

/// The error for `err`, a failed call described by `context`. The API server's status message names objects and
/// users, never Secret values; decoding errors are reduced to a fixed text (serde may quote the document).
fn from_kube(context: &str, err: kube::Error) -> CredentialError {
    use CredentialErrorKind as Kind;
    let (kind, message) = match err {
        kube::Error::Api(status) => {
            let detail = if status.message.is_empty() {
                format!("{context}: HTTP {}", status.code)
            } else {
                format!("{context}: {} (HTTP {})", status.message, status.code)
            };
            let kind = match status.code {
                401 => Kind::Unauthorized,
                403 => Kind::Denied,
                404 => Kind::Missing,
                429 => Kind::Throttled,
                400 | 422 => Kind::InvalidReference,
                408 | 500..=599 => Kind::Unavailable,
                _ => Kind::Internal,
            };
            (kind, detail)
        }
        kube::Error::SerdeError(_) | kube::Error::FromUtf8(_) => {
            (Kind::Malformed, format!("{context}: the API server's answer could not be decoded"))
        }
        kube::Error::Auth(e) => (Kind::Unauthorized, format!("{context}: {}", crate::error::error_chain(&e))),
        e @ (kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_)) => {
            (Kind::Unavailable, format!("{context}: {}", crate::error::error_chain(&e)))
        }
        e => (Kind::Internal, format!("{context}: {}", crate::error::error_chain(&e))),
    };
    CredentialError::new(kind, message)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::ErrorCategory;

    const SECRET: &str = "Secret \"creds\"";

    fn resolve(scope: &StoreScope, explicit: Option<&str>) -> Result<String, (CredentialErrorKind, String)> {
        scope.resolve_namespace(explicit, SECRET).map_err(|e| (e.kind(), e.to_string()))
    }

    #[test]
    fn a_secret_store_reads_its_own_namespace_only() {
        let store = StoreScope::secret_store("team-a", "vault");
        assert_eq!(resolve(&store, None), Ok("team-a".to_string()));
        assert_eq!(resolve(&store, Some("team-a")), Ok("team-a".to_string()));
        assert_eq!(
            resolve(&store, Some("team-b")),
            Err((
                CredentialErrorKind::NotAllowed,
                "SecretStore \"vault\" in namespace \"team-a\" may only read references in its own namespace, but \
                 the reference to Secret \"creds\" names namespace \"team-b\""
                    .to_string()
            ))
        );
        // A referent namespace (which a SecretStore never has) changes nothing.
        let confused = StoreScope { referent_namespace: Some("team-b".into()), ..store };
        assert_eq!(resolve(&confused, None), Ok("team-a".to_string()));
        assert_eq!(confused.default_namespace(), Some("team-a"));
    }

    #[test]
    fn a_cluster_store_reads_the_named_namespace_or_the_external_secrets() {
        let serving = StoreScope::cluster_secret_store("shared", Some("team-a".into()));
        assert_eq!(resolve(&serving, Some("infra")), Ok("infra".to_string()));
        assert_eq!(resolve(&serving, None), Ok("team-a".to_string()), "referent authentication");
        assert_eq!(serving.default_namespace(), Some("team-a"));

        let validating = StoreScope::cluster_secret_store("shared", None);
        assert_eq!(resolve(&validating, Some("infra")), Ok("infra".to_string()));
        let (kind, message) = resolve(&validating, None).unwrap_err();
        assert_eq!(kind, CredentialErrorKind::NotAllowed);
        assert!(message.contains("names no namespace"), "{message}");
        assert_eq!(validating.default_namespace(), None);
    }

    #[test]
    fn namespaces_that_are_not_names_are_refused_for_every_store() {
        for scope in [StoreScope::secret_store("a", "s"), StoreScope::cluster_secret_store("c", Some("a".into()))] {
            for bad in ["", "..", "a/b", "A", "kube-system/../a"] {
                let (kind, _) = resolve(&scope, Some(bad)).unwrap_err();
                assert_eq!(kind, CredentialErrorKind::InvalidReference, "{bad:?}");
            }
        }
    }

    #[test]
    fn errors_become_provider_errors_of_their_kind_and_missing_is_never_not_found() {
        let cases = [
            (CredentialErrorKind::NotAllowed, ErrorCategory::InvalidConfig),
            (CredentialErrorKind::InvalidReference, ErrorCategory::InvalidConfig),
            (CredentialErrorKind::Missing, ErrorCategory::Auth),
            (CredentialErrorKind::Unauthorized, ErrorCategory::Auth),
            (CredentialErrorKind::Denied, ErrorCategory::Denied),
            (CredentialErrorKind::Throttled, ErrorCategory::Throttled),
            (CredentialErrorKind::Unavailable, ErrorCategory::Unavailable),
            (CredentialErrorKind::Malformed, ErrorCategory::Malformed),
            (CredentialErrorKind::Internal, ErrorCategory::Internal),
        ];
        for (kind, category) in cases {
            let err = ProviderError::from(CredentialError::new(kind, "m").context("auth.secretRef"));
            assert_eq!(err.category(), category, "{kind:?}");
            assert!(err.to_string().ends_with("auth.secretRef: m"), "{err}");
        }
    }

    #[test]
    fn api_errors_are_classified_and_decoding_errors_do_not_quote_the_answer() {
        let api = |code: u16| {
            kube::Error::Api(kube::core::Status { code, message: format!("m{code}"), ..Default::default() }.boxed())
        };
        assert_eq!(from_kube("c", api(404)).kind(), CredentialErrorKind::Missing);
        assert_eq!(from_kube("c", api(403)).kind(), CredentialErrorKind::Denied);
        assert_eq!(from_kube("c", api(401)).kind(), CredentialErrorKind::Unauthorized);
        assert_eq!(from_kube("c", api(429)).kind(), CredentialErrorKind::Throttled);
        assert_eq!(from_kube("c", api(503)).kind(), CredentialErrorKind::Unavailable);
        assert_eq!(from_kube("reading Secret a/b", api(404)).to_string(), "reading Secret a/b: m404 (HTTP 404)");
        let serde_err = serde_json::from_str::<u32>("\"hunter2\"").unwrap_err();
        let err = from_kube("reading Secret a/b", kube::Error::SerdeError(serde_err));
        assert_eq!(err.kind(), CredentialErrorKind::Malformed);
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn tokens_do_not_print_themselves() {
        let token = ServiceAccountToken { token: "eyJhbGciOi-secret".into(), expires_at: None };
        assert!(!format!("{token:?}").contains("secret"));
        assert_eq!(token.remaining(), None);
        assert_eq!(token.expose(), "eyJhbGciOi-secret");
    }

    #[test]
    fn whole_secrets_print_their_keys_not_their_values() {
        let secret = SecretObject {
            namespace: "apps".into(),
            name: "api".into(),
            labels: BTreeMap::new(),
            data: BTreeMap::from([("token".to_string(), SecretBytes::from("hunter2-value"))]),
        };
        let shown = format!("{secret:?}");
        assert!(shown.contains("token") && !shown.contains("hunter2"), "{shown}");
    }
}
