//! `/healthz`, `/readyz` and `/metrics` on one small HTTP server.
//!
//! Ready means "doing its job": the leader (or the only replica) once every watch has synced; under leader
//! election, a standby once it has reached the Lease and found another leader (as with controller-runtime, a
//! standby is healthy and ready).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::metrics::Metrics;

/// Whether the process is ready (see the module docs).
#[derive(Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Marks the process ready.
    pub fn set_ready(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Marks the process not ready (a standby that just became leader, until its caches sync).
    pub fn set_not_ready(&self) {
        self.0.store(false, Ordering::SeqCst);
    }

    /// Whether the process is ready.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct AppState {
    readiness: Readiness,
    metrics: Arc<Metrics>,
}

/// Serves health and metrics on `addr` until the process ends.
pub async fn serve(addr: SocketAddr, readiness: Readiness, metrics: Arc<Metrics>) -> std::io::Result<()> {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/livez", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(|State(s): State<AppState>| async move {
                if s.readiness.is_ready() {
                    (StatusCode::OK, "ok")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "caches not synced")
                }
            }),
        )
        .route(
            "/metrics",
            get(|State(s): State<AppState>| async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
                    s.metrics.encode(),
                )
            }),
        )
        .with_state(AppState { readiness, metrics });
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await
}
