//! Identities whose IAM policy allows single reads only (as the walkthrough's policy does: `GetSecretValue` and
//! `DescribeSecret` on the secrets' ARNs), enforced by the endpoint's policy layer: the batch APIs are refused, every
//! key still syncs, and the refusal is remembered for the identity instead of being asked again on every refresh.

use aws_sdk_ssm::types::ParameterType;
use external_secrets_api::SecretStoreRetrySettings;
use external_secrets_provider::{DynProvider, MetadataPolicy, RemoteKey, StoreClient, StoreContext};
use serde_json::{Value, json};

use crate::common::{TestEnv, count, isolated_endpoint, set_policies, text};

const ACCOUNT: &str = "123456789012";

/// A store in the test namespace that assumes `role` with the static keys; `second` makes it another store (another
/// name and other retry settings, hence another SDK client) with the same identity.
fn role_store(env: &TestEnv, service: &str, role: &str, second: bool) -> StoreContext {
    let mut spec = env.static_spec(service);
    spec["role"] = role.into();
    if !second {
        return env.store(spec);
    }
    let mut spec = crate::common::spec(spec);
    spec.retry_settings = Some(SecretStoreRetrySettings { max_retries: Some(5), retry_interval: None });
    env.store_named("second-store", spec)
}

/// Reads `keys` twice (two refreshes) through `client`; every answer must be a value.
async fn refresh_twice(client: &dyn StoreClient, keys: &[RemoteKey]) -> Vec<String> {
    let mut values = Vec::new();
    for _ in 0..2 {
        for result in client.get_many(keys).await {
            values.push(text(&result));
        }
    }
    values
}

fn allow(actions: &[&str], resources: Value) -> Value {
    json!([{"effect": "Allow", "actions": actions, "resources": resources}])
}

#[tokio::test]
async fn secrets_manager_without_batch_permission_reads_key_by_key_and_remembers_the_refusal() {
    let endpoint = isolated_endpoint().await;
    let env = TestEnv::with_endpoint("least-sm", &endpoint.url, endpoint.port).await;
    let sm = env.sm_admin();
    let mut names = Vec::new();
    let mut arns = Vec::new();
    for i in 0..3 {
        let name = format!("{}/app/{i}", env.ns);
        let created = sm.create_secret().name(&name).secret_string(format!("v{i}")).send().await.expect("CreateSecret");
        arns.push(created.arn().expect("ARN").to_string());
        names.push(name);
    }
    let reader = format!("arn:aws:iam::{ACCOUNT}:role/{}-reader", env.ns);
    let batcher = format!("arn:aws:iam::{ACCOUNT}:role/{}-batcher", env.ns);
    set_policies(
        env.port,
        json!({
            &reader: allow(&["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"], json!(arns)),
            &batcher: allow(&["secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue"], json!(["*"])),
        }),
    );
    let mut keys: Vec<RemoteKey> = names.iter().map(RemoteKey::value).collect();
    keys.push(RemoteKey { key: names[0].clone(), version: None, metadata_policy: MetadataPolicy::Fetch });
    let expected: Vec<String> = ["v0", "v1", "v2", "{}"].iter().map(|v| v.to_string()).collect();
    let provider = env.provider();

    let client = provider.client(&role_store(&env, "SecretsManager", &reader, false)).await.expect("client");
    assert_eq!(refresh_twice(client.as_ref(), &keys).await, [expected.clone(), expected.clone()].concat());
    let second = provider.client(&role_store(&env, "SecretsManager", &reader, true)).await.expect("client");
    assert_eq!(refresh_twice(second.as_ref(), &keys).await, [expected.clone(), expected.clone()].concat());
    let counters = env.counters();
    assert_eq!(count(&counters, "secretsmanager.BatchGetSecretValue"), 1, "asked once for the identity: {counters:?}");
    assert_eq!(count(&counters, "secretsmanager.GetSecretValue"), 12, "3 values x 2 refreshes x 2 stores");
    assert_eq!(count(&counters, "secretsmanager.DescribeSecret"), 4);

    // Another identity that may use the batch API still does.
    let client = provider.client(&role_store(&env, "SecretsManager", &batcher, false)).await.expect("client");
    let values: Vec<String> = client.get_many(&keys[..3]).await.iter().map(text).collect();
    assert_eq!(values, expected[..3]);
    let counters = env.counters();
    assert_eq!(count(&counters, "secretsmanager.BatchGetSecretValue"), 2, "{counters:?}");
    assert_eq!(count(&counters, "secretsmanager.GetSecretValue"), 12);
}

#[tokio::test]
async fn parameter_store_without_get_parameters_reads_key_by_key_and_remembers_the_refusal() {
    let endpoint = isolated_endpoint().await;
    let env = TestEnv::with_endpoint("least-ssm", &endpoint.url, endpoint.port).await;
    let ssm = env.ssm_admin();
    let names: Vec<String> = (0..3).map(|i| format!("/{}/app/p{i}", env.ns)).collect();
    for (i, name) in names.iter().enumerate() {
        ssm.put_parameter()
            .name(name)
            .value(format!("v{i}"))
            .r#type(ParameterType::SecureString)
            .send()
            .await
            .expect("PutParameter");
    }
    let reader = format!("arn:aws:iam::{ACCOUNT}:role/{}-reader", env.ns);
    let resources = json!([format!("arn:aws:ssm:{}:{ACCOUNT}:parameter/{}/app/*", env.region, env.ns)]);
    set_policies(env.port, json!({ &reader: allow(&["ssm:GetParameter"], resources) }));
    let keys: Vec<RemoteKey> = names.iter().map(RemoteKey::value).collect();
    let expected: Vec<String> = ["v0", "v1", "v2"].iter().map(|v| v.to_string()).collect();
    let provider = env.provider();

    let client = provider.client(&role_store(&env, "ParameterStore", &reader, false)).await.expect("client");
    assert_eq!(refresh_twice(client.as_ref(), &keys).await, [expected.clone(), expected.clone()].concat());
    let second = provider.client(&role_store(&env, "ParameterStore", &reader, true)).await.expect("client");
    assert_eq!(refresh_twice(second.as_ref(), &keys).await, [expected.clone(), expected].concat());
    let counters = env.counters();
    assert_eq!(count(&counters, "ssm.GetParameters"), 1, "asked once for the identity: {counters:?}");
    assert_eq!(count(&counters, "ssm.GetParameter"), 12, "3 values x 2 refreshes x 2 stores");
}
