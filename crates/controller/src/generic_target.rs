//! Generic targets (`spec.target.manifest`): an ExternalSecret writes a ConfigMap or any namespaced resource the
//! operator's RBAC lets it write, instead of a Secret — only with ESO's `--unsafe-allow-generic-targets`.
//!
//! - Resolve: the kind is checked (`core::generic_target::TargetKind`) and found through API discovery (cached).
//! - Valid: the object is read and checked against its `data-hash` (ESO's `isGenericTargetValid`).
//! - Write: the object is planned (`core::generic_target::desired_object`) and written with server-side apply
//!   under the ExternalSecret's field manager, as Secrets are; fields ESO wrote (with create/update, under its
//!   user-agent name) are taken over first, so that what the spec no longer produces is released.
//! - Drift: once written, objects of that kind carrying the managed label are watched (metadata only) and a
//!   change someone else made triggers the ExternalSecret's reconcile, as ESO's per-kind informers do.
//!
//! Nothing here deletes or blanks an object on a provider or template error: those fail before the write.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use external_secrets_api::{
    ExternalSecret, ExternalSecretCreationPolicy, ExternalSecretDeletionPolicy, ManifestReference,
};
use external_secrets_core::field_manager::field_manager;
use external_secrets_core::generic_target::{TargetKind, content_hash, desired_object, target_valid as object_valid};
use external_secrets_core::ownership::{FieldOwner, take_over};
use external_secrets_core::pipeline::{BuiltData, FetchPlan};
use external_secrets_core::redact::refusal;
use external_secrets_core::refresh::{ANNOTATION_DATA_HASH, LABEL_MANAGED, LABEL_MANAGED_VALUE};
use external_secrets_core::target::TargetError;
use futures::{Stream, StreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::ResourceExt;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions};
use kube::core::{GroupVersionKind, PartialObjectMeta};
use kube::discovery::Scope;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::context::{Context, Stats};
use crate::error::ReconcileError;
use crate::externalsecret::{Written, template_sources};

/// How long a discovered kind → resource mapping is reused before it is looked up again (a CRD may change).
const DISCOVERY_TTL: Duration = Duration::from_secs(300);

/// ESO's message when `spec.target.manifest` is used without `--unsafe-allow-generic-targets`.
pub const DISABLED_MESSAGE: &str = "generic targets are disabled. Enable with --unsafe-allow-generic-targets flag";

/// A generic target's kind and the API resource that serves it.
#[derive(Clone, Debug)]
pub(crate) struct Resolved {
    pub kind: TargetKind,
    pub resource: ApiResource,
}

impl Resolved {
    fn api(&self, ctx: &Context, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(ctx.client.clone(), namespace, &self.resource)
    }

    /// `configmaps` or `<plural>.<group>`, as RBAC rules name it.
    fn rbac_name(&self) -> String {
        if self.resource.group.is_empty() {
            self.resource.plural.clone()
        } else {
            format!("{}.{}", self.resource.plural, self.resource.group)
        }
    }
}

/// What the generic targets of all ExternalSecrets share: the discovery cache, the versions we wrote, and the
/// drift watches (one per kind in use).
pub struct GenericTargets {
    discovered: Mutex<HashMap<TargetKind, (Instant, ApiResource, Scope)>>,
    shared: Arc<Shared>,
    commands: mpsc::UnboundedSender<Command>,
    receiver: Mutex<Option<mpsc::UnboundedReceiver<Command>>>,
}

/// State the watches read too.
#[derive(Default)]
struct Shared {
    /// (kind, namespace, name) → the resourceVersion of our last write: its watch event is no drift.
    written: Mutex<HashMap<(TargetKind, String, String), String>>,
    /// kind → the ExternalSecrets (`namespace/name`) whose targets are of that kind.
    users: Mutex<BTreeMap<TargetKind, BTreeSet<String>>>,
}

enum Command {
    Watch(TargetKind, ApiResource),
    Unwatch(TargetKind),
}

impl Default for GenericTargets {
    fn default() -> Self {
        let (commands, receiver) = mpsc::unbounded_channel();
        GenericTargets {
            discovered: Mutex::default(),
            shared: Arc::default(),
            commands,
            receiver: Mutex::new(Some(receiver)),
        }
    }
}

fn es_key(es: &ExternalSecret) -> String {
    format!("{}/{}", es.namespace().unwrap_or_default(), es.name_any())
}

impl GenericTargets {
    /// The kinds whose objects are watched for drift now (for tests and debugging).
    pub fn watched_kinds(&self) -> Vec<TargetKind> {
        self.shared.users.lock().unwrap_or_else(|p| p.into_inner()).keys().cloned().collect()
    }

    fn remember_written(&self, kind: &TargetKind, namespace: &str, name: &str, rv: Option<String>) {
        let key = (kind.clone(), namespace.to_owned(), name.to_owned());
        let mut written = self.shared.written.lock().unwrap_or_else(|p| p.into_inner());
        match rv {
            Some(rv) => written.insert(key, rv),
            None => written.remove(&key),
        };
    }

    /// Registers `es` as a user of `resolved`'s kind (and of no other kind), starting that kind's watch when it is
    /// the first user.
    fn watch(&self, es: &ExternalSecret, resolved: &Resolved) {
        let key = es_key(es);
        let mut users = self.shared.users.lock().unwrap_or_else(|p| p.into_inner());
        if users.get(&resolved.kind).is_some_and(|u| u.contains(&key)) {
            return;
        }
        self.release_locked(&mut users, &key);
        let entry = users.entry(resolved.kind.clone()).or_default();
        if entry.is_empty() {
            let _ = self.commands.send(Command::Watch(resolved.kind.clone(), resolved.resource.clone()));
        }
        entry.insert(key);
    }

    /// Forgets `es` as a user of any kind, stopping a watch nobody needs any more.
    pub(crate) fn release(&self, es: &ExternalSecret) {
        let mut users = self.shared.users.lock().unwrap_or_else(|p| p.into_inner());
        if users.is_empty() {
            return;
        }
        self.release_locked(&mut users, &es_key(es));
    }

    fn release_locked(&self, users: &mut BTreeMap<TargetKind, BTreeSet<String>>, key: &str) {
        let emptied: Vec<TargetKind> = users
            .iter_mut()
            .filter_map(|(kind, set)| (set.remove(key) && set.is_empty()).then(|| kind.clone()))
            .collect();
        for kind in emptied {
            users.remove(&kind);
            let _ = self.commands.send(Command::Unwatch(kind));
        }
    }

    /// The stream of ExternalSecrets to reconcile because someone else changed their generic target: it runs the
    /// per-kind watches, which stop when it is dropped. `None` after the first call.
    pub(crate) fn drift_triggers(
        &self,
        client: kube::Client,
        namespace: Option<String>,
        external_secrets: Store<ExternalSecret>,
    ) -> Option<impl Stream<Item = ObjectRef<ExternalSecret>> + Send + 'static> {
        let commands = self.receiver.lock().unwrap_or_else(|p| p.into_inner()).take()?;
        let state = DriftState {
            commands,
            watches: futures::stream::SelectAll::new(),
            handles: HashMap::new(),
            client,
            namespace,
            external_secrets,
            shared: self.shared.clone(),
            warned: BTreeSet::new(),
        };
        Some(futures::stream::unfold(state, DriftState::next).flat_map(futures::stream::iter))
    }
}

type KindEvent = (TargetKind, Result<watcher::Event<PartialObjectMeta<DynamicObject>>, watcher::Error>);

struct DriftState {
    commands: mpsc::UnboundedReceiver<Command>,
    watches: futures::stream::SelectAll<futures::stream::BoxStream<'static, KindEvent>>,
    handles: HashMap<TargetKind, futures::stream::AbortHandle>,
    client: kube::Client,
    namespace: Option<String>,
    external_secrets: Store<ExternalSecret>,
    shared: Arc<Shared>,
    /// Kinds whose watch failed and was reported; reported again only after it worked once.
    warned: BTreeSet<TargetKind>,
}

impl DriftState {
    async fn next(mut self) -> Option<(Vec<ObjectRef<ExternalSecret>>, Self)> {
        loop {
            tokio::select! {
                command = self.commands.recv() => match command? {
                    Command::Watch(kind, resource) => self.start(kind, resource),
                    Command::Unwatch(kind) => {
                        if let Some(handle) = self.handles.remove(&kind) {
                            handle.abort();
                            info!(kind = %kind, "stopped watching generic targets of this kind");
                        }
                    }
                },
                Some((kind, event)) = self.watches.next(), if !self.watches.is_empty() => {
                    let refs = self.triggered(&kind, event);
                    if !refs.is_empty() {
                        return Some((refs, self));
                    }
                }
            }
        }
    }

    fn start(&mut self, kind: TargetKind, resource: ApiResource) {
        if self.handles.contains_key(&kind) {
            return;
        }
        let api: Api<PartialObjectMeta<DynamicObject>> = match self.namespace.as_deref() {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &resource),
            None => Api::all_with(self.client.clone(), &resource),
        };
        let selector = format!("{LABEL_MANAGED}={LABEL_MANAGED_VALUE}");
        let tag = kind.clone();
        let stream = watcher::watcher(api, watcher::Config::default().labels(&selector))
            .default_backoff()
            .map(move |event| (tag.clone(), event));
        let (stream, handle) = futures::stream::abortable(stream);
        info!(kind = %kind, "watching generic targets of this kind for changes");
        self.handles.insert(kind, handle);
        self.watches.push(stream.boxed());
    }

    /// The ExternalSecrets a watch event concerns: none for our own writes and for list bookkeeping.
    fn triggered(
        &mut self,
        kind: &TargetKind,
        event: Result<watcher::Event<PartialObjectMeta<DynamicObject>>, watcher::Error>,
    ) -> Vec<ObjectRef<ExternalSecret>> {
        let object = match event {
            Ok(watcher::Event::Apply(o) | watcher::Event::Delete(o) | watcher::Event::InitApply(o)) => o,
            Ok(_) => return Vec::new(),
            Err(e) => {
                if self.warned.insert(kind.clone()) {
                    warn!(kind = %kind, error = %e, "watching generic targets failed (drift is repaired at the next refresh only); retrying");
                } else {
                    debug!(kind = %kind, error = %e, "watching generic targets failed; retrying");
                }
                return Vec::new();
            }
        };
        self.warned.remove(kind);
        let (Some(namespace), name) = (object.namespace(), object.name_any()) else { return Vec::new() };
        let written = self.shared.written.lock().unwrap_or_else(|p| p.into_inner());
        if written.get(&(kind.clone(), namespace.clone(), name.clone())) == object.resource_version().as_ref() {
            return Vec::new();
        }
        drop(written);
        if let Some(owner) =
            object.owner_references().iter().find(|o| o.controller == Some(true) && o.kind == "ExternalSecret")
        {
            return vec![ObjectRef::new(&owner.name).within(&namespace)];
        }
        self.external_secrets
            .state()
            .iter()
            .filter(|es| es.namespace().as_deref() == Some(namespace.as_str()))
            .filter(|es| external_secrets_core::target::target_name(es) == name)
            .filter(|es| {
                es.spec.target.manifest.as_ref().and_then(|m| TargetKind::from_manifest(m).ok()).as_ref() == Some(kind)
            })
            .map(|es| ObjectRef::from_obj(es.as_ref()))
            .collect()
    }
}

/// Checks `manifest` and finds the resource that serves its kind. Refused without `--unsafe-allow-generic-targets`
/// (ESO's message), for an invalid manifest, and for kinds that are not namespaced.
pub(crate) async fn resolve(ctx: &Context, manifest: &ManifestReference) -> Result<Resolved, ReconcileError> {
    if !ctx.config.allow_generic_targets {
        return Err(ReconcileError::GenericTargetRefused(DISABLED_MESSAGE.to_owned()));
    }
    let kind = TargetKind::from_manifest(manifest).map_err(|e| ReconcileError::GenericTargetRefused(e.to_string()))?;
    let cached = ctx
        .generic_targets
        .discovered
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&kind)
        .filter(|(at, _, _)| at.elapsed() < DISCOVERY_TTL)
        .map(|(_, resource, scope)| (resource.clone(), scope.clone()));
    let (resource, scope) = match cached {
        Some(found) => found,
        None => {
            let gvk = GroupVersionKind::gvk(&kind.group, &kind.version, &kind.kind);
            let (resource, capabilities) = kube::discovery::pinned_kind(&ctx.client, &gvk).await.map_err(|e| {
                ReconcileError::UnknownTargetKind(format!(
                    "target.manifest: the API server does not serve {kind}: {}",
                    discovery_reason(&e)
                ))
            })?;
            let entry = (Instant::now(), resource.clone(), capabilities.scope.clone());
            ctx.generic_targets.discovered.lock().unwrap_or_else(|p| p.into_inner()).insert(kind.clone(), entry);
            (resource, capabilities.scope)
        }
    };
    if scope != Scope::Namespaced {
        return Err(ReconcileError::GenericTargetRefused(format!(
            "target.manifest: {kind} is cluster-scoped; a target lives in the ExternalSecret's namespace"
        )));
    }
    Ok(Resolved { kind, resource })
}

fn discovery_reason(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if s.code == 404 => "its group/version is not served".to_owned(),
        kube::Error::Discovery(_) => "the kind is not in its group/version".to_owned(),
        other => other.to_string(),
    }
}

/// A Kubernetes API error on the target, with a 403 turned into what the operator lacks and how to grant it.
fn api_error(e: kube::Error, verb: &str, target: &Resolved, namespace: &str, name: &str) -> ReconcileError {
    match e {
        kube::Error::Api(s) if s.code == 403 => {
            let verb = ["create", "patch", "get", "delete"]
                .into_iter()
                .find(|v| s.message.contains(&format!("cannot {v} ")))
                .unwrap_or(verb);
            ReconcileError::Forbidden(format!(
                "the operator is not allowed to {verb} {} {name:?} in namespace {namespace:?}: grant its \
                 ServiceAccount get, create, patch, delete (and list, watch to repair changes at once) on {} \
                 (Helm chart: genericTargets.enabled for ConfigMaps, genericTargets.resources for other kinds)",
                target.kind.kind,
                target.rbac_name()
            ))
        }
        other => ReconcileError::Kube(other),
    }
}

/// Reads the target object (one API read, counted), as JSON.
async fn read(
    ctx: &Context,
    target: &Resolved,
    namespace: &str,
    name: &str,
) -> Result<Option<DynamicObject>, ReconcileError> {
    Stats::inc(&ctx.stats.secret_reads);
    target.api(ctx, namespace).get_opt(name).await.map_err(|e| api_error(e, "get", target, namespace, name))
}

fn as_json(object: &DynamicObject) -> serde_json::Value {
    serde_json::to_value(object).unwrap_or_default()
}

/// Whether the target still holds what we wrote (ESO's `isGenericTargetValid`); `Orphan` targets always are.
pub(crate) async fn target_valid(
    ctx: &Context,
    es: &ExternalSecret,
    target: &Resolved,
    namespace: &str,
    name: &str,
) -> Result<bool, ReconcileError> {
    let policy = es.spec.target.creation_policy;
    if policy == ExternalSecretCreationPolicy::Orphan {
        return Ok(true);
    }
    let existing = read(ctx, target, namespace, name).await?;
    Ok(object_valid(existing.as_ref().map(as_json).as_ref(), policy))
}

fn controller_uid(meta: &ObjectMeta) -> Option<(&str, &str)> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true) && o.kind == "ExternalSecret")
        .map(|o| (o.uid.as_str(), o.name.as_str()))
}

fn controlled_by(meta: &ObjectMeta, es: &ExternalSecret) -> bool {
    controller_uid(meta).is_some_and(|(uid, _)| Some(uid) == es.metadata.uid.as_deref())
}

/// Writes the generic target: ESO's `reconcileGenericTarget` from the provider data on, with our ownership rules
/// (never take over an object we did not write unless merging into it; never write another ExternalSecret's).
pub(crate) async fn write(
    es: &ExternalSecret,
    ctx: &Context,
    namespace: &str,
    name: &str,
    built: BuiltData,
    fetch_plan: &FetchPlan,
    target: &Resolved,
) -> Result<(Written, String), ReconcileError> {
    let policy = es.spec.target.creation_policy;
    let api = target.api(ctx, namespace);
    let existing = read(ctx, target, namespace, name).await?;
    let kind = &target.kind.kind;

    if built.data.is_empty() && !fetch_plan.is_empty() {
        match es.spec.target.deletion_policy {
            ExternalSecretDeletionPolicy::Delete => {
                if policy != ExternalSecretCreationPolicy::Owner {
                    return Err(ReconcileError::Ownership(format!(
                        "unable to delete resource: creationPolicy={policy:?} is not Owner"
                    )));
                }
                if let Some(existing) = existing.as_ref().filter(|e| controlled_by(&e.metadata, es)) {
                    delete(ctx, target, existing, namespace, name).await?;
                    return Ok((Written::Deleted, String::new()));
                }
                return Ok((Written::NothingToDelete, String::new()));
            }
            ExternalSecretDeletionPolicy::Retain => {
                return Ok((Written::Retained, "secret retained due to DeletionPolicy=Retain".to_owned()));
            }
            ExternalSecretDeletionPolicy::Merge => {}
        }
    }
    if policy == ExternalSecretCreationPolicy::None {
        return Ok((Written::Skipped, "secret synced".to_owned()));
    }
    let merging = matches!(policy, ExternalSecretCreationPolicy::Merge | ExternalSecretCreationPolicy::CreateOrMerge);
    if let Some(existing) = &existing {
        if let Some((_, owner)) = controller_uid(&existing.metadata).filter(|_| !controlled_by(&existing.metadata, es))
        {
            return Err(ReconcileError::Ownership(format!(
                "target is owned by another ExternalSecret ({owner:?}); refusing to write {kind} {name:?}"
            )));
        }
        let managed = existing.labels().get(LABEL_MANAGED).map(String::as_str) == Some(LABEL_MANAGED_VALUE)
            || controlled_by(&existing.metadata, es);
        if !managed && !merging {
            return Err(ReconcileError::Ownership(format!(
                "{kind} {name:?} already exists and is not managed by external-secrets; refusing to take it over \
                 (use creationPolicy Merge to write into it)"
            )));
        }
    } else if policy == ExternalSecretCreationPolicy::Merge {
        return Ok((Written::Missing, String::new()));
    }

    let sources = template_sources(ctx, es, namespace).await?;
    let existing_json = existing.as_ref().map(as_json);
    let desired = desired_object(
        es,
        &target.kind,
        built.data,
        &sources,
        &ctx.config.template_delimiters,
        existing_json.as_ref(),
    )?;
    let manager = field_manager(&es.name_any());
    let mut before = existing.as_ref().and_then(|e| e.resource_version());
    if let Some(existing) = &existing {
        before = take_over_eso_fields(ctx, target, existing, FieldOwner::new(&manager, policy)).await?.or(before);
    }

    let apply = Apply { ctx, api: &api, target, manager: &manager, namespace, name, exists: existing.is_some() };
    let mut body = desired.object;
    let mut written = apply.run(&body).await?;
    // The data hash must describe the content the apiserver made of our apply (merged with other writers' fields,
    // defaulted): when our prediction missed, the annotation is corrected with a second apply.
    let actual = content_hash(&as_json(&written));
    if actual != desired.hash {
        body["metadata"]["annotations"][ANNOTATION_DATA_HASH] = json!(actual);
        written = apply.run(&body).await?;
    }
    let after = written.resource_version();
    ctx.generic_targets.remember_written(&target.kind, namespace, name, after.clone());
    ctx.generic_targets.watch(es, target);

    let outcome = match (&existing, before == after) {
        (None, _) => Written::Created,
        (Some(_), false) => Written::Updated,
        (Some(_), true) => Written::Unchanged,
    };
    let mut message = "secret synced".to_owned();
    if !desired.ignored.is_empty() {
        message.push_str(&format!("; no effect on a {kind} target: {}", desired.ignored.join(", ")));
    }
    Ok((outcome, message))
}

/// One server-side apply of the target under the ExternalSecret's field manager.
struct Apply<'a> {
    ctx: &'a Context,
    api: &'a Api<DynamicObject>,
    target: &'a Resolved,
    manager: &'a str,
    namespace: &'a str,
    name: &'a str,
    exists: bool,
}

impl Apply<'_> {
    async fn run(&self, body: &serde_json::Value) -> Result<DynamicObject, ReconcileError> {
        Stats::inc(&self.ctx.stats.secret_writes);
        let params = PatchParams::apply(self.manager).force();
        let kind = &self.target.kind.kind;
        self.api.patch(self.name, &params, &Patch::Apply(body)).await.map_err(|e| match &e {
            kube::Error::Api(s) if s.code == 422 && s.message.contains("immutable") => {
                ReconcileError::Ownership(format!("could not update {kind} {:?}, target is immutable", self.name))
            }
            // The apiserver quotes the values it refuses, and a generic target's values are secret.
            kube::Error::Api(s) if s.code == 400 || s.code == 422 => {
                ReconcileError::Target(TargetError::Manifest(refusal(kind, self.name, &s.message, body)))
            }
            _ => api_error(e, if self.exists { "patch" } else { "create" }, self.target, self.namespace, self.name),
        })
    }
}

/// Moves the fields ESO wrote with create/update into our `Apply` entry (see `core::ownership`); returns the
/// object's new resourceVersion when it did.
async fn take_over_eso_fields(
    ctx: &Context,
    target: &Resolved,
    existing: &DynamicObject,
    owner: FieldOwner<'_>,
) -> Result<Option<String>, ReconcileError> {
    let entries = existing.metadata.managed_fields.as_deref().unwrap_or_default();
    let Some(managed_fields) = take_over(entries, owner, Time(jiff::Timestamp::now())) else { return Ok(None) };
    let (namespace, name) = (existing.namespace().unwrap_or_default(), existing.name_any());
    let patch = json!({
        "metadata": {
            "resourceVersion": existing.resource_version(),
            "managedFields": managed_fields,
        }
    });
    Stats::inc(&ctx.stats.secret_writes);
    let patched = target
        .api(ctx, &namespace)
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| api_error(e, "patch", target, &namespace, &name))?;
    info!(kind = %target.kind, "took over the fields ESO wrote to the target");
    Ok(patched.resource_version())
}

/// Deletes `existing` (only that object: the uid is a precondition).
async fn delete(
    ctx: &Context,
    target: &Resolved,
    existing: &DynamicObject,
    namespace: &str,
    name: &str,
) -> Result<(), ReconcileError> {
    let preconditions = Preconditions { uid: existing.uid(), resource_version: None };
    let params = DeleteParams { preconditions: Some(preconditions), ..Default::default() };
    match target.api(ctx, namespace).delete(name, &params).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
        Err(e) => return Err(api_error(e, "delete", target, namespace, name)),
    }
    ctx.generic_targets.remember_written(&target.kind, namespace, name, None);
    Ok(())
}

/// When the ExternalSecret is deleted: its drift watch is released, and with `deletionPolicy: Delete` the target
/// is deleted if this ExternalSecret controls it (with `creationPolicy: Owner` the garbage collector deletes it
/// anyway). Failures are logged: the ExternalSecret's deletion is not held up for them.
pub(crate) async fn cleanup(es: &ExternalSecret, ctx: &Context, manifest: &ManifestReference) {
    ctx.generic_targets.release(es);
    if !ctx.config.allow_generic_targets || es.spec.target.deletion_policy != ExternalSecretDeletionPolicy::Delete {
        return;
    }
    let namespace = es.namespace().unwrap_or_default();
    let name = external_secrets_core::target::target_name(es);
    let result = async {
        let target = resolve(ctx, manifest).await?;
        if let Some(existing) = read(ctx, &target, &namespace, &name).await?.filter(|e| controlled_by(&e.metadata, es))
        {
            delete(ctx, &target, &existing, &namespace, &name).await?;
        }
        Ok::<_, ReconcileError>(())
    };
    if let Err(e) = result.await {
        warn!(error = %e, "could not delete the generic target");
    }
}

/// The `Ready` reason and message, and the event, ESO gives a generic target's successful sync.
pub(crate) fn outcome(
    written: &Written,
    message: String,
    kind: &str,
    name: &str,
) -> (&'static str, String, Option<String>) {
    use external_secrets_api::reason;
    match written {
        Written::Deleted => {
            let message = "secret deleted due to DeletionPolicy=Delete".to_owned();
            (reason::RESOURCE_DELETED, message, Some(format!("Deleted {kind} {name}")))
        }
        Written::NothingToDelete => {
            (reason::RESOURCE_DELETED, "secret deleted due to DeletionPolicy=Delete".to_owned(), None)
        }
        Written::Missing => {
            (reason::RESOURCE_MISSING, "resource will not be created due to CreationPolicy=Merge".to_owned(), None)
        }
        Written::Created => (reason::RESOURCE_SYNCED, message, Some(format!("Created {kind} {name}"))),
        Written::Updated => (reason::RESOURCE_SYNCED, message, Some(format!("Updated {kind} {name}"))),
        Written::Unchanged | Written::Retained | Written::Skipped => (reason::RESOURCE_SYNCED, message, None),
    }
}
