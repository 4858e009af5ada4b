//! GeneratorStates and their garbage collection end to end, with the `Grafana` generator against a FAKE of
//! Grafana's HTTP API (`external_secrets_testsupport::grafana`: Grafana itself cannot be built here), on the real
//! local control plane (kube-controller-manager's garbage collector included). The operator runs as its own
//! ServiceAccount with the shipped ClusterRole.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::{events_text, logs, start_operator_configured, wait_ready};
use external_secrets_api::ExternalSecret;
use external_secrets_api::generators::v1alpha1::{GENERATOR_STATE_OWNER_KEY_LABEL, GeneratorState, Grafana};
use external_secrets_core::generator_state::{GENERATOR_STATE_FINALIZER, owner_key};
use external_secrets_generators::{GeneratorRegistry, GrafanaGenerator};
use external_secrets_testsupport::grafana::GRAFANA_ADMIN_USER;
use external_secrets_testsupport::{FakeGrafana, cluster};
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

const GENERATORS: &str = "generators.external-secrets.io/v1alpha1";
const GRACE: Duration = Duration::from_secs(5);

fn object<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).expect("object")
}

/// The operator with the Grafana generator and a short GC grace period; `configure` may change more.
async fn start(ns: &str, state: bool) -> common::Operator {
    let grafana = GrafanaGenerator::new().expect("Grafana client");
    let generators = GeneratorRegistry::new().with(Arc::new(grafana));
    start_operator_configured(cluster().await, ns, common::registry(), move |c| {
        c.generators = generators;
        c.generator_gc_grace_period = GRACE;
        c.enable_generator_state = state;
    })
    .await
}

/// A Secret with the admin's credentials and a Grafana generator `name` using them (`basic`: basic auth, else
/// the admin's token).
async fn grafana_generator(admin: &kube::Client, ns: &str, fake: &FakeGrafana, name: &str, basic: bool) {
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), ns);
    let creds = object(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": format!("{name}-creds"), "namespace": ns},
        "stringData": {"token": fake.admin_token(), "password": fake.admin_password()}}));
    secrets.create(&PostParams::default(), &creds).await.expect("credentials Secret");
    let auth = if basic {
        json!({"basic": {"username": GRAFANA_ADMIN_USER, "password": {"name": format!("{name}-creds"), "key": "password"}}})
    } else {
        json!({"token": {"name": format!("{name}-creds"), "key": "token"}})
    };
    let generators: Api<Grafana> = Api::namespaced(admin.clone(), ns);
    let generator = object(json!({"apiVersion": GENERATORS, "kind": "Grafana",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"url": fake.url(), "auth": auth, "serviceAccount": {"name": format!("eso-{ns}"), "role": "Viewer"}}}));
    generators.create(&PostParams::default(), &generator).await.expect("Grafana generator");
}

fn grafana_es(ns: &str, name: &str, data_from: serde_json::Value) -> ExternalSecret {
    object(json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"refreshInterval": "1h", "target": {"name": name}, "dataFrom": data_from}}))
}

fn grafana_ref(name: &str) -> serde_json::Value {
    json!({"sourceRef": {"generatorRef": {"apiVersion": GENERATORS, "kind": "Grafana", "name": name}}})
}

async fn secret_data(secrets: &Api<Secret>, name: &str) -> BTreeMap<String, String> {
    let secret = secrets.get(name).await.expect("Secret");
    secret.data.unwrap_or_default().into_iter().map(|(k, v)| (k, String::from_utf8(v.0).expect("UTF-8"))).collect()
}

async fn states(api: &Api<GeneratorState>) -> Vec<GeneratorState> {
    let mut items = api.list(&ListParams::default()).await.expect("list GeneratorStates").items;
    items.sort_by_key(|s| s.creation_timestamp().map(|t| t.0));
    items
}

/// Changes an annotation: ESO's way to force a sync (here: a new token).
async fn force_sync(ess: &Api<ExternalSecret>, name: &str, n: u32) {
    let patch = json!({"metadata": {"annotations": {"force-sync": n.to_string()}}});
    ess.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("annotate");
}

/// Polls `check` (every 200 ms) until it holds; fails the test naming `what` after `timeout`.
async fn wait_for(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn superseded_grafana_tokens_are_collected_after_the_grace_period_and_with_the_external_secret() {
    let cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("gs-gc").await.expect("ns");
    let fake = FakeGrafana::start().await.expect("fake Grafana");
    let op = start(&ns, true).await;
    grafana_generator(&admin, &ns, &fake, "grafana", false).await;
    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &ns);
    ess.create(&PostParams::default(), &grafana_es(&ns, "dash", json!([grafana_ref("grafana")]))).await.expect("es");
    wait_ready(&ess, "dash", "SecretSynced").await;

    // First run: the service account was created, one token made, ESO's keys written.
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    let first = secret_data(&secrets, "dash").await;
    let accounts = fake.service_accounts();
    assert_eq!(accounts.len(), 1);
    assert_eq!((accounts[0].name.as_str(), accounts[0].role.as_str()), (format!("eso-{ns}").as_str(), "Viewer"));
    assert_eq!(first.keys().collect::<Vec<_>>(), ["login", "token"]);
    assert_eq!(first["login"], format!("sa-1-eso-{ns}"), "Grafana's generated login");
    let tokens = fake.tokens();
    assert_eq!(tokens.len(), 1);
    assert_eq!(first["token"], tokens[0].key);

    // ... and one GeneratorState: ESO's name, label, owner, finalizer, manifest and state.
    let gs_api: Api<GeneratorState> = Api::namespaced(admin.clone(), &ns);
    let es = ess.get("dash").await.expect("es");
    wait_for("the GeneratorState's finalizer and Ready condition", Duration::from_secs(30), async || {
        let s = states(&gs_api).await;
        s.len() == 1
            && s[0].finalizers().iter().any(|f| f == GENERATOR_STATE_FINALIZER)
            && s[0].status.as_ref().is_some_and(|st| {
                st.conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True" && c.reason.as_deref() == Some("Created"))
            })
    })
    .await;
    let first_state = states(&gs_api).await.remove(0);
    assert!(first_state.name_any().starts_with("gen-externalsecret-dash-"), "{}", first_state.name_any());
    assert_eq!(
        first_state.labels().get(GENERATOR_STATE_OWNER_KEY_LABEL),
        Some(&owner_key("ExternalSecret", &ns, "dash", "0"))
    );
    let owner = &first_state.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
        ("ExternalSecret", "dash", es.uid().unwrap().as_str())
    );
    assert_eq!(owner.controller, None, "a plain owner reference, as ESO's SetOwnerReference");
    assert_eq!(first_state.spec.garbage_collection_deadline, None);
    assert_eq!(first_state.spec.resource["kind"], "Grafana");
    assert_eq!(first_state.spec.resource["spec"]["url"], fake.url());
    assert_eq!(
        first_state.spec.state,
        json!({"serviceAccount": {"id": accounts[0].id, "login": first["login"], "tokenID": tokens[0].id}})
    );

    // A second run: a new token; the first state gets its deadline (about now + grace) ...
    force_sync(&ess, "dash", 1).await;
    wait_for("a new token in the Secret", Duration::from_secs(30), async || {
        secret_data(&secrets, "dash").await["token"] != first["token"]
    })
    .await;
    let second = secret_data(&secrets, "dash").await;
    let flagged_at = jiff::Timestamp::now();
    let s = states(&gs_api).await;
    assert_eq!(s.len(), 2, "the new state is stored in the same sync");
    let old = s.iter().find(|s| s.name_any() == first_state.name_any()).expect("the first state");
    let deadline = old.spec.garbage_collection_deadline.as_ref().expect("the superseded state has its deadline").0;
    let grace = jiff::SignedDuration::try_from(GRACE).unwrap();
    assert!(
        deadline <= flagged_at + grace && deadline > flagged_at - jiff::SignedDuration::from_secs(30),
        "{deadline}"
    );
    let new = s.iter().find(|s| s.name_any() != first_state.name_any()).expect("the new state");
    assert_eq!(new.spec.garbage_collection_deadline, None);
    // ... and once it passed, the state is deleted and its token deleted at Grafana; the new one lives on.
    wait_for("the superseded state collected", GRACE + Duration::from_secs(30), async || {
        let s = states(&gs_api).await;
        s.len() == 1 && s[0].name_any() != first_state.name_any()
    })
    .await;
    let deleted = fake.deleted_tokens();
    assert_eq!(deleted.iter().map(|t| t.id).collect::<Vec<_>>(), [tokens[0].id], "the superseded token, only");
    let live = fake.tokens();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].key, second["token"]);
    assert_eq!(states(&gs_api).await[0].spec.garbage_collection_deadline, None, "the latest state is kept");

    // No token (first, second) in events, logs or the ExternalSecret's status.
    let events = events_text(&admin, &ns).await;
    let logs = logs();
    let status = serde_json::to_string(&ess.get("dash").await.expect("es").status).expect("status");
    for token in [&first["token"], &second["token"]] {
        assert!(!events.contains(token.as_str()) && !logs.contains(token.as_str()) && !status.contains(token.as_str()));
    }

    // Deleting the ExternalSecret: Kubernetes' garbage collector deletes its states (owner reference), and their
    // finalizer deletes the last token. The service account stays, as in ESO.
    ess.delete("dash", &Default::default()).await.expect("delete es");
    wait_for("every state and token gone", Duration::from_secs(60), async || {
        states(&gs_api).await.is_empty() && fake.tokens().is_empty()
    })
    .await;
    assert_eq!(fake.deleted_tokens().len(), 2);
    assert_eq!(fake.service_accounts().len(), 1);
    op.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_cleanup_keeps_the_state_with_the_reason_and_is_retried_until_the_token_is_deleted() {
    let cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("gs-retry").await.expect("ns");
    let fake = FakeGrafana::start().await.expect("fake Grafana");
    let op = start(&ns, true).await;
    grafana_generator(&admin, &ns, &fake, "grafana", true).await;
    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &ns);
    ess.create(&PostParams::default(), &grafana_es(&ns, "dash", json!([grafana_ref("grafana")]))).await.expect("es");
    wait_ready(&ess, "dash", "SecretSynced").await;
    let gs_api: Api<GeneratorState> = Api::namespaced(admin.clone(), &ns);
    wait_for("one state", Duration::from_secs(30), async || states(&gs_api).await.len() == 1).await;
    let first = states(&gs_api).await.remove(0);

    fake.fail_token_deletes(true);
    force_sync(&ess, "dash", 1).await;
    // Past its deadline the state is deleted, but its finalizer holds it: Ready=False, reason Error, saying why.
    wait_for("the cleanup failure in the state's condition", GRACE + Duration::from_secs(30), async || {
        let Some(state) = gs_api.get_opt(&first.name_any()).await.expect("get") else { return false };
        state.metadata.deletion_timestamp.is_some()
            && state.status.as_ref().is_some_and(|s| {
                s.conditions.iter().any(|c| {
                    c.type_ == "Ready"
                        && c.status == "False"
                        && c.reason.as_deref() == Some("Error")
                        && c.message.as_deref().is_some_and(|m| {
                            m.contains("could not cleanup generator state") && m.contains("Grafana answered 500")
                        })
                })
            })
    })
    .await;
    assert_eq!(fake.tokens().len(), 2, "nothing deleted while Grafana fails");
    // Grafana recovers: the retry (backoff) deletes the token and lets the state go.
    fake.fail_token_deletes(false);
    wait_for("the state gone after the retry", Duration::from_secs(60), async || {
        gs_api.get_opt(&first.name_any()).await.expect("get").is_none()
    })
    .await;
    assert_eq!(fake.tokens().len(), 1);
    assert_eq!(fake.deleted_tokens().len(), 1);
    op.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_that_fails_after_generating_deletes_the_new_token_and_stores_no_state() {
    let cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("gs-rollback").await.expect("ns");
    let fake = FakeGrafana::start().await.expect("fake Grafana");
    let op = start(&ns, true).await;
    grafana_generator(&admin, &ns, &fake, "grafana", false).await;
    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &ns);
    // The second entry names a Password generator that does not exist: the sync fails after Grafana ran.
    let missing =
        json!({"sourceRef": {"generatorRef": {"apiVersion": GENERATORS, "kind": "Password", "name": "nope"}}});
    ess.create(&PostParams::default(), &grafana_es(&ns, "dash", json!([grafana_ref("grafana"), missing])))
        .await
        .expect("es");
    wait_ready(&ess, "dash", "SecretSyncedError").await;
    wait_for("the rolled-back token deleted", Duration::from_secs(30), async || !fake.deleted_tokens().is_empty())
        .await;
    assert!(fake.tokens().is_empty(), "no token of a failed sync survives");
    let gs_api: Api<GeneratorState> = Api::namespaced(admin.clone(), &ns);
    assert!(states(&gs_api).await.is_empty(), "nothing to collect: the token was deleted at once");
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    assert!(secrets.get_opt("dash").await.expect("get").is_none(), "no Secret from a failed sync");
    op.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_target_write_deletes_the_new_token_and_keeps_the_one_the_secret_holds() {
    let cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("gs-write-fail").await.expect("ns");
    let fake = FakeGrafana::start().await.expect("fake Grafana");
    let op = start(&ns, true).await;
    grafana_generator(&admin, &ns, &fake, "grafana", false).await;
    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &ns);
    ess.create(&PostParams::default(), &grafana_es(&ns, "dash", json!([grafana_ref("grafana")]))).await.expect("es");
    wait_ready(&ess, "dash", "SecretSynced").await;
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    let held = secret_data(&secrets, "dash").await["token"].clone();
    let gs_api: Api<GeneratorState> = Api::namespaced(admin.clone(), &ns);
    wait_for("the first state", Duration::from_secs(30), async || states(&gs_api).await.len() == 1).await;

    // The user freezes the Secret: the next sync makes a new token but cannot write it.
    let freeze = json!({"immutable": true});
    secrets.patch("dash", &PatchParams::default(), &Patch::Merge(&freeze)).await.expect("freeze the Secret");
    force_sync(&ess, "dash", 1).await;
    wait_ready(&ess, "dash", "SecretSyncedError").await;
    wait_for("the unwritten token deleted", Duration::from_secs(30), async || !fake.deleted_tokens().is_empty()).await;

    // The token the Secret still holds stays valid: its state was not superseded, nothing schedules it for GC.
    assert_eq!(secret_data(&secrets, "dash").await["token"], held);
    assert!(fake.tokens().iter().any(|t| t.key == held), "the token in use is not deleted");
    let kept = states(&gs_api).await;
    assert_eq!(kept.len(), 1, "no state for the unwritten token");
    assert!(kept[0].spec.garbage_collection_deadline.is_none(), "the state in use gets no GC deadline");
    op.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_secret_refuses_a_stateful_generator_and_leaves_no_token_behind() {
    let cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("gs-push").await.expect("ns");
    let fake = FakeGrafana::start().await.expect("fake Grafana");
    let op = start(&ns, true).await;
    grafana_generator(&admin, &ns, &fake, "grafana", false).await;
    let store = object(json!({"apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
        "metadata": {"name": "fake", "namespace": ns},
        "spec": {"controller": op.class, "provider": {"fake": {"data": []}}}}));
    Api::<external_secrets_api::SecretStore>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &store)
        .await
        .expect("SecretStore");
    let push = object(json!({"apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret",
        "metadata": {"name": "tokens", "namespace": ns},
        "spec": {"refreshInterval": "1h", "secretStoreRefs": [{"name": "fake", "kind": "SecretStore"}],
            "selector": {"generatorRef": {"apiVersion": GENERATORS, "kind": "Grafana", "name": "grafana"}},
            "data": [{"match": {"secretKey": "token", "remoteRef": {"remoteKey": "grafana-token"}}}]}}));
    let pushes: Api<external_secrets_api::v1alpha1::PushSecret> = Api::namespaced(admin.clone(), &ns);
    pushes.create(&PostParams::default(), &push).await.expect("PushSecret");
    wait_for("the PushSecret's refusal", Duration::from_secs(60), async || {
        pushes.get("tokens").await.ok().and_then(|p| p.status).is_some_and(|st| {
            st.conditions.iter().any(|c| {
                c.type_ == "Ready"
                    && c.status == "False"
                    && c.message.as_deref().is_some_and(|m| m.contains("keeps state at its provider"))
            })
        })
    })
    .await;
    // The token made for the refused push was deleted at once, none is left in Grafana.
    assert!(!fake.deleted_tokens().is_empty(), "the token was deleted");
    assert!(fake.tokens().is_empty(), "no token left behind");
    op.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_enable_generator_state_no_state_is_stored() {
    let cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("gs-off").await.expect("ns");
    let fake = FakeGrafana::start().await.expect("fake Grafana");
    let op = start(&ns, false).await;
    grafana_generator(&admin, &ns, &fake, "grafana", false).await;
    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &ns);
    ess.create(&PostParams::default(), &grafana_es(&ns, "dash", json!([grafana_ref("grafana")]))).await.expect("es");
    wait_ready(&ess, "dash", "SecretSynced").await;
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    assert_eq!(secret_data(&secrets, "dash").await["token"], fake.tokens()[0].key);
    let gs_api: Api<GeneratorState> = Api::namespaced(admin.clone(), &ns);
    assert!(states(&gs_api).await.is_empty(), "--enable-generator-state=false: the state is dropped, as in ESO");
    op.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_grafana_credential_is_named_and_a_cluster_generator_keeps_and_cleans_state_too() {
    let cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("gs-cluster").await.expect("ns");
    let fake = FakeGrafana::start().await.expect("fake Grafana");
    let op = start(&ns, true).await;
    // The ClusterGenerator's credential Secret is read in the ExternalSecret's namespace, as ESO does.
    grafana_generator(&admin, &ns, &fake, "grafana", false).await;
    let wrong_token = "glsa_not_the_admin_token_do_not_log_0123";
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    let wrong = object(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "wrong", "namespace": ns},
        "stringData": {"token": wrong_token}}));
    secrets.create(&PostParams::default(), &wrong).await.expect("wrong credentials");
    let cluster_generator = format!("{ns}-grafana");
    let generators: Api<external_secrets_api::generators::v1alpha1::ClusterGenerator> = Api::all(admin.clone());
    let spec = |secret: &str| {
        json!({"url": fake.url(), "auth": {"token": {"name": secret, "key": "token"}},
               "serviceAccount": {"name": format!("eso-{ns}"), "role": "Viewer"}})
    };
    generators
        .create(
            &PostParams::default(),
            &object(
                json!({"apiVersion": GENERATORS, "kind": "ClusterGenerator", "metadata": {"name": cluster_generator},
                "spec": {"kind": "Grafana", "generator": {"grafanaSpec": spec("grafana-creds")}}}),
            ),
        )
        .await
        .expect("ClusterGenerator");
    let grafanas: Api<Grafana> = Api::namespaced(admin.clone(), &ns);
    grafanas
        .create(
            &PostParams::default(),
            &object(
                json!({"apiVersion": GENERATORS, "kind": "Grafana", "metadata": {"name": "rejected", "namespace": ns},
                "spec": spec("wrong")}),
            ),
        )
        .await
        .expect("Grafana generator");
    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &ns);
    let via_cluster = json!([{"sourceRef": {"generatorRef": {"apiVersion": GENERATORS, "kind": "ClusterGenerator",
        "name": cluster_generator}}}]);
    ess.create(&PostParams::default(), &grafana_es(&ns, "shared", via_cluster)).await.expect("es");
    ess.create(&PostParams::default(), &grafana_es(&ns, "rejected", json!([grafana_ref("rejected")])))
        .await
        .expect("es");

    // Grafana's 401 is named in the condition, with its message; nothing is written, no state kept.
    let (_, _, message) = wait_ready(&ess, "rejected", "SecretSyncedError").await;
    assert!(message.contains("Grafana answered 401") && message.contains("Unauthorized"), "{message}");
    assert!(secrets.get_opt("rejected").await.expect("get").is_none());
    let status = serde_json::to_string(&ess.get("rejected").await.expect("es").status).expect("JSON");
    assert!(
        !status.contains(wrong_token)
            && !logs().contains(wrong_token)
            && !events_text(&admin, &ns).await.contains(wrong_token)
    );

    // Through the ClusterGenerator: the state records a nameless Grafana manifest, and cleanup works from it.
    wait_ready(&ess, "shared", "SecretSynced").await;
    let gs_api: Api<GeneratorState> = Api::namespaced(admin.clone(), &ns);
    let all = states(&gs_api).await;
    assert_eq!(all.len(), 1, "only the synced ExternalSecret keeps a state");
    assert_eq!(all[0].spec.resource["kind"], "Grafana");
    assert_eq!(all[0].spec.resource["metadata"], json!({}));
    assert_eq!(all[0].spec.resource["spec"], spec("grafana-creds"));
    assert_eq!(fake.tokens().len(), 1);
    ess.delete("shared", &Default::default()).await.expect("delete es");
    wait_for("the token deleted with the ExternalSecret", Duration::from_secs(60), async || {
        states(&gs_api).await.is_empty() && fake.tokens().is_empty()
    })
    .await;
    generators.delete(&cluster_generator, &Default::default()).await.expect("delete ClusterGenerator");
    op.stop().await;
}
