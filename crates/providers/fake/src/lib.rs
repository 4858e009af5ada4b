//! The `fake` provider (`spec.provider.fake`): a store whose secrets are the static key/value pairs written in
//! the store's own spec, for tests and demos. ESO flags it "not maintained"; its read semantics are kept here:
//!
//! - `get`: exact `key` + `version` lookup, where a missing version matches an entry without one (and `""` is the
//!   same as missing); anything else is [`ProviderError::NotFound`]. The value is returned as the document it is
//!   ([`RemoteValue::bytes`]); `property` selection happens in `external-secrets-core`.
//! - `metadataPolicy: Fetch` is ignored, as ESO's fake provider ignores it: the value itself is returned.
//! - `find`: only by `name.regexp` (unanchored), answering for each matching key its highest version (plain string
//!   comparison, so `"10" < "9"`); `find.tags` is refused with [`ProviderError::Unsupported`].
//! - `validate`: what `validationResult` says (0 or unset: Ready, 1: Unknown, 2 or anything else: an error).
//! - PushSecret, as ESO's: a push is kept in memory for the life of the process (per store), and read back by
//!   `get`/`find` like a spec entry without version, so an ExternalSecret on the same store sees it; a spec entry
//!   of the same key wins over a pushed one, and a push to a key the spec defines fails ("key already exists").
//!   `property` is ignored (the value replaces the whole entry), as in ESO. Differences from ESO: pushes are kept
//!   per store (kind, namespace, name) where ESO keeps them per store *name*; pushing the whole Secret (no
//!   `secretKey`) stores a JSON object of its values as strings (ESO's stores an empty value); a delete removes
//!   a pushed entry (ESO's does nothing), never a spec entry.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use external_secrets_api::FakeProvider as FakeSpec;
use external_secrets_provider::{
    Capabilities, FindQuery, Provider, ProviderError, PushRemoteRef, PushSecretData, PushSource, RemoteKey,
    RemoteValue, SecretBytes, StoreClient, StoreContext, StoreKind, Validation,
};
use regex::Regex;

/// ESO's `ValidationResultReady`.
const VALIDATION_READY: i32 = 0;
/// ESO's `ValidationResultUnknown`.
const VALIDATION_UNKNOWN: i32 = 1;

/// What was pushed to one store: remote key → value.
type Pushed = Arc<Mutex<BTreeMap<String, SecretBytes>>>;

/// A store: its kind, namespace (none for a ClusterSecretStore) and name.
type StoreIdentity = (StoreKind, Option<String>, String);

/// The `fake` provider. Clients are built from the store's spec, plus what was pushed to that store in this
/// process (kept here, across clients: a store's client is rebuilt when the store changes).
#[derive(Clone, Debug, Default)]
pub struct FakeProvider {
    /// (kind, namespace, name) of a store → what was pushed to it.
    pushed: Arc<Mutex<HashMap<StoreIdentity, Pushed>>>,
}

impl FakeProvider {
    /// The provider, ready to be registered.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Provider for FakeProvider {
    type Spec = FakeSpec;

    /// `ReadWrite`, as ESO reports it (pushes are kept in memory, as in ESO).
    fn capabilities(&self) -> Capabilities {
        Capabilities::ReadWrite
    }

    /// ESO's admission checks: every `data[]` entry has a key and a value.
    fn validate_spec(&self, spec: &FakeSpec, _kind: StoreKind) -> Result<(), ProviderError> {
        for (pos, data) in spec.data.iter().enumerate() {
            if data.key.is_empty() {
                return Err(ProviderError::InvalidConfig(format!("key must be set in data {pos}")));
            }
            if data.value.is_empty() {
                return Err(ProviderError::InvalidConfig(format!("at least one value must be set in data {pos}")));
            }
        }
        Ok(())
    }

    /// A [`FakeStoreClient`] over the spec and what was pushed to this store; no IO.
    async fn client(&self, spec: &FakeSpec, ctx: &StoreContext) -> Result<Arc<dyn StoreClient>, ProviderError> {
        let store = (ctx.kind(), ctx.namespace().map(str::to_string), ctx.name().to_string());
        let pushed = self.pushed.lock().unwrap_or_else(|p| p.into_inner()).entry(store).or_default().clone();
        Ok(Arc::new(FakeStoreClient { pushed, ..FakeStoreClient::new(spec) }))
    }
}

/// A client over the static data of one fake store.
///
/// Holds the values as [`SecretBytes`], so not even its `Debug` form shows them.
#[derive(Clone, Debug, Default)]
pub struct FakeStoreClient {
    /// key → version (`""` for none) → value. When the spec lists one key and version twice, the last entry wins,
    /// as in ESO.
    secrets: BTreeMap<String, BTreeMap<String, SecretBytes>>,
    validation_result: Option<i32>,
    /// What PushSecrets pushed to this store (shared by every client of the store).
    pushed: Pushed,
}

impl FakeStoreClient {
    /// A client answering from `spec` (a store's `spec.provider.fake`).
    pub fn new(spec: &FakeSpec) -> Self {
        let mut secrets: BTreeMap<String, BTreeMap<String, SecretBytes>> = BTreeMap::new();
        for data in &spec.data {
            secrets
                .entry(data.key.clone())
                .or_default()
                .insert(data.version.clone().unwrap_or_default(), SecretBytes::from(data.value.as_str()));
        }
        Self { secrets, validation_result: spec.validation_result, pushed: Pushed::default() }
    }

    fn pushed(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, SecretBytes>> {
        self.pushed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Spec entries, and pushed values as entries without version (a spec entry of the same key and version wins).
    fn entries(&self) -> BTreeMap<String, BTreeMap<String, SecretBytes>> {
        let mut all = self.secrets.clone();
        for (key, value) in self.pushed().iter() {
            all.entry(key.clone()).or_default().entry(String::new()).or_insert_with(|| value.clone());
        }
        all
    }
}

#[async_trait]
impl StoreClient for FakeStoreClient {
    /// The value of the entry with exactly this key and version. `metadata_policy` is ignored, as in ESO.
    async fn get(&self, key: &RemoteKey) -> Result<RemoteValue, ProviderError> {
        let version = key.version.as_deref().unwrap_or_default();
        // As `entries()` merges them, without copying the store: the spec entry, else a push (no version).
        let spec_value = self.secrets.get(&key.key).and_then(|versions| versions.get(version)).cloned();
        spec_value
            .or_else(|| version.is_empty().then(|| self.pushed().get(&key.key).cloned()).flatten())
            .map(RemoteValue::bytes)
            .ok_or_else(|| ProviderError::NotFound { key: key.key.clone() })
    }

    /// Every key the unanchored `name_regexp` matches, with the value of its highest version. `path` is ignored
    /// (as in ESO); tags, or a query without a name, are [`ProviderError::Unsupported`].
    async fn find(&self, query: &FindQuery) -> Result<BTreeMap<String, RemoteValue>, ProviderError> {
        if !query.tags.is_empty() {
            return Err(ProviderError::Unsupported("the fake provider cannot find secrets by tags".to_string()));
        }
        let Some(pattern) = query.name_regexp.as_deref() else {
            return Err(ProviderError::Unsupported("the fake provider finds secrets by find.name only".to_string()));
        };
        let name = Regex::new(pattern)
            .map_err(|e| ProviderError::InvalidConfig(format!("invalid find.name.regexp {pattern:?}: {e}")))?;
        Ok(self
            .entries()
            .iter()
            .filter(|(key, _)| name.is_match(key))
            .filter_map(|(key, versions)| {
                // BTreeMap<String, _> is ordered bytewise, as Go compares strings: the last version is the highest.
                versions.last_key_value().map(|(_, value)| (key.clone(), RemoteValue::bytes(value.clone())))
            })
            .collect())
    }

    /// `validationResult`: unset or 0 is Ready, 1 is Unknown, anything else fails.
    async fn validate(&self) -> Result<Validation, ProviderError> {
        match self.validation_result.unwrap_or(VALIDATION_READY) {
            VALIDATION_READY => Ok(Validation::Ready),
            VALIDATION_UNKNOWN => Ok(Validation::Unknown),
            other => Err(ProviderError::InvalidConfig(format!(
                "unable to validate: the fake store is configured with validationResult {other}"
            ))),
        }
    }

    /// Keeps the value for `remote_key` (the whole Secret as a JSON object of strings without `secretKey`);
    /// refuses a key the store's spec defines, as ESO's fake does.
    async fn push_secret(&self, source: &PushSource, data: &PushSecretData) -> Result<(), ProviderError> {
        let remote_key = &data.remote_ref.remote_key;
        if self.secrets.contains_key(remote_key) {
            return Err(ProviderError::Denied(format!("key {remote_key:?} already exists")));
        }
        // As ESO's: a missing key pushes an empty value.
        let value = source.payload(data).unwrap_or_else(|| SecretBytes::from(""));
        self.pushed().insert(remote_key.clone(), value);
        Ok(())
    }

    /// Forgets a pushed value; a spec entry is never deleted.
    async fn delete_secret(&self, remote_ref: &PushRemoteRef) -> Result<(), ProviderError> {
        self.pushed().remove(&remote_ref.remote_key);
        Ok(())
    }

    /// Whether the spec or a push has this key.
    async fn secret_exists(&self, remote_ref: &PushRemoteRef) -> Result<bool, ProviderError> {
        Ok(self.secrets.contains_key(&remote_ref.remote_key) || self.pushed().contains_key(&remote_ref.remote_key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use external_secrets_api::{FakeProviderData, SecretStoreProvider, SecretStoreSpec};
    use external_secrets_provider::{DynProvider, ErrorCategory, MetadataPolicy, ProviderKind, StoreScope};

    fn data(key: &str, value: &str, version: Option<&str>) -> FakeProviderData {
        FakeProviderData { key: key.to_string(), value: value.to_string(), version: version.map(str::to_string) }
    }

    fn fake(entries: Vec<FakeProviderData>) -> FakeSpec {
        FakeSpec { data: entries, validation_result: None }
    }

    fn client(entries: Vec<FakeProviderData>) -> FakeStoreClient {
        FakeStoreClient::new(&fake(entries))
    }

    fn key(key: &str, version: Option<&str>) -> RemoteKey {
        RemoteKey { key: key.to_string(), version: version.map(str::to_string), metadata_policy: MetadataPolicy::None }
    }

    fn store_spec(fake: Option<FakeSpec>) -> SecretStoreSpec {
        SecretStoreSpec {
            controller: None,
            provider: SecretStoreProvider { fake, ..Default::default() },
            retry_settings: None,
            refresh_interval: None,
            conditions: Vec::new(),
        }
    }

    async fn value_of(client: &FakeStoreClient, remote_key: RemoteKey) -> Result<Vec<u8>, ErrorCategory> {
        client.get(&remote_key).await.map(|v| v.bytes.into_inner()).map_err(|e| e.category())
    }

    fn name_query(pattern: &str) -> FindQuery {
        FindQuery { name_regexp: Some(pattern.to_string()), ..Default::default() }
    }

    fn values(found: BTreeMap<String, RemoteValue>) -> BTreeMap<String, String> {
        found.into_iter().map(|(k, v)| (k, String::from_utf8_lossy(v.bytes.expose()).into_owned())).collect()
    }

    #[tokio::test]
    async fn get_matches_key_and_version_exactly() {
        let c = client(vec![
            data("db", "unversioned", None),
            data("db", "first", Some("v1")),
            data("db", "second", Some("v2")),
        ]);
        assert_eq!(value_of(&c, key("db", None)).await, Ok(b"unversioned".to_vec()));
        assert_eq!(value_of(&c, key("db", Some("v1"))).await, Ok(b"first".to_vec()));
        assert_eq!(value_of(&c, key("db", Some("v2"))).await, Ok(b"second".to_vec()));
        assert_eq!(value_of(&c, key("db", Some("v3"))).await, Err(ErrorCategory::NotFound));
        assert_eq!(value_of(&c, key("DB", None)).await, Err(ErrorCategory::NotFound));
        assert_eq!(value_of(&c, key("d", None)).await, Err(ErrorCategory::NotFound));
    }

    #[tokio::test]
    async fn an_empty_version_is_the_same_as_none() {
        let c = client(vec![data("a", "x", Some("")), data("b", "y", None)]);
        assert_eq!(value_of(&c, key("a", None)).await, Ok(b"x".to_vec()));
        assert_eq!(value_of(&c, key("b", Some(""))).await, Ok(b"y".to_vec()));
    }

    #[tokio::test]
    async fn a_versioned_entry_does_not_answer_an_unversioned_request() {
        let c = client(vec![data("only-versioned", "x", Some("1"))]);
        let err = c.get(&key("only-versioned", None)).await.err();
        assert!(matches!(err, Some(ProviderError::NotFound { ref key }) if key == "only-versioned"), "{err:?}");
    }

    #[tokio::test]
    async fn the_last_duplicate_entry_wins() {
        let c = client(vec![data("k", "old", Some("1")), data("k", "new", Some("1"))]);
        assert_eq!(value_of(&c, key("k", Some("1"))).await, Ok(b"new".to_vec()));
    }

    #[tokio::test]
    async fn values_are_returned_whole_as_documents() {
        let c = client(vec![data("json", r#"{"user":"admin","pass":"p"}"#, None)]);
        let value = c.get(&key("json", None)).await.map_err(|e| e.to_string());
        assert_eq!(value, Ok(RemoteValue::bytes(r#"{"user":"admin","pass":"p"}"#)));
    }

    #[tokio::test]
    async fn metadata_policy_fetch_returns_the_value_like_eso() {
        let c = client(vec![data("k", "the-value", None)]);
        let fetch = RemoteKey { metadata_policy: MetadataPolicy::Fetch, ..key("k", None) };
        assert_eq!(value_of(&c, fetch).await, Ok(b"the-value".to_vec()));
        let missing = RemoteKey { metadata_policy: MetadataPolicy::Fetch, ..key("nope", None) };
        assert_eq!(value_of(&c, missing).await, Err(ErrorCategory::NotFound));
    }

    #[tokio::test]
    async fn find_returns_the_highest_version_of_each_matching_key() {
        let c = client(vec![
            data("app/db", "db-none", None),
            data("app/db", "db-2", Some("2")),
            data("app/db", "db-10", Some("10")),
            data("app/api", "api-none", None),
            data("other", "other", Some("9")),
        ]);
        let found = c.find(&name_query("^app/")).await.map(values).map_err(|e| e.to_string());
        let expected: BTreeMap<String, String> = [
            // String comparison, as in ESO: "2" > "10".
            ("app/db".to_string(), "db-2".to_string()),
            ("app/api".to_string(), "api-none".to_string()),
        ]
        .into_iter()
        .collect();
        assert_eq!(found, Ok(expected));
    }

    #[tokio::test]
    async fn find_name_regexp_is_unanchored() {
        let c = client(vec![data("prod-db", "1", None), data("dev-db", "2", None), data("cache", "3", None)]);
        let found = c.find(&name_query("db")).await.map(values).map_err(|e| e.to_string());
        let names: Option<Vec<String>> = found.ok().map(|m| m.into_keys().collect());
        assert_eq!(names, Some(vec!["dev-db".to_string(), "prod-db".to_string()]));
        let none = c.find(&name_query("^db$")).await.map(values).map_err(|e| e.to_string());
        assert_eq!(none, Ok(BTreeMap::new()));
    }

    #[tokio::test]
    async fn find_by_tags_is_unsupported() {
        let c = client(vec![data("k", "v", None)]);
        let query = FindQuery {
            name_regexp: Some(".*".to_string()),
            tags: [("env".to_string(), "prod".to_string())].into_iter().collect(),
            ..Default::default()
        };
        let err = c.find(&query).await.err().map(|e| e.category());
        assert_eq!(err, Some(ErrorCategory::Unsupported));
    }

    #[tokio::test]
    async fn find_without_a_name_is_unsupported() {
        let c = client(vec![data("k", "v", None)]);
        let err = c.find(&FindQuery::default()).await.err().map(|e| e.category());
        assert_eq!(err, Some(ErrorCategory::Unsupported));
    }

    #[tokio::test]
    async fn find_with_an_invalid_regexp_is_a_configuration_error() {
        let c = client(vec![data("k", "v", None)]);
        let err = c.find(&name_query("(unclosed")).await.err().map(|e| e.category());
        assert_eq!(err, Some(ErrorCategory::InvalidConfig));
    }

    async fn validation(result: Option<i32>) -> Result<Validation, ErrorCategory> {
        let c = FakeStoreClient::new(&FakeSpec { data: Vec::new(), validation_result: result });
        c.validate().await.map_err(|e| e.category())
    }

    #[tokio::test]
    async fn validate_follows_validation_result() {
        assert_eq!(validation(None).await, Ok(Validation::Ready));
        assert_eq!(validation(Some(0)).await, Ok(Validation::Ready));
        assert_eq!(validation(Some(1)).await, Ok(Validation::Unknown));
        assert_eq!(validation(Some(2)).await, Err(ErrorCategory::InvalidConfig));
        assert_eq!(validation(Some(7)).await, Err(ErrorCategory::InvalidConfig));
        assert_eq!(validation(Some(-1)).await, Err(ErrorCategory::InvalidConfig));
    }

    #[test]
    fn validate_spec_requires_the_fake_provider() {
        let p = FakeProvider::new();
        let err = DynProvider::validate_spec(&p, &store_spec(None), StoreKind::SecretStore).err();
        assert_eq!(err.map(|e| e.category()), Some(ErrorCategory::InvalidConfig));
        let spec = store_spec(Some(fake(vec![data("k", "v", None)])));
        let ok = DynProvider::validate_spec(&p, &spec, StoreKind::ClusterSecretStore);
        assert!(ok.is_ok(), "{ok:?}");
        let empty = DynProvider::validate_spec(&p, &store_spec(Some(fake(Vec::new()))), StoreKind::SecretStore);
        assert!(empty.is_ok(), "{empty:?}");
    }

    #[test]
    fn validate_spec_requires_key_and_value_in_every_entry() {
        let p = FakeProvider::new();
        let err =
            Provider::validate_spec(&p, &fake(vec![data("k", "v", None), data("", "v", None)]), StoreKind::SecretStore)
                .err()
                .map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("invalid store configuration: key must be set in data 1"));
        let err = Provider::validate_spec(&p, &fake(vec![data("k", "", None)]), StoreKind::SecretStore)
            .err()
            .map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("invalid store configuration: at least one value must be set in data 0"));
    }

    #[test]
    fn names_itself_fake_with_read_write_capabilities() {
        let p = FakeProvider::new();
        assert_eq!(p.kind(), ProviderKind::Fake);
        assert_eq!(DynProvider::capabilities(&p), Capabilities::ReadWrite);
    }

    fn context(spec: SecretStoreSpec) -> StoreContext {
        // A client that is never used: the fake provider does no IO.
        let unused = kube::Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().unwrap())).unwrap();
        StoreContext::new(unused, StoreScope::secret_store("ns", "fake-store"), spec)
    }

    #[tokio::test]
    async fn the_provider_builds_clients_from_the_store_spec() {
        let p = FakeProvider::new();
        let ctx = context(store_spec(Some(fake(vec![data("k", "v", None)]))));
        let c = DynProvider::client(&p, &ctx).await.map_err(|e| e.to_string()).unwrap();
        let got = c.get(&key("k", None)).await.map(|v| v.bytes.into_inner()).map_err(|e| e.to_string());
        assert_eq!(got, Ok(b"v".to_vec()));

        let ctx = context(store_spec(None));
        let err = DynProvider::client(&p, &ctx).await.err().map(|e| e.category());
        assert_eq!(err, Some(ErrorCategory::InvalidConfig));
    }

    #[test]
    fn debug_never_shows_values() {
        let c = client(vec![data("k", "hunter2-secret", None)]);
        let printed = format!("{c:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
    }

    fn push_source(pairs: &[(&str, &str)]) -> PushSource {
        PushSource {
            data: pairs.iter().map(|(k, v)| (k.to_string(), SecretBytes::from(*v))).collect(),
            ..Default::default()
        }
    }

    fn push_data(secret_key: Option<&str>, remote_key: &str) -> PushSecretData {
        PushSecretData {
            secret_key: secret_key.map(str::to_string),
            remote_ref: PushRemoteRef::new(remote_key),
            metadata: None,
        }
    }

    #[tokio::test]
    async fn a_push_is_read_back_by_later_clients_of_the_same_store_and_deleted_again() {
        let p = FakeProvider::new();
        let ctx = context(store_spec(Some(fake(vec![data("from-spec", "v", None)]))));
        let writer = DynProvider::client(&p, &ctx).await.map_err(|e| e.to_string()).unwrap();
        let source = push_source(&[("password", "hunter2"), ("user", "admin")]);
        assert!(!writer.secret_exists(&PushRemoteRef::new("pushed")).await.unwrap());
        writer.push_secret(&source, &push_data(Some("password"), "pushed")).await.unwrap();
        writer.push_secret(&source, &push_data(None, "whole")).await.unwrap();

        // A client built later (the store changed, say) sees what was pushed.
        let reader = DynProvider::client(&p, &ctx).await.map_err(|e| e.to_string()).unwrap();
        let read = |k: &'static str| {
            let reader = reader.clone();
            async move { reader.get(&key(k, None)).await.map(|v| v.bytes.into_inner()).map_err(|e| e.category()) }
        };
        assert_eq!(read("pushed").await, Ok(b"hunter2".to_vec()));
        assert_eq!(read("whole").await, Ok(br#"{"password":"hunter2","user":"admin"}"#.to_vec()));
        assert!(reader.secret_exists(&PushRemoteRef::new("pushed")).await.unwrap());
        assert!(reader.secret_exists(&PushRemoteRef::new("from-spec")).await.unwrap());
        let found = reader.find(&name_query("^push")).await.unwrap();
        assert_eq!(found.keys().collect::<Vec<_>>(), ["pushed"]);

        // Another store does not.
        let other = DynProvider::client(
            &p,
            &StoreContext::new(
                kube::Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().unwrap())).unwrap(),
                StoreScope::secret_store("other-ns", "fake-store"),
                store_spec(Some(fake(Vec::new()))),
            ),
        )
        .await
        .map_err(|e| e.to_string())
        .unwrap();
        assert_eq!(other.get(&key("pushed", None)).await.err().map(|e| e.category()), Some(ErrorCategory::NotFound));

        reader.delete_secret(&PushRemoteRef::new("pushed")).await.unwrap();
        reader.delete_secret(&PushRemoteRef::new("from-spec")).await.unwrap();
        assert_eq!(read("pushed").await, Err(ErrorCategory::NotFound));
        assert_eq!(read("from-spec").await, Ok(b"v".to_vec()), "a spec entry is never deleted");
    }

    #[tokio::test]
    async fn a_push_to_a_key_the_spec_defines_is_refused() {
        let c = client(vec![data("taken", "v", None)]);
        let err = c.push_secret(&push_source(&[("k", "hunter2")]), &push_data(Some("k"), "taken")).await.unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        assert!(!err.to_string().contains("hunter2"));
        assert_eq!(c.get(&key("taken", None)).await.map(|v| v.bytes.into_inner()).ok(), Some(b"v".to_vec()));
    }
}
