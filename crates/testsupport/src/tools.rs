//! Locating (and, on first use, installing) the binaries the local cluster needs, through the project's own
//! scripts: `hack/build-tools.sh` (Go-built control plane and helm) and `hack/aws-endpoint.sh` (moto venv).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::Error;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run_script(script: &str, arg: Option<&str>) -> Result<PathBuf, Error> {
    let path = repo_root().join("hack").join(script);
    let mut cmd = Command::new("bash");
    cmd.arg(&path);
    if let Some(a) = arg {
        cmd.arg(a);
    }
    let out = cmd.output().map_err(|e| Error::Setup(format!("could not run {}: {e}", path.display())))?;
    if !out.status.success() {
        return Err(Error::Setup(format!("{} failed:\n{}", path.display(), String::from_utf8_lossy(&out.stderr))));
    }
    let printed = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Ok(PathBuf::from(printed))
}

/// The directory holding `etcd`, `kube-apiserver`, `kube-controller-manager`, `kubectl` and `helm`: from
/// `ESR_BIN_DIR` when set (the Makefile sets it), else built or found by `hack/build-tools.sh`.
pub fn bin_dir() -> Result<PathBuf, Error> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| match std::env::var_os("ESR_BIN_DIR") {
        Some(d) => Ok(PathBuf::from(d)),
        None => run_script("build-tools.sh", None).map_err(|e| e.to_string()),
    })
    .clone()
    .map_err(Error::Setup)
}

/// The Python interpreter of the project's moto virtualenv (created by `hack/aws-endpoint.sh venv`).
pub fn moto_python() -> Result<PathBuf, Error> {
    static PY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PY.get_or_init(|| match std::env::var_os("ESR_MOTO_PYTHON") {
        Some(p) => Ok(PathBuf::from(p)),
        None => run_script("aws-endpoint.sh", Some("venv")).map_err(|e| e.to_string()),
    })
    .clone()
    .map_err(Error::Setup)
}
