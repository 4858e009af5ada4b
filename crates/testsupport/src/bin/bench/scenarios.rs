//! The scenarios of PERFORMANCE.md, run against one operator command line on one fresh local cluster.
//!
//! Order (each one only when selected, or needed by a selected one): S0 calibration; the idle operator; S5 memory
//! over N and with unrelated Secrets (namespace removed afterwards); S1 cold start (namespace `bench`, kept); S6
//! restart after S1 converged; S2/S3 steady refresh of the S1 objects at `--refresh`; S4 change propagation; S7
//! throttled AWS provider; S8 IRSA.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use external_secrets_testsupport::Cluster;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

use crate::aws::{AwsSide, REGION};
use crate::metrics::{calls_since, provider_calls, scrape_apiserver};
use crate::operator::{Operator, OperatorSpec};
use crate::stats::{histogram, mib, percentile, round};
use crate::watch::{EsWatch, SecretWatch, es_resource};

pub const S1_NAMESPACE: &str = "bench";
const S0_NAMESPACE: &str = "bench-s0";
const S4_NAMESPACE: &str = "bench-s4";
const S5_NAMESPACE: &str = "bench-s5";
const UNRELATED_NAMESPACE: &str = "bench-unrelated";
const S7_NAMESPACE: &str = "bench-s7";
const S8_NAMESPACE: &str = "bench-s8";
const IRSA_ROLE: &str = "arn:aws:iam::123456789012:role/bench";
const IRSA_SERVICE_ACCOUNT: &str = "bench-irsa";

/// What the scenarios need to know from the command line.
#[derive(Clone, Debug)]
pub struct Settings {
    pub scenarios: BTreeSet<String>,
    pub n: usize,
    pub concurrency: usize,
    pub refresh_secs: u64,
    pub s1_refresh: String,
    pub unrelated: usize,
    pub s4_changes: usize,
    pub s7_keys: usize,
    pub s7_tps: f64,
    pub s8_n: usize,
    pub timeout: Duration,
    pub seed: u64,
}

impl Settings {
    pub fn wants(&self, s: &str) -> bool {
        self.scenarios.contains(s)
    }
}

/// Series for the charts.
#[derive(Clone, Debug, Default)]
pub struct ChartData {
    /// S1: seconds from operator start to Ready, sorted.
    pub s1_ready: Vec<f64>,
    /// S5: (ExternalSecrets, RSS KiB), from 0 (idle) to N.
    pub s5_rss: Vec<(usize, u64)>,
}

/// One operator's run over the selected scenarios.
pub struct Bench<'a> {
    pub settings: &'a Settings,
    pub cluster: &'a Cluster,
    pub admin: kube::Client,
    pub spec: OperatorSpec,
    pub work: PathBuf,
    pub ticks: f64,
    pub aws: Option<AwsSide>,
    pub results: Map<String, Value>,
    pub charts: ChartData,
    write_ceiling: f64,
    idle_rss_kib: u64,
    op: Option<Operator>,
    starts: usize,
    operator_restarts: usize,
    s1_watch: Option<EsWatch>,
}

impl<'a> Bench<'a> {
    pub fn new(
        settings: &'a Settings,
        cluster: &'a Cluster,
        admin: kube::Client,
        spec: OperatorSpec,
        work: PathBuf,
        ticks: f64,
    ) -> Self {
        Self {
            settings,
            cluster,
            admin,
            spec,
            work,
            ticks,
            aws: None,
            results: Map::new(),
            charts: ChartData::default(),
            write_ceiling: f64::NAN,
            idle_rss_kib: 0,
            op: None,
            starts: 0,
            operator_restarts: 0,
            s1_watch: None,
        }
    }

    /// Runs every selected scenario in order; what a failed scenario measured so far is lost, the error says why.
    pub async fn run(&mut self) -> Result<()> {
        let s = self.settings;
        let needs_s1 = ["S1", "S2", "S3", "S6"].iter().any(|x| s.wants(x));
        if s.wants("S7") || s.wants("S8") {
            let aws = AwsSide::start(&self.work).await.context("starting the local AWS endpoint for S7/S8")?;
            self.spec.env.extend(aws.operator_env());
            self.aws = Some(aws);
        }
        // S0 gives the write floor and the idle run the baseline RSS: without them nothing else is comparable.
        self.s0().await.context("S0")?;
        self.idle().await.context("idle operator")?;
        // From here a failed scenario is recorded under its key and the next one runs.
        let mut failed: Vec<String> = Vec::new();
        macro_rules! attempt {
            ($keys:expr, $call:expr) => {{
                let outcome = $call.await;
                if let Err(e) = &outcome {
                    let e = format!("{e:#}");
                    eprintln!("bench: {} failed: {e}", $keys.join("/"));
                    for key in $keys {
                        self.results.insert(key.to_string(), json!({"error": e}));
                    }
                    failed.push(format!("{}: {e}", $keys.join("/")));
                }
                let ok: bool = outcome.is_ok();
                ok
            }};
        }
        if s.wants("S5") {
            attempt!(["s5"], self.s5());
        }
        let s1_ok = !needs_s1 || attempt!(["s1"], self.s1());
        if s1_ok {
            if s.wants("S6") {
                attempt!(["s6"], self.s6());
            }
            if s.wants("S2") || s.wants("S3") {
                attempt!(["s2", "s3"], self.s2_s3());
            }
        }
        if needs_s1 && (s.wants("S4") || s.wants("S7") || s.wants("S8")) {
            // The S1 objects (refreshing every --refresh after S2/S3) would compete with the next scenarios for
            // the operator's client rate limit: remove them, with the operator running (finalizers).
            self.s1_watch = None;
            attempt!(["cleanup_s1"], async {
                self.ensure_operator().await?;
                self.delete_namespace(S1_NAMESPACE).await
            });
        }
        if s.wants("S4") {
            attempt!(["s4"], self.s4());
        }
        if s.wants("S7") {
            attempt!(["s7"], self.s7());
        }
        if s.wants("S8") {
            attempt!(["s8"], self.s8());
        }
        self.s1_watch = None;
        self.stop_operator();
        if self.operator_restarts > 0 {
            self.results.insert("operator_restarted_after_dying".into(), json!(self.operator_restarts));
        }
        if !failed.is_empty() {
            bail!("{}", failed.join("; "));
        }
        Ok(())
    }

    // ---- helpers ----

    async fn start_operator(&mut self) -> Result<Duration> {
        self.stop_operator();
        self.starts += 1;
        let log = self.work.join(format!("operator-{}.log", self.starts));
        let mut op = Operator::start(&self.spec, &log)?;
        let ready = op.wait_ready().await?;
        self.op = Some(op);
        Ok(ready)
    }

    /// Starts the operator unless one is running; one that died is started again (and counted).
    async fn ensure_operator(&mut self) -> Result<()> {
        if let Some(op) = self.op.as_mut()
            && let Err(e) = op.check_alive()
        {
            eprintln!("bench: starting the operator again: {e:#}");
            self.op = None;
            self.operator_restarts += 1;
        }
        if self.op.is_none() {
            self.start_operator().await?;
        }
        Ok(())
    }

    fn stop_operator(&mut self) {
        if let Some(mut op) = self.op.take() {
            op.stop();
        }
    }

    fn op(&mut self) -> Result<&mut Operator> {
        let op = self.op.as_mut().context("no operator running")?;
        op.check_alive()?;
        Ok(op)
    }

    async fn operator_calls(&self) -> BTreeMap<String, u64> {
        match &self.op {
            Some(op) => op.metrics_text().await.map(|t| provider_calls(&t)).unwrap_or_default(),
            None => BTreeMap::new(),
        }
    }

    async fn create_namespace(&self, name: &str) -> Result<()> {
        let api: Api<Namespace> = Api::all(self.admin.clone());
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
        api.create(&PostParams::default(), &ns).await.with_context(|| format!("creating namespace {name}"))?;
        Ok(())
    }

    /// Deletes a namespace and waits (bounded) until it is gone, so that its clean-up is not counted in the next
    /// scenario.
    async fn delete_namespace(&self, name: &str) -> Result<()> {
        let api: Api<Namespace> = Api::all(self.admin.clone());
        api.delete(name, &DeleteParams::default()).await?;
        let deadline = Instant::now() + self.settings.timeout;
        while api.get_opt(name).await?.is_some() {
            if Instant::now() > deadline {
                bail!("namespace {name} still there after {} s", self.settings.timeout.as_secs());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Ok(())
    }

    async fn create_fake_store(&self, ns: &str, name: &str, data: &[(String, String)]) -> Result<()> {
        let stores: Api<DynamicObject> = Api::namespaced_with(self.admin.clone(), ns, &es_resource("SecretStore"));
        let data: Vec<Value> = data.iter().map(|(k, v)| json!({"key": k, "value": v})).collect();
        let store: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
            "metadata": {"name": name},
            "spec": {"provider": {"fake": {"data": data}}}
        }))?;
        stores.create(&PostParams::default(), &store).await?;
        Ok(())
    }

    /// Creates ExternalSecrets `<prefix>-<i>` for i in `range`, each with target Secret of the same name and the
    /// `data` entries `make_data(i)` from `store`.
    async fn create_external_secrets(
        &self,
        ns: &str,
        range: std::ops::Range<usize>,
        store: &str,
        interval: &str,
        make_data: impl Fn(usize) -> Value + Send + Sync + 'static,
    ) -> Result<Duration> {
        let ess: Api<DynamicObject> = Api::namespaced_with(self.admin.clone(), ns, &es_resource("ExternalSecret"));
        let (store, interval) = (store.to_string(), interval.to_string());
        let make_data = Arc::new(make_data);
        create_all(range, self.settings.concurrency, move |i| {
            let (ess, store, interval, make_data) = (ess.clone(), store.clone(), interval.clone(), make_data.clone());
            Box::pin(async move {
                let es: DynamicObject = serde_json::from_value(json!({
                    "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                    "metadata": {"name": format!("es-{i}")},
                    "spec": {
                        "refreshInterval": interval,
                        "secretStoreRef": {"name": store, "kind": "SecretStore"},
                        "target": {"name": format!("es-{i}")},
                        "data": make_data(i)
                    }
                }))?;
                ess.create(&PostParams::default(), &es).await?;
                Ok(())
            })
        })
        .await
    }

    fn check_alive(op: &mut Option<Operator>) -> Result<()> {
        match op {
            Some(op) => op.check_alive(),
            None => bail!("no operator running"),
        }
    }

    async fn secret_versions(&self, ns: &str) -> Result<BTreeMap<String, String>> {
        let api: Api<Secret> = Api::namespaced(self.admin.clone(), ns);
        let list = api.list_metadata(&ListParams::default()).await?;
        Ok(list.items.into_iter().filter_map(|s| Some((s.metadata.name?, s.metadata.resource_version?))).collect())
    }

    // ---- scenarios ----

    /// S0: the apiserver's write ceiling for a plain client.
    async fn s0(&mut self) -> Result<()> {
        let n = self.settings.n;
        eprintln!("bench: S0 creating {n} plain Secrets ({} in flight)", self.settings.concurrency);
        self.create_namespace(S0_NAMESPACE).await?;
        let secrets: Api<Secret> = Api::namespaced(self.admin.clone(), S0_NAMESPACE);
        let took = create_all(0..n, self.settings.concurrency, move |i| {
            let secrets = secrets.clone();
            Box::pin(async move {
                let s: Secret = serde_json::from_value(json!({
                    "metadata": {"name": format!("s0-{i}")},
                    "stringData": {"a": "value-a", "b": "value-b"}
                }))?;
                secrets.create(&PostParams::default(), &s).await?;
                Ok(())
            })
        })
        .await?;
        self.write_ceiling = n as f64 / took.as_secs_f64();
        self.delete_namespace(S0_NAMESPACE).await?;
        self.results.insert(
            "s0".into(),
            json!({
                "creates": n,
                "concurrency": self.settings.concurrency,
                "seconds": round(took.as_secs_f64(), 3),
                "writes_per_second": self.write_ceiling.round(),
            }),
        );
        Ok(())
    }

    /// The operator with no ExternalSecret: start-up time, idle RSS, and its idle apiserver traffic over 10 s.
    async fn idle(&mut self) -> Result<()> {
        eprintln!("bench: idle operator");
        let ready = self.start_operator().await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let before = scrape_apiserver(&self.admin).await?;
        tokio::time::sleep(Duration::from_secs(10)).await;
        let requests = scrape_apiserver(&self.admin).await?.since(&before);
        let rss = self.op()?.rss_kib()?;
        self.idle_rss_kib = rss;
        self.charts.s5_rss.push((0, rss));
        self.results.insert(
            "idle".into(),
            json!({
                "ready_s": round(ready.as_secs_f64(), 3),
                "rss_mib": mib(rss),
                "rss_kib": rss,
                "apiserver_requests_per_10s": requests.to_json(),
            }),
        );
        if !self.settings.wants("S5") {
            self.stop_operator();
        }
        Ok(())
    }

    /// S5: RSS while N ExternalSecrets are added in four steps (the operator running), then with `--unrelated`
    /// Secrets of 10–100 KiB that no ExternalSecret targets.
    async fn s5(&mut self) -> Result<()> {
        let n = self.settings.n;
        self.ensure_operator().await?;
        self.create_namespace(S5_NAMESPACE).await?;
        self.create_fake_store(S5_NAMESPACE, "fake", &[("shared".into(), "bench-value".into())]).await?;
        let watch = EsWatch::start(self.admin.clone(), S5_NAMESPACE, Instant::now());
        let steps = 4.min(n);
        let mut created = 0;
        let mut points = Vec::new();
        for step in 1..=steps {
            let upto = n * step / steps;
            eprintln!("bench: S5 {upto} of {n} ExternalSecrets (operator running)");
            self.create_external_secrets(S5_NAMESPACE, created..upto, "fake", &self.settings.s1_refresh, two_entries)
                .await?;
            created = upto;
            let op = &mut self.op;
            watch
                .wait_for(
                    self.settings.timeout,
                    "S5 ExternalSecrets Ready",
                    || Self::check_alive(op),
                    |s| s.ready.len() >= upto,
                )
                .await?;
            tokio::time::sleep(Duration::from_secs(2)).await;
            let rss = self.op()?.rss_kib()?;
            self.charts.s5_rss.push((upto, rss));
            points.push(json!({"externalsecrets": upto, "rss_kib": rss}));
        }
        drop(watch);
        let rss_n = self.op()?.rss_kib()?;
        let per_es = (rss_n as f64 - self.idle_rss_kib as f64) / n as f64;

        let unrelated = self.settings.unrelated;
        eprintln!("bench: S5 creating {unrelated} unrelated Secrets of 10-100 KiB");
        self.create_namespace(UNRELATED_NAMESPACE).await?;
        let rss_before = self.op()?.rss_kib()?;
        let secrets: Api<Secret> = Api::namespaced(self.admin.clone(), UNRELATED_NAMESPACE);
        let took = create_all(0..unrelated, self.settings.concurrency, move |i| {
            let secrets = secrets.clone();
            Box::pin(async move {
                let kib = 10 + (i * 37) % 91;
                let s: Secret = serde_json::from_value(json!({
                    "metadata": {"name": format!("unrelated-{i}"), "labels": {"app": "unrelated"}},
                    "stringData": {"blob": "x".repeat(kib * 1024)}
                }))?;
                secrets.create(&PostParams::default(), &s).await?;
                Ok(())
            })
        })
        .await?;
        tokio::time::sleep(Duration::from_secs(5)).await;
        let rss_after = self.op()?.rss_kib()?;
        let hwm = self.op()?.proc_status_kib("VmHWM")?;
        self.results.insert(
            "s5".into(),
            json!({
                "idle_rss_mib": mib(self.idle_rss_kib),
                "rss_at_n_mib": mib(rss_n),
                "rss_per_externalsecret_kib": round(per_es, 2),
                "points": points,
                "unrelated_secrets": unrelated,
                "unrelated_create_seconds": round(took.as_secs_f64(), 1),
                "rss_before_unrelated_mib": mib(rss_before),
                "rss_after_unrelated_mib": mib(rss_after),
                "unrelated_rss_delta_mib": round((rss_after as f64 - rss_before as f64) / 1024.0, 2),
                "peak_rss_mib": mib(hwm),
            }),
        );
        eprintln!("bench: S5 removing its namespaces");
        self.delete_namespace(S5_NAMESPACE).await?;
        self.delete_namespace(UNRELATED_NAMESPACE).await?;
        self.stop_operator();
        Ok(())
    }

    /// S1: N ExternalSecrets (long refresh interval, so no refresh overlaps the cold start) exist, then the
    /// operator starts; one watch records when each first shows Ready=True.
    async fn s1(&mut self) -> Result<()> {
        let n = self.settings.n;
        self.stop_operator();
        eprintln!(
            "bench: S1 creating a SecretStore and {n} ExternalSecrets (refreshInterval {})",
            self.settings.s1_refresh
        );
        self.create_namespace(S1_NAMESPACE).await?;
        self.create_fake_store(S1_NAMESPACE, "fake", &[("shared".into(), "bench-value".into())]).await?;
        self.create_external_secrets(S1_NAMESPACE, 0..n, "fake", &self.settings.s1_refresh, two_entries).await?;
        // The watch's initial LIST is done before the operator starts and before the counters are read.
        let origin = Instant::now();
        let watch = EsWatch::start(self.admin.clone(), S1_NAMESPACE, origin);
        watch.wait_for(Duration::from_secs(120), "the benchmark's watch to list", || Ok(()), |s| s.init_done).await?;
        let before = scrape_apiserver(&self.admin).await?;
        eprintln!("bench: S1 starting the operator");
        // Ready times count from the operator's process start.
        let offset = watch.now();
        let origin = Instant::now();
        self.stop_operator();
        self.starts += 1;
        let log = self.work.join(format!("operator-{}.log", self.starts));
        let op = Operator::start(&self.spec, &log)?;
        self.op = Some(op);
        let mut rss_over_time = Vec::new();
        let deadline = Instant::now() + self.settings.timeout;
        loop {
            let ready = watch.seen().ready.len();
            let op = self.op()?;
            rss_over_time.push(json!([round(origin.elapsed().as_secs_f64(), 1), ready, op.rss_kib().unwrap_or(0)]));
            if ready >= n {
                break;
            }
            if Instant::now() > deadline {
                bail!("only {ready} of {n} ExternalSecrets Ready after {} s", self.settings.timeout.as_secs());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let all_ready = origin.elapsed().as_secs_f64();
        let requests = scrape_apiserver(&self.admin).await?.since(&before);
        let ticks = self.ticks;
        let op = self.op()?;
        let cpu = op.cpu_seconds(ticks)?;
        let hwm = op.proc_status_kib("VmHWM")?;
        let calls = self.operator_calls().await;
        let mut times: Vec<f64> = watch.seen().ready.values().map(|t| t - offset).collect();
        times.sort_by(f64::total_cmp);
        self.charts.s1_ready = times.clone();
        let floor = 2.0 * n as f64 / self.write_ceiling;
        let last = percentile(&times, 100.0);
        let per_es: BTreeMap<String, f64> = requests.to_json()["by_verb_resource"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), round(v.as_f64().unwrap_or(0.0) / n as f64, 3))).collect())
            .unwrap_or_default();
        self.results.insert(
            "s1".into(),
            json!({
                "externalsecrets": n,
                "refresh_interval": self.settings.s1_refresh,
                "ready_s_p50": round(percentile(&times, 50.0), 3),
                "ready_s_p99": round(percentile(&times, 99.0), 3),
                "ready_s_100": round(last, 3),
                "write_floor_s": round(floor, 3),
                "ratio_to_write_floor": round(last / floor, 2),
                "peak_rss_mib": mib(hwm),
                "cpu_s": round(cpu, 2),
                "apiserver": requests.to_json(),
                "apiserver_requests_per_externalsecret": round(requests.total() as f64 / n as f64, 2),
                "apiserver_requests_per_externalsecret_by_verb_resource": per_es,
                "apiserver_requests_per_second": round(requests.total() as f64 / all_ready, 1),
                "provider_calls": calls,
                "ready_count_by_10s": histogram(&times, 10.0),
                "samples_t_ready_rsskib": rss_over_time,
            }),
        );
        self.s1_watch = Some(watch);
        Ok(())
    }

    /// S6: the operator restarted with the S1 ExternalSecrets converged (none due for refresh): what it writes.
    async fn s6(&mut self) -> Result<()> {
        let n = self.settings.n;
        eprintln!("bench: S6 restarting the operator with {n} converged ExternalSecrets");
        let versions_before = self.secret_versions(S1_NAMESPACE).await?;
        self.stop_operator();
        let before = scrape_apiserver(&self.admin).await?;
        let since = self.s1_watch.as_ref().map(|w| w.now()).unwrap_or(0.0);
        let restarted = Instant::now();
        let ready = self.start_operator().await?;
        // Until the apiserver sees (almost) no requests for 6 s: at most 2 per 2 s (the control plane's own).
        let mut last = scrape_apiserver(&self.admin).await?;
        let mut quiet = 0;
        while quiet < 3 && restarted.elapsed() < self.settings.timeout {
            tokio::time::sleep(Duration::from_secs(2)).await;
            self.op()?;
            let now = scrape_apiserver(&self.admin).await?;
            let delta = now.since(&last).total();
            quiet = if delta <= 2 && restarted.elapsed() > Duration::from_secs(10) { quiet + 1 } else { 0 };
            last = now;
        }
        let window = restarted.elapsed().as_secs_f64();
        let requests = last.since(&before);
        let versions_after = self.secret_versions(S1_NAMESPACE).await?;
        let changed = versions_before.iter().filter(|(k, v)| versions_after.get(*k) != Some(*v)).count();
        let calls = self.operator_calls().await;
        let (refreshed, peak) = match &self.s1_watch {
            Some(w) => {
                let seen = w.seen();
                (seen.refreshed_since(since), peak_per_second(&seen.refresh_times_since(since)))
            }
            None => (0, 0),
        };
        let ticks = self.ticks;
        let op = self.op()?;
        let (cpu, hwm) = (op.cpu_seconds(ticks)?, op.proc_status_kib("VmHWM")?);
        self.results.insert(
            "s6".into(),
            json!({
                "externalsecrets": n,
                "ready_s": round(ready.as_secs_f64(), 3),
                "window_s": round(window, 1),
                "secret_writes": requests.writes_to("secrets"),
                "target_secrets_changed": changed,
                "status_writes": requests.writes_to("externalsecrets/status"),
                "externalsecrets_refreshed": refreshed,
                "peak_refreshes_per_second": peak,
                "apiserver": requests.to_json(),
                "provider_calls": calls,
                "cpu_s": round(cpu, 2),
                "peak_rss_mib": mib(hwm),
            }),
        );
        Ok(())
    }

    /// S2 and S3: the S1 ExternalSecrets get `--refresh`; once each has refreshed with it, a window of three
    /// intervals (S2; one and a half with only S3) with nothing changed at the provider.
    async fn s2_s3(&mut self) -> Result<()> {
        let n = self.settings.n;
        let r = self.settings.refresh_secs;
        self.ensure_operator().await?;
        if self.s1_watch.is_none() {
            self.s1_watch = Some(EsWatch::start(self.admin.clone(), S1_NAMESPACE, Instant::now()));
        }
        eprintln!("bench: S2/S3 setting refreshInterval {r}s on {n} ExternalSecrets");
        let since = self.s1_watch.as_ref().map(|w| w.now()).unwrap_or(0.0);
        let ess: Api<DynamicObject> =
            Api::namespaced_with(self.admin.clone(), S1_NAMESPACE, &es_resource("ExternalSecret"));
        let interval = format!("{r}s");
        create_all(0..n, self.settings.concurrency, move |i| {
            let (ess, interval) = (ess.clone(), interval.clone());
            Box::pin(async move {
                let patch = json!({"spec": {"refreshInterval": interval}});
                ess.patch(&format!("es-{i}"), &PatchParams::default(), &Patch::Merge(&patch)).await?;
                Ok(())
            })
        })
        .await?;
        {
            let watch = self.s1_watch.as_ref().context("watch")?;
            let op = &mut self.op;
            watch
                .wait_for(
                    self.settings.timeout,
                    "every ExternalSecret to sync its new interval",
                    || Self::check_alive(op),
                    |s| s.refreshed_since(since) >= n,
                )
                .await?;
        }
        let cycles = if self.settings.wants("S2") { 3.0 } else { 1.0 };
        let window = Duration::from_secs_f64(cycles * r as f64 + r as f64 / 2.0);
        eprintln!("bench: S2/S3 watching {} s of refreshes with nothing changed", window.as_secs());
        let versions_before = self.secret_versions(S1_NAMESPACE).await?;
        let before = scrape_apiserver(&self.admin).await?;
        let calls_before = self.operator_calls().await;
        let ticks = self.ticks;
        let cpu_before = self.op()?.cpu_seconds(ticks)?;
        let t0 = self.s1_watch.as_ref().map(|w| w.now()).unwrap_or(0.0);
        tokio::time::sleep(window).await;
        let cpu = self.op()?.cpu_seconds(ticks)? - cpu_before;
        let requests = scrape_apiserver(&self.admin).await?.since(&before);
        let calls = calls_since(&self.operator_calls().await, &calls_before);
        let versions_after = self.secret_versions(S1_NAMESPACE).await?;
        let changed = versions_before.iter().filter(|(k, v)| versions_after.get(*k) != Some(*v)).count();
        let (refreshes, refreshed) = match &self.s1_watch {
            Some(w) => {
                let seen = w.seen();
                (seen.refreshes_since(t0), seen.refreshed_since(t0))
            }
            None => (0, 0),
        };
        // Leader election renews its Lease whatever happens; a refresh's cost is the rest.
        let refresh_requests = requests.without("leases");
        let per = |x: u64| if refreshes == 0 { f64::NAN } else { round(x as f64 / refreshes as f64, 3) };
        let provider_total: u64 = calls.values().sum();
        if self.settings.wants("S2") {
            self.results.insert(
                "s2".into(),
                json!({
                    "externalsecrets": n,
                    "refresh_interval_s": r,
                    "window_s": window.as_secs_f64(),
                    "refreshes": refreshes,
                    "provider_calls": calls,
                    "provider_calls_per_refresh": per(provider_total),
                    "apiserver": requests.to_json(),
                    "apiserver_reads_per_refresh": per(refresh_requests.reads()),
                    "apiserver_writes_per_refresh": per(refresh_requests.writes()),
                    "apiserver_requests_per_refresh": per(refresh_requests.total()),
                                        "cpu_s_per_1000_refreshes": if refreshes == 0 { f64::NAN } else { round(cpu * 1000.0 / refreshes as f64, 2) },
                    "apiserver_requests_per_second": round(requests.total() as f64 / window.as_secs_f64(), 1),
                }),
            );
        }
        if self.settings.wants("S3") {
            self.results.insert(
                "s3".into(),
                json!({
                    "window_s": window.as_secs_f64(),
                    "externalsecrets_refreshed": refreshed,
                    "target_secrets": versions_before.len(),
                    "target_secrets_changed": changed,
                    "secret_writes": requests.writes_to("secrets"),
                    "cpu_ms": (cpu * 1000.0).round(),
                }),
            );
        }
        Ok(())
    }

    /// S4: K ExternalSecrets, each with its own key of a Fake store; each value is changed once at a random
    /// time; how long until the Secret shows it, and how much of that is beyond the scheduled refresh.
    async fn s4(&mut self) -> Result<()> {
        let k = self.settings.s4_changes;
        let r = self.settings.refresh_secs as f64;
        self.ensure_operator().await?;
        eprintln!("bench: S4 {k} ExternalSecrets with refreshInterval {r} s, each value changed once");
        self.create_namespace(S4_NAMESPACE).await?;
        let mut values: Vec<(String, String)> = (0..k).map(|i| (format!("key-{i}"), format!("v0-{i}"))).collect();
        self.create_fake_store(S4_NAMESPACE, "fake", &values).await?;
        let origin = Instant::now();
        let es_watch = EsWatch::start(self.admin.clone(), S4_NAMESPACE, origin);
        let secret_watch = SecretWatch::start(self.admin.clone(), S4_NAMESPACE, origin);
        let interval = format!("{}s", self.settings.refresh_secs);
        self.create_external_secrets(
            S4_NAMESPACE,
            0..k,
            "fake",
            &interval,
            |i| json!([{"secretKey": "value", "remoteRef": {"key": format!("key-{i}")}}]),
        )
        .await?;
        {
            let op = &mut self.op;
            es_watch
                .wait_for(
                    self.settings.timeout,
                    "S4 ExternalSecrets Ready",
                    || Self::check_alive(op),
                    |s| s.ready.len() >= k,
                )
                .await?;
        }
        let api_before = scrape_apiserver(&self.admin).await?;
        let mut rng = rand::rngs::StdRng::seed_from_u64(self.settings.seed);
        let start = es_watch.now();
        let mut plan: Vec<(f64, usize)> = (0..k).map(|i| (start + rng.random_range(0.0..2.0 * r), i)).collect();
        plan.sort_by(|a, b| a.0.total_cmp(&b.0));
        let stores: Api<DynamicObject> =
            Api::namespaced_with(self.admin.clone(), S4_NAMESPACE, &es_resource("SecretStore"));
        let mut changed_at = vec![f64::NAN; k];
        let mut last_refresh_before = vec![f64::NAN; k];
        for (at, i) in plan {
            let wait = at - es_watch.now();
            if wait > 0.0 {
                tokio::time::sleep(Duration::from_secs_f64(wait)).await;
            }
            self.op()?;
            let new = format!("v1-{i}");
            values[i].1 = new.clone();
            secret_watch
                .expected
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(format!("es-{i}"), ("value".into(), new.into_bytes()));
            let data: Vec<Value> = values.iter().map(|(k, v)| json!({"key": k, "value": v})).collect();
            let patch = json!({"spec": {"provider": {"fake": {"data": data}}}});
            stores.patch("fake", &PatchParams::default(), &Patch::Merge(&patch)).await?;
            changed_at[i] = es_watch.now();
            last_refresh_before[i] = es_watch
                .seen()
                .refreshes
                .get(&format!("es-{i}"))
                .and_then(|ts| ts.iter().copied().filter(|t| *t <= changed_at[i]).reduce(f64::max))
                .unwrap_or(f64::NAN);
        }
        let deadline = Instant::now() + Duration::from_secs_f64(2.0 * 1.1 * r + 10.0);
        while secret_watch.seen.lock().unwrap_or_else(|p| p.into_inner()).len() < k && Instant::now() < deadline {
            self.op()?;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let seen = secret_watch.seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let requests = scrape_apiserver(&self.admin).await?.since(&api_before);
        let (mut delays, mut beyond, mut beyond_jitter) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..k {
            let Some(at) = seen.get(&format!("es-{i}")) else { continue };
            let scheduled = changed_at[i].max(last_refresh_before[i] + r);
            let scheduled_jitter = changed_at[i].max(last_refresh_before[i] + 1.1 * r);
            delays.push(at - changed_at[i]);
            beyond.push((at - scheduled).max(0.0));
            beyond_jitter.push((at - scheduled_jitter).max(0.0));
        }
        for v in [&mut delays, &mut beyond, &mut beyond_jitter] {
            v.sort_by(f64::total_cmp);
        }
        drop(secret_watch);
        drop(es_watch);
        self.results.insert(
            "s4".into(),
            json!({
                "changes": k,
                "refresh_interval_s": r,
                "propagated": delays.len(),
                "not_propagated": k - delays.len(),
                "delay_s_p50": round(percentile(&delays, 50.0), 3),
                "delay_s_p99": round(percentile(&delays, 99.0), 3),
                "beyond_schedule_s_p50": round(percentile(&beyond, 50.0), 3),
                "beyond_schedule_s_p99": round(percentile(&beyond, 99.0), 3),
                "beyond_schedule_and_10pct_jitter_s_p99": round(percentile(&beyond_jitter, 99.0), 3),
                "apiserver": requests.to_json(),
            }),
        );
        self.delete_namespace(S4_NAMESPACE).await?;
        Ok(())
    }

    /// Creates Secrets Manager secrets `bench/<i>` for i < count at the endpoint (directly, not counted).
    async fn ensure_aws_secrets(&self, count: usize) -> Result<()> {
        let aws = self.aws.as_ref().context("no AWS endpoint")?;
        let existing = aws.call("secretsmanager", "secretsmanager.ListSecrets", &json!({"MaxResults": 1})).await?;
        if existing["SecretList"].as_array().is_some_and(|l| !l.is_empty()) {
            return Ok(());
        }
        // One at a time: moto's Secrets Manager backend is not safe for concurrent CreateSecret (a dictionary
        // changes size during iteration and the call fails with HTTP 500).
        for i in 0..count {
            let value = json!({"password": format!("pw-{i}")}).to_string();
            let body = json!({"Name": format!("bench/{i}"), "SecretString": value});
            aws.call("secretsmanager", "secretsmanager.CreateSecret", &body).await?;
        }
        Ok(())
    }

    fn aws_store(&self, auth: Value) -> Value {
        json!({
            "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
            "metadata": {"name": "aws"},
            "spec": {"provider": {"aws": {"service": "SecretsManager", "region": REGION, "auth": auth}}}
        })
    }

    /// S7: the AWS provider (static keys) with Secrets Manager throttled to `--s7-tps`: M ExternalSecrets, one
    /// secret each, created with the operator running.
    async fn s7(&mut self) -> Result<()> {
        let m = self.settings.s7_keys;
        let tps = self.settings.s7_tps;
        self.ensure_operator().await?;
        eprintln!("bench: S7 {m} ExternalSecrets on Secrets Manager throttled to {tps} calls/s");
        self.ensure_aws_secrets(m.max(self.settings.s8_n)).await?;
        self.create_namespace(S7_NAMESPACE).await?;
        let aws = self.aws.as_ref().context("no AWS endpoint")?;
        let creds: Secret = serde_json::from_value(json!({
            "metadata": {"name": "aws-creds"},
            "stringData": {"access-key-id": aws.endpoint.access_key_id, "secret-access-key": aws.endpoint.secret_access_key}
        }))?;
        Api::<Secret>::namespaced(self.admin.clone(), S7_NAMESPACE).create(&PostParams::default(), &creds).await?;
        let store = self.aws_store(json!({"secretRef": {
            "accessKeyIDSecretRef": {"name": "aws-creds", "key": "access-key-id"},
            "secretAccessKeySecretRef": {"name": "aws-creds", "key": "secret-access-key"}
        }}));
        Api::<DynamicObject>::namespaced_with(self.admin.clone(), S7_NAMESPACE, &es_resource("SecretStore"))
            .create(&PostParams::default(), &serde_json::from_value(store)?)
            .await?;
        aws.throttle(Some(tps));
        let before = aws.counts();
        let api_before = scrape_apiserver(&self.admin).await?;
        let calls_before = self.operator_calls().await;
        let origin = Instant::now();
        let watch = EsWatch::start(self.admin.clone(), S7_NAMESPACE, origin);
        self.create_external_secrets(
            S7_NAMESPACE,
            0..m,
            "aws",
            &self.settings.s1_refresh,
            |i| json!([{"secretKey": "password", "remoteRef": {"key": format!("bench/{i}"), "property": "password"}}]),
        )
        .await?;
        let timeout = self.settings.timeout.max(Duration::from_secs_f64(m as f64 / tps * 5.0 + 120.0));
        let result = {
            let op = &mut self.op;
            watch.wait_for(timeout, "S7 ExternalSecrets Ready", || Self::check_alive(op), |s| s.ready.len() >= m).await
        };
        let converged = origin.elapsed().as_secs_f64();
        let requests = scrape_apiserver(&self.admin).await?.since(&api_before);
        let aws = self.aws.as_ref().context("no AWS endpoint")?;
        aws.throttle(None);
        result?;
        let counts = aws.counts().since(&before);
        let sm = |op: &str| op.starts_with("secretsmanager.");
        let attempted = counts.attempted_where(sm);
        let throttled = counts.throttled_where(sm);
        let failed: u64 = counts.failed.iter().filter(|(k, _)| sm(k)).map(|(_, v)| v).sum();
        // Throttled calls never reach moto and are not in `failed`.
        let succeeded = attempted.saturating_sub(throttled).saturating_sub(failed);
        let peak = aws.peak_per_second(origin, sm);
        let calls = calls_since(&self.operator_calls().await, &calls_before);
        drop(watch);
        self.results.insert(
            "s7".into(),
            json!({
                "externalsecrets": m,
                "quota_tps": tps,
                "converge_s": round(converged, 2),
                "converge_lower_bound_s": round(m as f64 / tps, 2),
                "calls_attempted": attempted,
                "calls_throttled": throttled,
                "calls_succeeded": succeeded,
                "calls_failed_other": failed,
                "retry_amplification": if succeeded == 0 { f64::NAN } else { round(attempted as f64 / succeeded as f64, 3) },
                "peak_calls_per_second": peak,
                "endpoint_counts": counts.to_json(),
                "operator_reported_calls": calls,
                "apiserver": requests.to_json(),
                "apiserver_requests_per_second": round(requests.total() as f64 / converged, 1),
            }),
        );
        self.delete_namespace(S7_NAMESPACE).await?;
        Ok(())
    }

    /// S8: the AWS provider with IRSA (TokenRequest for a ServiceAccount, then STS AssumeRoleWithWebIdentity,
    /// verified by the endpoint against the apiserver's keys): calls for the first sync and per refresh cycle.
    async fn s8(&mut self) -> Result<()> {
        let p = self.settings.s8_n;
        let r = self.settings.refresh_secs;
        self.ensure_operator().await?;
        eprintln!("bench: S8 {p} ExternalSecrets through IRSA, refreshInterval {r} s");
        self.ensure_aws_secrets(p.max(self.settings.s7_keys)).await?;
        self.create_namespace(S8_NAMESPACE).await?;
        let sa: k8s_openapi::api::core::v1::ServiceAccount = serde_json::from_value(json!({
            "metadata": {"name": IRSA_SERVICE_ACCOUNT, "annotations": {"eks.amazonaws.com/role-arn": IRSA_ROLE}}
        }))?;
        Api::namespaced(self.admin.clone(), S8_NAMESPACE).create(&PostParams::default(), &sa).await?;
        let jwks = self.admin.request_text(http::Request::get("/openid/v1/jwks").body(Vec::new())?).await?;
        let aws = self.aws.as_ref().context("no AWS endpoint")?;
        let subject = format!("system:serviceaccount:{S8_NAMESPACE}:{IRSA_SERVICE_ACCOUNT}");
        aws.test_api(
            "POST",
            "/_esr/irsa",
            &json!({"issuer": self.cluster.issuer, "jwks": serde_json::from_str::<Value>(&jwks)?, "roles": {subject: IRSA_ROLE}}),
        )
        .await?;
        let store = self.aws_store(json!({"jwt": {"serviceAccountRef": {"name": IRSA_SERVICE_ACCOUNT}}}));
        let before = scrape_apiserver(&self.admin).await?;
        let counts_before = aws.counts();
        Api::<DynamicObject>::namespaced_with(self.admin.clone(), S8_NAMESPACE, &es_resource("SecretStore"))
            .create(&PostParams::default(), &serde_json::from_value(store)?)
            .await?;
        let watch = EsWatch::start(self.admin.clone(), S8_NAMESPACE, Instant::now());
        let interval = format!("{r}s");
        self.create_external_secrets(
            S8_NAMESPACE,
            0..p,
            "aws",
            &interval,
            |i| json!([{"secretKey": "password", "remoteRef": {"key": format!("bench/{i}"), "property": "password"}}]),
        )
        .await?;
        {
            let op = &mut self.op;
            watch
                .wait_for(
                    self.settings.timeout,
                    "S8 ExternalSecrets Ready",
                    || Self::check_alive(op),
                    |s| s.ready.len() >= p,
                )
                .await?;
        }
        let aws = self.aws.as_ref().context("no AWS endpoint")?;
        let mid = scrape_apiserver(&self.admin).await?;
        let counts_mid = aws.counts();
        let first = (mid.since(&before), counts_mid.since(&counts_before));
        let t0 = watch.now();
        let cycles = 2.0;
        tokio::time::sleep(Duration::from_secs_f64(cycles * r as f64 + r as f64 / 2.0)).await;
        self.op()?;
        let aws = self.aws.as_ref().context("no AWS endpoint")?;
        let refresh = (scrape_apiserver(&self.admin).await?.since(&mid), aws.counts().since(&counts_mid));
        let refreshes = watch.seen().refreshes_since(t0);
        drop(watch);
        let cycles_seen = refreshes as f64 / p as f64;
        let per_cycle = |x: u64| if cycles_seen == 0.0 { f64::NAN } else { round(x as f64 / cycles_seen, 2) };
        let sts = "sts.AssumeRoleWithWebIdentity";
        let gsv = |c: &crate::aws::ProxyCounts| c.attempted_where(|op| op.starts_with("secretsmanager."));
        self.results.insert(
            "s8".into(),
            json!({
                "externalsecrets": p,
                "refresh_interval_s": r,
                "first_sync_token_requests": first.0.count("POST", "serviceaccounts/token"),
                "first_sync_sts_calls": first.1.get(sts),
                "first_sync_secretsmanager_calls": gsv(&first.1),
                "refresh_cycles_observed": round(cycles_seen, 2),
                "token_requests_per_cycle": per_cycle(refresh.0.count("POST", "serviceaccounts/token")),
                "sts_calls_per_cycle": per_cycle(refresh.1.get(sts)),
                "secretsmanager_calls_per_cycle": per_cycle(gsv(&refresh.1)),
                "endpoint_counts_first_sync": first.1.to_json(),
                "endpoint_counts_refresh": refresh.1.to_json(),
                "apiserver_first_sync": first.0.to_json(),
                "apiserver_refresh": refresh.0.to_json(),
            }),
        );
        self.delete_namespace(S8_NAMESPACE).await?;
        Ok(())
    }
}

/// The S1/S5 ExternalSecret data: two entries from the one `shared` key.
fn two_entries(_: usize) -> Value {
    json!([
        {"secretKey": "a", "remoteRef": {"key": "shared"}},
        {"secretKey": "b", "remoteRef": {"key": "shared"}}
    ])
}

/// The most events within any one second of sorted `times`.
fn peak_per_second(times: &[f64]) -> usize {
    let mut peak = 0;
    let mut start = 0;
    for end in 0..times.len() {
        while times[end] - times[start] >= 1.0 {
            start += 1;
        }
        peak = peak.max(end - start + 1);
    }
    peak
}

pub type BoxFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send>>;

/// Runs `make(i)` for every i in `range` with up to `concurrency` in flight; returns the wall time.
pub async fn create_all<F>(range: std::ops::Range<usize>, concurrency: usize, make: F) -> Result<Duration>
where
    F: Fn(usize) -> BoxFuture + Send + Sync + 'static,
{
    let started = Instant::now();
    futures::stream::iter(range)
        .map(make)
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<Result<()>>>()
        .await
        .into_iter()
        .collect::<Result<Vec<()>>>()?;
    Ok(started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_per_second_counts_the_busiest_one_second_window() {
        assert_eq!(peak_per_second(&[]), 0);
        assert_eq!(peak_per_second(&[0.0, 0.5, 0.9, 1.5, 3.0]), 3);
        assert_eq!(peak_per_second(&[0.0, 1.0, 2.0]), 1);
    }
}
