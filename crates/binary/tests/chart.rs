//! The Helm chart, checked with the real helm binary against the real local apiserver: it lints, renders
//! manifests the apiserver accepts, installs, grants exactly the documented permissions, and in
//! namespace-scoped mode grants no Secret access outside its namespace. The webhook part installs the
//! webhook (CREATE/UPDATE only), and the cert controller's RBAC is enough to provision and inject its
//! certificate, and no more.
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

/// Tests in this binary run in parallel against one apiserver; the two that create the CRDs (a server-side
/// dry run decides "create" when they are absent, and a concurrent real install then makes that create fail
/// with AlreadyExists) take turns.
static CRD_WRITERS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn chart_lints_and_renders_manifests_the_apiserver_accepts() {
    let cluster = cluster().await;
    let chart = chart_dir();
    run(cluster, "helm", &["lint", chart.to_str().expect("path"), "--kube-version", "1.36.3"]);
    let ns = cluster.namespace("chart-render").await.expect("ns");
    let scoped = format!("scopedNamespace={ns}");
    let variants: [&[&str]; 4] = [
        &[],
        &["leaderElect=true", "scopedRBAC=true", &scoped],
        &["webhook.failurePolicy=Fail", "webhook.port=8443"],
        &["webhook.create=false"],
    ];
    let _turn = CRD_WRITERS.lock().await;
    for (i, sets) in variants.into_iter().enumerate() {
        let rendered = render(cluster, &ns, sets);
        let file = cluster.dir.join(format!("rendered-{i}.yaml"));
        std::fs::write(&file, &rendered).expect("write");
        run(cluster, "kubectl", &["apply", "--dry-run=server", "-n", &ns, "-f", file.to_str().expect("path")]);
    }
}

#[tokio::test]
async fn chart_cluster_role_grants_exactly_the_documented_permissions() {
    let cluster = cluster().await;
    let rendered = render(cluster, "external-secrets", &["leaderElect=true"]);
    let mut chart_rules = Vec::new();
    // The controller's roles; the cert controller's are checked in `cert_controller_rbac_...`.
    let controller_roles = ["t-external-secrets-controller", "t-external-secrets-leader-election"];
    for doc in documents(&rendered) {
        let kind = doc.get("kind").and_then(|k| k.as_str()).unwrap_or_default().to_string();
        let name = doc.get("metadata").and_then(|m| m.get("name")).and_then(|n| n.as_str()).unwrap_or_default();
        if (kind == "ClusterRole" || kind == "Role") && controller_roles.contains(&name) {
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
    let _turn = CRD_WRITERS.lock().await;
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

fn kinds(rendered: &str) -> Vec<String> {
    documents(rendered)
        .iter()
        .filter_map(|d| {
            let kind = d.get("kind")?.as_str()?;
            let name = d.get("metadata")?.get("name")?.as_str()?;
            Some(format!("{kind}/{name}"))
        })
        .collect()
}

#[tokio::test]
async fn webhook_values_switch_the_webhook_cert_controller_and_cert_manager() {
    let cluster = cluster().await;
    let all = kinds(&render(cluster, "eso", &[]));
    for expected in [
        "Deployment/t-external-secrets-webhook",
        "Service/t-external-secrets-webhook",
        "ValidatingWebhookConfiguration/t-external-secrets-secretstore-validate",
        "ValidatingWebhookConfiguration/t-external-secrets-externalsecret-validate",
        "Deployment/t-external-secrets-cert-controller",
        "Secret/t-external-secrets-webhook",
    ] {
        assert!(all.contains(&expected.to_string()), "{expected} rendered by default: {all:?}");
    }

    let off = kinds(&render(cluster, "eso", &["webhook.create=false"]));
    let off: Vec<_> = off.into_iter().filter(|k| !k.starts_with("CustomResourceDefinition/")).collect();
    assert!(!off.iter().any(|k| k.contains("webhook") || k.contains("cert-controller")), "{off:?}");

    let cert_manager = render(cluster, "eso", &["webhook.certManager.enabled=true"]);
    let with_cm = kinds(&cert_manager);
    assert!(with_cm.contains(&"Certificate/t-external-secrets-webhook".to_string()), "{with_cm:?}");
    assert!(!with_cm.iter().any(|k| k.contains("cert-controller")), "no cert controller with cert-manager");
    assert!(!with_cm.contains(&"Secret/t-external-secrets-webhook".to_string()), "cert-manager writes the Secret");
    assert_eq!(cert_manager.matches("cert-manager.io/inject-ca-from: eso/t-external-secrets-webhook").count(), 2);
}

#[tokio::test]
async fn installed_webhook_skips_deletes_and_cert_controller_rbac_suffices_and_is_scoped() {
    use external_secrets_webhook::certcontroller::{self, CertBundle, CertControllerConfig};
    use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;

    let cluster = cluster().await;
    let ns = cluster.namespace("chart-webhook").await.expect("ns");
    let chart = chart_dir();
    run(
        cluster,
        "helm",
        &["install", "hook", chart.to_str().expect("path"), "--namespace", &ns, "--set", "installCRDs=false"],
    );
    let client = cluster.admin_client().await.expect("admin");
    let deployment: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let webhook = deployment.get("hook-external-secrets-webhook").await.expect("webhook Deployment");
    let args = webhook.spec.unwrap().template.spec.unwrap().containers[0].args.clone().unwrap_or_default();
    assert!(args.contains(&"--port=9443".to_string()), "{args:?}");

    let vwcs: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let names = ["hook-external-secrets-secretstore-validate", "hook-external-secrets-externalsecret-validate"];
    for name in names {
        let vwc = vwcs.get(name).await.expect("VWC");
        for hook in vwc.webhooks.unwrap_or_default() {
            assert_eq!(hook.failure_policy.as_deref(), Some("Ignore"));
            for rule in hook.rules.unwrap_or_default() {
                assert_eq!(rule.operations, Some(vec!["CREATE".to_string(), "UPDATE".to_string()]), "never DELETE");
            }
        }
    }

    // The cert controller, with its own ServiceAccount's permissions only, provisions and injects.
    let sa_client =
        cluster.service_account_client(&ns, "hook-external-secrets-cert-controller").await.expect("SA client");
    let config = CertControllerConfig {
        secret_namespace: ns.clone(),
        secret_name: "hook-external-secrets-webhook".into(),
        hosts: CertControllerConfig::service_hosts("hook-external-secrets-webhook", &ns),
        validity: Duration::from_secs(365 * 86_400),
        lookahead: Duration::from_secs(90 * 86_400),
        webhook_selector: "external-secrets.io/component=webhook,app.kubernetes.io/instance=hook".into(),
    };
    let mut outcome = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while outcome.is_none() {
        match certcontroller::reconcile(&sa_client, &config).await {
            Ok(done) => outcome = Some(done),
            // RBAC bindings take a moment to reach the authorizer's cache.
            Err(e) if tokio::time::Instant::now() < deadline => {
                eprintln!("retrying: {e}");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) => panic!("the cert controller's RBAC does not suffice: {e}"),
        }
    }
    let outcome = outcome.unwrap();
    assert!(outcome.rotated.is_some());
    let mut injected = outcome.injected.clone();
    injected.sort();
    assert_eq!(injected, [names[1], names[0]]);
    let secret = Api::<Secret>::namespaced(client.clone(), &ns).get("hook-external-secrets-webhook").await.unwrap();
    let bundle = CertBundle::from_secret(&secret).expect("ca.crt, tls.crt, tls.key");
    for name in names {
        for hook in vwcs.get(name).await.unwrap().webhooks.unwrap_or_default() {
            assert_eq!(hook.client_config.ca_bundle.map(|b| b.0), Some(bundle.ca_pem.as_bytes().to_vec()));
        }
    }

    // ... and may not read any other Secret, nor touch other webhook configurations.
    let other = Api::<Secret>::namespaced(sa_client.clone(), &ns).get("some-other-secret").await;
    assert!(matches!(other, Err(kube::Error::Api(ref s)) if s.code == 403), "{other:?}");
    let foreign =
        Api::<ValidatingWebhookConfiguration>::all(sa_client).get("eso-external-secrets-secretstore-validate").await;
    assert!(matches!(foreign, Err(kube::Error::Api(ref s)) if s.code == 403), "{foreign:?}");
}
