//! Shared set-up: a namespace with static AWS keys in a Secret, store contexts, admin SDK clients that create the
//! remote secrets, and the local endpoint's test API (counters, faults, IRSA verifier).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_smithy_http_client::tls;
use external_secrets_api::SecretStoreSpec;
use external_secrets_provider::{DynProvider, ProviderError, StoreClient, StoreContext, StoreScope};
use external_secrets_provider_aws::{AwsProvider, Endpoints};
use external_secrets_testsupport::{AwsEndpoint, AwsOptions, aws, cluster};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, PostParams};
use serde_json::{Value, json};

/// Name of the Secret holding the static keys in every test namespace.
pub const CREDS_SECRET: &str = "aws-creds";

/// One test's world: its namespace (whose name makes remote names unique), a kube client, the AWS endpoint.
pub struct TestEnv {
    pub kube: kube::Client,
    pub ns: String,
    pub url: String,
    pub port: u16,
    pub region: String,
}

impl TestEnv {
    /// A fresh namespace with the static keys Secret, against the binary's shared AWS endpoint.
    pub async fn new(prefix: &str) -> Self {
        let aws = aws().await;
        Self::with_endpoint(prefix, &aws.url, aws.port).await
    }

    /// As [`TestEnv::new`], against another endpoint.
    pub async fn with_endpoint(prefix: &str, url: &str, port: u16) -> Self {
        let cluster = cluster().await;
        let kube = cluster.admin_client().await.expect("admin client");
        let ns = cluster.namespace(prefix).await.expect("namespace");
        let aws = aws().await;
        let env = Self { kube, ns, url: url.to_string(), port, region: aws.region.clone() };
        env.create_secret(
            CREDS_SECRET,
            &[("access-key-id", aws.access_key_id.as_str()), ("secret-access-key", aws.secret_access_key.as_str())],
        )
        .await;
        env
    }

    /// Creates a Secret in the test namespace.
    pub async fn create_secret(&self, name: &str, data: &[(&str, &str)]) {
        let api: Api<Secret> = Api::namespaced(self.kube.clone(), &self.ns);
        let data: BTreeMap<String, ByteString> =
            data.iter().map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec()))).collect();
        let secret = Secret {
            metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
            data: Some(data),
            ..Default::default()
        };
        api.create(&PostParams::default(), &secret).await.expect("create Secret");
    }

    /// A provider pointed at this test's endpoint.
    pub fn provider(&self) -> AwsProvider {
        AwsProvider::with_endpoints(Endpoints::all(&self.url))
    }

    /// A SecretStore context in the test namespace for `spec.provider.aws = aws`.
    pub fn store(&self, aws: Value) -> StoreContext {
        self.store_named("aws-store", spec(aws))
    }

    /// A SecretStore context named `name` in the test namespace with the whole store `spec`.
    pub fn store_named(&self, name: &str, spec: SecretStoreSpec) -> StoreContext {
        StoreContext::new(self.kube.clone(), StoreScope::secret_store(&self.ns, name), spec)
    }

    /// `spec.provider.aws` for `service` with the static keys of [`CREDS_SECRET`].
    pub fn static_spec(&self, service: &str) -> Value {
        json!({
            "service": service,
            "region": self.region,
            "auth": {"secretRef": {
                "accessKeyIDSecretRef": {"name": CREDS_SECRET, "key": "access-key-id"},
                "secretAccessKeySecretRef": {"name": CREDS_SECRET, "key": "secret-access-key"},
            }},
        })
    }

    /// `spec.provider.aws` for `service` with static keys whose access key id is `access_key_id` (stored in a new
    /// Secret named `secret`): a principal of its own for the endpoint's identity policies.
    pub async fn static_spec_with_key(&self, service: &str, secret: &str, access_key_id: &str) -> Value {
        self.create_secret(secret, &[("access-key-id", access_key_id), ("secret-access-key", "unchecked")]).await;
        json!({
            "service": service,
            "region": self.region,
            "auth": {"secretRef": {
                "accessKeyIDSecretRef": {"name": secret, "key": "access-key-id"},
                "secretAccessKeySecretRef": {"name": secret, "key": "secret-access-key"},
            }},
        })
    }

    /// A client for a SecretStore with static keys, for `service`.
    pub async fn static_client(&self, provider: &AwsProvider, service: &str) -> Arc<dyn StoreClient> {
        provider.client(&self.store(self.static_spec(service))).await.expect("store client")
    }

    /// An admin Secrets Manager client (static test keys).
    pub fn sm_admin(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::config::Builder::from(&self.sdk_config(admin_credentials())).build(),
        )
    }

    /// An admin SSM client (static test keys).
    pub fn ssm_admin(&self) -> aws_sdk_ssm::Client {
        aws_sdk_ssm::Client::from_conf(
            aws_sdk_ssm::config::Builder::from(&self.sdk_config(admin_credentials())).build(),
        )
    }

    /// An SDK config for this endpoint with `credentials`.
    pub fn sdk_config(&self, credentials: Credentials) -> aws_config::SdkConfig {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
            .build_https();
        aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(http)
            .region(aws_config::Region::new(self.region.clone()))
            .endpoint_url(&self.url)
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(credentials))
            .build()
    }

    /// Calls per operation so far on this test's endpoint.
    pub fn counters(&self) -> BTreeMap<String, u64> {
        counters(self.port)
    }
}

/// The admin keys (moto does not check them).
pub fn admin_credentials() -> Credentials {
    Credentials::new("AKIAIOSFODNN7EXAMPLE", "test-secret-access-key", None, None, "test")
}

/// A store spec with `spec.provider.aws = aws`.
pub fn spec(aws: Value) -> SecretStoreSpec {
    serde_json::from_value(json!({"provider": {"aws": aws}})).expect("store spec")
}

/// A second endpoint, for tests that count calls exactly or configure the endpoint process-wide.
pub async fn isolated_endpoint() -> AwsEndpoint {
    tokio::task::spawn_blocking(|| AwsEndpoint::start(AwsOptions::default()))
        .await
        .expect("start endpoint thread")
        .expect("start isolated AWS endpoint")
}

/// A minimal HTTP/1.0 call to the endpoint's test API; the JSON answer.
pub fn test_api(port: u16, method: &str, path: &str, body: &str) -> Value {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to the test API");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    assert!(resp.starts_with("HTTP/1.0 200") || resp.starts_with("HTTP/1.1 200"), "{resp}");
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    serde_json::from_str(body).expect("JSON answer")
}

/// Calls per operation (`secretsmanager.GetSecretValue`, `sts.AssumeRole`, ...).
pub fn counters(port: u16) -> BTreeMap<String, u64> {
    serde_json::from_value(test_api(port, "GET", "/_esr/counters", "")).expect("counters")
}

/// Gives principals (role ARNs, or access key ids of static keys) an identity policy at the endpoint:
/// `{PRINCIPAL: [{"effect": "Allow"|"Deny", "actions": [...], "resources": [...]}]}` (see `hack/aws_endpoint.py`).
pub fn set_policies(port: u16, principals: Value) {
    test_api(port, "POST", "/_esr/iam", &json!({ "principals": principals }).to_string());
}

/// When the endpoint received each call of `operation` (unix seconds), in order.
pub fn call_times(port: u16, operation: &str) -> Vec<f64> {
    let calls = test_api(port, "GET", "/_esr/calls", "");
    calls
        .as_array()
        .expect("a list of calls")
        .iter()
        .filter(|call| call["operation"] == operation)
        .map(|call| call["at"].as_f64().expect("a time"))
        .collect()
}

/// The count of one operation.
pub fn count(counters: &BTreeMap<String, u64>, operation: &str) -> u64 {
    counters.get(operation).copied().unwrap_or(0)
}

/// The text of a value (test data only).
pub fn text(value: &Result<external_secrets_provider::RemoteValue, ProviderError>) -> String {
    match value {
        Ok(v) => String::from_utf8(v.bytes.expose().to_vec()).expect("UTF-8 value"),
        Err(e) => panic!("expected a value, got {e}"),
    }
}
