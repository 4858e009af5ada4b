//! SecretStore / ClusterSecretStore: resolving a store for an ExternalSecret, and the store controller that
//! validates a store and reports `Ready` (`Valid`, `InvalidProviderConfig`, `ValidationUnknown`) and its
//! capabilities.

use std::sync::Arc;
use std::time::Duration;

use external_secrets_api::{
    ClusterSecretStore, SecretStore, SecretStoreKind, SecretStoreSpec, SecretStoreStatus, SecretStoreStatusCondition,
    reason,
};
use external_secrets_core::pipeline::StoreId;
use external_secrets_provider::{SharedClient, StoreContext, StoreKind, StoreScope, Validation};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use serde_json::json;

use crate::clients::ClientKey;
use crate::context::{Context, Stats, object_key};
use crate::error::ReconcileError;
use crate::events::EventType;
use crate::metrics::Metrics;

/// The field manager of status writes.
pub const STATUS_MANAGER: &str = "external-secrets";

/// What the two store kinds have in common.
pub trait StoreObject:
    Resource<DynamicType = ()>
    + Clone
    + std::fmt::Debug
    + serde::Serialize
    + serde::de::DeserializeOwned
    + Send
    + Sync
    + 'static
{
    const KIND: StoreKind;
    /// The API for this store's kind (namespaced for a SecretStore).
    fn api(client: kube::Client, namespace: Option<&str>) -> Api<Self>;
    fn spec(&self) -> &SecretStoreSpec;
    fn status(&self) -> Option<&SecretStoreStatus>;
}

impl StoreObject for SecretStore {
    const KIND: StoreKind = StoreKind::SecretStore;
    fn api(client: kube::Client, namespace: Option<&str>) -> Api<Self> {
        Api::namespaced(client, namespace.unwrap_or_default())
    }
    fn spec(&self) -> &SecretStoreSpec {
        &self.spec
    }
    fn status(&self) -> Option<&SecretStoreStatus> {
        self.status.as_ref()
    }
}

impl StoreObject for ClusterSecretStore {
    const KIND: StoreKind = StoreKind::ClusterSecretStore;
    fn api(client: kube::Client, _namespace: Option<&str>) -> Api<Self> {
        Api::all(client)
    }
    fn spec(&self) -> &SecretStoreSpec {
        &self.spec
    }
    fn status(&self) -> Option<&SecretStoreStatus> {
        self.status.as_ref()
    }
}

/// A store as an ExternalSecret uses it.
#[derive(Clone, Debug)]
pub struct ResolvedStore {
    pub kind: StoreKind,
    pub name: String,
    pub namespace: Option<String>,
    pub uid: String,
    pub generation: i64,
    pub spec: SecretStoreSpec,
}

/// Whether a store's `spec.controller` selects this controller.
pub fn class_matches(spec: &SecretStoreSpec, class: &str) -> bool {
    spec.controller.as_deref().is_none_or(|c| c.is_empty() || c == class)
}

fn is_ready(status: Option<&SecretStoreStatus>) -> bool {
    status.and_then(|s| s.condition("Ready")).is_some_and(|c| c.status == "True")
}

/// How long a reconcile that misses a store waits for the store watch's first list (at start-up the
/// ExternalSecrets' watch may deliver before the stores' has listed).
const STORE_CACHE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether the store cache has been filled by its watch's first list (waiting for it, bounded): only then does a
/// miss mean "not found" rather than "not listed yet". Without this, a cold start reported every ExternalSecret
/// listed before its store as `SecretStore "x" not found` and backed it off.
async fn synced<K>(cache: &kube::runtime::reflector::Store<K>) -> bool
where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    tokio::time::timeout(STORE_CACHE_WAIT, cache.wait_until_ready()).await.is_ok_and(|r| r.is_ok())
}

/// Finds the store `id` for an ExternalSecret in `namespace`, enforcing ClusterSecretStore conditions and the
/// flood gate. `Ok(None)` means the store belongs to another controller class: leave the object alone.
pub async fn resolve(ctx: &Context, namespace: &str, id: &StoreId) -> Result<Option<ResolvedStore>, ReconcileError> {
    resolve_gated(ctx, namespace, id, ctx.config.enable_flood_gate).await
}

/// [`resolve`], with the flood gate only when `flood_gate` is set: ESO's PushSecret path uses a store whatever
/// its `Ready` condition says.
pub async fn resolve_gated(
    ctx: &Context,
    namespace: &str,
    id: &StoreId,
    flood_gate: bool,
) -> Result<Option<ResolvedStore>, ReconcileError> {
    let (meta, spec, status, kind) = match id.kind {
        SecretStoreKind::SecretStore => {
            let key = ObjectRef::new(&id.name).within(namespace);
            let store = match ctx.secret_stores.get(&key) {
                Some(store) => Some(store),
                None => synced(&ctx.secret_stores).await.then(|| ctx.secret_stores.get(&key)).flatten(),
            }
            .ok_or_else(|| ReconcileError::Store(format!("SecretStore {:?} not found", id.name)))?;
            (store.meta().clone(), store.spec.clone(), store.status.clone(), StoreKind::SecretStore)
        }
        SecretStoreKind::ClusterSecretStore => {
            if !ctx.config.enable_cluster_store_reconciler {
                return Err(ReconcileError::Store(
                    "ClusterSecretStores are disabled in this controller (--enable-cluster-store-reconciler=false)"
                        .to_string(),
                ));
            }
            let key = ObjectRef::new(&id.name);
            let store = match ctx.cluster_stores.get(&key) {
                Some(store) => Some(store),
                None => synced(&ctx.cluster_stores).await.then(|| ctx.cluster_stores.get(&key)).flatten(),
            }
            .ok_or_else(|| ReconcileError::Store(format!("ClusterSecretStore {:?} not found", id.name)))?;
            (store.meta().clone(), store.spec.clone(), store.status.clone(), StoreKind::ClusterSecretStore)
        }
    };
    if !class_matches(&spec, &ctx.config.controller_class) {
        return Ok(None);
    }
    if kind == StoreKind::ClusterSecretStore && !namespace_allowed(ctx, &spec, namespace).await? {
        return Err(ReconcileError::Store(format!(
            "using cluster store {:?} is not allowed from namespace {namespace:?}: denied by spec.condition",
            id.name
        )));
    }
    if flood_gate && !is_ready(status.as_ref()) {
        return Err(ReconcileError::Store(format!("{kind} {:?} is not ready", id.name)));
    }
    Ok(Some(ResolvedStore {
        kind,
        name: id.name.clone(),
        namespace: meta.namespace.clone(),
        uid: meta.uid.clone().unwrap_or_default(),
        generation: meta.generation.unwrap_or_default(),
        spec,
    }))
}

/// ClusterSecretStore `spec.conditions`: no condition allows every namespace; otherwise any condition may match,
/// through its namespace list, an unanchored regexp, or a label selector on the Namespace.
async fn namespace_allowed(ctx: &Context, spec: &SecretStoreSpec, namespace: &str) -> Result<bool, ReconcileError> {
    if spec.conditions.is_empty() {
        return Ok(true);
    }
    for condition in &spec.conditions {
        if condition.namespaces.iter().any(|n| n == namespace) {
            return Ok(true);
        }
        for pattern in &condition.namespace_regexes {
            let re = regex::Regex::new(pattern).map_err(|e| {
                ReconcileError::Store(format!("invalid spec.conditions namespaceRegexes {pattern:?}: {e}"))
            })?;
            if re.is_match(namespace) {
                return Ok(true);
            }
        }
        if let Some(selector) = &condition.namespace_selector {
            let ns = Api::<Namespace>::all(ctx.client.clone()).get_metadata(namespace).await?;
            let labels = ns.metadata.labels.unwrap_or_default();
            if crate::selector::matches(selector, &labels) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// The (cached) client of a resolved store, for an ExternalSecret in `referent_namespace`.
pub async fn client_for(
    ctx: &Context,
    store: &ResolvedStore,
    referent_namespace: Option<&str>,
) -> Result<(ClientKey, SharedClient), ReconcileError> {
    let referent_namespace =
        if store.kind == StoreKind::ClusterSecretStore { referent_namespace.map(str::to_string) } else { None };
    let key = ClientKey {
        kind: store.kind,
        namespace: store.namespace.clone(),
        name: store.name.clone(),
        uid: store.uid.clone(),
        generation: store.generation,
        referent_namespace: referent_namespace.clone(),
    };
    let scope = StoreScope {
        kind: store.kind,
        name: store.name.clone(),
        namespace: store.namespace.clone(),
        referent_namespace,
    };
    let store_ctx = StoreContext::new(ctx.client.clone(), scope, store.spec.clone());
    let client = ctx.clients.get(key.clone(), &ctx.registry, store_ctx).await?;
    Ok((key, client))
}

fn requeue_interval<S: StoreObject>(store: &S, ctx: &Context) -> Duration {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let from_spec = match &store.spec().refresh_interval {
        Some(IntOrString::Int(secs)) if *secs > 0 => Some(Duration::from_secs(u64::try_from(*secs).unwrap_or(0))),
        Some(IntOrString::String(s)) => s
            .parse::<u64>()
            .ok()
            .map(Duration::from_secs)
            .or_else(|| external_secrets_core::duration::parse_go_duration(s).ok().and_then(|d| d.to_std()))
            .filter(|d| !d.is_zero()),
        _ => None,
    };
    from_spec.unwrap_or(ctx.config.store_requeue_interval)
}

/// Reconciles one store: validate it, then write `status` (only if it changed) and record events on
/// transitions — not on every periodic validation as ESO does.
/// [`reconcile`], with a panic turned into [`ReconcileError::Panicked`] (retried with backoff) instead of taking
/// the store controller down.
pub async fn reconcile_isolated<S: StoreObject>(store: Arc<S>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    crate::externalsecret::isolated(reconcile(store, ctx)).await.unwrap_or(Err(ReconcileError::Panicked))
}

pub async fn reconcile<S: StoreObject>(store: Arc<S>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    if !class_matches(store.spec(), &ctx.config.controller_class) {
        return Ok(Action::await_change());
    }
    let resolved = ResolvedStore {
        kind: S::KIND,
        name: store.name_any(),
        namespace: store.namespace(),
        uid: store.uid().unwrap_or_default(),
        generation: store.meta().generation.unwrap_or_default(),
        spec: store.spec().clone(),
    };
    let capabilities = ctx.registry.for_spec(store.spec()).ok().map(|p| p.capabilities().as_str().to_string());
    let outcome = async {
        let provider = ctx.registry.for_spec(store.spec())?;
        provider.validate_spec(store.spec(), S::KIND)?;
        let (key, client) = client_for(&ctx, &resolved, None).await?;
        match client.inner().validate().await {
            Ok(v) => Ok(v),
            Err(e) => {
                ctx.clients.evict(&key);
                Err(ReconcileError::Provider(e))
            }
        }
    }
    .await;

    let (status, reason, message, retry) = match &outcome {
        Ok(Validation::Ready) => ("True", reason::STORE_VALID, "store validated".to_string(), None),
        Ok(Validation::Unknown) => {
            ("True", reason::VALIDATION_UNKNOWN, "could not determine validation status".to_string(), None)
        }
        Err(e) => {
            // The provider's own words: "could not get secret data from provider" is what an ExternalSecret says.
            let detail = match e {
                ReconcileError::Provider(provider_error) => provider_error.to_string(),
                other => other.to_string(),
            };
            ("False", reason::INVALID_PROVIDER_CONFIG, format!("unable to validate store: {detail}"), Some(e))
        }
    };
    let previous = store.status().and_then(|s| s.condition("Ready")).cloned();
    let changed = previous.as_ref().is_none_or(|c| {
        c.status != status || c.reason.as_deref() != Some(reason) || c.message.as_deref() != Some(message.as_str())
    });
    let capabilities_changed = store.status().and_then(|s| s.capabilities.clone()) != capabilities;
    if changed || capabilities_changed {
        let transition = match &previous {
            Some(c) if c.status == status => c.last_transition_time.clone(),
            _ => Some(Time(jiff::Timestamp::now())),
        };
        let new_status = SecretStoreStatus {
            conditions: vec![SecretStoreStatusCondition {
                type_: "Ready".to_string(),
                status: status.to_string(),
                reason: Some(reason.to_string()),
                message: Some(message.clone()),
                last_transition_time: transition,
            }],
            capabilities: capabilities.clone(),
        };
        let api = S::api(ctx.client.clone(), store.namespace().as_deref());
        let patch = json!({
            "apiVersion": S::api_version(&()),
            "kind": S::kind(&()),
            "status": new_status,
        });
        api.patch_status(&store.name_any(), &PatchParams::apply(STATUS_MANAGER).force(), &Patch::Apply(&patch)).await?;
        Stats::inc(&ctx.stats.status_writes);
        let event_type = if status == "False" { EventType::Warning } else { EventType::Normal };
        ctx.event(store.as_ref(), event_type, reason, message.clone()).await;
    }
    let family = match S::KIND {
        StoreKind::SecretStore => &ctx.metrics.ss_condition,
        StoreKind::ClusterSecretStore => &ctx.metrics.css_condition,
    };
    Metrics::set_condition(family, &store.name_any(), &store.namespace().unwrap_or_default(), status);

    let key = object_key(store.as_ref());
    let interval = requeue_interval(store.as_ref(), &ctx);
    match retry {
        None => {
            ctx.reset_backoff(&key);
            Ok(Action::requeue(external_secrets_core::refresh::jittered(interval, 0.1, rand::random::<f64>())))
        }
        Some(e) if e.is_retryable() => Ok(Action::requeue(ctx.backoff(&key).min(interval))),
        Some(_) => Ok(Action::await_change()),
    }
}
