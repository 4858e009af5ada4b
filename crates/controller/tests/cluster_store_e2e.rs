//! ClusterSecretStores against the real local control plane: one store used from several namespaces,
//! `spec.conditions` (`namespaces`, `namespaceRegexes`, `namespaceSelector`) deciding which namespaces may use
//! it, with ESO's denial message, and where a store's credential references may point (a SecretStore: its own
//! namespace only; a ClusterSecretStore: the namespace it names).
//!
//! Each test runs its own operator watching *all* namespaces, as its own ServiceAccount, isolated from the
//! other tests' operators by a controller class of its own: a store of another class resolves to "not ours"
//! and the ExternalSecrets using it are left alone.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use common::{LaunchedOperator, launch_operator, operator_client, test_config, wait_ready};
use external_secrets_api::{ClusterSecretStore, ExternalSecret, SecretStore};
use external_secrets_testsupport::{Cluster, cluster};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

const PASSWORD: &str = "cluster-pa55-do-not-log";

/// An operator for all namespaces with a class of its own, and the name of its ClusterSecretStore.
struct Setup {
    op: LaunchedOperator,
    class: String,
    store: String,
    admin: kube::Client,
}

async fn start(cluster: &Cluster, prefix: &str) -> Setup {
    let admin = cluster.admin_client().await.expect("admin");
    // The operator's own namespace (its ServiceAccount lives there); it watches every namespace.
    let home = cluster.namespace(&format!("{prefix}-op")).await.expect("operator ns");
    let client = operator_client(cluster, &home).await;
    let class = format!("class-{home}");
    let op = launch_operator(cluster, client, test_config(None, &class), None, true).await;
    Setup { op, class, store: format!("css-{home}"), admin }
}

impl Setup {
    /// Creates the ClusterSecretStore (fake provider) with `conditions` and waits until it is Ready.
    async fn create_store(&self, conditions: serde_json::Value) {
        let store: ClusterSecretStore = serde_json::from_value(json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore",
            "metadata": {"name": self.store},
            "spec": {
                "controller": self.class,
                "conditions": conditions,
                "provider": {"fake": {"data": [{"key": "shared/db", "value": PASSWORD}]}}
            }
        }))
        .expect("ClusterSecretStore");
        let stores: Api<ClusterSecretStore> = Api::all(self.admin.clone());
        stores.create(&PostParams::default(), &store).await.expect("create ClusterSecretStore");
        let ready = common::eventually(std::time::Duration::from_secs(30), || async {
            stores
                .get(&self.store)
                .await
                .ok()
                .and_then(|s| s.status)
                .and_then(|s| s.condition("Ready").cloned())
                .is_some_and(|c| c.status == "True" && c.reason.as_deref() == Some("Valid"))
        })
        .await;
        assert!(ready, "ClusterSecretStore {} should become Ready/Valid", self.store);
    }

    /// Creates an ExternalSecret `app` in `namespace` that reads from the ClusterSecretStore.
    async fn create_external_secret(&self, namespace: &str) -> Api<ExternalSecret> {
        let es: ExternalSecret = serde_json::from_value(json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": "app", "namespace": namespace},
            "spec": {
                "refreshInterval": "1h",
                "secretStoreRef": {"name": self.store, "kind": "ClusterSecretStore"},
                "target": {"name": "app-secret"},
                "data": [{"secretKey": "password", "remoteRef": {"key": "shared/db"}}]
            }
        }))
        .expect("ExternalSecret");
        let ess: Api<ExternalSecret> = Api::namespaced(self.admin.clone(), namespace);
        ess.create(&PostParams::default(), &es).await.expect("create ExternalSecret");
        ess
    }

    /// Waits until `app` in `namespace` synced, and checks the Secret it wrote.
    async fn assert_synced(&self, namespace: &str, ess: &Api<ExternalSecret>) {
        let (status, _, message) = wait_ready(ess, "app", "SecretSynced").await;
        assert_eq!((status.as_str(), message.as_str()), ("True", "secret synced"), "in {namespace}");
        let secret = Api::<Secret>::namespaced(self.admin.clone(), namespace).get("app-secret").await.expect("Secret");
        assert_eq!(secret.data.expect("data")["password"].0, PASSWORD.as_bytes());
    }

    /// Waits until `app` in `namespace` is refused with ESO's message, and checks that no Secret was written.
    async fn assert_denied(&self, namespace: &str, ess: &Api<ExternalSecret>) {
        let expected = format!(
            "using cluster store \"{}\" is not allowed from namespace \"{namespace}\": denied by spec.condition",
            self.store
        );
        wait_error_message(ess, "app", &expected).await;
        let secret = Api::<Secret>::namespaced(self.admin.clone(), namespace).get_opt("app-secret").await.expect("get");
        assert!(secret.is_none(), "no Secret in a denied namespace");
    }
}

/// Waits (30 s at most) until the ExternalSecret `name` is `Ready=False`, `SecretSyncedError`, with `message`.
/// An earlier error may differ: the ExternalSecret controller's store cache can lag behind the store's status
/// under load, and the first sync then says the store was not found (it is retried).
async fn wait_error_message(ess: &Api<ExternalSecret>, name: &str, message: &str) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut last = None;
    while tokio::time::Instant::now() < deadline {
        last = common::ready_reason(ess, name).await;
        if last.as_ref().is_some_and(|(status, reason, text)| {
            (status.as_str(), reason.as_str(), text.as_str()) == ("False", "SecretSyncedError", message)
        }) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("{name}: expected SecretSyncedError {message:?}, last Ready condition {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_store_serves_external_secrets_in_two_namespaces() {
    let cluster = cluster().await;
    let setup = start(cluster, "css-two").await;
    setup.create_store(json!([])).await;
    let first = cluster.namespace("css-two-a").await.expect("ns");
    let second = cluster.namespace("css-two-b").await.expect("ns");
    let first_es = setup.create_external_secret(&first).await;
    let second_es = setup.create_external_secret(&second).await;
    setup.assert_synced(&first, &first_es).await;
    setup.assert_synced(&second, &second_es).await;
    // The store's status column as kubectl shows it.
    let store = Api::<ClusterSecretStore>::all(setup.admin.clone()).get(&setup.store).await.expect("store");
    assert_eq!(store.status.expect("status").capabilities.as_deref(), Some("ReadWrite"));
    setup.op.operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_condition_allows_listed_namespaces_and_denies_the_others() {
    let cluster = cluster().await;
    let setup = start(cluster, "css-list").await;
    let allowed = cluster.namespace("css-list-allowed").await.expect("ns");
    let denied = cluster.namespace("css-list-denied").await.expect("ns");
    setup.create_store(json!([{"namespaces": [allowed]}])).await;
    let allowed_es = setup.create_external_secret(&allowed).await;
    let denied_es = setup.create_external_secret(&denied).await;
    setup.assert_synced(&allowed, &allowed_es).await;
    setup.assert_denied(&denied, &denied_es).await;
    setup.op.operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_regexes_condition_matches_unanchored_patterns() {
    let cluster = cluster().await;
    let setup = start(cluster, "css-regex").await;
    let allowed = cluster.namespace("css-regex-team-pay").await.expect("ns");
    let denied = cluster.namespace("css-regex-other").await.expect("ns");
    // Unanchored, as ESO's regexp.MatchString: "team-pay" matches inside the generated namespace name.
    setup.create_store(json!([{"namespaceRegexes": ["team-pa[y]", "^no-such-prefix-"]}])).await;
    let allowed_es = setup.create_external_secret(&allowed).await;
    let denied_es = setup.create_external_secret(&denied).await;
    setup.assert_synced(&allowed, &allowed_es).await;
    setup.assert_denied(&denied, &denied_es).await;
    setup.op.operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_selector_condition_follows_namespace_labels() {
    let cluster = cluster().await;
    let setup = start(cluster, "css-label").await;
    let allowed = cluster.namespace("css-label-a").await.expect("ns");
    let denied = cluster.namespace("css-label-b").await.expect("ns");
    let team = setup.class.clone();
    let namespaces: Api<Namespace> = Api::all(setup.admin.clone());
    for (namespace, value) in [(&allowed, team.as_str()), (&denied, "someone-else")] {
        let labels = BTreeMap::from([("esr-test/team", value)]);
        let patch = json!({"metadata": {"labels": labels}});
        namespaces.patch(namespace, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("label ns");
    }
    // Two conditions: a label selector, and a list naming neither namespace (any condition may allow).
    setup
        .create_store(json!([
            {"namespaceSelector": {"matchLabels": {"esr-test/team": team}}},
            {"namespaces": ["kube-system"]}
        ]))
        .await;
    let allowed_es = setup.create_external_secret(&allowed).await;
    let denied_es = setup.create_external_secret(&denied).await;
    setup.assert_synced(&allowed, &allowed_es).await;
    setup.assert_denied(&denied, &denied_es).await;
    setup.op.operator.stop().await;
}

/// ESO's `--enable-secret-store-reconciler=false` and `--enable-cluster-store-reconciler=false` (a namespaced
/// install beside a cluster-wide one): no store status is written, ExternalSecrets of SecretStores still sync, and
/// those of ClusterSecretStores are left alone — no finalizer, no status — for the controller that serves them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_reconciler_flags_leave_store_status_and_cluster_store_users_to_others() {
    let cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("store-flags").await.expect("ns");
    let client = operator_client(cluster, &ns).await;
    let class = format!("class-{ns}");
    let mut config = test_config(Some(&ns), &class);
    config.enable_secret_store_reconciler = false;
    config.enable_cluster_store_reconciler = false;
    // As in ESO, the flood gate would refuse a store nobody validated (no Ready condition): another controller
    // validates it in such a setup. Off here, so that the store is used without a status.
    config.enable_flood_gate = false;
    let op = launch_operator(cluster, client, config, None, true).await;
    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &ns);
    let es = |name: &str, kind: &str, store: &str| -> ExternalSecret {
        serde_json::from_value(json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"refreshInterval": "1h", "secretStoreRef": {"name": store, "kind": kind},
                     "target": {"name": format!("{name}-secret")},
                     "data": [{"secretKey": "password", "remoteRef": {"key": "shared/db"}}]}
        }))
        .expect("ExternalSecret")
    };
    // The ClusterSecretStore exists and names a class no operator of this test binary has: the cluster-wide
    // operators of the other tests leave its users alone too (a missing store would be theirs to report on).
    let elsewhere = format!("someone-elses-{ns}");
    let css: ClusterSecretStore = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore",
        "metadata": {"name": elsewhere},
        "spec": {"controller": format!("nobody-{ns}"), "provider": {"fake": {"data": []}}}
    }))
    .expect("ClusterSecretStore");
    Api::<ClusterSecretStore>::all(admin.clone()).create(&PostParams::default(), &css).await.expect("css");
    ess.create(&PostParams::default(), &es("css-user", "ClusterSecretStore", &elsewhere)).await.expect("es");
    let stores: Api<SecretStore> = Api::namespaced(admin.clone(), &ns);
    let store: SecretStore = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
        "metadata": {"name": "fake", "namespace": ns},
        "spec": {"controller": class, "provider": {"fake": {"data": [{"key": "shared/db", "value": PASSWORD}]}}}
    }))
    .expect("SecretStore");
    stores.create(&PostParams::default(), &store).await.expect("store");
    ess.create(&PostParams::default(), &es("ss-user", "SecretStore", "fake")).await.expect("es");
    wait_ready(&ess, "ss-user", "SecretSynced").await;
    let secret = Api::<Secret>::namespaced(admin.clone(), &ns).get("ss-user-secret").await.expect("Secret");
    assert_eq!(secret.data.expect("data")["password"].0, PASSWORD.as_bytes());
    assert!(stores.get("fake").await.expect("store").status.is_none(), "no SecretStore status is written");
    // `css-user` was queued before `ss-user`; without the skip it would carry a finalizer and an error status by
    // now. It stays untouched.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
    while tokio::time::Instant::now() < deadline {
        let untouched = ess.get("css-user").await.expect("es");
        assert!(untouched.status.is_none(), "no status on an ExternalSecret of a ClusterSecretStore");
        assert!(untouched.metadata.finalizers.unwrap_or_default().is_empty(), "no finalizer either");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    op.operator.stop().await;
}

/// A store's credential references are read only where ESO's rules let the store read: a SecretStore may not
/// take a token from another namespace (a clear `InvalidProviderConfig`; its ExternalSecrets write nothing),
/// while a ClusterSecretStore may name the namespace it reads from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_credentials_are_read_only_in_the_namespaces_eso_allows() {
    use base64::Engine;
    use external_secrets_api::SecretStore;
    use k8s_openapi::api::core::v1::ServiceAccount;
    use k8s_openapi::api::rbac::v1::{Role, RoleBinding};

    let cluster = cluster().await;
    let setup = start(cluster, "creds").await;
    let admin = setup.admin.clone();
    let home = cluster.namespace("creds-home").await.expect("ns");
    let other = cluster.namespace("creds-other").await.expect("ns");
    let remote = cluster.namespace("creds-remote").await.expect("ns");

    // A Secret to copy in `remote`; a ServiceAccount of `other` that may read it, whose token is stored in `other`.
    let db: Secret = serde_json::from_value(json!({"metadata": {"name": "db"}, "stringData": {"password": PASSWORD}}))
        .expect("Secret");
    Api::<Secret>::namespaced(admin.clone(), &remote).create(&PostParams::default(), &db).await.expect("db");
    let reader: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": "reader"}})).expect("sa");
    Api::<ServiceAccount>::namespaced(admin.clone(), &other).create(&PostParams::default(), &reader).await.expect("sa");
    let role: Role = serde_json::from_value(json!({
        "metadata": {"name": "read-secrets"},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]},
                  {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectrulesreviews"], "verbs": ["create"]}]
    }))
    .expect("Role");
    Api::<Role>::namespaced(admin.clone(), &remote).create(&PostParams::default(), &role).await.expect("Role");
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "read-secrets"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-secrets"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": other}]
    }))
    .expect("RoleBinding");
    Api::<RoleBinding>::namespaced(admin.clone(), &remote).create(&PostParams::default(), &binding).await.expect("rb");
    let token = cluster.service_account_token(&other, "reader", &[], 3600).await.expect("token");
    let token_secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": "reader-token"}, "stringData": {"token": token}}))
            .expect("Secret");
    Api::<Secret>::namespaced(admin.clone(), &other).create(&PostParams::default(), &token_secret).await.expect("tok");

    let ca = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&cluster.pki.ca_cert).expect("CA"));
    let provider = json!({"kubernetes": {
        "remoteNamespace": remote,
        "server": {"url": cluster.server, "caBundle": ca},
        "auth": {"token": {"bearerToken": {"name": "reader-token", "key": "token", "namespace": other}}}
    }});

    // A SecretStore in `home` naming the token Secret of `other`: refused, with the reason.
    let store: SecretStore = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
        "metadata": {"name": "k8s", "namespace": home},
        "spec": {"controller": setup.class, "provider": provider}
    }))
    .expect("SecretStore");
    let stores: Api<SecretStore> = Api::namespaced(admin.clone(), &home);
    stores.create(&PostParams::default(), &store).await.expect("create SecretStore");
    let (status, _, message) = common::wait_store(&stores, "k8s", "InvalidProviderConfig").await;
    assert_eq!(status, "False");
    let refusal = format!(
        "SecretStore \"k8s\" in namespace \"{home}\" may only read references in its own namespace, but the \
         reference to Secret \"reader-token\" names namespace \"{other}\""
    );
    assert!(message.contains(&refusal), "{message}");
    let copy = |store_kind: &str, store_name: &str| -> ExternalSecret {
        serde_json::from_value(json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": format!("copy-{}", store_kind.to_lowercase()), "namespace": home},
            "spec": {
                "refreshInterval": "1h",
                "secretStoreRef": {"name": store_name, "kind": store_kind},
                "target": {"name": format!("copied-{}", store_kind.to_lowercase())},
                "data": [{"secretKey": "password", "remoteRef": {"key": "db", "property": "password"}}]
            }
        }))
        .expect("ExternalSecret")
    };
    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &home);
    ess.create(&PostParams::default(), &copy("SecretStore", "k8s")).await.expect("ExternalSecret");
    // As in ESO, an ExternalSecret of a store that is not Ready says so; the store's condition says why.
    wait_error_message(&ess, "copy-secretstore", "SecretStore \"k8s\" is not ready").await;
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &home);
    assert!(secrets.get_opt("copied-secretstore").await.expect("get").is_none(), "nothing written");

    // The same reference in a ClusterSecretStore: allowed, the token of `other` reads `remote` for `home`.
    let cluster_store: ClusterSecretStore = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore",
        "metadata": {"name": setup.store},
        "spec": {"controller": setup.class, "provider": provider}
    }))
    .expect("ClusterSecretStore");
    Api::<ClusterSecretStore>::all(admin.clone())
        .create(&PostParams::default(), &cluster_store)
        .await
        .expect("create ClusterSecretStore");
    ess.create(&PostParams::default(), &copy("ClusterSecretStore", &setup.store)).await.expect("ExternalSecret");
    common::wait_ready(&ess, "copy-clustersecretstore", "SecretSynced").await;
    let copied = secrets.get("copied-clustersecretstore").await.expect("copied Secret");
    assert_eq!(copied.data.expect("data")["password"].0, PASSWORD.as_bytes());
    setup.op.operator.stop().await;
}
