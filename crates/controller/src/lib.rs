//! The controllers: ExternalSecret, SecretStore and ClusterSecretStore, their watches, and the process's health
//! and metrics endpoints.
//!
//! Watches: ExternalSecrets (changes of spec, labels, annotations and deletion only — not our own status
//! writes), SecretStores and ClusterSecretStores, and the *metadata* of Secrets labelled
//! `reconcile.external-secrets.io/managed=true`. Memory grows with what we manage, not with the cluster.

pub mod clients;
pub mod config;
pub mod context;
pub mod error;
pub mod externalsecret;
pub mod health;
pub mod metrics;
pub mod selector;
pub mod store;

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
pub use metrics::Metrics;

const SUBSCRIBE_BUFFER: usize = 1024;

fn namespaced_or_all<K>(client: kube::Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    }
}

/// What makes an ExternalSecret worth reconciling: spec (generation), labels, annotations (ESO's force-sync
/// works with any annotation change), deletion and finalizers. Our own status writes change none of these.
fn es_predicate(es: &ExternalSecret) -> Option<u64> {
    let mut h = DefaultHasher::new();
    es.meta().generation.hash(&mut h);
    es.labels().hash(&mut h);
    es.annotations().hash(&mut h);
    es.meta().deletion_timestamp.is_some().hash(&mut h);
    es.finalizers().hash(&mut h);
    Some(h.finish())
}

/// A running controller process's handles.
pub struct Handles {
    pub context: Arc<Context>,
    pub readiness: Readiness,
    pub metrics: Arc<Metrics>,
}

/// Starts every controller and the health/metrics server, and runs until `shutdown` resolves.
pub async fn run(
    client: kube::Client,
    registry: ProviderRegistry,
    config: ControllerConfig,
    metrics_addr: Option<SocketAddr>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
    on_start: impl FnOnce(&Handles),
) -> Result<(), std::io::Error> {
    let ns = config.namespace.clone();
    let metrics = Arc::new(Metrics::default());
    let readiness = Readiness::default();

    // Shared reflectors: one watch per kind, read by every controller that needs it.
    let (ss_reader, ss_writer) = reflector::store_shared::<SecretStore>(SUBSCRIBE_BUFFER);
    let (css_reader, css_writer) = reflector::store_shared::<ClusterSecretStore>(SUBSCRIBE_BUFFER);
    let (secret_reader, secret_writer) = reflector::store_shared(SUBSCRIBE_BUFFER);
    let ss_sub = ss_writer.subscribe();
    let css_sub = css_writer.subscribe();
    let secret_sub = secret_writer.subscribe();
    let (Some(ss_sub), Some(css_sub), Some(secret_sub)) = (ss_sub, css_sub, secret_sub) else {
        return Err(std::io::Error::other("shared reflector stores must allow subscribers"));
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
    let secret_watch =
        watch(secret_api, watcher::Config::default().labels(&managed)).default_backoff().reflect_shared(secret_writer);

    let (es_reader, es_writer) = reflector::store();
    let es_stream = watch(es_api, watcher::Config::default())
        .default_backoff()
        .reflect(es_writer)
        .applied_objects()
        .predicate_filter(es_predicate, Default::default());

    let context = Arc::new(Context::new(
        client.clone(),
        registry,
        config.clone(),
        metrics.clone(),
        ss_reader.clone(),
        css_reader.clone(),
        es_reader.clone(),
        secret_reader.clone(),
    ));
    on_start(&Handles { context: context.clone(), readiness: readiness.clone(), metrics: metrics.clone() });

    let shutdown = shutdown.shared();
    let controller_config = kube::runtime::controller::Config::default().concurrency(config.concurrent);

    let ctx_for_stores = context.clone();
    let ctx_for_css = context.clone();
    let ctx_for_secrets = context.clone();
    let es_controller = Controller::for_stream(es_stream, es_reader.clone())
        .with_config(controller_config.clone())
        .watches_shared_stream(ss_sub.clone(), move |store: Arc<SecretStore>| {
            externalsecret::users_of_store(
                &ctx_for_stores,
                StoreKind::SecretStore,
                store.namespace().as_deref(),
                &store.name_any(),
            )
        })
        .watches_shared_stream(css_sub.clone(), move |store: Arc<ClusterSecretStore>| {
            externalsecret::users_of_store(&ctx_for_css, StoreKind::ClusterSecretStore, None, &store.name_any())
        })
        .watches_shared_stream(secret_sub, move |secret| externalsecret::owner_of_secret(&ctx_for_secrets, &secret))
        .graceful_shutdown_on(shutdown.clone())
        .run(externalsecret::reconcile, externalsecret::error_policy, context.clone())
        .for_each(|res| async move {
            if let Err(e) = res {
                warn!(error = %e, "ExternalSecret controller error");
            }
        });

    let ss_controller = Controller::for_shared_stream(ss_sub, ss_reader.clone())
        .with_config(controller_config.clone())
        .graceful_shutdown_on(shutdown.clone())
        .run(store::reconcile::<SecretStore>, store_error_policy, context.clone())
        .for_each(|_| async {});
    let css_enabled = config.enable_cluster_store_reconciler;
    let css_controller = Controller::for_shared_stream(css_sub, css_reader.clone())
        .with_config(controller_config)
        .graceful_shutdown_on(shutdown.clone())
        .run(store::reconcile::<ClusterSecretStore>, store_error_policy, context.clone())
        .for_each(|_| async {});

    let ready_flag = readiness.clone();
    let (ss_r, css_r, es_r, sec_r) = (ss_reader, css_reader, es_reader, secret_reader);
    let readiness_task = async move {
        let synced = futures::future::join4(
            ss_r.wait_until_ready(),
            css_r.wait_until_ready(),
            es_r.wait_until_ready(),
            sec_r.wait_until_ready(),
        )
        .await;
        if synced.0.is_ok() && synced.1.is_ok() && synced.2.is_ok() && synced.3.is_ok() {
            info!("watch caches synced; ready");
            ready_flag.set_ready();
        }
    };

    let health = async move {
        match metrics_addr {
            Some(addr) => {
                if let Err(e) = health::serve(addr, readiness, metrics).await {
                    warn!(error = %e, %addr, "health/metrics server failed");
                }
            }
            // No server: this branch must never end the process.
            None => futures::future::pending::<()>().await,
        }
    };

    let watches = futures::future::join3(
        ss_watch.for_each(log_watch_error("SecretStore")),
        css_watch.for_each(log_watch_error("ClusterSecretStore")),
        secret_watch.for_each(log_watch_error("Secret")),
    );
    let css_controller = async move {
        if css_enabled {
            css_controller.await;
        }
    };
    tokio::select! {
        _ = futures::future::join4(es_controller, ss_controller, css_controller, readiness_task) => {},
        _ = watches => {},
        _ = health => {},
        _ = shutdown => {},
    }
    Ok(())
}

/// Watch errors are retried by the watcher's backoff; they are logged so that a missing permission shows.
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
