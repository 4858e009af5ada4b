//! The credential resolver against the real local control plane: what a provider can read of the operator's
//! cluster, and where. Two namespaces hold the same objects with different values; a store of one may never get
//! the other's, whatever its references say, and a ClusterSecretStore reads only where ESO lets it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;

use external_secrets_api::{SecretKeySelector, ServiceAccountSelector};
use external_secrets_provider::{
    CredentialError, CredentialErrorKind, CredentialResolver, ErrorCategory, ProviderError, StoreScope,
};
use external_secrets_testsupport::cluster;
use k8s_openapi::ByteString;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use kube::Api;
use kube::api::{ObjectMeta, PostParams};

/// Two namespaces, each with Secret `creds` (key `token`), ConfigMap `ca` (key `ca.crt`) and ServiceAccount
/// `reader` (annotated with its namespace), whose values name the namespace they are in.
struct Fixture {
    admin: kube::Client,
    home: String,
    other: String,
}

impl Fixture {
    async fn new(prefix: &str) -> Self {
        let cluster = cluster().await;
        let admin = cluster.admin_client().await.unwrap();
        let home = cluster.namespace(&format!("{prefix}-home")).await.unwrap();
        let other = cluster.namespace(&format!("{prefix}-other")).await.unwrap();
        for namespace in [&home, &other] {
            let secret = Secret {
                metadata: ObjectMeta { name: Some("creds".into()), ..Default::default() },
                data: Some(BTreeMap::from([("token".to_string(), ByteString(value_in(namespace).into_bytes()))])),
                ..Default::default()
            };
            Api::<Secret>::namespaced(admin.clone(), namespace).create(&PostParams::default(), &secret).await.unwrap();
            let config_map = ConfigMap {
                metadata: ObjectMeta { name: Some("ca".into()), ..Default::default() },
                data: Some(BTreeMap::from([("ca.crt".to_string(), value_in(namespace))])),
                ..Default::default()
            };
            Api::<ConfigMap>::namespaced(admin.clone(), namespace)
                .create(&PostParams::default(), &config_map)
                .await
                .unwrap();
            let account = ServiceAccount {
                metadata: ObjectMeta {
                    name: Some("reader".into()),
                    annotations: Some(BTreeMap::from([("example.com/home".to_string(), namespace.clone())])),
                    ..Default::default()
                },
                ..Default::default()
            };
            Api::<ServiceAccount>::namespaced(admin.clone(), namespace)
                .create(&PostParams::default(), &account)
                .await
                .unwrap();
        }
        Self { admin, home, other }
    }

    fn resolver(&self, scope: StoreScope) -> CredentialResolver {
        CredentialResolver::new(self.admin.clone(), scope)
    }

    /// The user a token authenticates as, for `audience` (`None`: the API server's own), by a TokenReview.
    async fn token_user(&self, token: &str, audience: Option<&str>) -> String {
        let review = TokenReview {
            spec: TokenReviewSpec { token: token.to_string(), audiences: audience.map(|a| vec![a.to_string()]) },
            ..Default::default()
        };
        let reviewed =
            Api::<TokenReview>::all(self.admin.clone()).create(&PostParams::default(), &review).await.unwrap();
        let status = reviewed.status.unwrap();
        assert_eq!(status.authenticated, Some(true), "{:?}", status.error);
        status.user.and_then(|u| u.username).unwrap()
    }
}

/// What the objects in `namespace` hold.
fn value_in(namespace: &str) -> String {
    format!("value-of-{namespace}")
}

fn secret(namespace: Option<&str>) -> SecretKeySelector {
    SecretKeySelector { name: "creds".into(), key: "token".into(), namespace: namespace.map(str::to_string) }
}

fn account(namespace: Option<&str>) -> ServiceAccountSelector {
    ServiceAccountSelector { name: "reader".into(), namespace: namespace.map(str::to_string), audiences: Vec::new() }
}

async fn read(resolver: &CredentialResolver, namespace: Option<&str>) -> Result<String, CredentialError> {
    resolver.secret_key(&secret(namespace)).await.map(|bytes| String::from_utf8(bytes.into_inner()).unwrap())
}

/// Asserts that `result` is a refusal by the namespace rules, with a message naming both namespaces and no value,
/// and that it reaches the controller as a configuration error.
fn assert_refused<T: std::fmt::Debug>(result: Result<T, CredentialError>, home: &str, other: &str) {
    let err = result.expect_err("refused");
    assert_eq!(err.kind(), CredentialErrorKind::NotAllowed, "{err}");
    let message = err.to_string();
    assert!(message.contains(&format!("namespace {home:?}")) && message.contains(&format!("namespace {other:?}")));
    assert!(message.contains("may only read references in its own namespace"), "{message}");
    assert!(!message.contains("value-of-"), "no value in an error: {message}");
    let provider_error = ProviderError::from(err);
    assert_eq!(provider_error.category(), ErrorCategory::InvalidConfig);
}

#[tokio::test]
async fn a_secret_store_reads_its_own_namespace_and_nothing_of_another() {
    let f = Fixture::new("ss").await;
    let resolver = f.resolver(StoreScope::secret_store(&f.home, "store"));

    assert_eq!(read(&resolver, None).await.unwrap(), value_in(&f.home));
    assert_eq!(read(&resolver, Some(&f.home)).await.unwrap(), value_in(&f.home));
    assert_refused(read(&resolver, Some(&f.other)).await, &f.home, &f.other);

    assert_eq!(resolver.config_map_key("ca", None, "ca.crt").await.unwrap(), value_in(&f.home));
    assert_refused(resolver.config_map_key("ca", Some(&f.other), "ca.crt").await, &f.home, &f.other);

    let own = resolver.service_account(&account(None)).await.unwrap();
    assert_eq!(
        (own.namespace.as_str(), own.annotations["example.com/home"].as_str()),
        (f.home.as_str(), f.home.as_str())
    );
    assert_refused(resolver.service_account(&account(Some(&f.other))).await, &f.home, &f.other);

    let token =
        resolver.service_account_token(&account(None), &["vault".into()], Duration::from_secs(600)).await.unwrap();
    assert_eq!(f.token_user(token.expose(), Some("vault")).await, format!("system:serviceaccount:{}:reader", f.home));
    assert!(token.remaining().is_some_and(|left| left <= Duration::from_secs(600)), "{token:?}");
    let refused = resolver.service_account_token(&account(Some(&f.other)), &[], Duration::from_secs(600)).await;
    assert_refused(refused, &f.home, &f.other);
}

#[tokio::test]
async fn a_cluster_store_reads_the_named_namespace_or_else_the_external_secrets_only() {
    let f = Fixture::new("css").await;

    // Serving an ExternalSecret in `home`: a reference without a namespace is read there (referent
    // authentication); one with a namespace is read where it says, as ESO does.
    let serving = f.resolver(StoreScope::cluster_secret_store("shared", Some(f.home.clone())));
    assert_eq!(read(&serving, None).await.unwrap(), value_in(&f.home));
    assert_eq!(read(&serving, Some(&f.other)).await.unwrap(), value_in(&f.other));
    assert_eq!(serving.config_map_key("ca", None, "ca.crt").await.unwrap(), value_in(&f.home));
    let token = serving.service_account_token(&account(None), &[], Duration::from_secs(600)).await.unwrap();
    let user = f.token_user(token.expose(), None).await;
    assert_eq!(user, format!("system:serviceaccount:{}:reader", f.home));

    // Validated on its own, the store has no ExternalSecret namespace: only explicit references are read.
    let validating = f.resolver(StoreScope::cluster_secret_store("shared", None));
    assert_eq!(read(&validating, Some(&f.other)).await.unwrap(), value_in(&f.other));
    let err = read(&validating, None).await.expect_err("no namespace to read in");
    assert_eq!(err.kind(), CredentialErrorKind::NotAllowed);
    assert!(err.to_string().contains("names no namespace"), "{err}");
    let err = validating.service_account_token(&account(None), &[], Duration::from_secs(600)).await.unwrap_err();
    assert_eq!(err.kind(), CredentialErrorKind::NotAllowed, "{err}");
}

#[tokio::test]
async fn missing_objects_and_keys_are_authentication_failures_that_name_what_is_missing() {
    let f = Fixture::new("missing").await;
    let resolver = f.resolver(StoreScope::secret_store(&f.home, "store"));

    let no_secret = SecretKeySelector { name: "nope".into(), ..secret(None) };
    let err = resolver.secret_key(&no_secret).await.unwrap_err();
    assert_eq!(err.kind(), CredentialErrorKind::Missing, "{err}");
    assert!(err.to_string().contains(&format!("reading Secret {}/nope", f.home)), "{err}");
    assert_eq!(ProviderError::from(err).category(), ErrorCategory::Auth, "never the store's NotFound");

    let no_key = SecretKeySelector { key: "password".into(), ..secret(None) };
    let err = resolver.secret_key(&no_key).await.unwrap_err();
    assert_eq!(err.kind(), CredentialErrorKind::Missing);
    assert_eq!(err.to_string(), format!("Secret {}/creds has no key \"password\"", f.home));

    let err = resolver.config_map_key("ca", None, "tls.crt").await.unwrap_err();
    assert_eq!(err.kind(), CredentialErrorKind::Missing, "{err}");

    let ghost = ServiceAccountSelector { name: "ghost".into(), ..account(None) };
    let err = resolver.service_account_token(&ghost, &[], Duration::from_secs(600)).await.unwrap_err();
    assert_eq!(err.kind(), CredentialErrorKind::Missing, "{err}");

    // Names that are not object names never reach the API server.
    let traversal = SecretKeySelector { name: "../configmaps/ca".into(), ..secret(None) };
    let err = resolver.secret_key(&traversal).await.unwrap_err();
    assert_eq!(err.kind(), CredentialErrorKind::InvalidReference, "{err}");
}
