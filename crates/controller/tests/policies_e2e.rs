//! Every policy an ExternalSecret can name, against the real local control plane, with the fake provider: what
//! each `creationPolicy`, `deletionPolicy`, `refreshPolicy`, `refreshInterval`, force-sync annotation and
//! `immutable` does to the target Secret — exactly what is written, kept, merged or deleted — and how bad input is
//! reported (the entry at fault named, the existing Secret untouched), and `rewrite[].merge` end to end.
//! `creationPolicy: Owner` is covered by `externalsecret_e2e.rs`. The operator runs in-process as its own
//! ServiceAccount with the shipped ClusterRole.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{FakeStoreEnv, event_count, events_text, eventually, kubectl, wait_ready};
use external_secrets_api::ExternalSecret;
use external_secrets_core::hash::data_hash;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const PASSWORD: &str = "S3cr3t-pa55-do-not-log";
const ROTATED: &str = "rotated-pa55-do-not-log";
const FOREIGN: &str = "foreign-value-do-not-log";
const PLAIN_TEXT: &str = "plain-text-value-do-not-log";
const LABEL_MANAGED: &str = "reconcile.external-secrets.io/managed";
const DATA_HASH: &str = "reconcile.external-secrets.io/data-hash";

/// One test's namespace, operator and API handles. The fake store is called `fake`.
type Env = FakeStoreEnv;

impl Env {
    /// A fresh namespace, an operator watching it, and a fake store `fake` holding `store_data`
    /// (`[{"key", "value"}]`).
    async fn new(prefix: &str, store_data: Value) -> Env {
        Env::start(prefix, store_data, |_| {}).await
    }

    /// Merge-patches an ExternalSecret's spec.
    async fn patch_spec(&self, name: &str, spec: Value) {
        let patch = json!({"spec": spec});
        self.ess.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("patch ExternalSecret");
    }

    /// Creates a Secret that the operator did not write (no managed label), with a label and a key of its own.
    async fn create_foreign_secret(&self, name: &str) -> Secret {
        let secret: Secret = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "labels": {"team": "payments"}},
            "stringData": {"foreign": FOREIGN}
        }))
        .expect("Secret");
        self.secrets.create(&PostParams::default(), &secret).await.expect("foreign Secret")
    }

    /// The target Secret's data as strings, if it exists.
    async fn data(&self, name: &str) -> Option<BTreeMap<String, String>> {
        let secret = self.secrets.get_opt(name).await.expect("get Secret")?;
        Some(
            secret
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, String::from_utf8(v.0).expect("UTF-8 value")))
                .collect(),
        )
    }

    /// How many ExternalSecret reconciles the operator has started so far.
    fn reconciles(&self) -> u64 {
        self.op.context.stats.es_reconciles.load(Ordering::Relaxed)
    }

    /// Waits (30 s at most) until the operator has started `count` more ExternalSecret reconciles than `since` (a
    /// [`Env::reconciles`] taken before a change): proof that it looked at the objects again after the change,
    /// before asserting that it did *not* act on it.
    async fn wait_reconciles(&self, since: u64, count: u64) {
        let counted = eventually(Duration::from_secs(30), || async { self.reconciles() >= since + count }).await;
        assert!(counted, "the operator did not reconcile {count} more times within 30 s");
    }

    /// Secret values never appear in events or in the operator's logs.
    async fn assert_no_leak(&self) {
        self.assert_not_leaked(&[PASSWORD, ROTATED, FOREIGN, PLAIN_TEXT]).await;
    }

    async fn stop(self) {
        self.assert_no_leak().await;
        self.op.stop().await;
    }
}

/// Polls `check` for `duration`; false as soon as it fails. Used to show that something does *not* happen, after
/// [`Env::wait_reconciles`] showed that the operator looked.
async fn holds_for<F, Fut>(duration: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + duration;
    while tokio::time::Instant::now() < deadline {
        if !check().await {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    true
}

/// As in ESO, the `data-hash` annotation of a merge target is the hash of the Secret's whole data, foreign keys
/// included: so the Secret counts as unchanged until someone changes it.
fn assert_hash_covers_all_data(secret: &Secret) {
    let data: BTreeMap<String, Vec<u8>> =
        secret.data.clone().unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect();
    let annotations = secret.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(annotations.get("reconcile.external-secrets.io/data-hash"), Some(&data_hash(&data)));
}

fn entry(key: &str, value: &str) -> Value {
    json!({"key": key, "value": value})
}

/// `data[]` taking the whole value of remote key `app` as Secret key `password`.
fn password_from_app() -> Value {
    json!([{"secretKey": "password", "remoteRef": {"key": "app"}}])
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphan_secret_is_kept_after_deletion_and_its_drift_is_not_repaired() {
    let env = Env::new("orphan", json!([entry("app", PASSWORD)])).await;
    env.create_es(
        "orphan",
        json!({"refreshInterval": "1h", "target": {"name": "orphan-secret", "creationPolicy": "Orphan"},
               "data": password_from_app()}),
    )
    .await;
    wait_ready(&env.ess, "orphan", "SecretSynced").await;
    let secret = env.secrets.get("orphan-secret").await.expect("Secret");
    assert!(secret.metadata.owner_references.is_none(), "Orphan sets no owner reference");
    let labels = secret.metadata.labels.unwrap_or_default();
    assert_eq!(labels.get("reconcile.external-secrets.io/managed").map(String::as_str), Some("true"));
    assert!(!labels.contains_key("reconcile.external-secrets.io/created-by"), "created-by is for Owner only");

    // Someone edits the Secret: the operator sees it (the watch reconciles) and leaves the drift alone.
    let drift = json!({"stringData": {"password": "edited-by-hand"}});
    let since = env.reconciles();
    env.secrets.patch("orphan-secret", &PatchParams::default(), &Patch::Merge(&drift)).await.expect("edit");
    env.wait_reconciles(since, 1).await;
    let kept = holds_for(Duration::from_secs(3), || async {
        env.data("orphan-secret").await == Some(map(&[("password", "edited-by-hand")]))
    })
    .await;
    assert!(kept, "an Orphan target's drift must not be repaired");

    env.ess.delete("orphan", &DeleteParams::default()).await.expect("delete ExternalSecret");
    let gone =
        eventually(Duration::from_secs(30), || async { matches!(env.ess.get_opt("orphan").await, Ok(None)) }).await;
    assert!(gone, "the finalizer is removed and the ExternalSecret goes away");
    assert_eq!(env.data("orphan-secret").await, Some(map(&[("password", "edited-by-hand")])), "Orphan is kept");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_writes_only_its_keys_into_a_foreign_secret_and_creates_nothing_when_missing() {
    let env = Env::new("merge", json!([entry("app", PASSWORD)])).await;
    let before = env.create_foreign_secret("shared").await;
    env.create_es(
        "merge",
        json!({"refreshInterval": "1h", "target": {"name": "shared", "creationPolicy": "Merge"},
               "data": password_from_app()}),
    )
    .await;
    let (status, _, message) = wait_ready(&env.ess, "merge", "SecretSynced").await;
    assert_eq!((status.as_str(), message.as_str()), ("True", "secret synced"));
    let after = env.secrets.get("shared").await.expect("Secret");
    assert_eq!(after.metadata.uid, before.metadata.uid, "the same Secret, not a new one");
    assert!(after.metadata.owner_references.is_none(), "Merge sets no owner reference");
    let labels = after.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("team").map(String::as_str), Some("payments"), "foreign labels are kept");
    assert_eq!(labels.get("reconcile.external-secrets.io/managed").map(String::as_str), Some("true"));
    assert_eq!(env.data("shared").await, Some(map(&[("foreign", FOREIGN), ("password", PASSWORD)])));
    assert_hash_covers_all_data(&after);

    // No Secret to merge into: Ready, reason SecretMissing, and nothing is created.
    env.create_es(
        "merge-missing",
        json!({"refreshInterval": "1h", "target": {"name": "absent", "creationPolicy": "Merge"},
               "data": password_from_app()}),
    )
    .await;
    let (status, _, message) = wait_ready(&env.ess, "merge-missing", "SecretMissing").await;
    assert_eq!((status.as_str(), message.as_str()), ("True", "secret will not be created due to CreationPolicy=Merge"));
    assert!(env.secrets.get_opt("absent").await.expect("get").is_none(), "Merge never creates the Secret");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_or_merge_creates_when_missing_and_merges_when_present() {
    let env = Env::new("create-or-merge", json!([entry("app", PASSWORD)])).await;
    env.create_es(
        "fresh",
        json!({"refreshInterval": "1h", "target": {"name": "fresh-secret", "creationPolicy": "CreateOrMerge"},
               "data": password_from_app()}),
    )
    .await;
    wait_ready(&env.ess, "fresh", "SecretSynced").await;
    let created = env.secrets.get("fresh-secret").await.expect("created");
    assert!(created.metadata.owner_references.is_none(), "CreateOrMerge sets no owner reference");
    assert_eq!(env.data("fresh-secret").await, Some(map(&[("password", PASSWORD)])));

    let before = env.create_foreign_secret("shared").await;
    env.create_es(
        "into-shared",
        json!({"refreshInterval": "1h", "target": {"name": "shared", "creationPolicy": "CreateOrMerge"},
               "data": password_from_app()}),
    )
    .await;
    wait_ready(&env.ess, "into-shared", "SecretSynced").await;
    let after = env.secrets.get("shared").await.expect("Secret");
    assert_eq!(after.metadata.uid, before.metadata.uid);
    assert!(after.metadata.owner_references.is_none());
    assert_eq!(after.metadata.labels.unwrap_or_default().get("team").map(String::as_str), Some("payments"));
    assert_eq!(env.data("shared").await, Some(map(&[("foreign", FOREIGN), ("password", PASSWORD)])));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_sync_creates_without_reading_and_an_unmanaged_secret_of_that_name_is_refused_untouched() {
    let env = Env::new("first-sync", json!([entry("app", PASSWORD)])).await;
    // The usual first sync: the target does not exist, and it is created without first being read.
    env.create_es("fresh", json!({"refreshInterval": "1h", "data": password_from_app()})).await;
    wait_ready(&env.ess, "fresh", "SecretSynced").await;
    assert_eq!(env.data("fresh").await, Some(map(&[("password", PASSWORD)])));
    assert_eq!(env.op.context.stats.secret_reads.load(Ordering::Relaxed), 0, "no read before the create");

    // A Secret of that name that we do not manage: the create fails, the Secret is read and refused, untouched.
    let theirs: Secret = serde_json::from_value(json!({
        "metadata": {"name": "theirs"},
        "stringData": {"mine": "kept"}
    }))
    .expect("Secret");
    let theirs = env.secrets.create(&PostParams::default(), &theirs).await.expect("create Secret");
    env.create_es("taker", json!({"refreshInterval": "1h", "target": {"name": "theirs"}, "data": password_from_app()}))
        .await;
    let (status, _, message) = wait_ready(&env.ess, "taker", "SecretSyncedError").await;
    assert_eq!(status, "False");
    assert!(message.contains("already exists and is not managed by external-secrets"), "{message}");
    let after = env.secrets.get("theirs").await.expect("Secret");
    assert_eq!(after.metadata.resource_version, theirs.metadata.resource_version, "the Secret is untouched");
    assert_eq!(env.data("theirs").await, Some(map(&[("mine", "kept")])));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creation_policy_none_writes_no_secret_and_reports_synced() {
    let env = Env::new("none", json!([entry("app", PASSWORD)])).await;
    env.create_es(
        "none",
        json!({"refreshInterval": "1h", "target": {"name": "none-secret", "creationPolicy": "None"},
               "data": password_from_app()}),
    )
    .await;
    let (status, _, _) = wait_ready(&env.ess, "none", "SecretSynced").await;
    assert_eq!(status, "True");
    assert!(env.secrets.get_opt("none-secret").await.expect("get").is_none(), "None writes no Secret");
    assert_eq!(env.op.context.stats.secret_writes.load(Ordering::Relaxed), 0);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_policy_delete_deletes_the_owned_secret_when_the_provider_key_is_gone() {
    let env = Env::new("del-delete", json!([entry("app", PASSWORD), entry("other", "unrelated")])).await;
    env.create_es(
        "gone",
        json!({"refreshInterval": "1s", "target": {"name": "gone-secret", "deletionPolicy": "Delete"},
               "data": password_from_app()}),
    )
    .await;
    wait_ready(&env.ess, "gone", "SecretSynced").await;
    assert_eq!(env.data("gone-secret").await, Some(map(&[("password", PASSWORD)])));

    env.set_store_data(json!([entry("other", "unrelated")])).await;
    let (status, _, message) = wait_ready(&env.ess, "gone", "SecretDeleted").await;
    assert_eq!((status.as_str(), message.as_str()), ("True", "secret deleted due to DeletionPolicy=Delete"));
    let deleted = eventually(Duration::from_secs(10), || async {
        env.secrets.get_opt("gone-secret").await.ok().flatten().is_none()
    })
    .await;
    assert!(deleted, "the owned Secret is deleted");
    let events = events_text(&env.admin, &env.ns).await;
    assert!(events.contains("MissingProviderSecret") && events.contains("spec.data[0] (key=password)"), "{events}");
    assert!(events.contains("Deleted"), "{events}");
    // It stays deleted: later refreshes do not bring back an empty Secret, and, as in ESO, record no further
    // `Deleted` event (there is nothing left to delete).
    env.wait_reconciles(env.reconciles(), 3).await;
    assert!(env.secrets.get_opt("gone-secret").await.expect("get").is_none());
    assert_eq!(event_count(&env.admin, &env.ns, "Deleted").await, 1, "one deletion, one event");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_policy_retain_keeps_the_secret_and_reports_the_missing_key() {
    let env = Env::new("del-retain", json!([entry("app", PASSWORD), entry("other", "unrelated")])).await;
    env.create_es(
        "kept",
        json!({"refreshInterval": "1s", "target": {"name": "kept-secret", "deletionPolicy": "Retain"},
               "data": password_from_app()}),
    )
    .await;
    wait_ready(&env.ess, "kept", "SecretSynced").await;
    let before = env.secrets.get("kept-secret").await.expect("Secret");

    // ESO: under Retain a provider "not found" is an error (not skipped), so the Secret keeps its last data.
    env.set_store_data(json!([entry("other", "unrelated")])).await;
    let (status, _, message) = wait_ready(&env.ess, "kept", "SecretSyncedError").await;
    assert_eq!(status, "False");
    assert!(message.contains("spec.data[0] (key=password)") && message.contains("\"app\""), "{message}");
    let after = env.secrets.get("kept-secret").await.expect("Secret kept");
    assert_eq!(after.metadata.resource_version, before.metadata.resource_version, "the Secret is untouched");
    assert_eq!(env.data("kept-secret").await, Some(map(&[("password", PASSWORD)])));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_policy_merge_removes_only_the_managed_keys_and_keeps_the_secret() {
    let env = Env::new("del-merge", json!([entry("app", PASSWORD), entry("other", "unrelated")])).await;
    let before = env.create_foreign_secret("shared").await;
    env.create_es(
        "merged",
        json!({"refreshInterval": "1s",
               "target": {"name": "shared", "creationPolicy": "Merge", "deletionPolicy": "Merge"},
               "data": password_from_app()}),
    )
    .await;
    wait_ready(&env.ess, "merged", "SecretSynced").await;
    assert_eq!(env.data("shared").await, Some(map(&[("foreign", FOREIGN), ("password", PASSWORD)])));

    env.set_store_data(json!([entry("other", "unrelated")])).await;
    let removed = eventually(Duration::from_secs(20), || async {
        env.data("shared").await == Some(map(&[("foreign", FOREIGN)]))
    })
    .await;
    assert!(
        removed,
        "the managed key is removed and the foreign key kept: {:?}",
        env.data("shared").await.map(|d| d.into_keys().collect::<Vec<_>>())
    );
    let after = env.secrets.get("shared").await.expect("Secret kept");
    assert_eq!(after.metadata.uid, before.metadata.uid);
    assert_hash_covers_all_data(&after);
    assert_eq!(after.metadata.labels.unwrap_or_default().get("team").map(String::as_str), Some("payments"));
    wait_ready(&env.ess, "merged", "SecretSynced").await;
    env.stop().await;
}

/// ESO 2.9 merges with PUT under the ExternalSecret's field manager (an `Update` entry): what it merged must still
/// be removable by `deletionPolicy: Merge` after the switch to this operator, and the data hash must keep
/// describing the whole data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_policy_merge_removes_the_keys_eso_merged_into_a_foreign_secret() {
    let env = Env::new("del-merge-eso", json!([entry("app", PASSWORD), entry("other", "unrelated")])).await;
    env.create_foreign_secret("shared").await;
    // What ESO leaves: its managed label and data hash, and the key it merged, all written with PUT.
    let mut merged = env.secrets.get("shared").await.expect("Secret");
    merged.metadata.labels.get_or_insert_with(BTreeMap::new).insert(LABEL_MANAGED.into(), "true".into());
    merged.data.get_or_insert_with(BTreeMap::new).insert("password".into(), k8s_openapi::ByteString(PASSWORD.into()));
    let data: BTreeMap<String, Vec<u8>> =
        merged.data.clone().unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect();
    merged.metadata.annotations.get_or_insert_with(BTreeMap::new).insert(DATA_HASH.into(), data_hash(&data));
    let manager = "externalsecrets.external-secrets.io/merged";
    let pp = PostParams { field_manager: Some(manager.into()), ..Default::default() };
    let eso_written = env.secrets.replace("shared", &pp, &merged).await.expect("ESO's merge");
    let operations: Vec<_> = eso_written
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|e| e.manager.as_deref() == Some(manager))
        .map(|e| e.operation.clone().unwrap_or_default())
        .collect();
    assert_eq!(operations, ["Update"], "as ESO writes it");

    env.create_es(
        "merged",
        json!({"refreshInterval": "1s",
               "target": {"name": "shared", "creationPolicy": "Merge", "deletionPolicy": "Merge"},
               "data": password_from_app()}),
    )
    .await;
    wait_ready(&env.ess, "merged", "SecretSynced").await;
    let adopted = env.secrets.get("shared").await.expect("Secret");
    assert_eq!(adopted.metadata.resource_version, eso_written.metadata.resource_version, "adopted without a rewrite");

    env.set_store_data(json!([entry("other", "unrelated")])).await;
    let removed = eventually(Duration::from_secs(20), || async {
        env.data("shared").await == Some(map(&[("foreign", FOREIGN)]))
    })
    .await;
    assert!(
        removed,
        "the key ESO merged is removed, the foreign key kept: {:?}",
        env.data("shared").await.map(|d| d.into_keys().collect::<Vec<_>>())
    );
    let after = env.secrets.get("shared").await.expect("Secret kept");
    assert_eq!(after.metadata.uid, eso_written.metadata.uid);
    assert_hash_covers_all_data(&after);
    assert_eq!(after.metadata.labels.unwrap_or_default().get("team").map(String::as_str), Some("payments"));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_policy_created_once_never_syncs_a_provider_change() {
    let env = Env::new("created-once", json!([entry("app", PASSWORD)])).await;
    env.create_es(
        "once",
        json!({"refreshInterval": "1s", "refreshPolicy": "CreatedOnce", "target": {"name": "once-secret"},
               "data": password_from_app()}),
    )
    .await;
    wait_ready(&env.ess, "once", "SecretSynced").await;
    let since = env.reconciles();
    env.set_store_data(json!([entry("app", ROTATED)])).await;
    // Requeued every second; a change of the ExternalSecret does not sync either.
    kubectl(env.cluster, &["annotate", "es", "once", "force-sync=1", "--overwrite", "-n", &env.ns]);
    env.wait_reconciles(since, 3).await;
    let unchanged = holds_for(Duration::from_secs(2), || async {
        env.data("once-secret").await == Some(map(&[("password", PASSWORD)]))
    })
    .await;
    assert!(unchanged, "CreatedOnce syncs only once");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_policy_on_change_syncs_only_after_a_change_of_the_external_secret() {
    let env = Env::new("on-change", json!([entry("app", PASSWORD)])).await;
    env.create_es(
        "onchange",
        json!({"refreshInterval": "1s", "refreshPolicy": "OnChange", "target": {"name": "onchange-secret"},
               "data": password_from_app()}),
    )
    .await;
    wait_ready(&env.ess, "onchange", "SecretSynced").await;
    let since = env.reconciles();
    env.set_store_data(json!([entry("app", ROTATED)])).await;
    env.wait_reconciles(since, 3).await;
    let unchanged = holds_for(Duration::from_secs(2), || async {
        env.data("onchange-secret").await == Some(map(&[("password", PASSWORD)]))
    })
    .await;
    assert!(unchanged, "OnChange does not sync a provider change by itself");

    kubectl(env.cluster, &["annotate", "es", "onchange", "force-sync=1", "--overwrite", "-n", &env.ns]);
    let synced = eventually(Duration::from_secs(20), || async {
        env.data("onchange-secret").await == Some(map(&[("password", ROTATED)]))
    })
    .await;
    assert!(synced, "an annotation change syncs an OnChange ExternalSecret");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_policy_periodic_syncs_a_provider_change_at_the_next_refresh() {
    let env = Env::new("periodic", json!([entry("app", PASSWORD)])).await;
    env.create_es(
        "periodic",
        json!({"refreshInterval": "1s", "refreshPolicy": "Periodic", "target": {"name": "periodic-secret"},
               "data": password_from_app()}),
    )
    .await;
    wait_ready(&env.ess, "periodic", "SecretSynced").await;
    env.set_store_data(json!([entry("app", ROTATED)])).await;
    let synced = eventually(Duration::from_secs(20), || async {
        env.data("periodic-secret").await == Some(map(&[("password", ROTATED)]))
    })
    .await;
    assert!(synced, "Periodic syncs the provider change");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_sync_annotation_syncs_at_once_despite_a_long_refresh_interval() {
    let env = Env::new("force-sync", json!([entry("app", PASSWORD)])).await;
    env.create_es(
        "forced",
        json!({"refreshInterval": "1h", "target": {"name": "forced-secret"}, "data": password_from_app()}),
    )
    .await;
    wait_ready(&env.ess, "forced", "SecretSynced").await;
    let since = env.reconciles();
    env.set_store_data(json!([entry("app", ROTATED)])).await;
    // The store change makes the operator look (it requeues the store's users), but the refresh is not due.
    env.wait_reconciles(since, 1).await;
    let unchanged = holds_for(Duration::from_secs(2), || async {
        env.data("forced-secret").await == Some(map(&[("password", PASSWORD)]))
    })
    .await;
    assert!(unchanged, "with refreshInterval 1h a provider change waits for the next refresh");

    let stamp = jiff::Timestamp::now().as_second().to_string();
    kubectl(env.cluster, &["annotate", "es", "forced", &format!("force-sync={stamp}"), "--overwrite", "-n", &env.ns]);
    let synced = eventually(Duration::from_secs(10), || async {
        env.data("forced-secret").await == Some(map(&[("password", ROTATED)]))
    })
    .await;
    assert!(synced, "the force-sync annotation syncs at once");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_interval_zero_syncs_once_and_recreates_a_deleted_target() {
    let env = Env::new("interval-zero", json!([entry("app", PASSWORD)])).await;
    env.create_es(
        "zero",
        json!({"refreshInterval": "0", "target": {"name": "zero-secret"}, "data": password_from_app()}),
    )
    .await;
    wait_ready(&env.ess, "zero", "SecretSynced").await;
    let since = env.reconciles();
    env.set_store_data(json!([entry("app", ROTATED)])).await;
    env.wait_reconciles(since, 1).await;
    let unchanged = holds_for(Duration::from_secs(2), || async {
        env.data("zero-secret").await == Some(map(&[("password", PASSWORD)]))
    })
    .await;
    assert!(unchanged, "refreshInterval 0 never refreshes");

    // A missing target is repaired, with what the provider has now (as ESO does).
    env.secrets.delete("zero-secret", &DeleteParams::default()).await.expect("delete target");
    let recreated = eventually(Duration::from_secs(20), || async {
        env.data("zero-secret").await == Some(map(&[("password", ROTATED)]))
    })
    .await;
    assert!(recreated, "a deleted target Secret is recreated");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn immutable_target_is_set_and_a_later_change_fails_without_touching_it() {
    let env = Env::new("immutable", json!([entry("app", PASSWORD)])).await;
    env.create_es(
        "frozen",
        json!({"refreshInterval": "1s", "target": {"name": "frozen-secret", "immutable": true},
               "data": password_from_app()}),
    )
    .await;
    wait_ready(&env.ess, "frozen", "SecretSynced").await;
    let before = env.secrets.get("frozen-secret").await.expect("Secret");
    assert_eq!(before.immutable, Some(true));

    env.set_store_data(json!([entry("app", ROTATED)])).await;
    let (status, _, message) = wait_ready(&env.ess, "frozen", "SecretSyncedError").await;
    assert_eq!((status.as_str(), message.as_str()), ("False", "could not update secret, target is immutable"));
    let after = env.secrets.get("frozen-secret").await.expect("Secret");
    assert_eq!(after.metadata.resource_version, before.metadata.resource_version, "the Secret is untouched");
    assert_eq!(env.data("frozen-secret").await, Some(map(&[("password", PASSWORD)])));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_names_the_entry_at_fault_and_leaves_the_secret_untouched() {
    let doc = json!({"username": "admin", "password": PASSWORD}).to_string();
    let env = Env::new(
        "bad-input",
        json!([entry("doc", &doc), entry("plain", PLAIN_TEXT), entry("not-b64", "not base64!! do-not-log")]),
    )
    .await;
    let extract_doc = json!([{"extract": {"key": "doc"}}]);
    for name in ["regexp", "base64", "not-json"] {
        env.create_es(
            name,
            json!({"refreshInterval": "1h", "target": {"name": format!("{name}-secret")},
                                   "dataFrom": extract_doc.clone()}),
        )
        .await;
    }
    let mut before = BTreeMap::new();
    for name in ["regexp", "base64", "not-json"] {
        wait_ready(&env.ess, name, "SecretSynced").await;
        let secret = env.secrets.get(&format!("{name}-secret")).await.expect("Secret");
        before.insert(name, secret.metadata.resource_version);
    }

    env.patch_spec(
        "regexp",
        json!({"dataFrom": [{"extract": {"key": "doc"}, "rewrite": [{"regexp": {"source": "([", "target": "x"}}]}]}),
    )
    .await;
    env.patch_spec(
        "base64",
        json!({"dataFrom": null,
               "data": [{"secretKey": "k", "remoteRef": {"key": "not-b64", "decodingStrategy": "Base64"}}]}),
    )
    .await;
    env.patch_spec("not-json", json!({"dataFrom": [{"extract": {"key": "plain"}}]})).await;

    let (status, _, message) = wait_ready(&env.ess, "regexp", "SecretSyncedError").await;
    assert_eq!(status, "False");
    assert!(message.contains("spec.dataFrom[0]: invalid rewrite regexp \"([\""), "{message}");
    let (_, _, message) = wait_ready(&env.ess, "base64", "SecretSyncedError").await;
    assert!(message.contains("spec.data[0] (key=k)") && message.contains("not valid Base64 data"), "{message}");
    let (_, _, message) = wait_ready(&env.ess, "not-json", "SecretSyncedError").await;
    assert!(message.contains("spec.dataFrom[0]") && message.contains("not a JSON object"), "{message}");
    assert!(!message.contains(PLAIN_TEXT), "{message}");

    for name in ["regexp", "base64", "not-json"] {
        let secret = env.secrets.get(&format!("{name}-secret")).await.expect("Secret kept");
        assert_eq!(secret.metadata.resource_version, before[name], "{name}: a failed sync must not touch the Secret");
        assert_eq!(
            env.data(&format!("{name}-secret")).await,
            Some(map(&[("password", PASSWORD), ("username", "admin")]))
        );
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_matching_nothing_retains_the_secret_under_retain() {
    let env = Env::new("find-empty", json!([entry("app/one", PASSWORD), entry("app/two", "second")])).await;
    env.create_es(
        "found",
        json!({"refreshInterval": "1h", "target": {"name": "found-secret"},
               "dataFrom": [{"find": {"name": {"regexp": "^app/"}}}]}),
    )
    .await;
    wait_ready(&env.ess, "found", "SecretSynced").await;
    assert_eq!(env.data("found-secret").await, Some(map(&[("app_one", PASSWORD), ("app_two", "second")])));
    let before = env.secrets.get("found-secret").await.expect("Secret");

    // ESO: an empty result is not an error; under Retain the Secret is kept with the "retained" message.
    env.patch_spec("found", json!({"dataFrom": [{"find": {"name": {"regexp": "^nothing-matches/"}}}]})).await;
    let retained = eventually(Duration::from_secs(20), || async {
        common::ready_reason(&env.ess, "found").await.is_some_and(|(s, r, m)| {
            s == "True" && r == "SecretSynced" && m == "secret retained due to DeletionPolicy=Retain"
        })
    })
    .await;
    assert!(retained, "{:?}", common::ready_reason(&env.ess, "found").await);
    let after = env.secrets.get("found-secret").await.expect("Secret kept");
    assert_eq!(after.metadata.resource_version, before.metadata.resource_version);

    // With nothing to keep, nothing is created either.
    env.create_es(
        "none-found",
        json!({"refreshInterval": "1h", "target": {"name": "none-found-secret"},
               "dataFrom": [{"find": {"name": {"regexp": "^nothing-matches/"}}}]}),
    )
    .await;
    let (_, _, message) = wait_ready(&env.ess, "none-found", "SecretSynced").await;
    assert_eq!(message, "secret retained due to DeletionPolicy=Retain");
    assert!(env.secrets.get_opt("none-found-secret").await.expect("get").is_none());
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrite_merge_combines_found_json_secrets_with_priority() {
    let env = Env::new(
        "rewrite-merge",
        json!([
            entry("app/base", &json!({"user": "base", "host": "db.internal"}).to_string()),
            entry("app/override", &json!({"user": "override", "password": PASSWORD}).to_string()),
        ]),
    )
    .await;
    env.create_es(
        "merged",
        json!({"refreshInterval": "1h", "target": {"name": "merged-secret"},
               "dataFrom": [{"find": {"name": {"regexp": "^app/"}},
                             "rewrite": [{"merge": {"priority": ["app/override"], "conflictPolicy": "Ignore"}}]}]}),
    )
    .await;
    wait_ready(&env.ess, "merged", "SecretSynced").await;
    assert_eq!(
        env.data("merged-secret").await,
        Some(map(&[("host", "db.internal"), ("password", PASSWORD), ("user", "override")]))
    );

    // The default conflictPolicy (Error) names the rule and the conflicting member; the Secret is untouched.
    let before = env.secrets.get("merged-secret").await.expect("Secret");
    env.patch_spec(
        "merged",
        json!({"dataFrom": [{"find": {"name": {"regexp": "^app/"}}, "rewrite": [{"merge": {}}]}]}),
    )
    .await;
    let (_, _, message) = wait_ready(&env.ess, "merged", "SecretSyncedError").await;
    assert!(message.contains("spec.dataFrom[0]: rewrite[0].merge: conflicting keys: user"), "{message}");
    let after = env.secrets.get("merged-secret").await.expect("Secret");
    assert_eq!(after.metadata.resource_version, before.metadata.resource_version);
    env.stop().await;
}

/// The target Secret as the apiserver has it.
async fn secret(env: &Env, name: &str) -> Secret {
    env.secrets.get(name).await.expect("Secret")
}

fn labels_of(secret: &Secret) -> BTreeMap<String, String> {
    secret.metadata.labels.clone().unwrap_or_default()
}

fn annotations_of(secret: &Secret) -> BTreeMap<String, String> {
    secret.metadata.annotations.clone().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_to_orphan_releases_the_owner_reference_and_the_secret_outlives_the_external_secret() {
    let env = Env::new("owner-orphan", json!([entry("app", PASSWORD)])).await;
    env.create_es(
        "switch",
        json!({"refreshInterval": "1h",
               "target": {"name": "switch-secret",
                          "template": {"metadata": {"labels": {"team": "payments"},
                                                    "annotations": {"owner-team": "payments"}}}},
               "data": password_from_app()}),
    )
    .await;
    wait_ready(&env.ess, "switch", "SecretSynced").await;
    let owned = secret(&env, "switch-secret").await;
    assert_eq!(owned.metadata.owner_references.as_ref().map(Vec::len), Some(1));
    assert!(labels_of(&owned).contains_key("reconcile.external-secrets.io/created-by"));
    assert_eq!(labels_of(&owned).get("team").map(String::as_str), Some("payments"));

    // Orphan, and no template any more: the owner reference, `created-by` and the template's label and
    // annotation must all go (ESO's applyOwnership; the template's metadata is no longer wanted).
    env.patch_spec("switch", json!({"target": {"creationPolicy": "Orphan", "template": null}})).await;
    let released = eventually(Duration::from_secs(30), || async {
        let s = secret(&env, "switch-secret").await;
        let labels = labels_of(&s);
        s.metadata.owner_references.as_deref().unwrap_or_default().is_empty()
            && !labels.contains_key("reconcile.external-secrets.io/created-by")
            && !labels.contains_key("team")
            && !annotations_of(&s).contains_key("owner-team")
    })
    .await;
    assert!(released, "metadata: {:?}", secret(&env, "switch-secret").await.metadata);
    assert_eq!(env.data("switch-secret").await, Some(map(&[("password", PASSWORD)])));

    // Deleting the ExternalSecret must not let the garbage collector take the Secret the user chose to keep.
    env.ess.delete("switch", &DeleteParams::default()).await.expect("delete ExternalSecret");
    let gone =
        eventually(Duration::from_secs(30), || async { matches!(env.ess.get_opt("switch").await, Ok(None)) }).await;
    assert!(gone, "the ExternalSecret goes away");
    let kept = holds_for(Duration::from_secs(5), || async {
        env.secrets.get_opt("switch-secret").await.ok().flatten().is_some()
    })
    .await;
    assert!(kept, "an Orphan Secret survives its ExternalSecret");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_annotations_and_finalizers_removed_from_the_spec_leave_the_secret() {
    let env = Env::new("meta-removal", json!([entry("app", PASSWORD)])).await;
    env.create_es(
        "meta",
        json!({"refreshInterval": "1h",
               "target": {"name": "meta-secret",
                          "template": {"metadata": {"labels": {"team": "payments", "tier": "db"},
                                                    "annotations": {"contact": "ops"},
                                                    "finalizers": ["example.com/hold"]}}},
               "data": password_from_app()}),
    )
    .await;
    wait_ready(&env.ess, "meta", "SecretSynced").await;
    let first = secret(&env, "meta-secret").await;
    assert_eq!(labels_of(&first).get("tier").map(String::as_str), Some("db"));
    assert_eq!(annotations_of(&first).get("contact").map(String::as_str), Some("ops"));
    assert_eq!(
        first.metadata.finalizers,
        Some(vec!["example.com/hold".to_string()]),
        "template finalizers are written"
    );

    // Someone else's label on the same Secret is not ours to remove.
    let foreign = json!({"metadata": {"labels": {"added-by-hand": "yes"}}});
    env.secrets.patch("meta-secret", &PatchParams::default(), &Patch::Merge(&foreign)).await.expect("label");

    env.patch_spec(
        "meta",
        json!({"target": {"template": {"metadata": {"labels": {"team": "payments", "tier": null},
                                                    "annotations": {"contact": null},
                                                    "finalizers": []}}}}),
    )
    .await;
    let removed = eventually(Duration::from_secs(30), || async {
        let s = secret(&env, "meta-secret").await;
        !labels_of(&s).contains_key("tier")
            && !annotations_of(&s).contains_key("contact")
            && s.metadata.finalizers.unwrap_or_default().is_empty()
    })
    .await;
    let after = secret(&env, "meta-secret").await;
    assert!(removed, "metadata: {:?}", after.metadata);
    assert_eq!(labels_of(&after).get("team").map(String::as_str), Some("payments"));
    assert_eq!(labels_of(&after).get("added-by-hand").map(String::as_str), Some("yes"));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renaming_the_target_deletes_the_secret_of_the_previous_name() {
    let env = Env::new("rename", json!([entry("app", PASSWORD)])).await;
    env.create_es(
        "renamed",
        json!({"refreshInterval": "1h", "target": {"name": "first-name"}, "data": password_from_app()}),
    )
    .await;
    wait_ready(&env.ess, "renamed", "SecretSynced").await;
    assert!(env.data("first-name").await.is_some());

    env.patch_spec("renamed", json!({"target": {"name": "second-name"}})).await;
    let moved = eventually(Duration::from_secs(30), || async {
        env.data("second-name").await == Some(map(&[("password", PASSWORD)]))
            && env.secrets.get_opt("first-name").await.ok().flatten().is_none()
    })
    .await;
    assert!(moved, "the Secret moves to the new name and the old one is deleted");
    let es = env.ess.get("renamed").await.expect("es");
    let binding = es.status.and_then(|s| s.binding).map(|b| b.name);
    assert_eq!(binding.as_deref(), Some("second-name"));
    let events = events_text(&env.admin, &env.ns).await;
    assert!(events.contains("secret deleted because it was orphaned"), "{events}");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_orphan_target_is_not_recreated_before_the_next_refresh() {
    let env = Env::new("orphan-deleted", json!([entry("app", PASSWORD)])).await;
    env.create_es(
        "orphan",
        json!({"refreshInterval": "1h", "target": {"name": "orphan-secret", "creationPolicy": "Orphan"},
               "data": password_from_app()}),
    )
    .await;
    wait_ready(&env.ess, "orphan", "SecretSynced").await;
    let since = env.reconciles();
    env.secrets.delete("orphan-secret", &DeleteParams::default()).await.expect("delete Secret");
    env.wait_reconciles(since, 1).await;
    let absent = holds_for(Duration::from_secs(3), || async {
        env.secrets.get_opt("orphan-secret").await.ok().flatten().is_none()
    })
    .await;
    assert!(absent, "ESO treats an Orphan target as always valid: it is not recreated before the refresh is due");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binding_is_set_only_when_the_target_was_written_or_checked() {
    let env = Env::new("binding", json!([entry("app", PASSWORD)])).await;
    env.create_es(
        "none",
        json!({"refreshInterval": "1h", "target": {"name": "none-secret", "creationPolicy": "None"},
               "data": password_from_app()}),
    )
    .await;
    env.create_es(
        "written",
        json!({"refreshInterval": "1h", "target": {"name": "written-secret"}, "data": password_from_app()}),
    )
    .await;
    wait_ready(&env.ess, "none", "SecretSynced").await;
    wait_ready(&env.ess, "written", "SecretSynced").await;
    let binding = |es: ExternalSecret| es.status.and_then(|s| s.binding).map(|b| b.name);
    assert_eq!(binding(env.ess.get("none").await.expect("es")), None, "creationPolicy None binds nothing");
    assert_eq!(binding(env.ess.get("written").await.expect("es")).as_deref(), Some("written-secret"));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_windows_hold_back_periodic_refreshes_while_denied_and_let_them_through_while_allowed() {
    let env = Env::new("sync-windows", json!([entry("app", PASSWORD)])).await;
    // A window that opens every minute for an hour is always active.
    let always = json!([{"schedule": "* * * * *", "duration": "1h"}]);
    env.create_es(
        "windowed",
        json!({"refreshInterval": "1s", "target": {"name": "windowed-secret"}, "data": password_from_app(),
               "syncWindows": {"kind": "deny", "windows": always}}),
    )
    .await;
    // The first sync is not periodic: windows do not gate it.
    wait_ready(&env.ess, "windowed", "SecretSynced").await;
    assert_eq!(env.data("windowed-secret").await, Some(map(&[("password", PASSWORD)])));

    env.set_store_data(json!([entry("app", ROTATED)])).await;
    let held = holds_for(Duration::from_secs(4), || async {
        env.data("windowed-secret").await == Some(map(&[("password", PASSWORD)]))
    })
    .await;
    assert!(held, "a deny window that is active blocks the 1 s periodic refresh");

    env.patch_spec("windowed", json!({"syncWindows": {"kind": "allow", "windows": always}})).await;
    let rotated = eventually(Duration::from_secs(30), || async {
        env.data("windowed-secret").await == Some(map(&[("password", ROTATED)]))
    })
    .await;
    assert!(rotated, "the spec change syncs");
    env.set_store_data(json!([entry("app", PASSWORD)])).await;
    let refreshed = eventually(Duration::from_secs(30), || async {
        env.data("windowed-secret").await == Some(map(&[("password", PASSWORD)]))
    })
    .await;
    assert!(refreshed, "an active allow window lets periodic refreshes through");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generic_target_is_refused_with_esos_message_and_nothing_is_written() {
    let env = Env::new("generic-target", json!([entry("app", PASSWORD)])).await;
    env.create_es(
        "generic",
        json!({"refreshInterval": "1h",
               "target": {"name": "generic-target", "manifest": {"apiVersion": "v1", "kind": "ConfigMap"}},
               "data": password_from_app()}),
    )
    .await;
    let (status, _, message) = wait_ready(&env.ess, "generic", "SecretSyncedError").await;
    assert_eq!(status, "False");
    assert!(
        message.contains("generic targets are disabled. Enable with --unsafe-allow-generic-targets flag"),
        "{message}"
    );
    assert!(env.secrets.get_opt("generic-target").await.expect("get").is_none(), "no Secret instead of the ConfigMap");
    let config_maps: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(env.admin.clone(), &env.ns);
    assert!(config_maps.get_opt("generic-target").await.expect("get").is_none());
    assert_eq!(env.op.context.stats.secret_writes.load(Ordering::Relaxed), 0);
    env.stop().await;
}
