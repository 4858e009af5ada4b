//! What an ExternalSecret's field manager owns on its target Secret, read from `metadata.managedFields`, and the
//! takeover of the fields ESO wrote under the same manager name.
//!
//! We write target Secrets with server-side apply: a label, annotation, owner reference, finalizer or data key
//! that our manager applied before and leaves out of the next apply is removed by the apiserver. So a Secret is
//! up to date only when what we would apply *equals* what our manager owns — a subset check would keep a label
//! the user removed from the ExternalSecret, or the owner reference after a switch from `Owner` to `Orphan`
//! (and the garbage collector would then delete a Secret the user asked to keep).
//!
//! ESO writes with create/update (PUT), which records an `Update` entry under the same manager name. The
//! apiserver treats an `Apply` and an `Update` entry as different owners, so without a takeover the fields ESO
//! wrote would never be released by our applies. [`take_over`] merges such `Update` entries into our `Apply`
//! entry, the way client-go's `csaupgrade` moves kubectl's client-side-apply fields to server-side apply.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry, Time};
use serde_json::{Map, Value};

const APPLY: &str = "Apply";
const UPDATE: &str = "Update";

/// The metadata and data keys one field manager owns: through its `Apply` entry, and through `Update` entries
/// ESO wrote under the same name (ours once [`take_over`] ran, which happens before our next write).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Owned {
    pub labels: BTreeSet<String>,
    pub annotations: BTreeSet<String>,
    /// UIDs of the owner references (server-side apply keys them by uid).
    pub owner_uids: BTreeSet<String>,
    pub finalizers: BTreeSet<String>,
    pub data: BTreeSet<String>,
}

fn main_resource(entry: &ManagedFieldsEntry) -> bool {
    entry.subresource.as_deref().unwrap_or_default().is_empty()
}

fn is_entry_of(entry: &ManagedFieldsEntry, manager: &str, operation: &str) -> bool {
    entry.manager.as_deref() == Some(manager) && entry.operation.as_deref() == Some(operation) && main_resource(entry)
}

/// `prefix`ed member names of `fields[path..]`, prefix removed.
fn field_names<'a>(fields: &'a Value, path: &[&str], prefix: &'a str) -> impl Iterator<Item = String> + 'a {
    let node = path.iter().try_fold(fields, |node, step| node.get(*step));
    node.and_then(Value::as_object)
        .into_iter()
        .flat_map(|members| members.keys())
        .filter_map(move |k| k.strip_prefix(prefix).map(str::to_owned))
}

/// Whether `entry` is `manager`'s (`Apply` or `Update`) on the main resource.
fn is_ours(entry: &ManagedFieldsEntry, manager: &str) -> bool {
    is_entry_of(entry, manager, APPLY) || is_entry_of(entry, manager, UPDATE)
}

/// What `manager` owns on the main resource (its `Apply` and `Update` entries; see [`Owned`]).
pub fn owned_by(entries: &[ManagedFieldsEntry], manager: &str) -> Owned {
    let mut owned = Owned::default();
    for entry in entries.iter().filter(|e| is_ours(e, manager)) {
        let Some(FieldsV1(fields)) = &entry.fields_v1 else { continue };
        owned.labels.extend(field_names(fields, &["f:metadata", "f:labels"], "f:"));
        owned.annotations.extend(field_names(fields, &["f:metadata", "f:annotations"], "f:"));
        owned.data.extend(field_names(fields, &["f:data"], "f:"));
        // Set members are keyed `v:<json value>`; owner references, a map list, `k:{"uid":"..."}`.
        for key in field_names(fields, &["f:metadata", "f:finalizers"], "v:") {
            if let Ok(Value::String(finalizer)) = serde_json::from_str::<Value>(&key) {
                owned.finalizers.insert(finalizer);
            }
        }
        for key in field_names(fields, &["f:metadata", "f:ownerReferences"], "k:") {
            if let Some(uid) =
                serde_json::from_str::<Value>(&key).ok().and_then(|k| k["uid"].as_str().map(str::to_owned))
            {
                owned.owner_uids.insert(uid);
            }
        }
    }
    owned
}

/// The data keys that any other field manager owns (the apiserver keeps those when we stop applying them).
pub fn data_owned_by_others(entries: &[ManagedFieldsEntry], manager: &str) -> BTreeSet<String> {
    entries
        .iter()
        .filter(|e| !is_ours(e, manager))
        .filter_map(|e| e.fields_v1.as_ref())
        .flat_map(|FieldsV1(fields)| field_names(fields, &["f:data"], "f:"))
        .collect()
}

/// Whether `manager` has `Update` entries (fields written by ESO's create/update) that [`take_over`] would move.
pub fn needs_takeover(entries: &[ManagedFieldsEntry], manager: &str) -> bool {
    entries.iter().any(|e| is_entry_of(e, manager, UPDATE))
}

fn union_into(target: &mut Map<String, Value>, source: &Map<String, Value>) {
    for (key, value) in source {
        match (target.get_mut(key), value) {
            (Some(Value::Object(t)), Value::Object(s)) => union_into(t, s),
            (Some(_), _) => {}
            (None, v) => {
                target.insert(key.clone(), v.clone());
            }
        }
    }
}

/// The managed fields after moving every `Update` entry of `manager` (main resource) into its `Apply` entry
/// (created when absent, stamped `now`); `None` when there is nothing to move. Other managers are untouched.
pub fn take_over(entries: &[ManagedFieldsEntry], manager: &str, now: Time) -> Option<Vec<ManagedFieldsEntry>> {
    if !needs_takeover(entries, manager) {
        return None;
    }
    let mut merged = Map::new();
    let mut api_version = None;
    for entry in entries.iter().filter(|e| is_ours(e, manager)) {
        if let Some(FieldsV1(Value::Object(fields))) = &entry.fields_v1 {
            union_into(&mut merged, fields);
        }
        api_version = api_version.or_else(|| entry.api_version.clone());
    }
    let mut out: Vec<ManagedFieldsEntry> = entries.iter().filter(|e| !is_ours(e, manager)).cloned().collect();
    out.push(ManagedFieldsEntry {
        manager: Some(manager.to_owned()),
        operation: Some(APPLY.to_owned()),
        api_version: api_version.or_else(|| Some("v1".to_owned())),
        fields_type: Some("FieldsV1".to_owned()),
        fields_v1: Some(FieldsV1(Value::Object(merged))),
        time: Some(now),
        subresource: None,
    });
    Some(out)
}

/// The parts of an existing Secret's metadata that an apply can change.
#[derive(Debug, Clone, Copy)]
pub struct ExistingMeta<'a> {
    pub labels: &'a BTreeMap<String, String>,
    pub annotations: &'a BTreeMap<String, String>,
    /// `(uid, controller)` of each owner reference.
    pub owners: &'a [(String, bool)],
    pub finalizers: &'a [String],
}

/// Whether applying `desired` would leave the existing metadata as it is: every label, annotation, owner
/// reference and finalizer we want is there with our value, and nothing `owned` (by us, from an earlier apply)
/// is missing from `desired` (the apply would remove it).
pub fn metadata_in_sync(desired: &Secret, existing: ExistingMeta<'_>, owned: &Owned) -> bool {
    let meta = &desired.metadata;
    let map_in_sync =
        |want: &Option<BTreeMap<String, String>>, have: &BTreeMap<String, String>, ours: &BTreeSet<String>| {
            let want = want.as_ref();
            want.iter().flat_map(|m| m.iter()).all(|(k, v)| have.get(k) == Some(v))
                && ours.iter().all(|k| want.is_some_and(|m| m.contains_key(k)))
        };
    if !map_in_sync(&meta.labels, existing.labels, &owned.labels)
        || !map_in_sync(&meta.annotations, existing.annotations, &owned.annotations)
    {
        return false;
    }
    let wanted_owners: BTreeSet<&str> = meta.owner_references.iter().flatten().map(|o| o.uid.as_str()).collect();
    let owners_in_sync = meta.owner_references.iter().flatten().all(|o| {
        existing.owners.iter().any(|(uid, controller)| *uid == o.uid && *controller == o.controller.unwrap_or(false))
    }) && owned.owner_uids.iter().all(|uid| wanted_owners.contains(uid.as_str()));
    let wanted_finalizers: BTreeSet<&str> = meta.finalizers.iter().flatten().map(String::as_str).collect();
    let finalizers_in_sync = wanted_finalizers.iter().all(|f| existing.finalizers.iter().any(|e| e == f))
        && owned.finalizers.iter().all(|f| wanted_finalizers.contains(f.as_str()));
    owners_in_sync && finalizers_in_sync
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
    use serde_json::json;

    use super::*;

    const MANAGER: &str = "externalsecrets.external-secrets.io/app";

    fn entry(manager: &str, operation: &str, fields: Value) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            manager: Some(manager.to_owned()),
            operation: Some(operation.to_owned()),
            api_version: Some("v1".to_owned()),
            fields_type: Some("FieldsV1".to_owned()),
            fields_v1: Some(FieldsV1(fields)),
            time: None,
            subresource: None,
        }
    }

    fn applied() -> ManagedFieldsEntry {
        entry(
            MANAGER,
            "Apply",
            json!({
                "f:data": {"f:password": {}},
                "f:metadata": {
                    "f:labels": {"f:reconcile.external-secrets.io/managed": {}, "f:team": {}},
                    "f:annotations": {"f:reconcile.external-secrets.io/data-hash": {}},
                    "f:finalizers": {"v:\"example.com/keep\"": {}},
                    "f:ownerReferences": {"k:{\"uid\":\"u-1\"}": {}}
                },
                "f:type": {}
            }),
        )
    }

    #[test]
    fn owned_by_reads_labels_annotations_owners_finalizers_and_data_of_the_apply_entry() {
        let entries = [applied(), entry("kubectl", "Apply", json!({"f:metadata": {"f:labels": {"f:other": {}}}}))];
        let owned = owned_by(&entries, MANAGER);
        assert_eq!(
            owned.labels,
            BTreeSet::from(["reconcile.external-secrets.io/managed".to_owned(), "team".to_owned()])
        );
        assert_eq!(owned.annotations, BTreeSet::from(["reconcile.external-secrets.io/data-hash".to_owned()]));
        assert_eq!(owned.owner_uids, BTreeSet::from(["u-1".to_owned()]));
        assert_eq!(owned.finalizers, BTreeSet::from(["example.com/keep".to_owned()]));
        assert_eq!(owned.data, BTreeSet::from(["password".to_owned()]));
    }

    #[test]
    fn update_entries_count_as_ours_and_need_a_takeover_while_status_entries_do_not() {
        let mut status = applied();
        status.subresource = Some("status".to_owned());
        assert_eq!(owned_by(std::slice::from_ref(&status), MANAGER), Owned::default());
        assert!(!needs_takeover(&[status], MANAGER));
        let update = entry(MANAGER, "Update", json!({"f:metadata": {"f:labels": {"f:team": {}}}}));
        assert_eq!(owned_by(std::slice::from_ref(&update), MANAGER).labels, BTreeSet::from(["team".to_owned()]));
        assert!(needs_takeover(&[update], MANAGER));
    }

    #[test]
    fn take_over_merges_update_entries_into_one_apply_entry_and_keeps_other_managers() {
        let eso = entry(
            MANAGER,
            "Update",
            json!({"f:data": {".": {}, "f:user": {}}, "f:metadata": {"f:labels": {"f:old": {}}}}),
        );
        let other = entry("kube-controller-manager", "Update", json!({"f:metadata": {"f:labels": {"f:x": {}}}}));
        let now = Time(jiff::Timestamp::UNIX_EPOCH);
        let Some(out) = take_over(&[eso, applied(), other.clone()], MANAGER, now) else {
            panic!("expected a takeover");
        };
        assert_eq!(out.len(), 2);
        assert_eq!(out[0], other);
        assert_eq!(out[1].operation.as_deref(), Some("Apply"));
        let owned = owned_by(&out, MANAGER);
        assert_eq!(owned.data, BTreeSet::from(["password".to_owned(), "user".to_owned()]), "\".\" is not a key");
        assert!(owned.labels.contains("old") && owned.labels.contains("team"));
        assert!(!needs_takeover(&out, MANAGER));
        assert_eq!(take_over(&out, MANAGER, Time(jiff::Timestamp::UNIX_EPOCH)), None);
    }

    #[test]
    fn take_over_creates_the_apply_entry_when_only_update_exists() {
        let eso = entry(MANAGER, "Update", json!({"f:data": {"f:user": {}}}));
        let Some(out) = take_over(&[eso], MANAGER, Time(jiff::Timestamp::UNIX_EPOCH)) else {
            panic!("expected a takeover");
        };
        assert_eq!(out.len(), 1);
        assert_eq!(owned_by(&out, MANAGER).data, BTreeSet::from(["user".to_owned()]));
    }

    fn desired(labels: &[(&str, &str)], owner: Option<&str>, finalizers: &[&str]) -> Secret {
        Secret {
            metadata: ObjectMeta {
                labels: Some(labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()),
                annotations: Some(BTreeMap::new()),
                owner_references: owner.map(|uid| {
                    vec![OwnerReference { uid: uid.to_owned(), controller: Some(true), ..Default::default() }]
                }),
                finalizers: Some(finalizers.iter().map(|f| (*f).to_owned()).collect()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn a_label_we_applied_and_no_longer_want_makes_the_secret_out_of_sync() {
        let labels = BTreeMap::from([("team".to_owned(), "a".to_owned()), ("user-added".to_owned(), "x".to_owned())]);
        let owned = Owned { labels: BTreeSet::from(["team".to_owned()]), ..Default::default() };
        let existing = ExistingMeta { labels: &labels, annotations: &BTreeMap::new(), owners: &[], finalizers: &[] };
        assert!(metadata_in_sync(&desired(&[("team", "a")], None, &[]), existing, &owned));
        // Someone else's label stays out of the comparison; ours, once dropped from the spec, must go.
        assert!(!metadata_in_sync(&desired(&[], None, &[]), existing, &owned));
        assert!(!metadata_in_sync(&desired(&[("team", "b")], None, &[]), existing, &owned));
    }

    #[test]
    fn an_owner_reference_we_applied_and_no_longer_want_makes_the_secret_out_of_sync() {
        let owners = [("u-1".to_owned(), true)];
        let owned = Owned { owner_uids: BTreeSet::from(["u-1".to_owned()]), ..Default::default() };
        let existing =
            ExistingMeta { labels: &BTreeMap::new(), annotations: &BTreeMap::new(), owners: &owners, finalizers: &[] };
        assert!(metadata_in_sync(&desired(&[], Some("u-1"), &[]), existing, &owned));
        assert!(!metadata_in_sync(&desired(&[], None, &[]), existing, &owned), "Owner → Orphan must drop it");
        let not_ours = Owned::default();
        assert!(metadata_in_sync(&desired(&[], None, &[]), existing, &not_ours));
    }

    #[test]
    fn finalizers_are_compared_both_ways() {
        let finalizers = ["example.com/keep".to_owned()];
        let owned = Owned { finalizers: BTreeSet::from(["example.com/keep".to_owned()]), ..Default::default() };
        let existing = ExistingMeta {
            labels: &BTreeMap::new(),
            annotations: &BTreeMap::new(),
            owners: &[],
            finalizers: &finalizers,
        };
        assert!(metadata_in_sync(&desired(&[], None, &["example.com/keep"]), existing, &owned));
        assert!(!metadata_in_sync(&desired(&[], None, &[]), existing, &owned));
        assert!(!metadata_in_sync(&desired(&[], None, &["example.com/new"]), existing, &owned));
    }
}
