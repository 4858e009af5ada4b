//! The ClusterExternalSecret controller: one ExternalSecret per selected namespace, owned by the
//! ClusterExternalSecret, with ESO 2.9's status, finalizer and metrics. The decisions are pure functions in
//! `core::cluster_external_secret`; here they are looked up, carried out and recorded.
//!
//! - Look up: namespaces from a metadata-only watch, ExternalSecrets from the ExternalSecret controller's watch
//!   cache. Nothing is judged missing before both caches are complete.
//! - Act: create an ExternalSecret that is missing (a create never overwrites: if one appeared meanwhile, the
//!   API's copy decides), patch one of ours that differs (a JSON merge patch guarded by its resourceVersion),
//!   delete ours where a namespace is no longer selected or the name changed. One that is not ours is never
//!   touched. An unchanged refresh writes nothing.
//! - Triggers: the ClusterExternalSecret (spec, labels, annotations, deletion), namespaces whose labels change,
//!   appear or go (mapped to the ClusterExternalSecrets they concern), and changes or deletions of the
//!   ExternalSecrets it controls ([`OwnerTriggers`], fed from the ExternalSecret watch).
//! - Record: the status (only when it changed), `clusterexternalsecret_*` metrics, and a Warning event when the
//!   spec cannot be used (ESO records no events for this kind).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use external_secrets_api::{ClusterExternalSecret, ClusterExternalSecretStatus, ExternalSecret};
use external_secrets_core::cluster_external_secret::{
    ALREADY_EXISTS, FINALIZER, UNKNOWN_NAMESPACE, concerns_namespace, controlling_owner, eso_namespace_finalizer,
    external_secret_name, failed_status, is_owned_by, namespace_selection, plan_namespace, reconciled_status,
    refresh_time, removed_namespaces, with_ready,
};
use external_secrets_core::refresh::{REQUEUE_JITTER_FRACTION, jittered};
use futures::{FutureExt, Stream, StreamExt};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};
use tracing::{debug, info, instrument, warn};

use crate::context::{Context, Stats, object_key};
use crate::events::EventType;
use crate::externalsecret::isolated;
use crate::fan_out::{Failure, Provisioned, api_message, is_code};
use crate::metrics::{ObjectKind, ObjectLabels};
use crate::workqueue::{self, ControllerMetrics};

/// controller-runtime's name of this controller (the `controller` label of its series).
pub const CONTROLLER: &str = "clusterexternalsecret";

/// The field manager of our ExternalSecret writes (ESO's client writes under its binary name too).
pub const FIELD_MANAGER: &str = crate::fan_out::FIELD_MANAGER;

/// The event reason of a spec that cannot be used.
const INVALID_SPEC: &str = "InvalidSpec";

/// Why a reconcile must be retried (with backoff).
#[derive(Debug, thiserror::Error)]
pub enum CesError {
    /// The Kubernetes API failed.
    #[error("kubernetes API error: {0}")]
    Kube(#[from] kube::Error),
    /// Some namespaces could not be brought in line; retried with backoff.
    #[error("{0}")]
    Retry(String),
    /// Adding or removing our finalizer failed, or the reconcile panicked.
    #[error("{0}")]
    Finalizer(String),
}

/// What the ClusterExternalSecret reconciles share.
pub struct CesContext {
    pub ctx: Arc<Context>,
    /// Metadata of every namespace.
    pub namespaces: Store<PartialObjectMeta<Namespace>>,
    pub cluster_external_secrets: Store<ClusterExternalSecret>,
    /// ClusterExternalSecret uid → (the resourceVersion a status was computed from, that status): a reconcile
    /// that starts before the watch shows our status write compares with what we wrote, not with the old one.
    written_status: Mutex<HashMap<String, (String, ClusterExternalSecretStatus)>>,
}

/// The parts of the controller [`crate::run`] runs: the controller itself and its readiness.
pub struct Parts {
    /// Watches and reconciles until shutdown.
    pub run: futures::future::BoxFuture<'static, ()>,
    /// Resolves (`true`) once the ClusterExternalSecret and Namespace watches have listed everything.
    pub ready: futures::future::BoxFuture<'static, bool>,
}

/// Builds the controller: its own watches of ClusterExternalSecrets and (metadata only) Namespaces, the
/// ExternalSecrets from `ctx`'s cache, and `owner_triggers` for changes of the ExternalSecrets it controls.
pub fn controller(
    ctx: Arc<Context>,
    owner_triggers: impl Stream<Item = ObjectRef<ClusterExternalSecret>> + Send + 'static,
    config: ControllerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> Parts {
    let client = ctx.client.clone();
    let (ces_reader, ces_writer) = reflector::store();
    let ces_stream = watcher(Api::<ClusterExternalSecret>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .reflect(ces_writer)
        .applied_objects()
        .predicate_filter(crate::spec_change_predicate, Default::default());
    let (ns_reader, ns_stream) = crate::fan_out::namespace_watch(client);

    let queue = ControllerMetrics::new(CONTROLLER, ctx.metrics.clone(), ctx.config.concurrent);
    let cx = Arc::new(CesContext {
        ctx,
        namespaces: ns_reader.clone(),
        cluster_external_secrets: ces_reader.clone(),
        written_status: Mutex::default(),
    });
    let (q_self, q_ns, q_owner, q_run) = (queue.clone(), queue.clone(), queue.clone(), queue);
    let ces_stream = ces_stream.inspect(move |ces| {
        if let Ok(ces) = ces {
            q_self.queued(workqueue::key(None, &ces.name_any()));
        }
    });
    let owner_triggers = owner_triggers.inspect(move |r| q_owner.queued(workqueue::key(None, &r.name)));
    let mapper_store = ces_reader.clone();
    let run = Controller::for_stream(ces_stream, ces_reader.clone())
        .with_config(config)
        .watches_stream(ns_stream, move |ns: PartialObjectMeta<Namespace>| {
            let refs = concerned(&mapper_store, &ns);
            for r in &refs {
                q_ns.queued(workqueue::key(None, &r.name));
            }
            refs
        })
        .reconcile_on(owner_triggers)
        .graceful_shutdown_on(shutdown)
        .run(
            move |ces, cx: Arc<CesContext>| {
                let queue = q_run.clone();
                async move { queue.reconcile(workqueue::key(None, &ces.name_any()), reconcile(ces, cx), || false).await }
            },
            error_policy,
            cx,
        )
        .for_each(|res| async move {
            if let Err(e) = res {
                warn!(error = %e, "ClusterExternalSecret controller error");
            }
        })
        .boxed();
    let ready = async move {
        let (ces, ns) = futures::future::join(ces_reader.wait_until_ready(), ns_reader.wait_until_ready()).await;
        ces.is_ok() && ns.is_ok()
    }
    .boxed();
    Parts { run, ready }
}

/// The ClusterExternalSecrets a namespace change concerns.
fn concerned(
    store: &Store<ClusterExternalSecret>,
    ns: &PartialObjectMeta<Namespace>,
) -> Vec<ObjectRef<ClusterExternalSecret>> {
    let name = ns.name_any();
    store
        .state()
        .iter()
        .filter(|ces| concerns_namespace(ces, &name, ns.labels(), ns.finalizers()))
        .map(|ces| ObjectRef::from_obj(ces.as_ref()))
        .collect()
}

/// The ExternalSecret watch's events as reconciles of the ClusterExternalSecret that controls the ExternalSecret
/// (see [`crate::fan_out::OwnerTriggers`]).
pub type OwnerTriggers = crate::fan_out::OwnerTriggers<ExternalSecret, ClusterExternalSecret>;

/// Owner triggers sent to `sender`; the receiving end goes to [`controller`].
pub fn owner_triggers(
    sender: futures::channel::mpsc::UnboundedSender<ObjectRef<ClusterExternalSecret>>,
) -> OwnerTriggers {
    OwnerTriggers::new(sender, controlling_owner)
}

/// The reconcile entry point: metrics, the span, panics isolated, dispatch through ESO's finalizer.
#[instrument(skip_all, fields(name = ces.name_any()))]
pub async fn reconcile(ces: Arc<ClusterExternalSecret>, cx: Arc<CesContext>) -> Result<Action, CesError> {
    let started = Instant::now();
    let name = ces.name_any();
    cx.ctx.metrics.object_labels(ObjectKind::ClusterExternalSecret, "", &name, ces.labels());
    let api: Api<ClusterExternalSecret> = Api::all(cx.ctx.client.clone());
    let deleting = ces.meta().deletion_timestamp.is_some();
    let key = object_key(ces.as_ref());
    let result = isolated(finalizer(&api, FINALIZER, ces, |event| async {
        match event {
            FinalizerEvent::Apply(ces) => apply(ces, &cx).await,
            FinalizerEvent::Cleanup(ces) => cleanup(ces, &cx).await,
        }
    }))
    .await;
    if !deleting {
        let elapsed = i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX);
        let labels = ObjectLabels { name, namespace: String::new() };
        cx.ctx.metrics.ces_reconcile_duration.get_or_create(&labels).set(elapsed);
    }
    match result {
        Ok(Ok(action)) => {
            cx.ctx.reset_backoff(&key);
            Ok(action)
        }
        Ok(Err(
            kube::runtime::finalizer::Error::ApplyFailed(e) | kube::runtime::finalizer::Error::CleanupFailed(e),
        )) => Err(e),
        Ok(Err(e)) => Err(CesError::Finalizer(e.to_string())),
        Err(_) => Err(CesError::Finalizer("internal error: the reconcile panicked".to_string())),
    }
}

/// Retries with per-object exponential backoff.
pub fn error_policy(ces: Arc<ClusterExternalSecret>, err: &CesError, cx: Arc<CesContext>) -> Action {
    warn!(name = ces.name_any(), error = %err, "ClusterExternalSecret reconcile failed; retrying");
    Action::requeue(cx.ctx.backoff(&object_key(ces.as_ref())))
}

impl CesContext {
    /// Waits until the Namespace and ExternalSecret caches are complete: before, a missing ExternalSecret or
    /// namespace could just be one not listed yet.
    async fn caches_ready(&self) {
        let _ = futures::future::join(self.namespaces.wait_until_ready(), self.ctx.external_secrets.wait_until_ready())
            .await;
    }

    /// The status as of our last write: the cached one, unless the watch has not shown our last write yet.
    fn current_status(&self, ces: &ClusterExternalSecret) -> ClusterExternalSecretStatus {
        let cached = ces.status.clone().unwrap_or_default();
        let (Some(uid), Some(rv)) = (ces.uid(), ces.resource_version()) else { return cached };
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

    /// Writes `status` (a merge patch of the status subresource, so that emptied lists are removed whoever wrote
    /// them) when it differs from the current one, and sets the condition series.
    async fn write_status(
        &self,
        ces: &ClusterExternalSecret,
        status: ClusterExternalSecretStatus,
    ) -> Result<(), CesError> {
        let name = ces.name_any();
        if let Some(ready) = status.conditions.iter().find(|c| c.type_ == "Ready") {
            self.ctx.metrics.set_ces_condition(&name, &ready.status);
        }
        if self.current_status(ces) == status {
            return Ok(());
        }
        let mut body = serde_json::to_value(&status).unwrap_or_else(|_| json!({}));
        if let Value::Object(fields) = &mut body {
            for field in ["externalSecretName", "failedNamespaces", "provisionedNamespaces", "conditions"] {
                fields.entry(field).or_insert(Value::Null);
            }
        }
        let api: Api<ClusterExternalSecret> = Api::all(self.ctx.client.clone());
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&json!({ "status": body }))).await?;
        Stats::inc(&self.ctx.stats.status_writes);
        if let (Some(uid), Some(rv)) = (ces.uid(), ces.resource_version()) {
            self.written_status.lock().unwrap_or_else(|p| p.into_inner()).insert(uid, (rv, status));
        }
        Ok(())
    }

    /// Deletes the ExternalSecret `name` in `namespace` if it is controlled by the ClusterExternalSecret
    /// `ces_name` (by its uid, so that a replacement is never deleted). Returns whether one was deleted.
    async fn delete_external_secret(&self, namespace: &str, name: &str, ces_name: &str) -> Result<bool, kube::Error> {
        let existing = self.ctx.external_secrets.get(&ObjectRef::new(name).within(namespace));
        let api = Api::<ExternalSecret>::namespaced(self.ctx.client.clone(), namespace);
        let deleted = crate::fan_out::delete_owned(&api, existing.as_deref(), |es| is_owned_by(es, ces_name)).await?;
        if deleted {
            Stats::inc(&self.ctx.stats.external_secret_writes);
            info!(namespace, external_secret = name, "deleted ExternalSecret");
        }
        Ok(deleted)
    }

    /// Brings the ExternalSecret `name` in `namespace` in line with `ces`.
    async fn provision(&self, ces: &ClusterExternalSecret, namespace: &str, name: &str) -> Result<(), Failure> {
        let api: Api<ExternalSecret> = Api::namespaced(self.ctx.client.clone(), namespace);
        let cached = self.ctx.external_secrets.get(&ObjectRef::new(name).within(namespace));
        let plan = plan_namespace(ces, namespace, name, cached.as_deref());
        let replan = |found: Option<&ExternalSecret>| plan_namespace(ces, namespace, name, found);
        let outcome = crate::fan_out::provision(&api, name, plan, replan, "ExternalSecret", ALREADY_EXISTS).await?;
        if outcome == Provisioned::Written {
            Stats::inc(&self.ctx.stats.external_secret_writes);
            debug!(namespace, external_secret = name, "created or updated ExternalSecret");
        }
        Ok(())
    }

    /// Removes the namespace finalizer ESO 2.9 left for the ClusterExternalSecret `ces_name` from every namespace
    /// that has it (we do not use it; left there it blocks the namespace's deletion for good). The patch carries
    /// the resourceVersion the list was read at, so a concurrent change of the list makes it fail (retried at the
    /// next reconcile) instead of dropping someone else's finalizer.
    async fn remove_eso_namespace_finalizers(&self, ces_name: &str) -> Result<(), kube::Error> {
        let finalizer = eso_namespace_finalizer(ces_name);
        let api: Api<Namespace> = Api::all(self.ctx.client.clone());
        let mut last_error = None;
        for ns in self.namespaces.state() {
            if !ns.finalizers().contains(&finalizer) {
                continue;
            }
            let remaining: Vec<&String> = ns.finalizers().iter().filter(|f| **f != finalizer).collect();
            let patch = json!({"metadata": {"resourceVersion": ns.resource_version(), "finalizers": remaining}});
            match api.patch_metadata(&ns.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await {
                Ok(_) => info!(namespace = ns.name_any(), finalizer, "removed the namespace finalizer ESO left"),
                Err(e) if is_code(&e, 404) => {}
                Err(e) => {
                    warn!(namespace = ns.name_any(), error = %e, "could not remove the namespace finalizer ESO left");
                    last_error = Some(e);
                }
            }
        }
        last_error.map_or(Ok(()), Err)
    }

    /// A spec that cannot be used: `Ready=False` with `message` (and `failed`, if any), a Warning event; nothing
    /// else is touched, and nothing happens until the spec changes.
    async fn refuse(
        &self,
        ces: &ClusterExternalSecret,
        status: ClusterExternalSecretStatus,
        message: String,
    ) -> Result<Action, CesError> {
        warn!(error = %message, "ClusterExternalSecret spec cannot be used");
        self.write_status(ces, status).await?;
        self.ctx.event(ces, EventType::Warning, INVALID_SPEC, message);
        Ok(Action::await_change())
    }
}

/// One reconcile of a ClusterExternalSecret that is not being deleted.
async fn apply(ces: Arc<ClusterExternalSecret>, cx: &CesContext) -> Result<Action, CesError> {
    cx.caches_ready().await;
    let ces_name = ces.name_any();
    let current = cx.current_status(&ces);
    let es_name = external_secret_name(&ces);

    let refresh = match refresh_time(&ces.spec) {
        Ok(refresh) => refresh,
        Err(e) => {
            let text = ces.spec.refresh_interval.clone().unwrap_or_default();
            let message = format!("spec.refreshTime {text:?}: {e}");
            let condition = external_secrets_api::ClusterExternalSecretStatusCondition {
                type_: "Ready".to_string(),
                status: "False".to_string(),
                message: Some(message.clone()),
            };
            return cx.refuse(&ces, with_ready(current, condition), message).await;
        }
    };

    // `externalSecretName` changed: ours of the previous name go first (ESO: from the provisioned namespaces).
    if let Some(previous) = current.external_secret_name.clone().filter(|p| !p.is_empty() && *p != es_name) {
        let mut failed = BTreeMap::new();
        for ns in &current.provisioned_namespaces {
            if let Err(e) = cx.delete_external_secret(ns, &previous, &ces_name).await {
                failed.insert(
                    ns.clone(),
                    format!("external secret in non matching namespace could not be deleted: {}", api_message(&e)),
                );
            }
        }
        if !failed.is_empty() {
            cx.write_status(&ces, failed_status(current, &failed)).await?;
            return Err(CesError::Retry(format!(
                "could not delete every ExternalSecret of the previous name {previous:?}"
            )));
        }
        info!(previous = %previous, name = %es_name, "externalSecretName changed; the previous ExternalSecrets are deleted");
    }

    let selection = match namespace_selection(&ces.spec) {
        Ok(selection) => selection,
        Err(e) => {
            let failed = BTreeMap::from([(UNKNOWN_NAMESPACE.to_string(), e.to_string())]);
            let mut status = failed_status(current, &failed);
            status.external_secret_name = Some(es_name);
            return cx.refuse(&ces, status, e.to_string()).await;
        }
    };
    let namespaces = cx.namespaces.state();
    let mut selected = BTreeSet::new();
    let mut active = Vec::new();
    for ns in &namespaces {
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
        if let Err(e) = cx.delete_external_secret(ns, &es_name, &ces_name).await {
            let reason = format!("external secret in non matching namespace could not be deleted: {}", api_message(&e));
            failed.insert(ns.to_string(), reason);
        }
    }

    let concurrency = usize::from(cx.ctx.config.concurrent.max(1));
    let outcomes: Vec<(String, Result<(), Failure>)> = futures::stream::iter(active)
        .map(|ns| {
            let (ces, es_name) = (&ces, &es_name);
            async move {
                let outcome = cx.provision(ces, &ns, es_name).await;
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
    if let Err(e) = cx.remove_eso_namespace_finalizers(&ces_name).await {
        debug!(error = %e, "namespace finalizers are retried at the next reconcile");
    }

    let count = (provisioned.len(), failed.len());
    cx.write_status(&ces, reconciled_status(current, &es_name, provisioned, &failed)).await?;
    debug!(provisioned = count.0, failed = count.1, "reconciled");
    if conflict {
        return Err(CesError::Retry("conflict while writing an ExternalSecret; retrying".to_string()));
    }
    Ok(match refresh {
        Some(every) => Action::requeue(jittered(every, REQUEUE_JITTER_FRACTION, rand::random::<f64>())),
        None => Action::await_change(),
    })
}

/// The ClusterExternalSecret is being deleted: its ExternalSecrets go (those in the provisioned namespaces, and
/// any other the cache shows it controls), ESO's namespace finalizers for it are removed, then our finalizer.
async fn cleanup(ces: Arc<ClusterExternalSecret>, cx: &CesContext) -> Result<Action, CesError> {
    cx.caches_ready().await;
    let ces_name = ces.name_any();
    let status = cx.current_status(&ces);
    let es_name = status.external_secret_name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| ces_name.clone());
    let mut targets: BTreeSet<(String, String)> =
        status.provisioned_namespaces.iter().map(|ns| (ns.clone(), es_name.clone())).collect();
    for es in cx.ctx.external_secrets.state() {
        if is_owned_by(&es, &ces_name) {
            targets.insert((es.namespace().unwrap_or_default(), es.name_any()));
        }
    }
    let mut errors = Vec::new();
    for (namespace, name) in &targets {
        if let Err(e) = cx.delete_external_secret(namespace, name, &ces_name).await {
            errors.push(format!("{namespace}/{name}: {}", api_message(&e)));
        }
    }
    if let Err(e) = cx.remove_eso_namespace_finalizers(&ces_name).await {
        errors.push(format!("namespace finalizer: {}", api_message(&e)));
    }
    if !errors.is_empty() {
        return Err(CesError::Retry(format!("could not clean up: {}", errors.join("; "))));
    }
    info!(external_secrets = targets.len(), "ClusterExternalSecret deleted; its ExternalSecrets are deleted");
    cx.ctx.metrics.forget_cluster_external_secret(&ces_name);
    cx.ctx.reset_backoff(&object_key(ces.as_ref()));
    if let Some(uid) = ces.uid() {
        cx.written_status.lock().unwrap_or_else(|p| p.into_inner()).remove(&uid);
        cx.ctx.recorder.forget(&uid);
    }
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    use super::*;

    fn owned_es(name: &str, owner: &str, generation: i64) -> ExternalSecret {
        let mut es = ExternalSecret::new(name, Default::default());
        es.metadata.namespace = Some("ns".into());
        es.metadata.generation = Some(generation);
        es.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "external-secrets.io/v1".into(),
            kind: "ClusterExternalSecret".into(),
            name: owner.into(),
            uid: "u".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }]);
        es
    }

    fn drain(rx: &mut futures::channel::mpsc::UnboundedReceiver<ObjectRef<ClusterExternalSecret>>) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(r) = rx.try_recv() {
            out.push(r.name);
        }
        out
    }

    #[test]
    fn owned_external_secrets_trigger_their_owner_on_changes_and_deletion_but_not_on_status() {
        let (tx, mut rx) = futures::channel::mpsc::unbounded();
        let mut triggers = owner_triggers(tx);
        let es = owned_es("app", "shared", 1);
        triggers.observe(&Ok(watcher::Event::Init));
        triggers.observe(&Ok(watcher::Event::InitApply(es.clone())));
        triggers.observe(&Ok(watcher::Event::InitDone));
        assert!(
            drain(&mut rx).is_empty(),
            "the initial list triggers nothing (every ClusterExternalSecret runs anyway)"
        );

        let mut status_only = es.clone();
        status_only.status = Some(Default::default());
        triggers.observe(&Ok(watcher::Event::Apply(status_only)));
        assert!(drain(&mut rx).is_empty(), "a status write is no reason");

        triggers.observe(&Ok(watcher::Event::Apply(owned_es("app", "shared", 2))));
        assert_eq!(drain(&mut rx), vec!["shared"], "a spec change is");

        let mut orphaned = owned_es("app", "shared", 2);
        orphaned.metadata.owner_references = None;
        triggers.observe(&Ok(watcher::Event::Apply(orphaned)));
        assert_eq!(drain(&mut rx), vec!["shared"], "losing the owner reference tells the former owner");

        triggers.observe(&Ok(watcher::Event::Apply(owned_es("app", "shared", 3))));
        triggers.observe(&Ok(watcher::Event::Delete(owned_es("app", "shared", 3))));
        assert_eq!(drain(&mut rx), vec!["shared", "shared"]);

        // A re-list after an outage: what changed or went meanwhile triggers its owner.
        triggers.observe(&Ok(watcher::Event::Apply(owned_es("kept", "shared", 1))));
        triggers.observe(&Ok(watcher::Event::Apply(owned_es("edited", "other", 1))));
        triggers.observe(&Ok(watcher::Event::Apply(owned_es("gone", "third", 1))));
        assert_eq!(drain(&mut rx), vec!["shared", "other", "third"]);
        triggers.observe(&Ok(watcher::Event::Init));
        triggers.observe(&Ok(watcher::Event::InitApply(owned_es("kept", "shared", 1))));
        triggers.observe(&Ok(watcher::Event::InitApply(owned_es("edited", "other", 2))));
        triggers.observe(&Ok(watcher::Event::InitDone));
        assert_eq!(drain(&mut rx), vec!["other", "third"]);

        let mut unrelated = ExternalSecret::new("plain", Default::default());
        unrelated.metadata.namespace = Some("ns".into());
        triggers.observe(&Ok(watcher::Event::Apply(unrelated.clone())));
        triggers.observe(&Ok(watcher::Event::Delete(unrelated)));
        assert!(drain(&mut rx).is_empty(), "ExternalSecrets no ClusterExternalSecret controls trigger nothing");
    }

    #[test]
    fn namespace_predicate_sees_labels_deletion_and_finalizers_only() {
        use crate::fan_out::namespace_predicate;
        let mut ns: PartialObjectMeta<Namespace> = PartialObjectMeta::default();
        ns.metadata.name = Some("a".into());
        let base = namespace_predicate(&ns);
        ns.metadata.annotations = Some([("x".to_string(), "y".to_string())].into());
        ns.metadata.resource_version = Some("2".into());
        assert_eq!(namespace_predicate(&ns), base);
        ns.metadata.labels = Some([("team".to_string(), "a".to_string())].into());
        assert_ne!(namespace_predicate(&ns), base);
    }
}
