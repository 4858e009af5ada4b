//! A fault-injecting HTTP proxy for the local AWS endpoint: tests point the operator at it instead of at moto and
//! switch, at run time, between passing requests through and failing them the ways a real provider fails —
//! refusing connections (provider down), answering 5xx, throttling (`400 ThrottlingException` in the AWS JSON
//! protocol shape, or a bare `429` as a gateway in front of a service answers), answering slowly, and rejecting the
//! access key a request is signed with. Every request that reaches it is counted per operation (`X-Amz-Target`)
//! with its arrival time, so that a test can measure retries and rule out hot loops at the provider's door.
//!
//! ```ignore
//! let proxy = FaultProxy::start(aws.port)?;        // in front of `external_secrets_testsupport::aws()`
//! proxy.set(Fault::Throttle);                       // from now on every request is throttled
//! let during = proxy.requests_between(from, to);    // what reached the provider meanwhile
//! proxy.set(Fault::PassThrough);
//! ```
//!
//! The proxy runs on a thread of its own (with its own tokio runtime), so it outlives any test's runtime and
//! keeps serving while a test blocks.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::Error;

/// What the proxy does with the requests it receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forward every request to the endpoint and its answer back.
    PassThrough,
    /// Provider down: the port is closed (connections are refused) and open connections are cut.
    Refuse,
    /// Answer every request with this 5xx status and the AWS JSON error `InternalFailure` (500) or
    /// `ServiceUnavailable` (other codes).
    ServerError(u16),
    /// Answer every request with `400 ThrottlingException` (`Rate exceeded`), as Secrets Manager and SSM throttle.
    Throttle,
    /// Answer every request with a bare `429 Too Many Requests` that carries no AWS error code, as a gateway or
    /// proxy in front of a service throttles.
    TooManyRequests,
    /// Forward requests, but only after holding each one this long.
    Delay(Duration),
    /// Answer requests signed (SigV4 `Credential=`) with one of these access key ids with
    /// `400 UnrecognizedClientException`, as AWS answers an unknown or deactivated key; forward the others.
    RejectAccessKeys(Vec<String>),
}

/// Requests seen so far.
#[derive(Default)]
struct Tally {
    by_operation: BTreeMap<String, u64>,
    /// Arrival of each request, relative to the proxy's start.
    arrivals: Vec<Duration>,
}

struct Shared {
    started: Instant,
    upstream: SocketAddr,
    tally: Mutex<Tally>,
}

/// A running proxy. Dropping it stops it.
pub struct FaultProxy {
    /// `http://127.0.0.1:<port>`: give this to the operator as its AWS endpoint.
    pub url: String,
    pub port: u16,
    shared: Arc<Shared>,
    fault: watch::Sender<Fault>,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy").field("url", &self.url).field("fault", &*self.fault.borrow()).finish()
    }
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port in front of the endpoint on `127.0.0.1:upstream_port`, passing
    /// everything through.
    pub fn start(upstream_port: u16) -> Result<Self, Error> {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        std_listener.set_nonblocking(true)?;
        let port = std_listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            started: Instant::now(),
            upstream: SocketAddr::from(([127, 0, 0, 1], upstream_port)),
            tally: Mutex::new(Tally::default()),
        });
        let (fault_tx, fault_rx) = watch::channel(Fault::PassThrough);
        let (stop_tx, stop_rx) = watch::channel(false);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let served = shared.clone();
        let thread = std::thread::Builder::new().name(format!("fault-proxy-{port}")).spawn(move || {
            runtime.block_on(async move {
                match TcpListener::from_std(std_listener) {
                    Ok(listener) => serve(listener, port, served, fault_rx, stop_rx).await,
                    Err(e) => tracing::error!(error = %e, "fault proxy: could not listen"),
                }
            });
        })?;
        Ok(Self {
            url: format!("http://127.0.0.1:{port}"),
            port,
            shared,
            fault: fault_tx,
            stop: stop_tx,
            thread: Some(thread),
        })
    }

    /// Switches to `fault` for every request from now on. [`Fault::Refuse`] closes the port and cuts open
    /// connections before this returns (bounded: within a second); leaving it opens the port again.
    pub fn set(&self, fault: Fault) {
        let refusing = fault == Fault::Refuse;
        self.fault.send_replace(fault);
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline {
            let open = std::net::TcpStream::connect_timeout(
                &SocketAddr::from(([127, 0, 0, 1], self.port)),
                Duration::from_millis(200),
            )
            .is_ok();
            if open != refusing {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The fault in force.
    pub fn fault(&self) -> Fault {
        self.fault.borrow().clone()
    }

    /// Requests received so far per operation (`X-Amz-Target`, e.g. `secretsmanager.GetSecretValue`; `other` for
    /// requests without one).
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.shared.tally.lock().map(|t| t.by_operation.clone()).unwrap_or_default()
    }

    /// Requests received so far.
    pub fn total(&self) -> u64 {
        self.shared.tally.lock().map(|t| t.arrivals.len() as u64).unwrap_or_default()
    }

    /// Requests received in `[from, to)`.
    pub fn requests_between(&self, from: Instant, to: Instant) -> u64 {
        let (from, to) = (self.offset(from), self.offset(to));
        self.shared
            .tally
            .lock()
            .map(|t| t.arrivals.iter().filter(|a| **a >= from && **a < to).count() as u64)
            .unwrap_or_default()
    }

    /// The most requests received within any one second of `[from, to)`.
    pub fn max_per_second(&self, from: Instant, to: Instant) -> u64 {
        let (from, to) = (self.offset(from), self.offset(to));
        let Ok(tally) = self.shared.tally.lock() else { return 0 };
        let window: Vec<Duration> = tally.arrivals.iter().copied().filter(|a| *a >= from && *a < to).collect();
        max_in_window(&window, Duration::from_secs(1))
    }

    fn offset(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.shared.started)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The most entries of the sorted `arrivals` that fall within any `window`.
fn max_in_window(arrivals: &[Duration], window: Duration) -> u64 {
    let mut start = 0;
    let mut best = 0;
    for (end, at) in arrivals.iter().enumerate() {
        while *at >= arrivals[start] + window {
            start += 1;
        }
        best = best.max(end + 1 - start);
    }
    best as u64
}

/// Accepts connections while the fault is not [`Fault::Refuse`]; under it, the listener is closed (so connecting
/// is refused by the kernel) and the open connections are cut; afterwards the same port is bound again.
async fn serve(
    listener: TcpListener,
    port: u16,
    shared: Arc<Shared>,
    mut fault: watch::Receiver<Fault>,
    mut stop: watch::Receiver<bool>,
) {
    let mut listener = Some(listener);
    // Bumped to cut every open connection.
    let (cut_tx, _) = watch::channel(0u64);
    loop {
        if *stop.borrow() {
            return;
        }
        let refusing = *fault.borrow_and_update() == Fault::Refuse;
        if refusing {
            listener = None;
            cut_tx.send_modify(|n| *n += 1);
            tokio::select! {
                _ = fault.changed() => continue,
                _ = stop.changed() => return,
            }
        }
        let current = match listener.take() {
            Some(l) => l,
            None => match bind_again(port).await {
                Some(l) => l,
                None => {
                    tracing::error!(port, "fault proxy: could not bind its port again");
                    return;
                }
            },
        };
        loop {
            tokio::select! {
                accepted = current.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    tokio::spawn(connection(stream, shared.clone(), fault.clone(), cut_tx.subscribe()));
                }
                changed = fault.changed() => {
                    if changed.is_err() || *fault.borrow() == Fault::Refuse {
                        break;
                    }
                }
                _ = stop.changed() => return,
            }
        }
        // `current` is dropped here: the port closes.
    }
}

async fn bind_again(port: u16) -> Option<TcpListener> {
    for _ in 0..50 {
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)).await {
            return Some(l);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

async fn connection(
    stream: TcpStream,
    shared: Arc<Shared>,
    fault: watch::Receiver<Fault>,
    mut cut: watch::Receiver<u64>,
) {
    let service = hyper::service::service_fn(move |req| handle(req, shared.clone(), fault.clone()));
    let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = conn => {}
        _ = cut.changed() => {}
    }
}

/// The operation of a request: its `X-Amz-Target` (JSON protocols), else `other`.
fn operation(req: &Request<Incoming>) -> String {
    req.headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| "other".to_string())
}

/// The access key id a SigV4-signed request names (`Credential=<key>/<date>/...`).
fn access_key(req: &Request<Incoming>) -> Option<String> {
    let auth = req.headers().get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let rest = auth.split("Credential=").nth(1)?;
    rest.split('/').next().map(str::to_string)
}

fn aws_json_error(status: u16, code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = format!("{{\"__type\":\"{code}\",\"message\":\"{message}\"}}");
    response(status, "application/x-amz-json-1.1", body)
}

fn response(status: u16, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    resp.headers_mut().insert("x-amzn-requestid", http::HeaderValue::from_static("esr-fault-proxy"));
    resp
}

async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    fault: watch::Receiver<Fault>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let op = operation(&req);
    if let Ok(mut tally) = shared.tally.lock() {
        *tally.by_operation.entry(op).or_default() += 1;
        let at = shared.started.elapsed();
        tally.arrivals.push(at);
    }
    let fault = fault.borrow().clone();
    let resp = match fault {
        Fault::ServerError(500) => aws_json_error(500, "InternalFailure", "injected by the fault proxy"),
        Fault::ServerError(code) => aws_json_error(code, "ServiceUnavailable", "injected by the fault proxy"),
        Fault::Throttle => aws_json_error(400, "ThrottlingException", "Rate exceeded"),
        Fault::TooManyRequests => response(429, "text/plain", "Too Many Requests".to_string()),
        Fault::RejectAccessKeys(keys) if access_key(&req).is_some_and(|k| keys.contains(&k)) => {
            aws_json_error(400, "UnrecognizedClientException", "The security token included in the request is invalid.")
        }
        Fault::Delay(delay) => {
            tokio::time::sleep(delay).await;
            forward(req, shared.upstream).await
        }
        // A connection accepted just before the port closed: answer as a provider going down would.
        Fault::Refuse => aws_json_error(503, "ServiceUnavailable", "going down"),
        Fault::PassThrough | Fault::RejectAccessKeys(_) => forward(req, shared.upstream).await,
    };
    Ok(resp)
}

/// Sends `req` to the endpoint on a new connection and returns its answer, or `502` if that fails.
async fn forward(req: Request<Incoming>, upstream: SocketAddr) -> Response<Full<Bytes>> {
    match try_forward(req, upstream).await {
        Ok(resp) => resp,
        Err(e) => response(502, "text/plain", format!("fault proxy: the endpoint failed: {e}")),
    }
}

async fn try_forward(
    req: Request<Incoming>,
    upstream: SocketAddr,
) -> Result<Response<Full<Bytes>>, Box<dyn std::error::Error + Send + Sync>> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let mut outgoing = Request::from_parts(parts, Full::new(body));
    outgoing.headers_mut().remove(http::header::CONNECTION);
    let stream = TcpStream::connect(upstream).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let answer = sender.send_request(outgoing).await?;
    let (mut parts, body) = answer.into_parts();
    let body = body.collect().await?.to_bytes();
    parts.headers.remove(http::header::TRANSFER_ENCODING);
    parts.headers.remove(http::header::CONNECTION);
    Ok(Response::from_parts(parts, Full::new(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_in_window_counts_the_busiest_second() {
        let ms = |v: &[u64]| v.iter().map(|m| Duration::from_millis(*m)).collect::<Vec<_>>();
        assert_eq!(max_in_window(&[], Duration::from_secs(1)), 0);
        assert_eq!(max_in_window(&ms(&[0, 500, 999, 1000, 1999]), Duration::from_secs(1)), 3);
        assert_eq!(max_in_window(&ms(&[0, 2000, 2100, 2200, 2300, 4000]), Duration::from_secs(1)), 4);
    }
}
