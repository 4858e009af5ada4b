//! The PushSecret controller end to end: the operator (in-process, as its own ServiceAccount with the shipped
//! ClusterRole) against the real local control plane, pushing to the fake provider (read back through the
//! provider and by an ExternalSecret) and to a local AWS Secrets Manager endpoint (moto).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_secretsmanager::types::Tag;
use common::{
    Operator, aws_admin_sdk_config, event_count, events_text, eventually, logs, start_operator_with, wait_ready,
};
use external_secrets_api::v1alpha1::PushSecret;
use external_secrets_api::{ExternalSecret, SecretStore, SecretStoreSpec};
use external_secrets_provider::{DynProvider, ProviderRegistry, RemoteKey, StoreContext, StoreScope};
use external_secrets_provider_aws::{AwsProvider, Endpoints};
use external_secrets_provider_fake::FakeProvider;
use external_secrets_testsupport::{AwsEndpoint, AwsOptions, Cluster, cluster};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const PASSWORD: &str = "push-pa55-do-not-log";
const ROTATED: &str = "push-rotated-pa55-do-not-log";
const USERNAME: &str = "push-admin-do-not-log";
/// Every value a test pushes: none may show up in logs, events or status.
const VALUES: &[&str] = &[PASSWORD, ROTATED, USERNAME];

fn assert_no_leak(text: &str, what: &str) {
    for value in VALUES {
        assert!(!text.contains(value), "a secret value appeared in the {what}");
    }
}

/// One test's world: a namespace and the operator watching it, with a fake provider the test can read too.
struct World {
    admin: kube::Client,
    ns: String,
    fake: Arc<FakeProvider>,
    op: Operator,
}

impl World {
    async fn start(prefix: &str, extra: impl FnOnce(ProviderRegistry) -> ProviderRegistry) -> Self {
        let cluster: &'static Cluster = cluster().await;
        let admin = cluster.admin_client().await.expect("admin client");
        let ns = cluster.namespace(prefix).await.expect("namespace");
        let fake = Arc::new(FakeProvider::new());
        let registry = extra(ProviderRegistry::new().with(fake.clone()));
        let op = start_operator_with(cluster, &ns, registry).await;
        Self { admin, ns, fake, op }
    }

    fn push_secrets(&self) -> Api<PushSecret> {
        Api::namespaced(self.admin.clone(), &self.ns)
    }

    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.admin.clone(), &self.ns)
    }

    async fn fake_store(&self, name: &str, data: Value) {
        let store: SecretStore = serde_json::from_value(json!({
            "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
            "metadata": {"name": name},
            "spec": {"controller": self.op.class, "provider": {"fake": {"data": data}}}
        }))
        .expect("SecretStore");
        Api::<SecretStore>::namespaced(self.admin.clone(), &self.ns)
            .create(&PostParams::default(), &store)
            .await
            .expect("create store");
    }

    /// What the fake store `store` (whose spec data is `data`) answers for `key`, as any client of it would.
    async fn fake_value(&self, store: &str, data: Value, key: &str) -> Option<String> {
        let spec: SecretStoreSpec =
            serde_json::from_value(json!({"provider": {"fake": {"data": data}}})).expect("store spec");
        let ctx = StoreContext::new(self.admin.clone(), StoreScope::secret_store(&self.ns, store), spec);
        let client = DynProvider::client(self.fake.as_ref(), &ctx).await.map_err(|e| e.to_string()).expect("client");
        let key = RemoteKey { key: key.to_string(), version: None, metadata_policy: Default::default() };
        client.get(&key).await.ok().map(|v| String::from_utf8_lossy(v.bytes.expose()).into_owned())
    }

    async fn source(&self, name: &str, pairs: &[(&str, &str)]) {
        let secret = Secret {
            metadata: kube::api::ObjectMeta { name: Some(name.to_string()), ..Default::default() },
            data: Some(pairs.iter().map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec()))).collect()),
            ..Default::default()
        };
        self.secrets().create(&PostParams::default(), &secret).await.expect("source Secret");
    }

    async fn set_source(&self, name: &str, key: &str, value: &str) {
        let patch = json!({"data": {key: base64_of(value)}});
        self.secrets().patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("patch source");
    }

    async fn create(&self, body: Value) {
        let ps: PushSecret = serde_json::from_value(body).expect("PushSecret");
        self.push_secrets().create(&PostParams::default(), &ps).await.expect("create PushSecret");
    }

    async fn patch_spec(&self, name: &str, spec: Value) {
        let patch = json!({"spec": spec});
        self.push_secrets().patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("patch spec");
    }

    /// The `Ready` condition's (status, reason, message).
    async fn ready(&self, name: &str) -> Option<(String, String, String)> {
        let ps = self.push_secrets().get_opt(name).await.ok().flatten()?;
        let c = ps.status?.conditions.into_iter().find(|c| c.type_ == "Ready")?;
        Some((c.status, c.reason.unwrap_or_default(), c.message.unwrap_or_default()))
    }

    async fn wait_ready(&self, name: &str, reason: &str) -> (String, String, String) {
        let found =
            eventually(Duration::from_secs(60), || async { self.ready(name).await.is_some_and(|r| r.1 == reason) })
                .await;
        let last = self.ready(name).await;
        assert!(found, "PushSecret {name} never reached {reason}; last: {last:?}");
        last.unwrap()
    }

    /// The keys of `status.syncedPushSecrets` as `store:entry` strings.
    async fn synced(&self, name: &str) -> Vec<String> {
        let ps = self.push_secrets().get(name).await.expect("PushSecret");
        ps.status
            .unwrap_or_default()
            .synced_push_secrets
            .iter()
            .flat_map(|(store, entries)| entries.keys().map(move |k| format!("{store}:{k}")))
            .collect()
    }

    /// The PushSecret's status and this namespace's events and the operator's logs hold no pushed value.
    async fn assert_nothing_leaked(&self) {
        for ps in self.push_secrets().list(&Default::default()).await.expect("list").items {
            assert_no_leak(&serde_json::to_string(&ps.status).unwrap(), "PushSecret status");
        }
        assert_no_leak(&events_text(&self.admin, &self.ns).await, "events");
        assert_no_leak(&logs(), "logs");
    }
}

fn base64_of(value: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(value)
}

fn push_secret(name: &str, store: &str, deletion: &str, update: &str, data: Value) -> Value {
    json!({
        "apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret",
        "metadata": {"name": name},
        "spec": {
            "refreshInterval": "1h",
            "deletionPolicy": deletion,
            "updatePolicy": update,
            "secretStoreRefs": [{"name": store, "kind": "SecretStore"}],
            "selector": {"secret": {"name": "db-creds"}},
            "data": data,
        }
    })
}

fn entry(secret_key: &str, remote_key: &str) -> Value {
    json!({"match": {"secretKey": secret_key, "remoteRef": {"remoteKey": remote_key}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_to_the_fake_store_follow_the_source_and_delete_what_is_dropped() {
    let w = World::start("push-fake", |r| r).await;
    let spec_data = json!([{"key": "from-spec", "value": "spec-value"}]);
    w.fake_store("fake", spec_data.clone()).await;
    w.source("db-creds", &[("password", PASSWORD), ("username", USERNAME)]).await;
    w.create(push_secret("db", "fake", "Delete", "Replace", json!([entry("password", "pushed/db")]))).await;

    let (status, _, message) = w.wait_ready("db", "Synced").await;
    assert_eq!((status.as_str(), message.as_str()), ("True", "PushSecret synced successfully"));
    assert_eq!(w.fake_value("fake", spec_data.clone(), "pushed/db").await.as_deref(), Some(PASSWORD));
    assert_eq!(w.synced("db").await, ["SecretStore/fake:pushed/db"]);
    let ps = w.push_secrets().get("db").await.unwrap();
    assert!(ps.finalizers().iter().any(|f| f == "pushsecret.externalsecrets.io/finalizer"), "ESO's finalizer");
    let status = ps.status.unwrap();
    assert!(status.refresh_time.is_some());
    assert!(status.synced_resource_version.as_deref().is_some_and(|v| v.starts_with("1-")));
    // ESO's metrics, and controller-runtime's series of this controller.
    let text = w.op.context.metrics.encode();
    let series = format!(
        "pushsecret_status_condition{{name=\"db\",namespace=\"{}\",condition=\"Ready\",status=\"True\"}} 1",
        w.ns
    );
    assert!(text.contains(&series), "{series} in\n{text}");
    assert!(text.contains(&format!("pushsecret_reconcile_duration{{name=\"db\",namespace=\"{}\"}}", w.ns)));
    assert!(text.contains("controller_runtime_reconcile_total{controller=\"pushsecret\""), "{text}");

    // An ExternalSecret on the same store reads what was pushed.
    let es: ExternalSecret = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": "reader"},
        "spec": {
            "refreshInterval": "1s",
            "secretStoreRef": {"name": "fake", "kind": "SecretStore"},
            "target": {"name": "read-back"},
            "data": [{"secretKey": "pw", "remoteRef": {"key": "pushed/db"}}]
        }
    }))
    .unwrap();
    let ess: Api<ExternalSecret> = Api::namespaced(w.admin.clone(), &w.ns);
    ess.create(&PostParams::default(), &es).await.expect("ExternalSecret");
    wait_ready(&ess, "reader", "SecretSynced").await;
    let read_back = w.secrets().get("read-back").await.unwrap();
    assert_eq!(read_back.data.unwrap()["pw"].0, PASSWORD.as_bytes());

    // A change of the source is pushed at once, not after the hour of refreshInterval.
    w.set_source("db-creds", "password", ROTATED).await;
    assert!(
        eventually(Duration::from_secs(30), || async {
            w.fake_value("fake", spec_data.clone(), "pushed/db").await.as_deref() == Some(ROTATED)
        })
        .await,
        "the rotated source was not pushed"
    );

    // An entry dropped from the spec is deleted from the store; the new one is pushed.
    w.patch_spec("db", json!({"data": [entry("username", "pushed/user")]})).await;
    assert!(
        eventually(Duration::from_secs(30), || async {
            w.fake_value("fake", spec_data.clone(), "pushed/db").await.is_none()
                && w.fake_value("fake", spec_data.clone(), "pushed/user").await.as_deref() == Some(USERNAME)
        })
        .await,
        "the dropped entry was not deleted or the new one not pushed"
    );
    assert!(
        eventually(Duration::from_secs(10), || async { w.synced("db").await == ["SecretStore/fake:pushed/user"] })
            .await
    );

    // Deleting the PushSecret deletes what it pushed, then lets it go.
    w.push_secrets().delete("db", &DeleteParams::default()).await.expect("delete");
    assert!(
        eventually(Duration::from_secs(30), || async { w.push_secrets().get_opt("db").await.unwrap().is_none() }).await,
        "the PushSecret was not released"
    );
    assert_eq!(w.fake_value("fake", spec_data.clone(), "pushed/user").await, None);
    assert_eq!(w.fake_value("fake", spec_data, "from-spec").await.as_deref(), Some("spec-value"));
    let events = events_text(&w.admin, &w.ns).await;
    assert!(events.contains("Synced"), "{events}");
    w.assert_nothing_leaked().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_policy_none_keeps_pushed_values_and_if_not_exists_leaves_existing_ones() {
    let w = World::start("push-none", |r| r).await;
    let spec_data = json!([{"key": "from-spec", "value": "spec-value"}]);
    w.fake_store("fake", spec_data.clone()).await;
    w.source("db-creds", &[("password", PASSWORD), ("username", USERNAME)]).await;
    let data = json!([entry("password", "kept"), entry("username", "from-spec")]);
    w.create(push_secret("keep", "fake", "None", "IfNotExists", data)).await;

    let (status, _, message) = w.wait_ready("keep", "Synced").await;
    assert_eq!(
        (status.as_str(), message.as_str()),
        ("True", "PushSecret synced successfully. Existing secrets in providers unchanged.")
    );
    assert_eq!(w.fake_value("fake", spec_data.clone(), "kept").await.as_deref(), Some(PASSWORD));
    assert_eq!(w.fake_value("fake", spec_data.clone(), "from-spec").await.as_deref(), Some("spec-value"));
    // As ESO: the entry left alone is listed too.
    assert_eq!(w.synced("keep").await, ["SecretStore/fake:from-spec", "SecretStore/fake:kept"]);
    let ps = w.push_secrets().get("keep").await.unwrap();
    assert!(ps.finalizers().is_empty(), "no finalizer without deletionPolicy Delete");

    // IfNotExists: a source change is synced again (a second Synced event) but does not overwrite what exists.
    w.set_source("db-creds", "password", ROTATED).await;
    assert!(
        eventually(Duration::from_secs(30), || async { event_count(&w.admin, &w.ns, "Synced").await >= 2 }).await,
        "the source change was not synced"
    );
    assert_eq!(w.fake_value("fake", spec_data.clone(), "kept").await.as_deref(), Some(PASSWORD), "IfNotExists");
    w.push_secrets().delete("keep", &DeleteParams::default()).await.expect("delete");
    assert!(
        eventually(Duration::from_secs(30), || async { w.push_secrets().get_opt("keep").await.unwrap().is_none() })
            .await
    );
    assert_eq!(w.fake_value("fake", spec_data, "kept").await.as_deref(), Some(PASSWORD), "None keeps it");
    w.assert_nothing_leaked().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_push_deletes_nothing_and_is_reported() {
    let w = World::start("push-fail", |r| r).await;
    let spec_data = json!([{"key": "from-spec", "value": "spec-value"}]);
    w.fake_store("fake", spec_data.clone()).await;
    w.source("db-creds", &[("password", PASSWORD)]).await;
    w.create(push_secret("db", "fake", "Delete", "Replace", json!([entry("password", "first")]))).await;
    w.wait_ready("db", "Synced").await;

    // A key the source does not have: a clear condition, nothing deleted.
    w.patch_spec("db", json!({"data": [entry("nope", "second")]})).await;
    let (status, _, message) = w.wait_ready("db", "Errored").await;
    assert_eq!((status.as_str(), message.as_str()), ("False", "secret key nope does not exist"));
    let series = format!(
        "pushsecret_status_condition{{name=\"db\",namespace=\"{}\",condition=\"Ready\",status=\"False\"}} 1",
        w.ns
    );
    assert!(w.op.context.metrics.encode().contains(&series), "{series}");
    assert_eq!(w.fake_value("fake", spec_data.clone(), "first").await.as_deref(), Some(PASSWORD));
    assert_eq!(w.synced("db").await, ["SecretStore/fake:first"], "what was pushed stays listed");

    // The store refuses the write (a key its spec defines): the entry dropped meanwhile is not deleted either.
    w.patch_spec("db", json!({"data": [entry("password", "from-spec")]})).await;
    let found = eventually(Duration::from_secs(60), || async {
        w.ready("db").await.is_some_and(|r| r.1 == "Errored" && r.2.contains("already exists"))
    })
    .await;
    assert!(found, "last: {:?}", w.ready("db").await);
    let (_, _, message) = w.ready("db").await.unwrap();
    assert!(message.starts_with("set secret failed: could not write remote ref password to target secretstore fake"));
    assert_eq!(w.fake_value("fake", spec_data.clone(), "first").await.as_deref(), Some(PASSWORD));
    assert_eq!(w.fake_value("fake", spec_data.clone(), "from-spec").await.as_deref(), Some("spec-value"));
    let events = events_text(&w.admin, &w.ns).await;
    assert!(events.contains("Errored"), "{events}");

    // The source Secret deleted under deletionPolicy Delete: what was pushed goes, reason SourceDeleted.
    w.patch_spec("db", json!({"data": [entry("password", "first")]})).await;
    w.wait_ready("db", "Synced").await;
    w.secrets().delete("db-creds", &DeleteParams::default()).await.expect("delete source");
    let (status, _, message) = w.wait_ready("db", "SourceDeleted").await;
    assert_eq!((status.as_str(), message.as_str()), ("False", "source secret deleted; provider secrets cleaned up"));
    assert_eq!(w.fake_value("fake", spec_data, "first").await, None);
    assert!(w.synced("db").await.is_empty());
    w.assert_nothing_leaked().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_renders_what_is_pushed_and_follows_the_source() {
    let w = World::start("push-tpl", |r| r).await;
    let spec_data = json!([{"key": "from-spec", "value": "spec-value"}]);
    w.fake_store("fake", spec_data.clone()).await;
    w.source("db-creds", &[("password", PASSWORD), ("username", USERNAME)]).await;
    let mut ps = push_secret(
        "tpl",
        "fake",
        "Delete",
        "Replace",
        json!([entry("dsn", "pushed/dsn"), entry("password", "pushed/pw")]),
    );
    ps["spec"]["template"] = json!({"data": {"dsn": "postgres://{{ .username }}:{{ .password }}@db.internal/app"}});
    w.create(ps).await;
    w.wait_ready("tpl", "Synced").await;
    let dsn = |pw: &str| format!("postgres://{USERNAME}:{pw}@db.internal/app");
    assert_eq!(w.fake_value("fake", spec_data.clone(), "pushed/dsn").await, Some(dsn(PASSWORD)));
    assert_eq!(
        w.fake_value("fake", spec_data.clone(), "pushed/pw").await.as_deref(),
        Some(PASSWORD),
        "source keys kept"
    );
    w.set_source("db-creds", "password", ROTATED).await;
    assert!(
        eventually(Duration::from_secs(30), || async {
            w.fake_value("fake", spec_data.clone(), "pushed/dsn").await == Some(dsn(ROTATED))
        })
        .await,
        "the template was not rendered again from the rotated source"
    );
    // A template that does not parse: a clear condition naming the field, nothing deleted.
    w.patch_spec("tpl", json!({"template": {"data": {"dsn": "{{ .username "}}})).await;
    let (status, _, message) = w.wait_ready("tpl", "Errored").await;
    assert_eq!(status, "False");
    assert!(message.starts_with("could not execute template: spec.template.data[dsn]"), "{message}");
    assert_eq!(w.fake_value("fake", spec_data, "pushed/dsn").await, Some(dsn(ROTATED)));
    w.assert_nothing_leaked().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_stays_until_the_push_secrets_that_pushed_to_it_have_cleaned_up() {
    let w = World::start("push-store-fin", |r| r).await;
    let spec_data = json!([{"key": "from-spec", "value": "spec-value"}]);
    w.fake_store("fake", spec_data.clone()).await;
    w.source("db-creds", &[("password", PASSWORD)]).await;
    w.create(push_secret("db", "fake", "Delete", "Replace", json!([entry("password", "pushed/db")]))).await;
    w.wait_ready("db", "Synced").await;
    let stores = Api::<SecretStore>::namespaced(w.admin.clone(), &w.ns);
    let has_finalizer =
        |s: &SecretStore| s.finalizers().iter().any(|f| f == "secretstore.externalsecrets.io/finalizer");
    assert!(
        has_finalizer(&stores.get("fake").await.unwrap()),
        "ESO's store finalizer while a Delete PushSecret uses it"
    );

    // The store is deleted first: it waits for the PushSecret, whose own deletion still cleans up through it.
    stores.delete("fake", &DeleteParams::default()).await.expect("delete store");
    let waiting = stores.get_opt("fake").await.unwrap().expect("the store waits for the PushSecret");
    assert!(waiting.metadata.deletion_timestamp.is_some());
    w.push_secrets().delete("db", &DeleteParams::default()).await.expect("delete PushSecret");
    assert!(
        eventually(Duration::from_secs(60), || async {
            w.push_secrets().get_opt("db").await.unwrap().is_none() && stores.get_opt("fake").await.unwrap().is_none()
        })
        .await,
        "the PushSecret cleaned up and the store went"
    );
    // Had the store gone first, the PushSecret could not have deleted this (and would still be there).
    assert_eq!(w.fake_value("fake", spec_data, "pushed/db").await, None, "deleted through the store before it went");

    // A store ESO left its finalizer on, with no PushSecret needing it, is released when deleted (migration).
    w.fake_store("migrated", json!([])).await;
    let patch = json!({"metadata": {"finalizers": ["secretstore.externalsecrets.io/finalizer"]}});
    stores.patch("migrated", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("finalizer");
    stores.delete("migrated", &DeleteParams::default()).await.expect("delete");
    assert!(
        eventually(Duration::from_secs(30), || async { stores.get_opt("migrated").await.unwrap().is_none() }).await,
        "ESO's finalizer was not removed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_selected_by_label_are_pushed_and_none_matching_deletes_nothing() {
    let w = World::start("push-label", |r| r).await;
    let spec_data = json!([{"key": "from-spec", "value": "spec-value"}]);
    w.fake_store("fake", spec_data.clone()).await;
    w.source("db-creds", &[("password", PASSWORD)]).await;
    let labelled = json!({"metadata": {"labels": {"push": "yes"}}});
    w.secrets().patch("db-creds", &PatchParams::default(), &Patch::Merge(&labelled)).await.expect("label");
    let mut ps = push_secret("by-label", "fake", "Delete", "Replace", json!([entry("password", "pushed/label")]));
    ps["spec"]["selector"] = json!({"secret": {"selector": {"matchLabels": {"push": "yes"}}}});
    w.create(ps).await;
    w.wait_ready("by-label", "Synced").await;
    assert_eq!(w.fake_value("fake", spec_data.clone(), "pushed/label").await.as_deref(), Some(PASSWORD));

    // The Secret stops matching: it is seen at once, nothing is pushed, and nothing pushed before is deleted.
    let before = event_count(&w.admin, &w.ns, "Synced").await;
    let unlabelled = json!({"metadata": {"labels": {"push": null}}});
    w.secrets().patch("db-creds", &PatchParams::default(), &Patch::Merge(&unlabelled)).await.expect("unlabel");
    assert!(
        eventually(Duration::from_secs(30), || async { event_count(&w.admin, &w.ns, "Synced").await > before }).await,
        "the selector change was not seen"
    );
    assert_eq!(w.fake_value("fake", spec_data, "pushed/label").await.as_deref(), Some(PASSWORD));
    assert_eq!(w.synced("by-label").await, ["SecretStore/fake:pushed/label"]);
    w.assert_nothing_leaked().await;
}

// ---- AWS Secrets Manager (moto) ----

const REGION: &str = "eu-west-1";

/// A local AWS endpoint and an SDK client of its administrator (who creates secrets the operator must respect).
struct Aws {
    endpoint: AwsEndpoint,
}

impl Aws {
    async fn start() -> Self {
        let endpoint = tokio::task::spawn_blocking(|| AwsEndpoint::start(AwsOptions::default()))
            .await
            .expect("endpoint thread")
            .expect("local AWS endpoint");
        Self { endpoint }
    }

    fn provider(&self) -> Arc<AwsProvider> {
        Arc::new(AwsProvider::with_endpoints(Endpoints::all(&self.endpoint.url)))
    }

    fn sm(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&aws_admin_sdk_config(&self.endpoint, REGION))
    }

    fn ssm(&self) -> aws_sdk_ssm::Client {
        aws_sdk_ssm::Client::new(&aws_admin_sdk_config(&self.endpoint, REGION))
    }

    /// The parameter's value, `None` when it does not exist.
    async fn parameter(&self, name: &str) -> Option<String> {
        let out = self.ssm().get_parameter().name(name).with_decryption(true).send().await.ok()?;
        out.parameter().and_then(|p| p.value()).map(str::to_string)
    }

    async fn parameter_tags(&self, name: &str) -> Vec<(String, String)> {
        let out = self
            .ssm()
            .list_tags_for_resource()
            .resource_type(aws_sdk_ssm::types::ResourceTypeForTagging::Parameter)
            .resource_id(name)
            .send()
            .await
            .expect("tags");
        out.tag_list().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()
    }

    /// The secret's value (`SecretString`, else `SecretBinary`), `None` when it does not exist.
    async fn value(&self, name: &str) -> Option<String> {
        let out = self.sm().get_secret_value().secret_id(name).send().await.ok()?;
        let bytes = match (out.secret_string(), out.secret_binary()) {
            (Some(s), _) => s.as_bytes().to_vec(),
            (None, Some(b)) => b.as_ref().to_vec(),
            _ => Vec::new(),
        };
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn create(&self, name: &str, value: &str, managed: bool) {
        let mut request = self.sm().create_secret().name(name).secret_string(value);
        if managed {
            request = request.tags(Tag::builder().key("managed-by").value("external-secrets").build());
        }
        request.send().await.expect("create secret");
    }
}

impl World {
    /// A Secrets Manager store with static credentials (from a Secret) that deletes without recovery window.
    async fn aws_store(&self, name: &str, credentials_secret: &str) {
        self.aws_store_of(name, "SecretsManager", credentials_secret).await;
    }

    async fn aws_store_of(&self, name: &str, service: &str, credentials_secret: &str) {
        let store: SecretStore = serde_json::from_value(json!({
            "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
            "metadata": {"name": name},
            "spec": {"controller": self.op.class, "provider": {"aws": {
                "service": service, "region": REGION,
                "secretsManager": {"forceDeleteWithoutRecovery": true},
                "auth": {"secretRef": {
                    "accessKeyIDSecretRef": {"name": credentials_secret, "key": "id"},
                    "secretAccessKeySecretRef": {"name": credentials_secret, "key": "secret"}
                }}
            }}}
        }))
        .expect("SecretStore");
        let stores = Api::<SecretStore>::namespaced(self.admin.clone(), &self.ns);
        if stores.get_opt(name).await.unwrap().is_some() {
            let patch = json!({"spec": store.spec});
            stores.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("patch store");
        } else {
            stores.create(&PostParams::default(), &store).await.expect("create store");
        }
    }
}

async fn aws_world(prefix: &str) -> (World, Aws) {
    let aws = Aws::start().await;
    let provider = aws.provider();
    let w = World::start(prefix, move |r| r.with(provider)).await;
    let creds = [("id", aws.endpoint.access_key_id.clone()), ("secret", aws.endpoint.secret_access_key.clone())];
    let pairs: Vec<(&str, &str)> = creds.iter().map(|(k, v)| (*k, v.as_str())).collect();
    w.source("aws-creds", &pairs).await;
    w.aws_store("aws", "aws-creds").await;
    (w, aws)
}

fn property_entry(secret_key: &str, remote_key: &str, property: &str) -> Value {
    json!({"match": {"secretKey": secret_key, "remoteRef": {"remoteKey": remote_key, "property": property}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_to_secrets_manager_create_managed_secrets_and_never_touch_unmanaged_ones() {
    let (w, aws) = aws_world("push-sm").await;
    // An existing JSON secret of ours (tagged), and one of someone else's.
    aws.create("app/doc", r#"{"host":"db.internal"}"#, true).await;
    aws.create("app/theirs", "their-value", false).await;
    w.source("db-creds", &[("password", PASSWORD), ("username", USERNAME)]).await;
    let data = json!([entry("password", "app/db-password"), property_entry("username", "app/doc", "username")]);
    w.create(push_secret("db", "aws", "Delete", "Replace", data)).await;
    let (status, _, message) = w.wait_ready("db", "Synced").await;
    assert_eq!((status.as_str(), message.as_str()), ("True", "PushSecret synced successfully"));

    // Created as ESO creates it: tagged, described, binary.
    let described = aws.sm().describe_secret().secret_id("app/db-password").send().await.expect("created");
    let tags: Vec<(String, String)> = described
        .tags()
        .iter()
        .map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string()))
        .collect();
    assert_eq!(tags, [("managed-by".to_string(), "external-secrets".to_string())]);
    assert_eq!(described.description(), Some("secret 'managed-by:external-secrets'"));
    let value = aws.sm().get_secret_value().secret_id("app/db-password").send().await.unwrap();
    assert_eq!(value.secret_binary().map(|b| b.as_ref().to_vec()), Some(PASSWORD.as_bytes().to_vec()));
    assert!(value.secret_string().is_none(), "SecretBinary by default");
    // The property went into the existing document, the other fields kept.
    let doc: Value = serde_json::from_str(&aws.value("app/doc").await.unwrap()).unwrap();
    assert_eq!(doc, json!({"host": "db.internal", "username": USERNAME}));
    assert_eq!(w.synced("db").await, ["SecretStore/aws:app/db-password", "SecretStore/aws:app/doc/username"]);

    // The source changes: the remote follows at once.
    w.set_source("db-creds", "password", ROTATED).await;
    assert!(
        eventually(Duration::from_secs(30), || async {
            aws.value("app/db-password").await.as_deref() == Some(ROTATED)
        })
        .await,
        "the rotated password was not pushed"
    );

    // A secret we do not manage is refused, named in the condition and an event; nothing is changed or deleted.
    let data = json!([
        entry("password", "app/db-password"),
        property_entry("username", "app/doc", "username"),
        entry("password", "app/theirs")
    ]);
    w.patch_spec("db", json!({"data": data})).await;
    let (status, _, message) = w.wait_ready("db", "Errored").await;
    assert_eq!(status, "False");
    assert!(message.contains("app/theirs") && message.contains("not managed by external-secrets"), "{message}");
    assert_eq!(aws.value("app/theirs").await.as_deref(), Some("their-value"));
    assert_eq!(aws.value("app/db-password").await.as_deref(), Some(ROTATED));
    let events = events_text(&w.admin, &w.ns).await;
    assert!(events.contains("not managed by external-secrets"), "{events}");

    // Entries dropped from the spec are deleted — only what we pushed; the unmanaged secret was never ours.
    w.patch_spec("db", json!({"data": [property_entry("username", "app/doc", "username")]})).await;
    w.wait_ready("db", "Synced").await;
    assert!(
        eventually(Duration::from_secs(30), || async { aws.value("app/db-password").await.is_none() }).await,
        "the dropped entry was not deleted"
    );
    assert_eq!(aws.value("app/theirs").await.as_deref(), Some("their-value"));
    assert_eq!(w.synced("db").await, ["SecretStore/aws:app/doc/username"]);

    // Deleting the PushSecret removes what it pushed: here the property (the document stays with its other field).
    w.push_secrets().delete("db", &DeleteParams::default()).await.expect("delete");
    assert!(
        eventually(Duration::from_secs(30), || async { w.push_secrets().get_opt("db").await.unwrap().is_none() }).await
    );
    let doc: Value = serde_json::from_str(&aws.value("app/doc").await.unwrap()).unwrap();
    assert_eq!(doc, json!({"host": "db.internal"}));
    w.assert_nothing_leaked().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_manager_if_not_exists_none_policy_and_a_broken_store_never_delete() {
    let (w, aws) = aws_world("push-sm-policy").await;
    aws.create("exists/already", "old-value", true).await;
    w.source("db-creds", &[("password", PASSWORD)]).await;

    // IfNotExists leaves the existing secret; None keeps what was pushed after the PushSecret is gone.
    let data = json!([entry("password", "exists/already"), entry("password", "new/one")]);
    w.create(push_secret("keep", "aws", "None", "IfNotExists", data)).await;
    w.wait_ready("keep", "Synced").await;
    assert_eq!(aws.value("exists/already").await.as_deref(), Some("old-value"));
    assert_eq!(aws.value("new/one").await.as_deref(), Some(PASSWORD));
    w.push_secrets().delete("keep", &DeleteParams::default()).await.expect("delete");
    assert!(
        eventually(Duration::from_secs(30), || async { w.push_secrets().get_opt("keep").await.unwrap().is_none() })
            .await
    );
    assert_eq!(aws.value("new/one").await.as_deref(), Some(PASSWORD), "deletionPolicy None keeps it");

    // Under Delete: the store's credentials break, then the PushSecret is deleted. Nothing is deleted remotely,
    // the finalizer holds, the condition says why; once the store works again, the cleanup happens.
    w.create(push_secret("del", "aws", "Delete", "Replace", json!([entry("password", "del/one")]))).await;
    w.wait_ready("del", "Synced").await;
    assert_eq!(aws.value("del/one").await.as_deref(), Some(PASSWORD));
    w.aws_store("aws", "missing-credentials").await;
    w.push_secrets().delete("del", &DeleteParams::default()).await.expect("delete");
    let found = eventually(Duration::from_secs(60), || async {
        w.ready("del")
            .await
            .is_some_and(|r| r.1 == "Errored" && r.2.starts_with("Failed to Delete Secrets from Provider"))
    })
    .await;
    assert!(found, "last: {:?}", w.ready("del").await);
    assert!(w.push_secrets().get_opt("del").await.unwrap().is_some(), "the finalizer holds it");
    assert_eq!(aws.value("del/one").await.as_deref(), Some(PASSWORD), "a provider error deletes nothing");
    w.aws_store("aws", "aws-creds").await;
    assert!(
        eventually(Duration::from_secs(60), || async { w.push_secrets().get_opt("del").await.unwrap().is_none() })
            .await,
        "the cleanup did not resume"
    );
    assert_eq!(aws.value("del/one").await, None);
    w.assert_nothing_leaked().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_to_parameter_store_create_managed_parameters_and_never_touch_unmanaged_ones() {
    let (w, aws) = aws_world("push-ssm").await;
    w.aws_store_of("ssm", "ParameterStore", "aws-creds").await;
    aws.ssm()
        .put_parameter()
        .name("/theirs")
        .value("their-value")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .expect("unmanaged parameter");
    w.source("db-creds", &[("password", PASSWORD), ("username", USERNAME)]).await;
    let mut ps = push_secret("params", "ssm", "Delete", "Replace", json!([entry("password", "/app/password")]));
    ps["spec"]["data"].as_array_mut().unwrap().push(json!({"match": {"remoteRef": {"remoteKey": "/app/all"}}}));
    w.create(ps).await;
    w.wait_ready("params", "Synced").await;
    assert_eq!(aws.parameter("/app/password").await.as_deref(), Some(PASSWORD));
    assert_eq!(aws.parameter_tags("/app/password").await, [("managed-by".to_string(), "external-secrets".to_string())]);
    // The whole Secret: JSON of base64 values, as ESO encodes bytes.
    let all: Value = serde_json::from_str(&aws.parameter("/app/all").await.unwrap()).unwrap();
    assert_eq!(all, json!({"password": base64_of(PASSWORD), "username": base64_of(USERNAME)}));

    w.set_source("db-creds", "password", ROTATED).await;
    assert!(
        eventually(Duration::from_secs(30), || async {
            aws.parameter("/app/password").await.as_deref() == Some(ROTATED)
        })
        .await,
        "the rotated password was not pushed"
    );

    // Someone else's parameter is refused and left alone.
    w.patch_spec("params", json!({"data": [entry("password", "/app/password"), entry("password", "/theirs")]})).await;
    let found = eventually(Duration::from_secs(60), || async {
        w.ready("params").await.is_some_and(|r| r.1 == "Errored" && r.2.contains("not managed by external-secrets"))
    })
    .await;
    assert!(found, "last: {:?}", w.ready("params").await);
    assert_eq!(aws.parameter("/theirs").await.as_deref(), Some("their-value"));

    // Deleting the PushSecret deletes what it pushed, and only that.
    w.push_secrets().delete("params", &DeleteParams::default()).await.expect("delete");
    assert!(
        eventually(Duration::from_secs(30), || async { w.push_secrets().get_opt("params").await.unwrap().is_none() })
            .await
    );
    assert_eq!(aws.parameter("/app/password").await, None);
    assert_eq!(aws.parameter("/app/all").await, None);
    assert_eq!(aws.parameter("/theirs").await.as_deref(), Some("their-value"));
    w.assert_nothing_leaked().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generators_output_is_pushed_and_a_missing_generator_is_reported() {
    let w = World::start("push-gen", |r| r).await;
    w.fake_store("fake", json!([])).await;
    let generator: external_secrets_api::generators::v1alpha1::Password = serde_json::from_value(json!({
        "apiVersion": "generators.external-secrets.io/v1alpha1", "kind": "Password",
        "metadata": {"name": "pw"},
        "spec": {"length": 24, "digits": 4, "symbols": 0, "noUpper": false, "allowRepeat": true}
    }))
    .expect("Password");
    Api::<external_secrets_api::generators::v1alpha1::Password>::namespaced(w.admin.clone(), &w.ns)
        .create(&PostParams::default(), &generator)
        .await
        .expect("create Password");
    let body = |name: &str, generator: &str| {
        json!({
            "apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret",
            "metadata": {"name": name},
            "spec": {
                "refreshInterval": "1h",
                "secretStoreRefs": [{"name": "fake", "kind": "SecretStore"}],
                "selector": {"generatorRef": {
                    "apiVersion": "generators.external-secrets.io/v1alpha1", "kind": "Password", "name": generator
                }},
                "data": [entry("password", &format!("generated/{name}"))],
            }
        })
    };
    w.create(body("gen", "pw")).await;
    w.wait_ready("gen", "Synced").await;
    let pushed = w.fake_value("fake", json!([]), "generated/gen").await.expect("the generated password was pushed");
    assert_eq!(pushed.len(), 24, "the Password generator's output");
    assert_eq!(pushed.chars().filter(char::is_ascii_digit).count(), 4);
    assert_eq!(w.synced("gen").await, ["SecretStore/fake:generated/gen"]);

    w.create(body("missing", "nowhere")).await;
    let (status, _, message) = w.wait_ready("missing", "Errored").await;
    assert_eq!(status, "False");
    assert!(
        message.contains("could not resolve secret from generator ref") && message.contains("not found"),
        "{message}"
    );
    assert_eq!(w.fake_value("fake", json!([]), "generated/missing").await, None);
    assert!(!logs().contains(&pushed), "a generated value appeared in the logs");
    assert!(!events_text(&w.admin, &w.ns).await.contains(&pushed), "a generated value appeared in an event");
}

// ---- Kubernetes provider writes, and a provider that cannot write ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubernetes_provider_writes_secrets_of_its_remote_namespace_with_the_stores_credentials() {
    let w =
        World::start("push-k8s", |r| r.with(Arc::new(external_secrets_provider_kubernetes::KubernetesProvider::new())))
            .await;
    let cluster: &'static Cluster = cluster().await;
    let remote_ns = cluster.namespace("push-k8s-remote").await.expect("remote ns");
    // The store's own identity: a ServiceAccount of the PushSecret's namespace that may write Secrets in the remote
    // namespace. The operator's ServiceAccount has no write access there.
    let sa: k8s_openapi::api::core::v1::ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "writer"}})).expect("sa");
    Api::<k8s_openapi::api::core::v1::ServiceAccount>::namespaced(w.admin.clone(), &w.ns)
        .create(&PostParams::default(), &sa)
        .await
        .expect("sa");
    let role: k8s_openapi::api::rbac::v1::Role = serde_json::from_value(json!({
        "metadata": {"name": "write-secrets"},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch", "create", "update", "delete"]},
                  {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectrulesreviews"], "verbs": ["create"]}]
    }))
    .expect("role");
    Api::<k8s_openapi::api::rbac::v1::Role>::namespaced(w.admin.clone(), &remote_ns)
        .create(&PostParams::default(), &role)
        .await
        .expect("role");
    let binding: k8s_openapi::api::rbac::v1::RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "write-secrets"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "write-secrets"},
        "subjects": [{"kind": "ServiceAccount", "name": "writer", "namespace": w.ns}]
    }))
    .expect("binding");
    Api::<k8s_openapi::api::rbac::v1::RoleBinding>::namespaced(w.admin.clone(), &remote_ns)
        .create(&PostParams::default(), &binding)
        .await
        .expect("binding");
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&cluster.pki.ca_cert).expect("ca"));
    let store: SecretStore = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
        "metadata": {"name": "k8s"},
        "spec": {"controller": w.op.class, "provider": {"kubernetes": {
            "remoteNamespace": remote_ns,
            "server": {"url": cluster.server, "caBundle": ca},
            "auth": {"serviceAccount": {"name": "writer"}}
        }}}
    }))
    .expect("store");
    Api::<SecretStore>::namespaced(w.admin.clone(), &w.ns).create(&PostParams::default(), &store).await.expect("store");
    w.source("db-creds", &[("password", PASSWORD), ("username", USERNAME)]).await;

    let labelled = json!({"apiVersion": "kubernetes.external-secrets.io/v1alpha1", "kind": "PushSecretMetadata",
                          "spec": {"labels": {"pushed-by": "push-k8s"}}});
    let data = json!([
        property_entry("password", "pushed", "pw"),
        property_entry("username", "pushed", "user"),
        {"match": {"remoteRef": {"remoteKey": "whole"}}, "metadata": labelled},
    ]);
    w.create(push_secret("to-k8s", "k8s", "Delete", "Replace", data)).await;
    w.wait_ready("to-k8s", "Synced").await;
    let remote: Api<Secret> = Api::namespaced(w.admin.clone(), &remote_ns);
    let value = |s: &Secret, k: &str| {
        s.data.as_ref().and_then(|d| d.get(k)).map(|v| String::from_utf8_lossy(&v.0).into_owned())
    };
    let pushed = remote.get("pushed").await.expect("pushed Secret");
    assert_eq!(value(&pushed, "pw").as_deref(), Some(PASSWORD), "secretKey into property");
    assert_eq!(value(&pushed, "user").as_deref(), Some(USERNAME));
    assert_eq!(pushed.type_.as_deref(), Some("Opaque"));
    let whole = remote.get("whole").await.expect("whole Secret");
    assert_eq!(value(&whole, "password").as_deref(), Some(PASSWORD), "without property: the whole Secret");
    assert_eq!(value(&whole, "username").as_deref(), Some(USERNAME));
    assert_eq!(whole.metadata.labels.unwrap_or_default().get("pushed-by").map(String::as_str), Some("push-k8s"));

    // The source changes: the remote follows.
    w.set_source("db-creds", "password", ROTATED).await;
    let followed = eventually(Duration::from_secs(30), || async {
        remote.get("pushed").await.ok().is_some_and(|s| value(&s, "pw").as_deref() == Some(ROTATED))
    })
    .await;
    assert!(followed, "the rotated password was not pushed");

    // An entry dropped: its property is removed, the Secret keeps the other.
    let data = json!([property_entry("password", "pushed", "pw"), {"match": {"remoteRef": {"remoteKey": "whole"}}}]);
    w.patch_spec("to-k8s", json!({"data": data})).await;
    let removed = eventually(Duration::from_secs(30), || async {
        remote.get("pushed").await.ok().is_some_and(|s| value(&s, "user").is_none() && value(&s, "pw").is_some())
    })
    .await;
    assert!(removed, "the dropped property was not removed");

    // ESO's rule: a secretKey needs a property to go to.
    w.create(push_secret("bad", "k8s", "None", "Replace", json!([entry("password", "nowhere")]))).await;
    let (_, _, message) = w.wait_ready("bad", "Errored").await;
    assert!(message.contains("requires property in RemoteRef"), "{message}");
    assert!(remote.get_opt("nowhere").await.unwrap().is_none());

    // Deleted: what it pushed goes.
    w.push_secrets().delete("to-k8s", &DeleteParams::default()).await.expect("delete");
    let gone = eventually(Duration::from_secs(30), || async {
        remote.get_opt("pushed").await.unwrap().is_none() && remote.get_opt("whole").await.unwrap().is_none()
    })
    .await;
    assert!(gone, "deletionPolicy Delete removes the pushed Secrets");
    w.assert_nothing_leaked().await;
}

/// The fake provider with its writes taken away: what a read-only provider is to the PushSecret controller.
struct ReadOnlyFake(Arc<FakeProvider>);

struct ReadOnlyClient(Arc<dyn external_secrets_provider::StoreClient>);

#[async_trait::async_trait]
impl external_secrets_provider::StoreClient for ReadOnlyClient {
    async fn get(
        &self,
        key: &RemoteKey,
    ) -> Result<external_secrets_provider::RemoteValue, external_secrets_provider::ProviderError> {
        self.0.get(key).await
    }
    async fn find(
        &self,
        query: &external_secrets_provider::FindQuery,
    ) -> Result<
        std::collections::BTreeMap<String, external_secrets_provider::RemoteValue>,
        external_secrets_provider::ProviderError,
    > {
        self.0.find(query).await
    }
    async fn validate(
        &self,
    ) -> Result<external_secrets_provider::Validation, external_secrets_provider::ProviderError> {
        self.0.validate().await
    }
}

#[async_trait::async_trait]
impl DynProvider for ReadOnlyFake {
    fn kind(&self) -> external_secrets_api::ProviderKind {
        DynProvider::kind(self.0.as_ref())
    }
    fn capabilities(&self) -> external_secrets_provider::Capabilities {
        external_secrets_provider::Capabilities::ReadOnly
    }
    fn validate_spec(
        &self,
        spec: &SecretStoreSpec,
        kind: external_secrets_provider::StoreKind,
    ) -> Result<(), external_secrets_provider::ProviderError> {
        DynProvider::validate_spec(self.0.as_ref(), spec, kind)
    }
    async fn client(
        &self,
        ctx: &StoreContext,
    ) -> Result<Arc<dyn external_secrets_provider::StoreClient>, external_secrets_provider::ProviderError> {
        Ok(Arc::new(ReadOnlyClient(DynProvider::client(self.0.as_ref(), ctx).await?)))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_provider_refuses_pushes_with_a_clear_condition() {
    let w = World::start("push-ro", |_| {
        ProviderRegistry::new().with(Arc::new(ReadOnlyFake(Arc::new(FakeProvider::new()))))
    })
    .await;
    w.fake_store("ro", json!([])).await;
    w.source("db-creds", &[("password", PASSWORD)]).await;
    w.create(push_secret("db", "ro", "Delete", "Replace", json!([entry("password", "pushed/db")]))).await;
    let (status, _, message) = w.wait_ready("db", "Errored").await;
    assert_eq!(status, "False");
    assert!(
        message.contains("could not write remote ref password to target secretstore ro")
            && message.contains("not supported"),
        "{message}"
    );
    let events = events_text(&w.admin, &w.ns).await;
    assert!(events.contains("not supported"), "{events}");
    assert!(w.synced("db").await.is_empty(), "nothing recorded as pushed");
    w.assert_nothing_leaked().await;
}
