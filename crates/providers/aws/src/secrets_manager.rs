//! AWS Secrets Manager: `GetSecretValue`, `BatchGetSecretValue` (20 ids per call), `DescribeSecret` for tags,
//! `ListSecrets` for `find` by name.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType};
use aws_smithy_types::Blob;
use external_secrets_provider::{
    FindQuery, MetadataPolicy, ObserveApiCall, ProviderError, PushRemoteRef, PushSecretData, PushSource, RemoteKey,
    RemoteValue, StoreClient, Validation,
};

use crate::credentials::Identity;
use crate::error::{is_not_found, sdk_error};
use crate::read::{
    BatchAnswer, BatchSupport, Reader, Want, describe_want, find_criteria_missing, name_filter, name_matches,
    read_many, read_one, tags_json,
};

/// ESO's `provider` label of `externalsecret_provider_api_calls_count` for these calls.
const SECRETS_MANAGER: &str = "AWS/SecretsManager";

/// `BatchGetSecretValue` takes at most 20 ids (and returns at most 20 per page with filters).
const BATCH_SIZE: usize = 20;
/// Page size of `ListSecrets`.
const LIST_PAGE_SIZE: i32 = 100;
/// The stage read when no version is given.
const CURRENT_STAGE: &str = "AWSCURRENT";

/// How ESO's `remoteRef.version` selects a Secrets Manager version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VersionSelector<'a> {
    /// `VersionStage` (`AWSCURRENT` when no version is given).
    Stage(&'a str),
    /// `VersionId`, from `uuid/<id>`.
    Id(&'a str),
}

/// The selector for a `remoteRef.version`: none → `AWSCURRENT`, `uuid/<id>` → that version id, else a stage.
pub(crate) fn version_selector(version: Option<&str>) -> VersionSelector<'_> {
    match version.filter(|v| !v.is_empty()) {
        None => VersionSelector::Stage(CURRENT_STAGE),
        Some(v) => match v.strip_prefix("uuid/") {
            Some(id) => VersionSelector::Id(id),
            None => VersionSelector::Stage(v),
        },
    }
}

/// Whether an answer entry (its name and ARN) is the secret asked for by `id`: a name, a full ARN, or a partial
/// ARN (without the `-xxxxxx` suffix Secrets Manager appends).
pub(crate) fn entry_matches(id: &str, name: Option<&str>, arn: Option<&str>) -> bool {
    if Some(id) == name || Some(id) == arn {
        return true;
    }
    match (id.starts_with("arn:"), arn.and_then(|arn| arn.strip_prefix(id))) {
        (true, Some(suffix)) => {
            suffix.len() == 7 && suffix.starts_with('-') && suffix[1..].bytes().all(|b| b.is_ascii_alphanumeric())
        }
        _ => false,
    }
}

/// `ListSecrets`/`BatchGetSecretValue` filters for tags: one `tag-key` and one `tag-value` filter per tag.
fn tag_filters(tags: &BTreeMap<String, String>) -> Vec<Filter> {
    tags.iter()
        .flat_map(|(key, value)| {
            [
                Filter::builder().key(FilterNameStringType::TagKey).values(key).build(),
                Filter::builder().key(FilterNameStringType::TagValue).values(value).build(),
            ]
        })
        .collect()
}

/// The value of a secret: `SecretString`, else `SecretBinary` as raw bytes.
fn payload(id: &str, string: Option<&str>, binary: Option<&Blob>) -> Result<RemoteValue, ProviderError> {
    match (string, binary) {
        (Some(s), _) => Ok(RemoteValue::bytes(s)),
        (None, Some(b)) => Ok(RemoteValue::bytes(b.as_ref().to_vec())),
        (None, None) => {
            Err(ProviderError::Malformed(format!("secret {id:?} has neither SecretString nor SecretBinary")))
        }
    }
}

/// A store client for Secrets Manager.
pub(crate) struct SecretsManagerClient {
    pub(crate) sm: aws_sdk_secretsmanager::Client,
    pub(crate) prefix: String,
    pub(crate) identity: Arc<Identity>,
    pub(crate) batch: Arc<BatchSupport>,
    /// How pushed secrets are deleted (`spec.provider.aws.secretsManager`).
    pub(crate) deletion: crate::secrets_manager_push::DeletionSettings,
}

impl SecretsManagerClient {
    fn want(&self, key: &RemoteKey) -> Want {
        Want { id: format!("{}{}", self.prefix, key.key), version: key.version.clone(), metadata: key.metadata_policy }
    }

    async fn get_value(&self, want: &Want) -> Result<RemoteValue, ProviderError> {
        let request = self.sm.get_secret_value().secret_id(&want.id);
        let request = match version_selector(want.version()) {
            VersionSelector::Stage(stage) => request.version_stage(stage),
            VersionSelector::Id(id) => request.version_id(id),
        };
        let out = request
            .send()
            .await
            .observed(SECRETS_MANAGER, "GetSecretValue")
            .map_err(|e| sdk_error("GetSecretValue", &describe_want(want), &e))?;
        payload(&want.id, out.secret_string(), out.secret_binary())
    }

    async fn get_tags(&self, want: &Want) -> Result<RemoteValue, ProviderError> {
        let out = self
            .sm
            .describe_secret()
            .secret_id(&want.id)
            .send()
            .await
            .observed(SECRETS_MANAGER, "DescribeSecret")
            .map_err(|e| sdk_error("DescribeSecret", &want.id, &e))?;
        tags_json(out.tags().iter().map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())))
    }

    /// `find` with a path or tags: `BatchGetSecretValue` with filters, then the name regexp. As in ESO, a secret
    /// the batch could not read (access denied on it, its KMS key refusing to decrypt, deleted meanwhile) is left
    /// out and the others are returned; only a failure of the call itself fails the `find`.
    async fn find_filtered(&self, query: &FindQuery) -> Result<BTreeMap<String, RemoteValue>, ProviderError> {
        let filter = name_filter(query)?;
        let mut filters = tag_filters(&query.tags);
        if let Some(path) = query.path.as_deref().filter(|p| !p.is_empty()) {
            filters.push(Filter::builder().key(FilterNameStringType::Name).values(path).build());
        }
        let what = format!("find path={:?} tags={:?}", query.path.as_deref().unwrap_or_default(), query.tags.keys());
        let mut found = BTreeMap::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .sm
                .batch_get_secret_value()
                .set_filters(Some(filters.clone()))
                .max_results(BATCH_SIZE as i32)
                .set_next_token(token.take())
                .send()
                .await
                .observed(SECRETS_MANAGER, "BatchGetSecretValue")
                .map_err(|e| sdk_error("BatchGetSecretValue", &what, &e))?;
            for entry in out.secret_values() {
                let Some(name) = entry.name() else { continue };
                if name_matches(filter.as_ref(), name) {
                    found.insert(name.to_string(), payload(name, entry.secret_string(), entry.secret_binary())?);
                }
            }
            for error in out.errors() {
                tracing::warn!(
                    secret = error.secret_id().unwrap_or_default(),
                    code = error.error_code().unwrap_or_default(),
                    "find: a secret could not be read and is left out"
                );
            }
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(found);
            }
        }
    }

    /// `find` by name without a path: `ListSecrets` (paginated, with the tag filters), the name regexp, then the
    /// values in batches by ARN. As in ESO, a secret that cannot be read fails the `find`; one deleted between
    /// listing and reading is left out.
    async fn find_listed(&self, query: &FindQuery) -> Result<BTreeMap<String, RemoteValue>, ProviderError> {
        let filter = name_filter(query)?;
        let filters = tag_filters(&query.tags);
        let mut listed: Vec<(String, String)> = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .sm
                .list_secrets()
                .set_filters((!filters.is_empty()).then(|| filters.clone()))
                .max_results(LIST_PAGE_SIZE)
                .set_next_token(token.take())
                .send()
                .await
                .observed(SECRETS_MANAGER, "ListSecrets")
                .map_err(|e| sdk_error("ListSecrets", "find", &e))?;
            for entry in out.secret_list() {
                if let Some(name) = entry.name().filter(|n| name_matches(filter.as_ref(), n)) {
                    let id = entry.arn().unwrap_or(name);
                    listed.push((name.to_string(), id.to_string()));
                }
            }
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        let wants = listed.iter().map(|(_, id)| Want::value(id.clone())).collect();
        let values = read_many(self, wants).await;
        let mut found = BTreeMap::new();
        for ((name, _), value) in listed.into_iter().zip(values) {
            match value {
                Ok(value) => {
                    found.insert(name, value);
                }
                Err(err) if err.is_not_found() => {}
                Err(err) => return Err(err),
            }
        }
        Ok(found)
    }
}

#[async_trait]
impl Reader for SecretsManagerClient {
    const BATCH_SIZE: usize = BATCH_SIZE;
    const BATCH_OPERATION: &'static str = "BatchGetSecretValue";

    fn batchable(&self, want: &Want) -> bool {
        want.metadata == MetadataPolicy::None && want.version().is_none_or(|v| v == CURRENT_STAGE)
    }

    async fn read_one(&self, want: &Want) -> Result<RemoteValue, ProviderError> {
        match want.metadata {
            MetadataPolicy::Fetch => self.get_tags(want).await,
            MetadataPolicy::None => self.get_value(want).await,
        }
    }

    async fn read_batch(&self, wants: &[Want]) -> Result<Vec<BatchAnswer>, ProviderError> {
        let ids: Vec<String> = wants.iter().map(|w| w.id.clone()).collect();
        let what = match ids.as_slice() {
            [first, rest @ ..] => format!("{first} and {} more", rest.len()),
            [] => String::new(),
        };
        let mut entries = Vec::new();
        let mut errors = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .sm
                .batch_get_secret_value()
                .set_secret_id_list(Some(ids.clone()))
                .set_next_token(token.take())
                .send()
                .await
                .observed(SECRETS_MANAGER, "BatchGetSecretValue")
                .map_err(|e| sdk_error("BatchGetSecretValue", &what, &e))?;
            token = out.next_token.clone();
            entries.extend(out.secret_values.unwrap_or_default());
            errors.extend(out.errors.unwrap_or_default());
            if token.is_none() {
                break;
            }
        }
        Ok(wants
            .iter()
            .map(|want| {
                if let Some(entry) = entries.iter().find(|e| entry_matches(&want.id, e.name(), e.arn())) {
                    return Some(payload(&want.id, entry.secret_string(), entry.secret_binary()));
                }
                // Any other error is left to a `GetSecretValue` of its own, so that it is reported exactly as a
                // single read would be (ESO reads one by one).
                let error = errors.iter().find(|e| e.secret_id() == Some(want.id.as_str()))?;
                let (code, message) = (error.error_code().unwrap_or_default(), error.message().unwrap_or_default());
                is_not_found("BatchGetSecretValue", code, message)
                    .then(|| Err(ProviderError::NotFound { key: want.id.clone() }))
            })
            .collect())
    }

    fn batch_support(&self) -> &BatchSupport {
        &self.batch
    }

    fn identity(&self) -> &Identity {
        &self.identity
    }
}

#[async_trait]
impl StoreClient for SecretsManagerClient {
    async fn get_many(&self, keys: &[RemoteKey]) -> Vec<Result<RemoteValue, ProviderError>> {
        read_many(self, keys.iter().map(|k| self.want(k)).collect()).await
    }

    async fn get(&self, key: &RemoteKey) -> Result<RemoteValue, ProviderError> {
        read_one(self, self.want(key)).await
    }

    async fn find(&self, query: &FindQuery) -> Result<BTreeMap<String, RemoteValue>, ProviderError> {
        let has_path = query.path.as_deref().is_some_and(|p| !p.is_empty());
        // ESO: by name without a path lists (tags as list filters); with a path, or by tags alone, batch-reads
        // with filters; a path alone is not a query.
        let by_name = match (query.name_regexp.is_some(), query.tags.is_empty()) {
            (false, true) => return Err(find_criteria_missing()),
            (by_name, _) => by_name,
        };
        self.identity.credentials().await.map_err(|f| f.to_error())?;
        if by_name && !has_path { self.find_listed(query).await } else { self.find_filtered(query).await }
    }

    async fn validate(&self) -> Result<Validation, ProviderError> {
        self.identity.credentials().await.map_err(|f| f.to_error())?;
        Ok(Validation::Ready)
    }

    async fn push_secret(&self, source: &PushSource, data: &PushSecretData) -> Result<(), ProviderError> {
        self.push(source, data).await
    }

    async fn delete_secret(&self, remote_ref: &PushRemoteRef) -> Result<(), ProviderError> {
        self.delete(remote_ref, self.deletion).await
    }

    async fn secret_exists(&self, remote_ref: &PushRemoteRef) -> Result<bool, ProviderError> {
        self.exists(remote_ref).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_select_stage_or_id() {
        assert_eq!(version_selector(None), VersionSelector::Stage("AWSCURRENT"));
        assert_eq!(version_selector(Some("")), VersionSelector::Stage("AWSCURRENT"));
        assert_eq!(version_selector(Some("AWSPREVIOUS")), VersionSelector::Stage("AWSPREVIOUS"));
        assert_eq!(version_selector(Some("custom-stage")), VersionSelector::Stage("custom-stage"));
        assert_eq!(
            version_selector(Some("uuid/0f1e2d3c-aaaa-bbbb-cccc-000000000001")),
            VersionSelector::Id("0f1e2d3c-aaaa-bbbb-cccc-000000000001")
        );
    }

    #[test]
    fn batch_entries_match_by_name_full_or_partial_arn() {
        let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbC123";
        let name = "prod/db";
        assert!(entry_matches(name, Some(name), Some(arn)));
        assert!(entry_matches(arn, Some(name), Some(arn)));
        assert!(entry_matches("arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db", Some(name), Some(arn)));
        // A different secret whose name starts like this one's is not it.
        assert!(!entry_matches("arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod", Some(name), Some(arn)));
        assert!(!entry_matches("prod", Some(name), Some(arn)));
        assert!(!entry_matches("arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/d", Some(name), Some(arn)));
        assert!(!entry_matches("prod/db-AbC123", Some(name), Some(arn)));
    }

    #[test]
    fn payload_prefers_string_then_binary_raw() {
        let blob = Blob::new(vec![0u8, 159, 146, 150]);
        assert_eq!(payload("k", Some("s"), Some(&blob)).unwrap().bytes.expose(), b"s");
        assert_eq!(payload("k", None, Some(&blob)).unwrap().bytes.expose(), &[0u8, 159, 146, 150]);
        let err = payload("k", None, None).unwrap_err();
        assert!(matches!(err, ProviderError::Malformed(_)));
        assert!(err.to_string().contains("\"k\""));
    }
}
