//! Store clients, built once per store generation (and referent namespace) and shared by every reconcile that
//! uses the store (with reads de-duplicated across them, see `SharedClient`) — ESO builds a client, and with it logs in or assumes a role, on every reconcile.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use external_secrets_provider::{ProviderError, ProviderRegistry, SharedClient, StoreContext, StoreKind};
use tokio::sync::OnceCell;

/// Identifies one client: a store at one generation, used from one referent namespace.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientKey {
    pub kind: StoreKind,
    pub namespace: Option<String>,
    pub name: String,
    pub uid: String,
    pub generation: i64,
    pub referent_namespace: Option<String>,
}

type Slot = Arc<OnceCell<SharedClient>>;

/// The cache. Concurrent reconciles that need the same client wait for one build.
#[derive(Default)]
pub struct ClientCache {
    slots: Mutex<HashMap<ClientKey, Slot>>,
    built: std::sync::atomic::AtomicU64,
}

impl ClientCache {
    /// The client for `key`, built with `registry` from `ctx` on first use.
    pub async fn get(
        &self,
        key: ClientKey,
        registry: &ProviderRegistry,
        ctx: StoreContext,
    ) -> Result<SharedClient, ProviderError> {
        let slot = {
            let mut slots = self.slots.lock().map_err(|_| ProviderError::Internal("client cache poisoned".into()))?;
            // A new generation of a store replaces the clients of older ones.
            slots.retain(|k, _| {
                !(k.kind == key.kind && k.namespace == key.namespace && k.name == key.name)
                    || (k.uid == key.uid && k.generation == key.generation)
            });
            slots.entry(key.clone()).or_default().clone()
        };
        let client = slot
            .get_or_try_init(|| async {
                let client = registry.client(&ctx).await?;
                self.built.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Ok::<_, ProviderError>(SharedClient::new(client))
            })
            .await?;
        Ok(client.clone())
    }

    /// Drops the cached client for `key` (after an authentication failure, so the next use logs in again).
    pub fn evict(&self, key: &ClientKey) {
        if let Ok(mut slots) = self.slots.lock() {
            slots.remove(key);
        }
    }

    /// Keeps only the clients whose key satisfies `keep`.
    pub fn retain(&self, mut keep: impl FnMut(&ClientKey) -> bool) {
        if let Ok(mut slots) = self.slots.lock() {
            slots.retain(|k, _| keep(k));
        }
    }

    /// How many clients are cached now.
    pub fn len(&self) -> usize {
        self.slots.lock().map(|s| s.len()).unwrap_or(0)
    }

    /// Whether no client is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many clients were built since start.
    pub fn built(&self) -> u64 {
        self.built.load(std::sync::atomic::Ordering::Relaxed)
    }
}
