//! A real HashiCorp Vault server in dev mode (`vault server -dev`: in memory, unsealed, KV v2 at `secret/`),
//! built from Go modules by `hack/build-tools.sh` and found in the tools directory beside the control plane.

use std::process::Command;
use std::time::Duration;

use crate::process::{Component, free_port, state_dir};
use crate::{Error, cluster::http_get_ok, tools};

/// A running Vault dev server: the dev listener (plain HTTP) and a second, TLS listener (for `caBundle`,
/// `caProvider` and TLS client certificate auth), whose certificate a throw-away CA signs.
#[derive(Debug)]
pub struct VaultServer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    pub port: u16,
    /// `https://127.0.0.1:<tls port>`: the same server behind TLS. Vault asks clients there for a certificate
    /// (optional), so the `cert` auth method works.
    pub tls_url: String,
    /// The PEM of the CA that signed the TLS listener's certificate.
    pub tls_ca_pem: String,
    /// The root token (dev mode's `-dev-root-token-id`).
    pub root_token: String,
    component: Component,
}

/// Options for [`VaultServer::start`].
#[derive(Clone, Debug, Default)]
pub struct VaultOptions {
    /// Where the log (and the dev server's HOME) go; a temporary directory when `None`.
    pub dir: Option<std::path::PathBuf>,
    /// Leave the process running when this process exits (for `make cluster-up`).
    pub detached: bool,
}

/// Writes a CA, a serving certificate for 127.0.0.1 and a listener config on `port` into `dir`; answers the
/// CA's PEM.
fn write_tls_listener(dir: &std::path::Path, port: u16) -> Result<String, Error> {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
    let err = |e: rcgen::Error| Error::Setup(format!("generating the Vault TLS certificate: {e}"));
    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca_params = CertificateParams::default();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "external-secrets-rs test Vault CA");
    let ca = ca_params.self_signed(&ca_key).map_err(err)?;
    let issuer = Issuer::new(ca_params, &ca_key);
    let key = KeyPair::generate().map_err(err)?;
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).map_err(err)?;
    params.subject_alt_names.push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
    let cert = params.signed_by(&key, &issuer).map_err(err)?;
    let (cert_file, key_file) = (dir.join("vault-tls.crt"), dir.join("vault-tls.key"));
    std::fs::write(&cert_file, cert.pem())?;
    std::fs::write(&key_file, key.serialize_pem())?;
    let config = format!(
        "listener \"tcp\" {{\n  address = \"127.0.0.1:{port}\"\n  tls_cert_file = \"{}\"\n  tls_key_file = \"{}\"\n}}\n",
        cert_file.display(),
        key_file.display()
    );
    std::fs::write(dir.join("tls-listener.hcl"), config)?;
    Ok(ca.pem())
}

impl VaultServer {
    /// Starts a dev server on a free loopback port and waits (bounded) until `/v1/sys/health` answers 200.
    pub fn start(opts: VaultOptions) -> Result<Self, Error> {
        let binary = tools::bin_dir()?.join("vault");
        if !binary.exists() {
            return Err(Error::Setup(format!(
                "{} is missing: run hack/build-tools.sh (it builds Vault from Go modules)",
                binary.display()
            )));
        }
        let dir = state_dir(opts.dir, "esr-vault-", opts.detached)?;
        let port = free_port()?;
        let tls_port = free_port()?;
        let tls_ca_pem = write_tls_listener(&dir, tls_port)?;
        let root_token = "esr-root-token".to_string();
        let mut cmd = Command::new(binary);
        cmd.arg("server")
            .arg("-dev")
            // Dev mode adds the listeners of a config file to its own.
            .arg(format!("-config={}", dir.join("tls-listener.hcl").display()))
            .arg(format!("-dev-root-token-id={root_token}"))
            .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
            // The dev server writes ~/.vault-token; keep it in the test directory.
            .env("HOME", &dir)
            .env_remove("VAULT_ADDR")
            .env_remove("VAULT_TOKEN");
        let mut component = Component::spawn("vault", cmd, &dir.join("vault.log"), opts.detached)?;
        component.wait_until(Duration::from_secs(60), || http_get_ok(port, "/v1/sys/health"))?;
        Ok(Self {
            url: format!("http://127.0.0.1:{port}"),
            port,
            tls_url: format!("https://127.0.0.1:{tls_port}"),
            tls_ca_pem,
            root_token,
            component,
        })
    }

    /// The PID of the server.
    pub fn pid(&self) -> u32 {
        self.component.pid()
    }

    /// `VAULT_ADDR` and `VAULT_TOKEN` for this server.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![("VAULT_ADDR".into(), self.url.clone()), ("VAULT_TOKEN".into(), self.root_token.clone())]
    }

    /// One API call with the root token (blocking; for test fixtures): `method /v1/<path>` with a JSON `body`.
    /// Returns the HTTP status and the JSON answer (`null` when empty).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, serde_json::Value), Error> {
        self.call_as(&self.root_token, method, path, body)
    }

    /// Like [`VaultServer::call`], with `token`.
    pub fn call_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, serde_json::Value), Error> {
        use std::io::{Read, Write};
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let request = format!(
            "{method} /v1/{path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nX-Vault-Token: {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len(),
            port = self.port,
            path = path.trim_start_matches('/'),
        );
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.write_all(request.as_bytes())?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let text = response.split_once("\r\n\r\n").map(|(_, b)| b.trim().to_string()).unwrap_or_default();
        let json = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).map_err(|e| Error::Setup(format!("{method} {path}: not JSON: {e}")))?
        };
        Ok((status, json))
    }

    /// Like [`VaultServer::call`], failing unless Vault answered 2xx.
    pub fn must(&self, method: &str, path: &str, body: Option<&serde_json::Value>) -> Result<serde_json::Value, Error> {
        let (status, json) = self.call(method, path, body)?;
        if !(200..300).contains(&status) {
            return Err(Error::Setup(format!("vault {method} {path}: HTTP {status}: {json}")));
        }
        Ok(json)
    }

    /// Stops the server.
    pub fn stop(&mut self) {
        self.component.stop();
    }
}
