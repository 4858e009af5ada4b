//! The fault proxy in front of the local AWS endpoint fails requests the way AWS (or a gateway in front of it)
//! does — as the AWS SDK for Rust sees them — passes them through otherwise, and counts them per operation.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_credential_types::Credentials;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use aws_smithy_http_client::tls;
use external_secrets_testsupport::{Fault, FaultProxy, aws};

async fn client(url: &str, region: &str, access_key: &str) -> aws_sdk_secretsmanager::Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .build_https();
    let conf = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .region(aws_config::Region::new(region.to_string()))
        .endpoint_url(url)
        .retry_config(RetryConfig::disabled())
        .credentials_provider(Credentials::new(access_key, "test-secret", None, None, "test"))
        .load()
        .await;
    aws_sdk_secretsmanager::Client::new(&conf)
}

/// (HTTP status, AWS error code) of a failed GetSecretValue of `id`; panics if it succeeded.
async fn failure(sm: &aws_sdk_secretsmanager::Client, id: &str) -> (u16, Option<String>) {
    let err = sm.get_secret_value().secret_id(id).send().await.expect_err("the call should fail");
    let status = err.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
    (status, err.code().map(str::to_string))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_fails_requests_as_aws_would_and_pass_through_restores_them() {
    let endpoint = aws().await;
    let proxy = FaultProxy::start(endpoint.port).expect("proxy");
    let sm = client(&proxy.url, &endpoint.region, "AKIDPROXYTEST").await;
    let id = format!("proxy/db-{}", std::process::id());
    sm.create_secret().name(&id).secret_string("v1").send().await.expect("CreateSecret through the proxy");
    let read = sm.get_secret_value().secret_id(&id).send().await.expect("GetSecretValue through the proxy");
    assert_eq!(read.secret_string(), Some("v1"));

    proxy.set(Fault::Throttle);
    assert_eq!(failure(&sm, &id).await, (400, Some("ThrottlingException".to_string())));
    proxy.set(Fault::ServerError(503));
    assert_eq!(failure(&sm, &id).await, (503, Some("ServiceUnavailable".to_string())));
    proxy.set(Fault::ServerError(500));
    assert_eq!(failure(&sm, &id).await, (500, Some("InternalFailure".to_string())));
    proxy.set(Fault::TooManyRequests);
    assert_eq!(failure(&sm, &id).await, (429, None), "a bare 429 carries no AWS error code");

    // Only requests signed with a rejected key fail.
    proxy.set(Fault::RejectAccessKeys(vec!["AKIDPROXYTEST".to_string()]));
    assert_eq!(failure(&sm, &id).await, (400, Some("UnrecognizedClientException".to_string())));
    let other = client(&proxy.url, &endpoint.region, "AKIDOTHERKEY").await;
    other.get_secret_value().secret_id(&id).send().await.expect("another key passes");

    proxy.set(Fault::Delay(Duration::from_millis(300)));
    let started = Instant::now();
    sm.get_secret_value().secret_id(&id).send().await.expect("a delayed answer still arrives");
    assert!(started.elapsed() >= Duration::from_millis(300), "the answer was not held");

    proxy.set(Fault::PassThrough);
    let read = sm.get_secret_value().secret_id(&id).send().await.expect("passes through again");
    assert_eq!(read.secret_string(), Some("v1"));
    let counts = proxy.counts();
    assert_eq!(counts.get("secretsmanager.CreateSecret"), Some(&1));
    assert_eq!(counts.get("secretsmanager.GetSecretValue"), Some(&9), "{counts:?}");
    assert_eq!(proxy.total(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuse_closes_the_port_and_pass_through_opens_it_again() {
    let endpoint = aws().await;
    let proxy = FaultProxy::start(endpoint.port).expect("proxy");
    let sm = client(&proxy.url, &endpoint.region, "AKIDPROXYTEST").await;
    let id = format!("proxy/refuse-{}", std::process::id());
    sm.create_secret().name(&id).secret_string("v1").send().await.expect("CreateSecret");
    let before = Instant::now();

    proxy.set(Fault::Refuse);
    let refused = std::net::TcpStream::connect(("127.0.0.1", proxy.port)).expect_err("the port is closed");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    let err = sm.get_secret_value().secret_id(&id).send().await.expect_err("the provider is down");
    assert!(err.raw_response().is_none(), "no answer at all while refusing");
    assert_eq!(proxy.requests_between(before, Instant::now()), 0, "refused requests never reach the proxy");

    proxy.set(Fault::PassThrough);
    let read = sm.get_secret_value().secret_id(&id).send().await.expect("the same port answers again");
    assert_eq!(read.secret_string(), Some("v1"));
    assert_eq!(proxy.requests_between(before, Instant::now()), 1);
    assert_eq!(proxy.max_per_second(before, Instant::now()), 1);
}
