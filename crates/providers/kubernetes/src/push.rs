//! PushSecret writes (ESO's `providers/v1/kubernetes` `PushSecret`, `DeleteSecret`, `SecretExists`), as pure
//! functions: the `PushSecretMetadata` spec, where a push goes, and what the remote Secret becomes.
//!
//! - A push writes the Secret `remoteKey` in the store's `remoteNamespace` with the store's own credentials (never
//!   the operator's); `metadata.spec.remoteNamespace` may name another namespace, with a ClusterSecretStore only.
//! - Without `property` the remote Secret's data is replaced by the source's (the whole Secret); with `property`
//!   that one key is set: to the source key's value, or without `secretKey` to the whole source as JSON. A
//!   `secretKey` without `property` is refused, as ESO does.
//! - Labels and annotations: the source's, merged with (`sourceMergePolicy: Merge`, the default) or replaced by
//!   (`Replace`) the metadata's `labels`/`annotations`, then merged into (`targetMergePolicy: Merge`), replacing
//!   (`Replace`) or not touching (`Ignore`) the remote Secret's. The type is the source's (`Opaque` if unset).
//! - Delete: a missing Secret (or missing property) is done; a property of a Secret with other keys is removed;
//!   otherwise the Secret is deleted.

use std::collections::BTreeMap;

use external_secrets_provider::{ProviderError, PushSecretData, PushSource, SecretBytes, StoreKind};
use serde::Deserialize;

/// `data[].metadata.spec` of a push to the kubernetes provider.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PushMetadataSpec {
    #[serde(default)]
    target_merge_policy: String,
    #[serde(default)]
    source_merge_policy: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    remote_namespace: String,
}

/// Parses `data[].metadata` (ESO's `PushSecretMetadata` envelope).
pub(crate) fn metadata(data: &PushSecretData) -> Result<PushMetadataSpec, ProviderError> {
    external_secrets_provider::parse_push_metadata(data.metadata.as_ref())
}

/// The namespace a push writes to: the store's `remoteNamespace`, or the metadata's (ClusterSecretStore only).
pub(crate) fn target_namespace(
    store_namespace: &str,
    kind: StoreKind,
    meta: &PushMetadataSpec,
) -> Result<String, ProviderError> {
    if meta.remote_namespace.is_empty() {
        return Ok(store_namespace.to_string());
    }
    if kind != StoreKind::ClusterSecretStore {
        return Err(ProviderError::InvalidConfig(
            "remoteNamespace override is only supported with ClusterSecretStore".to_string(),
        ));
    }
    if !external_secrets_provider::names::is_dns_label(&meta.remote_namespace) {
        return Err(ProviderError::InvalidConfig(format!(
            "metadata remoteNamespace {:?} is not a namespace name",
            meta.remote_namespace
        )));
    }
    Ok(meta.remote_namespace.clone())
}

/// What a remote Secret holds that a push decides: its type, labels, annotations and data.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct RemoteSecret {
    pub secret_type: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub data: BTreeMap<String, SecretBytes>,
}

/// ESO's check before anything is read: a `secretKey` needs a `property` to go to.
pub(crate) fn check(data: &PushSecretData) -> Result<(), ProviderError> {
    if data.secret_key.is_some() && data.remote_ref.property.as_deref().unwrap_or_default().is_empty() {
        return Err(ProviderError::InvalidConfig(
            "requires property in RemoteRef to push secret value if secret key is defined".to_string(),
        ));
    }
    Ok(())
}

/// The remote Secret after pushing `data` of `source` into `existing` (default: a new one).
pub(crate) fn merged(
    existing: RemoteSecret,
    source: &PushSource,
    data: &PushSecretData,
    meta: &PushMetadataSpec,
) -> Result<RemoteSecret, ProviderError> {
    let mut remote = existing;
    remote.secret_type = source.secret_type.clone().filter(|t| !t.is_empty()).unwrap_or_else(|| "Opaque".to_string());

    let (mut labels, mut annotations) = (source.labels.clone(), source.annotations.clone());
    match meta.source_merge_policy.as_str() {
        "" | "Merge" => {
            labels.extend(meta.labels.clone());
            annotations.extend(meta.annotations.clone());
        }
        "Replace" => {
            labels = meta.labels.clone();
            annotations = meta.annotations.clone();
        }
        other => {
            return Err(ProviderError::InvalidConfig(format!(
                "failed to merge source metadata: unexpected source merge policy {other:?}"
            )));
        }
    }
    match meta.target_merge_policy.as_str() {
        "" | "Merge" => {
            remote.labels.extend(labels);
            remote.annotations.extend(annotations);
        }
        "Replace" => {
            remote.labels = labels;
            remote.annotations = annotations;
        }
        "Ignore" => {}
        other => {
            return Err(ProviderError::InvalidConfig(format!(
                "failed to merge target metadata: unexpected target merge policy {other:?}"
            )));
        }
    }

    match data.remote_ref.property.as_deref().filter(|p| !p.is_empty()) {
        None => remote.data = source.data.clone(),
        Some(property) => {
            let value = match &data.secret_key {
                // A missing key pushes an empty value in ESO; the controller refuses a missing key before this.
                Some(key) => source.data.get(key).cloned().unwrap_or_else(|| SecretBytes::from(Vec::new())),
                None => source.payload(data).unwrap_or_else(|| SecretBytes::from(Vec::new())),
            };
            remote.data.insert(property.to_string(), value);
        }
    }
    Ok(remote)
}

/// What deleting `property` (or the whole Secret) of a remote Secret with these data keys means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Removal {
    /// Nothing to do (the property is not there).
    Nothing,
    /// Remove the property, keep the Secret (it has other keys).
    Property,
    /// Delete the Secret.
    Secret,
}

/// ESO's `DeleteSecret` decision.
pub(crate) fn removal(keys: &[&str], property: Option<&str>) -> Removal {
    match property.filter(|p| !p.is_empty()) {
        Some(p) if !keys.contains(&p) => Removal::Nothing,
        Some(_) if keys.len() > 1 => Removal::Property,
        _ => Removal::Secret,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use external_secrets_provider::PushRemoteRef;
    use serde_json::json;

    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn source() -> PushSource {
        PushSource {
            data: [
                ("a".to_string(), SecretBytes::from(b"1".to_vec())),
                ("b".to_string(), SecretBytes::from(b"2".to_vec())),
            ]
            .into(),
            secret_type: None,
            labels: map(&[("from", "source")]),
            annotations: BTreeMap::new(),
        }
    }

    fn push(secret_key: Option<&str>, property: Option<&str>) -> PushSecretData {
        PushSecretData {
            secret_key: secret_key.map(str::to_string),
            remote_ref: PushRemoteRef { remote_key: "target".into(), property: property.map(str::to_string) },
            metadata: None,
        }
    }

    fn bytes(remote: &RemoteSecret) -> BTreeMap<String, String> {
        remote.data.iter().map(|(k, v)| (k.clone(), String::from_utf8_lossy(v.expose()).into_owned())).collect()
    }

    #[test]
    fn a_secret_key_needs_a_property() {
        assert!(check(&push(Some("a"), None)).unwrap_err().to_string().contains("requires property in RemoteRef"));
        assert!(check(&push(Some("a"), Some("p"))).is_ok());
        assert!(check(&push(None, None)).is_ok());
    }

    #[test]
    fn whole_secret_replaces_the_data_and_a_property_sets_one_key() {
        let existing = RemoteSecret {
            data: [("old".to_string(), SecretBytes::from(b"x".to_vec()))].into(),
            labels: map(&[("kept", "yes")]),
            ..Default::default()
        };
        let meta = PushMetadataSpec::default();
        let whole = merged(existing.clone(), &source(), &push(None, None), &meta).unwrap();
        assert_eq!(bytes(&whole), map(&[("a", "1"), ("b", "2")]));
        assert_eq!(whole.secret_type, "Opaque");
        assert_eq!(whole.labels, map(&[("kept", "yes"), ("from", "source")]), "target merge by default");

        let one = merged(existing.clone(), &source(), &push(Some("b"), Some("p")), &meta).unwrap();
        assert_eq!(bytes(&one), map(&[("old", "x"), ("p", "2")]));
        let json = merged(existing, &source(), &push(None, Some("all")), &meta).unwrap();
        assert_eq!(bytes(&json)["all"], r#"{"a":"1","b":"2"}"#);
    }

    #[test]
    fn merge_policies_for_labels_and_annotations() {
        let existing = RemoteSecret { labels: map(&[("remote", "1")]), ..Default::default() };
        let meta: PushMetadataSpec = serde_json::from_value(json!({
            "sourceMergePolicy": "Replace", "targetMergePolicy": "Replace", "labels": {"meta": "1"}
        }))
        .unwrap();
        let out = merged(existing.clone(), &source(), &push(None, None), &meta).unwrap();
        assert_eq!(out.labels, map(&[("meta", "1")]));
        let ignore: PushMetadataSpec = serde_json::from_value(json!({"targetMergePolicy": "Ignore"})).unwrap();
        let out = merged(existing.clone(), &source(), &push(None, None), &ignore).unwrap();
        assert_eq!(out.labels, map(&[("remote", "1")]));
        let bad: PushMetadataSpec = serde_json::from_value(json!({"targetMergePolicy": "Sometimes"})).unwrap();
        assert!(merged(existing, &source(), &push(None, None), &bad).is_err());
    }

    #[test]
    fn remote_namespace_override_only_for_cluster_stores() {
        let meta: PushMetadataSpec = serde_json::from_value(json!({"remoteNamespace": "other"})).unwrap();
        assert_eq!(target_namespace("default", StoreKind::ClusterSecretStore, &meta).unwrap(), "other");
        assert!(target_namespace("default", StoreKind::SecretStore, &meta).is_err());
        assert_eq!(
            target_namespace("default", StoreKind::SecretStore, &PushMetadataSpec::default()).unwrap(),
            "default"
        );
        let envelope = PushSecretData {
            metadata: Some(
                json!({"apiVersion": "kubernetes.external-secrets.io/v1alpha1", "kind": "PushSecretMetadata",
                                  "spec": {"unknown": 1}}),
            ),
            ..push(None, None)
        };
        assert!(metadata(&envelope).is_err(), "unknown fields are refused, as ESO");
    }

    #[test]
    fn deletes_a_property_or_the_secret() {
        assert_eq!(removal(&["a", "b"], Some("a")), Removal::Property);
        assert_eq!(removal(&["a"], Some("a")), Removal::Secret);
        assert_eq!(removal(&["a"], Some("z")), Removal::Nothing);
        assert_eq!(removal(&["a", "b"], None), Removal::Secret);
    }
}
