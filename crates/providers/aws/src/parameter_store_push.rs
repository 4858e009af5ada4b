//! Parameter Store writes (PushSecret), as ESO 2.9's provider does them:
//!
//! - push: `GetParameter` (decrypted). Missing → `PutParameter` (no overwrite) with tag
//!   `managed-by=external-secrets` plus the metadata's tags, Type `String`, description `secret
//!   'managed-by:external-secrets'`, KMS key `alias/aws/ssm` for `SecureString`, tier `Advanced` and its policies
//!   only when asked. Existing → refused unless tagged `managed-by=external-secrets` (`ListTagsForResource`);
//!   nothing written when the value is the same; else `PutParameter` (overwrite), then the tags synced
//!   (`RemoveTagsFromResource`/`AddTagsToResource`). Without `secretKey` the whole Secret is pushed as JSON with
//!   base64 values (as Go encodes bytes), or plain strings with `encodeAsDecoded: true`. `property` is ignored, as
//!   in ESO.
//! - delete: `GetParameter` (missing: done), `ListTagsForResource`; only a managed parameter is deleted
//!   (`DeleteParameter`).
//! - exists: `GetParameter`; `ParameterNotFound` is `false`.

use std::collections::BTreeMap;

use aws_sdk_ssm::types::{ParameterTier, ParameterType, ResourceTypeForTagging, Tag};
use external_secrets_provider::{ObserveApiCall, ProviderError, PushRemoteRef, PushSecretData, PushSource};
use serde::Deserialize;
use serde_json::Value;

use crate::error::sdk_error;
use crate::parameter_store::ParameterStoreClient;
use crate::push::{description_or_default, is_managed, parse_metadata, tag_changes, with_managed_by};

const PARAMETER_STORE: &str = "AWS/ParameterStore";
const DEFAULT_KMS_KEY: &str = "alias/aws/ssm";

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MetadataSpec {
    #[serde(default)]
    secret_type: String,
    #[serde(rename = "kmsKeyID", default)]
    kms_key_id: String,
    #[serde(default)]
    tier: Tier,
    #[serde(default)]
    encode_as_decoded: bool,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Tier {
    #[serde(rename = "type", default)]
    type_: String,
    #[serde(default)]
    policies: Option<Value>,
}

/// What a push's metadata asks for, with ESO's defaults.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PushSettings {
    pub(crate) tags: BTreeMap<String, String>,
    pub(crate) secret_type: String,
    /// The KMS key, for `SecureString` only.
    pub(crate) kms_key_id: Option<String>,
    /// `Advanced` and its policies, when asked for.
    pub(crate) advanced: Option<Option<String>>,
    pub(crate) encode_as_decoded: bool,
    pub(crate) description: String,
}

pub(crate) fn push_settings(metadata: Option<&Value>) -> Result<PushSettings, ProviderError> {
    let spec: MetadataSpec = parse_metadata(metadata)?;
    let secret_type = if spec.secret_type.is_empty() { "String".to_string() } else { spec.secret_type };
    let kms_key_id = (secret_type == "SecureString")
        .then(|| if spec.kms_key_id.is_empty() { DEFAULT_KMS_KEY.to_string() } else { spec.kms_key_id });
    let advanced = (spec.tier.type_ == "Advanced").then(|| spec.tier.policies.map(|p| p.to_string()));
    Ok(PushSettings {
        tags: with_managed_by(spec.tags)?,
        secret_type,
        kms_key_id,
        advanced,
        encode_as_decoded: spec.encode_as_decoded,
        description: description_or_default(spec.description),
    })
}

/// What `data` pushes from `source` (ESO's): the key's value, or the whole Secret as JSON whose values are base64
/// (Go's encoding of bytes) unless `encode_as_decoded`.
pub(crate) fn parameter_value(source: &PushSource, data: &PushSecretData, encode_as_decoded: bool) -> String {
    if data.secret_key.is_some() || encode_as_decoded {
        let value = source.payload(data).unwrap_or_default();
        return String::from_utf8_lossy(value.expose()).into_owned();
    }
    let encoded: BTreeMap<&str, String> =
        source.data.iter().map(|(k, v)| (k.as_str(), aws_smithy_types::base64::encode(v.expose()))).collect();
    serde_json::to_string(&encoded).unwrap_or_default()
}

fn sdk_tags(tags: &BTreeMap<String, String>) -> Result<Vec<Tag>, ProviderError> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| ProviderError::InvalidConfig(format!("invalid tag {k:?}: {e}")))
        })
        .collect()
}

impl ParameterStoreClient {
    fn name_of(&self, remote_key: &str) -> String {
        format!("{}{remote_key}", self.prefix)
    }

    /// The parameter's value; `None` when it does not exist.
    async fn current(&self, name: &str) -> Result<Option<String>, ProviderError> {
        match self
            .ssm
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await
            .observed(PARAMETER_STORE, "GetParameter")
        {
            Ok(out) => Ok(Some(out.parameter().and_then(|p| p.value()).unwrap_or_default().to_string())),
            Err(e) => {
                let err = sdk_error("GetParameter", name, &e);
                if err.is_not_found() { Ok(None) } else { Err(err) }
            }
        }
    }

    async fn tags_of(&self, name: &str) -> Result<BTreeMap<String, String>, ProviderError> {
        let out = self
            .ssm
            .list_tags_for_resource()
            .resource_type(ResourceTypeForTagging::Parameter)
            .resource_id(name)
            .send()
            .await
            .observed(PARAMETER_STORE, "ListTagsForResource")
            .map_err(|e| sdk_error("ListTagsForResource", name, &e))?;
        Ok(out.tag_list().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect())
    }

    /// [`StoreClient::push_secret`](external_secrets_provider::StoreClient::push_secret) for Parameter Store.
    pub(crate) async fn push(&self, source: &PushSource, data: &PushSecretData) -> Result<(), ProviderError> {
        let settings = push_settings(data.metadata.as_ref())?;
        let value = parameter_value(source, data, settings.encode_as_decoded);
        let name = self.name_of(&data.remote_ref.remote_key);
        let request = self
            .ssm
            .put_parameter()
            .name(&name)
            .value(&value)
            .r#type(ParameterType::from(settings.secret_type.as_str()))
            .description(&settings.description)
            .set_key_id(settings.kms_key_id.clone());
        let request = match &settings.advanced {
            Some(policies) => request.tier(ParameterTier::Advanced).set_policies(policies.clone()),
            None => request,
        };
        let Some(existing) = self.current(&name).await? else {
            request
                .overwrite(false)
                .set_tags(Some(sdk_tags(&settings.tags)?))
                .send()
                .await
                .observed(PARAMETER_STORE, "PutParameter")
                .map_err(|e| sdk_error("PutParameter", &name, &e))?;
            return Ok(());
        };
        let current_tags = self.tags_of(&name).await?;
        if !is_managed(current_tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            return Err(ProviderError::Denied(format!("parameter {name:?} not managed by external-secrets")));
        }
        if existing == "sensitive" {
            return Err(ProviderError::Malformed(
                "unable to compare 'sensitive' result, ensure to request a decrypted value".to_string(),
            ));
        }
        if existing == value {
            return Ok(());
        }
        request
            .overwrite(true)
            .send()
            .await
            .observed(PARAMETER_STORE, "PutParameter")
            .map_err(|e| sdk_error("PutParameter", &name, &e))?;
        let (remove, changed) = tag_changes(&current_tags, &settings.tags);
        if !remove.is_empty() {
            self.ssm
                .remove_tags_from_resource()
                .resource_type(ResourceTypeForTagging::Parameter)
                .resource_id(&name)
                .set_tag_keys(Some(remove))
                .send()
                .await
                .observed(PARAMETER_STORE, "RemoveTagsFromResource")
                .map_err(|e| sdk_error("RemoveTagsFromResource", &name, &e))?;
        }
        if changed {
            self.ssm
                .add_tags_to_resource()
                .resource_type(ResourceTypeForTagging::Parameter)
                .resource_id(&name)
                .set_tags(Some(sdk_tags(&settings.tags)?))
                .send()
                .await
                .observed(PARAMETER_STORE, "AddTagsToResource")
                .map_err(|e| sdk_error("AddTagsToResource", &name, &e))?;
        }
        Ok(())
    }

    /// [`StoreClient::delete_secret`](external_secrets_provider::StoreClient::delete_secret) for Parameter Store.
    pub(crate) async fn delete(&self, remote_ref: &PushRemoteRef) -> Result<(), ProviderError> {
        let name = self.name_of(&remote_ref.remote_key);
        if self.current(&name).await?.is_none() {
            return Ok(());
        }
        let tags = self.tags_of(&name).await?;
        if !is_managed(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            return Ok(());
        }
        match self.ssm.delete_parameter().name(&name).send().await.observed(PARAMETER_STORE, "DeleteParameter") {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_parameter_not_found()) => Ok(()),
            Err(e) => Err(sdk_error("DeleteParameter", &name, &e)),
        }
    }

    /// [`StoreClient::secret_exists`](external_secrets_provider::StoreClient::secret_exists) for Parameter Store.
    pub(crate) async fn exists(&self, remote_ref: &PushRemoteRef) -> Result<bool, ProviderError> {
        Ok(self.current(&self.name_of(&remote_ref.remote_key)).await?.is_some())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use external_secrets_provider::SecretBytes;
    use serde_json::json;

    #[test]
    fn metadata_defaults_are_esos() {
        let settings = push_settings(None).unwrap();
        assert_eq!(settings.secret_type, "String");
        assert_eq!(settings.kms_key_id, None, "a KMS key only for SecureString");
        assert_eq!(settings.advanced, None);
        assert_eq!(settings.description, "secret 'managed-by:external-secrets'");
        assert_eq!(settings.tags.get("managed-by").map(String::as_str), Some("external-secrets"));
        let secure = push_settings(Some(&json!({
            "apiVersion": "kubernetes.external-secrets.io/v1alpha1", "kind": "PushSecretMetadata",
            "spec": {"secretType": "SecureString", "tier": {"type": "Advanced", "policies": [{"Type": "Expiration"}]}}
        })))
        .unwrap();
        assert_eq!(secure.kms_key_id.as_deref(), Some("alias/aws/ssm"));
        assert_eq!(secure.advanced, Some(Some(r#"[{"Type":"Expiration"}]"#.to_string())));
    }

    #[test]
    fn the_whole_secret_is_json_of_base64_values_unless_decoded() {
        let source = PushSource {
            data: BTreeMap::from([
                ("a".to_string(), SecretBytes::from("x")),
                ("b".to_string(), SecretBytes::from("yz")),
            ]),
            ..Default::default()
        };
        let whole = PushSecretData::default();
        assert_eq!(parameter_value(&source, &whole, false), r#"{"a":"eA==","b":"eXo="}"#);
        assert_eq!(parameter_value(&source, &whole, true), r#"{"a":"x","b":"yz"}"#);
        let one = PushSecretData { secret_key: Some("b".into()), ..Default::default() };
        assert_eq!(parameter_value(&source, &one, false), "yz");
    }
}
