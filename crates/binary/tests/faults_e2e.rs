//! Fault matrix, provider side (issue 9): the shipped binary syncs [`faults::N_AWS`] ExternalSecrets from Secrets
//! Manager through a fault-injecting proxy (and [`faults::N_FAKE`] from the Fake provider) while the provider is
//! down, answers 5xx, throttles (400 `ThrottlingException`, bare 429), answers slowly, or rejects the operator's
//! credentials. For each fault: no target Secret is lost or blanked and none changes while the provider cannot be
//! read; the `Ready` conditions name the problem without a value; the other store's ExternalSecrets keep syncing;
//! provider calls stay below a bound derived from the backoff (no hot loop); after the fault is lifted everything
//! converges on the provider's new values without anyone touching the operator. Each prints its figures
//! (`fault-matrix | ...`, see docs/reliability.md).
//!
//! The operator process itself: SIGKILLed in the middle of a sync burst and started again, and the leader of two
//! replicas with leader election SIGKILLed in the middle of one (the standby takes over). Control-plane outages
//! are in `faults_control_plane_e2e.rs`.
//!
//! A webhook that is down is covered by `crates/webhook/tests/admission.rs` (the apiserver's failure policy).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod faults;

use std::time::{Duration, Instant};

use external_secrets_testsupport::{Fault, eventually};
use faults::{
    ACCESS_KEY, FAULT_MIN, Figures, Fixture, N_AWS, N_FAKE, OperatorProcess, aws_name, calls_bound, condition_summary,
    per_second_bound, steady_rate,
};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;

/// A provider fault and how it is brought about and lifted.
#[derive(Clone, Copy, Debug)]
enum ProviderFault {
    Down,
    ServerError,
    Throttle,
    TooManyRequests,
    Slow,
    WrongCredentials,
}

/// A key the proxy accepts once the credentials are fixed, and one nobody issued.
const NEW_ACCESS_KEY: &str = "AKIAFAULTMATRIXKEY02";
const WRONG_ACCESS_KEY: &str = "AKIAFAULTMATRIXWRONG";
const SLOW_ANSWER: Duration = Duration::from_secs(10);
/// Provider answers during a sync burst that is to be interrupted: slow enough that the kill lands in its middle
/// (8 reconciles at a time, so the burst of N_AWS syncs lasts about N_AWS / 8 seconds).
const BURST_ANSWER: Duration = Duration::from_secs(1);

impl ProviderFault {
    fn name(self) -> &'static str {
        match self {
            ProviderFault::Down => "provider down (connections refused)",
            ProviderFault::ServerError => "provider 5xx (503 ServiceUnavailable)",
            ProviderFault::Throttle => "provider throttling (400 ThrottlingException)",
            ProviderFault::TooManyRequests => "provider throttling (bare 429)",
            ProviderFault::Slow => "provider slow (10 s answers)",
            ProviderFault::WrongCredentials => "wrong credentials (key rejected)",
        }
    }

    /// Whether every provider call fails while the fault lasts (a slow provider still answers).
    fn failing(self) -> bool {
        !matches!(self, ProviderFault::Slow)
    }

    /// What the `Ready` message must say while the fault lasts (any of these, case-insensitive).
    fn named_by(self) -> &'static [&'static str] {
        match self {
            ProviderFault::Down => &["connect", "refused"],
            ProviderFault::ServerError => &["ServiceUnavailable"],
            ProviderFault::Throttle => &["ThrottlingException"],
            ProviderFault::TooManyRequests => &["HTTP 429"],
            ProviderFault::Slow => &[],
            ProviderFault::WrongCredentials => &["UnrecognizedClientException"],
        }
    }

    async fn inject(self, fx: &Fixture) {
        match self {
            ProviderFault::Down => fx.proxy.set(Fault::Refuse),
            ProviderFault::ServerError => fx.proxy.set(Fault::ServerError(503)),
            ProviderFault::Throttle => fx.proxy.set(Fault::Throttle),
            ProviderFault::TooManyRequests => fx.proxy.set(Fault::TooManyRequests),
            ProviderFault::Slow => fx.proxy.set(Fault::Delay(SLOW_ANSWER)),
            ProviderFault::WrongCredentials => {
                // A rotation gone wrong: the old key is deactivated and the Secret now holds one nobody issued.
                fx.proxy.set(Fault::RejectAccessKeys(vec![ACCESS_KEY.to_string(), WRONG_ACCESS_KEY.to_string()]));
                fx.set_access_key(WRONG_ACCESS_KEY).await;
            }
        }
    }

    async fn lift(self, fx: &Fixture) {
        match self {
            // Someone writes a valid key into the Secret; the operator is not restarted or touched.
            ProviderFault::WrongCredentials => fx.set_access_key(NEW_ACCESS_KEY).await,
            _ => fx.proxy.set(Fault::PassThrough),
        }
    }
}

/// Sets up a fixture and an operator process, waits for the first full sync, and runs `faults` one after the
/// other on it.
async fn run_faults(prefix: &str, list: &[ProviderFault]) {
    let mut fx = Fixture::new(prefix).await;
    let op = OperatorProcess::start(&fx, "operator", &[], true).await;
    fx.wait_converged("first sync").await;
    assert_eq!(fx.monitor.tracked(), N_AWS + N_FAKE, "the monitor sees every target");
    // The steady state: every ExternalSecret refreshes once per interval.
    let baseline = steady_rate();
    for fault in list {
        let figures = provider_fault(&mut fx, &op, *fault, baseline).await;
        figures.print();
    }
    fx.assert_nothing_leaked(&op.log()).await;
    let mut op = op;
    assert!(op.component.exited().is_none(), "the operator exited:\n{}", op.log_tail());
    op.component.stop();
}

async fn provider_fault(fx: &mut Fixture, op: &OperatorProcess, fault: ProviderFault, baseline: f64) -> Figures {
    let name = fault.name();
    let (before, before_fake) = (fx.version, fx.fake_version);
    let calls_at_operator = faults::provider_calls(op.metrics_port).await;

    let started = Instant::now();
    fault.inject(fx).await;
    // The provider's secrets change while it cannot be read; the Fake store changes too.
    fx.bump_remote().await;
    fx.bump_fake().await;

    // Other stores keep syncing: the Fake targets reach their new version while the fault lasts. Not so while
    // the provider is slow: every reconcile worker waits on a slow read (see docs/reliability.md); that is
    // measured, not asserted.
    let fake_deadline = if fault.failing() { FAULT_MIN + Duration::from_secs(15) } else { FAULT_MIN };
    let fake_version = fx.fake_version;
    let fake_synced =
        eventually(fake_deadline, || async { fx.at_versions(before, fake_version).await.1 == N_FAKE }).await;
    let fake_took = started.elapsed();
    // Refused connections never reach the proxy: sample the operator's own count of calls instead.
    let sampler = fault_sampler(op.metrics_port, matches!(fault, ProviderFault::Down));

    // The fault lasts until every AWS ExternalSecret has met it (reported it, for a failing one), and at least
    // FAULT_MIN.
    let met = if fault.failing() {
        eventually(Duration::from_secs(60), || async {
            let conditions = fx.conditions().await;
            (0..N_AWS).all(|i| conditions.get(&aws_name(i)).is_some_and(|c| c.0 == "False"))
        })
        .await
    } else {
        true
    };
    let remaining = FAULT_MIN.saturating_sub(started.elapsed());
    tokio::time::sleep(remaining).await;

    // While the fault lasts: nothing lost or blanked, nothing changed (a failing provider cannot have been read),
    // and the conditions name the problem.
    let versions = fx.target_versions().await;
    let conditions = fx.conditions().await;
    let held = started.elapsed();
    let lifted_at = Instant::now();
    let (calls_during, max_per_s) = match fault {
        ProviderFault::Down => {
            let max_per_s = sampler.stop().await;
            (faults::provider_calls(op.metrics_port).await.saturating_sub(calls_at_operator), max_per_s)
        }
        _ => (fx.proxy.requests_between(started, lifted_at), fx.proxy.max_per_second(started, lifted_at)),
    };
    fault.lift(fx).await;
    let summary = condition_summary(&conditions, "aws-", &fx.ns);
    let fake_note = if fake_synced {
        format!("Fake targets synced {:.1} s into the fault", fake_took.as_secs_f64())
    } else {
        let fake_done = (0..N_FAKE)
            .filter(|i| versions.get(&faults::fake_name(*i)).copied().flatten() == Some(fake_version))
            .count();
        format!("Fake targets starved: {fake_done}/{N_FAKE} synced by the end of the fault")
    };

    assert!(met, "{name}: not every AWS ExternalSecret reported the fault within 60 s: {summary}");
    for i in 0..N_AWS {
        let target = aws_name(i);
        let held_version = versions.get(&target).copied().flatten();
        if fault.failing() {
            assert_eq!(held_version, Some(before), "{name}: {target} changed while the provider failed");
        } else {
            assert!(
                held_version == Some(before) || held_version == Some(fx.version),
                "{name}: {target} holds {held_version:?}"
            );
        }
    }
    if fault.failing() {
        for i in 0..N_AWS {
            let (status, reason, message) = conditions.get(&aws_name(i)).cloned().unwrap_or_default();
            assert_eq!((status.as_str(), reason.as_str()), ("False", "SecretSyncedError"), "{name}: {message}");
            // The namespace is in every message (it names the key) and could hold any word: leave it out.
            let lower = message.replace(&fx.ns, "<ns>").to_lowercase();
            assert!(
                fault.named_by().iter().any(|w| lower.contains(&w.to_lowercase())),
                "{name}: the condition does not name the problem: {message}"
            );
        }
    }
    if fault.failing() {
        assert!(fake_synced, "{name}: the Fake store's ExternalSecrets did not sync while the AWS provider failed");
    }
    let bound = calls_bound(N_AWS, held);
    assert!(calls_during <= bound, "{name}: {calls_during} provider calls in {held:?} (bound {bound}): a hot loop");
    let per_second = per_second_bound(N_AWS);
    assert!(max_per_s <= per_second, "{name}: {max_per_s} provider calls in one second (bound {per_second})");

    let recovered_in = fx.wait_converged(name).await;
    let violations = fx.monitor.violations();
    assert!(violations.is_empty(), "{name}: Secrets lost or blanked: {violations:?}");
    assert!(fx.version > before && fx.fake_version > before_fake);
    Figures {
        fault: name.to_string(),
        lost_or_blanked: violations.len(),
        fault_held: held,
        recovered_in,
        calls_during,
        baseline_per_s: baseline,
        max_per_s,
        condition: summary,
        note: fake_note,
    }
}

/// Samples the operator's count of provider calls once a second (when `on`), for the busiest second of a fault
/// the proxy cannot see.
struct Sampler {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<u64>,
}

fn fault_sampler(port: u16, on: bool) -> Sampler {
    let (stop, mut stopped) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let mut best = 0;
        if !on {
            return best;
        }
        let mut last = faults::provider_calls(port).await;
        loop {
            tokio::select! {
                _ = &mut stopped => return best,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {
                    let now = faults::provider_calls(port).await;
                    best = best.max(now.saturating_sub(last));
                    last = now;
                }
            }
        }
    });
    Sampler { stop, task }
}

impl Sampler {
    async fn stop(self) -> u64 {
        let _ = self.stop.send(());
        self.task.await.unwrap_or(0)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_down_or_failing_with_5xx_loses_nothing_and_recovers_by_itself() {
    run_faults("fault-down", &[ProviderFault::Down, ProviderFault::ServerError]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_throttling_is_backed_off_and_recovers_by_itself() {
    run_faults("fault-throttle", &[ProviderFault::Throttle, ProviderFault::TooManyRequests]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_provider_and_wrong_credentials_lose_nothing_and_recover_by_themselves() {
    run_faults("fault-slow", &[ProviderFault::Slow, ProviderFault::WrongCredentials]).await;
}

/// Changes every secret at the provider, slows the provider's answers and forces all AWS ExternalSecrets to sync
/// at once; returns once a quarter (but not all) of the targets hold the new version.
async fn start_burst(fx: &mut Fixture) -> usize {
    fx.proxy.set(Fault::Delay(BURST_ANSWER));
    fx.bump_remote().await;
    fx.force_sync_all(&format!("burst-{}", fx.version)).await;
    let version = fx.version;
    let quarter =
        eventually(Duration::from_secs(60), || async { fx.at_versions(version, 0).await.0 >= N_AWS / 4 }).await;
    let done = fx.at_versions(version, 0).await.0;
    assert!(quarter && done < N_AWS, "the burst was not caught in its middle: {done}/{N_AWS} synced");
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_killed_in_the_middle_of_a_sync_burst_loses_nothing_and_its_restart_converges() {
    let fault = "operator SIGKILL mid-burst, restarted";
    let mut fx = Fixture::new("fault-kill").await;
    let mut op = OperatorProcess::start(&fx, "operator", &[], true).await;
    fx.wait_converged("first sync").await;

    let done = start_burst(&mut fx).await;
    let killed = Instant::now();
    op.component.kill();
    fx.proxy.set(Fault::PassThrough);
    fx.bump_fake().await;
    // As a kubelet would, start it again at once.
    op.component.start_again().expect("start the operator again");
    op.wait_ready().await;
    let ready = Instant::now();
    let recovered_in = fx.wait_converged(fault).await + (ready - killed);
    let converged = Instant::now();

    let note = format!(
        "killed with {done}/{N_AWS} of the burst written; ready again after {:.1} s",
        (ready - killed).as_secs_f64()
    );
    let figures = after_kill(&fx, fault, killed, converged, recovered_in, note);
    fx.assert_nothing_leaked(&op.log()).await;
    op.component.stop();
    figures.print();
}

/// Once everything converged after a kill at `killed`: nothing was lost or blanked and the provider calls since
/// stay below the no-hot-loop bound; the figures of the fault.
fn after_kill(
    fx: &Fixture,
    fault: &str,
    killed: Instant,
    converged: Instant,
    recovered_in: Duration,
    note: String,
) -> Figures {
    let violations = fx.monitor.violations();
    assert!(violations.is_empty(), "{fault}: Secrets lost or blanked: {violations:?}");
    let calls_during = fx.proxy.requests_between(killed, converged);
    let window = converged - killed;
    let bound = calls_bound(N_AWS + N_FAKE, window);
    assert!(calls_during <= bound, "{fault}: {calls_during} provider calls in {window:?} (bound {bound})");
    Figures {
        fault: fault.to_string(),
        lost_or_blanked: violations.len(),
        fault_held: window,
        recovered_in,
        calls_during,
        baseline_per_s: steady_rate(),
        max_per_s: fx.proxy.max_per_second(killed, converged),
        condition: "-".to_string(),
        note,
    }
}

/// The replica (`POD_NAME`) holding the Lease, if any.
async fn lease_holder(fx: &Fixture) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(fx.admin.clone(), &fx.ns);
    let lease = leases.get_opt(external_secrets_controller::leader::DEFAULT_LEASE_NAME).await.ok()??;
    let holder = lease.spec?.holder_identity?;
    holder.split('_').next().map(str::to_string).filter(|h| !h.is_empty())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_killed_mid_burst_hands_over_to_the_standby_and_nothing_is_lost() {
    let fault = "leader SIGKILL mid-burst (2 replicas)";
    let mut fx = Fixture::new("fault-leader").await;
    let election: Vec<String> = [
        "--enable-leader-election".to_string(),
        format!("--leader-election-namespace={}", fx.ns),
        "--leader-election-lease-duration=6s".to_string(),
        "--leader-election-renew-deadline=4s".to_string(),
        "--leader-election-retry-period=1s".to_string(),
    ]
    .to_vec();
    let a = OperatorProcess::start(&fx, "replica-a", &election, true).await;
    let b = OperatorProcess::start(&fx, "replica-b", &election, true).await;
    fx.wait_converged("first sync").await;
    let holder = lease_holder(&fx).await.expect("a leader");
    let (mut leader, mut standby) = if holder == a.name { (a, b) } else { (b, a) };
    assert!(leader.provider_calls().await > 0, "the leader synced");
    assert_eq!(standby.provider_calls().await, 0, "the standby called the provider: two replicas were active");

    let done = start_burst(&mut fx).await;
    let killed = Instant::now();
    leader.component.kill();
    let took_over = eventually(Duration::from_secs(30), || async {
        lease_holder(&fx).await.as_deref() == Some(standby.name.as_str())
    })
    .await;
    assert!(took_over, "{fault}: the standby did not take the Lease within 30 s:\n{}", standby.log_tail());
    let takeover = killed.elapsed();
    fx.proxy.set(Fault::PassThrough);
    fx.bump_fake().await;
    let recovered_in = fx.wait_converged(fault).await + takeover;
    let converged = Instant::now();

    let note = format!(
        "killed with {done}/{N_AWS} of the burst written; standby led after {:.1} s (lease 6 s)",
        takeover.as_secs_f64()
    );
    let figures = after_kill(&fx, fault, killed, converged, recovered_in, note);
    assert!(standby.provider_calls().await > 0, "the new leader synced");
    assert!(standby.component.exited().is_none(), "the new leader exited:\n{}", standby.log_tail());
    fx.assert_nothing_leaked(&format!("{}{}", leader.log(), standby.log())).await;
    standby.component.stop();
    figures.print();
}
