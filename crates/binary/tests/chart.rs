//! The Helm chart, checked with the real helm binary against the real local apiserver: it lints, renders
//! manifests the apiserver accepts, installs, grants exactly the documented permissions, and in
//! namespace-scoped mode grants no Secret access outside its namespace.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use external_secrets_testsupport::{Cluster, cluster, tools};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams};

fn chart_dir() -> PathBuf {
    tools::repo_root().join("deploy/charts/external-secrets")
}

fn run(cluster: &Cluster, program: &str, args: &[&str]) -> String {
    let bin = tools::bin_dir().expect("bin dir").join(program);
    let out = Command::new(&bin)
        .args(args)
        .env("KUBECONFIG", &cluster.kubeconfig)
        .env("HELM_CACHE_HOME", cluster.dir.join("helm/cache"))
        .env("HELM_CONFIG_HOME", cluster.dir.join("helm/config"))
        .env("HELM_DATA_HOME", cluster.dir.join("helm/data"))
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn render(cluster: &Cluster, namespace: &str, sets: &[&str]) -> String {
    let chart = chart_dir();
    let mut args = vec!["template", "t", chart.to_str().expect("utf-8 path"), "--namespace", namespace];
    args.extend(["--kube-version", "1.36.3"]);
    for s in sets {
        args.extend(["--set", s]);
    }
    run(cluster, "helm", &args)
}

fn documents(yaml: &str) -> Vec<serde_yaml::Value> {
    yaml.split("\n---")
        .filter_map(|d| serde_yaml::from_str::<serde_yaml::Value>(d).ok())
        .filter(|v| !v.is_null())
        .collect()
}

/// A rule flattened to (group, resource, verb) triples, so that equal grants compare equal however written.
fn grants(rules: &[PolicyRule]) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for r in rules {
        for g in r.api_groups.clone().unwrap_or_default() {
            for res in r.resources.clone().unwrap_or_default() {
                for v in &r.verbs {
                    out.insert((g.clone(), res.clone(), v.clone()));
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn chart_lints_and_renders_manifests_the_apiserver_accepts() {
    let cluster = cluster().await;
    let chart = chart_dir();
    run(cluster, "helm", &["lint", chart.to_str().expect("path"), "--kube-version", "1.36.3"]);
    let ns = cluster.namespace("chart-render").await.expect("ns");
    for sets in [&[][..], &["leaderElect=true", "scopedRBAC=true", &format!("scopedNamespace={ns}")][..]] {
        let rendered = render(cluster, &ns, sets);
        let file = cluster.dir.join(format!("rendered-{}.yaml", sets.len()));
        std::fs::write(&file, &rendered).expect("write");
        run(cluster, "kubectl", &["apply", "--dry-run=server", "-n", &ns, "-f", file.to_str().expect("path")]);
    }
}

#[tokio::test]
async fn chart_cluster_role_grants_exactly_the_documented_permissions() {
    let cluster = cluster().await;
    let rendered = render(cluster, "external-secrets", &["leaderElect=true"]);
    let mut chart_rules = Vec::new();
    for doc in documents(&rendered) {
        let kind = doc.get("kind").and_then(|k| k.as_str()).unwrap_or_default().to_string();
        if kind == "ClusterRole" || kind == "Role" {
            let rules: Vec<PolicyRule> =
                serde_yaml::from_value(doc.get("rules").cloned().expect("rules")).expect("rules");
            chart_rules.extend(rules);
        }
    }
    let documented: ClusterRole = serde_yaml::from_str(
        &std::fs::read_to_string(tools::repo_root().join("deploy/rbac/controller-clusterrole.yaml")).expect("file"),
    )
    .expect("ClusterRole");
    assert_eq!(
        grants(&chart_rules),
        grants(&documented.rules.unwrap_or_default()),
        "the chart's RBAC and deploy/rbac/controller-clusterrole.yaml must grant the same"
    );
}

#[tokio::test]
async fn helm_install_creates_crds_rbac_and_the_deployment() {
    let cluster = cluster().await;
    let ns = cluster.namespace("chart-install").await.expect("ns");
    let chart = chart_dir();
    // The CRDs may already exist from another test in this binary; a fresh release name keeps installs apart.
    run(
        cluster,
        "helm",
        &[
            "install",
            "eso",
            chart.to_str().expect("path"),
            "--namespace",
            &ns,
            "--set",
            "installCRDs=false",
            "--wait=false",
        ],
    );
    let client = cluster.admin_client().await.expect("admin");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let deployment = deployments.get("eso-external-secrets").await.expect("Deployment");
    let pod = deployment.spec.expect("spec").template.spec.expect("pod spec");
    let container = &pod.containers[0];
    let sc = container.security_context.clone().expect("securityContext");
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(sc.capabilities.and_then(|c| c.drop), Some(vec!["ALL".to_string()]));
    assert!(pod.host_network.is_none_or(|h| !h), "no hostNetwork (Fargate)");
    assert!(pod.volumes.unwrap_or_default().iter().all(|v| v.host_path.is_none()), "no hostPath (Fargate)");
    let roles: Api<ClusterRole> = Api::all(client.clone());
    assert!(roles.get_opt("eso-external-secrets-controller").await.expect("get").is_some());

    // With CRDs: a second release in its own namespace installs them.
    let crd_ns = cluster.namespace("chart-crds").await.expect("ns");
    run(
        cluster,
        "helm",
        &["install", "eso-crds", chart.to_str().expect("path"), "--namespace", &crd_ns, "--set", "rbac.create=false"],
    );
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    for name in [
        "externalsecrets.external-secrets.io",
        "secretstores.external-secrets.io",
        "clustersecretstores.external-secrets.io",
    ] {
        assert!(crds.get_opt(name).await.expect("get").is_some(), "{name} installed by the chart");
    }
}

#[tokio::test]
async fn namespace_scoped_install_cannot_read_secrets_elsewhere() {
    let cluster = cluster().await;
    let release_ns = cluster.namespace("scoped-release").await.expect("ns");
    let team_ns = cluster.namespace("scoped-team").await.expect("ns");
    let other_ns = cluster.namespace("scoped-other").await.expect("ns");
    let chart = chart_dir();
    run(
        cluster,
        "helm",
        &[
            "install",
            "scoped",
            chart.to_str().expect("path"),
            "--namespace",
            &release_ns,
            "--set",
            "installCRDs=false",
            "--set",
            "scopedRBAC=true",
            "--set",
            &format!("scopedNamespace={team_ns}"),
        ],
    );
    let client = cluster.service_account_client(&release_ns, "scoped-external-secrets").await.expect("SA client");
    let in_team: Api<Secret> = Api::namespaced(client.clone(), &team_ns);
    let allowed = {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if in_team.list(&ListParams::default()).await.is_ok() {
                break true;
            }
            if tokio::time::Instant::now() > deadline {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    assert!(allowed, "the scoped install may read Secrets in its namespace");
    let elsewhere: Api<Secret> = Api::namespaced(client, &other_ns);
    match elsewhere.list(&ListParams::default()).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 403),
        other => panic!("expected 403 outside the scoped namespace, got {other:?}"),
    }
}
