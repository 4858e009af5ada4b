//! controller-runtime's per-controller series, kept for kube-rs controllers so that ESO's dashboard works:
//! reconcile counts by result, errors, reconcile time, workers, and the work queue's depth, adds and queue time.
//!
//! kube-rs' scheduler is not client-go's work queue, so the queue is observed from outside it: an object is
//! *added* when a watch event or a mapped trigger names it, or — for a requeue whose timer fired — when its
//! reconcile starts; it leaves the queue when its reconcile starts. As in client-go, an object already waiting
//! is not added twice. An object that is deleted while waiting is never reconciled; it is dropped from the
//! count after [`STALE_AFTER`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::runtime::controller::Action;
use tokio::time::Instant;

use crate::metrics::{ControllerLabels, Metrics, QueueDepthLabels, QueueLabels, ReconcileResultLabels};

/// How long an object may wait without being reconciled before it is no longer counted as waiting.
pub const STALE_AFTER: Duration = Duration::from_secs(600);

/// controller-runtime's `result` label values.
const RESULTS: [&str; 4] = ["error", "requeue_after", "requeue", "success"];

/// The controller-runtime series of one controller.
pub struct ControllerMetrics {
    name: &'static str,
    metrics: Arc<Metrics>,
    /// Objects waiting for a reconcile, with the time they were added.
    waiting: Mutex<HashMap<String, Instant>>,
}

impl ControllerMetrics {
    /// The series of controller `name` (controller-runtime's name: the lower-case kind), created at zero as
    /// controller-runtime does, with `concurrency` as `controller_runtime_max_concurrent_reconciles`.
    pub fn new(name: &'static str, metrics: Arc<Metrics>, concurrency: u16) -> Arc<Self> {
        let controller = ControllerLabels { controller: name.to_string() };
        for result in RESULTS {
            let _ = metrics
                .reconcile_total
                .get_or_create(&ReconcileResultLabels { controller: name.to_string(), result: result.to_string() });
        }
        let _ = metrics.reconcile_errors.get_or_create(&controller);
        metrics.max_concurrent_reconciles.get_or_create(&controller).set(i64::from(concurrency));
        metrics.active_workers.get_or_create(&controller).set(0);
        let this = Arc::new(Self { name, metrics, waiting: Mutex::default() });
        let _ = this.metrics.workqueue_adds.get_or_create(&this.queue_labels());
        this.set_depth(0);
        this
    }

    fn queue_labels(&self) -> QueueLabels {
        QueueLabels { name: self.name.to_string(), controller: self.name.to_string() }
    }

    fn set_depth(&self, depth: usize) {
        let labels = QueueDepthLabels {
            name: self.name.to_string(),
            controller: self.name.to_string(),
            priority: String::new(),
        };
        self.metrics.workqueue_depth.get_or_create(&labels).set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    /// A trigger named the object `key` (`namespace/name`): it is added unless it is already waiting.
    pub fn queued(&self, key: String) {
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        if waiting.contains_key(&key) {
            return;
        }
        waiting.insert(key, Instant::now());
        self.metrics.workqueue_adds.get_or_create(&self.queue_labels()).inc();
        self.set_depth(waiting.len());
    }

    /// The object `key` left the queue: returns how long it waited.
    fn dequeued(&self, key: &str) -> Duration {
        let now = Instant::now();
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        let waited = match waiting.remove(key) {
            Some(added) => now.saturating_duration_since(added),
            // A requeue whose timer fired: added and taken at once.
            None => {
                self.metrics.workqueue_adds.get_or_create(&self.queue_labels()).inc();
                Duration::ZERO
            }
        };
        waiting.retain(|_, added| now.saturating_duration_since(*added) < STALE_AFTER);
        self.set_depth(waiting.len());
        waited
    }

    /// Runs the reconcile of `key` and records it: queue time, a busy worker while it runs, its time and result.
    /// `failed` tells whether a reconcile that handled its error itself (status, event, backoff) failed: ESO's
    /// reconcilers return such errors to controller-runtime, which counts them as `error`.
    pub async fn reconcile<E>(
        &self,
        key: String,
        reconcile: impl Future<Output = Result<Action, E>>,
        failed: impl FnOnce() -> bool,
    ) -> Result<Action, E> {
        let waited = self.dequeued(&key);
        self.metrics.workqueue_queue_duration.get_or_create(&self.queue_labels()).observe(waited.as_secs_f64());
        let controller = ControllerLabels { controller: self.name.to_string() };
        self.metrics.active_workers.get_or_create(&controller).inc();
        let started = Instant::now();
        let result = reconcile.await;
        self.metrics.reconcile_time.get_or_create(&controller).observe(started.elapsed().as_secs_f64());
        self.metrics.active_workers.get_or_create(&controller).dec();
        let outcome = match &result {
            Ok(_) if failed() => {
                self.metrics.reconcile_errors.get_or_create(&controller).inc();
                "error"
            }
            Err(_) => {
                self.metrics.reconcile_errors.get_or_create(&controller).inc();
                "error"
            }
            Ok(action) if *action == Action::await_change() => "success",
            Ok(_) => "requeue_after",
        };
        let labels = ReconcileResultLabels { controller: self.name.to_string(), result: outcome.to_string() };
        self.metrics.reconcile_total.get_or_create(&labels).inc();
        result
    }
}

/// The queue key of an object: `namespace/name` (`name` for cluster-scoped objects).
pub fn key(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn counter(metrics: &Metrics, result: &str) -> u64 {
        metrics
            .reconcile_total
            .get_or_create(&ReconcileResultLabels { controller: "externalsecret".into(), result: result.into() })
            .get()
    }

    fn depth(metrics: &Metrics) -> i64 {
        let labels = QueueDepthLabels {
            name: "externalsecret".into(),
            controller: "externalsecret".into(),
            priority: String::new(),
        };
        metrics.workqueue_depth.get_or_create(&labels).get()
    }

    #[tokio::test(start_paused = true)]
    async fn results_depth_and_adds_follow_controller_runtime() {
        let metrics = Arc::new(Metrics::default());
        let queue = ControllerMetrics::new("externalsecret", metrics.clone(), 3);
        let labels = QueueLabels { name: "externalsecret".into(), controller: "externalsecret".into() };
        assert_eq!(counter(&metrics, "success"), 0, "series exist at zero before any reconcile");

        queue.queued("ns/a".into());
        queue.queued("ns/a".into());
        queue.queued("ns/b".into());
        assert_eq!(depth(&metrics), 2, "an object already waiting is not added twice");
        assert_eq!(metrics.workqueue_adds.get_or_create(&labels).get(), 2);

        tokio::time::advance(Duration::from_millis(250)).await;
        let ok = queue.reconcile("ns/a".into(), async { Ok::<_, ()>(Action::await_change()) }, || false).await;
        assert!(ok.is_ok());
        assert_eq!(depth(&metrics), 1);
        let _ = queue
            .reconcile("ns/b".into(), async { Ok::<_, ()>(Action::requeue(Duration::from_secs(60))) }, || false)
            .await;
        let _ = queue.reconcile("ns/b".into(), async { Err::<Action, _>(()) }, || false).await;
        let _ = queue
            .reconcile("ns/b".into(), async { Ok::<_, ()>(Action::requeue(Duration::from_secs(1))) }, || true)
            .await;
        assert_eq!(depth(&metrics), 0);
        assert_eq!(metrics.workqueue_adds.get_or_create(&labels).get(), 4, "the requeued reconciles were adds");
        assert_eq!(
            (counter(&metrics, "success"), counter(&metrics, "requeue_after"), counter(&metrics, "error")),
            (1, 1, 2)
        );
        let errors = metrics.reconcile_errors.get_or_create(&ControllerLabels { controller: "externalsecret".into() });
        assert_eq!(errors.get(), 2, "an error the reconcile handled itself counts too");
        let text = metrics.encode();
        assert!(
            text.contains(
                "workqueue_queue_duration_seconds_count{name=\"externalsecret\",controller=\"externalsecret\"} 4"
            ),
            "{text}"
        );
        assert!(
            text.contains("controller_runtime_max_concurrent_reconciles{controller=\"externalsecret\"} 3"),
            "{text}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn objects_that_never_get_reconciled_stop_counting_as_waiting() {
        let metrics = Arc::new(Metrics::default());
        let queue = ControllerMetrics::new("externalsecret", metrics.clone(), 1);
        queue.queued("ns/deleted".into());
        tokio::time::advance(STALE_AFTER + Duration::from_secs(1)).await;
        let _ = queue.reconcile("ns/other".into(), async { Ok::<_, ()>(Action::await_change()) }, || false).await;
        assert_eq!(depth(&metrics), 0);
    }
}
