//! One store client shared by every ExternalSecret of a store, with the reads de-duplicated across them.
//!
//! ESO reads a remote key once per ExternalSecret per refresh: the same key wanted by 800 ExternalSecrets is
//! 800 calls. Here, concurrent reads of one key wait for a single call, and a value read recently enough
//! (`max_age`, chosen by the caller per read) is answered from memory. Only values and real "not found"s are
//! remembered; errors are never cached, so a transient failure is retried by the next read. A write through the
//! shared client (PushSecret's push or delete) forgets what was read of that remote key, so a read never answers
//! with a value from before a write this process made.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::{ProviderError, PushRemoteRef, PushSecretData, PushSource, RemoteKey, RemoteValue, StoreClient};

#[derive(Clone)]
struct Entry {
    /// `None`: the store said "not found".
    value: Option<RemoteValue>,
    fetched_at: Instant,
}

#[derive(Default)]
struct State {
    entries: HashMap<RemoteKey, Entry>,
    /// Keys being read right now; the receiver changes when that read is over.
    in_flight: HashMap<RemoteKey, watch::Receiver<bool>>,
    /// How many writes (pushes, deletes) went through this client. A read that saw a write happen while it was
    /// under way answers its callers but is not remembered: its value may be from before the write.
    writes: u64,
}

/// A [`StoreClient`] plus the memory of what it recently read. Cheap to clone (`Arc` inside).
#[derive(Clone)]
pub struct SharedClient {
    inner: Arc<dyn StoreClient>,
    state: Arc<Mutex<State>>,
    calls: Arc<std::sync::atomic::AtomicU64>,
}

/// How long a remembered value may be kept at most, whatever a caller asks (bounds memory of removed keys).
const MAX_RETENTION: Duration = Duration::from_secs(3600);

impl SharedClient {
    /// Wraps a store client.
    pub fn new(inner: Arc<dyn StoreClient>) -> Self {
        Self { inner, state: Arc::default(), calls: Arc::default() }
    }

    /// The wrapped client (for `find` and `validate`, which are not shared).
    pub fn inner(&self) -> &Arc<dyn StoreClient> {
        &self.inner
    }

    /// Pushes through the wrapped client ([`StoreClient::push_secret`]), then forgets what was read of that
    /// remote key, so that no read is answered with a value from before the write (also when the write failed:
    /// it may have been partly done).
    pub async fn push_secret(&self, source: &PushSource, data: &PushSecretData) -> Result<(), ProviderError> {
        let result = self.inner.push_secret(source, data).await;
        self.forget(&data.remote_ref.remote_key);
        result
    }

    /// Deletes through the wrapped client ([`StoreClient::delete_secret`]), then forgets what was read of that
    /// remote key.
    pub async fn delete_secret(&self, remote_ref: &PushRemoteRef) -> Result<(), ProviderError> {
        let result = self.inner.delete_secret(remote_ref).await;
        self.forget(&remote_ref.remote_key);
        result
    }

    /// Drops the remembered reads of `remote_key` (every version and metadata policy), and keeps reads under way
    /// now from being remembered.
    fn forget(&self, remote_key: &str) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.writes += 1;
        state.entries.retain(|key, _| key.key != remote_key);
    }

    /// How many `get_many` calls reached the store.
    pub fn store_calls(&self) -> u64 {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Reads `keys` (one result per key, in order): from memory when a read finished within `max_age` before this
    /// call, by joining a read of the same key already under way, or else in one `get_many` call for all the
    /// remaining keys. With a zero `max_age` a value is never older than the call.
    pub async fn get_many(&self, keys: &[RemoteKey], max_age: Duration) -> Vec<Result<RemoteValue, ProviderError>> {
        // A value is fresh enough if its read finished no earlier than `max_age` before this call: with a zero
        // max_age, only reads that finish after we asked (ones already under way, which we join) qualify.
        let asked_at = Instant::now();
        let mut results: Vec<Option<Result<RemoteValue, ProviderError>>> = (0..keys.len()).map(|_| None).collect();
        // Two passes: after waiting for other readers, what they stored may answer us; whatever is left we read.
        for pass in 0..2 {
            let (to_fetch, to_wait, sender, writes_before) = {
                let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                state.entries.retain(|_, e| now.duration_since(e.fetched_at) <= MAX_RETENTION);
                let mut to_fetch = Vec::new();
                let mut to_wait = Vec::new();
                let mut claimed = HashSet::new();
                for (i, key) in keys.iter().enumerate() {
                    if results[i].is_some() {
                        continue;
                    }
                    if let Some(entry) = state.entries.get(key)
                        && entry.fetched_at + max_age >= asked_at
                    {
                        results[i] =
                            Some(entry.value.clone().ok_or_else(|| ProviderError::NotFound { key: key.key.clone() }));
                        continue;
                    }
                    if pass == 0
                        && let Some(rx) = state.in_flight.get(key)
                    {
                        to_wait.push(rx.clone());
                        continue;
                    }
                    if claimed.insert(key.clone()) {
                        to_fetch.push(key.clone());
                    }
                }
                let sender = if to_fetch.is_empty() {
                    None
                } else {
                    let (tx, rx) = watch::channel(false);
                    for key in &to_fetch {
                        state.in_flight.insert(key.clone(), rx.clone());
                    }
                    Some(tx)
                };
                (to_fetch, to_wait, sender, state.writes)
            };

            if let Some(tx) = sender {
                self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let fetched = self.inner.get_many(&to_fetch).await;
                let now = Instant::now();
                let mut by_key: HashMap<RemoteKey, Result<RemoteValue, ProviderError>> = HashMap::new();
                {
                    let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                    let remember = state.writes == writes_before;
                    for (key, result) in to_fetch.iter().zip(fetched) {
                        state.in_flight.remove(key);
                        match &result {
                            _ if !remember => {}
                            Ok(value) => {
                                state
                                    .entries
                                    .insert(key.clone(), Entry { value: Some(value.clone()), fetched_at: now });
                            }
                            Err(e) if e.is_not_found() => {
                                state.entries.insert(key.clone(), Entry { value: None, fetched_at: now });
                            }
                            Err(_) => {}
                        }
                        by_key.insert(key.clone(), result);
                    }
                }
                let _ = tx.send(true);
                // Errors are not cached, so answer them from this call's results; duplicates of a key share one.
                for (i, key) in keys.iter().enumerate() {
                    if results[i].is_none()
                        && let Some(result) = by_key.get(key)
                    {
                        results[i] = Some(match result {
                            Ok(v) => Ok(v.clone()),
                            Err(e) => Err(e.clone()),
                        });
                    }
                }
            }
            for mut rx in to_wait {
                // The reader finishes or is dropped (cancelled); either way we look again.
                let _ = rx.wait_for(|done| *done).await;
            }
            if results.iter().all(Option::is_some) {
                break;
            }
        }
        results
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                r.unwrap_or_else(|| {
                    Err(ProviderError::Unavailable(format!("the read of {:?} was abandoned; retry", keys[i].key)))
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicU64, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::{FindQuery, PushRemoteRef, Validation};

    /// Counts calls; answers "v:<key>" after a short delay, NotFound for keys starting with "missing", and an
    /// error for keys starting with "fail".
    #[derive(Default)]
    struct Counting {
        calls: AtomicU64,
        keys_read: AtomicU64,
    }

    #[async_trait]
    impl StoreClient for Counting {
        async fn get_many(&self, keys: &[RemoteKey]) -> Vec<Result<RemoteValue, ProviderError>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.keys_read.fetch_add(keys.len() as u64, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            keys.iter().map(|k| self.answer(k)).collect()
        }
        async fn get(&self, key: &RemoteKey) -> Result<RemoteValue, ProviderError> {
            self.answer(key)
        }
        async fn find(&self, _q: &FindQuery) -> Result<BTreeMap<String, RemoteValue>, ProviderError> {
            Ok(BTreeMap::new())
        }
        async fn validate(&self) -> Result<Validation, ProviderError> {
            Ok(Validation::Ready)
        }
    }

    impl Counting {
        fn answer(&self, k: &RemoteKey) -> Result<RemoteValue, ProviderError> {
            if k.key.starts_with("missing") {
                Err(ProviderError::NotFound { key: k.key.clone() })
            } else if k.key.starts_with("fail") {
                Err(ProviderError::Unavailable("down".into()))
            } else {
                Ok(RemoteValue::bytes(format!("v:{}", k.key)))
            }
        }
    }

    fn shared() -> (SharedClient, Arc<Counting>) {
        let inner = Arc::new(Counting::default());
        (SharedClient::new(inner.clone()), inner)
    }

    #[tokio::test]
    async fn fifty_concurrent_readers_of_one_key_cost_one_store_call() {
        let (client, inner) = shared();
        let key = RemoteKey::value("prod/db");
        let reads = (0..50).map(|_| {
            let c = client.clone();
            let k = key.clone();
            tokio::spawn(async move { c.get_many(&[k], Duration::from_secs(60)).await })
        });
        for r in futures::future::join_all(reads).await {
            let r = r.expect("join");
            assert_eq!(r[0].as_ref().expect("value").bytes.expose(), b"v:prod/db");
        }
        assert_eq!(inner.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn forced_reads_join_a_read_under_way_but_never_reuse_an_older_value() {
        let (client, inner) = shared();
        let key = RemoteKey::value("k");
        let (a, b) = tokio::join!(
            client.get_many(std::slice::from_ref(&key), Duration::ZERO),
            client.get_many(std::slice::from_ref(&key), Duration::ZERO)
        );
        assert!(a[0].is_ok() && b[0].is_ok());
        assert_eq!(inner.calls.load(Ordering::SeqCst), 1, "two concurrent forced reads share one call");
        client.get_many(std::slice::from_ref(&key), Duration::ZERO).await;
        assert_eq!(inner.calls.load(Ordering::SeqCst), 2, "a later forced read goes to the store");
    }

    #[tokio::test]
    async fn recent_values_are_reused_within_max_age_and_refetched_after() {
        let (client, inner) = shared();
        let key = RemoteKey::value("a");
        client.get_many(std::slice::from_ref(&key), Duration::from_secs(60)).await;
        client.get_many(std::slice::from_ref(&key), Duration::from_secs(60)).await;
        assert_eq!(inner.calls.load(Ordering::SeqCst), 1);
        client.get_many(std::slice::from_ref(&key), Duration::ZERO).await;
        assert_eq!(inner.calls.load(Ordering::SeqCst), 2, "max_age zero always reads the store");
    }

    #[tokio::test]
    async fn not_found_is_remembered_and_errors_are_not() {
        let (client, inner) = shared();
        let missing = RemoteKey::value("missing/x");
        let failing = RemoteKey::value("fail/y");
        let r = client.get_many(&[missing.clone(), failing.clone()], Duration::from_secs(60)).await;
        assert!(r[0].as_ref().is_err_and(ProviderError::is_not_found));
        assert!(matches!(r[1], Err(ProviderError::Unavailable(_))));
        let r = client.get_many(&[missing, failing], Duration::from_secs(60)).await;
        assert!(r[0].as_ref().is_err_and(ProviderError::is_not_found));
        assert!(matches!(r[1], Err(ProviderError::Unavailable(_))));
        assert_eq!(inner.calls.load(Ordering::SeqCst), 2, "the error is read again, the not-found is not");
        assert_eq!(inner.keys_read.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn duplicate_keys_in_one_read_are_fetched_once_and_answered_in_order() {
        let (client, inner) = shared();
        let a = RemoteKey::value("a");
        let b = RemoteKey::value("b");
        let r = client.get_many(&[a.clone(), b, a], Duration::from_secs(60)).await;
        let values: Vec<_> = r.iter().map(|v| v.as_ref().expect("value").bytes.expose().to_vec()).collect();
        assert_eq!(values, vec![b"v:a".to_vec(), b"v:b".to_vec(), b"v:a".to_vec()]);
        assert_eq!(inner.keys_read.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_store_client_refuses_writes_unless_its_provider_implements_them() {
        let (client, _) = shared();
        let data = PushSecretData { remote_ref: PushRemoteRef::new("a"), ..Default::default() };
        let push = client.push_secret(&PushSource::default(), &data).await;
        assert!(matches!(push, Err(ProviderError::Unsupported(ref m)) if m.contains("PushSecret")), "{push:?}");
        let delete = client.delete_secret(&data.remote_ref).await;
        assert!(matches!(delete, Err(ProviderError::Unsupported(ref m)) if m.contains("DeleteSecret")), "{delete:?}");
        let exists = client.inner().secret_exists(&data.remote_ref).await;
        assert!(matches!(exists, Err(ProviderError::Unsupported(ref m)) if m.contains("SecretExists")), "{exists:?}");
    }

    #[tokio::test]
    async fn a_push_or_delete_forgets_what_was_read_of_that_remote_key_only() {
        let (client, inner) = shared();
        let hour = Duration::from_secs(3600);
        let versioned = RemoteKey { version: Some("v1".into()), ..RemoteKey::value("a") };
        let keys = [RemoteKey::value("a"), versioned, RemoteKey::value("b")];
        client.get_many(&keys, hour).await;
        assert_eq!(inner.keys_read.load(Ordering::SeqCst), 3);

        let data = PushSecretData { remote_ref: PushRemoteRef::new("a"), ..Default::default() };
        let _ = client.push_secret(&PushSource::default(), &data).await;
        client.get_many(&keys, hour).await;
        assert_eq!(inner.keys_read.load(Ordering::SeqCst), 5, "both versions of a are read again, b is not");

        let _ = client.delete_secret(&PushRemoteRef::new("b")).await;
        client.get_many(&keys, hour).await;
        assert_eq!(inner.keys_read.load(Ordering::SeqCst), 6, "b is read again");
    }

    #[tokio::test]
    async fn a_read_under_way_while_a_write_happens_is_not_remembered() {
        let (client, inner) = shared();
        let hour = Duration::from_secs(3600);
        let key = RemoteKey::value("a");
        let data = PushSecretData { remote_ref: PushRemoteRef::new("a"), ..Default::default() };
        // The store answers after 50 ms; the write happens while it is being asked.
        let (_, _) = tokio::join!(client.get_many(std::slice::from_ref(&key), hour), async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            client.push_secret(&PushSource::default(), &data).await
        });
        client.get_many(std::slice::from_ref(&key), hour).await;
        assert_eq!(inner.calls.load(Ordering::SeqCst), 2, "the value read before the write is not reused");
        client.get_many(std::slice::from_ref(&key), hour).await;
        assert_eq!(inner.calls.load(Ordering::SeqCst), 2, "the value read after it is");
    }
}
