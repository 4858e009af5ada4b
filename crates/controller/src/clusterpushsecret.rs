//! The ClusterPushSecret controller (ESO 2.9's `pkg/controllers/clusterpushsecret`): one PushSecret per namespace
//! `namespaceSelectors` selects, owned by the ClusterPushSecret. The decisions are pure functions in
//! `core::cluster_push_secret` over the fan-out shared with ClusterExternalSecret (`core::fan_out`,
//! [`crate::fan_out`]); here they are looked up, carried out and recorded.
//!
//! - Look up: namespaces from a metadata-only watch, PushSecrets from the PushSecret watch's cache. Nothing is
//!   judged missing before both caches are complete.
//! - Act: create a PushSecret that is missing (never overwriting one that appeared meanwhile), patch one of ours
//!   that differs (merge patch guarded by its resourceVersion), delete ours where a namespace is no longer selected
//!   or `pushSecretName` changed. One that is not ours is never touched; its namespace fails with ESO's reason.
//! - No finalizer, as ESO: the ClusterPushSecret's deletion leaves its PushSecrets to the garbage collector (their
//!   owner references), and each PushSecret's own finalizer cleans up the provider (`deletionPolicy: Delete`).
//! - Security: a PushSecret created here lives in the namespace it reads from, so it can read only that
//!   namespace's Secrets (the PushSecret controller's rule); the ClusterPushSecret never reads a Secret itself.
//! - Triggers: the ClusterPushSecret (spec, labels, annotations), namespaces whose labels change, appear or go,
//!   and changes or deletions of the PushSecrets it controls ([`crate::fan_out::OwnerTriggers`]).
//! - Record: the status (only when it changed), `clusterpushsecret_*` metrics, and ESO's Warning `Errored` event
//!   when the namespaces cannot be selected or the PushSecrets of a previous name cannot be deleted.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use external_secrets_api::v1alpha1::{ClusterPushSecret, ClusterPushSecretStatus, PushSecret, push_reason};
use external_secrets_core::cluster_push_secret::{
    ALREADY_EXISTS, DELETE_FAILED, SELECTION_FAILED, concerns_namespace, controlling_owner, errored_condition,
    is_owned_by, namespace_failures, namespace_selection, plan_namespace, push_secret_name, reconciled_status,
    refresh_time, with_ready,
};
use external_secrets_core::fan_out::removed_namespaces;
use external_secrets_core::refresh::{REQUEUE_JITTER_FRACTION, jittered};
use futures::{FutureExt, Stream, StreamExt};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};
use tracing::{debug, info, instrument, warn};

use crate::context::{Context, Stats, object_key};
use crate::events::EventType;
use crate::externalsecret::isolated;
use crate::fan_out::{Failure, Provisioned, api_message};
use crate::metrics::{ObjectKind, ObjectLabels};
use crate::workqueue::{self, ControllerMetrics};

/// controller-runtime's name of this controller (the `controller` label of its series).
pub const CONTROLLER: &str = "clusterpushsecret";

/// The PushSecret watch's events as reconciles of the ClusterPushSecret that controls the PushSecret.
pub type OwnerTriggers = crate::fan_out::OwnerTriggers<PushSecret, ClusterPushSecret>;

/// Owner triggers sent to `sender`; the receiving end goes to [`controller`].
pub fn owner_triggers(sender: futures::channel::mpsc::UnboundedSender<ObjectRef<ClusterPushSecret>>) -> OwnerTriggers {
    OwnerTriggers::new(sender, controlling_owner)
}

/// Why a reconcile must be retried (with backoff).
#[derive(Debug, thiserror::Error)]
pub enum CpsError {
    /// The Kubernetes API failed.
    #[error("kubernetes API error: {0}")]
    Kube(#[from] kube::Error),
    /// Some namespaces could not be brought in line; retried with backoff.
    #[error("{0}")]
    Retry(String),
    /// The reconcile panicked.
    #[error("{0}")]
    Panicked(String),
}

/// What the ClusterPushSecret reconciles share.
pub struct CpsContext {
    pub ctx: Arc<Context>,
    /// Metadata of every namespace.
    pub namespaces: Store<PartialObjectMeta<Namespace>>,
    /// ClusterPushSecret uid → (the resourceVersion a status was computed from, that status).
    written_status: Mutex<HashMap<String, (String, ClusterPushSecretStatus)>>,
}

/// The parts of the controller [`crate::run`] runs.
pub struct Parts {
    /// Watches and reconciles until shutdown.
    pub run: futures::future::BoxFuture<'static, ()>,
    /// Resolves (`true`) once the ClusterPushSecret and Namespace watches have listed everything.
    pub ready: futures::future::BoxFuture<'static, bool>,
}

/// Builds the controller: its own watches of ClusterPushSecrets and (metadata only) Namespaces, the PushSecrets
/// from `ctx`'s cache, and `owner_triggers` for changes of the PushSecrets it controls.
pub fn controller(
    ctx: Arc<Context>,
    owner_triggers: impl Stream<Item = ObjectRef<ClusterPushSecret>> + Send + 'static,
    config: ControllerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> Parts {
    let client = ctx.client.clone();
    let (cps_reader, cps_writer) = reflector::store();
    let metrics = ctx.metrics.clone();
    let cps_stream = watcher(Api::<ClusterPushSecret>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .inspect(move |event| {
            // Nothing is reconciled once it is gone (no finalizer): its series go here.
            if let Ok(watcher::Event::Delete(cps)) = event {
                metrics.forget_cluster_push_secret(&cps.name_any());
            }
        })
        .reflect(cps_writer)
        .applied_objects()
        .predicate_filter(crate::spec_change_predicate, Default::default());
    let (ns_reader, ns_stream) = crate::fan_out::namespace_watch(client);

    let queue = ControllerMetrics::new(CONTROLLER, ctx.metrics.clone(), ctx.config.concurrent);
    let cx = Arc::new(CpsContext { ctx, namespaces: ns_reader.clone(), written_status: Mutex::default() });
    let (q_self, q_ns, q_owner, q_run) = (queue.clone(), queue.clone(), queue.clone(), queue);
    let cps_stream = cps_stream.inspect(move |cps| {
        if let Ok(cps) = cps {
            q_self.queued(workqueue::key(None, &cps.name_any()));
        }
    });
    let owner_triggers = owner_triggers.inspect(move |r| q_owner.queued(workqueue::key(None, &r.name)));
    let mapper_store = cps_reader.clone();
    let run = Controller::for_stream(cps_stream, cps_reader.clone())
        .with_config(config)
        .watches_stream(ns_stream, move |ns: PartialObjectMeta<Namespace>| {
            let name = ns.name_any();
            let refs: Vec<ObjectRef<ClusterPushSecret>> = mapper_store
                .state()
                .iter()
                .filter(|cps| concerns_namespace(cps, &name, ns.labels()))
                .map(|cps| ObjectRef::from_obj(cps.as_ref()))
                .collect();
            for r in &refs {
                q_ns.queued(workqueue::key(None, &r.name));
            }
            refs
        })
        .reconcile_on(owner_triggers)
        .graceful_shutdown_on(shutdown)
        .run(
            move |cps, cx: Arc<CpsContext>| {
                let queue = q_run.clone();
                async move { queue.reconcile(workqueue::key(None, &cps.name_any()), reconcile(cps, cx), || false).await }
            },
            error_policy,
            cx,
        )
        .for_each(|res| async move {
            if let Err(e) = res {
                warn!(error = %e, "ClusterPushSecret controller error");
            }
        })
        .boxed();
    let ready = async move {
        let (cps, ns) = futures::future::join(cps_reader.wait_until_ready(), ns_reader.wait_until_ready()).await;
        cps.is_ok() && ns.is_ok()
    }
    .boxed();
    Parts { run, ready }
}

/// The reconcile entry point: metrics, the span, panics isolated; one being deleted is left to the garbage
/// collector (as ESO).
#[instrument(skip_all, fields(name = cps.name_any()))]
pub async fn reconcile(cps: Arc<ClusterPushSecret>, cx: Arc<CpsContext>) -> Result<Action, CpsError> {
    if cps.meta().deletion_timestamp.is_some() {
        debug!("being deleted; its PushSecrets go with it (owner references)");
        return Ok(Action::await_change());
    }
    let started = Instant::now();
    let name = cps.name_any();
    cx.ctx.metrics.object_labels(ObjectKind::ClusterPushSecret, "", &name, cps.labels());
    let key = object_key(cps.as_ref());
    let result = isolated(apply(cps, &cx)).await;
    let elapsed = i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX);
    cx.ctx.metrics.cps_reconcile_duration.get_or_create(&ObjectLabels { name, namespace: String::new() }).set(elapsed);
    match result {
        Ok(Ok(action)) => {
            cx.ctx.reset_backoff(&key);
            Ok(action)
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(CpsError::Panicked("internal error: the reconcile panicked".to_string())),
    }
}

/// Retries with per-object exponential backoff.
pub fn error_policy(cps: Arc<ClusterPushSecret>, err: &CpsError, cx: Arc<CpsContext>) -> Action {
    warn!(name = cps.name_any(), error = %err, "ClusterPushSecret reconcile failed; retrying");
    Action::requeue(cx.ctx.backoff(&object_key(cps.as_ref())))
}

fn now() -> Time {
    Time(jiff::Timestamp::now())
}

impl CpsContext {
    /// Waits until the Namespace and PushSecret caches are complete.
    async fn caches_ready(&self) {
        let _ =
            futures::future::join(self.namespaces.wait_until_ready(), self.ctx.push_secrets.wait_until_ready()).await;
    }

    /// The status as of our last write: the cached one, unless the watch has not shown our last write yet.
    fn current_status(&self, cps: &ClusterPushSecret) -> ClusterPushSecretStatus {
        let cached = cps.status.clone().unwrap_or_default();
        let (Some(uid), Some(rv)) = (cps.uid(), cps.resource_version()) else { return cached };
        let mut written = self.written_status.lock().unwrap_or_else(|p| p.into_inner());
        match written.get(&uid) {
            Some((base, status)) if *base == rv => status.clone(),
            Some(_) => {
                written.remove(&uid);
                cached
            }
            None => cached,
        }
    }

    /// Writes `status` (a merge patch of the status subresource, emptied lists removed) when it differs from the
    /// current one, and sets the condition series.
    async fn write_status(&self, cps: &ClusterPushSecret, status: ClusterPushSecretStatus) -> Result<(), CpsError> {
        let name = cps.name_any();
        if let Some(ready) = status.conditions.iter().find(|c| c.type_ == "Ready") {
            self.ctx.metrics.set_cps_condition(&name, &ready.status);
        }
        if self.current_status(cps) == status {
            return Ok(());
        }
        let mut body = serde_json::to_value(&status).unwrap_or_else(|_| json!({}));
        if let Value::Object(fields) = &mut body {
            for field in ["pushSecretName", "failedNamespaces", "provisionedNamespaces", "conditions"] {
                fields.entry(field).or_insert(Value::Null);
            }
        }
        let api: Api<ClusterPushSecret> = Api::all(self.ctx.client.clone());
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&json!({ "status": body }))).await?;
        Stats::inc(&self.ctx.stats.status_writes);
        if let (Some(uid), Some(rv)) = (cps.uid(), cps.resource_version()) {
            self.written_status.lock().unwrap_or_else(|p| p.into_inner()).insert(uid, (rv, status));
        }
        Ok(())
    }

    /// ESO's `markAsFailed`: `Ready=False` `Errored` with `message`, and a Warning `Errored` event.
    async fn mark_failed(
        &self,
        cps: &ClusterPushSecret,
        status: ClusterPushSecretStatus,
        message: &str,
        detail: String,
    ) -> Result<(), CpsError> {
        warn!(error = %detail, "{message}");
        let status = with_ready(status, errored_condition(message, now()));
        self.write_status(cps, status).await?;
        self.ctx.event(cps, EventType::Warning, push_reason::ERRORED, format!("{message}: {detail}"));
        Ok(())
    }

    /// Deletes the PushSecret `name` in `namespace` if the ClusterPushSecret `cps_name` controls it (by uid).
    async fn delete_push_secret(&self, namespace: &str, name: &str, cps_name: &str) -> Result<bool, kube::Error> {
        let existing = self.ctx.push_secrets.get(&ObjectRef::new(name).within(namespace));
        let api = Api::<PushSecret>::namespaced(self.ctx.client.clone(), namespace);
        let deleted = crate::fan_out::delete_owned(&api, existing.as_deref(), |ps| is_owned_by(ps, cps_name)).await?;
        if deleted {
            info!(namespace, push_secret = name, "deleted PushSecret");
        }
        Ok(deleted)
    }

    /// Brings the PushSecret `name` in `namespace` in line with `cps`.
    async fn provision(&self, cps: &ClusterPushSecret, namespace: &str, name: &str) -> Result<(), Failure> {
        let api: Api<PushSecret> = Api::namespaced(self.ctx.client.clone(), namespace);
        let cached = self.ctx.push_secrets.get(&ObjectRef::new(name).within(namespace));
        let plan = plan_namespace(cps, namespace, name, cached.as_deref());
        let replan = |found: Option<&PushSecret>| plan_namespace(cps, namespace, name, found);
        let outcome = crate::fan_out::provision(&api, name, plan, replan, "push secret", ALREADY_EXISTS).await?;
        if outcome == Provisioned::Written {
            debug!(namespace, push_secret = name, "created or updated PushSecret");
        }
        Ok(())
    }
}

/// ESO's reason for a PushSecret that could not be deleted from a namespace no longer selected.
fn delete_reason(e: &kube::Error) -> String {
    format!("external secret in non matching namespace could not be deleted: {}", api_message(e))
}

/// One reconcile of a ClusterPushSecret.
async fn apply(cps: Arc<ClusterPushSecret>, cx: &CpsContext) -> Result<Action, CpsError> {
    cx.caches_ready().await;
    let cps_name = cps.name_any();
    let current = cx.current_status(&cps);
    let ps_name = push_secret_name(&cps);

    let refresh = match refresh_time(&cps.spec) {
        Ok(refresh) => refresh,
        Err(e) => {
            let text = cps.spec.refresh_interval.clone().unwrap_or_default();
            cx.mark_failed(&cps, current, "invalid spec.refreshTime", format!("{text:?}: {e}")).await?;
            return Ok(Action::await_change());
        }
    };

    // `pushSecretName` changed: ours of the previous name go first (from the provisioned namespaces, as ESO).
    if let Some(previous) = current.push_secret_name.clone().filter(|p| !p.is_empty() && *p != ps_name) {
        let mut failed = BTreeMap::new();
        for ns in &current.provisioned_namespaces {
            if let Err(e) = cx.delete_push_secret(ns, &previous, &cps_name).await {
                failed.insert(ns.clone(), delete_reason(&e));
            }
        }
        if !failed.is_empty() {
            let mut status = current;
            status.failed_namespaces = namespace_failures(&failed);
            let detail = format!("previous pushSecretName {previous:?}");
            cx.mark_failed(&cps, status, DELETE_FAILED, detail).await?;
            return Err(CpsError::Retry(format!(
                "could not delete every PushSecret of the previous name {previous:?}"
            )));
        }
        info!(previous = %previous, name = %ps_name, "pushSecretName changed; the previous PushSecrets are deleted");
    }

    let selection = match namespace_selection(&cps.spec) {
        Ok(selection) => selection,
        Err(e) => {
            let mut status = current;
            status.push_secret_name = Some(ps_name);
            cx.mark_failed(&cps, status, SELECTION_FAILED, e.to_string()).await?;
            return Ok(Action::await_change());
        }
    };
    let mut selected = BTreeSet::new();
    let mut active = Vec::new();
    for ns in cx.namespaces.state() {
        if selection.selects(ns.labels()) {
            let name = ns.name_any();
            // A namespace being deleted keeps what it has (it goes with the namespace) and gets nothing new.
            if ns.meta().deletion_timestamp.is_none() {
                active.push(name.clone());
            }
            selected.insert(name);
        }
    }

    let mut failed = BTreeMap::new();
    for ns in removed_namespaces(&selected, &current.provisioned_namespaces) {
        if let Err(e) = cx.delete_push_secret(ns, &ps_name, &cps_name).await {
            failed.insert(ns.to_string(), delete_reason(&e));
        }
    }

    let concurrency = usize::from(cx.ctx.config.concurrent.max(1));
    let outcomes: Vec<(String, Result<(), Failure>)> = futures::stream::iter(active)
        .map(|ns| {
            let (cps, ps_name) = (&cps, &ps_name);
            async move {
                let outcome = cx.provision(cps, &ns, ps_name).await;
                (ns, outcome)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut provisioned = BTreeSet::new();
    let mut conflict = false;
    for (ns, outcome) in outcomes {
        match outcome {
            Ok(()) => {
                provisioned.insert(ns);
            }
            Err(f) => {
                conflict |= f.conflict;
                failed.insert(ns, f.reason);
            }
        }
    }

    let count = (provisioned.len(), failed.len());
    cx.write_status(&cps, reconciled_status(current, &ps_name, provisioned, &failed, now())).await?;
    debug!(provisioned = count.0, failed = count.1, "reconciled");
    if conflict {
        return Err(CpsError::Retry("conflict while writing a PushSecret; retrying".to_string()));
    }
    Ok(match refresh {
        Some(every) => Action::requeue(jittered(every, REQUEUE_JITTER_FRACTION, rand::random::<f64>())),
        None => Action::await_change(),
    })
}
