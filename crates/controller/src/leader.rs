//! Leader election on a `coordination.k8s.io/v1` Lease, with client-go's semantics, so that replicas of this
//! operator (and, during a migration, of ESO itself, which uses the same default Lease name) agree on one leader.
//!
//! The algorithm is client-go's `leaderelection` package:
//!
//! - The Lease holds `holderIdentity`, `leaseDurationSeconds`, `acquireTime`, `renewTime` and
//!   `leaseTransitions`. Writes are `update`s carrying the `resourceVersion` last read, so two candidates cannot
//!   both win: the second gets a conflict.
//! - A candidate may take the Lease when it has no holder, or when its record has not changed for
//!   `leaseDurationSeconds` *as measured on the candidate's own clock* since the candidate first saw that record
//!   (so clock skew between nodes does not matter; `renewTime` is informative only).
//! - Taking the Lease from someone else (or a released one) sets `acquireTime` and increments
//!   `leaseTransitions`; renewing keeps both.
//! - A leader retries its renewal every `retry_period`; when it has not renewed within `renew_deadline` it has
//!   lost the Lease and must stop working (the process exits, as with controller-runtime).
//! - Releasing on shutdown writes an empty holder with a one-second duration, so a standby takes over at once.
//!
//! [`next_record`] and [`Observation`] are the pure decisions; [`LeaderElector`] does the IO.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// ESO's `--leader-election-id` default: the name of the Lease.
pub const DEFAULT_LEASE_NAME: &str = "external-secrets-controller";

/// The service account namespace file of a pod.
const IN_CLUSTER_NAMESPACE_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// client-go's jitter factor for the acquire loop: a standby retries every `retry_period · (1 + U[0, 1.2))`.
const ACQUIRE_JITTER_FACTOR: f64 = 1.2;

/// Settings of the election (`--leader-election-*` flags).
#[derive(Clone, Debug)]
pub struct LeaderElectionConfig {
    /// Namespace of the Lease (`--leader-election-namespace`).
    pub namespace: String,
    /// Name of the Lease (`--leader-election-id`).
    pub lease_name: String,
    /// This replica's `holderIdentity`: unique per process.
    pub identity: String,
    /// How long a Lease stays valid without renewal (`--leader-election-lease-duration`, 15s).
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before it gives up (`--leader-election-renew-deadline`, 10s).
    pub renew_deadline: Duration,
    /// How often candidates try to acquire and the leader renews (`--leader-election-retry-period`, 2s).
    pub retry_period: Duration,
}

impl LeaderElectionConfig {
    /// ESO's defaults (15s / 10s / 2s) for the Lease `namespace/lease_name`, with a fresh [`default_identity`].
    pub fn new(namespace: impl Into<String>, lease_name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            lease_name: lease_name.into(),
            identity: default_identity(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }

    /// client-go's checks: `lease_duration > renew_deadline > 1.2 · retry_period > 0`, whole seconds of lease.
    pub fn validate(&self) -> Result<(), LeaderElectionError> {
        let invalid = |why: &str| Err(LeaderElectionError::Config(why.to_string()));
        if self.lease_name.is_empty() || self.namespace.is_empty() || self.identity.is_empty() {
            return invalid("the lease name, namespace and identity must not be empty");
        }
        if self.lease_duration < Duration::from_secs(1) {
            return invalid("the lease duration must be at least 1s (Leases count whole seconds)");
        }
        if self.lease_duration <= self.renew_deadline {
            return invalid("the lease duration must be greater than the renew deadline");
        }
        if self.retry_period.is_zero()
            || self.renew_deadline.as_secs_f64() <= ACQUIRE_JITTER_FACTOR * self.retry_period.as_secs_f64()
        {
            return invalid("the renew deadline must be greater than 1.2 × the retry period, which must be positive");
        }
        Ok(())
    }

    /// `leaseDurationSeconds` as written into the Lease (whole seconds, as client-go truncates).
    fn lease_duration_seconds(&self) -> i32 {
        i32::try_from(self.lease_duration.as_secs()).unwrap_or(i32::MAX).max(1)
    }
}

/// Failures of the election. Losing the Lease is one: the caller must stop working.
#[derive(Debug, thiserror::Error)]
pub enum LeaderElectionError {
    /// The settings are inconsistent.
    #[error("invalid leader election settings: {0}")]
    Config(String),
    /// The Lease could not be renewed within the renew deadline: another replica may lead now.
    #[error("leader election lost: Lease {namespace}/{name} was not renewed within the renew deadline")]
    Lost {
        /// Namespace of the Lease.
        namespace: String,
        /// Name of the Lease.
        name: String,
    },
}

/// The Lease namespace when `--leader-election-namespace` is empty: the pod's namespace (`POD_NAMESPACE`, else
/// the in-cluster service account namespace file), else `default` — as controller-runtime does.
pub fn default_namespace() -> String {
    namespace_from(std::env::var("POD_NAMESPACE").ok(), std::fs::read_to_string(IN_CLUSTER_NAMESPACE_FILE).ok())
}

fn namespace_from(env: Option<String>, file: Option<String>) -> String {
    [env, file]
        .into_iter()
        .flatten()
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "default".to_string())
}

/// A unique identity, `<pod name or hostname>_<random>`, as controller-runtime builds it.
pub fn default_identity() -> String {
    let host = std::env::var("POD_NAME")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "external-secrets".to_string());
    format!("{host}_{:016x}", rand::random::<u64>())
}

/// What an acquire-or-renew attempt writes, given the Lease record as last read (`None`: no Lease yet) and
/// whether that record is still valid by our clock. `None`: someone else holds a valid Lease — stand by.
pub(crate) fn next_record(
    current: Option<&LeaseSpec>,
    current_valid: bool,
    identity: &str,
    lease_duration_seconds: i32,
    now: jiff::Timestamp,
) -> Option<LeaseSpec> {
    let holder = current.and_then(|c| c.holder_identity.as_deref()).unwrap_or_default();
    let ours = holder == identity;
    if !holder.is_empty() && current_valid && !ours {
        return None;
    }
    let transitions = current.and_then(|c| c.lease_transitions).unwrap_or(0);
    let (acquire_time, transitions) = match current {
        Some(c) if ours => (c.acquire_time.clone().unwrap_or(MicroTime(now)), transitions),
        Some(_) => (MicroTime(now), transitions.saturating_add(1)),
        None => (MicroTime(now), 0),
    };
    Some(LeaseSpec {
        holder_identity: Some(identity.to_string()),
        lease_duration_seconds: Some(lease_duration_seconds),
        acquire_time: Some(acquire_time),
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(transitions),
        ..LeaseSpec::default()
    })
}

/// The record written when the leader steps down: an empty holder, a one-second duration, the transitions kept
/// (client-go's `release`, field for field).
pub(crate) fn released_record(current: &LeaseSpec, now: jiff::Timestamp) -> LeaseSpec {
    LeaseSpec {
        holder_identity: Some(String::new()),
        lease_duration_seconds: Some(1),
        acquire_time: Some(MicroTime(now)),
        renew_time: Some(MicroTime(now)),
        lease_transitions: current.lease_transitions,
        ..LeaseSpec::default()
    }
}

/// The Lease as this candidate last saw it, and when (on our monotonic clock) its record last changed.
#[derive(Clone, Debug)]
pub(crate) struct Observation {
    pub(crate) lease: Lease,
    pub(crate) changed_at: Instant,
}

impl Observation {
    /// Records a fresh read: the time only moves when the record changed (client-go's `observedTime`).
    pub(crate) fn observe(previous: Option<Observation>, lease: Lease, now: Instant) -> Observation {
        let changed_at = match previous {
            Some(p) if p.lease.spec == lease.spec => p.changed_at,
            _ => now,
        };
        Observation { lease, changed_at }
    }

    fn spec(&self) -> LeaseSpec {
        self.lease.spec.clone().unwrap_or_default()
    }

    fn holder(&self) -> Option<&str> {
        self.lease.spec.as_ref().and_then(|s| s.holder_identity.as_deref()).filter(|h| !h.is_empty())
    }

    /// Whether the record is still valid at `now`: it changed less than its `leaseDurationSeconds` ago.
    pub(crate) fn valid_at(&self, now: Instant) -> bool {
        let seconds = self.lease.spec.as_ref().and_then(|s| s.lease_duration_seconds).unwrap_or(0);
        let duration = Duration::from_secs(u64::try_from(seconds).unwrap_or(0));
        self.changed_at + duration > now
    }
}

/// One candidate in the election for a Lease.
pub struct LeaderElector {
    api: Api<Lease>,
    config: LeaderElectionConfig,
    observed: Option<Observation>,
}

impl LeaderElector {
    /// A candidate for `config`'s Lease; fails when the settings are inconsistent.
    pub fn new(client: kube::Client, config: LeaderElectionConfig) -> Result<Self, LeaderElectionError> {
        config.validate()?;
        Ok(Self { api: Api::namespaced(client, &config.namespace), config, observed: None })
    }

    /// This candidate's settings.
    pub fn config(&self) -> &LeaderElectionConfig {
        &self.config
    }

    /// Whether the last Lease record seen names this candidate as holder.
    pub fn is_leader(&self) -> bool {
        self.observed.as_ref().and_then(Observation::holder) == Some(self.config.identity.as_str())
    }

    /// The holder of the Lease as last seen, if any.
    pub fn observed_holder(&self) -> Option<String> {
        self.observed.as_ref().and_then(Observation::holder).map(str::to_string)
    }

    /// One client-go `tryAcquireOrRenew`: `Ok(true)` when we hold the Lease afterwards, `Ok(false)` when another
    /// candidate holds a valid Lease or won a race for it.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let duration = self.config.lease_duration_seconds();
        let identity = self.config.identity.clone();

        // Fast path: the leader renews on top of the record it wrote last, without reading first.
        if let Some(observed) = self.observed.clone()
            && self.is_leader()
            && observed.valid_at(Instant::now())
        {
            let spec = observed.spec();
            if let Some(record) = next_record(Some(&spec), true, &identity, duration, jiff::Timestamp::now()) {
                match self.write(&observed.lease, record).await {
                    Ok(Some(lease)) => {
                        self.observed = Some(Observation::observe(Some(observed), lease, Instant::now()));
                        return Ok(true);
                    }
                    Ok(None) => debug!("lease renewal conflicted; reading the Lease"),
                    Err(e) => debug!(error = %e, "lease renewal failed; reading the Lease"),
                }
            }
        }

        let Some(lease) = self.api.get_opt(&self.config.lease_name).await? else {
            let record = next_record(None, false, &identity, duration, jiff::Timestamp::now());
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.lease_name.clone()),
                    namespace: Some(self.config.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: record,
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(created) => {
                    self.observed = Some(Observation::observe(None, created, Instant::now()));
                    Ok(true)
                }
                // Another candidate created it first.
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let observed = Observation::observe(self.observed.take(), lease, Instant::now());
        let valid = observed.valid_at(Instant::now());
        let spec = observed.spec();
        self.observed = Some(observed.clone());
        let Some(record) = next_record(Some(&spec), valid, &identity, duration, jiff::Timestamp::now()) else {
            return Ok(false);
        };
        match self.write(&observed.lease, record).await? {
            Some(lease) => {
                self.observed = Some(Observation::observe(Some(observed), lease, Instant::now()));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Replaces the Lease with `record`, guarded by the resourceVersion of `base`. `Ok(None)` on a conflict.
    async fn write(&self, base: &Lease, record: LeaseSpec) -> Result<Option<Lease>, kube::Error> {
        let lease = Lease { metadata: base.metadata.clone(), spec: Some(record) };
        match self.api.replace(&self.config.lease_name, &PostParams::default(), &lease).await {
            Ok(written) => Ok(Some(written)),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Tries every `retry_period` (jittered) until this candidate holds the Lease. `on_standby` is called after
    /// each attempt that found another valid holder: this replica is a healthy standby.
    pub async fn acquire(&mut self, mut on_standby: impl FnMut()) {
        let mut last_holder = None;
        loop {
            let attempt = tokio::time::timeout(self.config.renew_deadline, self.try_acquire_or_renew()).await;
            match attempt {
                Ok(Ok(true)) => {
                    info!(lease = %self.config.lease_name, identity = %self.config.identity, "acquired the lease");
                    return;
                }
                Ok(Ok(false)) => {
                    let holder = self.observed_holder();
                    if holder != last_holder {
                        info!(lease = %self.config.lease_name, holder = ?holder, "standing by: another replica leads");
                        last_holder = holder;
                    }
                    on_standby();
                }
                Ok(Err(e)) => warn!(lease = %self.config.lease_name, error = %e, "could not read or write the lease"),
                Err(_) => warn!(lease = %self.config.lease_name, "lease request timed out"),
            }
            let jitter = 1.0 + ACQUIRE_JITTER_FACTOR * rand::random::<f64>();
            tokio::time::sleep(self.config.retry_period.mul_f64(jitter)).await;
        }
    }

    /// Renews every `retry_period` while this candidate leads. Returns (the error to stop with) once a renewal
    /// did not succeed within `renew_deadline`.
    pub async fn hold(&mut self) -> LeaderElectionError {
        loop {
            tokio::time::sleep(self.config.retry_period).await;
            let deadline = Instant::now() + self.config.renew_deadline;
            loop {
                match tokio::time::timeout_at(deadline, self.try_acquire_or_renew()).await {
                    Ok(Ok(true)) => break,
                    Ok(Ok(false)) => debug!(holder = ?self.observed_holder(), "lease renewal refused"),
                    Ok(Err(e)) => warn!(error = %e, "lease renewal failed; retrying"),
                    Err(_) => {}
                }
                if Instant::now() + self.config.retry_period >= deadline {
                    warn!(lease = %self.config.lease_name, "could not renew the lease in time; leadership lost");
                    return LeaderElectionError::Lost {
                        namespace: self.config.namespace.clone(),
                        name: self.config.lease_name.clone(),
                    };
                }
                tokio::time::sleep(self.config.retry_period).await;
            }
        }
    }

    /// Steps down if leading: writes a released record so that a standby can take over immediately.
    pub async fn release(&mut self) -> Result<(), kube::Error> {
        let Some(observed) = self.observed.clone().filter(|_| self.is_leader()) else { return Ok(()) };
        let record = released_record(&observed.spec(), jiff::Timestamp::now());
        let written = tokio::time::timeout(self.config.renew_deadline, self.write(&observed.lease, record)).await;
        match written {
            Ok(Ok(Some(lease))) => {
                info!(lease = %self.config.lease_name, "released the lease");
                self.observed = Some(Observation::observe(Some(observed), lease, Instant::now()));
                Ok(())
            }
            // Someone else changed it already: nothing of ours to release.
            Ok(Ok(None)) => Ok(()),
            Ok(Err(e)) => Err(e),
            Err(_) => {
                warn!(lease = %self.config.lease_name, "releasing the lease timed out");
                Ok(())
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn now() -> jiff::Timestamp {
        "2026-01-02T03:04:05.123456Z".parse().unwrap()
    }

    fn held_by(holder: &str, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.to_string()),
            lease_duration_seconds: Some(15),
            acquire_time: Some(MicroTime("2026-01-01T00:00:00Z".parse().unwrap())),
            renew_time: Some(MicroTime("2026-01-02T03:04:00Z".parse().unwrap())),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn first_candidate_creates_the_lease_with_client_go_fields() {
        let record = next_record(None, false, "me", 15, now()).unwrap();
        assert_eq!(record.holder_identity.as_deref(), Some("me"));
        assert_eq!(record.lease_duration_seconds, Some(15));
        assert_eq!(record.acquire_time, Some(MicroTime(now())));
        assert_eq!(record.renew_time, Some(MicroTime(now())));
        assert_eq!(record.lease_transitions, Some(0));
    }

    #[test]
    fn valid_lease_of_another_holder_means_standing_by() {
        assert_eq!(next_record(Some(&held_by("other", 3)), true, "me", 15, now()), None);
    }

    #[test]
    fn expired_lease_of_another_holder_is_taken_with_one_more_transition() {
        let record = next_record(Some(&held_by("other", 3)), false, "me", 15, now()).unwrap();
        assert_eq!(record.holder_identity.as_deref(), Some("me"));
        assert_eq!(record.acquire_time, Some(MicroTime(now())));
        assert_eq!(record.lease_transitions, Some(4));
    }

    #[test]
    fn released_lease_is_taken_even_while_its_record_is_fresh() {
        let released = released_record(&held_by("other", 3), now());
        assert_eq!(released.holder_identity.as_deref(), Some(""));
        assert_eq!(released.lease_duration_seconds, Some(1));
        assert_eq!(released.lease_transitions, Some(3));
        let record = next_record(Some(&released), true, "me", 15, now()).unwrap();
        assert_eq!(record.holder_identity.as_deref(), Some("me"));
        assert_eq!(record.lease_transitions, Some(4));
    }

    #[test]
    fn renewing_keeps_acquire_time_and_transitions() {
        let mine = held_by("me", 2);
        let record = next_record(Some(&mine), true, "me", 15, now()).unwrap();
        assert_eq!(record.acquire_time, mine.acquire_time);
        assert_eq!(record.lease_transitions, Some(2));
        assert_eq!(record.renew_time, Some(MicroTime(now())));
    }

    fn lease(spec: LeaseSpec) -> Lease {
        Lease { metadata: ObjectMeta::default(), spec: Some(spec) }
    }

    #[tokio::test(start_paused = true)]
    async fn validity_is_measured_from_when_the_record_last_changed_on_our_clock() {
        let start = Instant::now();
        let first = Observation::observe(None, lease(held_by("other", 0)), start);
        assert!(first.valid_at(start + Duration::from_secs(14)));
        assert!(!first.valid_at(start + Duration::from_secs(15)));
        // The same record read again later does not extend validity: the holder stopped renewing.
        let again =
            Observation::observe(Some(first.clone()), lease(held_by("other", 0)), start + Duration::from_secs(10));
        assert_eq!(again.changed_at, start);
        // A renewed record (new renewTime) does.
        let mut renewed = held_by("other", 0);
        renewed.renew_time = Some(MicroTime(now()));
        let later = start + Duration::from_secs(10);
        let renewed = Observation::observe(Some(again), lease(renewed), later);
        assert_eq!(renewed.changed_at, later);
        assert!(renewed.valid_at(start + Duration::from_secs(20)));
    }

    #[test]
    fn settings_follow_client_go_rules() {
        let ok = LeaderElectionConfig::new("ns", DEFAULT_LEASE_NAME);
        ok.validate().unwrap();
        assert_eq!(ok.lease_duration_seconds(), 15);
        let bad_deadline = LeaderElectionConfig { renew_deadline: Duration::from_secs(15), ..ok.clone() };
        assert!(bad_deadline.validate().is_err());
        let bad_retry = LeaderElectionConfig { retry_period: Duration::from_secs(9), ..ok.clone() };
        assert!(bad_retry.validate().is_err());
        let zero_retry = LeaderElectionConfig { retry_period: Duration::ZERO, ..ok.clone() };
        assert!(zero_retry.validate().is_err());
        let sub_second = LeaderElectionConfig {
            lease_duration: Duration::from_millis(900),
            renew_deadline: Duration::from_millis(500),
            retry_period: Duration::from_millis(100),
            ..ok
        };
        assert!(sub_second.validate().is_err());
    }

    #[test]
    fn lease_namespace_defaults_to_the_pods_namespace_then_default() {
        assert_eq!(namespace_from(Some("eso".into()), Some("other\n".into())), "eso");
        assert_eq!(namespace_from(None, Some("from-file\n".into())), "from-file");
        assert_eq!(namespace_from(Some(String::new()), None), "default");
        assert_eq!(namespace_from(None, None), "default");
    }

    #[test]
    fn identities_are_unique_per_process_start() {
        let (a, b) = (default_identity(), default_identity());
        assert_ne!(a, b);
        assert!(a.contains('_'));
    }
}
