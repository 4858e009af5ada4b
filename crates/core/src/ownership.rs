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
//!
//! Older ESO versions wrote without a field manager of their own, so the apiserver named the writer after ESO's
//! user agent: [`LEGACY_FIELD_MANAGER`]. That name is shared by every ExternalSecret, so its entries count as
//! this ExternalSecret's only where the target is this ExternalSecret's alone (see [`FieldOwner::new`]).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use external_secrets_api::ExternalSecretCreationPolicy;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry, Time};
use serde_json::{Map, Value};

const APPLY: &str = "Apply";
const UPDATE: &str = "Update";

/// The manager name of fields ESO wrote without naming a field manager: the apiserver takes the part of the
/// client's user agent before the first `/`, and ESO's binary is `external-secrets` (client-go's default user
/// agent `external-secrets/<version> (<os>/<arch>) kubernetes/<commit>`). ESO up to v0.8.1 created and updated
/// target Secrets of `creationPolicy` Owner and Orphan this way (Merge targets from v0.5.2 on under the
/// per-ExternalSecret name; up to v0.5.1 Merge applied under this name), and ESO 2.9 still creates and updates
/// generic targets (`spec.target.manifest`) this way.
pub const LEGACY_FIELD_MANAGER: &str = "external-secrets";

/// Whose `managedFields` entries are this ExternalSecret's: those of its field manager, and — where the target is
/// this ExternalSecret's alone — those of ESO's old shared manager [`LEGACY_FIELD_MANAGER`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldOwner<'a> {
    /// The ExternalSecret's field manager ([`crate::field_manager::field_manager`]).
    pub manager: &'a str,
    /// Whether [`LEGACY_FIELD_MANAGER`]'s entries count as ours.
    pub legacy: bool,
}

impl<'a> FieldOwner<'a> {
    /// `manager`, with the legacy entries for `creationPolicy` Owner and Orphan: such a target is written by one
    /// ExternalSecret only, and ESO's own update replaced it whole. Never for Merge and CreateOrMerge, where the
    /// shared name may hold what other ExternalSecrets merged into the same object.
    pub fn new(manager: &'a str, policy: ExternalSecretCreationPolicy) -> Self {
        let legacy = matches!(policy, ExternalSecretCreationPolicy::Owner | ExternalSecretCreationPolicy::Orphan);
        FieldOwner { manager, legacy }
    }

    /// `manager` alone.
    pub fn only(manager: &'a str) -> Self {
        FieldOwner { manager, legacy: false }
    }

    /// Whether `entry` (of the main resource) is ours.
    fn owns(&self, entry: &ManagedFieldsEntry) -> bool {
        is_entry_of(entry, self.manager, APPLY) || is_entry_of(entry, self.manager, UPDATE) || self.is_legacy(entry)
    }

    fn is_legacy(&self, entry: &ManagedFieldsEntry) -> bool {
        self.legacy && entry.manager.as_deref() == Some(LEGACY_FIELD_MANAGER) && main_resource(entry)
    }

    /// Whether [`take_over`] moves `entry` into our `Apply` entry.
    fn moves(&self, entry: &ManagedFieldsEntry) -> bool {
        is_entry_of(entry, self.manager, UPDATE) || self.is_legacy(entry)
    }
}

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

/// Shrinks `entries` for a watch cache: each `fieldsV1` tree becomes its JSON text (a `Value::String`). A small
/// tree of nested JSON objects costs ~0.6 KiB per object node in memory, about 3 KiB per target Secret, against
/// ~0.3 KiB of text. Every reader here takes both forms ([`fields_of`]), and [`take_over`] writes trees.
pub fn compact(entries: &mut [ManagedFieldsEntry]) {
    for entry in entries {
        if let Some(FieldsV1(fields)) = &mut entry.fields_v1
            && fields.is_object()
        {
            *fields = Value::String(fields.to_string());
        }
    }
}

/// An entry's `fieldsV1` as a tree, whether kept as one or as its JSON text ([`compact`]).
fn fields_of(entry: &ManagedFieldsEntry) -> Option<Cow<'_, Value>> {
    match &entry.fields_v1 {
        Some(FieldsV1(Value::String(text))) => serde_json::from_str(text).ok().map(Cow::Owned),
        Some(FieldsV1(fields)) => Some(Cow::Borrowed(fields)),
        None => None,
    }
}

/// `prefix`ed member names of `fields[path..]`, prefix removed.
fn field_names<'a>(fields: &'a Value, path: &[&str], prefix: &'a str) -> impl Iterator<Item = String> + 'a {
    let node = path.iter().try_fold(fields, |node, step| node.get(*step));
    node.and_then(Value::as_object)
        .into_iter()
        .flat_map(|members| members.keys())
        .filter_map(move |k| k.strip_prefix(prefix).map(str::to_owned))
}

/// What `owner` owns on the main resource (its `Apply` and `Update` entries; see [`Owned`]).
pub fn owned_by(entries: &[ManagedFieldsEntry], owner: FieldOwner<'_>) -> Owned {
    let mut owned = Owned::default();
    for entry in entries.iter().filter(|e| owner.owns(e)) {
        let Some(fields) = fields_of(entry) else { continue };
        let fields = fields.as_ref();
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
pub fn data_owned_by_others(entries: &[ManagedFieldsEntry], owner: FieldOwner<'_>) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for fields in entries.iter().filter(|e| !owner.owns(e)).filter_map(fields_of) {
        names.extend(field_names(fields.as_ref(), &["f:data"], "f:"));
    }
    names
}

/// Whether `owner` has entries written by ESO's create/update (`Update` entries of its manager, or legacy ones)
/// that [`take_over`] would move.
pub fn needs_takeover(entries: &[ManagedFieldsEntry], owner: FieldOwner<'_>) -> bool {
    entries.iter().any(|e| owner.moves(e))
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

/// The managed fields after moving every `Update` entry of `owner`'s manager and every legacy entry it counts
/// (main resource) into its manager's `Apply` entry (created when absent, stamped `now`); `None` when there is
/// nothing to move. Other managers are untouched.
pub fn take_over(entries: &[ManagedFieldsEntry], owner: FieldOwner<'_>, now: Time) -> Option<Vec<ManagedFieldsEntry>> {
    if !needs_takeover(entries, owner) {
        return None;
    }
    let mut merged = Map::new();
    let mut api_version = None;
    for entry in entries.iter().filter(|e| owner.owns(e)) {
        if let Some(fields) = fields_of(entry)
            && let Value::Object(fields) = fields.as_ref()
        {
            union_into(&mut merged, fields);
        }
        api_version = api_version.or_else(|| entry.api_version.clone());
    }
    // Written back whole, so the other managers' entries go back as trees, as read.
    let mut out: Vec<ManagedFieldsEntry> = entries
        .iter()
        .filter(|e| !owner.owns(e))
        .map(|e| ManagedFieldsEntry { fields_v1: fields_of(e).map(|f| FieldsV1(f.into_owned())), ..e.clone() })
        .collect();
    out.push(ManagedFieldsEntry {
        manager: Some(owner.manager.to_owned()),
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
    const OURS: FieldOwner<'static> = FieldOwner { manager: MANAGER, legacy: false };

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
        let owned = owned_by(&entries, OURS);
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
        assert_eq!(owned_by(std::slice::from_ref(&status), OURS), Owned::default());
        assert!(!needs_takeover(&[status], OURS));
        let update = entry(MANAGER, "Update", json!({"f:metadata": {"f:labels": {"f:team": {}}}}));
        assert_eq!(owned_by(std::slice::from_ref(&update), OURS).labels, BTreeSet::from(["team".to_owned()]));
        assert!(needs_takeover(&[update], OURS));
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
        let Some(out) = take_over(&[eso, applied(), other.clone()], OURS, now) else {
            panic!("expected a takeover");
        };
        assert_eq!(out.len(), 2);
        assert_eq!(out[0], other);
        assert_eq!(out[1].operation.as_deref(), Some("Apply"));
        let owned = owned_by(&out, OURS);
        assert_eq!(owned.data, BTreeSet::from(["password".to_owned(), "user".to_owned()]), "\".\" is not a key");
        assert!(owned.labels.contains("old") && owned.labels.contains("team"));
        assert!(!needs_takeover(&out, OURS));
        assert_eq!(take_over(&out, OURS, Time(jiff::Timestamp::UNIX_EPOCH)), None);
    }

    #[test]
    fn compacted_entries_read_and_take_over_as_the_trees_they_came_from() {
        let eso =
            entry(MANAGER, "Update", json!({"f:data": {"f:user": {}}, "f:metadata": {"f:labels": {"f:old": {}}}}));
        let other = entry("kubectl", "Update", json!({"f:data": {"f:mine": {}}}));
        let trees = [eso, applied(), other.clone()];
        let mut compacted = trees.clone();
        compact(&mut compacted);
        assert!(compacted.iter().all(|e| matches!(e.fields_v1, Some(FieldsV1(Value::String(_))))));
        assert_eq!(owned_by(&compacted, OURS), owned_by(&trees, OURS));
        assert_eq!(data_owned_by_others(&compacted, OURS), BTreeSet::from(["mine".to_owned()]));
        let now = Time(jiff::Timestamp::UNIX_EPOCH);
        let out = take_over(&compacted, OURS, now.clone());
        assert_eq!(out, take_over(&trees, OURS, now));
        // What is written back holds trees only: the apiserver would refuse a string.
        let out = out.unwrap_or_default();
        assert!(out.iter().all(|e| matches!(e.fields_v1, Some(FieldsV1(Value::Object(_))))));
        assert_eq!(out[0], other);
    }

    #[test]
    fn take_over_creates_the_apply_entry_when_only_update_exists() {
        let eso = entry(MANAGER, "Update", json!({"f:data": {"f:user": {}}}));
        let Some(out) = take_over(&[eso], OURS, Time(jiff::Timestamp::UNIX_EPOCH)) else {
            panic!("expected a takeover");
        };
        assert_eq!(out.len(), 1);
        assert_eq!(owned_by(&out, OURS).data, BTreeSet::from(["user".to_owned()]));
    }

    /// A Secret ESO v0.8.1 created (`CreateOrUpdate` without a field manager): one `Update` entry named after
    /// its user agent, `external-secrets`.
    fn legacy_update() -> ManagedFieldsEntry {
        entry(
            LEGACY_FIELD_MANAGER,
            "Update",
            json!({"f:data": {".": {}, "f:old-key": {}, "f:password": {}},
                   "f:metadata": {"f:labels": {".": {}, "f:team": {}, "f:reconcile.external-secrets.io/managed": {}},
                                  "f:ownerReferences": {".": {}, "k:{\"uid\":\"u-1\"}": {}}},
                   "f:type": {}}),
        )
    }

    #[test]
    fn the_legacy_managers_entries_are_ours_for_owner_and_orphan_and_are_taken_over() {
        for policy in [ExternalSecretCreationPolicy::Owner, ExternalSecretCreationPolicy::Orphan] {
            let owner = FieldOwner::new(MANAGER, policy);
            assert!(owner.legacy);
            let entries = [legacy_update(), entry("kubectl-edit", "Update", json!({"f:data": {"f:mine": {}}}))];
            let owned = owned_by(&entries, owner);
            assert_eq!(owned.data, BTreeSet::from(["old-key".to_owned(), "password".to_owned()]));
            assert!(owned.labels.contains("team"));
            assert_eq!(owned.owner_uids, BTreeSet::from(["u-1".to_owned()]));
            assert_eq!(data_owned_by_others(&entries, owner), BTreeSet::from(["mine".to_owned()]));
            assert!(needs_takeover(&entries, owner));
            let Some(out) = take_over(&entries, owner, Time(jiff::Timestamp::UNIX_EPOCH)) else {
                panic!("expected a takeover");
            };
            assert!(out.iter().all(|e| e.manager.as_deref() != Some(LEGACY_FIELD_MANAGER)), "the legacy entry is gone");
            assert_eq!(out.len(), 2, "kubectl's entry and our Apply entry");
            let ours: Vec<_> = out.iter().filter(|e| e.manager.as_deref() == Some(MANAGER)).collect();
            assert_eq!(ours.len(), 1);
            assert_eq!(ours[0].operation.as_deref(), Some("Apply"));
            assert_eq!(owned_by(&out, FieldOwner::only(MANAGER)).data, owned.data, "the fields moved, none lost");
            assert!(!needs_takeover(&out, owner));
        }
    }

    #[test]
    fn the_legacy_managers_entries_are_never_ours_when_merging_into_a_shared_object() {
        for policy in [ExternalSecretCreationPolicy::Merge, ExternalSecretCreationPolicy::CreateOrMerge] {
            let owner = FieldOwner::new(MANAGER, policy);
            assert!(!owner.legacy);
            let entries = [legacy_update(), applied()];
            assert_eq!(owned_by(&entries, owner).data, BTreeSet::from(["password".to_owned()]), "only our Apply entry");
            assert!(data_owned_by_others(&entries, owner).contains("old-key"));
            assert!(!needs_takeover(&entries, owner));
            assert_eq!(take_over(&entries, owner, Time(jiff::Timestamp::UNIX_EPOCH)), None);
        }
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
