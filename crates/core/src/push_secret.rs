//! PushSecret (ESO 2.9's `pkg/controllers/pushsecret`) as pure functions: the keys of `status.syncedPushSecrets`,
//! `conversionStrategy: ReverseUnicode`, the refresh rule, what a sync pushes per store, and which remote entries
//! a change of spec (or the PushSecret's deletion) leaves to be deleted.
//!
//! The controller looks up stores and the source Secret, asks these functions what to do, and calls the store
//! clients. Nothing here holds or prints a value: the source's data is only looked at for its key names.

use std::collections::BTreeMap;
use std::time::Duration;

use external_secrets_api::SecretStoreKind;
use external_secrets_api::v1alpha1::{PushSecretConversionStrategy, PushSecretData, PushSecretSpec};
use jiff::Timestamp;

/// ESO's finalizer on PushSecrets with `deletionPolicy: Delete`.
pub const FINALIZER: &str = "pushsecret.externalsecrets.io/finalizer";

/// The `Ready` message of a successful sync.
pub const SYNCED_MESSAGE: &str = "PushSecret synced successfully";

/// What ESO adds to [`SYNCED_MESSAGE`] under `updatePolicy: IfNotExists`.
pub const IF_NOT_EXISTS_SUFFIX: &str = ". Existing secrets in providers unchanged.";

/// The `Ready` message (and Normal event) after the source Secret was deleted and the pushed secrets cleaned up.
pub const SOURCE_DELETED_MESSAGE: &str = "source secret deleted; provider secrets cleaned up";

/// ESO's message when the source Secret cannot be read.
pub const SOURCE_MISSING_MESSAGE: &str = "could not get source secret";

/// `status.syncedPushSecrets`: `"<Kind>/<store>"` → `"<remoteKey>[/<property>]"` → the entry pushed there.
pub type SyncedPushSecrets = BTreeMap<String, BTreeMap<String, PushSecretData>>;

/// The key of a store in `status.syncedPushSecrets`: `"SecretStore/<name>"` or `"ClusterSecretStore/<name>"`.
pub fn store_key(kind: SecretStoreKind, name: &str) -> String {
    let kind = match kind {
        SecretStoreKind::SecretStore => "SecretStore",
        SecretStoreKind::ClusterSecretStore => "ClusterSecretStore",
    };
    format!("{kind}/{name}")
}

/// The store a [`store_key`] names; `None` for a key that is not one (a hand-edited status).
pub fn parse_store_key(key: &str) -> Option<(SecretStoreKind, &str)> {
    let (kind, name) = key.split_once('/')?;
    let kind = match kind {
        "SecretStore" => SecretStoreKind::SecretStore,
        "ClusterSecretStore" => SecretStoreKind::ClusterSecretStore,
        _ => return None,
    };
    (!name.is_empty()).then_some((kind, name))
}

/// The key of an entry in a store's map (ESO's `statusRef`): the remote key, and `/<property>` when one is set.
pub fn status_ref(data: &PushSecretData) -> String {
    let remote = &data.match_.remote_ref;
    match remote.property.as_deref().filter(|p| !p.is_empty()) {
        Some(property) => format!("{}/{property}", remote.remote_key),
        None => remote.remote_key.clone(),
    }
}

/// One key name under a `conversionStrategy` (ESO's `ReverseKey`): `ReverseUnicode` turns every `_U<4 or 5 hex
/// digits>_` back into its character (an invalid code point becomes U+FFFD, as Go's `%c` prints it).
pub fn reverse_key(strategy: PushSecretConversionStrategy, key: &str) -> String {
    match strategy {
        PushSecretConversionStrategy::None => key.to_string(),
        PushSecretConversionStrategy::ReverseUnicode => reverse_unicode(key),
    }
}

fn reverse_unicode(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut out = String::with_capacity(key.len());
    let mut i = 0;
    while i < key.len() {
        if let Some((ch, len)) = unicode_escape_at(bytes, i) {
            out.push(ch);
            i += len;
            continue;
        }
        // Copy one character (key is UTF-8; `i` always sits on a boundary here).
        let ch = key[i..].chars().next().unwrap_or('\u{FFFD}');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// `_U<hex>_` at `at` (Go regexp `_U([0-9a-fA-F]{4,5})_`, leftmost-first and greedy: five digits when the
/// fifth is followed by `_`, else four), as the character and the escape's length.
fn unicode_escape_at(bytes: &[u8], at: usize) -> Option<(char, usize)> {
    if bytes.get(at) != Some(&b'_') || bytes.get(at + 1) != Some(&b'U') {
        return None;
    }
    let start = at + 2;
    let digits = bytes[start..].iter().take(5).take_while(|b| b.is_ascii_hexdigit()).count();
    for n in [5, 4] {
        if digits >= n && bytes.get(start + n) == Some(&b'_') {
            let hex = std::str::from_utf8(&bytes[start..start + n]).ok()?;
            let code = u32::from_str_radix(hex, 16).ok()?;
            return Some((char::from_u32(code).unwrap_or('\u{FFFD}'), n + 3));
        }
    }
    None
}

/// Why a PushSecret cannot be pushed as written (a configuration problem: retried after a change).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PushPlanError {
    /// Two source keys become the same name under the conversion strategy.
    #[error("could not apply conversion strategy to keys: secret name collision during conversion: {0}")]
    Collision(String),
    /// `match.secretKey` names a key the source Secret does not have.
    #[error("secret key {0} does not exist")]
    MissingKey(String),
    /// Two entries write the same remote location (ESO's message).
    #[error("{0}")]
    DuplicateRemoteRef(String),
    /// A part of the spec this operator does not implement yet.
    #[error("{0} is not supported by this operator yet")]
    Unsupported(&'static str),
}

/// The source's data under `strategy` (ESO's `ReverseKeys`): every key renamed, an error when two collide.
pub fn convert_keys<V: Clone>(
    strategy: PushSecretConversionStrategy,
    data: &BTreeMap<String, V>,
) -> Result<BTreeMap<String, V>, PushPlanError> {
    let mut out = BTreeMap::new();
    for (key, value) in data {
        let converted = reverse_key(strategy, key);
        if out.insert(converted.clone(), value.clone()).is_some() {
            return Err(PushPlanError::Collision(converted));
        }
    }
    Ok(out)
}

/// Refuses what this operator does not implement (`dataTo`) with a clear
/// error instead of pushing something other than what was asked, and remote locations written twice.
pub fn check_spec(spec: &PushSecretSpec) -> Result<(), PushPlanError> {
    if !spec.data_to.is_empty() {
        return Err(PushPlanError::Unsupported("spec.dataTo"));
    }
    let mut seen: BTreeMap<(String, String), String> = BTreeMap::new();
    for data in &spec.data {
        let remote = &data.match_.remote_ref;
        let location = (remote.remote_key.clone(), remote.property.clone().unwrap_or_default());
        let source = data.match_.secret_key.clone().unwrap_or_default();
        if let Some(first) = seen.get(&location) {
            let (key, property) = &location;
            let message = if property.is_empty() {
                format!(
                    "duplicate remote key {key:?}: source keys {first:?} and {source:?} both map to the same destination"
                )
            } else {
                format!(
                    "duplicate remote key {key:?} with property {property:?}: source keys {first:?} and {source:?} both \
                     map to the same destination"
                )
            };
            return Err(PushPlanError::DuplicateRemoteRef(message));
        }
        seen.insert(location, source);
    }
    Ok(())
}

/// What one `data[]` entry pushes from a source with these key names: `Ok(None)` to push the whole Secret
/// (`secretKey` unset), `Ok(Some(key))` the converted key, an error when the source lacks it.
pub fn entry_source_key<V>(
    data: &PushSecretData,
    converted: &BTreeMap<String, V>,
) -> Result<Option<String>, PushPlanError> {
    match data.match_.secret_key.as_deref().filter(|k| !k.is_empty()) {
        None => Ok(None),
        Some(key) if converted.contains_key(key) => Ok(Some(key.to_string())),
        Some(key) => Err(PushPlanError::MissingKey(key.to_string())),
    }
}

/// One remote entry to delete: it was pushed (it is in the old status) and is no longer wanted.
#[derive(Clone, Debug, PartialEq)]
pub struct Removal {
    /// The store's [`store_key`].
    pub store: String,
    /// The entry's [`status_ref`].
    pub status_ref: String,
    /// The entry as it was pushed.
    pub data: PushSecretData,
}

/// The entries of `old` (what was pushed) that `new` (what this sync pushed) no longer has, store by store, in
/// a stable order (ESO's `DeleteSecretFromProviders`). With an empty `new` (PushSecret deleted, source gone):
/// everything pushed.
pub fn removals(old: &SyncedPushSecrets, new: &SyncedPushSecrets) -> Vec<Removal> {
    let mut out = Vec::new();
    for (store, entries) in old {
        let kept = new.get(store);
        for (status_ref, data) in entries {
            if kept.is_some_and(|k| k.contains_key(status_ref)) {
                continue;
            }
            out.push(Removal { store: store.clone(), status_ref: status_ref.clone(), data: data.clone() });
        }
    }
    out
}

/// `new` with every entry of `old` it lacks (ESO's `mergeSecretState`): what the status must keep listing while
/// removals have not been carried out, so that a later sync still knows to delete them.
pub fn merge_state(new: &SyncedPushSecrets, old: &SyncedPushSecrets) -> SyncedPushSecrets {
    let mut out = new.clone();
    for (store, entries) in old {
        let target = out.entry(store.clone()).or_default();
        for (key, data) in entries {
            target.entry(key.clone()).or_insert_with(|| data.clone());
        }
    }
    out
}

/// `state` without one entry (a removal that was carried out); a store left empty goes too.
pub fn without(state: &mut SyncedPushSecrets, store: &str, status_ref: &str) {
    if let Some(entries) = state.get_mut(store) {
        entries.remove(status_ref);
        if entries.is_empty() {
            state.remove(store);
        }
    }
}

/// ESO's store finalizer: on a SecretStore or ClusterSecretStore while a PushSecret with `deletionPolicy: Delete`
/// may still need the store to delete what it pushed.
pub const STORE_FINALIZER: &str = "secretstore.externalsecrets.io/finalizer";

/// Whether `ps` needs the store (`kind`, `name`, in `namespace` for a SecretStore, with `labels`) to stay until it
/// has cleaned up (ESO's `hasPushSecretsWithDeletePolicy`): it has `deletionPolicy: Delete` and either pushed to
/// the store (its status lists it) or names it in `secretStoreRefs` (by name, or by a label selector matching).
pub fn needs_store(
    ps: &external_secrets_api::v1alpha1::PushSecret,
    kind: SecretStoreKind,
    namespace: Option<&str>,
    name: &str,
    labels: &BTreeMap<String, String>,
) -> bool {
    use external_secrets_api::v1alpha1::PushSecretDeletionPolicy;
    if ps.spec.deletion_policy != PushSecretDeletionPolicy::Delete {
        return false;
    }
    if kind == SecretStoreKind::SecretStore && ps.metadata.namespace.as_deref() != namespace {
        return false;
    }
    let key = store_key(kind, name);
    if ps.status.as_ref().is_some_and(|s| s.synced_push_secrets.contains_key(&key)) {
        return true;
    }
    ps.spec.secret_store_refs.iter().filter(|r| r.kind == kind).any(|r| match (&r.name, &r.label_selector) {
        (Some(n), _) if !n.is_empty() => n == name,
        (_, Some(selector)) => crate::label_selector::matches(selector, labels),
        _ => false,
    })
}

/// What the refresh rule looks at.
#[derive(Clone, Debug)]
pub struct PushRefreshInput<'a> {
    /// `status.syncedResourceVersion` (empty when never synced).
    pub synced_resource_version: &'a str,
    /// The PushSecret's `<generation>-<hash of labels and annotations>` now.
    pub current_resource_version: &'a str,
    /// `spec.refreshInterval`; `None` for zero.
    pub refresh_interval: Option<Duration>,
    /// `status.refreshTime`.
    pub last_refresh: Option<Timestamp>,
    /// The source Secrets changed since the last push (or that is not known).
    pub source_changed: bool,
    pub now: Timestamp,
}

/// Whether to push now, and if not, when to look again (`None`: only on a change).
///
/// ESO's `shouldRefresh`: a spec, label or annotation change pushes; with `refreshInterval: 0` a PushSecret that
/// was pushed once is not pushed again; otherwise a push is due once the interval has passed. In addition (ESO
/// waits for the interval), a change of the source Secret pushes at once when there is a periodic refresh.
pub fn decide(input: &PushRefreshInput<'_>) -> Option<Option<Duration>> {
    if input.synced_resource_version != input.current_resource_version {
        return None;
    }
    let Some(interval) = input.refresh_interval else {
        return if input.synced_resource_version.is_empty() { None } else { Some(None) };
    };
    let last = input.last_refresh?;
    if input.source_changed {
        return None;
    }
    let elapsed = input.now.duration_since(last);
    let Ok(elapsed) = Duration::try_from(elapsed) else { return None };
    if elapsed >= interval {
        return None;
    }
    Some(Some(interval - elapsed))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use external_secrets_api::v1alpha1::{PushSecretMatch, PushSecretRemoteRef};

    fn entry(secret_key: Option<&str>, remote_key: &str, property: Option<&str>) -> PushSecretData {
        PushSecretData {
            match_: PushSecretMatch {
                secret_key: secret_key.map(str::to_string),
                remote_ref: PushSecretRemoteRef {
                    remote_key: remote_key.to_string(),
                    property: property.map(str::to_string),
                },
            },
            ..Default::default()
        }
    }

    fn state(stores: &[(&str, Vec<PushSecretData>)]) -> SyncedPushSecrets {
        stores
            .iter()
            .map(|(store, entries)| {
                (store.to_string(), entries.iter().map(|e| (status_ref(e), e.clone())).collect::<BTreeMap<_, _>>())
            })
            .collect()
    }

    #[test]
    fn status_keys_are_kind_slash_store_and_remote_key_slash_property() {
        assert_eq!(store_key(SecretStoreKind::SecretStore, "aws"), "SecretStore/aws");
        assert_eq!(store_key(SecretStoreKind::ClusterSecretStore, "aws"), "ClusterSecretStore/aws");
        assert_eq!(parse_store_key("ClusterSecretStore/a"), Some((SecretStoreKind::ClusterSecretStore, "a")));
        assert_eq!(parse_store_key("Vault/a"), None);
        assert_eq!(parse_store_key("SecretStore/"), None);
        assert_eq!(status_ref(&entry(Some("k"), "prod/db", None)), "prod/db");
        assert_eq!(status_ref(&entry(Some("k"), "prod/db", Some(""))), "prod/db");
        assert_eq!(status_ref(&entry(Some("k"), "prod/db", Some("password"))), "prod/db/password");
    }

    #[test]
    fn reverse_unicode_undoes_esos_unicode_conversion() {
        let r = |k| reverse_key(PushSecretConversionStrategy::ReverseUnicode, k);
        assert_eq!(r("tls_U002e_crt"), "tls.crt");
        assert_eq!(r("a_U002f_b_U002f_c"), "a/b/c");
        assert_eq!(r("emoji_U1f600_"), "emoji\u{1F600}");
        assert_eq!(r("lower_U002E_upper"), "lower.upper");
        assert_eq!(r("no_escape_here"), "no_escape_here");
        assert_eq!(r("_U12_"), "_U12_", "too few digits");
        assert_eq!(r("_UD800_"), "\u{FFFD}", "a surrogate is not a character");
        assert_eq!(r("ünï_U002e_"), "ünï.");
        assert_eq!(reverse_key(PushSecretConversionStrategy::None, "tls_U002e_crt"), "tls_U002e_crt");
    }

    #[test]
    fn conversion_renames_every_key_and_refuses_collisions() {
        let data = BTreeMap::from([("a_U002e_b".to_string(), 1), ("c".to_string(), 2)]);
        let converted = convert_keys(PushSecretConversionStrategy::ReverseUnicode, &data).unwrap();
        assert_eq!(converted.keys().collect::<Vec<_>>(), ["a.b", "c"]);
        let colliding = BTreeMap::from([("a_U002e_b".to_string(), 1), ("a.b".to_string(), 2)]);
        assert_eq!(
            convert_keys(PushSecretConversionStrategy::ReverseUnicode, &colliding),
            Err(PushPlanError::Collision("a.b".to_string()))
        );
    }

    #[test]
    fn an_entry_pushes_its_converted_key_or_the_whole_secret() {
        let source = BTreeMap::from([("password".to_string(), ())]);
        assert_eq!(entry_source_key(&entry(Some("password"), "r", None), &source), Ok(Some("password".into())));
        assert_eq!(entry_source_key(&entry(None, "r", None), &source), Ok(None));
        assert_eq!(entry_source_key(&entry(Some(""), "r", None), &source), Ok(None));
        let missing = entry_source_key(&entry(Some("user"), "r", None), &source).unwrap_err();
        assert_eq!(missing.to_string(), "secret key user does not exist");
    }

    #[test]
    fn unimplemented_parts_and_duplicate_remote_refs_are_refused() {
        let mut spec = PushSecretSpec { data: vec![entry(Some("a"), "r", None)], ..Default::default() };
        assert_eq!(check_spec(&spec), Ok(()));
        spec.data.push(entry(Some("b"), "r", Some("p")));
        assert_eq!(check_spec(&spec), Ok(()), "a property of the same remote key is another location");
        spec.data.push(entry(Some("c"), "r", None));
        assert_eq!(
            check_spec(&spec).unwrap_err().to_string(),
            r#"duplicate remote key "r": source keys "a" and "c" both map to the same destination"#
        );
        let bulk = PushSecretSpec { data_to: vec![Default::default()], ..Default::default() };
        assert_eq!(check_spec(&bulk).unwrap_err().to_string(), "spec.dataTo is not supported by this operator yet");
    }

    #[test]
    fn removals_are_what_was_pushed_and_is_no_longer_wanted() {
        let (a, b, c) = (entry(Some("a"), "ra", None), entry(Some("b"), "rb", Some("p")), entry(Some("c"), "rc", None));
        let old = state(&[("SecretStore/one", vec![a.clone(), b.clone()]), ("SecretStore/two", vec![c.clone()])]);
        let new = state(&[("SecretStore/one", vec![a.clone()])]);
        let gone = removals(&old, &new);
        let keys: Vec<_> = gone.iter().map(|r| (r.store.as_str(), r.status_ref.as_str())).collect();
        assert_eq!(keys, [("SecretStore/one", "rb/p"), ("SecretStore/two", "rc")]);
        assert_eq!(gone[0].data, b);
        assert!(removals(&old, &old).is_empty());
        assert!(removals(&SyncedPushSecrets::new(), &new).is_empty(), "nothing pushed: nothing to delete");
        assert_eq!(removals(&old, &SyncedPushSecrets::new()).len(), 3, "deletion removes everything pushed");
    }

    #[test]
    fn the_status_keeps_removals_not_yet_done() {
        let (a, b) = (entry(Some("a"), "ra", None), entry(Some("b"), "rb", None));
        let old = state(&[("SecretStore/one", vec![a.clone(), b.clone()])]);
        let new = state(&[("SecretStore/one", vec![a.clone()]), ("SecretStore/two", vec![a.clone()])]);
        let mut merged = merge_state(&new, &old);
        assert_eq!(merged["SecretStore/one"].len(), 2);
        assert_eq!(merged["SecretStore/two"].len(), 1);
        without(&mut merged, "SecretStore/one", "rb");
        assert_eq!(merged, new);
        without(&mut merged, "SecretStore/two", "ra");
        assert!(!merged.contains_key("SecretStore/two"), "an empty store goes");
    }

    #[test]
    fn a_store_is_needed_by_delete_policy_push_secrets_that_pushed_there_or_name_it() {
        let ps = |policy: &str, refs: serde_json::Value, synced: serde_json::Value| {
            serde_json::from_value::<external_secrets_api::v1alpha1::PushSecret>(serde_json::json!({
                "apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret",
                "metadata": {"name": "p", "namespace": "ns"},
                "spec": {"deletionPolicy": policy, "secretStoreRefs": refs, "selector": {"secret": {"name": "s"}}},
                "status": {"syncedPushSecrets": synced}
            }))
            .unwrap()
        };
        let none = BTreeMap::new();
        let team = BTreeMap::from([("team".to_string(), "a".to_string())]);
        let by_name = ps("Delete", serde_json::json!([{"name": "aws"}]), serde_json::json!({}));
        assert!(needs_store(&by_name, SecretStoreKind::SecretStore, Some("ns"), "aws", &none));
        assert!(!needs_store(&by_name, SecretStoreKind::SecretStore, Some("other"), "aws", &none), "another namespace");
        assert!(!needs_store(&by_name, SecretStoreKind::ClusterSecretStore, None, "aws", &none), "another kind");
        assert!(!needs_store(&by_name, SecretStoreKind::SecretStore, Some("ns"), "gcp", &none));
        let kept = ps("None", serde_json::json!([{"name": "aws"}]), serde_json::json!({}));
        assert!(!needs_store(&kept, SecretStoreKind::SecretStore, Some("ns"), "aws", &none), "deletionPolicy None");
        let by_label = ps(
            "Delete",
            serde_json::json!([{"kind": "ClusterSecretStore", "labelSelector": {"matchLabels": {"team": "a"}}}]),
            serde_json::json!({}),
        );
        assert!(needs_store(&by_label, SecretStoreKind::ClusterSecretStore, None, "any", &team));
        assert!(!needs_store(&by_label, SecretStoreKind::ClusterSecretStore, None, "any", &none));
        let pushed_before = ps(
            "Delete",
            serde_json::json!([{"name": "new"}]),
            serde_json::json!({"SecretStore/old": {"k": {"match": {"remoteRef": {"remoteKey": "k"}}}}}),
        );
        assert!(needs_store(&pushed_before, SecretStoreKind::SecretStore, Some("ns"), "old", &none), "still to clean");
    }

    fn input<'a>(synced: &'a str, interval: Option<u64>, last: Option<i64>, changed: bool) -> PushRefreshInput<'a> {
        PushRefreshInput {
            synced_resource_version: synced,
            current_resource_version: "1-x",
            refresh_interval: interval.map(Duration::from_secs),
            last_refresh: last.map(|s| Timestamp::from_second(s).unwrap()),
            source_changed: changed,
            now: Timestamp::from_second(1000).unwrap(),
        }
    }

    #[test]
    fn refresh_follows_esos_rule_and_a_source_change_pushes_at_once() {
        assert_eq!(decide(&input("", Some(3600), None, false)), None, "never pushed");
        assert_eq!(decide(&input("0-x", Some(3600), Some(990), false)), None, "spec changed");
        assert_eq!(decide(&input("1-x", Some(60), Some(990), false)), Some(Some(Duration::from_secs(50))));
        assert_eq!(decide(&input("1-x", Some(60), Some(900), false)), None, "due");
        assert_eq!(decide(&input("1-x", Some(60), Some(990), true)), None, "the source changed");
        assert_eq!(decide(&input("1-x", Some(60), None, false)), None, "no refresh time");
        assert_eq!(decide(&input("1-x", Some(60), Some(2000), false)), None, "a refresh time in the future");
        assert_eq!(decide(&input("1-x", None, Some(990), true)), Some(None), "interval 0: pushed once");
        assert_eq!(decide(&input("", None, None, false)), None, "interval 0, never pushed");
    }
}
