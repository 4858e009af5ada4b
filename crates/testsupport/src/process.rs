//! Child processes that are stopped by PID: on drop, and — because a test binary's statics are never dropped and
//! a test may panic — by a tiny reaper that kills the child as soon as the test process is gone.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Error;

/// A running component (etcd, kube-apiserver, moto, ...), its log file and its PID.
#[derive(Debug)]
pub struct Component {
    pub name: String,
    pub log: PathBuf,
    child: Child,
    detached: bool,
    /// How it was started, so that [`Component::start_again`] can start it the same way.
    spec: CommandSpec,
}

/// What is needed to start a command again: program, arguments, environment changes and working directory.
#[derive(Clone, Debug)]
struct CommandSpec {
    program: std::ffi::OsString,
    args: Vec<std::ffi::OsString>,
    envs: Vec<(std::ffi::OsString, Option<std::ffi::OsString>)>,
    dir: Option<PathBuf>,
}

impl CommandSpec {
    fn of(cmd: &Command) -> Self {
        Self {
            program: cmd.get_program().to_os_string(),
            args: cmd.get_args().map(|a| a.to_os_string()).collect(),
            envs: cmd.get_envs().map(|(k, v)| (k.to_os_string(), v.map(|v| v.to_os_string()))).collect(),
            dir: cmd.get_current_dir().map(Path::to_path_buf),
        }
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args);
        for (k, v) in &self.envs {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        if let Some(dir) = &self.dir {
            cmd.current_dir(dir);
        }
        cmd
    }
}

impl Component {
    /// Starts `cmd` with stdout and stderr going to `log`. Unless `detached`, a reaper process watches this
    /// process and kills the child when this process exits, however it exits.
    pub fn spawn(name: &str, cmd: Command, log: &Path, detached: bool) -> Result<Self, Error> {
        let spec = CommandSpec::of(&cmd);
        let child = Self::launch(name, cmd, File::create(log)?, detached)?;
        Ok(Self { name: name.to_string(), log: log.to_path_buf(), child, detached, spec })
    }

    fn launch(name: &str, mut cmd: Command, out: File, detached: bool) -> Result<Child, Error> {
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
        Ok(child)
    }

    /// Starts the component again, exactly as it was first started (same program, arguments, environment, so the
    /// same ports and data directory), once it has stopped; its log is continued after a marker line. Does
    /// nothing while it is still running. Does not wait for readiness.
    pub fn start_again(&mut self) -> Result<(), Error> {
        if self.exited().is_none() {
            return Ok(());
        }
        let mut log = File::options().append(true).create(true).open(&self.log)?;
        std::io::Write::write_all(&mut log, format!("--- {} started again ---\n", self.name).as_bytes())?;
        self.child = Self::launch(&self.name, self.spec.command(), log, self.detached)?;
        Ok(())
    }

    /// Kills the process at once (SIGKILL, as the kernel's OOM killer or a node failure would) and reaps it.
    pub fn kill(&mut self) {
        if self.exited().is_some() {
            return;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
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

    /// Polls `ready` until it is true, the process exits, or `timeout` passes (then the process is stopped);
    /// failures carry the log tail.
    pub fn wait_until(&mut self, timeout: Duration, mut ready: impl FnMut() -> bool) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Err(self.not_ready(format!("exited with {status}")));
            }
            if ready() {
                return Ok(());
            }
            if Instant::now() > deadline {
                let err = self.not_ready(format!("not ready after {}s", timeout.as_secs()));
                self.stop();
                return Err(err);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn not_ready(&self, why: String) -> Error {
        Error::NotReady { component: self.name.clone(), why, log: self.log.clone(), tail: self.log_tail(25) }
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

/// A component's state directory (logs, data), created: `dir`, or a fresh temporary one named `prefix...` that is
/// removed once this process is gone (see [`remove_when_gone`]) unless `detached`.
pub fn state_dir(dir: Option<PathBuf>, prefix: &str, detached: bool) -> Result<PathBuf, Error> {
    let dir = match dir {
        Some(d) => d,
        None => {
            let dir = tempfile::Builder::new().prefix(prefix).tempdir()?.keep();
            if !detached {
                remove_when_gone(&dir)?;
            }
            dir
        }
    };
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Asks the OS for a free loopback TCP port. The port is released before use, so a collision is possible but
/// rare; each start checks its component really came up.
pub fn free_port() -> Result<u16, Error> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}
