//! What both services share when reading: de-duplication, batching in chunks with a one-by-one fallback, the
//! input order of answers, and the small conversions of answers into values.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use external_secrets_provider::{FindQuery, MetadataPolicy, ProviderError, RemoteValue};
use futures::StreamExt;
use regex::Regex;

use crate::credentials::Identity;
use crate::error::Kind;

/// How many calls of one `get_many` run at once.
const CONCURRENCY: usize = 8;
/// How long a refused batch API is not tried again for an identity.
const BATCH_DENIED_FOR: Duration = Duration::from_secs(3600);

/// One thing to read, with the store prefix already applied (or an ARN/name found by `find`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Want {
    /// The remote name, path or ARN.
    pub(crate) id: String,
    /// The version selector, if any (empty counts as none).
    pub(crate) version: Option<String>,
    pub(crate) metadata: MetadataPolicy,
}

impl Want {
    /// The current value of `id`.
    pub(crate) fn value(id: impl Into<String>) -> Self {
        Self { id: id.into(), version: None, metadata: MetadataPolicy::None }
    }

    /// The version, `None` when unset or empty.
    pub(crate) fn version(&self) -> Option<&str> {
        self.version.as_deref().filter(|v| !v.is_empty())
    }
}

/// The answer for one key of a batch: `None` when the batch did not say (the key is then read on its own).
pub(crate) type BatchAnswer = Option<Result<RemoteValue, ProviderError>>;

/// The answers of one batch call, or why the call as a whole failed.
type BatchResult = Result<Vec<BatchAnswer>, ProviderError>;

/// Remembers that an identity may not use the batch API (an IAM policy written for ESO may allow only
/// `GetSecretValue`/`GetParameter`), so that reads go one by one without asking again for a while.
#[derive(Debug, Default)]
pub(crate) struct BatchSupport {
    denied_at: Mutex<Option<Instant>>,
}

impl BatchSupport {
    fn allowed(&self) -> bool {
        match self.denied_at.lock() {
            Ok(at) => at.is_none_or(|at| at.elapsed() > BATCH_DENIED_FOR),
            Err(_) => true,
        }
    }

    fn deny(&self) {
        if let Ok(mut at) = self.denied_at.lock() {
            *at = Some(Instant::now());
        }
    }
}

/// One service's reads.
#[async_trait]
pub(crate) trait Reader: Send + Sync {
    /// The most keys one batch call takes.
    const BATCH_SIZE: usize;
    /// The batch operation's name, for logs.
    const BATCH_OPERATION: &'static str;

    /// Whether a key can go into a batch call.
    fn batchable(&self, want: &Want) -> bool;

    /// Reads one key.
    async fn read_one(&self, want: &Want) -> Result<RemoteValue, ProviderError>;

    /// Reads up to [`Reader::BATCH_SIZE`] keys in one call; one answer per key, in order.
    async fn read_batch(&self, wants: &[Want]) -> Result<Vec<BatchAnswer>, ProviderError>;

    /// Whether batching is allowed for this identity.
    fn batch_support(&self) -> &BatchSupport;

    /// The identity the reads use.
    fn identity(&self) -> &Identity;
}

/// Reads every key, one result per key in input order: identical keys are read once, batchable keys go in
/// chunks of [`Reader::BATCH_SIZE`], the rest (and what a batch did not answer) one by one.
/// [`read_many`] for one key.
pub(crate) async fn read_one<R: Reader>(reader: &R, want: Want) -> Result<RemoteValue, ProviderError> {
    read_many(reader, vec![want]).await.pop().unwrap_or_else(|| Err(ProviderError::Internal("no answer".to_string())))
}

pub(crate) async fn read_many<R: Reader>(reader: &R, wants: Vec<Want>) -> Vec<Result<RemoteValue, ProviderError>> {
    if wants.is_empty() {
        return Vec::new();
    }
    // Without credentials every call would fail the same way: say it once per key, without calling AWS.
    if let Err(failure) = reader.identity().credentials().await {
        let err = failure.to_error();
        return wants.iter().map(|_| Err(err.clone())).collect();
    }

    let mut unique: Vec<Want> = Vec::new();
    let mut index: HashMap<Want, usize> = HashMap::new();
    let slots: Vec<usize> = wants
        .into_iter()
        .map(|want| {
            *index.entry(want.clone()).or_insert_with(|| {
                unique.push(want);
                unique.len() - 1
            })
        })
        .collect();
    let mut results: Vec<BatchAnswer> = (0..unique.len()).map(|_| None).collect();

    let batchable: Vec<usize> = (0..unique.len()).filter(|&i| reader.batchable(&unique[i])).collect();
    if batchable.len() > 1 && reader.batch_support().allowed() {
        let unique = &unique;
        let answers: Vec<(Vec<usize>, BatchResult)> =
            futures::stream::iter(batchable.chunks(R::BATCH_SIZE).map(<[usize]>::to_vec))
                .map(|chunk| async move {
                    let wants: Vec<Want> = chunk.iter().map(|&i| unique[i].clone()).collect();
                    let answer = reader.read_batch(&wants).await;
                    (chunk, answer)
                })
                .buffered(CONCURRENCY)
                .collect()
                .await;
        for (chunk, answer) in answers {
            match answer {
                Ok(per_key) => {
                    for (i, result) in chunk.into_iter().zip(per_key) {
                        results[i] = result;
                    }
                }
                Err(err) => match Kind::of(&err) {
                    // The same would happen to each key on its own.
                    Kind::Auth | Kind::Throttled | Kind::Unavailable | Kind::InvalidConfig => {
                        for i in chunk {
                            results[i] = Some(Err(err.clone()));
                        }
                    }
                    Kind::Denied => {
                        tracing::warn!(
                            identity = reader.identity().description(),
                            operation = R::BATCH_OPERATION,
                            "the batch API is denied for this identity; reading keys one by one"
                        );
                        reader.batch_support().deny();
                    }
                    // Anything else (one bad name spoils a whole chunk): each key on its own says what is wrong.
                    _ => tracing::debug!(error = %err, "batch read failed; reading its keys one by one"),
                },
            }
        }
    }

    let pending: Vec<usize> = (0..unique.len()).filter(|&i| results[i].is_none()).collect();
    let unique_ref = &unique;
    let singles: Vec<(usize, Result<RemoteValue, ProviderError>)> = futures::stream::iter(pending)
        .map(|i| async move { (i, reader.read_one(&unique_ref[i]).await) })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    for (i, result) in singles {
        results[i] = Some(result);
    }

    slots
        .into_iter()
        .map(|slot| match &results[slot] {
            Some(Ok(value)) => Ok(value.clone()),
            Some(Err(err)) => Err(err.clone()),
            None => Err(ProviderError::Internal(format!("no answer for {:?}", unique[slot].id))),
        })
        .collect()
}

/// The `find.name.regexp` of a query, compiled (unanchored, as ESO's Go `regexp`).
pub(crate) fn name_filter(query: &FindQuery) -> Result<Option<Regex>, ProviderError> {
    query
        .name_regexp
        .as_deref()
        .filter(|r| !r.is_empty())
        .map(|r| {
            Regex::new(r).map_err(|e| ProviderError::InvalidConfig(format!("find.name.regexp {r:?} is invalid: {e}")))
        })
        .transpose()
}

/// The error for a `find` with neither `name` nor `tags`: ESO's AWS provider answers it with "unexpected find
/// operator", for a `path` alone too.
pub(crate) fn find_criteria_missing() -> ProviderError {
    ProviderError::InvalidConfig(
        "dataFrom[].find needs name or tags: the AWS provider does not search by path alone (add for example \
         name.regexp \".*\" to read everything under the path)"
            .to_string(),
    )
}

/// Whether a remote name passes the query's name filter.
pub(crate) fn name_matches(filter: Option<&Regex>, name: &str) -> bool {
    filter.is_none_or(|re| re.is_match(name))
}

/// Tags as the JSON object `metadataPolicy: Fetch` returns (keys sorted, as Go's `json.Marshal` of a map).
pub(crate) fn tags_json<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<RemoteValue, ProviderError> {
    let map: BTreeMap<&str, &str> = tags.into_iter().collect();
    serde_json::to_vec(&map)
        .map(RemoteValue::bytes)
        .map_err(|e| ProviderError::Internal(format!("could not render tags as JSON: {e}")))
}

/// A version selector for logs and errors: `key` or `key@version`.
pub(crate) fn describe_want(want: &Want) -> String {
    match want.version() {
        Some(v) => format!("{}@{v}", want.id),
        None => want.id.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_render_as_a_sorted_json_object() {
        let value = tags_json([("team", "payments"), ("env", "prod")]).unwrap();
        assert_eq!(value.bytes.expose(), br#"{"env":"prod","team":"payments"}"#);
        assert_eq!(tags_json([]).unwrap().bytes.expose(), b"{}");
    }

    #[test]
    fn name_filter_is_unanchored_and_optional() {
        let query = FindQuery { name_regexp: Some("db".into()), ..Default::default() };
        let re = name_filter(&query).unwrap();
        assert!(name_matches(re.as_ref(), "prod/db/password"));
        assert!(!name_matches(re.as_ref(), "prod/cache"));
        assert!(name_matches(None, "anything"));
        let bad = FindQuery { name_regexp: Some("(".into()), ..Default::default() };
        assert!(matches!(name_filter(&bad), Err(ProviderError::InvalidConfig(_))));
    }

    #[test]
    fn empty_version_counts_as_none() {
        let want = Want { id: "a".into(), version: Some(String::new()), metadata: MetadataPolicy::None };
        assert_eq!(want.version(), None);
        assert_eq!(describe_want(&want), "a");
        let want = Want { version: Some("AWSPREVIOUS".into()), ..want };
        assert_eq!(describe_want(&want), "a@AWSPREVIOUS");
    }
}
