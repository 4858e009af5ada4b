//! A real etcd + kube-apiserver + kube-controller-manager on loopback, with its own PKI.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::pki::Pki;
use crate::process::{Component, free_port, state_dir};
use crate::{Error, tools};

/// How long a component may take to become ready before we give up and show its log.
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// A running local control plane. Cheap to share; make one `kube::Client` per test (clients are bound to the
/// tokio runtime that created them).
#[derive(Debug)]
pub struct Cluster {
    /// The directory with PKI, kubeconfig, etcd data and logs.
    pub dir: PathBuf,
    /// `https://127.0.0.1:<port>`.
    pub server: String,
    /// An admin kubeconfig (client certificate in `system:masters`).
    pub kubeconfig: PathBuf,
    /// The ServiceAccount token issuer (equal to `server`).
    pub issuer: String,
    pub pki: Pki,
    components: Mutex<Vec<Component>>,
    etcd_port: u16,
}

/// Options for [`Cluster::start`].
#[derive(Clone, Debug, Default)]
pub struct ClusterOptions {
    /// Where to put state; a fresh temporary directory when `None`.
    pub dir: Option<PathBuf>,
    /// Leave the processes running when this process exits (for `make cluster-up`).
    pub detached: bool,
}

impl Cluster {
    /// Builds (if needed) and starts etcd, kube-apiserver and kube-controller-manager, and waits, bounded, until
    /// the apiserver is ready and the controller-manager has created the `default` ServiceAccount. Blocking: call
    /// it from a thread that is not running a tokio runtime (see [`crate::cluster`]).
    pub fn start(opts: ClusterOptions) -> Result<Self, Error> {
        let bin = tools::bin_dir()?;
        let dir = state_dir(opts.dir, "esr-cluster-", opts.detached)?;
        let pki = Pki::write(&dir.join("pki"))?;
        let mut components = Vec::new();

        // etcd
        let etcd_port = free_port()?;
        let etcd_data = dir.join("etcd");
        std::fs::create_dir_all(&etcd_data)?;
        set_private(&etcd_data)?;
        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let mut cmd = Command::new(bin.join("etcd"));
        cmd.args([
            "--name=default",
            &format!("--data-dir={}", etcd_data.display()),
            &format!("--listen-client-urls={etcd_url}"),
            &format!("--advertise-client-urls={etcd_url}"),
            "--listen-peer-urls=http://127.0.0.1:0",
            "--unsafe-no-fsync",
            "--log-level=warn",
        ]);
        let mut etcd = Component::spawn("etcd", cmd, &dir.join("etcd.log"), opts.detached)?;
        etcd.wait_until(READY_TIMEOUT, || http_get_ok(etcd_port, "/health"))?;
        components.push(etcd);

        // kube-apiserver
        let api_port = free_port()?;
        let server = format!("https://127.0.0.1:{api_port}");
        let mut cmd = Command::new(bin.join("kube-apiserver"));
        cmd.args([
            &format!("--etcd-servers={etcd_url}"),
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            &format!("--secure-port={api_port}"),
            &format!("--cert-dir={}", dir.join("apiserver-certs").display()),
            &format!("--tls-cert-file={}", pki.serving_cert.display()),
            &format!("--tls-private-key-file={}", pki.serving_key.display()),
            &format!("--client-ca-file={}", pki.ca_cert.display()),
            "--authorization-mode=RBAC",
            &format!("--service-account-issuer={server}"),
            &format!("--service-account-key-file={}", pki.sa_pub.display()),
            &format!("--service-account-signing-key-file={}", pki.sa_key.display()),
            "--service-cluster-ip-range=10.0.0.0/24",
            "--allow-privileged=true",
            "--endpoint-reconciler-type=none",
            "--profiling=false",
            "--v=1",
        ]);
        let mut apiserver = Component::spawn("kube-apiserver", cmd, &dir.join("kube-apiserver.log"), opts.detached)?;

        let kubeconfig = dir.join("admin.kubeconfig");
        std::fs::write(&kubeconfig, admin_kubeconfig(&server, &pki)?)?;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let readyz = || rt.block_on(apiserver_ready(&kubeconfig));
        apiserver.wait_until(READY_TIMEOUT, readyz)?;
        components.push(apiserver);

        // kube-controller-manager: garbage collection, namespace deletion, default ServiceAccounts.
        let kcm_port = free_port()?;
        let mut cmd = Command::new(bin.join("kube-controller-manager"));
        cmd.args([
            &format!("--kubeconfig={}", kubeconfig.display()),
            &format!("--authentication-kubeconfig={}", kubeconfig.display()),
            &format!("--authorization-kubeconfig={}", kubeconfig.display()),
            "--bind-address=127.0.0.1",
            &format!("--secure-port={kcm_port}"),
            &format!("--cert-dir={}", dir.join("kcm-certs").display()),
            &format!("--service-account-private-key-file={}", pki.sa_key.display()),
            &format!("--root-ca-file={}", pki.ca_cert.display()),
            &format!("--cluster-signing-cert-file={}", pki.ca_cert.display()),
            &format!("--cluster-signing-key-file={}", pki.ca_key.display()),
            "--use-service-account-credentials=true",
            "--controllers=*",
            "--leader-elect=false",
            "--v=1",
        ]);
        let mut kcm =
            Component::spawn("kube-controller-manager", cmd, &dir.join("kube-controller-manager.log"), opts.detached)?;
        let sa_ready = || rt.block_on(default_service_account_exists(&kubeconfig));
        kcm.wait_until(READY_TIMEOUT, sa_ready)?;
        components.push(kcm);

        let pids: Vec<String> = components.iter().map(|c| format!("{} {}", c.pid(), c.name)).collect();
        std::fs::write(dir.join("pids"), pids.join("\n") + "\n")?;

        Ok(Cluster {
            dir,
            issuer: server.clone(),
            server,
            kubeconfig,
            pki,
            components: Mutex::new(components),
            etcd_port,
        })
    }

    /// A client with cluster-admin rights (client certificate in `system:masters`).
    pub async fn admin_client(&self) -> Result<kube::Client, Error> {
        client_from_kubeconfig(&self.kubeconfig).await
    }

    /// A client that authenticates with `token` (for example a ServiceAccount token), trusting the cluster CA.
    pub async fn token_client(&self, token: &str) -> Result<kube::Client, Error> {
        Ok(kube::Client::try_from(self.token_config(token).await?)?)
    }

    /// The configuration behind [`Cluster::token_client`], for building a client with extra layers.
    pub async fn token_config(&self, token: &str) -> Result<kube::Config, Error> {
        let ca = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&self.pki.ca_cert)?);
        let yaml = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: {server}\n    \
             certificate-authority-data: {ca}\nusers:\n- name: token\n  user:\n    token: {token}\ncontexts:\n- name: \
             local\n  context:\n    cluster: local\n    user: token\ncurrent-context: local\n",
            server = self.server
        );
        let kc = Kubeconfig::from_yaml(&yaml)?;
        Ok(kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?)
    }

    /// Mints a token for a ServiceAccount through the TokenRequest API.
    pub async fn service_account_token(
        &self,
        namespace: &str,
        name: &str,
        audiences: &[&str],
        expiration_seconds: i64,
    ) -> Result<String, Error> {
        let client = self.admin_client().await?;
        let sas: Api<ServiceAccount> = Api::namespaced(client, namespace);
        let req = TokenRequest {
            spec: Some(TokenRequestSpec {
                audiences: (!audiences.is_empty()).then(|| audiences.iter().map(|a| a.to_string()).collect()),
                expiration_seconds: Some(expiration_seconds),
                ..Default::default()
            }),
            ..Default::default()
        };
        let resp = sas.create_token_request(name, &PostParams::default(), &req).await?;
        resp.status.and_then(|s| s.token).ok_or_else(|| Error::Setup("TokenRequest returned no status".to_string()))
    }

    /// A client authenticated as the ServiceAccount `namespace/name` (token for the apiserver's own audience).
    pub async fn service_account_client(&self, namespace: &str, name: &str) -> Result<kube::Client, Error> {
        let token = self.service_account_token(namespace, name, &[], 3600).await?;
        self.token_client(&token).await
    }

    /// The configuration of [`Cluster::service_account_client`], for building a client with extra layers.
    pub async fn service_account_config(&self, namespace: &str, name: &str) -> Result<kube::Config, Error> {
        let token = self.service_account_token(namespace, name, &[], 3600).await?;
        self.token_config(&token).await
    }

    /// Creates a fresh namespace named `<prefix>-<random suffix>` and returns its name.
    pub async fn namespace(&self, prefix: &str) -> Result<String, Error> {
        let client = self.admin_client().await?;
        let api: Api<Namespace> = Api::all(client);
        let ns = Namespace {
            metadata: ObjectMeta { generate_name: Some(format!("{prefix}-")), ..Default::default() },
            ..Default::default()
        };
        let created = api.create(&PostParams::default(), &ns).await?;
        created.metadata.name.ok_or_else(|| Error::Setup("namespace has no name".to_string()))
    }

    /// The PIDs and names of the running components.
    pub fn pids(&self) -> Vec<(u32, String)> {
        self.components.lock().map(|c| c.iter().map(|c| (c.pid(), c.name.clone())).collect()).unwrap_or_default()
    }

    /// Stops the component `name` (`etcd`, `kube-apiserver`, `kube-controller-manager`): SIGTERM, then SIGKILL
    /// after a bounded grace period. The others keep running; [`Cluster::start_component`] brings it back.
    /// Blocking.
    pub fn stop_component(&self, name: &str) -> Result<(), Error> {
        self.with_component(name, |c| {
            c.stop();
            Ok(())
        })
    }

    /// Starts the stopped component `name` again with the same arguments (ports, etcd data directory,
    /// certificates) and waits, bounded, until it is ready: etcd healthy, or the apiserver's `/readyz` ok. Then
    /// starts any other component that exited meanwhile (kube-controller-manager may give up while the
    /// apiserver is away). Blocking: call it from a thread that is not running a tokio runtime (for example
    /// inside `tokio::task::spawn_blocking`).
    pub fn start_component(&self, name: &str) -> Result<(), Error> {
        let etcd_port = self.etcd_port;
        let kubeconfig = self.kubeconfig.clone();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        self.with_component(name, |c| {
            c.start_again()?;
            match name {
                "etcd" => c.wait_until(READY_TIMEOUT, || http_get_ok(etcd_port, "/health")),
                "kube-apiserver" => c.wait_until(READY_TIMEOUT, || rt.block_on(apiserver_ready(&kubeconfig))),
                _ => Ok(()),
            }
        })?;
        self.wait_apiserver_ready()?;
        let mut components = self.components.lock().map_err(|_| Error::Setup("components poisoned".into()))?;
        for c in components.iter_mut() {
            if c.exited().is_some() {
                c.start_again()?;
            }
        }
        Ok(())
    }

    /// Waits, bounded, until the apiserver's `/readyz` is ok (after etcd came back, it needs a moment). Blocking.
    pub fn wait_apiserver_ready(&self) -> Result<(), Error> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let kubeconfig = self.kubeconfig.clone();
        self.with_component("kube-apiserver", |c| {
            c.wait_until(READY_TIMEOUT, || rt.block_on(apiserver_ready(&kubeconfig)))
        })
    }

    fn with_component<T>(&self, name: &str, f: impl FnOnce(&mut Component) -> Result<T, Error>) -> Result<T, Error> {
        let mut components = self.components.lock().map_err(|_| Error::Setup("components poisoned".into()))?;
        let component = components
            .iter_mut()
            .find(|c| c.name == name)
            .ok_or_else(|| Error::Setup(format!("no component {name:?} in this cluster")))?;
        f(component)
    }

    /// Stops every component (also done on drop and by the reaper when the process exits).
    pub fn stop(&self) {
        if let Ok(mut components) = self.components.lock() {
            while let Some(mut c) = components.pop() {
                c.stop();
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Builds a client from a kubeconfig file.
pub async fn client_from_kubeconfig(path: &Path) -> Result<kube::Client, Error> {
    let kc = Kubeconfig::read_from(path)?;
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
    Ok(kube::Client::try_from(config)?)
}

fn admin_kubeconfig(server: &str, pki: &Pki) -> Result<String, Error> {
    let b64 =
        |p: &Path| -> Result<String, Error> { Ok(base64::engine::general_purpose::STANDARD.encode(std::fs::read(p)?)) };
    Ok(format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: {server}\n    \
         certificate-authority-data: {ca}\nusers:\n- name: admin\n  user:\n    client-certificate-data: {cert}\n    \
         client-key-data: {key}\ncontexts:\n- name: local\n  context:\n    cluster: local\n    user: admin\n    \
         namespace: default\ncurrent-context: local\n",
        ca = b64(&pki.ca_cert)?,
        cert = b64(&pki.admin_cert)?,
        key = b64(&pki.admin_key)?,
    ))
}

async fn apiserver_ready(kubeconfig: &Path) -> bool {
    let Ok(client) = client_from_kubeconfig(kubeconfig).await else { return false };
    let Ok(req) = http::Request::get("/readyz").body(Vec::new()) else { return false };
    matches!(client.request_text(req).await, Ok(body) if body.trim() == "ok")
}

async fn default_service_account_exists(kubeconfig: &Path) -> bool {
    let Ok(client) = client_from_kubeconfig(kubeconfig).await else { return false };
    let sas: Api<ServiceAccount> = Api::namespaced(client, "default");
    sas.get_opt("default").await.map(|sa| sa.is_some()).unwrap_or(false)
}

/// A plain HTTP/1.0 GET on loopback that reports whether the answer was 200.
pub(crate) fn http_get_ok(port: u16, path: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap_or(0);
    let head = String::from_utf8_lossy(&buf[..n]);
    head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200")
}

fn set_private(dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    Ok(())
}
