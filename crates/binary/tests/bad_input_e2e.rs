//! The bad-input matrix (issue 9): malformed and hostile ExternalSecrets, stores, provider answers and templates,
//! each of which passes the CRD schema (the webhook is not running, as when it is down or disabled), against the
//! shipped binary as a process on the real local control plane and moto. Each must end `Ready=False` with a
//! message naming the problem and a Warning event saying the same; the operator must not panic, must not hot-loop
//! (its per-object sync count over a window stays within the backoff's bound), and a healthy ExternalSecret beside
//! them keeps syncing a change. The table is recorded in docs/reliability.md.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod faults;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use external_secrets_api::{ClusterSecretStore, ExternalSecret, SecretStore};
use external_secrets_testsupport::process::{Component, free_port};
use external_secrets_testsupport::{aws, cluster, eventually};
use faults::{attempts_bound, http_get, install_crds, put_parameter, put_secret};
use k8s_openapi::api::core::v1::{ConfigMap, Event, Secret};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// How long every case may take to reach `Ready=False`.
const SETTLE: Duration = Duration::from_secs(90);
/// The window over which sync attempts are counted.
const WINDOW: Duration = Duration::from_secs(30);

/// One bad input: an ExternalSecret `name` with `spec` (merged over a default reading nothing from `store`), and
/// what its Ready message (and its Warning event) must contain.
struct Case {
    name: &'static str,
    what: &'static str,
    store: &'static str,
    spec: Value,
    /// What the Ready=False message and the Warning event must contain; `None`: the input is hostile but valid,
    /// and it syncs (within the operator's bounds).
    names: Option<&'static str>,
}

fn case(name: &'static str, what: &'static str, store: &'static str, spec: Value, names: &'static str) -> Case {
    Case { name, what, store, spec, names: Some(names) }
}

/// A hostile input that is valid: it must sync, bounded.
fn syncs(mut c: Case) -> Case {
    c.names = None;
    c
}

/// A case whose template `data[out]` is `template`, over the Fake store's key `doc`.
fn template(name: &'static str, what: &'static str, template: &str, names: &'static str) -> Case {
    case(
        name,
        what,
        "fake",
        json!({"target": {"template": {"data": {"out": template}}}, "data": [{"secretKey": "v", "remoteRef": {"key": "doc"}}]}),
        names,
    )
}

fn data(key: &str, extra: Value) -> Value {
    let mut remote = json!({"key": key});
    for (k, v) in extra.as_object().unwrap() {
        remote[k] = v.clone();
    }
    json!({"data": [{"secretKey": "v", "remoteRef": remote}]})
}

fn cases(ns: &str) -> Vec<Case> {
    let sm = |k: &str| format!("{ns}/bad/{k}");
    let ssm = |k: &str| format!("/{ns}/bad/{k}");
    let sm_key = |k: &str| json!({"dataFrom": [{"extract": {"key": sm(k)}}]});
    vec![
        // Stores.
        case("store-missing", "store does not exist", "nope", data("x", json!({})), "nope"),
        case(
            "cluster-store-missing",
            "ClusterSecretStore does not exist",
            "cluster:nope",
            data("x", json!({})),
            "nope",
        ),
        case(
            "provider-unknown",
            "store of a provider this build lacks",
            "unknown-provider",
            data("x", json!({})),
            "unknown-provider",
        ),
        case("aws-bad-region", "AWS store with an invalid region", "bad-region", data("x", json!({})), "bad-region"),
        case(
            "aws-credentials-secret-missing",
            "credentials Secret missing",
            "no-credentials-secret",
            data("x", json!({})),
            "no-credentials-secret",
        ),
        case(
            "aws-credentials-key-missing",
            "credentials Secret lacks the key",
            "no-credentials-key",
            data("x", json!({})),
            "no-credentials-key",
        ),
        case(
            "aws-credentials-cross-namespace",
            "credentials in another namespace",
            "cross-namespace-credentials",
            data("x", json!({})),
            "cross-namespace-credentials",
        ),
        case(
            "cluster-store-not-for-namespace",
            "ClusterSecretStore conditions exclude the namespace",
            "cluster:excluding",
            data("x", json!({})),
            "excluding",
        ),
        case(
            "fake-empty-key",
            "Fake store entry without a key",
            "fake-empty-key",
            data("x", json!({})),
            "fake-empty-key",
        ),
        case(
            "store-ref-kind-mismatch",
            "a SecretStore's name given as ClusterSecretStore",
            "cluster:fake",
            data("doc", json!({})),
            "fake",
        ),
        // Remote data.
        case("sm-key-missing", "Secrets Manager key does not exist", "aws-sm", data(&sm("nope"), json!({})), "nope"),
        case("ssm-key-missing", "Parameter Store key does not exist", "aws-ssm", data(&ssm("nope"), json!({})), "nope"),
        case("fake-key-missing", "Fake key does not exist", "fake", data("nope", json!({})), "nope"),
        case(
            "fake-version-missing",
            "Fake version does not exist",
            "fake",
            data("doc", json!({"version": "v9"})),
            "doc",
        ),
        case(
            "property-missing",
            "property not in the JSON",
            "aws-sm",
            data(&sm("doc"), json!({"property": "nope"})),
            "nope",
        ),
        case(
            "property-nested-missing",
            "nested property not in the JSON",
            "aws-sm",
            data(&sm("doc"), json!({"property": "a.b.c"})),
            "a.b.c",
        ),
        case(
            "property-of-non-json",
            "property of a non-JSON value",
            "aws-sm",
            data(&sm("plain"), json!({"property": "password"})),
            "password",
        ),
        case(
            "property-ssm-missing",
            "Parameter Store property not in the JSON",
            "aws-ssm",
            data(&ssm("doc"), json!({"property": "nope"})),
            "nope",
        ),
        case(
            "base64-invalid",
            "decodingStrategy Base64 of non-base64",
            "aws-sm",
            data(&sm("plain"), json!({"decodingStrategy": "Base64"})),
            "not valid Base64",
        ),
        case(
            "base64url-invalid",
            "decodingStrategy Base64URL of non-base64",
            "aws-sm",
            data(&sm("plain"), json!({"decodingStrategy": "Base64URL"})),
            "not valid Base64URL",
        ),
        case("extract-non-json", "dataFrom.extract of a non-JSON value", "aws-sm", sm_key("plain"), "JSON"),
        case("extract-json-array", "dataFrom.extract of a JSON array", "aws-sm", sm_key("array"), "JSON"),
        case("extract-json-number", "dataFrom.extract of a JSON number", "aws-sm", sm_key("number"), "JSON"),
        case("extract-missing", "dataFrom.extract of a missing key", "aws-sm", sm_key("nope"), "nope"),
        case(
            "extract-base64-invalid",
            "dataFrom.extract decoding Base64 of non-base64 values",
            "aws-sm",
            json!({"dataFrom": [{"extract": {"key": sm("doc"), "decodingStrategy": "Base64"}}]}),
            "not valid Base64",
        ),
        case(
            "find-bad-regexp",
            "dataFrom.find with a regexp that does not compile",
            "aws-sm",
            json!({"dataFrom": [{"find": {"name": {"regexp": "(unclosed"}}}]}),
            "regexp",
        ),
        case(
            "rewrite-bad-regexp",
            "rewrite regexp that does not compile",
            "aws-sm",
            json!({"dataFrom": [{"extract": {"key": sm("doc")}, "rewrite": [{"regexp": {"source": "([", "target": "x"}}]}]}),
            "regexp",
        ),
        case(
            "rewrite-bad-template",
            "rewrite transform template that does not parse",
            "aws-sm",
            json!({"dataFrom": [{"extract": {"key": sm("doc")}, "rewrite": [{"transform": {"template": "{{ .value"}}]}]}),
            "transform",
        ),
        syncs(case(
            "deeply-nested-json-property",
            "property of 20000-deep JSON",
            "aws-sm",
            data(&sm("deep"), json!({"property": "a.a.a"})),
            "a.a.a",
        )),
        syncs(case(
            "deeply-nested-json-extract",
            "dataFrom.extract of 20000-deep JSON",
            "aws-sm",
            sm_key("deep"),
            "JSON",
        )),
        case(
            "huge-value",
            "a 1.2 MB value: the Secret would exceed the apiserver's limit",
            "fake-huge",
            data("huge", json!({})),
            "huge-value",
        ),
        syncs(case(
            "extract-keys-invalid",
            "dataFrom.extract of JSON whose keys are not valid Secret keys",
            "aws-sm",
            sm_key("bad-keys"),
            "data[",
        )),
        case(
            "generator-missing",
            "dataFrom.sourceRef.generatorRef to a generator that does not exist",
            "fake",
            json!({"dataFrom": [{"sourceRef": {"generatorRef": {"apiVersion": "generators.external-secrets.io/v1alpha1", "kind": "Password", "name": "nope"}}}]}),
            "generatorRef",
        ),
        case(
            "source-store-missing",
            "data[].sourceRef.storeRef to a store that does not exist",
            "fake",
            json!({"data": [{"secretKey": "v", "remoteRef": {"key": "doc"}, "sourceRef": {"storeRef": {"name": "nope-either", "kind": "SecretStore"}}}]}),
            "nope-either",
        ),
        // Spec.
        case(
            "refresh-interval-invalid",
            "refreshInterval that is not a duration",
            "fake",
            json!({"refreshInterval": "banana", "data": [{"secretKey": "v", "remoteRef": {"key": "doc"}}]}),
            "banana",
        ),
        syncs(case(
            "refresh-interval-negative",
            "negative refreshInterval",
            "fake",
            json!({"refreshInterval": "-5m", "data": [{"secretKey": "v", "remoteRef": {"key": "doc"}}]}),
            "-5m",
        )),
        case(
            "property-index-out-of-range",
            "property indexing past the end of a JSON array",
            "aws-sm",
            data(&sm("array"), json!({"property": "7"})),
            "7",
        ),
        syncs(case(
            "merge-without-secret",
            "creationPolicy Merge and no Secret to merge into",
            "fake",
            json!({"target": {"name": "absent", "creationPolicy": "Merge"}, "data": [{"secretKey": "v", "remoteRef": {"key": "doc"}}]}),
            "absent",
        )),
        case(
            "target-owned-by-another",
            "target Secret owned by another ExternalSecret",
            "fake",
            json!({"target": {"name": "healthy"}, "data": [{"secretKey": "v", "remoteRef": {"key": "doc"}}]}),
            "healthy",
        ),
        case(
            "target-not-managed",
            "target Secret exists and is not ours (Owner)",
            "fake",
            json!({"target": {"name": "users-own"}, "data": [{"secretKey": "v", "remoteRef": {"key": "doc"}}]}),
            "users-own",
        ),
        case(
            "service-account-token-binding",
            "service-account-token template naming a ServiceAccount",
            "fake",
            json!({"target": {"template": {"type": "kubernetes.io/service-account-token",
                                            "metadata": {"annotations": {"kubernetes.io/service-account.name": "default"}}}},
                    "data": [{"secretKey": "v", "remoteRef": {"key": "doc"}}]}),
            "service-account",
        ),
        case(
            "generic-kind-unknown",
            "generic target of a kind nobody serves",
            "fake",
            json!({"target": {"manifest": {"apiVersion": "example.com/v1", "kind": "Nope"}}, "data": [{"secretKey": "v", "remoteRef": {"key": "doc"}}]}),
            "Nope",
        ),
        case(
            "generic-kind-secret",
            "generic target of kind Secret",
            "fake",
            json!({"target": {"manifest": {"apiVersion": "v1", "kind": "Secret"}}, "data": [{"secretKey": "v", "remoteRef": {"key": "doc"}}]}),
            "Secret",
        ),
        case(
            "generic-cluster-scoped",
            "generic target of a cluster-scoped kind",
            "fake",
            json!({"target": {"manifest": {"apiVersion": "v1", "kind": "Namespace"}}, "data": [{"secretKey": "v", "remoteRef": {"key": "doc"}}]}),
            "Namespace",
        ),
        // Templates.
        template("template-unclosed", "template that does not parse", "{{ .v", "spec.target.template.data[out]"),
        template(
            "template-unknown-function",
            "template calling an unknown function",
            "{{ nosuchfunction .v }}",
            "nosuchfunction",
        ),
        template(
            "template-fail",
            "template calling fail",
            "{{ fail \"this input is refused\" }}",
            "this input is refused",
        ),
        template(
            "template-recursion",
            "template calling itself forever",
            "{{ define \"r\" }}{{ template \"r\" . }}{{ end }}{{ template \"r\" . }}",
            "spec.target.template.data[out]",
        ),
        template(
            "template-huge-repeat",
            "repeat of 10^9",
            "{{ repeat 1000000000 \"x\" }}",
            "spec.target.template.data[out]",
        ),
        template(
            "template-exponential-range",
            "nested ranges of 10^5 × 10^5",
            "{{ range until 100000 }}{{ range until 100000 }}x{{ end }}{{ end }}",
            "spec.target.template.data[out]",
        ),
        template("template-huge-until", "until 10^9", "{{ until 1000000000 | len }}", "spec.target.template.data[out]"),
        template("template-div-zero", "integer division by zero", "{{ div 1 0 }}", "spec.target.template.data[out]"),
        template("template-mod-zero", "integer modulo by zero", "{{ mod 1 0 }}", "spec.target.template.data[out]"),
        template(
            "template-substr-backwards",
            "substr with start after end",
            "{{ substr 5 2 \"abc\" | fail }}",
            "spec.target.template.data[out]",
        ),
        template(
            "template-wrap-negative",
            "wrap with a negative width",
            "{{ wrap -1 \"abc def\" | fail }}",
            "spec.target.template.data[out]",
        ),
        template(
            "template-rand-negative",
            "randAlpha of a negative length",
            "{{ randAlpha -1 | fail }}",
            "spec.target.template.data[out]",
        ),
        template(
            "template-repeat-negative",
            "repeat of a negative count",
            "{{ repeat -1 \"x\" | fail }}",
            "spec.target.template.data[out]",
        ),
        syncs(template(
            "template-printf-huge-width",
            "printf with a 10^9 width",
            "{{ printf \"%*d\" 1000000000 1 }}",
            "spec.target.template.data[out]",
        )),
        template(
            "template-index-string",
            "index into a string by key",
            "{{ index .v \"a\" }}",
            "spec.target.template.data[out]",
        ),
        syncs(template(
            "template-private-key-type",
            "genPrivateKey of an unknown type",
            "{{ genPrivateKey \"nope\" }}",
            "spec.target.template.data[out]",
        )),
        template(
            "template-bad-regex",
            "mustRegexMatch with a bad pattern",
            "{{ mustRegexMatch \"(\" .v }}",
            "spec.target.template.data[out]",
        ),
        template(
            "template-from-json",
            "mustFromJson of a non-JSON value",
            "{{ \"not json\" | mustFromJson }}",
            "spec.target.template.data[out]",
        ),
        template(
            "template-wrong-arity",
            "a function with too few arguments",
            "{{ htpasswd \"u\" }}",
            "spec.target.template.data[out]",
        ),
        case(
            "templatefrom-value-not-string",
            "templateFrom Data rendering a map where a value belongs",
            "fake",
            json!({"target": {"template": {"templateFrom": [{"target": "Data", "literal": "a: {b: c}"}]}}, "data": [{"secretKey": "v", "remoteRef": {"key": "doc"}}]}),
            "not a string",
        ),
        case(
            "template-label-invalid",
            "template label value the apiserver refuses",
            "fake",
            json!({"target": {"template": {"metadata": {"labels": {"team": "not a label value!"}}}}, "data": [{"secretKey": "v", "remoteRef": {"key": "doc"}}]}),
            "metadata.labels",
        ),
        case(
            "template-annotation-key-invalid",
            "template annotation key the apiserver refuses",
            "fake",
            json!({"target": {"template": {"metadata": {"annotations": {"not a key!": "x"}}}}, "data": [{"secretKey": "v", "remoteRef": {"key": "doc"}}]}),
            "metadata.annotations",
        ),
        case(
            "templatefrom-labels-not-yaml",
            "templateFrom Labels rendering no YAML map",
            "fake",
            json!({"target": {"template": {"templateFrom": [{"target": "Labels", "literal": "{unclosed: "}]}}, "data": [{"secretKey": "v", "remoteRef": {"key": "doc"}}]}),
            "YAML",
        ),
        case(
            "templatefrom-target-unknown",
            "templateFrom target that is not Data/Labels/Annotations",
            "fake",
            json!({"target": {"template": {"templateFrom": [{"target": "Elsewhere", "literal": "a: b"}]}}, "data": [{"secretKey": "v", "remoteRef": {"key": "doc"}}]}),
            "Elsewhere",
        ),
        case(
            "templatefrom-configmap-missing",
            "templateFrom ConfigMap that does not exist",
            "fake",
            json!({"target": {"template": {"templateFrom": [{"configMap": {"name": "no-such-cm", "items": [{"key": "k"}]}}]}}, "data": [{"secretKey": "v", "remoteRef": {"key": "doc"}}]}),
            "no-such-cm",
        ),
        case(
            "templatefrom-configmap-key-missing",
            "templateFrom ConfigMap without the key",
            "fake",
            json!({"target": {"template": {"templateFrom": [{"configMap": {"name": "templates", "items": [{"key": "nope"}]}}]}}, "data": [{"secretKey": "v", "remoteRef": {"key": "doc"}}]}),
            "nope",
        ),
        case(
            "templatefrom-secret-missing",
            "templateFrom Secret that does not exist",
            "fake",
            json!({"target": {"template": {"templateFrom": [{"secret": {"name": "no-such-secret", "items": [{"key": "k"}]}}]}}, "data": [{"secretKey": "v", "remoteRef": {"key": "doc"}}]}),
            "no-such-secret",
        ),
    ]
}

/// `externalsecret_sync_calls_total` of each ExternalSecret of `ns`.
async fn sync_counts(port: u16, ns: &str) -> BTreeMap<String, f64> {
    let (_, body) = http_get(port, "/metrics").await;
    let label = |line: &str, key: &str| {
        let start = line.find(&format!("{key}=\""))? + key.len() + 2;
        let end = line[start..].find('"')? + start;
        Some(line[start..end].to_string())
    };
    body.lines()
        .filter(|l| l.starts_with("externalsecret_sync_calls_total{"))
        .filter(|l| label(l, "namespace").as_deref() == Some(ns))
        .filter_map(|l| Some((label(l, "name")?, l.rsplit(' ').next()?.parse().ok()?)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_gets_a_condition_and_an_event_without_panic_or_hot_loop_and_others_keep_syncing() {
    let cluster = cluster().await;
    let endpoint = aws().await;
    let admin = cluster.admin_client().await.expect("admin client");
    install_crds(&admin).await;
    let ns = cluster.namespace("bad-input").await.expect("namespace");
    let other_ns = cluster.namespace("bad-input-other").await.expect("namespace");

    // Remote data.
    let region = endpoint.region.as_str();
    let deep = format!("{}1{}", "{\"a\":".repeat(20_000), "}".repeat(20_000));
    for (key, value) in [
        ("plain", "not json, not base64!".to_string()),
        ("doc", json!({"user": "admin", "password": "p"}).to_string()),
        ("array", "[1,2,3]".to_string()),
        ("number", "42".to_string()),
        ("bad-keys", json!({"not a key!": "x"}).to_string()),
        ("deep", deep),
    ] {
        put_secret(endpoint, &format!("{ns}/bad/{key}"), &value);
    }
    put_parameter(endpoint, &format!("/{ns}/bad/doc"), "{\"user\":\"admin\"}");

    // Stores and the objects the cases refer to.
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    let create_secret = |api: Api<Secret>, body: Value| async move {
        api.create(&PostParams::default(), &serde_json::from_value(body).unwrap()).await.expect("Secret");
    };
    create_secret(
        secrets.clone(),
        json!({"metadata": {"name": "creds"}, "stringData": {"id": "AKIABADINPUT00000001", "secret": "s"}}),
    )
    .await;
    create_secret(
        Api::namespaced(admin.clone(), &other_ns),
        json!({"metadata": {"name": "creds"}, "stringData": {"id": "a", "secret": "s"}}),
    )
    .await;
    create_secret(secrets.clone(), json!({"metadata": {"name": "users-own"}, "stringData": {"mine": "yes"}})).await;
    Api::<ConfigMap>::namespaced(admin.clone(), &ns)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "templates"}, "data": {"k": "x"}})).unwrap(),
        )
        .await
        .expect("ConfigMap");
    let auth = |name: &str, id_key: &str, namespace: Option<&str>| {
        let mut id = json!({"name": name, "key": id_key});
        let mut secret = json!({"name": name, "key": "secret"});
        if let Some(n) = namespace {
            id["namespace"] = json!(n);
            secret["namespace"] = json!(n);
        }
        json!({"secretRef": {"accessKeyIDSecretRef": id, "secretAccessKeySecretRef": secret}})
    };
    let aws_store =
        |service: &str, region: &str, auth: Value| json!({"aws": {"service": service, "region": region, "auth": auth}});
    let huge = "x".repeat(1_200_000);
    let stores: Vec<(&str, Value)> = vec![
        ("aws-sm", aws_store("SecretsManager", region, auth("creds", "id", None))),
        ("aws-ssm", aws_store("ParameterStore", region, auth("creds", "id", None))),
        ("bad-region", aws_store("SecretsManager", "not a region!", auth("creds", "id", None))),
        ("no-credentials-secret", aws_store("SecretsManager", region, auth("no-such-creds", "id", None))),
        ("no-credentials-key", aws_store("SecretsManager", region, auth("creds", "no-such-key", None))),
        ("cross-namespace-credentials", aws_store("SecretsManager", region, auth("creds", "id", Some(&other_ns)))),
        ("unknown-provider", json!({"vault": {"server": "https://vault.example", "path": "secret"}})),
        (
            "fake",
            json!({"fake": {"data": [{"key": "doc", "value": "{\"a\":\"b\"}"}, {"key": "healthy", "value": "v1"}]}}),
        ),
        ("fake-empty-key", json!({"fake": {"data": [{"key": "", "value": "x"}]}})),
        ("fake-huge", json!({"fake": {"data": [{"key": "huge", "value": huge}]}})),
    ];
    let store_api: Api<SecretStore> = Api::namespaced(admin.clone(), &ns);
    for (name, provider) in stores {
        let store: SecretStore = serde_json::from_value(json!({
            "apiVersion": "external-secrets.io/v1", "kind": "SecretStore", "metadata": {"name": name},
            "spec": {"provider": provider}}))
        .unwrap();
        store_api.create(&PostParams::default(), &store).await.unwrap_or_else(|e| panic!("store {name}: {e}"));
    }
    let excluding: ClusterSecretStore = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore", "metadata": {"name": format!("{ns}-excluding")},
        "spec": {"conditions": [{"namespaces": ["somewhere-else"]}], "provider": {"fake": {"data": [{"key": "x", "value": "y"}]}}}}))
    .unwrap();
    Api::<ClusterSecretStore>::all(admin.clone())
        .create(&PostParams::default(), &excluding)
        .await
        .expect("cluster store");

    // The operator, then the healthy ExternalSecret, then the bad ones.
    let metrics_port = free_port().expect("port");
    let log = cluster.dir.join(format!("{ns}-controller.log"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_external-secrets"));
    cmd.arg(format!("--metrics-addr=127.0.0.1:{metrics_port}"))
        .arg(format!("--live-addr=127.0.0.1:{metrics_port}"))
        .arg("--unsafe-allow-generic-targets")
        .env("KUBECONFIG", &cluster.kubeconfig)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("RUST_LOG");
    for (k, v) in endpoint.env() {
        cmd.env(k, v);
    }
    for var in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
        cmd.env_remove(var);
    }
    let mut controller = Component::spawn("controller", cmd, &log, false).expect("start the controller");

    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &ns);
    let create_es = |name: String, store: &str, extra: &Value| {
        let store_ref = match store.strip_prefix("cluster:") {
            Some("fake") => json!({"name": "fake", "kind": "ClusterSecretStore"}),
            Some(s) => json!({"name": format!("{ns}-{s}"), "kind": "ClusterSecretStore"}),
            None => json!({"name": store, "kind": "SecretStore"}),
        };
        let mut spec = json!({"refreshInterval": "1h", "secretStoreRef": store_ref, "target": {"name": name}});
        for (k, v) in extra.as_object().unwrap() {
            if k == "target" {
                for (tk, tv) in v.as_object().unwrap() {
                    spec["target"][tk] = tv.clone();
                }
            } else {
                spec[k] = v.clone();
            }
        }
        let es: ExternalSecret = serde_json::from_value(json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "metadata": {"name": name}, "spec": spec}))
        .unwrap();
        let ess = ess.clone();
        async move { ess.create(&PostParams::default(), &es).await.map_err(|e| format!("{name}: {e}")) }
    };
    create_es(
        "healthy".into(),
        "fake",
        &json!({"refreshInterval": "5s", "data": [{"secretKey": "v", "remoteRef": {"key": "healthy"}}]}),
    )
    .await
    .expect("healthy ExternalSecret");
    // Synced before the others exist, so that it owns its Secret (one case tries to write the same Secret).
    let healthy_value = |want: &'static [u8]| {
        let secrets = secrets.clone();
        async move {
            let secret = secrets.get_opt("healthy").await.ok().flatten();
            secret.and_then(|s| s.data).and_then(|d| d.get("v").cloned()).is_some_and(|v| v.0 == want)
        }
    };
    assert!(
        eventually(Duration::from_secs(60), || healthy_value(b"v1")).await,
        "healthy not synced; log: {}",
        log.display()
    );
    let all = cases(&ns);
    assert!(all.len() >= 60, "{} cases", all.len());
    let mut refused = Vec::new();
    for c in &all {
        if let Err(e) = create_es(c.name.to_string(), c.store, &c.spec).await {
            refused.push(e);
        }
    }
    assert!(
        refused.is_empty(),
        "cases the schema refuses (the matrix is of inputs it admits):\n{}",
        refused.join("\n")
    );

    // Each case ends Ready=False naming the problem.
    let conditions = || async {
        let list = ess.list(&ListParams::default()).await.map(|l| l.items).unwrap_or_default();
        list.into_iter()
            .filter_map(|es| {
                let c = es.status.as_ref()?.condition("Ready")?.clone();
                Some((
                    es.metadata.name.clone()?,
                    (c.status, c.reason.unwrap_or_default(), c.message.unwrap_or_default()),
                ))
            })
            .collect::<BTreeMap<_, _>>()
    };
    let wrong = |conditions: &BTreeMap<String, (String, String, String)>| -> Vec<String> {
        all.iter()
            .filter_map(|c| match (conditions.get(c.name), c.names) {
                (Some((status, _, message)), Some(names)) if status == "False" && message.contains(names) => None,
                (Some((status, _, _)), None) if status == "True" => None,
                (other, names) => Some(format!("{} (want {names:?}, None: True): {other:?}", c.name)),
            })
            .collect()
    };
    let settled = eventually(SETTLE, || async { wrong(&conditions().await).is_empty() }).await;
    let now = conditions().await;
    if std::env::var_os("ESR_PRINT_BAD_INPUT").is_some() {
        for c in &all {
            let (status, reason, message) = now.get(c.name).cloned().unwrap_or_default();
            let message = message.replace(&ns, "<ns>").replace('\n', " ").replace('|', "\\|");
            println!("bad-input | `{}` | {} | {status} {reason} | {message} |", c.name, c.what);
        }
    }
    assert!(settled, "cases not ending as required:\n{}\nlog: {}", wrong(&now).join("\n"), log.display());

    // ... with a Warning event saying the same.
    let events: Api<Event> = Api::namespaced(admin.clone(), &ns);
    let unwarned = || async {
        let list = events.list(&ListParams::default()).await.map(|l| l.items).unwrap_or_default();
        all.iter()
            .filter(|c| {
                c.names.is_some_and(|names| {
                    !list.iter().any(|e| {
                        e.type_.as_deref() == Some("Warning")
                            && e.involved_object.name.as_deref() == Some(c.name)
                            && e.message.as_deref().is_some_and(|m| m.contains(names))
                    })
                })
            })
            .map(|c| c.name)
            .collect::<Vec<_>>()
    };
    let warned = eventually(Duration::from_secs(30), || async { unwarned().await.is_empty() }).await;
    assert!(warned, "no Warning event naming the problem for {:?}", unwarned().await);

    // No hot loop: over WINDOW, each makes at most as many sync attempts as its backoff allows.
    let before = sync_counts(metrics_port, &ns).await;
    let started = Instant::now();
    // The healthy one keeps syncing meanwhile: the Fake store's value changes, the target follows.
    let patch = json!({"spec": {"provider": {"fake": {"data": [{"key": "doc", "value": "{\"a\":\"b\"}"}, {"key": "healthy", "value": "v2"}]}}}});
    store_api.patch("fake", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("patch fake store");
    let followed = eventually(Duration::from_secs(30), || healthy_value(b"v2")).await;
    assert!(followed, "the healthy ExternalSecret did not sync the change beside the bad inputs");
    tokio::time::sleep(WINDOW.saturating_sub(started.elapsed())).await;
    let after = sync_counts(metrics_port, &ns).await;
    let window = started.elapsed();
    // The store change above re-queues every ExternalSecret of that store once.
    let bound = attempts_bound(window) as f64 + 1.0;
    let looping: Vec<String> = all
        .iter()
        .filter_map(|c| {
            let n = after.get(c.name).copied().unwrap_or(0.0) - before.get(c.name).copied().unwrap_or(0.0);
            (n > bound).then(|| format!("{}: {n} syncs in {window:?} (bound {bound})", c.name))
        })
        .collect();
    assert!(!before.is_empty(), "no externalsecret_sync_calls_total series for {ns}");
    let healthy = after.get("healthy").copied().unwrap_or(0.0) - before.get("healthy").copied().unwrap_or(0.0);
    assert!(healthy >= 1.0, "the sync count does not move: the healthy ExternalSecret counted {healthy} syncs");
    assert!(looping.is_empty(), "hot loop:\n{}", looping.join("\n"));

    let output = std::fs::read_to_string(&log).expect("log");
    assert!(!output.contains("panicked at"), "the controller panicked (see {})", log.display());
    assert!(controller.exited().is_none(), "the controller exited:\n{}", controller.log_tail(30));
    controller.stop();
}
