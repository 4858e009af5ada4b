//! The AWS side of S7 and S8: the local endpoint (moto behind `hack/aws_endpoint.py`) and, in front of it, a
//! counting proxy that can throttle like AWS does (a token bucket of N calls per second; a call over the quota is
//! answered `ThrottlingException` and never reaches moto). The operator's AWS endpoints all point at the proxy,
//! so every call it attempts is counted here, whatever the operator itself reports.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use external_secrets_testsupport::process::free_port;
use external_secrets_testsupport::{AwsEndpoint, AwsOptions};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const REGION: &str = "eu-west-1";

/// Counters of the proxy: per operation (`secretsmanager.GetSecretValue`, `sts.AssumeRoleWithWebIdentity`),
/// attempted and throttled, and the time of each attempt.
#[derive(Default)]
struct Tally {
    attempted: BTreeMap<String, u64>,
    throttled: BTreeMap<String, u64>,
    failed: BTreeMap<String, u64>,
    times: Vec<(Instant, String)>,
}

struct Bucket {
    tps: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// Takes a token if there is one (the bucket holds at most one second's worth).
    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.tps).min(self.tps);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[derive(Default)]
struct ProxyState {
    tally: Tally,
    /// Throttles Secrets Manager and SSM calls when set.
    bucket: Option<Bucket>,
}

/// A snapshot of the proxy's counters.
#[derive(Clone, Debug, Default)]
pub struct ProxyCounts {
    pub attempted: BTreeMap<String, u64>,
    pub throttled: BTreeMap<String, u64>,
    /// Calls moto answered with an error other than throttling.
    pub failed: BTreeMap<String, u64>,
}

impl ProxyCounts {
    pub fn since(&self, before: &Self) -> Self {
        let diff = |a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>| -> BTreeMap<String, u64> {
            a.iter()
                .map(|(k, v)| (k.clone(), v.saturating_sub(b.get(k).copied().unwrap_or(0))))
                .filter(|(_, v)| *v > 0)
                .collect()
        };
        Self {
            attempted: diff(&self.attempted, &before.attempted),
            throttled: diff(&self.throttled, &before.throttled),
            failed: diff(&self.failed, &before.failed),
        }
    }

    pub fn attempted_where(&self, f: impl Fn(&str) -> bool) -> u64 {
        self.attempted.iter().filter(|(k, _)| f(k)).map(|(_, v)| v).sum()
    }

    pub fn throttled_where(&self, f: impl Fn(&str) -> bool) -> u64 {
        self.throttled.iter().filter(|(k, _)| f(k)).map(|(_, v)| v).sum()
    }

    pub fn get(&self, op: &str) -> u64 {
        self.attempted.get(op).copied().unwrap_or(0)
    }

    pub fn to_json(&self) -> Value {
        json!({"attempted": self.attempted, "throttled": self.throttled, "failed_other": self.failed})
    }
}

/// The local endpoint and the proxy in front of it.
pub struct AwsSide {
    pub endpoint: AwsEndpoint,
    pub proxy_url: String,
    state: Arc<Mutex<ProxyState>>,
    task: tokio::task::JoinHandle<()>,
}

impl AwsSide {
    pub async fn start(dir: &std::path::Path) -> Result<Self> {
        let dir = dir.to_path_buf();
        let endpoint =
            tokio::task::spawn_blocking(move || AwsEndpoint::start(AwsOptions { dir: Some(dir), detached: false }))
                .await??;
        let port = free_port()?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let state: Arc<Mutex<ProxyState>> = Arc::default();
        let upstream: SocketAddr = ([127, 0, 0, 1], endpoint.port).into();
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| proxy(req, upstream, state.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self { endpoint, proxy_url: format!("http://127.0.0.1:{port}"), state, task })
    }

    /// The environment that points an operator's AWS SDK (ours and ESO's overrides) at the proxy.
    pub fn operator_env(&self) -> Vec<(String, String)> {
        self.endpoint
            .env()
            .into_iter()
            .map(|(k, v)| if v == self.endpoint.url { (k, self.proxy_url.clone()) } else { (k, v) })
            .collect()
    }

    /// Throttle Secrets Manager and SSM calls to `tps` per second (`None`: no throttling).
    pub fn throttle(&self, tps: Option<f64>) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.bucket = tps.map(|tps| Bucket { tps, tokens: tps, last: Instant::now() });
    }

    pub fn counts(&self) -> ProxyCounts {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        ProxyCounts {
            attempted: s.tally.attempted.clone(),
            throttled: s.tally.throttled.clone(),
            failed: s.tally.failed.clone(),
        }
    }

    /// The most calls matching `f` attempted within any one second since `since`.
    pub fn peak_per_second(&self, since: Instant, f: impl Fn(&str) -> bool) -> u64 {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let times: Vec<Instant> =
            s.tally.times.iter().filter(|(t, op)| *t >= since && f(op)).map(|(t, _)| *t).collect();
        let mut peak = 0;
        let mut start = 0;
        for end in 0..times.len() {
            while times[end].duration_since(times[start]) >= Duration::from_secs(1) {
                start += 1;
            }
            peak = peak.max(end - start + 1);
        }
        peak as u64
    }

    /// Calls the endpoint directly (not through the proxy, so not counted): a JSON-protocol call such as
    /// `secretsmanager.CreateSecret`.
    pub async fn call(&self, service: &str, target: &str, body: &Value) -> Result<Value> {
        let body = body.to_string();
        let request = format!(
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/x-amz-json-1.1\r\n\
             X-Amz-Target: {target}\r\nAuthorization: AWS4-HMAC-SHA256 Credential={key}/20250101/{REGION}/{service}/\
             aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: {len}\r\n\r\n{body}",
            key = self.endpoint.access_key_id,
            len = body.len()
        );
        let (code, answer) = raw_http(self.endpoint.port, &request).await?;
        if code != 200 {
            bail!("{target}: HTTP {code}: {answer}");
        }
        Ok(serde_json::from_str(&answer).unwrap_or(Value::Null))
    }

    /// The endpoint's own test API (`/_esr/irsa`, ...).
    pub async fn test_api(&self, method: &str, path: &str, body: &Value) -> Result<Value> {
        let body = body.to_string();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n\
             Content-Length: {len}\r\n\r\n{body}",
            len = body.len()
        );
        let (code, answer) = raw_http(self.endpoint.port, &request).await?;
        if code != 200 {
            bail!("{method} {path}: HTTP {code}: {answer}");
        }
        Ok(serde_json::from_str(&answer)?)
    }
}

impl Drop for AwsSide {
    fn drop(&mut self) {
        self.task.abort();
        self.endpoint.stop();
    }
}

async fn raw_http(port: u16, request: &str) -> Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut response)).await??;
    let text = String::from_utf8_lossy(&response).to_string();
    let (head, body) = text.split_once("\r\n\r\n").context("no HTTP answer")?;
    let code = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).context("no status code")?;
    // moto answers `Connection: close` requests without chunking; a chunked body would need decoding.
    Ok((code, body.to_string()))
}

/// The operation a request names: `service.Operation` from `X-Amz-Target` (JSON protocols) or the `Action` of a
/// query-protocol form body (STS).
fn operation(headers: &http::HeaderMap, body: &[u8]) -> String {
    if let Some(target) = headers.get("x-amz-target").and_then(|t| t.to_str().ok()) {
        let (prefix, op) = target.split_once('.').unwrap_or((target, ""));
        let service = match prefix {
            "secretsmanager" => "secretsmanager",
            "AmazonSSM" => "ssm",
            other => other,
        };
        return format!("{service}.{op}");
    }
    let form = String::from_utf8_lossy(body);
    form.split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .map(|a| format!("sts.{a}"))
        .unwrap_or_else(|| "unknown".to_string())
}

async fn proxy(
    req: Request<Incoming>,
    upstream: SocketAddr,
    state: Arc<Mutex<ProxyState>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let op = operation(&parts.headers, &body);
    let throttled = {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        *s.tally.attempted.entry(op.clone()).or_insert(0) += 1;
        s.tally.times.push((Instant::now(), op.clone()));
        let limited = !op.starts_with("sts.");
        let throttled = limited && s.bucket.as_mut().is_some_and(|b| !b.take());
        if throttled {
            *s.tally.throttled.entry(op.clone()).or_insert(0) += 1;
        }
        throttled
    };
    if throttled {
        let body = json!({"__type": "ThrottlingException", "message": "Rate exceeded"}).to_string();
        return Ok(Response::builder()
            .status(400)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amzn-errortype", "ThrottlingException")
            .body(Full::new(Bytes::from(body)))
            .unwrap_or_default());
    }
    let answer = forward(parts, body, upstream).await;
    let response = match answer {
        Ok(r) => r,
        Err(e) => Response::builder()
            .status(502)
            .body(Full::new(Bytes::from(format!("bench proxy: {e}"))))
            .unwrap_or_default(),
    };
    if !response.status().is_success() {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        *s.tally.failed.entry(op).or_insert(0) += 1;
    }
    Ok(response)
}

async fn forward(parts: http::request::Parts, body: Bytes, upstream: SocketAddr) -> Result<Response<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(upstream).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = Request::from_parts(parts, Full::new(body));
    let response = sender.send_request(request).await?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Response::from_parts(parts, Full::new(body)))
}
