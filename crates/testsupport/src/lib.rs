//! Test support: a real local control plane and a local AWS endpoint, one of each per test binary, and the
//! means to break them on purpose: a fault-injecting proxy in front of the AWS endpoint ([`faults`]) and
//! stopping/starting control-plane components ([`Cluster::stop_component`]) and other processes
//! ([`process::Component::kill`], [`process::Component::start_again`]).
//!
//! ```ignore
//! #[tokio::test]
//! async fn something() {
//!     let cluster = external_secrets_testsupport::cluster().await;
//!     let client = cluster.admin_client().await.unwrap();
//!     let ns = cluster.namespace("something").await.unwrap();
//! }
//! ```
//!
//! Processes are stopped by PID: on drop, and by a reaper when the test process ends (statics are never
//! dropped, and a test may panic). A failed start reports which component failed, why, and its log tail.

pub mod aws;
pub mod cluster;
pub mod faults;
pub mod gcp;
pub mod grafana;
pub mod pki;
pub mod process;
pub mod tools;
pub mod vault;

use std::sync::OnceLock;

pub use aws::{AwsEndpoint, AwsOptions, parameter_store_call, secrets_manager_call};
pub use cluster::{Cluster, ClusterOptions, client_from_kubeconfig};
pub use faults::{Fault, FaultProxy};
pub use gcp::{FakeGoogle, GCP_PROJECT_ID, GCP_PROJECT_NUMBER, VersionState};
pub use grafana::FakeGrafana;
pub use vault::{VaultOptions, VaultServer};

/// Errors of the test environment. They say which component failed and what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("test environment set-up failed: {0}")]
    Setup(String),
    #[error("{component} did not become ready ({why}); log {log}:\n{tail}", log = .log.display())]
    NotReady { component: String, why: String, log: std::path::PathBuf, tail: String },
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("kubernetes: {0}")]
    Kube(#[from] kube::Error),
    #[error("kubeconfig: {0}")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
}

/// Applies `crds` server-side (field manager `e2e`) and waits, bounded (30 s each), until each is established.
pub async fn apply_crds(
    client: &kube::Client,
    crds: impl IntoIterator<
        Item = k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    >,
) -> Result<(), Error> {
    use kube::api::{Api, Patch, PatchParams};
    let api: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    let mut names = Vec::new();
    for crd in crds {
        let name = crd.metadata.name.clone().ok_or_else(|| Error::Setup("a CRD without a name".to_string()))?;
        api.patch(&name, &PatchParams::apply("e2e").force(), &Patch::Apply(&crd)).await?;
        names.push(name);
    }
    for name in names {
        let established = eventually(std::time::Duration::from_secs(30), || async {
            api.get(&name)
                .await
                .ok()
                .and_then(|c| c.status)
                .and_then(|s| s.conditions)
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Established" && c.status == "True"))
        })
        .await;
        if !established {
            return Err(Error::Setup(format!("CRD {name} not established within 30 s")));
        }
    }
    Ok(())
}

/// Polls `check` every 200 ms until it is true or `timeout` has passed; returns whether it became true. Tests
/// wait with this (bounded), never with a bare sleep.
pub async fn eventually<F, Fut>(timeout: std::time::Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    false
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
static AWS: OnceLock<Result<AwsEndpoint, String>> = OnceLock::new();
static VAULT: OnceLock<Result<VaultServer, String>> = OnceLock::new();

/// The control plane of this test binary, started on first use. Panics with the component's log tail if it
/// cannot start: every test that needs it would fail anyway, and the message says why.
pub async fn cluster() -> &'static Cluster {
    started_once(&CLUSTER, "the local cluster", || Cluster::start(ClusterOptions::default())).await
}

/// The local AWS endpoint of this test binary, started on first use (panics like [`cluster`]).
pub async fn aws() -> &'static AwsEndpoint {
    started_once(&AWS, "the local AWS endpoint", || AwsEndpoint::start(AwsOptions::default())).await
}

/// The Vault dev server of this test binary, started on first use (panics like [`cluster`]).
pub async fn vault() -> &'static VaultServer {
    started_once(&VAULT, "the Vault dev server", || VaultServer::start(VaultOptions::default())).await
}

/// The value in `cell`, made by `start` (blocking, so on a blocking thread) on first use; panics with the error.
#[allow(clippy::panic)]
async fn started_once<T: Send + Sync>(
    cell: &'static OnceLock<Result<T, String>>,
    what: &str,
    start: fn() -> Result<T, Error>,
) -> &'static T {
    let result = tokio::task::spawn_blocking(move || cell.get_or_init(|| start().map_err(|e| e.to_string()))).await;
    match result {
        Ok(Ok(started)) => started,
        Ok(Err(e)) => panic!("{e}"),
        Err(e) => panic!("starting {what} panicked: {e}"),
    }
}
