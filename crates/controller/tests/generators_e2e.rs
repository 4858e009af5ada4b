//! `dataFrom[].sourceRef.generatorRef` end to end: the operator (as its own ServiceAccount with the shipped
//! ClusterRole) reads the generator, runs it and writes what it made into the target Secret, against the real
//! local control plane. Generated values must never show in logs, events or status.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::{event_count, events_text, eventually, logs, start_operator, start_operator_configured, wait_ready};
use external_secrets_api::ExternalSecret;
use external_secrets_api::generators::v1alpha1::{
    ClusterGenerator, EcrAuthorizationToken, Fake, Password, QuayAccessToken, SshKey, StsSessionToken,
};
use external_secrets_generators::GeneratorRegistry;
use external_secrets_provider_aws::{AwsProvider, Endpoints};
use external_secrets_testsupport::{Cluster, Fault, FaultProxy, aws, cluster};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use serde::de::DeserializeOwned;
use serde_json::json;

const GENERATORS: &str = "generators.external-secrets.io/v1alpha1";

fn object<T: DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).expect("object")
}

/// An ExternalSecret whose `dataFrom` is one entry per `(kind, name)` generator, plus `extra` spec fields.
fn generator_es(namespace: &str, name: &str, generators: &[(&str, &str)], extra: serde_json::Value) -> ExternalSecret {
    let data_from: Vec<_> = generators
        .iter()
        .map(|(kind, generator)| {
            json!({"sourceRef": {"generatorRef": {"apiVersion": GENERATORS, "kind": kind, "name": generator}}})
        })
        .collect();
    let mut spec = json!({"refreshInterval": "1h", "target": {"name": name}, "dataFrom": data_from});
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        spec[k] = v;
    }
    object(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": namespace}, "spec": spec
    }))
}

async fn secret_data(secrets: &Api<Secret>, name: &str) -> Option<BTreeMap<String, String>> {
    let secret = secrets.get_opt(name).await.expect("get Secret")?;
    Some(
        secret.data.unwrap_or_default().into_iter().map(|(k, v)| (k, String::from_utf8(v.0).expect("UTF-8"))).collect(),
    )
}

/// The ExternalSecret's status as JSON (to check that no generated value is in it).
async fn status_text(ess: &Api<ExternalSecret>, name: &str) -> String {
    serde_json::to_string(&ess.get(name).await.expect("es").status).expect("status JSON")
}

async fn assert_not_leaked(admin: &kube::Client, ns: &str, ess: &Api<ExternalSecret>, es: &[&str], values: &[String]) {
    let events = events_text(admin, ns).await;
    let logs = logs();
    let mut statuses = String::new();
    for name in es {
        statuses.push_str(&status_text(ess, name).await);
    }
    for value in values {
        assert!(value.len() >= 16, "only distinctive values are checked");
        assert!(!events.contains(value.as_str()), "a generated value appeared in the events");
        assert!(!logs.contains(value.as_str()), "a generated value appeared in the operator logs");
        assert!(!statuses.contains(value.as_str()), "a generated value appeared in a status");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_generator_draws_a_new_password_each_refresh_and_created_once_keeps_it() {
    let cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("gen-pw").await.expect("ns");
    let op = start_operator(cluster, &ns).await;

    let passwords: Api<Password> = Api::namespaced(admin.clone(), &ns);
    let spec = json!({"length": 32, "digits": 8, "symbols": 4, "symbolCharacters": "-_", "noUpper": true,
                      "allowRepeat": true});
    passwords
        .create(
            &PostParams::default(),
            &object(json!({"apiVersion": GENERATORS, "kind": "Password",
            "metadata": {"name": "db", "namespace": ns}, "spec": spec})),
        )
        .await
        .expect("Password");
    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &ns);
    let rewrite = json!([{"regexp": {"source": "^", "target": "db_"}}]);
    let mut rotating = generator_es(&ns, "rotating", &[("Password", "db")], json!({"refreshInterval": "1s"}));
    rotating.spec.data_from[0].rewrite = serde_json::from_value(rewrite).expect("rewrite");
    ess.create(&PostParams::default(), &rotating).await.expect("es");
    let once = generator_es(
        &ns,
        "once",
        &[("Password", "db")],
        json!({"refreshInterval": "1s",
        "refreshPolicy": "CreatedOnce"}),
    );
    ess.create(&PostParams::default(), &once).await.expect("es");
    let zero = generator_es(&ns, "zero", &[("Password", "db")], json!({"refreshInterval": "0s"}));
    ess.create(&PostParams::default(), &zero).await.expect("es");
    for name in ["rotating", "once", "zero"] {
        wait_ready(&ess, name, "SecretSynced").await;
    }

    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    let first = secret_data(&secrets, "rotating").await.expect("Secret");
    assert_eq!(first.keys().collect::<Vec<_>>(), ["db_password"], "the key is `password`, rewritten");
    let password = &first["db_password"];
    assert_eq!(password.chars().count(), 32);
    assert_eq!(password.chars().filter(char::is_ascii_digit).count(), 8);
    assert_eq!(password.chars().filter(|c| "-_".contains(*c)).count(), 4);
    assert_eq!(password.chars().filter(char::is_ascii_lowercase).count(), 20, "noUpper: the rest is lowercase");
    let once_value = secret_data(&secrets, "once").await.expect("Secret")["password"].clone();
    let zero_value = secret_data(&secrets, "zero").await.expect("Secret")["password"].clone();
    assert_ne!(once_value, zero_value, "each ExternalSecret gets its own draw");

    // Every refresh of `rotating` (1 s) draws anew: three values in a row, all different.
    let mut seen = vec![password.clone()];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while seen.len() < 3 && tokio::time::Instant::now() < deadline {
        let value = secret_data(&secrets, "rotating").await.expect("Secret")["db_password"].clone();
        if !seen.contains(&value) {
            seen.push(value);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rotated = seen.len() >= 3;
    assert!(rotated, "a refresh draws a new password: saw {} distinct values", seen.len());
    // Meanwhile (several refresh intervals), CreatedOnce and refreshInterval 0 kept their first value.
    assert_eq!(secret_data(&secrets, "once").await.expect("Secret")["password"], once_value);
    assert_eq!(secret_data(&secrets, "zero").await.expect("Secret")["password"], zero_value);

    let mut values = seen.clone();
    values.extend([once_value, zero_value]);
    assert_not_leaked(&admin, &ns, &ess, &["rotating", "once", "zero"], &values).await;
    op.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_generator_sshkey_and_fake_entries_fill_one_secret() {
    let cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("gen-mix").await.expect("ns");
    let op = start_operator(cluster, &ns).await;

    // A ClusterGenerator is cluster scoped: its name carries the namespace so tests do not collide.
    let cluster_uuid = format!("{ns}-uuid");
    Api::<ClusterGenerator>::all(admin.clone())
        .create(
            &PostParams::default(),
            &object(json!({"apiVersion": GENERATORS, "kind": "ClusterGenerator",
            "metadata": {"name": cluster_uuid}, "spec": {"kind": "UUID", "generator": {"uuidSpec": {}}}})),
        )
        .await
        .expect("ClusterGenerator");
    Api::<SshKey>::namespaced(admin.clone(), &ns)
        .create(
            &PostParams::default(),
            &object(json!({"apiVersion": GENERATORS, "kind": "SSHKey",
            "metadata": {"name": "deploy", "namespace": ns},
            "spec": {"keyType": "ed25519", "comment": "deploy@example"}})),
        )
        .await
        .expect("SSHKey");
    Api::<Fake>::namespaced(admin.clone(), &ns)
        .create(
            &PostParams::default(),
            &object(json!({"apiVersion": GENERATORS, "kind": "Fake",
            "metadata": {"name": "static", "namespace": ns}, "spec": {"data": {"region": "eu-west-1"}}})),
        )
        .await
        .expect("Fake");
    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &ns);
    let es = generator_es(
        &ns,
        "mixed",
        &[("ClusterGenerator", &cluster_uuid), ("SSHKey", "deploy"), ("Fake", "static")],
        json!({}),
    );
    ess.create(&PostParams::default(), &es).await.expect("es");
    wait_ready(&ess, "mixed", "SecretSynced").await;

    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    let data = secret_data(&secrets, "mixed").await.expect("Secret");
    assert_eq!(data.keys().collect::<Vec<_>>(), ["privateKey", "publicKey", "region", "uuid"]);
    assert_eq!(data["region"], "eu-west-1");
    let uuid = &data["uuid"];
    let groups: Vec<usize> = uuid.split('-').map(str::len).collect();
    assert_eq!(groups, [8, 4, 4, 4, 12], "{uuid:?} is not a UUID");
    assert!(uuid.chars().all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert_eq!(uuid.as_bytes()[14], b'4', "version 4");
    assert!(data["privateKey"].starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"));
    assert!(data["privateKey"].trim_end().ends_with("-----END OPENSSH PRIVATE KEY-----"));
    assert!(data["publicKey"].starts_with("ssh-ed25519 ") && data["publicKey"].ends_with(" deploy@example\n"));

    let base64_body: String = data["privateKey"].lines().filter(|l| !l.starts_with("-----")).collect();
    assert_not_leaked(&admin, &ns, &ess, &["mixed"], &[uuid.clone(), base64_body]).await;
    op.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_generator_is_retried_and_a_failing_one_leaves_the_secret_as_it_was() {
    let cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("gen-fail").await.expect("ns");
    let op = start_operator(cluster, &ns).await;
    let passwords: Api<Password> = Api::namespaced(admin.clone(), &ns);
    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &ns);
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);

    // Named before it exists: the condition says which generator is missing; once it is created, a retry
    // (backoff, nothing watches generators) picks it up.
    ess.create(&PostParams::default(), &generator_es(&ns, "early", &[("Password", "later")], json!({})))
        .await
        .expect("es");
    let (status, _, message) = wait_ready(&ess, "early", "SecretSyncedError").await;
    assert_eq!(status, "False");
    assert!(message.ends_with(&format!("Password {ns}/later not found")), "{message}");
    passwords
        .create(
            &PostParams::default(),
            &object(json!({"apiVersion": GENERATORS, "kind": "Password",
            "metadata": {"name": "later", "namespace": ns}, "spec": {}})),
        )
        .await
        .expect("Password");
    wait_ready(&ess, "early", "SecretSynced").await;
    assert_eq!(secret_data(&secrets, "early").await.expect("Secret")["password"].chars().count(), 24);

    // A generator that starts failing (an impossible spec) leaves the last value in place.
    passwords
        .create(
            &PostParams::default(),
            &object(json!({"apiVersion": GENERATORS, "kind": "Password",
            "metadata": {"name": "flaky", "namespace": ns}, "spec": {"length": 16}})),
        )
        .await
        .expect("Password");
    ess.create(
        &PostParams::default(),
        &generator_es(&ns, "kept", &[("Password", "flaky")], json!({"refreshInterval": "1s"})),
    )
    .await
    .expect("es");
    wait_ready(&ess, "kept", "SecretSynced").await;
    let patch = json!({"spec": {"length": 4, "digits": 3, "symbols": 3}});
    passwords
        .patch("flaky", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch))
        .await
        .expect("patch Password");
    let (_, _, message) = wait_ready(&ess, "kept", "SecretSyncedError").await;
    assert!(message.contains("invalid Password spec: digits (3) and symbols (3) exceed the length (4)"), "{message}");
    let kept = secret_data(&secrets, "kept").await.expect("the Secret is still there")["password"].clone();
    assert_eq!(kept.chars().count(), 16, "the last good password stays");
    assert_not_leaked(&admin, &ns, &ess, &["early", "kept"], &[kept]).await;
    op.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsupported_generator_kind_is_named_in_a_condition_and_warning_event_without_retries() {
    let cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("gen-unsup").await.expect("ns");
    let op = start_operator(cluster, &ns).await;

    // The CRD of every ESO generator kind is served: a QuayAccessToken generator can be created.
    Api::<QuayAccessToken>::namespaced(admin.clone(), &ns)
        .create(
            &PostParams::default(),
            &object(json!({"apiVersion": GENERATORS, "kind": "QuayAccessToken",
            "metadata": {"name": "hook", "namespace": ns},
            "spec": {"robotAccount": "org+robot", "serviceAccountRef": {"name": "default"}}})),
        )
        .await
        .expect("QuayAccessToken");
    let cluster_hook = format!("{ns}-hook");
    Api::<ClusterGenerator>::all(admin.clone())
        .create(
            &PostParams::default(),
            &object(json!({"apiVersion": GENERATORS, "kind": "ClusterGenerator",
            "metadata": {"name": cluster_hook}, "spec": {"kind": "QuayAccessToken",
                "generator": {"quayAccessTokenSpec": {"robotAccount": "org+robot",
                    "serviceAccountRef": {"name": "default"}}}}})),
        )
        .await
        .expect("ClusterGenerator");
    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &ns);
    ess.create(&PostParams::default(), &generator_es(&ns, "hook", &[("QuayAccessToken", "hook")], json!({})))
        .await
        .expect("es");
    ess.create(
        &PostParams::default(),
        &generator_es(&ns, "cluster-hook", &[("ClusterGenerator", &cluster_hook)], json!({})),
    )
    .await
    .expect("es");
    // A clock: an ExternalSecret refreshed every second, to let time pass by events rather than by sleeping.
    Api::<Password>::namespaced(admin.clone(), &ns)
        .create(
            &PostParams::default(),
            &object(json!({"apiVersion": GENERATORS, "kind": "Password",
            "metadata": {"name": "clock", "namespace": ns}, "spec": {}})),
        )
        .await
        .expect("Password");
    ess.create(
        &PostParams::default(),
        &generator_es(&ns, "clock", &[("Password", "clock")], json!({"refreshInterval": "1s"})),
    )
    .await
    .expect("es");

    // A Fake generator of another controller class makes its ExternalSecret another controller's (ESO).
    Api::<Fake>::namespaced(admin.clone(), &ns)
        .create(
            &PostParams::default(),
            &object(json!({"apiVersion": GENERATORS, "kind": "Fake",
            "metadata": {"name": "theirs", "namespace": ns},
            "spec": {"controller": "another-class", "data": {"k": "v"}}})),
        )
        .await
        .expect("Fake");
    ess.create(&PostParams::default(), &generator_es(&ns, "theirs", &[("Fake", "theirs")], json!({})))
        .await
        .expect("es");

    let (status, _, message) = wait_ready(&ess, "hook", "SecretSyncedError").await;
    assert_eq!(status, "False");
    assert_eq!(
        message,
        r#"could not generate secret data: spec.dataFrom[0].sourceRef.generatorRef: generator kind "QuayAccessToken" is not supported by this operator"#
    );
    let (status, _, message) = wait_ready(&ess, "cluster-hook", "SecretSyncedError").await;
    assert_eq!(status, "False");
    assert!(
        message.contains(&format!(
            r#"ClusterGenerator "{cluster_hook}": generator kind "QuayAccessToken" is not supported"#
        )),
        "{message}"
    );
    let warned = eventually(Duration::from_secs(30), || {
        let admin = admin.clone();
        let ns = ns.clone();
        async move { event_count(&admin, &ns, "UpdateFailed").await >= 2 }
    })
    .await;
    assert!(warned, "a Warning event per ExternalSecret");
    let events = events_text(&admin, &ns).await;
    assert!(events.contains(r#"generator kind "QuayAccessToken" is not supported"#), "{events}");

    // No hot loop: once the first reconciles (and the ones our own finalizer and status writes cause) are
    // through, neither ExternalSecret is retried while the clock refreshes several times.
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    let tick = |n: usize| {
        let secrets = secrets.clone();
        async move {
            let mut clock = Vec::new();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            while clock.len() < n && tokio::time::Instant::now() < deadline {
                if let Some(value) = secret_data(&secrets, "clock").await.map(|d| d["password"].clone())
                    && !clock.contains(&value)
                {
                    clock.push(value);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            assert!(clock.len() >= n, "the clock ticked");
        }
    };
    tick(3).await;
    let settled = event_count(&admin, &ns, "UpdateFailed").await;
    tick(5).await;
    assert_eq!(event_count(&admin, &ns, "UpdateFailed").await, settled, "no retries of an unsupported kind");
    assert!(secrets.get_opt("hook").await.expect("get").is_none());
    assert!(secrets.get_opt("theirs").await.expect("get").is_none(), "another class's generator: not synced");
    assert!(ess.get("theirs").await.expect("es").status.and_then(|s| s.condition("Ready").cloned()).is_none());
    assert!(secrets.get_opt("cluster-hook").await.expect("get").is_none());
    op.stop().await;
}

/// The operator with the AWS generators pointed at `url` (the local AWS endpoint, or a fault proxy before it).
async fn start_operator_with_aws_generators(cluster: &'static Cluster, ns: &str, url: &str) -> common::Operator {
    let aws = AwsProvider::with_endpoints(Endpoints::all(url));
    let generators = GeneratorRegistry::new().with(Arc::new(aws.generators()));
    start_operator_configured(cluster, ns, common::registry(), move |c| c.generators = generators).await
}

/// A Secret holding an access key pair, as `auth.secretRef` reads it.
async fn aws_keys_secret(admin: &kube::Client, ns: &str, name: &str, access_key_id: &str, secret_access_key: &str) {
    let secret: Secret = object(json!({
        "metadata": {"name": name, "namespace": ns},
        "stringData": {"access-key": access_key_id, "secret-access-key": secret_access_key}
    }));
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), ns);
    match secrets.get_opt(name).await.expect("get Secret") {
        None => {
            secrets.create(&PostParams::default(), &secret).await.expect("keys Secret");
        }
        Some(_) => {
            secrets
                .patch(name, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&secret))
                .await
                .expect("patch keys Secret");
        }
    }
}

/// `auth.secretRef` naming the keys in Secret `name`.
fn static_keys_auth(name: &str) -> serde_json::Value {
    json!({"secretRef": {
        "accessKeyIDSecretRef": {"name": name, "key": "access-key"},
        "secretAccessKeySecretRef": {"name": name, "key": "secret-access-key"}
    }})
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecr_and_sts_generators_write_esos_keys_using_static_keys_from_a_secret() {
    let cluster = cluster().await;
    let endpoint = aws().await;
    let admin = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("gen-aws").await.expect("ns");
    let op = start_operator_with_aws_generators(cluster, &ns, &endpoint.url).await;
    aws_keys_secret(&admin, &ns, "aws-keys", &endpoint.access_key_id, &endpoint.secret_access_key).await;

    Api::<EcrAuthorizationToken>::namespaced(admin.clone(), &ns)
        .create(
            &PostParams::default(),
            &object(json!({"apiVersion": GENERATORS, "kind": "ECRAuthorizationToken",
            "metadata": {"name": "ecr", "namespace": ns},
            "spec": {"region": "eu-west-1", "auth": static_keys_auth("aws-keys")}})),
        )
        .await
        .expect("ECRAuthorizationToken");
    // STS through a ClusterGenerator: its secretRef is read in the ExternalSecret's namespace (as ESO).
    let cluster_sts = format!("{ns}-sts");
    Api::<ClusterGenerator>::all(admin.clone())
        .create(
            &PostParams::default(),
            &object(json!({"apiVersion": GENERATORS, "kind": "ClusterGenerator",
            "metadata": {"name": cluster_sts}, "spec": {"kind": "STSSessionToken",
                "generator": {"stsSessionTokenSpec": {"region": "eu-west-1", "auth": static_keys_auth("aws-keys"),
                    "requestParameters": {"sessionDuration": 900, "serialNumber": "arn:aws:iam::123456789012:mfa/me",
                        "tokenCode": "123456"}}}}})),
        )
        .await
        .expect("ClusterGenerator");
    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &ns);
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    ess.create(&PostParams::default(), &generator_es(&ns, "ecr", &[("ECRAuthorizationToken", "ecr")], json!({})))
        .await
        .expect("es");
    ess.create(&PostParams::default(), &generator_es(&ns, "sts", &[("ClusterGenerator", &cluster_sts)], json!({})))
        .await
        .expect("es");

    wait_ready(&ess, "ecr", "SecretSynced").await;
    let ecr = secret_data(&secrets, "ecr").await.expect("ECR Secret");
    assert_eq!(ecr.keys().collect::<Vec<_>>(), ["expires_at", "password", "proxy_endpoint", "username"]);
    // What moto answers (docs/development.md): user AWS, password `<account>-auth-token`, a fixed expiry.
    assert_eq!(ecr["username"], "AWS");
    assert!(ecr["password"].ends_with("-auth-token"), "the password part of the token");
    assert!(
        ecr["proxy_endpoint"].starts_with("https://")
            && ecr["proxy_endpoint"].ends_with(".dkr.ecr.eu-west-1.amazonaws.com"),
        "{}",
        ecr["proxy_endpoint"]
    );
    assert!(ecr["expires_at"].parse::<i64>().expect("Unix seconds") > 0);

    wait_ready(&ess, "sts", "SecretSynced").await;
    let before = unix_now();
    let sts = secret_data(&secrets, "sts").await.expect("STS Secret");
    assert_eq!(sts.keys().collect::<Vec<_>>(), ["access_key_id", "expiration", "secret_access_key", "session_token"]);
    assert!(sts["access_key_id"].len() >= 16 && sts["secret_access_key"].len() >= 16, "keys");
    assert!(!sts["session_token"].is_empty());
    // sessionDuration reached STS: moto's expiry is the call time + 900 s.
    let expiration = sts["expiration"].parse::<i64>().expect("Unix seconds");
    assert!((before + 900 - 600..=before + 900 + 5).contains(&expiration), "expiration {expiration}, now {before}");

    assert_not_leaked(
        &admin,
        &ns,
        &ess,
        &["ecr", "sts"],
        &[ecr["password"].clone(), sts["secret_access_key"].clone(), sts["session_token"].clone()],
    )
    .await;
    Api::<ClusterGenerator>::all(admin.clone())
        .delete(&cluster_sts, &Default::default())
        .await
        .expect("delete ClusterGenerator");
    op.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_aws_keys_and_unsupported_settings_are_named_and_leave_the_secret_untouched() {
    let cluster = cluster().await;
    let endpoint = aws().await;
    let proxy = FaultProxy::start(endpoint.port).expect("fault proxy");
    let admin = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("gen-aws-bad").await.expect("ns");
    let op = start_operator_with_aws_generators(cluster, &ns, &proxy.url).await;
    aws_keys_secret(&admin, &ns, "aws-keys", &endpoint.access_key_id, &endpoint.secret_access_key).await;
    let ecr_generators: Api<EcrAuthorizationToken> = Api::namespaced(admin.clone(), &ns);
    for (name, extra) in [("ecr", json!({})), ("ecr-public", json!({"scope": "public"}))] {
        let mut spec = json!({"region": "eu-west-1", "auth": static_keys_auth("aws-keys")});
        spec.as_object_mut().expect("spec").extend(extra.as_object().cloned().unwrap_or_default());
        ecr_generators
            .create(
                &PostParams::default(),
                &object(json!({"apiVersion": GENERATORS, "kind": "ECRAuthorizationToken",
                "metadata": {"name": name, "namespace": ns}, "spec": spec})),
            )
            .await
            .expect("ECRAuthorizationToken");
    }
    Api::<StsSessionToken>::namespaced(admin.clone(), &ns)
        .create(
            &PostParams::default(),
            &object(json!({"apiVersion": GENERATORS, "kind": "STSSessionToken",
            "metadata": {"name": "sts-irsa", "namespace": ns},
            "spec": {"region": "eu-west-1", "auth": {"jwt": {"serviceAccountRef": {"name": "default"}}}}})),
        )
        .await
        .expect("STSSessionToken");
    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &ns);
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    ess.create(
        &PostParams::default(),
        &generator_es(&ns, "ecr", &[("ECRAuthorizationToken", "ecr")], json!({"refreshInterval": "1s"})),
    )
    .await
    .expect("es");
    wait_ready(&ess, "ecr", "SecretSynced").await;
    let synced = secret_data(&secrets, "ecr").await.expect("ECR Secret");

    // ECR Public is not served by the local endpoint, and IRSA cannot call GetSessionToken (as ESO): both named.
    ess.create(
        &PostParams::default(),
        &generator_es(&ns, "ecr-public", &[("ECRAuthorizationToken", "ecr-public")], json!({})),
    )
    .await
    .expect("es");
    ess.create(&PostParams::default(), &generator_es(&ns, "sts-irsa", &[("STSSessionToken", "sts-irsa")], json!({})))
        .await
        .expect("es");
    let (status, _, message) = wait_ready(&ess, "ecr-public", "SecretSyncedError").await;
    assert_eq!(status, "False");
    assert!(message.contains(r#"scope "public" (ECR Public) is not supported"#), "{message}");
    let (_, _, message) = wait_ready(&ess, "sts-irsa", "SecretSyncedError").await;
    assert!(message.contains("auth.jwt cannot be used for STSSessionToken"), "{message}");
    assert!(
        secrets.get_opt("ecr-public").await.expect("get").is_none()
            && secrets.get_opt("sts-irsa").await.expect("get").is_none()
    );

    // The keys are replaced by ones AWS rejects: the condition names the refusal, the last token stays.
    let wrong_secret = "wrongSecretAccessKeyThatMustNotLeak0123";
    proxy.set(Fault::RejectAccessKeys(vec!["AKIAREJECTEDREJECTED".to_string()]));
    aws_keys_secret(&admin, &ns, "aws-keys", "AKIAREJECTEDREJECTED", wrong_secret).await;
    let (status, _, message) = wait_ready(&ess, "ecr", "SecretSyncedError").await;
    assert_eq!(status, "False");
    assert!(message.contains("GetAuthorizationToken") && message.contains("UnrecognizedClientException"), "{message}");
    assert_eq!(
        secret_data(&secrets, "ecr").await.expect("the Secret is still there"),
        synced,
        "the Secret is untouched"
    );
    assert_not_leaked(
        &admin,
        &ns,
        &ess,
        &["ecr", "ecr-public", "sts-irsa"],
        &[synced["password"].clone(), wrong_secret.to_string()],
    )
    .await;
    op.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generator_yielding_no_data_under_deletion_policy_delete_deletes_the_secret() {
    let cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("gen-empty").await.expect("ns");
    let op = start_operator(cluster, &ns).await;
    let fakes: Api<Fake> = Api::namespaced(admin.clone(), &ns);
    fakes
        .create(
            &PostParams::default(),
            &object(json!({"apiVersion": GENERATORS, "kind": "Fake",
            "metadata": {"name": "fake", "namespace": ns}, "spec": {"data": {"k": "v"}}})),
        )
        .await
        .expect("Fake");
    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &ns);
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    ess.create(
        &PostParams::default(),
        &generator_es(
            &ns,
            "emptied",
            &[("Fake", "fake")],
            json!({"refreshInterval": "1s", "target": {"name": "emptied", "deletionPolicy": "Delete"}}),
        ),
    )
    .await
    .expect("es");
    wait_ready(&ess, "emptied", "SecretSynced").await;
    assert_eq!(secret_data(&secrets, "emptied").await.expect("Secret")["k"], "v");

    // The generator now yields nothing: as ESO, the Secret is deleted rather than emptied.
    let patch = json!({"spec": {"data": null}});
    fakes.patch("fake", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch)).await.expect("patch");
    let (status, _, _) = wait_ready(&ess, "emptied", "SecretDeleted").await;
    assert_eq!(status, "True");
    assert!(secrets.get_opt("emptied").await.expect("get").is_none(), "the Secret is deleted, not emptied");
    op.stop().await;
}
