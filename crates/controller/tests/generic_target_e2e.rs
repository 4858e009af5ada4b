//! Generic targets (`spec.target.manifest` with ESO's `--unsafe-allow-generic-targets`) against the real local
//! control plane: ConfigMaps and a custom resource (a CRD this test installs) written, updated, repaired, kept and
//! deleted as ESO does; an object ESO wrote adopted and its fields taken over; and what the operator may not write
//! or cannot find named in the condition. The operator runs as its own ServiceAccount with the shipped ClusterRole
//! plus, where a test says so, the grants a user adds for generic targets.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{FakeStoreEnv, eso_user_agent_client, events_text, eventually, grant_operator, wait_ready};
use external_secrets_core::hash::{created_by_label, object_hash};
use external_secrets_testsupport::{Cluster, tools};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::rbac::v1::ClusterRole;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

const PASSWORD: &str = "G3n3ric-pa55-do-not-log";
const ROTATED: &str = "rotated-g3n3ric-do-not-log";
const DATA_HASH: &str = "reconcile.external-secrets.io/data-hash";
const MANAGED: &str = "reconcile.external-secrets.io/managed";
const CREATED_BY: &str = "reconcile.external-secrets.io/created-by";

/// One test's namespace, operator (generic targets allowed) and API handles; the fake store is `fake`.
type Env = FakeStoreEnv;

impl Env {
    /// A fresh namespace and operator with `--unsafe-allow-generic-targets`; with `grant_config_maps`, the
    /// operator also gets `deploy/rbac/generic-targets-clusterrole.yaml` (the chart's `genericTargets.enabled`).
    async fn new(prefix: &str, store_data: Value, grant_config_maps: bool) -> Env {
        let env = Env::start(prefix, store_data, |c| c.allow_generic_targets = true).await;
        if grant_config_maps {
            let yaml = std::fs::read_to_string(tools::repo_root().join("deploy/rbac/generic-targets-clusterrole.yaml"))
                .expect("generic targets ClusterRole");
            grant_operator(env.cluster, &env.ns, serde_yaml::from_str(&yaml).expect("ClusterRole YAML")).await;
        }
        env
    }

    async fn patch_es(&self, name: &str, patch: Value) {
        self.ess.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("patch ExternalSecret");
    }

    /// ESO's force-sync: any annotation change makes the next reconcile read the store.
    async fn force_sync(&self, name: &str, n: u32) {
        self.patch_es(name, json!({"metadata": {"annotations": {"force-sync": n.to_string()}}})).await;
    }

    async fn config_map_data(&self, name: &str) -> Option<BTreeMap<String, String>> {
        Some(self.config_maps.get_opt(name).await.expect("get ConfigMap")?.data.unwrap_or_default())
    }

    async fn binding(&self, name: &str) -> Option<String> {
        self.ess.get(name).await.expect("es").status.and_then(|s| s.binding).map(|b| b.name)
    }

    /// Secret values never appear in events or in the operator's logs.
    async fn stop(self) {
        self.assert_not_leaked(&[PASSWORD, ROTATED]).await;
        self.op.stop().await;
    }
}

fn app(url: &str, password: &str) -> Value {
    json!([{"key": "app", "value": json!({"url": url, "password": password}).to_string()}])
}

fn url_and_password() -> Value {
    json!([{"secretKey": "url", "remoteRef": {"key": "app", "property": "url"}},
           {"secretKey": "password", "remoteRef": {"key": "app", "property": "password"}}])
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn config_map_manifest() -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_map_target_is_written_updated_repaired_and_deleted_as_eso_does() {
    let env = Env::new("generic-cm", app("https://a.example", PASSWORD), true).await;
    let es = env
        .create_es(
            "cfg",
            json!({"target": {"name": "app-config", "creationPolicy": "Owner", "deletionPolicy": "Delete",
                              "manifest": config_map_manifest()},
                   "data": url_and_password()}),
        )
        .await;
    let (status, _, message) = wait_ready(&env.ess, "cfg", "ResourceSynced").await;
    assert_eq!((status.as_str(), message.as_str()), ("True", "secret synced"));
    let cm = env.config_maps.get("app-config").await.expect("the ConfigMap");
    let data = cm.data.clone().expect("data");
    assert_eq!(data, map(&[("password", PASSWORD), ("url", "https://a.example")]));
    let labels = cm.metadata.labels.clone().expect("labels");
    assert_eq!(labels.get(MANAGED).map(String::as_str), Some("true"));
    assert_eq!(labels.get(CREATED_BY), Some(&created_by_label(&env.ns, "cfg")));
    let owner = &cm.metadata.owner_references.clone().expect("owner")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.controller, Some(&owner.uid)),
        ("ExternalSecret", Some(true), es.metadata.uid.as_ref())
    );
    // ESO's hash of the ConfigMap's data, so ESO and this operator agree on whether it was changed.
    let annotations = cm.metadata.annotations.clone().expect("annotations");
    assert_eq!(annotations.get(DATA_HASH), Some(&object_hash(&serde_json::to_value(&data).expect("json"))));
    let managers: Vec<(String, String)> = cm
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .map(|e| (e.manager.clone().unwrap_or_default(), e.operation.clone().unwrap_or_default()))
        .collect();
    assert_eq!(managers, vec![("externalsecrets.external-secrets.io/cfg".to_string(), "Apply".to_string())]);
    assert_eq!(env.binding("cfg").await, None, "ESO binds Secret targets only");
    assert!(events_text(&env.admin, &env.ns).await.contains("Created ConfigMap app-config"));

    // A provider change reaches the ConfigMap at the next sync.
    env.set_store_data(app("https://a.example", ROTATED)).await;
    env.force_sync("cfg", 1).await;
    let updated = eventually(Duration::from_secs(30), || async {
        env.config_map_data("app-config").await.and_then(|d| d.get("password").cloned()).as_deref() == Some(ROTATED)
    })
    .await;
    assert!(updated, "the rotated value reaches the ConfigMap");
    assert!(
        eventually(Duration::from_secs(10), || async {
            events_text(&env.admin, &env.ns).await.contains("Updated ConfigMap app-config")
        })
        .await
    );

    // Someone else's change is repaired at once (the refresh is an hour away): the kind is watched.
    let tamper = json!({"data": {"url": "https://evil.example"}});
    env.config_maps.patch("app-config", &PatchParams::default(), &Patch::Merge(&tamper)).await.expect("tamper");
    let repaired = eventually(Duration::from_secs(30), || async {
        env.config_map_data("app-config").await.and_then(|d| d.get("url").cloned()).as_deref()
            == Some("https://a.example")
    })
    .await;
    assert!(repaired, "drift is repaired without waiting for the refresh");
    let deleted = env.config_maps.get("app-config").await.expect("ConfigMap");
    env.config_maps.delete("app-config", &DeleteParams::default()).await.expect("delete");
    let recreated = eventually(Duration::from_secs(30), || async {
        env.config_maps
            .get_opt("app-config")
            .await
            .expect("get")
            .is_some_and(|cm| cm.metadata.uid != deleted.metadata.uid)
    })
    .await;
    assert!(recreated, "a deleted ConfigMap comes back at once");

    // A template error fails the sync and leaves the ConfigMap as it is.
    let before = env.config_maps.get("app-config").await.expect("ConfigMap");
    env.patch_es("cfg", json!({"spec": {"target": {"template": {"data": {"url": "{{ .missing }}"}}}}})).await;
    let (_, _, message) = wait_ready(&env.ess, "cfg", "ResourceSyncedError").await;
    assert!(message.contains("spec.target.template.data[url]"), "{message}");
    let after = env.config_maps.get("app-config").await.expect("ConfigMap kept");
    assert_eq!(after.data, before.data, "not blanked");
    assert_eq!(after.metadata.resource_version, before.metadata.resource_version, "not written at all");
    env.patch_es("cfg", json!({"spec": {"target": {"template": null}}})).await;
    wait_ready(&env.ess, "cfg", "ResourceSynced").await;

    // deletionPolicy Delete: the provider has nothing any more, so the ConfigMap goes.
    env.set_store_data(json!([])).await;
    env.force_sync("cfg", 2).await;
    let (_, _, message) = wait_ready(&env.ess, "cfg", "ResourceDeleted").await;
    assert_eq!(message, "secret deleted due to DeletionPolicy=Delete");
    assert!(env.config_maps.get_opt("app-config").await.expect("get").is_none(), "deleted");
    assert!(events_text(&env.admin, &env.ns).await.contains("Deleted ConfigMap app-config"));

    // Back at the provider: created again.
    env.set_store_data(app("https://a.example", PASSWORD)).await;
    env.force_sync("cfg", 3).await;
    wait_ready(&env.ess, "cfg", "ResourceSynced").await;
    assert_eq!(
        env.config_map_data("app-config").await,
        Some(map(&[("password", PASSWORD), ("url", "https://a.example")]))
    );

    // Deleting the ExternalSecret deletes its ConfigMap.
    env.ess.delete("cfg", &DeleteParams::default()).await.expect("delete ExternalSecret");
    let gone = eventually(Duration::from_secs(30), || async {
        env.config_maps.get_opt("app-config").await.expect("get").is_none()
    })
    .await;
    assert!(gone, "the ConfigMap goes with its ExternalSecret");
    let released =
        eventually(Duration::from_secs(10), || async { env.op.context.generic_targets.watched_kinds().is_empty() })
            .await;
    assert!(released, "nobody needs the ConfigMap watch any more");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retain_keeps_the_config_map_and_orphan_outlives_its_external_secret() {
    let env = Env::new("generic-keep", app("https://a.example", PASSWORD), true).await;
    env.create_es(
        "kept",
        json!({"target": {"name": "kept-config", "creationPolicy": "Owner", "deletionPolicy": "Retain",
                          "manifest": config_map_manifest()},
               "data": url_and_password()}),
    )
    .await;
    wait_ready(&env.ess, "kept", "ResourceSynced").await;
    let before = env.config_maps.get("kept-config").await.expect("ConfigMap");

    // deletionPolicy Retain: a key the provider no longer has is an error, and the ConfigMap stays as it is.
    env.set_store_data(json!([])).await;
    env.force_sync("kept", 1).await;
    let (status, _, message) = wait_ready(&env.ess, "kept", "ResourceSyncedError").await;
    assert_eq!(status, "False");
    assert!(message.contains("spec.data[0]"), "the entry at fault is named: {message}");
    let after = env.config_maps.get("kept-config").await.expect("ConfigMap kept");
    assert_eq!(after.metadata.resource_version, before.metadata.resource_version, "untouched");

    // Owner → Orphan: the owner reference and created-by go, so the ConfigMap outlives the ExternalSecret.
    env.set_store_data(app("https://a.example", PASSWORD)).await;
    env.patch_es("kept", json!({"spec": {"target": {"creationPolicy": "Orphan"}}})).await;
    let released = eventually(Duration::from_secs(30), || async {
        let cm = env.config_maps.get("kept-config").await.expect("ConfigMap");
        cm.metadata.owner_references.unwrap_or_default().is_empty()
            && !cm.metadata.labels.unwrap_or_default().contains_key(CREATED_BY)
    })
    .await;
    assert!(released, "owner reference and created-by removed");
    wait_ready(&env.ess, "kept", "ResourceSynced").await;
    env.ess.delete("kept", &DeleteParams::default()).await.expect("delete ExternalSecret");
    let es_gone =
        eventually(Duration::from_secs(30), || async { env.ess.get_opt("kept").await.expect("get").is_none() }).await;
    assert!(es_gone);
    // Give the garbage collector the time it takes to act on an owner that is gone.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        env.config_map_data("kept-config").await,
        Some(map(&[("password", PASSWORD), ("url", "https://a.example")])),
        "the orphaned ConfigMap is kept with its data"
    );
    env.stop().await;
}

const CRD_GROUP: &str = "e2e.external-secrets.io";

static WIDGET_CRD: OnceCell<()> = OnceCell::const_new();

/// A small namespaced custom resource, `Widget` (its spec takes any fields; `spec.code` must be digits), installed
/// once per test binary.
async fn install_widget_crd(cluster: &Cluster) {
    WIDGET_CRD
        .get_or_init(|| async {
            let admin = cluster.admin_client().await.expect("admin");
            let crd: CustomResourceDefinition = serde_json::from_value(json!({
                "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": format!("widgets.{CRD_GROUP}")},
                "spec": {"group": CRD_GROUP, "scope": "Namespaced",
                         "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
                         "versions": [{"name": "v1", "served": true, "storage": true,
                                       "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                           "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                                                    "properties": {"code": {"type": "string", "pattern": "^[0-9]+$"}}}}}}}]}
            }))
            .expect("CRD");
            external_secrets_testsupport::apply_crds(&admin, [crd]).await.expect("Widget CRD");
        })
        .await;
}

fn widget_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(CRD_GROUP, "v1", "Widget"), "widgets")
}

fn widget_manifest() -> Value {
    json!({"apiVersion": format!("{CRD_GROUP}/v1"), "kind": "Widget"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_resource_target_renders_template_paths_and_merges_into_an_existing_object() {
    let env = Env::new(
        "generic-cr",
        json!([
            {"key": "db", "value": json!({"port": "5432", "password": PASSWORD, "replicas": "3"}).to_string()},
            {"key": "hook", "value": "https://hooks.example/T0"}
        ]),
        false,
    )
    .await;
    install_widget_crd(env.cluster).await;
    let role: ClusterRole = serde_json::from_value(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "e2e-widgets"},
        "rules": [{"apiGroups": [CRD_GROUP], "resources": ["widgets"],
                   "verbs": ["get", "list", "watch", "create", "patch", "delete"]}]
    }))
    .expect("role");
    grant_operator(env.cluster, &env.ns, role).await;
    let widgets: Api<DynamicObject> = Api::namespaced_with(env.admin.clone(), &env.ns, &widget_resource());

    // Template results at paths: a KeysAndValues document merged at spec.database, a value parsed as YAML at
    // spec.replicas (ESO: TestApplyTemplateToManifest_LiteralWithDeployment's shapes).
    env.create_es(
        "templated",
        json!({"target": {"name": "w-templated", "manifest": widget_manifest(),
                          "template": {"metadata": {"labels": {"team": "db"}},
                                       "templateFrom": [
                                           {"target": "spec.database",
                                            "literal": "host: db.example\nport: {{ .port }}\npassword: {{ .password }}"},
                                           {"target": "spec.replicas", "literal": "{{ .replicas }}"}]}},
               "dataFrom": [{"extract": {"key": "db"}}]}),
    )
    .await;
    // Without a template, another kind gets the data at spec.data (ESO's createSimpleManifest). `immutable` means
    // nothing to a Widget: ESO ignores it silently, the status says so here.
    env.create_es(
        "plain",
        json!({"target": {"name": "w-plain", "manifest": widget_manifest(), "immutable": true},
               "data": [{"secretKey": "hook", "remoteRef": {"key": "hook"}}]}),
    )
    .await;
    wait_ready(&env.ess, "templated", "ResourceSynced").await;
    let (_, _, message) = wait_ready(&env.ess, "plain", "ResourceSynced").await;
    assert_eq!(message, "secret synced; no effect on a Widget target: spec.target.immutable");
    let templated = serde_json::to_value(widgets.get("w-templated").await.expect("widget")).expect("json");
    assert_eq!(
        templated["spec"],
        json!({"database": {"host": "db.example", "port": 5432, "password": PASSWORD}, "replicas": 3})
    );
    assert_eq!(templated["metadata"]["labels"]["team"], "db");
    assert_eq!(templated["metadata"]["labels"][MANAGED], "true");
    assert_eq!(templated["metadata"]["annotations"][DATA_HASH], object_hash(&templated["spec"]));
    assert_eq!(templated["metadata"]["ownerReferences"][0]["name"], "templated");
    let plain = serde_json::to_value(widgets.get("w-plain").await.expect("widget")).expect("json");
    assert_eq!(plain["spec"], json!({"data": {"hook": "https://hooks.example/T0"}}));

    // creationPolicy Merge into a Widget someone else made: our fields are added at spec.slack, theirs are kept,
    // and the hash covers the whole spec (ESO: TestApplyTemplateToManifest_MergeBehavior).
    let theirs: DynamicObject = serde_json::from_value(json!({
        "apiVersion": format!("{CRD_GROUP}/v1"), "kind": "Widget",
        "metadata": {"name": "w-shared", "labels": {"owner": "platform"}},
        "spec": {"type": "slack", "slack": {"channel": "general", "username": "bot"}}
    }))
    .expect("widget");
    widgets.create(&PostParams::default(), &theirs).await.expect("their widget");
    env.create_es(
        "merged",
        json!({"target": {"name": "w-shared", "creationPolicy": "Merge", "manifest": widget_manifest(),
                          "template": {"templateFrom": [{"target": "spec.slack", "literal": "api_url: {{ .hook }}"}]}},
               "data": [{"secretKey": "hook", "remoteRef": {"key": "hook"}}]}),
    )
    .await;
    wait_ready(&env.ess, "merged", "ResourceSynced").await;
    let shared = serde_json::to_value(widgets.get("w-shared").await.expect("widget")).expect("json");
    assert_eq!(
        shared["spec"],
        json!({"type": "slack", "slack": {"channel": "general", "username": "bot", "api_url": "https://hooks.example/T0"}})
    );
    assert_eq!(shared["metadata"]["labels"]["owner"], "platform");
    assert!(shared["metadata"].get("ownerReferences").is_none(), "Merge takes no ownership");
    assert_eq!(shared["metadata"]["annotations"][DATA_HASH], object_hash(&shared["spec"]));

    // The apiserver refuses a value its schema does not allow, and its message quotes the value: the condition
    // keeps the message, with the value replaced.
    env.create_es(
        "invalid",
        json!({"target": {"name": "w-invalid", "manifest": widget_manifest(),
                          "template": {"templateFrom": [{"target": "spec.code", "literal": "{{ .password }}"}]}},
               "dataFrom": [{"extract": {"key": "db"}}]}),
    )
    .await;
    let (_, _, message) = wait_ready(&env.ess, "invalid", "ResourceSyncedError").await;
    assert!(
        message.contains("the API server refused Widget \"w-invalid\": ")
            && message.contains("spec.code")
            && message.contains("(value not shown)")
            && !message.contains(PASSWORD),
        "{message}"
    );
    assert!(widgets.get_opt("w-invalid").await.expect("get").is_none());

    // creationPolicy Merge without an object: nothing is created.
    env.create_es(
        "missing",
        json!({"target": {"name": "w-none", "creationPolicy": "Merge", "manifest": widget_manifest()},
               "data": [{"secretKey": "hook", "remoteRef": {"key": "hook"}}]}),
    )
    .await;
    let (_, _, message) = wait_ready(&env.ess, "missing", "ResourceMissing").await;
    assert_eq!(message, "resource will not be created due to CreationPolicy=Merge");
    assert!(widgets.get_opt("w-none").await.expect("get").is_none());
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_map_eso_wrote_is_adopted_and_what_the_spec_dropped_is_removed() {
    let env = Env::new("generic-adopt", app("https://a.example", PASSWORD), true).await;
    // The ExternalSecret names a store that does not exist yet, so nothing is written before ESO's ConfigMap
    // (which refers to the ExternalSecret's uid) is in place.
    let es = env
        .create_es(
            "adopt",
            json!({"secretStoreRef": {"name": "later", "kind": "SecretStore"},
                   "target": {"name": "adopted", "creationPolicy": "Owner", "manifest": config_map_manifest(),
                              "template": {"metadata": {"labels": {"app": "web"}}, "data": {"url": "{{ .url }}"}}},
                   "data": url_and_password()}),
        )
        .await;
    // As ESO 2.9 leaves it when the template still had a second key and another label: created with POST by
    // ESO's binary, without a field manager, so the apiserver records an `Update` entry named after its user agent.
    let data = json!({"url": "https://a.example", "old-key": "stale"});
    let eso_config_map: ConfigMap = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "adopted", "namespace": env.ns,
                     "labels": {MANAGED: "true", CREATED_BY: created_by_label(&env.ns, "adopt"),
                                "app": "web", "tier": "old"},
                     "annotations": {DATA_HASH: object_hash(&data)},
                     "ownerReferences": [{"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                                          "name": "adopt", "uid": es.metadata.uid, "controller": true,
                                          "blockOwnerDeletion": true}]},
        "data": data
    }))
    .expect("ConfigMap");
    let eso: Api<ConfigMap> = Api::namespaced(eso_user_agent_client(env.cluster, "v2.9.0").await, &env.ns);
    let created = eso.create(&PostParams::default(), &eso_config_map).await.expect("ESO's ConfigMap");
    let entries = |cm: &ConfigMap| -> Vec<(String, String)> {
        cm.metadata
            .managed_fields
            .iter()
            .flatten()
            .map(|e| (e.manager.clone().unwrap_or_default(), e.operation.clone().unwrap_or_default()))
            .collect()
    };
    assert_eq!(entries(&created), vec![("external-secrets".to_string(), "Update".to_string())], "as ESO writes it");

    env.patch_es("adopt", json!({"spec": {"secretStoreRef": {"name": "fake"}}})).await;
    let (_, _, message) = wait_ready(&env.ess, "adopt", "ResourceSynced").await;
    assert_eq!(message, "secret synced");
    let cleaned = eventually(Duration::from_secs(30), || async {
        let cm = env.config_maps.get("adopted").await.expect("ConfigMap");
        cm.data == Some(map(&[("url", "https://a.example")]))
            && !cm.metadata.labels.clone().unwrap_or_default().contains_key("tier")
    })
    .await;
    let after = env.config_maps.get("adopted").await.expect("ConfigMap");
    assert!(cleaned, "the key and label ESO wrote and the spec no longer has are gone: {:?}", after.data);
    assert_eq!(after.metadata.uid, created.metadata.uid, "the same ConfigMap, updated in place");
    assert_eq!(
        entries(&after),
        vec![("externalsecrets.external-secrets.io/adopt".to_string(), "Apply".to_string())],
        "ESO's fields are ours now"
    );
    assert_eq!(after.metadata.labels.unwrap_or_default().get("app").map(String::as_str), Some("web"));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_operator_may_not_write_or_cannot_find_is_named_in_the_condition() {
    // Generic targets allowed, but no grants beyond the shipped ClusterRole (which may only read ConfigMaps).
    let env = Env::new("generic-denied", app("https://a.example", PASSWORD), false).await;
    let target = |name: &str, manifest: Value| json!({"target": {"name": name, "manifest": manifest}, "data": url_and_password()});
    env.create_es("cm", target("denied-config", config_map_manifest())).await;
    env.create_es("pod-template", target("denied-template", json!({"apiVersion": "v1", "kind": "PodTemplate"}))).await;
    env.create_es("unknown", target("nothing", json!({"apiVersion": "e2e.example.com/v1", "kind": "Nothing"}))).await;
    env.create_es("cluster-scoped", target("no-namespace", json!({"apiVersion": "v1", "kind": "Namespace"}))).await;

    let (status, _, message) = wait_ready(&env.ess, "cm", "ResourceSyncedError").await;
    assert_eq!(status, "False");
    assert!(
        // The apiserver authorizes the apply as a patch first (creating needs `create` too).
        message.contains("not allowed to patch ConfigMap \"denied-config\"")
            && message.contains("on configmaps")
            && message.contains("genericTargets.enabled"),
        "{message}"
    );
    let (_, _, message) = wait_ready(&env.ess, "pod-template", "ResourceSyncedError").await;
    assert!(message.contains("not allowed to get PodTemplate \"denied-template\"") && message.contains("podtemplates"));
    let (_, _, message) = wait_ready(&env.ess, "unknown", "ResourceSyncedError").await;
    assert!(message.contains("does not serve Nothing (e2e.example.com/v1)"), "{message}");
    let (_, _, message) = wait_ready(&env.ess, "cluster-scoped", "SecretSyncedError").await;
    assert!(message.contains("Namespace (v1) is cluster-scoped"), "{message}");
    assert!(env.config_maps.get_opt("denied-config").await.expect("get").is_none(), "nothing written");
    let events = events_text(&env.admin, &env.ns).await;
    assert!(events.contains("UpdateFailed") && events.contains("not allowed to patch ConfigMap"), "{events}");
    env.stop().await;
}
