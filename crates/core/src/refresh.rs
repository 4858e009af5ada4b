//! When to sync an ExternalSecret and when to look at it again (ESO's `shouldRefresh`, `isSecretValid` and
//! `getRequeueResult`).
//!
//! A reconcile is skipped when the refresh policy says no refresh **and** the target Secret is valid (exists,
//! carries the managed label, and its `data-hash` annotation matches its data). Otherwise it syncs.
//!
//! `syncWindows` (ESO 2.7+) are not evaluated here; a caller that supports them gates periodic refreshes itself.

use std::collections::BTreeMap;
use std::time::Duration;

use external_secrets_api::ExternalSecretRefreshPolicy as RefreshPolicy;
use jiff::Timestamp;

use crate::duration::{DurationError, parse_go_duration};
use crate::hash::data_hash;
use crate::sync_window::SyncWindow;

/// Label ESO puts on every Secret it manages (value [`LABEL_MANAGED_VALUE`]).
pub const LABEL_MANAGED: &str = "reconcile.external-secrets.io/managed";
/// The value of [`LABEL_MANAGED`].
pub const LABEL_MANAGED_VALUE: &str = "true";
/// Annotation holding the hash of the Secret's data as ESO last wrote it.
pub const ANNOTATION_DATA_HASH: &str = "reconcile.external-secrets.io/data-hash";
/// Label on Secrets created with `creationPolicy: Owner`: see [`crate::hash::created_by_label`].
pub const LABEL_CREATED_BY: &str = "reconcile.external-secrets.io/created-by";

/// The fraction of jitter [`jittered`] should add to periodic requeues: up to +10%.
pub const REQUEUE_JITTER_FRACTION: f64 = 0.1;

/// What the refresh decision looks at.
#[derive(Clone, Copy, Debug)]
pub struct RefreshInput<'a> {
    /// `spec.refreshPolicy` (unset is `Periodic`, the enum's default).
    pub policy: RefreshPolicy,
    /// `spec.refreshInterval`. `None` and zero mean no periodic refresh (a negative Go duration is passed as
    /// `None`).
    pub refresh_interval: Option<Duration>,
    /// `status.refreshTime`: when the last successful sync started. `None` if never.
    pub last_refresh: Option<Timestamp>,
    /// `status.syncedResourceVersion` (empty if never synced).
    pub synced_resource_version: &'a str,
    /// The ExternalSecret's current version, from [`crate::hash::synced_resource_version`].
    pub current_resource_version: &'a str,
    /// Whether the target Secret is valid: see [`is_target_secret_valid`].
    pub target_secret_valid: bool,
    /// The current time.
    pub now: Timestamp,
    /// `spec.syncWindows` at `now` (see [`crate::sync_window::evaluate`]): a periodic refresh that is due waits
    /// while they are closed.
    pub sync_window: SyncWindow,
}

/// What to do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshDecision {
    /// Fetch and write now. After a successful sync, requeue with [`requeue_after`] from the sync's start time.
    Sync,
    /// Nothing to do; look again after `requeue_after` (`None`: only when something changes; zero: at once).
    Skip {
        /// When to reconcile again.
        requeue_after: Option<Duration>,
    },
}

/// `spec.refreshInterval` (a Go duration string) as [`RefreshInput::refresh_interval`]: `None` for zero and
/// negative durations, which ESO treats alike (no periodic refresh).
pub fn refresh_interval_from_spec(spec: &str) -> Result<Option<Duration>, DurationError> {
    let interval = parse_go_duration(spec)?;
    Ok(interval.to_std().filter(|d| !d.is_zero()))
}

fn interval_of(refresh_interval: Option<Duration>) -> Duration {
    refresh_interval.unwrap_or(Duration::ZERO)
}

/// Signed nanoseconds from `last` to `now` (negative when `last` is in the future).
fn elapsed_nanos(last: Timestamp, now: Timestamp) -> i128 {
    now.duration_since(last).as_nanos()
}

fn nanos_i128(duration: Duration) -> i128 {
    i128::try_from(duration.as_nanos()).unwrap_or(i128::MAX)
}

/// Whether the policy asks for a refresh (ESO's `shouldRefresh`), before looking at the target Secret.
pub fn should_refresh(input: &RefreshInput<'_>) -> bool {
    let never_synced = input.synced_resource_version.is_empty() || input.last_refresh.is_none();
    match input.policy {
        RefreshPolicy::CreatedOnce => never_synced,
        RefreshPolicy::OnChange => never_synced || input.synced_resource_version != input.current_resource_version,
        RefreshPolicy::Periodic => should_refresh_periodic(input),
    }
}

fn should_refresh_periodic(input: &RefreshInput<'_>) -> bool {
    let interval = interval_of(input.refresh_interval);
    // With no interval, once synced, nothing but an invalid target Secret triggers a sync: not even a spec change.
    if interval.is_zero() && !input.synced_resource_version.is_empty() {
        return false;
    }
    if input.synced_resource_version != input.current_resource_version {
        return true;
    }
    let Some(last_refresh) = input.last_refresh else {
        return true;
    };
    let elapsed = elapsed_nanos(last_refresh, input.now);
    // A refresh time in the future (clock skew, a hand-edited status) refreshes; otherwise once the interval passed,
    // if the sync windows allow it.
    elapsed < 0 || (elapsed > nanos_i128(interval) && input.sync_window == SyncWindow::Open)
}

/// The refresh decision: skip only when the policy asks for no refresh and the target Secret is valid.
///
/// A due refresh that the sync windows hold back looks again when they may open (ESO requeues at once, with the
/// workqueue's backoff).
pub fn decide(input: &RefreshInput<'_>) -> RefreshDecision {
    if should_refresh(input) || !input.target_secret_valid {
        return RefreshDecision::Sync;
    }
    let after = requeue_after(input.refresh_interval, input.last_refresh, input.now);
    let requeue_after = match (after, input.sync_window) {
        (Some(d), SyncWindow::Closed { reopens_after }) if d.is_zero() => reopens_after.or(input.refresh_interval),
        _ => after,
    };
    RefreshDecision::Skip { requeue_after }
}

/// When to reconcile again (ESO's `getRequeueResult`): `None` with no interval; the whole interval if never
/// refreshed; the rest of the interval since `last_refresh`; zero (at once) when it has passed or `last_refresh`
/// is in the future. After a sync, pass the sync's start time as `last_refresh`.
///
/// Add jitter to the result with [`jittered`].
pub fn requeue_after(
    refresh_interval: Option<Duration>,
    last_refresh: Option<Timestamp>,
    now: Timestamp,
) -> Option<Duration> {
    let interval = interval_of(refresh_interval);
    if interval.is_zero() {
        return None;
    }
    let Some(last_refresh) = last_refresh else {
        return Some(interval);
    };
    let elapsed = elapsed_nanos(last_refresh, now);
    let remaining = nanos_i128(interval) - elapsed;
    if elapsed < 0 || remaining <= 0 {
        return Some(Duration::ZERO);
    }
    // 0 < remaining <= interval, so it fits a Duration.
    let remaining = u128::try_from(remaining).unwrap_or(0);
    Some(Duration::new(
        u64::try_from(remaining / 1_000_000_000).unwrap_or(u64::MAX),
        u32::try_from(remaining % 1_000_000_000).unwrap_or(0),
    ))
}

/// `base` plus up to `fraction` of it, scaled by `random_unit` (the caller's random number in `[0, 1]`; values
/// outside are clamped, NaN counts as 0).
///
/// We requeue periodic refreshes with up to +10% ([`REQUEUE_JITTER_FRACTION`]) on purpose, so that many
/// ExternalSecrets created together (a Helm install, a controller restart) do not hit the provider in the same
/// second forever after. ESO has no jitter (its issue #4231 asks for it); the jitter only ever delays, so a refresh
/// never comes earlier than `refreshInterval`.
pub fn jittered(base: Duration, fraction: f64, random_unit: f64) -> Duration {
    let unit = if random_unit.is_nan() { 0.0 } else { random_unit.clamp(0.0, 1.0) };
    let fraction = if fraction.is_nan() { 0.0 } else { fraction.max(0.0) };
    // Float-to-int `as` saturates (and maps NaN to 0), so this cannot panic or wrap.
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let extra_nanos = (base.as_nanos() as f64 * fraction * unit) as u64;
    base.saturating_add(Duration::from_nanos(extra_nanos))
}

/// What the refresh decision needs to know about the existing target Secret.
#[derive(Clone, Copy)]
pub struct TargetSecretView<'a> {
    /// Its labels.
    pub labels: &'a BTreeMap<String, String>,
    /// Its annotations.
    pub annotations: &'a BTreeMap<String, String>,
    /// Its data.
    pub data: &'a BTreeMap<String, Vec<u8>>,
}

/// ESO's `isSecretValid`: with `creationPolicy: Orphan` always valid (drift is never repaired); otherwise the Secret
/// must exist, carry `reconcile.external-secrets.io/managed=true`, and its `data-hash` annotation must equal the
/// hash of its current data.
pub fn is_target_secret_valid(target: Option<TargetSecretView<'_>>, creation_policy_orphan: bool) -> bool {
    if creation_policy_orphan {
        return true;
    }
    let Some(target) = target else {
        return false;
    };
    target.labels.get(LABEL_MANAGED).map(String::as_str) == Some(LABEL_MANAGED_VALUE)
        && target.annotations.get(ANNOTATION_DATA_HASH) == Some(&data_hash(target.data))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);
    const V1: &str = "1-aaaa";
    const V2: &str = "2-bbbb";

    fn at(seconds: i64) -> Timestamp {
        match Timestamp::from_second(1_700_000_000 + seconds) {
            Ok(t) => t,
            Err(e) => panic!("bad test time: {e}"),
        }
    }

    /// Synced at t=0 with version V1, interval 1h, target valid, now t=10min.
    fn synced(policy: RefreshPolicy) -> RefreshInput<'static> {
        RefreshInput {
            policy,
            refresh_interval: Some(HOUR),
            last_refresh: Some(at(0)),
            synced_resource_version: V1,
            current_resource_version: V1,
            target_secret_valid: true,
            now: at(600),
            sync_window: SyncWindow::Open,
        }
    }

    fn never_synced(policy: RefreshPolicy) -> RefreshInput<'static> {
        RefreshInput { last_refresh: None, synced_resource_version: "", ..synced(policy) }
    }

    const ALL_POLICIES: [RefreshPolicy; 3] =
        [RefreshPolicy::Periodic, RefreshPolicy::CreatedOnce, RefreshPolicy::OnChange];

    #[test]
    fn closed_sync_windows_hold_back_a_due_periodic_refresh_until_they_reopen() {
        let reopens = Duration::from_secs(900);
        let closed = SyncWindow::Closed { reopens_after: Some(reopens) };
        let due = RefreshInput { now: at(3601), sync_window: closed, ..synced(RefreshPolicy::Periodic) };
        assert_eq!(decide(&due), RefreshDecision::Skip { requeue_after: Some(reopens) });
        // Not a hot loop when no window will open: wait a whole interval.
        let never = RefreshInput { sync_window: SyncWindow::Closed { reopens_after: None }, ..due };
        assert_eq!(decide(&never), RefreshDecision::Skip { requeue_after: Some(HOUR) });
        // Windows gate periodic refreshes only: a spec change or an invalid target still syncs.
        assert_eq!(decide(&RefreshInput { current_resource_version: V2, ..due }), RefreshDecision::Sync);
        assert_eq!(decide(&RefreshInput { target_secret_valid: false, ..due }), RefreshDecision::Sync);
        // Not yet due: the usual requeue.
        let early = RefreshInput { sync_window: closed, ..synced(RefreshPolicy::Periodic) };
        assert_eq!(decide(&early), RefreshDecision::Skip { requeue_after: Some(Duration::from_secs(3000)) });
    }

    #[test]
    fn every_policy_syncs_the_first_time() {
        for policy in ALL_POLICIES {
            assert_eq!(decide(&never_synced(policy)), RefreshDecision::Sync, "{policy:?}");
            let no_time = RefreshInput { last_refresh: None, ..synced(policy) };
            assert_eq!(decide(&no_time), RefreshDecision::Sync, "{policy:?}");
        }
    }

    #[test]
    fn every_policy_repairs_an_invalid_target_secret() {
        for policy in ALL_POLICIES {
            let input = RefreshInput { target_secret_valid: false, ..synced(policy) };
            assert_eq!(decide(&input), RefreshDecision::Sync, "{policy:?}");
        }
    }

    #[test]
    fn periodic_skips_within_the_interval_and_requeues_for_the_rest() {
        let input = synced(RefreshPolicy::Periodic);
        assert_eq!(decide(&input), RefreshDecision::Skip { requeue_after: Some(Duration::from_secs(3000)) });
    }

    #[test]
    fn periodic_syncs_once_the_interval_has_passed() {
        let input = RefreshInput { now: at(3601), ..synced(RefreshPolicy::Periodic) };
        assert_eq!(decide(&input), RefreshDecision::Sync);
        // Exactly at the interval ESO's Before() is still false: skip, requeue at once.
        let input = RefreshInput { now: at(3600), ..synced(RefreshPolicy::Periodic) };
        assert_eq!(decide(&input), RefreshDecision::Skip { requeue_after: Some(Duration::ZERO) });
    }

    #[test]
    fn periodic_syncs_when_the_resource_version_changed() {
        let input = RefreshInput { current_resource_version: V2, ..synced(RefreshPolicy::Periodic) };
        assert_eq!(decide(&input), RefreshDecision::Sync);
    }

    #[test]
    fn periodic_syncs_when_the_refresh_time_is_in_the_future() {
        let input = RefreshInput { now: at(-10), ..synced(RefreshPolicy::Periodic) };
        assert_eq!(decide(&input), RefreshDecision::Sync);
    }

    #[test]
    fn periodic_with_zero_interval_never_refreshes_after_the_first_sync() {
        for interval in [None, Some(Duration::ZERO)] {
            let input = RefreshInput {
                refresh_interval: interval,
                current_resource_version: V2,
                now: at(1_000_000),
                ..synced(RefreshPolicy::Periodic)
            };
            // Not even a spec change: ESO's documented `refreshInterval: 0` behaviour.
            assert_eq!(decide(&input), RefreshDecision::Skip { requeue_after: None }, "{interval:?}");
        }
    }

    #[test]
    fn periodic_with_zero_interval_still_syncs_once() {
        let input = RefreshInput { refresh_interval: None, ..never_synced(RefreshPolicy::Periodic) };
        assert_eq!(decide(&input), RefreshDecision::Sync);
    }

    #[test]
    fn created_once_never_refreshes_a_valid_secret() {
        let input =
            RefreshInput { current_resource_version: V2, now: at(1_000_000), ..synced(RefreshPolicy::CreatedOnce) };
        assert_eq!(decide(&input), RefreshDecision::Skip { requeue_after: Some(Duration::ZERO) });
    }

    #[test]
    fn on_change_syncs_only_on_changes() {
        let unchanged = RefreshInput { now: at(1_000_000), ..synced(RefreshPolicy::OnChange) };
        assert!(!should_refresh(&unchanged));
        assert!(matches!(decide(&unchanged), RefreshDecision::Skip { .. }));
        let changed = RefreshInput { current_resource_version: V2, ..unchanged };
        assert_eq!(decide(&changed), RefreshDecision::Sync);
    }

    #[test]
    fn on_change_with_no_interval_does_not_requeue() {
        let input = RefreshInput { refresh_interval: None, ..synced(RefreshPolicy::OnChange) };
        assert_eq!(decide(&input), RefreshDecision::Skip { requeue_after: None });
    }

    #[test]
    fn refresh_interval_from_spec_reads_go_durations() {
        assert_eq!(refresh_interval_from_spec("1h0m0s"), Ok(Some(HOUR)));
        assert_eq!(refresh_interval_from_spec("1h"), Ok(Some(HOUR)));
        assert_eq!(refresh_interval_from_spec("0"), Ok(None));
        assert_eq!(refresh_interval_from_spec("0s"), Ok(None));
        assert_eq!(refresh_interval_from_spec("-5m"), Ok(None));
        assert!(refresh_interval_from_spec("1d").is_err());
        assert!(refresh_interval_from_spec("").is_err());
    }

    #[test]
    fn an_unset_policy_is_periodic() {
        assert_eq!(RefreshPolicy::default(), RefreshPolicy::Periodic);
    }

    #[test]
    fn requeue_after_follows_eso() {
        assert_eq!(requeue_after(None, Some(at(0)), at(10)), None);
        assert_eq!(requeue_after(Some(Duration::ZERO), Some(at(0)), at(10)), None);
        assert_eq!(requeue_after(Some(HOUR), None, at(10)), Some(HOUR));
        assert_eq!(requeue_after(Some(HOUR), Some(at(0)), at(0)), Some(HOUR));
        assert_eq!(requeue_after(Some(HOUR), Some(at(0)), at(1800)), Some(Duration::from_secs(1800)));
        assert_eq!(requeue_after(Some(HOUR), Some(at(0)), at(3600)), Some(Duration::ZERO));
        assert_eq!(requeue_after(Some(HOUR), Some(at(0)), at(7200)), Some(Duration::ZERO));
        assert_eq!(requeue_after(Some(HOUR), Some(at(100)), at(0)), Some(Duration::ZERO));
    }

    #[test]
    fn requeue_after_keeps_sub_second_precision() {
        let last = at(0);
        let now = match last.checked_add(jiff::SignedDuration::from_millis(1500)) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(requeue_after(Some(Duration::from_secs(10)), Some(last), now), Some(Duration::from_millis(8500)));
    }

    #[test]
    fn jitter_only_delays_and_by_at_most_the_fraction() {
        assert_eq!(jittered(HOUR, REQUEUE_JITTER_FRACTION, 0.0), HOUR);
        assert_eq!(jittered(HOUR, REQUEUE_JITTER_FRACTION, 1.0), Duration::from_secs(3960));
        assert_eq!(jittered(HOUR, REQUEUE_JITTER_FRACTION, 0.5), Duration::from_secs(3780));
        assert_eq!(jittered(Duration::ZERO, REQUEUE_JITTER_FRACTION, 0.7), Duration::ZERO);
    }

    #[test]
    fn jitter_clamps_odd_inputs() {
        assert_eq!(jittered(HOUR, 0.1, 7.0), Duration::from_secs(3960));
        assert_eq!(jittered(HOUR, 0.1, -1.0), HOUR);
        assert_eq!(jittered(HOUR, 0.1, f64::NAN), HOUR);
        assert_eq!(jittered(HOUR, f64::NAN, 0.5), HOUR);
        assert_eq!(jittered(HOUR, -0.5, 0.5), HOUR);
        assert_eq!(jittered(Duration::MAX, 1.0, 1.0), Duration::MAX);
        assert_eq!(jittered(HOUR, f64::INFINITY, 1.0), HOUR.saturating_add(Duration::from_nanos(u64::MAX)));
    }

    fn string_map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn target_secret_validity_follows_eso() {
        let data: BTreeMap<String, Vec<u8>> = [("foo".to_owned(), b"bar".to_vec())].into_iter().collect();
        let managed = string_map(&[(LABEL_MANAGED, "true")]);
        let hashed = string_map(&[(ANNOTATION_DATA_HASH, "f2a604b87eb0cf673761e8cfea850f901fe73a3d1b2f338802107f36")]);
        let view = |labels, annotations| TargetSecretView { labels, annotations, data: &data };

        assert!(is_target_secret_valid(Some(view(&managed, &hashed)), false));
        assert!(!is_target_secret_valid(None, false));
        assert!(is_target_secret_valid(None, true), "Orphan is always valid");

        let unmanaged = BTreeMap::new();
        assert!(!is_target_secret_valid(Some(view(&unmanaged, &hashed)), false));
        let wrong_label = string_map(&[(LABEL_MANAGED, "false")]);
        assert!(!is_target_secret_valid(Some(view(&wrong_label, &hashed)), false));
        let drifted = string_map(&[(ANNOTATION_DATA_HASH, "0000")]);
        assert!(!is_target_secret_valid(Some(view(&managed, &drifted)), false));
        let no_hash = BTreeMap::new();
        assert!(!is_target_secret_valid(Some(view(&managed, &no_hash)), false));
    }
}
