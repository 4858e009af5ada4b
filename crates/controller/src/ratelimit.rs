//! Client-side rate limiting of the operator's Kubernetes API requests (`--client-qps`, `--client-burst`), as
//! client-go's `rest.Config.QPS`/`Burst` do for ESO: a token bucket in front of every request of the client.
//!
//! A request over the limit is *delayed* until a token is available, never failed. kube's `Client` keeps its
//! service behind a buffer whose worker polls readiness before dispatching each request, so the delay sits in
//! `poll_ready` and requests leave in the order they were queued. A watch counts once, when it starts.
//!
//! By default there is no client-side limit (ESO's default is 50 QPS, burst 100, since ESO #4202). A token bucket
//! is a poor guard for a shared apiserver: it caps one client whether the server is idle or overloaded, and at 50
//! QPS with three or four requests per first sync it alone made a cold start of 1000 ExternalSecrets take 100 s.
//! The apiserver's API Priority and Fairness protects it and the other tenants (our requests are one flow,
//! fair-queued within its priority level) and answers 429 with Retry-After when it sheds load; kube's client
//! retries those after the delay the server asks for. What we send at once is bounded by the reconcile workers
//! (`--concurrent`), each of which waits for one request at a time. `--client-qps` still sets a bucket, for
//! users who want ESO's behaviour.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// ESO's `--client-burst` default.
pub const DEFAULT_BURST: u32 = 100;

/// A token bucket: `burst` tokens at most, refilled at `qps` tokens per second. Requests reserve a token each;
/// the bucket may go into debt, and the debt is how long the latest request must wait (golang.org/x/time/rate's
/// reservation, which client-go uses).
#[derive(Debug, Clone)]
pub struct TokenBucket {
    qps: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket at `now`. A burst of 0 is taken as 1 (otherwise nothing could ever pass).
    pub fn new(qps: f32, burst: u32, now: Instant) -> Self {
        let burst = f64::from(burst.max(1));
        Self { qps: f64::from(qps).max(f64::MIN_POSITIVE), burst, tokens: burst, last: now }
    }

    /// Takes one token at `now` and says how long to wait before using it (zero: go now).
    pub fn reserve(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        if now > self.last {
            self.last = now;
        }
        self.tokens = (self.tokens + elapsed * self.qps).min(self.burst) - 1.0;
        if self.tokens >= 0.0 { Duration::ZERO } else { Duration::from_secs_f64(-self.tokens / self.qps) }
    }
}

/// A tower layer that rate-limits every request of the service it wraps (use with
/// `kube::client::ClientBuilder::with_layer`). All services made from one layer share its bucket.
#[derive(Clone, Debug)]
pub struct RateLimitLayer {
    bucket: Option<Arc<Mutex<TokenBucket>>>,
}

impl RateLimitLayer {
    /// `qps` requests per second with bursts of `burst`; a `qps` of 0 (or less) disables the limit.
    pub fn new(qps: f32, burst: u32) -> Self {
        let bucket = (qps > 0.0).then(|| Arc::new(Mutex::new(TokenBucket::new(qps, burst, Instant::now()))));
        Self { bucket }
    }
}

impl<S> tower::Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> RateLimit<S> {
        RateLimit { inner, bucket: self.bucket.clone(), wait: None, permitted: false }
    }
}

/// The service made by [`RateLimitLayer`].
pub struct RateLimit<S> {
    inner: S,
    bucket: Option<Arc<Mutex<TokenBucket>>>,
    wait: Option<Pin<Box<Sleep>>>,
    /// A token was taken and its wait is over: the next `call` may go.
    permitted: bool,
}

impl<S, Request> tower::Service<Request> for RateLimit<S>
where
    S: tower::Service<Request>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if let Some(bucket) = &self.bucket
            && !self.permitted
        {
            if self.wait.is_none() {
                let delay = bucket.lock().unwrap_or_else(|p| p.into_inner()).reserve(Instant::now());
                if delay.is_zero() {
                    self.permitted = true;
                } else {
                    self.wait = Some(Box::pin(tokio::time::sleep(delay)));
                }
            }
            if let Some(wait) = self.wait.as_mut() {
                ready!(wait.as_mut().poll(cx));
                self.wait = None;
                self.permitted = true;
            }
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        self.permitted = false;
        self.inner.call(request)
    }
}

/// A `kube::Client` for `config` whose every request passes the `qps`/`burst` token bucket and is counted in
/// client-go's `rest_client_requests_total{code, method, host}`.
pub fn client(config: kube::Config, qps: f32, burst: u32) -> Result<kube::Client, kube::Error> {
    let host = config.cluster_url.authority().map(|a| a.to_string()).unwrap_or_default();
    Ok(kube::client::ClientBuilder::try_from(config)?
        .with_layer(&RateLimitLayer::new(qps, burst))
        .with_layer(&RequestCountLayer { host })
        .build())
}

/// Counts every request by response code (`<error>` when none came, as client-go writes it), method and host.
#[derive(Clone, Debug)]
pub struct RequestCountLayer {
    host: String,
}

impl<S> tower::Layer<S> for RequestCountLayer {
    type Service = RequestCount<S>;

    fn layer(&self, inner: S) -> RequestCount<S> {
        RequestCount { inner, host: self.host.clone() }
    }
}

/// The service made by [`RequestCountLayer`].
#[derive(Clone)]
pub struct RequestCount<S> {
    inner: S,
    host: String,
}

impl<S, B, R> tower::Service<axum::http::Request<B>> for RequestCount<S>
where
    S: tower::Service<axum::http::Request<B>, Response = axum::http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: axum::http::Request<B>) -> Self::Future {
        let method = request.method().as_str().to_string();
        let host = self.host.clone();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await;
            let code = match &response {
                Ok(r) => r.status().as_u16().to_string(),
                Err(_) => "<error>".to_string(),
            };
            let labels = crate::metrics::RestClientLabels { code, method, host };
            crate::metrics::rest_client_requests().get_or_create(&labels).inc();
            response
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tower::{Layer, Service, ServiceExt};

    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn full_bucket_lets_a_burst_through_then_spaces_requests_by_one_over_qps() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10.0, 3, start);
        let waits: Vec<Duration> = (0..6).map(|_| bucket.reserve(start)).collect();
        assert_eq!(&waits[..3], &[Duration::ZERO; 3]);
        // Debt of 1, 2, 3 tokens at 10 per second.
        for (wait, expected) in waits[3..].iter().zip([100, 200, 300]) {
            assert!(wait.abs_diff(ms(expected)) < ms(1), "{wait:?} vs {expected}ms");
        }
    }

    #[test]
    fn tokens_refill_with_time_up_to_the_burst_only() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(2.0, 4, start);
        for _ in 0..4 {
            assert_eq!(bucket.reserve(start), Duration::ZERO);
        }
        // Half a second later: one token back.
        assert_eq!(bucket.reserve(start + ms(500)), Duration::ZERO);
        assert!(bucket.reserve(start + ms(500)).abs_diff(ms(500)) < ms(1));
        // An hour idle refills to the burst, not beyond.
        let later = start + Duration::from_secs(3600);
        let free = (0..10).take_while(|_| bucket.reserve(later).is_zero()).count();
        assert_eq!(free, 4);
    }

    #[test]
    fn zero_burst_still_lets_one_request_through() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(1.0, 0, start);
        assert_eq!(bucket.reserve(start), Duration::ZERO);
        assert!(bucket.reserve(start).abs_diff(Duration::from_secs(1)) < ms(1));
    }

    #[tokio::test(start_paused = true)]
    async fn requests_beyond_the_burst_are_delayed_not_failed() {
        let served = Arc::new(AtomicUsize::new(0));
        let counter = served.clone();
        let inner = tower::service_fn(move |n: u32| {
            counter.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, std::convert::Infallible>(n) }
        });
        let mut service = RateLimitLayer::new(5.0, 2).layer(inner);
        let start = Instant::now();
        let mut finished_at = Vec::new();
        for n in 0..7u32 {
            let answer = service.ready().await.unwrap().call(n).await.unwrap();
            assert_eq!(answer, n);
            finished_at.push(start.elapsed());
        }
        assert_eq!(served.load(Ordering::SeqCst), 7, "every request is served");
        // Two at once, then one every 200 ms.
        let expected = [0, 0, 200, 400, 600, 800, 1000];
        for (got, want) in finished_at.iter().zip(expected) {
            assert!(got.abs_diff(ms(want)) < ms(5), "{finished_at:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn zero_qps_disables_the_limit() {
        let inner = tower::service_fn(|n: u32| async move { Ok::<_, std::convert::Infallible>(n) });
        let mut service = RateLimitLayer::new(0.0, 1).layer(inner);
        let start = Instant::now();
        for n in 0..1000u32 {
            service.ready().await.unwrap().call(n).await.unwrap();
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
