//! The Vault provider end to end: the operator (in-process, as its own ServiceAccount with the shipped
//! ClusterRole) against the real local control plane and a real Vault dev server built from Go modules
//! (`hack/build-tools.sh`). Kubernetes auth is real too: Vault reviews the ServiceAccount token the operator
//! mints with TokenRequest against this cluster's TokenReview API.
//!
//! The tests share one Vault server; each keeps to its own namespace's keys (`<ns>/...`), mounts and roles.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Operator, events_text, eventually, logs, start_operator, wait_ready, wait_store};
use external_secrets_api::{ExternalSecret, SecretStore};
use external_secrets_testsupport::{Cluster, VaultServer, cluster, vault};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const USERNAME: &str = "vault-user-do-not-log";
const OLD_PASSWORD: &str = "vault-old-pa55-do-not-log";
const PASSWORD: &str = "vault-pa55-do-not-log";
const V1_TOKEN: &str = "vault-v1-token-do-not-log";
/// Every value a test puts in Vault: none may show up in logs, events or status.
const VALUES: &[&str] = &[USERNAME, OLD_PASSWORD, PASSWORD, V1_TOKEN];

/// The policy every login in these tests gets: read (and list) both KV engines.
const READ_POLICY: &str = r#"
path "secret/data/*" { capabilities = ["read"] }
path "secret/metadata/*" { capabilities = ["read", "list"] }
"#;

fn assert_no_leak(text: &str, what: &str) {
    for value in VALUES.iter().chain([&"esr-root-token"]) {
        assert!(!text.contains(value), "a secret value or token appeared in the {what}");
    }
}

fn data_of(secret: &Secret) -> BTreeMap<String, String> {
    secret
        .data
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8(v.0).expect("utf-8")))
        .collect()
}

/// One test's world: a namespace, the shared Vault server, and the operator watching the namespace.
struct World {
    cluster: &'static Cluster,
    vault: &'static VaultServer,
    admin: kube::Client,
    ns: String,
    op: Operator,
}

impl World {
    async fn start(prefix: &str) -> Self {
        let cluster = cluster().await;
        let vault = vault().await;
        let admin = cluster.admin_client().await.expect("admin client");
        let ns = cluster.namespace(prefix).await.expect("namespace");
        let op = start_operator(cluster, &ns).await;
        let world = Self { cluster, vault, admin, ns, op };
        world.vault("PUT", "sys/policies/acl/esr-read", json!({"policy": READ_POLICY}));
        world
    }

    /// A Vault API call as root that must succeed.
    fn vault(&self, method: &str, path: &str, body: Value) -> Value {
        self.vault.must(method, path, Some(&body)).expect("vault call")
    }

    /// Writes a new version of the KV v2 secret `secret/<ns>/<name>`.
    fn put_v2(&self, name: &str, data: Value) {
        self.vault("POST", &format!("secret/data/{}/{name}", self.ns), json!({"data": data}));
    }

    async fn put_secret(&self, name: &str, data: Value) {
        let secret: Secret =
            serde_json::from_value(json!({"metadata": {"name": name}, "stringData": data})).expect("Secret");
        self.secrets().create(&PostParams::default(), &secret).await.expect("create Secret");
    }

    fn stores(&self) -> Api<SecretStore> {
        Api::namespaced(self.admin.clone(), &self.ns)
    }

    fn external_secrets(&self) -> Api<ExternalSecret> {
        Api::namespaced(self.admin.clone(), &self.ns)
    }

    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.admin.clone(), &self.ns)
    }

    /// A SecretStore for this test's operator with `spec.provider.vault = vault` (the server filled in).
    async fn create_store(&self, name: &str, mut vault: Value) {
        vault["server"] = json!(self.vault.url);
        let store: SecretStore = serde_json::from_value(json!({
            "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
            "metadata": {"name": name},
            "spec": {"controller": self.op.class, "provider": {"vault": vault}}
        }))
        .expect("SecretStore");
        self.stores().create(&PostParams::default(), &store).await.expect("create SecretStore");
    }

    async fn create_es(&self, name: &str, store: &str, interval: &str, spec: Value) {
        let mut spec = spec;
        spec["refreshInterval"] = json!(interval);
        spec["secretStoreRef"] = json!({"name": store, "kind": "SecretStore"});
        spec["target"] = json!({"name": name, "creationPolicy": "Owner"});
        let es: ExternalSecret = serde_json::from_value(json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": name}, "spec": spec,
        }))
        .expect("ExternalSecret");
        self.external_secrets().create(&PostParams::default(), &es).await.expect("create ExternalSecret");
    }

    async fn target(&self, name: &str) -> BTreeMap<String, String> {
        data_of(&self.secrets().get(name).await.expect("target Secret"))
    }

    /// Nothing this test put in Vault (nor the root token) is in the operator's log, the events or a status.
    async fn assert_nothing_leaked(&self) {
        assert_no_leak(&logs(), "operator log");
        assert_no_leak(&events_text(&self.admin, &self.ns).await, "events");
        let statuses = serde_json::to_string(&self.external_secrets().list(&Default::default()).await.unwrap().items)
            .unwrap()
            + &serde_json::to_string(&self.stores().list(&Default::default()).await.unwrap().items).unwrap();
        assert_no_leak(&statuses, "status");
    }

    async fn stop(self) {
        self.op.stop().await;
    }
}

#[tokio::test]
async fn token_auth_reads_kv_v2_and_v1_with_property_version_and_metadata() {
    let w = World::start("vault-read").await;
    w.put_v2("db", json!({"username": USERNAME, "password": OLD_PASSWORD}));
    w.put_v2("db", json!({"username": USERNAME, "password": PASSWORD, "conn": {"port": 5432}}));
    w.vault("POST", &format!("secret/metadata/{}/db", w.ns), json!({"custom_metadata": {"team": "payments"}}));
    let kv1 = format!("kv1-{}", w.ns);
    w.vault("POST", &format!("sys/mounts/{kv1}"), json!({"type": "kv", "options": {"version": "1"}}));
    w.vault("POST", &format!("{kv1}/app"), json!({"token": V1_TOKEN}));

    w.put_secret("vault-token", json!({"token": w.vault.root_token})).await;
    let token_auth = json!({"tokenSecretRef": {"name": "vault-token", "key": "token"}});
    w.create_store("kv2", json!({"path": "secret", "auth": token_auth})).await;
    w.create_store("kv1", json!({"path": kv1, "version": "v1", "auth": token_auth})).await;
    wait_store(&w.stores(), "kv2", "Valid").await;
    wait_store(&w.stores(), "kv1", "Valid").await;

    let key = format!("{}/db", w.ns);
    w.create_es(
        "from-kv2",
        "kv2",
        "1h",
        json!({"data": [
            {"secretKey": "username", "remoteRef": {"key": key, "property": "username"}},
            {"secretKey": "password", "remoteRef": {"key": key, "property": "password"}},
            {"secretKey": "old-password", "remoteRef": {"key": key, "property": "password", "version": "1"}},
            {"secretKey": "port", "remoteRef": {"key": key, "property": "conn.port"}},
            {"secretKey": "team", "remoteRef": {"key": key, "property": "team", "metadataPolicy": "Fetch"}},
        ]}),
    )
    .await;
    w.create_es("from-kv1", "kv1", "1h", json!({"dataFrom": [{"extract": {"key": "app"}}]})).await;
    wait_ready(&w.external_secrets(), "from-kv2", "SecretSynced").await;
    wait_ready(&w.external_secrets(), "from-kv1", "SecretSynced").await;

    let kv2 = w.target("from-kv2").await;
    assert_eq!(kv2.get("username").map(String::as_str), Some(USERNAME));
    assert_eq!(kv2.get("password").map(String::as_str), Some(PASSWORD));
    assert_eq!(kv2.get("old-password").map(String::as_str), Some(OLD_PASSWORD), "remoteRef.version reads v1");
    assert_eq!(kv2.get("port").map(String::as_str), Some("5432"), "a gjson path into the data");
    assert_eq!(kv2.get("team").map(String::as_str), Some("payments"), "custom_metadata");
    assert_eq!(w.target("from-kv1").await, BTreeMap::from([("token".to_string(), V1_TOKEN.to_string())]));
    w.assert_nothing_leaked().await;
    w.stop().await;
}

#[tokio::test]
async fn app_role_and_kubernetes_auth_log_in_through_vault() {
    let w = World::start("vault-login").await;
    w.put_v2("db", json!({"password": PASSWORD}));
    let key = format!("{}/db", w.ns);

    // AppRole at a mount of this test's own.
    let approle = format!("approle-{}", w.ns);
    w.vault("POST", &format!("sys/auth/{approle}"), json!({"type": "approle"}));
    w.vault("POST", &format!("auth/{approle}/role/esr"), json!({"token_policies": ["esr-read"], "token_ttl": "1h"}));
    let role_id = w.vault.must("GET", &format!("auth/{approle}/role/esr/role-id"), None).unwrap()["data"]["role_id"]
        .as_str()
        .unwrap()
        .to_string();
    let secret_id = w.vault("POST", &format!("auth/{approle}/role/esr/secret-id"), json!({}))["data"]["secret_id"]
        .as_str()
        .unwrap()
        .to_string();
    w.put_secret("approle", json!({"secret-id": secret_id})).await;
    w.create_store(
        "approle",
        json!({"path": "secret", "auth": {"appRole": {
            "path": approle, "roleId": role_id, "secretRef": {"name": "approle", "key": "secret-id"}}}}),
    )
    .await;

    // Kubernetes auth: Vault reviews tokens with this cluster's TokenReview API, as a reviewer ServiceAccount
    // bound to system:auth-delegator, and trusts the cluster's CA.
    let sas: Api<ServiceAccount> = Api::namespaced(w.admin.clone(), &w.ns);
    for name in ["vault-reviewer", "vault-reader"] {
        let sa: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        sas.create(&PostParams::default(), &sa).await.expect("ServiceAccount");
    }
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": format!("{}-vault-reviewer", w.ns)},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:auth-delegator"},
        "subjects": [{"kind": "ServiceAccount", "name": "vault-reviewer", "namespace": w.ns}],
    }))
    .unwrap();
    Api::<ClusterRoleBinding>::all(w.admin.clone()).create(&PostParams::default(), &binding).await.expect("binding");
    let reviewer = w.cluster.service_account_token(&w.ns, "vault-reviewer", &[], 3600).await.expect("token");
    let ca = std::fs::read_to_string(&w.cluster.pki.ca_cert).expect("cluster CA");
    let kubernetes = format!("kubernetes-{}", w.ns);
    w.vault("POST", &format!("sys/auth/{kubernetes}"), json!({"type": "kubernetes"}));
    w.vault(
        "POST",
        &format!("auth/{kubernetes}/config"),
        json!({"kubernetes_host": w.cluster.server, "kubernetes_ca_cert": ca, "token_reviewer_jwt": reviewer}),
    );
    w.vault(
        "POST",
        &format!("auth/{kubernetes}/role/esr"),
        json!({
            "bound_service_account_names": ["vault-reader"],
            "bound_service_account_namespaces": [w.ns],
            "token_policies": ["esr-read"],
            "token_ttl": "1h",
        }),
    );
    w.create_store(
        "kubernetes",
        json!({"path": "secret", "auth": {"kubernetes": {
            "mountPath": kubernetes, "role": "esr", "serviceAccountRef": {"name": "vault-reader"}}}}),
    )
    .await;

    wait_store(&w.stores(), "approle", "Valid").await;
    wait_store(&w.stores(), "kubernetes", "Valid").await;
    let data = json!({"data": [{"secretKey": "password", "remoteRef": {"key": key, "property": "password"}}]});
    w.create_es("via-approle", "approle", "1h", data.clone()).await;
    w.create_es("via-kubernetes", "kubernetes", "1h", data).await;
    wait_ready(&w.external_secrets(), "via-approle", "SecretSynced").await;
    wait_ready(&w.external_secrets(), "via-kubernetes", "SecretSynced").await;
    assert_eq!(w.target("via-approle").await.get("password").map(String::as_str), Some(PASSWORD));
    assert_eq!(w.target("via-kubernetes").await.get("password").map(String::as_str), Some(PASSWORD));

    // A ServiceAccount the role does not bind is refused by Vault: the store says so.
    let other: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": "not-bound"}})).unwrap();
    sas.create(&PostParams::default(), &other).await.expect("ServiceAccount");
    w.create_store(
        "unbound",
        json!({"path": "secret", "auth": {"kubernetes": {
            "mountPath": kubernetes, "role": "esr", "serviceAccountRef": {"name": "not-bound"}}}}),
    )
    .await;
    let refused = eventually(Duration::from_secs(30), || async {
        w.stores()
            .get("unbound")
            .await
            .ok()
            .and_then(|s| s.status)
            .and_then(|s| s.condition("Ready").cloned())
            .is_some_and(|c| {
                c.status == "False" && c.message.as_deref().is_some_and(|m| m.contains("authentication failed"))
            })
    })
    .await;
    assert!(refused, "a login Vault refuses is a failed authentication on the store");
    w.assert_nothing_leaked().await;
    w.stop().await;
}

#[tokio::test]
async fn a_missing_key_and_a_refused_token_are_conditions_and_delete_nothing() {
    let w = World::start("vault-errors").await;
    w.put_v2("db", json!({"password": PASSWORD}));
    let key = format!("{}/db", w.ns);
    w.put_secret("vault-token", json!({"token": w.vault.root_token})).await;
    w.put_secret("wrong-token", json!({"token": "hvs.not-a-token-at-all"})).await;
    w.create_store(
        "kv2",
        json!({"path": "secret", "auth": {"tokenSecretRef": {"name": "vault-token", "key": "token"}}}),
    )
    .await;
    wait_store(&w.stores(), "kv2", "Valid").await;

    let present = json!({"data": [{"secretKey": "password", "remoteRef": {"key": key, "property": "password"}}]});
    w.create_es("present", "kv2", "2s", present).await;
    let missing = json!({"data": [{"secretKey": "x", "remoteRef": {"key": format!("{}/no-such-key", w.ns)}}]});
    w.create_es("missing", "kv2", "1h", missing).await;
    wait_ready(&w.external_secrets(), "present", "SecretSynced").await;
    let (status, _, _) = wait_ready(&w.external_secrets(), "missing", "SecretSyncedError").await;
    assert_eq!(status, "False");
    assert!(w.secrets().get_opt("missing").await.unwrap().is_none(), "nothing is created for a missing key");

    // The store now presents a token Vault refuses: the store and the ExternalSecret say so, and the Secret
    // synced before keeps its data.
    let patch = json!({"spec": {"provider": {"vault": {"auth": {"tokenSecretRef": {"name": "wrong-token"}}}}}});
    w.stores().patch("kv2", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("patch store");
    let refused = eventually(Duration::from_secs(30), || async {
        w.stores().get("kv2").await.ok().and_then(|s| s.status).and_then(|s| s.condition("Ready").cloned()).is_some_and(
            |c| c.status == "False" && c.message.as_deref().is_some_and(|m| m.contains("permission denied")),
        )
    })
    .await;
    assert!(refused, "the store reports the refused token");
    wait_ready(&w.external_secrets(), "present", "SecretSyncedError").await;
    assert_eq!(w.target("present").await.get("password").map(String::as_str), Some(PASSWORD), "kept");
    let events = events_text(&w.admin, &w.ns).await;
    assert!(!events.contains("hvs.not-a-token-at-all"), "the wrong token is not in events");
    assert!(!logs().contains("hvs.not-a-token-at-all"), "the wrong token is not logged");
    w.assert_nothing_leaked().await;
    w.stop().await;
}
