//! Failures of the endpoint: throttling (after the SDK's retries, as `retrySettings` asks), secrets that cannot
//! be read, and an endpoint that is down.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::types::Tag;
use external_secrets_api::SecretStoreRetrySettings;
use external_secrets_provider::{DynProvider, ErrorCategory, FindQuery, RemoteKey};
use external_secrets_provider_aws::{AwsProvider, Endpoints};
use serde_json::json;

use crate::common::{TestEnv, call_times, count, isolated_endpoint, set_policies, test_api, text};

#[tokio::test]
async fn throttling_is_retried_then_reported_as_throttled() {
    let endpoint = isolated_endpoint().await;
    let env = TestEnv::with_endpoint("throttle", &endpoint.url, endpoint.port).await;
    let name = format!("{}/busy", env.ns);
    env.sm_admin().create_secret().name(&name).secret_string("eventually").send().await.expect("CreateSecret");
    let provider = env.provider();
    let client = env.static_client(&provider, "SecretsManager").await;

    // Two throttles: the SDK's standard retry (3 attempts) gets through.
    let fault = json!({"operation": "GetSecretValue", "mode": "throttle", "count": 2});
    test_api(env.port, "POST", "/_esr/faults", &fault.to_string());
    let before = env.counters();
    assert_eq!(text(&client.get(&RemoteKey::value(&name)).await), "eventually");
    let attempts =
        count(&env.counters(), "secretsmanager.GetSecretValue") - count(&before, "secretsmanager.GetSecretValue");
    assert_eq!(attempts, 3);

    // Throttled until further notice: three attempts, then a Throttled error naming the key and the code.
    test_api(env.port, "DELETE", "/_esr/faults", "");
    let fault = json!({"operation": "GetSecretValue", "mode": "throttle", "count": -1});
    test_api(env.port, "POST", "/_esr/faults", &fault.to_string());
    let before = env.counters();
    let err = client.get(&RemoteKey::value(&name)).await.expect_err("throttled");
    println!("throttled: {err}");
    let attempts =
        count(&env.counters(), "secretsmanager.GetSecretValue") - count(&before, "secretsmanager.GetSecretValue");
    test_api(env.port, "DELETE", "/_esr/faults", "");
    assert_eq!(err.category(), ErrorCategory::Throttled, "{err}");
    assert!(err.is_retryable());
    assert!(err.to_string().contains("ThrottlingException") && err.to_string().contains(&name), "{err}");
    assert_eq!(attempts, 3);

    // A 500 is the service being unavailable; a denial is Denied.
    let fault = json!({"operation": "GetSecretValue", "mode": "error500", "count": -1});
    test_api(env.port, "POST", "/_esr/faults", &fault.to_string());
    let err = client.get(&RemoteKey::value(&name)).await.expect_err("500");
    test_api(env.port, "DELETE", "/_esr/faults", "");
    assert_eq!(err.category(), ErrorCategory::Unavailable, "{err}");
    let fault = json!({"operation": "GetSecretValue", "mode": "deny", "count": -1});
    test_api(env.port, "POST", "/_esr/faults", &fault.to_string());
    let err = client.get(&RemoteKey::value(&name)).await.expect_err("denied");
    test_api(env.port, "DELETE", "/_esr/faults", "");
    assert_eq!(err.category(), ErrorCategory::Denied, "{err}");
}

/// When the endpoint received the attempts of one read of `name` (throttled until further notice) by a store
/// with these `retrySettings`.
async fn throttled_attempts(
    env: &TestEnv,
    provider: &AwsProvider,
    name: &str,
    max_retries: i32,
    interval: Option<&str>,
) -> Vec<f64> {
    let mut spec = crate::common::spec(env.static_spec("SecretsManager"));
    spec.retry_settings =
        Some(SecretStoreRetrySettings { max_retries: Some(max_retries), retry_interval: interval.map(Into::into) });
    let store = env.store_named("aws-store", spec);
    let client = provider.client(&store).await.expect("client");
    let before = call_times(env.port, "secretsmanager.GetSecretValue").len();
    let err = client.get(&RemoteKey::value(name)).await.expect_err("throttled");
    assert_eq!(err.category(), ErrorCategory::Throttled, "{err}");
    call_times(env.port, "secretsmanager.GetSecretValue").split_off(before)
}

#[tokio::test]
async fn retry_settings_are_the_total_attempts_and_a_fixed_interval() {
    let endpoint = isolated_endpoint().await;
    let env = TestEnv::with_endpoint("retry-settings", &endpoint.url, endpoint.port).await;
    let name = format!("{}/busy", env.ns);
    env.sm_admin().create_secret().name(&name).secret_string("never read").send().await.expect("CreateSecret");
    let fault = json!({"operation": "GetSecretValue", "mode": "throttle", "count": -1});
    test_api(env.port, "POST", "/_esr/faults", &fault.to_string());
    let provider = env.provider();
    let attempts = |max_retries, interval| throttled_attempts(&env, &provider, &name, max_retries, interval);

    // ESO hands maxRetries to the SDK as its maximum number of attempts, the first one included.
    assert_eq!(attempts(2, None).await.len(), 2);
    assert_eq!(attempts(1, None).await.len(), 1);
    // retryInterval is the wait before every retry: not the SDK's backoff, whose first wait is under a second,
    // and not growing (an exponential backoff starting at 2s would wait 4s the second time).
    let times = attempts(3, Some("2s")).await;
    test_api(env.port, "DELETE", "/_esr/faults", "");
    assert_eq!(times.len(), 3);
    let waits: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    println!("waits between attempts with retryInterval 2s: {waits:?}");
    assert!(waits.iter().all(|&w| (1.95..3.5).contains(&w)), "{waits:?}");
}

#[tokio::test]
async fn find_by_path_or_tags_leaves_out_secrets_that_cannot_be_read() {
    let endpoint = isolated_endpoint().await;
    let env = TestEnv::with_endpoint("find-unreadable", &endpoint.url, endpoint.port).await;
    let sm = env.sm_admin();
    let ns = &env.ns;
    let mut arns = BTreeMap::new();
    for name in ["readable", "kms-refused", "access-denied"] {
        let created = sm
            .create_secret()
            .name(format!("{ns}/app/{name}"))
            .secret_string(format!("value of {name}"))
            .tags(Tag::builder().key("team").value(ns.as_str()).build())
            .send()
            .await
            .expect("CreateSecret");
        arns.insert(name, created.arn().expect("ARN").to_string());
    }
    // The secret's KMS key refuses to decrypt one secret; the store's identity may not read another.
    let fault = json!({"secret": format!("{ns}/app/kms-refused"), "mode": "kms", "count": -1});
    test_api(env.port, "POST", "/_esr/faults", &fault.to_string());
    let reader_key = "AKIAFINDREADER000001";
    set_policies(
        env.port,
        json!({ reader_key: [
            {"effect": "Allow", "actions": ["secretsmanager:*"], "resources": ["*"]},
            {"effect": "Deny", "actions": ["secretsmanager:GetSecretValue"], "resources": [arns["access-denied"]]},
        ]}),
    );
    let provider = env.provider();
    let spec = env.static_spec_with_key("SecretsManager", "reader-creds", reader_key).await;
    let client = provider.client(&env.store(spec)).await.expect("client");

    let readable = [format!("{ns}/app/readable")];
    let tags = BTreeMap::from([("team".to_string(), ns.clone())]);
    let queries = [
        FindQuery { path: Some(format!("{ns}/app")), name_regexp: Some(".*".into()), ..Default::default() },
        FindQuery { tags: tags.clone(), ..Default::default() },
        FindQuery { tags, path: Some(format!("{ns}/app")), ..Default::default() },
    ];
    for query in &queries {
        let found = client.find(query).await.unwrap_or_else(|e| panic!("{query:?}: {e}"));
        assert_eq!(found.keys().cloned().collect::<Vec<_>>(), readable, "{query:?}");
        assert_eq!(found[&readable[0]].bytes.expose(), b"value of readable");
    }
    // By name without a path ESO reads the listed secrets one by one, and a secret it cannot read fails the find.
    let by_name = FindQuery { name_regexp: Some(format!("^{ns}/app/")), ..Default::default() };
    let err = client.find(&by_name).await.expect_err("an unreadable secret");
    println!("find by name: {err}");
    assert!(!err.is_not_found(), "{err}");
    assert!(!err.to_string().contains("value of"), "{err}");
}

#[tokio::test]
async fn denied_batch_api_falls_back_to_single_reads() {
    let endpoint = isolated_endpoint().await;
    let env = TestEnv::with_endpoint("batch-denied", &endpoint.url, endpoint.port).await;
    let sm = env.sm_admin();
    let names: Vec<String> = (0..3).map(|i| format!("{}/fallback/{i}", env.ns)).collect();
    for name in &names {
        sm.create_secret().name(name).secret_string(name.as_str()).send().await.expect("CreateSecret");
    }
    let provider = env.provider();
    let client = env.static_client(&provider, "SecretsManager").await;
    let fault = json!({"operation": "BatchGetSecretValue", "mode": "deny", "count": -1});
    test_api(env.port, "POST", "/_esr/faults", &fault.to_string());
    let keys: Vec<RemoteKey> = names.iter().map(RemoteKey::value).collect();
    let first = client.get_many(&keys).await;
    let second = client.get_many(&keys).await;
    test_api(env.port, "DELETE", "/_esr/faults", "");
    for results in [&first, &second] {
        assert_eq!(results.iter().map(text).collect::<Vec<_>>(), names);
    }
    let counters = env.counters();
    assert_eq!(count(&counters, "secretsmanager.BatchGetSecretValue"), 1, "the denial is remembered");
    assert_eq!(count(&counters, "secretsmanager.GetSecretValue"), 6);
}

#[tokio::test]
async fn an_endpoint_that_is_down_is_unavailable_within_bounded_time() {
    let env = TestEnv::new("down").await;
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let provider = AwsProvider::with_endpoints(Endpoints::all(format!("http://127.0.0.1:{closed_port}")));
    let client = env.static_client(&provider, "SecretsManager").await;
    let started = Instant::now();
    let err = client.get(&RemoteKey::value("anything")).await.expect_err("nobody listens");
    let took = started.elapsed();
    println!("endpoint down: {err}");
    assert_eq!(err.category(), ErrorCategory::Unavailable, "{err}");
    assert!(err.is_retryable());
    assert!(took < Duration::from_secs(20), "gave up after {took:?}");
    let many = client.get_many(&[RemoteKey::value("a"), RemoteKey::value("b")]).await;
    assert!(many.iter().all(|r| r.as_ref().is_err_and(|e| e.category() == ErrorCategory::Unavailable)));
    println!("endpoint down: Unavailable after {took:?}");
}

#[tokio::test]
async fn sts_down_is_reported_for_the_identity() {
    let env = TestEnv::new("sts-down").await;
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let endpoints = Endpoints { sts: Some(format!("http://127.0.0.1:{closed_port}")), ..Endpoints::all(&env.url) };
    let provider = AwsProvider::with_endpoints(endpoints);
    let mut spec = env.static_spec("SecretsManager");
    spec["role"] = "arn:aws:iam::123456789012:role/unreachable".into();
    let client = provider.client(&env.store(spec)).await.expect("client");
    let err = client.validate().await.expect_err("STS is down");
    assert_eq!(err.category(), ErrorCategory::Unavailable, "{err}");
    let err = client.get(&RemoteKey::value("x")).await.expect_err("no credentials");
    println!("STS down, get: {err}");
    assert_eq!(err.category(), ErrorCategory::Unavailable, "{err}");
    assert!(err.to_string().contains("AssumeRole"), "{err}");
}
