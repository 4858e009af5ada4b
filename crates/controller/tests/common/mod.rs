//! The operator under test, in-process, authenticated as its own ServiceAccount with the ClusterRole from
//! `deploy/rbac/controller-clusterrole.yaml` (not as admin), against the real local control plane.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
#![allow(dead_code)]

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use external_secrets_api::{ExternalSecret, SecretStore};
use external_secrets_controller::{Context, ControllerConfig};
use external_secrets_provider::ProviderRegistry;
use external_secrets_provider_aws::{AwsProvider, Endpoints};
use external_secrets_testsupport::{AwsEndpoint, Cluster, cluster, tools};
use k8s_openapi::api::core::v1::{ConfigMap, Event as CoreEvent, Secret, ServiceAccount};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding, RoleRef, Subject};
use kube::api::{Api, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tokio::sync::{OnceCell, oneshot};

/// Everything the operator logged in this test binary (shared: tests grep it for secret values).
pub static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logs() {
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = LogWriter(buf.clone());
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug,kube_client=info,hyper=info,tower=info,h2=info,rustls=info")
            .with_writer(move || writer.clone())
            .json()
            .try_init();
        buf
    });
}

/// The captured operator logs so far.
pub fn logs() -> String {
    LOGS.get()
        .map(|b| String::from_utf8_lossy(&b.lock().unwrap_or_else(|p| p.into_inner())).into_owned())
        .unwrap_or_default()
}

static CRDS: OnceCell<()> = OnceCell::const_new();

/// Installs the CRDs once per test binary and waits until they are established.
pub async fn install_crds(cluster: &Cluster) {
    CRDS.get_or_init(|| async {
        let client = cluster.admin_client().await.expect("admin client");
        external_secrets_testsupport::apply_crds(&client, external_secrets_api::crds()).await.expect("CRDs");
    })
    .await;
}

pub use external_secrets_testsupport::eventually;

/// A running operator.
pub struct Operator {
    pub context: Arc<Context>,
    pub class: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Operator {
    /// Stops the operator and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The providers the tests use.
pub fn registry() -> ProviderRegistry {
    ProviderRegistry::new()
        .with(Arc::new(external_secrets_provider_fake::FakeProvider::new()))
        .with(Arc::new(external_secrets_provider_kubernetes::KubernetesProvider::new()))
        .with(Arc::new(external_secrets_provider_vault::VaultProvider::new()))
}

/// Creates the operator's ServiceAccount in `namespace`, binds the shipped ClusterRole to it, and returns a
/// client authenticated as that ServiceAccount.
pub async fn operator_client(cluster: &Cluster, namespace: &str) -> kube::Client {
    let admin = cluster.admin_client().await.expect("admin client");
    let sas: Api<ServiceAccount> = Api::namespaced(admin.clone(), namespace);
    let sa = ServiceAccount {
        metadata: ObjectMeta { name: Some("external-secrets".into()), ..Default::default() },
        ..Default::default()
    };
    sas.create(&PostParams::default(), &sa).await.expect("operator ServiceAccount");

    let yaml =
        std::fs::read_to_string(tools::repo_root().join("deploy/rbac/controller-clusterrole.yaml")).expect("rbac");
    let mut role: ClusterRole = serde_yaml::from_str(&yaml).expect("ClusterRole YAML");
    let role_name = format!("external-secrets-controller-{namespace}");
    role.metadata.name = Some(role_name.clone());
    Api::<ClusterRole>::all(admin.clone()).create(&PostParams::default(), &role).await.expect("ClusterRole");
    let binding = ClusterRoleBinding {
        metadata: ObjectMeta { name: Some(role_name.clone()), ..Default::default() },
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "ClusterRole".into(),
            name: role_name,
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: "external-secrets".into(),
            namespace: Some(namespace.into()),
            ..Default::default()
        }]),
    };
    Api::<ClusterRoleBinding>::all(admin.clone())
        .create(&PostParams::default(), &binding)
        .await
        .expect("ClusterRoleBinding");

    // Leader election: a Role in the operator's own namespace only (deploy/rbac/controller-leader-election-role.yaml).
    let yaml = std::fs::read_to_string(tools::repo_root().join("deploy/rbac/controller-leader-election-role.yaml"))
        .expect("leader election Role");
    let role: Role = serde_yaml::from_str(&yaml).expect("Role YAML");
    let role_name = role.metadata.name.clone().expect("Role name");
    Api::<Role>::namespaced(admin.clone(), namespace).create(&PostParams::default(), &role).await.expect("Role");
    let binding = RoleBinding {
        metadata: ObjectMeta { name: Some(role_name.clone()), ..Default::default() },
        role_ref: RoleRef { api_group: Some("rbac.authorization.k8s.io".into()), kind: "Role".into(), name: role_name },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: "external-secrets".into(),
            namespace: Some(namespace.into()),
            ..Default::default()
        }]),
    };
    Api::<RoleBinding>::namespaced(admin, namespace)
        .create(&PostParams::default(), &binding)
        .await
        .expect("RoleBinding");
    cluster.service_account_client(namespace, "external-secrets").await.expect("operator client")
}

/// Binds `role` (renamed after `namespace`) to the operator's ServiceAccount in `namespace` (made by
/// [`operator_client`]), beside the shipped ClusterRole: what a user grants on top of the chart's defaults.
pub async fn grant_operator(cluster: &Cluster, namespace: &str, mut role: ClusterRole) {
    let admin = cluster.admin_client().await.expect("admin client");
    let name = format!("{}-{namespace}", role.metadata.name.clone().unwrap_or_default());
    role.metadata.name = Some(name.clone());
    Api::<ClusterRole>::all(admin.clone()).create(&PostParams::default(), &role).await.expect("ClusterRole");
    let binding = ClusterRoleBinding {
        metadata: ObjectMeta { name: Some(name.clone()), ..Default::default() },
        role_ref: RoleRef { api_group: Some("rbac.authorization.k8s.io".into()), kind: "ClusterRole".into(), name },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: "external-secrets".into(),
            namespace: Some(namespace.into()),
            ..Default::default()
        }]),
    };
    Api::<ClusterRoleBinding>::all(admin).create(&PostParams::default(), &binding).await.expect("ClusterRoleBinding");
}

/// A cluster-admin client that sends the user agent of ESO's binary (client-go's default,
/// `external-secrets/<version> (<os>/<arch>) kubernetes/<commit>`): what it writes without naming a field manager
/// is recorded under `external-secrets`, as the apiserver records ESO's writes.
pub async fn eso_user_agent_client(cluster: &Cluster, version: &str) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(&cluster.kubeconfig).expect("kubeconfig");
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
        .await
        .expect("config");
    let agent = format!("external-secrets/{version} (linux/amd64) kubernetes/$Format");
    config.headers.push((http::header::USER_AGENT, http::HeaderValue::from_str(&agent).expect("header")));
    kube::Client::try_from(config).expect("client")
}

/// A registry with the test providers and an AWS provider whose every service points at `url` (a local AWS
/// endpoint). The provider is returned too, so that a test can read its [`AwsProvider::stats`].
pub fn registry_with_aws(url: &str) -> (ProviderRegistry, Arc<AwsProvider>) {
    let aws = Arc::new(AwsProvider::with_endpoints(Endpoints::all(url)));
    (registry().with(aws.clone()), aws)
}

/// Starts the operator watching only `watch_namespace`, with a controller class of its own, running as its own
/// ServiceAccount (created in `watch_namespace`), with the test providers.
pub async fn start_operator(cluster: &Cluster, watch_namespace: &str) -> Operator {
    start_operator_with(cluster, watch_namespace, registry()).await
}

/// As [`start_operator`], with the providers of `registry`.
pub async fn start_operator_with(cluster: &Cluster, watch_namespace: &str, registry: ProviderRegistry) -> Operator {
    start_operator_configured(cluster, watch_namespace, registry, |_| {}).await
}

/// As [`start_operator_with`], with `configure` applied to the operator's settings (flags).
pub async fn start_operator_configured(
    cluster: &Cluster,
    watch_namespace: &str,
    registry: ProviderRegistry,
    configure: impl FnOnce(&mut ControllerConfig),
) -> Operator {
    let client = operator_client(cluster, watch_namespace).await;
    let mut config = test_config(Some(watch_namespace), &format!("class-{watch_namespace}"));
    configure(&mut config);
    let spawned = spawn_operator(cluster, client, registry, config, None).await;
    tracing::info!("operator started in test");
    let readiness = spawned.readiness.clone();
    let ready = eventually(Duration::from_secs(30), || {
        let r = readiness.clone();
        async move { r.is_ready() }
    })
    .await;
    if !ready {
        let logs = logs();
        let tail: Vec<&str> = logs.lines().rev().take(30).collect();
        panic!(
            "operator caches did not sync; last log lines:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    spawned.operator
}

/// Installs the CRDs and spawns `run` with `client`, `registry` and `config`, serving health and metrics on
/// `metrics_addr`; returns as soon as the controllers hand out their handles (not waiting for readiness).
async fn spawn_operator(
    cluster: &Cluster,
    client: kube::Client,
    registry: ProviderRegistry,
    config: ControllerConfig,
    metrics_addr: Option<std::net::SocketAddr>,
) -> LaunchedOperator {
    init_logs();
    install_crds(cluster).await;
    let class = config.controller_class.clone();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (handles_tx, handles_rx) = oneshot::channel();
    let (ended_tx, ended_rx) = oneshot::channel();
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop_rx.await;
        };
        let mut handles_tx = Some(handles_tx);
        let result = external_secrets_controller::run(client, registry, config, metrics_addr, shutdown, |h| {
            if let Some(tx) = handles_tx.take() {
                let _ = tx.send((h.context.clone(), h.readiness.clone(), h.metrics.clone()));
            }
        })
        .await;
        if let Err(e) = &result {
            eprintln!("operator stopped with error: {e}");
        }
        let _ = ended_tx.send(result.map_err(|e| e.to_string()));
    });
    let (context, readiness, metrics) = handles_rx.await.expect("operator started");
    let operator = Operator { context, class, stop: Some(stop_tx), task: Some(task) };
    LaunchedOperator { operator, readiness, metrics, ended: ended_rx }
}

/// SecretStore `name` in `namespace` for the operator of `class`, with the fake provider holding `data`
/// (`[{"key", "value"}]`).
pub fn fake_store(namespace: &str, name: &str, class: &str, data: Value) -> SecretStore {
    serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"controller": class, "provider": {"fake": {"data": data}}}
    }))
    .expect("SecretStore")
}

/// One test's namespace, the operator watching it, a fake SecretStore called `fake`, and API handles. Test files
/// add the helpers of their own behaviour in an `impl` of their own.
pub struct FakeStoreEnv {
    pub cluster: &'static Cluster,
    pub admin: kube::Client,
    pub ns: String,
    pub op: Operator,
    pub stores: Api<SecretStore>,
    pub ess: Api<ExternalSecret>,
    pub secrets: Api<Secret>,
    pub config_maps: Api<ConfigMap>,
}

impl FakeStoreEnv {
    /// A fresh namespace, an operator watching it (its settings changed by `configure`), and the fake store
    /// `fake` holding `store_data` (`[{"key", "value"}]`).
    pub async fn start(prefix: &str, store_data: Value, configure: impl FnOnce(&mut ControllerConfig)) -> Self {
        let cluster = cluster().await;
        let admin = cluster.admin_client().await.expect("admin");
        let ns = cluster.namespace(prefix).await.expect("ns");
        let op = start_operator_configured(cluster, &ns, registry(), configure).await;
        let stores: Api<SecretStore> = Api::namespaced(admin.clone(), &ns);
        let store = fake_store(&ns, "fake", &op.class, store_data);
        stores.create(&PostParams::default(), &store).await.expect("store");
        let ess = Api::namespaced(admin.clone(), &ns);
        let secrets = Api::namespaced(admin.clone(), &ns);
        let config_maps = Api::namespaced(admin.clone(), &ns);
        Self { cluster, admin, ns, op, stores, ess, secrets, config_maps }
    }

    /// Creates ExternalSecret `name` reading from the `fake` store, with `spec` merged over that.
    pub async fn create_es(&self, name: &str, spec: Value) -> ExternalSecret {
        let mut full = json!({"secretStoreRef": {"name": "fake", "kind": "SecretStore"}});
        if let (Some(full), Some(spec)) = (full.as_object_mut(), spec.as_object()) {
            full.extend(spec.clone());
        }
        let es: ExternalSecret = serde_json::from_value(json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": name, "namespace": self.ns},
            "spec": full
        }))
        .expect("ExternalSecret");
        self.ess.create(&PostParams::default(), &es).await.expect("create ExternalSecret")
    }

    /// Replaces the fake store's data (a provider-side change).
    pub async fn set_store_data(&self, data: Value) {
        let patch = json!({"spec": {"provider": {"fake": {"data": data}}}});
        self.stores.patch("fake", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("patch store");
    }

    /// Panics if any of `values` appears in this namespace's events or in the operator's logs.
    pub async fn assert_not_leaked(&self, values: &[&str]) {
        let events = events_text(&self.admin, &self.ns).await;
        for (text, what) in [(events.as_str(), "events"), (logs().as_str(), "operator logs")] {
            for value in values {
                assert!(!text.contains(value), "a secret value appeared in the {what}");
            }
        }
    }
}

/// Every event note and reason in `namespace` (events.k8s.io and core), for assertions and leak checks.
pub async fn events_text(client: &kube::Client, namespace: &str) -> String {
    let mut out = String::new();
    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    for e in events.list(&ListParams::default()).await.expect("events").items {
        out.push_str(&format!(
            "{} {} {} {}\n",
            e.type_.unwrap_or_default(),
            e.reason.unwrap_or_default(),
            e.regarding.and_then(|r| r.name).unwrap_or_default(),
            e.note.unwrap_or_default()
        ));
    }
    let core: Api<CoreEvent> = Api::namespaced(client.clone(), namespace);
    for e in core.list(&ListParams::default()).await.expect("core events").items {
        out.push_str(&format!("{} {}\n", e.reason.unwrap_or_default(), e.message.unwrap_or_default()));
    }
    out
}

/// How many times an event with `reason` was recorded in `namespace`, a repeated event counted once per repetition.
/// Core and events.k8s.io Events are one resource served twice, so only the newer view is read: `series.count`
/// (events.k8s.io recorders), else `deprecatedCount` (core recorders), else 1.
pub async fn event_count(client: &kube::Client, namespace: &str, reason: &str) -> i32 {
    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    events
        .list(&ListParams::default())
        .await
        .expect("events")
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .map(|e| e.series.map(|s| s.count).or(e.deprecated_count.filter(|c| *c > 0)).unwrap_or(1))
        .sum()
}

/// Runs `kubectl` (the pinned one) as admin and returns stdout.
pub fn kubectl(cluster: &Cluster, args: &[&str]) -> String {
    let bin = tools::bin_dir().expect("bin dir").join("kubectl");
    let out = std::process::Command::new(bin)
        .args(args)
        .env("KUBECONFIG", &cluster.kubeconfig)
        .output()
        .expect("run kubectl");
    assert!(out.status.success(), "kubectl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `Ready` condition of an ExternalSecret as (status, reason, message).
pub async fn ready_reason(es: &Api<ExternalSecret>, name: &str) -> Option<(String, String, String)> {
    let es = es.get_opt(name).await.ok()??;
    let c = es.status?.condition("Ready")?.clone();
    Some((c.status, c.reason.unwrap_or_default(), c.message.unwrap_or_default()))
}

/// Waits (30 s at most) until the ExternalSecret's `Ready` reason is `reason`; panics with the last condition.
pub async fn wait_ready(es: &Api<ExternalSecret>, name: &str, reason: &str) -> (String, String, String) {
    wait_ready_within(es, name, reason, Duration::from_secs(30)).await
}

/// As [`wait_ready`], waiting `timeout` at most.
pub async fn wait_ready_within(
    es: &Api<ExternalSecret>,
    name: &str,
    reason: &str,
    timeout: Duration,
) -> (String, String, String) {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = None;
    while tokio::time::Instant::now() < deadline {
        last = ready_reason(es, name).await;
        if let Some(found) = last.as_ref().filter(|(_, r, _)| r == reason) {
            return found.clone();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{name}: expected reason {reason}, last Ready condition {last:?}");
}

/// Waits (30 s at most) until the SecretStore's `Ready` reason is `reason`; returns (status, reason, message),
/// or panics with the last condition seen.
pub async fn wait_store(stores: &Api<SecretStore>, name: &str, reason: &str) -> (String, String, String) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut last = None;
    while tokio::time::Instant::now() < deadline {
        last = stores.get_opt(name).await.ok().flatten().and_then(|s| s.status).and_then(|s| {
            let c = s.condition("Ready")?.clone();
            Some((c.status, c.reason.unwrap_or_default(), c.message.unwrap_or_default()))
        });
        if let Some(found) = last.as_ref().filter(|(_, r, _)| r == reason) {
            return found.clone();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("SecretStore {name}: expected reason {reason}, last Ready condition {last:?}");
}

/// A call to the local AWS endpoint's test API (`/_esr/counters`, `/_esr/faults`, `/_esr/irsa`, ...) over
/// plain HTTP/1.0; the JSON answer. Panics unless the answer is 200.
pub fn aws_test_api(port: u16, method: &str, path: &str, body: &str) -> serde_json::Value {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to the AWS endpoint test API");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("read timeout");
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    assert!(resp.starts_with("HTTP/1.0 200") || resp.starts_with("HTTP/1.1 200"), "{method} {path}: {resp}");
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    serde_json::from_str(body).expect("JSON answer")
}

/// SDK configuration for an administrator of the local AWS `endpoint` (its static test keys) in `region`: what
/// tests use to create, rotate and read remote secrets behind the operator's back.
pub fn aws_admin_sdk_config(endpoint: &AwsEndpoint, region: &str) -> aws_config::SdkConfig {
    use aws_smithy_http_client::tls;
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .build_https();
    let credentials = aws_credential_types::Credentials::new(
        &endpoint.access_key_id,
        &endpoint.secret_access_key,
        None,
        None,
        "test",
    );
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .region(aws_config::Region::new(region.to_string()))
        .endpoint_url(&endpoint.url)
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(credentials))
        .build()
}

/// The controller settings the tests use: a controller class of its own, short backoffs, and the given watch
/// scope (`None`: all namespaces, isolated from other operators by the class only).
pub fn test_config(watch_namespace: Option<&str>, class: &str) -> ControllerConfig {
    ControllerConfig {
        namespace: watch_namespace.map(str::to_string),
        controller_class: class.to_string(),
        min_backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(30),
        ..ControllerConfig::default()
    }
}

/// Creates the operator's ServiceAccount and ClusterRole binding in `namespace` (as [`operator_client`]) and
/// returns a client for it that goes through the operator's client-side rate limit (`--client-qps`/`-burst`).
pub async fn rate_limited_operator_client(cluster: &Cluster, namespace: &str, qps: f32, burst: u32) -> kube::Client {
    let _ = operator_client(cluster, namespace).await;
    let config = cluster.service_account_config(namespace, "external-secrets").await.expect("operator config");
    external_secrets_controller::ratelimit::client(config, qps, burst).expect("rate-limited client")
}

/// A running operator started by [`launch_operator`], with its process-level handles.
pub struct LaunchedOperator {
    pub operator: Operator,
    pub readiness: external_secrets_controller::Readiness,
    pub metrics: Arc<external_secrets_controller::Metrics>,
    /// Resolves when `run` returns: `Err` with its message when it failed (for example, leadership lost).
    pub ended: oneshot::Receiver<Result<(), String>>,
}

/// Starts `run` with `client`, `config` and the test providers, serving health and metrics on `metrics_addr`.
/// Waits (30 s at most) for readiness only when `wait_ready` is set. Installs the CRDs first.
pub async fn launch_operator(
    cluster: &Cluster,
    client: kube::Client,
    config: ControllerConfig,
    metrics_addr: Option<std::net::SocketAddr>,
    wait_ready: bool,
) -> LaunchedOperator {
    let launched = spawn_operator(cluster, client, registry(), config, metrics_addr).await;
    if wait_ready {
        let ready = eventually(Duration::from_secs(30), || {
            let r = launched.readiness.clone();
            async move { r.is_ready() }
        })
        .await;
        assert!(ready, "operator not ready within 30 s");
    }
    launched
}

/// A GET over plain HTTP/1.1 to the operator's health/metrics server: (status code, body).
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&response).into_owned())
    };
    let response = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .expect("HTTP request timed out")
        .expect("HTTP request failed");
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("HTTP status line");
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// A free loopback address for the operator's health/metrics server.
pub fn free_local_addr() -> std::net::SocketAddr {
    let port = external_secrets_testsupport::process::free_port().expect("free port");
    std::net::SocketAddr::from(([127, 0, 0, 1], port))
}
