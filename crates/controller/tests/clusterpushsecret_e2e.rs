//! ClusterPushSecret against the real local control plane: one PushSecret per namespace `namespaceSelectors`
//! selects (owned, with `pushSecretMetadata`), each pushing its own namespace's Secret to its own namespace's
//! store (fake provider, read back through the provider), namespaces labelled, unlabelled and created later (no
//! wait for `refreshTime`), a foreign PushSecret of the same name (reported, never touched), renaming, deletion
//! (the garbage collector removes the PushSecrets, whose `deletionPolicy: Delete` cleans up the provider), an
//! unusable selector (ESO's `Errored`), ESO's status and metrics, and the reconciler switched off.
//!
//! The operator runs as its own ServiceAccount with the shipped ClusterRole and watches every namespace. Every
//! operator reconciles every ClusterPushSecret of the cluster, so the tests of this binary take turns ([`TURN`])
//! and each deletes its ClusterPushSecret before it ends.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::{Operator, event_count, eventually, logs, start_operator_configured};
use external_secrets_api::v1alpha1::{ClusterPushSecret, ClusterPushSecretStatus, PushSecret};
use external_secrets_api::{SecretStore, SecretStoreSpec};
use external_secrets_controller::ControllerConfig;
use external_secrets_provider::{DynProvider, ProviderRegistry, RemoteKey, StoreContext, StoreScope};
use external_secrets_provider_fake::FakeProvider;
use external_secrets_testsupport::{Cluster, cluster};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);
/// The remote key every PushSecret of the tests writes (each namespace has its own store).
const REMOTE_KEY: &str = "pushed/db";

/// One test at a time: each runs an operator, and every operator reconciles every ClusterPushSecret.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// An operator for all namespaces with a class of its own and a fake provider the test reads too; namespaces
/// are selected by `cps-test=<tag>`.
struct Setup {
    op: Operator,
    admin: kube::Client,
    fake: Arc<FakeProvider>,
    tag: String,
}

async fn start(prefix: &str, configure: impl FnOnce(&mut ControllerConfig)) -> Setup {
    let cluster: &'static Cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin");
    let home = cluster.namespace(&format!("{prefix}-op")).await.expect("operator ns");
    let fake = Arc::new(FakeProvider::new());
    let registry = ProviderRegistry::new().with(fake.clone());
    let op = start_operator_configured(cluster, &home, registry, |c| {
        c.namespace = None;
        configure(c);
    })
    .await;
    Setup { op, admin, fake, tag: home }
}

/// The value the source Secret of `namespace` holds: unique per namespace, so a push of another namespace's
/// Secret would show.
fn value_of(namespace: &str) -> String {
    format!("cps-value-of-{namespace}")
}

impl Setup {
    /// A new namespace `<prefix>-<random>`, selected or not, with the fake SecretStore `fake` and the Secret
    /// `db-creds` holding [`value_of`] that namespace.
    async fn namespace(&self, prefix: &str, selected: bool) -> String {
        let mut labels = BTreeMap::new();
        if selected {
            labels.insert("cps-test".to_string(), self.tag.clone());
        }
        let ns = Namespace {
            metadata: ObjectMeta {
                generate_name: Some(format!("{prefix}-")),
                labels: Some(labels),
                ..Default::default()
            },
            ..Default::default()
        };
        let api: Api<Namespace> = Api::all(self.admin.clone());
        let name = api.create(&PostParams::default(), &ns).await.expect("namespace").metadata.name.expect("name");
        let store: SecretStore = serde_json::from_value(json!({
            "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
            "metadata": {"name": "fake", "namespace": name},
            "spec": {"controller": self.op.class, "provider": {"fake": {"data": []}}}
        }))
        .expect("SecretStore");
        Api::<SecretStore>::namespaced(self.admin.clone(), &name)
            .create(&PostParams::default(), &store)
            .await
            .expect("store");
        let secret = Secret {
            metadata: ObjectMeta { name: Some("db-creds".into()), ..Default::default() },
            data: Some([("password".to_string(), ByteString(value_of(&name).into_bytes()))].into()),
            ..Default::default()
        };
        Api::<Secret>::namespaced(self.admin.clone(), &name)
            .create(&PostParams::default(), &secret)
            .await
            .expect("source Secret");
        name
    }

    async fn select(&self, namespace: &str, selected: bool) {
        let api: Api<Namespace> = Api::all(self.admin.clone());
        let value = selected.then(|| self.tag.clone());
        let patch = json!({"metadata": {"labels": {"cps-test": value}}});
        api.patch(namespace, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("label namespace");
    }

    /// What the store `fake` of `namespace` answers for [`REMOTE_KEY`], as any client of it would.
    async fn pushed(&self, namespace: &str) -> Option<String> {
        let spec: SecretStoreSpec =
            serde_json::from_value(json!({"provider": {"fake": {"data": []}}})).expect("store spec");
        let ctx = StoreContext::new(self.admin.clone(), StoreScope::secret_store(namespace, "fake"), spec);
        let client = DynProvider::client(self.fake.as_ref(), &ctx).await.map_err(|e| e.to_string()).expect("client");
        let key = RemoteKey { key: REMOTE_KEY.to_string(), version: None, metadata_policy: Default::default() };
        client.get(&key).await.ok().map(|v| String::from_utf8_lossy(v.bytes.expose()).into_owned())
    }

    fn cps_api(&self) -> Api<ClusterPushSecret> {
        Api::all(self.admin.clone())
    }

    fn ps_api(&self, namespace: &str) -> Api<PushSecret> {
        Api::namespaced(self.admin.clone(), namespace)
    }

    /// The ClusterPushSecret `name` with `spec` merged over one that selects this test's namespaces and pushes
    /// `db-creds`' `password` to [`REMOTE_KEY`] of the namespace's SecretStore `fake`, deleting it when dropped.
    async fn create_cps(&self, name: &str, spec: Value) {
        let mut body = json!({
            "apiVersion": "external-secrets.io/v1alpha1", "kind": "ClusterPushSecret",
            "metadata": {"name": name},
            "spec": {
                "refreshTime": "1h",
                "namespaceSelectors": [{"matchLabels": {"cps-test": self.tag}}],
                "pushSecretSpec": {
                    "refreshInterval": "1h",
                    "deletionPolicy": "Delete",
                    "secretStoreRefs": [{"name": "fake", "kind": "SecretStore"}],
                    "selector": {"secret": {"name": "db-creds"}},
                    "data": [{"match": {"secretKey": "password", "remoteRef": {"remoteKey": REMOTE_KEY}}}]
                }
            }
        });
        for (k, v) in spec.as_object().expect("spec object") {
            body["spec"][k] = v.clone();
        }
        let cps: ClusterPushSecret = serde_json::from_value(body).expect("ClusterPushSecret");
        self.cps_api().create(&PostParams::default(), &cps).await.expect("create ClusterPushSecret");
    }

    /// Waits until the status of `name` satisfies `check`; panics with the last status.
    async fn wait_status(
        &self,
        name: &str,
        what: &str,
        check: impl Fn(&ClusterPushSecretStatus) -> bool,
    ) -> ClusterPushSecretStatus {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut last = None;
        while tokio::time::Instant::now() < deadline {
            last = self.cps_api().get(name).await.ok().and_then(|c| c.status);
            if last.as_ref().is_some_and(&check) {
                return last.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("ClusterPushSecret {name}: {what}; last status: {last:#?}");
    }

    async fn wait_pushed(&self, namespace: &str, expected: Option<&str>) {
        let done = eventually(WAIT, || async { self.pushed(namespace).await.as_deref() == expected }).await;
        assert!(done, "the store of {namespace} should hold {expected:?}, has {:?}", self.pushed(namespace).await);
    }

    async fn wait_gone(&self, namespace: &str, name: &str) {
        let api = self.ps_api(namespace);
        let gone = eventually(WAIT, || async { api.get_opt(name).await.expect("get").is_none() }).await;
        assert!(gone, "PushSecret {namespace}/{name} should be deleted");
    }

    async fn delete_cps(&self, name: &str) {
        let _ = self.cps_api().delete(name, &DeleteParams::default()).await;
        let api = self.cps_api();
        let gone = eventually(WAIT, || async { api.get_opt(name).await.expect("get").is_none() }).await;
        assert!(gone, "ClusterPushSecret {name} should be gone");
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn ready(status: &ClusterPushSecretStatus) -> Option<(&str, Option<&str>, Option<&str>)> {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| (c.status.as_str(), c.reason.as_deref(), c.message.as_deref()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fans_out_one_push_secret_per_selected_namespace_each_pushing_only_its_own_namespaces_secret() {
    let _turn = TURN.lock().await;
    let s = start("cps-fan", |_| {}).await;
    let a = s.namespace("cps-a", true).await;
    let b = s.namespace("cps-b", true).await;
    let outside = s.namespace("cps-out", false).await;
    s.create_cps(
        "fan",
        json!({"pushSecretName": "db-push", "pushSecretMetadata": {"labels": {"team": "x"}, "annotations": {"note": "y"}}}),
    )
    .await;

    let status = s
        .wait_status("fan", "both namespaces provisioned", |st| {
            st.provisioned_namespaces == sorted(vec![a.clone(), b.clone()]) && ready(st).is_some_and(|r| r.0 == "True")
        })
        .await;
    assert_eq!(status.push_secret_name.as_deref(), Some("db-push"));
    assert!(status.failed_namespaces.is_empty());
    assert_eq!(ready(&status), Some(("True", None, None)), "ESO's Ready: no reason, no message");

    for ns in [&a, &b] {
        let ps = s.ps_api(ns).get("db-push").await.expect("PushSecret");
        let owner = ps.owner_references().iter().find(|o| o.controller == Some(true)).expect("controller owner");
        assert_eq!(
            (owner.api_version.as_str(), owner.kind.as_str(), owner.name.as_str()),
            ("external-secrets.io/v1alpha1", "ClusterPushSecret", "fan")
        );
        assert_eq!(owner.block_owner_deletion, Some(true));
        assert_eq!(ps.labels().get("team").map(String::as_str), Some("x"));
        assert_eq!(ps.annotations().get("note").map(String::as_str), Some("y"));
        // Each PushSecret reads the Secret of its own namespace and writes it to its own namespace's store.
        s.wait_pushed(ns, Some(&value_of(ns))).await;
    }
    assert!(s.ps_api(&outside).get_opt("db-push").await.expect("get").is_none(), "not selected: no PushSecret");
    assert_eq!(s.pushed(&outside).await, None, "nothing of an unselected namespace is pushed");

    let text = s.op.context.metrics.encode();
    let series =
        "clusterpushsecret_status_condition{name=\"fan\",namespace=\"\",condition=\"Ready\",status=\"True\"} 1";
    assert!(text.contains(series), "{series} in\n{text}");
    assert!(text.contains("clusterpushsecret_reconcile_duration{name=\"fan\",namespace=\"\"}"), "{text}");
    assert!(text.contains("controller_runtime_reconcile_total{controller=\"clusterpushsecret\""), "{text}");

    // Labelled later: provisioned at once (refreshTime is 1h), and its own value pushed.
    s.select(&outside, true).await;
    s.wait_status("fan", "the labelled namespace provisioned", |st| st.provisioned_namespaces.contains(&outside)).await;
    s.wait_pushed(&outside, Some(&value_of(&outside))).await;

    // A namespace created later with the label.
    let late = s.namespace("cps-late", true).await;
    s.wait_status("fan", "the new namespace provisioned", |st| st.provisioned_namespaces.contains(&late)).await;
    s.wait_pushed(&late, Some(&value_of(&late))).await;

    // Unlabelled: its PushSecret goes, and with it (deletionPolicy Delete) what it pushed.
    s.select(&a, false).await;
    s.wait_status("fan", "the unlabelled namespace released", |st| !st.provisioned_namespaces.contains(&a)).await;
    s.wait_gone(&a, "db-push").await;
    s.wait_pushed(&a, None).await;
    assert_eq!(s.pushed(&b).await, Some(value_of(&b)), "the others keep theirs");

    // Someone edits an owned PushSecret's spec: put back.
    let patch = json!({"spec": {"refreshInterval": "5h"}});
    s.ps_api(&b).patch("db-push", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("edit");
    let api = s.ps_api(&b);
    let restored =
        eventually(WAIT, || async { api.get("db-push").await.is_ok_and(|ps| ps.spec.refresh_interval == "1h") }).await;
    assert!(restored, "the ClusterPushSecret's spec wins over an edit of its PushSecret");

    s.delete_cps("fan").await;
    for ns in [&b, &outside, &late] {
        s.wait_gone(ns, "db-push").await;
        s.wait_pushed(ns, None).await;
    }
    let text = s.op.context.metrics.encode();
    assert!(!text.contains("clusterpushsecret_status_condition{name=\"fan\""), "series of a deleted one go");
    for ns in [&a, &b, &outside, &late] {
        assert!(!logs().contains(&value_of(ns)), "a pushed value appeared in the logs");
    }
    s.op.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_push_secret_of_the_same_name_is_reported_and_never_touched() {
    let _turn = TURN.lock().await;
    let s = start("cps-foreign", |_| {}).await;
    let mine = s.namespace("cps-mine", true).await;
    let theirs = s.namespace("cps-theirs", true).await;
    let foreign: PushSecret = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret",
        "metadata": {"name": "shared", "labels": {"owner": "someone"}},
        "spec": {"refreshInterval": "2h", "secretStoreRefs": [{"name": "nowhere", "kind": "SecretStore"}],
                 "selector": {"secret": {"name": "db-creds"}}, "data": []}
    }))
    .expect("PushSecret");
    let created = s.ps_api(&theirs).create(&PostParams::default(), &foreign).await.expect("foreign PushSecret");
    s.create_cps("shared", json!({})).await;

    let status = s
        .wait_status("shared", "one provisioned, one failed", |st| {
            st.provisioned_namespaces == vec![mine.clone()] && !st.failed_namespaces.is_empty()
        })
        .await;
    assert_eq!(status.failed_namespaces.len(), 1);
    assert_eq!(status.failed_namespaces[0].namespace, theirs);
    assert_eq!(status.failed_namespaces[0].reason.as_deref(), Some("push secret already exists in namespace"));
    assert_eq!(ready(&status), Some(("False", None, Some("one or more namespaces failed"))));
    s.wait_pushed(&mine, Some(&value_of(&mine))).await;

    let unchanged = s.ps_api(&theirs).get("shared").await.expect("still there");
    assert_eq!(unchanged.spec, created.spec, "the foreign PushSecret's spec is not touched");
    assert_eq!(unchanged.metadata.owner_references, None, "nor its owners");
    assert_eq!(unchanged.labels().get("owner").map(String::as_str), Some("someone"));

    // No longer selected, and the ClusterPushSecret deleted: the foreign one stays.
    s.select(&theirs, false).await;
    s.wait_status("shared", "the foreign namespace no longer listed", |st| st.failed_namespaces.is_empty()).await;
    s.delete_cps("shared").await;
    s.wait_gone(&mine, "shared").await;
    let still = s.ps_api(&theirs).get("shared").await.expect("the foreign PushSecret survives");
    assert_eq!(still.metadata.uid, created.metadata.uid);
    s.op.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renaming_moves_the_push_secrets_and_a_bad_selector_is_errored_with_an_event() {
    let _turn = TURN.lock().await;
    let s = start("cps-rename", |_| {}).await;
    let ns = s.namespace("cps-r", true).await;
    s.create_cps("rename", json!({"pushSecretName": "first"})).await;
    s.wait_status("rename", "provisioned", |st| st.provisioned_namespaces == vec![ns.clone()]).await;
    assert!(s.ps_api(&ns).get_opt("first").await.expect("get").is_some());

    let patch = json!({"spec": {"pushSecretName": "second"}});
    s.cps_api().patch("rename", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("rename");
    s.wait_status("rename", "renamed", |st| st.push_secret_name.as_deref() == Some("second")).await;
    s.wait_gone(&ns, "first").await;
    let api = s.ps_api(&ns);
    assert!(eventually(WAIT, || async { api.get_opt("second").await.expect("get").is_some() }).await);
    s.wait_pushed(&ns, Some(&value_of(&ns))).await;

    // A selector Go refuses: ESO's Errored condition and a Warning event, and nothing deleted.
    let patch = json!({"spec": {"namespaceSelectors": [
        {"matchExpressions": [{"key": "cps-test", "operator": "Equals", "values": [s.tag]}]}
    ]}});
    s.cps_api().patch("rename", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("bad selector");
    let status = s.wait_status("rename", "errored", |st| ready(st).is_some_and(|r| r.1 == Some("Errored"))).await;
    assert_eq!(ready(&status), Some(("False", Some("Errored"), Some("failed to get target Namespaces"))));
    let events = eventually(WAIT, || async { event_count(&s.admin, "default", "Errored").await > 0 }).await;
    assert!(events, "a Warning Errored event for the ClusterPushSecret");
    assert!(s.ps_api(&ns).get_opt("second").await.expect("get").is_some(), "nothing deleted on a bad selector");

    s.delete_cps("rename").await;
    s.wait_gone(&ns, "second").await;
    s.op.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_reconciler_off_a_cluster_push_secret_is_left_alone() {
    let _turn = TURN.lock().await;
    let s = start("cps-off", |c| c.enable_cluster_push_secret_reconciler = false).await;
    let ns = s.namespace("cps-o", true).await;
    s.create_cps("off", json!({})).await;
    // The PushSecret controller runs: a PushSecret of the test pushes (a clock that shows time passed).
    let own: PushSecret = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret",
        "metadata": {"name": "clock"},
        "spec": {"refreshInterval": "1h", "secretStoreRefs": [{"name": "fake", "kind": "SecretStore"}],
                 "selector": {"secret": {"name": "db-creds"}},
                 "data": [{"match": {"secretKey": "password", "remoteRef": {"remoteKey": REMOTE_KEY}}}]}
    }))
    .expect("PushSecret");
    s.ps_api(&ns).create(&PostParams::default(), &own).await.expect("PushSecret");
    s.wait_pushed(&ns, Some(&value_of(&ns))).await;
    let cps = s.cps_api().get("off").await.expect("ClusterPushSecret");
    assert!(cps.status.is_none(), "no status from a disabled reconciler: {:?}", cps.status);
    assert!(s.ps_api(&ns).get_opt("off").await.expect("get").is_none(), "no PushSecret from it");
    assert!(!s.op.context.metrics.encode().contains("controller=\"clusterpushsecret\""));
    s.delete_cps("off").await;
    s.op.stop().await;
}
