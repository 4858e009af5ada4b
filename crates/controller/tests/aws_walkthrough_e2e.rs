//! The user story of `walkthrough.md` end to end with the AWS provider: the operator (in-process, as its own
//! ServiceAccount with the shipped ClusterRole) against the real local control plane and a local AWS endpoint
//! whose STS verifies web identity tokens against the apiserver's keys — so IRSA here is TokenRequest plus a
//! real signature, issuer, audience and subject check, not moto accepting any string.
//!
//! Each test has its own namespace and its own AWS endpoint (the IRSA verifier, the call counters and the
//! faults are per endpoint).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use aws_sdk_ssm::types::ParameterType;
use common::{
    Operator, aws_admin_sdk_config, aws_test_api, events_text, eventually, kubectl, logs, registry_with_aws,
    start_operator_with, wait_ready, wait_ready_within, wait_store,
};
use external_secrets_api::{ExternalSecret, SecretStore};
use external_secrets_core::hash::data_hash;
use external_secrets_provider_aws::AwsProvider;
use external_secrets_testsupport::{AwsEndpoint, AwsOptions, Cluster, cluster};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const REGION: &str = "eu-west-1";
/// The role the IRSA ServiceAccount is annotated with, and the only one the verifier lets it assume.
const ROLE: &str = "arn:aws:iam::123456789012:role/appsecrets";
/// The Secrets Manager secret of the walkthrough.
const SECRET_NAME: &str = "prod/app/db";
const DATA_HASH: &str = "reconcile.external-secrets.io/data-hash";

const USERNAME: &str = "walk-admin-do-not-log";
const PASSWORD: &str = "walk-pa55-do-not-log";
const ROTATED: &str = "walk-rotated-pa55-do-not-log";
const PARAM_USERNAME: &str = "param-user-do-not-log";
const PARAM_PASSWORD: &str = "param-pa55-do-not-log";
const PARAM_ROTATED: &str = "param-rotated-pa55-do-not-log";
const PARAM_TOKEN: &str = "param-token-do-not-log";
const PARAM_OTHER: &str = "param-other-do-not-log";
/// Every value a test puts in AWS: none may show up in logs, events or status.
const VALUES: &[&str] =
    &[USERNAME, PASSWORD, ROTATED, PARAM_USERNAME, PARAM_PASSWORD, PARAM_ROTATED, PARAM_TOKEN, PARAM_OTHER];

/// The remote secret: a JSON document with more fields than the two the walkthrough takes.
fn db_document(username: &str, password: &str) -> String {
    json!({"username": username, "password": password, "host": "db.internal", "port": 5432, "engine": "postgres"})
        .to_string()
}

/// `spec.provider.aws` with IRSA through `service_account`.
fn irsa_spec(service: &str, service_account: &str, region: &str) -> Value {
    json!({
        "service": service,
        "region": region,
        "auth": {"jwt": {"serviceAccountRef": {"name": service_account}}},
    })
}

/// The walkthrough's ExternalSecret: two keys of the JSON document `remote_key`.
fn walkthrough_es(name: &str, target: &str, store: &str, interval: &str, remote_key: &str) -> Value {
    json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": name},
        "spec": {
            "refreshInterval": interval,
            "secretStoreRef": {"name": store, "kind": "SecretStore"},
            "target": {"name": target, "creationPolicy": "Owner"},
            "data": [
                {"secretKey": "app-db-username", "remoteRef": {"key": remote_key, "property": "username"}},
                {"secretKey": "app-db-password", "remoteRef": {"key": remote_key, "property": "password"}}
            ]
        }
    })
}

fn data_of(secret: &Secret) -> BTreeMap<String, Vec<u8>> {
    secret.data.clone().unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect()
}

fn assert_no_leak(text: &str, what: &str) {
    for value in VALUES {
        assert!(!text.contains(value), "a secret value appeared in the {what}");
    }
}

/// One test's world: a namespace, its own AWS endpoint, and the operator watching the namespace with an AWS
/// provider pointed at that endpoint.
struct Walkthrough {
    cluster: &'static Cluster,
    admin: kube::Client,
    ns: String,
    endpoint: AwsEndpoint,
    aws: Arc<AwsProvider>,
    op: Operator,
}

impl Walkthrough {
    async fn start(prefix: &str) -> Self {
        let cluster = cluster().await;
        let admin = cluster.admin_client().await.expect("admin client");
        let ns = cluster.namespace(prefix).await.expect("namespace");
        let endpoint = tokio::task::spawn_blocking(|| AwsEndpoint::start(AwsOptions::default()))
            .await
            .expect("endpoint thread")
            .expect("local AWS endpoint");
        let (registry, aws) = registry_with_aws(&endpoint.url);
        let op = start_operator_with(cluster, &ns, registry).await;
        Self { cluster, admin, ns, endpoint, aws, op }
    }

    fn subject(&self, service_account: &str) -> String {
        format!("system:serviceaccount:{}:{service_account}", self.ns)
    }

    /// Step 2: a ServiceAccount annotated with the IAM role it stands for.
    async fn service_account(&self, name: &str, role: &str) {
        let sa: ServiceAccount = serde_json::from_value(json!({
            "metadata": {"name": name, "annotations": {"eks.amazonaws.com/role-arn": role}}
        }))
        .expect("ServiceAccount");
        Api::<ServiceAccount>::namespaced(self.admin.clone(), &self.ns)
            .create(&PostParams::default(), &sa)
            .await
            .expect("create ServiceAccount");
    }

    /// The cluster's IAM OIDC provider, as the endpoint's STS sees it: the apiserver's keys and issuer, and which
    /// subject may assume which role.
    async fn enable_irsa(&self, roles: Value) {
        let request = http::Request::get("/openid/v1/jwks").body(Vec::new()).expect("request");
        let jwks = self.admin.request_text(request).await.expect("JWKS");
        let config = json!({
            "issuer": self.cluster.issuer,
            "jwks": serde_json::from_str::<Value>(&jwks).expect("JWKS JSON"),
            "roles": roles,
        });
        aws_test_api(self.endpoint.port, "POST", "/_esr/irsa", &config.to_string());
    }

    fn secrets_manager(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&aws_admin_sdk_config(&self.endpoint, REGION))
    }

    fn ssm(&self) -> aws_sdk_ssm::Client {
        aws_sdk_ssm::Client::new(&aws_admin_sdk_config(&self.endpoint, REGION))
    }

    /// Calls per operation on this test's endpoint (`secretsmanager.GetSecretValue`, ...).
    fn counters(&self) -> BTreeMap<String, u64> {
        serde_json::from_value(aws_test_api(self.endpoint.port, "GET", "/_esr/counters", "")).expect("counters")
    }

    fn count(&self, operation: &str) -> u64 {
        self.counters().get(operation).copied().unwrap_or(0)
    }

    fn stores(&self) -> Api<SecretStore> {
        Api::namespaced(self.admin.clone(), &self.ns)
    }

    fn external_secrets(&self) -> Api<ExternalSecret> {
        Api::namespaced(self.admin.clone(), &self.ns)
    }

    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.admin.clone(), &self.ns)
    }

    /// A SecretStore for this test's operator (its controller class) with `spec.provider.aws = aws`.
    async fn create_store(&self, name: &str, aws: Value) {
        let store: SecretStore = serde_json::from_value(json!({
            "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
            "metadata": {"name": name},
            "spec": {"controller": self.op.class, "provider": {"aws": aws}}
        }))
        .expect("SecretStore");
        self.stores().create(&PostParams::default(), &store).await.expect("create SecretStore");
    }

    async fn create_es(&self, es: Value) {
        let es: ExternalSecret = serde_json::from_value(es).expect("ExternalSecret");
        self.external_secrets().create(&PostParams::default(), &es).await.expect("create ExternalSecret");
    }

    /// Steps 2 and 3 for `service`: the IRSA ServiceAccount, the verifier trusting it for [`ROLE`], and a store
    /// using it that becomes Ready with reason Valid.
    async fn irsa_store(&self, name: &str, service: &str) {
        self.service_account("appsecrets-sa", ROLE).await;
        self.enable_irsa(json!({ self.subject("appsecrets-sa"): ROLE })).await;
        self.create_store(name, irsa_spec(service, "appsecrets-sa", REGION)).await;
        let (status, _, message) = wait_store(&self.stores(), name, "Valid").await;
        assert_eq!((status.as_str(), message.as_str()), ("True", "store validated"));
    }

    /// No value in the operator's logs, the namespace's events, or any status; then stops the operator.
    async fn finish(self) {
        assert_no_leak(&events_text(&self.admin, &self.ns).await, "events");
        let statuses: Vec<Value> = self
            .external_secrets()
            .list(&ListParams::default())
            .await
            .expect("list ExternalSecrets")
            .items
            .into_iter()
            .map(|es| json!(es.status))
            .chain(
                self.stores()
                    .list(&ListParams::default())
                    .await
                    .expect("list stores")
                    .items
                    .into_iter()
                    .map(|s| json!(s.status)),
            )
            .collect();
        assert_no_leak(&serde_json::to_string(&statuses).expect("JSON"), "status of ExternalSecrets and stores");
        assert_no_leak(&logs(), "operator logs");
        self.op.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walkthrough_irsa_secrets_manager() {
    let w = Walkthrough::start("walk-sm").await;
    w.secrets_manager()
        .create_secret()
        .name(SECRET_NAME)
        .secret_string(db_document(USERNAME, PASSWORD))
        .send()
        .await
        .expect("CreateSecret");

    // Steps 2 and 3: the IRSA ServiceAccount and a store that uses it: Ready, Valid.
    let store_started = Instant::now();
    w.irsa_store("aws-secretsmanager", "SecretsManager").await;
    let store_ready = store_started.elapsed();
    let store = w.stores().get("aws-secretsmanager").await.expect("store");
    assert_eq!(store.status.and_then(|s| s.capabilities).as_deref(), Some("ReadWrite"));
    let listed = kubectl(w.cluster, &["get", "secretstores", "-n", &w.ns]);
    assert!(listed.contains("aws-secretsmanager") && listed.contains("Valid") && listed.contains("True"), "{listed}");

    // Step 4: the ExternalSecret (a short refreshInterval instead of 1h, to see refreshes in the test).
    let es_started = Instant::now();
    w.create_es(walkthrough_es("app", "appsecret", "aws-secretsmanager", "2s", SECRET_NAME)).await;
    let (status, _, message) = wait_ready(&w.external_secrets(), "app", "SecretSynced").await;
    let first_sync = es_started.elapsed();
    assert_eq!((status.as_str(), message.as_str()), ("True", "secret synced"));
    let listed = kubectl(w.cluster, &["get", "externalsecrets", "-n", &w.ns]);
    assert!(listed.contains("SecretSynced") && listed.contains("True"), "{listed}");

    // Step 5: exactly the two keys, the right bytes, Opaque, ESO's data-hash annotation, owned by the ES.
    let secret = w.secrets().get("appsecret").await.expect("target Secret");
    assert_eq!(secret.type_.as_deref(), Some("Opaque"));
    let data = data_of(&secret);
    assert_eq!(data.keys().map(String::as_str).collect::<Vec<_>>(), ["app-db-password", "app-db-username"]);
    assert_eq!(data["app-db-username"], USERNAME.as_bytes());
    assert_eq!(data["app-db-password"], PASSWORD.as_bytes());
    let annotations = secret.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(annotations.get(DATA_HASH), Some(&data_hash(&data)));
    let owner = secret.metadata.owner_references.clone().unwrap_or_default();
    assert!(owner.iter().any(|o| o.kind == "ExternalSecret" && o.name == "app" && o.controller == Some(true)));

    // The token really went through the verifier: the right subject, asking for the annotated role.
    let calls = aws_test_api(w.endpoint.port, "GET", "/_esr/irsa/calls", "");
    let calls = calls.as_array().expect("verified calls");
    assert!(!calls.is_empty(), "AssumeRoleWithWebIdentity was never verified");
    for call in calls {
        assert_eq!(call["sub"], w.subject("appsecrets-sa"), "{call}");
        assert_eq!(call["role"], ROLE, "{call}");
        assert!(call["aud"].to_string().contains("sts.amazonaws.com"), "{call}");
    }

    // Step 7: rotation in Secrets Manager reaches the Secret at the next refresh, nobody touching the cluster.
    let rotated_at = Instant::now();
    w.secrets_manager()
        .put_secret_value()
        .secret_id(SECRET_NAME)
        .secret_string(db_document(USERNAME, ROTATED))
        .send()
        .await
        .expect("PutSecretValue");
    let rotated = eventually(Duration::from_secs(20), || async {
        w.secrets().get("appsecret").await.ok().is_some_and(|s| data_of(&s)["app-db-password"] == ROTATED.as_bytes())
    })
    .await;
    assert!(rotated, "the rotated value should reach the Secret at the next refresh");
    let rotation_latency = rotated_at.elapsed();
    let secret = w.secrets().get("appsecret").await.expect("target Secret");
    let data = data_of(&secret);
    assert_eq!(data["app-db-username"], USERNAME.as_bytes());
    assert_eq!(secret.metadata.annotations.unwrap_or_default().get(DATA_HASH), Some(&data_hash(&data)));
    let events = events_text(&w.admin, &w.ns).await;
    assert!(events.contains("Updated"), "{events}");

    // When nothing changed, nothing is written: several refreshes read Secrets Manager, the Secret stays as is.
    let rv = secret.metadata.resource_version.clone();
    let writes = w.op.context.stats.secret_writes.load(Ordering::Relaxed);
    let reads = w.count("secretsmanager.GetSecretValue");
    let watched_from = Instant::now();
    let refreshed =
        eventually(Duration::from_secs(30), || async { w.count("secretsmanager.GetSecretValue") >= reads + 3 }).await;
    assert!(refreshed, "three more refreshes (every 2 s) should have read the secret");
    let watched = watched_from.elapsed();
    let after = w.secrets().get("appsecret").await.expect("target Secret");
    assert_eq!(after.metadata.resource_version, rv, "an unchanged value must not rewrite the Secret");
    assert_eq!(w.op.context.stats.secret_writes.load(Ordering::Relaxed), writes, "no Secret writes");
    let stats = w.aws.stats();
    println!(
        "walkthrough: store Ready in {store_ready:?}, first sync in {first_sync:?}, rotation visible after \
         {rotation_latency:?}, 3 refreshes without a write in {watched:?}; TokenRequests {}, STS calls {}, \
         AssumeRoleWithWebIdentity at the endpoint {}",
        stats.token_requests,
        stats.sts_calls,
        w.count("sts.AssumeRoleWithWebIdentity")
    );
    assert_eq!(stats.token_requests, 1, "one TokenRequest for the whole test");
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walkthrough_parameter_store() {
    let w = Walkthrough::start("walk-ssm").await;
    let ssm = w.ssm();
    for (name, value) in [
        ("/app/db/username", PARAM_USERNAME),
        ("/app/db/password", PARAM_PASSWORD),
        ("/app/db/tls/token", PARAM_TOKEN),
        ("/other/api-key", PARAM_OTHER),
    ] {
        ssm.put_parameter()
            .name(name)
            .value(value)
            .r#type(ParameterType::SecureString)
            .send()
            .await
            .expect("PutParameter");
    }
    w.irsa_store("aws-parameterstore", "ParameterStore").await;

    // A key by parameter name, and every parameter under a path (recursively), keys converted as ESO does.
    w.create_es(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": "params"},
        "spec": {
            "refreshInterval": "2s",
            "secretStoreRef": {"name": "aws-parameterstore", "kind": "SecretStore"},
            "target": {"name": "app-params"},
            "data": [{"secretKey": "db-password", "remoteRef": {"key": "/app/db/password"}}],
            "dataFrom": [{"find": {"path": "/app/db", "name": {"regexp": ".*"}}}]
        }
    }))
    .await;
    wait_ready(&w.external_secrets(), "params", "SecretSynced").await;
    let secret = w.secrets().get("app-params").await.expect("target Secret");
    assert_eq!(secret.type_.as_deref(), Some("Opaque"));
    let data = data_of(&secret);
    let expected: BTreeMap<String, Vec<u8>> = [
        ("_app_db_password", PARAM_PASSWORD),
        ("_app_db_tls_token", PARAM_TOKEN),
        ("_app_db_username", PARAM_USERNAME),
        ("db-password", PARAM_PASSWORD),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
    .collect();
    assert_eq!(data, expected, "by name, plus everything under /app/db and nothing else");
    assert_eq!(secret.metadata.annotations.unwrap_or_default().get(DATA_HASH), Some(&data_hash(&data)));
    let calls = aws_test_api(w.endpoint.port, "GET", "/_esr/irsa/calls", "");
    assert!(
        calls.as_array().expect("calls").iter().all(|c| c["sub"] == w.subject("appsecrets-sa") && c["role"] == ROLE),
        "{calls}"
    );

    // Rotation of a parameter reaches both keys that hold it.
    ssm.put_parameter()
        .name("/app/db/password")
        .value(PARAM_ROTATED)
        .r#type(ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .expect("PutParameter (overwrite)");
    let rotated = eventually(Duration::from_secs(20), || async {
        w.secrets().get("app-params").await.ok().is_some_and(|s| {
            let data = data_of(&s);
            data.get("db-password").map(Vec::as_slice) == Some(PARAM_ROTATED.as_bytes())
                && data.get("_app_db_password").map(Vec::as_slice) == Some(PARAM_ROTATED.as_bytes())
        })
    })
    .await;
    assert!(rotated, "the rotated parameter should reach the Secret at the next refresh");
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_external_secrets_on_one_irsa_store_cost_about_one_sts_and_token_request() {
    const COUNT: usize = 50;
    let w = Walkthrough::start("walk-fifty").await;
    w.secrets_manager()
        .create_secret()
        .name(SECRET_NAME)
        .secret_string(db_document(USERNAME, PASSWORD))
        .send()
        .await
        .expect("CreateSecret");
    w.irsa_store("aws", "SecretsManager").await;

    let started = Instant::now();
    for i in 0..COUNT {
        w.create_es(walkthrough_es(&format!("app-{i:02}"), &format!("app-{i:02}-secret"), "aws", "1h", SECRET_NAME))
            .await;
    }
    let synced = |list: &[ExternalSecret]| {
        list.iter()
            .filter(|es| {
                es.status
                    .as_ref()
                    .and_then(|s| s.condition("Ready"))
                    .is_some_and(|c| c.status == "True" && c.reason.as_deref() == Some("SecretSynced"))
            })
            .count()
    };
    let all_synced = eventually(Duration::from_secs(120), || async {
        w.external_secrets().list(&ListParams::default()).await.is_ok_and(|l| synced(&l.items) == COUNT)
    })
    .await;
    let elapsed = started.elapsed();
    let list = w.external_secrets().list(&ListParams::default()).await.expect("list").items;
    assert!(all_synced, "only {} of {COUNT} ExternalSecrets synced within 120 s", synced(&list));
    for i in 0..COUNT {
        let secret = w.secrets().get(&format!("app-{i:02}-secret")).await.expect("target Secret");
        assert_eq!(data_of(&secret)["app-db-password"], PASSWORD.as_bytes());
    }

    let counters = w.counters();
    let count = |op: &str| counters.get(op).copied().unwrap_or(0);
    let sts = count("sts.AssumeRoleWithWebIdentity");
    let sm_reads = count("secretsmanager.GetSecretValue") + count("secretsmanager.BatchGetSecretValue");
    let stats = w.aws.stats();
    let writes = w.op.context.stats.secret_writes.load(Ordering::Relaxed);
    let measured = format!(
        "{COUNT} ExternalSecrets synced in {elapsed:?}: AssumeRoleWithWebIdentity {sts}, TokenRequests {}, \
         Secrets Manager reads {sm_reads}, Secret writes {writes}, SDK clients built {}, identities {}; all calls \
         {counters:?}",
        stats.token_requests, stats.clients_built, stats.identities_built
    );
    println!("{measured}");
    assert!(sts <= 2, "{measured}");
    assert!(stats.token_requests <= 2, "{measured}");
    assert!(sm_reads <= COUNT as u64, "at most one read per ExternalSecret: {measured}");
    assert_eq!(writes, COUNT as u64, "one write per target Secret: {measured}");

    // Drift is still repaired at once, long before the next (hourly) refresh: a deleted Secret comes back, an
    // edited one is restored.
    let drifted = Instant::now();
    w.secrets().delete("app-00-secret", &DeleteParams::default()).await.expect("delete a target Secret");
    let tamper = json!({"data": {"app-db-password": ByteString(b"tampered".to_vec())}});
    w.secrets().patch("app-01-secret", &PatchParams::default(), &Patch::Merge(&tamper)).await.expect("edit");
    let repaired = eventually(Duration::from_secs(30), || async {
        let mut repaired = true;
        for name in ["app-00-secret", "app-01-secret"] {
            let password =
                w.secrets().get_opt(name).await.ok().flatten().map(|s| data_of(&s)["app-db-password"].clone());
            repaired &= password.as_deref() == Some(PASSWORD.as_bytes());
        }
        repaired
    })
    .await;
    assert!(repaired, "a deleted or edited target Secret should be repaired without waiting for the refresh");
    println!("a deleted and an edited target Secret were repaired in {:?}", drifted.elapsed());
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_refreshes_of_many_external_secrets_share_reads_of_one_key() {
    const COUNT: usize = 20;
    let w = Walkthrough::start("walk-shared").await;
    w.secrets_manager()
        .create_secret()
        .name(SECRET_NAME)
        .secret_string(db_document(USERNAME, PASSWORD))
        .send()
        .await
        .expect("CreateSecret");
    w.irsa_store("aws", "SecretsManager").await;
    for i in 0..COUNT {
        w.create_es(walkthrough_es(&format!("s-{i:02}"), &format!("s-{i:02}-secret"), "aws", "20s", SECRET_NAME)).await;
    }
    let refresh_times = || async {
        let list = w.external_secrets().list(&ListParams::default()).await.expect("list").items;
        list.iter()
            .filter_map(|es| {
                es.status.as_ref().and_then(|s| s.refresh_time.clone()).map(|t| (es.metadata.name.clone(), t.0))
            })
            .collect::<BTreeMap<_, _>>()
    };
    let all_synced = eventually(Duration::from_secs(60), || async { refresh_times().await.len() == COUNT }).await;
    assert!(all_synced, "all {COUNT} ExternalSecrets should sync");
    let first = refresh_times().await;
    aws_test_api(w.endpoint.port, "DELETE", "/_esr/counters", "");

    // One periodic refresh of every ExternalSecret (20 s interval, up to +10 % jitter).
    let refreshed = eventually(Duration::from_secs(45), || async {
        let now = refresh_times().await;
        now.len() == COUNT && now.iter().all(|(name, t)| first.get(name).is_some_and(|f| t > f))
    })
    .await;
    assert!(refreshed, "every ExternalSecret should refresh once");
    let reads = w.count("secretsmanager.GetSecretValue") + w.count("secretsmanager.BatchGetSecretValue");
    println!("{COUNT} periodic refreshes of one remote key cost {reads} Secrets Manager reads");
    assert!(
        reads * 2 <= COUNT as u64,
        "refreshes of ExternalSecrets wanting the same key should share reads: {reads} reads for {COUNT} refreshes"
    );
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_and_es_report_failures_and_recover() {
    let w = Walkthrough::start("walk-fail").await;
    w.secrets_manager()
        .create_secret()
        .name(SECRET_NAME)
        .secret_string(db_document(USERNAME, PASSWORD))
        .send()
        .await
        .expect("CreateSecret");
    let untrusted_role = "arn:aws:iam::123456789012:role/not-trusted";
    w.service_account("wrong-role-sa", untrusted_role).await;
    // Also enables the verifier, trusting only appsecrets-sa for ROLE.
    w.irsa_store("aws", "SecretsManager").await;
    let ess = w.external_secrets();

    // A ServiceAccount annotated with a role the identity provider does not let it assume.
    w.create_store("wrong-role", irsa_spec("SecretsManager", "wrong-role-sa", REGION)).await;
    let (status, _, message) = wait_store(&w.stores(), "wrong-role", "InvalidProviderConfig").await;
    assert_eq!(status, "False");
    assert!(message.starts_with("unable to validate store: access denied: "), "{message}");
    assert!(
        message.contains("wrong-role-sa") && message.contains("AccessDenied") && message.contains(untrusted_role),
        "the message names the ServiceAccount, the refusal and the role: {message}"
    );
    println!("store with a role the ServiceAccount may not assume: {message}");
    // A region that is not one.
    w.create_store("bad-region", irsa_spec("SecretsManager", "appsecrets-sa", "eu west 1")).await;
    let (status, _, message) = wait_store(&w.stores(), "bad-region", "InvalidProviderConfig").await;
    assert_eq!(status, "False");
    assert!(message.contains("region") && message.contains("eu west 1"), "{message}");
    // ExternalSecrets on those stores say which store is the problem.
    for store in ["wrong-role", "bad-region"] {
        w.create_es(walkthrough_es(&format!("on-{store}"), &format!("on-{store}"), store, "2s", SECRET_NAME)).await;
        let (status, _, message) = wait_ready(&ess, &format!("on-{store}"), "SecretSyncedError").await;
        assert_eq!(status, "False");
        assert!(message.contains(&format!("SecretStore \"{store}\" is not ready")), "{message}");
        assert!(w.secrets().get_opt(&format!("on-{store}")).await.expect("get").is_none());
    }

    // A working ExternalSecret, then failures at AWS: each is reported, the Secret is left alone, and the
    // ExternalSecret recovers by itself once AWS works again.
    w.create_es(walkthrough_es("app", "appsecret", "aws", "2s", SECRET_NAME)).await;
    wait_ready(&ess, "app", "SecretSynced").await;
    let before = w.secrets().get("appsecret").await.expect("target Secret");
    let faults = [
        (json!({"operation": "GetSecretValue", "mode": "deny", "count": -1}), "AccessDeniedException"),
        (json!({"operation": "GetSecretValue", "mode": "error500", "count": -1}), "InternalServiceError"),
    ];
    let mut recoveries = Vec::new();
    for (fault, code) in faults {
        aws_test_api(w.endpoint.port, "POST", "/_esr/faults", &fault.to_string());
        let (status, _, message) = wait_ready_within(&ess, "app", "SecretSyncedError", Duration::from_secs(60)).await;
        assert_eq!(status, "False");
        assert!(message.contains(code) && message.contains(SECRET_NAME), "{message}");
        println!("ExternalSecret while {code}: {message}");
        let during = w.secrets().get("appsecret").await.expect("target Secret");
        assert_eq!(during.metadata.resource_version, before.metadata.resource_version, "a failure must not write");
        assert_eq!(data_of(&during), data_of(&before));

        aws_test_api(w.endpoint.port, "DELETE", "/_esr/faults", "");
        let cleared = Instant::now();
        let (status, _, _) = wait_ready_within(&ess, "app", "SecretSynced", Duration::from_secs(60)).await;
        assert_eq!(status, "True");
        recoveries.push((code, cleared.elapsed()));
        let after = w.secrets().get("appsecret").await.expect("target Secret");
        assert_eq!(after.metadata.resource_version, before.metadata.resource_version, "nothing changed, no write");
    }
    println!("recovered after the fault was cleared: {recoveries:?}");
    let events = events_text(&w.admin, &w.ns).await;
    assert!(events.contains("UpdateFailed") && events.contains("InvalidProviderConfig"), "{events}");
    w.finish().await;
}

/// The walkthrough's IAM policy — `GetSecretValue` and `DescribeSecret` on the application's secrets, nothing
/// else — enforced for the assumed role by the endpoint: an ExternalSecret reading two secrets syncs every key,
/// the refused batch read is not asked again at every refresh, and nothing in the status or the events alarms
/// the user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walkthrough_iam_policy_without_batch_reads_syncs_every_key_quietly() {
    let w = Walkthrough::start("walk-least").await;
    let sm = w.secrets_manager();
    let mut arns = Vec::new();
    for (name, value) in
        [(SECRET_NAME, db_document(USERNAME, PASSWORD)), ("prod/app/api", json!({"token": ROTATED}).to_string())]
    {
        let created = sm.create_secret().name(name).secret_string(value).send().await.expect("CreateSecret");
        arns.push(created.arn().expect("ARN").to_string());
    }
    let policy = json!({"principals": {ROLE: [{"effect": "Allow",
        "actions": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"], "resources": arns}]}});
    aws_test_api(w.endpoint.port, "POST", "/_esr/iam", &policy.to_string());
    w.irsa_store("aws-secretsmanager", "SecretsManager").await;
    let mut es = walkthrough_es("app", "appsecret", "aws-secretsmanager", "2s", SECRET_NAME);
    es["spec"]["data"]
        .as_array_mut()
        .expect("data")
        .push(json!({"secretKey": "api-token", "remoteRef": {"key": "prod/app/api", "property": "token"}}));
    w.create_es(es).await;
    let (status, _, message) = wait_ready(&w.external_secrets(), "app", "SecretSynced").await;
    assert_eq!((status.as_str(), message.as_str()), ("True", "secret synced"));
    let data = data_of(&w.secrets().get("appsecret").await.expect("target Secret"));
    assert_eq!(
        data.keys().map(String::as_str).collect::<Vec<_>>(),
        ["api-token", "app-db-password", "app-db-username"]
    );
    assert_eq!(data["api-token"], ROTATED.as_bytes());
    assert_eq!(data["app-db-password"], PASSWORD.as_bytes());

    // Refreshes every 2 s read key by key; the batch call the policy refuses is not tried again.
    let batch_calls = w.count("secretsmanager.BatchGetSecretValue");
    let reads = w.count("secretsmanager.GetSecretValue");
    let refreshed =
        eventually(Duration::from_secs(30), || async { w.count("secretsmanager.GetSecretValue") >= reads + 4 }).await;
    assert!(refreshed, "two more refreshes should have read both secrets");
    assert_eq!(batch_calls, 1, "one batch read, which the policy refuses");
    assert_eq!(w.count("secretsmanager.BatchGetSecretValue"), batch_calls, "the refusal is remembered");

    let (status, reason, message) = wait_ready(&w.external_secrets(), "app", "SecretSynced").await;
    assert_eq!((status.as_str(), reason.as_str(), message.as_str()), ("True", "SecretSynced", "secret synced"));
    wait_store(&w.stores(), "aws-secretsmanager", "Valid").await;
    let events = events_text(&w.admin, &w.ns).await;
    assert!(
        !events.contains("Warning") && !events.contains("UpdateFailed") && !events.contains("AccessDenied"),
        "{events}"
    );
    w.finish().await;
}
