//! Identities: IRSA through TokenRequest (checked by the endpoint's verifying layer), static keys from Secrets,
//! referent authentication, role chaining, and the SDK default chain.

use aws_credential_types::Credentials;
use external_secrets_provider::{DynProvider, ErrorCategory, RemoteKey, StoreContext, StoreScope, Validation};
use external_secrets_provider_aws::AwsProvider;
use external_secrets_testsupport::{aws, cluster};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, ObjectMeta, PostParams};
use serde_json::{Value, json};

use crate::common::{TestEnv, admin_credentials, count, isolated_endpoint, spec, test_api, text};

const ACCOUNT: &str = "123456789012";

async fn create_service_account(env: &TestEnv, name: &str, role: Option<&str>) {
    let annotations = role.map(|r| [("eks.amazonaws.com/role-arn".to_string(), r.to_string())].into());
    let sa = ServiceAccount {
        metadata: ObjectMeta { name: Some(name.into()), annotations, ..Default::default() },
        ..Default::default()
    };
    let api: Api<ServiceAccount> = Api::namespaced(env.kube.clone(), &env.ns);
    api.create(&PostParams::default(), &sa).await.expect("create ServiceAccount");
}

/// Turns on the endpoint's verification of web identity tokens: the apiserver's keys and issuer, and which
/// subject may assume which role.
async fn enable_irsa_verifier(env: &TestEnv, roles: Value) {
    let cluster = cluster().await;
    let request = http::Request::get("/openid/v1/jwks").body(Vec::new()).expect("request");
    let jwks = env.kube.request_text(request).await.expect("JWKS");
    let config = json!({
        "issuer": cluster.issuer,
        "jwks": serde_json::from_str::<Value>(&jwks).expect("JWKS JSON"),
        "roles": roles,
    });
    test_api(env.port, "POST", "/_esr/irsa", &config.to_string());
}

fn irsa_spec(env: &TestEnv, service_account: &str) -> Value {
    json!({
        "service": "SecretsManager",
        "region": env.region,
        "auth": {"jwt": {"serviceAccountRef": {"name": service_account}}},
    })
}

#[tokio::test]
async fn irsa_exchanges_the_service_account_token_for_its_role_and_nothing_else() {
    let endpoint = isolated_endpoint().await;
    let env = TestEnv::with_endpoint("irsa", &endpoint.url, endpoint.port).await;
    let role = format!("arn:aws:iam::{ACCOUNT}:role/{}-app", env.ns);
    create_service_account(&env, "app", Some(&role)).await;
    // Claims the same role, but the role trusts only `app`.
    create_service_account(&env, "intruder", Some(&role)).await;
    create_service_account(&env, "unannotated", None).await;
    enable_irsa_verifier(&env, json!({ format!("system:serviceaccount:{}:app", env.ns): role })).await;
    let name = format!("{}/irsa-secret", env.ns);
    env.sm_admin().create_secret().name(&name).secret_string("via-irsa").send().await.expect("CreateSecret");

    let provider = env.provider();
    let client = provider.client(&env.store(irsa_spec(&env, "app"))).await.expect("client");
    assert_eq!(client.validate().await.expect("validate"), Validation::Ready);
    assert_eq!(text(&client.get(&RemoteKey::value(&name)).await), "via-irsa");
    let calls = test_api(env.port, "GET", "/_esr/irsa/calls", "");
    let calls = calls.as_array().expect("calls");
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["sub"], format!("system:serviceaccount:{}:app", env.ns));
    assert_eq!(calls[0]["role"], role.as_str());

    let intruder = provider.client(&env.store(irsa_spec(&env, "intruder"))).await.expect("client");
    let err = intruder.get(&RemoteKey::value(&name)).await.expect_err("another ServiceAccount is refused");
    println!("intruder: {err}");
    assert!(matches!(err.category(), ErrorCategory::Denied | ErrorCategory::Auth), "{err}");
    assert!(err.to_string().contains("intruder"), "the error names the ServiceAccount: {err}");
    let err = intruder.validate().await.expect_err("validation fails too");
    assert!(matches!(err.category(), ErrorCategory::Denied | ErrorCategory::Auth), "{err}");

    let err = provider.client(&env.store(irsa_spec(&env, "unannotated"))).await.err().expect("no role annotation");
    assert_eq!(err.category(), ErrorCategory::InvalidConfig, "{err}");
    assert!(err.to_string().contains("eks.amazonaws.com/role-arn"), "{err}");

    let err = provider.client(&env.store(irsa_spec(&env, "does-not-exist"))).await.err().expect("missing SA");
    assert_eq!(err.category(), ErrorCategory::Auth, "{err}");
}

#[tokio::test]
async fn fifty_concurrent_reads_on_one_irsa_store_cost_one_token_and_one_sts_call() {
    let endpoint = isolated_endpoint().await;
    let env = TestEnv::with_endpoint("irsa-cache", &endpoint.url, endpoint.port).await;
    let role = format!("arn:aws:iam::{ACCOUNT}:role/{}-app", env.ns);
    create_service_account(&env, "app", Some(&role)).await;
    enable_irsa_verifier(&env, json!({ format!("system:serviceaccount:{}:app", env.ns): role })).await;
    let name = format!("{}/shared", env.ns);
    env.sm_admin().create_secret().name(&name).secret_string("shared-value").send().await.expect("CreateSecret");

    let provider = env.provider();
    let ctx = env.store(irsa_spec(&env, "app"));
    let reads = (0..50).map(|_| async {
        // Each ExternalSecret reconcile builds its client from the store and reads.
        let client = provider.client(&ctx).await.expect("client");
        client.get(&RemoteKey::value(&name)).await
    });
    let results = futures::future::join_all(reads).await;
    assert!(results.iter().all(|r| r.as_ref().is_ok_and(|v| v.bytes.expose() == b"shared-value")));

    let stats = provider.stats();
    assert_eq!(stats.token_requests, 1, "{stats:?}");
    assert_eq!(stats.sts_calls, 1, "{stats:?}");
    assert_eq!(stats.identities_built, 1, "{stats:?}");
    assert_eq!(stats.clients_built, 2, "one Secrets Manager and one STS client: {stats:?}");
    let counters = env.counters();
    assert_eq!(count(&counters, "sts.AssumeRoleWithWebIdentity"), 1, "{counters:?}");
    assert_eq!(count(&counters, "secretsmanager.GetSecretValue"), 50, "{counters:?}");
    // A validation later reuses the cached credentials.
    provider.client(&ctx).await.expect("client").validate().await.expect("validate");
    assert_eq!(provider.stats().sts_calls, 1);
}

#[tokio::test]
async fn static_keys_with_session_token_are_read_from_secrets() {
    let env = TestEnv::new("static").await;
    let aws = aws().await;
    env.create_secret(
        "session-creds",
        &[("id", aws.access_key_id.as_str()), ("secret", "s3cr3t-key\n"), ("token", "FwoGZXIvYXdzEXAMPLETOKEN")],
    )
    .await;
    let name = format!("{}/static", env.ns);
    env.sm_admin().create_secret().name(&name).secret_string("ok").send().await.expect("CreateSecret");
    let provider = env.provider();
    let with_token = json!({
        "service": "SecretsManager",
        "region": env.region,
        "auth": {"secretRef": {
            "accessKeyIDSecretRef": {"name": "session-creds", "key": "id"},
            "secretAccessKeySecretRef": {"name": "session-creds", "key": "secret"},
            "sessionTokenSecretRef": {"name": "session-creds", "key": "token"},
        }},
    });
    let client = provider.client(&env.store(with_token.clone())).await.expect("client");
    assert_eq!(text(&client.get(&RemoteKey::value(&name)).await), "ok");

    // A SecretStore may only read its own namespace.
    let mut other_ns = with_token.clone();
    other_ns["auth"]["secretRef"]["accessKeyIDSecretRef"]["namespace"] = "kube-system".into();
    let err = provider.client(&env.store(other_ns)).await.err().expect("foreign namespace");
    assert_eq!(err.category(), ErrorCategory::InvalidConfig, "{err}");

    let mut missing = with_token.clone();
    missing["auth"]["secretRef"]["secretAccessKeySecretRef"]["name"] = "no-such-secret".into();
    let err = provider.client(&env.store(missing)).await.err().expect("missing Secret");
    assert_eq!(err.category(), ErrorCategory::Auth, "{err}");
    assert!(!err.to_string().contains("s3cr3t"), "{err}");

    let mut missing_key = with_token;
    missing_key["auth"]["secretRef"]["secretAccessKeySecretRef"]["key"] = "nope".into();
    let err = provider.client(&env.store(missing_key)).await.err().expect("missing key");
    assert_eq!(err.category(), ErrorCategory::Auth, "{err}");
}

#[tokio::test]
async fn cluster_store_with_referent_auth_validates_unknown_and_reads_in_the_referent_namespace() {
    let env = TestEnv::new("referent").await;
    let name = format!("{}/referent", env.ns);
    env.sm_admin().create_secret().name(&name).secret_string("from-referent").send().await.expect("CreateSecret");
    let provider = env.provider();
    let cluster_store = |referent: Option<String>, aws: Value| {
        StoreContext::new(env.kube.clone(), StoreScope::cluster_secret_store("aws-cluster-store", referent), spec(aws))
    };
    let referent_spec = env.static_spec("SecretsManager");

    let validating = provider.client(&cluster_store(None, referent_spec.clone())).await.expect("client");
    assert_eq!(validating.validate().await.expect("validate"), Validation::Unknown);
    let err = validating.get(&RemoteKey::value(&name)).await.expect_err("no namespace to read in");
    assert_eq!(err.category(), ErrorCategory::InvalidConfig);

    let reading = provider.client(&cluster_store(Some(env.ns.clone()), referent_spec)).await.expect("client");
    assert_eq!(text(&reading.get(&RemoteKey::value(&name)).await), "from-referent");

    let mut explicit = env.static_spec("SecretsManager");
    for field in ["accessKeyIDSecretRef", "secretAccessKeySecretRef"] {
        explicit["auth"]["secretRef"][field]["namespace"] = env.ns.clone().into();
    }
    let client = provider.client(&cluster_store(None, explicit)).await.expect("client");
    assert_eq!(client.validate().await.expect("validate"), Validation::Ready);
    assert_eq!(text(&client.get(&RemoteKey::value(&name)).await), "from-referent");
}

#[tokio::test]
async fn additional_roles_then_role_are_assumed_in_order_and_cached() {
    let env = TestEnv::new("chain").await;
    let first = format!("arn:aws:iam::111111111111:role/{}-first", env.ns);
    let last = format!("arn:aws:iam::222222222222:role/{}-last", env.ns);
    let name = format!("{}/chained", env.ns);
    // moto keeps data per account: the secret the chain must reach lives in the last role's account, and a
    // decoy of the same name in the account of the static keys.
    env.sm_admin().create_secret().name(&name).secret_string("decoy").send().await.expect("CreateSecret");
    let admin_sts = aws_sdk_sts::Client::new(&env.sdk_config(admin_credentials()));
    let assumed = admin_sts.assume_role().role_arn(&last).role_session_name("setup").send().await.expect("AssumeRole");
    let c = assumed.credentials().expect("credentials");
    let in_last_account =
        Credentials::new(c.access_key_id(), c.secret_access_key(), Some(c.session_token().to_string()), None, "setup");
    aws_sdk_secretsmanager::Client::new(&env.sdk_config(in_last_account))
        .create_secret()
        .name(&name)
        .secret_string("reached-through-the-chain")
        .send()
        .await
        .expect("CreateSecret in the role's account");

    let mut chained = env.static_spec("SecretsManager");
    chained["additionalRoles"] = json!([first]);
    chained["role"] = last.clone().into();
    chained["externalID"] = "external-1".into();
    chained["sessionTags"] = json!([{"key": "team", "value": "payments"}]);
    chained["transitiveTagKeys"] = json!(["team"]);
    let provider = env.provider();
    let before = env.counters();
    let client = provider.client(&env.store(chained.clone())).await.expect("client");
    assert_eq!(text(&client.get(&RemoteKey::value(&name)).await), "reached-through-the-chain");
    assert_eq!(provider.stats().sts_calls, 2, "first role, then the last one");

    let again = provider.client(&env.store(chained)).await.expect("client");
    assert_eq!(text(&again.get(&RemoteKey::value(&name)).await), "reached-through-the-chain");
    assert_eq!(provider.stats().sts_calls, 2, "cached credentials are reused");
    assert_eq!(provider.stats().identities_built, 3, "static keys, first role, last role");
    let after = env.counters();
    assert_eq!(count(&after, "sts.AssumeRole") - count(&before, "sts.AssumeRole"), 2);

    let unchained = env.static_client(&provider, "SecretsManager").await;
    assert_eq!(text(&unchained.get(&RemoteKey::value(&name)).await), "decoy");
}

/// Environment variables of the child process that runs [`default_chain_child`].
const CHILD_SECRET: &str = "ESR_TEST_DEFAULT_CHAIN_SECRET";
const CHILD_REGION: &str = "ESR_TEST_DEFAULT_CHAIN_REGION";

#[tokio::test]
async fn default_chain_reads_environment_credentials_and_eso_endpoint_variables() {
    let aws = aws().await;
    let env = TestEnv::new("default-chain").await;
    let name = format!("{}/default-chain", env.ns);
    env.sm_admin().create_secret().name(&name).secret_string("from-env").send().await.expect("CreateSecret");
    // The default chain and the endpoint variables read the process environment, which a test may not change:
    // run this binary again, with that environment, for the one test below.
    let exe = std::env::current_exe().expect("test binary");
    let mut child = std::process::Command::new(exe);
    child.args(["--exact", "identities::default_chain_child", "--nocapture", "--test-threads=1"]);
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("AWS_")) {
        child.env_remove(key);
    }
    child
        .env(CHILD_SECRET, &name)
        .env(CHILD_REGION, &env.region)
        .env("AWS_ACCESS_KEY_ID", &aws.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &aws.secret_access_key)
        .env("AWS_SECRETSMANAGER_ENDPOINT", &aws.url)
        .env("AWS_SSM_ENDPOINT", &aws.url)
        .env("AWS_STS_ENDPOINT", &aws.url)
        .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    let out = tokio::task::spawn_blocking(move || child.output()).await.expect("join").expect("run child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("1 passed"), "the child ran the test:\n{stdout}");
}

/// Runs only as the child of the test above (it does nothing otherwise).
#[tokio::test]
async fn default_chain_child() {
    let (Ok(name), Ok(region)) = (std::env::var(CHILD_SECRET), std::env::var(CHILD_REGION)) else { return };
    let provider = AwsProvider::new();
    let url = std::env::var("AWS_SECRETSMANAGER_ENDPOINT").expect("endpoint");
    assert_eq!(provider.endpoints().secrets_manager.as_deref(), Some(url.as_str()));
    assert_eq!(provider.endpoints().sts.as_deref(), Some(url.as_str()));
    let kube_config = kube::Config::new("http://127.0.0.1:9".parse().expect("URL"));
    let ctx = StoreContext::new(
        kube::Client::try_from(kube_config).expect("kube client"),
        StoreScope::secret_store("default", "default-chain"),
        spec(json!({"service": "SecretsManager", "region": region})),
    );
    let client = provider.client(&ctx).await.expect("client");
    assert_eq!(client.validate().await.expect("validate"), Validation::Ready);
    assert_eq!(text(&client.get(&RemoteKey::value(&name)).await), "from-env");
}
