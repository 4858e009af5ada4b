//! `examples/ecr-pull-secret` end to end: its manifest file is applied as it is (`kubectl apply -f`) to the real
//! local control plane, and the operator (as its own ServiceAccount with the shipped ClusterRole) turns it into a
//! `kubernetes.io/dockerconfigjson` Secret with the ECR login of the local AWS endpoint (moto), authenticated as
//! the example says: IRSA through the `ecr-reader` ServiceAccount — a TokenRequest whose JWT the endpoint's STS
//! verifies against the apiserver's keys before it lets the subject assume the annotated role.
//!
//! Nothing in the file is changed for the test: the endpoint is the operator's setting (as `AWS_ENDPOINT_URL_*`
//! / `AWS_ECR_ENDPOINT` would be for the binary), not the manifest's; the namespace `app` is created here.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::sync::Arc;

use base64::Engine;
use common::{aws_admin_sdk_config, aws_test_api, events_text, kubectl, logs, start_operator_configured, wait_ready};
use external_secrets_api::ExternalSecret;
use external_secrets_generators::GeneratorRegistry;
use external_secrets_provider_aws::{AwsProvider, Endpoints};
use external_secrets_testsupport::{AwsEndpoint, AwsOptions, cluster, tools};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

/// The example's namespace, ServiceAccount, role and region (as written in its manifest).
const NAMESPACE: &str = "app";
const SERVICE_ACCOUNT: &str = "ecr-reader";
const ROLE: &str = "arn:aws:iam::123456789012:role/ecr-reader";
const REGION: &str = "eu-west-1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ecr_pull_secret_example_yields_a_docker_config_with_the_login_ecr_returns() {
    let cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin");
    let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": NAMESPACE}})).expect("Namespace");
    Api::<Namespace>::all(admin.clone()).create(&PostParams::default(), &namespace).await.expect("namespace app");
    let endpoint = tokio::task::spawn_blocking(|| AwsEndpoint::start(AwsOptions::default()))
        .await
        .expect("endpoint thread")
        .expect("local AWS endpoint");
    let aws = AwsProvider::with_endpoints(Endpoints::all(&endpoint.url));
    let generators = GeneratorRegistry::new().with(Arc::new(aws.generators()));
    let op =
        start_operator_configured(cluster, NAMESPACE, common::registry(), move |c| c.generators = generators).await;

    // The cluster's IAM OIDC provider as the endpoint's STS sees it: the apiserver's keys and issuer, and the
    // one subject allowed to assume the example's role.
    let request = http::Request::get("/openid/v1/jwks").body(Vec::new()).expect("request");
    let jwks: Value = serde_json::from_str(&admin.request_text(request).await.expect("JWKS")).expect("JWKS JSON");
    let subject = format!("system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}");
    let irsa = json!({"issuer": cluster.issuer, "jwks": jwks, "roles": {subject: ROLE}});
    aws_test_api(endpoint.port, "POST", "/_esr/irsa", &irsa.to_string());

    let manifest = tools::repo_root().join("examples/ecr-pull-secret/ecr-pull-secret.yaml");
    kubectl(cluster, &["apply", "-f", manifest.to_str().expect("UTF-8 path")]);

    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), NAMESPACE);
    wait_ready(&ess, "ecr-pull-secret", "SecretSynced").await;
    let secret = Api::<Secret>::namespaced(admin.clone(), NAMESPACE).get("ecr-pull-secret").await.expect("Secret");
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/dockerconfigjson"));
    let data = secret.data.unwrap_or_default();
    assert_eq!(data.keys().collect::<Vec<_>>(), [".dockerconfigjson"], "only the templated key");
    let config: Value = serde_json::from_slice(&data[".dockerconfigjson"].0).expect("a JSON Docker config");

    // What ECR (moto) answers the same account for the same region, asked directly.
    let ecr = aws_sdk_ecr::Client::new(&aws_admin_sdk_config(&endpoint, REGION));
    let answer = ecr.get_authorization_token().send().await.expect("GetAuthorizationToken");
    let auth = &answer.authorization_data()[0];
    let token = auth.authorization_token().expect("token");
    let decoded =
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(token).expect("base64")).expect("UTF-8");
    let (username, password) = decoded.split_once(':').expect("user:password");
    let registry = auth.proxy_endpoint().expect("proxy endpoint").trim_start_matches("https://");

    let auths = config["auths"].as_object().expect("auths");
    assert_eq!(auths.keys().collect::<Vec<_>>(), [registry], "the registry host, without https://");
    let login = &auths[registry];
    assert_eq!(login["username"], username);
    assert_eq!(login["password"], password);
    let auth_field =
        base64::engine::general_purpose::STANDARD.decode(login["auth"].as_str().expect("auth")).expect("b64");
    assert_eq!(String::from_utf8(auth_field).expect("UTF-8"), decoded, "auth is base64(username:password)");

    // IRSA was used: the endpoint verified a web identity token of the example's ServiceAccount.
    let calls = aws_test_api(endpoint.port, "GET", "/_esr/irsa/calls", "");
    let calls = calls.as_array().expect("calls");
    assert!(!calls.is_empty(), "AssumeRoleWithWebIdentity was never verified");
    for call in calls {
        assert_eq!(call["sub"], format!("system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}"), "{call}");
        assert_eq!(call["role"], ROLE, "{call}");
    }

    // The ECR password is in no event, log or status.
    let status = serde_json::to_string(&ess.get("ecr-pull-secret").await.expect("es").status).expect("JSON");
    assert!(!events_text(&admin, NAMESPACE).await.contains(password), "the password appeared in the events");
    assert!(!logs().contains(password), "the password appeared in the operator logs");
    assert!(!status.contains(password), "the password appeared in the status");
    op.stop().await;
}
