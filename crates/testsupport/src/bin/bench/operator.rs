//! The operator under test: a child process started from a command line, observed from outside (`/proc`, its
//! `/readyz` and `/metrics`), and stopped by PID.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use external_secrets_testsupport::process::{free_port, log_tail};
use external_secrets_testsupport::tools;

/// How to start one operator: its command line and the environment it gets besides `KUBECONFIG`.
#[derive(Clone, Debug)]
pub struct OperatorSpec {
    /// `sh -c "exec CMD"`; `{port}`, `{metrics_port}` and `{kubeconfig}` are replaced.
    pub cmd: String,
    pub kubeconfig: PathBuf,
    pub env: Vec<(String, String)>,
}

/// A running operator, stopped (TERM, then KILL after 5 s) when dropped.
pub struct Operator {
    child: Child,
    /// Serves `GET /readyz`.
    pub port: u16,
    /// Serves `GET /metrics` (the same as `port` when the command line has no `{metrics_port}`).
    pub metrics_port: u16,
    pub started: Instant,
    pub log: PathBuf,
}

impl Operator {
    pub fn start(spec: &OperatorSpec, log: &Path) -> Result<Self> {
        let port = free_port()?;
        let metrics_port = if spec.cmd.contains("{metrics_port}") { free_port()? } else { port };
        let line = spec
            .cmd
            .replace("{port}", &port.to_string())
            .replace("{metrics_port}", &metrics_port.to_string())
            .replace("{kubeconfig}", &spec.kubeconfig.display().to_string());
        let log_file = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("exec {line}"))
            .current_dir(tools::repo_root())
            .env("KUBECONFIG", &spec.kubeconfig)
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .stdin(Stdio::null());
        for (k, v) in &spec.env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().with_context(|| format!("starting the operator: {line}"))?;
        Ok(Self { child, port, metrics_port, started: Instant::now(), log: log.to_path_buf() })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("the operator exited ({status}); log {}:\n{}", self.log.display(), log_tail(&self.log, 30));
        }
        Ok(())
    }

    /// Waits (bounded) until `GET /readyz` answers 200; returns the time since the process started.
    pub async fn wait_ready(&mut self) -> Result<Duration> {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            self.check_alive()?;
            let port = self.port;
            if tokio::task::spawn_blocking(move || http_get(port, "/readyz").is_some_and(|(code, _)| code == 200))
                .await?
            {
                return Ok(self.started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!(
            "the operator did not answer 200 on /readyz within 120 s (port {}); log {}",
            self.port,
            self.log.display()
        )
    }

    /// A `/proc/<pid>/status` field in KiB (`VmRSS`, `VmHWM`).
    pub fn proc_status_kib(&self, field: &str) -> Result<u64> {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        text.lines()
            .find_map(|l| l.strip_prefix(field).and_then(|r| r.trim_start_matches(':').trim().strip_suffix("kB")))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| anyhow!("no {field} in /proc/{}/status", self.pid()))
    }

    pub fn rss_kib(&self) -> Result<u64> {
        self.proc_status_kib("VmRSS")
    }

    /// User + system CPU seconds of the process so far.
    pub fn cpu_seconds(&self, ticks: f64) -> Result<f64> {
        let text = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))?;
        // After the command name (in parentheses, may hold spaces) utime and stime are the 12th and 13th fields.
        let rest = text.rsplit_once(')').map(|(_, r)| r).ok_or_else(|| anyhow!("unexpected /proc stat"))?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: f64 = fields.get(11).ok_or_else(|| anyhow!("no utime"))?.parse()?;
        let stime: f64 = fields.get(12).ok_or_else(|| anyhow!("no stime"))?.parse()?;
        Ok((utime + stime) / ticks)
    }

    /// The operator's `/metrics` text, or `None` when it serves none there.
    pub async fn metrics_text(&self) -> Option<String> {
        let port = self.metrics_port;
        tokio::task::spawn_blocking(move || http_get(port, "/metrics"))
            .await
            .ok()
            .flatten()
            .and_then(|(code, body)| (code == 200).then_some(body))
    }

    /// Stops the process by PID: TERM, then KILL after 5 s.
    pub fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let pid = self.pid().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).stderr(Stdio::null()).status();
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

impl Drop for Operator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A plain HTTP/1.0 GET on loopback: (status code, body), or `None` when nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream =
        std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, body.to_string()))
}
