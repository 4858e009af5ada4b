//! What a PushSecret writes, as ESO's `push_secret.go` decides it: the `PushSecretMetadata` spec, the replication
//! of a new secret, the labels and annotations to keep, and a `property` set into a JSON document.

use std::collections::BTreeMap;

use external_secrets_provider::ProviderError;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// The label that marks a secret as written by external-secrets (ESO's).
pub(crate) const MANAGED_BY: &str = "managed-by";
pub(crate) const EXTERNAL_SECRETS: &str = "external-secrets";
const METADATA_API_VERSION: &str = "kubernetes.external-secrets.io/v1alpha1";
const METADATA_KIND: &str = "PushSecretMetadata";

/// ESO's `PushSecretMetadataSpec` of the GCP provider.
#[derive(Deserialize, Default, Debug, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct MetadataSpec {
    #[serde(default)]
    pub(crate) annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) labels: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) topics: Vec<String>,
    /// `Replace` (default) or `Merge` (keep the secret's other labels).
    #[serde(default)]
    pub(crate) merge_policy: String,
    #[serde(default, rename = "cmekKeyName")]
    pub(crate) cmek_key_name: String,
    #[serde(default)]
    pub(crate) replication_location: String,
    #[serde(default)]
    pub(crate) replication_locations: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<T> {
    #[serde(rename = "apiVersion", default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default = "Option::default")]
    spec: Option<T>,
}

/// The `spec` of a `data[].metadata` (`PushSecretMetadata`) as ESO parses it: unknown fields refused, `apiVersion`
/// and `kind` ESO's; no metadata (or no spec) is `T::default()`.
pub(crate) fn parse_metadata<T: DeserializeOwned + Default>(metadata: Option<&Value>) -> Result<T, ProviderError> {
    let Some(value) = metadata.filter(|v| !v.is_null()) else { return Ok(T::default()) };
    let parsed: Envelope<T> = serde_json::from_value(value.clone()).map_err(|e| {
        ProviderError::InvalidConfig(format!(
            "failed to parse PushSecret metadata: {METADATA_API_VERSION} {METADATA_KIND}: {e}"
        ))
    })?;
    if parsed.api_version != METADATA_API_VERSION {
        return Err(ProviderError::InvalidConfig(format!(
            "unexpected apiVersion {:?}, expected {METADATA_API_VERSION:?}",
            parsed.api_version
        )));
    }
    if parsed.kind != METADATA_KIND {
        return Err(ProviderError::InvalidConfig(format!(
            "unexpected kind {:?}, expected {METADATA_KIND:?}",
            parsed.kind
        )));
    }
    Ok(parsed.spec.unwrap_or_default())
}

/// ESO's `buildReplication`: user-managed replicas at `replicationLocations` (or `replicationLocation`), each
/// with the CMEK key if one is given; automatic (with the CMEK key) otherwise.
pub(crate) fn replication(spec: &MetadataSpec) -> Value {
    let mut locations = spec.replication_locations.clone();
    if locations.is_empty() && !spec.replication_location.is_empty() {
        locations.push(spec.replication_location.clone());
    }
    let cmek = (!spec.cmek_key_name.is_empty()).then(|| json!({"kmsKeyName": spec.cmek_key_name}));
    if locations.is_empty() {
        return match cmek {
            Some(cmek) => json!({"automatic": {"customerManagedEncryption": cmek}}),
            None => json!({"automatic": {}}),
        };
    }
    let replicas: Vec<Value> = locations
        .iter()
        .map(|location| match &cmek {
            Some(cmek) => json!({"location": location, "customerManagedEncryption": cmek}),
            None => json!({"location": location}),
        })
        .collect();
    json!({"userManaged": {"replicas": replicas}})
}

/// ESO's `psBuilder.buildMetadata`: the metadata's annotations, its labels (plus the secret's current ones with
/// `mergePolicy: Merge`, which win) and `managed-by`, and its topics.
pub(crate) fn desired_metadata(
    spec: &MetadataSpec,
    current_labels: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, BTreeMap<String, String>, Vec<String>) {
    let mut labels = spec.labels.clone();
    if spec.merge_policy == "Merge" {
        labels.extend(current_labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    labels.insert(MANAGED_BY.to_string(), EXTERNAL_SECRETS.to_string());
    (spec.annotations.clone(), labels, spec.topics.clone())
}

/// The value at `property` of a JSON document, as ESO's `getDataByProperty` reads it (a dotted property as a
/// literal key first, then as a gjson path), rendered as a string; `None` if absent or not JSON.
pub(crate) fn property_value(document: &[u8], property: &str) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(document).ok()?;
    if !gjson::valid(text) {
        return None;
    }
    if property.contains('.') {
        let escaped = property.replace('.', "\\.");
        let literal = gjson::get(text, &escaped);
        if literal.exists() {
            return Some(literal.str().as_bytes().to_vec());
        }
    }
    let value = gjson::get(text, property);
    value.exists().then(|| value.str().as_bytes().to_vec())
}

/// `document` with `value` (as a JSON string) at the dotted `property` path, as ESO's `sjson.SetBytes`; an empty
/// document becomes an object. A document that is not a JSON object cannot take a property.
pub(crate) fn set_property(document: &[u8], property: &str, value: &[u8]) -> Result<Vec<u8>, ProviderError> {
    let not_object =
        || ProviderError::InvalidConfig("the remote secret is not a JSON object; cannot set a property".into());
    let mut root: Value = if document.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(document).map_err(|_| not_object())?
    };
    let segments: Vec<&str> = property.split('.').collect();
    let mut node = &mut root;
    for (i, segment) in segments.iter().enumerate() {
        let object = node.as_object_mut().ok_or_else(not_object)?;
        if i + 1 == segments.len() {
            object.insert((*segment).to_string(), Value::String(String::from_utf8_lossy(value).into_owned()));
            break;
        }
        let child = object.entry((*segment).to_string()).or_insert_with(|| json!({}));
        if !child.is_object() {
            *child = json!({});
        }
        node = child;
    }
    serde_json::to_vec(&root).map_err(|_| ProviderError::Internal("serializing the pushed document".into()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn metadata(spec: Value) -> Value {
        json!({"apiVersion": METADATA_API_VERSION, "kind": METADATA_KIND, "spec": spec})
    }

    #[test]
    fn metadata_is_esos_envelope_with_unknown_fields_refused() {
        let spec: MetadataSpec =
            parse_metadata(Some(&metadata(json!({"labels": {"team": "a"}, "mergePolicy": "Merge"})))).unwrap();
        assert_eq!(spec.labels, BTreeMap::from([("team".to_string(), "a".to_string())]));
        assert!(parse_metadata::<MetadataSpec>(Some(&metadata(json!({"tags": {}})))).is_err());
        assert!(parse_metadata::<MetadataSpec>(Some(&json!({"apiVersion": "v1", "kind": METADATA_KIND}))).is_err());
        assert_eq!(parse_metadata::<MetadataSpec>(None).unwrap(), MetadataSpec::default());
    }

    #[test]
    fn replication_is_automatic_unless_locations_are_given() {
        assert_eq!(replication(&MetadataSpec::default()), json!({"automatic": {}}));
        let cmek = MetadataSpec { cmek_key_name: "k".into(), ..Default::default() };
        assert_eq!(replication(&cmek), json!({"automatic": {"customerManagedEncryption": {"kmsKeyName": "k"}}}));
        let one = MetadataSpec { replication_location: "us-east1".into(), ..Default::default() };
        assert_eq!(replication(&one), json!({"userManaged": {"replicas": [{"location": "us-east1"}]}}));
        let many = MetadataSpec {
            replication_location: "ignored".into(),
            replication_locations: vec!["a".into(), "b".into()],
            cmek_key_name: "k".into(),
            ..Default::default()
        };
        assert_eq!(
            replication(&many),
            json!({"userManaged": {"replicas": [
                {"location": "a", "customerManagedEncryption": {"kmsKeyName": "k"}},
                {"location": "b", "customerManagedEncryption": {"kmsKeyName": "k"}},
            ]}})
        );
    }

    #[test]
    fn labels_replace_or_merge_and_always_carry_managed_by() {
        let current = BTreeMap::from([("old".to_string(), "1".to_string()), ("team".to_string(), "b".to_string())]);
        let spec = MetadataSpec { labels: BTreeMap::from([("team".into(), "a".into())]), ..Default::default() };
        let (_, labels, _) = desired_metadata(&spec, &current);
        assert_eq!(labels.len(), 2);
        assert_eq!(labels["team"], "a");
        assert_eq!(labels[MANAGED_BY], EXTERNAL_SECRETS);
        let merge = MetadataSpec { merge_policy: "Merge".into(), ..spec };
        let (_, labels, _) = desired_metadata(&merge, &current);
        assert_eq!((labels["old"].as_str(), labels["team"].as_str()), ("1", "b"), "the secret's labels win");
    }

    #[test]
    fn properties_are_set_into_and_read_from_json_documents() {
        let doc = set_property(b"", "user", b"admin").unwrap();
        assert_eq!(doc, br#"{"user":"admin"}"#);
        let doc = set_property(&doc, "db.password", b"pw").unwrap();
        assert_eq!(property_value(&doc, "db.password").unwrap(), b"pw");
        assert_eq!(property_value(&doc, "user").unwrap(), b"admin");
        assert_eq!(property_value(&doc, "missing"), None);
        assert!(set_property(b"plain text", "a", b"x").is_err());
        assert_eq!(property_value(br#"{"a.b": "literal", "a": {"b": "path"}}"#, "a.b").unwrap(), b"literal");
    }
}
