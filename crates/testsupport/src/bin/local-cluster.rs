//! `local-cluster up|down|env`: the local control plane and AWS endpoint for people (`make cluster-up`).
//!
//! `up` starts etcd, kube-apiserver, kube-controller-manager and the AWS endpoint in the background, records
//! their PIDs in the state directory, and prints the shell `export` lines to use them. `down` stops exactly
//! those PIDs. The state directory is `$ESR_STATE_DIR`, default `<repo>/.cache/local-cluster`.

use std::path::PathBuf;
use std::process::ExitCode;

use external_secrets_testsupport::{AwsEndpoint, AwsOptions, Cluster, ClusterOptions, tools};

fn state_dir() -> PathBuf {
    std::env::var_os("ESR_STATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| tools::repo_root().join(".cache/local-cluster"))
}

fn alive(pid: &str) -> bool {
    std::process::Command::new("kill")
        .args(["-0", pid])
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn recorded_pids(dir: &std::path::Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(dir.join("pids")).unwrap_or_default();
    text.lines().filter_map(|l| l.split_once(' ').map(|(p, n)| (p.to_string(), n.to_string()))).collect()
}

fn up() -> Result<(), String> {
    let dir = state_dir();
    let env_file = dir.join("env.sh");
    let pids = recorded_pids(&dir);
    if !pids.is_empty() && pids.iter().all(|(p, _)| alive(p)) {
        eprintln!("local cluster already running (state in {}); its settings:", dir.display());
        print!("{}", std::fs::read_to_string(&env_file).map_err(|e| e.to_string())?);
        return Ok(());
    }
    if dir.exists() {
        down()?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let cluster =
        Cluster::start(ClusterOptions { dir: Some(dir.join("cluster")), detached: true }).map_err(|e| e.to_string())?;
    let aws = AwsEndpoint::start(AwsOptions { dir: Some(dir.clone()), detached: true }).map_err(|e| e.to_string())?;
    let mut pid_lines: Vec<String> = cluster.pids().iter().map(|(p, n)| format!("{p} {n}")).collect();
    pid_lines.push(format!("{} aws-endpoint", aws.pid()));
    std::fs::write(dir.join("pids"), pid_lines.join("\n") + "\n").map_err(|e| e.to_string())?;

    let bin = tools::bin_dir().map_err(|e| e.to_string())?;
    let mut env = format!("export KUBECONFIG={}\nexport PATH={}:$PATH\n", cluster.kubeconfig.display(), bin.display());
    for (k, v) in aws.env() {
        env.push_str(&format!("export {k}={v}\n"));
    }
    std::fs::write(&env_file, &env).map_err(|e| e.to_string())?;
    // The processes are detached: forgetting the handles leaves them running for `down` to stop.
    std::mem::forget(cluster);
    std::mem::forget(aws);
    eprintln!(
        "local cluster is up; stop it with `make cluster-down`. Paste these lines (or `source {}`):",
        env_file.display()
    );
    print!("{env}");
    Ok(())
}

fn down() -> Result<(), String> {
    let dir = state_dir();
    for (pid, name) in recorded_pids(&dir).iter().rev() {
        if alive(pid) {
            eprintln!("stopping {name} (pid {pid})");
            let _ = std::process::Command::new("kill").args(["-TERM", pid]).status();
            for _ in 0..50 {
                if !alive(pid) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            if alive(pid) {
                let _ = std::process::Command::new("kill").args(["-KILL", pid]).status();
            }
        }
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("removing {}: {e}", dir.display()))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let result = match std::env::args().nth(1).as_deref() {
        Some("up") => up(),
        Some("down") => down(),
        Some("env") => std::fs::read_to_string(state_dir().join("env.sh"))
            .map(|e| print!("{e}"))
            .map_err(|_| "no local cluster is running (make cluster-up)".to_string()),
        _ => Err("usage: local-cluster up|down|env".to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("local-cluster: {e}");
            ExitCode::FAILURE
        }
    }
}
