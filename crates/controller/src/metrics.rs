//! Prometheus metrics, with ESO's names and labels so existing dashboards and alerts keep working.
//!
//! `externalsecret_sync_calls_error` is exposed as a gauge that only grows: the OpenMetrics client appends
//! `_total` to every counter, and ESO's name has no such suffix.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
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

/// All metrics of the controller process.
pub struct Metrics {
    pub registry: Registry,
    pub sync_calls: Family<ObjectLabels, Counter>,
    pub sync_calls_error: Family<ObjectLabels, Gauge<u64, AtomicU64>>,
    pub es_condition: Family<ConditionLabels, Gauge>,
    pub es_reconcile_duration: Family<ObjectLabels, Gauge>,
    pub ss_condition: Family<ConditionLabels, Gauge>,
    pub css_condition: Family<ConditionLabels, Gauge>,
    /// controller-runtime's `leader_election_master_status`: 1 while this replica leads, else 0.
    pub leader: Family<LeaseLabels, Gauge>,
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
        let leader = Family::default();
        registry.register(
            "leader_election_master_status",
            "Whether this replica is the leader (1) or not (0) of the named Lease",
            leader.clone(),
        );
        Self {
            registry,
            sync_calls,
            sync_calls_error,
            es_condition,
            es_reconcile_duration,
            ss_condition,
            css_condition,
            leader,
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
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
