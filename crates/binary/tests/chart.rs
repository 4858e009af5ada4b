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
use k8s_openapi::api::core::v1::{Container, Secret};
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, Role};
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
async fn scoped_namespace_without_scoped_rbac_is_refused() {
    let cluster = cluster().await;
    let chart = chart_dir();
    let bin = tools::bin_dir().expect("bin dir").join("helm");
    let args =
        ["template", "t", chart.to_str().expect("path"), "--kube-version", "1.36.3", "--set", "scopedNamespace=team"];
    let out = Command::new(&bin)
        .args(args)
        .env("HELM_CACHE_HOME", cluster.dir.join("helm/cache"))
        .env("HELM_CONFIG_HOME", cluster.dir.join("helm/config"))
        .env("HELM_DATA_HOME", cluster.dir.join("helm/data"))
        .output()
        .expect("run helm");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "rendered cluster-wide Secret access for a one-namespace operator");
    assert!(stderr.contains("scopedNamespace without scopedRBAC"), "{stderr}");
    // With scopedRBAC it renders, with Roles only.
    let rendered = render(cluster, "external-secrets", &["scopedNamespace=team", "scopedRBAC=true"]);
    let cluster_wide: Vec<String> = documents(&rendered)
        .iter()
        .filter(|d| d.get("kind").and_then(|k| k.as_str()).is_some_and(|k| k.starts_with("ClusterRole")))
        .filter_map(|d| d.get("metadata")?.get("name")?.as_str().map(str::to_string))
        .filter(|name| name == "t-external-secrets-controller")
        .collect();
    assert!(cluster_wide.is_empty(), "cluster-wide controller RBAC in a scoped install: {cluster_wide:?}");
}

#[tokio::test]
async fn chart_lints_and_renders_manifests_the_apiserver_accepts() {
    let cluster = cluster().await;
    let chart = chart_dir();
    run(cluster, "helm", &["lint", chart.to_str().expect("path"), "--kube-version", "1.36.3"]);
    let ns = cluster.namespace("chart-render").await.expect("ns");
    let scoped = format!("scopedNamespace={ns}");
    let variants: [&[&str]; 5] = [
        &[],
        &["leaderElect=true", "scopedRBAC=true", &scoped],
        &["webhook.failurePolicy=Fail", "webhook.port=8443"],
        &["webhook.create=false"],
        &[
            "genericTargets.enabled=true",
            "genericTargets.resources[0].apiGroup=example.com",
            "genericTargets.resources[0].resources={widgets}",
            "genericTargets.resources[0].verbs={get,patch}",
        ],
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
    // The controller's roles, by scope; the cert controller's are checked in `cert_controller_rbac_...`.
    let (mut cluster_rules, mut namespaced_rules) = (Vec::new(), Vec::new());
    for doc in documents(&rendered) {
        let kind = doc.get("kind").and_then(|k| k.as_str()).unwrap_or_default().to_string();
        let name = doc.get("metadata").and_then(|m| m.get("name")).and_then(|n| n.as_str()).unwrap_or_default();
        let rules =
            || -> Vec<PolicyRule> { serde_yaml::from_value(doc.get("rules").cloned().expect("rules")).expect("rules") };
        match (kind.as_str(), name) {
            ("ClusterRole", "t-external-secrets-controller") => cluster_rules.extend(rules()),
            ("Role", "t-external-secrets-leader-election") => namespaced_rules.extend(rules()),
            ("ClusterRole" | "Role", n) if n.contains("leader") => panic!("leader election rules in a {kind} {n}"),
            _ => {}
        }
    }
    let file = |name: &str| std::fs::read_to_string(tools::repo_root().join("deploy/rbac").join(name)).expect("file");
    let documented: ClusterRole = serde_yaml::from_str(&file("controller-clusterrole.yaml")).expect("ClusterRole");
    let documented_ns: Role = serde_yaml::from_str(&file("controller-leader-election-role.yaml")).expect("Role");
    // Compared by scope, not as a union: a namespaced permission granted cluster-wide is a different grant.
    assert_eq!(
        grants(&cluster_rules),
        grants(&documented.rules.unwrap_or_default()),
        "the chart's ClusterRole and deploy/rbac/controller-clusterrole.yaml must grant the same"
    );
    assert_eq!(
        grants(&namespaced_rules),
        grants(&documented_ns.rules.unwrap_or_default()),
        "the chart's leader election Role and deploy/rbac/controller-leader-election-role.yaml must grant the same"
    );
    assert!(
        !grants(&cluster_rules).iter().any(|(_, resource, _)| resource == "leases"),
        "Leases must not be granted cluster-wide"
    );
}

/// The controller's rules in a rendering (cluster-wide ClusterRole or namespace-scoped Role).
fn controller_rules(rendered: &str) -> Vec<PolicyRule> {
    documents(rendered)
        .into_iter()
        .filter(|doc| {
            let kind = doc.get("kind").and_then(|k| k.as_str()).unwrap_or_default();
            let name = doc.get("metadata").and_then(|m| m.get("name")).and_then(|n| n.as_str()).unwrap_or_default();
            (kind == "ClusterRole" || kind == "Role") && name == "t-external-secrets-controller"
        })
        .flat_map(|doc| {
            serde_yaml::from_value::<Vec<PolicyRule>>(doc.get("rules").cloned().expect("rules")).expect("rules")
        })
        .collect()
}

/// The controller Deployment's containers in a rendering.
fn controller_containers(rendered: &str) -> Vec<Container> {
    documents(rendered)
        .into_iter()
        .filter(|doc| doc.get("kind").and_then(|k| k.as_str()) == Some("Deployment"))
        .filter_map(|doc| serde_yaml::from_value::<Deployment>(doc).ok())
        .filter(|d| d.metadata.name.as_deref() == Some("t-external-secrets"))
        .flat_map(|d| d.spec.and_then(|s| s.template.spec).map(|s| s.containers).unwrap_or_default())
        .collect()
}

/// The controller's container arguments in a rendering.
fn controller_args(rendered: &str) -> Vec<String> {
    controller_containers(rendered).into_iter().flat_map(|c| c.args.unwrap_or_default()).collect()
}

/// ESO's chart values `genericTargets.enabled` / `genericTargets.resources`: the flag, the ConfigMap grants of
/// deploy/rbac/generic-targets-clusterrole.yaml, and the listed rules verbatim — and none of it by default.
#[tokio::test]
async fn generic_targets_values_pass_the_flag_and_grant_what_is_documented() {
    let cluster = cluster().await;
    let read_role = |file: &str| -> Vec<PolicyRule> {
        let yaml = std::fs::read_to_string(tools::repo_root().join(file)).expect("file");
        serde_yaml::from_str::<ClusterRole>(&yaml).expect("ClusterRole").rules.unwrap_or_default()
    };
    let base = grants(&read_role("deploy/rbac/controller-clusterrole.yaml"));
    let generic = grants(&read_role("deploy/rbac/generic-targets-clusterrole.yaml"));
    let widgets = ("example.com".to_string(), "widgets".to_string(), "patch".to_string());
    let sets = [
        "genericTargets.enabled=true",
        "genericTargets.resources[0].apiGroup=example.com",
        "genericTargets.resources[0].resources={widgets}",
        "genericTargets.resources[0].verbs={get,patch}",
    ];
    let rendered = render(cluster, "external-secrets", &sets);
    assert!(controller_args(&rendered).contains(&"--unsafe-allow-generic-targets=true".to_string()));
    let granted = grants(&controller_rules(&rendered));
    assert!(generic.iter().all(|g| granted.contains(g)), "the ConfigMap grants of generic-targets-clusterrole.yaml");
    assert!(granted.contains(&widgets), "genericTargets.resources as given");
    let expected: BTreeSet<_> = base
        .iter()
        .chain(generic.iter())
        .filter(|(_, r, _)| r != "leases")
        .cloned()
        .chain([widgets.clone(), ("example.com".into(), "widgets".into(), "get".into())])
        .collect();
    assert_eq!(granted, expected, "nothing else");

    let scoped = render(cluster, "external-secrets", &[sets[0], "scopedRBAC=true", "scopedNamespace=apps"]);
    let granted = grants(&controller_rules(&scoped));
    assert!(generic.iter().all(|g| granted.contains(g)), "the namespace-scoped Role grants them too");

    let default = render(cluster, "external-secrets", &[]);
    assert!(!controller_args(&default).iter().any(|a| a.contains("generic-targets")));
    let granted = grants(&controller_rules(&default));
    assert!(generic.iter().all(|g| !granted.contains(g)), "no ConfigMap writes by default");
}

/// The controller container's environment in a rendering, as (name, value) pairs.
fn controller_env(rendered: &str) -> Vec<(String, String)> {
    controller_containers(rendered)
        .into_iter()
        .flat_map(|c| c.env.unwrap_or_default())
        .map(|e| (e.name, e.value.unwrap_or_default()))
        .collect()
}

/// Tenant isolation for AWS: IMDS is off for the controller by default (a value turns it back on for stores
/// that rely on the node role), and `aws.refuseDefaultCredentialsForNamespacedStores` passes the flag.
#[tokio::test]
async fn aws_values_disable_imds_by_default_and_pass_the_refusal_flag() {
    let cluster = cluster().await;
    let imds_off = ("AWS_EC2_METADATA_DISABLED".to_string(), "true".to_string());
    let flag = "--aws-refuse-default-credentials-for-namespaced-stores=true".to_string();

    let default = render(cluster, "external-secrets", &[]);
    assert!(controller_env(&default).contains(&imds_off), "IMDS disabled by default");
    assert!(!controller_args(&default).contains(&flag), "the refusal is opt-in (drop-in compatibility)");

    let node_role = render(cluster, "external-secrets", &["aws.disableInstanceMetadata=false"]);
    assert!(!controller_env(&node_role).iter().any(|(name, _)| name == "AWS_EC2_METADATA_DISABLED"));

    let refusing = render(cluster, "external-secrets", &["aws.refuseDefaultCredentialsForNamespacedStores=true"]);
    assert!(controller_args(&refusing).contains(&flag));
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

/// `helm template` with no flags at all renders: `kubeVersion` in Chart.yaml must accept helm's default
/// capabilities (as ESO's `>= 1.19.0-0` does), and the default values render every CRD with
/// `helm.sh/resource-policy: keep`.
#[tokio::test]
async fn helm_template_renders_without_flags_and_every_crd_is_kept() {
    let cluster = cluster().await;
    let chart = chart_dir();
    let rendered = run(cluster, "helm", &["template", chart.to_str().expect("path")]);
    let crds: Vec<_> = documents(&rendered)
        .into_iter()
        .filter(|d| d.get("kind").and_then(|k| k.as_str()) == Some("CustomResourceDefinition"))
        .collect();
    assert_eq!(crds.len(), external_secrets_api::crds().len(), "every CRD rendered by default");
    for crd in &crds {
        let annotations = crd.get("metadata").and_then(|m| m.get("annotations"));
        let policy = annotations.and_then(|a| a.get("helm.sh/resource-policy")).and_then(|p| p.as_str());
        assert_eq!(policy, Some("keep"), "{:?}", crd.get("metadata").and_then(|m| m.get("name")));
    }
    // ESO's switches: only Cluster* kinds and PushSecret can be left out; createSecretStore switches nothing.
    let fewer = kinds(&run(
        cluster,
        "helm",
        &[
            "template",
            "t",
            chart.to_str().expect("path"),
            "--set",
            "crds.createClusterExternalSecret=false",
            "--set",
            "crds.createPushSecret=false",
            "--set",
            "crds.createSecretStore=false",
        ],
    ));
    let crd_names: Vec<_> = fewer.iter().filter_map(|k| k.strip_prefix("CustomResourceDefinition/")).collect();
    assert_eq!(crd_names.len(), external_secrets_api::crds().len() - 2, "{crd_names:?}");
    assert!(!crd_names.contains(&"clusterexternalsecrets.external-secrets.io"));
    assert!(!crd_names.contains(&"pushsecrets.external-secrets.io"));
    assert!(crd_names.contains(&"secretstores.external-secrets.io"));
    let none =
        kinds(&run(cluster, "helm", &["template", "t", chart.to_str().expect("path"), "--set", "installCRDs=false"]));
    assert!(!none.iter().any(|k| k.starts_with("CustomResourceDefinition/")), "{none:?}");
}

/// Writes a chart that renders the CRDs the way ESO 2.9's chart does: chart name `external-secrets`, one
/// template per CRD under `templates/crds/<singular>.yaml`, wrapped in `installCRDs` (and
/// `crds.create<Kind>` for Cluster* kinds and PushSecret), v1beta1 not served, and no resource policy, so the
/// CRDs belong to the release. The CRDs are ours (generated from the same Rust types), which is what matters
/// to Helm: same names, same ownership.
fn eso_like_chart(dir: &std::path::Path) -> PathBuf {
    let chart = dir.join("eso-like-chart");
    let templates = chart.join("templates/crds");
    std::fs::create_dir_all(&templates).expect("mkdir");
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: external-secrets\ntype: application\nversion: \"2.9.0\"\nappVersion: \"v2.9.0\"\n\
         kubeVersion: \">= 1.19.0-0\"\n",
    )
    .expect("Chart.yaml");
    std::fs::write(
        chart.join("values.yaml"),
        "installCRDs: true\ncrds:\n  createClusterExternalSecret: true\n  createClusterSecretStore: true\n  \
         createSecretStore: true\n  createClusterGenerator: true\n  createClusterPushSecret: true\n  \
         createPushSecret: true\n  annotations: {}\n  conversion:\n    enabled: false\n  unsafeServeV1Beta1: false\n",
    )
    .expect("values.yaml");
    for mut crd in external_secrets_api::crds() {
        crd.metadata.annotations =
            Some([("controller-gen.kubebuilder.io/version".to_string(), "v0.19.0".to_string())].into());
        for version in &mut crd.spec.versions {
            if version.name == "v1beta1" {
                version.served = false;
            }
        }
        let kind = crd.spec.names.kind.clone();
        let guard = if kind.contains("Cluster") || kind.contains("PushSecret") {
            format!("{{{{- if and (.Values.installCRDs) (.Values.crds.create{kind}) }}}}\n")
        } else {
            "{{- if .Values.installCRDs }}\n".to_string()
        };
        let body = serde_yaml::to_string(&crd).expect("yaml");
        let singular = crd.spec.names.singular.clone().expect("singular");
        std::fs::write(templates.join(format!("{singular}.yaml")), format!("{guard}{body}{{{{- end }}}}\n"))
            .expect("template");
    }
    chart
}

/// One object of a kind, created from YAML with kubectl; returns its uid.
fn create(cluster: &Cluster, namespace: &str, yaml: &str) -> String {
    static CREATED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CREATED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let file = cluster.dir.join(format!("object-{n}.yaml"));
    std::fs::write(&file, yaml).expect("write");
    let out = run(cluster, "kubectl", &["create", "-n", namespace, "-f", file.to_str().expect("path"), "-o", "json"]);
    let object: serde_json::Value = serde_json::from_str(&out).expect("json");
    object["metadata"]["uid"].as_str().expect("uid").to_string()
}

/// `(resource, namespace or "", name)` → uid, as the apiserver has them now (kubectl get; missing → None).
fn uid_of(cluster: &Cluster, resource: &str, namespace: &str, name: &str) -> Option<String> {
    let bin = tools::bin_dir().expect("bin dir").join("kubectl");
    let mut args = vec!["get", resource, name, "-o", "jsonpath={.metadata.uid}"];
    if !namespace.is_empty() {
        args.extend(["-n", namespace]);
    }
    let out = Command::new(bin).args(&args).env("KUBECONFIG", &cluster.kubeconfig).output().expect("kubectl");
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned()).filter(|uid| !uid.is_empty())
}

/// The CRDs as they are now: name → (terminating, helm.sh/resource-policy, meta.helm.sh/release-name).
async fn crd_states(
    client: &kube::Client,
) -> std::collections::BTreeMap<String, (bool, Option<String>, Option<String>)> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let list = crds.list(&ListParams::default()).await.expect("list CRDs");
    list.items
        .into_iter()
        .filter(|crd| crd.spec.group.ends_with("external-secrets.io"))
        .map(|crd| {
            let annotations = crd.metadata.annotations.clone().unwrap_or_default();
            (
                crd.metadata.name.clone().unwrap_or_default(),
                (
                    crd.metadata.deletion_timestamp.is_some(),
                    annotations.get("helm.sh/resource-policy").cloned(),
                    annotations.get("meta.helm.sh/release-name").cloned(),
                ),
            )
        })
        .collect()
}

/// Installs the ESO-like chart as release `external-secrets` and waits until its kinds are served; every CRD
/// belongs to the release and has no resource policy, as with ESO's chart.
async fn install_eso_like_release(cluster: &Cluster, client: &kube::Client, eso_chart: &str, ns: &str) {
    run(cluster, "helm", &["install", "external-secrets", eso_chart, "--namespace", ns, "--wait=false"]);
    let expected_crds: BTreeSet<String> =
        external_secrets_api::crds().into_iter().filter_map(|crd| crd.metadata.name).collect();
    let states = crd_states(client).await;
    assert_eq!(states.keys().cloned().collect::<BTreeSet<_>>(), expected_crds);
    for (name, (_, policy, release)) in &states {
        assert_eq!(policy, &None, "{name}: ESO's chart sets no resource policy");
        assert_eq!(release.as_deref(), Some("external-secrets"), "{name} belongs to the ESO release");
    }
    // CRDs are served a moment after creation.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let served =
            run(cluster, "kubectl", &["api-resources", "--api-group=generators.external-secrets.io", "-o", "name"]);
        if served.lines().count() == 19 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "generator kinds not served within 30s: {served}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Creates objects of the kinds at stake in `apps` (and cluster-scoped ones); returns
/// `(resource, namespace, name, uid)` of each.
fn create_objects(cluster: &Cluster, apps: &str) -> Vec<(String, String, String, String)> {
    // Objects of the kinds at stake, with the ownership chain ClusterExternalSecret → ExternalSecret → Secret
    // that a CRD deletion would cascade through (the garbage collector runs in this cluster).
    let ces = create(
        cluster,
        apps,
        &format!(
            "apiVersion: external-secrets.io/v1\nkind: ClusterExternalSecret\nmetadata: {{name: shared-{apps}}}\n\
             spec:\n  namespaces: [{apps}]\n  externalSecretSpec:\n    secretStoreRef: {{name: fake}}\n    \
             data: [{{secretKey: k, remoteRef: {{key: k}}}}]\n"
        ),
    );
    let es = create(
        cluster,
        apps,
        &format!(
            "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: shared\n  ownerReferences:\n  \
             - {{apiVersion: external-secrets.io/v1, kind: ClusterExternalSecret, name: shared-{apps}, uid: {ces}, \
             controller: true}}\nspec:\n  secretStoreRef: {{name: fake}}\n  data: [{{secretKey: k, remoteRef: {{key: k}}}}]\n"
        ),
    );
    let objects: Vec<(&str, String, &str, String)> = vec![
        ("clusterexternalsecrets.external-secrets.io", String::new(), "", ces.clone()),
        ("externalsecrets.external-secrets.io", apps.to_string(), "shared", es.clone()),
        (
            "secrets",
            apps.to_string(),
            "shared",
            create(
                cluster,
                apps,
                &format!(
                    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: shared\n  ownerReferences:\n  - {{apiVersion: \
                     external-secrets.io/v1, kind: ExternalSecret, name: shared, uid: {es}, controller: true}}\n\
                     stringData: {{k: v}}\n"
                ),
            ),
        ),
        (
            "secretstores.external-secrets.io",
            apps.to_string(),
            "fake",
            create(
                cluster,
                apps,
                "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata: {name: fake}\n\
                 spec: {provider: {fake: {data: [{key: k, value: v}]}}}\n",
            ),
        ),
        (
            "pushsecrets.external-secrets.io",
            apps.to_string(),
            "push",
            create(
                cluster,
                apps,
                "apiVersion: external-secrets.io/v1alpha1\nkind: PushSecret\nmetadata: {name: push}\n\
                 spec:\n  secretStoreRefs: [{name: fake}]\n  selector: {secret: {name: shared}}\n  \
                 data: [{match: {secretKey: k, remoteRef: {remoteKey: pushed}}}]\n",
            ),
        ),
        (
            "passwords.generators.external-secrets.io",
            apps.to_string(),
            "pw",
            create(
                cluster,
                apps,
                "apiVersion: generators.external-secrets.io/v1alpha1\nkind: Password\nmetadata: {name: pw}\nspec: {length: 32}\n",
            ),
        ),
        (
            "clustergenerators.generators.external-secrets.io",
            String::new(),
            "",
            create(
                cluster,
                apps,
                &format!(
                    "apiVersion: generators.external-secrets.io/v1alpha1\nkind: ClusterGenerator\n\
                     metadata: {{name: uuid-{apps}}}\nspec: {{kind: UUID, generator: {{uuidSpec: {{}}}}}}\n"
                ),
            ),
        ),
    ];
    let names = |(resource, namespace, name, uid): &(&str, String, &str, String)| {
        let name = match *resource {
            "clusterexternalsecrets.external-secrets.io" => format!("shared-{apps}"),
            "clustergenerators.generators.external-secrets.io" => format!("uuid-{apps}"),
            _ => name.to_string(),
        };
        (resource.to_string(), namespace.clone(), name, uid.clone())
    };
    objects.iter().map(names).collect()
}

/// The migration of docs/migration.md, step by step, with the real helm and a real apiserver (its own, because
/// CRDs are cluster-wide and other tests here install our chart's): a release of an ESO-like chart that owns all
/// 25 CRDs, objects of the kinds only ESO's chart used to install (ClusterExternalSecret with an ExternalSecret
/// and Secret it owns, PushSecret, generators, ...), then
/// 1. a side-by-side install of our chart without CRDs leaves them alone;
/// 2. `helm upgrade` of the same release to our chart keeps every CRD and every object (same uid), and the CRDs
///    now carry `helm.sh/resource-policy: keep`;
/// 3. `helm rollback` to the ESO chart keeps them too (and drops `keep` again);
/// 4. upgrading to our chart again, then with a CRD switched off, and finally `helm uninstall`, delete no CRD.
#[tokio::test]
async fn helm_upgrade_from_an_eso_release_keeps_every_crd_and_object() {
    let cluster = tokio::task::spawn_blocking(|| {
        external_secrets_testsupport::cluster::Cluster::start(Default::default()).expect("private cluster")
    })
    .await
    .expect("start");
    let client = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("migrate").await.expect("ns");
    let apps = cluster.namespace("migrate-apps").await.expect("ns");
    let eso_chart = eso_like_chart(&cluster.dir);
    let eso_chart = eso_chart.to_str().expect("path");
    let ours = chart_dir();
    let ours = ours.to_str().expect("path");

    install_eso_like_release(&cluster, &client, eso_chart, &ns).await;
    let expected_crds: BTreeSet<String> =
        external_secrets_api::crds().into_iter().filter_map(|crd| crd.metadata.name).collect();
    let objects = create_objects(&cluster, &apps);
    let all_objects_unchanged = |step: &str| {
        for (resource, namespace, name, uid) in &objects {
            assert_eq!(
                uid_of(&cluster, resource, namespace, name).as_deref(),
                Some(uid.as_str()),
                "after {step}: {resource} {namespace}/{name} is gone or was recreated"
            );
        }
    };
    let all_crds_kept = |states: &std::collections::BTreeMap<String, (bool, Option<String>, Option<String>)>,
                         step: &str| {
        assert_eq!(states.keys().cloned().collect::<BTreeSet<_>>(), expected_crds, "after {step}");
        for (name, (terminating, _, _)) in states {
            assert!(!terminating, "after {step}: {name} is being deleted");
        }
    };

    // 1. Side by side: our chart as a second release without CRDs.
    let side = cluster.namespace("migrate-side").await.expect("ns");
    run(
        &cluster,
        "helm",
        &["install", "ours", ours, "--namespace", &side, "--set", "installCRDs=false", "--wait=false"],
    );
    let states = crd_states(&client).await;
    all_crds_kept(&states, "side-by-side install");
    assert!(states.values().all(|(_, _, release)| release.as_deref() == Some("external-secrets")));
    run(&cluster, "helm", &["uninstall", "ours", "--namespace", &side, "--wait"]);
    all_objects_unchanged("side-by-side install and uninstall");

    // 2. In place: the same release, our chart.
    run(&cluster, "helm", &["upgrade", "external-secrets", ours, "--namespace", &ns, "--wait=false"]);
    let states = crd_states(&client).await;
    all_crds_kept(&states, "helm upgrade");
    for (name, (_, policy, release)) in &states {
        assert_eq!(policy.as_deref(), Some("keep"), "{name}");
        assert_eq!(release.as_deref(), Some("external-secrets"), "{name}");
    }
    all_objects_unchanged("helm upgrade");
    // v1beta1, not served by the ESO chart, is served again: the same object through both versions.
    let legacy = run(
        &cluster,
        "kubectl",
        &[
            "get",
            "externalsecrets.v1beta1.external-secrets.io",
            "shared",
            "-n",
            &apps,
            "-o",
            "jsonpath={.metadata.uid}",
        ],
    );
    let es = objects.iter().find(|(resource, ..)| resource == "externalsecrets.external-secrets.io").expect("es");
    assert_eq!(legacy, es.3);

    // 3. Roll back to the ESO chart. The CRDs are ESO's again, without `keep`: the next upgrade to our chart must
    //    render all of them (as it does by default) before one can be switched off safely.
    run(&cluster, "helm", &["rollback", "external-secrets", "1", "--namespace", &ns, "--wait=false"]);
    let states = crd_states(&client).await;
    all_crds_kept(&states, "helm rollback");
    assert!(states.values().all(|(_, policy, _)| policy.is_none()), "the rollback restored ESO's CRDs");
    all_objects_unchanged("helm rollback");

    // 4. Our chart again; then an upgrade that switches a CRD off: `keep` leaves it in place. Then uninstall:
    //    all stay.
    run(&cluster, "helm", &["upgrade", "external-secrets", ours, "--namespace", &ns, "--wait=false"]);
    all_crds_kept(&crd_states(&client).await, "helm upgrade after the rollback");
    run(
        &cluster,
        "helm",
        &[
            "upgrade",
            "external-secrets",
            ours,
            "--namespace",
            &ns,
            "--wait=false",
            "--set",
            "crds.createClusterExternalSecret=false",
        ],
    );
    all_crds_kept(&crd_states(&client).await, "an upgrade that no longer renders the ClusterExternalSecret CRD");
    all_objects_unchanged("an upgrade that no longer renders the ClusterExternalSecret CRD");
    run(&cluster, "helm", &["uninstall", "external-secrets", "--namespace", &ns, "--wait"]);
    all_crds_kept(&crd_states(&client).await, "helm uninstall");
    all_objects_unchanged("helm uninstall");
}

/// The hazard, shown without our chart: a release of the ESO-like chart upgraded so that it no longer renders the
/// ClusterExternalSecret CRD (as a chart that ships only ExternalSecret and the stores would) deletes the CRD and
/// every ClusterExternalSecret; the checks of `helm_upgrade_from_an_eso_release_keeps_every_crd_and_object` would
/// see this loss. (What happens next to the ExternalSecrets a ClusterExternalSecret created is up to the running
/// controller's finalizer; the garbage collector alone does not cascade through an owner whose kind is gone, so
/// this test, which runs no controller, does not check them.)
#[tokio::test]
async fn upgrading_an_eso_release_to_a_chart_without_a_crd_deletes_every_object_of_its_kind() {
    let cluster = tokio::task::spawn_blocking(|| {
        external_secrets_testsupport::cluster::Cluster::start(Default::default()).expect("private cluster")
    })
    .await
    .expect("start");
    let client = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("hazard").await.expect("ns");
    let apps = cluster.namespace("hazard-apps").await.expect("ns");
    let eso_chart = eso_like_chart(&cluster.dir);
    let eso_chart = eso_chart.to_str().expect("path");
    install_eso_like_release(&cluster, &client, eso_chart, &ns).await;
    let objects = create_objects(&cluster, &apps);

    run(
        &cluster,
        "helm",
        &[
            "upgrade",
            "external-secrets",
            eso_chart,
            "--namespace",
            &ns,
            "--wait=false",
            "--set",
            "crds.createClusterExternalSecret=false",
        ],
    );
    let cascade = ["clusterexternalsecrets.external-secrets.io"];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let remaining: Vec<_> = objects
            .iter()
            .filter(|(resource, ..)| cascade.contains(&resource.as_str()))
            .filter(|(resource, namespace, name, _)| uid_of(&cluster, resource, namespace, name).is_some())
            .map(|(resource, _, name, _)| format!("{resource}/{name}"))
            .collect();
        if remaining.is_empty() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still there after 60s: {remaining:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let states = crd_states(&client).await;
    assert!(!states.contains_key("clusterexternalsecrets.external-secrets.io"), "the CRD was deleted");
    let pushsecret = objects.iter().find(|(resource, ..)| resource == "pushsecrets.external-secrets.io").expect("ps");
    assert!(uid_of(&cluster, &pushsecret.0, &pushsecret.1, &pushsecret.2).is_some(), "other kinds untouched");
}

/// The checked-in bundle, applied as the README says (`kubectl apply --server-side`), makes the apiserver serve
/// every ESO kind: 6 of external-secrets.io (with v1beta1 next to v1) and 19 of generators.external-secrets.io.
/// Its own apiserver: CRDs applied outside Helm could not be adopted by the chart installs of the other tests.
#[tokio::test]
async fn crd_bundle_applies_server_side_and_every_kind_is_served() {
    let cluster = tokio::task::spawn_blocking(|| {
        external_secrets_testsupport::cluster::Cluster::start(Default::default()).expect("private cluster")
    })
    .await
    .expect("start");
    let cluster = &cluster;
    let bundle = tools::repo_root().join("deploy/crds/bundle.yaml");
    run(
        cluster,
        "kubectl",
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=bundle-test",
            "-f",
            bundle.to_str().expect("path"),
        ],
    );
    run(
        cluster,
        "kubectl",
        &["wait", "--for=condition=Established", "--timeout=30s", "-f", bundle.to_str().expect("path")],
    );
    let served = |group: &str| {
        let mut names: Vec<String> =
            run(cluster, "kubectl", &["api-resources", &format!("--api-group={group}"), "-o", "name"])
                .lines()
                .map(str::to_string)
                .collect();
        names.sort();
        names
    };
    assert_eq!(
        served("external-secrets.io"),
        [
            "clusterexternalsecrets.external-secrets.io",
            "clusterpushsecrets.external-secrets.io",
            "clustersecretstores.external-secrets.io",
            "externalsecrets.external-secrets.io",
            "pushsecrets.external-secrets.io",
            "secretstores.external-secrets.io",
        ]
    );
    assert_eq!(served("generators.external-secrets.io").len(), 19);
    let versions = run(cluster, "kubectl", &["api-versions"]);
    for version in [
        "external-secrets.io/v1",
        "external-secrets.io/v1beta1",
        "external-secrets.io/v1alpha1",
        "generators.external-secrets.io/v1alpha1",
    ] {
        assert!(versions.lines().any(|v| v == version), "{version} served: {versions}");
    }
}
