//! The real binary, started with exactly the argument list ESO 2.9's chart renders for the controller with its
//! default values (`templates/deployment.yaml`: `--concurrent=1 --metrics-addr=:8080 --loglevel=info
//! --zap-time-encoding=epoch`, no subcommand), against the real local control plane and the local AWS endpoint:
//! it becomes ready, syncs an ExternalSecret from Secrets Manager, and its `/metrics` serves every series ESO's
//! Grafana dashboard and documentation name.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod faults;

use std::process::Command;
use std::time::Duration;

use external_secrets_api::{ClusterSecretStore, ExternalSecret, SecretStore};
use external_secrets_testsupport::process::Component;
use external_secrets_testsupport::{aws, cluster, eventually};
use faults::{http_get, install_crds, put_secret};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use serde_json::json;

/// What ESO 2.9's chart passes to the controller container with default values, in its order.
const ESO_CHART_DEFAULT_ARGS: [&str; 4] =
    ["--concurrent=1", "--metrics-addr=:8080", "--loglevel=info", "--zap-time-encoding=epoch"];
/// ESO's default `--metrics-addr` and `--live-addr` ports (the chart renders no `--live-addr` by default).
const METRICS_PORT: u16 = 8080;
const LIVE_PORT: u16 = 8082;
const VALUE: &str = "eso-args-pa55-do-not-log";

/// Every series ESO's dashboard (`files/monitoring/grafana-dashboard.json`) and docs name that this operator
/// serves (the webhook's `controller_runtime_webhook_*` excepted: no webhook in this process).
const EXPECTED_SERIES: &[&str] = &[
    "externalsecret_sync_calls_total",
    "externalsecret_sync_calls_error",
    "externalsecret_status_condition",
    "externalsecret_reconcile_duration",
    "externalsecret_provider_api_calls_count",
    "secretstore_status_condition",
    "secretstore_reconcile_duration",
    "clustersecretstore_status_condition",
    "clustersecretstore_reconcile_duration",
    "controller_runtime_reconcile_total",
    "controller_runtime_reconcile_errors_total",
    "controller_runtime_reconcile_time_seconds_bucket",
    "controller_runtime_max_concurrent_reconciles",
    "controller_runtime_active_workers",
    "workqueue_depth",
    "workqueue_adds_total",
    "workqueue_queue_duration_seconds_bucket",
    "rest_client_requests_total",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn esos_default_chart_arguments_start_a_ready_controller_that_serves_esos_metrics() {
    let cluster = cluster().await;
    let endpoint = aws().await;
    let admin = cluster.admin_client().await.expect("admin");
    install_crds(&admin).await;
    for port in [METRICS_PORT, LIVE_PORT] {
        assert!(
            std::net::TcpListener::bind(("0.0.0.0", port)).is_ok(),
            "port {port} (ESO's default) is taken on this machine; this test needs it"
        );
    }

    let log = cluster.dir.join("eso-args-controller.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_external-secrets"));
    cmd.args(ESO_CHART_DEFAULT_ARGS).env("KUBECONFIG", &cluster.kubeconfig).env_remove("RUST_LOG");
    for (k, v) in endpoint.env() {
        cmd.env(k, v);
    }
    let mut controller = Component::spawn("controller", cmd, &log, false).expect("start the binary");

    let ready = eventually(Duration::from_secs(60), || async { http_get(LIVE_PORT, "/readyz").await.0 == 200 }).await;
    assert!(
        ready,
        "not ready on :{LIVE_PORT} within 60 s; exited: {:?}\n{}",
        controller.exited(),
        controller.log_tail(40)
    );
    assert_eq!(http_get(METRICS_PORT, "/readyz").await.0, 200);
    assert_eq!(http_get(LIVE_PORT, "/healthz").await.0, 200);

    // One sync from Secrets Manager, so that every series has a sample.
    let ns = cluster.namespace("eso-args").await.expect("ns");
    put_secret(endpoint, &format!("{ns}/db"), VALUE);
    let store: SecretStore = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
        "metadata": {"name": "aws", "namespace": ns},
        "spec": {"provider": {"aws": {"service": "SecretsManager", "region": endpoint.region}}}
    }))
    .expect("store");
    Api::<SecretStore>::namespaced(admin.clone(), &ns).create(&PostParams::default(), &store).await.expect("store");
    let cluster_store: ClusterSecretStore = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore",
        "metadata": {"name": format!("{ns}-fake")},
        "spec": {"provider": {"fake": {"data": []}}}
    }))
    .expect("cluster store");
    Api::<ClusterSecretStore>::all(admin.clone())
        .create(&PostParams::default(), &cluster_store)
        .await
        .expect("cluster store");
    let es: ExternalSecret = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": "app", "namespace": ns},
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"name": "aws", "kind": "SecretStore"},
            "target": {"name": "app"},
            "data": [{"secretKey": "password", "remoteRef": {"key": format!("{ns}/db")}}]
        }
    }))
    .expect("es");
    Api::<ExternalSecret>::namespaced(admin.clone(), &ns).create(&PostParams::default(), &es).await.expect("es");
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    let synced = eventually(Duration::from_secs(60), || async {
        secrets
            .get_opt("app")
            .await
            .ok()
            .flatten()
            .and_then(|s| s.data)
            .is_some_and(|d| d.get("password").is_some_and(|v| v.0 == VALUE.as_bytes()))
    })
    .await;
    assert!(synced, "the target Secret was not synced within 60 s\n{}", controller.log_tail(40));

    // The store's reconcile and the ExternalSecret's may land after the Secret: wait for the last series.
    let line_of = |metrics: &str, name: &str| metrics.lines().any(|l| !l.starts_with('#') && l.starts_with(name));
    let served = eventually(Duration::from_secs(30), || async {
        let metrics = http_get(METRICS_PORT, "/metrics").await.1;
        EXPECTED_SERIES.iter().all(|name| line_of(&metrics, name))
    })
    .await;
    let (status, metrics) = http_get(METRICS_PORT, "/metrics").await;
    assert_eq!(status, 200);
    let missing: Vec<&&str> = EXPECTED_SERIES.iter().filter(|name| !line_of(&metrics, name)).collect();
    assert!(served && missing.is_empty(), "missing {missing:?} in:\n{metrics}");
    if std::env::var_os("ESR_PRINT_METRICS").is_some() {
        println!("{metrics}");
    }
    for line in [
        "externalsecret_provider_api_calls_count{provider=\"AWS/SecretsManager\",call=\"GetSecretValue\",status=\"success\"}",
        "controller_runtime_reconcile_total{controller=\"externalsecret\",result=\"requeue_after\"}",
        "controller_runtime_max_concurrent_reconciles{controller=\"externalsecret\"} 1",
        "workqueue_depth{name=\"externalsecret\",controller=\"externalsecret\",priority=\"\"}",
    ] {
        assert!(metrics.lines().any(|l| l.starts_with(line)), "missing {line:?} in:\n{metrics}");
    }
    assert!(
        metrics.lines().any(|l| l.starts_with("rest_client_requests_total{code=\"200\",method=\"GET\"")),
        "no successful GET counted in:\n{metrics}"
    );

    let logs = std::fs::read_to_string(&log).expect("log");
    assert!(!logs.contains(VALUE) && !metrics.contains(VALUE), "a secret value leaked into the logs or metrics");
    assert!(controller.exited().is_none(), "the controller exited:\n{}", controller.log_tail(40));
    controller.stop();
}
