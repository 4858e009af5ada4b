//! The store client: Secret Manager's REST API (`v1`), as ESO's gRPC client uses it.

use std::collections::BTreeMap;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use external_secrets_provider::{
    FindQuery, MetadataPolicy, ProviderError, PushRemoteRef, PushSecretData, PushSource, RemoteKey, RemoteValue,
    SecretBytes, StoreClient, Validation,
};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::TokenSource;
use crate::http::{Answer, Body, Http};
use crate::push::{self, EXTERNAL_SECRETS, MANAGED_BY};

/// Where a store's secrets are: the endpoint (global or the location's) and the parent resource.
pub(crate) struct Place {
    /// `https://secretmanager.googleapis.com` or the regional endpoint.
    pub(crate) base: String,
    /// `projects/<p>` or `projects/<p>/locations/<l>`.
    pub(crate) parent: String,
    /// Set for a regional store.
    pub(crate) location: Option<String>,
}

impl Place {
    fn collection_url(&self) -> String {
        format!("{}/v1/{}/secrets", self.base, self.parent)
    }

    fn secret_url(&self, key: &str) -> String {
        format!("{}/{key}", self.collection_url())
    }

    fn version_url(&self, key: &str, version: &str) -> String {
        format!("{}/versions/{version}", self.secret_url(key))
    }
}

/// A connection with a token source.
pub(crate) struct Session {
    pub(crate) http: Http,
    pub(crate) tokens: TokenSource,
    pub(crate) place: Place,
    /// `secretVersionSelectionPolicy: LatestOrFetch`.
    pub(crate) latest_or_fetch: bool,
}

/// How a store client reaches Secret Manager.
pub(crate) enum Access {
    /// A ClusterSecretStore whose credentials live in each ExternalSecret's namespace, validated on its own.
    Deferred,
    Ready(Box<Session>),
}

/// The client of one `gcpsm` store.
pub(crate) struct GcpStoreClient {
    pub(crate) access: Access,
}

/// What Secret Manager says about a secret (the fields used here).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SecretResource {
    #[serde(default)]
    name: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    topics: Vec<Topic>,
    #[serde(default)]
    etag: String,
}

#[derive(Deserialize, Default)]
struct Topic {
    #[serde(default)]
    name: String,
}

/// A remote secret or version id must be one path segment: Secret Manager's ids are `[A-Za-z0-9_-]`.
fn check_id(id: &str, what: &str) -> Result<(), ProviderError> {
    let valid =
        !id.is_empty() && id.len() <= 255 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(ProviderError::InvalidConfig(format!(
            "{what} {id:?} is not a Secret Manager id (letters, digits, '_' and '-', at most 255)"
        )))
    }
}

impl GcpStoreClient {
    fn session(&self) -> Result<&Session, ProviderError> {
        match &self.access {
            Access::Ready(session) => Ok(session),
            Access::Deferred => Err(ProviderError::InvalidConfig(
                "this ClusterSecretStore authenticates in the ExternalSecret's namespace; it has none here".to_string(),
            )),
        }
    }
}

impl Session {
    /// One authenticated call. A 401 drops the cached token, so that the next call exchanges again.
    async fn call(
        &self,
        method: Method,
        url: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Answer, ProviderError> {
        let token = self.tokens.token().await?;
        let body = body.map_or(Body::None, Body::Json);
        let answer = self.http.send(method, url, query, Some(&token), &[], body).await?;
        if answer.status == StatusCode::UNAUTHORIZED {
            self.tokens.forget().await;
        }
        Ok(answer)
    }

    /// The secret resource `key`; `None` when Secret Manager answers 404.
    async fn secret(&self, key: &str) -> Result<Option<SecretResource>, ProviderError> {
        let answer = self.call(Method::GET, &self.place.secret_url(key), &[], None).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !answer.is_success() {
            return Err(answer.error(&format!("unable to get secret {key}")));
        }
        serde_json::from_value(answer.body)
            .map(Some)
            .map_err(|_| ProviderError::Malformed(format!("the secret resource of {key} is not readable")))
    }

    /// `versions/<version>:access`: the answer, unread.
    async fn access(&self, key: &str, version: &str) -> Result<Answer, ProviderError> {
        let url = format!("{}:access", self.place.version_url(key, version));
        self.call(Method::GET, &url, &[], None).await
    }

    /// The payload of `key` at `version` (`None`: `latest`), as ESO's `GetSecret` reads it; with
    /// `LatestOrFetch`, a disabled or destroyed `latest` falls back to the newest enabled version.
    async fn value(&self, key: &str, version: Option<&str>) -> Result<Vec<u8>, ProviderError> {
        check_id(key, "key")?;
        let wanted = version.unwrap_or("latest");
        check_id(wanted, "version")?;
        let mut answer = self.access(key, wanted).await?;
        if !answer.is_success() && self.latest_or_fetch && version.is_none() && destroyed_or_disabled(&answer) {
            answer = self.access_latest_enabled(key).await?;
        }
        payload_of(answer, key)
    }

    /// ESO's `getLatestEnabledVersion`: the enabled version created last (or `latest` when none is listed).
    async fn access_latest_enabled(&self, key: &str) -> Result<Answer, ProviderError> {
        let url = format!("{}/versions", self.place.secret_url(key));
        let mut newest: Option<(String, String)> = None;
        let mut page_token = String::new();
        loop {
            let mut query = vec![("filter", "state:ENABLED")];
            if !page_token.is_empty() {
                query.push(("pageToken", page_token.as_str()));
            }
            let answer = self.call(Method::GET, &url, &query, None).await?;
            if answer.status == StatusCode::NOT_FOUND {
                return Err(ProviderError::NotFound { key: key.to_string() });
            }
            if !answer.is_success() {
                return Err(answer.error(&format!("unable to list the versions of {key}")));
            }
            for version in answer.body.get("versions").and_then(Value::as_array).into_iter().flatten() {
                let name = version.get("name").and_then(Value::as_str).unwrap_or_default();
                let created = version.get("createTime").and_then(Value::as_str).unwrap_or_default();
                // RFC 3339 times in UTC with `Z` compare as text only with equal precision: parse them.
                let newer = match &newest {
                    None => true,
                    Some((_, best)) => timestamp(created) > timestamp(best),
                };
                if newer && !name.is_empty() {
                    newest = Some((name.to_string(), created.to_string()));
                }
            }
            page_token = next_page(&answer.body);
            if page_token.is_empty() {
                break;
            }
        }
        let version = newest
            .and_then(|(name, _)| name.rsplit('/').next().map(str::to_string))
            .unwrap_or_else(|| "latest".to_string());
        self.access(key, &version).await
    }

    /// The labels and annotations of `key`, as ESO's `getSecretMetadata` renders them with no property:
    /// `{"annotations": {...}, "labels": {...}}` (`null` for none, as Go marshals a nil map). Each is also a
    /// field, so that `property: labels`, `labels.<key>` and `annotations.<key>` select as in ESO.
    async fn metadata(&self, key: &str) -> Result<RemoteValue, ProviderError> {
        check_id(key, "key")?;
        let secret = self.secret(key).await?.ok_or_else(|| ProviderError::NotFound { key: key.to_string() })?;
        let render = |map: &BTreeMap<String, String>| if map.is_empty() { Value::Null } else { json!(map) };
        let annotations = render(&secret.annotations);
        let labels = render(&secret.labels);
        let whole = json!({"annotations": annotations, "labels": labels});
        let fields = BTreeMap::from([
            ("annotations".to_string(), SecretBytes::from(annotations.to_string())),
            ("labels".to_string(), SecretBytes::from(labels.to_string())),
        ]);
        Ok(RemoteValue { bytes: SecretBytes::from(whole.to_string()), fields: Some(fields) })
    }

    /// The ids of the secrets `filter` lists, every page.
    async fn list(&self, filter: Option<&str>) -> Result<Vec<String>, ProviderError> {
        let url = self.place.collection_url();
        let mut names = Vec::new();
        let mut page_token = String::new();
        loop {
            let mut query = Vec::new();
            if let Some(filter) = filter {
                query.push(("filter", filter));
            }
            if !page_token.is_empty() {
                query.push(("pageToken", page_token.as_str()));
            }
            let answer = self.call(Method::GET, &url, &query, None).await?;
            if !answer.is_success() {
                return Err(answer.error("failed to list secrets"));
            }
            for secret in answer.body.get("secrets").and_then(Value::as_array).into_iter().flatten() {
                // `projects/<number>/[locations/<l>/]secrets/<id>`: Google names the project by number.
                if let Some(name) = secret.get("name").and_then(Value::as_str)
                    && let Some((_, id)) = name.rsplit_once("/secrets/")
                {
                    names.push(id.to_string());
                }
            }
            page_token = next_page(&answer.body);
            if page_token.is_empty() {
                break;
            }
        }
        Ok(names)
    }
}

fn timestamp(text: &str) -> Option<jiff::Timestamp> {
    text.parse().ok()
}

fn next_page(body: &Value) -> String {
    body.get("nextPageToken").and_then(Value::as_str).unwrap_or_default().to_string()
}

/// Whether a failed access is ESO's `isErrSecretDestroyedOrDisabled`.
fn destroyed_or_disabled(answer: &Answer) -> bool {
    let message = answer.error_message();
    answer.error_status() == "FAILED_PRECONDITION"
        && (message.contains("DESTROYED state") || message.contains("DISABLED state"))
}

/// The decoded `payload.data` of an access answer; a 404 is the store's "not found" (ESO's `NoSecretErr`).
fn payload_of(answer: Answer, key: &str) -> Result<Vec<u8>, ProviderError> {
    if answer.status == StatusCode::NOT_FOUND {
        return Err(ProviderError::NotFound { key: key.to_string() });
    }
    if !answer.is_success() {
        return Err(answer.error(&format!("unable to access Secret from SecretManager Client: {key}")));
    }
    let data = answer.body.get("payload").and_then(|p| p.get("data")).and_then(Value::as_str);
    let Some(data) = data.filter(|d| !d.is_empty()) else {
        return Err(ProviderError::Malformed(format!("invalid secret received. no secret string for key: {key}")));
    };
    STANDARD.decode(data).map_err(|_| ProviderError::Malformed(format!("the payload of {key} is not base64")))
}

/// Whether a successful `access` answer carries a payload object with no data (an empty version).
fn empty_payload(answer: &Answer) -> bool {
    answer
        .body
        .get("payload")
        .is_some_and(|p| p.is_object() && p.get("data").and_then(Value::as_str).is_none_or(str::is_empty))
}

#[async_trait]
impl StoreClient for GcpStoreClient {
    async fn get(&self, key: &RemoteKey) -> Result<RemoteValue, ProviderError> {
        let session = self.session()?;
        match key.metadata_policy {
            MetadataPolicy::Fetch => session.metadata(&key.key).await,
            MetadataPolicy::None => {
                Ok(RemoteValue::bytes(session.value(&key.key, key.version.as_deref().filter(|v| !v.is_empty())).await?))
            }
        }
    }

    /// ESO's `GetAllSecrets`: by `name.regexp` (with `path` as a `name:` filter and a prefix), else by `tags`
    /// (`labels.<k>=<v>` filters), reading `latest` of each.
    async fn find(&self, query: &FindQuery) -> Result<BTreeMap<String, RemoteValue>, ProviderError> {
        let session = self.session()?;
        let path = query.path.as_deref().filter(|p| !p.is_empty());
        let (filter, matcher) = if let Some(pattern) = &query.name_regexp {
            let matcher = regex::Regex::new(pattern)
                .map_err(|e| ProviderError::InvalidConfig(format!("find.name.regexp {pattern:?}: {e}")))?;
            (path.map(|p| format!("name:{p}")), Some(matcher))
        } else if !query.tags.is_empty() {
            let mut filter = query.tags.iter().map(|(k, v)| format!("labels.{k}={v}")).collect::<Vec<_>>().join(" ");
            if let Some(path) = path {
                filter.push_str(&format!(" name:{path}"));
            }
            (Some(filter), None)
        } else {
            return Err(ProviderError::InvalidConfig("unexpected find operator".to_string()));
        };
        let mut found = BTreeMap::new();
        for id in session.list(filter.as_deref()).await? {
            if matcher.as_ref().is_some_and(|m| !m.is_match(&id)) || path.is_some_and(|p| !id.starts_with(p)) {
                continue;
            }
            let value = session.value(&id, None).await?;
            found.insert(id, RemoteValue::bytes(value));
        }
        Ok(found)
    }

    /// `Unknown` for a ClusterSecretStore authenticating per namespace (as ESO); otherwise the client exists
    /// only after a token was obtained, so the store works.
    async fn validate(&self) -> Result<Validation, ProviderError> {
        Ok(match self.access {
            Access::Deferred => Validation::Unknown,
            Access::Ready(_) => Validation::Ready,
        })
    }

    /// ESO's `PushSecret`: create the secret (labelled `managed-by: external-secrets`, with the metadata's
    /// replication and topics) when missing, refuse one not labelled so (unless pushing a `property`), sync
    /// labels and annotations, and add a version only when the value differs from `latest`.
    async fn push_secret(&self, source: &PushSource, data: &PushSecretData) -> Result<(), ProviderError> {
        let session = self.session()?;
        let key = data.remote_ref.remote_key.as_str();
        check_id(key, "remoteKey")?;
        let payload = source.payload(data).ok_or_else(|| {
            ProviderError::InvalidConfig(format!(
                "the source Secret has no key {:?}",
                data.secret_key.as_deref().unwrap_or_default()
            ))
        })?;
        let metadata = push::parse_metadata::<push::MetadataSpec>(data.metadata.as_ref())?;
        let property = data.remote_ref.property.as_deref();
        if property.is_some() && data.metadata.is_some() {
            return Err(ProviderError::InvalidConfig("cannot specify metadata and property at the same time".into()));
        }

        let secret = match session.secret(key).await? {
            Some(secret) => secret,
            None => {
                let mut body = json!({"labels": {MANAGED_BY: EXTERNAL_SECRETS}});
                if session.place.location.is_none() {
                    body["replication"] = push::replication(&metadata);
                }
                if !metadata.topics.is_empty() {
                    body["topics"] = json!(metadata.topics.iter().map(|t| json!({"name": t})).collect::<Vec<_>>());
                }
                let answer = session
                    .call(Method::POST, &session.place.collection_url(), &[("secretId", key)], Some(&body))
                    .await?;
                if !answer.is_success() {
                    return Err(answer.error(&format!("unable to create secret {key}")));
                }
                serde_json::from_value(answer.body)
                    .map_err(|_| ProviderError::Malformed(format!("the created secret {key} is not readable")))?
            }
        };

        let (annotations, labels, topics) = match property {
            None => {
                if secret.labels.get(MANAGED_BY).map(String::as_str) != Some(EXTERNAL_SECRETS) {
                    return Err(ProviderError::Denied(format!("secret {key} is not managed by external secrets")));
                }
                push::desired_metadata(&metadata, &secret.labels)
            }
            Some(_) => {
                let mut labels = secret.labels.clone();
                labels.insert(MANAGED_BY.to_string(), EXTERNAL_SECRETS.to_string());
                (secret.annotations.clone(), labels, secret.topics.iter().map(|t| t.name.clone()).collect())
            }
        };
        let existing_topics: Vec<String> = secret.topics.iter().map(|t| t.name.clone()).collect();
        if annotations != secret.annotations || labels != secret.labels || topics != existing_topics {
            let url = format!("{}/v1/{}", session.place.base, secret.name);
            let body = json!({"name": secret.name, "etag": secret.etag, "labels": labels, "annotations": annotations});
            let answer =
                session.call(Method::PATCH, &url, &[("updateMask", "labels,annotations")], Some(&body)).await?;
            if !answer.is_success() {
                return Err(answer.error(&format!("unable to update the labels of secret {key}")));
            }
        }

        let latest = session.access(key, "latest").await?;
        let original = if latest.status == StatusCode::NOT_FOUND {
            None
        } else if latest.is_success() && empty_payload(&latest) {
            // A version whose payload is empty: nothing to compare or merge into.
            Some(Vec::new())
        } else {
            // Anything else unreadable (no payload at all, bad base64) fails the push: merging a property into
            // "nothing" would write a version without the secret's other properties.
            Some(payload_of(latest, key)?)
        };
        let new_value = match property {
            None => {
                if original.as_deref() == Some(payload.expose()) {
                    return Ok(());
                }
                payload.expose().to_vec()
            }
            Some(property) => {
                if let Some(original) = &original
                    && push::property_value(original, property).as_deref() == Some(payload.expose())
                {
                    return Ok(());
                }
                push::set_property(original.as_deref().unwrap_or_default(), property, payload.expose())?
            }
        };
        let url = format!("{}:addVersion", session.place.secret_url(key));
        let body = json!({"payload": {"data": STANDARD.encode(new_value)}});
        let answer = session.call(Method::POST, &url, &[], Some(&body)).await?;
        if !answer.is_success() {
            return Err(answer.error(&format!("unable to add a version to secret {key}")));
        }
        Ok(())
    }

    /// ESO's `DeleteSecret`: the whole secret, only when it is labelled `managed-by: external-secrets`; a secret
    /// already gone is success.
    async fn delete_secret(&self, remote_ref: &PushRemoteRef) -> Result<(), ProviderError> {
        let session = self.session()?;
        let key = remote_ref.remote_key.as_str();
        check_id(key, "remoteKey")?;
        let Some(secret) = session.secret(key).await? else { return Ok(()) };
        if secret.labels.get(MANAGED_BY).map(String::as_str) != Some(EXTERNAL_SECRETS) {
            return Ok(());
        }
        let mut query = Vec::new();
        if !secret.etag.is_empty() {
            query.push(("etag", secret.etag.as_str()));
        }
        let answer = session.call(Method::DELETE, &session.place.secret_url(key), &query, None).await?;
        if answer.is_success() || answer.status == StatusCode::NOT_FOUND {
            return Ok(());
        }
        Err(answer.error(&format!("unable to delete secret {key}")))
    }

    /// ESO's `SecretExists`: whether the newest enabled version (or `latest`) can be read.
    async fn secret_exists(&self, remote_ref: &PushRemoteRef) -> Result<bool, ProviderError> {
        let session = self.session()?;
        let key = remote_ref.remote_key.as_str();
        check_id(key, "remoteKey")?;
        let answer = match session.access_latest_enabled(key).await {
            Err(ProviderError::NotFound { .. }) => return Ok(false),
            other => other?,
        };
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        if !answer.is_success() {
            return Err(answer.error(&format!("unable to access secret {key}")));
        }
        Ok(true)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_a_payload_without_data_is_an_empty_version() {
        let answer = |body: serde_json::Value| Answer { status: StatusCode::OK, body };
        assert!(empty_payload(&answer(serde_json::json!({"payload": {}}))));
        assert!(empty_payload(&answer(serde_json::json!({"payload": {"data": ""}}))));
        assert!(!empty_payload(&answer(serde_json::json!({"payload": {"data": "eA=="}}))));
        // A 200 that is not a version (a proxy's page, another API's answer) is not an empty secret.
        assert!(!empty_payload(&answer(serde_json::json!({"html": "<p>hi</p>"}))));
        assert!(!empty_payload(&answer(serde_json::json!({"payload": "x"}))));
    }

    #[test]
    fn ids_are_one_path_segment() {
        assert!(check_id("db-password_1", "key").is_ok());
        assert!(check_id("latest", "version").is_ok());
        for bad in ["", "a/b", "../x", "a?b", "a b", "a.b"] {
            assert!(matches!(check_id(bad, "key"), Err(ProviderError::InvalidConfig(_))), "{bad:?}");
        }
    }

    #[test]
    fn regional_places_use_the_locations_parent() {
        let place = Place {
            base: "https://secretmanager.europe-west1.rep.googleapis.com".into(),
            parent: "projects/p/locations/europe-west1".into(),
            location: Some("europe-west1".into()),
        };
        assert_eq!(
            place.version_url("db", "3"),
            "https://secretmanager.europe-west1.rep.googleapis.com/v1/projects/p/locations/europe-west1/secrets/db/versions/3"
        );
    }

    #[test]
    fn only_a_404_of_an_access_is_not_found_and_disabled_versions_are_recognised() {
        let answer = |status: u16, body: Value| Answer { status: StatusCode::from_u16(status).unwrap(), body };
        let not_found = answer(404, json!({"error": {"code": 404, "status": "NOT_FOUND", "message": "not found"}}));
        assert!(payload_of(not_found, "db").unwrap_err().is_not_found());
        let denied = answer(403, json!({"error": {"code": 403, "status": "PERMISSION_DENIED", "message": "no"}}));
        assert!(!payload_of(denied, "db").unwrap_err().is_not_found());
        let disabled = answer(
            400,
            json!({"error": {"code": 400, "status": "FAILED_PRECONDITION", "message": "Secret Version [projects/1/secrets/db/versions/2] is in DISABLED state."}}),
        );
        assert!(destroyed_or_disabled(&disabled));
        let ok = answer(200, json!({"name": "projects/1/secrets/db/versions/2", "payload": {"data": "aHVudGVyMg=="}}));
        assert_eq!(payload_of(ok, "db").unwrap(), b"hunter2");
        let empty = answer(200, json!({"name": "projects/1/secrets/db/versions/2", "payload": {}}));
        assert!(matches!(payload_of(empty, "db"), Err(ProviderError::Malformed(_))));
    }
}
