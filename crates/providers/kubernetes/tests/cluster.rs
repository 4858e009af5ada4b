//! The kubernetes provider against a real local control plane (etcd + kube-apiserver + controller-manager).
//!
//! Each test makes its own namespaces: a "store" namespace (the SecretStore's, holding credentials) and a
//! "remote" namespace (the store's `remoteNamespace`, holding the secrets read).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use external_secrets_api::meta::SecretKeySelector;
use external_secrets_api::{
    CaProvider, CaProviderType, CertAuth, KubernetesAuth, KubernetesProvider as KubernetesSpec, KubernetesServer,
    SecretStoreProvider, SecretStoreSpec, ServiceAccountSelector, TokenAuth,
};
use external_secrets_core::property::{extract_map, select_property};
use external_secrets_provider::{
    DynProvider, ErrorCategory, FindQuery, MetadataPolicy, ProviderError, RemoteKey, RemoteValue, StoreClient,
    StoreContext, StoreKind, StoreScope, Validation,
};
use external_secrets_provider_kubernetes::KubernetesProvider;
use external_secrets_testsupport::Cluster;
use k8s_openapi::ByteString;
use k8s_openapi::api::authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::Api;
use kube::api::{ObjectMeta, PostParams};

/// How long a test waits for the API server to see a new ServiceAccount or RoleBinding.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Polls `check` until it gives a value, for at most [`SETTLE_TIMEOUT`].
async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {SETTLE_TIMEOUT:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Two fresh namespaces and an admin client.
struct Fixture {
    cluster: &'static Cluster,
    admin: kube::Client,
    store_ns: String,
    remote_ns: String,
}

impl Fixture {
    async fn new(prefix: &str) -> Self {
        let cluster = external_secrets_testsupport::cluster().await;
        let admin = cluster.admin_client().await.unwrap();
        let store_ns = cluster.namespace(&format!("{prefix}-store")).await.unwrap();
        let remote_ns = cluster.namespace(&format!("{prefix}-remote")).await.unwrap();
        Self { cluster, admin, store_ns, remote_ns }
    }

    fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(&self.cluster.pki.ca_cert).unwrap()
    }

    /// `server` pointing at the local API server, trusting its CA through `caBundle`.
    fn server(&self) -> Option<KubernetesServer> {
        Some(KubernetesServer {
            url: self.cluster.server.clone(),
            ca_bundle: Some(ByteString(self.ca_pem())),
            ca_provider: None,
        })
    }

    async fn create_secret(
        &self,
        namespace: &str,
        name: &str,
        data: &[(&str, &[u8])],
        labels: &[(&str, &str)],
        annotations: &[(&str, &str)],
    ) {
        let strings = |pairs: &[(&str, &str)]| -> Option<BTreeMap<String, String>> {
            (!pairs.is_empty()).then(|| pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect())
        };
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                labels: strings(labels),
                annotations: strings(annotations),
                ..Default::default()
            },
            data: Some(data.iter().map(|(k, v)| ((*k).to_string(), ByteString(v.to_vec()))).collect()),
            ..Default::default()
        };
        let secrets: Api<Secret> = Api::namespaced(self.admin.clone(), namespace);
        secrets.create(&PostParams::default(), &secret).await.unwrap();
    }

    async fn create_service_account(&self, namespace: &str, name: &str) {
        let sa = ServiceAccount {
            metadata: ObjectMeta { name: Some(name.to_string()), ..Default::default() },
            ..Default::default()
        };
        let sas: Api<ServiceAccount> = Api::namespaced(self.admin.clone(), namespace);
        sas.create(&PostParams::default(), &sa).await.unwrap();
    }

    /// A Role in the remote namespace to get and list Secrets, bound to `subject`.
    async fn grant_secret_reads(&self, subject: Subject) {
        let role = Role {
            metadata: ObjectMeta { name: Some("secret-reader".to_string()), ..Default::default() },
            rules: Some(vec![PolicyRule {
                api_groups: Some(vec![String::new()]),
                resources: Some(vec!["secrets".to_string()]),
                verbs: vec!["get".to_string(), "list".to_string()],
                ..Default::default()
            }]),
        };
        let roles: Api<Role> = Api::namespaced(self.admin.clone(), &self.remote_ns);
        if roles.get_opt("secret-reader").await.unwrap().is_none() {
            roles.create(&PostParams::default(), &role).await.unwrap();
        }
        let binding = RoleBinding {
            metadata: ObjectMeta { generate_name: Some("secret-reader-".to_string()), ..Default::default() },
            role_ref: RoleRef {
                api_group: Some("rbac.authorization.k8s.io".to_string()),
                kind: "Role".to_string(),
                name: "secret-reader".to_string(),
            },
            subjects: Some(vec![subject]),
        };
        let bindings: Api<RoleBinding> = Api::namespaced(self.admin.clone(), &self.remote_ns);
        bindings.create(&PostParams::default(), &binding).await.unwrap();
    }

    fn service_account_subject(&self, namespace: &str, name: &str) -> Subject {
        Subject {
            kind: "ServiceAccount".to_string(),
            name: name.to_string(),
            namespace: Some(namespace.to_string()),
            api_group: None,
        }
    }

    /// Waits until `token` authenticates and may (or may not) get Secrets in the remote namespace.
    async fn wait_for_access(&self, token: &str, allowed: bool) {
        let client = self.cluster.token_client(token).await.unwrap();
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some(self.remote_ns.clone()),
                    resource: Some("secrets".to_string()),
                    verb: Some("get".to_string()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let reviews: Api<SelfSubjectAccessReview> = Api::all(client);
        wait_for("the token to authenticate with the expected access", || {
            let reviews = reviews.clone();
            let review = review.clone();
            async move {
                let answer = reviews.create(&PostParams::default(), &review).await.ok()?;
                (answer.status.is_some_and(|s| s.allowed) == allowed).then_some(())
            }
        })
        .await;
    }

    /// A ServiceAccount `name` in the store namespace, optionally allowed to read the remote namespace, once the
    /// API server accepts its tokens; returns a token for it.
    async fn service_account(&self, name: &str, can_read: bool) -> String {
        self.create_service_account(&self.store_ns, name).await;
        if can_read {
            self.grant_secret_reads(self.service_account_subject(&self.store_ns, name)).await;
        }
        let token = self.cluster.service_account_token(&self.store_ns, name, &[], 3600).await.unwrap();
        self.wait_for_access(&token, can_read).await;
        token
    }

    /// A bearer token of a ServiceAccount that may read the remote namespace, stored in the store namespace as
    /// Secret `reader-token`, key `token`.
    async fn token_secret(&self) -> String {
        let token = self.service_account("reader", true).await;
        self.create_secret(&self.store_ns, "reader-token", &[("token", token.as_bytes())], &[], &[]).await;
        token
    }

    fn token_spec(&self) -> KubernetesSpec {
        KubernetesSpec {
            server: self.server(),
            auth: Some(KubernetesAuth {
                token: Some(TokenAuth { bearer_token: Some(selector("reader-token", "token", None)) }),
                ..Default::default()
            }),
            auth_ref: None,
            remote_namespace: self.remote_ns.clone(),
        }
    }

    fn context(&self, kind: StoreKind, spec: KubernetesSpec) -> StoreContext {
        let scope = match kind {
            StoreKind::SecretStore => StoreScope::secret_store(&self.store_ns, "test-store"),
            StoreKind::ClusterSecretStore => {
                StoreScope::cluster_secret_store("test-store", Some(self.store_ns.clone()))
            }
        };
        StoreContext::new(self.admin.clone(), scope, store_spec(spec))
    }

    async fn client(&self, spec: KubernetesSpec) -> Result<Arc<dyn StoreClient>, ProviderError> {
        KubernetesProvider::new().client(&self.context(StoreKind::SecretStore, spec)).await
    }

    /// A client with bearer-token auth that may read the remote namespace.
    async fn reader(&self) -> Arc<dyn StoreClient> {
        self.token_secret().await;
        self.client(self.token_spec()).await.unwrap()
    }
}

fn selector(name: &str, key: &str, namespace: Option<&str>) -> SecretKeySelector {
    SecretKeySelector { name: name.to_string(), key: key.to_string(), namespace: namespace.map(str::to_string) }
}

fn store_spec(k8s: KubernetesSpec) -> SecretStoreSpec {
    SecretStoreSpec {
        controller: None,
        provider: SecretStoreProvider { kubernetes: Some(k8s), ..Default::default() },
        retry_settings: None,
        refresh_interval: None,
        conditions: Vec::new(),
    }
}

fn key(name: &str) -> RemoteKey {
    RemoteKey::value(name)
}

fn fields(value: &RemoteValue) -> BTreeMap<String, Vec<u8>> {
    value
        .fields
        .as_ref()
        .expect("a Secret value has fields")
        .iter()
        .map(|(k, v)| (k.clone(), v.expose().to_vec()))
        .collect()
}

fn text(value: &RemoteValue) -> String {
    String::from_utf8(value.bytes.expose().to_vec()).unwrap()
}

fn category<T>(result: Result<T, ProviderError>) -> Option<ErrorCategory> {
    result.err().map(|e| e.category())
}

#[tokio::test]
async fn token_auth_reads_a_secret_of_another_namespace() {
    let f = Fixture::new("token").await;
    f.create_secret(&f.remote_ns, "db", &[("username", b"admin"), ("password", b"s3cr\"t")], &[], &[]).await;
    let client = f.reader().await;

    let value = client.get(&key("db")).await.unwrap();
    assert_eq!(text(&value), r#"{"password":"s3cr\"t","username":"admin"}"#);
    let expected: BTreeMap<String, Vec<u8>> =
        [("password".to_string(), b"s3cr\"t".to_vec()), ("username".to_string(), b"admin".to_vec())].into();
    assert_eq!(fields(&value), expected);
    assert_eq!(client.validate().await.unwrap(), Validation::Ready);
}

#[tokio::test]
async fn service_account_auth_reads_with_a_role_in_the_remote_namespace() {
    let f = Fixture::new("sa").await;
    f.create_secret(&f.remote_ns, "api-key", &[("key", b"k-123")], &[], &[]).await;
    f.service_account("esr-reader", true).await;
    let spec = KubernetesSpec {
        server: f.server(),
        auth: Some(KubernetesAuth {
            service_account: Some(ServiceAccountSelector {
                name: "esr-reader".to_string(),
                namespace: None,
                audiences: Vec::new(),
            }),
            ..Default::default()
        }),
        auth_ref: None,
        remote_namespace: f.remote_ns.clone(),
    };
    let client = f.client(spec).await.unwrap();

    let value = client.get(&key("api-key")).await.unwrap();
    assert_eq!(text(&value), r#"{"key":"k-123"}"#);
    assert_eq!(client.validate().await.unwrap(), Validation::Ready);
}

#[tokio::test]
async fn service_account_without_a_role_is_denied_not_not_found() {
    let f = Fixture::new("denied").await;
    f.create_secret(&f.remote_ns, "db", &[("password", b"hunter2")], &[], &[]).await;
    f.service_account("nobody", false).await;
    let spec = KubernetesSpec {
        server: f.server(),
        auth: Some(KubernetesAuth {
            service_account: Some(ServiceAccountSelector {
                name: "nobody".to_string(),
                namespace: None,
                audiences: Vec::new(),
            }),
            ..Default::default()
        }),
        auth_ref: None,
        remote_namespace: f.remote_ns.clone(),
    };
    let client = f.client(spec).await.unwrap();

    let existing = client.get(&key("db")).await;
    let missing = client.get(&key("does-not-exist")).await;
    assert_eq!(category(existing), Some(ErrorCategory::Denied));
    assert_eq!(category(missing), Some(ErrorCategory::Denied));
    assert_eq!(category(client.find(&FindQuery::default()).await), Some(ErrorCategory::Denied));
    let validation = client.validate().await;
    let message = validation.as_ref().err().map(ToString::to_string).unwrap_or_default();
    assert_eq!(category(validation), Some(ErrorCategory::Denied));
    assert!(message.contains(&f.remote_ns), "{message}");
}

#[tokio::test]
async fn missing_secret_is_not_found() {
    let f = Fixture::new("missing").await;
    let client = f.reader().await;
    let err = client.get(&key("no-such-secret")).await.err().unwrap();
    assert!(err.is_not_found(), "{err}");
    assert!(matches!(&err, ProviderError::NotFound { key } if key == "no-such-secret"), "{err}");
    // A name that cannot be a Secret is refused before any request, not reported as missing.
    let invalid = client.get(&key("../configmaps/x")).await;
    assert_eq!(category(invalid), Some(ErrorCategory::InvalidConfig));
}

#[tokio::test]
async fn property_and_extract_are_byte_exact_on_binary_values() {
    let f = Fixture::new("binary").await;
    let binary: &[u8] = &[0x00, 0xff, 0xfe, 0x80, b'a', 0xc3, 0x28];
    let config = br#"{"db":{"user":"admin","port":5432}}"#;
    f.create_secret(&f.remote_ns, "mixed", &[("bin", binary), ("config", config), ("tls.crt", b"CERT")], &[], &[])
        .await;
    let client = f.reader().await;
    let value = client.get(&key("mixed")).await.unwrap();

    assert_eq!(select_property(&value, "mixed", "bin").unwrap(), binary);
    assert_eq!(select_property(&value, "mixed", "tls.crt").unwrap(), b"CERT");
    assert_eq!(select_property(&value, "mixed", "config.db.user").unwrap(), b"admin");
    assert_eq!(select_property(&value, "mixed", "config.db.port").unwrap(), b"5432");
    let extracted = extract_map(&value).unwrap();
    assert_eq!(extracted.get("bin").map(Vec::as_slice), Some(binary));
    assert_eq!(extracted.get("config").map(Vec::as_slice), Some(&config[..]));
    assert_eq!(extracted.len(), 3);
    // The whole value is ESO's JSON, with Go's replacement escapes for the invalid bytes.
    assert!(text(&value).starts_with(r#"{"bin":"\u0000\ufffd\ufffd\ufffda\ufffd(","#), "{}", text(&value));
}

#[tokio::test]
async fn find_by_label_selector() {
    let f = Fixture::new("labels").await;
    f.create_secret(&f.remote_ns, "prod-db", &[("p", b"1")], &[("env", "prod"), ("app", "db")], &[]).await;
    f.create_secret(&f.remote_ns, "prod-api", &[("p", b"2")], &[("env", "prod"), ("app", "api")], &[]).await;
    f.create_secret(&f.remote_ns, "dev-db", &[("p", b"3")], &[("env", "dev"), ("app", "db")], &[]).await;
    let client = f.reader().await;

    let tags = |pairs: &[(&str, &str)]| FindQuery {
        tags: pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect(),
        ..Default::default()
    };
    let prod = client.find(&tags(&[("env", "prod")])).await.unwrap();
    assert_eq!(prod.keys().collect::<Vec<_>>(), ["prod-api", "prod-db"]);
    assert_eq!(text(&prod["prod-db"]), r#"{"p":"1"}"#);
    assert_eq!(fields(&prod["prod-api"]).get("p").map(Vec::as_slice), Some(&b"2"[..]));

    let prod_db = client.find(&tags(&[("env", "prod"), ("app", "db")])).await.unwrap();
    assert_eq!(prod_db.keys().collect::<Vec<_>>(), ["prod-db"]);
    let nothing = client.find(&tags(&[("env", "staging")])).await.unwrap();
    assert!(nothing.is_empty());
    assert_eq!(category(client.find(&tags(&[("env", "a,b")])).await), Some(ErrorCategory::InvalidConfig));
}

#[tokio::test]
async fn find_by_name_regexp() {
    let f = Fixture::new("regexp").await;
    for name in ["app-db", "app-cache", "other-db", "reader-token-copy"] {
        f.create_secret(&f.remote_ns, name, &[("v", name.as_bytes())], &[], &[]).await;
    }
    let client = f.reader().await;

    let query = |pattern: &str| FindQuery { name_regexp: Some(pattern.to_string()), ..Default::default() };
    let dbs = client.find(&query("-db$")).await.unwrap();
    assert_eq!(dbs.keys().collect::<Vec<_>>(), ["app-db", "other-db"]);
    assert_eq!(text(&dbs["other-db"]), r#"{"v":"other-db"}"#);
    // Unanchored, as ESO's regexp.MatchString.
    let apps = client.find(&query("pp-")).await.unwrap();
    assert_eq!(apps.keys().collect::<Vec<_>>(), ["app-cache", "app-db"]);
    assert_eq!(category(client.find(&query("(")).await), Some(ErrorCategory::InvalidConfig));
}

#[tokio::test]
async fn metadata_policy_fetch_returns_labels_and_annotations() {
    let f = Fixture::new("meta").await;
    f.create_secret(
        &f.remote_ns,
        "labelled",
        &[("password", b"hunter2")],
        &[("team", "payments")],
        &[("owner", "alice@example.com")],
    )
    .await;
    f.create_secret(&f.remote_ns, "bare", &[("password", b"hunter2")], &[], &[]).await;
    let client = f.reader().await;
    let fetch = |name: &str| RemoteKey { metadata_policy: MetadataPolicy::Fetch, ..key(name) };

    let value = client.get(&fetch("labelled")).await.unwrap();
    assert_eq!(text(&value), r#"{"annotations":{"owner":"alice@example.com"},"labels":{"team":"payments"}}"#);
    assert_eq!(value.fields, None);
    assert_eq!(select_property(&value, "labelled", "labels.team").unwrap(), b"payments");
    assert_eq!(select_property(&value, "labelled", "annotations.owner").unwrap(), b"alice@example.com");
    assert!(!text(&value).contains("hunter2"));

    let bare = client.get(&fetch("bare")).await.unwrap();
    assert_eq!(text(&bare), r#"{"annotations":null,"labels":null}"#);
    assert!(client.get(&fetch("absent")).await.err().unwrap().is_not_found());
}

#[tokio::test]
async fn client_certificate_auth_reads_secrets() {
    let f = Fixture::new("cert").await;
    f.create_secret(&f.remote_ns, "db", &[("password", b"pw")], &[], &[]).await;
    let user = format!("esr-cert-user-{}", f.remote_ns);
    let (cert_pem, key_pem) = client_certificate(f.cluster, &user);
    f.create_secret(
        &f.store_ns,
        "client-tls",
        &[("tls.crt", cert_pem.as_bytes()), ("tls.key", key_pem.as_bytes())],
        &[],
        &[],
    )
    .await;
    f.grant_secret_reads(Subject {
        kind: "User".to_string(),
        name: user.clone(),
        api_group: Some("rbac.authorization.k8s.io".to_string()),
        namespace: None,
    })
    .await;
    let spec = KubernetesSpec {
        server: f.server(),
        auth: Some(KubernetesAuth {
            cert: Some(CertAuth {
                client_cert: Some(selector("client-tls", "tls.crt", None)),
                client_key: Some(selector("client-tls", "tls.key", None)),
            }),
            ..Default::default()
        }),
        auth_ref: None,
        remote_namespace: f.remote_ns.clone(),
    };
    let client = f.client(spec).await.unwrap();

    let value = wait_for("the RoleBinding of the certificate user", || {
        let client = client.clone();
        async move { client.get(&key("db")).await.ok() }
    })
    .await;
    assert_eq!(text(&value), r#"{"password":"pw"}"#);
}

/// A client certificate for `user`, signed by the local cluster's CA: (certificate PEM, key PEM).
fn client_certificate(cluster: &Cluster, user: &str) -> (String, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
        KeyUsagePurpose,
    };
    let ca_key = KeyPair::from_pem(&std::fs::read_to_string(&cluster.pki.ca_key).unwrap()).unwrap();
    // The same subject as the test CA (see testsupport's pki.rs), so the issuer name matches.
    let mut ca_params = CertificateParams::default();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name = DistinguishedName::new();
    ca_params.distinguished_name.push(DnType::CommonName, "external-secrets-rs test CA");
    ca_params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let issuer = Issuer::new(ca_params, ca_key);

    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, user);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, &issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[tokio::test]
async fn auth_ref_kubeconfig_reads_secrets() {
    let f = Fixture::new("authref").await;
    f.create_secret(&f.remote_ns, "db", &[("password", b"pw")], &[], &[]).await;
    let token = f.service_account("kubeconfig-reader", true).await;
    let ca = base64::engine::general_purpose::STANDARD.encode(f.ca_pem());
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: remote\n  cluster:\n    server: {server}\n    \
         certificate-authority-data: {ca}\nusers:\n- name: reader\n  user:\n    token: {token}\ncontexts:\n- name: \
         remote\n  context:\n    cluster: remote\n    user: reader\ncurrent-context: remote\n",
        server = f.cluster.server
    );
    f.create_secret(&f.store_ns, "remote-kubeconfig", &[("config", kubeconfig.as_bytes())], &[], &[]).await;
    let spec = KubernetesSpec {
        auth_ref: Some(selector("remote-kubeconfig", "config", None)),
        remote_namespace: f.remote_ns.clone(),
        ..Default::default()
    };
    let client = f.client(spec).await.unwrap();
    assert_eq!(text(&client.get(&key("db")).await.unwrap()), r#"{"password":"pw"}"#);
    assert_eq!(client.validate().await.unwrap(), Validation::Ready);
}

#[tokio::test]
async fn an_invalid_token_is_an_auth_error_that_never_shows_the_token() {
    let f = Fixture::new("badtoken").await;
    let bogus = "not-a-real-token-hunter2";
    f.create_secret(&f.store_ns, "reader-token", &[("token", bogus.as_bytes())], &[], &[]).await;
    let client = f.client(f.token_spec()).await.unwrap();

    let err = client.get(&key("db")).await.err().unwrap();
    assert_eq!(err.category(), ErrorCategory::Auth, "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert_eq!(category(client.validate().await), Some(ErrorCategory::Auth));
}

#[tokio::test]
async fn missing_credentials_are_auth_errors_not_not_found() {
    let f = Fixture::new("nocreds").await;
    // No token Secret at all.
    let err = f.client(f.token_spec()).await.err().unwrap();
    assert_eq!(err.category(), ErrorCategory::Auth, "{err}");
    // A token Secret without the key.
    f.create_secret(&f.store_ns, "reader-token", &[("other", b"x")], &[], &[]).await;
    let err = f.client(f.token_spec()).await.err().unwrap();
    assert_eq!(err.category(), ErrorCategory::Auth, "{err}");
    // A ServiceAccount that does not exist.
    let spec = KubernetesSpec {
        server: f.server(),
        auth: Some(KubernetesAuth {
            service_account: Some(ServiceAccountSelector {
                name: "ghost".to_string(),
                namespace: None,
                audiences: Vec::new(),
            }),
            ..Default::default()
        }),
        auth_ref: None,
        remote_namespace: f.remote_ns.clone(),
    };
    let err = f.client(spec).await.err().unwrap();
    assert_eq!(err.category(), ErrorCategory::Auth, "{err}");
}

#[tokio::test]
async fn a_secret_store_may_not_reference_another_namespace() {
    let f = Fixture::new("crossns").await;
    f.token_secret().await;
    let mut spec = f.token_spec();
    if let Some(token) = spec.auth.as_mut().and_then(|a| a.token.as_mut()) {
        token.bearer_token = Some(selector("reader-token", "token", Some(&f.remote_ns)));
    }
    assert_eq!(category(f.client(spec).await), Some(ErrorCategory::InvalidConfig));
}

#[tokio::test]
async fn cluster_store_resolves_references_in_the_referent_namespace() {
    let f = Fixture::new("referent").await;
    f.create_secret(&f.remote_ns, "db", &[("password", b"pw")], &[], &[]).await;
    f.token_secret().await;
    let provider = KubernetesProvider::new();

    // Used for an ExternalSecret in the store namespace: the token Secret is read there.
    let ctx = f.context(StoreKind::ClusterSecretStore, f.token_spec());
    let client = provider.client(&ctx).await.unwrap();
    assert_eq!(text(&client.get(&key("db")).await.unwrap()), r#"{"password":"pw"}"#);

    // Validated on its own, without an ExternalSecret: Unknown, as in ESO, and nothing is read.
    let validating = StoreContext::new(
        f.admin.clone(),
        StoreScope::cluster_secret_store("test-store", None),
        store_spec(f.token_spec()),
    );
    let client = provider.client(&validating).await.unwrap();
    assert_eq!(client.validate().await.unwrap(), Validation::Unknown);
    assert_eq!(category(client.get(&key("db")).await), Some(ErrorCategory::InvalidConfig));
}

#[tokio::test]
async fn ca_provider_config_map_is_trusted_and_an_unknown_ca_is_not() {
    let f = Fixture::new("ca").await;
    f.create_secret(&f.remote_ns, "db", &[("password", b"pw")], &[], &[]).await;
    f.token_secret().await;
    let config_map = ConfigMap {
        metadata: ObjectMeta { name: Some("cluster-ca".to_string()), ..Default::default() },
        data: Some([("ca.crt".to_string(), String::from_utf8(f.ca_pem()).unwrap())].into()),
        ..Default::default()
    };
    Api::<ConfigMap>::namespaced(f.admin.clone(), &f.store_ns)
        .create(&PostParams::default(), &config_map)
        .await
        .unwrap();

    let mut spec = f.token_spec();
    spec.server = Some(KubernetesServer {
        url: f.cluster.server.clone(),
        ca_bundle: None,
        ca_provider: Some(CaProvider {
            type_: CaProviderType::ConfigMap,
            name: "cluster-ca".to_string(),
            key: Some("ca.crt".to_string()),
            namespace: None,
        }),
    });
    let client = f.client(spec.clone()).await.unwrap();
    assert_eq!(text(&client.get(&key("db")).await.unwrap()), r#"{"password":"pw"}"#);

    // Another CA: the TLS handshake fails, which is "unavailable", not "not found".
    let other_ca = rcgen::generate_simple_self_signed(vec!["other-ca".to_string()]).unwrap();
    spec.server = Some(KubernetesServer {
        url: f.cluster.server.clone(),
        ca_bundle: Some(ByteString(other_ca.cert.pem().into_bytes())),
        ca_provider: None,
    });
    let client = f.client(spec).await.unwrap();
    let err = client.get(&key("db")).await.err().unwrap();
    assert_eq!(err.category(), ErrorCategory::Unavailable, "{err}");
}

#[tokio::test]
async fn without_a_server_url_the_operators_own_cluster_is_used() {
    let f = Fixture::new("own").await;
    f.create_secret(&f.remote_ns, "db", &[("password", b"pw")], &[], &[]).await;
    f.token_secret().await;
    let kubeconfig = kube::config::Kubeconfig::read_from(&f.cluster.kubeconfig).unwrap();
    let own = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.unwrap();
    let provider = KubernetesProvider::with_own_cluster(&own);

    for server in [None, Some(KubernetesServer::default())] {
        let spec = KubernetesSpec { server, ..f.token_spec() };
        let client = provider.client(&f.context(StoreKind::SecretStore, spec)).await.unwrap();
        assert_eq!(text(&client.get(&key("db")).await.unwrap()), r#"{"password":"pw"}"#);
        // The store's own token is used, not the operator's (admin) identity: it may not read elsewhere.
        let elsewhere = KubernetesSpec { server: None, remote_namespace: f.store_ns.clone(), ..f.token_spec() };
        let client = provider.client(&f.context(StoreKind::SecretStore, elsewhere)).await.unwrap();
        assert_eq!(category(client.get(&key("reader-token")).await), Some(ErrorCategory::Denied));
    }
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    let f = Fixture::new("down").await;
    f.token_secret().await;
    let mut spec = f.token_spec();
    spec.server = Some(KubernetesServer {
        url: "https://127.0.0.1:1".to_string(),
        ca_bundle: Some(ByteString(f.ca_pem())),
        ca_provider: None,
    });
    let client = f.client(spec).await.unwrap();
    assert_eq!(category(client.get(&key("db")).await), Some(ErrorCategory::Unavailable));
}
