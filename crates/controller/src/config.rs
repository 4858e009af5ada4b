//! Controller settings (set from the binary's flags, which keep ESO's names).

use std::time::Duration;

use external_secrets_generators::GeneratorRegistry;
use external_secrets_template::Delimiters;

use crate::leader::LeaderElectionConfig;

/// What the controllers do and how hard they work.
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    /// Watch only this namespace (`--namespace`); all namespaces when `None`.
    pub namespace: Option<String>,
    /// Only stores whose `spec.controller` is empty or equal to this are used (`--controller-class`).
    pub controller_class: String,
    /// Reconciles in flight per controller (`--concurrent`). ESO's default is 1; ours is higher because a
    /// reconcile mostly waits on IO.
    pub concurrent: u16,
    /// How often stores are re-validated when their `spec.refreshInterval` is unset (`--store-requeue-interval`).
    pub store_requeue_interval: Duration,
    /// Reconcile ClusterSecretStores and let ExternalSecrets use them (`--enable-cluster-store-reconciler`).
    pub enable_cluster_store_reconciler: bool,
    /// Validate SecretStores and write their status (`--enable-secret-store-reconciler`). ExternalSecrets use
    /// SecretStores either way.
    pub enable_secret_store_reconciler: bool,
    /// Reconcile ClusterExternalSecrets (`--enable-cluster-external-secret-reconciler`). Only cluster-wide: with
    /// `namespace` set the controller does not run (a ClusterExternalSecret spans namespaces).
    pub enable_cluster_external_secret_reconciler: bool,
    /// Reconcile PushSecrets (`--enable-push-secret-reconciler`).
    pub enable_push_secret_reconciler: bool,
    /// Reconcile ClusterPushSecrets (`--enable-cluster-push-secret-reconciler`). Only cluster-wide, like
    /// ClusterExternalSecrets.
    pub enable_cluster_push_secret_reconciler: bool,
    /// Refuse stores that are not Ready (`--enable-flood-gate`).
    pub enable_flood_gate: bool,
    /// Add the objects' `app.kubernetes.io/*` labels to ESO's per-object series
    /// (`--enable-extended-metric-labels`).
    pub enable_extended_metric_labels: bool,
    /// Delimiters of `spec.target.template` (`--template-left-delimiter`, `--template-right-delimiter`).
    pub template_delimiters: Delimiters,
    /// First retry delay after a retryable error; doubles per failure up to `max_backoff`.
    pub min_backoff: Duration,
    /// Longest retry delay after retryable errors.
    pub max_backoff: Duration,
    /// Run the controllers only while holding this Lease (`--enable-leader-election`); always when `None`.
    pub leader_election: Option<LeaderElectionConfig>,
    /// ESO's `--unsafe-allow-generic-targets`: whether `spec.target.manifest` (non-Secret targets) may be used.
    pub allow_generic_targets: bool,
    /// The generators `generatorRef` may name: the built-in kinds and the credentialed ones (ECR, STS) `main`
    /// registers. Here rather than a parameter of `run` so the controller's entry point stays the same; it is
    /// behaviour, like the provider registry, not a flag.
    pub generators: GeneratorRegistry,
    /// Store what stateful generators return as GeneratorStates (`--enable-generator-state`); without it their
    /// state is dropped, as in ESO. The GC controller runs either way.
    pub enable_generator_state: bool,
    /// How long a superseded GeneratorState is kept before it is collected (`--generator-gc-grace-period`).
    pub generator_gc_grace_period: Duration,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            namespace: None,
            controller_class: "default".to_string(),
            concurrent: 8,
            store_requeue_interval: Duration::from_secs(300),
            enable_cluster_store_reconciler: true,
            enable_secret_store_reconciler: true,
            enable_cluster_external_secret_reconciler: true,
            enable_push_secret_reconciler: true,
            enable_cluster_push_secret_reconciler: true,
            enable_flood_gate: true,
            enable_extended_metric_labels: false,
            template_delimiters: Delimiters::default(),
            min_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(300),
            generators: GeneratorRegistry::new(),
            enable_generator_state: true,
            generator_gc_grace_period: Duration::from_secs(120),
            leader_election: None,
            allow_generic_targets: false,
        }
    }
}
