//! What a PushSecret writes to (or deletes from) a KV secret, as ESO's `client_push.go` decides it: pure
//! functions over what Vault holds and what is pushed. The client does the reads and writes around them.
//!
//! - A secret that exists is only touched when its metadata says `managed-by: external-secrets` (KV v2: the
//!   secret's `custom_metadata`; KV v1, which has no metadata: a `custom_metadata` map inside the data, as ESO
//!   writes it). A push to one we do not manage is refused; a delete of one is skipped.
//! - A push of a whole secret needs a JSON object; one of a `property` sets that key (as a string) and keeps the
//!   others. Pushing what is already there writes nothing.
//! - A delete of a `property` removes that key and writes the rest back; the last key (or a whole-secret delete)
//!   deletes the secret, and on v2 its metadata.

use external_secrets_api::VaultKvStoreVersion;
use external_secrets_provider::ProviderError;
use serde_json::{Map, Value};

/// The metadata key and value that mark a secret as written by this operator (ESO's).
pub(crate) const MANAGED_BY_KEY: &str = "managed-by";
pub(crate) const MANAGED_BY_VALUE: &str = "external-secrets";
/// Where KV v1 secrets carry the mark (a key of the data; ESO's name).
pub(crate) const V1_METADATA_KEY: &str = "custom_metadata";

/// A secret as Vault holds it before a push or delete.
pub(crate) struct Existing {
    /// The secret's data (on v1 including the `custom_metadata` key).
    pub(crate) data: Map<String, Value>,
    /// Whether its metadata says we manage it.
    pub(crate) managed: bool,
}

/// The `custom_metadata` that marks a pushed secret.
pub(crate) fn managed_by() -> Value {
    serde_json::json!({ MANAGED_BY_KEY: MANAGED_BY_VALUE })
}

/// Whether a KV v1 secret's data carries the mark.
pub(crate) fn v1_managed(data: &Map<String, Value>) -> bool {
    data.get(V1_METADATA_KEY).and_then(|m| m.get(MANAGED_BY_KEY)).and_then(Value::as_str) == Some(MANAGED_BY_VALUE)
}

/// The data a push should write (without the v2 `{"data": ...}` envelope), or `None` when Vault holds it
/// already. `payload` is the pushed value (a JSON object for a whole-secret push); `remote_key` only names the
/// secret in errors. Errors never hold the value.
pub(crate) fn plan_push(
    version: VaultKvStoreVersion,
    existing: Option<Existing>,
    payload: &[u8],
    property: Option<&str>,
    remote_key: &str,
) -> Result<Option<Map<String, Value>>, ProviderError> {
    let mut current = match existing {
        Some(existing) if !existing.managed => {
            return Err(ProviderError::Denied(format!("secret {remote_key:?} not managed by external-secrets")));
        }
        Some(mut existing) => {
            if version == VaultKvStoreVersion::V1 {
                existing.data.remove(V1_METADATA_KEY);
            }
            Some(existing.data)
        }
        None => None,
    };
    let mut desired = match property {
        Some(property) => {
            let text = String::from_utf8_lossy(payload).into_owned();
            let mut data = current.take().unwrap_or_default();
            match data.get(property) {
                Some(Value::String(held)) if held.as_bytes() == payload => return Ok(None),
                Some(Value::String(_)) | None => {}
                Some(_) => {
                    return Err(ProviderError::InvalidConfig(format!(
                        "secret {remote_key:?}: error converting {property} to string"
                    )));
                }
            }
            data.insert(property.to_string(), Value::String(text));
            data
        }
        None => {
            let Ok(Value::Object(incoming)) = serde_json::from_slice::<Value>(payload) else {
                // Never the parser's message: it may quote the value.
                return Err(ProviderError::InvalidConfig(format!(
                    "the value pushed to {remote_key:?} without a property must be a JSON object: invalid JSON format"
                )));
            };
            if current.as_ref() == Some(&incoming) {
                return Ok(None);
            }
            incoming
        }
    };
    if version == VaultKvStoreVersion::V1 {
        desired.insert(V1_METADATA_KEY.to_string(), managed_by());
    }
    Ok(Some(desired))
}

/// What a delete does to a secret.
#[derive(Debug, PartialEq)]
pub(crate) enum DeletePlan {
    /// Nothing: gone already, not ours, or the property is not there.
    Nothing,
    /// Write these keys back (a property was removed, others remain).
    Rewrite(Map<String, Value>),
    /// Delete the secret (and on v2 its metadata).
    Delete,
}

/// What deleting `property` (or the whole secret) of `existing` means.
pub(crate) fn plan_delete(
    version: VaultKvStoreVersion,
    existing: Option<Existing>,
    property: Option<&str>,
) -> DeletePlan {
    let Some(existing) = existing.filter(|e| e.managed) else { return DeletePlan::Nothing };
    let Some(property) = property else { return DeletePlan::Delete };
    let mut data = existing.data;
    if data.remove(property).is_none() {
        return DeletePlan::Nothing;
    }
    if version == VaultKvStoreVersion::V1 && data.len() == 1 && data.contains_key(V1_METADATA_KEY) {
        data.remove(V1_METADATA_KEY);
    }
    if data.is_empty() { DeletePlan::Delete } else { DeletePlan::Rewrite(data) }
}

/// Whether `property` (a key of the data, else a dotted path into it; the whole secret when `None`) is in
/// `data` (ESO's `SecretExists`).
pub(crate) fn has_property(data: &Map<String, Value>, property: Option<&str>) -> bool {
    let Some(property) = property else { return true };
    if data.contains_key(property) {
        return true;
    }
    let mut node: Option<&Value> = None;
    for (i, segment) in property.split('.').enumerate() {
        node = if i == 0 { data.get(segment) } else { node.and_then(|n| n.get(segment)) };
        if node.is_none() {
            return false;
        }
    }
    node.is_some_and(|n| !n.is_null())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use VaultKvStoreVersion::{V1, V2};
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn ours(value: Value) -> Option<Existing> {
        Some(Existing { data: map(value), managed: true })
    }

    #[test]
    fn a_new_secret_is_created_from_a_json_object_or_one_property() {
        let whole = plan_push(V2, None, br#"{"user":"u","pw":"p"}"#, None, "k").unwrap().unwrap();
        assert_eq!(Value::Object(whole), json!({"user": "u", "pw": "p"}));
        let one = plan_push(V2, None, b"p", Some("pw"), "k").unwrap().unwrap();
        assert_eq!(Value::Object(one), json!({"pw": "p"}));
        let v1 = plan_push(V1, None, b"p", Some("pw"), "k").unwrap().unwrap();
        assert_eq!(Value::Object(v1), json!({"pw": "p", "custom_metadata": {"managed-by": "external-secrets"}}));
    }

    #[test]
    fn a_property_push_keeps_the_other_keys_and_skips_an_equal_value() {
        let merged = plan_push(V2, ours(json!({"host": "h", "pw": "old"})), b"new", Some("pw"), "k").unwrap();
        assert_eq!(Value::Object(merged.unwrap()), json!({"host": "h", "pw": "new"}));
        assert!(plan_push(V2, ours(json!({"pw": "same"})), b"same", Some("pw"), "k").unwrap().is_none());
        let v1 = ours(json!({"pw": "same", "custom_metadata": {"managed-by": "external-secrets"}}));
        assert!(plan_push(V1, v1, b"same", Some("pw"), "k").unwrap().is_none());
        let err = plan_push(V2, ours(json!({"pw": {"nested": 1}})), b"x", Some("pw"), "k").unwrap_err();
        assert!(matches!(err, ProviderError::InvalidConfig(_)), "{err}");
    }

    #[test]
    fn a_whole_push_of_what_is_there_writes_nothing() {
        let v1 = ours(json!({"a": "1", "custom_metadata": {"managed-by": "external-secrets"}}));
        assert!(plan_push(V1, v1, br#"{"a":"1"}"#, None, "k").unwrap().is_none());
        assert!(plan_push(V2, ours(json!({"a": "1"})), br#"{ "a" : "1" }"#, None, "k").unwrap().is_none());
        assert!(plan_push(V2, ours(json!({"a": "1"})), br#"{"a":"2"}"#, None, "k").unwrap().is_some());
    }

    #[test]
    fn secrets_we_do_not_manage_are_refused_and_values_never_in_errors() {
        let theirs = Some(Existing { data: map(json!({"pw": "x"})), managed: false });
        let err = plan_push(V2, theirs, b"y", Some("pw"), "app/theirs").unwrap_err();
        assert!(matches!(err, ProviderError::Denied(_)));
        assert!(err.to_string().contains("not managed by external-secrets"), "{err}");
        let err = plan_push(V2, None, b"hunter2-not-json", None, "k").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let err = plan_push(V2, None, b"[\"hunter2\"]", None, "k").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn deletes_remove_only_what_we_manage() {
        assert_eq!(plan_delete(V2, None, None), DeletePlan::Nothing);
        let theirs = Some(Existing { data: map(json!({"pw": "x"})), managed: false });
        assert_eq!(plan_delete(V2, theirs, Some("pw")), DeletePlan::Nothing);
        assert_eq!(plan_delete(V2, ours(json!({"pw": "x"})), None), DeletePlan::Delete);
        assert_eq!(plan_delete(V2, ours(json!({"pw": "x"})), Some("pw")), DeletePlan::Delete);
        assert_eq!(plan_delete(V2, ours(json!({"pw": "x"})), Some("other")), DeletePlan::Nothing);
        assert_eq!(
            plan_delete(V2, ours(json!({"pw": "x", "host": "h"})), Some("pw")),
            DeletePlan::Rewrite(map(json!({"host": "h"})))
        );
        let v1 = ours(json!({"pw": "x", "custom_metadata": {"managed-by": "external-secrets"}}));
        assert_eq!(plan_delete(V1, v1, Some("pw")), DeletePlan::Delete, "only the mark left");
    }

    #[test]
    fn properties_exist_as_keys_or_paths() {
        let data = map(json!({"a.b": "1", "conn": {"port": 5432}}));
        assert!(has_property(&data, None));
        assert!(has_property(&data, Some("a.b")));
        assert!(has_property(&data, Some("conn.port")));
        assert!(!has_property(&data, Some("conn.host")));
        assert!(!has_property(&data, Some("missing")));
        assert!(v1_managed(&map(json!({"custom_metadata": {"managed-by": "external-secrets"}}))));
        assert!(!v1_managed(&map(json!({"custom_metadata": {"managed-by": "someone"}}))));
    }
}
