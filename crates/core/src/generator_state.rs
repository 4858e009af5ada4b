//! ESO's `GeneratorState` bookkeeping (its `statemanager` and `generatorstate` controller), as pure decisions.
//!
//! A generator that keeps state (Grafana: the token it made) gets one `GeneratorState` per run, in the
//! ExternalSecret's namespace, named `gen-<kind>-<name>-<random>`, labelled
//! `generators.external-secrets.io/owner-key` = [`owner_key`] (which object, which `dataFrom` entry) and owned
//! (non-controller owner reference) by the ExternalSecret. When a newer state of the same key is stored, the
//! others get `spec.garbageCollectionDeadline` = now + `--generator-gc-grace-period` ([`superseded`]); the GC
//! controller deletes a state once its deadline passed ([`gc_decision`]), and its finalizer
//! [`GENERATOR_STATE_FINALIZER`] cleans up what the state names at the provider before the object goes.

use std::time::Duration;

use crate::hash::sha3_224_hex;

/// ESO's finalizer on every GeneratorState: the provider-side resource is cleaned up before the object goes.
pub const GENERATOR_STATE_FINALIZER: &str = "generatorstate.externalsecrets.io/finalizer";

/// ESO's `ownerKey`: SHA3-224 (hex) of `<kind>-<namespace>-<name>-<key>` of the object that ran the generator.
pub fn owner_key(owner_kind: &str, namespace: &str, name: &str, state_key: &str) -> String {
    sha3_224_hex(format!("{owner_kind}-{namespace}-{name}-{state_key}").as_bytes())
}

/// ESO's key of the state of `dataFrom[index]` (the index: an ExternalSecret may run several generators).
pub fn state_key(index: usize) -> String {
    index.to_string()
}

/// ESO's `generateName` of a GeneratorState: `gen-<owner kind, lowercase>-<owner name>-` (the API server
/// shortens a long one before it appends its random suffix).
pub fn generate_name(owner_kind: &str, owner_name: &str) -> String {
    format!("gen-{}-{owner_name}-", owner_kind.to_lowercase())
}

/// What is known of one stored state of a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredState {
    /// Its object name.
    pub name: String,
    /// Whether it already has a `garbageCollectionDeadline` (then it is left as it is).
    pub has_deadline: bool,
}

/// The states of one key to give a deadline: every one without a deadline except `latest` (the state just
/// stored, which is the one in use). With `latest: None` (the entry no longer runs a generator) all of them.
///
/// ESO flags states in the same commit that stores the new one, but before storing it, so the state just
/// superseded keeps no deadline until the next run; here it gets its deadline as soon as the new one is stored.
pub fn superseded<'a>(states: &'a [StoredState], latest: Option<&str>) -> Vec<&'a str> {
    states.iter().filter(|s| !s.has_deadline && Some(s.name.as_str()) != latest).map(|s| s.name.as_str()).collect()
}

/// The deadline of a state superseded at `now`.
pub fn deadline(now: jiff::Timestamp, grace_period: Duration) -> jiff::Timestamp {
    let grace = jiff::SignedDuration::try_from(grace_period).unwrap_or(jiff::SignedDuration::MAX);
    now.checked_add(grace).unwrap_or(jiff::Timestamp::MAX)
}

/// What the GC controller does with a GeneratorState.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GcDecision {
    /// No deadline: the state is in use; nothing to do until it changes.
    Keep,
    /// The deadline passed: delete it (its finalizer then cleans up).
    Delete,
    /// Look again when the deadline is reached.
    RequeueAfter(Duration),
}

/// ESO's rule: a state whose deadline is before `now` is deleted; one with a later deadline is looked at again
/// then; one without a deadline is kept.
pub fn gc_decision(deadline: Option<jiff::Timestamp>, now: jiff::Timestamp) -> GcDecision {
    match deadline {
        None => GcDecision::Keep,
        Some(d) if d < now => GcDecision::Delete,
        // A deadline equal to now is reached on the next look; at least a second later, so no hot loop.
        Some(d) => GcDecision::RequeueAfter(
            Duration::try_from(d.duration_since(now)).unwrap_or_default().max(Duration::from_secs(1)),
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used)]
    use super::*;

    #[test]
    fn owner_key_hashes_kind_namespace_name_and_key_as_eso() {
        // sha3-224 of "ExternalSecret-ns-es-0", as Go's ObjectHash of that string (%+v of a string is itself).
        assert_eq!(owner_key("ExternalSecret", "ns", "es", "0"), sha3_224_hex(b"ExternalSecret-ns-es-0"));
        assert_eq!(owner_key("ExternalSecret", "ns", "es", "0").len(), 56);
        assert_ne!(owner_key("ExternalSecret", "ns", "es", "0"), owner_key("ExternalSecret", "ns", "es", "1"));
        assert_eq!(generate_name("ExternalSecret", "grafana-token"), "gen-externalsecret-grafana-token-");
        assert_eq!(state_key(2), "2");
    }

    #[test]
    fn every_state_but_the_latest_gets_a_deadline_once() {
        let states = vec![
            StoredState { name: "a".into(), has_deadline: true },
            StoredState { name: "b".into(), has_deadline: false },
            StoredState { name: "c".into(), has_deadline: false },
        ];
        assert_eq!(superseded(&states, Some("c")), vec!["b"]);
        assert_eq!(superseded(&states, None), vec!["b", "c"]);
        assert!(superseded(&states[..1], Some("a")).is_empty());
    }

    #[test]
    fn gc_deletes_after_the_deadline_and_waits_until_then() {
        let now: jiff::Timestamp = "2026-12-03T20:00:00Z".parse().unwrap();
        assert_eq!(gc_decision(None, now), GcDecision::Keep);
        assert_eq!(gc_decision(Some(now - jiff::SignedDuration::from_secs(1)), now), GcDecision::Delete);
        let later = deadline(now, Duration::from_secs(120));
        assert_eq!(later, "2026-12-03T20:02:00Z".parse().unwrap());
        assert_eq!(gc_decision(Some(later), now), GcDecision::RequeueAfter(Duration::from_secs(120)));
        assert_eq!(gc_decision(Some(now), now), GcDecision::RequeueAfter(Duration::from_secs(1)));
    }
}
