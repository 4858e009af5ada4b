//! The `kubernetes` provider (`spec.provider.kubernetes`): Secrets of a namespace (`remoteNamespace`, default
//! `default`) of this cluster or another one, read with the identity the store configures.
//!
//! What a store client answers, as ESO does:
//!
//! - `get`: `key` is a Secret name. The value is the JSON object of all its data with string values (ESO's bytes
//!   exactly, invalid UTF-8 as `\ufffd`), and [`RemoteValue::fields`](external_secrets_provider::RemoteValue::fields) holds the raw data, so `property` (a data
//!   key, or `<key>.<gjson path>`) and `extract` are byte-exact in `external-secrets-core`. `version` is ignored.
//! - `metadataPolicy: Fetch`: the document `{"annotations":{...},"labels":{...}}` (absent maps are `null`).
//! - `find`: `tags` are a label selector and `name.regexp` an unanchored regexp over Secret names (both apply when
//!   both are given; neither lists every Secret); each match's value as for `get`, keyed by Secret name.
//! - `validate`: a SelfSubjectRulesReview, then a SelfSubjectAccessReview, for `get` on Secrets in the remote
//!   namespace: Ready, or a [`ProviderError::Denied`] / [`ProviderError::Auth`] error.
//! - PushSecret (`push_secret`, `delete_secret`, `secret_exists`): the Secret `remoteKey` in `remoteNamespace`
//!   (or, for a ClusterSecretStore, the metadata's `remoteNamespace`) written with the store's identity, as ESO's
//!   `PushSecret` does; the decisions are in the `push` module.
//! - Errors: HTTP 404 of the Secret read is [`ProviderError::NotFound`], 403 `Denied`, 401 `Auth`, connection
//!   failures and 5xx `Unavailable`. A missing *credential* Secret or ServiceAccount is `Auth`, never `NotFound`.
//!
//! How a client connects (see the `connect` module): `authRef` (a kubeconfig in a Secret), or `server` +
//! `auth` (`token.bearerToken`, `serviceAccount` through TokenRequest, `cert`). Without `server.url` (or with the
//! API default `kubernetes.default`) the operator's own API server and CA are used; its credentials never are.

mod connect;
mod error;
mod json;
mod push;
mod store_client;

use std::sync::Arc;

use async_trait::async_trait;
use external_secrets_api::KubernetesProvider as KubernetesSpec;
use external_secrets_api::meta::SecretKeySelector;
use external_secrets_provider::{Capabilities, Provider, ProviderError, StoreClient, StoreContext, StoreKind, names};

use crate::connect::{Identity, OwnCluster, OwnClusterSource};
use crate::store_client::KubernetesStoreClient;

/// The `remoteNamespace` used when a store leaves it empty.
const DEFAULT_REMOTE_NAMESPACE: &str = "default";

/// The `kubernetes` provider.
#[derive(Debug, Default)]
pub struct KubernetesProvider {
    own_cluster: OwnClusterSource,
}

impl KubernetesProvider {
    /// The provider; the operator's own API server (the default `server`) is inferred from the environment
    /// (kubeconfig, then in-cluster) the first time a store needs it.
    pub fn new() -> Self {
        Self::default()
    }

    /// The provider, with the operator's own API server taken from `config`: its URL, CA and TLS settings only,
    /// never its credentials.
    pub fn with_own_cluster(config: &kube::Config) -> Self {
        Self { own_cluster: OwnClusterSource::fixed(OwnCluster::from_config(config)) }
    }
}

#[async_trait]
impl Provider for KubernetesProvider {
    type Spec = KubernetesSpec;

    /// `ReadWrite`, as ESO reports it (this operator implements the reads only so far).
    fn capabilities(&self) -> Capabilities {
        Capabilities::ReadWrite
    }

    /// ESO's admission checks of `spec.provider.kubernetes`: `caProvider.namespace` required for a
    /// ClusterSecretStore and refused for a SecretStore; `auth` names exactly one method; token and client
    /// certificate references have a name and key (and a namespace in a ClusterSecretStore).
    fn validate_spec(&self, k8s: &KubernetesSpec, kind: StoreKind) -> Result<(), ProviderError> {
        let invalid = |why: &str| Err(ProviderError::InvalidConfig(why.to_string()));
        if let Some(ca) = k8s.server.as_ref().and_then(|s| s.ca_provider.as_ref()) {
            match (kind, &ca.namespace) {
                (StoreKind::ClusterSecretStore, None) => {
                    return invalid("CAProvider.namespace must not be empty with ClusterSecretStore");
                }
                (StoreKind::SecretStore, Some(_)) => {
                    return invalid("CAProvider.namespace must be empty with SecretStore");
                }
                _ => {}
            }
        }
        let Some(auth) = &k8s.auth else { return Ok(()) };
        let methods = [auth.cert.is_some(), auth.token.is_some(), auth.service_account.is_some()];
        if methods.iter().filter(|set| **set).count() != 1 {
            return invalid("auth must set exactly one of cert, token, serviceAccount");
        }
        if let Some(cert) = &auth.cert {
            check_selector(cert.client_cert.as_ref(), "ClientCert", kind)?;
        }
        if let Some(token) = &auth.token {
            check_selector(token.bearer_token.as_ref(), "BearerToken", kind)?;
        }
        if let Some(service_account) = &auth.service_account
            && service_account.name.is_empty()
        {
            return invalid("ServiceAccount.Name cannot be empty");
        }
        Ok(())
    }

    /// A client for the store: resolves the referenced Secrets (and mints a ServiceAccount token) through the
    /// store's credential resolver now, so that configuration errors surface when the store is validated. A ClusterSecretStore with
    /// referent authentication built without an ExternalSecret namespace gives a client that validates as
    /// Unknown and reads nothing.
    async fn client(&self, k8s: &KubernetesSpec, ctx: &StoreContext) -> Result<Arc<dyn StoreClient>, ProviderError> {
        let remote_namespace = match k8s.remote_namespace.as_str() {
            "" => DEFAULT_REMOTE_NAMESPACE.to_string(),
            ns if names::is_dns_label(ns) => ns.to_string(),
            ns => return Err(ProviderError::InvalidConfig(format!("remoteNamespace {ns:?} is not a namespace name"))),
        };
        let identity =
            if ctx.kind() == StoreKind::ClusterSecretStore && ctx.referent_namespace().is_none() && is_referent(k8s) {
                Identity::Deferred
            } else {
                connect::identity(ctx.credentials(), k8s, &self.own_cluster).await?
            };
        tracing::debug!(
            kind = %ctx.kind(),
            store = ctx.name(),
            namespace = ctx.namespace().unwrap_or_default(),
            remote_namespace,
            auth = auth_method(k8s),
            "built a kubernetes store client"
        );
        Ok(Arc::new(KubernetesStoreClient::new(identity, remote_namespace, ctx.kind())))
    }
}

/// ESO's `ValidateSecretSelector` plus its name/key checks for one credential reference.
fn check_selector(selector: Option<&SecretKeySelector>, what: &str, kind: StoreKind) -> Result<(), ProviderError> {
    let selector = selector.cloned().unwrap_or_default();
    if selector.name.is_empty() {
        return Err(ProviderError::InvalidConfig(format!("{what}.Name cannot be empty")));
    }
    if selector.key.is_empty() {
        return Err(ProviderError::InvalidConfig(format!("{what}.Key cannot be empty")));
    }
    if kind == StoreKind::ClusterSecretStore && selector.namespace.is_none() {
        return Err(ProviderError::InvalidConfig("cluster scope requires namespace".to_string()));
    }
    Ok(())
}

/// ESO's `isReferentSpec`: an `auth` reference without a namespace, resolved in each ExternalSecret's namespace.
fn is_referent(spec: &KubernetesSpec) -> bool {
    let Some(auth) = &spec.auth else { return false };
    let unset = |selector: &Option<SecretKeySelector>| selector.as_ref().is_none_or(|s| s.namespace.is_none());
    if let Some(cert) = &auth.cert
        && (unset(&cert.client_cert) || unset(&cert.client_key))
    {
        return true;
    }
    if let Some(service_account) = &auth.service_account
        && service_account.namespace.is_none()
    {
        return true;
    }
    if let Some(token) = &auth.token
        && unset(&token.bearer_token)
    {
        return true;
    }
    false
}

/// The configured authentication method, for logs.
fn auth_method(spec: &KubernetesSpec) -> &'static str {
    match (&spec.auth_ref, &spec.auth) {
        (Some(_), _) => "authRef",
        (None, None) => "none",
        (None, Some(auth)) if auth.token.is_some() => "token",
        (None, Some(auth)) if auth.service_account.is_some() => "serviceAccount",
        (None, Some(auth)) if auth.cert.is_some() => "cert",
        (None, Some(_)) => "empty",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use external_secrets_api::SecretStoreSpec;
    use external_secrets_api::{
        CaProvider, CaProviderType, CertAuth, KubernetesAuth, KubernetesServer, SecretStoreProvider,
        ServiceAccountSelector, TokenAuth,
    };
    use external_secrets_provider::{DynProvider, ErrorCategory, ProviderKind};

    fn store(k8s: Option<KubernetesSpec>) -> SecretStoreSpec {
        SecretStoreSpec {
            controller: None,
            provider: SecretStoreProvider { kubernetes: k8s, ..Default::default() },
            retry_settings: None,
            refresh_interval: None,
            conditions: Vec::new(),
        }
    }

    fn selector(name: &str, key: &str, namespace: Option<&str>) -> Option<SecretKeySelector> {
        Some(SecretKeySelector {
            name: name.to_string(),
            key: key.to_string(),
            namespace: namespace.map(str::to_string),
        })
    }

    fn with_auth(auth: KubernetesAuth) -> KubernetesSpec {
        KubernetesSpec { auth: Some(auth), ..Default::default() }
    }

    fn token(name: &str, key: &str, namespace: Option<&str>) -> KubernetesSpec {
        with_auth(KubernetesAuth {
            token: Some(TokenAuth { bearer_token: selector(name, key, namespace) }),
            ..Default::default()
        })
    }

    fn check(spec: KubernetesSpec, kind: StoreKind) -> Result<(), String> {
        DynProvider::validate_spec(&KubernetesProvider::new(), &store(Some(spec)), kind).map_err(|e| e.to_string())
    }

    fn message(why: &str) -> Result<(), String> {
        Err(format!("invalid store configuration: {why}"))
    }

    #[test]
    fn validate_spec_requires_the_kubernetes_provider() {
        let err = DynProvider::validate_spec(&KubernetesProvider::new(), &store(None), StoreKind::SecretStore).err();
        assert_eq!(err.map(|e| e.category()), Some(ErrorCategory::InvalidConfig));
        assert_eq!(check(KubernetesSpec::default(), StoreKind::SecretStore), Ok(()));
    }

    #[test]
    fn validate_spec_checks_token_references() {
        assert_eq!(check(token("t", "token", None), StoreKind::SecretStore), Ok(()));
        assert_eq!(
            check(token("", "token", None), StoreKind::SecretStore),
            message("BearerToken.Name cannot be empty")
        );
        assert_eq!(check(token("t", "", None), StoreKind::SecretStore), message("BearerToken.Key cannot be empty"));
        assert_eq!(
            check(token("t", "token", None), StoreKind::ClusterSecretStore),
            message("cluster scope requires namespace")
        );
        assert_eq!(check(token("t", "token", Some("ns")), StoreKind::ClusterSecretStore), Ok(()));
    }

    #[test]
    fn validate_spec_checks_client_certificates() {
        let cert = |name: &str| {
            with_auth(KubernetesAuth {
                cert: Some(CertAuth {
                    client_cert: selector(name, "tls.crt", None),
                    client_key: selector("k", "tls.key", None),
                }),
                ..Default::default()
            })
        };
        assert_eq!(check(cert("c"), StoreKind::SecretStore), Ok(()));
        assert_eq!(check(cert(""), StoreKind::SecretStore), message("ClientCert.Name cannot be empty"));
    }

    #[test]
    fn validate_spec_wants_exactly_one_auth_method() {
        let none = with_auth(KubernetesAuth::default());
        assert!(check(none, StoreKind::SecretStore).is_err());
        let mut two = token("t", "token", None);
        if let Some(auth) = two.auth.as_mut() {
            auth.service_account = Some(ServiceAccountSelector { name: "sa".to_string(), ..Default::default() });
        }
        assert!(check(two, StoreKind::SecretStore).is_err());
    }

    #[test]
    fn validate_spec_checks_the_ca_provider_namespace() {
        let with_ca = |namespace: Option<&str>| KubernetesSpec {
            server: Some(KubernetesServer {
                ca_provider: Some(CaProvider {
                    type_: CaProviderType::ConfigMap,
                    name: "ca".to_string(),
                    key: Some("ca.crt".to_string()),
                    namespace: namespace.map(str::to_string),
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(check(with_ca(None), StoreKind::SecretStore), Ok(()));
        assert_eq!(
            check(with_ca(Some("ns")), StoreKind::SecretStore),
            message("CAProvider.namespace must be empty with SecretStore")
        );
        assert_eq!(
            check(with_ca(None), StoreKind::ClusterSecretStore),
            message("CAProvider.namespace must not be empty with ClusterSecretStore")
        );
        assert_eq!(check(with_ca(Some("ns")), StoreKind::ClusterSecretStore), Ok(()));
    }

    #[test]
    fn referent_specs_are_recognised_like_eso() {
        assert!(!is_referent(&KubernetesSpec::default()));
        assert!(is_referent(&token("t", "token", None)));
        assert!(!is_referent(&token("t", "token", Some("ns"))));
        let sa = |namespace: Option<&str>| {
            with_auth(KubernetesAuth {
                service_account: Some(ServiceAccountSelector {
                    name: "sa".to_string(),
                    namespace: namespace.map(str::to_string),
                    audiences: Vec::new(),
                }),
                ..Default::default()
            })
        };
        assert!(is_referent(&sa(None)));
        assert!(!is_referent(&sa(Some("ns"))));
    }

    #[test]
    fn names_itself_kubernetes_with_read_write_capabilities() {
        let p = KubernetesProvider::new();
        assert_eq!(p.kind(), ProviderKind::Kubernetes);
        assert_eq!(DynProvider::capabilities(&p), Capabilities::ReadWrite);
    }
}
