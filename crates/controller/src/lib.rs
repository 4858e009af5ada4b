//! The controllers: ExternalSecret, SecretStore, ClusterSecretStore, ClusterExternalSecret, PushSecret and
//! ClusterPushSecret, their watches, and the process's health and metrics endpoints.
//!
//! Watches: ExternalSecrets (changes of spec, labels, annotations and deletion only — not our own status
//! writes), SecretStores and ClusterSecretStores, and the *metadata* of Secrets labelled
//! `reconcile.external-secrets.io/managed=true`; with the ClusterExternalSecret controller, ClusterExternalSecrets
//! and the *metadata* of Namespaces; with the PushSecret controller, PushSecrets and the events of Secrets'
//! metadata (mapped to the PushSecrets they are the source of, nothing kept); with the ClusterPushSecret
//! controller, ClusterPushSecrets and (a second watch) the metadata of Namespaces. Memory grows with what we
//! manage, not with the cluster.
//!
//! Under leader election ([`leader`]) only the leader watches and reconciles; a standby serves health and
//! metrics and waits for the Lease. A leader that loses the Lease stops at once and [`run`] fails, so that the
//! process exits non-zero and is restarted as a standby (controller-runtime does the same).

pub mod clients;
pub mod clusterexternalsecret;
pub mod clusterpushsecret;
pub mod config;
pub mod context;
pub mod error;
pub mod events;
pub mod externalsecret;
pub mod fan_out;
pub(crate) mod generator;
pub mod generator_state;
pub mod generic_target;
pub mod health;
pub mod leader;
pub mod metrics;
pub mod pushsecret;
pub mod ratelimit;
pub mod selector;
pub mod store;
pub mod workqueue;

use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;

use external_secrets_api::{ClusterSecretStore, ExternalSecret, SecretStore};
use external_secrets_core::refresh::{LABEL_MANAGED, LABEL_MANAGED_VALUE};
use external_secrets_provider::{ProviderRegistry, StoreKind};
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::watcher;
use kube::runtime::{WatchStreamExt, watcher as watch};
use kube::{Resource, ResourceExt};
use tracing::{info, warn};

pub use config::ControllerConfig;
pub use context::Context;
pub use health::Readiness;
pub use leader::{LeaderElectionConfig, LeaderElectionError};
pub use metrics::Metrics;

const SUBSCRIBE_BUFFER: usize = 1024;

pub(crate) fn namespaced_or_all<K>(client: kube::Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    }
}

/// What makes an ExternalSecret, PushSecret or ClusterExternalSecret worth reconciling (ESO's predicate): spec
/// (generation), labels (metrics), annotations (ESO's force-sync works with any annotation change), deletion and
/// finalizers. Our own status writes change none of these.
pub(crate) fn spec_change_predicate<K: Resource>(obj: &K) -> Option<u64> {
    let mut h = DefaultHasher::new();
    obj.meta().generation.hash(&mut h);
    obj.labels().hash(&mut h);
    obj.annotations().hash(&mut h);
    obj.meta().deletion_timestamp.is_some().hash(&mut h);
    obj.finalizers().hash(&mut h);
    Some(h.finish())
}

/// Why [`run`] stopped before `shutdown`.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The process could not set itself up.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Leader election failed or the Lease was lost: this process must not reconcile any more.
    #[error(transparent)]
    LeaderElection(#[from] LeaderElectionError),
}

/// A running controller process's handles.
pub struct Handles {
    pub context: Arc<Context>,
    pub readiness: Readiness,
    pub metrics: Arc<Metrics>,
}

/// How often the clients and backoff state of deleted stores are dropped.
const PRUNE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// Starts the health/metrics server and — at once, or once this replica leads (`config.leader_election`) —
/// every controller, and runs until `shutdown` resolves (then steps down as leader) or the Lease is lost.
pub async fn run(
    client: kube::Client,
    registry: ProviderRegistry,
    config: ControllerConfig,
    metrics_addr: Option<SocketAddr>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
    on_start: impl FnOnce(&Handles),
) -> Result<(), RunError> {
    let ns = config.namespace.clone();
    let metrics = Arc::new(Metrics::default());
    if config.enable_extended_metric_labels {
        metrics.enable_extended_labels();
    }
    let readiness = Readiness::default();

    // Shared reflectors: one watch per kind, read by every controller that needs it.
    let (ss_reader, ss_writer) = reflector::store_shared::<SecretStore>(SUBSCRIBE_BUFFER);
    let (css_reader, css_writer) = reflector::store_shared::<ClusterSecretStore>(SUBSCRIBE_BUFFER);
    let ss_sub = ss_writer.subscribe();
    let css_sub = css_writer.subscribe();
    let (Some(ss_sub), Some(css_sub)) = (ss_sub, css_sub) else {
        return Err(std::io::Error::other("shared reflector stores must allow subscribers").into());
    };

    let ss_api: Api<SecretStore> = namespaced_or_all(client.clone(), ns.as_deref());
    let css_api: Api<ClusterSecretStore> = Api::all(client.clone());
    let es_api: Api<ExternalSecret> = namespaced_or_all(client.clone(), ns.as_deref());
    let secret_api: Api<PartialObjectMeta<Secret>> = match ns.as_deref() {
        Some(n) => Api::namespaced(client.clone(), n),
        None => Api::all(client.clone()),
    };
    let managed = format!("{LABEL_MANAGED}={LABEL_MANAGED_VALUE}");

    let ss_watch = watch(ss_api, watcher::Config::default()).default_backoff().reflect_shared(ss_writer);
    let css_watch = watch(css_api, watcher::Config::default()).default_backoff().reflect_shared(css_writer);
    // Managed Secrets are read by the ExternalSecret controller only, which must also see them deleted: a shared
    // stream would pass on applied objects only, so a deleted Secret would wait for the next refresh.
    let (secret_reader, secret_writer) = reflector::store();
    let secret_watch = watch(secret_api, watcher::Config::default().labels(&managed))
        .default_backoff()
        // Managed fields are read (ownership, ESO's fields taken over) but kept as JSON text: ~3 KiB less per
        // target Secret than the tree (bench/README.md, "Where the bytes go").
        .modify(|secret| {
            if let Some(entries) = secret.metadata.managed_fields.as_mut() {
                external_secrets_core::ownership::compact(entries);
            }
        })
        .reflect(secret_writer)
        .touched_objects();

    let (es_reader, es_writer) = reflector::store();
    // The ClusterExternalSecret controller reconciles on changes and deletions of the ExternalSecrets it controls,
    // seen here (deletions included) rather than through a second watch of every ExternalSecret.
    let (ces_trigger, ces_triggers) = futures::channel::mpsc::unbounded();
    let mut owner_triggers = clusterexternalsecret::owner_triggers(ces_trigger);
    let es_stream = watch(es_api, watcher::Config::default())
        .default_backoff()
        // Nothing reads an ExternalSecret's managedFields; dropping them keeps ~1–2 KiB per object out of the
        // cache. (Target Secrets keep theirs: taking over ESO's fields rewrites the whole list.)
        .modify(|es| es.metadata.managed_fields = None)
        .reflect(es_writer)
        .inspect(move |event| owner_triggers.observe(event))
        .applied_objects()
        .predicate_filter(spec_change_predicate, Default::default());

    // PushSecrets: watched by the PushSecret controller, read by the store controller too (ESO's store finalizer).
    let (ps_reader, ps_writer) = reflector::store();
    let context = Arc::new(Context::new(
        client.clone(),
        registry,
        config.clone(),
        metrics.clone(),
        ss_reader.clone(),
        css_reader.clone(),
        es_reader.clone(),
        secret_reader.clone(),
        ps_reader.clone(),
    ));
    on_start(&Handles { context: context.clone(), readiness: readiness.clone(), metrics: metrics.clone() });

    let shutdown = shutdown.shared();
    let controller_config = kube::runtime::controller::Config::default().concurrency(config.concurrent);

    let ctx_for_stores = context.clone();
    let ctx_for_css = context.clone();
    let ctx_for_secrets = context.clone();
    // controller-runtime's series (ESO's dashboard): each trigger is counted as a work queue add.
    let es_queue = workqueue::ControllerMetrics::new("externalsecret", metrics.clone(), config.concurrent);
    let (q_es, q_ss, q_css, q_secret, q_run) =
        (es_queue.clone(), es_queue.clone(), es_queue.clone(), es_queue.clone(), es_queue);
    let es_stream = es_stream.inspect(move |es| {
        if let Ok(es) = es {
            q_es.queued(workqueue::key(es.namespace().as_deref(), &es.name_any()));
        }
    });
    let queued = |queue: &workqueue::ControllerMetrics, refs: Vec<ObjectRef<ExternalSecret>>| {
        for r in &refs {
            queue.queued(workqueue::key(r.namespace.as_deref(), &r.name));
        }
        refs
    };
    // Generic targets changed by someone else (one metadata watch per kind in use, started on first write).
    let drift = context.generic_targets.drift_triggers(client.clone(), ns.clone(), es_reader.clone());
    let q_drift = q_run.clone();
    let drift = futures::stream::iter(drift).flatten().inspect(move |r: &ObjectRef<ExternalSecret>| {
        q_drift.queued(workqueue::key(r.namespace.as_deref(), &r.name));
    });
    let es_controller = Controller::for_stream(es_stream, es_reader.clone())
        .with_config(controller_config.clone())
        .reconcile_on(drift)
        .watches_shared_stream(ss_sub.clone(), move |store: Arc<SecretStore>| {
            let refs = externalsecret::users_of_store(
                &ctx_for_stores,
                StoreKind::SecretStore,
                store.namespace().as_deref(),
                &store.name_any(),
            );
            queued(&q_ss, refs.into_iter().collect())
        })
        .watches_shared_stream(css_sub.clone(), move |store: Arc<ClusterSecretStore>| {
            let refs =
                externalsecret::users_of_store(&ctx_for_css, StoreKind::ClusterSecretStore, None, &store.name_any());
            queued(&q_css, refs.into_iter().collect())
        })
        .watches_stream(secret_watch, move |secret| {
            queued(&q_secret, externalsecret::owner_of_secret(&ctx_for_secrets, &secret))
        })
        .graceful_shutdown_on(shutdown.clone())
        .run(
            move |es, ctx| {
                let queue = q_run.clone();
                async move {
                    let key = workqueue::key(es.namespace().as_deref(), &es.name_any());
                    let namespace = es.namespace().unwrap_or_default();
                    ctx.metrics.object_labels(
                        metrics::ObjectKind::ExternalSecret,
                        &namespace,
                        &es.name_any(),
                        es.labels(),
                    );
                    // A failed sync is handled inside the reconcile; it shows as one more sync error.
                    let labels =
                        metrics::ObjectLabels { name: es.name_any(), namespace: es.namespace().unwrap_or_default() };
                    let errors = ctx.metrics.sync_calls_error.clone();
                    // `get`, not `get_or_create`: a deleted ExternalSecret's series must stay removed.
                    let count = move || errors.get(&labels).map(|g| g.get()).unwrap_or(0);
                    let before = count();
                    let failed = move || count() > before;
                    queue.reconcile(key, externalsecret::reconcile(es, ctx), failed).await
                }
            },
            externalsecret::error_policy,
            context.clone(),
        )
        .for_each(|res| async move {
            if let Err(e) = res {
                warn!(error = %e, "ExternalSecret controller error");
            }
        });

    // Without the SecretStore reconciler (`--enable-secret-store-reconciler=false`) stores are still watched for
    // the ExternalSecrets, but nobody subscribes for a controller: an unread subscriber would stall the watch.
    let ss_controller = config.enable_secret_store_reconciler.then(|| {
        let queue = workqueue::ControllerMetrics::new("secretstore", metrics.clone(), config.concurrent);
        Controller::for_shared_stream(queued_stores(ss_sub, queue.clone()), ss_reader.clone())
            .with_config(controller_config.clone())
            .graceful_shutdown_on(shutdown.clone())
            .run(observed_store_reconcile::<SecretStore>(queue), store_error_policy, context.clone())
            .for_each(|_| async {})
    });
    let ss_controller = async move {
        if let Some(ss_controller) = ss_controller {
            ss_controller.await;
        }
    };
    let css_enabled = config.enable_cluster_store_reconciler;
    let css_queue = workqueue::ControllerMetrics::new("clustersecretstore", metrics.clone(), config.concurrent);
    let css_controller = Controller::for_shared_stream(queued_stores(css_sub, css_queue.clone()), css_reader.clone())
        .with_config(controller_config.clone())
        .graceful_shutdown_on(shutdown.clone())
        .run(observed_store_reconcile::<ClusterSecretStore>(css_queue), store_error_policy, context.clone())
        .for_each(|_| async {});

    // ClusterExternalSecrets span namespaces: not with `--namespace` (ESO's namespaced cache cannot serve them either).
    let ces_parts = (config.enable_cluster_external_secret_reconciler && ns.is_none()).then(|| {
        clusterexternalsecret::controller(context.clone(), ces_triggers, controller_config.clone(), shutdown.clone())
    });
    let (ces_controller, ces_ready) = match ces_parts {
        Some(parts) => (parts.run, parts.ready),
        None => (futures::future::ready(()).boxed(), futures::future::ready(true).boxed()),
    };

    // ClusterPushSecrets, like ClusterExternalSecrets, only cluster-wide. They read PushSecrets from the
    // PushSecret watch's cache; without the PushSecret controller that watch runs on its own.
    let cps_enabled = config.enable_cluster_push_secret_reconciler && ns.is_none();
    let (cps_trigger, cps_triggers) = futures::channel::mpsc::unbounded();
    let cps_owner_triggers = cps_enabled.then(|| clusterpushsecret::owner_triggers(cps_trigger));
    let cps_parts = cps_enabled.then(|| {
        clusterpushsecret::controller(context.clone(), cps_triggers, controller_config.clone(), shutdown.clone())
    });
    let (cps_controller, cps_ready) = match cps_parts {
        Some(parts) => (parts.run, parts.ready),
        None => (futures::future::ready(()).boxed(), futures::future::ready(true).boxed()),
    };

    let (ps_controller, ps_ready) = if config.enable_push_secret_reconciler {
        let parts = pushsecret::controller(
            context.clone(),
            ns.clone(),
            (ps_reader, ps_writer),
            cps_owner_triggers,
            controller_config.clone(),
            shutdown.clone(),
        );
        (parts.run, parts.ready)
    } else if cps_enabled {
        let watch = pushsecret::push_secret_watch(client.clone(), None, ps_writer, cps_owner_triggers);
        let run = watch.for_each(log_watch_error("PushSecret")).boxed();
        (run, async move { ps_reader.wait_until_ready().await.is_ok() }.boxed())
    } else {
        (futures::future::ready(()).boxed(), futures::future::ready(true).boxed())
    };

    // ESO runs the GeneratorState controller whatever --enable-generator-state says: states stored before are
    // still collected.
    let gs_parts =
        generator_state::controller(context.clone(), ns.clone(), controller_config.clone(), shutdown.clone());
    let (gs_controller, gs_ready) = (gs_parts.run, gs_parts.ready);

    let elector = match config.leader_election.clone() {
        Some(election) => Some(leader::LeaderElector::new(client.clone(), election)?),
        None => None,
    };

    let ready_flag = readiness.clone();
    let (ss_r, css_r, es_r, sec_r) = (ss_reader, css_reader, es_reader, secret_reader);
    let readiness_task = async move {
        // Without the ClusterSecretStore reconciler (a namespace-scoped install) cluster stores are not watched
        // at all: such an install has no permission to list them.
        let css_ready = async move { if css_enabled { css_r.wait_until_ready().await } else { Ok(()) } };
        let (synced, ces_synced, ps_synced, cps_synced, gs_synced) = futures::future::join5(
            futures::future::join4(
                ss_r.wait_until_ready(),
                css_ready,
                es_r.wait_until_ready(),
                sec_r.wait_until_ready(),
            ),
            ces_ready,
            ps_ready,
            cps_ready,
            gs_ready,
        )
        .await;
        let caches = synced.0.is_ok() && synced.1.is_ok() && synced.2.is_ok() && synced.3.is_ok();
        if caches && ces_synced && ps_synced && cps_synced && gs_synced {
            info!("watch caches synced; ready");
            ready_flag.set_ready();
        }
    };

    let (health_readiness, health_metrics) = (readiness.clone(), metrics.clone());
    let health = async move {
        match metrics_addr {
            Some(addr) => {
                if let Err(e) = health::serve(addr, health_readiness, health_metrics).await {
                    warn!(error = %e, %addr, "health/metrics server failed");
                }
            }
            // No server: this branch must never end the process.
            None => futures::future::pending::<()>().await,
        }
    };

    let css_prune = context.clone();
    let css_watch = async move {
        if css_enabled {
            css_watch.for_each(prune_on_delete(css_prune, log_watch_error("ClusterSecretStore"))).await;
        } else {
            futures::future::pending::<()>().await;
        }
    };
    let ss_prune = context.clone();
    let watches =
        futures::future::join(ss_watch.for_each(prune_on_delete(ss_prune, log_watch_error("SecretStore"))), css_watch);
    let css_controller = async move {
        if css_enabled {
            css_controller.await;
        }
    };
    // What is kept per store outlives a deleted store unless pruned (deleted stores are not reconciled); a synced
    // status is kept only until the watch shows it.
    let ctx_for_prune = context.clone();
    let prune = async move {
        let mut every = tokio::time::interval(PRUNE_INTERVAL);
        loop {
            every.tick().await;
            ctx_for_prune.prune_deleted_stores();
            ctx_for_prune.prune_synced_statuses();
        }
    };
    // Nothing is watched or reconciled until this future is polled. Boxed: the controllers' state machine is
    // large, and moving it by value through the election code would overflow a worker's stack in debug builds.
    let controllers = Box::pin(async move {
        tokio::select! {
            _ = futures::future::join4(
                futures::future::join5(es_controller, ss_controller, css_controller, ces_controller, readiness_task),
                ps_controller,
                cps_controller,
                gs_controller,
            ) => {},
            _ = prune => {},
            _ = watches => {},
        }
    });
    let work = async move {
        match elector {
            None => {
                tokio::select! {
                    _ = controllers => {},
                    _ = shutdown => {},
                }
                Ok(())
            }
            Some(elector) => Box::pin(lead(elector, controllers, shutdown, &readiness, &metrics)).await,
        }
    };
    tokio::select! {
        result = work => result,
        _ = health => Ok(()),
    }
}

/// Runs `controllers` while `elector` holds the Lease: stands by (ready) until it is acquired, stops the
/// controllers as soon as it is lost (an error), and releases it on `shutdown`.
async fn lead(
    mut elector: leader::LeaderElector,
    controllers: impl std::future::Future<Output = ()>,
    shutdown: impl std::future::Future<Output = ()> + Clone,
    readiness: &Readiness,
    metrics: &Metrics,
) -> Result<(), RunError> {
    let lease = metrics::LeaseLabels { name: elector.config().lease_name.clone() };
    metrics.leader.get_or_create(&lease).set(0);
    let standby = readiness.clone();
    tokio::select! {
        _ = elector.acquire(|| standby.set_ready()) => {},
        _ = shutdown.clone() => return Ok(()),
    }
    // Ready again once this replica's caches have synced.
    readiness.set_not_ready();
    metrics.leader.get_or_create(&lease).set(1);
    info!(lease = %lease.name, identity = %elector.config().identity, "leading: starting the controllers");
    let outcome = tokio::select! {
        _ = controllers => Ok(()),
        lost = elector.hold() => Err(lost),
        _ = shutdown => Ok(()),
    };
    metrics.leader.get_or_create(&lease).set(0);
    match outcome {
        Ok(()) => {
            if let Err(e) = elector.release().await {
                warn!(error = %e, "could not release the lease; a standby takes over when it expires");
            }
            Ok(())
        }
        Err(lost) => {
            readiness.set_not_ready();
            Err(lost.into())
        }
    }
}

/// A store controller's trigger stream, each store counted as a work queue add.
fn queued_stores<S: store::StoreObject>(
    stores: impl futures::Stream<Item = Arc<S>> + Send + 'static,
    queue: Arc<workqueue::ControllerMetrics>,
) -> impl futures::Stream<Item = Arc<S>> + Send + 'static {
    stores.inspect(move |s| queue.queued(workqueue::key(s.namespace().as_deref(), &s.name_any())))
}

/// A store reconcile recorded in `queue`'s controller-runtime series.
fn observed_store_reconcile<S: store::StoreObject>(
    queue: Arc<workqueue::ControllerMetrics>,
) -> impl FnMut(Arc<S>, Arc<Context>) -> futures::future::BoxFuture<'static, Result<Action, error::ReconcileError>> {
    move |obj, ctx| {
        let queue = queue.clone();
        Box::pin(async move {
            let (name, namespace) = (obj.name_any(), obj.namespace());
            let kind = match S::KIND {
                StoreKind::SecretStore => metrics::ObjectKind::SecretStore,
                StoreKind::ClusterSecretStore => metrics::ObjectKind::ClusterSecretStore,
            };
            ctx.metrics.object_labels(kind, namespace.as_deref().unwrap_or_default(), &name, obj.labels());
            let key = workqueue::key(namespace.as_deref(), &name);
            let ours = store::class_matches(obj.spec(), &ctx.config.controller_class);
            let started = std::time::Instant::now();
            // A store that failed validation is handled inside the reconcile; it shows as its Ready=False series.
            let conditions = match S::KIND {
                StoreKind::SecretStore => ctx.metrics.ss_condition.clone(),
                StoreKind::ClusterSecretStore => ctx.metrics.css_condition.clone(),
            };
            let condition = metrics::ConditionLabels {
                name: name.clone(),
                namespace: namespace.clone().unwrap_or_default(),
                condition: "Ready".to_string(),
                status: "False".to_string(),
            };
            let failed = move || ours && conditions.get_or_create(&condition).get() == 1;
            let result = queue.reconcile(key, store::reconcile_isolated::<S>(obj, ctx.clone()), failed).await;
            if ours {
                // ESO's `secretstore_reconcile_duration` / `clustersecretstore_reconcile_duration`: the last one, in ns.
                let family = match S::KIND {
                    StoreKind::SecretStore => &ctx.metrics.ss_reconcile_duration,
                    StoreKind::ClusterSecretStore => &ctx.metrics.css_reconcile_duration,
                };
                let labels = metrics::ObjectLabels { name, namespace: namespace.unwrap_or_default() };
                family.get_or_create(&labels).set(i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX));
            }
            result
        })
    }
}

/// Watch errors are retried by the watcher's backoff; they are logged so that a missing permission shows.
/// Drops what is kept for a store (its clients, and with them e.g. Vault login tokens, revoked when the last
/// client goes) as soon as its watch sees it deleted; the periodic prune catches deletions missed while the
/// watch was down. The reflector has applied the event when it is passed on, so the store is gone from it.
fn prune_on_delete<T>(
    ctx: Arc<Context>,
    mut next: impl FnMut(Result<watcher::Event<T>, watcher::Error>) -> futures::future::Ready<()>,
) -> impl FnMut(Result<watcher::Event<T>, watcher::Error>) -> futures::future::Ready<()> {
    move |event| {
        if matches!(event, Ok(watcher::Event::Delete(_))) {
            ctx.prune_deleted_stores();
        }
        next(event)
    }
}

fn log_watch_error<T>(kind: &'static str) -> impl FnMut(Result<T, watcher::Error>) -> futures::future::Ready<()> {
    move |event| {
        if let Err(e) = event {
            warn!(kind, error = %e, "watch failed; retrying");
        }
        futures::future::ready(())
    }
}

fn store_error_policy<S: store::StoreObject>(obj: Arc<S>, err: &error::ReconcileError, ctx: Arc<Context>) -> Action {
    warn!(error = %err, kind = S::KIND.as_str(), name = obj.name_any(), "store reconcile failed");
    Action::requeue(ctx.backoff(&context::object_key(obj.as_ref())))
}

/// Requeue helper for tests: the reference of an ExternalSecret.
pub fn es_ref(namespace: &str, name: &str) -> ObjectRef<ExternalSecret> {
    ObjectRef::new(name).within(namespace)
}
