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
use external_secrets_core::push_secret::{STORE_FINALIZER, needs_store};
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

/// Server-side applies `status` to the status subresource of `obj` (through `api`) as [`STATUS_MANAGER`], and
/// counts the write.
pub(crate) async fn apply_status<K>(
    ctx: &Context,
    api: &Api<K>,
    obj: &K,
    status: &impl serde::Serialize,
) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(&obj.name_any(), &PatchParams::apply(STATUS_MANAGER).force(), &Patch::Apply(&patch)).await?;
    Stats::inc(&ctx.stats.status_writes);
    Ok(())
}

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

/// How often a store being deleted looks again whether the PushSecrets that hold it have cleaned up.
const DELETION_RECHECK: Duration = Duration::from_secs(5);

/// The API's name for the kind of store a provider-side [`StoreKind`] is.
pub(crate) fn api_kind(kind: StoreKind) -> SecretStoreKind {
    match kind {
        StoreKind::SecretStore => SecretStoreKind::SecretStore,
        StoreKind::ClusterSecretStore => SecretStoreKind::ClusterSecretStore,
    }
}

/// ESO's store finalizer (`handleFinalizer`): on the store while a PushSecret with `deletionPolicy: Delete` needs
/// it, off when none does. A store being deleted is only waited on (`Some`: the reconcile ends here) until the
/// PushSecrets that need it have cleaned up. Nothing is decided before the PushSecret watch has listed.
async fn push_finalizer<S: StoreObject>(store: &S, ctx: &Context) -> Result<Option<Action>, ReconcileError> {
    let deleting = store.meta().deletion_timestamp.is_some();
    let has = store.finalizers().iter().any(|f| f == STORE_FINALIZER);
    // Not waited for: a store reconcile must not stall on the PushSecret watch (it may lack its CRD or RBAC).
    let listed =
        tokio::time::timeout(Duration::ZERO, ctx.push_secrets.wait_until_ready()).await.is_ok_and(|r| r.is_ok());
    if !listed {
        return Ok(deleting.then(|| Action::requeue(DELETION_RECHECK)));
    }
    let (name, namespace) = (store.name_any(), store.namespace());
    let needed = ctx
        .push_secrets
        .state()
        .iter()
        .any(|ps| needs_store(ps, api_kind(S::KIND), namespace.as_deref(), &name, store.labels()));
    let wanted = needed && !deleting;
    if deleting && needed {
        return Ok(Some(Action::requeue(DELETION_RECHECK)));
    }
    if wanted != has {
        let finalizers: Vec<String> = if wanted {
            store.finalizers().iter().cloned().chain([STORE_FINALIZER.to_string()]).collect()
        } else {
            store.finalizers().iter().filter(|f| *f != STORE_FINALIZER).cloned().collect()
        };
        set_store_finalizers(store, ctx, finalizers).await?;
    }
    Ok(deleting.then(Action::await_change))
}

async fn set_store_finalizers<S: StoreObject>(
    store: &S,
    ctx: &Context,
    finalizers: Vec<String>,
) -> Result<(), ReconcileError> {
    let api = S::api(ctx.client.clone(), store.namespace().as_deref());
    let patch = json!({"metadata": {"resourceVersion": store.resource_version(), "finalizers": finalizers}});
    match api.patch(&store.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Puts ESO's store finalizer on a store a `deletionPolicy: Delete` PushSecret is about to push to, if it lacks it
/// (the store controller would add it at its next reconcile; the push should not wait for that).
pub async fn ensure_push_finalizer(ctx: &Context, resolved: &ResolvedStore) -> Result<(), ReconcileError> {
    match resolved.kind {
        StoreKind::SecretStore => {
            let key = ObjectRef::new(&resolved.name).within(resolved.namespace.as_deref().unwrap_or_default());
            match ctx.secret_stores.get(&key) {
                Some(store) if !store.finalizers().iter().any(|f| f == STORE_FINALIZER) => {
                    let finalizers = store.finalizers().iter().cloned().chain([STORE_FINALIZER.to_string()]).collect();
                    set_store_finalizers(store.as_ref(), ctx, finalizers).await
                }
                _ => Ok(()),
            }
        }
        StoreKind::ClusterSecretStore => match ctx.cluster_stores.get(&ObjectRef::new(&resolved.name)) {
            Some(store) if !store.finalizers().iter().any(|f| f == STORE_FINALIZER) => {
                let finalizers = store.finalizers().iter().cloned().chain([STORE_FINALIZER.to_string()]).collect();
                set_store_finalizers(store.as_ref(), ctx, finalizers).await
            }
            _ => Ok(()),
        },
    }
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
    if ctx.config.enable_push_secret_reconciler
        && let Some(action) = push_finalizer(store.as_ref(), &ctx).await?
    {
        return Ok(action);
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
        apply_status(&ctx, &api, store.as_ref(), &new_status).await?;
        let event_type = if status == "False" { EventType::Warning } else { EventType::Normal };
        ctx.event(store.as_ref(), event_type, reason, message.clone());
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
