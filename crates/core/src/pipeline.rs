//! From an ExternalSecret's spec to the data of its target Secret, in two pure steps around the provider IO:
//!
//! 1. [`plan`]: *what to fetch*, per store: the de-duplicated [`RemoteKey`]s of `data[]` and
//!    `dataFrom[].extract`, and the `dataFrom[].find` queries.
//! 2. [`build_data`]: given what the stores answered, ESO's pipeline: `dataFrom[]` in order (extract/find →
//!    rewrite or key conversion → key validation → decoding → null-byte check; later entries win), then `data[]`
//!    (property → decoding → null-byte check), overriding. A store's "not found" is skipped (and reported) unless
//!    `deletionPolicy` is `Retain`, where it is an error — as in ESO.
//!
//! Every error names the entry at fault (`spec.data[1]`, `spec.dataFrom[0]`) and never a value.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use external_secrets_api::{
    ExternalSecretConversionStrategy, ExternalSecretDataRemoteRef, ExternalSecretDecodingStrategy,
    ExternalSecretDeletionPolicy, ExternalSecretMetadataPolicy, ExternalSecretNullBytePolicy,
    ExternalSecretRewriteMerge, ExternalSecretRewriteMergeConflictPolicy, ExternalSecretRewriteMergePriorityPolicy,
    ExternalSecretRewriteMergeStrategy, ExternalSecretSpec, GeneratorRef, SecretStoreKind,
};

use external_secrets_template::{Delimiters, Template, Value, json_decode, json_encode};

use crate::decode::{DecodeError, NullByteError, apply_null_byte_policy, decode};
use crate::keys::{KeyError, convert_key, convert_keys, validate_keys};
use crate::property::{ExtractError, PropertyError, extract_map_at, select_property};
use external_secrets_provider::{FindQuery, MetadataPolicy, RemoteKey, RemoteValue};

/// A store an entry reads from: the spec-level `secretStoreRef` or an entry's `sourceRef.storeRef`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreId {
    pub kind: SecretStoreKind,
    pub name: String,
}

/// What to fetch from one store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StorePlan {
    /// Distinct keys (sorted): one read each, however many entries want them.
    pub keys: BTreeSet<RemoteKey>,
    /// `dataFrom[]` index → its find query.
    pub finds: BTreeMap<usize, FindQuery>,
}

/// What to fetch, per store.
pub type FetchPlan = BTreeMap<StoreId, StorePlan>;

/// What the stores answered. A key absent from `values` was not fetched (a bug, reported as such); `None` means
/// the store said "not found".
#[derive(Debug, Default)]
pub struct Fetched {
    pub values: HashMap<(StoreId, RemoteKey), Option<RemoteValue>>,
    /// `dataFrom[]` index → the secrets its find matched.
    pub finds: HashMap<usize, BTreeMap<String, RemoteValue>>,
    /// `dataFrom[]` index → what its generator produced.
    pub generated: HashMap<usize, BTreeMap<String, RemoteValue>>,
}

/// The data of the target Secret, and the entries whose remote secret was missing (for events).
#[derive(Default)]
pub struct BuiltData {
    pub data: BTreeMap<String, Vec<u8>>,
    /// Human-readable descriptions of skipped entries, ESO's wording: `spec.data[0] (key=foo)`.
    pub missing: Vec<String>,
}

/// Shows the keys and value lengths, never the values.
impl std::fmt::Debug for BuiltData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lengths: BTreeMap<&str, usize> = self.data.iter().map(|(k, v)| (k.as_str(), v.len())).collect();
        f.debug_struct("BuiltData").field("data (key: bytes)", &lengths).field("missing", &self.missing).finish()
    }
}

/// What went wrong with one entry.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    #[error(transparent)]
    Property(#[from] PropertyError),
    #[error(transparent)]
    Extract(#[from] ExtractError),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    NullByte(#[from] NullByteError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("secret {key:?} does not exist at the provider")]
    NotFound { key: String },
    #[error("invalid rewrite regexp {pattern:?}: {reason}")]
    InvalidRegexp { pattern: String, reason: String },
    #[error("rewrite transform: {0}")]
    Template(String),
    #[error("rewrite[{index}].merge: {reason}")]
    Merge { index: usize, reason: String },
    #[error("{0} is not supported yet")]
    Unsupported(&'static str),
    #[error("{0}")]
    Invalid(&'static str),
    #[error("no store: set spec.secretStoreRef or this entry's sourceRef.storeRef")]
    NoStore,
    #[error("internal: {0}")]
    Internal(&'static str),
}

/// An [`EntryError`] with the entry it happened at.
#[derive(Debug, thiserror::Error)]
#[error("{entry}: {source}")]
pub struct PipelineError {
    /// `spec.data[1] (key=app-db)` or `spec.dataFrom[0]`.
    pub entry: String,
    pub source: EntryError,
}

impl PipelineError {
    /// Whether the error is a provider "not found" (under `deletionPolicy: Retain`).
    pub fn is_not_found(&self) -> bool {
        matches!(self.source, EntryError::NotFound { .. })
    }
}

fn data_entry(index: usize, key: &str) -> String {
    format!("spec.data[{index}] (key={key})")
}

fn data_from_entry(index: usize) -> String {
    format!("spec.dataFrom[{index}]")
}

fn at(entry: String) -> impl FnOnce(EntryError) -> PipelineError {
    move |source| PipelineError { entry, source }
}

fn remote_key(r: &ExternalSecretDataRemoteRef) -> RemoteKey {
    RemoteKey {
        key: r.key.clone(),
        version: r.version.clone().filter(|v| !v.is_empty()),
        metadata_policy: match r.metadata_policy {
            Some(ExternalSecretMetadataPolicy::Fetch) => MetadataPolicy::Fetch,
            _ => MetadataPolicy::None,
        },
    }
}

fn default_store(spec: &ExternalSecretSpec) -> Option<StoreId> {
    spec.secret_store_ref
        .as_ref()
        .filter(|r| !r.name.is_empty())
        .map(|r| StoreId { kind: r.kind_or_default(), name: r.name.clone() })
}

fn entry_store(
    spec: &ExternalSecretSpec,
    source: Option<&external_secrets_api::SecretStoreRef>,
) -> Result<StoreId, EntryError> {
    match source {
        Some(r) => Ok(StoreId { kind: r.kind_or_default(), name: r.name.clone() }),
        None => default_store(spec).ok_or(EntryError::NoStore),
    }
}

/// The stores and keys to read for `spec` (generator entries read none). Errors name the entry (no store, a
/// generator in `data[]`, extract or find beside a generator).
pub fn plan(spec: &ExternalSecretSpec) -> Result<FetchPlan, PipelineError> {
    let mut plan = FetchPlan::new();
    for (i, entry) in spec.data_from.iter().enumerate() {
        let source = entry.source_ref.as_ref();
        if source.is_some_and(|s| s.generator_ref.is_some()) {
            // A generator entry reads no store (see [`generator_refs`]). ESO's admission webhook refuses extract
            // or find beside it; without the webhook, refuse it here too.
            if entry.extract.is_some() || entry.find.is_some() {
                return Err(at(data_from_entry(i))(EntryError::Invalid(
                    "extract, find, or generatorRef cannot be set at the same time",
                )));
            }
            continue;
        }
        let store = entry_store(spec, source.and_then(|s| s.store_ref.as_ref())).map_err(at(data_from_entry(i)))?;
        let store_plan = plan.entry(store).or_default();
        if let Some(extract) = &entry.extract {
            store_plan.keys.insert(remote_key(extract));
        } else if let Some(find) = &entry.find {
            store_plan.finds.insert(
                i,
                FindQuery {
                    path: find.path.clone().filter(|p| !p.is_empty()),
                    // Providers tell "by name" apart from "by tags" as ESO does (`find.name != nil`): `name: {}` is
                    // a search by name that matches every name.
                    name_regexp: find.name.as_ref().map(|n| n.regexp.clone().unwrap_or_default()),
                    tags: find.tags.clone(),
                },
            );
        } else {
            return Err(at(data_from_entry(i))(EntryError::Unsupported("a dataFrom entry without extract or find")));
        }
    }
    for (i, entry) in spec.data.iter().enumerate() {
        let source = entry.source_ref.as_ref();
        if source.is_some_and(|s| s.generator_ref.is_some()) {
            return Err(at(data_entry(i, &entry.secret_key))(EntryError::Unsupported("data[].sourceRef.generatorRef")));
        }
        let store = entry_store(spec, source.and_then(|s| s.store_ref.as_ref()))
            .map_err(at(data_entry(i, &entry.secret_key)))?;
        plan.entry(store).or_default().keys.insert(remote_key(&entry.remote_ref));
    }
    Ok(plan)
}

/// The `dataFrom[]` entries that name a generator (`sourceRef.generatorRef`), by index: their data is generated,
/// not fetched, and handed to [`build_data`] in [`Fetched::generated`].
pub fn generator_refs(spec: &ExternalSecretSpec) -> Vec<(usize, &GeneratorRef)> {
    spec.data_from
        .iter()
        .enumerate()
        .filter_map(|(i, entry)| entry.source_ref.as_ref().and_then(|s| s.generator_ref.as_ref()).map(|r| (i, r)))
        .collect()
}

fn fetched_value<'a>(
    fetched: &'a Fetched,
    store: &StoreId,
    key: &RemoteKey,
) -> Result<Option<&'a RemoteValue>, EntryError> {
    fetched
        .values
        .get(&(store.clone(), key.clone()))
        .map(Option::as_ref)
        .ok_or(EntryError::Internal("a planned key was not fetched"))
}

/// Applies `rewrite[]` in order: `regexp` (replace-all on each key with `$1` expansion), `transform` (a template
/// rendered per key with `.value` = the key) and `merge` (see [`rewrite_merge`]).
fn rewrite_keys(
    entry: &external_secrets_api::ExternalSecretDataFromRemoteRef,
    map: BTreeMap<String, Vec<u8>>,
) -> Result<BTreeMap<String, Vec<u8>>, EntryError> {
    let mut map = map;
    for (index, rule) in entry.rewrite.iter().enumerate() {
        if let Some(re) = &rule.regexp {
            let compiled = regex::Regex::new(&re.source)
                .map_err(|e| EntryError::InvalidRegexp { pattern: re.source.clone(), reason: e.to_string() })?;
            map = convert_keys(map, |k| compiled.replace_all(k, re.target.as_str()).into_owned())?;
        } else if let Some(transform) = &rule.transform {
            let template = Template::parse("transform", &transform.template, &Delimiters::default())
                .map_err(|e| EntryError::Template(e.to_string()))?;
            let mut renamed = BTreeMap::new();
            for (key, value) in map {
                let context = Value::string_map([("value", key.as_str())]);
                let new_key = template.execute(&context).map_err(|e| EntryError::Template(e.to_string()))?;
                renamed.insert(String::from_utf8_lossy(&new_key).into_owned(), value);
            }
            map = renamed;
        } else if let Some(merge) = &rule.merge {
            map = rewrite_merge(merge, map).map_err(|reason| EntryError::Merge { index, reason })?;
        }
    }
    Ok(map)
}

/// ESO's `rewrite[].merge`: every value is parsed as a JSON object (`null` counts as an empty one) and the objects
/// are merged — the keys that are not in `priority` in sorted order, then the `priority` keys in their order, so
/// those win. A `priority` key missing from the input is an error under `priorityPolicy: Strict` (the default). A
/// member set by two inputs is a conflict, an error under `conflictPolicy: Error` (the default).
///
/// `strategy: Extract` (the default) returns the merged members (strings as they are, other values as Go's
/// `json.Marshal` writes them, numbers as Go formats a `float64`, `null` empty). `strategy: JSON` keeps the input
/// and writes the merged object as JSON under `into` (required).
///
/// The error names keys and members only, never a value.
pub fn rewrite_merge(
    rule: &ExternalSecretRewriteMerge,
    input: BTreeMap<String, Vec<u8>>,
) -> Result<BTreeMap<String, Vec<u8>>, String> {
    // BTreeMap keys iterate bytewise-sorted, as Go's sort.Strings orders them.
    let order = input
        .keys()
        .filter(|key| !rule.priority.contains(key))
        .map(String::as_str)
        .chain(rule.priority.iter().map(String::as_str));
    let mut merged: BTreeMap<String, Value> = BTreeMap::new();
    let mut conflicts: Vec<String> = Vec::new();
    for key in order {
        let Some(value) = input.get(key) else {
            if rule.priority_policy == ExternalSecretRewriteMergePriorityPolicy::IgnoreNotFound {
                continue;
            }
            return Err(format!("priority key {key:?} not found in the input"));
        };
        let members = match json_decode(&String::from_utf8_lossy(value)) {
            Ok(Value::Map(object)) => std::mem::take(&mut object.borrow_mut().entries),
            Ok(Value::Nil) => BTreeMap::new(),
            Ok(_) => return Err(format!("the value of key {key:?} is not a JSON object")),
            Err(position) => return Err(format!("the value of key {key:?} is not valid JSON ({position})")),
        };
        for (member, value) in members {
            if merged.contains_key(&member) {
                conflicts.push(member.clone());
            }
            merged.insert(member, value);
        }
    }
    if rule.conflict_policy == ExternalSecretRewriteMergeConflictPolicy::Error && !conflicts.is_empty() {
        return Err(format!("conflicting keys: {}", conflicts.join(", ")));
    }
    match rule.strategy {
        ExternalSecretRewriteMergeStrategy::Extract => {
            merged.into_iter().map(|(member, value)| Ok((member, go_byte_value(&value)?))).collect()
        }
        ExternalSecretRewriteMergeStrategy::Json => {
            if rule.into.is_empty() {
                return Err("strategy JSON needs `into`, the key to write the merged object to".to_string());
            }
            let json = json_encode(&Value::map(merged), false)?;
            let mut out = input;
            out.insert(rule.into.clone(), json.into_bytes());
            Ok(out)
        }
    }
}

/// ESO's `GetByteValue` for a decoded JSON value.
fn go_byte_value(value: &Value) -> Result<Vec<u8>, String> {
    Ok(match value {
        Value::Nil => Vec::new(),
        Value::String(s) => s.clone().into_bytes(),
        Value::Bool(b) => b.to_string().into_bytes(),
        Value::Int(i) => i.to_string().into_bytes(),
        // Go's strconv.FormatFloat(f, 'f', -1, 64): shortest digits, never an exponent, as Rust's Display.
        Value::Float(f) => f.to_string().into_bytes(),
        other => json_encode(other, true)?.into_bytes(),
    })
}

/// Key conversion (when there is no rewrite), validation, decoding and the null-byte check for an extract/find map.
fn finish_map(
    entry: &external_secrets_api::ExternalSecretDataFromRemoteRef,
    map: BTreeMap<String, Vec<u8>>,
    conversion: Option<ExternalSecretConversionStrategy>,
    decoding: Option<ExternalSecretDecodingStrategy>,
    null_bytes: Option<ExternalSecretNullBytePolicy>,
) -> Result<BTreeMap<String, Vec<u8>>, EntryError> {
    let mut map = if entry.rewrite.is_empty() {
        let strategy = conversion.unwrap_or(ExternalSecretConversionStrategy::Default);
        convert_keys(map, |k| convert_key(strategy, k))?
    } else {
        rewrite_keys(entry, map)?
    };
    validate_keys(&mut map)?;
    let decoding = decoding.unwrap_or(ExternalSecretDecodingStrategy::None);
    let null_bytes = null_bytes.unwrap_or(ExternalSecretNullBytePolicy::Ignore);
    let mut out = BTreeMap::new();
    for (key, value) in map {
        let value = decode(decoding, &value)?;
        apply_null_byte_policy(null_bytes, &key, &value)?;
        out.insert(key, value);
    }
    Ok(out)
}

/// ESO's data pipeline over what the stores answered. See the module docs for the order and the not-found rule.
pub fn build_data(
    spec: &ExternalSecretSpec,
    fetched: &Fetched,
    deletion_policy: ExternalSecretDeletionPolicy,
) -> Result<BuiltData, PipelineError> {
    let skip_not_found = deletion_policy != ExternalSecretDeletionPolicy::Retain;
    let mut built = BuiltData::default();

    for (i, entry) in spec.data_from.iter().enumerate() {
        let name = data_from_entry(i);
        if entry.source_ref.as_ref().is_some_and(|s| s.generator_ref.is_some()) {
            // ESO: a generator's data goes through rewrite and key validation only (no key conversion, no
            // decoding).
            let generated =
                fetched.generated.get(&i).ok_or_else(|| at(name.clone())(EntryError::Internal("generator not run")))?;
            let map: BTreeMap<String, Vec<u8>> =
                generated.iter().map(|(k, v)| (k.clone(), v.bytes.expose().to_vec())).collect();
            let mut map = rewrite_keys(entry, map).map_err(at(name.clone()))?;
            validate_keys(&mut map).map_err(|e| at(name.clone())(e.into()))?;
            built.data.extend(map);
            continue;
        }
        let store = entry_store(spec, entry.source_ref.as_ref().and_then(|s| s.store_ref.as_ref()))
            .map_err(at(name.clone()))?;
        let map = if let Some(extract) = &entry.extract {
            let key = remote_key(extract);
            match fetched_value(fetched, &store, &key).map_err(at(name.clone()))? {
                Some(value) => {
                    let map = extract_map_at(value, &extract.key, extract.property.as_deref().unwrap_or(""))
                        .map_err(|e| at(name.clone())(e.into()))?;
                    finish_map(
                        entry,
                        map,
                        extract.conversion_strategy,
                        extract.decoding_strategy,
                        extract.null_byte_policy,
                    )
                    .map_err(at(name.clone()))?
                }
                None if skip_not_found => {
                    built.missing.push(name);
                    continue;
                }
                None => {
                    return Err(at(name)(EntryError::NotFound { key: extract.key.clone() }));
                }
            }
        } else if let Some(find) = &entry.find {
            let found = fetched.finds.get(&i).ok_or_else(|| at(name.clone())(EntryError::Internal("find not run")))?;
            // A find value is the whole remote secret; document-like values are taken as they are.
            let map: BTreeMap<String, Vec<u8>> =
                found.iter().map(|(k, v)| (k.clone(), v.bytes.expose().to_vec())).collect();
            finish_map(entry, map, find.conversion_strategy, find.decoding_strategy, find.null_byte_policy)
                .map_err(at(name.clone()))?
        } else {
            return Err(at(name)(EntryError::Unsupported("a dataFrom entry without extract or find")));
        };
        built.data.extend(map);
    }

    for (i, entry) in spec.data.iter().enumerate() {
        let name = data_entry(i, &entry.secret_key);
        let store = entry_store(spec, entry.source_ref.as_ref().and_then(|s| s.store_ref.as_ref()))
            .map_err(at(name.clone()))?;
        let remote = &entry.remote_ref;
        let key = remote_key(remote);
        let value = match fetched_value(fetched, &store, &key).map_err(at(name.clone()))? {
            Some(value) => value,
            None if skip_not_found => {
                built.missing.push(name);
                continue;
            }
            None => {
                return Err(at(name)(EntryError::NotFound { key: remote.key.clone() }));
            }
        };
        let raw = match remote.property.as_deref().filter(|p| !p.is_empty()) {
            Some(property) => select_property(value, &remote.key, property).map_err(|e| at(name.clone())(e.into()))?,
            None => value.bytes.expose().to_vec(),
        };
        let decoded = decode(remote.decoding_strategy.unwrap_or(ExternalSecretDecodingStrategy::None), &raw)
            .map_err(|e| at(name.clone())(e.into()))?;
        apply_null_byte_policy(
            remote.null_byte_policy.unwrap_or(ExternalSecretNullBytePolicy::Ignore),
            &entry.secret_key,
            &decoded,
        )
        .map_err(|e| at(name.clone())(e.into()))?;
        built.data.insert(entry.secret_key.clone(), decoded);
    }
    Ok(built)
}

#[cfg(test)]
mod tests {
    #[test]
    fn debug_of_built_data_shows_lengths_not_values() {
        let built = super::BuiltData {
            data: std::collections::BTreeMap::from([("password".to_owned(), b"hunter2-value".to_vec())]),
            missing: Vec::new(),
        };
        let shown = format!("{built:?}");
        assert!(shown.contains("password") && shown.contains("13"), "{shown}");
        assert!(!shown.contains("hunter2") && !shown.contains("104"), "no value, not even as bytes: {shown}");
    }

    use super::*;

    fn spec(yaml: &str) -> ExternalSecretSpec {
        serde_yaml_like(yaml)
    }

    // The api crate deserializes from JSON; tests write specs as JSON for brevity.
    fn serde_yaml_like(json: &str) -> ExternalSecretSpec {
        serde_json::from_str(json).expect("spec JSON")
    }

    fn store() -> StoreId {
        StoreId { kind: SecretStoreKind::SecretStore, name: "aws".into() }
    }

    fn fetched(entries: &[(&str, Option<&str>)]) -> Fetched {
        let mut f = Fetched::default();
        for (key, value) in entries {
            f.values.insert((store(), RemoteKey::value(*key)), value.map(RemoteValue::bytes));
        }
        f
    }

    const WALKTHROUGH: &str = r#"{
        "secretStoreRef": {"name": "aws", "kind": "SecretStore"},
        "target": {"name": "appsecret"},
        "data": [
            {"secretKey": "app-db-username", "remoteRef": {"key": "prod/db", "property": "username"}},
            {"secretKey": "app-db-password", "remoteRef": {"key": "prod/db", "property": "password"}}
        ]
    }"#;

    #[test]
    fn two_properties_of_one_secret_are_one_key_to_fetch() {
        let plan = plan(&spec(WALKTHROUGH)).expect("plan");
        assert_eq!(plan.len(), 1);
        let keys: Vec<_> = plan[&store()].keys.iter().map(|k| k.key.as_str()).collect();
        assert_eq!(keys, vec!["prod/db"]);
    }

    #[test]
    fn a_find_with_an_empty_name_is_still_a_find_by_name() {
        let s = spec(
            r#"{"secretStoreRef": {"name": "aws"}, "dataFrom": [
                {"find": {"name": {}}},
                {"find": {"path": "app/", "name": {"regexp": ""}}},
                {"find": {"tags": {"team": "a"}}}]}"#,
        );
        let plan = plan(&s).expect("plan");
        let names: Vec<_> = plan[&store()].finds.values().map(|f| f.name_regexp.clone()).collect();
        assert_eq!(names, [Some(String::new()), Some(String::new()), None]);
    }

    #[test]
    fn walkthrough_takes_exactly_the_two_properties() {
        let doc = r#"{"username":"admin","password":"p4ss","host":"db.example","port":5432}"#;
        let built =
            build_data(&spec(WALKTHROUGH), &fetched(&[("prod/db", Some(doc))]), ExternalSecretDeletionPolicy::Retain)
                .expect("build");
        assert_eq!(built.data.len(), 2);
        assert_eq!(built.data["app-db-username"], b"admin");
        assert_eq!(built.data["app-db-password"], b"p4ss");
    }

    #[test]
    fn not_found_is_an_error_under_retain_and_skipped_otherwise() {
        let s = spec(WALKTHROUGH);
        let err =
            build_data(&s, &fetched(&[("prod/db", None)]), ExternalSecretDeletionPolicy::Retain).expect_err("retain");
        assert!(err.is_not_found());
        assert!(err.to_string().starts_with("spec.data[0] (key=app-db-username)"), "{err}");
        let built =
            build_data(&s, &fetched(&[("prod/db", None)]), ExternalSecretDeletionPolicy::Delete).expect("delete");
        assert!(built.data.is_empty());
        assert_eq!(built.missing.len(), 2);
    }

    #[test]
    fn missing_property_names_the_entry_and_not_the_value() {
        let doc = r#"{"username":"admin","password":"very-secret-value"}"#;
        let s = spec(
            r#"{"secretStoreRef": {"name": "aws"}, "data": [
                {"secretKey": "x", "remoteRef": {"key": "prod/db", "property": "nope"}}]}"#,
        );
        let err = build_data(&s, &fetched(&[("prod/db", Some(doc))]), ExternalSecretDeletionPolicy::Retain)
            .expect_err("missing property");
        let text = err.to_string();
        assert!(text.contains("spec.data[0] (key=x)") && text.contains("nope"), "{text}");
        assert!(!text.contains("very-secret-value"), "{text}");
    }

    #[test]
    fn data_from_extract_then_data_overrides() {
        let s = spec(
            r#"{"secretStoreRef": {"name": "aws"},
                "dataFrom": [{"extract": {"key": "cfg"}}],
                "data": [{"secretKey": "user", "remoteRef": {"key": "other"}}]}"#,
        );
        let mut f =
            fetched(&[("cfg", Some(r#"{"user":"from-extract","port":5432,"a/b":"x"}"#)), ("other", Some("override"))]);
        f.values.insert((store(), RemoteKey::value("other")), Some(RemoteValue::bytes("override")));
        let built = build_data(&s, &f, ExternalSecretDeletionPolicy::Retain).expect("build");
        assert_eq!(built.data["user"], b"override");
        assert_eq!(built.data["port"], b"5432");
        assert_eq!(built.data["a_b"], b"x", "Default conversion replaces '/'");
    }

    #[test]
    fn decoding_strategy_base64_and_bad_base64_is_a_named_error() {
        let s = spec(
            r#"{"secretStoreRef": {"name": "aws"}, "data": [
                {"secretKey": "k", "remoteRef": {"key": "b64", "decodingStrategy": "Base64"}}]}"#,
        );
        let built = build_data(&s, &fetched(&[("b64", Some("aGVsbG8="))]), ExternalSecretDeletionPolicy::Retain)
            .expect("decode");
        assert_eq!(built.data["k"], b"hello");
        let err = build_data(&s, &fetched(&[("b64", Some("not base64!"))]), ExternalSecretDeletionPolicy::Retain)
            .expect_err("bad base64");
        assert!(err.to_string().contains("spec.data[0] (key=k)"), "{err}");
    }

    #[test]
    fn rewrite_regexp_replaces_key_conversion() {
        let s = spec(
            r#"{"secretStoreRef": {"name": "aws"}, "dataFrom": [{"extract": {"key": "cfg"},
                "rewrite": [{"regexp": {"source": "^db_(.*)$", "target": "DB_$1"}}]}]}"#,
        );
        let built = build_data(
            &s,
            &fetched(&[("cfg", Some(r#"{"db_user":"u","db_pass":"p"}"#))]),
            ExternalSecretDeletionPolicy::Retain,
        )
        .expect("rewrite");
        assert_eq!(built.data.keys().collect::<Vec<_>>(), vec!["DB_pass", "DB_user"]);
    }

    #[test]
    fn invalid_rewrite_regexp_is_a_named_error() {
        let s = spec(
            r#"{"secretStoreRef": {"name": "aws"}, "dataFrom": [{"extract": {"key": "cfg"},
                "rewrite": [{"regexp": {"source": "([", "target": "x"}}]}]}"#,
        );
        let err = build_data(&s, &fetched(&[("cfg", Some(r#"{"a":"b"}"#))]), ExternalSecretDeletionPolicy::Retain)
            .expect_err("bad regexp");
        assert!(err.to_string().starts_with("spec.dataFrom[0]: invalid rewrite regexp"), "{err}");
    }

    #[test]
    fn entries_without_any_store_are_rejected_by_the_plan() {
        let s = spec(r#"{"data": [{"secretKey": "k", "remoteRef": {"key": "x"}}]}"#);
        let err = plan(&s).expect_err("no store");
        assert!(err.to_string().contains("no store"), "{err}");
    }

    #[test]
    fn source_ref_reads_from_another_store() {
        let s = spec(
            r#"{"secretStoreRef": {"name": "aws"}, "data": [
                {"secretKey": "a", "remoteRef": {"key": "x"}},
                {"secretKey": "b", "remoteRef": {"key": "y"}, "sourceRef": {"storeRef": {"name": "k8s", "kind": "ClusterSecretStore"}}}]}"#,
        );
        let plan = plan(&s).expect("plan");
        assert_eq!(plan.len(), 2);
        assert!(plan.contains_key(&StoreId { kind: SecretStoreKind::ClusterSecretStore, name: "k8s".into() }));
    }

    #[test]
    fn rewrite_transform_renders_each_key() {
        let s = spec(
            r#"{"secretStoreRef": {"name": "aws"}, "dataFrom": [{"extract": {"key": "cfg"},
                "rewrite": [{"transform": {"template": "{{ .value | upper }}"}}]}]}"#,
        );
        let built =
            build_data(&s, &fetched(&[("cfg", Some(r#"{"db_user":"u"}"#))]), ExternalSecretDeletionPolicy::Retain)
                .expect("transform");
        assert_eq!(built.data.keys().collect::<Vec<_>>(), vec!["DB_USER"]);
    }

    #[test]
    fn generator_entries_read_no_store_and_go_through_rewrite_and_key_validation() {
        let s = spec(
            r#"{"dataFrom": [
                {"sourceRef": {"generatorRef": {"kind": "Password", "name": "pw"}},
                 "rewrite": [{"regexp": {"source": "^", "target": "db_"}}]},
                {"sourceRef": {"generatorRef": {"kind": "Fake", "name": "f"}}}]}"#,
        );
        assert!(plan(&s).expect("plan").is_empty(), "no store to read");
        let refs: Vec<_> = generator_refs(&s).into_iter().map(|(i, r)| (i, r.kind.clone())).collect();
        assert_eq!(refs, [(0, "Password".to_string()), (1, "Fake".to_string())]);
        let mut f = Fetched::default();
        f.generated.insert(0, BTreeMap::from([("password".to_string(), RemoteValue::bytes("p"))]));
        f.generated.insert(1, BTreeMap::from([("a/b".to_string(), RemoteValue::bytes("x"))]));
        let err = build_data(&s, &f, ExternalSecretDeletionPolicy::Retain).expect_err("a/b is not a valid key");
        assert!(err.to_string().starts_with("spec.dataFrom[1]: "), "{err}");
        f.generated.insert(1, BTreeMap::from([("ok".to_string(), RemoteValue::bytes("x"))]));
        let built = build_data(&s, &f, ExternalSecretDeletionPolicy::Retain).expect("build");
        assert_eq!(text(&built.data), BTreeMap::from([("db_password", "p"), ("ok", "x")]));
    }

    #[test]
    fn a_generator_beside_extract_and_a_generator_in_data_are_refused() {
        let s = spec(
            r#"{"dataFrom": [{"extract": {"key": "k"}, "sourceRef": {"generatorRef": {"kind": "UUID", "name": "u"}}}]}"#,
        );
        let err = plan(&s).expect_err("extract beside a generator");
        assert!(err.to_string().contains("extract, find, or generatorRef cannot be set at the same time"), "{err}");
        let s = spec(
            r#"{"secretStoreRef": {"name": "aws"}, "data": [{"secretKey": "k", "remoteRef": {"key": "x"},
                "sourceRef": {"generatorRef": {"kind": "UUID", "name": "u"}}}]}"#,
        );
        let err = plan(&s).expect_err("generator in data[]");
        assert!(err.to_string().contains("data[].sourceRef.generatorRef"), "{err}");
    }

    fn merge_rule(json: serde_json::Value) -> ExternalSecretRewriteMerge {
        serde_json::from_value(json).expect("merge rule")
    }

    fn input(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect()
    }

    fn text(map: &BTreeMap<String, Vec<u8>>) -> BTreeMap<&str, &str> {
        map.iter().map(|(k, v)| (k.as_str(), std::str::from_utf8(v).expect("UTF-8"))).collect()
    }

    #[test]
    fn merge_extract_hoists_members_and_renders_values_as_go_does() {
        let merged = rewrite_merge(
            &merge_rule(serde_json::json!({})),
            input(&[
                ("a", r#"{"user":"u","port":5432,"ratio":1.50,"on":true,"none":null}"#),
                ("b", r#"{"nested":{"z":1,"a":"<&>"},"list":[1,"x"]}"#),
                ("empty", "null"),
            ]),
        )
        .expect("merge");
        assert_eq!(
            text(&merged),
            BTreeMap::from([
                ("user", "u"),
                ("port", "5432"),
                ("ratio", "1.5"),
                ("on", "true"),
                ("none", ""),
                ("nested", r#"{"a":"\u003c\u0026\u003e","z":1}"#),
                ("list", r#"[1,"x"]"#),
            ])
        );
    }

    #[test]
    fn merge_conflicts_are_errors_by_default_and_sorted_order_decides_when_ignored() {
        let data = input(&[("b", r#"{"k":"from-b","only_b":"1"}"#), ("a", r#"{"k":"from-a"}"#)]);
        let err = rewrite_merge(&merge_rule(serde_json::json!({})), data.clone()).expect_err("conflict");
        assert_eq!(err, "conflicting keys: k");
        assert!(!err.contains("from-"), "{err}");
        let merged = rewrite_merge(&merge_rule(serde_json::json!({"conflictPolicy": "Ignore"})), data).expect("ignore");
        assert_eq!(text(&merged), BTreeMap::from([("k", "from-b"), ("only_b", "1")]), "b is merged after a");
    }

    #[test]
    fn merge_priority_keys_come_last_in_their_order() {
        let data = input(&[("a", r#"{"k":"a"}"#), ("b", r#"{"k":"b"}"#), ("c", r#"{"k":"c"}"#)]);
        let rule = merge_rule(serde_json::json!({"priority": ["a", "b"], "conflictPolicy": "Ignore"}));
        assert_eq!(text(&rewrite_merge(&rule, data.clone()).expect("merge")), BTreeMap::from([("k", "b")]));
        let rule = merge_rule(serde_json::json!({"priority": ["b", "a"], "conflictPolicy": "Ignore"}));
        assert_eq!(text(&rewrite_merge(&rule, data).expect("merge")), BTreeMap::from([("k", "a")]));
    }

    #[test]
    fn merge_missing_priority_key_is_strict_unless_ignored() {
        let data = input(&[("a", r#"{"k":"a"}"#)]);
        let err =
            rewrite_merge(&merge_rule(serde_json::json!({"priority": ["nope"]})), data.clone()).expect_err("strict");
        assert_eq!(err, r#"priority key "nope" not found in the input"#);
        let rule = merge_rule(serde_json::json!({"priority": ["nope"], "priorityPolicy": "IgnoreNotFound"}));
        assert_eq!(text(&rewrite_merge(&rule, data).expect("ignore")), BTreeMap::from([("k", "a")]));
    }

    #[test]
    fn merge_json_strategy_writes_into_and_keeps_the_inputs() {
        let data = input(&[("a", r#"{"x":"<1>","n":2}"#), ("b", r#"{"y":"2"}"#)]);
        let rule = merge_rule(serde_json::json!({"strategy": "JSON", "into": "merged"}));
        let merged = rewrite_merge(&rule, data).expect("merge");
        assert_eq!(
            text(&merged),
            BTreeMap::from([
                ("a", r#"{"x":"<1>","n":2}"#),
                ("b", r#"{"y":"2"}"#),
                ("merged", r#"{"n":2,"x":"<1>","y":"2"}"#),
            ])
        );
        let err = rewrite_merge(&merge_rule(serde_json::json!({"strategy": "JSON"})), input(&[("a", "{}")]))
            .expect_err("no into");
        assert!(err.contains("into"), "{err}");
    }

    #[test]
    fn merge_rejects_values_that_are_not_json_objects_without_naming_them() {
        for value in ["not json secret-value", r#"["secret-value"]"#, r#""secret-value""#] {
            let err =
                rewrite_merge(&merge_rule(serde_json::json!({})), input(&[("k", value)])).expect_err("not an object");
            assert!(err.starts_with(r#"the value of key "k" is not"#), "{err}");
            assert!(!err.contains("secret-value"), "{err}");
        }
    }

    #[test]
    fn merge_in_the_pipeline_names_the_rule_and_feeds_key_validation() {
        let s = spec(
            r#"{"secretStoreRef": {"name": "aws"}, "dataFrom": [{"find": {"name": {"regexp": "^app/"}},
                "rewrite": [{"merge": {"priority": ["app/override"], "conflictPolicy": "Ignore"}},
                            {"regexp": {"source": "^", "target": "APP_"}}]}]}"#,
        );
        let mut f = Fetched::default();
        f.finds.insert(
            0,
            BTreeMap::from([
                ("app/base".to_string(), RemoteValue::bytes(r#"{"user":"base","host":"db"}"#)),
                ("app/override".to_string(), RemoteValue::bytes(r#"{"user":"override"}"#)),
            ]),
        );
        let built = build_data(&s, &f, ExternalSecretDeletionPolicy::Retain).expect("build");
        assert_eq!(text(&built.data), BTreeMap::from([("APP_host", "db"), ("APP_user", "override")]));

        let s = spec(
            r#"{"secretStoreRef": {"name": "aws"}, "dataFrom": [{"find": {"name": {"regexp": "^app/"}},
                "rewrite": [{"regexp": {"source": "/", "target": "_"}}, {"merge": {}}]}]}"#,
        );
        let err = build_data(&s, &f, ExternalSecretDeletionPolicy::Retain).expect_err("conflict");
        assert_eq!(err.to_string(), "spec.dataFrom[0]: rewrite[1].merge: conflicting keys: user");
    }
}
