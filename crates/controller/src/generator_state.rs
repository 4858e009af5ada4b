//! `GeneratorState`s: what stateful generators made (ESO's `statemanager`), and their garbage collection (ESO's
//! `generatorstate` controller).
//!
//! A sync collects the states its generators return in a [`StateTransaction`]. When every source was read and the
//! data built, [`StateTransaction::commit`] stores each as a GeneratorState (owned by the ExternalSecret, labelled
//! with its owner key) and gives the states it supersedes (same ExternalSecret and `dataFrom` entry)
//! `spec.garbageCollectionDeadline` = now + `--generator-gc-grace-period`. When the sync fails before that,
//! [`StateTransaction::rollback`] cleans up at the provider what the generators just made (the values are not
//! used); if that fails too, the state is stored with a deadline of now, so the GC controller retries.
//!
//! The GC [`controller`] watches GeneratorStates: it adds ESO's finalizer, deletes a state once its deadline has
//! passed, and — the finalizer's work, also when the ExternalSecret is deleted and Kubernetes' garbage collector
//! deletes its states through the owner reference — cleans up what the state names at the provider (Grafana:
//! deletes the token) before it lets the object go. A cleanup that fails keeps the object, with `Ready=False`
//! reason `Error` saying why, and is retried with backoff.

use std::sync::Arc;

use external_secrets_api::ExternalSecret;
use external_secrets_api::generators::v1alpha1::{
    GENERATOR_STATE_OWNER_KEY_LABEL, GeneratorKind, GeneratorSpec, GeneratorState, GeneratorStateSpec,
    GeneratorStateStatus, GeneratorStateStatusCondition,
};
use external_secrets_core::generator_state::{
    GENERATOR_STATE_FINALIZER, GcDecision, StoredState, deadline, gc_decision, generate_name, owner_key, state_key,
    superseded,
};
use external_secrets_generators::{GeneratorProviderState, kind_name};
use external_secrets_provider::{CredentialResolver, StoreScope};
use futures::{FutureExt, StreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::{Controller, watcher};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use tracing::{info, instrument, warn};

use crate::context::{Context, object_key};
use crate::error::ReconcileError;

/// The kind that owns the states an ExternalSecret's generators return.
const OWNER_KIND: &str = "ExternalSecret";

/// One generator run whose state is not stored yet.
struct PendingState {
    key: String,
    kind: GeneratorKind,
    resource: serde_json::Value,
    spec: GeneratorSpec,
    state: GeneratorProviderState,
}

/// The states one sync's generators returned, stored on [`commit`](Self::commit) or cleaned up on
/// [`rollback`](Self::rollback). With `--enable-generator-state=false` nothing is kept (as ESO).
pub(crate) struct StateTransaction {
    enabled: bool,
    namespace: String,
    name: String,
    owner: Option<OwnerReference>,
    pending: Vec<PendingState>,
}

/// The generator manifest a state records (`spec.resource`): ESO's snapshot of the generator object (for a
/// ClusterGenerator, a generator of its kind without a name), from which the state is cleaned up later.
pub(crate) fn resource_manifest(
    kind: GeneratorKind,
    name: Option<&str>,
    namespace: &str,
    spec: &GeneratorSpec,
) -> serde_json::Value {
    let metadata = match name {
        Some(name) => json!({"name": name, "namespace": namespace}),
        None => json!({}),
    };
    json!({
        "apiVersion": external_secrets_api::DEFAULT_GENERATOR_API_VERSION,
        "kind": kind_name(kind),
        "metadata": metadata,
        "spec": spec.kind_spec_json(kind).unwrap_or_else(|| json!({})),
    })
}

/// The kind and spec a state's `spec.resource` describes.
fn generator_of(resource: &serde_json::Value) -> Result<(GeneratorKind, GeneratorSpec), String> {
    let kind_text = resource.get("kind").and_then(|k| k.as_str()).unwrap_or_default();
    let kind: GeneratorKind = serde_json::from_value(json!(kind_text))
        .map_err(|_| format!("spec.resource names no generator kind this operator knows ({kind_text:?})"))?;
    let spec = resource.get("spec").cloned().unwrap_or_else(|| json!({}));
    // serde's message may quote the spec: say only what did not parse.
    let spec = GeneratorSpec::from_kind_spec_json(kind, spec)
        .map_err(|_| format!("spec.resource.spec is not a valid {kind_text} spec"))?;
    Ok((kind, spec))
}

/// Reads what a generator's references name in `namespace`, as a generator run there does.
fn credentials(ctx: &Context, namespace: &str, what: String) -> CredentialResolver {
    CredentialResolver::new(ctx.client.clone(), StoreScope::secret_store(namespace, what))
}

impl StateTransaction {
    pub(crate) fn new(ctx: &Context, es: &ExternalSecret) -> Self {
        let owner = es.uid().map(|uid| OwnerReference {
            api_version: ExternalSecret::api_version(&()).into_owned(),
            kind: OWNER_KIND.to_string(),
            name: es.name_any(),
            uid,
            ..OwnerReference::default()
        });
        Self {
            enabled: ctx.config.enable_generator_state,
            namespace: es.namespace().unwrap_or_default(),
            name: es.name_any(),
            owner,
            pending: Vec::new(),
        }
    }

    /// Records the state the generator of `dataFrom[index]` returned.
    pub(crate) fn record(
        &mut self,
        index: usize,
        kind: GeneratorKind,
        resource: serde_json::Value,
        spec: GeneratorSpec,
        state: GeneratorProviderState,
    ) {
        if self.enabled {
            self.pending.push(PendingState { key: state_key(index), kind, resource, spec, state });
        }
    }

    fn object(&self, pending: &PendingState, gc_now: bool) -> GeneratorState {
        let mut object = GeneratorState::new(
            "",
            GeneratorStateSpec {
                garbage_collection_deadline: gc_now.then(|| Time(jiff::Timestamp::now())),
                resource: pending.resource.clone(),
                state: pending.state.clone(),
            },
        );
        object.metadata.name = None;
        object.metadata.generate_name = Some(generate_name(OWNER_KIND, &self.name));
        object.metadata.namespace = Some(self.namespace.clone());
        object.metadata.labels = Some(
            [(
                GENERATOR_STATE_OWNER_KEY_LABEL.to_string(),
                owner_key(OWNER_KIND, &self.namespace, &self.name, &pending.key),
            )]
            .into(),
        );
        object.metadata.owner_references = self.owner.clone().map(|o| vec![o]);
        object
    }

    /// Stores every recorded state and gives the states each supersedes their deadline. A state that cannot be
    /// stored is cleaned up at the provider (its value will not be used) and the sync fails, to be retried.
    pub(crate) async fn commit(self, ctx: &Context) -> Result<(), ReconcileError> {
        let api: Api<GeneratorState> = Api::namespaced(ctx.client.clone(), &self.namespace);
        let mut pending = self.pending.iter();
        while let Some(state) = pending.next() {
            let created = match api.create(&PostParams::default(), &self.object(state, false)).await {
                Ok(created) => created,
                Err(e) => {
                    // This state and those not stored yet: their values are not used.
                    self.clean_up(ctx, std::iter::once(state).chain(pending)).await;
                    return Err(ReconcileError::Generator {
                        entry: format!("spec.dataFrom[{}].sourceRef.generatorRef", state.key),
                        message: format!("could not store its GeneratorState: {e}"),
                        category: "GeneratorState",
                        retryable: true,
                    });
                }
            };
            // A failed flag is retried by the next commit of this key (every older state without a deadline).
            if let Err(e) = self.retire_superseded(ctx, &api, &state.key, Some(&created.name_any())).await {
                warn!(error = %e, key = %state.key, "could not set the deadline of superseded GeneratorStates");
            }
        }
        Ok(())
    }

    /// Cleans up at the provider what this sync's generators made (the sync failed: the values are not used).
    pub(crate) async fn rollback(self, ctx: &Context) {
        self.clean_up(ctx, self.pending.iter()).await;
    }

    async fn clean_up<'a>(&self, ctx: &Context, states: impl Iterator<Item = &'a PendingState>) {
        let api: Api<GeneratorState> = Api::namespaced(ctx.client.clone(), &self.namespace);
        for state in states {
            let resolver = credentials(ctx, &self.namespace, format!("generator state of {}", self.name));
            let Err(e) = ctx.config.generators.cleanup(state.kind, &state.spec, &state.state, &resolver).await else {
                continue;
            };
            // ESO: keep the state with a deadline of now, so that the GC controller retries the cleanup.
            warn!(error = %e, key = %state.key, "could not clean up what a generator made; storing it for GC");
            if let Err(e) = api.create(&PostParams::default(), &self.object(state, true)).await {
                warn!(error = %e, key = %state.key, "could not store the GeneratorState for GC either");
            }
        }
    }

    async fn retire_superseded(
        &self,
        ctx: &Context,
        api: &Api<GeneratorState>,
        key: &str,
        latest: Option<&str>,
    ) -> Result<(), kube::Error> {
        let label =
            format!("{GENERATOR_STATE_OWNER_KEY_LABEL}={}", owner_key(OWNER_KIND, &self.namespace, &self.name, key));
        let states = api.list(&ListParams::default().labels(&label)).await?;
        let stored: Vec<StoredState> = states
            .items
            .iter()
            .filter(|s| s.metadata.deletion_timestamp.is_none())
            .map(|s| StoredState { name: s.name_any(), has_deadline: s.spec.garbage_collection_deadline.is_some() })
            .collect();
        let when = deadline(jiff::Timestamp::now(), ctx.config.generator_gc_grace_period);
        for name in superseded(&stored, latest) {
            let patch = json!({"spec": {"garbageCollectionDeadline": Time(when)}});
            api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
        }
        Ok(())
    }
}

/// The parts of the GC controller [`crate::run`] runs.
pub struct Parts {
    /// Watches and reconciles until shutdown.
    pub run: futures::future::BoxFuture<'static, ()>,
    /// Resolves (`true`) once the GeneratorState watch has listed everything.
    pub ready: futures::future::BoxFuture<'static, bool>,
}

/// The GC controller: a watch of GeneratorStates (in `namespace`, or all) and their reconcile.
pub fn controller(
    ctx: Arc<Context>,
    namespace: Option<String>,
    config: kube::runtime::controller::Config,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> Parts {
    let api: Api<GeneratorState> = crate::namespaced_or_all(ctx.client.clone(), namespace.as_deref());
    let controller = Controller::new(api, watcher::Config::default()).with_config(config);
    let reader = controller.store();
    let run = controller
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                warn!(error = %e, "GeneratorState controller error");
            }
        })
        .boxed();
    let ready = async move { reader.wait_until_ready().await.is_ok() }.boxed();
    Parts { run, ready }
}

fn error_policy(state: Arc<GeneratorState>, err: &ReconcileError, ctx: Arc<Context>) -> Action {
    warn!(error = %err, "GeneratorState reconcile failed");
    Action::requeue(ctx.backoff(&object_key(state.as_ref())))
}

/// ESO's reconcile: the finalizer (added; on deletion, the provider-side cleanup), then the deadline.
#[instrument(skip_all, fields(namespace = state.namespace().unwrap_or_default(), name = state.name_any()))]
async fn reconcile(state: Arc<GeneratorState>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let Some(namespace) = state.namespace() else { return Ok(Action::await_change()) };
    let api: Api<GeneratorState> = Api::namespaced(ctx.client.clone(), &namespace);
    let name = state.name_any();
    let has_finalizer = state.finalizers().iter().any(|f| f == GENERATOR_STATE_FINALIZER);
    if state.metadata.deletion_timestamp.is_some() {
        if has_finalizer {
            if let Err(message) = clean_up(&ctx, &state, &namespace).await {
                set_ready(&api, &state, "False", "Error", &format!("could not cleanup generator state: {message}"))
                    .await;
                return Err(ReconcileError::Generator {
                    entry: format!("GeneratorState {namespace}/{name}"),
                    message: format!("could not cleanup generator state: {message}"),
                    category: "GeneratorStateCleanup",
                    retryable: true,
                });
            }
            remove_finalizer(&api, &state).await?;
            info!("cleaned up; finalizer removed");
        }
        ctx.reset_backoff(&object_key(state.as_ref()));
        return Ok(Action::await_change());
    }
    if !has_finalizer {
        // The patch is an event: the next reconcile goes on from here.
        let mut finalizers = state.finalizers().to_vec();
        finalizers.push(GENERATOR_STATE_FINALIZER.to_string());
        set_finalizers(&api, &state, finalizers).await?;
        return Ok(Action::await_change());
    }
    let deadline = state.spec.garbage_collection_deadline.as_ref().map(|t| t.0);
    match gc_decision(deadline, jiff::Timestamp::now()) {
        GcDecision::Keep => {
            set_ready(&api, &state, "True", "Created", "GeneratorState created").await;
            Ok(Action::await_change())
        }
        GcDecision::RequeueAfter(after) => Ok(Action::requeue(after)),
        GcDecision::Delete => {
            info!("garbage collection deadline reached; deleting");
            match api.delete(&name, &Default::default()).await {
                Ok(_) => Ok(Action::await_change()),
                Err(kube::Error::Api(e)) if e.code == 404 => Ok(Action::await_change()),
                Err(e) => {
                    set_ready(&api, &state, "False", "Error", &format!("could not delete GeneratorState: {e}")).await;
                    Err(e.into())
                }
            }
        }
    }
}

/// Cleans up at the provider what `state` names, with the generator manifest it recorded.
async fn clean_up(ctx: &Context, state: &GeneratorState, namespace: &str) -> Result<(), String> {
    let (kind, spec) = generator_of(&state.spec.resource).map_err(|e| format!("could not get generator: {e}"))?;
    let resolver = credentials(ctx, namespace, format!("generator state {}", state.name_any()));
    ctx.config.generators.cleanup(kind, &spec, &state.spec.state, &resolver).await.map_err(|e| e.to_string())
}

async fn remove_finalizer(api: &Api<GeneratorState>, state: &GeneratorState) -> Result<(), kube::Error> {
    let finalizers = state.finalizers().iter().filter(|f| *f != GENERATOR_STATE_FINALIZER).cloned().collect();
    match set_finalizers(api, state, finalizers).await {
        Ok(()) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Replaces the finalizers, guarded by the resourceVersion: when someone else changed the list meanwhile the
/// write fails (409) and is retried from the new object, instead of dropping their finalizer.
async fn set_finalizers(
    api: &Api<GeneratorState>,
    state: &GeneratorState,
    finalizers: Vec<String>,
) -> Result<(), kube::Error> {
    let patch = json!({"metadata": {"finalizers": finalizers, "resourceVersion": state.resource_version()}});
    api.patch(&state.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await.map(|_| ())
}

/// Writes ESO's `Ready` condition when it changed (ESO computes it but never saves it; the CRD has no status
/// subresource, so it is written with the object). A failed write is only logged: the condition is a courtesy.
async fn set_ready(api: &Api<GeneratorState>, state: &GeneratorState, status: &str, reason: &str, message: &str) {
    let current = state.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"));
    if current.is_some_and(|c| {
        c.status == status && c.reason.as_deref() == Some(reason) && c.message.as_deref() == Some(message)
    }) {
        return;
    }
    let last_transition_time = match current {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => Some(Time(jiff::Timestamp::now())),
    };
    let mut conditions: Vec<GeneratorStateStatusCondition> = state
        .status
        .as_ref()
        .map(|s| s.conditions.iter().filter(|c| c.type_ != "Ready").cloned().collect())
        .unwrap_or_default();
    conditions.push(GeneratorStateStatusCondition {
        type_: "Ready".to_string(),
        status: status.to_string(),
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
        last_transition_time,
    });
    let patch = json!({"status": GeneratorStateStatus { conditions }});
    if let Err(e) = api.patch(&state.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await {
        warn!(error = %e, "could not write the GeneratorState's condition");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used)]
    use super::*;
    use external_secrets_api::generators::v1alpha1::FakeSpec;

    #[test]
    fn the_recorded_manifest_names_its_generator_again() {
        let spec = GeneratorSpec { fake_spec: Some(FakeSpec::default()), ..Default::default() };
        let manifest = resource_manifest(GeneratorKind::Fake, Some("g"), "ns", &spec);
        assert_eq!(manifest["kind"], "Fake");
        assert_eq!(manifest["apiVersion"], "generators.external-secrets.io/v1alpha1");
        assert_eq!(manifest["metadata"]["name"], "g");
        assert_eq!(generator_of(&manifest).unwrap(), (GeneratorKind::Fake, spec));
        let err = generator_of(&json!({"kind": "Nope", "spec": {}})).unwrap_err();
        assert!(err.contains("\"Nope\""), "{err}");
    }
}
