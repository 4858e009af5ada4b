//! What a write to a store is made of (PushSecret): the contract form of ESO's `PushSecretData` and
//! `PushSecretRemoteRef` (`apis/externalsecrets/v1/pushsecret_interfaces.go`), and the Secret whose data is pushed.
//!
//! The store-client methods that take them are [`StoreClient::push_secret`](crate::StoreClient::push_secret),
//! [`StoreClient::delete_secret`](crate::StoreClient::delete_secret) and
//! [`StoreClient::secret_exists`](crate::StoreClient::secret_exists).

use std::collections::BTreeMap;

use external_secrets_api::v1alpha1;

use crate::{ProviderError, SecretBytes};

/// The `apiVersion` of ESO's `PushSecretMetadata` envelope (`data[].metadata`).
pub const PUSH_METADATA_API_VERSION: &str = "kubernetes.external-secrets.io/v1alpha1";
/// The `kind` of that envelope.
pub const PUSH_METADATA_KIND: &str = "PushSecretMetadata";

/// The `spec` of a `data[].metadata` (`PushSecretMetadata`) as ESO's `ParseMetadataParameters` reads it: only
/// `apiVersion`, `kind` and `spec` (unknown fields refused, in `spec` too when `T` denies them), `apiVersion` and
/// `kind` ESO's; no metadata (or no spec) is `T::default()`. Errors are `InvalidConfig` with ESO's wording.
pub fn parse_push_metadata<T: serde::de::DeserializeOwned + Default>(
    metadata: Option<&serde_json::Value>,
) -> Result<T, ProviderError> {
    let Some(value) = metadata.filter(|v| !v.is_null()) else { return Ok(T::default()) };
    let invalid = |e: String| {
        ProviderError::InvalidConfig(format!("failed to parse {PUSH_METADATA_API_VERSION} {PUSH_METADATA_KIND}: {e}"))
    };
    let serde_json::Value::Object(fields) = value else { return Err(invalid("not an object".to_string())) };
    if let Some(unknown) = fields.keys().find(|k| !matches!(k.as_str(), "apiVersion" | "kind" | "spec")) {
        return Err(invalid(format!("unknown field {unknown:?}")));
    }
    let text = |key: &str| fields.get(key).and_then(|v| v.as_str()).unwrap_or_default();
    if text("apiVersion") != PUSH_METADATA_API_VERSION {
        return Err(ProviderError::InvalidConfig(format!(
            "unexpected apiVersion {:?}, expected {PUSH_METADATA_API_VERSION:?}",
            text("apiVersion")
        )));
    }
    if text("kind") != PUSH_METADATA_KIND {
        return Err(ProviderError::InvalidConfig(format!(
            "unexpected kind {:?}, expected {PUSH_METADATA_KIND:?}",
            text("kind")
        )));
    }
    match fields.get("spec").filter(|s| !s.is_null()) {
        None => Ok(T::default()),
        Some(spec) => serde_json::from_value(spec.clone()).map_err(|e| invalid(e.to_string())),
    }
}

/// Where a pushed value lives in the store (ESO's `PushSecretRemoteRef`): the remote secret, and optionally one
/// property of it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PushRemoteRef {
    /// `remoteKey`: the provider's name (or path) of the remote secret. A store `prefix` is the provider's to add,
    /// as for reads.
    pub remote_key: String,
    /// `property`: a property of the remote secret (a key of its JSON document, for most providers); `None`: the
    /// whole remote secret.
    pub property: Option<String>,
}

impl PushRemoteRef {
    /// A reference to the whole remote secret `remote_key`.
    pub fn new(remote_key: impl Into<String>) -> Self {
        Self { remote_key: remote_key.into(), property: None }
    }
}

impl From<&v1alpha1::PushSecretRemoteRef> for PushRemoteRef {
    fn from(remote_ref: &v1alpha1::PushSecretRemoteRef) -> Self {
        Self {
            remote_key: remote_ref.remote_key.clone(),
            property: remote_ref.property.clone().filter(|p| !p.is_empty()),
        }
    }
}

/// One entry of a PushSecret's `spec.data` (ESO's `PushSecretData`): which value of the source Secret goes where.
///
/// Conversion (`conversionStrategy`) and templating are the controller's, done before a provider sees the entry.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PushSecretData {
    /// `match.secretKey`: the key of the source Secret whose value is pushed. `None`: the whole Secret, every key,
    /// which the provider encodes as ESO's does (most as one JSON object of the values as strings).
    pub secret_key: Option<String>,
    /// `match.remoteRef`: where the value goes.
    pub remote_ref: PushRemoteRef,
    /// `metadata`: provider-specific settings of the pushed secret (ESO's `apiextensionsv1.JSON`, e.g. AWS tags or
    /// Kubernetes labels), as the user wrote them; the provider parses and checks its own shape.
    pub metadata: Option<serde_json::Value>,
}

impl From<&v1alpha1::PushSecretData> for PushSecretData {
    fn from(data: &v1alpha1::PushSecretData) -> Self {
        Self {
            secret_key: data.match_.secret_key.clone().filter(|k| !k.is_empty()),
            remote_ref: PushRemoteRef::from(&data.match_.remote_ref),
            metadata: data.metadata.clone(),
        }
    }
}

/// The Secret whose data is pushed. ESO hands providers the whole `corev1.Secret`; what they use of it is its
/// data, and for some (the kubernetes provider) its type, labels and annotations. `Debug` shows only the lengths
/// of the values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushSource {
    /// The Secret's `data`.
    pub data: BTreeMap<String, SecretBytes>,
    /// The Secret's `type` (`Opaque`, `kubernetes.io/tls`, ...).
    pub secret_type: Option<String>,
    /// The Secret's labels.
    pub labels: BTreeMap<String, String>,
    /// The Secret's annotations.
    pub annotations: BTreeMap<String, String>,
}

impl PushSource {
    /// The value `data` pushes from this Secret: the value of its `secret_key`, or `None` when the whole Secret
    /// is pushed (`secret_key` unset) or the key is missing.
    pub fn value_of(&self, data: &PushSecretData) -> Option<&SecretBytes> {
        data.secret_key.as_ref().and_then(|key| self.data.get(key))
    }

    /// What `data` pushes, as ESO's `ExtractSecretData`: the value of its `secret_key`, or without one the whole
    /// Secret as one JSON object of its values as strings (keys sorted, bytes that are not UTF-8 replaced by
    /// U+FFFD, as Go's encoder does). `None` when the key is missing.
    pub fn payload(&self, data: &PushSecretData) -> Option<SecretBytes> {
        if data.secret_key.is_some() {
            return self.value_of(data).cloned();
        }
        let whole: BTreeMap<&str, String> =
            self.data.iter().map(|(k, v)| (k.as_str(), String::from_utf8_lossy(v.expose()).into_owned())).collect();
        // A map of strings always serializes.
        Some(SecretBytes::from(serde_json::to_vec(&whole).unwrap_or_default()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn api_entries_become_push_data_with_empty_strings_as_unset() {
        let entry: v1alpha1::PushSecretData = serde_json::from_value(serde_json::json!({
            "match": {"secretKey": "password", "remoteRef": {"remoteKey": "prod/db", "property": "pw"}},
            "metadata": {"apiVersion": "kubernetes.external-secrets.io/v1alpha1", "kind": "PushSecretMetadata"}
        }))
        .unwrap();
        let data = PushSecretData::from(&entry);
        assert_eq!(data.secret_key.as_deref(), Some("password"));
        assert_eq!(data.remote_ref, PushRemoteRef { remote_key: "prod/db".into(), property: Some("pw".into()) });
        assert_eq!(data.metadata.as_ref().and_then(|m| m["kind"].as_str()), Some("PushSecretMetadata"));

        let whole: v1alpha1::PushSecretData = serde_json::from_value(serde_json::json!({
            "match": {"secretKey": "", "remoteRef": {"remoteKey": "prod/all", "property": ""}}
        }))
        .unwrap();
        let data = PushSecretData::from(&whole);
        assert_eq!((data.secret_key, data.remote_ref), (None, PushRemoteRef::new("prod/all")));
    }

    #[test]
    fn the_source_value_is_the_matched_key_and_never_printed() {
        let source = PushSource {
            data: BTreeMap::from([("password".to_string(), SecretBytes::from("hunter2"))]),
            ..Default::default()
        };
        let data = PushSecretData { secret_key: Some("password".into()), ..Default::default() };
        assert_eq!(source.value_of(&data).map(SecretBytes::expose), Some(&b"hunter2"[..]));
        assert_eq!(source.value_of(&PushSecretData::default()), None, "the whole Secret has no single value");
        assert!(!format!("{source:?}").contains("hunter2"));
    }

    #[test]
    fn the_payload_is_the_key_or_the_whole_secret_as_json() {
        let source = PushSource {
            data: BTreeMap::from([
                ("user".to_string(), SecretBytes::from("admin")),
                ("password".to_string(), SecretBytes::from("<p&w>")),
            ]),
            ..Default::default()
        };
        let key = PushSecretData { secret_key: Some("user".into()), ..Default::default() };
        assert_eq!(source.payload(&key).map(|v| v.expose().to_vec()), Some(b"admin".to_vec()));
        let missing = PushSecretData { secret_key: Some("nope".into()), ..Default::default() };
        assert!(source.payload(&missing).is_none());
        let whole = source.payload(&PushSecretData::default()).unwrap();
        assert_eq!(whole.expose(), br#"{"password":"<p&w>","user":"admin"}"#);
    }
}
