//! A PushSecret reads only Secrets of its own namespace: the attack shapes of ESO's 2025 fixes ("scope secret
//! list call to the namespace the push secret was created", "select secretstores in same ns as pushsecret") and
//! every other way the schema lets a PushSecret name something of another namespace, against the real control
//! plane with an operator that watches every namespace (as a cluster-wide install does), the fake provider and a
//! local AWS Secrets Manager (moto). Each test checks the provider, not only the status: the victim's value never
//! arrives anywhere.
//!
//! The tests of this binary take turns ([`TURN`]): every operator reconciles every PushSecret whose stores it
//! serves, and a PushSecret whose source cannot be read is reported before its stores are looked at.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Operator, events_text, eventually, logs, start_operator_configured};
use external_secrets_api::v1alpha1::PushSecret;
use external_secrets_api::{ClusterSecretStore, SecretStore, SecretStoreSpec};
use external_secrets_provider::{DynProvider, ProviderRegistry, RemoteKey, StoreContext, StoreScope};
use external_secrets_provider_aws::{AwsProvider, Endpoints};
use external_secrets_provider_fake::FakeProvider;
use external_secrets_testsupport::{AwsEndpoint, AwsOptions, Cluster, cluster};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ObjectMeta, PostParams};
use serde_json::{Value, json};

/// The victim's value: it must never reach a store of the attacker, a log or a status.
const VICTIM_VALUE: &str = "victim-pa55-do-not-log";
/// What the attacker owns and may push.
const ATTACKER_VALUE: &str = "attacker-own-value";
const WAIT: Duration = Duration::from_secs(60);
const REGION: &str = "eu-west-1";

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// An operator for every namespace, a victim namespace with a labelled Secret `db-creds`, a ConfigMap
/// `settings` and its own labelled fake store, and an attacker namespace with its own fake store `fake` and
/// Secret `mine`.
struct World {
    op: Operator,
    admin: kube::Client,
    fake: Arc<FakeProvider>,
    victim: String,
    attacker: String,
}

impl World {
    async fn start(prefix: &str, extra: impl FnOnce(ProviderRegistry) -> ProviderRegistry) -> Self {
        let cluster: &'static Cluster = cluster().await;
        let admin = cluster.admin_client().await.expect("admin");
        let home = cluster.namespace(&format!("{prefix}-op")).await.expect("operator ns");
        let victim = cluster.namespace(&format!("{prefix}-victim")).await.expect("victim ns");
        let attacker = cluster.namespace(&format!("{prefix}-attacker")).await.expect("attacker ns");
        let fake = Arc::new(FakeProvider::new());
        let registry = extra(ProviderRegistry::new().with(fake.clone()));
        let op = start_operator_configured(cluster, &home, registry, |c| c.namespace = None).await;
        let w = Self { op, admin, fake, victim, attacker };
        w.secret(&w.victim, "db-creds", &[("app", "db")], VICTIM_VALUE).await;
        let cm = ConfigMap {
            metadata: ObjectMeta { name: Some("settings".into()), ..Default::default() },
            data: Some([("tpl".to_string(), VICTIM_VALUE.to_string())].into()),
            ..Default::default()
        };
        Api::<ConfigMap>::namespaced(w.admin.clone(), &w.victim)
            .create(&PostParams::default(), &cm)
            .await
            .expect("ConfigMap");
        w.fake_store(&w.victim, "fake", &[("store", "target")]).await;
        w.fake_store(&w.attacker, "fake", &[]).await;
        w.secret(&w.attacker, "mine", &[], ATTACKER_VALUE).await;
        w
    }

    async fn secret(&self, namespace: &str, name: &str, labels: &[(&str, &str)], value: &str) {
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                labels: Some(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
                ..Default::default()
            },
            data: Some([("password".to_string(), ByteString(value.as_bytes().to_vec()))].into()),
            ..Default::default()
        };
        Api::<Secret>::namespaced(self.admin.clone(), namespace)
            .create(&PostParams::default(), &secret)
            .await
            .expect("Secret");
    }

    async fn fake_store(&self, namespace: &str, name: &str, labels: &[(&str, &str)]) {
        let labels: serde_json::Map<String, Value> =
            labels.iter().map(|(k, v)| (k.to_string(), Value::String(v.to_string()))).collect();
        let store: SecretStore = serde_json::from_value(json!({
            "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"controller": self.op.class, "provider": {"fake": {"data": []}}}
        }))
        .expect("SecretStore");
        Api::<SecretStore>::namespaced(self.admin.clone(), namespace)
            .create(&PostParams::default(), &store)
            .await
            .expect("store");
    }

    /// What the fake store `namespace/fake` answers for `key`, as any client of it would.
    async fn fake_value(&self, namespace: &str, key: &str) -> Option<String> {
        let spec: SecretStoreSpec = serde_json::from_value(json!({"provider": {"fake": {"data": []}}})).expect("spec");
        let ctx = StoreContext::new(self.admin.clone(), StoreScope::secret_store(namespace, "fake"), spec);
        let client = DynProvider::client(self.fake.as_ref(), &ctx).await.map_err(|e| e.to_string()).expect("client");
        let key = RemoteKey { key: key.to_string(), version: None, metadata_policy: Default::default() };
        client.get(&key).await.ok().map(|v| String::from_utf8_lossy(v.bytes.expose()).into_owned())
    }

    fn push_secrets(&self, namespace: &str) -> Api<PushSecret> {
        Api::namespaced(self.admin.clone(), namespace)
    }

    /// Creates the PushSecret `name` in the attacker's namespace (`body` is its spec as JSON, fields the schema
    /// does not know included: the apiserver drops them).
    async fn attack(&self, name: &str, spec: Value) -> Result<PushSecret, kube::Error> {
        let body = json!({
            "apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret",
            "metadata": {"name": name, "namespace": self.attacker},
            "spec": spec,
        });
        // Sent as written (unknown fields too), not through the typed struct, which would drop them first.
        let api: Api<kube::api::DynamicObject> =
            Api::namespaced_with(self.admin.clone(), &self.attacker, &kube::api::ApiResource::erase::<PushSecret>(&()));
        let object: kube::api::DynamicObject = serde_json::from_value(body).expect("object");
        api.create(&PostParams::default(), &object).await?;
        self.push_secrets(&self.attacker).get(name).await
    }

    /// The `Ready` condition's (status, reason, message) of the attacker's PushSecret `name`.
    async fn ready(&self, name: &str) -> Option<(String, String, String)> {
        let ps = self.push_secrets(&self.attacker).get_opt(name).await.ok().flatten()?;
        let c = ps.status?.conditions.into_iter().find(|c| c.type_ == "Ready")?;
        Some((c.status, c.reason.unwrap_or_default(), c.message.unwrap_or_default()))
    }

    async fn wait_reason(&self, name: &str, reason: &str) -> (String, String, String) {
        let found = eventually(WAIT, || async { self.ready(name).await.is_some_and(|r| r.1 == reason) }).await;
        let last = self.ready(name).await;
        assert!(found, "PushSecret {name} never reached {reason}; last: {last:?}");
        last.unwrap()
    }

    /// The victim's value is nowhere the attacker can see it: not in a status, an event or a log line.
    async fn assert_not_leaked(&self) {
        for ps in self.push_secrets(&self.attacker).list(&Default::default()).await.expect("list").items {
            let status = serde_json::to_string(&ps.status).unwrap();
            assert!(!status.contains(VICTIM_VALUE), "the victim's value is in a status");
        }
        assert!(!events_text(&self.admin, &self.attacker).await.contains(VICTIM_VALUE), "in an event");
        assert!(!logs().contains(VICTIM_VALUE), "the victim's value is in the logs");
    }
}

fn entry(remote_key: &str) -> Value {
    json!([{"match": {"secretKey": "password", "remoteRef": {"remoteKey": remote_key}}}])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_secret_of_another_namespace_is_never_read() {
    let _turn = TURN.lock().await;
    let w = World::start("iso-src", |r| r).await;

    // By name, with a `namespace` the schema does not have (dropped by the apiserver): read in its own namespace,
    // where there is no such Secret.
    let created = w
        .attack(
            "by-name",
            json!({
                "refreshInterval": "1h",
                "secretStoreRefs": [{"name": "fake", "kind": "SecretStore"}],
                "selector": {"secret": {"name": "db-creds", "namespace": w.victim}},
                "data": entry("stolen/by-name"),
            }),
        )
        .await
        .expect("the apiserver accepts it, without the unknown field");
    let stored = serde_json::to_value(&created.spec.selector).unwrap();
    assert_eq!(stored, json!({"secret": {"name": "db-creds"}}), "no namespace field exists to name another");
    let (status, _, message) = w.wait_reason("by-name", "Errored").await;
    assert_eq!(status, "False");
    assert!(message.contains("could not get source secret"), "{message}");
    let events = events_text(&w.admin, &w.attacker).await;
    assert!(events.contains("could not get source secret"), "a Warning event names it: {events}");

    // `namespace/name` as the name: refused by the CRD's validation.
    let refused = w
        .attack(
            "slash",
            json!({
                "secretStoreRefs": [{"name": "fake"}],
                "selector": {"secret": {"name": format!("{}/db-creds", w.victim)}},
                "data": entry("stolen/slash"),
            }),
        )
        .await;
    assert!(matches!(refused, Err(kube::Error::Api(ref s)) if s.code == 422), "{refused:?}");

    // By label, matching the victim's Secret: only the attacker's namespace is listed, where nothing matches.
    w.attack(
        "by-label",
        json!({
            "refreshInterval": "1h",
            "secretStoreRefs": [{"name": "fake", "kind": "SecretStore"}],
            "selector": {"secret": {"selector": {"matchLabels": {"app": "db"}}}},
            "data": entry("stolen/by-label"),
        }),
    )
    .await
    .expect("created");
    // A control that runs after it in the same store: the attacker's own Secret is pushed.
    w.attack(
        "control",
        json!({
            "refreshInterval": "1h",
            "secretStoreRefs": [{"name": "fake", "kind": "SecretStore"}],
            "selector": {"secret": {"name": "mine"}},
            "data": entry("own/control"),
        }),
    )
    .await
    .expect("created");
    w.wait_reason("control", "Synced").await;
    w.wait_reason("by-label", "Synced").await;
    let pushed = eventually(WAIT, || async { w.fake_value(&w.attacker, "own/control").await.is_some() }).await;
    assert!(pushed, "the attacker's own Secret is pushed (the operator does run)");
    assert_eq!(w.fake_value(&w.attacker, "own/control").await.as_deref(), Some(ATTACKER_VALUE));
    for key in ["stolen/by-name", "stolen/slash", "stolen/by-label"] {
        assert_eq!(w.fake_value(&w.attacker, key).await, None, "{key} must not be pushed");
    }
    let ps = w.push_secrets(&w.attacker).get("by-label").await.unwrap();
    assert!(ps.status.unwrap().synced_push_secrets.is_empty(), "the label selector matched nothing here");
    w.assert_not_leaked().await;
    w.op.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_of_another_namespace_is_never_used() {
    let _turn = TURN.lock().await;
    let w = World::start("iso-store", |r| r).await;
    // The victim's store, selected by its label (kind SecretStore), beside the attacker's own store: only the
    // attacker's own store is a SecretStore of its namespace.
    w.attack(
        "into-victim-store",
        json!({
            "refreshInterval": "1h",
            "secretStoreRefs": [
                {"labelSelector": {"matchLabels": {"store": "target"}}, "kind": "SecretStore"},
                {"name": "fake", "kind": "SecretStore"}
            ],
            "selector": {"secret": {"name": "mine"}},
            "data": entry("planted/value"),
        }),
    )
    .await
    .expect("created");
    w.wait_reason("into-victim-store", "Synced").await;
    let ps = w.push_secrets(&w.attacker).get("into-victim-store").await.unwrap();
    let stores: Vec<String> = ps.status.unwrap().synced_push_secrets.keys().cloned().collect();
    assert_eq!(stores, ["SecretStore/fake"], "only the attacker's own store");
    assert_eq!(w.fake_value(&w.attacker, "planted/value").await.as_deref(), Some(ATTACKER_VALUE));
    assert_eq!(w.fake_value(&w.victim, "planted/value").await, None, "the victim's store receives nothing");
    w.assert_not_leaked().await;
    w.op.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_never_read_objects_of_another_namespace() {
    let _turn = TURN.lock().await;
    let w = World::start("iso-tpl", |r| r).await;
    // A `namespace` in the reference is not in the schema (dropped by the apiserver): the names are looked up in
    // the attacker's namespace, where they do not exist.
    for (name, from, missing) in [
        (
            "tpl-secret",
            json!({"secret": {"name": "db-creds", "namespace": w.victim, "items": [{"key": "password"}]}}),
            "Secret \"db-creds\" not found",
        ),
        (
            "tpl-configmap",
            json!({"configMap": {"name": "settings", "namespace": w.victim, "items": [{"key": "tpl"}]}}),
            "ConfigMap \"settings\" not found",
        ),
    ] {
        w.attack(
            name,
            json!({
                "refreshInterval": "1h",
                "secretStoreRefs": [{"name": "fake", "kind": "SecretStore"}],
                "selector": {"secret": {"name": "mine"}},
                "template": {"templateFrom": [from]},
                "data": entry(&format!("stolen/{name}")),
            }),
        )
        .await
        .expect("created");
        let (status, _, message) = w.wait_reason(name, "Errored").await;
        assert_eq!(status, "False");
        assert!(message.contains("error fetching templateFrom data"), "{message}");
        assert!(message.contains(missing), "the condition names what is missing: {message}");
        assert_eq!(w.fake_value(&w.attacker, &format!("stolen/{name}")).await, None);
    }
    w.assert_not_leaked().await;
    w.op.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referent_cluster_store_credentials_are_read_in_the_push_secrets_own_namespace() {
    let _turn = TURN.lock().await;
    let endpoint = tokio::task::spawn_blocking(|| AwsEndpoint::start(AwsOptions::default()))
        .await
        .expect("endpoint thread")
        .expect("local AWS endpoint");
    let aws = Arc::new(AwsProvider::with_endpoints(Endpoints::all(&endpoint.url)));
    let w = World::start("iso-referent", move |r| r.with(aws)).await;
    let sm = aws_sdk_secretsmanager::Client::new(&common::aws_admin_sdk_config(&endpoint, REGION));
    let stores: Api<ClusterSecretStore> = Api::all(w.admin.clone());
    // Referent authentication: the credential Secret names no namespace, so it is read where the PushSecret is.
    // The second store is for the victim's namespace only (spec.conditions).
    for (name, conditions) in [("referent", json!([])), ("victim-only", json!([{"namespaces": [w.victim]}]))] {
        let css: ClusterSecretStore = serde_json::from_value(json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore",
            "metadata": {"name": format!("{name}-{}", w.attacker)},
            "spec": {"controller": w.op.class, "conditions": conditions, "provider": {"aws": {
                "service": "SecretsManager", "region": REGION,
                "auth": {"secretRef": {
                    "accessKeyIDSecretRef": {"name": "aws-creds", "key": "id"},
                    "secretAccessKeySecretRef": {"name": "aws-creds", "key": "secret"}
                }}
            }}}
        }))
        .expect("ClusterSecretStore");
        stores.create(&PostParams::default(), &css).await.expect("ClusterSecretStore");
    }
    // Only the victim has credentials.
    let creds = Secret {
        metadata: ObjectMeta { name: Some("aws-creds".into()), ..Default::default() },
        data: Some(
            [
                ("id".to_string(), ByteString(endpoint.access_key_id.clone().into_bytes())),
                ("secret".to_string(), ByteString(endpoint.secret_access_key.clone().into_bytes())),
            ]
            .into(),
        ),
        ..Default::default()
    };
    Api::<Secret>::namespaced(w.admin.clone(), &w.victim).create(&PostParams::default(), &creds).await.expect("creds");

    let push = |store: &str, remote: &str| {
        json!({
            "refreshInterval": "1h",
            "secretStoreRefs": [{"name": format!("{store}-{}", w.attacker), "kind": "ClusterSecretStore"}],
            "selector": {"secret": {"name": "mine"}},
            "data": entry(remote),
        })
    };
    w.attack("with-victims-credentials", push("referent", "attacker/referent")).await.expect("created");
    let (_, _, message) = w.wait_reason("with-victims-credentials", "Errored").await;
    assert!(message.contains("aws-creds") && message.contains(&w.attacker), "names the missing credential: {message}");

    w.attack("through-victims-store", push("victim-only", "attacker/conditions")).await.expect("created");
    let (_, _, message) = w.wait_reason("through-victims-store", "Errored").await;
    assert!(message.contains(&w.attacker), "names the refused namespace: {message}");

    // The control: the victim's own PushSecret through the same referent store pushes with its credentials.
    let victim_ps: PushSecret = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret",
        "metadata": {"name": "own"},
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRefs": [{"name": format!("referent-{}", w.attacker), "kind": "ClusterSecretStore"}],
            "selector": {"secret": {"name": "db-creds"}},
            "data": entry("victim/own"),
        }
    }))
    .expect("PushSecret");
    w.push_secrets(&w.victim).create(&PostParams::default(), &victim_ps).await.expect("victim PushSecret");
    let pushed = eventually(WAIT, || async { sm.describe_secret().secret_id("victim/own").send().await.is_ok() }).await;
    assert!(pushed, "the victim's own push works through the referent store");

    let names: Vec<String> = sm
        .list_secrets()
        .send()
        .await
        .expect("list")
        .secret_list()
        .iter()
        .filter_map(|s| s.name().map(str::to_string))
        .collect();
    assert_eq!(names, ["victim/own"], "nothing the attacker pushed reached Secrets Manager");
    w.assert_not_leaked().await;
    for name in ["referent", "victim-only"] {
        let _ = stores.delete(&format!("{name}-{}", w.attacker), &Default::default()).await;
    }
    w.op.stop().await;
}
