//! The store client: reads KV v1/v2 secrets, their metadata, and lists them for `find`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use external_secrets_api::VaultKvStoreVersion;
use external_secrets_provider::{
    CredentialResolver, FindQuery, MetadataPolicy, ProviderError, PushRemoteRef, PushSecretData, PushSource, RemoteKey,
    RemoteValue, SecretBytes, StoreClient, Validation,
};
use reqwest::{Method, StatusCode};

use crate::auth::{self, CachedToken, Login, TokenSlot};
use crate::http::{Answer, Connection};
use crate::paths;
use crate::push::{self, DeletePlan, Existing};

/// System metadata keys ESO adds to a v2 secret's `custom_metadata` for `metadataPolicy: Fetch`.
const SYSTEM_METADATA_KEYS: [&str; 3] = ["created_time", "current_version", "delete_version_after"];

/// How many keys one `find` may list before it is refused (a guard against walking a whole mount by mistake).
const MAX_LISTED_KEYS: usize = 10_000;

/// What the client reads and how.
pub(crate) struct KvSettings {
    pub(crate) mount: Option<String>,
    pub(crate) version: VaultKvStoreVersion,
    /// `checkAndSet.required`: every KV v2 write names the version it replaces.
    pub(crate) check_and_set: bool,
}

/// A client for one store.
pub(crate) struct VaultStoreClient {
    pub(crate) kv: KvSettings,
    pub(crate) access: Access,
}

/// What Vault holds at a key a push or delete is about.
struct Held {
    existing: Option<Existing>,
    /// KV v2's `current_version` (for check-and-set).
    current_version: Option<u64>,
}

/// How the client reaches Vault.
pub(crate) enum Access {
    /// A ClusterSecretStore with referent authentication, validated without an ExternalSecret: nothing to log in
    /// with yet.
    Deferred,
    /// A connection with a token source.
    Ready(Box<Session>),
}

/// A connection, its login, and the token slot of its store identity.
pub(crate) struct Session {
    pub(crate) connection: Connection,
    /// The connection logins go through (`auth.namespace` may differ from the store's namespace).
    pub(crate) login_connection: Connection,
    pub(crate) login: Login,
    pub(crate) credentials: CredentialResolver,
    /// The token, shared with every client of the same store identity.
    pub(crate) slot: Arc<TokenSlot>,
}

impl Session {
    /// A token: the cached one while fresh; else the cached one renewed (when Vault allows it and the renewal
    /// does not run into the token's max TTL); else a new login.
    pub(crate) async fn token(&self) -> Result<SecretBytes, ProviderError> {
        if let Some(cached) = self.slot.fresh(Instant::now()) {
            return Ok(cached.token);
        }
        let _guard = self.slot.login_lock.lock().await;
        if let Some(cached) = self.slot.fresh(Instant::now()) {
            return Ok(cached.token);
        }
        let started = Instant::now();
        if let Some(held) = self.slot.current().filter(|t| t.renewable_at(started)) {
            match auth::renew(&self.login_connection, &held.token).await {
                Ok(lease) => match held.renewed(lease, started) {
                    Some(renewed) => {
                        tracing::debug!(method = self.login.method(), "Vault token renewed");
                        self.slot.set(Some(renewed.clone()));
                        return Ok(renewed.token);
                    }
                    None => tracing::debug!(method = self.login.method(), "Vault token near its max TTL; logging in"),
                },
                Err(err) => tracing::debug!(error = %err, "renewing the Vault token failed; logging in"),
            }
        }
        let issued = self.login.token(&self.login_connection, &self.credentials).await?;
        tracing::debug!(
            method = self.login.method(),
            lease_seconds = issued.lease.map(|l| l.as_secs()),
            "Vault token obtained"
        );
        let cached = CachedToken::new(issued, started);
        self.slot.set(Some(cached.clone()));
        Ok(cached.token)
    }

    /// Sends a request with a token, counted as ESO's `call`. On a 403 after a login, the token itself is
    /// checked (`auth/token/lookup-self`): when Vault no longer knows it (revoked, expired early), it logs in
    /// once more and repeats the request; when the token is fine, the 403 is the policy's answer and stands (no
    /// login per denied read).
    pub(crate) async fn send(
        &self,
        call: &'static str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, ProviderError> {
        let token = self.token().await?;
        let answer = self.connection.send(method.clone(), path, query, Some(&token), body).await;
        let answer = auth::counted(call, answer)?;
        if answer.status != StatusCode::FORBIDDEN || matches!(self.login, Login::Token(_)) {
            return Ok(answer);
        }
        let lookup = self.connection.send(Method::GET, "auth/token/lookup-self", &[], Some(&token), None).await;
        if auth::counted("LookupSelf", lookup)?.status != StatusCode::FORBIDDEN {
            return Ok(answer);
        }
        tracing::debug!(method = self.login.method(), "Vault refused the cached token; logging in again");
        self.slot.set(None);
        let token = self.token().await?;
        auth::counted(call, self.connection.send(method, path, query, Some(&token), body).await)
    }
}

impl VaultStoreClient {
    fn session(&self) -> Result<&Session, ProviderError> {
        match &self.access {
            Access::Ready(session) => Ok(session),
            Access::Deferred => Err(ProviderError::InvalidConfig(
                "this ClusterSecretStore authenticates in the ExternalSecret's namespace; it has none here".to_string(),
            )),
        }
    }

    /// The data of `key` (at `version`) as a JSON object; `NotFound` only for Vault's 404 (or a v2 version
    /// that is deleted).
    async fn read_data(
        &self,
        key: &str,
        version: Option<&str>,
    ) -> Result<serde_json::Map<String, serde_json::Value>, ProviderError> {
        let session = self.session()?;
        let path = paths::data_path(self.kv.mount.as_deref(), self.kv.version, key);
        let query: Vec<(&str, &str)> = version.map(|v| vec![("version", v)]).unwrap_or_default();
        let answer = session.send("ReadSecretData", Method::GET, &path, &query, None).await?;
        secret_data(self.kv.version, key, &path, &answer)
    }

    /// ESO's metadata document of `key` (v2 only): the system keys and `custom_metadata`, all as strings.
    async fn read_metadata(&self, key: &str) -> Result<BTreeMap<String, String>, ProviderError> {
        if self.kv.version == VaultKvStoreVersion::V1 {
            return Err(ProviderError::InvalidConfig(
                "cannot perform metadata fetch operations with kv version v1".to_string(),
            ));
        }
        let session = self.session()?;
        let path = paths::metadata_path(self.kv.mount.as_deref(), self.kv.version, key)
            .map_err(ProviderError::InvalidConfig)?;
        let answer = session.send("ReadSecretData", Method::GET, &path, &[], None).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Err(ProviderError::NotFound { key: key.to_string() });
        }
        if !answer.status.is_success() {
            return Err(answer.error(&format!("reading {path}")));
        }
        let data = answer.body.get("data").cloned().unwrap_or_default();
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let mut metadata: BTreeMap<String, String> = SYSTEM_METADATA_KEYS
            .iter()
            .filter_map(|k| data.get(*k).filter(|v| !v.is_null()).map(|v| (k.to_string(), text(v))))
            .collect();
        if let Some(custom) = data.get("custom_metadata").and_then(|c| c.as_object()) {
            metadata.extend(custom.iter().map(|(k, v)| (k.clone(), text(v))));
        }
        Ok(metadata)
    }

    /// Every key below `folder` (`""` or ending in `/`), recursively, as ESO's `listSecrets`.
    async fn list(&self, folder: &str, out: &mut Vec<String>) -> Result<(), ProviderError> {
        let session = self.session()?;
        let path = paths::metadata_path(self.kv.mount.as_deref(), self.kv.version, folder)
            .map_err(ProviderError::InvalidConfig)?;
        let answer = session.send("ListSecrets", Method::GET, &path, &[("list", "true")], None).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Err(ProviderError::NotFound { key: folder.to_string() });
        }
        if !answer.status.is_success() {
            return Err(answer.error(&format!("listing {path}")));
        }
        let keys = answer.body.get("data").and_then(|d| d.get("keys")).and_then(|k| k.as_array()).cloned();
        for entry in keys.unwrap_or_default() {
            let Some(entry) = entry.as_str() else {
                return Err(ProviderError::Malformed(format!("listing {path}: a key is not a string")));
            };
            let full = format!("{folder}{entry}");
            if full.ends_with('/') {
                Box::pin(self.list(&full, out)).await?;
            } else {
                out.push(full);
            }
            if out.len() > MAX_LISTED_KEYS {
                return Err(ProviderError::InvalidConfig(format!(
                    "find below {folder:?} lists more than {MAX_LISTED_KEYS} secrets; narrow it with find.path"
                )));
            }
        }
        Ok(())
    }

    /// The secret at `key` as a push or a delete sees it, or `None` when there is none. On v2 the metadata is
    /// read first: a secret whose latest version is deleted still has an owner (its `custom_metadata`), and its
    /// `current_version` is what check-and-set needs.
    async fn held(&self, key: &str) -> Result<Held, ProviderError> {
        let data = |result: Result<serde_json::Map<String, serde_json::Value>, ProviderError>| match result {
            Ok(data) => Ok(Some(data)),
            Err(err) if err.is_not_found() => Ok(None),
            Err(err) => Err(err),
        };
        match self.kv.version {
            VaultKvStoreVersion::V1 => {
                let existing = data(self.read_data(key, None).await)?
                    .map(|data| Existing { managed: push::v1_managed(&data), data });
                Ok(Held { existing, current_version: None })
            }
            VaultKvStoreVersion::V2 => {
                let metadata = match self.read_metadata(key).await {
                    Ok(metadata) => metadata,
                    Err(err) if err.is_not_found() => return Ok(Held { existing: None, current_version: None }),
                    Err(err) => return Err(err),
                };
                let managed = metadata.get(push::MANAGED_BY_KEY).map(String::as_str) == Some(push::MANAGED_BY_VALUE);
                let current_version = metadata.get("current_version").and_then(|v| v.parse().ok());
                // Not ours: refused (push) or skipped (delete) without reading the data.
                let data = if managed {
                    data(self.read_data(key, None).await)?.unwrap_or_default()
                } else {
                    Default::default()
                };
                Ok(Held { existing: Some(Existing { data, managed }), current_version })
            }
        }
    }

    /// Writes `data` as the new content of `key` (v2: a new version, with `cas` when check-and-set is required).
    async fn write(
        &self,
        key: &str,
        data: serde_json::Map<String, serde_json::Value>,
        current_version: Option<u64>,
    ) -> Result<(), ProviderError> {
        let session = self.session()?;
        let path = paths::data_path(self.kv.mount.as_deref(), self.kv.version, key);
        let body = match self.kv.version {
            VaultKvStoreVersion::V1 => serde_json::Value::Object(data),
            VaultKvStoreVersion::V2 if self.kv.check_and_set => {
                serde_json::json!({"data": data, "options": {"cas": current_version.unwrap_or(0)}})
            }
            VaultKvStoreVersion::V2 => serde_json::json!({ "data": data }),
        };
        let answer = session.send("WriteSecretData", Method::POST, &path, &[], Some(&body)).await?;
        if !answer.status.is_success() {
            return Err(answer.error(&format!("writing {path}")));
        }
        Ok(())
    }

    /// Marks a v2 secret as ours in its `custom_metadata` (before its first version is written, as ESO does).
    async fn mark_managed(&self, key: &str) -> Result<(), ProviderError> {
        let session = self.session()?;
        let path = paths::metadata_path(self.kv.mount.as_deref(), self.kv.version, key)
            .map_err(ProviderError::InvalidConfig)?;
        let body = serde_json::json!({ "custom_metadata": push::managed_by() });
        let answer = session.send("WriteSecretData", Method::POST, &path, &[], Some(&body)).await?;
        if !answer.status.is_success() {
            return Err(answer.error(&format!("writing {path}")));
        }
        Ok(())
    }

    /// Deletes `key`: on v1 the secret, on v2 its metadata, which removes every version.
    async fn remove(&self, key: &str) -> Result<(), ProviderError> {
        let session = self.session()?;
        let path = match self.kv.version {
            VaultKvStoreVersion::V1 => paths::data_path(self.kv.mount.as_deref(), self.kv.version, key),
            VaultKvStoreVersion::V2 => paths::metadata_path(self.kv.mount.as_deref(), self.kv.version, key)
                .map_err(ProviderError::InvalidConfig)?,
        };
        let answer = session.send("DeleteSecret", Method::DELETE, &path, &[], None).await?;
        if !answer.status.is_success() && answer.status != StatusCode::NOT_FOUND {
            return Err(answer.error(&format!("deleting {path}")));
        }
        Ok(())
    }

    fn json(map: serde_json::Map<String, serde_json::Value>) -> RemoteValue {
        RemoteValue::bytes(serde_json::Value::Object(map).to_string())
    }
}

#[async_trait]
impl StoreClient for VaultStoreClient {
    async fn get(&self, key: &RemoteKey) -> Result<RemoteValue, ProviderError> {
        match key.metadata_policy {
            MetadataPolicy::Fetch => {
                let metadata = self.read_metadata(&key.key).await?;
                if metadata.is_empty() {
                    return Ok(RemoteValue::default());
                }
                let document = serde_json::to_string(&metadata)
                    .map_err(|e| ProviderError::Internal(format!("encoding metadata: {e}")))?;
                Ok(RemoteValue::bytes(document))
            }
            MetadataPolicy::None => Ok(Self::json(self.read_data(&key.key, key.version.as_deref()).await?)),
        }
    }

    async fn find(&self, query: &FindQuery) -> Result<BTreeMap<String, RemoteValue>, ProviderError> {
        if self.kv.version == VaultKvStoreVersion::V1 && query.name_regexp.is_none() && !query.tags.is_empty() {
            return Err(ProviderError::InvalidConfig("find by tags needs a kv v2 store".to_string()));
        }
        let name = match &query.name_regexp {
            Some(expr) => Some(
                regex::Regex::new(expr)
                    .map_err(|e| ProviderError::InvalidConfig(format!("find.name.regexp {expr:?}: {e}")))?,
            ),
            None => None,
        };
        let folder = query.path.as_deref().map(|p| format!("{}/", p.trim_end_matches('/'))).unwrap_or_default();
        let mut candidates = Vec::new();
        self.list(&folder, &mut candidates).await?;
        let mut found = BTreeMap::new();
        for candidate in candidates {
            let selected = match &name {
                Some(name) => name.is_match(&candidate),
                None => {
                    let metadata = self.read_metadata(&candidate).await?;
                    query.tags.iter().all(|(k, v)| metadata.get(k) == Some(v))
                }
            };
            if !selected {
                continue;
            }
            match self.read_data(&candidate, None).await {
                Ok(data) => {
                    found.insert(candidate, Self::json(data));
                }
                // Deleted between the list and the read: skipped, as ESO does.
                Err(err) if err.is_not_found() => {}
                Err(err) => return Err(err),
            }
        }
        Ok(found)
    }

    /// ESO's Vault push: see [`push`] for what is written; the value itself is never in an error.
    async fn push_secret(&self, source: &PushSource, data: &PushSecretData) -> Result<(), ProviderError> {
        let payload = source.payload(data).ok_or_else(|| {
            ProviderError::InvalidConfig(format!(
                "failed to find secret key in secret with key: {}",
                data.secret_key.as_deref().unwrap_or_default()
            ))
        })?;
        let key = &data.remote_ref.remote_key;
        let held = self.held(key).await?;
        let marked = held.existing.as_ref().is_some_and(|e| e.managed);
        let Some(desired) = push::plan_push(
            self.kv.version,
            held.existing,
            payload.expose(),
            data.remote_ref.property.as_deref(),
            key,
        )?
        else {
            return Ok(());
        };
        if self.kv.version == VaultKvStoreVersion::V2 && !marked {
            self.mark_managed(key).await?;
        }
        self.write(key, desired, held.current_version).await
    }

    /// Deletes what a push wrote, only from secrets we manage; a secret that is gone is success.
    async fn delete_secret(&self, remote_ref: &PushRemoteRef) -> Result<(), ProviderError> {
        let key = &remote_ref.remote_key;
        let held = self.held(key).await?;
        match push::plan_delete(self.kv.version, held.existing, remote_ref.property.as_deref()) {
            DeletePlan::Nothing => Ok(()),
            DeletePlan::Rewrite(rest) => self.write(key, rest, held.current_version).await,
            DeletePlan::Delete => self.remove(key).await,
        }
    }

    /// Whether the secret (and its `property`, when set) exists.
    async fn secret_exists(&self, remote_ref: &PushRemoteRef) -> Result<bool, ProviderError> {
        match self.read_data(&remote_ref.remote_key, None).await {
            Ok(data) => Ok(push::has_property(&data, remote_ref.property.as_deref())),
            Err(err) if err.is_not_found() => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Ready once a token is at hand: for a login that is the login itself; a static token is checked with
    /// `auth/token/lookup-self`.
    async fn validate(&self) -> Result<Validation, ProviderError> {
        let Access::Ready(session) = &self.access else { return Ok(Validation::Unknown) };
        let token = session.token().await?;
        if matches!(session.login, Login::Token(_)) {
            let lookup = session.connection.send(Method::GET, "auth/token/lookup-self", &[], Some(&token), None).await;
            let answer = auth::counted("LookupSelf", lookup)?;
            if !answer.status.is_success() {
                return Err(match answer.error("checking the token (auth/token/lookup-self)") {
                    ProviderError::Denied(message) => ProviderError::Auth(message),
                    other => other,
                });
            }
        }
        Ok(Validation::Ready)
    }
}

/// What Vault's answer to a read of `key` (at API path `path`) means: the secret's data, or `NotFound` for a
/// 404 or a v2 version whose data is gone (deleted or destroyed), or the error of the status.
fn secret_data(
    version: VaultKvStoreVersion,
    key: &str,
    path: &str,
    answer: &Answer,
) -> Result<serde_json::Map<String, serde_json::Value>, ProviderError> {
    let not_found = || ProviderError::NotFound { key: key.to_string() };
    if answer.status == StatusCode::NOT_FOUND {
        return Err(not_found());
    }
    if !answer.status.is_success() {
        return Err(answer.error(&format!("reading {path}")));
    }
    let data = answer.body.get("data").ok_or_else(|| ProviderError::Malformed(format!("{path}: no data field")))?;
    let data = match version {
        VaultKvStoreVersion::V1 => data,
        VaultKvStoreVersion::V2 => match data.get("data") {
            None => return Err(ProviderError::Malformed(format!("{path}: failed to find data field"))),
            Some(serde_json::Value::Null) => return Err(not_found()),
            Some(inner) => inner,
        },
    };
    match data {
        serde_json::Value::Object(map) => Ok(map.clone()),
        serde_json::Value::Null => Err(not_found()),
        _ => Err(ProviderError::Malformed(format!("{path}: the data is not a JSON object"))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(status: u16, body: serde_json::Value) -> Answer {
        Answer { status: StatusCode::from_u16(status).unwrap(), body }
    }

    fn read(
        version: VaultKvStoreVersion,
        status: u16,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, ProviderError> {
        secret_data(version, "app/db", "secret/data/app/db", &answer(status, body)).map(serde_json::Value::Object)
    }

    #[test]
    fn v2_answers_carry_the_data_one_level_down() {
        let body = json!({"data": {"data": {"password": "p"}, "metadata": {"version": 2}}});
        assert_eq!(read(VaultKvStoreVersion::V2, 200, body).unwrap(), json!({"password": "p"}));
        let v1 = json!({"data": {"password": "p"}});
        assert_eq!(read(VaultKvStoreVersion::V1, 200, v1).unwrap(), json!({"password": "p"}));
    }

    #[test]
    fn only_a_404_or_a_deleted_version_is_not_found() {
        assert!(read(VaultKvStoreVersion::V2, 404, json!({"errors": []})).unwrap_err().is_not_found());
        let deleted = json!({"data": {"data": null, "metadata": {"deletion_time": "2026-01-01T00:00:00Z"}}});
        assert!(read(VaultKvStoreVersion::V2, 200, deleted).unwrap_err().is_not_found());
        for status in [403, 500, 503, 400] {
            let err = read(VaultKvStoreVersion::V2, status, json!({"errors": ["x"]})).unwrap_err();
            assert!(!err.is_not_found(), "{status} must never be not found: {err}");
        }
        let err = read(VaultKvStoreVersion::V2, 200, json!({"data": {"metadata": {}}})).unwrap_err();
        assert!(matches!(err, ProviderError::Malformed(_)), "{err}");
        let err = read(VaultKvStoreVersion::V1, 200, json!({"data": "text"})).unwrap_err();
        assert!(matches!(err, ProviderError::Malformed(_)), "{err}");
    }

    #[test]
    fn errors_never_carry_the_data() {
        let err = read(VaultKvStoreVersion::V2, 200, json!({"data": {"data": "hunter2-secret"}})).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
