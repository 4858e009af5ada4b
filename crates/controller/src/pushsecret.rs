//! The PushSecret controller (ESO 2.9's `pkg/controllers/pushsecret`): pushes keys of a Secret to one or more
//! stores, and — under `deletionPolicy: Delete` — deletes from the stores what it pushed and no longer pushes.
//! The decisions (status keys, conversion, refresh, what to delete) are pure functions in `core::push_secret`.
//!
//! - Look up: the source Secret(s) (`selector.secret.name`, or `selector.secret.selector` by label) from the API,
//!   the stores from the store watches (`secretStoreRefs` by name, or by label), without the flood gate (as ESO).
//! - Decide: ESO's refresh rule, and — unlike ESO, which waits for `refreshInterval` — a change of the source
//!   Secret pushes at once: Secrets are watched (metadata only, nothing cached) and mapped to the PushSecrets that
//!   select them.
//! - Push: per source, store and `data[]` entry: keys converted (`conversionStrategy`), `updatePolicy:
//!   IfNotExists` asks the store first, then the store client's `push_secret`.
//! - Delete: only after every push succeeded, only under `deletionPolicy: Delete`, and only entries recorded in
//!   `status.syncedPushSecrets` (what we pushed): those the spec dropped, everything when the PushSecret is
//!   deleted (finalizer `pushsecret.externalsecrets.io/finalizer`) or its named source Secret is gone. A failed
//!   push deletes nothing; a failed delete keeps the entry in the status, so it is retried.
//! - Record: `Ready` (`Synced`, `Errored`, `SourceDeleted`) with ESO's messages, `refreshTime`,
//!   `syncedResourceVersion`, `syncedPushSecrets`; events `Synced`, `Errored`, `SourceDeleted`. Values never
//!   appear in any of them: messages name keys and stores only.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use external_secrets_api::SecretStoreKind;
use external_secrets_api::v1alpha1::{
    PushSecret, PushSecretDeletionPolicy, PushSecretStatus, PushSecretStatusCondition, PushSecretUpdatePolicy,
    push_reason,
};
use external_secrets_core::hash::synced_resource_version;
use external_secrets_core::pipeline::StoreId;
use external_secrets_core::push_secret::{
    FINALIZER, IF_NOT_EXISTS_SUFFIX, PushRefreshInput, SOURCE_DELETED_MESSAGE, SOURCE_MISSING_MESSAGE, SYNCED_MESSAGE,
    SyncedPushSecrets, check_spec, convert_keys, decide, entry_source_key, merge_state, parse_store_key, removals,
    status_ref, store_key, without,
};
use external_secrets_core::refresh::{REQUEUE_JITTER_FRACTION, jittered, refresh_interval_from_spec};
use external_secrets_core::target::{TemplateSources, push_template_data, template_from_names};
use external_secrets_provider::{PushSource, SecretBytes, SharedClient};
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use serde_json::json;
use tracing::{info, instrument, warn};

use crate::context::{Context, Stats, object_key};
use crate::events::EventType;
use crate::externalsecret::isolated;
use crate::metrics::ObjectLabels;
use crate::store::{self, ResolvedStore};
use crate::workqueue::{self, ControllerMetrics};

/// controller-runtime's name of this controller (the `controller` label of its series).
pub const CONTROLLER: &str = "pushsecret";

/// A sync that failed: the `Ready=False` message (keys and stores, never values) and whether to retry with
/// backoff (provider and API failures) or wait for a change (configuration errors).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct PushError {
    message: String,
    retryable: bool,
    /// What the status must list afterwards (`None`: leave it as it is).
    synced: Option<SyncedPushSecrets>,
}

impl PushError {
    fn config(message: impl Into<String>) -> Self {
        Self { message: message.into(), retryable: false, synced: None }
    }
    fn retry(message: impl Into<String>) -> Self {
        Self { message: message.into(), retryable: true, synced: None }
    }
    fn with_synced(mut self, synced: SyncedPushSecrets) -> Self {
        self.synced = Some(synced);
        self
    }
}

/// A failed finalizer patch or a panic (retried with backoff by [`error_policy`]).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FinalizerError(String);

/// What the PushSecret reconciles share.
pub struct PsContext {
    pub ctx: Arc<Context>,
    pub push_secrets: Store<PushSecret>,
    /// PushSecret uid → the source Secrets' names and resourceVersions as of the last successful push.
    pushed_sources: Mutex<HashMap<String, String>>,
    /// PushSecret uid → the status we last wrote, for reconciles that start before the watch shows it.
    written_status: Mutex<HashMap<String, PushSecretStatus>>,
}

impl PsContext {
    /// The status of `ps` as of our last write (the cached one unless ours has a later `refreshTime`).
    fn latest_status(&self, ps: &PushSecret) -> PushSecretStatus {
        let cached = ps.status.clone().unwrap_or_default();
        let Some(uid) = ps.uid() else { return cached };
        let refreshed = |s: &PushSecretStatus| s.refresh_time.as_ref().map(|t| t.0.as_second());
        let written = self.written_status.lock().unwrap_or_else(|p| p.into_inner());
        match written.get(&uid) {
            Some(ours) if refreshed(ours) > refreshed(&cached) => ours.clone(),
            _ => cached,
        }
    }

    fn forget(&self, ps: &PushSecret) {
        self.ctx.metrics.forget_push_secret(&ps.name_any(), &ps.namespace().unwrap_or_default());
        if let Some(uid) = ps.uid() {
            self.pushed_sources.lock().unwrap_or_else(|p| p.into_inner()).remove(&uid);
            self.written_status.lock().unwrap_or_else(|p| p.into_inner()).remove(&uid);
            self.ctx.recorder.forget(&uid);
        }
        self.ctx.reset_backoff(&object_key(ps));
    }
}

/// The parts of the controller [`crate::run`] runs.
pub struct Parts {
    /// Watches and reconciles until shutdown.
    pub run: futures::future::BoxFuture<'static, ()>,
    /// Resolves (`true`) once the PushSecret watch has listed everything.
    pub ready: futures::future::BoxFuture<'static, bool>,
}

/// Builds the controller: its watch of PushSecrets (in `namespace`, or all) and a metadata-only watch of Secrets
/// whose events are mapped to the PushSecrets they are the source of (nothing of the Secrets is kept). The
/// PushSecret watch's events also go to `owner_triggers` (the ClusterPushSecret controller's).
pub fn controller(
    ctx: Arc<Context>,
    namespace: Option<String>,
    (ps_reader, ps_writer): (Store<PushSecret>, reflector::store::Writer<PushSecret>),
    owner_triggers: Option<crate::clusterpushsecret::OwnerTriggers>,
    config: ControllerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> Parts {
    let client = ctx.client.clone();
    let secret_api: Api<PartialObjectMeta<Secret>> = crate::namespaced_or_all(client.clone(), namespace.as_deref());
    let ps_stream = push_secret_watch(client, namespace.as_deref(), ps_writer, owner_triggers)
        .applied_objects()
        .predicate_filter(crate::spec_change_predicate, Default::default());
    let secret_stream = watcher(secret_api, watcher::Config::default()).default_backoff().touched_objects();

    let queue = ControllerMetrics::new(CONTROLLER, ctx.metrics.clone(), ctx.config.concurrent);
    let cx = Arc::new(PsContext {
        ctx,
        push_secrets: ps_reader.clone(),
        pushed_sources: Mutex::default(),
        written_status: Mutex::default(),
    });
    let (q_self, q_secret, q_run) = (queue.clone(), queue.clone(), queue);
    let ps_stream = ps_stream.inspect(move |ps| {
        if let Ok(ps) = ps {
            q_self.queued(workqueue::key(ps.namespace().as_deref(), &ps.name_any()));
        }
    });
    let mapper = cx.clone();
    let run = Controller::for_stream(ps_stream, ps_reader.clone())
        .with_config(config)
        .watches_stream(secret_stream, move |secret: PartialObjectMeta<Secret>| {
            let refs = sourced_from(&mapper, &secret);
            for r in &refs {
                q_secret.queued(workqueue::key(r.namespace.as_deref(), &r.name));
            }
            refs
        })
        .graceful_shutdown_on(shutdown)
        .run(
            move |ps, cx: Arc<PsContext>| {
                let queue = q_run.clone();
                async move {
                    let key = workqueue::key(ps.namespace().as_deref(), &ps.name_any());
                    queue.reconcile(key, reconcile(ps, cx), || false).await
                }
            },
            error_policy,
            cx,
        )
        .for_each(|res| async move {
            if let Err(e) = res {
                warn!(error = %e, "PushSecret controller error");
            }
        })
        .boxed();
    let ready = async move { ps_reader.wait_until_ready().await.is_ok() }.boxed();
    Parts { run, ready }
}

/// The watch of PushSecrets (in `namespace`, or all) that fills the shared cache (`Context::push_secrets`), with
/// its events passed to `owner_triggers`. Run by the PushSecret controller, or on its own when only the
/// ClusterPushSecret controller needs the cache.
pub fn push_secret_watch(
    client: kube::Client,
    namespace: Option<&str>,
    ps_writer: reflector::store::Writer<PushSecret>,
    mut owner_triggers: Option<crate::clusterpushsecret::OwnerTriggers>,
) -> impl futures::Stream<Item = Result<watcher::Event<PushSecret>, watcher::Error>> + Send + 'static {
    let ps_api: Api<PushSecret> = crate::namespaced_or_all(client, namespace);
    watcher(ps_api, watcher::Config::default())
        .default_backoff()
        .modify(|ps| ps.metadata.managed_fields = None)
        .reflect(ps_writer)
        .inspect(move |event| {
            if let Some(triggers) = owner_triggers.as_mut() {
                triggers.observe(event);
            }
        })
}

/// The PushSecrets whose source `secret` is (by name or by label, in its namespace), or was at their last push
/// (a Secret whose labels stop matching is a change of the source too).
fn sourced_from(cx: &PsContext, secret: &PartialObjectMeta<Secret>) -> Vec<ObjectRef<PushSecret>> {
    let Some(namespace) = secret.namespace() else { return Vec::new() };
    let name = secret.name_any();
    // Locked once per event, not once per PushSecret; only read while this event is mapped.
    let pushed = cx.pushed_sources.lock().unwrap_or_else(|p| p.into_inner());
    let was_source = |ps: &PushSecret| {
        ps.metadata.uid.as_ref().and_then(|uid| pushed.get(uid)).is_some_and(|fingerprint| {
            fingerprint.split(',').any(|entry| entry.rsplit_once('@').is_some_and(|(n, _)| n == name))
        })
    };
    cx.push_secrets
        .state()
        .iter()
        .filter(|ps| ps.namespace().as_deref() == Some(namespace.as_str()))
        .filter(|ps| {
            let Some(source) = &ps.spec.selector.secret else { return false };
            match (source.name.as_deref().filter(|n| !n.is_empty()), &source.selector) {
                (Some(wanted), _) => wanted == name,
                (None, Some(selector)) => crate::selector::matches(selector, secret.labels()) || was_source(ps),
                (None, None) => false,
            }
        })
        .map(|ps| ObjectRef::from_obj(ps.as_ref()))
        .collect()
}

/// Retries what failed outside a sync (finalizer patches) with backoff.
pub fn error_policy(ps: Arc<PushSecret>, err: &FinalizerError, cx: Arc<PsContext>) -> Action {
    warn!(error = %err, "PushSecret finalizer handling failed");
    Action::requeue(cx.ctx.backoff(&object_key(ps.as_ref())))
}

/// The reconcile entry point: ESO's finalizer handling, then a sync (or, when deleted, the cleanup).
#[instrument(skip_all, fields(namespace = ps.namespace().unwrap_or_default(), name = ps.name_any()))]
pub async fn reconcile(ps: Arc<PushSecret>, cx: Arc<PsContext>) -> Result<Action, FinalizerError> {
    let Some(namespace) = ps.namespace() else { return Ok(Action::await_change()) };
    if handled_by_another_class(&cx, &ps, &namespace) {
        // Another controller (class) serves every store it names: no finalizer, no status from us.
        return Ok(Action::await_change());
    }
    let api: Api<PushSecret> = Api::namespaced(cx.ctx.client.clone(), &namespace);
    let started = std::time::Instant::now();
    let deleting = ps.meta().deletion_timestamp.is_some();
    let outcome = isolated(async {
        let has_finalizer = ps.finalizers().iter().any(|f| f == FINALIZER);
        let policy = ps.spec.deletion_policy;
        if ps.meta().deletion_timestamp.is_some() {
            if !has_finalizer {
                cx.forget(&ps);
                return Ok(Action::await_change());
            }
            if policy == PushSecretDeletionPolicy::Delete {
                let old = cx.latest_status(&ps).synced_push_secrets;
                if let Err(e) = delete_removed(&cx, &namespace, old, &SyncedPushSecrets::new()).await {
                    let message = format!("Failed to Delete Secrets from Provider: {}", e.message);
                    return Ok(failed(&cx, &ps, PushError { message, ..e }).await);
                }
            }
            set_finalizers(&api, &ps, ps.finalizers().iter().filter(|f| *f != FINALIZER).cloned().collect()).await?;
            cx.forget(&ps);
            return Ok(Action::await_change());
        }
        match (policy, has_finalizer) {
            (PushSecretDeletionPolicy::Delete, false) => {
                let mut finalizers = ps.finalizers().to_vec();
                finalizers.push(FINALIZER.to_string());
                set_finalizers(&api, &ps, finalizers).await?;
            }
            (PushSecretDeletionPolicy::None, true) => {
                set_finalizers(&api, &ps, ps.finalizers().iter().filter(|f| *f != FINALIZER).cloned().collect())
                    .await?;
            }
            _ => {}
        }
        let key = object_key(ps.as_ref());
        Ok(match sync(&cx, &ps, &namespace).await {
            Ok(action) => {
                cx.ctx.reset_backoff(&key);
                action
            }
            Err(e) => failed(&cx, &ps, e).await,
        })
    })
    .await;
    if !deleting {
        // ESO's `pushsecret_reconcile_duration`: the last reconcile's duration, in nanoseconds.
        let labels = ObjectLabels { name: ps.name_any(), namespace: namespace.clone() };
        let elapsed = i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX);
        cx.ctx.metrics.ps_reconcile_duration.get_or_create(&labels).set(elapsed);
    }
    match outcome {
        Ok(result) => result,
        Err(_) => Err(FinalizerError("internal error: the PushSecret reconcile panicked".to_string())),
    }
}

/// Whether every store the PushSecret names exists and selects another controller class (by label: never
/// judged here), so that the operator of that class alone handles it.
fn handled_by_another_class(cx: &PsContext, ps: &PushSecret, namespace: &str) -> bool {
    let refs = &ps.spec.secret_store_refs;
    !refs.is_empty()
        && refs.iter().all(|r| {
            let Some(name) = r.name.as_deref().filter(|n| !n.is_empty() && r.label_selector.is_none()) else {
                return false;
            };
            let spec = match r.kind {
                SecretStoreKind::SecretStore => {
                    cx.ctx.secret_stores.get(&ObjectRef::new(name).within(namespace)).map(|s| s.spec.clone())
                }
                SecretStoreKind::ClusterSecretStore => {
                    cx.ctx.cluster_stores.get(&ObjectRef::new(name)).map(|s| s.spec.clone())
                }
            };
            spec.is_some_and(|spec| !store::class_matches(&spec, &cx.ctx.config.controller_class))
        })
}

/// Records a failed sync (ESO's `markAsFailed`: `Ready=False`, reason `Errored`, a Warning event) and says when
/// to try again.
async fn failed(cx: &PsContext, ps: &PushSecret, e: PushError) -> Action {
    warn!(error = %e.message, "PushSecret sync failed");
    let mut status = cx.latest_status(ps);
    set_ready(&mut status, "False", push_reason::ERRORED, &e.message);
    if let Some(synced) = e.synced {
        status.synced_push_secrets = synced;
    }
    if let Err(write_err) = write_status(cx, ps, &status).await {
        warn!(error = %write_err, "could not write status");
    }
    cx.ctx.event(ps, EventType::Warning, push_reason::ERRORED, e.message);
    if e.retryable { Action::requeue(cx.ctx.backoff(&object_key(ps))) } else { Action::await_change() }
}

/// Sets the `Ready` condition, keeping its transition time when the status stays the same.
fn set_ready(status: &mut PushSecretStatus, value: &str, reason: &str, message: &str) {
    let previous = status.conditions.iter().find(|c| c.type_ == "Ready");
    let transition = match previous {
        Some(c) if c.status == value => c.last_transition_time.clone(),
        _ => Some(Time(jiff::Timestamp::now())),
    };
    status.conditions.retain(|c| c.type_ != "Ready");
    status.conditions.push(PushSecretStatusCondition {
        type_: "Ready".to_string(),
        status: value.to_string(),
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
        last_transition_time: transition,
    });
}

/// Writes the status (server-side apply on the status subresource), only when it changed.
async fn write_status(cx: &PsContext, ps: &PushSecret, status: &PushSecretStatus) -> Result<(), kube::Error> {
    if let Some(ready) = status.conditions.iter().find(|c| c.type_ == "Ready") {
        cx.ctx.metrics.set_ps_condition(&ps.name_any(), &ps.namespace().unwrap_or_default(), &ready.status);
    }
    if &cx.latest_status(ps) == status {
        return Ok(());
    }
    let api: Api<PushSecret> = Api::namespaced(cx.ctx.client.clone(), &ps.namespace().unwrap_or_default());
    match store::apply_status(&cx.ctx, &api, ps, status).await {
        Ok(()) => {}
        Err(kube::Error::Api(e)) if e.code == 404 => return Ok(()),
        Err(e) => return Err(e),
    }
    if let Some(uid) = ps.uid() {
        cx.written_status.lock().unwrap_or_else(|p| p.into_inner()).insert(uid, status.clone());
    }
    Ok(())
}

/// Sets the finalizers, guarded by the resourceVersion we read (a conflict is retried).
async fn set_finalizers(api: &Api<PushSecret>, ps: &PushSecret, finalizers: Vec<String>) -> Result<(), FinalizerError> {
    let patch = json!({"metadata": {"resourceVersion": ps.resource_version(), "finalizers": finalizers}});
    match api.patch(&ps.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(FinalizerError(format!("could not update finalizers: {e}"))),
    }
}

/// The source Secrets, sorted by name; `Ok(None)` when the named source does not exist.
async fn sources(cx: &PsContext, ps: &PushSecret, namespace: &str) -> Result<Option<Vec<Secret>>, PushError> {
    let api: Api<Secret> = Api::namespaced(cx.ctx.client.clone(), namespace);
    let Some(source) = &ps.spec.selector.secret else {
        return Err(PushError::config("no secret selector provided"));
    };
    if let Some(name) = source.name.as_deref().filter(|n| !n.is_empty()) {
        Stats::inc(&cx.ctx.stats.secret_reads);
        return match api.get_opt(name).await {
            Ok(found) => Ok(found.map(|s| vec![s])),
            Err(e) => Err(PushError::retry(format!("{SOURCE_MISSING_MESSAGE}: {e}"))),
        };
    }
    let Some(selector) = &source.selector else { return Err(PushError::config("no secret selector provided")) };
    let selector = kube::core::Selector::try_from(selector.clone())
        .map_err(|e| PushError::config(format!("invalid spec.selector.secret.selector: {e}")))?;
    Stats::inc(&cx.ctx.stats.secret_reads);
    let mut list = api
        .list(&ListParams::default().labels_from(&selector))
        .await
        .map_err(|e| PushError::retry(format!("{SOURCE_MISSING_MESSAGE}: {e}")))?
        .items;
    list.sort_by_key(|s| s.name_any());
    Ok(Some(list))
}

/// The generator `selector.generatorRef` names, unless a Secret is named (ESO's precedence).
fn generator_source(ps: &PushSecret) -> Option<&external_secrets_api::GeneratorRef> {
    let named = ps.spec.selector.secret.as_ref().and_then(|s| s.name.as_deref()).is_some_and(|n| !n.is_empty());
    if named { None } else { ps.spec.selector.generator_ref.as_ref() }
}

/// The generator's output as the source Secret ESO pushes (`___generated-secret`, no type, no labels).
async fn generated_source(
    cx: &PsContext,
    namespace: &str,
    generator_ref: &external_secrets_api::GeneratorRef,
) -> Result<Secret, PushError> {
    let data = crate::generator::generate_for_push(&cx.ctx, namespace, generator_ref).await.map_err(
        |(message, retryable)| {
            let message = format!("could not resolve secret from generator ref {:?}: {message}", generator_ref.name);
            if retryable { PushError::retry(message) } else { PushError::config(message) }
        },
    )?;
    Ok(Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("___generated-secret".to_string()),
            namespace: Some(namespace.to_string()),
            ..Default::default()
        },
        data: Some(data.into_iter().map(|(k, v)| (k, k8s_openapi::ByteString(v.expose().to_vec()))).collect()),
        ..Default::default()
    })
}

/// Which versions of which Secrets a push used: a different answer means the source changed.
fn fingerprint(sources: &[Secret]) -> String {
    sources
        .iter()
        .map(|s| format!("{}@{}", s.name_any(), s.resource_version().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(",")
}

/// The stores `secretStoreRefs` selects that this controller serves, in a stable order.
async fn stores(cx: &PsContext, ps: &PushSecret, namespace: &str) -> Result<Vec<ResolvedStore>, PushError> {
    let mut ids: Vec<StoreId> = Vec::new();
    for store_ref in &ps.spec.secret_store_refs {
        if let Some(selector) = &store_ref.label_selector {
            let mut named: Vec<String> = match store_ref.kind {
                SecretStoreKind::SecretStore => cx
                    .ctx
                    .secret_stores
                    .state()
                    .iter()
                    .filter(|s| s.namespace().as_deref() == Some(namespace))
                    .filter(|s| s.meta().deletion_timestamp.is_none())
                    .filter(|s| crate::selector::matches(selector, s.labels()))
                    .map(|s| s.name_any())
                    .collect(),
                SecretStoreKind::ClusterSecretStore => cx
                    .ctx
                    .cluster_stores
                    .state()
                    .iter()
                    .filter(|s| s.meta().deletion_timestamp.is_none())
                    .filter(|s| crate::selector::matches(selector, s.labels()))
                    .map(|s| s.name_any())
                    .collect(),
            };
            named.sort();
            ids.extend(named.into_iter().map(|name| StoreId { kind: store_ref.kind, name }));
        } else {
            let Some(name) = store_ref.name.clone().filter(|n| !n.is_empty()) else {
                return Err(PushError::config("refStore Name must be provided"));
            };
            ids.push(StoreId { kind: store_ref.kind, name });
        }
    }
    ids.dedup();
    let mut out = Vec::new();
    for id in ids {
        let being_deleted = match id.kind {
            SecretStoreKind::SecretStore => cx
                .ctx
                .secret_stores
                .get(&ObjectRef::new(&id.name).within(namespace))
                .is_some_and(|s| s.meta().deletion_timestamp.is_some()),
            SecretStoreKind::ClusterSecretStore => cx
                .ctx
                .cluster_stores
                .get(&ObjectRef::new(&id.name))
                .is_some_and(|s| s.meta().deletion_timestamp.is_some()),
        };
        if being_deleted {
            continue;
        }
        match store::resolve_gated(&cx.ctx, namespace, &id, false).await {
            Ok(Some(store)) => out.push(store),
            // Another controller class serves it.
            Ok(None) => {}
            Err(e) => return Err(PushError::config(e.to_string())),
        }
    }
    Ok(out)
}

async fn client(cx: &PsContext, store: &ResolvedStore, namespace: &str) -> Result<SharedClient, PushError> {
    store::client_for(&cx.ctx, store, Some(namespace))
        .await
        .map(|(_, client)| client)
        .map_err(|e| PushError::retry(format!("could not get secrets client for store {}: {e}", store.name)))
}

/// One sync: look up, decide, push, delete what was dropped, record.
async fn sync(cx: &PsContext, ps: &PushSecret, namespace: &str) -> Result<Action, PushError> {
    let started = jiff::Timestamp::now();
    check_spec(&ps.spec).map_err(|e| PushError::config(e.to_string()))?;
    let interval = refresh_interval_from_spec(&ps.spec.refresh_interval)
        .map_err(|e| PushError::config(format!("invalid spec.refreshInterval: {e}")))?;
    let status = cx.latest_status(ps);
    let current_version =
        synced_resource_version(ps.meta().generation.unwrap_or_default(), ps.labels(), ps.annotations());

    // ESO's precedence: a named Secret, else a generator, else Secrets by label. A generator runs only when a
    // push is due (below), not on every reconcile.
    let generator = generator_source(ps);
    let read = match generator {
        Some(_) => Some(Vec::new()),
        None => sources(cx, ps, namespace).await?,
    };
    let Some(mut sources) = read else {
        // The named source Secret does not exist.
        if ps.spec.deletion_policy == PushSecretDeletionPolicy::Delete && !status.synced_push_secrets.is_empty() {
            return source_deleted(cx, ps, namespace, status).await;
        }
        return Err(PushError::retry(SOURCE_MISSING_MESSAGE));
    };
    let uid = ps.uid().unwrap_or_default();
    let fingerprint = fingerprint(&sources);
    let source_changed = cx.pushed_sources.lock().unwrap_or_else(|p| p.into_inner()).get(&uid) != Some(&fingerprint);
    let decision = decide(&PushRefreshInput {
        synced_resource_version: status.synced_resource_version.as_deref().unwrap_or_default(),
        current_resource_version: &current_version,
        refresh_interval: interval,
        last_refresh: status.refresh_time.as_ref().map(|t| t.0),
        source_changed,
        now: started,
    });
    if let Some(requeue) = decision {
        return Ok(requeue_action(requeue));
    }

    let stores = stores(cx, ps, namespace).await?;
    if stores.is_empty() {
        // No store this controller serves (ESO: nothing recorded).
        return Ok(Action::await_change());
    }

    if ps.spec.deletion_policy == PushSecretDeletionPolicy::Delete {
        // ESO's store finalizer: the store stays until what is pushed to it now has been cleaned up.
        for store in &stores {
            store::ensure_push_finalizer(&cx.ctx, store)
                .await
                .map_err(|e| PushError::retry(format!("could not add the finalizer to store {}: {e}", store.name)))?;
        }
    }
    if let Some(generator_ref) = generator {
        sources.push(generated_source(cx, namespace, generator_ref).await?);
    }
    let old = status.synced_push_secrets.clone();
    let mut pushed = SyncedPushSecrets::new();
    let template_sources = match &ps.spec.template {
        Some(template) => Some(
            crate::externalsecret::template_sources_named(
                &cx.ctx,
                template_from_names(Some(template)),
                namespace,
                "spec.template.templateFrom",
            )
            .await
            .map_err(|e| PushError::retry(format!("error fetching templateFrom data: {e}")))?,
        ),
        None => None,
    };
    for source in &sources {
        let data = source_data(cx, ps, source, template_sources.as_ref())?;
        for store in &stores {
            let key = store_key(store::api_kind(store.kind), &store.name);
            let entries = pushed.entry(key).or_default();
            if let Err(e) = push_to_store(cx, ps, namespace, source, &data, store, entries).await {
                return Err(e.with_synced(merge_state(&pushed, &old)));
            }
        }
    }
    let synced = match ps.spec.deletion_policy {
        // A label selector that matches no Secret (yet, or any more) pushed nothing: nothing is judged dropped.
        _ if sources.is_empty() => old,
        PushSecretDeletionPolicy::Delete => delete_removed(cx, namespace, old, &pushed).await.map_err(|e| {
            PushError { message: format!("Failed to Delete Secrets from Provider: {}", e.message), ..e }
        })?,
        PushSecretDeletionPolicy::None => pushed,
    };

    let mut message = SYNCED_MESSAGE.to_string();
    if ps.spec.update_policy == PushSecretUpdatePolicy::IfNotExists {
        message.push_str(IF_NOT_EXISTS_SUFFIX);
    }
    let mut new_status = status;
    set_ready(&mut new_status, "True", push_reason::SYNCED, &message);
    new_status.synced_push_secrets = synced;
    new_status.refresh_time = Some(Time(started));
    new_status.synced_resource_version = Some(current_version);
    write_status(cx, ps, &new_status).await.map_err(|e| PushError::retry(format!("could not write status: {e}")))?;
    cx.pushed_sources.lock().unwrap_or_else(|p| p.into_inner()).insert(uid, fingerprint);
    cx.ctx.event(ps, EventType::Normal, push_reason::SYNCED, message);
    info!("pushed");
    Ok(requeue_action(interval))
}

fn requeue_action(after: Option<Duration>) -> Action {
    match after {
        Some(after) => Action::requeue(jittered(after, REQUEUE_JITTER_FRACTION, rand::random::<f64>())),
        None => Action::await_change(),
    }
}

/// The data of `source` as it is pushed: with `spec.template` applied (ESO's `applyTemplate`), if any.
fn source_data(
    cx: &PsContext,
    ps: &PushSecret,
    source: &Secret,
    sources: Option<&TemplateSources>,
) -> Result<BTreeMap<String, SecretBytes>, PushError> {
    let data: BTreeMap<String, Vec<u8>> = source.data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())).collect();
    let data = match (&ps.spec.template, sources) {
        (Some(template), Some(sources)) => {
            push_template_data(template, data, sources, &cx.ctx.config.template_delimiters)
                .map_err(|e| PushError::config(format!("could not execute template: {e}")))?
        }
        _ => data,
    };
    Ok(data.into_iter().map(|(k, v)| (k, SecretBytes::from(v))).collect())
}

/// Pushes every `data[]` entry of `source` to `store`, recording each entry pushed (or left alone under
/// `IfNotExists`) in `entries`, as ESO does.
async fn push_to_store(
    cx: &PsContext,
    ps: &PushSecret,
    namespace: &str,
    source: &Secret,
    data: &BTreeMap<String, SecretBytes>,
    store: &ResolvedStore,
    entries: &mut BTreeMap<String, external_secrets_api::v1alpha1::PushSecretData>,
) -> Result<(), PushError> {
    let client = client(cx, store, namespace).await?;
    for entry in &ps.spec.data {
        let converted = convert_keys(entry.conversion_strategy, data).map_err(|e| PushError::config(e.to_string()))?;
        let key = entry_source_key(entry, &converted).map_err(|e| PushError::config(e.to_string()))?;
        let push_data = external_secrets_provider::PushSecretData::from(entry);
        let key_name = key.unwrap_or_default();
        if ps.spec.update_policy == PushSecretUpdatePolicy::IfNotExists {
            let exists = client
                .inner()
                .secret_exists(&push_data.remote_ref)
                .await
                .map_err(|e| PushError::retry(format!("could not verify if secret exists in store: {e}")))?;
            if exists {
                entries.insert(status_ref(entry), entry.clone());
                continue;
            }
        }
        let push_source = PushSource {
            data: converted,
            secret_type: source.type_.clone(),
            labels: source.labels().clone(),
            annotations: source.annotations().clone(),
        };
        client.push_secret(&push_source, &push_data).await.map_err(|e| {
            let message = format!(
                "set secret failed: could not write remote ref {key_name} to target secretstore {}: {e}",
                store.name
            );
            if e.is_retryable() { PushError::retry(message) } else { PushError::config(message) }
        })?;
        entries.insert(status_ref(entry), entry.clone());
    }
    Ok(())
}

/// Deletes from the stores the entries of `old` that `new` lacks, and returns what the status must list: `new`
/// plus what could not be deleted. Stops at the first failure (the error carries that status).
async fn delete_removed(
    cx: &PsContext,
    namespace: &str,
    old: SyncedPushSecrets,
    new: &SyncedPushSecrets,
) -> Result<SyncedPushSecrets, PushError> {
    let mut state = merge_state(new, &old);
    let mut clients: HashMap<String, SharedClient> = HashMap::new();
    for removal in removals(&old, new) {
        let client = match clients.get(&removal.store) {
            Some(client) => client.clone(),
            None => {
                let client = match removal_client(cx, namespace, &removal.store).await {
                    Ok(client) => client,
                    Err(e) => return Err(e.with_synced(state)),
                };
                clients.insert(removal.store.clone(), client.clone());
                client
            }
        };
        let remote_ref = external_secrets_provider::PushRemoteRef::from(&removal.data.match_.remote_ref);
        if let Err(e) = client.delete_secret(&remote_ref).await {
            let message =
                format!("could not delete remote ref {} from store {}: {e}", removal.status_ref, removal.store);
            return Err(PushError::retry(message).with_synced(state));
        }
        info!(store = %removal.store, remote_ref = %removal.status_ref, "deleted a pushed secret from the store");
        without(&mut state, &removal.store, &removal.status_ref);
    }
    Ok(state)
}

/// The client of a store named in `status.syncedPushSecrets` (flood gate off, whatever its class: we pushed
/// there).
async fn removal_client(cx: &PsContext, namespace: &str, store: &str) -> Result<SharedClient, PushError> {
    let Some((kind, name)) = parse_store_key(store) else {
        return Err(PushError::config(format!("invalid store {store:?} in status.syncedPushSecrets")));
    };
    let id = StoreId { kind, name: name.to_string() };
    let resolved = store::resolve_gated(&cx.ctx, namespace, &id, false)
        .await
        .map_err(|e| PushError::retry(format!("could not get secrets client for store {store}: {e}")))?
        .ok_or_else(|| PushError::config(format!("store {store} is served by another controller class")))?;
    client(cx, &resolved, namespace).await
}

/// ESO's `handleSourceSecretDeleted`: the named source is gone under `deletionPolicy: Delete`: delete everything
/// pushed, then `Ready=False` `SourceDeleted`.
async fn source_deleted(
    cx: &PsContext,
    ps: &PushSecret,
    namespace: &str,
    status: PushSecretStatus,
) -> Result<Action, PushError> {
    let old = status.synced_push_secrets.clone();
    let synced = delete_removed(cx, namespace, old, &SyncedPushSecrets::new())
        .await
        .map_err(|e| PushError { message: format!("failed to cleanup provider secrets: {}", e.message), ..e })?;
    let mut new_status = status;
    new_status.synced_push_secrets = synced;
    set_ready(&mut new_status, "False", push_reason::SOURCE_DELETED, SOURCE_DELETED_MESSAGE);
    write_status(cx, ps, &new_status).await.map_err(|e| PushError::retry(format!("could not write status: {e}")))?;
    if let Some(uid) = ps.uid() {
        cx.pushed_sources.lock().unwrap_or_else(|p| p.into_inner()).remove(&uid);
    }
    cx.ctx.event(ps, EventType::Normal, push_reason::SOURCE_DELETED, SOURCE_DELETED_MESSAGE.to_string());
    Ok(Action::await_change())
}
