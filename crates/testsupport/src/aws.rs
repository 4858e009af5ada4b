//! The local AWS endpoint: moto (Secrets Manager, SSM, STS) behind our small wrapper `hack/aws_endpoint.py`,
//! which adds per-operation call counters and on-demand fault injection.

use std::process::Command;
use std::time::Duration;

use crate::process::{Component, free_port, state_dir};
use crate::{Error, cluster::http_get_ok, tools};

/// A running local AWS endpoint.
#[derive(Debug)]
pub struct AwsEndpoint {
    /// `http://127.0.0.1:<port>`; the same URL serves every service.
    pub url: String,
    pub port: u16,
    /// A region the tests use.
    pub region: String,
    /// Static test credentials (moto does not check them unless auth enforcement is on).
    pub access_key_id: String,
    pub secret_access_key: String,
    component: Component,
}

/// Options for [`AwsEndpoint::start`].
#[derive(Clone, Debug, Default)]
pub struct AwsOptions {
    /// Where the log goes; a temporary directory when `None`.
    pub dir: Option<std::path::PathBuf>,
    /// Leave the process running when this process exits (for `make cluster-up`).
    pub detached: bool,
}

impl AwsEndpoint {
    /// Creates the venv if needed and starts the endpoint on a free loopback port, waiting (bounded) for it.
    pub fn start(opts: AwsOptions) -> Result<Self, Error> {
        let python = tools::moto_python()?;
        let dir = state_dir(opts.dir, "esr-aws-", opts.detached)?;
        let port = free_port()?;
        let mut cmd = Command::new(python);
        cmd.arg(tools::repo_root().join("hack/aws_endpoint.py")).arg("--port").arg(port.to_string());
        let mut component = Component::spawn("aws-endpoint", cmd, &dir.join("aws-endpoint.log"), opts.detached)?;
        component.wait_until(Duration::from_secs(60), || http_get_ok(port, "/_esr/health"))?;
        Ok(Self {
            url: format!("http://127.0.0.1:{port}"),
            port,
            region: "eu-west-1".to_string(),
            access_key_id: "AKIAIOSFODNN7EXAMPLE".to_string(),
            secret_access_key: "test-secret-access-key".to_string(),
            component,
        })
    }

    /// The PID of the endpoint process.
    pub fn pid(&self) -> u32 {
        self.component.pid()
    }

    /// Environment variables that point AWS SDKs (and ESO's endpoint overrides) at this endpoint.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".into(), self.url.clone()),
            ("AWS_SECRETSMANAGER_ENDPOINT".into(), self.url.clone()),
            ("AWS_SSM_ENDPOINT".into(), self.url.clone()),
            ("AWS_STS_ENDPOINT".into(), self.url.clone()),
            ("AWS_REGION".into(), self.region.clone()),
            ("AWS_ACCESS_KEY_ID".into(), self.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY".into(), self.secret_access_key.clone()),
        ]
    }

    /// Stops the endpoint.
    pub fn stop(&mut self) {
        self.component.stop();
    }
}

/// One Secrets Manager call (JSON protocol, blocking) straight to the local endpoint, for test fixtures that set
/// up or change remote state without the SDK. Returns the HTTP status and body.
///
/// moto 5.2.5's `SecretsStore` looks secrets up by iterating the region's dict, so a lookup that runs while another
/// thread inserts a secret fails with Python's "dictionary changed size during iteration" and an HTML 500. That is
/// a race in the emulator, not an answer: such 500s are retried (a few times, briefly). A `CreateSecret` whose
/// retry finds the secret already there counts as created — the failed attempt had inserted it.
pub fn secrets_manager_call(
    port: u16,
    region: &str,
    target: &str,
    body: &serde_json::Value,
) -> Result<(u16, String), Error> {
    let request = json_request(port, region, "secretsmanager", &format!("secretsmanager.{target}"), body);
    let mut raced = false;
    for attempt in 0..6 {
        let (status, answer) = raw_http(port, &request)?;
        let emulator_race = status == 500 && answer.contains("Internal Server Error");
        if emulator_race && attempt < 5 {
            raced = true;
            std::thread::sleep(Duration::from_millis(50 * (attempt + 1)));
            continue;
        }
        if raced && target == "CreateSecret" && status == 400 && answer.contains("ResourceExistsException") {
            return Ok((200, answer));
        }
        return Ok((status, answer));
    }
    Err(Error::Setup(format!("{target}: the AWS endpoint kept failing")))
}

/// One Parameter Store call (JSON protocol, blocking) straight to the local endpoint (`target` e.g.
/// `PutParameter`), for test fixtures. Returns the HTTP status and body.
pub fn parameter_store_call(
    port: u16,
    region: &str,
    target: &str,
    body: &serde_json::Value,
) -> Result<(u16, String), Error> {
    raw_http(port, &json_request(port, region, "ssm", &format!("AmazonSSM.{target}"), body))
}

/// An AWS JSON-protocol request for `service` (moto checks no signature but routes by the credential scope).
fn json_request(port: u16, region: &str, service: &str, target: &str, body: &serde_json::Value) -> String {
    let body = body.to_string();
    format!(
        "POST / HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-amz-json-1.1\r\n\
         X-Amz-Target: {target}\r\nAuthorization: AWS4-HMAC-SHA256 \
         Credential=test/20260101/{region}/{service}/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn raw_http(port: u16, request: &str) -> Result<(u16, String), Error> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.write_all(request.as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}
