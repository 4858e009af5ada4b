//! How many calls providers made to their remote APIs, by provider, call and outcome: what ESO exports as
//! `externalsecret_provider_api_calls_count{provider, call, status}`.
//!
//! A provider reports each call where it makes it ([`ObserveApiCall::observed`] on the call's result); the
//! controller's metrics read [`snapshot`] when scraped. The tally is per process, as ESO's counter is (Go's
//! default Prometheus registry): providers need no handle passed through every client they build, and the
//! label values are bounded (static provider and call names, two outcomes).

use std::collections::BTreeMap;
use std::sync::Mutex;

/// `status` label values, as ESO spells them.
pub const STATUS_SUCCESS: &str = "success";
/// See [`STATUS_SUCCESS`].
pub const STATUS_ERROR: &str = "error";

/// One series: (provider, call, status).
pub type ApiCallKey = (&'static str, &'static str, &'static str);

static CALLS: Mutex<BTreeMap<ApiCallKey, u64>> = Mutex::new(BTreeMap::new());

/// Counts one call of `provider` (ESO's spelling, e.g. `AWS/SecretsManager`) named `call` (the remote API's
/// operation, e.g. `GetSecretValue`).
pub fn record(provider: &'static str, call: &'static str, success: bool) {
    let status = if success { STATUS_SUCCESS } else { STATUS_ERROR };
    let mut calls = CALLS.lock().unwrap_or_else(|p| p.into_inner());
    *calls.entry((provider, call, status)).or_insert(0) += 1;
}

/// Every series counted so far, with its count.
pub fn snapshot() -> Vec<(ApiCallKey, u64)> {
    CALLS.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|(k, v)| (*k, *v)).collect()
}

/// Counts a remote call by its result, in the call chain: `request.send().await.observed(PROVIDER, "Call")`.
pub trait ObserveApiCall: Sized {
    /// Records the call as a success or an error and returns the result unchanged.
    fn observed(self, provider: &'static str, call: &'static str) -> Self;
}

impl<T, E> ObserveApiCall for Result<T, E> {
    fn observed(self, provider: &'static str, call: &'static str) -> Self {
        record(provider, call, self.is_ok());
        self
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn count(key: ApiCallKey) -> u64 {
        snapshot().into_iter().find(|(k, _)| *k == key).map(|(_, n)| n).unwrap_or(0)
    }

    #[test]
    fn results_are_counted_by_provider_call_and_outcome_and_passed_on() {
        let key_ok = ("Test/Provider", "GetThing", STATUS_SUCCESS);
        let key_err = ("Test/Provider", "GetThing", STATUS_ERROR);
        let (ok_before, err_before) = (count(key_ok), count(key_err));
        let ok: Result<u8, String> = Ok(7);
        assert_eq!(ok.observed("Test/Provider", "GetThing"), Ok(7));
        let err: Result<u8, String> = Err("denied".into());
        assert_eq!(err.observed("Test/Provider", "GetThing"), Err("denied".to_string()));
        let _ = Ok::<(), ()>(()).observed("Test/Provider", "GetThing");
        assert_eq!(count(key_ok), ok_before + 2);
        assert_eq!(count(key_err), err_before + 1);
    }
}
