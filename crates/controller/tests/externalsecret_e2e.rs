//! End-to-end behaviour of the ExternalSecret and store controllers against the real local control plane, with
//! the fake provider (and the kubernetes provider reading another namespace). The operator runs as its own
//! ServiceAccount with the shipped ClusterRole.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{events_text, eventually, fake_store, kubectl, logs, start_operator, wait_ready};
use external_secrets_api::{ExternalSecret, SecretStore};
use external_secrets_core::hash::{created_by_label, data_hash};
use external_secrets_testsupport::cluster;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

const PASSWORD: &str = "S3cr3t-pa55-do-not-log";
const USERNAME: &str = "admin-user-do-not-log";

fn db_document(password: &str) -> String {
    json!({"username": USERNAME, "password": password, "host": "db.internal", "port": 5432, "engine": "postgres"})
        .to_string()
}

fn walkthrough_es(namespace: &str, name: &str, store: &str, interval: &str, policy: &str) -> ExternalSecret {
    serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "refreshInterval": interval,
            "secretStoreRef": {"name": store, "kind": "SecretStore"},
            "target": {"name": format!("{name}-secret"), "creationPolicy": policy},
            "data": [
                {"secretKey": "app-db-username", "remoteRef": {"key": "prod/app/db", "property": "username"}},
                {"secretKey": "app-db-password", "remoteRef": {"key": "prod/app/db", "property": "password"}}
            ]
        }
    }))
    .expect("ExternalSecret")
}

fn assert_no_leak(text: &str, what: &str) {
    for value in [PASSWORD, USERNAME, "rotated-pa55-do-not-log"] {
        assert!(!text.contains(value), "a secret value appeared in the {what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walkthrough_with_fake_provider_syncs_secret_and_shows_eso_columns() {
    let cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("walk").await.expect("ns");
    let op = start_operator(cluster, &ns).await;

    let stores: Api<SecretStore> = Api::namespaced(admin.clone(), &ns);
    let data = json!([{"key": "prod/app/db", "value": db_document(PASSWORD)}]);
    stores.create(&PostParams::default(), &fake_store(&ns, "fake", &op.class, data)).await.expect("store");
    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &ns);
    ess.create(&PostParams::default(), &walkthrough_es(&ns, "app", "fake", "1h", "Owner")).await.expect("es");

    let (status, _, message) = wait_ready(&ess, "app", "SecretSynced").await;
    assert_eq!((status.as_str(), message.as_str()), ("True", "secret synced"));

    let store = stores.get("fake").await.expect("store");
    let store_status = store.status.expect("store status");
    let ready = store_status.condition("Ready").expect("Ready");
    assert_eq!((ready.status.as_str(), ready.reason.as_deref()), ("True", Some("Valid")));
    assert_eq!(store_status.capabilities.as_deref(), Some("ReadWrite"));

    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    let secret = secrets.get("app-secret").await.expect("target Secret");
    assert_eq!(secret.type_.as_deref(), Some("Opaque"));
    let data: BTreeMap<String, Vec<u8>> =
        secret.data.clone().expect("data").into_iter().map(|(k, v)| (k, v.0)).collect();
    assert_eq!(data.keys().cloned().collect::<Vec<_>>(), vec!["app-db-password", "app-db-username"]);
    assert_eq!(data["app-db-password"], PASSWORD.as_bytes());
    assert_eq!(data["app-db-username"], USERNAME.as_bytes());
    let labels = secret.metadata.labels.clone().expect("labels");
    assert_eq!(labels.get("reconcile.external-secrets.io/managed").map(String::as_str), Some("true"));
    assert_eq!(labels.get("reconcile.external-secrets.io/created-by"), Some(&created_by_label(&ns, "app")));
    let annotations = secret.metadata.annotations.clone().expect("annotations");
    assert_eq!(annotations.get("reconcile.external-secrets.io/data-hash"), Some(&data_hash(&data)));
    let es = ess.get("app").await.expect("es");
    let owner = &secret.metadata.owner_references.expect("owner")[0];
    assert_eq!((owner.kind.as_str(), owner.name.as_str(), owner.controller), ("ExternalSecret", "app", Some(true)));
    assert_eq!(Some(&owner.uid), es.metadata.uid.as_ref());
    let es_status = es.status.expect("status");
    assert!(es_status.refresh_time.is_some());
    assert!(es_status.synced_resource_version.expect("srv").starts_with("1-"));
    assert_eq!(es_status.binding.map(|b| b.name), Some("app-secret".to_string()));

    // What ESO users see with kubectl.
    let get_es = kubectl(cluster, &["get", "externalsecrets", "-n", &ns]);
    let header = get_es.lines().next().expect("header");
    for column in ["NAME", "STORETYPE", "STORE", "REFRESH INTERVAL", "STATUS", "READY", "LAST SYNC"] {
        assert!(header.contains(column), "missing column {column} in {header:?}");
    }
    assert!(get_es.contains("SecretStore") && get_es.contains("SecretSynced") && get_es.contains("True"), "{get_es}");
    let get_ss = kubectl(cluster, &["get", "ss", "-n", &ns]);
    let header = get_ss.lines().next().expect("header");
    for column in ["NAME", "AGE", "STATUS", "CAPABILITIES", "READY"] {
        assert!(header.contains(column), "missing column {column} in {header:?}");
    }
    assert!(get_ss.contains("Valid") && get_ss.contains("ReadWrite") && get_ss.contains("True"), "{get_ss}");

    let events = events_text(&admin, &ns).await;
    assert!(events.contains("Created"), "{events}");
    assert_no_leak(&events, "events");
    assert_no_leak(&logs(), "operator logs");
    // Core/v1 Events, as ESO records them (the operator's ClusterRole grants only those), on the ExternalSecret.
    let core: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(admin.clone(), &ns);
    let created = core
        .list(&Default::default())
        .await
        .expect("core events")
        .items
        .into_iter()
        .find(|e| e.reason.as_deref() == Some("Created"))
        .expect("a Created event");
    assert_eq!(created.message.as_deref(), Some("secret created"));
    assert_eq!(created.type_.as_deref(), Some("Normal"));
    assert_eq!(created.source.and_then(|s| s.component).as_deref(), Some("external-secrets"));
    assert_eq!(created.involved_object.kind.as_deref(), Some("ExternalSecret"));
    assert_eq!(created.involved_object.name.as_deref(), Some("app"));
    assert_eq!(created.count, Some(1));
    op.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_change_reaches_secret_and_unchanged_refreshes_write_nothing() {
    let cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("refresh").await.expect("ns");
    let op = start_operator(cluster, &ns).await;
    let stores: Api<SecretStore> = Api::namespaced(admin.clone(), &ns);
    let data = json!([{"key": "prod/app/db", "value": db_document(PASSWORD)}]);
    stores.create(&PostParams::default(), &fake_store(&ns, "fake", &op.class, data)).await.expect("store");
    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &ns);
    ess.create(&PostParams::default(), &walkthrough_es(&ns, "rot", "fake", "1s", "Owner")).await.expect("es");
    wait_ready(&ess, "rot", "SecretSynced").await;

    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    let before = secrets.get("rot-secret").await.expect("secret");
    let rv = before.metadata.resource_version.clone();
    let first_refresh = ess.get("rot").await.expect("es").status.and_then(|s| s.refresh_time).expect("refreshTime");
    // Three refreshes later, the Secret has not been written again.
    let refreshed = eventually(Duration::from_secs(20), || async {
        let t = ess.get("rot").await.ok().and_then(|e| e.status).and_then(|s| s.refresh_time);
        t.is_some_and(|t| t.0.duration_since(first_refresh.0).as_secs() >= 3)
    })
    .await;
    assert!(refreshed, "refreshTime should advance with a 1s refreshInterval");
    assert_eq!(
        secrets.get("rot-secret").await.expect("secret").metadata.resource_version,
        rv,
        "no write when unchanged"
    );

    // Rotation at the provider reaches the Secret at the next refresh.
    let patch = json!({"spec": {"provider": {"fake": {"data": [{"key": "prod/app/db", "value": db_document("rotated-pa55-do-not-log")}]}}}});
    stores.patch("fake", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("rotate");
    let rotated = eventually(Duration::from_secs(20), || async {
        secrets.get("rot-secret").await.ok().and_then(|s| s.data).and_then(|d| d.get("app-db-password").cloned())
            == Some(k8s_openapi::ByteString(b"rotated-pa55-do-not-log".to_vec()))
    })
    .await;
    assert!(rotated, "the rotated value should be synced");
    let events = events_text(&admin, &ns).await;
    assert!(events.contains("Updated"), "{events}");
    assert_no_leak(&events, "events");
    assert_no_leak(&logs(), "operator logs");
    op.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_external_secret_deletes_owned_secret_and_keeps_orphan() {
    let cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("delete").await.expect("ns");
    let op = start_operator(cluster, &ns).await;
    let stores: Api<SecretStore> = Api::namespaced(admin.clone(), &ns);
    let data = json!([{"key": "prod/app/db", "value": db_document(PASSWORD)}]);
    stores.create(&PostParams::default(), &fake_store(&ns, "fake", &op.class, data)).await.expect("store");
    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &ns);
    ess.create(&PostParams::default(), &walkthrough_es(&ns, "owned", "fake", "1h", "Owner")).await.expect("es");
    ess.create(&PostParams::default(), &walkthrough_es(&ns, "orphan", "fake", "1h", "Orphan")).await.expect("es");
    wait_ready(&ess, "owned", "SecretSynced").await;
    wait_ready(&ess, "orphan", "SecretSynced").await;
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    assert!(secrets.get("orphan-secret").await.expect("orphan").metadata.owner_references.is_none());

    ess.delete("owned", &DeleteParams::default()).await.expect("delete owned");
    ess.delete("orphan", &DeleteParams::default()).await.expect("delete orphan");
    let gone =
        eventually(Duration::from_secs(60), || async { matches!(secrets.get_opt("owned-secret").await, Ok(None)) })
            .await;
    assert!(gone, "the owned Secret is garbage-collected with its ExternalSecret");
    let es_gone =
        eventually(Duration::from_secs(30), || async { matches!(ess.get_opt("orphan").await, Ok(None)) }).await;
    assert!(es_gone, "the finalizer is removed and the ExternalSecret goes away");
    assert!(secrets.get_opt("orphan-secret").await.expect("get").is_some(), "an Orphan Secret is kept");
    op.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_conditions_leaves_secrets_untouched_and_does_not_hot_loop() {
    let cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("errors").await.expect("ns");
    let op = start_operator(cluster, &ns).await;
    let stores: Api<SecretStore> = Api::namespaced(admin.clone(), &ns);
    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &ns);
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);

    let data = json!([{"key": "prod/app/db", "value": db_document(PASSWORD)}]);
    stores.create(&PostParams::default(), &fake_store(&ns, "fake", &op.class, data)).await.expect("store");
    // An unsupported provider: reported on the store, and the ExternalSecret refuses a store that is not ready.
    let gitlab: SecretStore = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
        "metadata": {"name": "gitlab", "namespace": ns},
        "spec": {"controller": op.class, "provider": {"gitlab": {"url": "https://gitlab.example"}}}
    }))
    .expect("gitlab store");
    stores.create(&PostParams::default(), &gitlab).await.expect("gitlab store");

    // A healthy ExternalSecret, and one whose key will go missing later.
    ess.create(&PostParams::default(), &walkthrough_es(&ns, "healthy", "fake", "1h", "Owner")).await.expect("es");
    ess.create(&PostParams::default(), &walkthrough_es(&ns, "later-missing", "fake", "1h", "Owner")).await.expect("es");
    wait_ready(&ess, "later-missing", "SecretSynced").await;
    let before = secrets.get("later-missing-secret").await.expect("secret");

    ess.create(&PostParams::default(), &walkthrough_es(&ns, "no-store", "does-not-exist", "1h", "Owner"))
        .await
        .expect("es");
    ess.create(&PostParams::default(), &walkthrough_es(&ns, "unsupported", "gitlab", "1h", "Owner")).await.expect("es");
    let patch = json!({"spec": {"data": [{"secretKey": "x", "remoteRef": {"key": "no/such/key"}}]}});
    ess.patch("later-missing", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("patch");

    let (_, _, msg) = wait_ready(&ess, "no-store", "SecretSyncedError").await;
    assert!(msg.contains("SecretStore \"does-not-exist\" not found"), "{msg}");
    let (_, _, msg) = wait_ready(&ess, "unsupported", "SecretSyncedError").await;
    assert!(msg.contains("\"gitlab\" is not ready"), "{msg}");
    let store_ok = eventually(Duration::from_secs(20), || async {
        stores.get("gitlab").await.ok().and_then(|s| s.status).and_then(|s| s.condition("Ready").cloned()).is_some_and(
            |c| {
                c.status == "False"
                    && c.reason.as_deref() == Some("InvalidProviderConfig")
                    && c.message.as_deref().is_some_and(|m| m.contains("provider \"gitlab\" is not supported"))
            },
        )
    })
    .await;
    assert!(store_ok, "the gitlab store should say its provider is not supported");
    let (_, _, msg) = wait_ready(&ess, "later-missing", "SecretSyncedError").await;
    assert!(msg.contains("spec.data[0] (key=x)") && msg.contains("no/such/key"), "{msg}");
    wait_ready(&ess, "healthy", "SecretSynced").await;

    let after = secrets.get("later-missing-secret").await.expect("secret still there");
    assert_eq!(
        after.metadata.resource_version, before.metadata.resource_version,
        "a failed sync must not touch the Secret"
    );

    let events = events_text(&admin, &ns).await;
    assert!(events.contains("UpdateFailed"), "{events}");
    assert!(events.contains("InvalidProviderConfig"), "{events}");

    // No hot loop: over 10 s, the four ExternalSecrets are reconciled a bounded number of times.
    let start = op.context.stats.es_reconciles.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let count = op.context.stats.es_reconciles.load(Ordering::Relaxed) - start;
    assert!(count <= 12, "{count} reconciles in 10 s for 4 ExternalSecrets looks like a hot loop");
    assert_no_leak(&events_text(&admin, &ns).await, "events");
    assert_no_leak(&logs(), "operator logs");
    op.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_created_by_eso_is_adopted_without_a_rewrite() {
    let cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("adopt").await.expect("ns");
    common::install_crds(cluster).await;
    let class = format!("class-{ns}");
    let stores: Api<SecretStore> = Api::namespaced(admin.clone(), &ns);
    let data = json!([{"key": "prod/app/db", "value": db_document(PASSWORD)}]);
    stores.create(&PostParams::default(), &fake_store(&ns, "fake", &class, data)).await.expect("store");
    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &ns);
    let es =
        ess.create(&PostParams::default(), &walkthrough_es(&ns, "legacy", "fake", "1h", "Owner")).await.expect("es");

    // The Secret exactly as ESO (2.x) leaves it: its labels, hash, owner, field manager.
    let data = BTreeMap::from([
        ("app-db-password".to_string(), PASSWORD.as_bytes().to_vec()),
        ("app-db-username".to_string(), USERNAME.as_bytes().to_vec()),
    ]);
    let eso_secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {
            "name": "legacy-secret", "namespace": ns,
            "labels": {"reconcile.external-secrets.io/managed": "true",
                       "reconcile.external-secrets.io/created-by": created_by_label(&ns, "legacy")},
            "annotations": {"reconcile.external-secrets.io/data-hash": data_hash(&data)},
            "ownerReferences": [{"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "name": "legacy",
                                 "uid": es.metadata.uid, "controller": true, "blockOwnerDeletion": true}]
        },
        "type": "Opaque",
        "stringData": {"app-db-password": PASSWORD, "app-db-username": USERNAME}
    }))
    .expect("secret");
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    let pp =
        PostParams { field_manager: Some("externalsecrets.external-secrets.io/legacy".into()), ..Default::default() };
    let created = secrets.create(&pp, &eso_secret).await.expect("ESO's Secret");

    let op = start_operator(cluster, &ns).await;
    wait_ready(&ess, "legacy", "SecretSynced").await;
    let after = secrets.get("legacy-secret").await.expect("secret");
    assert_eq!(
        after.metadata.resource_version, created.metadata.resource_version,
        "adoption must not rewrite the Secret"
    );
    assert_eq!(op.context.stats.secret_writes.load(Ordering::Relaxed), 0);
    op.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_eso_wrote_are_taken_over_so_what_the_spec_dropped_is_removed() {
    let cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("takeover").await.expect("ns");
    common::install_crds(cluster).await;
    let class = format!("class-{ns}");
    let stores: Api<SecretStore> = Api::namespaced(admin.clone(), &ns);
    let data = json!([{"key": "prod/app/db", "value": db_document(PASSWORD)}]);
    stores.create(&PostParams::default(), &fake_store(&ns, "fake", &class, data)).await.expect("store");
    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &ns);
    let es =
        ess.create(&PostParams::default(), &walkthrough_es(&ns, "legacy", "fake", "1h", "Owner")).await.expect("es");

    // What ESO left when the ExternalSecret still had a third key and a template label: created with POST under
    // ESO's field manager, so the apiserver records an `Update` entry of that name.
    let data = BTreeMap::from([
        ("app-db-password".to_string(), PASSWORD.as_bytes().to_vec()),
        ("app-db-username".to_string(), USERNAME.as_bytes().to_vec()),
        ("app-db-host".to_string(), b"db.internal".to_vec()),
    ]);
    let encoded: BTreeMap<&String, String> = data.iter().map(|(k, v)| (k, base64_encode(v))).collect();
    let eso_secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {
            "name": "legacy-secret", "namespace": ns,
            "labels": {"reconcile.external-secrets.io/managed": "true",
                       "reconcile.external-secrets.io/created-by": created_by_label(&ns, "legacy"),
                       "team": "payments"},
            "annotations": {"reconcile.external-secrets.io/data-hash": data_hash(&data)},
            "ownerReferences": [{"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "name": "legacy",
                                 "uid": es.metadata.uid, "controller": true, "blockOwnerDeletion": true}]
        },
        "type": "Opaque",
        "data": encoded
    }))
    .expect("secret");
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    let manager = "externalsecrets.external-secrets.io/legacy";
    let pp = PostParams { field_manager: Some(manager.into()), ..Default::default() };
    let created = secrets.create(&pp, &eso_secret).await.expect("ESO's Secret");
    let operations = |s: &Secret| -> Vec<String> {
        s.metadata
            .managed_fields
            .iter()
            .flatten()
            .filter(|e| e.manager.as_deref() == Some(manager))
            .map(|e| e.operation.clone().unwrap_or_default())
            .collect()
    };
    assert_eq!(operations(&created), vec!["Update".to_string()], "the Secret is as ESO writes it");

    let op = start_operator(cluster, &ns).await;
    let cleaned = eventually(Duration::from_secs(30), || async {
        let s = secrets.get("legacy-secret").await.expect("secret");
        let keys: Vec<String> = s.data.clone().unwrap_or_default().into_keys().collect();
        keys == ["app-db-password", "app-db-username"] && !s.metadata.labels.unwrap_or_default().contains_key("team")
    })
    .await;
    let after = secrets.get("legacy-secret").await.expect("secret");
    assert!(cleaned, "the key and label ESO wrote and the spec no longer has must go: {:?}", after.metadata);
    assert_eq!(operations(&after), vec!["Apply".to_string()], "ESO's fields are ours now, one Apply entry");
    assert_eq!(after.metadata.uid, created.metadata.uid, "the same Secret, updated in place");
    assert_eq!(after.metadata.owner_references.map(|o| o.len()), Some(1));
    let (status, reason, _) = wait_ready(&ess, "legacy", "SecretSynced").await;
    assert_eq!((status.as_str(), reason.as_str()), ("True", "SecretSynced"));
    op.stop().await;
}

/// ESO up to v0.8.1 created and updated Owner and Orphan Secrets without a field manager and without the managed
/// label: the apiserver records such writes under the first word of ESO's user agent, `external-secrets`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_an_old_eso_wrote_under_its_user_agent_are_adopted_and_taken_over() {
    let cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("old-eso").await.expect("ns");
    common::install_crds(cluster).await;
    let class = format!("class-{ns}");
    let stores: Api<SecretStore> = Api::namespaced(admin.clone(), &ns);
    let data = json!([{"key": "prod/app/db", "value": db_document(PASSWORD)}]);
    stores.create(&PostParams::default(), &fake_store(&ns, "fake", &class, data)).await.expect("store");
    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &ns);
    let es = ess.create(&PostParams::default(), &walkthrough_es(&ns, "old", "fake", "1h", "Owner")).await.expect("es");

    // As ESO v0.8.1's CreateOrUpdate left it when the ExternalSecret still had a third key and a label: no managed
    // label (ESO added it from v0.11), its controller owner reference, the data hash.
    let data = BTreeMap::from([
        ("app-db-password".to_string(), PASSWORD.as_bytes().to_vec()),
        ("app-db-username".to_string(), USERNAME.as_bytes().to_vec()),
        ("app-db-host".to_string(), b"db.internal".to_vec()),
    ]);
    let encoded: BTreeMap<&String, String> = data.iter().map(|(k, v)| (k, base64_encode(v))).collect();
    let old_secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {
            "name": "old-secret", "namespace": ns,
            "labels": {"team": "payments"},
            "annotations": {"reconcile.external-secrets.io/data-hash": data_hash(&data)},
            "ownerReferences": [{"apiVersion": "external-secrets.io/v1beta1", "kind": "ExternalSecret", "name": "old",
                                 "uid": es.metadata.uid, "controller": true, "blockOwnerDeletion": true}]
        },
        "type": "Opaque",
        "data": encoded
    }))
    .expect("secret");
    let eso = common::eso_user_agent_client(cluster, "v0.8.1").await;
    let created = Api::<Secret>::namespaced(eso, &ns).create(&PostParams::default(), &old_secret).await.expect("old");
    let entries = |s: &Secret| -> Vec<(String, String)> {
        s.metadata
            .managed_fields
            .iter()
            .flatten()
            .map(|e| (e.manager.clone().unwrap_or_default(), e.operation.clone().unwrap_or_default()))
            .collect()
    };
    assert_eq!(entries(&created), vec![("external-secrets".to_string(), "Update".to_string())], "as old ESO wrote it");

    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    let op = start_operator(cluster, &ns).await;
    let cleaned = eventually(Duration::from_secs(30), || async {
        let s = secrets.get("old-secret").await.expect("secret");
        let keys: Vec<String> = s.data.clone().unwrap_or_default().into_keys().collect();
        keys == ["app-db-password", "app-db-username"] && !s.metadata.labels.unwrap_or_default().contains_key("team")
    })
    .await;
    let after = secrets.get("old-secret").await.expect("secret");
    assert!(cleaned, "the key and label old ESO wrote and the spec no longer has must go: {:?}", after.metadata);
    assert_eq!(
        entries(&after),
        vec![("externalsecrets.external-secrets.io/old".to_string(), "Apply".to_string())],
        "the legacy entry is ours now"
    );
    assert_eq!(after.metadata.uid, created.metadata.uid, "the same Secret, updated in place");
    let labels = after.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("reconcile.external-secrets.io/managed").map(String::as_str), Some("true"));
    assert_eq!(after.metadata.owner_references.map(|o| o.len()), Some(1));
    let (status, reason, _) = wait_ready(&ess, "old", "SecretSynced").await;
    assert_eq!((status.as_str(), reason.as_str()), ("True", "SecretSynced"));
    op.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_objects_leave_no_store_clients_or_metric_series_behind() {
    let cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("prune").await.expect("ns");
    let op = start_operator(cluster, &ns).await;
    let stores: Api<SecretStore> = Api::namespaced(admin.clone(), &ns);
    let data = json!([{"key": "prod/app/db", "value": db_document(PASSWORD)}]);
    stores.create(&PostParams::default(), &fake_store(&ns, "fake", &op.class, data)).await.expect("store");
    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &ns);
    ess.create(&PostParams::default(), &walkthrough_es(&ns, "short-lived", "fake", "1h", "Owner")).await.expect("es");
    wait_ready(&ess, "short-lived", "SecretSynced").await;
    let series = format!("name=\"short-lived\",namespace=\"{ns}\"");
    assert!(op.context.metrics.encode().contains(&series), "per-object series exist while the object does");
    assert!(!op.context.clients.is_empty(), "a store client was built");

    ess.delete("short-lived", &DeleteParams::default()).await.expect("delete");
    let gone =
        eventually(Duration::from_secs(30), || async { matches!(ess.get_opt("short-lived").await, Ok(None)) }).await;
    assert!(gone, "the ExternalSecret goes away");
    assert!(!op.context.metrics.encode().contains(&series), "its metric series are removed with it");
    assert_eq!(op.context.per_object_entries(), 0, "no backoff, verified version or status kept for it");

    stores.delete("fake", &DeleteParams::default()).await.expect("delete store");
    let uncached = eventually(Duration::from_secs(30), || async {
        op.context.secret_stores.get(&kube::runtime::reflector::ObjectRef::new("fake").within(&ns)).is_none()
    })
    .await;
    assert!(uncached, "the store leaves the watch cache");
    op.context.prune_deleted_stores();
    assert!(op.context.clients.is_empty(), "the deleted store's client, credentials and cached reads are dropped");
    op.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_provider_reads_a_secret_of_another_namespace() {
    let cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("k8s-consumer").await.expect("ns");
    let remote_ns = cluster.namespace("k8s-remote").await.expect("remote ns");
    let op = start_operator(cluster, &ns).await;

    let remote: Api<Secret> = Api::namespaced(admin.clone(), &remote_ns);
    let source: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
        "stringData": {"password": PASSWORD, "config": "{\"user\":\"svc\"}"}
    }))
    .expect("secret");
    remote.create(&PostParams::default(), &source).await.expect("remote secret");
    // A ServiceAccount in the consumer namespace that may read Secrets in the remote namespace.
    let sa: k8s_openapi::api::core::v1::ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "reader"}})).expect("sa");
    Api::<k8s_openapi::api::core::v1::ServiceAccount>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &sa)
        .await
        .expect("sa");
    let role: k8s_openapi::api::rbac::v1::Role = serde_json::from_value(json!({
        "metadata": {"name": "read-secrets"},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]},
                  {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectrulesreviews"], "verbs": ["create"]}]
    }))
    .expect("role");
    Api::<k8s_openapi::api::rbac::v1::Role>::namespaced(admin.clone(), &remote_ns)
        .create(&PostParams::default(), &role)
        .await
        .expect("role");
    let binding: k8s_openapi::api::rbac::v1::RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "read-secrets"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-secrets"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": ns}]
    }))
    .expect("binding");
    Api::<k8s_openapi::api::rbac::v1::RoleBinding>::namespaced(admin.clone(), &remote_ns)
        .create(&PostParams::default(), &binding)
        .await
        .expect("binding");

    let ca = base64_encode(&std::fs::read(&cluster.pki.ca_cert).expect("ca"));
    let store: SecretStore = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
        "metadata": {"name": "k8s", "namespace": ns},
        "spec": {"controller": op.class, "provider": {"kubernetes": {
            "remoteNamespace": remote_ns,
            "server": {"url": cluster.server, "caBundle": ca},
            "auth": {"serviceAccount": {"name": "reader"}}
        }}}
    }))
    .expect("store");
    Api::<SecretStore>::namespaced(admin.clone(), &ns).create(&PostParams::default(), &store).await.expect("store");
    let es: ExternalSecret = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": "copy", "namespace": ns},
        "spec": {"secretStoreRef": {"name": "k8s"}, "target": {"name": "copied"},
                 "data": [{"secretKey": "pw", "remoteRef": {"key": "db", "property": "password"}},
                          {"secretKey": "user", "remoteRef": {"key": "db", "property": "config.user"}}]}
    }))
    .expect("es");
    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &ns);
    ess.create(&PostParams::default(), &es).await.expect("es");
    wait_ready(&ess, "copy", "SecretSynced").await;
    let copied = Api::<Secret>::namespaced(admin.clone(), &ns).get("copied").await.expect("copied");
    let data = copied.data.expect("data");
    assert_eq!(data["pw"].0, PASSWORD.as_bytes());
    assert_eq!(data["user"].0, b"svc");
    assert_no_leak(&logs(), "operator logs");
    op.stop().await;
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_render_dockerconfigjson_and_template_from_a_config_map() {
    let cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("templates").await.expect("ns");
    let op = start_operator(cluster, &ns).await;
    let stores: Api<SecretStore> = Api::namespaced(admin.clone(), &ns);
    let data = json!([{"key": "registry", "value": json!({"host": "registry.example", "user": "robot", "token": PASSWORD}).to_string()}]);
    stores.create(&PostParams::default(), &fake_store(&ns, "fake", &op.class, data)).await.expect("store");
    let cm: k8s_openapi::api::core::v1::ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "app-config-template"},
        "data": {"app.properties": "registry={{ .host }}\nuser={{ .user | upper }}\n"}
    }))
    .expect("cm");
    Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &cm)
        .await
        .expect("cm");
    let es: ExternalSecret = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": "pull", "namespace": ns},
        "spec": {
            "secretStoreRef": {"name": "fake"},
            "target": {"name": "pull-secret", "template": {
                "type": "kubernetes.io/dockerconfigjson",
                "metadata": {"labels": {"registry": "{{ .host | replace \".\" \"-\" }}"}},
                "data": {".dockerconfigjson": "{\"auths\":{\"{{ .host }}\":{\"auth\":\"{{ printf \"%s:%s\" .user .token | b64enc }}\"}}}"},
                "templateFrom": [{"configMap": {"name": "app-config-template", "items": [{"key": "app.properties"}]}}]
            }},
            "dataFrom": [{"extract": {"key": "registry"}}]
        }
    }))
    .expect("es");
    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &ns);
    ess.create(&PostParams::default(), &es).await.expect("es");
    wait_ready(&ess, "pull", "SecretSynced").await;

    let secret = Api::<Secret>::namespaced(admin.clone(), &ns).get("pull-secret").await.expect("secret");
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/dockerconfigjson"));
    let data: BTreeMap<String, String> =
        secret.data.expect("data").into_iter().map(|(k, v)| (k, String::from_utf8(v.0).expect("utf-8"))).collect();
    let auth = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("robot:{PASSWORD}"))
    };
    assert_eq!(data[".dockerconfigjson"], format!(r#"{{"auths":{{"registry.example":{{"auth":"{auth}"}}}}}}"#));
    assert_eq!(data["app.properties"], "registry=registry.example\nuser=ROBOT\n");
    assert_eq!(data.len(), 2, "a template without mergePolicy Merge replaces the provider keys: {:?}", data.keys());
    assert_eq!(secret.metadata.labels.expect("labels").get("registry").map(String::as_str), Some("registry-example"));

    // A template that fails names the field, not the values, and leaves the Secret as it was.
    let patch = json!({"spec": {"target": {"template": {"data": {"x": "{{ .nope }}"}, "templateFrom": null}}}});
    ess.patch("pull", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("patch");
    let (_, _, message) = wait_ready(&ess, "pull", "SecretSyncedError").await;
    assert!(message.contains("spec.target.template.data[x]") && message.contains("nope"), "{message}");
    assert_no_leak(&message, "status");
    assert_no_leak(&events_text(&admin, &ns).await, "events");
    assert_no_leak(&logs(), "operator logs");
    op.stop().await;
}

/// ESO's `--template-left-delimiter` / `--template-right-delimiter`: templates are written with the configured
/// delimiters, and text in the default ones is left as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_delimiter_flags_are_used_end_to_end() {
    let cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("delimiters").await.expect("ns");
    let op = common::start_operator_configured(cluster, &ns, common::registry(), |c| {
        c.template_delimiters = external_secrets_template::Delimiters::new("<<", ">>");
    })
    .await;
    let stores: Api<SecretStore> = Api::namespaced(admin.clone(), &ns);
    let data = json!([{"key": "prod/app/db", "value": db_document(PASSWORD)}]);
    stores.create(&PostParams::default(), &fake_store(&ns, "fake", &op.class, data)).await.expect("store");
    let es: ExternalSecret = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": "dsn", "namespace": ns},
        "spec": {
            "secretStoreRef": {"name": "fake"},
            "target": {"name": "dsn-secret", "template": {
                "data": {"dsn": "postgres://<< .username >>@<< .host >>/{{ db }}"},
                "metadata": {"annotations": {"rendered-by": "<< \"delimiters\" | upper >>"}}
            }},
            "dataFrom": [{"extract": {"key": "prod/app/db"}}]
        }
    }))
    .expect("es");
    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &ns);
    ess.create(&PostParams::default(), &es).await.expect("es");
    wait_ready(&ess, "dsn", "SecretSynced").await;
    let secret = Api::<Secret>::namespaced(admin.clone(), &ns).get("dsn-secret").await.expect("secret");
    let dsn = secret.data.expect("data").remove("dsn").expect("dsn").0;
    assert_eq!(String::from_utf8(dsn).expect("utf-8"), format!("postgres://{USERNAME}@db.internal/{{{{ db }}}}"));
    let annotations = secret.metadata.annotations.expect("annotations");
    assert_eq!(annotations.get("rendered-by").map(String::as_str), Some("DELIMITERS"));
    assert_no_leak(&events_text(&admin, &ns).await, "events");
    op.stop().await;
}
