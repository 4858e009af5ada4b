//! What Secrets Manager and Parameter Store writes share (ESO's `runtime/esutils/metadata` and the `managed-by`
//! tag): the `PushSecretMetadata` envelope, the tag that marks what external-secrets wrote, ESO's default
//! description.

use std::collections::BTreeMap;

use external_secrets_provider::ProviderError;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The tag that marks a secret or parameter as written by external-secrets (ESO's).
pub(crate) const MANAGED_BY: &str = "managed-by";
pub(crate) const EXTERNAL_SECRETS: &str = "external-secrets";

/// The `spec` of a `data[].metadata` (`PushSecretMetadata`) as ESO parses it (the contract's
/// [`external_secrets_provider::parse_push_metadata`]).
pub(crate) fn parse_metadata<T: DeserializeOwned + Default>(metadata: Option<&Value>) -> Result<T, ProviderError> {
    external_secrets_provider::parse_push_metadata(metadata)
}

/// The metadata's tags plus `managed-by=external-secrets`; a user tag `managed-by` is refused, as in ESO.
pub(crate) fn with_managed_by(mut tags: BTreeMap<String, String>) -> Result<BTreeMap<String, String>, ProviderError> {
    if tags.contains_key(MANAGED_BY) {
        return Err(ProviderError::InvalidConfig(format!(
            "error parsing tags in metadata: Cannot specify a '{MANAGED_BY}' tag"
        )));
    }
    tags.insert(MANAGED_BY.to_string(), EXTERNAL_SECRETS.to_string());
    Ok(tags)
}

/// ESO's description of what it creates, unless the metadata gives one.
pub(crate) fn description_or_default(description: String) -> String {
    if description.is_empty() { format!("secret '{MANAGED_BY}:{EXTERNAL_SECRETS}'") } else { description }
}

/// What ESO's tag sync changes on an existing secret or parameter: the `current` keys that `desired` lacks (to
/// remove), and whether `desired` adds or changes a tag other than `managed-by` (then all of `desired` is set).
pub(crate) fn tag_changes(
    current: &BTreeMap<String, String>,
    desired: &BTreeMap<String, String>,
) -> (Vec<String>, bool) {
    let remove = current.keys().filter(|k| !desired.contains_key(*k)).cloned().collect();
    let changed = desired.iter().any(|(k, v)| k != MANAGED_BY && current.get(k) != Some(v));
    (remove, changed)
}

/// Whether tags mark a secret as ours.
pub(crate) fn is_managed<'a>(mut tags: impl Iterator<Item = (&'a str, &'a str)>) -> bool {
    tags.any(|(k, v)| k == MANAGED_BY && v == EXTERNAL_SECRETS)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Deserialize, Default, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Spec {
        #[serde(default)]
        a: String,
    }

    #[test]
    fn the_envelope_is_checked_and_unknown_fields_refused() {
        let ok = json!({"apiVersion": "kubernetes.external-secrets.io/v1alpha1", "kind": "PushSecretMetadata", "spec": {"a": "x"}});
        assert_eq!(parse_metadata::<Spec>(Some(&ok)).unwrap(), Spec { a: "x".into() });
        assert_eq!(parse_metadata::<Spec>(None).unwrap(), Spec::default());
        let no_spec = json!({"apiVersion": "kubernetes.external-secrets.io/v1alpha1", "kind": "PushSecretMetadata"});
        assert_eq!(parse_metadata::<Spec>(Some(&no_spec)).unwrap(), Spec::default());
        let unknown = json!({"apiVersion": "kubernetes.external-secrets.io/v1alpha1", "kind": "PushSecretMetadata", "spec": {"b": 1}});
        assert!(parse_metadata::<Spec>(Some(&unknown)).is_err());
        let wrong = json!({"apiVersion": "v1", "kind": "PushSecretMetadata"});
        assert!(parse_metadata::<Spec>(Some(&wrong)).unwrap_err().to_string().contains("unexpected apiVersion"));
    }

    #[test]
    fn only_the_managed_by_tag_marks_a_secret_ours_and_users_cannot_set_it() {
        assert!(is_managed([("managed-by", "external-secrets")].into_iter()));
        assert!(!is_managed([("managed-by", "someone-else")].into_iter()));
        assert!(!is_managed(std::iter::empty()));
        let tags = with_managed_by(BTreeMap::from([("team".to_string(), "a".to_string())])).unwrap();
        assert_eq!(tags.get("managed-by").map(String::as_str), Some("external-secrets"));
        assert!(with_managed_by(BTreeMap::from([("managed-by".to_string(), "me".to_string())])).is_err());
    }

    #[test]
    fn tag_sync_removes_what_is_not_wanted_and_sets_only_on_a_change() {
        let tags = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        let desired = tags(&[("managed-by", "external-secrets"), ("team", "a")]);
        let same = tags(&[("managed-by", "external-secrets"), ("team", "a")]);
        assert_eq!(tag_changes(&same, &desired), (vec![], false));
        let old = tags(&[("managed-by", "external-secrets"), ("team", "b"), ("old", "x")]);
        assert_eq!(tag_changes(&old, &desired), (vec!["old".to_string()], true));
        // A missing managed-by alone is not a change (only a managed secret gets here).
        assert_eq!(tag_changes(&tags(&[("team", "a")]), &desired), (vec![], false));
    }
}
