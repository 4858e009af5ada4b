//! ClusterExternalSecret against the real local control plane: the fan-out to the selected namespaces
//! (`namespaceSelectors` ORed, `namespaces`, the deprecated `namespaceSelector`), the ExternalSecrets becoming
//! Ready through a ClusterSecretStore (fake provider) and their Secrets appearing, namespaces labelled and
//! unlabelled later (no wait for `refreshTime`), a foreign ExternalSecret of the same name (reported, untouched),
//! renaming, deletion, ESO's status and metrics, and no write at all on an unchanged refresh.
//!
//! The operator runs as its own ServiceAccount with the shipped ClusterRole and watches every namespace. Every
//! operator reconciles every ClusterExternalSecret of the cluster, so the tests of this binary take turns
//! ([`TURN`]) and each deletes its ClusterExternalSecret before it ends.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{LaunchedOperator, eventually, launch_operator, operator_client, test_config, wait_ready};
use external_secrets_api::{ClusterExternalSecret, ClusterSecretStore, ExternalSecret};
use external_secrets_controller::metrics::ReconcileResultLabels;
use external_secrets_testsupport::{Cluster, cluster};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::json;

const PASSWORD: &str = "ces-pa55-do-not-log";
const WAIT: Duration = Duration::from_secs(30);

/// One test at a time: each runs an operator, and every operator reconciles every ClusterExternalSecret.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// An operator for all namespaces with a class of its own, its ClusterSecretStore (fake provider, Ready), and a
/// label value unique to the test for selecting its namespaces.
struct Setup {
    op: LaunchedOperator,
    store: String,
    admin: kube::Client,
    /// Unique per test: namespaces are selected by `ces-test=<tag>`.
    tag: String,
}

async fn start(cluster: &Cluster, prefix: &str) -> Setup {
    let admin = cluster.admin_client().await.expect("admin");
    let home = cluster.namespace(&format!("{prefix}-op")).await.expect("operator ns");
    let client = operator_client(cluster, &home).await;
    let class = format!("class-{home}");
    let op = launch_operator(cluster, client, test_config(None, &class), None, false).await;
    let readiness = op.readiness.clone();
    if !eventually(WAIT, || async { readiness.is_ready() }).await {
        let logs = common::logs();
        let tail: Vec<&str> = logs.lines().rev().take(40).collect();
        panic!("operator not ready; last log lines:\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
    }
    let store = format!("css-{home}");
    let css: ClusterSecretStore = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore",
        "metadata": {"name": store},
        "spec": {"controller": class, "provider": {"fake": {"data": [{"key": "shared/db", "value": PASSWORD}]}}}
    }))
    .expect("ClusterSecretStore");
    let stores: Api<ClusterSecretStore> = Api::all(admin.clone());
    stores.create(&PostParams::default(), &css).await.expect("create ClusterSecretStore");
    let ready = eventually(WAIT, || async {
        stores
            .get(&store)
            .await
            .ok()
            .and_then(|s| s.status)
            .and_then(|s| s.condition("Ready").cloned())
            .is_some_and(|c| c.status == "True")
    })
    .await;
    assert!(ready, "ClusterSecretStore {store} should become Ready");
    Setup { op, store, admin, tag: home }
}

impl Setup {
    /// A new namespace `<prefix>-<random>` with `labels`.
    async fn namespace(&self, prefix: &str, labels: &[(&str, &str)]) -> String {
        let labels: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let ns = Namespace {
            metadata: ObjectMeta {
                generate_name: Some(format!("{prefix}-")),
                labels: Some(labels),
                ..Default::default()
            },
            ..Default::default()
        };
        let api: Api<Namespace> = Api::all(self.admin.clone());
        api.create(&PostParams::default(), &ns).await.expect("namespace").metadata.name.expect("name")
    }

    async fn label_namespace(&self, namespace: &str, key: &str, value: Option<&str>) {
        let api: Api<Namespace> = Api::all(self.admin.clone());
        let patch = json!({"metadata": {"labels": {key: value}}});
        api.patch(namespace, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("label namespace");
    }

    /// The ClusterExternalSecret `name` with `spec` merged over an ExternalSecret spec that reads `shared/db`
    /// from the test's ClusterSecretStore into the Secret `shared-secret`.
    async fn create_ces(&self, name: &str, spec: serde_json::Value) -> ClusterExternalSecret {
        let mut body = json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ClusterExternalSecret",
            "metadata": {"name": name},
            "spec": {
                "refreshTime": "1h",
                "externalSecretSpec": {
                    "refreshInterval": "1h",
                    "secretStoreRef": {"name": self.store, "kind": "ClusterSecretStore"},
                    "target": {"name": "shared-secret"},
                    "data": [{"secretKey": "password", "remoteRef": {"key": "shared/db"}}]
                }
            }
        });
        for (k, v) in spec.as_object().expect("spec object") {
            body["spec"][k] = v.clone();
        }
        let ces: ClusterExternalSecret = serde_json::from_value(body).expect("ClusterExternalSecret");
        self.ces_api().create(&PostParams::default(), &ces).await.expect("create ClusterExternalSecret")
    }

    fn ces_api(&self) -> Api<ClusterExternalSecret> {
        Api::all(self.admin.clone())
    }

    fn es_api(&self, namespace: &str) -> Api<ExternalSecret> {
        Api::namespaced(self.admin.clone(), namespace)
    }

    /// Waits until the status of `name` satisfies `check`; panics with the last status.
    async fn wait_status(
        &self,
        name: &str,
        what: &str,
        check: impl Fn(&external_secrets_api::ClusterExternalSecretStatus) -> bool,
    ) -> external_secrets_api::ClusterExternalSecretStatus {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut last = None;
        while tokio::time::Instant::now() < deadline {
            last = self.ces_api().get(name).await.ok().and_then(|c| c.status);
            if let Some(status) = last.as_ref().filter(|s| check(s)) {
                return status.clone();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("ClusterExternalSecret {name}: expected {what}, last status {last:?}");
    }

    async fn wait_gone(&self, namespace: &str, name: &str) {
        let api = self.es_api(namespace);
        let gone = eventually(WAIT, || async { api.get_opt(name).await.expect("get").is_none() }).await;
        assert!(gone, "ExternalSecret {namespace}/{name} should be deleted");
    }

    async fn assert_secret(&self, namespace: &str) {
        let secrets: Api<Secret> = Api::namespaced(self.admin.clone(), namespace);
        let secret = secrets.get("shared-secret").await.expect("the Secret of the ExternalSecret");
        assert_eq!(secret.data.expect("data")["password"].0, PASSWORD.as_bytes(), "in {namespace}");
    }

    /// Deletes the ClusterExternalSecret and waits until it is gone (its finalizer handled).
    async fn delete_ces(&self, name: &str) {
        self.ces_api().delete(name, &DeleteParams::default()).await.expect("delete ClusterExternalSecret");
        let gone = eventually(WAIT, || async { self.ces_api().get_opt(name).await.expect("get").is_none() }).await;
        assert!(gone, "ClusterExternalSecret {name} should be gone");
    }

    fn completed_reconciles(&self) -> u64 {
        let labels =
            ReconcileResultLabels { controller: "clusterexternalsecret".into(), result: "requeue_after".into() };
        self.op.metrics.reconcile_total.get_or_create(&labels).get()
    }
}

fn ready(status: &external_secrets_api::ClusterExternalSecretStatus) -> Option<(String, Option<String>)> {
    status.conditions.iter().find(|c| c.type_ == "Ready").map(|c| (c.status.clone(), c.message.clone()))
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fans_out_to_selected_namespaces_whose_external_secrets_sync() {
    let _turn = TURN.lock().await;
    let cluster = cluster().await;
    let setup = start(cluster, "ces-fan").await;
    let tag = setup.tag.clone();
    let team_a = setup.namespace("ces-fan-a", &[("ces-team", &format!("a-{tag}"))]).await;
    let team_b = setup.namespace("ces-fan-b", &[("ces-team", &format!("b-{tag}"))]).await;
    let legacy = setup.namespace("ces-fan-legacy", &[("ces-legacy", &tag)]).await;
    let by_name = setup.namespace("ces-fan-named", &[]).await;
    let other = setup.namespace("ces-fan-other", &[("ces-team", &format!("c-{tag}"))]).await;
    let name = format!("fan-{tag}");
    setup
        .create_ces(
            &name,
            json!({
                "namespaceSelectors": [
                    {"matchLabels": {"ces-team": format!("a-{tag}")}},
                    {"matchExpressions": [{"key": "ces-team", "operator": "In", "values": [format!("b-{tag}")]}]}
                ],
                "namespaceSelector": {"matchLabels": {"ces-legacy": tag}},
                "namespaces": [by_name],
                "externalSecretMetadata": {"labels": {"team": "platform"}, "annotations": {"owner": "secops"}}
            }),
        )
        .await;
    let ces_annotations = json!({"metadata": {"annotations": {"external-secrets.io/force-sync": "1"}}});
    setup.ces_api().patch(&name, &PatchParams::default(), &Patch::Merge(&ces_annotations)).await.expect("annotate");

    let selected = sorted(vec![team_a.clone(), team_b.clone(), legacy.clone(), by_name.clone()]);
    let status =
        setup.wait_status(&name, "the four selected namespaces", |s| s.provisioned_namespaces == selected).await;
    assert_eq!(ready(&status), Some(("True".into(), None)), "Ready=True without a message, as ESO");
    assert_eq!(
        status.external_secret_name.as_deref(),
        Some(name.as_str()),
        "defaults to the ClusterExternalSecret's name"
    );
    assert!(status.failed_namespaces.is_empty());

    let ces = setup.ces_api().get(&name).await.expect("get");
    assert!(
        ces.metadata
            .finalizers
            .iter()
            .flatten()
            .any(|f| f == "externalsecrets.external-secrets.io/clusterexternalsecret-cleanup")
    );
    for ns in &selected {
        let es_api = setup.es_api(ns);
        let forced = eventually(WAIT, || async {
            es_api.get_opt(&name).await.ok().flatten().is_some_and(|es| {
                es.metadata.annotations.as_ref().and_then(|a| a.get("external-secrets.io/force-sync")).is_some()
            })
        })
        .await;
        assert!(forced, "the force-sync annotation reaches {ns}");
        let es = es_api.get(&name).await.expect("ExternalSecret");
        assert_eq!(es.metadata.labels.as_ref().and_then(|l| l.get("team")).map(String::as_str), Some("platform"));
        let annotations = es.metadata.annotations.clone().unwrap_or_default();
        assert_eq!(annotations.get("owner").map(String::as_str), Some("secops"));
        assert_eq!(es.spec, ces.spec.external_secret_spec, "the spec as given");
        let owner = &es.metadata.owner_references.as_ref().expect("owner")[0];
        assert_eq!((owner.kind.as_str(), owner.name.as_str()), ("ClusterExternalSecret", name.as_str()));
        assert_eq!(owner.uid, ces.metadata.uid.clone().expect("uid"));
        assert_eq!((owner.controller, owner.block_owner_deletion), (Some(true), Some(true)));
        wait_ready(&es_api, &name, "SecretSynced").await;
        setup.assert_secret(ns).await;
    }
    assert!(setup.es_api(&other).get_opt(&name).await.expect("get").is_none(), "an unselected namespace gets none");

    // A deleted ExternalSecret is recreated, and a hand-edited one put back, without waiting for refreshTime.
    let es_api = setup.es_api(&team_a);
    let before = es_api.get(&name).await.expect("get").metadata.uid;
    es_api.delete(&name, &DeleteParams::default()).await.expect("delete ExternalSecret");
    let recreated = eventually(WAIT, || async {
        es_api.get_opt(&name).await.ok().flatten().is_some_and(|es| es.metadata.uid != before)
    })
    .await;
    assert!(recreated, "a deleted ExternalSecret comes back");
    let edit = json!({"spec": {"refreshInterval": "5m"}, "metadata": {"labels": {"team": "someone-else"}}});
    es_api.patch(&name, &PatchParams::default(), &Patch::Merge(&edit)).await.expect("edit ExternalSecret");
    let restored = eventually(WAIT, || async {
        es_api.get_opt(&name).await.ok().flatten().is_some_and(|es| {
            es.spec.refresh_interval == "1h"
                && es.metadata.labels.as_ref().and_then(|l| l.get("team")).map(String::as_str) == Some("platform")
        })
    })
    .await;
    assert!(restored, "a hand-edited ExternalSecret is put back as the ClusterExternalSecret says");

    // ESO's metric and the printer column.
    let text = setup.op.metrics.encode();
    let series = format!(
        "clusterexternalsecret_status_condition{{name=\"{name}\",namespace=\"\",condition=\"Ready\",status=\"True\"}} 1"
    );
    assert!(text.contains(&series), "{series} in\n{text}");
    assert!(text.contains(&format!("clusterexternalsecret_reconcile_duration{{name=\"{name}\",namespace=\"\"}}")));
    let table = common::kubectl(cluster, &["get", "clusterexternalsecret", &name]);
    assert!(table.contains("STORE") && table.contains("REFRESH INTERVAL") && table.contains("READY"), "{table}");
    assert!(
        table
            .lines()
            .nth(1)
            .is_some_and(|row| row.contains(&setup.store) && row.contains("1h") && row.contains("True")),
        "{table}"
    );

    setup.delete_ces(&name).await;
    let text = setup.op.metrics.encode();
    assert!(!text.contains(&format!("name=\"{name}\"")), "a deleted ClusterExternalSecret's series go");
    setup.op.operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_labelled_later_are_provisioned_and_unlabelled_ones_cleaned_up() {
    let _turn = TURN.lock().await;
    let cluster = cluster().await;
    let setup = start(cluster, "ces-label").await;
    let tag = setup.tag.clone();
    let first = setup.namespace("ces-label-first", &[("ces-test", &tag)]).await;
    let name = format!("label-{tag}");
    // refreshTime 1h: everything below has to happen because of the namespace watch.
    setup.create_ces(&name, json!({"namespaceSelectors": [{"matchLabels": {"ces-test": tag}}]})).await;
    setup.wait_status(&name, "the first namespace", |s| s.provisioned_namespaces == vec![first.clone()]).await;

    let created_later = setup.namespace("ces-label-new", &[("ces-test", &tag)]).await;
    let relabelled = setup.namespace("ces-label-relabelled", &[]).await;
    setup.label_namespace(&relabelled, "ces-test", Some(&tag)).await;
    let all = sorted(vec![first.clone(), created_later.clone(), relabelled.clone()]);
    setup.wait_status(&name, "three namespaces", |s| s.provisioned_namespaces == all).await;
    for ns in [&created_later, &relabelled] {
        wait_ready(&setup.es_api(ns), &name, "SecretSynced").await;
        setup.assert_secret(ns).await;
    }

    setup.label_namespace(&relabelled, "ces-test", None).await;
    setup.wait_gone(&relabelled, &name).await;
    let rest = sorted(vec![first.clone(), created_later.clone()]);
    let status =
        setup.wait_status(&name, "the unlabelled namespace dropped", |s| s.provisioned_namespaces == rest).await;
    assert_eq!(ready(&status), Some(("True".into(), None)));
    let secret_gone = eventually(WAIT, || async {
        Api::<Secret>::namespaced(setup.admin.clone(), &relabelled)
            .get_opt("shared-secret")
            .await
            .expect("get")
            .is_none()
    })
    .await;
    assert!(secret_gone, "its Secret goes with the ExternalSecret");

    setup.delete_ces(&name).await;
    setup.op.operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_external_secret_of_the_same_name_is_reported_and_left_alone() {
    let _turn = TURN.lock().await;
    let cluster = cluster().await;
    let setup = start(cluster, "ces-foreign").await;
    let tag = setup.tag.clone();
    let mine = setup.namespace("ces-foreign-mine", &[("ces-test", &tag)]).await;
    let theirs = setup.namespace("ces-foreign-theirs", &[("ces-test", &tag)]).await;
    let name = format!("foreign-{tag}");
    let foreign: ExternalSecret = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": theirs, "labels": {"made-by": "hand"}},
        "spec": {"refreshInterval": "2h", "secretStoreRef": {"name": "not-ours", "kind": "SecretStore"},
                 "target": {"name": "hand-made"},
                 "data": [{"secretKey": "k", "remoteRef": {"key": "k"}}]}
    }))
    .expect("ExternalSecret");
    let before = setup.es_api(&theirs).create(&PostParams::default(), &foreign).await.expect("create foreign");

    setup.create_ces(&name, json!({"namespaceSelectors": [{"matchLabels": {"ces-test": tag}}]})).await;
    let status = setup.wait_status(&name, "one namespace failed", |s| !s.failed_namespaces.is_empty()).await;
    assert_eq!(ready(&status), Some(("False".into(), Some("one or more namespaces failed".into()))));
    let failures: Vec<_> = status.failed_namespaces.iter().map(|f| (f.namespace.clone(), f.reason.clone())).collect();
    assert_eq!(failures, vec![(theirs.clone(), Some("external secret already exists in namespace".to_string()))]);
    assert_eq!(status.provisioned_namespaces, vec![mine.clone()]);
    let text = setup.op.metrics.encode();
    assert!(
        text.contains(&format!(
            "clusterexternalsecret_status_condition{{name=\"{name}\",namespace=\"\",condition=\"Ready\",status=\"False\"}} 1"
        )),
        "{text}"
    );

    let unchanged = |es: &ExternalSecret| {
        es.metadata.generation == before.metadata.generation
            && es.metadata.labels == before.metadata.labels
            && es.metadata.annotations == before.metadata.annotations
            && es.metadata.owner_references.is_none()
            && es.spec == before.spec
    };
    let after = setup.es_api(&theirs).get(&name).await.expect("get");
    assert!(unchanged(&after), "the foreign ExternalSecret is not written: {:?}", after.metadata);

    // Deleting the ClusterExternalSecret deletes its own ExternalSecret and leaves the foreign one.
    setup.delete_ces(&name).await;
    setup.wait_gone(&mine, &name).await;
    let after = setup.es_api(&theirs).get(&name).await.expect("the foreign ExternalSecret stays");
    assert!(unchanged(&after), "the foreign ExternalSecret is not written: {:?}", after.metadata);
    setup.op.operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renaming_and_deleting_remove_the_external_secrets_and_esos_namespace_finalizers() {
    let _turn = TURN.lock().await;
    let cluster = cluster().await;
    let setup = start(cluster, "ces-rename").await;
    let tag = setup.tag.clone();
    let one = setup.namespace("ces-rename-one", &[("ces-test", &tag)]).await;
    let two = setup.namespace("ces-rename-two", &[("ces-test", &tag)]).await;
    let name = format!("rename-{tag}");
    // A namespace as ESO 2.9 leaves it: with its per-ClusterExternalSecret finalizer.
    let eso_finalizer = format!("externalsecrets.external-secrets.io/ces-{name}");
    let finalized = json!({"metadata": {"finalizers": [eso_finalizer, "example.com/keep"]}});
    Api::<Namespace>::all(setup.admin.clone())
        .patch(&two, &PatchParams::default(), &Patch::Merge(&finalized))
        .await
        .expect("finalizer");

    setup
        .create_ces(
            &name,
            json!({"namespaceSelectors": [{"matchLabels": {"ces-test": tag}}], "externalSecretName": "first"}),
        )
        .await;
    let both = sorted(vec![one.clone(), two.clone()]);
    setup.wait_status(&name, "both namespaces", |s| s.provisioned_namespaces == both).await;
    for ns in [&one, &two] {
        assert!(setup.es_api(ns).get_opt("first").await.expect("get").is_some());
    }
    let namespaces: Api<Namespace> = Api::all(setup.admin.clone());
    let finalizers_cleaned = eventually(WAIT, || async {
        namespaces.get(&two).await.ok().and_then(|n| n.metadata.finalizers)
            == Some(vec!["example.com/keep".to_string()])
    })
    .await;
    assert!(finalizers_cleaned, "ESO's namespace finalizer is removed, others kept");

    let rename = json!({"spec": {"externalSecretName": "second"}});
    setup.ces_api().patch(&name, &PatchParams::default(), &Patch::Merge(&rename)).await.expect("rename");
    setup.wait_status(&name, "the new name", |s| s.external_secret_name.as_deref() == Some("second")).await;
    for ns in [&one, &two] {
        setup.wait_gone(ns, "first").await;
        assert!(setup.es_api(ns).get_opt("second").await.expect("get").is_some(), "the new one in {ns}");
    }

    setup.delete_ces(&name).await;
    for ns in [&one, &two] {
        setup.wait_gone(ns, "second").await;
        let secret_gone = eventually(WAIT, || async {
            Api::<Secret>::namespaced(setup.admin.clone(), ns).get_opt("shared-secret").await.expect("get").is_none()
        })
        .await;
        assert!(secret_gone, "the Secret in {ns} goes with its ExternalSecret");
    }
    let keep = json!({"metadata": {"finalizers": null}});
    namespaces.patch(&two, &PatchParams::default(), &Patch::Merge(&keep)).await.expect("drop test finalizer");
    setup.op.operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_selector_is_reported_and_nothing_is_touched() {
    let _turn = TURN.lock().await;
    let cluster = cluster().await;
    let setup = start(cluster, "ces-invalid").await;
    let tag = setup.tag.clone();
    let ns = setup.namespace("ces-invalid", &[("ces-test", &tag)]).await;
    let name = format!("invalid-{tag}");
    setup.create_ces(&name, json!({"namespaceSelectors": [{"matchLabels": {"ces-test": tag}}]})).await;
    setup.wait_status(&name, "provisioned", |s| s.provisioned_namespaces == vec![ns.clone()]).await;

    let bad = json!({"spec": {"namespaceSelectors": [
        {"matchExpressions": [{"key": "ces-test", "operator": "Equals", "values": [tag]}]}
    ]}});
    setup.ces_api().patch(&name, &PatchParams::default(), &Patch::Merge(&bad)).await.expect("break selector");
    let status = setup.wait_status(&name, "the selector refused", |s| !s.failed_namespaces.is_empty()).await;
    let reason = "failed to convert label selector spec.namespaceSelectors[0]: \"Equals\" is not a valid label selector operator";
    let failures: Vec<_> =
        status.failed_namespaces.iter().map(|f| (f.namespace.as_str(), f.reason.as_deref())).collect();
    assert_eq!(failures, vec![("unknown", Some(reason))]);
    assert_eq!(ready(&status), Some(("False".into(), Some("one or more namespaces failed".into()))));
    assert_eq!(status.provisioned_namespaces, vec![ns.clone()], "kept as it was");
    assert!(setup.es_api(&ns).get_opt(&name).await.expect("get").is_some(), "nothing is deleted on a bad selector");
    let warned = eventually(WAIT, || async {
        common::events_text(&setup.admin, "default").await.contains(&format!("Warning InvalidSpec {name} {reason}"))
    })
    .await;
    assert!(warned, "a Warning event names the problem");

    setup.delete_ces(&name).await;
    setup.op.operator.stop().await;
}

/// 50 namespaces: all provisioned, every ExternalSecret Ready; then a forced reconcile that changes nothing
/// writes nothing (no ExternalSecret and no status write, every resourceVersion unchanged).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_refresh_of_fifty_namespaces_writes_nothing() {
    let _turn = TURN.lock().await;
    let cluster = cluster().await;
    let setup = start(cluster, "ces-scale").await;
    let tag = setup.tag.clone();
    let mut namespaces = Vec::new();
    for i in 0..50 {
        namespaces.push(setup.namespace(&format!("ces-scale-{i}"), &[("ces-test", &tag)]).await);
    }
    let namespaces = sorted(namespaces);
    let name = format!("scale-{tag}");
    setup.create_ces(&name, json!({"namespaceSelectors": [{"matchLabels": {"ces-test": tag}}]})).await;
    setup.wait_status(&name, "fifty namespaces", |s| s.provisioned_namespaces == namespaces).await;
    for ns in &namespaces {
        wait_ready(&setup.es_api(ns), &name, "SecretSynced").await;
    }
    let versions = || async {
        let mut out = BTreeMap::new();
        for ns in &namespaces {
            let es = setup.es_api(ns).get(&name).await.expect("get");
            out.insert(ns.clone(), es.metadata.resource_version.expect("rv"));
        }
        let ces = setup.ces_api().get(&name).await.expect("get");
        out.insert(String::new(), ces.status.map(|s| format!("{:?}", s)).unwrap_or_default());
        out
    };
    let before = versions().await;
    let stats = &setup.op.operator.context.stats;
    let (writes, status_writes) =
        (stats.external_secret_writes.load(Ordering::Relaxed), stats.status_writes.load(Ordering::Relaxed));
    let reconciles = setup.completed_reconciles();

    // Any annotation change makes the controller reconcile (only force-sync is copied to the ExternalSecrets).
    let poke = json!({"metadata": {"annotations": {"example.com/poke": "1"}}});
    setup.ces_api().patch(&name, &PatchParams::default(), &Patch::Merge(&poke)).await.expect("poke");
    let reconciled = eventually(WAIT, || async { setup.completed_reconciles() > reconciles }).await;
    assert!(reconciled, "the annotation change was reconciled");

    assert_eq!(stats.external_secret_writes.load(Ordering::Relaxed), writes, "no ExternalSecret write");
    assert_eq!(stats.status_writes.load(Ordering::Relaxed), status_writes, "no status write");
    assert_eq!(versions().await, before, "every ExternalSecret as it was");

    setup.delete_ces(&name).await;
    for ns in &namespaces {
        setup.wait_gone(ns, &name).await;
    }
    setup.op.operator.stop().await;
}
