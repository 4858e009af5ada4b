//! `bench`: the scenarios S0–S8 of PERFORMANCE.md against one or two operator command lines (`make bench`), and
//! `bench compare A.json B.json`.
//!
//! Each operator command line gets its own fresh local cluster (etcd, kube-apiserver, kube-controller-manager) and
//! runs as a separate process, as its own ServiceAccount bound to deploy/rbac/controller-clusterrole.yaml, so that
//! another implementation (ESO, an older release) is measured the same way. Everything is observed from outside:
//! `/proc`, the apiserver's own request counters, a watch, the operator's `/metrics`, and a counting proxy in
//! front of the local AWS endpoint. Results go to `<out-dir>/<UTC date>-<short commit>.{json,md}` with SVG charts
//! beside them. Every process it starts is stopped by PID. See bench/README.md.

mod aws;
mod chart;
mod metrics;
mod operator;
mod report;
mod scenarios;
mod stats;
mod watch;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use external_secrets_testsupport::{Cluster, ClusterOptions, client_from_kubeconfig, tools};
use serde_json::{Value, json};

use crate::operator::OperatorSpec;
use crate::scenarios::{Bench, ChartData, Settings};

/// The release build of this repository (`make bench` builds it), wherever cargo puts it.
const DEFAULT_OPERATOR: &str = "${CARGO_TARGET_DIR:-target}/release/external-secrets controller --metrics-addr=127.0.0.1:{port} \
                                --live-addr=127.0.0.1:{port} --log-format=text --loglevel=warn";
const ALL_SCENARIOS: [&str; 9] = ["S0", "S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8"];

#[derive(Parser, Debug)]
#[command(
    name = "bench",
    about = "Runs the PERFORMANCE.md scenarios against operator command lines on a private local cluster",
    long_about = "Runs the PERFORMANCE.md scenarios (S0-S8) against one or two operator command lines, each on its \
                  own fresh local cluster, and writes <out-dir>/<date>-<commit>.{json,md} plus SVG charts. \
                  `bench compare A.json B.json` diffs two result files. See bench/README.md.",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Sub>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand, Debug)]
enum Sub {
    /// Compare two result files figure by figure (the first run of each); flags regressions of B against A.
    Compare {
        a: PathBuf,
        b: PathBuf,
        /// A figure worse by more than this fraction is a regression.
        #[arg(long, default_value_t = 0.2)]
        limit: f64,
    },
    /// Print the Markdown tables of a result file again (after the report's layout changed).
    Report { file: PathBuf },
}

#[derive(Args, Debug, Clone)]
struct RunArgs {
    /// ExternalSecrets in S1, S2, S3, S5, S6 (and plain Secrets in S0).
    #[arg(long, default_value_t = 1000)]
    n: usize,
    /// Scenarios to run, comma separated (S0 and the idle operator always run: S0 gives the write floor).
    #[arg(long, value_delimiter = ',', default_value = "S0,S1,S2,S3,S4,S5,S6,S7,S8")]
    scenarios: Vec<String>,
    /// The operator under test, run as `sh -c "exec CMD"` from the repository root with KUBECONFIG set;
    /// `{port}` is a free port that must serve GET /readyz, `{metrics_port}` one for GET /metrics (default: the
    /// same as {port}), `{kubeconfig}` the kubeconfig path. Give it twice to compare two operators.
    #[arg(long = "operator-cmd", default_value = DEFAULT_OPERATOR)]
    operator_cmd: Vec<String>,
    /// A second operator command line, run after the first and shown beside it with ratios.
    #[arg(long = "baseline-cmd")]
    baseline_cmd: Option<String>,
    /// Names of the operators in the tables, in the order of --operator-cmd then --baseline-cmd.
    #[arg(long = "label", value_delimiter = ',')]
    labels: Vec<String>,
    /// Client requests in flight when the benchmark itself creates or patches objects.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// refreshInterval (seconds) for S2/S3 (patched onto the S1 objects), S4 and S8.
    #[arg(long, default_value_t = 20)]
    refresh: u64,
    /// refreshInterval of the S1, S5 and S7 ExternalSecrets: long, so no refresh overlaps the cold start.
    #[arg(long, default_value = "1h")]
    s1_refresh: String,
    /// Unrelated Secrets of 10-100 KiB created in S5.
    #[arg(long, default_value_t = 10_000)]
    unrelated: usize,
    /// Values changed in S4 (one ExternalSecret each).
    #[arg(long, default_value_t = 100)]
    s4_changes: usize,
    /// ExternalSecrets (one Secrets Manager secret each) in S7 [default: min(N, 1000)].
    #[arg(long)]
    s7_keys: Option<usize>,
    /// The provider quota of S7, calls per second.
    #[arg(long, default_value_t = 40.0)]
    s7_tps: f64,
    /// ExternalSecrets using the IRSA store in S8.
    #[arg(long, default_value_t = 100)]
    s8_n: usize,
    /// Bound on every wait (seconds) [default: 600 + N/10].
    #[arg(long)]
    timeout: Option<u64>,
    /// Seed of S4's random change times.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Mark the result as a development run (not for the README's figures); a dirty tree always is one.
    #[arg(long)]
    development: bool,
    /// Where the results go [default: bench/results].
    #[arg(long)]
    out_dir: Option<PathBuf>,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Sub::Report { file }) => {
            print!("{}", report::markdown(&read_json(&file)?));
            Ok(())
        }
        Some(Sub::Compare { a, b, limit }) => {
            let read = read_json;
            let (text, regressions) = report::compare(&read(&a)?, &read(&b)?, limit);
            println!("{text}");
            if regressions > 0 {
                std::process::exit(1);
            }
            Ok(())
        }
        None => run(cli.run),
    }
}

fn read_json(path: &Path) -> Result<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?)
        .with_context(|| format!("parsing {}", path.display()))
}

fn settings(args: &RunArgs) -> Result<Settings> {
    let mut scenarios = BTreeSet::new();
    for s in &args.scenarios {
        let s = s.trim().to_uppercase();
        if !ALL_SCENARIOS.contains(&s.as_str()) {
            bail!("unknown scenario {s}; known: {}", ALL_SCENARIOS.join(","));
        }
        scenarios.insert(s);
    }
    if args.n == 0 || args.concurrency == 0 || args.refresh == 0 {
        bail!("--n, --concurrency and --refresh must be positive");
    }
    Ok(Settings {
        scenarios,
        n: args.n,
        concurrency: args.concurrency,
        refresh_secs: args.refresh,
        s1_refresh: args.s1_refresh.clone(),
        unrelated: args.unrelated,
        s4_changes: args.s4_changes.max(1),
        s7_keys: args.s7_keys.unwrap_or(args.n.min(1000)).max(1),
        s7_tps: args.s7_tps,
        s8_n: args.s8_n.max(1),
        timeout: Duration::from_secs(args.timeout.unwrap_or(600 + args.n as u64 / 10)),
        seed: args.seed,
    })
}

fn run(args: RunArgs) -> Result<()> {
    let settings = settings(&args)?;
    let mut commands = args.operator_cmd.clone();
    commands.extend(args.baseline_cmd.clone());
    if commands.len() > 2 {
        bail!("at most two operator command lines (--operator-cmd twice, or --operator-cmd and --baseline-cmd)");
    }
    let labels: Vec<String> = (0..commands.len())
        .map(|i| args.labels.get(i).cloned().unwrap_or_else(|| default_label(&commands[i], i)))
        .collect();
    let command_line = std::env::args()
        .map(|a| if a.contains([' ', '{', '"']) { format!("'{a}'") } else { a })
        .collect::<Vec<_>>()
        .join(" ");
    let bin = tools::bin_dir()?;
    let facts = facts(&bin);
    let dirty = facts.get("tree").is_some_and(|t| t != "clean");
    let mut runs = Vec::new();
    let mut charts: Vec<(String, ChartData)> = Vec::new();
    let mut failed = None;
    for (label, cmd) in labels.iter().zip(&commands) {
        eprintln!("bench: === {label}: {cmd}");
        let (results, chart, error) = run_one(&settings, cmd)?;
        runs.push(json!({"label": label, "operator_cmd": cmd, "results": results, "error": error}));
        charts.push((label.clone(), chart));
        if let Some(e) = error {
            failed = Some(e);
        }
    }
    let reasons: Vec<&str> = [
        (dirty, "the tree had uncommitted changes"),
        (args.development, "marked --development"),
        (failed.is_some(), "a scenario failed"),
    ]
    .into_iter()
    .filter_map(|(yes, why)| yes.then_some(why))
    .collect();
    let document = json!({
        "schema": 2,
        "facts": facts,
        "development": !reasons.is_empty(),
        "development_reason": reasons.join(", "),
        "command": command_line,
        "settings": {
            "n": settings.n, "scenarios": settings.scenarios, "concurrency": settings.concurrency,
            "refresh_s": settings.refresh_secs, "s1_refresh": settings.s1_refresh, "unrelated": settings.unrelated,
            "s4_changes": settings.s4_changes, "s7_keys": settings.s7_keys, "s7_tps": settings.s7_tps,
            "s8_n": settings.s8_n, "timeout_s": settings.timeout.as_secs(), "seed": settings.seed,
        },
        "runs": runs,
    });
    let out_dir = match &args.out_dir {
        Some(d) => d.clone(),
        None => {
            let root = tools::repo_root();
            root.canonicalize().unwrap_or(root).join("bench/results")
        }
    };
    std::fs::create_dir_all(&out_dir)?;
    let date = facts.get("date_utc").map_or("unknown", |d| d.get(..10).unwrap_or(d));
    let base = format!("{date}-{}", facts.get("commit").map_or("unknown", |c| c.as_str()));
    let stem = (1..)
        .map(|i| if i == 1 { base.clone() } else { format!("{base}-{i}") })
        .find(|s| !out_dir.join(format!("{s}.json")).exists())
        .unwrap_or(base);
    let json_path = out_dir.join(format!("{stem}.json"));
    let md_path = out_dir.join(format!("{stem}.md"));
    let mut document = document;
    document["charts"] = json!(write_charts(&out_dir, &stem, &charts));
    std::fs::write(&json_path, serde_json::to_string_pretty(&document)? + "\n")?;
    let md = report::markdown(&document);
    std::fs::write(&md_path, &md)?;
    println!("{md}");
    eprintln!("bench: wrote {} and {}", json_path.display(), md_path.display());
    match failed {
        Some(e) => bail!("a scenario failed (results so far written): {e}"),
        None => Ok(()),
    }
}

fn default_label(cmd: &str, i: usize) -> String {
    let program = cmd.split_whitespace().next().unwrap_or("operator");
    let name = Path::new(program).file_name().and_then(|n| n.to_str()).unwrap_or("operator");
    if i == 0 { name.to_string() } else { format!("{name} (2)") }
}

fn write_charts(dir: &Path, stem: &str, charts: &[(String, ChartData)]) -> Vec<String> {
    let mut written = Vec::new();
    let ready: Vec<chart::Series> = charts
        .iter()
        .filter(|(_, c)| !c.s1_ready.is_empty())
        .map(|(l, c)| chart::ready_series(l, &c.s1_ready))
        .collect();
    if !ready.is_empty() {
        let name = format!("{stem}-s1-ready.svg");
        match chart::line_chart(
            &dir.join(&name),
            "S1 cold start: ExternalSecrets Ready",
            "seconds since the operator started",
            "Ready",
            &ready,
        ) {
            Ok(()) => written.push(name),
            Err(e) => eprintln!("bench: no S1 chart: {e}"),
        }
    }
    let rss: Vec<chart::Series> = charts
        .iter()
        .filter(|(_, c)| c.s5_rss.len() > 1)
        .map(|(l, c)| chart::Series {
            label: l.clone(),
            points: c.s5_rss.iter().map(|(n, kib)| (*n as f64, *kib as f64 / 1024.0)).collect(),
        })
        .collect();
    if !rss.is_empty() {
        let name = format!("{stem}-s5-rss.svg");
        match chart::line_chart(&dir.join(&name), "S5 operator RSS over N", "ExternalSecrets", "RSS (MiB)", &rss) {
            Ok(()) => written.push(name),
            Err(e) => eprintln!("bench: no S5 chart: {e}"),
        }
    }
    written
}

/// One operator command line on its own fresh cluster: (results, chart data, the error that stopped it).
fn run_one(settings: &Settings, cmd: &str) -> Result<(Value, ChartData, Option<String>)> {
    let work = tempfile::Builder::new().prefix("esr-bench-").tempdir()?;
    eprintln!("bench: starting the local cluster in {}", work.path().display());
    let cluster = Cluster::start(ClusterOptions { dir: Some(work.path().join("cluster")), detached: false })?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let outcome = runtime.block_on(async {
        let kubeconfig = prepare(&cluster, work.path()).await?;
        let admin = client_from_kubeconfig(&cluster.kubeconfig).await?;
        let spec = OperatorSpec { cmd: cmd.to_string(), kubeconfig, env: Vec::new() };
        let ticks: f64 = run_program(Path::new("getconf"), &["CLK_TCK"], &[], None)
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(100.0);
        let mut bench = Bench::new(settings, &cluster, admin, spec, work.path().to_path_buf(), ticks);
        let result = bench.run().await;
        let results = Value::Object(std::mem::take(&mut bench.results));
        let charts = std::mem::take(&mut bench.charts);
        drop(bench);
        Ok::<_, anyhow::Error>((results, charts, result.err()))
    });
    drop(runtime);
    cluster.stop();
    let (results, charts, error) = outcome?;
    let error = error.map(|e| {
        let kept = work.keep();
        format!("{e:#} (logs kept in {})", kept.display())
    });
    if let Some(e) = &error {
        eprintln!("bench: {e}");
    }
    Ok((results, charts, error))
}

/// CRDs, the operator's ServiceAccount with the shipped ClusterRole, and a kubeconfig with its token.
async fn prepare(cluster: &Cluster, dir: &Path) -> Result<PathBuf> {
    let kubectl = tools::bin_dir()?.join("kubectl");
    let env = [("KUBECONFIG", cluster.kubeconfig.as_path())];
    let k = |args: &[&str]| run_program(&kubectl, args, &env, None);
    let root = tools::repo_root();
    k(&["apply", "--server-side", "-f", &root.join("deploy/crds/bundle.yaml").display().to_string()])?;
    k(&["wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"])?;
    k(&["create", "namespace", "external-secrets"])?;
    k(&["-n", "external-secrets", "create", "serviceaccount", "external-secrets"])?;
    k(&["apply", "-f", &root.join("deploy/rbac/controller-clusterrole.yaml").display().to_string()])?;
    k(&[
        "create",
        "clusterrolebinding",
        "external-secrets-controller",
        "--clusterrole=external-secrets-controller",
        "--serviceaccount=external-secrets:external-secrets",
    ])?;
    let token = k(&["-n", "external-secrets", "create", "token", "external-secrets", "--duration=6h"])?;
    let server = k(&["config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"])?;
    let ca = k(&[
        "config",
        "view",
        "--minify",
        "--raw",
        "-o",
        "jsonpath={.clusters[0].cluster.certificate-authority-data}",
    ])?;
    let config = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster: {{server: \"{server}\", \
         certificate-authority-data: \"{ca}\"}}\nusers:\n- name: external-secrets\n  user: {{token: \"{token}\"}}\n\
         contexts:\n- name: operator\n  context: {{cluster: local, user: external-secrets}}\ncurrent-context: operator\n"
    );
    let path = dir.join("operator.kubeconfig");
    std::fs::write(&path, config)?;
    Ok(path)
}

fn run_program(program: &Path, args: &[&str], env: &[(&str, &Path)], stdin: Option<&str>) -> Result<String> {
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

/// The machine, versions and commit; `tree` says whether the work tree had uncommitted changes.
fn facts(cluster_bin: &Path) -> BTreeMap<&'static str, String> {
    let text = |program: &str, args: &[&str]| {
        run_program(Path::new(program), args, &[], None).unwrap_or_else(|e| format!("unknown ({e})"))
    };
    let root = tools::repo_root().display().to_string();
    let mem_total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().find(|l| l.starts_with("MemTotal:")).map(|l| l["MemTotal:".len()..].trim().to_string()))
        .unwrap_or_else(|| "unknown".to_string());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string());
    let mut f = BTreeMap::new();
    f.insert("nproc", std::thread::available_parallelism().map(|n| n.to_string()).unwrap_or_default());
    f.insert("memory", mem_total);
    f.insert("kernel", std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string());
    f.insert("cpu", cpu);
    f.insert("loadavg_at_start", std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim().to_string());
    f.insert("rustc", text("rustc", &["-V"]));
    f.insert("kube_apiserver", text(&cluster_bin.join("kube-apiserver").display().to_string(), &["--version"]));
    f.insert("commit", text("git", &["-C", &root, "rev-parse", "--short", "HEAD"]));
    let dirty = text("git", &["-C", &root, "status", "--porcelain", "--untracked-files=no"]);
    f.insert("tree", if dirty.is_empty() { "clean".to_string() } else { "modified (uncommitted changes)".to_string() });
    f.insert("date_utc", text("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]));
    f
}
