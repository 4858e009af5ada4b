//! Failures of the endpoint: throttling (after the SDK's retries) and an endpoint that is down.

use std::time::{Duration, Instant};

use external_secrets_provider::{ErrorCategory, Provider, RemoteKey};
use external_secrets_provider_aws::{AwsProvider, Endpoints};
use serde_json::json;

use crate::common::{TestEnv, count, isolated_endpoint, test_api, text};

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
