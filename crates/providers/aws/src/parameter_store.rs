//! AWS Systems Manager Parameter Store: `GetParameter`, `GetParameters` (10 names per call), `ListTagsForResource`
//! for tags, `GetParametersByPath` and `DescribeParameters` for `find`. Values are always read decrypted.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ssm::types::{ParameterStringFilter, ResourceTypeForTagging};
use external_secrets_provider::{
    FindQuery, MetadataPolicy, ObserveApiCall, ProviderError, PushRemoteRef, PushSecretData, PushSource, RemoteKey,
    RemoteValue, StoreClient, Validation,
};
use regex::Regex;

use crate::credentials::Identity;
use crate::error::{Kind, sdk_error};
use crate::read::{
    BatchAnswer, BatchSupport, Reader, Want, find_criteria_missing, name_filter, name_matches, read_many, read_one,
    tags_json,
};

/// ESO's `provider` label of `externalsecret_provider_api_calls_count` for these calls.
const PARAMETER_STORE: &str = "AWS/ParameterStore";

/// `GetParameters` takes at most 10 names.
const BATCH_SIZE: usize = 10;
/// The largest page `GetParametersByPath` returns.
const BY_PATH_PAGE_SIZE: i32 = 10;
/// The largest page `DescribeParameters` returns.
const DESCRIBE_PAGE_SIZE: i32 = 50;

/// The name SSM is asked for: `name` or `name:version` (a version number or a label).
pub(crate) fn selector_name(want: &Want) -> String {
    match want.version() {
        Some(version) => format!("{}:{version}", want.id),
        None => want.id.clone(),
    }
}

/// Whether a parameter of a `GetParameters` answer (its name, `Selector` and version) is the one asked for by
/// `requested` (`name` or `name:version`).
pub(crate) fn parameter_matches(requested: &str, name: &str, selector: Option<&str>, version: i64) -> bool {
    let selector = selector.map(|s| s.trim_start_matches(':')).filter(|s| !s.is_empty());
    match requested.rsplit_once(':') {
        Some((base, wanted)) if !requested.starts_with("arn:") => {
            base == name && (selector == Some(wanted) || (selector.is_none() && wanted == version.to_string()))
        }
        _ => requested == name && selector.is_none(),
    }
}

/// A store client for Parameter Store.
pub(crate) struct ParameterStoreClient {
    pub(crate) ssm: aws_sdk_ssm::Client,
    pub(crate) prefix: String,
    pub(crate) identity: Arc<Identity>,
    pub(crate) batch: Arc<BatchSupport>,
}

impl ParameterStoreClient {
    fn want(&self, key: &RemoteKey) -> Want {
        Want { id: format!("{}{}", self.prefix, key.key), version: key.version.clone(), metadata: key.metadata_policy }
    }

    async fn get_value(&self, want: &Want) -> Result<RemoteValue, ProviderError> {
        let name = selector_name(want);
        let out = self
            .ssm
            .get_parameter()
            .name(&name)
            .with_decryption(true)
            .send()
            .await
            .observed(PARAMETER_STORE, "GetParameter")
            .map_err(|e| sdk_error("GetParameter", &name, &e))?;
        match out.parameter().and_then(|p| p.value()) {
            Some(value) => Ok(RemoteValue::bytes(value)),
            None => Err(ProviderError::Malformed(format!("parameter {name:?} has no value"))),
        }
    }

    async fn get_tags(&self, want: &Want) -> Result<RemoteValue, ProviderError> {
        let out = self
            .ssm
            .list_tags_for_resource()
            .resource_type(ResourceTypeForTagging::Parameter)
            .resource_id(&want.id)
            .send()
            .await
            .observed(PARAMETER_STORE, "ListTagsForResource")
            .map_err(|e| sdk_error("ListTagsForResource", &want.id, &e))?;
        tags_json(out.tag_list().iter().map(|t| (t.key(), t.value())))
    }

    /// `GetParametersByPath` (recursive, decrypted, paginated) and the name regexp.
    async fn find_by_path(
        &self,
        path: &str,
        filter: Option<&Regex>,
    ) -> Result<BTreeMap<String, RemoteValue>, ProviderError> {
        let mut found = BTreeMap::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .ssm
                .get_parameters_by_path()
                .path(path)
                .recursive(true)
                .with_decryption(true)
                .max_results(BY_PATH_PAGE_SIZE)
                .set_next_token(token.take())
                .send()
                .await
                .observed(PARAMETER_STORE, "GetParametersByPath")
                .map_err(|e| sdk_error("GetParametersByPath", path, &e))?;
            for parameter in out.parameters() {
                let (Some(name), Some(value)) = (parameter.name(), parameter.value()) else { continue };
                if name_matches(filter, name) {
                    found.insert(name.to_string(), RemoteValue::bytes(value));
                }
            }
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(found);
            }
        }
    }

    /// Parameter names from `DescribeParameters` with tag filters and an optional recursive path, then the name
    /// regexp; their values are read in batches of 10.
    async fn find_described(
        &self,
        path: Option<&str>,
        tags: &BTreeMap<String, String>,
        filter: Option<&Regex>,
    ) -> Result<BTreeMap<String, RemoteValue>, ProviderError> {
        let invalid = |e: aws_smithy_types::error::operation::BuildError| {
            ProviderError::InvalidConfig(format!("find: cannot build a DescribeParameters filter: {e}"))
        };
        let mut filters = Vec::new();
        for (key, value) in tags {
            filters.push(
                ParameterStringFilter::builder()
                    .key(format!("tag:{key}"))
                    .option("Equals")
                    .values(value)
                    .build()
                    .map_err(invalid)?,
            );
        }
        if let Some(path) = path {
            filters.push(
                ParameterStringFilter::builder()
                    .key("Path")
                    .option("Recursive")
                    .values(path)
                    .build()
                    .map_err(invalid)?,
            );
        }
        let what = format!("find path={:?} tags={:?}", path.unwrap_or_default(), tags.keys());
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .ssm
                .describe_parameters()
                .set_parameter_filters((!filters.is_empty()).then(|| filters.clone()))
                .max_results(DESCRIBE_PAGE_SIZE)
                .set_next_token(token.take())
                .send()
                .await
                .observed(PARAMETER_STORE, "DescribeParameter")
                .map_err(|e| sdk_error("DescribeParameters", &what, &e))?;
            names.extend(
                out.parameters()
                    .iter()
                    .filter_map(|p| p.name())
                    .filter(|n| name_matches(filter, n))
                    .map(str::to_string),
            );
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        let values = read_many(self, names.iter().map(|n| Want::value(n.clone())).collect()).await;
        let mut found = BTreeMap::new();
        for (name, value) in names.into_iter().zip(values) {
            match value {
                Ok(value) => {
                    found.insert(name, value);
                }
                // Deleted between listing and reading.
                Err(err) if err.is_not_found() => {}
                Err(err) => return Err(err),
            }
        }
        Ok(found)
    }
}

#[async_trait]
impl Reader for ParameterStoreClient {
    const BATCH_SIZE: usize = BATCH_SIZE;
    const BATCH_OPERATION: &'static str = "GetParameters";

    fn batchable(&self, want: &Want) -> bool {
        // GetParameters answers with names, not ARNs: an ARN could not be matched to its answer.
        want.metadata == MetadataPolicy::None && !want.id.starts_with("arn:")
    }

    async fn read_one(&self, want: &Want) -> Result<RemoteValue, ProviderError> {
        match want.metadata {
            MetadataPolicy::Fetch => self.get_tags(want).await,
            MetadataPolicy::None => self.get_value(want).await,
        }
    }

    async fn read_batch(&self, wants: &[Want]) -> Result<Vec<BatchAnswer>, ProviderError> {
        // Two versions of one parameter in one call could be told apart only by `Selector`, which not every
        // implementation returns: the second one is read on its own.
        let mut seen = HashSet::new();
        let in_call: Vec<bool> = wants.iter().map(|w| seen.insert(w.id.as_str())).collect();
        let names: Vec<String> =
            wants.iter().zip(&in_call).filter(|(_, in_call)| **in_call).map(|(w, _)| selector_name(w)).collect();
        let what = match names.as_slice() {
            [first, rest @ ..] => format!("{first} and {} more", rest.len()),
            [] => String::new(),
        };
        let out = self
            .ssm
            .get_parameters()
            .set_names(Some(names.clone()))
            .with_decryption(true)
            .send()
            .await
            .observed(PARAMETER_STORE, "GetParameters")
            .map_err(|e| sdk_error("GetParameters", &what, &e))?;
        Ok(wants
            .iter()
            .zip(in_call)
            .map(|(want, in_call)| {
                if !in_call {
                    return None;
                }
                let requested = selector_name(want);
                if let Some(parameter) = out
                    .parameters()
                    .iter()
                    .find(|p| p.name().is_some_and(|n| parameter_matches(&requested, n, p.selector(), p.version())))
                {
                    return Some(match parameter.value() {
                        Some(value) => Ok(RemoteValue::bytes(value)),
                        None => Err(ProviderError::Malformed(format!("parameter {requested:?} has no value"))),
                    });
                }
                // A name without a version listed as invalid does not exist (`ParameterNotFound` on its own); a
                // version may be missing while the parameter exists, which only `GetParameter` tells apart.
                (want.version().is_none() && out.invalid_parameters().contains(&requested))
                    .then(|| Err(Kind::NotFound.error(&requested, String::new())))
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
impl StoreClient for ParameterStoreClient {
    async fn get_many(&self, keys: &[RemoteKey]) -> Vec<Result<RemoteValue, ProviderError>> {
        read_many(self, keys.iter().map(|k| self.want(k)).collect()).await
    }

    async fn get(&self, key: &RemoteKey) -> Result<RemoteValue, ProviderError> {
        read_one(self, self.want(key)).await
    }

    async fn find(&self, query: &FindQuery) -> Result<BTreeMap<String, RemoteValue>, ProviderError> {
        // ESO: a name wins (its tags are ignored), then tags; a path alone is not a query.
        if query.name_regexp.is_none() && query.tags.is_empty() {
            return Err(find_criteria_missing());
        }
        self.identity.credentials().await.map_err(|f| f.to_error())?;
        let filter = name_filter(query)?;
        let path = query.path.as_deref().filter(|p| !p.is_empty());
        if query.name_regexp.is_none() {
            return self.find_described(path, &query.tags, None).await;
        }
        match self.find_by_path(path.unwrap_or("/"), filter.as_ref()).await {
            // ESO's fallback for identities allowed to describe but not to read by path.
            Err(ProviderError::Denied(reason)) => {
                tracing::debug!(%reason, "GetParametersByPath denied; listing with DescribeParameters");
                self.find_described(path, &BTreeMap::new(), filter.as_ref()).await
            }
            other => other,
        }
    }

    async fn validate(&self) -> Result<Validation, ProviderError> {
        self.identity.credentials().await.map_err(|f| f.to_error())?;
        Ok(Validation::Ready)
    }

    async fn push_secret(&self, source: &PushSource, data: &PushSecretData) -> Result<(), ProviderError> {
        self.push(source, data).await
    }

    async fn delete_secret(&self, remote_ref: &PushRemoteRef) -> Result<(), ProviderError> {
        self.delete(remote_ref).await
    }

    async fn secret_exists(&self, remote_ref: &PushRemoteRef) -> Result<bool, ProviderError> {
        self.exists(remote_ref).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_use_the_selector_syntax() {
        let want =
            |v: Option<&str>| Want { id: "/app/db".into(), version: v.map(Into::into), metadata: MetadataPolicy::None };
        assert_eq!(selector_name(&want(None)), "/app/db");
        assert_eq!(selector_name(&want(Some(""))), "/app/db");
        assert_eq!(selector_name(&want(Some("3"))), "/app/db:3");
        assert_eq!(selector_name(&want(Some("prod"))), "/app/db:prod");
    }

    #[test]
    fn answers_match_name_and_selector() {
        assert!(parameter_matches("/app/db", "/app/db", None, 4));
        assert!(!parameter_matches("/app/db", "/app/db", Some(":3"), 3));
        assert!(!parameter_matches("/app/db", "/app/dbx", None, 1));
        assert!(parameter_matches("/app/db:3", "/app/db", Some(":3"), 3));
        assert!(parameter_matches("/app/db:3", "/app/db", None, 3));
        assert!(!parameter_matches("/app/db:3", "/app/db", None, 4));
        assert!(parameter_matches("/app/db:prod", "/app/db", Some(":prod"), 7));
        assert!(!parameter_matches("/app/db:prod", "/app/db", Some(":dev"), 7));
        assert!(parameter_matches("plain", "plain", None, 1));
    }
}
