//! The Vault provider end to end: the operator (in-process, as its own ServiceAccount with the shipped
//! ClusterRole) against the real local control plane and a real Vault dev server built from Go modules
//! (`hack/build-tools.sh`). Kubernetes auth is real too: Vault reviews the ServiceAccount token the operator
//! mints with TokenRequest against this cluster's TokenReview API.
//!
//! The tests share one Vault server; each keeps to its own namespace's keys (`<ns>/...`), mounts and roles.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::{Operator, events_text, eventually, logs, registry, start_operator_configured, wait_ready, wait_store};
use external_secrets_api::v1alpha1::PushSecret;
use external_secrets_api::{ExternalSecret, SecretStore};
use external_secrets_generators::GeneratorRegistry;
use external_secrets_testsupport::{Cluster, VaultServer, cluster, vault};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const USERNAME: &str = "vault-user-do-not-log";
const OLD_PASSWORD: &str = "vault-old-pa55-do-not-log";
const PASSWORD: &str = "vault-pa55-do-not-log";
const ROTATED: &str = "vault-rotated-pa55-do-not-log";
const V1_TOKEN: &str = "vault-v1-token-do-not-log";
/// Every value a test puts in Vault: none may show up in logs, events or status.
const VALUES: &[&str] = &[USERNAME, OLD_PASSWORD, PASSWORD, ROTATED, V1_TOKEN];

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
        Self::start_with(prefix, GeneratorRegistry::new()).await
    }

    /// As [`World::start`], with an operator that runs the Vault generator.
    async fn start_with_vault_generator(prefix: &str) -> Self {
        let vault = Arc::new(external_secrets_provider_vault::VaultProvider::new());
        Self::start_with(prefix, GeneratorRegistry::new().with(Arc::new(vault.generators()))).await
    }

    async fn start_with(prefix: &str, generators: GeneratorRegistry) -> Self {
        let cluster = cluster().await;
        let vault = vault().await;
        let admin = cluster.admin_client().await.expect("admin client");
        let ns = cluster.namespace(prefix).await.expect("namespace");
        let op = start_operator_configured(cluster, &ns, registry(), move |c| c.generators = generators).await;
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

    /// A SecretStore for this test's operator with `spec.provider.vault = vault` (the plain HTTP server filled in
    /// unless `vault` names one).
    async fn create_store(&self, name: &str, mut vault: Value) {
        if vault.get("server").is_none() {
            vault["server"] = json!(self.vault.url);
        }
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

impl World {
    fn push_secrets(&self) -> Api<PushSecret> {
        Api::namespaced(self.admin.clone(), &self.ns)
    }

    /// A PushSecret of the Secret `db-creds` to the SecretStore `store`, deleting what it pushed.
    async fn create_push(&self, name: &str, store: &str, update_policy: &str, data: Value) {
        let ps: PushSecret = serde_json::from_value(json!({
            "apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret",
            "metadata": {"name": name},
            "spec": {
                "refreshInterval": "1h",
                "deletionPolicy": "Delete",
                "updatePolicy": update_policy,
                "secretStoreRefs": [{"name": store, "kind": "SecretStore"}],
                "selector": {"secret": {"name": "db-creds"}},
                "data": data,
            }
        }))
        .expect("PushSecret");
        self.push_secrets().create(&PostParams::default(), &ps).await.expect("create PushSecret");
    }

    async fn patch_push_data(&self, name: &str, data: Value) {
        let patch = json!({"spec": {"data": data}});
        self.push_secrets().patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("patch");
    }

    /// Waits (bounded) for the PushSecret's `Ready` reason; answers (status, message).
    async fn wait_push(&self, name: &str, reason: &str) -> (String, String) {
        let ready = || async {
            let ps = self.push_secrets().get_opt(name).await.ok().flatten()?;
            let c = ps.status?.conditions.into_iter().find(|c| c.type_ == "Ready")?;
            Some((c.status, c.reason.unwrap_or_default(), c.message.unwrap_or_default()))
        };
        let found =
            eventually(Duration::from_secs(60), || async { ready().await.is_some_and(|r| r.1 == reason) }).await;
        let last = ready().await;
        assert!(found, "PushSecret {name} never reached {reason}; last: {last:?}");
        let (status, _, message) = last.unwrap();
        (status, message)
    }

    /// The data of the KV v2 secret `secret/<ns>/<name>` (`None`: no live version) and its `custom_metadata`
    /// and `current_version` (`None`: no metadata).
    fn read_v2(&self, name: &str) -> (Option<Value>, Option<(Value, u64)>) {
        let (status, data) = self.vault.call("GET", &format!("secret/data/{}/{name}", self.ns), None).unwrap();
        let data = (status == 200).then(|| data["data"]["data"].clone()).filter(|d| !d.is_null());
        let (status, meta) = self.vault.call("GET", &format!("secret/metadata/{}/{name}", self.ns), None).unwrap();
        let meta = (status == 200)
            .then(|| (meta["data"]["custom_metadata"].clone(), meta["data"]["current_version"].as_u64().unwrap()));
        (data, meta)
    }

    async fn wait_v2_gone(&self, name: &str) -> bool {
        eventually(Duration::from_secs(30), || async { self.read_v2(name).1.is_none() }).await
    }
}

#[tokio::test]
async fn pushes_create_and_update_kv_v2_secrets_and_delete_only_what_we_manage() {
    let w = World::start("vault-push").await;
    let managed = json!({"managed-by": "external-secrets"});
    // Someone else's secret, and a document of ours with a field we did not push.
    w.put_v2("theirs", json!({"password": "their-value"}));
    w.put_v2("doc", json!({"host": "db.internal"}));
    w.vault("POST", &format!("secret/metadata/{}/doc", w.ns), json!({"custom_metadata": managed}));
    w.put_secret("db-creds", json!({"password": PASSWORD, "username": USERNAME})).await;
    w.put_secret("vault-token", json!({"token": w.vault.root_token})).await;
    w.create_store(
        "kv2",
        json!({"path": "secret", "auth": {"tokenSecretRef": {"name": "vault-token", "key": "token"}}}),
    )
    .await;
    wait_store(&w.stores(), "kv2", "Valid").await;

    let ns = &w.ns;
    let property = |key: &str, remote: &str, property: &str| json!({"match": {"secretKey": key, "remoteRef": {"remoteKey": format!("{ns}/{remote}"), "property": property}}});
    let whole = json!({"match": {"remoteRef": {"remoteKey": format!("{ns}/whole")}}});
    let entries = json!([property("password", "db", "password"), property("username", "doc", "username"), whole]);
    w.create_push("push", "kv2", "Replace", entries.clone()).await;
    let (status, _) = w.wait_push("push", "Synced").await;
    assert_eq!(status, "True");

    // Created with ESO's mark; the property went into the existing document, its other field kept; the whole
    // Secret is one JSON object.
    let (db, meta) = w.read_v2("db");
    assert_eq!(db, Some(json!({"password": PASSWORD})));
    assert_eq!(meta.as_ref().map(|m| &m.0), Some(&managed), "custom_metadata managed-by");
    assert_eq!(w.read_v2("doc").0, Some(json!({"host": "db.internal", "username": USERNAME})));
    assert_eq!(w.read_v2("whole").0, Some(json!({"password": PASSWORD, "username": USERNAME})));
    let doc_version = w.read_v2("doc").1.unwrap().1;
    assert_eq!(doc_version, 2, "one version by the test, one by the push");

    // The source changes: the changed values follow; a property already holding its value is not written again.
    let patch = json!({"stringData": {"password": ROTATED}});
    w.secrets().patch("db-creds", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("patch source");
    let rotated = eventually(Duration::from_secs(30), || async {
        w.read_v2("db").0 == Some(json!({"password": ROTATED}))
            && w.read_v2("whole").0 == Some(json!({"password": ROTATED, "username": USERNAME}))
    })
    .await;
    assert!(rotated, "the rotated password was not pushed");
    assert_eq!(w.read_v2("db").1.unwrap().1, 2, "created, then updated once");
    assert_eq!(w.read_v2("doc").1.unwrap().1, doc_version, "an unchanged property costs no new version");

    // A secret we do not manage is refused, named in the condition; nothing of it changes.
    let with_theirs = json!([
        property("password", "db", "password"),
        property("username", "doc", "username"),
        whole,
        property("password", "theirs", "password")
    ]);
    w.patch_push_data("push", with_theirs).await;
    let (status, message) = w.wait_push("push", "Errored").await;
    assert_eq!(status, "False");
    assert!(message.contains("theirs") && message.contains("not managed by external-secrets"), "{message}");
    assert_eq!(w.read_v2("theirs").0, Some(json!({"password": "their-value"})));
    assert_eq!(w.read_v2("theirs").1.map(|m| m.1), Some(1), "no version added to a secret we do not manage");

    // Entries dropped from the spec are deleted: the whole secret with its metadata; never the one not ours.
    w.patch_push_data("push", json!([property("username", "doc", "username"), whole])).await;
    w.wait_push("push", "Synced").await;
    assert!(w.wait_v2_gone("db").await, "the dropped entry's secret was not deleted");
    assert_eq!(w.read_v2("theirs").0, Some(json!({"password": "their-value"})));

    // Deleting the PushSecret removes what it pushed: the property of the document (its other field stays) and
    // the whole secret.
    w.push_secrets().delete("push", &Default::default()).await.expect("delete");
    assert!(
        eventually(Duration::from_secs(30), || async { w.push_secrets().get_opt("push").await.unwrap().is_none() })
            .await
    );
    assert_eq!(w.read_v2("doc").0, Some(json!({"host": "db.internal"})));
    assert!(w.wait_v2_gone("whole").await);
    assert_eq!(w.read_v2("theirs").0, Some(json!({"password": "their-value"})), "never deleted");
    w.assert_nothing_leaked().await;
    w.stop().await;
}

#[tokio::test]
async fn pushes_to_kv_v1_carry_the_mark_in_the_data_and_check_and_set_names_versions() {
    let w = World::start("vault-push-v1").await;
    let kv1 = format!("kv1-{}", w.ns);
    w.vault("POST", &format!("sys/mounts/{kv1}"), json!({"type": "kv", "options": {"version": "1"}}));
    w.vault("POST", &format!("{kv1}/theirs"), json!({"password": "their-value"}));
    // A KV v2 mount that refuses writes without check-and-set.
    let cas = format!("cas-{}", w.ns);
    w.vault("POST", &format!("sys/mounts/{cas}"), json!({"type": "kv", "options": {"version": "2"}}));
    w.vault("POST", &format!("{cas}/config"), json!({"cas_required": true}));
    w.put_secret("db-creds", json!({"password": PASSWORD, "username": USERNAME})).await;
    w.put_secret("vault-token", json!({"token": w.vault.root_token})).await;
    let auth = json!({"tokenSecretRef": {"name": "vault-token", "key": "token"}});
    w.create_store("kv1", json!({"path": kv1, "version": "v1", "auth": auth})).await;
    w.create_store("cas", json!({"path": cas, "checkAndSet": {"required": true}, "auth": auth})).await;
    w.create_store("cas-off", json!({"path": cas, "auth": auth})).await;
    wait_store(&w.stores(), "kv1", "Valid").await;
    wait_store(&w.stores(), "cas", "Valid").await;

    let property = |key: &str, remote: &str, property: &str| json!({"match": {"secretKey": key, "remoteRef": {"remoteKey": remote, "property": property}}});
    w.create_push(
        "v1",
        "kv1",
        "Replace",
        json!([property("password", "app", "password"), property("username", "app", "username")]),
    )
    .await;
    w.wait_push("v1", "Synced").await;
    let read_v1 = |key: &str| {
        let (status, body) = w.vault.call("GET", &format!("{kv1}/{key}"), None).unwrap();
        (status == 200).then(|| body["data"].clone())
    };
    assert_eq!(
        read_v1("app"),
        Some(
            json!({"password": PASSWORD, "username": USERNAME, "custom_metadata": {"managed-by": "external-secrets"}})
        ),
        "KV v1 has no metadata: ESO's mark is a key of the data"
    );

    // IfNotExists leaves what exists (secret_exists answers for the property).
    w.create_push("v1-once", "kv1", "IfNotExists", json!([property("password", "app", "password")])).await;
    w.wait_push("v1-once", "Synced").await;
    // Refused on a v1 secret without the mark.
    w.create_push("v1-theirs", "kv1", "Replace", json!([property("password", "theirs", "password")])).await;
    let (_, message) = w.wait_push("v1-theirs", "Errored").await;
    assert!(message.contains("not managed by external-secrets"), "{message}");
    assert_eq!(read_v1("theirs"), Some(json!({"password": "their-value"})));

    // Check-and-set: created with cas 0, updated with the current version; without it the mount refuses.
    w.create_push("cas", "cas", "Replace", json!([property("password", "db", "password")])).await;
    w.wait_push("cas", "Synced").await;
    let patch = json!({"stringData": {"password": ROTATED}});
    w.secrets().patch("db-creds", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("patch source");
    let updated = eventually(Duration::from_secs(30), || async {
        w.vault.call("GET", &format!("{cas}/data/db"), None).unwrap().1["data"]["data"] == json!({"password": ROTATED})
    })
    .await;
    assert!(updated, "the check-and-set update was not written");
    w.create_push("no-cas", "cas-off", "Replace", json!([property("password", "other", "password")])).await;
    let (_, message) = w.wait_push("no-cas", "Errored").await;
    assert!(message.contains("check-and-set"), "Vault's refusal is named: {message}");

    // Deleting the v1 PushSecrets removes the keys they pushed, and the secret with its last key.
    for name in ["v1-once", "v1"] {
        w.push_secrets().delete(name, &Default::default()).await.expect("delete");
    }
    assert!(eventually(Duration::from_secs(30), || async { read_v1("app").is_none() }).await, "not deleted");
    assert_eq!(read_v1("theirs"), Some(json!({"password": "their-value"})), "never deleted");
    w.assert_nothing_leaked().await;
    w.stop().await;
}

/// Vault's audit log, from a file audit device of one test's own (accessors in clear): what logins, renewals and
/// revocations Vault saw.
struct Audit {
    device: String,
    file: std::path::PathBuf,
}

impl Audit {
    fn enable(w: &World) -> Self {
        let device = format!("audit-{}", w.ns);
        let file = std::env::temp_dir().join(format!("esr-{device}.log"));
        let options = json!({"file_path": file, "hmac_accessor": "false"});
        w.vault("POST", &format!("sys/audit/{device}"), json!({"type": "file", "options": options}));
        Self { device, file }
    }

    /// The responses Vault logged, as (path, accessor of the token issued or used).
    fn responses(&self) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(&self.file).unwrap_or_default();
        text.lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|entry| entry["type"] == "response")
            .map(|entry| {
                let path = entry["request"]["path"].as_str().unwrap_or_default().to_string();
                let accessor = entry["auth"]["accessor"].as_str().unwrap_or_default().to_string();
                (path, accessor)
            })
            .collect()
    }

    /// The accessors of the tokens logins at `mount` issued, in order.
    fn logins(&self, mount: &str) -> Vec<String> {
        let path = format!("auth/{mount}/login");
        self.responses().into_iter().filter(|(p, a)| *p == path && !a.is_empty()).map(|(_, a)| a).collect()
    }

    /// How often the token of `accessor` called `auth/token/<call>` (renew-self, revoke-self).
    fn calls(&self, accessor: &str, call: &str) -> usize {
        let path = format!("auth/token/{call}");
        self.responses().iter().filter(|(p, a)| *p == path && a == accessor).count()
    }

    fn disable(self, w: &World) {
        w.vault.call("DELETE", &format!("sys/audit/{}", self.device), None).expect("disable audit");
        let _ = std::fs::remove_file(&self.file);
    }
}

#[tokio::test]
async fn login_tokens_are_shared_renewed_replaced_when_revoked_and_revoked_with_the_store() {
    let w = World::start("vault-tokens").await;
    w.put_v2("db", json!({"password": PASSWORD}));
    let key = format!("{}/db", w.ns);
    let audit = Audit::enable(&w);
    // An AppRole whose tokens live 6 seconds unless renewed (up to an hour).
    let approle = format!("approle-{}", w.ns);
    w.vault("POST", &format!("sys/auth/{approle}"), json!({"type": "approle"}));
    w.vault(
        "POST",
        &format!("auth/{approle}/role/esr"),
        json!({"token_policies": ["esr-read"], "token_ttl": "6s", "token_max_ttl": "1h"}),
    );
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
    wait_store(&w.stores(), "approle", "Valid").await;
    // Three ExternalSecrets reading every second through the one store.
    let data = json!({"data": [{"secretKey": "password", "remoteRef": {"key": key, "property": "password"}}]});
    for name in ["a", "b", "c"] {
        w.create_es(name, "approle", "1s", data.clone()).await;
    }
    for name in ["a", "b", "c"] {
        wait_ready(&w.external_secrets(), name, "SecretSynced").await;
    }

    // Over several token lifetimes: one login, its token renewed.
    let renewed = eventually(Duration::from_secs(45), || async {
        audit.logins(&approle).first().is_some_and(|first| audit.calls(first, "renew-self") >= 2)
    })
    .await;
    let logins = audit.logins(&approle);
    assert!(renewed, "the token was not renewed; logins: {}", logins.len());
    assert_eq!(logins.len(), 1, "one login for the store while its token is renewed");

    // Vault forgets the token (revoked behind our back): the next read logs in again, and the reads go on.
    w.vault("POST", "auth/token/revoke-accessor", json!({"accessor": logins[0]}));
    let relogged = eventually(Duration::from_secs(30), || async { audit.logins(&approle).len() == 2 }).await;
    assert!(relogged, "no new login after the token was revoked");
    w.vault("POST", &format!("secret/data/{key}"), json!({"data": {"password": ROTATED}}));
    let followed = eventually(Duration::from_secs(30), || async {
        w.target("a").await.get("password").map(String::as_str) == Some(ROTATED)
    })
    .await;
    assert!(followed, "reads did not go on with the new token");
    assert_eq!(audit.logins(&approle).len(), 2, "one login per lost token, not per read");

    // The store is deleted: its token is revoked.
    let current = audit.logins(&approle)[1].clone();
    for name in ["a", "b", "c"] {
        w.external_secrets().delete(name, &Default::default()).await.expect("delete ExternalSecret");
    }
    w.stores().delete("approle", &Default::default()).await.expect("delete store");
    let revoked = eventually(Duration::from_secs(30), || async { audit.calls(&current, "revoke-self") == 1 }).await;
    assert!(revoked, "the token of a deleted store was not revoked");
    let (status, _) = w.vault.call("POST", "auth/token/lookup-accessor", Some(&json!({"accessor": current}))).unwrap();
    assert_ne!(status, 200, "Vault no longer knows the token");
    audit.disable(&w);
    w.assert_nothing_leaked().await;
    w.stop().await;
}

impl World {
    /// Waits (bounded) until the store's `Ready` condition is False with a message containing `needle`.
    async fn wait_store_refused(&self, name: &str, needle: &str) {
        let refused = eventually(Duration::from_secs(30), || async {
            self.stores()
                .get(name)
                .await
                .ok()
                .and_then(|s| s.status)
                .and_then(|s| s.condition("Ready").cloned())
                .is_some_and(|c| c.status == "False" && c.message.as_deref().is_some_and(|m| m.contains(needle)))
        })
        .await;
        let last =
            self.stores().get(name).await.ok().and_then(|s| s.status).and_then(|s| s.condition("Ready").cloned());
        assert!(refused, "store {name} was not refused with {needle:?}; last: {:?}", last.map(|c| c.message));
    }

    /// Creates `name` and waits until its ExternalSecret reading `secret/<ns>/db`'s password has synced it.
    async fn assert_reads_through(&self, store: &str, es: &str) {
        let key = format!("{}/db", self.ns);
        let data = json!({"data": [{"secretKey": "password", "remoteRef": {"key": key, "property": "password"}}]});
        self.create_es(es, store, "1h", data).await;
        wait_ready(&self.external_secrets(), es, "SecretSynced").await;
        assert_eq!(self.target(es).await.get("password").map(String::as_str), Some(PASSWORD), "via {store}");
    }
}

#[tokio::test]
async fn user_pass_ldap_and_jwt_logins_read_through_vault() {
    let w = World::start("vault-auth").await;
    w.put_v2("db", json!({"password": PASSWORD}));

    // userPass, and ldap: Vault's ldap login needs an LDAP server, so a userpass mount stands in for it — the
    // login request (`POST auth/<path>/login/<username>` with the password) is the same.
    for (kind, mount) in [("userPass", format!("userpass-{}", w.ns)), ("ldap", format!("ldap-{}", w.ns))] {
        w.vault("POST", &format!("sys/auth/{mount}"), json!({"type": "userpass"}));
        w.vault(
            "POST",
            &format!("auth/{mount}/users/esr"),
            json!({"password": PASSWORD, "token_policies": ["esr-read"], "token_ttl": "1h"}),
        );
        let secret = format!("{}-password", kind.to_lowercase());
        w.put_secret(&secret, json!({"password": PASSWORD})).await;
        let mut auth = json!({});
        auth[kind] = json!({"path": mount, "username": "esr", "secretRef": {"name": secret, "key": "password"}});
        w.create_store(&kind.to_lowercase(), json!({"path": "secret", "auth": auth})).await;
    }
    w.put_secret("wrong-password", json!({"password": "not-the-password"})).await;
    let wrong = json!({"userPass": {"path": format!("userpass-{}", w.ns), "username": "esr",
        "secretRef": {"name": "wrong-password", "key": "password"}}});
    w.create_store("userpass-wrong", json!({"path": "secret", "auth": wrong})).await;

    // jwt: Vault verifies ServiceAccount tokens with the cluster's signing key and issuer; the role binds the
    // audience the store asks TokenRequest for, and the ServiceAccount as subject.
    let sas: Api<ServiceAccount> = Api::namespaced(w.admin.clone(), &w.ns);
    let sa: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": "vault-jwt"}})).unwrap();
    sas.create(&PostParams::default(), &sa).await.expect("ServiceAccount");
    let jwt = format!("jwt-{}", w.ns);
    w.vault("POST", &format!("sys/auth/{jwt}"), json!({"type": "jwt"}));
    let signing_key = std::fs::read_to_string(&w.cluster.pki.sa_pub).expect("ServiceAccount signing key");
    w.vault(
        "POST",
        &format!("auth/{jwt}/config"),
        json!({"jwt_validation_pubkeys": [signing_key], "bound_issuer": w.cluster.issuer}),
    );
    w.vault(
        "POST",
        &format!("auth/{jwt}/role/esr"),
        json!({
            "role_type": "jwt",
            "bound_audiences": ["vault-esr"],
            "user_claim": "sub",
            "bound_subject": format!("system:serviceaccount:{}:vault-jwt", w.ns),
            "token_policies": ["esr-read"],
            "token_ttl": "1h",
        }),
    );
    let jwt_auth = |audience: &str| {
        json!({"jwt": {"path": jwt, "role": "esr", "kubernetesServiceAccountToken": {
            "serviceAccountRef": {"name": "vault-jwt"}, "audiences": [audience], "expirationSeconds": 600}}})
    };
    w.create_store("jwt", json!({"path": "secret", "auth": jwt_auth("vault-esr")})).await;
    w.create_store("jwt-wrong-audience", json!({"path": "secret", "auth": jwt_auth("someone-else")})).await;

    for store in ["userpass", "ldap", "jwt"] {
        wait_store(&w.stores(), store, "Valid").await;
        w.assert_reads_through(store, &format!("via-{store}")).await;
    }
    w.wait_store_refused("userpass-wrong", "authentication failed").await;
    w.wait_store_refused("jwt-wrong-audience", "authentication failed").await;
    w.assert_nothing_leaked().await;
    w.stop().await;
}

#[tokio::test]
async fn tls_servers_are_trusted_by_ca_bundle_or_provider_and_cert_auth_logs_in_with_a_client_certificate() {
    use base64::Engine;
    let w = World::start("vault-tls").await;
    w.put_v2("db", json!({"password": PASSWORD}));
    let tls_url = w.vault.tls_url.clone();
    let ca_bundle = base64::engine::general_purpose::STANDARD.encode(&w.vault.tls_ca_pem);
    w.put_secret("vault-token", json!({"token": w.vault.root_token})).await;
    let token_auth = json!({"tokenSecretRef": {"name": "vault-token", "key": "token"}});

    // A client certificate issued by Vault's own PKI engine, whose CA the cert auth method trusts.
    let pki = format!("pki-{}", w.ns);
    w.vault("POST", &format!("sys/mounts/{pki}"), json!({"type": "pki", "config": {"max_lease_ttl": "24h"}}));
    let client_ca =
        w.vault("POST", &format!("{pki}/root/generate/internal"), json!({"common_name": "esr clients", "ttl": "24h"}))
            ["data"]["certificate"]
            .as_str()
            .unwrap()
            .to_string();
    w.vault(
        "POST",
        &format!("{pki}/roles/client"),
        json!({"allow_any_name": true, "client_flag": true, "server_flag": false, "key_type": "ec", "key_bits": 256}),
    );
    let issued = w.vault("POST", &format!("{pki}/issue/client"), json!({"common_name": "esr-client", "ttl": "1h"}));
    let (cert, key) =
        (issued["data"]["certificate"].as_str().unwrap(), issued["data"]["private_key"].as_str().unwrap());
    w.put_secret("client-cert", json!({"tls.crt": cert, "tls.key": key})).await;
    let cert_mount = format!("cert-{}", w.ns);
    w.vault("POST", &format!("sys/auth/{cert_mount}"), json!({"type": "cert"}));
    w.vault(
        "POST",
        &format!("auth/{cert_mount}/certs/esr"),
        json!({"certificate": client_ca, "allowed_common_names": ["esr-client"], "token_policies": ["esr-read"]}),
    );

    let configmaps: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(w.admin.clone(), &w.ns);
    let ca_map =
        serde_json::from_value(json!({"metadata": {"name": "vault-ca"}, "data": {"ca.crt": w.vault.tls_ca_pem}}))
            .unwrap();
    configmaps.create(&PostParams::default(), &ca_map).await.expect("ConfigMap");
    w.create_store(
        "ca-bundle",
        json!({"server": tls_url, "caBundle": ca_bundle, "path": "secret", "auth": token_auth}),
    )
    .await;
    w.create_store(
        "ca-provider",
        json!({"server": tls_url, "caProvider": {"type": "ConfigMap", "name": "vault-ca", "key": "ca.crt"},
            "path": "secret", "auth": token_auth}),
    )
    .await;
    w.create_store("untrusted", json!({"server": tls_url, "path": "secret", "auth": token_auth})).await;
    let cert_auth = json!({"cert": {"path": cert_mount, "vaultRole": "esr",
        "clientCert": {"name": "client-cert", "key": "tls.crt"}, "secretRef": {"name": "client-cert", "key": "tls.key"}}});
    w.create_store("cert", json!({"server": tls_url, "caBundle": ca_bundle, "path": "secret", "auth": cert_auth}))
        .await;

    for store in ["ca-bundle", "ca-provider", "cert"] {
        wait_store(&w.stores(), store, "Valid").await;
        w.assert_reads_through(store, &format!("via-{store}")).await;
    }
    w.wait_store_refused("untrusted", "certificate").await;
    w.assert_nothing_leaked().await;
    w.stop().await;
}

#[tokio::test]
async fn a_cluster_store_with_referent_auth_logs_in_with_each_namespace_s_own_secret() {
    let w = World::start("vault-referent").await;
    w.put_v2("db", json!({"password": PASSWORD}));
    let mount = format!("userpass-{}", w.ns);
    w.vault("POST", &format!("sys/auth/{mount}"), json!({"type": "userpass"}));
    w.vault(
        "POST",
        &format!("auth/{mount}/users/esr"),
        json!({"password": PASSWORD, "token_policies": ["esr-read"], "token_ttl": "1h"}),
    );
    // The store names no namespace for its Secret: each ExternalSecret's namespace provides it.
    let name = format!("vault-{}", w.ns);
    let store: external_secrets_api::ClusterSecretStore = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore",
        "metadata": {"name": name},
        "spec": {"controller": w.op.class, "provider": {"vault": {"server": w.vault.url, "path": "secret",
            "auth": {"userPass": {"path": mount, "username": "esr", "secretRef": {"name": "vault-login", "key": "password"}}}}}}
    }))
    .unwrap();
    let stores: Api<external_secrets_api::ClusterSecretStore> = Api::all(w.admin.clone());
    stores.create(&PostParams::default(), &store).await.expect("ClusterSecretStore");
    let unknown = eventually(Duration::from_secs(30), || async {
        stores
            .get(&name)
            .await
            .ok()
            .and_then(|s| s.status)
            .and_then(|s| s.condition("Ready").cloned())
            .is_some_and(|c| c.reason.as_deref() == Some("ValidationUnknown"))
    })
    .await;
    assert!(unknown, "a referent store cannot be validated on its own");

    let key = format!("{}/db", w.ns);
    let es = |secret_key: &str| {
        json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": format!("via-{secret_key}")},
            "spec": {"refreshInterval": "1h", "secretStoreRef": {"name": name, "kind": "ClusterSecretStore"},
                "target": {"name": format!("via-{secret_key}")},
                "data": [{"secretKey": "password", "remoteRef": {"key": key, "property": "password"}}]}
        })
    };
    // Without the Secret in this namespace, the ExternalSecret says so; with it, it syncs.
    let missing: ExternalSecret = serde_json::from_value(es("missing")).unwrap();
    w.external_secrets().create(&PostParams::default(), &missing).await.expect("ExternalSecret");
    wait_ready(&w.external_secrets(), "via-missing", "SecretSyncedError").await;
    w.put_secret("vault-login", json!({"password": PASSWORD})).await;
    let present: ExternalSecret = serde_json::from_value(es("present")).unwrap();
    w.external_secrets().create(&PostParams::default(), &present).await.expect("ExternalSecret");
    wait_ready(&w.external_secrets(), "via-present", "SecretSynced").await;
    assert_eq!(w.target("via-present").await.get("password").map(String::as_str), Some(PASSWORD));
    stores.delete(&name, &Default::default()).await.expect("delete ClusterSecretStore");
    w.assert_nothing_leaked().await;
    w.stop().await;
}

/// An ExternalSecret whose data comes from the generator `kind`/`name`, refreshed every `interval`.
fn generated_es(name: &str, kind: &str, generator: &str, interval: &str) -> ExternalSecret {
    serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": name},
        "spec": {
            "refreshInterval": interval,
            "target": {"name": name},
            "dataFrom": [{"sourceRef": {"generatorRef": {
                "apiVersion": "generators.external-secrets.io/v1alpha1", "kind": kind, "name": generator}}}],
        }
    }))
    .expect("ExternalSecret")
}

#[tokio::test]
async fn vault_dynamic_secrets_issue_certificates_and_tokens_on_every_refresh() {
    let w = World::start_with_vault_generator("vault-gen").await;
    w.put_v2("db", json!({"password": PASSWORD}));
    let pki = format!("pki-{}", w.ns);
    w.vault("POST", &format!("sys/mounts/{pki}"), json!({"type": "pki", "config": {"max_lease_ttl": "24h"}}));
    w.vault("POST", &format!("{pki}/root/generate/internal"), json!({"common_name": "esr test CA", "ttl": "24h"}));
    w.vault("POST", &format!("{pki}/roles/web"), json!({"allowed_domains": ["example.com"], "allow_subdomains": true}));
    // A login that may issue certificates, create child tokens and read the KV secret — nothing else.
    let policy = format!(
        "path \"{pki}/issue/web\" {{ capabilities = [\"update\"] }}\n\
         path \"auth/token/create\" {{ capabilities = [\"update\"] }}\n\
         path \"secret/data/{}/*\" {{ capabilities = [\"read\"] }}\n",
        w.ns
    );
    w.vault("PUT", &format!("sys/policies/acl/gen-{}", w.ns), json!({"policy": policy}));
    let userpass = format!("userpass-{}", w.ns);
    w.vault("POST", &format!("sys/auth/{userpass}"), json!({"type": "userpass"}));
    w.vault(
        "POST",
        &format!("auth/{userpass}/users/gen"),
        json!({"password": PASSWORD, "token_policies": [format!("gen-{}", w.ns)], "token_ttl": "1h"}),
    );
    w.put_secret("vault-login", json!({"password": PASSWORD})).await;
    let provider = json!({"server": w.vault.url, "auth": {"userPass": {
        "path": userpass, "username": "gen", "secretRef": {"name": "vault-login", "key": "password"}}}});

    let create = |kind: &str, name: &str, spec: Value| {
        let admin = w.admin.clone();
        let ns = w.ns.clone();
        let (kind, name) = (kind.to_string(), name.to_string());
        async move {
            let object: kube::api::DynamicObject = serde_json::from_value(json!({
                "apiVersion": "generators.external-secrets.io/v1alpha1", "kind": kind,
                "metadata": {"name": name}, "spec": spec,
            }))
            .unwrap();
            let plural = format!("{}s", kind.to_lowercase());
            let resource = kube::api::ApiResource {
                group: "generators.external-secrets.io".into(),
                version: "v1alpha1".into(),
                api_version: "generators.external-secrets.io/v1alpha1".into(),
                kind: kind.clone(),
                plural,
            };
            let api: Api<kube::api::DynamicObject> = if kind == "ClusterGenerator" {
                Api::all_with(admin, &resource)
            } else {
                Api::namespaced_with(admin, &ns, &resource)
            };
            api.create(&PostParams::default(), &object).await.expect("create generator");
        }
    };
    create(
        "VaultDynamicSecret",
        "cert",
        json!({"path": format!("/{pki}/issue/web"), "method": "POST", "resultType": "Data",
            "parameters": {"common_name": "app.example.com", "ttl": "1h"}, "provider": provider}),
    )
    .await;
    let cluster_generator = format!("token-{}", w.ns);
    create(
        "ClusterGenerator",
        &cluster_generator,
        json!({"kind": "VaultDynamicSecret", "generator": {"vaultDynamicSecretSpec": {
            "path": "auth/token/create", "method": "POST", "resultType": "Auth",
            "parameters": {"policies": ["default"], "ttl": "10m"}, "provider": provider}}}),
    )
    .await;
    create(
        "VaultDynamicSecret",
        "raw",
        json!({"path": format!("secret/data/{}/db", w.ns), "resultType": "Raw", "provider": provider}),
    )
    .await;
    create(
        "VaultDynamicSecret",
        "denied",
        json!({"path": format!("{pki}/root/generate/internal"), "method": "POST",
            "parameters": {"common_name": "evil"}, "provider": provider}),
    )
    .await;

    for (name, kind, generator, interval) in [
        ("cert", "VaultDynamicSecret", "cert", "2s"),
        ("token", "ClusterGenerator", cluster_generator.as_str(), "1h"),
        ("raw", "VaultDynamicSecret", "raw", "1h"),
        ("denied", "VaultDynamicSecret", "denied", "1h"),
    ] {
        w.external_secrets()
            .create(&PostParams::default(), &generated_es(name, kind, generator, interval))
            .await
            .unwrap();
    }
    wait_ready(&w.external_secrets(), "cert", "SecretSynced").await;
    wait_ready(&w.external_secrets(), "token", "SecretSynced").await;
    wait_ready(&w.external_secrets(), "raw", "SecretSynced").await;

    // Data: the issued certificate, its key and serial; Vault knows the serial.
    let cert = w.target("cert").await;
    assert!(cert["certificate"].starts_with("-----BEGIN CERTIFICATE-----"), "a PEM certificate");
    assert!(cert["private_key"].contains("PRIVATE KEY"), "its key");
    let serial = cert["serial_number"].clone();
    let (status, _) = w.vault.call("GET", &format!("{pki}/cert/{serial}"), None).unwrap();
    assert_eq!(status, 200, "Vault issued the certificate");
    // A new certificate on every refresh.
    let renewed = eventually(Duration::from_secs(30), || async {
        w.target("cert").await.get("serial_number").is_some_and(|s| *s != serial)
    })
    .await;
    assert!(renewed, "no new certificate after a refresh");

    // Auth (through a ClusterGenerator): a token Vault created, with the policy asked for.
    let token = w.target("token").await;
    let accessor = token["accessor"].clone();
    let looked_up = w.vault.must("POST", "auth/token/lookup-accessor", Some(&json!({"accessor": accessor}))).unwrap();
    assert_eq!(looked_up["data"]["policies"], json!(["default"]));
    assert!(token["client_token"].starts_with("hvs."), "the token itself");

    // Raw: the whole answer, objects as JSON.
    let raw = w.target("raw").await;
    let data: Value = serde_json::from_str(&raw["data"]).unwrap();
    assert_eq!(data["data"]["password"], PASSWORD);
    assert!(raw.contains_key("request_id") && raw.contains_key("lease_duration"));

    // A call the policy refuses: a condition, no Secret.
    let (status, _, message) = wait_ready(&w.external_secrets(), "denied", "SecretSyncedError").await;
    assert_eq!(status, "False");
    assert!(message.contains("permission denied"), "{message}");
    assert!(w.secrets().get_opt("denied").await.unwrap().is_none());
    // Generated values never leave the Secret.
    let leaks = [cert["private_key"].as_str(), token["client_token"].as_str()];
    let texts = [
        logs(),
        events_text(&w.admin, &w.ns).await,
        serde_json::to_string(&w.external_secrets().list(&Default::default()).await.unwrap().items).unwrap(),
    ];
    for text in &texts {
        for leak in leaks {
            assert!(!text.contains(leak), "a generated value leaked");
        }
    }
    w.assert_nothing_leaked().await;
    w.stop().await;
}
