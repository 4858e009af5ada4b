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
/// Bounds on what one client can hold of the admission server (slow or oversized requests, too many connections).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// How long a client may take to send a request's headers (hyper's `header_read_timeout`).
    pub header_read_timeout: Duration,
    /// How long one request may take from its headers to the response, reading the body included.
    pub request_timeout: Duration,
    /// Connections served at once; past this, new connections wait in the listen backlog.
    pub max_connections: usize,
    /// The largest request body accepted (413 above it).
    pub max_body_bytes: usize,
}

impl Default for Limits {
    /// The apiserver sends reviews of objects up to its 3 MiB request limit, old and new object both: 8 MiB
    /// leaves room for that; it waits 10 s for a webhook by default, so a request that takes 30 s is hostile.
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 512,
            max_body_bytes: 8 << 20,
        }
    }
}

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
    let verdict = match serde_path_to_error::deserialize::<_, S>(spec) {
        Ok(spec) => check(spec),
        Err(e) => {
            let at = match e.path().to_string().as_str() {
                "." => "spec".to_string(),
                path => format!("spec.{path}"),
            };
            let why = without_values(&e.into_inner().to_string());
            Verdict { errors: vec![format!("{at} cannot be read: {why}")], warnings: Vec::new() }
        }
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

/// A serde error message without the value it complains about: `invalid type: string "hunter2", expected a map`
/// becomes `invalid type: a value (not shown), expected a map`. Manifests hold secrets (Fake provider data,
/// template literals), and a denial is shown to whoever applied the manifest and may be logged by their tools.
fn without_values(message: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let tail = rest.find(", expected").map_or("", |i| &rest[i..]);
            return format!("{prefix}a value (not shown){tail}");
        }
    }
    message.to_string()
}

/// Serves `router` over TLS on `listener` until `shutdown` completes. Each connection's handshake uses the
/// certificate `tls` holds at that moment; a slow or failed handshake affects only its own connection.
pub async fn serve_tls(
    listener: TcpListener,
    router: Router,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    serve_tls_with(listener, router, tls, Limits::default(), shutdown).await
}

/// [`serve_tls`] with explicit [`Limits`].
pub async fn serve_tls_with(
    listener: TcpListener,
    router: Router,
    tls: Arc<rustls::ServerConfig>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let router = router
        .layer(axum::middleware::from_fn_with_state(limits.request_timeout, request_timeout))
        .layer(axum::extract::DefaultBodyLimit::max(limits.max_body_bytes));
    let connections = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    // Open connections are closed too on shutdown: clients keep connections alive, and a stopped webhook
    // must look stopped to them.
    let (closing_tx, closing) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        // A connection slot first: at the cap, new connections wait in the kernel's backlog.
        let next = async { (connections.clone().acquire_owned().await, listener.accept().await) };
        let (slot, accepted) = tokio::select! {
            _ = &mut shutdown => {
                let _ = closing_tx.send(true);
                return Ok(());
            }
            next = next => next,
        };
        let Ok(slot) = slot else { return Ok(()) };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (acceptor, router, mut closing) = (acceptor.clone(), router.clone(), closing.clone());
        tokio::spawn(async move {
            let _slot = slot;
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
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .serve_connection(TokioIo::new(stream), service);
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

/// Answers 408 when a request (its body included) takes longer than `limit`.
async fn request_timeout(
    State(limit): State<Duration>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => (StatusCode::REQUEST_TIMEOUT, "request took too long").into_response(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denials_do_not_quote_the_value_they_complain_about() {
        let spec = serde_json::json!({"provider": {"fake": {"data": []}}, "retrySettings": {"maxRetries": "hunter2"}});
        let review_spec: Result<SecretStoreSpec, _> = serde_path_to_error::deserialize(spec);
        let e = review_spec.expect_err("a string where a number belongs");
        assert_eq!(e.path().to_string(), "retrySettings.maxRetries");
        assert!(e.inner().to_string().contains("hunter2"), "serde quotes the value: this test would catch a leak");
        let message = without_values(&e.into_inner().to_string());
        assert!(!message.contains("hunter2"), "{message}");
        assert!(message.starts_with("invalid type: a value (not shown), expected"), "{message}");

        let plain = "missing field `provider`";
        assert_eq!(without_values(plain), plain);
        assert_eq!(
            without_values(r#"invalid value: string "s3cr3t", expected one of `A`, `B`"#),
            "invalid value: a value (not shown), expected one of `A`, `B`"
        );
    }
}
