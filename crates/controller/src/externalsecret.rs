//! The ExternalSecret reconcile: look up → decide → fetch → plan → apply → record.
//!
//! - Look up: stores and the target Secret's metadata come from watch caches; the Secret's data is read only
//!   when we cannot otherwise tell whether it still matches its `data-hash` annotation.
//! - Decide: ESO's refresh rules (`core::refresh`).
//! - Fetch: the de-duplicated keys of each store in one `get_many` call (`core::pipeline::plan`).
//! - Plan: ESO's data pipeline and the desired Secret (`core::pipeline::build_data`, `core::target`).
//! - Apply: server-side apply with ESO's field manager, and only when something changed.
//! - Record: status (only when it changed), events, metrics.
//!
//! A failure never touches the existing Secret: it is recorded in the `Ready` condition and a Warning event, and
//! retried with backoff (provider and transient errors) or after a change (configuration errors).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use external_secrets_api::{
    ExternalSecret, ExternalSecretCreationPolicy, ExternalSecretDeletionPolicy, ExternalSecretStatus,
    ExternalSecretStatusCondition, reason,
};
use external_secrets_core::hash::{created_by_label, data_hash, synced_resource_version};
use external_secrets_core::ownership::{ExistingMeta, FieldOwner, metadata_in_sync, owned_by, take_over};
use external_secrets_core::pipeline::{BuiltData, FetchPlan, Fetched, StoreId, build_data, plan};
use external_secrets_core::redact::refusal;
use external_secrets_core::refresh::{
    ANNOTATION_DATA_HASH, LABEL_CREATED_BY, LABEL_MANAGED, LABEL_MANAGED_VALUE, RefreshDecision, RefreshInput, decide,
    refresh_interval_from_spec, requeue_after,
};
use external_secrets_core::target::{
    TargetError, TemplateSources, data_after_merge, desired_secret, set_data_hash, target_name, template_source_names,
};
use external_secrets_provider::{ErrorCategory, StoreKind};
use k8s_openapi::api::core::v1::{LocalObjectReference, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use serde_json::json;
use tracing::{debug, info, instrument, warn};

use crate::context::{Context, Stats, object_key};
use crate::error::ReconcileError;
use crate::events::EventType;
use crate::generic_target;
use crate::metrics::{Metrics, ObjectLabels};
use crate::store;

/// ESO's finalizer name, so objects move between ESO and us without a stuck finalizer.
pub const FINALIZER: &str = "externalsecrets.external-secrets.io/externalsecret-cleanup";

/// The longest a value read for one ExternalSecret is reused for another's periodic refresh.
const MAX_SHARED_AGE: std::time::Duration = std::time::Duration::from_secs(300);

/// A failed finalizer update (the reconcile is retried with backoff by [`error_policy`]).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FinalizerError(String);

/// The reconcile entry point: records the span and the timer, keeps ESO's finalizer on the object while it
/// exists, and syncs it or, when it is being deleted, cleans up after it.
#[instrument(skip_all, fields(namespace = es.namespace().unwrap_or_default(), name = es.name_any()))]
pub async fn reconcile(es: Arc<ExternalSecret>, ctx: Arc<Context>) -> Result<Action, FinalizerError> {
    let started = Instant::now();
    let Some(namespace) = es.namespace() else { return Ok(Action::await_change()) };
    if handled_by_another_class(&ctx, &es, &namespace) {
        // Another controller (class) owns this object: no finalizer, no status, no metrics from us.
        return Ok(Action::await_change());
    }
    let labels = ObjectLabels { name: es.name_any(), namespace: namespace.clone() };
    ctx.metrics.sync_calls.get_or_create(&labels).inc();
    Stats::inc(&ctx.stats.es_reconciles);
    let api: Api<ExternalSecret> = Api::namespaced(ctx.client.clone(), &namespace);
    let deleting = es.meta().deletion_timestamp.is_some();
    let key = object_key(es.as_ref());
    let failed_es = es.clone();
    let result = isolated(async {
        if deleting {
            if !es.finalizers().iter().any(|f| f == FINALIZER) {
                return Ok(Action::await_change());
            }
            let action = cleanup(es.clone(), ctx.clone()).await;
            set_finalizers(&api, &es, es.finalizers().iter().filter(|f| *f != FINALIZER).cloned().collect()).await?;
            Ok(action)
        } else {
            // As ESO: add the finalizer and sync in the same reconcile (kube's finalizer helper would wait for
            // the watch to bring the patched object back, a second pass through the queue for every new object).
            if !es.finalizers().iter().any(|f| f == FINALIZER) {
                let mut finalizers = es.finalizers().to_vec();
                finalizers.push(FINALIZER.to_string());
                set_finalizers(&api, &es, finalizers).await?;
            }
            Ok(apply(es, ctx.clone()).await)
        }
    })
    .await;
    if !deleting {
        let elapsed = i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX);
        ctx.metrics.es_reconcile_duration.get_or_create(&labels).set(elapsed);
    }
    match result {
        Ok(result) => result,
        Err(Panicked) => {
            // The panic's message may quote data, so it is neither logged nor recorded: only that it happened.
            ctx.metrics.sync_calls_error.get_or_create(&labels).inc();
            let status =
                status_with(ctx.latest_status(&failed_es), "False", reason::SECRET_SYNCED_ERROR, PANIC_MESSAGE, None);
            if let Err(e) = write_status(&failed_es, &ctx, &status).await {
                warn!(error = %e, "could not write status");
            }
            ctx.event(failed_es.as_ref(), EventType::Warning, "UpdateFailed", PANIC_MESSAGE.to_string());
            Ok(Action::requeue(ctx.backoff(&key)))
        }
    }
}

/// What a reconcile that panicked reports (a fixed text: the panic's own message may quote data).
pub const PANIC_MESSAGE: &str = "internal error: this ExternalSecret's sync panicked; it is retried with backoff";

/// A reconcile that panicked (see [`isolated`]).
#[derive(Debug, PartialEq, Eq)]
pub struct Panicked;

/// Runs `work`, turning a panic inside it into [`Panicked`] so that one object's reconcile cannot take the
/// controller (and every other object's sync) down. Logs only that and where it happened.
pub async fn isolated<T>(work: impl std::future::Future<Output = T>) -> Result<T, Panicked> {
    use futures::FutureExt;
    match std::panic::AssertUnwindSafe(work).catch_unwind().await {
        Ok(out) => Ok(out),
        Err(_) => {
            tracing::error!("a reconcile panicked; the object is retried with backoff and the others keep syncing");
            Err(Panicked)
        }
    }
}

/// Whether another controller handles the ExternalSecret: its store (`spec.secretStoreRef`) exists and selects
/// another controller class, or it is a ClusterSecretStore while this controller runs with
/// `--enable-cluster-store-reconciler=false` (ESO's `shouldSkipClusterSecretStore`: a namespaced install beside a
/// cluster-wide one).
fn handled_by_another_class(ctx: &Context, es: &ExternalSecret, namespace: &str) -> bool {
    let Some(store_ref) = es.spec.secret_store_ref.as_ref().filter(|r| !r.name.is_empty()) else { return false };
    if store_ref.kind_or_default() == external_secrets_api::SecretStoreKind::ClusterSecretStore
        && !ctx.config.enable_cluster_store_reconciler
    {
        return true;
    }
    let spec = match store_ref.kind_or_default() {
        external_secrets_api::SecretStoreKind::SecretStore => {
            ctx.secret_stores.get(&ObjectRef::new(&store_ref.name).within(namespace)).map(|s| s.spec.clone())
        }
        external_secrets_api::SecretStoreKind::ClusterSecretStore => {
            ctx.cluster_stores.get(&ObjectRef::new(&store_ref.name)).map(|s| s.spec.clone())
        }
    };
    spec.is_some_and(|spec| !store::class_matches(&spec, &ctx.config.controller_class))
}

/// What a successful sync did to the target.
pub(crate) enum Written {
    Created,
    Updated,
    Unchanged,
    /// `deletionPolicy: Delete` with nothing at the provider, and the Secret was deleted now.
    Deleted,
    /// As `Deleted`, but there was no Secret of ours to delete (no event, as in ESO).
    NothingToDelete,
    /// `deletionPolicy: Retain` with nothing at the provider: the Secret is kept as it is.
    Retained,
    Missing,
    Skipped,
}

impl Written {
    /// Whether the target was written or checked (ESO's create/update paths), which is when ESO sets
    /// `status.binding`.
    fn bound(&self) -> bool {
        matches!(self, Written::Created | Written::Updated | Written::Unchanged)
    }
}

/// Sets the finalizers of `es` to `finalizers`, if `es` is still the version we read (its resourceVersion is a
/// precondition of the merge patch, so a finalizer someone else added meanwhile is never dropped: the patch fails
/// with a conflict and the reconcile is retried).
async fn set_finalizers(
    api: &Api<ExternalSecret>,
    es: &ExternalSecret,
    finalizers: Vec<String>,
) -> Result<(), FinalizerError> {
    let patch = json!({"metadata": {"resourceVersion": es.resource_version(), "finalizers": finalizers}});
    match api.patch(&es.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await {
        Ok(_) => Ok(()),
        // Already gone: nothing holds it any more.
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(FinalizerError(format!("could not update the finalizers: {e}"))),
    }
}

/// The per-object error policy used by the controller runtime for errors we did not handle (finalizer patches).
pub fn error_policy(es: Arc<ExternalSecret>, err: &FinalizerError, ctx: Arc<Context>) -> Action {
    warn!(error = %err, "finalizer handling failed");
    Action::requeue(ctx.backoff(&object_key(es.as_ref())))
}

async fn apply(es: Arc<ExternalSecret>, ctx: Arc<Context>) -> Action {
    let key = object_key(es.as_ref());
    let now = jiff::Timestamp::now();
    match sync(&es, &ctx, now).await {
        Ok(Some(action)) => {
            ctx.reset_backoff(&key);
            action
        }
        Ok(None) => Action::await_change(),
        Err(e) => {
            let namespace = es.namespace().unwrap_or_default();
            ctx.metrics.sync_calls_error.get_or_create(&ObjectLabels { name: es.name_any(), namespace }).inc();
            let message = e.to_string();
            warn!(category = e.category(), error = %message, "sync failed");
            // ESO: a generic target's failures are `ResourceSyncedError`, except the refusal before anything is
            // read ("invalid generic target").
            let reason_ = match (&es.spec.target.manifest, &e) {
                (Some(_), ReconcileError::GenericTargetRefused(_)) | (None, _) => reason::SECRET_SYNCED_ERROR,
                (Some(_), _) => reason::RESOURCE_SYNCED_ERROR,
            };
            let status = status_with(ctx.latest_status(&es), "False", reason_, &message, None);
            if let Err(write_err) = write_status(&es, &ctx, &status).await {
                warn!(error = %write_err, "could not write status");
            }
            if let Some(uid) = es.uid() {
                ctx.set_synced_status(&uid, None);
            }
            ctx.event(es.as_ref(), EventType::Warning, "UpdateFailed", message);
            if e.is_retryable() { Action::requeue(ctx.backoff(&key)) } else { Action::await_change() }
        }
    }
}

async fn cleanup(es: Arc<ExternalSecret>, ctx: Arc<Context>) -> Action {
    let namespace = es.namespace().unwrap_or_default();
    ctx.forget_external_secret(&es, &target_name(&es));
    if let Some(manifest) = &es.spec.target.manifest {
        generic_target::cleanup(&es, &ctx, manifest).await;
        return Action::await_change();
    }
    if es.spec.target.deletion_policy == ExternalSecretDeletionPolicy::Delete {
        let name = target_name(&es);
        let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
        if let Some(existing) = ctx.target_secrets.get(&ObjectRef::new(&name).within(&namespace))
            && controlled_by(&existing, &es)
            && let Err(e) = secrets.delete(&name, &DeleteParams::default()).await
        {
            warn!(error = %e, "could not delete the target Secret");
        }
    }
    Action::await_change()
}

fn controlled_by(secret: &PartialObjectMeta<Secret>, es: &ExternalSecret) -> bool {
    let uid = es.uid();
    secret.owner_references().iter().any(|o| o.controller == Some(true) && Some(&o.uid) == uid.as_ref())
}

/// The controller owner of a Secret, if it is an ExternalSecret other than `es`.
fn other_owner(secret: &PartialObjectMeta<Secret>, es: &ExternalSecret) -> Option<String> {
    let uid = es.uid();
    secret
        .owner_references()
        .iter()
        .find(|o| o.controller == Some(true) && o.kind == "ExternalSecret" && Some(&o.uid) != uid.as_ref())
        .map(|o| o.name.clone())
}

fn current_version(es: &ExternalSecret) -> String {
    synced_resource_version(es.meta().generation.unwrap_or_default(), es.labels(), es.annotations())
}

/// Does the target Secret still hold what we wrote? Uses the watch cache, and reads the Secret's data only when
/// its resourceVersion is one we have not verified.
async fn target_valid(ctx: &Context, es: &ExternalSecret, namespace: &str, name: &str) -> Result<bool, ReconcileError> {
    // ESO: an Orphan target is always valid — drift is never repaired, and a deleted one is not recreated before
    // the next refresh is due.
    if es.spec.target.creation_policy == ExternalSecretCreationPolicy::Orphan {
        return Ok(true);
    }
    let Some(meta) = ctx.target_secrets.get(&ObjectRef::new(name).within(namespace)) else { return Ok(false) };
    if meta.labels().get(LABEL_MANAGED).map(String::as_str) != Some(LABEL_MANAGED_VALUE) {
        return Ok(false);
    }
    let Some(annotation) = meta.annotations().get(ANNOTATION_DATA_HASH).cloned() else { return Ok(false) };
    let rv = meta.resource_version().unwrap_or_default();
    if ctx.is_verified(namespace, name, &rv) {
        return Ok(true);
    }
    let Some(secret) = read_target(ctx, namespace, name).await? else { return Ok(false) };
    Ok(checked_hash(ctx, namespace, name, &secret) == annotation)
}

/// Reads the target Secret with its data (one API read, counted).
async fn read_target(ctx: &Context, namespace: &str, name: &str) -> Result<Option<Secret>, ReconcileError> {
    Stats::inc(&ctx.stats.secret_reads);
    Ok(Api::<Secret>::namespaced(ctx.client.clone(), namespace).get_opt(name).await?)
}

/// The hash of a target Secret's actual data; when it matches the Secret's own data-hash annotation, its
/// resourceVersion is remembered as verified, so the watch cache alone answers until someone else writes it.
fn checked_hash(ctx: &Context, namespace: &str, name: &str, secret: &Secret) -> String {
    let data: BTreeMap<String, Vec<u8>> =
        secret.data.clone().unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect();
    let actual = data_hash(&data);
    let annotated = secret.metadata.annotations.as_ref().and_then(|a| a.get(ANNOTATION_DATA_HASH));
    if annotated == Some(&actual) {
        ctx.set_verified(namespace, name, secret.metadata.resource_version.clone());
    }
    actual
}

/// One sync. `Ok(None)`: nothing to do for this controller (its store belongs to another controller class).
async fn sync(es: &ExternalSecret, ctx: &Context, now: jiff::Timestamp) -> Result<Option<Action>, ReconcileError> {
    let namespace = es.namespace().unwrap_or_default();
    let generic = match &es.spec.target.manifest {
        Some(manifest) => Some(generic_target::resolve(ctx, manifest).await?),
        None => {
            ctx.generic_targets.release(es);
            None
        }
    };
    let target = target_name(es);
    let interval = refresh_interval_from_spec(&es.spec.refresh_interval)
        .map_err(|e| ReconcileError::Spec(format!("spec.refreshInterval {:?}: {e}", es.spec.refresh_interval)))?;
    let status = ctx.latest_status(es);
    let last_refresh = status.refresh_time.as_ref().map(|t| t.0);
    let synced = status.synced_resource_version.clone().unwrap_or_default();
    let current = current_version(es);
    let ready = status.condition("Ready").is_some_and(|c| c.status == "True");

    let sync_window = external_secrets_core::sync_window::evaluate(es.spec.sync_windows.as_ref(), now);
    // Decide first from what we know; check the target (maybe one read) only if that could skip the sync.
    let input = |target_secret_valid| RefreshInput {
        policy: es.spec.refresh_policy.unwrap_or_default(),
        refresh_interval: interval,
        last_refresh,
        synced_resource_version: &synced,
        current_resource_version: &current,
        target_secret_valid,
        now,
        sync_window,
    };
    if ready && decide(&input(true)) != RefreshDecision::Sync {
        let valid = match &generic {
            Some(generic) => generic_target::target_valid(ctx, es, generic, &namespace, &target).await?,
            None => target_valid(ctx, es, &namespace, &target).await?,
        };
        if let RefreshDecision::Skip { requeue_after } = decide(&input(valid)) {
            debug!("refresh not due");
            return Ok(Some(requeue_action(requeue_after)));
        }
    }

    // A periodic refresh may reuse what another ExternalSecret read from the same store within the last tenth of
    // this refresh interval (at most 5 minutes): the same key wanted by many ExternalSecrets is one read per
    // refresh, not one each. A first sync, or one after any change of the ExternalSecret (force-sync
    // annotations included), always reads the store.
    let periodic = ready && synced == current && last_refresh.is_some();
    let max_age = match interval {
        Some(i) if periodic => (i / 10).min(MAX_SHARED_AGE),
        _ => std::time::Duration::ZERO,
    };
    let fetch_plan = plan(&es.spec)?;
    // What stateful generators make is stored as GeneratorStates once the target is written; when the sync
    // fails before that, it is cleaned up at the provider (ESO's statemanager commit/rollback).
    let mut states = crate::generator_state::StateTransaction::new(ctx, es);
    let built = match fetch_sources(ctx, es, &namespace, &fetch_plan, max_age, &mut states).await.and_then(|f| {
        f.map(|fetched| build_data(&es.spec, &fetched, es.spec.target.deletion_policy).map_err(ReconcileError::from))
            .transpose()
    }) {
        Ok(Some(built)) => built,
        Ok(None) => {
            states.rollback(ctx).await;
            return Ok(None);
        }
        Err(e) => {
            states.rollback(ctx).await;
            return Err(e);
        }
    };
    for missing in &built.missing {
        ctx.event(
            es,
            EventType::Normal,
            "MissingProviderSecret",
            format!("secret does not exist at provider using {missing}"),
        );
    }
    let written = match &generic {
        Some(generic) => generic_target::write(es, ctx, &namespace, &target, built, &fetch_plan, generic).await,
        None => write_target(es, ctx, &namespace, &target, built).await,
    };
    // States are committed (and the ones they supersede given their GC deadline) only once the target holds the
    // new values: a failed write must not schedule the credentials the target still holds for deletion. ESO
    // commits before the write.
    let (written, message) = match written {
        Ok(written) => written,
        Err(e) => {
            states.rollback(ctx).await;
            return Err(e);
        }
    };
    states.commit(ctx).await?;
    let (reason_, message, event) = match &generic {
        Some(generic) => generic_target::outcome(&written, message, &generic.kind.kind, &target),
        None => secret_outcome(&written, message),
    };
    if let Some(note) = event {
        let event_reason = match written {
            Written::Created => "Created",
            Written::Deleted => "Deleted",
            _ => "Updated",
        };
        ctx.event(es, EventType::Normal, event_reason, note);
    }
    let mut new_status = status_with(status, "True", reason_, &message, Some(now));
    new_status.synced_resource_version = Some(current);
    // ESO sets the binding for Secret targets only.
    if generic.is_none() && written.bound() {
        new_status.binding = Some(LocalObjectReference { name: target.clone() });
    }
    write_status(es, ctx, &new_status).await?;
    if let Some(uid) = es.uid() {
        ctx.set_synced_status(&uid, Some(new_status));
    }
    info!(target = %target, "synced");
    Ok(Some(requeue_action(requeue_after(interval, Some(now), jiff::Timestamp::now()))))
}

/// Runs the generators (their states into `states`) and reads every store the plan names. `None`: a store or
/// generator of another controller class makes the object another's.
async fn fetch_sources(
    ctx: &Context,
    es: &ExternalSecret,
    namespace: &str,
    fetch_plan: &FetchPlan,
    max_age: std::time::Duration,
    states: &mut crate::generator_state::StateTransaction,
) -> Result<Option<Fetched>, ReconcileError> {
    // Generators run on every sync (a new password each refresh, as in ESO); refreshPolicy and refreshInterval
    // decide how often that is. A generator of another controller class makes the object another's.
    let Some(generated) = crate::generator::generate_all(ctx, es, namespace, states).await? else {
        return Ok(None);
    };
    // The spec-level store decides whether this controller (class) handles the object at all.
    let mut fetched = Fetched { generated, ..Fetched::default() };
    for (id, store_plan) in fetch_plan {
        let Some(resolved) = store::resolve(ctx, namespace, id).await? else {
            return Ok(None);
        };
        let (client_key, client) = store::client_for(ctx, &resolved, Some(namespace)).await?;
        let keys: Vec<_> = store_plan.keys.iter().cloned().collect();
        let results = client.get_many(&keys, max_age).await;
        for (key, result) in keys.into_iter().zip(results) {
            match result {
                Ok(value) => {
                    fetched.values.insert((id.clone(), key), Some(value));
                }
                Err(e) if e.is_not_found() => {
                    fetched.values.insert((id.clone(), key), None);
                }
                Err(e) => {
                    if e.category() == ErrorCategory::Auth {
                        ctx.clients.evict(&client_key);
                    }
                    return Err(e.into());
                }
            }
        }
        for (index, query) in &store_plan.finds {
            let found = client.inner().find(query).await?;
            fetched.finds.insert(*index, found);
        }
    }
    Ok(Some(fetched))
}

/// The `Ready` reason and message, and the event note, of a Secret target's successful sync.
fn secret_outcome(written: &Written, message: String) -> (&'static str, String, Option<String>) {
    match written {
        Written::Deleted => {
            let message = "secret deleted due to DeletionPolicy=Delete".to_string();
            (reason::SECRET_DELETED, message.clone(), Some(message))
        }
        Written::NothingToDelete => {
            (reason::SECRET_DELETED, "secret deleted due to DeletionPolicy=Delete".to_string(), None)
        }
        Written::Missing => {
            (reason::SECRET_MISSING, "secret will not be created due to CreationPolicy=Merge".to_string(), None)
        }
        Written::Created => (reason::SECRET_SYNCED, message, Some("secret created".to_string())),
        Written::Updated => (reason::SECRET_SYNCED, message, Some("secret updated".to_string())),
        Written::Unchanged | Written::Retained | Written::Skipped => (reason::SECRET_SYNCED, message, None),
    }
}

fn requeue_action(after: Option<std::time::Duration>) -> Action {
    match after {
        Some(d) => Action::requeue(external_secrets_core::refresh::jittered(
            d,
            external_secrets_core::refresh::REQUEUE_JITTER_FRACTION,
            rand::random::<f64>(),
        )),
        None => Action::await_change(),
    }
}

/// Reads a target Secret's metadata from the API when the watch cache (managed Secrets only) does not have it.
async fn existing_target(
    ctx: &Context,
    namespace: &str,
    name: &str,
) -> Result<Option<Arc<PartialObjectMeta<Secret>>>, ReconcileError> {
    if let Some(cached) = ctx.target_secrets.get(&ObjectRef::new(name).within(namespace)) {
        return Ok(Some(cached));
    }
    Stats::inc(&ctx.stats.secret_reads);
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    Ok(secrets.get_metadata_opt(name).await?.map(Arc::new))
}

async fn write_target(
    es: &ExternalSecret,
    ctx: &Context,
    namespace: &str,
    name: &str,
    built: BuiltData,
) -> Result<(Written, String), ReconcileError> {
    let policy = es.spec.target.creation_policy;
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    // ESO: no data from the sources (stores and generators alike) means the deletion policy decides. An
    // ExternalSecret without any source (which ESO's webhook refuses) is left to its template.
    let has_sources = !es.spec.data.is_empty() || !es.spec.data_from.is_empty();
    let nothing_to_write = built.data.is_empty() && has_sources;
    let cached = ctx.target_secrets.get(&ObjectRef::new(name).within(namespace));
    // A target missing from the watch cache of managed Secrets is usually missing altogether (a first sync). For
    // the policies that create it, a create (which fails if the Secret exists) replaces the read that would
    // prove it missing: one request instead of two per first sync. A Secret that exists after all is then read
    // and handled below as always. Not for immutable targets: the takeover of the create's fields before a later
    // apply would touch a Secret that must stay as it is.
    if cached.is_none()
        && !nothing_to_write
        && !es.spec.target.immutable
        && matches!(policy, ExternalSecretCreationPolicy::Owner | ExternalSecretCreationPolicy::Orphan)
        && let Some(created) = create_target(es, ctx, &secrets, namespace, name, &built).await?
    {
        return Ok(created);
    }
    let existing = match cached {
        Some(cached) => Some(cached),
        None => existing_target(ctx, namespace, name).await?,
    };

    if nothing_to_write {
        match es.spec.target.deletion_policy {
            ExternalSecretDeletionPolicy::Delete => {
                if policy != ExternalSecretCreationPolicy::Owner {
                    return Err(ReconcileError::Ownership(
                        "deletionPolicy Delete needs creationPolicy Owner to delete the target".to_string(),
                    ));
                }
                if let Some(existing) = &existing
                    && controlled_by(existing, es)
                {
                    secrets.delete(name, &DeleteParams::default()).await?;
                    ctx.set_verified(namespace, name, None);
                    return Ok((Written::Deleted, String::new()));
                }
                return Ok((Written::NothingToDelete, String::new()));
            }
            // ESO: nothing to write, so nothing is written — an existing Secret is kept as it is, and none is
            // created.
            ExternalSecretDeletionPolicy::Retain => {
                return Ok((Written::Retained, "secret retained due to DeletionPolicy=Retain".to_string()));
            }
            _ => {}
        }
    }

    if policy == ExternalSecretCreationPolicy::None {
        return Ok((Written::Skipped, "secret synced".to_string()));
    }
    if policy == ExternalSecretCreationPolicy::Owner {
        delete_previous_target(ctx, es, namespace, name).await?;
    }
    if let Some(existing) = &existing {
        if let Some(owner) = other_owner(existing, es) {
            return Err(ReconcileError::Ownership(format!(
                "target is owned by another ExternalSecret ({owner:?}); refusing to write Secret {name:?}"
            )));
        }
        // ESO before v0.11 set no managed label; the controller owner reference to this ExternalSecret proves
        // such a Secret ours just as well.
        let managed = existing.labels().get(LABEL_MANAGED).map(String::as_str) == Some(LABEL_MANAGED_VALUE)
            || controlled_by(existing, es);
        let merging =
            matches!(policy, ExternalSecretCreationPolicy::Merge | ExternalSecretCreationPolicy::CreateOrMerge);
        if !managed && !merging {
            return Err(ReconcileError::Ownership(format!(
                "Secret {name:?} already exists and is not managed by external-secrets; refusing to take it over \
                 (use creationPolicy Merge to write into it)"
            )));
        }
    } else if policy == ExternalSecretCreationPolicy::Merge {
        return Ok((Written::Missing, String::new()));
    }

    let sources = template_sources(ctx, es, namespace).await?;
    let mut desired = desired_secret(es, built.data, &sources, &ctx.config.template_delimiters)?;
    let mut desired_hash =
        desired.metadata.annotations.as_ref().and_then(|a| a.get(ANNOTATION_DATA_HASH)).cloned().unwrap_or_default();
    let manager = external_secrets_core::field_manager::field_manager(&es.name_any());
    let merging = matches!(policy, ExternalSecretCreationPolicy::Merge | ExternalSecretCreationPolicy::CreateOrMerge);
    let mut current = None;
    if merging && existing.is_some() {
        // As in ESO, the data-hash of a merge target covers the whole data (other writers' keys too), so that the
        // Secret counts as valid (no resync while nothing is due) and a Secret ESO merged into is adopted as is.
        current = read_target(ctx, namespace, name).await?;
        if let Some(current) = &current {
            let ours = desired.data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())).collect();
            desired_hash = set_data_hash(&mut desired, &data_after_merge(current, &manager, &ours));
        }
    }
    if let Some(existing) = &existing {
        let owner = FieldOwner::new(&manager, policy);
        if up_to_date(ctx, existing, current, &desired, &desired_hash, owner, namespace, name).await? {
            return Ok((Written::Unchanged, "secret synced".to_string()));
        }
        take_over_eso_fields(ctx, &secrets, existing, owner).await?;
    }

    let mut body = serde_json::to_value(&desired).map_err(|e| ReconcileError::Spec(e.to_string()))?;
    body["apiVersion"] = json!("v1");
    body["kind"] = json!("Secret");
    let written = secrets
        .patch(name, &PatchParams::apply(&manager).force(), &Patch::Apply(&body))
        .await
        .map_err(|e| refused_write(e, name, &desired))?;
    Stats::inc(&ctx.stats.secret_writes);
    ctx.set_verified(namespace, name, written.metadata.resource_version);
    let previous_hash = existing.as_ref().and_then(|e| e.annotations().get(ANNOTATION_DATA_HASH).cloned());
    let outcome = match existing {
        None => Written::Created,
        Some(_) if previous_hash.as_deref() != Some(desired_hash.as_str()) => Written::Updated,
        Some(_) => Written::Unchanged,
    };
    Ok((outcome, "secret synced".to_string()))
}

/// Creates the target Secret, for [`write_target`] when the cache says it does not exist: `None` when it exists
/// after all (the caller then reads it and takes the usual path). Created with a create rather than an apply, the
/// Secret's managed fields are an `Update` entry under our manager name — exactly as ESO creates Secrets, which
/// [`up_to_date`] counts as ours and [`take_over_eso_fields`] turns into our `Apply` entry before the first apply.
async fn create_target(
    es: &ExternalSecret,
    ctx: &Context,
    secrets: &Api<Secret>,
    namespace: &str,
    name: &str,
    built: &BuiltData,
) -> Result<Option<(Written, String)>, ReconcileError> {
    if es.spec.target.creation_policy == ExternalSecretCreationPolicy::Owner {
        delete_previous_target(ctx, es, namespace, name).await?;
    }
    let sources = template_sources(ctx, es, namespace).await?;
    let desired = desired_secret(es, built.data.clone(), &sources, &ctx.config.template_delimiters)?;
    let manager = external_secrets_core::field_manager::field_manager(&es.name_any());
    let params = PostParams { field_manager: Some(manager), ..PostParams::default() };
    match secrets.create(&params, &desired).await {
        Ok(written) => {
            Stats::inc(&ctx.stats.secret_writes);
            ctx.set_verified(namespace, name, written.metadata.resource_version);
            Ok(Some((Written::Created, "secret synced".to_string())))
        }
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(None),
        Err(e) => Err(refused_write(e, name, &desired)),
    }
}

/// A failed write of the target Secret as the user should read it: an immutable target, an apiserver refusal
/// (whose message is redacted, as it quotes label values and keys rendered from secret data), or the error.
fn refused_write(e: kube::Error, name: &str, desired: &Secret) -> ReconcileError {
    match &e {
        kube::Error::Api(s) if s.code == 422 && s.message.contains("immutable") => {
            ReconcileError::Ownership("could not update secret, target is immutable".to_string())
        }
        kube::Error::Api(s) if s.code == 400 || s.code == 422 => {
            let body = serde_json::to_value(desired).unwrap_or_default();
            ReconcileError::Refused(refusal("Secret", name, &s.message, &body))
        }
        _ => ReconcileError::Kube(e),
    }
}

/// After `spec.target.name` changed, deletes the Secret this ExternalSecret wrote under its previous name
/// (`status.binding`), if it still carries our `created-by` label and no other controller owner — a stale
/// credential would otherwise stay behind. ESO lists Secrets by that label on every sync; the binding names the
/// one candidate without a LIST.
async fn delete_previous_target(
    ctx: &Context,
    es: &ExternalSecret,
    namespace: &str,
    target: &str,
) -> Result<(), ReconcileError> {
    let Some(previous) = ctx.latest_status(es).binding.map(|b| b.name).filter(|n| !n.is_empty() && n != target) else {
        return Ok(());
    };
    let Some(old) = ctx.target_secrets.get(&ObjectRef::new(&previous).within(namespace)) else { return Ok(()) };
    let ours = old.labels().get(LABEL_CREATED_BY) == Some(&created_by_label(namespace, &es.name_any()));
    if !ours || other_owner(&old, es).is_some() {
        return Ok(());
    }
    let preconditions = kube::api::Preconditions { uid: old.uid(), resource_version: None };
    let params = DeleteParams { preconditions: Some(preconditions), ..Default::default() };
    match Api::<Secret>::namespaced(ctx.client.clone(), namespace).delete(&previous, &params).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    ctx.set_verified(namespace, &previous, None);
    info!(previous = %previous, "deleted the Secret of the previous target name");
    ctx.event(es, EventType::Normal, "Deleted", "secret deleted because it was orphaned".to_string());
    Ok(())
}

/// Reads the ConfigMaps and Secrets that `templateFrom` names (only when a template uses them).
pub(crate) async fn template_sources(
    ctx: &Context,
    es: &ExternalSecret,
    namespace: &str,
) -> Result<TemplateSources, ReconcileError> {
    template_sources_named(ctx, template_source_names(es), namespace, "spec.target.template.templateFrom").await
}

/// Reads the ConfigMaps and Secrets (`names`: ConfigMaps, Secrets) of `namespace` a template's `templateFrom`
/// (`field`, for errors) names.
pub(crate) async fn template_sources_named(
    ctx: &Context,
    names: (Vec<String>, Vec<String>),
    namespace: &str,
    field: &str,
) -> Result<TemplateSources, ReconcileError> {
    let (config_map_names, secret_names) = names;
    let mut sources = TemplateSources::default();
    let config_maps: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(ctx.client.clone(), namespace);
    for name in config_map_names {
        match config_maps.get_opt(&name).await? {
            Some(cm) => {
                sources.config_maps.insert(name, cm.data.unwrap_or_default());
            }
            None => {
                return Err(TargetError::Source {
                    field: field.to_string(),
                    message: format!("ConfigMap {name:?} not found"),
                }
                .into());
            }
        }
    }
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    for name in secret_names {
        Stats::inc(&ctx.stats.secret_reads);
        match secrets.get_opt(&name).await? {
            Some(secret) => {
                let data = secret.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect();
                sources.secrets.insert(name, data);
            }
            None => {
                return Err(TargetError::Source {
                    field: field.to_string(),
                    message: format!("Secret {name:?} not found"),
                }
                .into());
            }
        }
    }
    Ok(sources)
}

/// Whether the existing Secret already is what we would apply: same data (hash, verified against the data), the
/// same type, and metadata equal to what our field manager owns (a label or owner reference we applied before and
/// no longer want makes it out of date). Then no write happens — this is also how Secrets created by ESO are
/// adopted without a rewrite.
#[allow(clippy::too_many_arguments)]
async fn up_to_date(
    ctx: &Context,
    existing: &PartialObjectMeta<Secret>,
    current: Option<Secret>,
    desired: &Secret,
    desired_hash: &str,
    owner: FieldOwner<'_>,
    namespace: &str,
    name: &str,
) -> Result<bool, ReconcileError> {
    let entries = existing.metadata.managed_fields.as_deref().unwrap_or_default();
    let owners: Vec<(String, bool)> =
        existing.owner_references().iter().map(|o| (o.uid.clone(), o.controller == Some(true))).collect();
    let existing_meta = ExistingMeta {
        labels: existing.labels(),
        annotations: existing.annotations(),
        owners: &owners,
        finalizers: existing.finalizers(),
    };
    if !metadata_in_sync(desired, existing_meta, &owned_by(entries, owner)) {
        return Ok(false);
    }
    let rv = existing.resource_version().unwrap_or_default();
    if ctx.is_verified(namespace, name, &rv) {
        return Ok(existing.annotations().get(ANNOTATION_DATA_HASH).map(String::as_str) == Some(desired_hash));
    }
    // Not verified yet (first sight after start, or someone else wrote it): compare the data itself, read once
    // (or already read by the caller).
    let secret = match current {
        Some(secret) => secret,
        None => match read_target(ctx, namespace, name).await? {
            Some(secret) => secret,
            None => return Ok(false),
        },
    };
    let actual = checked_hash(ctx, namespace, name, &secret);
    let type_ok = desired.type_.is_none() || desired.type_ == secret.type_;
    Ok(type_ok && actual == desired_hash)
}

/// Moves the fields ESO wrote under our manager name (`Update` entries), and under its old shared name where
/// `owner` counts those, into our `Apply` entry, so that the apply that follows can release what the
/// ExternalSecret no longer wants. Guarded by the resourceVersion we saw: a concurrent writer makes it fail with a
/// conflict, and the sync is retried.
async fn take_over_eso_fields(
    ctx: &Context,
    secrets: &Api<Secret>,
    existing: &PartialObjectMeta<Secret>,
    owner: FieldOwner<'_>,
) -> Result<(), ReconcileError> {
    let entries = existing.metadata.managed_fields.as_deref().unwrap_or_default();
    let Some(managed_fields) = take_over(entries, owner, Time(jiff::Timestamp::now())) else { return Ok(()) };
    let patch = json!({
        "metadata": {
            "resourceVersion": existing.resource_version(),
            "managedFields": managed_fields,
        }
    });
    secrets.patch(&existing.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Stats::inc(&ctx.stats.secret_writes);
    info!("took over the fields ESO wrote to the target Secret");
    Ok(())
}

/// `current` with the `Ready` condition set (its transition time kept when the status is unchanged).
fn status_with(
    current: ExternalSecretStatus,
    status: &str,
    reason_: &str,
    message: &str,
    refreshed: Option<jiff::Timestamp>,
) -> ExternalSecretStatus {
    let mut out = current;
    let previous = out.condition("Ready").cloned();
    let transition = match &previous {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => Some(Time(jiff::Timestamp::now())),
    };
    out.conditions.retain(|c| c.type_ != "Ready");
    out.conditions.push(ExternalSecretStatusCondition {
        type_: "Ready".to_string(),
        status: status.to_string(),
        reason: Some(reason_.to_string()),
        message: Some(message.to_string()),
        last_transition_time: transition,
    });
    if let Some(t) = refreshed {
        out.refresh_time = Some(Time(t));
    }
    out
}

/// Writes the status through the status subresource, only when it differs from what the object has.
async fn write_status(es: &ExternalSecret, ctx: &Context, status: &ExternalSecretStatus) -> Result<(), ReconcileError> {
    let namespace = es.namespace().unwrap_or_default();
    let ready = status.condition("Ready").map(|c| c.status.clone()).unwrap_or_else(|| "Unknown".to_string());
    Metrics::set_condition(&ctx.metrics.es_condition, &es.name_any(), &namespace, &ready);
    if &ctx.latest_status(es) == status {
        return Ok(());
    }
    let api: Api<ExternalSecret> = Api::namespaced(ctx.client.clone(), &namespace);
    store::apply_status(ctx, &api, es, status).await?;
    Ok(())
}

/// The ExternalSecrets that use a store (for requeueing them when the store changes).
pub fn users_of_store(
    ctx: &Context,
    kind: StoreKind,
    namespace: Option<&str>,
    name: &str,
) -> Vec<ObjectRef<ExternalSecret>> {
    let wanted = StoreId { kind: store::api_kind(kind), name: name.to_string() };
    ctx.external_secrets
        .state()
        .iter()
        .filter(|es| match kind {
            StoreKind::SecretStore => es.namespace().as_deref() == namespace,
            StoreKind::ClusterSecretStore => true,
        })
        .filter(|es| plan(&es.spec).map(|p| p.contains_key(&wanted)).unwrap_or(false))
        .map(|es| ObjectRef::from_obj(es.as_ref()))
        .collect()
}

/// The ExternalSecret a managed Secret belongs to: its controller owner, else the one targeting it by name; none
/// when the Secret is as we last wrote or checked it.
pub fn owner_of_secret(ctx: &Context, secret: &PartialObjectMeta<Secret>) -> Vec<ObjectRef<ExternalSecret>> {
    let Some(namespace) = secret.namespace() else { return Vec::new() };
    // A resourceVersion we wrote (or read and checked) is our own write coming back: nothing to repair. Reconciling
    // it anyway would, while the cached ExternalSecret does not show that sync's status yet, fetch from the
    // provider a second time.
    if ctx.is_verified(&namespace, &secret.name_any(), &secret.resource_version().unwrap_or_default()) {
        return Vec::new();
    }
    if let Some(owner) =
        secret.owner_references().iter().find(|o| o.controller == Some(true) && o.kind == "ExternalSecret")
    {
        return vec![ObjectRef::new(&owner.name).within(&namespace)];
    }
    let name = secret.name_any();
    ctx.external_secrets
        .state()
        .iter()
        .filter(|es| es.namespace().as_deref() == Some(namespace.as_str()) && target_name(es) == name)
        .map(|es| ObjectRef::from_obj(es.as_ref()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_reconcile_becomes_an_error_and_a_normal_one_passes_through() {
        #[allow(clippy::panic)]
        let panicking = async { panic!("a value that must not be logged") };
        assert_eq!(isolated::<()>(panicking).await, Err(Panicked));
        assert_eq!(isolated(async { 7 }).await, Ok(7));
    }
}
