//! What the ClusterExternalSecret and ClusterPushSecret controllers share: the metadata-only Namespace watch and
//! its predicate, carrying out a [`NamespacePlan`] for one namespace (create that never overwrites, merge patch
//! guarded by resourceVersion), deleting a child only when it is ours (by uid), and [`OwnerTriggers`], which turns
//! the child kind's watch events into reconciles of the controlling parent.

use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::hash::{DefaultHasher, Hash, Hasher};

use external_secrets_core::fan_out::NamespacePlan;
use futures::Stream;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::workqueue;

/// The field manager of our child writes (ESO's client writes under its binary name too).
pub const FIELD_MANAGER: &str = "external-secrets";

/// What of a namespace matters to a fan-out: its labels (selection), whether it is going away, and finalizers.
pub(crate) fn namespace_predicate(ns: &PartialObjectMeta<Namespace>) -> Option<u64> {
    let mut h = DefaultHasher::new();
    ns.labels().hash(&mut h);
    ns.meta().deletion_timestamp.is_some().hash(&mut h);
    ns.finalizers().hash(&mut h);
    Some(h.finish())
}

/// A metadata-only watch of every Namespace: its cache, and the namespaces whose labels, deletion or finalizers
/// changed (deleted ones pass too: a namespace going away first gets its deletionTimestamp).
pub(crate) fn namespace_watch(
    client: kube::Client,
) -> (
    Store<PartialObjectMeta<Namespace>>,
    impl Stream<Item = Result<PartialObjectMeta<Namespace>, watcher::Error>> + Send + 'static,
) {
    let (reader, writer) = reflector::store();
    let stream = watcher(Api::<PartialObjectMeta<Namespace>>::all(client), watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .touched_objects()
        .predicate_filter(namespace_predicate, Default::default());
    (reader, stream)
}

/// The message of an API error as the apiserver wrote it (Go's `err.Error()` of an API status).
pub(crate) fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => status.message.clone(),
        other => other.to_string(),
    }
}

pub(crate) fn is_code(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(status) if status.code == code)
}

/// A namespace whose child could not be brought in line: ESO's reason, and whether it was a conflict (a
/// concurrent change: retried soon).
pub(crate) struct Failure {
    pub reason: String,
    pub conflict: bool,
}

/// What a namespace's provisioning did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Provisioned {
    Written,
    Unchanged,
}

/// Carries out `plan` for the child `name` through `api`. A create that finds one already there (the cache had
/// not seen it yet) decides again, once, from the API's copy with `replan`. `kind` names the child in reasons
/// (ESO: "could not create or update ExternalSecret: ..."); `not_owned` is ESO's reason for one that is not ours.
pub(crate) async fn provision<C>(
    api: &Api<C>,
    name: &str,
    mut plan: NamespacePlan<C>,
    replan: impl Fn(Option<&C>) -> NamespacePlan<C>,
    kind: &str,
    not_owned: &str,
) -> Result<Provisioned, Failure>
where
    C: Resource<DynamicType = (), Scope = NamespaceResourceScope> + Clone + Serialize + DeserializeOwned + Debug,
{
    let failure = |e: kube::Error| Failure {
        reason: format!("could not create or update {kind}: {}", api_message(&e)),
        conflict: is_code(&e, 409),
    };
    for attempt in 0..2 {
        match plan {
            NamespacePlan::InSync => return Ok(Provisioned::Unchanged),
            NamespacePlan::NotOwned => return Err(Failure { reason: not_owned.to_string(), conflict: false }),
            NamespacePlan::Create(desired) => {
                let params = PostParams { field_manager: Some(FIELD_MANAGER.to_string()), ..PostParams::default() };
                match api.create(&params, &desired).await {
                    Ok(_) => return Ok(Provisioned::Written),
                    Err(e) if is_code(&e, 409) && attempt == 0 => {
                        let found = api.get_opt(name).await.map_err(failure)?;
                        plan = replan(found.as_ref());
                    }
                    Err(e) => return Err(failure(e)),
                }
            }
            NamespacePlan::Update(patch) => {
                let params = PatchParams { field_manager: Some(FIELD_MANAGER.to_string()), ..PatchParams::default() };
                api.patch(name, &params, &Patch::Merge(&patch)).await.map_err(failure)?;
                return Ok(Provisioned::Written);
            }
        }
    }
    Err(Failure { reason: format!("could not create or update {kind}: it keeps changing"), conflict: true })
}

/// Deletes `existing` (the cached child) if `owned` says it is ours, by uid, so that a replacement is never
/// deleted. Returns whether one was deleted; gone already or replaced meanwhile is not an error.
pub(crate) async fn delete_owned<C>(
    api: &Api<C>,
    existing: Option<&C>,
    owned: impl Fn(&C) -> bool,
) -> Result<bool, kube::Error>
where
    C: Resource<DynamicType = (), Scope = NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
{
    let Some(existing) = existing.filter(|c| owned(c)) else { return Ok(false) };
    let preconditions = Preconditions { uid: existing.uid(), resource_version: None };
    let params = DeleteParams { preconditions: Some(preconditions), ..DeleteParams::default() };
    match api.delete(&existing.name_any(), &params).await {
        Ok(_) => Ok(true),
        Err(e) if is_code(&e, 404) || is_code(&e, 409) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Turns a child kind's watch events into reconciles of the parent that controls the child, when its spec,
/// labels, annotations or owner changed or it was deleted (not for status writes).
pub struct OwnerTriggers<C, P: Resource<DynamicType = ()>> {
    sender: futures::channel::mpsc::UnboundedSender<ObjectRef<P>>,
    owner_of: fn(&C) -> Option<&str>,
    /// `namespace/name` → (fingerprint, controlling parent) of the children one controls.
    seen: HashMap<String, (u64, String)>,
    /// During a (re-)list: the keys listed so far. What was seen before and is not listed again was deleted while
    /// the watch was down.
    relisted: Option<HashSet<String>>,
}

impl<C: Resource, P: Resource<DynamicType = ()>> OwnerTriggers<C, P> {
    /// Triggers sent to `sender` for the parent `owner_of` names; the receiving end goes to the parent's
    /// controller.
    pub fn new(
        sender: futures::channel::mpsc::UnboundedSender<ObjectRef<P>>,
        owner_of: fn(&C) -> Option<&str>,
    ) -> Self {
        Self { sender, owner_of, seen: HashMap::new(), relisted: None }
    }

    fn fingerprint(child: &C) -> u64 {
        let mut h = DefaultHasher::new();
        child.meta().generation.hash(&mut h);
        child.labels().hash(&mut h);
        child.annotations().hash(&mut h);
        for o in child.owner_references() {
            (&o.api_version, &o.kind, &o.name, &o.uid, o.controller).hash(&mut h);
        }
        child.meta().deletion_timestamp.is_some().hash(&mut h);
        h.finish()
    }

    fn trigger(&self, parent: &str) {
        // A closed channel means the controller is not running (disabled, or shutting down): nothing to do.
        let _ = self.sender.unbounded_send(ObjectRef::new(parent));
    }

    /// Looks at one event of the child watch.
    pub fn observe(&mut self, event: &Result<watcher::Event<C>, watcher::Error>) {
        let Ok(event) = event else { return };
        let (child, deleted) = match event {
            watcher::Event::Apply(c) | watcher::Event::InitApply(c) => (c, false),
            watcher::Event::Delete(c) => (c, true),
            watcher::Event::Init => {
                self.relisted = Some(Default::default());
                return;
            }
            watcher::Event::InitDone => {
                let listed = self.relisted.take().unwrap_or_default();
                let gone: Vec<String> = self.seen.keys().filter(|k| !listed.contains(*k)).cloned().collect();
                for key in gone {
                    if let Some((_, owner)) = self.seen.remove(&key) {
                        self.trigger(&owner);
                    }
                }
                return;
            }
        };
        let key = workqueue::key(child.namespace().as_deref(), &child.name_any());
        if let Some(listed) = self.relisted.as_mut() {
            listed.insert(key.clone());
        }
        let owner = (self.owner_of)(child).map(str::to_string);
        let previous = self.seen.remove(&key);
        if deleted {
            if let Some(owner) = owner.or(previous.map(|(_, o)| o)) {
                self.trigger(&owner);
            }
            return;
        }
        let fingerprint = Self::fingerprint(child);
        match owner {
            Some(owner) => {
                // The first list triggers nothing (every parent is reconciled at start anyway); a re-list after an
                // outage triggers what changed meanwhile.
                let first_sight = previous.is_none() && matches!(event, watcher::Event::InitApply(_));
                let changed = previous.as_ref().is_none_or(|(f, _)| *f != fingerprint);
                if changed && !first_sight {
                    self.trigger(&owner);
                }
                if let Some((_, before)) = previous.filter(|(_, before)| *before != owner) {
                    self.trigger(&before);
                }
                self.seen.insert(key, (fingerprint, owner));
            }
            // No longer controlled by a parent (someone removed the owner reference): the one that did must see
            // it, to report the namespace.
            None => {
                if let Some((_, before)) = previous {
                    self.trigger(&before);
                }
            }
        }
    }
}
