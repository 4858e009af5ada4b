//! Prometheus metrics, with ESO's names and labels so existing dashboards and alerts keep working.
//!
//! `externalsecret_sync_calls_error` and `externalsecret_provider_api_calls_count` are exposed as gauges that
//! only grow: the OpenMetrics client appends `_total` to every counter, and ESO's names (Prometheus' Go client,
//! which keeps a counter's name as given) have no such suffix.
//!
//! Besides ESO's own series, the controller-runtime series ESO's dashboard graphs are kept with
//! controller-runtime's names, labels and label values: `controller_runtime_reconcile_total{controller,result}`,
//! `controller_runtime_reconcile_errors_total`, `controller_runtime_reconcile_time_seconds`,
//! `controller_runtime_max_concurrent_reconciles`, `controller_runtime_active_workers`, `workqueue_depth`,
//! `workqueue_adds_total`, `workqueue_queue_duration_seconds` (see [`crate::workqueue`]) and
//! `rest_client_requests_total{code,method,host}`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// `name` + `namespace` (stores of kind ClusterSecretStore have an empty namespace).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ObjectLabels {
    pub name: String,
    pub namespace: String,
}

/// A condition series: ESO sets the current status to 1 and the other two statuses to 0.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConditionLabels {
    pub name: String,
    pub namespace: String,
    pub condition: String,
    pub status: String,
}

/// `name`: the Lease of a leader election.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LeaseLabels {
    pub name: String,
}

/// `provider`, `call`, `status` of `externalsecret_provider_api_calls_count`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiCallLabels {
    pub provider: String,
    pub call: String,
    pub status: String,
}

/// controller-runtime's `controller` label (the lower-case kind: `externalsecret`, `secretstore`, ...).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    pub controller: String,
}

/// controller-runtime's `controller` and `result` (`success`, `error`, `requeue`, `requeue_after`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileResultLabels {
    pub controller: String,
    pub result: String,
}

/// controller-runtime's work queue labels: `name` and `controller` are both the controller's name.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabels {
    pub name: String,
    pub controller: String,
}

/// `workqueue_depth`'s labels: as [`QueueLabels`] plus `priority`, empty without a priority queue (ESO turns it
/// off).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueDepthLabels {
    pub name: String,
    pub controller: String,
    pub priority: String,
}

/// client-go's `code`, `method` and `host` of `rest_client_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RestClientLabels {
    pub code: String,
    pub method: String,
    pub host: String,
}

/// controller-runtime's reconcile time buckets, in seconds.
const RECONCILE_TIME_BUCKETS: [f64; 40] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5,
    1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0,
];

/// `rest_client_requests_total` is counted by the Kubernetes client's request layer
/// ([`crate::ratelimit::client`]), which exists before any [`Metrics`]: one per process, as in client-go.
pub fn rest_client_requests() -> &'static Family<RestClientLabels, Counter> {
    static REQUESTS: OnceLock<Family<RestClientLabels, Counter>> = OnceLock::new();
    REQUESTS.get_or_init(Family::default)
}

/// The object labels `--enable-extended-metric-labels` adds to ESO's per-object series, as ESO names them
/// (the label key with every run of other characters than letters and digits turned into `_`).
pub const EXTENDED_LABELS: [(&str, &str); 6] = [
    ("app.kubernetes.io/name", "app_kubernetes_io_name"),
    ("app.kubernetes.io/instance", "app_kubernetes_io_instance"),
    ("app.kubernetes.io/version", "app_kubernetes_io_version"),
    ("app.kubernetes.io/component", "app_kubernetes_io_component"),
    ("app.kubernetes.io/part-of", "app_kubernetes_io_part_of"),
    ("app.kubernetes.io/managed-by", "app_kubernetes_io_managed_by"),
];

/// Which objects ESO's per-object series are about: `(series prefix, kind)`.
const PER_OBJECT_SERIES: [(&str, ObjectKind); 12] = [
    ("externalsecret_sync_calls_total{", ObjectKind::ExternalSecret),
    ("externalsecret_sync_calls_error{", ObjectKind::ExternalSecret),
    ("externalsecret_status_condition{", ObjectKind::ExternalSecret),
    ("externalsecret_reconcile_duration{", ObjectKind::ExternalSecret),
    ("secretstore_status_condition{", ObjectKind::SecretStore),
    ("secretstore_reconcile_duration{", ObjectKind::SecretStore),
    ("clustersecretstore_status_condition{", ObjectKind::ClusterSecretStore),
    ("clustersecretstore_reconcile_duration{", ObjectKind::ClusterSecretStore),
    ("clusterexternalsecret_status_condition{", ObjectKind::ClusterExternalSecret),
    ("clusterexternalsecret_reconcile_duration{", ObjectKind::ClusterExternalSecret),
    ("clusterpushsecret_status_condition{", ObjectKind::ClusterPushSecret),
    ("clusterpushsecret_reconcile_duration{", ObjectKind::ClusterPushSecret),
];

/// The kinds of ESO's per-object series.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum ObjectKind {
    ExternalSecret,
    SecretStore,
    ClusterSecretStore,
    ClusterExternalSecret,
    ClusterPushSecret,
}

/// `--enable-extended-metric-labels`: the six `app_kubernetes_io_*` labels on every per-object series (empty
/// when the object has no such label), taken from the objects as they are reconciled.
#[derive(Default)]
struct ExtendedLabels {
    enabled: AtomicBool,
    values: Mutex<HashMap<(ObjectKind, String, String), [String; 6]>>,
}

/// All metrics of the controller process.
pub struct Metrics {
    pub registry: Registry,
    pub sync_calls: Family<ObjectLabels, Counter>,
    pub sync_calls_error: Family<ObjectLabels, Gauge<u64, AtomicU64>>,
    pub es_condition: Family<ConditionLabels, Gauge>,
    pub es_reconcile_duration: Family<ObjectLabels, Gauge>,
    pub ss_condition: Family<ConditionLabels, Gauge>,
    pub css_condition: Family<ConditionLabels, Gauge>,
    /// `secretstore_reconcile_duration`: the last reconcile's duration in nanoseconds, as ESO's.
    pub ss_reconcile_duration: Family<ObjectLabels, Gauge>,
    /// `clustersecretstore_reconcile_duration`.
    pub css_reconcile_duration: Family<ObjectLabels, Gauge>,
    /// `clusterexternalsecret_status_condition`: `Ready` `True`/`False` (ESO publishes no `Unknown` series here).
    pub ces_condition: Family<ConditionLabels, Gauge>,
    /// `clusterexternalsecret_reconcile_duration`: the last reconcile's duration in nanoseconds, as ESO's.
    pub ces_reconcile_duration: Family<ObjectLabels, Gauge>,
    /// `clusterpushsecret_status_condition`: `Ready` `True`/`False`, set only when `Ready` is `True` (as ESO).
    pub cps_condition: Family<ConditionLabels, Gauge>,
    /// `clusterpushsecret_reconcile_duration`: the last reconcile's duration in nanoseconds, as ESO's.
    pub cps_reconcile_duration: Family<ObjectLabels, Gauge>,
    /// `pushsecret_status_condition`: `Ready` `True`/`False`, as ESO publishes it.
    pub ps_condition: Family<ConditionLabels, Gauge>,
    /// `pushsecret_reconcile_duration`: the last reconcile's duration in nanoseconds, as ESO's.
    pub ps_reconcile_duration: Family<ObjectLabels, Gauge>,
    /// `externalsecret_provider_api_calls_count`, refreshed from the providers' tally at every scrape.
    pub provider_api_calls: Family<ApiCallLabels, Gauge<u64, AtomicU64>>,
    pub reconcile_total: Family<ReconcileResultLabels, Counter>,
    pub reconcile_errors: Family<ControllerLabels, Counter>,
    pub reconcile_time: Family<ControllerLabels, Histogram>,
    pub max_concurrent_reconciles: Family<ControllerLabels, Gauge>,
    pub active_workers: Family<ControllerLabels, Gauge>,
    pub workqueue_depth: Family<QueueDepthLabels, Gauge>,
    pub workqueue_adds: Family<QueueLabels, Counter>,
    pub workqueue_queue_duration: Family<QueueLabels, Histogram>,
    /// controller-runtime's `leader_election_master_status`: 1 while this replica leads, else 0.
    pub leader: Family<LeaseLabels, Gauge>,
    /// Events dropped because the recorder's queue was full (ours; client-go only logs them).
    pub events_dropped: Counter,
    extended: ExtendedLabels,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let sync_calls = Family::default();
        registry.register("externalsecret_sync_calls", "Total number of ExternalSecret reconciles", sync_calls.clone());
        let sync_calls_error = Family::default();
        registry.register(
            "externalsecret_sync_calls_error",
            "Total number of ExternalSecret reconciles that failed",
            sync_calls_error.clone(),
        );
        let es_condition = Family::default();
        registry.register(
            "externalsecret_status_condition",
            "The status condition of an ExternalSecret",
            es_condition.clone(),
        );
        let es_reconcile_duration = Family::default();
        registry.register(
            "externalsecret_reconcile_duration",
            "The duration of the last ExternalSecret reconcile, in nanoseconds",
            es_reconcile_duration.clone(),
        );
        let ss_condition = Family::default();
        registry.register(
            "secretstore_status_condition",
            "The status condition of a SecretStore",
            ss_condition.clone(),
        );
        let css_condition = Family::default();
        registry.register(
            "clustersecretstore_status_condition",
            "The status condition of a ClusterSecretStore",
            css_condition.clone(),
        );
        let ss_reconcile_duration = Family::default();
        registry.register(
            "secretstore_reconcile_duration",
            "The duration of the last SecretStore reconcile, in nanoseconds",
            ss_reconcile_duration.clone(),
        );
        let css_reconcile_duration = Family::default();
        registry.register(
            "clustersecretstore_reconcile_duration",
            "The duration of the last ClusterSecretStore reconcile, in nanoseconds",
            css_reconcile_duration.clone(),
        );
        let ces_condition = Family::default();
        registry.register(
            "clusterexternalsecret_status_condition",
            "The status condition of a specific Cluster External Secret",
            ces_condition.clone(),
        );
        let ces_reconcile_duration = Family::default();
        registry.register(
            "clusterexternalsecret_reconcile_duration",
            "The duration time to reconcile the Cluster External Secret",
            ces_reconcile_duration.clone(),
        );
        let cps_condition = Family::default();
        registry.register(
            "clusterpushsecret_status_condition",
            "The status condition of a specific Cluster Push Secret",
            cps_condition.clone(),
        );
        let cps_reconcile_duration = Family::default();
        registry.register(
            "clusterpushsecret_reconcile_duration",
            "The duration time to reconcile the Cluster Push Secret",
            cps_reconcile_duration.clone(),
        );
        let ps_condition = Family::default();
        registry.register(
            "pushsecret_status_condition",
            "The status condition of a specific Push Secret",
            ps_condition.clone(),
        );
        let ps_reconcile_duration = Family::default();
        registry.register(
            "pushsecret_reconcile_duration",
            "The duration time to reconcile the Push Secret",
            ps_reconcile_duration.clone(),
        );
        let provider_api_calls = Family::default();
        registry.register(
            "externalsecret_provider_api_calls_count",
            "Number of API calls towards the secret provider",
            provider_api_calls.clone(),
        );
        let reconcile_total = Family::default();
        registry.register(
            "controller_runtime_reconcile",
            "Total number of reconciliations per controller",
            reconcile_total.clone(),
        );
        let reconcile_errors = Family::default();
        registry.register(
            "controller_runtime_reconcile_errors",
            "Total number of reconciliation errors per controller",
            reconcile_errors.clone(),
        );
        let reconcile_time = Family::new_with_constructor(reconcile_time_histogram as fn() -> Histogram);
        registry.register(
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller",
            reconcile_time.clone(),
        );
        let max_concurrent_reconciles = Family::default();
        registry.register(
            "controller_runtime_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller",
            max_concurrent_reconciles.clone(),
        );
        let active_workers = Family::default();
        registry.register(
            "controller_runtime_active_workers",
            "Number of currently used workers per controller",
            active_workers.clone(),
        );
        let workqueue_depth = Family::default();
        registry.register(
            "workqueue_depth",
            "Current depth of workqueue by workqueue and priority",
            workqueue_depth.clone(),
        );
        let workqueue_adds = Family::default();
        registry.register("workqueue_adds", "Total number of adds handled by workqueue", workqueue_adds.clone());
        let workqueue_queue_duration = Family::new_with_constructor(queue_duration_histogram as fn() -> Histogram);
        registry.register(
            "workqueue_queue_duration_seconds",
            "How long in seconds an item stays in workqueue before being requested",
            workqueue_queue_duration.clone(),
        );
        registry.register(
            "rest_client_requests",
            "Number of HTTP requests, partitioned by status code, method, and host",
            rest_client_requests().clone(),
        );
        let leader = Family::default();
        registry.register(
            "leader_election_master_status",
            "Whether this replica is the leader (1) or not (0) of the named Lease",
            leader.clone(),
        );
        let events_dropped = Counter::default();
        registry.register(
            "externalsecret_events_dropped",
            "Events not recorded because the event queue was full",
            events_dropped.clone(),
        );
        Self {
            registry,
            sync_calls,
            sync_calls_error,
            es_condition,
            es_reconcile_duration,
            ss_condition,
            css_condition,
            ss_reconcile_duration,
            css_reconcile_duration,
            ces_condition,
            ces_reconcile_duration,
            cps_condition,
            cps_reconcile_duration,
            ps_condition,
            ps_reconcile_duration,
            provider_api_calls,
            reconcile_total,
            reconcile_errors,
            reconcile_time,
            max_concurrent_reconciles,
            active_workers,
            workqueue_depth,
            workqueue_adds,
            workqueue_queue_duration,
            leader,
            events_dropped,
            extended: ExtendedLabels::default(),
        }
    }
}

impl Metrics {
    /// Sets a `Ready` condition series: 1 for `status`, 0 for the other statuses.
    pub fn set_condition(family: &Family<ConditionLabels, Gauge>, name: &str, namespace: &str, status: &str) {
        for s in ["True", "False", "Unknown"] {
            let labels = ConditionLabels {
                name: name.to_string(),
                namespace: namespace.to_string(),
                condition: "Ready".to_string(),
                status: s.to_string(),
            };
            family.get_or_create(&labels).set(i64::from(s == status));
        }
    }

    /// Removes every series of a deleted object, so that the metrics do not grow with churn.
    pub fn forget(family: &Family<ConditionLabels, Gauge>, name: &str, namespace: &str) {
        for s in ["True", "False", "Unknown"] {
            family.remove(&ConditionLabels {
                name: name.to_string(),
                namespace: namespace.to_string(),
                condition: "Ready".to_string(),
                status: s.to_string(),
            });
        }
    }

    /// Removes every per-object series of a deleted ExternalSecret.
    pub fn forget_object(&self, name: &str, namespace: &str) {
        let labels = ObjectLabels { name: name.to_string(), namespace: namespace.to_string() };
        self.sync_calls.remove(&labels);
        self.sync_calls_error.remove(&labels);
        self.es_reconcile_duration.remove(&labels);
        Self::forget(&self.es_condition, name, namespace);
        let mut known = self.extended.values.lock().unwrap_or_else(|p| p.into_inner());
        known.remove(&(ObjectKind::ExternalSecret, namespace.to_string(), name.to_string()));
    }

    /// `clusterexternalsecret_status_condition` of `name` (cluster-scoped: empty namespace): 1 for `status`, 0 for
    /// the other of `True`/`False` (ESO publishes only these two).
    pub fn set_ces_condition(&self, name: &str, status: &str) {
        for s in ["True", "False"] {
            let labels = ConditionLabels {
                name: name.to_string(),
                namespace: String::new(),
                condition: "Ready".to_string(),
                status: s.to_string(),
            };
            self.ces_condition.get_or_create(&labels).set(i64::from(s == status));
        }
    }

    /// Removes every series of a deleted ClusterExternalSecret.
    pub fn forget_cluster_external_secret(&self, name: &str) {
        self.ces_reconcile_duration.remove(&ObjectLabels { name: name.to_string(), namespace: String::new() });
        Self::forget(&self.ces_condition, name, "");
        let mut known = self.extended.values.lock().unwrap_or_else(|p| p.into_inner());
        known.remove(&(ObjectKind::ClusterExternalSecret, String::new(), name.to_string()));
    }

    /// `clusterpushsecret_status_condition` of `name`: ESO sets the series only when `Ready` is `True` (1 for
    /// `True`, 0 for `False`); a `False` condition leaves them as they were.
    pub fn set_cps_condition(&self, name: &str, status: &str) {
        if status != "True" {
            return;
        }
        for s in ["True", "False"] {
            let labels = ConditionLabels {
                name: name.to_string(),
                namespace: String::new(),
                condition: "Ready".to_string(),
                status: s.to_string(),
            };
            self.cps_condition.get_or_create(&labels).set(i64::from(s == status));
        }
    }

    /// Removes every series of a deleted ClusterPushSecret.
    pub fn forget_cluster_push_secret(&self, name: &str) {
        self.cps_reconcile_duration.remove(&ObjectLabels { name: name.to_string(), namespace: String::new() });
        Self::forget(&self.cps_condition, name, "");
        let mut known = self.extended.values.lock().unwrap_or_else(|p| p.into_inner());
        known.remove(&(ObjectKind::ClusterPushSecret, String::new(), name.to_string()));
    }

    /// `pushsecret_status_condition` of `namespace/name`: 1 for `status`, 0 for the other of `True`/`False`.
    pub fn set_ps_condition(&self, name: &str, namespace: &str, status: &str) {
        for s in ["True", "False"] {
            let labels = ConditionLabels {
                name: name.to_string(),
                namespace: namespace.to_string(),
                condition: "Ready".to_string(),
                status: s.to_string(),
            };
            self.ps_condition.get_or_create(&labels).set(i64::from(s == status));
        }
    }

    /// Removes every series of a deleted PushSecret.
    pub fn forget_push_secret(&self, name: &str, namespace: &str) {
        self.ps_reconcile_duration.remove(&ObjectLabels { name: name.to_string(), namespace: namespace.to_string() });
        Self::forget(&self.ps_condition, name, namespace);
    }

    /// Adds the `app_kubernetes_io_*` labels to ESO's per-object series (`--enable-extended-metric-labels`).
    pub fn enable_extended_labels(&self) {
        self.extended.enabled.store(true, Ordering::Relaxed);
    }

    /// Remembers the `app.kubernetes.io/*` labels of an object being reconciled, for the extended labels.
    pub fn object_labels(&self, kind: ObjectKind, namespace: &str, name: &str, labels: &BTreeMap<String, String>) {
        if !self.extended.enabled.load(Ordering::Relaxed) {
            return;
        }
        let values = EXTENDED_LABELS.map(|(key, _)| labels.get(key).cloned().unwrap_or_default());
        let mut known = self.extended.values.lock().unwrap_or_else(|p| p.into_inner());
        known.insert((kind, namespace.to_string(), name.to_string()), values);
    }

    /// `line` of the exposition with the extended labels added, when it is a sample of a per-object series.
    fn with_extended_labels(&self, line: &str, known: &HashMap<(ObjectKind, String, String), [String; 6]>) -> String {
        let Some((_, kind)) = PER_OBJECT_SERIES.iter().find(|(prefix, _)| line.starts_with(prefix)) else {
            return line.to_string();
        };
        let Some((labels, value)) = line.split_once('}') else { return line.to_string() };
        let label = |key: &str| {
            labels.split(&format!("{key}=\"")).nth(1).and_then(|rest| rest.split('"').next()).unwrap_or_default()
        };
        let (name, namespace) = (label("{name").to_string(), label(",namespace").to_string());
        let values = known.get(&(*kind, namespace, name));
        let mut out = labels.to_string();
        for (i, (_, label_name)) in EXTENDED_LABELS.iter().enumerate() {
            let v = values.map(|v| v[i].as_str()).unwrap_or_default();
            let escaped = v.replace('\\', "\\\\").replace('"', "\\\"");
            out.push_str(&format!(",{label_name}=\"{escaped}\""));
        }
        format!("{out}}}{value}")
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        for ((provider, call, status), count) in external_secrets_provider::api_calls::snapshot() {
            let labels =
                ApiCallLabels { provider: provider.to_string(), call: call.to_string(), status: status.to_string() };
            self.provider_api_calls.get_or_create(&labels).set(count);
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        if !self.extended.enabled.load(Ordering::Relaxed) {
            return out;
        }
        let known = self.extended.values.lock().unwrap_or_else(|p| p.into_inner());
        let mut extended = String::with_capacity(out.len());
        for line in out.lines() {
            extended.push_str(&self.with_extended_labels(line, &known));
            extended.push('\n');
        }
        extended
    }
}

fn reconcile_time_histogram() -> Histogram {
    Histogram::new(RECONCILE_TIME_BUCKETS)
}

/// controller-runtime's queue latency buckets: 10 ns to 1000 s, ten times apart.
fn queue_duration_histogram() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(1e-8, 10.0, 12))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn app_labels() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("app.kubernetes.io/name".to_string(), "billing".to_string()),
            ("app.kubernetes.io/part-of".to_string(), "shop".to_string()),
            ("team".to_string(), "payments".to_string()),
        ])
    }

    #[test]
    fn extended_labels_are_added_to_per_object_series_only_when_enabled() {
        let metrics = Metrics::default();
        let labels = ObjectLabels { name: "app".into(), namespace: "ns".into() };
        metrics.sync_calls.get_or_create(&labels).inc();
        Metrics::set_condition(&metrics.es_condition, "app", "ns", "True");
        metrics.object_labels(ObjectKind::ExternalSecret, "ns", "app", &app_labels());
        let plain = metrics.encode();
        assert!(plain.contains("externalsecret_sync_calls_total{name=\"app\",namespace=\"ns\"} 1"), "{plain}");
        assert!(!plain.contains("app_kubernetes_io"), "{plain}");

        metrics.enable_extended_labels();
        metrics.object_labels(ObjectKind::ExternalSecret, "ns", "app", &app_labels());
        Metrics::set_condition(&metrics.ss_condition, "unseen", "ns", "True");
        let text = metrics.encode();
        let extended = ",app_kubernetes_io_name=\"billing\",app_kubernetes_io_instance=\"\",app_kubernetes_io_version=\"\",\
                        app_kubernetes_io_component=\"\",app_kubernetes_io_part_of=\"shop\",app_kubernetes_io_managed_by=\"\"";
        assert!(
            text.contains(&format!("externalsecret_sync_calls_total{{name=\"app\",namespace=\"ns\"{extended}}} 1")),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "externalsecret_status_condition{{name=\"app\",namespace=\"ns\",condition=\"Ready\",status=\"True\"{extended}}} 1"
            )),
            "{text}"
        );
        // An object whose labels are not known yet still has the label names, empty.
        assert!(text.contains("secretstore_status_condition{name=\"unseen\",namespace=\"ns\",condition=\"Ready\",status=\"True\",app_kubernetes_io_name=\"\","), "{text}");
        assert!(!text.contains("team"), "only the app.kubernetes.io labels: {text}");
        assert!(
            !text.contains("workqueue_depth{name=\"externalsecret\",controller=\"externalsecret\",priority=\"\",app_")
        );
    }
}
