//! What every reconcile shares: clients, caches fed by watches, metrics, the event recorder, backoff state.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use external_secrets_api::v1alpha1::PushSecret;
use external_secrets_api::{ClusterSecretStore, ExternalSecret, ExternalSecretStatus, SecretStore};
use external_secrets_provider::ProviderRegistry;
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::Store;
use kube::{Resource, ResourceExt};

use crate::clients::ClientCache;
use crate::config::ControllerConfig;
use crate::events::{EventType, Recorder};
use crate::generic_target::GenericTargets;
use crate::metrics::Metrics;

/// Counters that tests and benchmarks read (also logged at debug level).
#[derive(Default)]
pub struct Stats {
    /// ExternalSecret reconciles started.
    pub es_reconciles: AtomicU64,
    /// Target Secret writes (create or update).
    pub secret_writes: AtomicU64,
    /// Target Secret reads from the API (not from the watch cache).
    pub secret_reads: AtomicU64,
    /// Status writes.
    pub status_writes: AtomicU64,
    /// ExternalSecret writes of the ClusterExternalSecret controller (create, patch, delete).
    pub external_secret_writes: AtomicU64,
}

impl Stats {
    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Shared state of the controllers.
pub struct Context {
    pub client: kube::Client,
    pub registry: ProviderRegistry,
    pub config: ControllerConfig,
    pub metrics: Arc<Metrics>,
    pub recorder: Recorder,
    pub secret_stores: Store<SecretStore>,
    pub cluster_stores: Store<ClusterSecretStore>,
    pub external_secrets: Store<ExternalSecret>,
    /// Metadata of the Secrets we manage (label-selected watch): no data, no unrelated Secrets.
    pub target_secrets: Store<PartialObjectMeta<Secret>>,
    /// PushSecrets (filled by the PushSecret controller's watch; empty without it), for the store finalizer.
    pub push_secrets: Store<PushSecret>,
    pub clients: ClientCache,
    /// Generic targets (`spec.target.manifest`): discovery cache, our writes, drift watches.
    pub generic_targets: GenericTargets,
    pub stats: Stats,
    /// Consecutive failures per object, for exponential backoff.
    failures: Mutex<HashMap<String, u32>>,
    /// Target Secret (namespace, name) → the resourceVersion whose data we know matches its data-hash
    /// annotation (we wrote it or read and checked it). A different resourceVersion means someone else wrote it.
    verified: Mutex<HashMap<(String, String), String>>,
    /// ExternalSecret uid → the status its last successful sync wrote, for reconciles that start before the watch
    /// cache shows that write (one queued while the sync ran): they must not sync again.
    synced_status: Mutex<HashMap<String, ExternalSecretStatus>>,
}

impl Context {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        client: kube::Client,
        registry: ProviderRegistry,
        config: ControllerConfig,
        metrics: Arc<Metrics>,
        secret_stores: Store<SecretStore>,
        cluster_stores: Store<ClusterSecretStore>,
        external_secrets: Store<ExternalSecret>,
        target_secrets: Store<PartialObjectMeta<Secret>>,
        push_secrets: Store<PushSecret>,
    ) -> Self {
        Self {
            recorder: Recorder::new(client.clone(), std::env::var("POD_NAME").ok(), metrics.events_dropped.clone()),
            client,
            registry,
            config,
            metrics,
            secret_stores,
            cluster_stores,
            external_secrets,
            target_secrets,
            push_secrets,
            clients: ClientCache::default(),
            generic_targets: GenericTargets::default(),
            stats: Stats::default(),
            failures: Mutex::default(),
            verified: Mutex::default(),
            synced_status: Mutex::default(),
        }
    }

    /// Queues an event on `obj` for the background recorder: never waits; failures to record are logged, never
    /// fatal.
    pub fn event<K: Resource<DynamicType = ()>>(&self, obj: &K, type_: EventType, reason: &'static str, note: String) {
        self.recorder.record(obj.object_ref(&()), type_, reason, note);
    }

    /// The next retry delay for `key` after one more failure: `min_backoff · 2^(n-1)`, capped, with jitter.
    pub fn backoff(&self, key: &str) -> Duration {
        let n = {
            let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
            let n = failures.entry(key.to_string()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        };
        let exp = 2u32.saturating_pow(n.saturating_sub(1).min(16));
        let base = self.config.min_backoff.saturating_mul(exp).min(self.config.max_backoff);
        external_secrets_core::refresh::jittered(base, 0.2, rand::random::<f64>())
    }

    /// Forgets the failures of `key` (it succeeded).
    pub fn reset_backoff(&self, key: &str) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }

    /// Whether `rv` of the target Secret `namespace/name` is known to match its data-hash annotation.
    pub fn is_verified(&self, namespace: &str, name: &str, rv: &str) -> bool {
        self.verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(namespace.to_string(), name.to_string()))
            .is_some_and(|v| v == rv)
    }

    /// Remembers that `rv` of `namespace/name` matches its data-hash annotation.
    pub fn set_verified(&self, namespace: &str, name: &str, rv: Option<String>) {
        let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        match rv {
            Some(rv) => verified.insert((namespace.to_string(), name.to_string()), rv),
            None => verified.remove(&(namespace.to_string(), name.to_string())),
        };
    }

    /// The status of `es` as of our last write: the cached one, unless our last successful sync is newer than it
    /// (compared to the second, the precision the API keeps of `refreshTime`).
    pub fn latest_status(&self, es: &ExternalSecret) -> ExternalSecretStatus {
        let cached = es.status.clone().unwrap_or_default();
        let Some(uid) = es.uid() else { return cached };
        let refreshed = |s: &ExternalSecretStatus| s.refresh_time.as_ref().map(|t| t.0.as_second());
        let mut synced = self.synced_status.lock().unwrap_or_else(|p| p.into_inner());
        match synced.get(&uid) {
            Some(ours) if refreshed(ours) > refreshed(&cached) => ours.clone(),
            Some(_) => {
                // The cache shows our write now: the copy is no longer needed.
                synced.remove(&uid);
                cached
            }
            None => cached,
        }
    }

    /// Drops the last synced statuses that the watch cache has caught up with (or whose ExternalSecret is gone):
    /// they are needed only for the moment between our status write and its watch event, and would otherwise
    /// stay in memory until the object's next reconcile.
    pub fn prune_synced_statuses(&self) {
        use std::collections::HashSet;
        let refreshed = |s: &ExternalSecretStatus| s.refresh_time.as_ref().map(|t| t.0.as_second());
        let behind: HashSet<String> = {
            let synced = self.synced_status.lock().unwrap_or_else(|p| p.into_inner());
            if synced.is_empty() {
                return;
            }
            self.external_secrets
                .state()
                .iter()
                .filter_map(|es| {
                    let uid = es.uid()?;
                    let ours = synced.get(&uid)?;
                    let cached = es.status.as_ref().and_then(&refreshed);
                    (refreshed(ours) > cached).then_some(uid)
                })
                .collect()
        };
        self.synced_status.lock().unwrap_or_else(|p| p.into_inner()).retain(|uid, _| behind.contains(uid));
    }

    /// Forgets everything kept per ExternalSecret (backoff, last status, recorded events, metric series, the
    /// verified version of its target) once it is deleted, so that an operator running for months does not grow
    /// with churn.
    pub fn forget_external_secret(&self, es: &ExternalSecret, target: &str) {
        let namespace = es.namespace().unwrap_or_default();
        let name = es.name_any();
        self.reset_backoff(&object_key(es));
        if let Some(uid) = es.uid() {
            self.set_synced_status(&uid, None);
            self.recorder.forget(&uid);
        }
        self.metrics.forget_object(&name, &namespace);
        self.set_verified(&namespace, target, None);
    }

    /// Drops the store clients (with their credentials and cached reads) of stores that no longer exist, and the
    /// backoff of deleted stores. Deleted stores are not reconciled, so this runs periodically.
    pub fn prune_deleted_stores(&self) {
        use kube::runtime::reflector::ObjectRef;
        let exists = |kind: external_secrets_provider::StoreKind, namespace: Option<&str>, name: &str| match kind {
            external_secrets_provider::StoreKind::SecretStore => {
                self.secret_stores.get(&ObjectRef::new(name).within(namespace.unwrap_or_default())).is_some()
            }
            external_secrets_provider::StoreKind::ClusterSecretStore => {
                self.cluster_stores.get(&ObjectRef::new(name)).is_some()
            }
        };
        self.clients.retain(|key| exists(key.kind, key.namespace.as_deref(), &key.name));
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.retain(|key, _| {
            let mut parts = key.splitn(3, '/');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("SecretStore"), Some(ns), Some(name)) => {
                    exists(external_secrets_provider::StoreKind::SecretStore, Some(ns), name)
                }
                (Some("ClusterSecretStore"), _, Some(name)) => {
                    exists(external_secrets_provider::StoreKind::ClusterSecretStore, None, name)
                }
                _ => true,
            }
        });
    }

    /// How many entries the per-object side tables hold now (backoff counters, verified target versions, last
    /// synced statuses): what must return to its baseline when objects are deleted.
    pub fn per_object_entries(&self) -> usize {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner()).len();
        let verified = self.verified.lock().unwrap_or_else(|p| p.into_inner()).len();
        let synced = self.synced_status.lock().unwrap_or_else(|p| p.into_inner()).len();
        failures + verified + synced
    }

    /// Remembers (`Some`) or forgets (`None`) the status the last successful sync of ExternalSecret `uid` wrote.
    pub fn set_synced_status(&self, uid: &str, status: Option<ExternalSecretStatus>) {
        let mut synced = self.synced_status.lock().unwrap_or_else(|p| p.into_inner());
        match status {
            Some(status) => synced.insert(uid.to_string(), status),
            None => synced.remove(uid),
        };
    }
}

/// The backoff key of an object.
pub fn object_key<K: Resource<DynamicType = ()>>(obj: &K) -> String {
    format!("{}/{}/{}", K::kind(&()), obj.namespace().unwrap_or_default(), obj.name_any())
}
