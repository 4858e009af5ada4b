//! The fault matrix harness (issue 9): a namespace with [`N_AWS`] ExternalSecrets on Secrets Manager (moto, reached
//! through a [`FaultProxy`]) and [`N_FAKE`] on the Fake provider, the shipped binary as operator process(es), and
//! the measurements every fault reports: Secrets lost or blanked (a watch on the target Secrets, across relists),
//! time to recover, provider calls during the fault against the steady state, the busiest second.
//!
//! Each measured fault prints one `fault-matrix | ...` line; docs/reliability.md holds the table of a run
//! (`cargo test -p external-secrets --test faults_e2e --test faults_control_plane_e2e -- --nocapture`).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use external_secrets_api::{ExternalSecret, SecretStore};
use external_secrets_testsupport::process::{Component, free_port};
use external_secrets_testsupport::{AwsEndpoint, Cluster, FaultProxy, eventually};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;

/// ExternalSecrets on Secrets Manager (one secret each) and on the Fake provider.
pub const N_AWS: usize = 80;
pub const N_FAKE: usize = 20;
/// Their refresh interval: short, so that every one of them meets a fault that lasts longer.
pub const REFRESH: Duration = Duration::from_secs(10);
/// The binary's first retry delay after a failed sync (`ControllerConfig::default().min_backoff`); it doubles
/// per failure, and jitter only ever lengthens it.
pub const MIN_BACKOFF: Duration = Duration::from_secs(2);
/// The AWS SDK's attempts per call (the standard retryer; the store sets no `retrySettings`).
pub const SDK_ATTEMPTS: u64 = 3;
/// How long a fault is held at least.
pub const FAULT_MIN: Duration = Duration::from_secs(12);
/// How long everything may take to converge once a fault is lifted before the test fails.
pub const RECOVERY_TIMEOUT: Duration = Duration::from_secs(150);

pub const ACCESS_KEY: &str = "AKIAFAULTMATRIXKEY01";
pub const SECRET_KEY: &str = "fault-matrix-secret-access-key-do-not-log";
const CREDENTIALS: &str = "provider-credentials";
const VALUE_KEY: &str = "value";

/// A marker in every secret value, so that leak checks find any of them.
pub const VALUE_MARKER: &str = "s3cr3t-do-not-log";

pub fn aws_name(i: usize) -> String {
    format!("aws-{i:03}")
}

pub fn fake_name(i: usize) -> String {
    format!("fake-{i:02}")
}

/// The value of a target's remote secret at `version`.
pub fn value(ns: &str, name: &str, version: u32) -> String {
    format!("{ns}/{name}=v{version}:{VALUE_MARKER}")
}

/// The version in a value of `name`, if it is one of ours.
fn version_of(ns: &str, name: &str, value: &str) -> Option<u32> {
    value.strip_prefix(&format!("{ns}/{name}=v"))?.strip_suffix(&format!(":{VALUE_MARKER}"))?.parse().ok()
}

/// The namespace, its stores and ExternalSecrets, the proxy in front of moto, and the Secret monitor.
pub struct Fixture {
    pub cluster: &'static Cluster,
    pub endpoint: &'static AwsEndpoint,
    pub proxy: FaultProxy,
    pub admin: kube::Client,
    pub ns: String,
    /// The version of the AWS secrets at the provider, and of the Fake store's data.
    pub version: u32,
    pub fake_version: u32,
    pub monitor: Monitor,
}

impl Fixture {
    /// Sets everything up, starts no operator.
    pub async fn new(prefix: &str) -> Fixture {
        let cluster = external_secrets_testsupport::cluster().await;
        let endpoint = external_secrets_testsupport::aws().await;
        let admin = cluster.admin_client().await.expect("admin client");
        install_crds(&admin).await;
        let ns = cluster.namespace(prefix).await.expect("namespace");
        let proxy = FaultProxy::start(endpoint.port).expect("fault proxy");
        let fx = Fixture {
            cluster,
            endpoint,
            proxy,
            admin: admin.clone(),
            monitor: Monitor::start(admin.clone(), ns.clone()),
            ns,
            version: 1,
            fake_version: 1,
        };
        fx.put_remote(1, "CreateSecret").await;

        let secrets: Api<Secret> = Api::namespaced(admin.clone(), &fx.ns);
        let credentials: Secret = serde_json::from_value(json!({
            "metadata": {"name": CREDENTIALS},
            "stringData": {"access-key-id": ACCESS_KEY, "secret-access-key": SECRET_KEY}
        }))
        .unwrap();
        secrets.create(&PostParams::default(), &credentials).await.expect("credentials Secret");
        let stores: Api<SecretStore> = Api::namespaced(admin.clone(), &fx.ns);
        let aws: SecretStore = serde_json::from_value(json!({
            "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
            "metadata": {"name": "aws"},
            "spec": {"provider": {"aws": {
                "service": "SecretsManager", "region": endpoint.region,
                "auth": {"secretRef": {
                    "accessKeyIDSecretRef": {"name": CREDENTIALS, "key": "access-key-id"},
                    "secretAccessKeySecretRef": {"name": CREDENTIALS, "key": "secret-access-key"}
                }}
            }}}
        }))
        .unwrap();
        stores.create(&PostParams::default(), &aws).await.expect("aws store");
        let fake: SecretStore = serde_json::from_value(json!({
            "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
            "metadata": {"name": "fake"},
            "spec": {"provider": {"fake": {"data": fx.fake_data(1)}}}
        }))
        .unwrap();
        stores.create(&PostParams::default(), &fake).await.expect("fake store");

        let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &fx.ns);
        let all = (0..N_AWS)
            .map(|i| (aws_name(i), "aws", format!("{}/{}", fx.ns, aws_name(i))))
            .chain((0..N_FAKE).map(|i| (fake_name(i), "fake", fake_name(i))));
        for (name, store, key) in all {
            let es: ExternalSecret = serde_json::from_value(json!({
                "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                "metadata": {"name": name},
                "spec": {
                    "refreshInterval": format!("{}s", REFRESH.as_secs()),
                    "secretStoreRef": {"name": store, "kind": "SecretStore"},
                    "target": {"name": name},
                    "data": [{"secretKey": VALUE_KEY, "remoteRef": {"key": key}}]
                }
            }))
            .unwrap();
            ess.create(&PostParams::default(), &es).await.expect("ExternalSecret");
        }
        fx
    }

    fn fake_data(&self, version: u32) -> serde_json::Value {
        let data: Vec<_> = (0..N_FAKE)
            .map(|i| json!({"key": fake_name(i), "value": value(&self.ns, &fake_name(i), version)}))
            .collect();
        json!(data)
    }

    /// Writes every AWS secret at `version` straight to moto (not through the proxy: the provider changes while
    /// the operator cannot reach it).
    async fn put_remote(&self, version: u32, operation: &'static str) {
        let (port, region, ns) = (self.endpoint.port, self.endpoint.region.clone(), self.ns.clone());
        tokio::task::spawn_blocking(move || {
            let indices: Vec<usize> = (0..N_AWS).collect();
            std::thread::scope(|s| {
                for chunk in indices.chunks(N_AWS.div_ceil(4)) {
                    let (region, ns) = (&region, &ns);
                    s.spawn(move || {
                        for &i in chunk {
                            let id = format!("{ns}/{}", aws_name(i));
                            let body = match operation {
                                "CreateSecret" => json!({"Name": id, "SecretString": value(ns, &aws_name(i), version)}),
                                _ => json!({"SecretId": id, "SecretString": value(ns, &aws_name(i), version)}),
                            };
                            let (status, answer) =
                                external_secrets_testsupport::secrets_manager_call(port, region, operation, &body)
                                    .expect("the AWS endpoint answers");
                            assert_eq!(status, 200, "{operation} {id}: {answer}");
                        }
                    });
                }
            });
        })
        .await
        .expect("writing the remote secrets");
    }

    /// Changes every AWS secret at the provider to the next version.
    pub async fn bump_remote(&mut self) {
        self.version += 1;
        self.put_remote(self.version, "PutSecretValue").await;
    }

    /// Changes the Fake store's data to the next version.
    pub async fn bump_fake(&mut self) {
        self.fake_version += 1;
        let patch = json!({"spec": {"provider": {"fake": {"data": self.fake_data(self.fake_version)}}}});
        Api::<SecretStore>::namespaced(self.admin.clone(), &self.ns)
            .patch("fake", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("patch the fake store");
    }

    /// Writes `access_key` into the store's credentials Secret.
    pub async fn set_access_key(&self, access_key: &str) {
        let patch = json!({"stringData": {"access-key-id": access_key}});
        Api::<Secret>::namespaced(self.admin.clone(), &self.ns)
            .patch(CREDENTIALS, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("patch the credentials");
    }

    /// Annotates every AWS ExternalSecret with a new `force-sync` value: each syncs at once (a sync burst).
    pub async fn force_sync_all(&self, token: &str) {
        let ess: Api<ExternalSecret> = Api::namespaced(self.admin.clone(), &self.ns);
        let patch = json!({"metadata": {"annotations": {"force-sync": token}}});
        for i in 0..N_AWS {
            ess.patch(&aws_name(i), &PatchParams::default(), &Patch::Merge(&patch)).await.expect("force-sync");
        }
    }

    /// The version each target Secret holds now (from a list, not the monitor).
    pub async fn target_versions(&self) -> BTreeMap<String, Option<u32>> {
        let secrets: Api<Secret> = Api::namespaced(self.admin.clone(), &self.ns);
        let list = secrets.list(&ListParams::default()).await.expect("list Secrets");
        let mut out = BTreeMap::new();
        for s in list.items {
            let name = s.metadata.name.clone().unwrap_or_default();
            if name.starts_with("aws-") || name.starts_with("fake-") {
                let value =
                    s.data.as_ref().and_then(|d| d.get(VALUE_KEY)).map(|v| String::from_utf8_lossy(&v.0).into_owned());
                out.insert(name.clone(), value.and_then(|v| version_of(&self.ns, &name, &v)));
            }
        }
        out
    }

    /// How many AWS targets hold `version`, and how many Fake targets hold `fake_version`.
    pub async fn at_versions(&self, version: u32, fake_version: u32) -> (usize, usize) {
        let versions = self.target_versions().await;
        let aws = (0..N_AWS).filter(|i| versions.get(&aws_name(*i)).copied().flatten() == Some(version)).count();
        let fake =
            (0..N_FAKE).filter(|i| versions.get(&fake_name(*i)).copied().flatten() == Some(fake_version)).count();
        (aws, fake)
    }

    /// The `Ready` condition (status, reason, message) of every ExternalSecret.
    pub async fn conditions(&self) -> BTreeMap<String, (String, String, String)> {
        let ess: Api<ExternalSecret> = Api::namespaced(self.admin.clone(), &self.ns);
        let Ok(list) = ess.list(&ListParams::default()).await else { return BTreeMap::new() };
        list.items
            .into_iter()
            .filter_map(|es| {
                let name = es.metadata.name.clone()?;
                let c = es.status?.condition("Ready")?.clone();
                Some((name, (c.status, c.reason.unwrap_or_default(), c.message.unwrap_or_default())))
            })
            .collect()
    }

    /// Whether every target holds the current versions and every ExternalSecret is Ready.
    pub async fn converged(&self) -> bool {
        if self.at_versions(self.version, self.fake_version).await != (N_AWS, N_FAKE) {
            return false;
        }
        let conditions = self.conditions().await;
        conditions.len() == N_AWS + N_FAKE && conditions.values().all(|(status, _, _)| status == "True")
    }

    /// Waits (bounded by [`RECOVERY_TIMEOUT`]) until [`Fixture::converged`]; returns how long it took, or panics
    /// with what was still off.
    pub async fn wait_converged(&self, what: &str) -> Duration {
        let started = Instant::now();
        if eventually(RECOVERY_TIMEOUT, || self.converged()).await {
            return started.elapsed();
        }
        let (aws, fake) = self.at_versions(self.version, self.fake_version).await;
        let not_ready: Vec<_> = self.conditions().await.into_iter().filter(|(_, c)| c.0 != "True").take(5).collect();
        panic!(
            "{what}: not converged {RECOVERY_TIMEOUT:?} after the fault: {aws}/{N_AWS} AWS and {fake}/{N_FAKE} Fake \
             targets current, not ready (first 5): {not_ready:?}"
        );
    }

    /// Every value this fixture ever put at a provider, and the credentials: none may appear in conditions,
    /// events or logs.
    pub fn secrets_in_play(&self) -> Vec<String> {
        let mut all = vec![VALUE_MARKER.to_string(), SECRET_KEY.to_string()];
        for v in 1..=self.version.max(self.fake_version) + 1 {
            all.push(value(&self.ns, &aws_name(0), v));
        }
        all
    }

    /// Asserts that no condition message, no event and no `logs` text holds a secret value or key.
    pub async fn assert_nothing_leaked(&self, logs: &str) {
        let mut text = String::new();
        for (name, (status, reason, message)) in self.conditions().await {
            text.push_str(&format!("{name} {status} {reason} {message}\n"));
        }
        let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(self.admin.clone(), &self.ns);
        for e in events.list(&ListParams::default()).await.expect("events").items {
            text.push_str(&format!("{} {}\n", e.reason.unwrap_or_default(), e.message.unwrap_or_default()));
        }
        for secret in self.secrets_in_play() {
            assert!(!text.contains(&secret), "a secret value appeared in a condition or event");
            assert!(!logs.contains(&secret), "a secret value appeared in the operator's log");
        }
    }
}

/// Applies the CRDs and waits until they are established.
pub async fn install_crds(admin: &kube::Client) {
    external_secrets_testsupport::apply_crds(admin, external_secrets_api::crds()).await.expect("CRDs");
}

/// A Parameter Store `PutParameter` straight to the local endpoint.
pub fn put_parameter(endpoint: &AwsEndpoint, name: &str, value: &str) {
    let body = json!({"Name": name, "Value": value, "Type": "String", "Overwrite": true});
    let (status, _) =
        external_secrets_testsupport::parameter_store_call(endpoint.port, &endpoint.region, "PutParameter", &body)
            .expect("the AWS endpoint answers");
    assert_eq!(status, 200, "PutParameter {name}");
}

/// A Secrets Manager `CreateSecret` straight to the local endpoint.
pub fn put_secret(endpoint: &AwsEndpoint, name: &str, value: &str) {
    let (status, _) = external_secrets_testsupport::secrets_manager_call(
        endpoint.port,
        &endpoint.region,
        "CreateSecret",
        &json!({"Name": name, "SecretString": value}),
    )
    .expect("the AWS endpoint answers");
    assert_eq!(status, 200, "CreateSecret {name}");
}

// ---------------------------------------------------------------------------------------------------------
// The operator as a process
// ---------------------------------------------------------------------------------------------------------

/// The shipped binary, running as the operator of the fixture's namespace.
pub struct OperatorProcess {
    pub component: Component,
    pub metrics_port: u16,
    pub name: String,
}

impl OperatorProcess {
    /// Starts `external-secrets` (the root command: the controller) for `fx`'s namespace, with the AWS endpoint
    /// overrides pointing at the proxy and `extra` arguments; waits (bounded) until `/readyz` answers 200 when
    /// `wait_ready`.
    pub async fn start(fx: &Fixture, name: &str, extra: &[String], wait_ready: bool) -> OperatorProcess {
        let metrics_port = free_port().expect("free port");
        let log = fx.cluster.dir.join(format!("{}-{name}.log", fx.ns));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_external-secrets"));
        cmd.arg(format!("--namespace={}", fx.ns))
            .arg(format!("--metrics-addr=127.0.0.1:{metrics_port}"))
            .arg(format!("--live-addr=127.0.0.1:{metrics_port}"))
            .arg("--loglevel=info")
            .args(extra)
            .env("KUBECONFIG", &fx.cluster.kubeconfig)
            .env("POD_NAME", name)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("RUST_LOG");
        for var in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"] {
            cmd.env_remove(var);
        }
        for var in ["AWS_ENDPOINT_URL", "AWS_SECRETSMANAGER_ENDPOINT", "AWS_SSM_ENDPOINT", "AWS_STS_ENDPOINT"] {
            cmd.env(var, &fx.proxy.url);
        }
        cmd.env("AWS_REGION", &fx.endpoint.region);
        let component = Component::spawn(name, cmd, &log, false).expect("start the operator binary");
        let mut op = OperatorProcess { component, metrics_port, name: name.to_string() };
        if wait_ready {
            op.wait_ready().await;
        }
        op
    }

    /// Waits (60 s at most) until `/readyz` answers 200.
    pub async fn wait_ready(&mut self) {
        let port = self.metrics_port;
        let ready =
            eventually(Duration::from_secs(60), || async move { http_get(port, "/readyz").await.0 == 200 }).await;
        assert!(
            ready,
            "{} not ready within 60 s; exited: {:?}\n{}",
            self.name,
            self.component.exited(),
            self.log_tail()
        );
    }

    pub fn log_tail(&self) -> String {
        self.component.log_tail(30)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.component.log).unwrap_or_default()
    }

    /// Secrets Manager calls the operator counted ([`provider_calls`]).
    pub async fn provider_calls(&self) -> u64 {
        provider_calls(self.metrics_port).await
    }
}

/// Secrets Manager calls the operator serving metrics on `port` counted (`externalsecret_provider_api_calls_count`,
/// every status); 0 when the metrics cannot be read (the process is gone).
pub async fn provider_calls(port: u16) -> u64 {
    let (status, body) = http_get(port, "/metrics").await;
    if status != 200 {
        return 0;
    }
    body.lines()
        .filter(|l| l.starts_with("externalsecret_provider_api_calls_count{") && l.contains("AWS/SecretsManager"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// A GET over plain HTTP/1.0 to 127.0.0.1:`port`: (status, body); (0, "") when nothing answers.
pub async fn http_get(port: u16, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&response).into_owned())
    };
    match tokio::time::timeout(Duration::from_secs(10), exchange).await {
        Ok(Ok(response)) => {
            let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
            let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
            (status, body)
        }
        _ => (0, String::new()),
    }
}

// ---------------------------------------------------------------------------------------------------------
// The monitor: no Secret lost or blanked
// ---------------------------------------------------------------------------------------------------------

/// Watches the target Secrets of a namespace for as long as it lives and records every moment one was lost
/// (deleted, or missing after the watch re-listed) or blanked (its value gone, empty, not one we wrote, or
/// older than one it already held).
pub struct Monitor {
    state: Arc<Mutex<MonitorState>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct MonitorState {
    versions: HashMap<String, u32>,
    violations: Vec<String>,
    relisted: Option<HashSet<String>>,
}

impl MonitorState {
    fn seen(&mut self, ns: &str, secret: &Secret) {
        let name = secret.metadata.name.clone().unwrap_or_default();
        if !(name.starts_with("aws-") || name.starts_with("fake-")) {
            return;
        }
        if let Some(relisted) = self.relisted.as_mut() {
            relisted.insert(name.clone());
        }
        let value =
            secret.data.as_ref().and_then(|d| d.get(VALUE_KEY)).map(|v| String::from_utf8_lossy(&v.0).into_owned());
        let version = match value.as_deref() {
            None => return self.violations.push(format!("{name}: its value is gone")),
            Some("") => return self.violations.push(format!("{name}: blanked")),
            Some(v) => version_of(ns, &name, v),
        };
        let Some(version) = version else {
            return self.violations.push(format!("{name}: holds a value we never wrote"));
        };
        if let Some(before) = self.versions.insert(name.clone(), version)
            && version < before
        {
            self.violations.push(format!("{name}: went back from v{before} to v{version}"));
        }
    }
}

impl Monitor {
    pub fn start(client: kube::Client, ns: String) -> Monitor {
        let state = Arc::new(Mutex::new(MonitorState::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            let api: Api<Secret> = Api::namespaced(client, &ns);
            let mut events = watcher(api, watcher::Config::default()).default_backoff().boxed();
            while let Some(event) = events.next().await {
                let Ok(event) = event else { continue };
                let mut state = shared.lock().unwrap();
                match event {
                    watcher::Event::Apply(s) | watcher::Event::InitApply(s) => state.seen(&ns, &s),
                    watcher::Event::Delete(s) => {
                        let name = s.metadata.name.clone().unwrap_or_default();
                        if state.versions.remove(&name).is_some() {
                            state.violations.push(format!("{name}: deleted"));
                        }
                    }
                    watcher::Event::Init => state.relisted = Some(HashSet::new()),
                    watcher::Event::InitDone => {
                        if let Some(relisted) = state.relisted.take() {
                            let gone: Vec<String> =
                                state.versions.keys().filter(|n| !relisted.contains(*n)).cloned().collect();
                            for name in gone {
                                state.versions.remove(&name);
                                state.violations.push(format!("{name}: missing when the watch re-listed"));
                            }
                        }
                    }
                }
            }
        });
        Monitor { state, task }
    }

    /// Every loss or blanking seen so far.
    pub fn violations(&self) -> Vec<String> {
        self.state.lock().unwrap().violations.clone()
    }

    /// How many targets the monitor has seen holding a value.
    pub fn tracked(&self) -> usize {
        self.state.lock().unwrap().versions.len()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---------------------------------------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------------------------------------

/// The most sync attempts one ExternalSecret can make in `window` while every attempt fails: the one under way
/// when the fault began, a refresh that was already due, and the retries that fit when the first waits
/// [`MIN_BACKOFF`] and each next one twice as long.
pub fn attempts_bound(window: Duration) -> u64 {
    let ratio = window.as_secs_f64() / MIN_BACKOFF.as_secs_f64() + 1.0;
    2 + ratio.log2().floor() as u64
}

/// The most provider calls `n` ExternalSecrets may cause in `window` without a hot loop: [`attempts_bound`] each,
/// every attempt retried by the SDK up to [`SDK_ATTEMPTS`] times.
pub fn calls_bound(n: usize, window: Duration) -> u64 {
    n as u64 * attempts_bound(window) * SDK_ATTEMPTS
}

/// The most provider calls in one second without a hot loop: consecutive attempts of one ExternalSecret are at
/// least [`MIN_BACKOFF`] apart, so each makes at most one attempt (of up to [`SDK_ATTEMPTS`] calls) per second.
pub fn per_second_bound(n: usize) -> u64 {
    n as u64 * SDK_ATTEMPTS
}

/// One row of the fault matrix.
#[derive(Debug, Default)]
pub struct Figures {
    pub fault: String,
    pub lost_or_blanked: usize,
    pub fault_held: Duration,
    pub recovered_in: Duration,
    pub calls_during: u64,
    pub baseline_per_s: f64,
    pub max_per_s: u64,
    /// What the ExternalSecrets' `Ready` said while the fault lasted.
    pub condition: String,
    /// Anything else worth a column.
    pub note: String,
}

impl Figures {
    /// Provider calls per second during the fault, over the steady state's ([`steady_rate`]).
    pub fn amplification(&self) -> f64 {
        let during = self.calls_during as f64 / self.fault_held.as_secs_f64().max(0.001);
        if self.baseline_per_s > 0.0 { during / self.baseline_per_s } else { 0.0 }
    }

    /// Prints the row (`fault-matrix | fault | lost/blanked | recovery s | amplification | max req/s | ...`).
    pub fn print(&self) {
        println!(
            "fault-matrix | {} | {} | {:.1} | {:.2} | {} | {} calls in {:.1} s (steady {:.1}/s) | {} | {}",
            self.fault,
            self.lost_or_blanked,
            self.recovered_in.as_secs_f64(),
            self.amplification(),
            self.max_per_s,
            self.calls_during,
            self.fault_held.as_secs_f64(),
            self.baseline_per_s,
            self.condition,
            self.note
        );
    }
}

/// Provider calls per second without a fault: each AWS ExternalSecret reads its one secret once per
/// [`REFRESH`] (jitter only lengthens the interval, so the measured rate is a little lower).
pub fn steady_rate() -> f64 {
    N_AWS as f64 / REFRESH.as_secs_f64()
}

/// A summary of `Ready` conditions: `status reason: message` of the most common one, with its count.
pub fn condition_summary(conditions: &BTreeMap<String, (String, String, String)>, prefix: &str, ns: &str) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for (name, (status, reason, message)) in conditions {
        if name.starts_with(prefix) {
            // Names of keys differ per object: keep the kind of problem only.
            let generic = message.replace(ns, "<ns>").replace(|c: char| c.is_ascii_digit(), "#");
            *counts.entry(format!("{status} {reason}: {generic}")).or_default() += 1;
        }
    }
    counts.into_iter().max_by_key(|(_, n)| *n).map(|(c, n)| format!("{n}× {c}")).unwrap_or_default()
}
