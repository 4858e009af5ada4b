//! Fault matrix, control plane (issue 9): the shipped binary syncs [`faults::N_AWS`] ExternalSecrets from Secrets
//! Manager (and [`faults::N_FAKE`] from the Fake provider) while kube-apiserver, then etcd, is stopped and started
//! again (same ports, same data). For each: no target Secret is lost or blanked, the operator survives the outage
//! (it is not restarted), provider calls stay below a bound derived from the backoff, and everything converges on
//! the provider's new values without a human. Each prints its figures (`fault-matrix | ...`, see
//! docs/reliability.md).
//!
//! The outages stop components every test of this binary shares, so this binary holds one test that runs them one
//! after the other. Faults of the operator process itself are in `faults_e2e.rs`.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod faults;

use std::time::{Duration, Instant};

use faults::{Figures, Fixture, N_AWS, OperatorProcess, calls_bound, per_second_bound, steady_rate};

/// How long a stopped control-plane component stays down.
const OUTAGE: Duration = Duration::from_secs(10);

/// Stops `component`, changes every secret at the provider meanwhile, starts it again after [`OUTAGE`]; then
/// waits until everything converged.
async fn outage(fx: &mut Fixture, op: &mut OperatorProcess, component: &'static str, fault: &str) -> Figures {
    let started = Instant::now();
    let cluster = fx.cluster;
    tokio::task::spawn_blocking(move || cluster.stop_component(component)).await.unwrap().expect("stop");
    fx.bump_remote().await;
    tokio::time::sleep(OUTAGE.saturating_sub(started.elapsed())).await;
    tokio::task::spawn_blocking(move || cluster.start_component(component)).await.unwrap().expect("start again");
    let back = Instant::now();
    let held = back - started;
    // The Fake store changes once the API is back (it lives there).
    fx.bump_fake().await;

    let calls_during = fx.proxy.requests_between(started, back);
    let max_per_s = fx.proxy.max_per_second(started, back);
    let recovered_in = fx.wait_converged(fault).await;
    assert!(op.component.exited().is_none(), "{fault}: the operator exited:\n{}", op.log_tail());
    let violations = fx.monitor.violations();
    assert!(violations.is_empty(), "{fault}: Secrets lost or blanked: {violations:?}");
    let bound = calls_bound(N_AWS, held);
    assert!(calls_during <= bound, "{fault}: {calls_during} provider calls in {held:?} (bound {bound})");
    assert!(max_per_s <= per_second_bound(N_AWS), "{fault}: {max_per_s} provider calls in one second");
    Figures {
        fault: fault.to_string(),
        lost_or_blanked: violations.len(),
        fault_held: held,
        recovered_in,
        calls_during,
        baseline_per_s: steady_rate(),
        max_per_s,
        condition: "not readable (the API is down)".to_string(),
        note: format!("operator not restarted; the API answered again after {:.1} s", held.as_secs_f64()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apiserver_and_etcd_restarts_lose_nothing_and_the_operator_recovers_by_itself() {
    let mut fx = Fixture::new("fault-control-plane").await;
    let mut op = OperatorProcess::start(&fx, "operator", &[], true).await;
    fx.wait_converged("first sync").await;
    outage(&mut fx, &mut op, "kube-apiserver", "kube-apiserver restart (10 s down)").await.print();
    outage(&mut fx, &mut op, "etcd", "etcd restart (10 s down, same data)").await.print();
    fx.assert_nothing_leaked(&op.log()).await;
    op.component.stop();
}
