//! Child processes that are stopped by PID: on drop, and — because a test binary's statics are never dropped and
//! a test may panic — by a tiny reaper that kills the child as soon as the test process is gone.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::Error;

/// A running component (etcd, kube-apiserver, moto, ...), its log file and its PID.
#[derive(Debug)]
pub struct Component {
    pub name: String,
    pub log: PathBuf,
    child: Child,
    detached: bool,
}

impl Component {
    /// Starts `cmd` with stdout and stderr going to `log`. Unless `detached`, a reaper process watches this
    /// process and kills the child when this process exits, however it exits.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path, detached: bool) -> Result<Self, Error> {
        let out = File::create(log)?;
        let err = out.try_clone()?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        if detached {
            // Its own process group, so that `make cluster-down` can stop it and a Ctrl-C of the caller does not.
            std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        }
        let child =
            cmd.spawn().map_err(|e| Error::Setup(format!("could not start {name} ({:?}): {e}", cmd.get_program())))?;
        if !detached {
            spawn_reaper(child.id())?;
        }
        Ok(Self { name: name.to_string(), log: log.to_path_buf(), child, detached })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(status)` if the process has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last `lines` lines of the component's log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log, lines)
    }

    /// Stops the process: SIGTERM, then SIGKILL after a bounded grace period.
    pub fn stop(&mut self) {
        if self.exited().is_some() {
            return;
        }
        let _ = Command::new("kill").arg("-TERM").arg(self.pid().to_string()).stderr(Stdio::null()).status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if self.exited().is_some() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Component {
    fn drop(&mut self) {
        if !self.detached {
            self.stop();
        }
    }
}

/// The last `lines` lines of a file (empty if unreadable).
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn spawn_reaper(child: u32) -> Result<(), Error> {
    let me = std::process::id();
    let script = format!(
        "while kill -0 {me} 2>/dev/null && kill -0 {child} 2>/dev/null; do sleep 0.5; done; \
         kill -TERM {child} 2>/dev/null; sleep 3; kill -KILL {child} 2>/dev/null; exit 0"
    );
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.spawn().map_err(|e| Error::Setup(format!("could not start the reaper shell: {e}")))?;
    Ok(())
}

/// Removes `dir` (a temporary state directory: etcd data, logs, certificates) once this process is gone and its
/// components had time to stop, so that test runs do not fill `/tmp` (each cluster leaves ~125 MiB of etcd data).
/// `ESR_KEEP_TEST_DIRS=1` keeps them for a post-mortem.
pub fn remove_when_gone(dir: &Path) -> Result<(), Error> {
    if std::env::var_os("ESR_KEEP_TEST_DIRS").is_some_and(|v| v == "1") {
        return Ok(());
    }
    let me = std::process::id();
    // The reapers above need up to ~4 s to stop the components; only then are the files no longer written.
    let script = format!("while kill -0 {me} 2>/dev/null; do sleep 1; done; sleep 6; rm -rf -- \"$0\"");
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script).arg(dir).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.spawn().map_err(|e| Error::Setup(format!("could not start the directory reaper shell: {e}")))?;
    Ok(())
}

/// Asks the OS for a free loopback TCP port. The port is released before use, so a collision is possible but
/// rare; each start checks its component really came up.
pub fn free_port() -> Result<u16, Error> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}
