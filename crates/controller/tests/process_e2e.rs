//! Process-level behaviour against the real local control plane: leader election on a Lease (client-go
//! semantics), the health and metrics endpoints, and the client-side rate limit. The operator runs as its own
//! ServiceAccount with the shipped ClusterRole, so the Lease permissions are tested too.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{
    eventually, free_local_addr, http_get, launch_operator, logs, operator_client, rate_limited_operator_client,
    test_config, wait_ready,
};
use external_secrets_api::{ExternalSecret, SecretStore};
use external_secrets_controller::leader::{LeaderElectionConfig, LeaderElector};
use external_secrets_controller::metrics::LeaseLabels;
use external_secrets_testsupport::{Cluster, cluster};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

const PASSWORD: &str = "metrics-pa55-do-not-log";
const LEASE: &str = "external-secrets-controller";

/// Short timings so that the tests run in seconds: lease 2 s, renew deadline 1.5 s, retry 250 ms.
fn election(namespace: &str, identity: &str) -> LeaderElectionConfig {
    LeaderElectionConfig {
        identity: identity.to_string(),
        lease_duration: Duration::from_secs(2),
        renew_deadline: Duration::from_millis(1500),
        retry_period: Duration::from_millis(250),
        ..LeaderElectionConfig::new(namespace, LEASE)
    }
}

fn fake_store(namespace: &str, class: &str) -> SecretStore {
    serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
        "metadata": {"name": "fake", "namespace": namespace},
        "spec": {"controller": class, "provider": {"fake": {"data": [{"key": "db", "value": PASSWORD}]}}}
    }))
    .expect("SecretStore")
}

fn external_secret(namespace: &str, name: &str) -> ExternalSecret {
    serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"name": "fake", "kind": "SecretStore"},
            "target": {"name": format!("{name}-secret")},
            "data": [{"secretKey": "password", "remoteRef": {"key": "db"}}]
        }
    }))
    .expect("ExternalSecret")
}

/// A store and an ExternalSecret `name` in `ns`, synced.
async fn sync_one(admin: &kube::Client, ns: &str, class: &str, name: &str) {
    let stores: Api<SecretStore> = Api::namespaced(admin.clone(), ns);
    if stores.get_opt("fake").await.expect("get store").is_none() {
        stores.create(&PostParams::default(), &fake_store(ns, class)).await.expect("store");
    }
    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), ns);
    ess.create(&PostParams::default(), &external_secret(ns, name)).await.expect("es");
    wait_ready(&ess, name, "SecretSynced").await;
}

// ---------------------------------------------------------------------------------------------------------
// Leader election, elector level
// ---------------------------------------------------------------------------------------------------------

/// An elector in its own task: acquires, reports it, then holds until told to step down (releasing) or
/// aborted (vanishing without a release).
struct Candidate {
    identity: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

fn candidate(client: kube::Client, config: LeaderElectionConfig, leading: mpsc::UnboundedSender<String>) -> Candidate {
    let identity = config.identity.clone();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let mut elector = LeaderElector::new(client, config).expect("valid settings");
    let task = tokio::spawn(async move {
        elector.acquire(|| {}).await;
        let _ = leading.send(elector.config().identity.clone());
        tokio::select! {
            lost = elector.hold() => panic!("{}: {lost}", elector.config().identity),
            _ = stop_rx => elector.release().await.expect("release"),
        }
    });
    Candidate { identity, stop: Some(stop_tx), task }
}

async fn next_leader(leading: &mut mpsc::UnboundedReceiver<String>, within: Duration) -> Option<String> {
    tokio::time::timeout(within, leading.recv()).await.ok().flatten()
}

/// Two candidates on one Lease in a fresh namespace (the Lease lives there), running as the operator's
/// ServiceAccount. Returns (leader, standby, leading channel).
async fn two_candidates(
    cluster: &Cluster,
    prefix: &str,
) -> (String, Candidate, Candidate, mpsc::UnboundedReceiver<String>) {
    let ns = cluster.namespace(prefix).await.expect("ns");
    let client = operator_client(cluster, &ns).await;
    let (tx, mut leading) = mpsc::unbounded_channel();
    let a = candidate(client.clone(), election(&ns, "candidate-a"), tx.clone());
    let b = candidate(client, election(&ns, "candidate-b"), tx);
    let first = next_leader(&mut leading, Duration::from_secs(10)).await.expect("a leader within 10 s");
    let (leader, standby) = if first == a.identity { (a, b) } else { (b, a) };
    assert_eq!(first, leader.identity);
    (ns, leader, standby, leading)
}

async fn lease_spec(cluster: &Cluster, ns: &str) -> k8s_openapi::api::coordination::v1::LeaseSpec {
    let admin = cluster.admin_client().await.expect("admin");
    Api::<Lease>::namespaced(admin, ns).get(LEASE).await.expect("Lease").spec.expect("Lease spec")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_electors_on_one_lease_elect_exactly_one_leader_with_client_go_lease_fields() {
    let cluster = cluster().await;
    let (ns, leader, standby, mut leading) = two_candidates(cluster, "elect").await;

    // Three lease durations later the standby has still not taken over: the leader renews.
    assert_eq!(next_leader(&mut leading, Duration::from_secs(6)).await, None, "two leaders at once");
    let spec = lease_spec(cluster, &ns).await;
    assert_eq!(spec.holder_identity.as_deref(), Some(leader.identity.as_str()));
    assert_eq!(spec.lease_duration_seconds, Some(2));
    assert_eq!(spec.lease_transitions, Some(0), "created by its first holder");
    let acquired = spec.acquire_time.clone().expect("acquireTime");
    let renewed = spec.renew_time.clone().expect("renewTime");
    assert!(renewed.0 > acquired.0, "renewTime advances while the leader holds the Lease");
    let again = lease_spec(cluster, &ns).await;
    assert_eq!(again.acquire_time, Some(acquired), "renewals keep acquireTime");
    assert!(!standby.task.is_finished(), "the standby keeps trying");
    leader.task.abort();
    standby.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standby_takes_over_at_once_when_the_leader_releases_the_lease() {
    let cluster = cluster().await;
    let (ns, mut leader, standby, mut leading) = two_candidates(cluster, "release").await;
    let before = lease_spec(cluster, &ns).await;

    let released_at = Instant::now();
    leader.stop.take().expect("stop").send(()).expect("leader running");
    let next = next_leader(&mut leading, Duration::from_secs(5)).await;
    assert_eq!(next.as_deref(), Some(standby.identity.as_str()), "the standby leads within 5 s of the release");
    // Well before the 2 s lease would have expired: the release, not the expiry, let it in.
    assert!(released_at.elapsed() < Duration::from_secs(2), "took {:?}", released_at.elapsed());

    let after = lease_spec(cluster, &ns).await;
    assert_eq!(after.holder_identity.as_deref(), Some(standby.identity.as_str()));
    assert_eq!(after.lease_transitions, Some(1));
    assert!(after.acquire_time.expect("acquireTime").0 > before.acquire_time.expect("acquireTime").0);
    leader.task.await.expect("the old leader stepped down cleanly");
    standby.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standby_takes_over_once_the_lease_expires_when_the_leader_vanishes() {
    let cluster = cluster().await;
    let (ns, leader, standby, mut leading) = two_candidates(cluster, "expire").await;

    // The leader disappears without releasing (a crashed pod).
    leader.task.abort();
    let vanished_at = Instant::now();
    let next = next_leader(&mut leading, Duration::from_secs(10)).await;
    assert_eq!(next.as_deref(), Some(standby.identity.as_str()), "the standby leads within 10 s");
    // Not before the lease duration (2 s) minus one retry period (the last renewal may predate the crash).
    assert!(vanished_at.elapsed() >= Duration::from_millis(1700), "took over early: {:?}", vanished_at.elapsed());
    let spec = lease_spec(cluster, &ns).await;
    assert_eq!(spec.holder_identity.as_deref(), Some(standby.identity.as_str()));
    assert_eq!(spec.lease_transitions, Some(1));
    standby.task.abort();
}

// ---------------------------------------------------------------------------------------------------------
// Leader election, operator level
// ---------------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_reconciles_and_a_ready_standby_takes_over_when_it_stops() {
    let cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("ha").await.expect("ns");
    let client = rate_limited_operator_client(cluster, &ns, 50.0, 100).await;
    let class = format!("class-{ns}");
    let with_election = |identity: &str| {
        let mut config = test_config(Some(&ns), &class);
        config.leader_election = Some(election(&ns, identity));
        config
    };
    let a = launch_operator(cluster, client.clone(), with_election("operator-a"), None, true).await;
    let b = launch_operator(cluster, client, with_election("operator-b"), None, true).await;
    // Both are ready: the leader once its caches synced, the standby once it stands by.
    assert!(a.readiness.is_ready() && b.readiness.is_ready());

    sync_one(&admin, &ns, &class, "first").await;
    let holder = lease_spec(cluster, &ns).await.holder_identity.expect("holder");
    let (leader, standby) = if holder == "operator-a" { (a, b) } else { (b, a) };
    let lease = LeaseLabels { name: LEASE.to_string() };
    assert_eq!(leader.metrics.leader.get_or_create(&lease).get(), 1);
    assert_eq!(standby.metrics.leader.get_or_create(&lease).get(), 0);
    assert!(leader.operator.context.stats.es_reconciles.load(Ordering::Relaxed) > 0);
    assert_eq!(standby.operator.context.stats.es_reconciles.load(Ordering::Relaxed), 0, "a standby reconciles");

    // The leader shuts down (releasing the Lease); the standby takes over and syncs what comes next.
    leader.operator.stop().await;
    let standby_leads =
        eventually(Duration::from_secs(10), || async { standby.metrics.leader.get_or_create(&lease).get() == 1 }).await;
    assert!(standby_leads, "the standby did not take over within 10 s");
    sync_one(&admin, &ns, &class, "second").await;
    assert!(standby.operator.context.stats.es_reconciles.load(Ordering::Relaxed) > 0);
    standby.operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_that_loses_its_lease_stops_reconciling_and_run_fails() {
    let cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("lost").await.expect("ns");
    let client = rate_limited_operator_client(cluster, &ns, 50.0, 100).await;
    let class = format!("class-{ns}");
    let mut config = test_config(Some(&ns), &class);
    config.leader_election = Some(election(&ns, "operator-lost"));
    let mut op = launch_operator(cluster, client, config, None, true).await;
    sync_one(&admin, &ns, &class, "app").await;

    // Someone else takes the Lease (as a replica that saw it expire during a network partition would).
    let leases: Api<Lease> = Api::namespaced(admin.clone(), &ns);
    let mut lease = leases.get(LEASE).await.expect("Lease");
    let spec = lease.spec.as_mut().expect("spec");
    spec.holder_identity = Some("usurper".to_string());
    spec.lease_duration_seconds = Some(3600);
    spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
    leases.replace(LEASE, &PostParams::default(), &lease).await.expect("take the Lease");

    // Within the renew deadline (1.5 s) plus a retry, run ends with an error.
    let ended = tokio::time::timeout(Duration::from_secs(10), &mut op.ended).await;
    let error = ended.expect("run ended within 10 s").expect("run reported").expect_err("run failed");
    assert!(error.contains("leader election lost"), "{error}");
    assert!(!op.readiness.is_ready(), "a replica that lost the Lease is not ready");

    // Nothing reconciles any more: a change that would trigger a sync is not acted on.
    let reconciles = op.operator.context.stats.es_reconciles.load(Ordering::Relaxed);
    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &ns);
    let patch = json!({"metadata": {"annotations": {"force-sync": "1"}}});
    ess.patch("app", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("annotate");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(op.operator.context.stats.es_reconciles.load(Ordering::Relaxed), reconciles);
    assert_eq!(lease_spec(cluster, &ns).await.holder_identity.as_deref(), Some("usurper"));
    op.operator.stop().await;
}

// ---------------------------------------------------------------------------------------------------------
// Health and metrics
// ---------------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoint_exposes_esos_series_after_a_sync_without_secret_values() {
    let cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("metrics").await.expect("ns");
    let client = rate_limited_operator_client(cluster, &ns, 50.0, 100).await;
    let class = format!("class-{ns}");
    let addr = free_local_addr();
    let op = launch_operator(cluster, client, test_config(Some(&ns), &class), Some(addr), true).await;

    assert_eq!(http_get(addr, "/healthz").await.0, 200);
    assert_eq!(http_get(addr, "/readyz").await.0, 200);
    sync_one(&admin, &ns, &class, "app").await;
    let secret = Api::<Secret>::namespaced(admin.clone(), &ns).get("app-secret").await.expect("target");
    assert_eq!(secret.data.expect("data")["password"].0, PASSWORD.as_bytes());

    let store_series = format!(
        "secretstore_status_condition{{name=\"fake\",namespace=\"{ns}\",condition=\"Ready\",status=\"True\"}} 1"
    );
    let scraped = eventually(Duration::from_secs(10), || async {
        http_get(addr, "/metrics").await.1.lines().any(|l| l == store_series)
    })
    .await;
    let (status, metrics) = http_get(addr, "/metrics").await;
    assert!(scraped, "missing {store_series:?} in:\n{metrics}");
    assert_eq!(status, 200);

    let sync_calls = format!("externalsecret_sync_calls_total{{name=\"app\",namespace=\"{ns}\"}} ");
    let calls = metrics
        .lines()
        .find_map(|l| l.strip_prefix(&sync_calls))
        .unwrap_or_else(|| panic!("missing {sync_calls:?} in:\n{metrics}"));
    assert!(calls.parse::<f64>().expect("a number") >= 1.0, "{calls}");
    for line in [
        format!(
            "externalsecret_status_condition{{name=\"app\",namespace=\"{ns}\",condition=\"Ready\",status=\"True\"}} 1"
        ),
        format!(
            "externalsecret_status_condition{{name=\"app\",namespace=\"{ns}\",condition=\"Ready\",status=\"False\"}} 0"
        ),
        format!(
            "secretstore_status_condition{{name=\"fake\",namespace=\"{ns}\",condition=\"Ready\",status=\"False\"}} 0"
        ),
    ] {
        assert!(metrics.lines().any(|l| l == line), "missing {line:?} in:\n{metrics}");
    }
    let duration = format!("externalsecret_reconcile_duration{{name=\"app\",namespace=\"{ns}\"}} ");
    assert!(metrics.lines().any(|l| l.starts_with(&duration)), "missing {duration:?} in:\n{metrics}");
    assert!(!metrics.contains(PASSWORD), "a secret value appeared in the metrics");
    assert!(!logs().contains(PASSWORD), "a secret value appeared in the operator logs");
    op.operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_waits_for_synced_caches_while_healthz_answers_at_once() {
    let cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("readyz").await.expect("ns");
    // A ServiceAccount without permissions yet: the watches cannot list, so the caches cannot sync.
    let sa: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": "late-rbac"}})).expect("sa");
    Api::<ServiceAccount>::namespaced(admin.clone(), &ns).create(&PostParams::default(), &sa).await.expect("sa");
    let config = cluster.service_account_config(&ns, "late-rbac").await.expect("config");
    let client = external_secrets_controller::ratelimit::client(config, 50.0, 100).expect("client");
    let addr = free_local_addr();
    let class = format!("class-{ns}");
    let op = launch_operator(cluster, client, test_config(Some(&ns), &class), Some(addr), false).await;

    let healthy = eventually(Duration::from_secs(10), || async {
        tokio::net::TcpStream::connect(addr).await.is_ok() && http_get(addr, "/healthz").await.0 == 200
    })
    .await;
    assert!(healthy, "/healthz should answer 200 as soon as the server is up");
    for _ in 0..10 {
        assert_eq!(http_get(addr, "/readyz").await.0, 503, "ready before the caches synced");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // Grant the shipped ClusterRole (created for the operator's own ServiceAccount) to this one as well.
    let _ = operator_client(cluster, &ns).await;
    let binding: k8s_openapi::api::rbac::v1::ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": format!("late-rbac-{ns}")},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": format!("external-secrets-controller-{ns}")},
        "subjects": [{"kind": "ServiceAccount", "name": "late-rbac", "namespace": ns}]
    }))
    .expect("binding");
    Api::<k8s_openapi::api::rbac::v1::ClusterRoleBinding>::all(admin)
        .create(&PostParams::default(), &binding)
        .await
        .expect("binding");
    let ready = eventually(Duration::from_secs(60), || async { http_get(addr, "/readyz").await.0 == 200 }).await;
    assert!(ready, "/readyz should turn 200 once the watches can sync");
    assert_eq!(http_get(addr, "/healthz").await.0, 200);
    op.operator.stop().await;
}

// ---------------------------------------------------------------------------------------------------------
// Client-side rate limit
// ---------------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_rate_limit_delays_requests_beyond_the_burst_instead_of_failing_them() {
    let cluster = cluster().await;
    let ns = cluster.namespace("qps").await.expect("ns");
    // 5 requests per second, bursts of 2: twelve concurrent requests need at least (12 - 2) / 5 = 2 s.
    let client = rate_limited_operator_client(cluster, &ns, 5.0, 2).await;
    let namespaces: Api<Namespace> = Api::all(client);
    let started = Instant::now();
    let answers = tokio::time::timeout(
        Duration::from_secs(30),
        futures::future::join_all((0..12).map(|_| namespaces.get_metadata(&ns))),
    )
    .await
    .expect("all requests answered within 30 s");
    let elapsed = started.elapsed();
    for answer in answers {
        assert_eq!(answer.expect("a delayed request still succeeds").metadata.name.as_deref(), Some(ns.as_str()));
    }
    assert!(elapsed >= Duration::from_millis(1900), "12 requests at 5 QPS / burst 2 took only {elapsed:?}");
}
