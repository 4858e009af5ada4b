//! The Google Secret Manager (`gcpsm`) provider end to end: the operator (in-process, as its own ServiceAccount
//! with the shipped ClusterRole) against the real local control plane, and a loopback FAKE of Google's APIs
//! (`external_secrets_testsupport::gcp`, written from Google's REST references — not Google's service; Google
//! ships no Secret Manager emulator). Workload identity is real on the Kubernetes side: the operator mints the
//! ServiceAccount token with TokenRequest, and the fake STS verifies its signature with this apiserver's key,
//! its issuer and its audience.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::{Operator, events_text, eventually, logs, registry, start_operator_with, wait_ready, wait_store};
use external_secrets_api::v1alpha1::PushSecret;
use external_secrets_api::{ExternalSecret, SecretStore};
use external_secrets_provider_gcp::{Endpoints, GcpProvider};
use external_secrets_testsupport::{Cluster, FakeGoogle, GCP_PROJECT_ID, VersionState, cluster};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const PASSWORD: &str = "gcp-pa55-do-not-log";
const OLD_PASSWORD: &str = "gcp-old-pa55-do-not-log";
const API_KEY: &str = "gcp-api-key-do-not-log";
const PUSHED: &str = "gcp-pushed-do-not-log";
const ROTATED: &str = "gcp-rotated-do-not-log";
/// Every value a test puts in the fake: none may show up in logs, events or status.
const VALUES: &[&str] = &[PASSWORD, OLD_PASSWORD, API_KEY, PUSHED, ROTATED];
/// A throw-away RSA key, only for these tests.
const TEST_KEY: &str = include_str!("../../providers/gcp/tests/testdata/service-account-key.pem");
const KEY_EMAIL: &str = "esr-reader@esr-test-project.iam.gserviceaccount.com";
const GSA: &str = "esr-wi@esr-test-project.iam.gserviceaccount.com";

fn assert_no_leak(text: &str, what: &str) {
    for value in VALUES {
        assert!(!text.contains(value), "a secret value appeared in the {what}");
    }
    assert!(!text.contains("ya29.fake"), "an access token appeared in the {what}");
    assert!(!text.contains("PRIVATE KEY"), "a private key appeared in the {what}");
}

fn data_of(secret: &Secret) -> BTreeMap<String, String> {
    secret
        .data
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8(v.0).expect("utf-8")))
        .collect()
}

/// One test's world: a namespace, its own fake of Google's APIs, and the operator watching the namespace with
/// a `gcpsm` provider pointed at the fake.
struct World {
    cluster: &'static Cluster,
    google: FakeGoogle,
    admin: kube::Client,
    ns: String,
    op: Operator,
}

impl World {
    async fn start(prefix: &str) -> Self {
        let cluster = cluster().await;
        let admin = cluster.admin_client().await.expect("admin client");
        let ns = cluster.namespace(prefix).await.expect("namespace");
        let google = FakeGoogle::start().expect("fake Google APIs");
        let endpoints = Endpoints {
            secret_manager: google.secret_manager_url(),
            secret_manager_regional: google.secret_manager_regional_url(),
            identity_binding_token: google.identity_binding_token_url(),
            iam_credentials: google.iam_credentials_url(),
            metadata: google.metadata_url(),
        };
        let gcp = Arc::new(GcpProvider::with_endpoints(endpoints, None));
        let op = start_operator_with(cluster, &ns, registry().with(gcp)).await;
        Self { cluster, google, admin, ns, op }
    }

    fn stores(&self) -> Api<SecretStore> {
        Api::namespaced(self.admin.clone(), &self.ns)
    }

    fn external_secrets(&self) -> Api<ExternalSecret> {
        Api::namespaced(self.admin.clone(), &self.ns)
    }

    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.admin.clone(), &self.ns)
    }

    fn push_secrets(&self) -> Api<PushSecret> {
        Api::namespaced(self.admin.clone(), &self.ns)
    }

    /// A Secret `gcp-key` holding a service-account key of `KEY_EMAIL` registered with the fake.
    async fn key_secret(&self, key_id: &str) {
        let key = self.google.add_service_account_key(KEY_EMAIL, key_id, TEST_KEY).expect("register key");
        self.put_secret(&format!("gcp-key-{key_id}"), json!({"sa.json": key})).await;
    }

    async fn put_secret(&self, name: &str, data: Value) {
        let secret: Secret =
            serde_json::from_value(json!({"metadata": {"name": name}, "stringData": data})).expect("Secret");
        self.secrets().create(&PostParams::default(), &secret).await.expect("create Secret");
    }

    /// A SecretStore with `spec.provider.gcpsm = gcpsm` (the project filled in unless given).
    async fn create_store(&self, name: &str, mut gcpsm: Value) {
        if gcpsm.get("projectID").is_none() {
            gcpsm["projectID"] = json!(GCP_PROJECT_ID);
        }
        let store: SecretStore = serde_json::from_value(json!({
            "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
            "metadata": {"name": name},
            "spec": {"controller": self.op.class, "provider": {"gcpsm": gcpsm}}
        }))
        .expect("SecretStore");
        self.stores().create(&PostParams::default(), &store).await.expect("create SecretStore");
    }

    async fn create_es(&self, name: &str, store: &str, spec: Value) {
        let mut spec = spec;
        spec["refreshInterval"] = json!("1s");
        spec["secretStoreRef"] = json!({"name": store, "kind": "SecretStore"});
        spec["target"] = json!({"name": name, "creationPolicy": "Owner"});
        let es: ExternalSecret = serde_json::from_value(json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": name}, "spec": spec,
        }))
        .expect("ExternalSecret");
        self.external_secrets().create(&PostParams::default(), &es).await.expect("create ExternalSecret");
    }

    async fn target(&self, name: &str) -> BTreeMap<String, String> {
        data_of(&self.secrets().get(name).await.expect("target Secret"))
    }

    /// The `Ready` message of an ExternalSecret.
    async fn es_message(&self, name: &str) -> String {
        let es = self.external_secrets().get(name).await.expect("ExternalSecret");
        es.status
            .and_then(|s| s.conditions.into_iter().find(|c| c.type_ == "Ready"))
            .and_then(|c| c.message)
            .unwrap_or_default()
    }

    /// Nothing this test put in the fake, no token and no key is in the operator's log, the events or a status.
    async fn assert_nothing_leaked(&self) {
        assert_no_leak(&logs(), "operator log");
        assert_no_leak(&events_text(&self.admin, &self.ns).await, "events");
        let statuses = serde_json::to_string(&self.external_secrets().list(&Default::default()).await.unwrap().items)
            .unwrap()
            + &serde_json::to_string(&self.stores().list(&Default::default()).await.unwrap().items).unwrap()
            + &serde_json::to_string(&self.push_secrets().list(&Default::default()).await.unwrap().items).unwrap();
        assert_no_leak(&statuses, "status");
    }

    async fn stop(self) {
        self.op.stop().await;
    }
}

fn key_auth(key_id: &str) -> Value {
    json!({"secretRef": {"secretAccessKeySecretRef": {"name": format!("gcp-key-{key_id}"), "key": "sa.json"}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_account_key_reads_versions_properties_and_regional_secrets_with_one_token_exchange() {
    let w = World::start("gcp-key").await;
    w.key_secret("k1").await;
    w.google.put_secret(None, "db", &[], &[]);
    w.google.add_version(None, "db", json!({"user": "admin", "password": OLD_PASSWORD}).to_string().as_bytes());
    w.google.add_version(
        None,
        "db",
        json!({"user": "admin", "password": PASSWORD, "nested": {"k": "v"}}).to_string().as_bytes(),
    );
    w.google.put_secret(Some("europe-west1"), "api", &[], &[]);
    w.google.add_version(Some("europe-west1"), "api", API_KEY.as_bytes());

    // Two stores of the same key (one regional): one identity, so one exchange at the token endpoint.
    w.create_store("global", json!({"auth": key_auth("k1")})).await;
    w.create_store("regional", json!({"auth": key_auth("k1"), "location": "europe-west1"})).await;
    wait_store(&w.stores(), "global", "Valid").await;
    wait_store(&w.stores(), "regional", "Valid").await;

    w.create_es(
        "db",
        "global",
        json!({"data": [
            {"secretKey": "latest", "remoteRef": {"key": "db", "property": "password"}},
            {"secretKey": "v1", "remoteRef": {"key": "db", "version": "1", "property": "password"}},
            {"secretKey": "nested", "remoteRef": {"key": "db", "version": "latest", "property": "nested.k"}},
            {"secretKey": "whole", "remoteRef": {"key": "db", "version": "1"}},
        ]}),
    )
    .await;
    w.create_es("api", "regional", json!({"data": [{"secretKey": "key", "remoteRef": {"key": "api"}}]})).await;
    wait_ready(&w.external_secrets(), "db", "SecretSynced").await;
    wait_ready(&w.external_secrets(), "api", "SecretSynced").await;
    let db = w.target("db").await;
    assert_eq!(db["latest"], PASSWORD);
    assert_eq!(db["v1"], OLD_PASSWORD);
    assert_eq!(db["nested"], "v");
    assert_eq!(serde_json::from_str::<Value>(&db["whole"]).unwrap()["password"], OLD_PASSWORD);
    assert_eq!(w.target("api").await["key"], API_KEY);
    let requests = w.google.requests();
    assert!(
        requests.iter().any(|r| r
            == &format!("GET /rep/europe-west1/v1/projects/{GCP_PROJECT_ID}/locations/europe-west1/secrets/api/versions/latest:access")),
        "the regional secret is read through the regional endpoint: {requests:?}"
    );

    // A missing key is reported on the ExternalSecret; the others keep syncing.
    w.create_es("missing", "global", json!({"data": [{"secretKey": "x", "remoteRef": {"key": "nope"}}]})).await;
    wait_ready(&w.external_secrets(), "missing", "SecretSyncedError").await;

    // Refreshes every second reuse the token: still one exchange for the key.
    let before = w.google.requests().len();
    assert!(eventually(Duration::from_secs(20), || async { w.google.requests().len() > before + 6 }).await);
    let exchanges = w.google.exchanges();
    assert_eq!(exchanges.get(&format!("oauth:key:{KEY_EMAIL}")), Some(&1), "{exchanges:?}");

    // A key Google does not know (its JWT does not verify) fails the store, without quoting the key.
    let unknown =
        serde_json::from_str::<Value>(&w.google.add_service_account_key(KEY_EMAIL, "k2", TEST_KEY).unwrap()).unwrap();
    let mut forged = unknown.clone();
    forged["private_key_id"] = json!("not-registered");
    w.put_secret("gcp-key-forged", json!({"sa.json": forged.to_string()})).await;
    w.create_store("forged", json!({"auth": key_auth("forged")})).await;
    let (status, _, message) = wait_store(&w.stores(), "forged", "InvalidProviderConfig").await;
    assert_eq!(status, "False");
    assert!(message.contains("invalid_grant"), "{message}");
    w.assert_nothing_leaked().await;
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_by_name_and_by_labels_reads_every_page() {
    let w = World::start("gcp-find").await;
    w.key_secret("k1").await;
    for (id, team) in
        [("app-db", "pay"), ("app-cache", "pay"), ("app-queue", "ops"), ("other-db", "pay"), ("app-x", "ops")]
    {
        w.google.put_secret(None, id, &[("team", team)], &[]);
        w.google.add_version(None, id, format!("{PASSWORD}-{id}").as_bytes());
    }
    w.create_store("sm", json!({"auth": key_auth("k1")})).await;
    w.create_es("by-name", "sm", json!({"dataFrom": [{"find": {"name": {"regexp": "^app-"}}}]})).await;
    w.create_es("by-label", "sm", json!({"dataFrom": [{"find": {"tags": {"team": "pay"}}}]})).await;
    w.create_es("by-path", "sm", json!({"dataFrom": [{"find": {"path": "app", "name": {"regexp": "db$"}}}]})).await;
    wait_ready(&w.external_secrets(), "by-name", "SecretSynced").await;
    wait_ready(&w.external_secrets(), "by-label", "SecretSynced").await;
    wait_ready(&w.external_secrets(), "by-path", "SecretSynced").await;
    let by_name: Vec<String> = w.target("by-name").await.into_keys().collect();
    assert_eq!(by_name, ["app-cache", "app-db", "app-queue", "app-x"], "pages of two, all read");
    let by_label = w.target("by-label").await;
    assert_eq!(by_label.keys().collect::<Vec<_>>(), ["app-cache", "app-db", "other-db"]);
    assert_eq!(by_label["other-db"], format!("{PASSWORD}-other-db"));
    assert_eq!(w.target("by-path").await.into_keys().collect::<Vec<_>>(), ["app-db"]);
    let requests = w.google.requests();
    assert!(requests.iter().any(|r| r.contains("/secrets") && !r.contains("versions")), "{requests:?}");
    w.assert_nothing_leaked().await;
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_policy_fetch_and_the_version_selection_policy() {
    let w = World::start("gcp-meta").await;
    w.key_secret("k1").await;
    w.google.put_secret(None, "labelled", &[("team", "pay"), ("env", "prod")], &[("owner", "alice")]);
    w.google.add_version(None, "labelled", PASSWORD.as_bytes());
    w.google.put_secret(None, "rotating", &[], &[]);
    w.google.add_version(None, "rotating", OLD_PASSWORD.as_bytes());
    w.google.add_version(None, "rotating", PASSWORD.as_bytes());
    w.google.set_version_state(None, "rotating", 2, VersionState::Disabled);

    w.create_store("fail", json!({"auth": key_auth("k1")})).await;
    w.create_store("fetch", json!({"auth": key_auth("k1"), "secretVersionSelectionPolicy": "LatestOrFetch"})).await;
    w.create_es(
        "meta",
        "fail",
        json!({"data": [
            {"secretKey": "all", "remoteRef": {"key": "labelled", "metadataPolicy": "Fetch"}},
            {"secretKey": "labels", "remoteRef": {"key": "labelled", "metadataPolicy": "Fetch", "property": "labels"}},
            {"secretKey": "team", "remoteRef": {"key": "labelled", "metadataPolicy": "Fetch", "property": "labels.team"}},
            {"secretKey": "owner", "remoteRef": {"key": "labelled", "metadataPolicy": "Fetch", "property": "annotations.owner"}},
        ]}),
    )
    .await;
    wait_ready(&w.external_secrets(), "meta", "SecretSynced").await;
    let meta = w.target("meta").await;
    assert_eq!(
        serde_json::from_str::<Value>(&meta["all"]).unwrap(),
        json!({"annotations": {"owner": "alice"}, "labels": {"env": "prod", "team": "pay"}})
    );
    assert_eq!(serde_json::from_str::<Value>(&meta["labels"]).unwrap(), json!({"env": "prod", "team": "pay"}));
    assert_eq!((meta["team"].as_str(), meta["owner"].as_str()), ("pay", "alice"));

    // `latest` (version 2) is disabled: LatestOrFail reports it, LatestOrFetch reads version 1.
    w.create_es("strict", "fail", json!({"data": [{"secretKey": "pw", "remoteRef": {"key": "rotating"}}]})).await;
    w.create_es("lenient", "fetch", json!({"data": [{"secretKey": "pw", "remoteRef": {"key": "rotating"}}]})).await;
    wait_ready(&w.external_secrets(), "lenient", "SecretSynced").await;
    assert_eq!(w.target("lenient").await["pw"], OLD_PASSWORD);
    wait_ready(&w.external_secrets(), "strict", "SecretSyncedError").await;
    let message = w.es_message("strict").await;
    assert!(message.contains("DISABLED state"), "{message}");
    // A destroyed version is just as unreadable, and no Secret was created for the failing one.
    w.google.set_version_state(None, "rotating", 1, VersionState::Destroyed);
    assert!(w.secrets().get_opt("strict").await.unwrap().is_none());
    w.assert_nothing_leaked().await;
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workload_identity_exchanges_a_token_request_token_once_for_the_bound_google_account() {
    let w = World::start("gcp-wi").await;
    let sa_key = std::fs::read_to_string(&w.cluster.pki.sa_key).expect("apiserver ServiceAccount key");
    w.google.trust_cluster(&w.cluster.issuer, &sa_key, "europe-west1", "esr-cluster").expect("trust cluster");
    let accounts: Api<ServiceAccount> = Api::namespaced(w.admin.clone(), &w.ns);
    for (name, gsa) in [("bound", Some(GSA)), ("unbound", Some("other@esr-test-project.iam.gserviceaccount.com"))] {
        let mut account = json!({"metadata": {"name": name}});
        if let Some(gsa) = gsa {
            account["metadata"]["annotations"] = json!({"iam.gke.io/gcp-service-account": gsa});
        }
        accounts.create(&PostParams::default(), &serde_json::from_value(account).unwrap()).await.expect("SA");
    }
    w.google.bind(GSA, &w.ns, "bound");
    w.google.put_secret(None, "db", &[], &[]);
    w.google.add_version(None, "db", PASSWORD.as_bytes());

    let workload = |sa: &str| {
        json!({"auth": {"workloadIdentity": {
            "serviceAccountRef": {"name": sa, "audiences": ["extra-audience"]},
            "clusterLocation": "europe-west1", "clusterName": "esr-cluster", "clusterProjectID": GCP_PROJECT_ID,
        }}})
    };
    w.create_store("wi", workload("bound")).await;
    w.create_store("wi-again", workload("bound")).await;
    w.create_store("wi-unbound", workload("unbound")).await;
    wait_store(&w.stores(), "wi", "Valid").await;
    w.create_es("one", "wi", json!({"data": [{"secretKey": "pw", "remoteRef": {"key": "db"}}]})).await;
    w.create_es("two", "wi-again", json!({"data": [{"secretKey": "pw", "remoteRef": {"key": "db"}}]})).await;
    wait_ready(&w.external_secrets(), "one", "SecretSynced").await;
    wait_ready(&w.external_secrets(), "two", "SecretSynced").await;
    assert_eq!(w.target("one").await["pw"], PASSWORD);

    // The unbound account gets a federated token but may not impersonate its Google service account.
    let (_, _, message) = wait_store(&w.stores(), "wi-unbound", "InvalidProviderConfig").await;
    assert!(message.contains("iam.serviceAccounts.getAccessToken"), "{message}");

    // Many refreshes, two stores: one STS exchange and one generateAccessToken for the bound identity.
    let before = w.google.requests().len();
    assert!(eventually(Duration::from_secs(20), || async { w.google.requests().len() > before + 6 }).await);
    let exchanges = w.google.exchanges();
    let subject = format!("system:serviceaccount:{}:bound", w.ns);
    assert_eq!(exchanges.get(&format!("sts:federated:{subject}")), Some(&1), "{exchanges:?}");
    assert_eq!(exchanges.get(&format!("iam:gsa:{GSA}")), Some(&1), "{exchanges:?}");
    w.assert_nothing_leaked().await;
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_credentials_come_from_the_metadata_server_and_revoked_tokens_are_replaced() {
    let w = World::start("gcp-default").await;
    w.google.put_secret(None, "db", &[], &[]);
    w.google.add_version(None, "db", PASSWORD.as_bytes());
    w.create_store("ambient", json!({})).await;
    wait_store(&w.stores(), "ambient", "Valid").await;
    w.create_es("db", "ambient", json!({"data": [{"secretKey": "pw", "remoteRef": {"key": "db"}}]})).await;
    wait_ready(&w.external_secrets(), "db", "SecretSynced").await;
    assert_eq!(w.google.exchanges().get("metadata:metadata"), Some(&1));

    // Google stops accepting the token (401): the cached token is dropped and a new one fetched.
    w.google.revoke_all_tokens();
    w.google.add_version(None, "db", OLD_PASSWORD.as_bytes());
    assert!(
        eventually(Duration::from_secs(30), || async {
            w.secrets().get("db").await.map(|s| data_of(&s)["pw"] == OLD_PASSWORD).unwrap_or(false)
        })
        .await,
        "the ExternalSecret recovers with a new token"
    );
    assert_eq!(w.google.exchanges().get("metadata:metadata"), Some(&2));

    // A principal Secret Manager refuses: a clear error; the synced Secret is kept.
    w.google.deny("metadata");
    w.google.add_version(None, "db", ROTATED.as_bytes());
    wait_ready(&w.external_secrets(), "db", "SecretSyncedError").await;
    assert!(w.es_message("db").await.contains("PERMISSION_DENIED"));
    assert_eq!(w.target("db").await["pw"], OLD_PASSWORD, "a provider error never blanks the Secret");
    w.assert_nothing_leaked().await;
    w.stop().await;
}

fn push_secret(name: &str, store: &str, data: Value) -> Value {
    json!({
        "apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret",
        "metadata": {"name": name},
        "spec": {
            "refreshInterval": "1s",
            "deletionPolicy": "Delete",
            "secretStoreRefs": [{"name": store, "kind": "SecretStore"}],
            "selector": {"secret": {"name": "source"}},
            "data": data,
        }
    })
}

async fn push_condition(w: &World, name: &str) -> Option<(String, String)> {
    let ps = w.push_secrets().get_opt(name).await.ok().flatten()?;
    let c = ps.status?.conditions.into_iter().find(|c| c.type_ == "Ready")?;
    Some((c.reason.unwrap_or_default(), c.message.unwrap_or_default()))
}

/// Waits until the PushSecret's `Ready` reason is `reason`; its message.
async fn push_ready(w: &World, name: &str, reason: &str) -> String {
    let found = eventually(Duration::from_secs(60), || async {
        push_condition(w, name).await.is_some_and(|(r, _)| r == reason)
    })
    .await;
    let last = push_condition(w, name).await;
    assert!(found, "PushSecret {name} never reached {reason}; last: {last:?}");
    last.map(|(_, message)| message).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_secret_creates_labels_versions_replication_and_deletes_only_managed_secrets() {
    let w = World::start("gcp-push").await;
    w.key_secret("k1").await;
    w.create_store("sm", json!({"auth": key_auth("k1")})).await;
    w.create_store("regional", json!({"auth": key_auth("k1"), "location": "us-east1"})).await;
    w.put_secret("source", json!({"password": PUSHED, "user": "admin"})).await;
    // A secret someone else made: never overwritten, never deleted.
    w.google.put_secret(None, "foreign", &[("owner", "them")], &[]);
    w.google.add_version(None, "foreign", b"theirs");

    let metadata = json!({
        "apiVersion": "kubernetes.external-secrets.io/v1alpha1", "kind": "PushSecretMetadata",
        "spec": {"labels": {"team": "pay"}, "annotations": {"note": "pushed"}, "replicationLocations": ["europe-west1", "us-east1"]}
    });
    w.create(push_secret(
        "push",
        "sm",
        json!([
            {"match": {"secretKey": "password", "remoteRef": {"remoteKey": "pushed"}}, "metadata": metadata},
            {"match": {"remoteRef": {"remoteKey": "whole"}}},
            {"match": {"secretKey": "user", "remoteRef": {"remoteKey": "doc", "property": "db.user"}}},
        ]),
    ))
    .await;
    push_ready(&w, "push", "Synced").await;
    let pushed = w.google.secret(None, "pushed").expect("created");
    assert_eq!(pushed.latest_data(), Some(PUSHED.as_bytes()));
    assert_eq!(pushed.labels.get("managed-by").map(String::as_str), Some("external-secrets"));
    assert_eq!(pushed.labels.get("team").map(String::as_str), Some("pay"));
    assert_eq!(pushed.annotations.get("note").map(String::as_str), Some("pushed"));
    assert_eq!(
        pushed.replication,
        json!({"userManaged": {"replicas": [{"location": "europe-west1"}, {"location": "us-east1"}]}})
    );
    let whole = w.google.secret(None, "whole").expect("created");
    assert_eq!(
        serde_json::from_slice::<Value>(whole.latest_data().unwrap()).unwrap(),
        json!({"password": PUSHED, "user": "admin"})
    );
    assert_eq!(whole.replication, json!({"automatic": {}}));
    let doc = w.google.secret(None, "doc").expect("created");
    assert_eq!(serde_json::from_slice::<Value>(doc.latest_data().unwrap()).unwrap(), json!({"db": {"user": "admin"}}));

    // Refreshes of an unchanged source add no version; a change adds exactly one.
    let before = w.google.requests().len();
    assert!(eventually(Duration::from_secs(20), || async { w.google.requests().len() > before + 10 }).await);
    assert_eq!(w.google.secret(None, "pushed").unwrap().versions.len(), 1);
    let patch = json!({"stringData": {"password": ROTATED}});
    w.secrets().patch("source", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("rotate");
    assert!(
        eventually(Duration::from_secs(30), || async {
            w.google.secret(None, "pushed").unwrap().latest_data() == Some(ROTATED.as_bytes())
        })
        .await
    );
    assert_eq!(w.google.secret(None, "pushed").unwrap().versions.len(), 2);

    // Regional: created through the regional endpoint, without a replication policy (Google refuses one).
    w.create(push_secret(
        "push-regional",
        "regional",
        json!([{"match": {"secretKey": "user", "remoteRef": {"remoteKey": "regional"}}}]),
    ))
    .await;
    push_ready(&w, "push-regional", "Synced").await;
    assert_eq!(w.google.secret(Some("us-east1"), "regional").unwrap().latest_data(), Some(&b"admin"[..]));

    // Someone else's secret is refused, and stays as it was.
    w.create(push_secret(
        "push-foreign",
        "sm",
        json!([{"match": {"secretKey": "user", "remoteRef": {"remoteKey": "foreign"}}}]),
    ))
    .await;
    let message = push_ready(&w, "push-foreign", "Errored").await;
    assert!(message.contains("not managed by external secrets"), "{message}");
    assert_eq!(w.google.secret(None, "foreign").unwrap().latest_data(), Some(&b"theirs"[..]));

    // Deleting the PushSecrets deletes what they created, and nothing else.
    for name in ["push", "push-foreign", "push-regional"] {
        w.push_secrets().delete(name, &DeleteParams::default()).await.expect("delete PushSecret");
    }
    assert!(
        eventually(Duration::from_secs(30), || async {
            w.google.secret(None, "pushed").is_none()
                && w.google.secret(None, "whole").is_none()
                && w.google.secret(Some("us-east1"), "regional").is_none()
        })
        .await,
        "the managed secrets are deleted"
    );
    assert!(w.google.secret(None, "foreign").is_some(), "an unmanaged secret is never deleted");
    w.assert_nothing_leaked().await;
    w.stop().await;
}

impl World {
    async fn create(&self, body: Value) {
        let ps: PushSecret = serde_json::from_value(body).expect("PushSecret");
        self.push_secrets().create(&PostParams::default(), &ps).await.expect("create PushSecret");
    }
}

/// `examples/gcp-secret-manager/<file>` for this test: its namespace, project and store class.
fn example(w: &World, file: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/gcp-secret-manager").join(file);
    let text = std::fs::read_to_string(path)
        .expect("example file")
        .replace("namespace: apps", &format!("namespace: {}", w.ns))
        .replace("my-project", GCP_PROJECT_ID);
    let mut value: Value = serde_yaml::from_str(&text).expect("example YAML");
    if value["kind"] == "SecretStore" {
        value["spec"]["controller"] = json!(w.op.class);
    }
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_manifests_sync_with_workload_identity() {
    let w = World::start("gcp-example").await;
    let sa_key = std::fs::read_to_string(&w.cluster.pki.sa_key).expect("apiserver ServiceAccount key");
    w.google.trust_cluster(&w.cluster.issuer, &sa_key, "europe-west1", "prod").expect("trust cluster");
    let gsa = format!("app-secrets@{GCP_PROJECT_ID}.iam.gserviceaccount.com");
    w.google.bind(&gsa, &w.ns, "app-secrets");
    w.google.put_secret(None, "app-db", &[], &[]);
    w.google.add_version(None, "app-db", json!({"password": OLD_PASSWORD}).to_string().as_bytes());
    w.google.add_version(None, "app-db", json!({"password": PASSWORD}).to_string().as_bytes());
    w.google.put_secret(None, "billing-api", &[("team", "payments")], &[]);
    w.google.add_version(None, "billing-api", API_KEY.as_bytes());

    let accounts: Api<ServiceAccount> = Api::namespaced(w.admin.clone(), &w.ns);
    let account = serde_json::from_value(example(&w, "serviceaccount.yaml")).unwrap();
    accounts.create(&PostParams::default(), &account).await.expect("ServiceAccount");
    let store = serde_json::from_value(example(&w, "secretstore.yaml")).unwrap();
    w.stores().create(&PostParams::default(), &store).await.expect("SecretStore");
    let es = serde_json::from_value(example(&w, "externalsecret.yaml")).unwrap();
    w.external_secrets().create(&PostParams::default(), &es).await.expect("ExternalSecret");
    wait_store(&w.stores(), "gcp-secret-manager", "Valid").await;
    wait_ready(&w.external_secrets(), "app-db", "SecretSynced").await;
    let app_db = w.target("app-db").await;
    assert_eq!(app_db["db-password"], PASSWORD);
    assert_eq!(app_db["db-password-previous"], OLD_PASSWORD);
    assert_eq!(app_db["billing-api"], API_KEY);

    w.put_secret("app-token", json!({"token": PUSHED})).await;
    w.create(example(&w, "pushsecret.yaml")).await;
    push_ready(&w, "app-token", "Synced").await;
    let pushed = w.google.secret(None, "app-token").expect("pushed");
    assert_eq!(pushed.latest_data(), Some(PUSHED.as_bytes()));
    assert_eq!(pushed.labels.get("team").map(String::as_str), Some("payments"));
    assert_eq!(
        pushed.replication,
        json!({"userManaged": {"replicas": [{"location": "europe-west1"}, {"location": "europe-west4"}]}})
    );

    // The key-based store of the example is valid syntax for the API server too.
    let key_store: SecretStore = serde_json::from_value(example(&w, "secretstore-key.yaml")).unwrap();
    w.stores().create(&PostParams::default(), &key_store).await.expect("key SecretStore");
    wait_store(&w.stores(), "gcp-secret-manager-key", "InvalidProviderConfig").await;
    w.assert_nothing_leaked().await;
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_renewed_when_they_near_expiry_not_per_reconcile() {
    let w = World::start("gcp-renew").await;
    w.key_secret("k1").await;
    w.google.set_token_lifetime(Duration::from_secs(10));
    w.google.put_secret(None, "db", &[], &[]);
    w.google.add_version(None, "db", PASSWORD.as_bytes());
    w.create_store("sm", json!({"auth": key_auth("k1")})).await;
    w.create_es("db", "sm", json!({"data": [{"secretKey": "pw", "remoteRef": {"key": "db"}}]})).await;
    wait_ready(&w.external_secrets(), "db", "SecretSynced").await;
    let exchanges = || w.google.exchanges().get(&format!("oauth:key:{KEY_EMAIL}")).copied().unwrap_or(0);
    let accesses = || w.google.requests().iter().filter(|r| r.ends_with("/secrets/db/versions/latest:access")).count();
    // A 10 s token is renewed (a tenth of its lifetime early), while the 1 s refreshes keep reading with it.
    assert!(eventually(Duration::from_secs(60), || async { exchanges() >= 3 }).await, "tokens are renewed");
    let (tokens, reads) = (exchanges(), accesses());
    assert!(reads >= 2 * tokens as usize, "{reads} reads with {tokens} tokens: a token serves many reconciles");
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_store_reads_the_key_in_each_external_secrets_namespace() {
    let w = World::start("gcp-cluster").await;
    w.key_secret("k1").await;
    w.google.put_secret(None, "db", &[], &[]);
    w.google.add_version(None, "db", PASSWORD.as_bytes());
    let stores: Api<external_secrets_api::ClusterSecretStore> = Api::all(w.admin.clone());
    let name = format!("{}-gcp", w.ns);
    let store = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore",
        "metadata": {"name": name},
        "spec": {"controller": w.op.class, "provider": {"gcpsm": {"projectID": GCP_PROJECT_ID, "auth": key_auth("k1")}}}
    }))
    .unwrap();
    stores.create(&PostParams::default(), &store).await.expect("ClusterSecretStore");
    // The key reference has no namespace: the store cannot be validated on its own (ESO's `ValidationUnknown`).
    let unknown = eventually(Duration::from_secs(30), || async {
        stores
            .get(&name)
            .await
            .ok()
            .and_then(|s| s.status)
            .and_then(|s| s.condition("Ready").cloned())
            .is_some_and(|c| c.reason.as_deref() == Some("ValidationUnknown"))
    })
    .await;
    assert!(unknown, "the referent ClusterSecretStore is ValidationUnknown");
    let es: ExternalSecret = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": "db"},
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"name": name, "kind": "ClusterSecretStore"},
            "target": {"name": "db"},
            "data": [{"secretKey": "pw", "remoteRef": {"key": "db"}}],
        }
    }))
    .unwrap();
    w.external_secrets().create(&PostParams::default(), &es).await.expect("ExternalSecret");
    wait_ready(&w.external_secrets(), "db", "SecretSynced").await;
    assert_eq!(w.target("db").await["pw"], PASSWORD);
    stores.delete(&name, &DeleteParams::default()).await.expect("delete ClusterSecretStore");
    w.stop().await;
}
