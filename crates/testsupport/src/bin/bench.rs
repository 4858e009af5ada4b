//! `bench`: a first performance run (`make bench`) of the scenarios S0, S1, S3 and S5 of PERFORMANCE.md.
//!
//! It starts its own local cluster, applies the CRDs, and runs the operator as a separate process from a command
//! line given with `--operator-cmd` (so another implementation can be measured the same way), as its own
//! ServiceAccount bound to deploy/rbac/controller-clusterrole.yaml. Results go to
//! `bench/results/<UTC date>-<short commit>.{json,md}`. Every process it starts is stopped by PID on exit.
//!
//! Options: `--n N` (default 1000), `--concurrency C` (client writes in flight, default 16), `--refresh SECONDS`
//! (the ExternalSecrets' refreshInterval, default 20), `--operator-cmd CMD` (run with `sh -c "exec CMD"`;
//! `{port}` is replaced by a free port for /readyz, `{kubeconfig}` is also exported as KUBECONFIG),
//! `--out-dir DIR` (default bench/results).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use external_secrets_testsupport::{Cluster, ClusterOptions, client_from_kubeconfig, process::free_port, tools};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, PostParams};
use serde_json::{Value, json};

const NAMESPACE: &str = "bench";
const S0_NAMESPACE: &str = "bench-s0";
const DEFAULT_OPERATOR: &str = "target/release/external-secrets controller --metrics-addr=127.0.0.1:{port} \
                                --live-addr=127.0.0.1:{port} --log-format=text --loglevel=warn";

struct Options {
    n: usize,
    concurrency: usize,
    refresh_secs: u64,
    operator_cmd: String,
    out_dir: PathBuf,
}

fn parse_args() -> Result<Options> {
    let root = tools::repo_root();
    let mut opts = Options {
        n: 1000,
        concurrency: 16,
        refresh_secs: 20,
        operator_cmd: DEFAULT_OPERATOR.to_string(),
        out_dir: root.canonicalize().unwrap_or(root).join("bench/results"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| anyhow!("{flag} needs a value"));
        match flag.as_str() {
            "--n" => opts.n = value()?.parse().context("--n")?,
            "--concurrency" => opts.concurrency = value()?.parse().context("--concurrency")?,
            "--refresh" => opts.refresh_secs = value()?.parse().context("--refresh")?,
            "--operator-cmd" => opts.operator_cmd = value()?,
            "--out-dir" => opts.out_dir = PathBuf::from(value()?),
            other => bail!("unknown argument {other}; see the header of crates/testsupport/src/bin/bench.rs"),
        }
    }
    if opts.n == 0 || opts.concurrency == 0 {
        bail!("--n and --concurrency must be positive");
    }
    Ok(opts)
}

/// The operator under test: a child process, stopped by PID (TERM, then KILL after 5 s) when dropped.
struct Operator {
    child: Child,
    port: u16,
    started: Instant,
}

impl Operator {
    fn start(cmd: &str, kubeconfig: &Path, log: &Path) -> Result<Self> {
        let port = free_port()?;
        let line = cmd.replace("{port}", &port.to_string()).replace("{kubeconfig}", &kubeconfig.display().to_string());
        let log_file = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!("exec {line}"))
            .current_dir(tools::repo_root())
            .env("KUBECONFIG", kubeconfig)
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("starting the operator: {line}"))?;
        Ok(Self { child, port, started: Instant::now() })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn check_alive(&mut self, log: &Path) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "the operator exited ({status}); log {}:\n{}",
                log.display(),
                external_secrets_testsupport::process::log_tail(log, 30)
            );
        }
        Ok(())
    }

    /// Waits (bounded) until GET /readyz answers 200.
    async fn wait_ready(&mut self, log: &Path) -> Result<Duration> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            self.check_alive(log)?;
            if readyz(self.port) {
                return Ok(self.started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("the operator did not answer 200 on /readyz within 60 s (port {}); log {}", self.port, log.display())
    }

    fn proc_status_kib(&self, field: &str) -> Result<u64> {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        text.lines()
            .find_map(|l| l.strip_prefix(field).and_then(|r| r.trim_start_matches(':').trim().strip_suffix("kB")))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| anyhow!("no {field} in /proc/{}/status", self.pid()))
    }

    fn cpu_seconds(&self, ticks: f64) -> Result<f64> {
        let text = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))?;
        // Fields after the command name (which is in parentheses and may hold spaces): utime and stime are the
        // 14th and 15th fields of the whole line, i.e. the 12th and 13th after ')'.
        let rest = text.rsplit_once(')').map(|(_, r)| r).ok_or_else(|| anyhow!("unexpected /proc stat"))?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: f64 = fields.get(11).ok_or_else(|| anyhow!("no utime"))?.parse()?;
        let stime: f64 = fields.get(12).ok_or_else(|| anyhow!("no stime"))?.parse()?;
        Ok((utime + stime) / ticks)
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let pid = self.pid().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn readyz(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(b"GET /readyz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200")
}

fn run(program: &Path, args: &[&str], env: &[(&str, &Path)], stdin: Option<&str>) -> Result<String> {
    let mut cmd = Command::new(program);
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = cmd.spawn().with_context(|| format!("running {}", program.display()))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write;
        pipe.write_all(input.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("{} {}: {}", program.display(), args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn facts(cluster_bin: &Path) -> BTreeMap<&'static str, String> {
    let text = |program: &str, args: &[&str]| {
        run(Path::new(program), args, &[], None).unwrap_or_else(|e| format!("unknown ({e})"))
    };
    let mem_total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find(|l| l.starts_with("MemTotal:")).map(|l| l.trim_start_matches("MemTotal:").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string());
    let mut f = BTreeMap::new();
    f.insert("nproc", std::thread::available_parallelism().map(|n| n.to_string()).unwrap_or_default());
    f.insert("memory", mem_total);
    f.insert("kernel", std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string());
    f.insert("cpu", cpu_model());
    f.insert("rustc", text("rustc", &["-V"]));
    f.insert("kube_apiserver", text(&cluster_bin.join("kube-apiserver").display().to_string(), &["--version"]));
    f.insert("commit", text("git", &["-C", &tools::repo_root().display().to_string(), "rev-parse", "--short", "HEAD"]));
    let dirty = text(
        "git",
        &["-C", &tools::repo_root().display().to_string(), "status", "--porcelain", "--untracked-files=no"],
    );
    f.insert("tree", if dirty.is_empty() { "clean".to_string() } else { "modified (uncommitted changes)".to_string() });
    f.insert("date_utc", text("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]));
    f
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// How many of `sorted` (seconds) fall in each 10 s bucket, from 0 to the last one: shows a long tail.
fn histogram(sorted: &[f64], width: f64) -> Vec<usize> {
    let mut buckets = Vec::new();
    for t in sorted {
        let b = (t / width) as usize;
        if buckets.len() <= b {
            buckets.resize(b + 1, 0);
        }
        buckets[b] += 1;
    }
    buckets
}

fn es_resource(kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("external-secrets.io", "v1", kind))
}

fn is_ready(obj: &DynamicObject) -> bool {
    obj.data["status"]["conditions"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

/// Creates `n` objects with up to `concurrency` requests in flight; returns the wall time.
async fn create_all<F>(n: usize, concurrency: usize, make: F) -> Result<Duration>
where
    F: Fn(usize) -> futures_like::BoxFuture + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..concurrency {
        let make = make.clone();
        workers.spawn(async move {
            let mut i = w;
            while i < n {
                make(i).await?;
                i += concurrency;
            }
            Ok::<(), anyhow::Error>(())
        });
    }
    while let Some(done) = workers.join_next().await {
        done??;
    }
    Ok(started.elapsed())
}

mod futures_like {
    pub type BoxFuture = std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + Send>>;
}

fn operator_kubeconfig(kubectl: &Path, admin: &Path, dir: &Path) -> Result<PathBuf> {
    let env = [("KUBECONFIG", admin)];
    let k = |args: &[&str], stdin: Option<&str>| run(kubectl, args, &env, stdin);
    k(&["create", "namespace", "external-secrets"], None)?;
    k(&["-n", "external-secrets", "create", "serviceaccount", "external-secrets"], None)?;
    let rbac = tools::repo_root().join("deploy/rbac/controller-clusterrole.yaml");
    k(&["apply", "-f", &rbac.display().to_string()], None)?;
    k(
        &[
            "create",
            "clusterrolebinding",
            "external-secrets-controller",
            "--clusterrole=external-secrets-controller",
            "--serviceaccount=external-secrets:external-secrets",
        ],
        None,
    )?;
    let token = k(&["-n", "external-secrets", "create", "token", "external-secrets", "--duration=2h"], None)?;
    let server = k(&["config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"], None)?;
    let ca = k(
        &["config", "view", "--minify", "--raw", "-o", "jsonpath={.clusters[0].cluster.certificate-authority-data}"],
        None,
    )?;
    let config = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster: {{server: \"{server}\", \
         certificate-authority-data: \"{ca}\"}}\nusers:\n- name: external-secrets\n  user: {{token: \"{token}\"}}\n\
         contexts:\n- name: operator\n  context: {{cluster: local, user: external-secrets}}\ncurrent-context: operator\n"
    );
    let path = dir.join("operator.kubeconfig");
    std::fs::write(&path, config)?;
    Ok(path)
}

async fn main_async(opts: &Options, cluster: &Cluster, work: &Path) -> Result<Value> {
    let bin = tools::bin_dir()?;
    let kubectl = bin.join("kubectl");
    let admin_env = [("KUBECONFIG", cluster.kubeconfig.as_path())];
    let bundle = tools::repo_root().join("deploy/crds/bundle.yaml");
    run(&kubectl, &["apply", "--server-side", "-f", &bundle.display().to_string()], &admin_env, None)?;
    run(&kubectl, &["wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"], &admin_env, None)?;
    let op_kubeconfig = operator_kubeconfig(&kubectl, &cluster.kubeconfig, work)?;
    let client = client_from_kubeconfig(&cluster.kubeconfig).await?;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for ns in [NAMESPACE, S0_NAMESPACE] {
        let obj: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}}))?;
        namespaces.create(&PostParams::default(), &obj).await?;
    }
    let ticks: f64 =
        run(Path::new("getconf"), &["CLK_TCK"], &[], None).ok().and_then(|t| t.parse().ok()).unwrap_or(100.0);
    let n = opts.n;

    // S0: the apiserver write ceiling with a plain client.
    eprintln!("bench: S0 creating {n} plain Secrets ({} in flight)", opts.concurrency);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), S0_NAMESPACE);
    let s0 = {
        let secrets = secrets.clone();
        create_all(n, opts.concurrency, move |i| {
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
        .await?
    };
    let w = n as f64 / s0.as_secs_f64();
    // The unrelated Secrets would skew S5; remove them.
    namespaces.delete(S0_NAMESPACE, &DeleteParams::default()).await?;

    // S5 (idle): the operator with no ExternalSecret.
    eprintln!("bench: S5 idle operator");
    let idle_log = work.join("operator-idle.log");
    let (idle_rss, idle_ready) = {
        let mut op = Operator::start(&opts.operator_cmd, &op_kubeconfig, &idle_log)?;
        let ready = op.wait_ready(&idle_log).await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        op.check_alive(&idle_log)?;
        (op.proc_status_kib("VmRSS")?, ready)
    };

    // S1: N ExternalSecrets exist before the operator starts.
    eprintln!("bench: S1 creating a SecretStore and {n} ExternalSecrets");
    let stores: Api<DynamicObject> = Api::namespaced_with(client.clone(), NAMESPACE, &es_resource("SecretStore"));
    let store: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
        "metadata": {"name": "fake"},
        "spec": {"provider": {"fake": {"data": [{"key": "shared", "value": "bench-value"}]}}}
    }))?;
    stores.create(&PostParams::default(), &store).await?;
    let ess: Api<DynamicObject> = Api::namespaced_with(client.clone(), NAMESPACE, &es_resource("ExternalSecret"));
    let refresh = format!("{}s", opts.refresh_secs);
    {
        let ess = ess.clone();
        create_all(n, opts.concurrency, move |i| {
            let ess = ess.clone();
            let refresh = refresh.clone();
            Box::pin(async move {
                let es: DynamicObject = serde_json::from_value(json!({
                    "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                    "metadata": {"name": format!("es-{i}")},
                    "spec": {
                        "refreshInterval": refresh,
                        "secretStoreRef": {"name": "fake", "kind": "SecretStore"},
                        "target": {"name": format!("es-{i}")},
                        "data": [
                            {"secretKey": "a", "remoteRef": {"key": "shared"}},
                            {"secretKey": "b", "remoteRef": {"key": "shared"}}
                        ]
                    }
                }))?;
                ess.create(&PostParams::default(), &es).await?;
                Ok(())
            })
        })
        .await?;
    }

    eprintln!("bench: S1 starting the operator");
    let log = work.join("operator.log");
    let mut op = Operator::start(&opts.operator_cmd, &op_kubeconfig, &log)?;
    let mut ready_at: HashMap<String, f64> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    while ready_at.len() < n {
        op.check_alive(&log)?;
        if Instant::now() > deadline {
            bail!("only {} of {n} ExternalSecrets Ready after 600 s; log {}", ready_at.len(), log.display());
        }
        let list = ess.list(&ListParams::default()).await?;
        let now = op.started.elapsed().as_secs_f64();
        for es in &list.items {
            if let Some(name) = &es.metadata.name
                && is_ready(es)
            {
                ready_at.entry(name.clone()).or_insert(now);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut times: Vec<f64> = ready_at.values().copied().collect();
    times.sort_by(f64::total_cmp);
    let s1_cpu = op.cpu_seconds(ticks)?;
    let s1_hwm = op.proc_status_kib("VmHWM")?;

    // S3: one refresh cycle with nothing changed at the provider.
    eprintln!("bench: S3 waiting for a refresh cycle ({refresh_secs} s + margin)", refresh_secs = opts.refresh_secs);
    let targets: Api<Secret> = Api::namespaced(client.clone(), NAMESPACE);
    let versions = |list: Vec<Secret>| -> BTreeMap<String, String> {
        list.into_iter().filter_map(|s| Some((s.metadata.name?, s.metadata.resource_version?))).collect()
    };
    let refresh_times = |list: &[DynamicObject]| -> BTreeMap<String, String> {
        list.iter()
            .filter_map(|e| Some((e.metadata.name.clone()?, e.data["status"]["refreshTime"].as_str()?.to_string())))
            .collect()
    };
    let before = versions(targets.list(&ListParams::default()).await?.items);
    let refreshed_before = refresh_times(&ess.list(&ListParams::default()).await?.items);
    let cpu_before = op.cpu_seconds(ticks)?;
    tokio::time::sleep(Duration::from_secs(opts.refresh_secs + opts.refresh_secs / 2 + 5)).await;
    op.check_alive(&log)?;
    let cpu_after = op.cpu_seconds(ticks)?;
    let after = versions(targets.list(&ListParams::default()).await?.items);
    let refreshed_after = refresh_times(&ess.list(&ListParams::default()).await?.items);
    let changed = before.iter().filter(|(k, v)| after.get(*k) != Some(*v)).count();
    let refreshed = refreshed_after.iter().filter(|(k, v)| refreshed_before.get(*k) != Some(*v)).count();
    let window = opts.refresh_secs + opts.refresh_secs / 2 + 5;

    // S5 (at N): resident memory with N ExternalSecrets converged.
    let rss_n = op.proc_status_kib("VmRSS")?;
    let hwm = op.proc_status_kib("VmHWM")?;
    drop(op);

    let ms = |s: f64| (s * 1000.0).round() as u64;
    Ok(json!({
        "n": n,
        "s0": {"creates": n, "concurrency": opts.concurrency, "seconds": s0.as_secs_f64(), "writes_per_second": w.round() as u64},
        "s1": {
            "ready_ms_p50": ms(percentile(&times, 50.0)),
            "ready_ms_p99": ms(percentile(&times, 99.0)),
            "ready_ms_100": ms(percentile(&times, 100.0)),
            "write_floor_ms": ms(2.0 * n as f64 / w),
            "ratio_to_write_floor": (percentile(&times, 100.0) / (2.0 * n as f64 / w) * 100.0).round() / 100.0,
            "peak_rss_kib": s1_hwm,
            "cpu_seconds": (s1_cpu * 100.0).round() / 100.0,
            "poll_interval_ms": 200,
            "ready_count_by_10s": histogram(&times, 10.0)
        },
        "s3": {
            "window_seconds": window,
            "refresh_interval_seconds": opts.refresh_secs,
            "externalsecrets_refreshed": refreshed,
            "target_secrets": before.len(),
            "secret_writes": changed,
            "cpu_ms": ms(cpu_after - cpu_before),
        },
        "s5": {
            "idle_rss_kib": idle_rss,
            "idle_ready_ms": idle_ready.as_millis() as u64,
            "rss_at_n_kib": rss_n,
            "peak_rss_kib": hwm,
            "rss_per_externalsecret_kib": ((rss_n as f64 - idle_rss as f64) / n as f64 * 100.0).round() / 100.0
        }
    }))
}

fn markdown(r: &Value, facts: &BTreeMap<&'static str, String>, command: &str, operator_cmd: &str) -> String {
    let mib = |v: &Value| v.as_f64().map(|k| format!("{:.1} MiB", k / 1024.0)).unwrap_or_default();
    let n = &r["n"];
    let mut out = format!(
        "# Benchmark {} (commit {})\n\n",
        facts.get("date_utc").map_or("", |s| s),
        facts.get("commit").map_or("", |s| s)
    );
    out.push_str("| figure | measured | target (PERFORMANCE.md) |\n|---|---|---|\n");
    let rows = [
        (
            "S0 write ceiling W (Secret creates/s)",
            format!("{}", r["s0"]["writes_per_second"]),
            "(calibration)".to_string(),
        ),
        (
            "S1 cold start: Ready p50 / p99 / 100%",
            format!("{} / {} / {} ms", r["s1"]["ready_ms_p50"], r["s1"]["ready_ms_p99"], r["s1"]["ready_ms_100"]),
            format!("100% within 1.5× the write floor 2N/W = {} ms", r["s1"]["write_floor_ms"]),
        ),
        ("S1 100% / write floor", format!("{}×", r["s1"]["ratio_to_write_floor"]), "≤ 1.5×".to_string()),
        ("S1 peak RSS (VmHWM)", mib(&r["s1"]["peak_rss_kib"]), "—".to_string()),
        ("S1 operator CPU (user+system)", format!("{} s", r["s1"]["cpu_seconds"]), "—".to_string()),
        (
            "S3 target Secrets written on an unchanged refresh",
            format!(
                "{} of {} ({} of {n} ExternalSecrets refreshed in {} s)",
                r["s3"]["secret_writes"],
                r["s3"]["target_secrets"],
                r["s3"]["externalsecrets_refreshed"],
                r["s3"]["window_seconds"]
            ),
            "0".to_string(),
        ),
        ("S3 operator CPU during that window", format!("{} ms", r["s3"]["cpu_ms"]), "—".to_string()),
        ("S5 idle RSS", mib(&r["s5"]["idle_rss_kib"]), "≤ 15 MiB".to_string()),
        (&*format!("S5 RSS at N = {n}"), mib(&r["s5"]["rss_at_n_kib"]), "—".to_string()),
        ("S5 RSS per ExternalSecret", format!("{} KiB", r["s5"]["rss_per_externalsecret_kib"]), "≤ 8 KiB".to_string()),
    ];
    for (figure, measured, target) in rows {
        out.push_str(&format!("| {figure} | {measured} | {target} |\n"));
    }
    out.push_str("\nNo comparison with ESO yet: only this implementation was measured.\n\n## Machine and versions\n\n");
    for (k, v) in facts {
        out.push_str(&format!("- {k}: {v}\n"));
    }
    out.push_str(&format!("\n## Command\n\n```\n{command}\n```\n\nOperator command line: `{operator_cmd}`\n"));
    out
}

fn main() -> Result<()> {
    let opts = parse_args()?;
    let command = std::env::args()
        .map(|a| if a.contains([' ', '{', '"']) { format!("'{a}'") } else { a })
        .collect::<Vec<_>>()
        .join(" ");
    let bin = tools::bin_dir()?;
    let facts = facts(&bin);
    let work = tempfile::Builder::new().prefix("esr-bench-").tempdir()?;
    eprintln!("bench: starting the local cluster in {}", work.path().display());
    let cluster = Cluster::start(ClusterOptions { dir: Some(work.path().join("cluster")), detached: false })?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let result = runtime.block_on(main_async(&opts, &cluster, work.path()));
    drop(runtime);
    cluster.stop();
    let results = match result {
        Ok(r) => r,
        Err(e) => {
            let kept = work.keep();
            return Err(e.context(format!("benchmark failed (logs kept in {})", kept.display())));
        }
    };
    let mut document = results.clone();
    document["facts"] = json!(facts);
    document["command"] = json!(command);
    document["operator_cmd"] = json!(opts.operator_cmd);
    std::fs::create_dir_all(&opts.out_dir)?;
    let date = facts.get("date_utc").map_or("unknown", |d| d.get(..10).unwrap_or(d));
    let stem = format!("{date}-{}", facts.get("commit").map_or("unknown", |c| c.as_str()));
    let json_path = opts.out_dir.join(format!("{stem}.json"));
    let md_path = opts.out_dir.join(format!("{stem}.md"));
    std::fs::write(&json_path, serde_json::to_string_pretty(&document)? + "\n")?;
    let md = markdown(&results, &facts, &command, &opts.operator_cmd);
    std::fs::write(&md_path, &md)?;
    println!("{md}");
    eprintln!("bench: wrote {} and {}", json_path.display(), md_path.display());
    Ok(())
}
