//! The admission endpoints over HTTPS, at ESO's paths, and the plain-HTTP health endpoints.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use external_secrets_api::{ExternalSecretSpec, SecretStoreSpec};
use external_secrets_provider::{ProviderRegistry, StoreKind};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use tokio::net::TcpListener;

use crate::tls::ReloadingCert;
use crate::validate::{self, Verdict};

/// ESO's path for ExternalSecret validation.
pub const EXTERNAL_SECRET_PATH: &str = "/validate-external-secrets-io-v1-externalsecret";
/// ESO's path for SecretStore validation.
pub const SECRET_STORE_PATH: &str = "/validate-external-secrets-io-v1-secretstore";
/// ESO's path for ClusterSecretStore validation.
pub const CLUSTER_SECRET_STORE_PATH: &str = "/validate-external-secrets-io-v1-clustersecretstore";

/// How long a client may take to finish the TLS handshake before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Readiness needs a certificate valid at least this much longer (as ESO's webhook).
const READY_MARGIN: Duration = Duration::from_secs(3600);

#[derive(Clone)]
struct AppState {
    registry: Arc<ProviderRegistry>,
}

/// The admission routes: `POST` an `AdmissionReview` to one of the `*_PATH`s and get the verdict back.
pub fn router(registry: ProviderRegistry) -> Router {
    Router::new()
        .route(EXTERNAL_SECRET_PATH, post(external_secret))
        .route(SECRET_STORE_PATH, post(secret_store))
        .route(CLUSTER_SECRET_STORE_PATH, post(cluster_secret_store))
        .with_state(AppState { registry: Arc::new(registry) })
}

async fn external_secret(Json(review): Json<AdmissionReview<DynamicObject>>) -> Json<AdmissionReview<DynamicObject>> {
    Json(admit(review, |spec: ExternalSecretSpec| validate::external_secret(&spec)))
}

async fn secret_store(
    State(state): State<AppState>,
    Json(review): Json<AdmissionReview<DynamicObject>>,
) -> Json<AdmissionReview<DynamicObject>> {
    Json(admit(review, |spec: SecretStoreSpec| validate::store(&spec, StoreKind::SecretStore, &state.registry)))
}

async fn cluster_secret_store(
    State(state): State<AppState>,
    Json(review): Json<AdmissionReview<DynamicObject>>,
) -> Json<AdmissionReview<DynamicObject>> {
    Json(admit(review, |spec: SecretStoreSpec| validate::store(&spec, StoreKind::ClusterSecretStore, &state.registry)))
}

/// Answers one review: the object's `spec` is read as `S` and judged by `check`. Only CREATE and UPDATE are
/// judged; anything else (the chart never sends it) is allowed, so a delete is never blocked by validation.
fn admit<S: serde::de::DeserializeOwned>(
    review: AdmissionReview<DynamicObject>,
    check: impl FnOnce(S) -> Verdict,
) -> AdmissionReview<DynamicObject> {
    let request: AdmissionRequest<DynamicObject> = match review.try_into() {
        Ok(request) => request,
        Err(e) => return AdmissionResponse::invalid(format!("not an AdmissionReview request: {e}")).into_review(),
    };
    let response = AdmissionResponse::from(&request);
    if !matches!(request.operation, Operation::Create | Operation::Update) {
        return response.into_review();
    }
    let spec = request.object.as_ref().and_then(|o| o.data.get("spec")).cloned().unwrap_or_default();
    let verdict = match serde_json::from_value::<S>(spec) {
        Ok(spec) => check(spec),
        Err(e) => Verdict { errors: vec![format!("spec cannot be read: {e}")], warnings: Vec::new() },
    };
    tracing::debug!(
        kind = %request.kind.kind,
        namespace = request.namespace.as_deref().unwrap_or_default(),
        name = %request.name,
        allowed = verdict.allowed(),
        "admission review"
    );
    let mut response = if verdict.allowed() { response } else { response.deny(verdict.message()) };
    if !verdict.warnings.is_empty() {
        response.warnings = Some(verdict.warnings);
    }
    response.into_review()
}

/// Serves `router` over TLS on `listener` until `shutdown` completes. Each connection's handshake uses the
/// certificate `tls` holds at that moment; a slow or failed handshake affects only its own connection.
pub async fn serve_tls(
    listener: TcpListener,
    router: Router,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    // Open connections are closed too on shutdown: clients keep connections alive, and a stopped webhook
    // must look stopped to them.
    let (closing_tx, closing) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => {
                let _ = closing_tx.send(true);
                return Ok(());
            }
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let (acceptor, router, mut closing) = (acceptor.clone(), router.clone(), closing.clone());
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, %peer, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let service = TowerToHyperService::new(router);
            let connection = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = async { drop(closing.wait_for(|closing| *closing).await) } => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
}

/// `/healthz` (the process answers) and `/readyz` (a certificate valid for at least another hour is served).
pub fn health_router(cert: Arc<ReloadingCert>) -> Router {
    Router::new().route("/healthz", get(|| async { "ok" })).route(
        "/readyz",
        get(move || {
            let cert = cert.clone();
            async move {
                if cert.valid_for(READY_MARGIN) {
                    (StatusCode::OK, "ok")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "no serving certificate valid for another hour")
                }
            }
        }),
    )
}

/// Serves a plain-HTTP router (health endpoints) on `listener` until the process ends.
pub async fn serve_http(listener: TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(listener, router).await
}

/// Settings of [`run`].
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// Where the admission endpoints listen (HTTPS).
    pub addr: SocketAddr,
    /// The directory with `tls.crt` and `tls.key`.
    pub cert_dir: std::path::PathBuf,
    /// Where `/healthz` and `/readyz` listen (HTTP); `None` disables them.
    pub healthz_addr: Option<SocketAddr>,
    /// How often the certificate files are checked for changes.
    pub reload_interval: Duration,
    /// How long to wait at start-up for a certificate to appear.
    pub cert_wait: Duration,
    /// Protocol versions and cipher suites (`--tls-min-version`, `--tls-ciphers`).
    pub tls: crate::tls::TlsPolicy,
}

/// Why the webhook stopped.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// No usable certificate.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// A listener could not be bound or failed.
    #[error("listening on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
}

/// Runs the webhook until `shutdown` completes: waits for the certificate, then serves admission over HTTPS
/// (reloading the certificate when its files change) and health over HTTP.
pub async fn run(
    config: WebhookConfig,
    registry: ProviderRegistry,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WebhookError> {
    let cert = ReloadingCert::new(&config.cert_dir);
    cert.wait_loaded(config.cert_wait).await?;
    let tls = cert.server_config_with(&config.tls)?;
    let listener =
        TcpListener::bind(config.addr).await.map_err(|source| WebhookError::Listen { addr: config.addr, source })?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    tokio::spawn(cert.clone().watch(config.reload_interval, stopped()));
    if let Some(addr) = config.healthz_addr {
        let health = TcpListener::bind(addr).await.map_err(|source| WebhookError::Listen { addr, source })?;
        let app = health_router(cert.clone());
        let stop = stopped();
        tokio::spawn(async move {
            if let Err(e) = axum::serve(health, app).with_graceful_shutdown(stop).await {
                tracing::warn!(error = %e, "health server failed");
            }
        });
    }
    tracing::info!(addr = %config.addr, cert_dir = %config.cert_dir.display(), "webhook serving");
    let served = serve_tls(listener, router(registry), tls, shutdown).await;
    let _ = stop_tx.send(true);
    served.map_err(|source| WebhookError::Listen { addr: config.addr, source })
}
