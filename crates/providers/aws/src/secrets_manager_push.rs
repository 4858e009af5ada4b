//! Secrets Manager writes (PushSecret), as ESO 2.9's provider does them:
//!
//! - push: `DescribeSecret`; missing → `CreateSecret` (client request token `00000000-...-000000000001`, tag
//!   `managed-by=external-secrets` plus the metadata's tags, description `secret 'managed-by:external-secrets'`
//!   and KMS key `alias/aws/secretsmanager` unless the metadata says otherwise, `SecretBinary` unless
//!   `secretPushFormat: string`). Existing → refused unless tagged `managed-by=external-secrets`; the metadata's
//!   tags are synced (`UntagResource`/`TagResource`); `GetSecretValue`, and `PutSecretValue` only when the value
//!   differs. A `property` is set into the existing JSON document (an existing value that is not JSON is an error).
//! - delete: `GetSecretValue` (missing: done), `DescribeSecret`; only a managed secret is deleted
//!   (`DeleteSecret` by ARN with the store's `forceDeleteWithoutRecovery` / `recoveryWindowInDays`).
//! - exists: `GetSecretValue`; "not found" is `false`.
//!
//! Differences from ESO: the metadata's `resourcePolicy` and `replicationLocations` are refused (not
//! implemented); an existing secret's resource policy and replicas are left as they are; deleting an entry with a
//! `property` removes only that property (the secret goes when nothing else is left), where ESO deletes the whole
//! secret.

use std::collections::BTreeMap;

use aws_sdk_secretsmanager::types::Tag;
use aws_smithy_types::Blob;
use external_secrets_provider::{ObserveApiCall, ProviderError, PushRemoteRef, PushSecretData, PushSource};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::sdk_error;
use crate::push::{description_or_default, is_managed, parse_metadata, tag_changes, with_managed_by};
use crate::secrets_manager::SecretsManagerClient;

const SECRETS_MANAGER: &str = "AWS/SecretsManager";
/// ESO's client request token of a created secret's first version.
const INITIAL_VERSION: &str = "00000000-0000-0000-0000-000000000001";
const DEFAULT_KMS_KEY: &str = "alias/aws/secretsmanager";

/// How a store deletes: the store's `spec.provider.aws.secretsManager`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct DeletionSettings {
    pub(crate) force_delete_without_recovery: bool,
    pub(crate) recovery_window_in_days: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MetadataSpec {
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    secret_push_format: String,
    #[serde(default)]
    kms_key_id: String,
    #[serde(default)]
    resource_policy: Option<Value>,
    #[serde(default)]
    replication_locations: Vec<String>,
}

/// What a push's metadata asks for, with ESO's defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PushSettings {
    /// The tags of the secret, `managed-by` included.
    pub(crate) tags: BTreeMap<String, String>,
    /// Whether the metadata named tags (ESO syncs an existing secret's tags only then).
    pub(crate) tags_given: bool,
    pub(crate) description: String,
    pub(crate) kms_key_id: String,
    /// `secretPushFormat: string`: `SecretString` instead of `SecretBinary`.
    pub(crate) as_string: bool,
}

/// The push settings of `metadata` (a `data[].metadata`), ESO's defaults for what it leaves out.
pub(crate) fn push_settings(metadata: Option<&Value>) -> Result<PushSettings, ProviderError> {
    let spec: MetadataSpec = parse_metadata(metadata)?;
    if spec.resource_policy.is_some() || !spec.replication_locations.is_empty() {
        return Err(ProviderError::Unsupported(
            "PushSecret metadata resourcePolicy and replicationLocations are not supported by this operator".into(),
        ));
    }
    let as_string = match spec.secret_push_format.as_str() {
        "" | "binary" => false,
        "string" => true,
        other => return Err(ProviderError::InvalidConfig(format!("invalid secret push format: {other}"))),
    };
    let tags_given = !spec.tags.is_empty();
    Ok(PushSettings {
        tags: with_managed_by(spec.tags)?,
        tags_given,
        description: description_or_default(spec.description),
        kms_key_id: if spec.kms_key_id.is_empty() { DEFAULT_KMS_KEY.to_string() } else { spec.kms_key_id },
        as_string,
    })
}

/// The components of an sjson-style path: `.` separates, `\.` is a literal dot.
fn path_components(property: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = property.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.extend(chars.next()),
            '.' => parts.push(std::mem::take(&mut current)),
            other => current.push(other),
        }
    }
    parts.push(current);
    parts
}

fn not_json(name: &str) -> ProviderError {
    ProviderError::InvalidConfig(format!(
        "PushSecret for aws secrets manager with a pushSecretData property requires a json secret ({name:?} is not \
         JSON)"
    ))
}

/// The document `existing` (none or empty: `{}`) with `property` set to `value` as a JSON string, as ESO's
/// `sjson.SetBytes`. An existing document that already holds exactly that is returned unchanged (no write).
pub(crate) fn set_property(
    name: &str,
    existing: Option<&[u8]>,
    property: &str,
    value: &[u8],
) -> Result<Vec<u8>, ProviderError> {
    let value = Value::String(String::from_utf8_lossy(value).into_owned());
    let mut doc = match existing.filter(|e| !e.is_empty()) {
        None => Value::Object(Map::new()),
        Some(bytes) => serde_json::from_slice::<Value>(bytes).map_err(|_| not_json(name))?,
    };
    let path = path_components(property);
    if doc.pointer(&pointer(&path)) == Some(&value) {
        return Ok(existing.unwrap_or_default().to_vec());
    }
    let mut node = &mut doc;
    for (i, part) in path.iter().enumerate() {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        let Value::Object(map) = node else { return Err(not_json(name)) };
        if i + 1 == path.len() {
            map.insert(part.clone(), value);
            break;
        }
        node = map.entry(part.clone()).or_insert_with(|| Value::Object(Map::new()));
    }
    serde_json::to_vec(&doc).map_err(|_| not_json(name))
}

/// The document without `property`; `None` when nothing is left (or it was not there: `Some` unchanged).
pub(crate) fn remove_property(name: &str, existing: &[u8], property: &str) -> Result<Option<Vec<u8>>, ProviderError> {
    let mut doc = serde_json::from_slice::<Value>(existing).map_err(|_| not_json(name))?;
    let path = path_components(property);
    let Some((last, parents)) = path.split_last() else { return Ok(Some(existing.to_vec())) };
    let parent = if parents.is_empty() { Some(&mut doc) } else { doc.pointer_mut(&pointer(parents)) };
    let removed = parent.and_then(Value::as_object_mut).and_then(|m| m.remove(last)).is_some();
    if !removed {
        return Ok(Some(existing.to_vec()));
    }
    if doc.as_object().is_some_and(Map::is_empty) {
        return Ok(None);
    }
    serde_json::to_vec(&doc).map(Some).map_err(|_| not_json(name))
}

fn pointer(path: &[String]) -> String {
    path.iter().map(|p| format!("/{}", p.replace('~', "~0").replace('/', "~1"))).collect()
}

fn sdk_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// The payload of a `GetSecretValue` answer: `SecretString`, else `SecretBinary`.
fn payload_of(out: &aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput) -> Vec<u8> {
    match (out.secret_string(), out.secret_binary()) {
        (Some(s), _) => s.as_bytes().to_vec(),
        (None, Some(b)) => b.as_ref().to_vec(),
        (None, None) => Vec::new(),
    }
}

impl SecretsManagerClient {
    fn name_of(&self, remote_key: &str) -> String {
        format!("{}{remote_key}", self.prefix)
    }

    async fn describe(
        &self,
        name: &str,
    ) -> Result<Option<aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput>, ProviderError> {
        match self.sm.describe_secret().secret_id(name).send().await.observed(SECRETS_MANAGER, "DescribeSecret") {
            Ok(out) => Ok(Some(out)),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => Ok(None),
            Err(e) => Err(sdk_error("DescribeSecret", name, &e)),
        }
    }

    async fn current_value(
        &self,
        name: &str,
    ) -> Result<Option<aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput>, ProviderError> {
        match self.sm.get_secret_value().secret_id(name).send().await.observed(SECRETS_MANAGER, "GetSecretValue") {
            Ok(out) => Ok(Some(out)),
            Err(e) => {
                let err = sdk_error("GetSecretValue", name, &e);
                if err.is_not_found() { Ok(None) } else { Err(err) }
            }
        }
    }

    async fn put_value(&self, name: &str, value: Vec<u8>, as_string: bool) -> Result<(), ProviderError> {
        // The SDK fills in a fresh idempotency token (ESO: a new UUID per update).
        let request = self.sm.put_secret_value().secret_id(name);
        let request = if as_string {
            request.secret_string(String::from_utf8_lossy(&value).into_owned())
        } else {
            request.secret_binary(Blob::new(value))
        };
        request
            .send()
            .await
            .observed(SECRETS_MANAGER, "PutSecretValue")
            .map_err(|e| sdk_error("PutSecretValue", name, &e))?;
        Ok(())
    }

    /// ESO's `patchTags`: only when the metadata names tags; removes the others, sets changed ones.
    async fn sync_tags(
        &self,
        name: &str,
        current: &BTreeMap<String, String>,
        settings: &PushSettings,
    ) -> Result<(), ProviderError> {
        if !settings.tags_given {
            return Ok(());
        }
        let (remove, changed) = tag_changes(current, &settings.tags);
        if !remove.is_empty() {
            self.sm
                .untag_resource()
                .secret_id(name)
                .set_tag_keys(Some(remove))
                .send()
                .await
                .observed(SECRETS_MANAGER, "UntagResource")
                .map_err(|e| sdk_error("UntagResource", name, &e))?;
        }
        if changed {
            self.sm
                .tag_resource()
                .secret_id(name)
                .set_tags(Some(sdk_tags(&settings.tags)))
                .send()
                .await
                .observed(SECRETS_MANAGER, "TagResource")
                .map_err(|e| sdk_error("TagResource", name, &e))?;
        }
        Ok(())
    }

    /// [`StoreClient::push_secret`](external_secrets_provider::StoreClient::push_secret) for Secrets Manager.
    pub(crate) async fn push(&self, source: &PushSource, data: &PushSecretData) -> Result<(), ProviderError> {
        let value = source.payload(data).ok_or_else(|| {
            ProviderError::InvalidConfig(format!(
                "failed to find secret key in secret with key: {}",
                data.secret_key.as_deref().unwrap_or_default()
            ))
        })?;
        let name = self.name_of(&data.remote_ref.remote_key);
        let settings = push_settings(data.metadata.as_ref())?;
        let property = data.remote_ref.property.as_deref();
        let Some(described) = self.describe(&name).await? else {
            let value = match property {
                Some(p) => set_property(&name, None, p, value.expose())?,
                None => value.expose().to_vec(),
            };
            let request = self
                .sm
                .create_secret()
                .name(&name)
                .set_tags(Some(sdk_tags(&settings.tags)))
                .description(&settings.description)
                .client_request_token(INITIAL_VERSION)
                .kms_key_id(&settings.kms_key_id);
            let request = if settings.as_string {
                request.secret_string(String::from_utf8_lossy(&value).into_owned())
            } else {
                request.secret_binary(Blob::new(value))
            };
            request
                .send()
                .await
                .observed(SECRETS_MANAGER, "CreateSecret")
                .map_err(|e| sdk_error("CreateSecret", &name, &e))?;
            return Ok(());
        };
        let current_tags: BTreeMap<String, String> = described
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
            .collect();
        if !is_managed(current_tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            return Err(ProviderError::Denied(format!("secret {name:?} not managed by external-secrets")));
        }
        self.sync_tags(&name, &current_tags, &settings).await?;
        let has_versions = described.version_ids_to_stages().is_some_and(|v| !v.is_empty());
        let existing = if has_versions { self.current_value(&name).await? } else { None };
        let existing = existing.as_ref().map(payload_of);
        let value = match property {
            Some(p) => set_property(&name, existing.as_deref(), p, value.expose())?,
            None => value.expose().to_vec(),
        };
        if existing.as_deref() == Some(value.as_slice()) {
            return Ok(());
        }
        self.put_value(&name, value, settings.as_string).await
    }

    /// [`StoreClient::delete_secret`](external_secrets_provider::StoreClient::delete_secret) for Secrets Manager.
    pub(crate) async fn delete(
        &self,
        remote_ref: &PushRemoteRef,
        deletion: DeletionSettings,
    ) -> Result<(), ProviderError> {
        let name = self.name_of(&remote_ref.remote_key);
        let Some(current) = self.current_value(&name).await? else { return Ok(()) };
        let Some(described) = self.describe(&name).await? else { return Ok(()) };
        let managed =
            is_managed(described.tags().iter().filter_map(|t| Some((t.key()?, t.value().unwrap_or_default()))));
        if !managed {
            return Ok(());
        }
        if let Some(property) = remote_ref.property.as_deref() {
            let payload = payload_of(&current);
            match remove_property(&name, &payload, property)? {
                Some(rest) if rest == payload => return Ok(()),
                Some(rest) => return self.put_value(&name, rest, current.secret_string().is_some()).await,
                None => {}
            }
        }
        let request = self.sm.delete_secret().secret_id(current.arn().unwrap_or(&name));
        let request = if deletion.force_delete_without_recovery {
            request.force_delete_without_recovery(true)
        } else {
            request.set_recovery_window_in_days(deletion.recovery_window_in_days.filter(|d| *d > 0))
        };
        request
            .send()
            .await
            .observed(SECRETS_MANAGER, "DeleteSecret")
            .map_err(|e| sdk_error("DeleteSecret", &name, &e))?;
        Ok(())
    }

    /// [`StoreClient::secret_exists`](external_secrets_provider::StoreClient::secret_exists) for Secrets Manager.
    pub(crate) async fn exists(&self, remote_ref: &PushRemoteRef) -> Result<bool, ProviderError> {
        Ok(self.current_value(&self.name_of(&remote_ref.remote_key)).await?.is_some())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_defaults_are_esos() {
        let settings = push_settings(None).unwrap();
        assert_eq!(settings.tags, BTreeMap::from([("managed-by".to_string(), "external-secrets".to_string())]));
        assert!(!settings.tags_given);
        assert_eq!(settings.description, "secret 'managed-by:external-secrets'");
        assert_eq!(settings.kms_key_id, "alias/aws/secretsmanager");
        assert!(!settings.as_string);
    }

    #[test]
    fn metadata_is_parsed_strictly() {
        let meta = |spec: Value| {
            push_settings(Some(&json!({
                "apiVersion": "kubernetes.external-secrets.io/v1alpha1", "kind": "PushSecretMetadata", "spec": spec
            })))
        };
        let settings = meta(json!({"tags": {"team": "a"}, "secretPushFormat": "string", "kmsKeyId": "k"})).unwrap();
        assert!(settings.tags_given && settings.as_string);
        assert_eq!(settings.tags.len(), 2);
        assert_eq!(settings.kms_key_id, "k");
        assert!(meta(json!({"tags": {"managed-by": "me"}})).unwrap_err().to_string().contains("Cannot specify"));
        assert!(meta(json!({"secretPushFormat": "yaml"})).is_err());
        assert!(meta(json!({"unknown": 1})).is_err(), "unknown fields are refused");
        assert!(meta(json!({"replicationLocations": ["eu-west-2"]})).is_err(), "not implemented: refused");
        let wrong_kind =
            push_settings(Some(&json!({"apiVersion": "kubernetes.external-secrets.io/v1alpha1", "kind": "X"})));
        assert!(wrong_kind.unwrap_err().to_string().contains("unexpected kind"));
    }

    #[test]
    fn a_property_is_set_into_the_json_document() {
        let set = |existing: Option<&str>, p: &str, v: &str| {
            set_property("s", existing.map(str::as_bytes), p, v.as_bytes()).map(|b| String::from_utf8(b).unwrap())
        };
        assert_eq!(set(None, "password", "pw").unwrap(), r#"{"password":"pw"}"#);
        assert_eq!(set(Some(""), "password", "pw").unwrap(), r#"{"password":"pw"}"#);
        assert_eq!(set(Some(r#"{"user":"u"}"#), "password", "pw").unwrap(), r#"{"password":"pw","user":"u"}"#);
        assert_eq!(set(Some(r#"{"a":{"x":1}}"#), "a.b", "v").unwrap(), r#"{"a":{"b":"v","x":1}}"#);
        assert_eq!(set(Some("{}"), r"a\.b", "v").unwrap(), r#"{"a.b":"v"}"#);
        // Already there: the document is returned byte for byte, so no write follows.
        assert_eq!(
            set(Some(r#"{ "user" : "u", "password": "pw" }"#), "password", "pw").unwrap(),
            r#"{ "user" : "u", "password": "pw" }"#
        );
        assert!(set(Some("not json"), "p", "v").unwrap_err().to_string().contains("requires a json secret"));
    }

    #[test]
    fn a_property_is_removed_and_an_empty_document_goes() {
        let rm = |doc: &str, p: &str| {
            remove_property("s", doc.as_bytes(), p).unwrap().map(|b| String::from_utf8(b).unwrap())
        };
        assert_eq!(rm(r#"{"a":"1","b":"2"}"#, "a").as_deref(), Some(r#"{"b":"2"}"#));
        assert_eq!(rm(r#"{"a":"1"}"#, "a"), None);
        assert_eq!(rm(r#"{"a":"1"}"#, "zzz").as_deref(), Some(r#"{"a":"1"}"#));
        assert_eq!(rm(r#"{"a":{"b":"1","c":"2"}}"#, "a.b").as_deref(), Some(r#"{"a":{"c":"2"}}"#));
    }
}
