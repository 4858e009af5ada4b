//! The Helm chart's RBAC is enough: the operator, run with the token of the ServiceAccount the chart creates
//! (not admin, not the test harness's own role), replays the walkthrough's shapes against the real apiserver.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::process::Command;

use common::{launch_operator, test_config, wait_ready};
use external_secrets_api::{ExternalSecret, SecretStore};
use external_secrets_testsupport::{cluster, tools};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_with_the_charts_service_account_replays_the_walkthrough() {
    let cluster = cluster().await;
    common::install_crds(cluster).await;
    let release_ns = cluster.namespace("chart-release").await.expect("ns");
    let app_ns = cluster.namespace("chart-app").await.expect("ns");
    let chart = tools::repo_root().join("deploy/charts/external-secrets");
    let helm = tools::bin_dir().expect("bin dir").join("helm");
    let out = Command::new(helm)
        .args(["install", "rel", chart.to_str().expect("path"), "--namespace", &release_ns])
        .args(["--set", "installCRDs=false", "--set", "webhook.create=false", "--set", "certController.create=false"])
        .env("KUBECONFIG", &cluster.kubeconfig)
        .env("HELM_CACHE_HOME", cluster.dir.join("helm/cache"))
        .env("HELM_CONFIG_HOME", cluster.dir.join("helm/config"))
        .env("HELM_DATA_HOME", cluster.dir.join("helm/data"))
        .output()
        .expect("helm");
    assert!(out.status.success(), "helm install failed: {}", String::from_utf8_lossy(&out.stderr));

    // The ServiceAccount the chart made, with only what the chart granted it.
    let client = cluster.service_account_client(&release_ns, "rel-external-secrets").await.expect("chart SA client");
    let class = format!("class-{app_ns}");
    let launched = launch_operator(cluster, client, test_config(Some(&app_ns), &class), None, true).await;

    let admin = cluster.admin_client().await.expect("admin");
    let store: SecretStore = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
        "metadata": {"name": "fake", "namespace": app_ns},
        "spec": {"controller": class, "provider": {"fake": {"data": [
            {"key": "prod/app/db", "value": json!({"username": "u", "password": "p", "host": "h"}).to_string()}
        ]}}}
    }))
    .expect("store");
    Api::<SecretStore>::namespaced(admin.clone(), &app_ns).create(&PostParams::default(), &store).await.expect("store");
    let es: ExternalSecret = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": "app", "namespace": app_ns},
        "spec": {"refreshInterval": "1h", "secretStoreRef": {"name": "fake", "kind": "SecretStore"},
                 "target": {"name": "appsecret", "creationPolicy": "Owner"},
                 "data": [{"secretKey": "app-db-username", "remoteRef": {"key": "prod/app/db", "property": "username"}},
                          {"secretKey": "app-db-password", "remoteRef": {"key": "prod/app/db", "property": "password"}}]}
    }))
    .expect("es");
    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &app_ns);
    ess.create(&PostParams::default(), &es).await.expect("es");
    wait_ready(&ess, "app", "SecretSynced").await;
    let secret = Api::<Secret>::namespaced(admin, &app_ns).get("appsecret").await.expect("target Secret");
    let data = secret.data.expect("data");
    assert_eq!(data.keys().cloned().collect::<Vec<_>>(), vec!["app-db-password", "app-db-username"]);
    assert_eq!(data["app-db-username"].0, b"u");
    launched.operator.stop().await;
}
