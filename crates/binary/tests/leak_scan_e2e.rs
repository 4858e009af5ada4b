//! Secret values never escape (issue 9): the shipped binary — controller and webhook, each a process at the most
//! verbose log level a user can set (`RUST_LOG=trace`, which overrides `--loglevel=trace`) — runs against the real local
//! control plane and the local AWS endpoint, and every path a value travels is taken with its own recognisable
//! value: Secrets Manager and Parameter Store, the Fake provider, `property`, `dataFrom.extract`/`find`, templates
//! (labels and annotations rendered from data that the apiserver rejects, `templateFrom` targets, `fail`, function
//! errors about a value, a template source Secret that does not parse), decoding failures, a non-JSON value with a
//! property, a missing property, a generic ConfigMap target, a ClusterSecretStore with a ClusterExternalSecret, and
//! objects the webhook denies. Then everything the operator produced — both processes' output, every Event of the
//! test namespaces, every status, `/metrics`, the webhook's denials — is scanned for every value in every form
//! [`leak::forms`] lists. A hit names the place and the value's name, never the value.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod faults;
mod leak;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use external_secrets_api::{ClusterExternalSecret, ClusterSecretStore, ExternalSecret, SecretStore};
use external_secrets_testsupport::process::{Component, free_port};
use external_secrets_testsupport::{aws, cluster, eventually};
use external_secrets_webhook::certcontroller::CertBundle;
use external_secrets_webhook::server::{CLUSTER_SECRET_STORE_PATH, EXTERNAL_SECRET_PATH, SECRET_STORE_PATH};
use faults::{http_get, install_crds, put_parameter, put_secret};
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::{Event, Namespace, Secret};
use k8s_openapi::serde::Serialize;
use k8s_openapi::serde::de::DeserializeOwned;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use leak::{Hit, Planted, scan};
use serde_json::{Value, json};

/// How long every ExternalSecret may take to reach the Ready status its case expects.
const SETTLE: Duration = Duration::from_secs(90);

/// The secret value of `name`: recognisable, distinct per name, and built so that each form differs (a quote, a
/// slash, a plus, a space, `&`, `=`, `%`, `?`); it is not base64, not JSON, not a valid label value or key.
fn value(name: &str) -> String {
    format!("LeakScan/{name} \"q\" +&=%? end")
}

/// Every value the test plants, by name.
#[derive(Default)]
struct Values(BTreeMap<String, String>);

impl Values {
    fn plant(&mut self, name: &str) -> String {
        let v = value(name);
        self.0.insert(name.to_string(), v.clone());
        v
    }

    fn planted(&self) -> Vec<Planted> {
        self.0.iter().map(|(name, value)| Planted { name: name.clone(), value: value.clone() }).collect()
    }
}

async fn create<K>(api: &Api<K>, body: Value) -> Result<K, kube::Error>
where
    K: kube::Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let object: K = serde_json::from_value(body).expect("a valid object");
    api.create(&PostParams::default(), &object).await
}

/// The chart's ValidatingWebhookConfiguration (v1, CREATE/UPDATE, failurePolicy Fail) pointing at the webhook
/// process on `https://127.0.0.1:<port>`, for objects labelled `leak-scan=<tag>`.
fn webhook_configuration(name: &str, tag: &str, port: u16, ca: &str) -> ValidatingWebhookConfiguration {
    let hook = |hook_name: &str, path: &str, resource: &str| {
        json!({
            "name": hook_name,
            "clientConfig": {"url": format!("https://127.0.0.1:{port}{path}"), "caBundle": ByteString(ca.as_bytes().to_vec())},
            "rules": [{"apiGroups": ["external-secrets.io"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                       "resources": [resource], "scope": "*"}],
            "objectSelector": {"matchLabels": {"leak-scan": tag}},
            "failurePolicy": "Fail", "matchPolicy": "Equivalent", "sideEffects": "None",
            "admissionReviewVersions": ["v1"], "timeoutSeconds": 5,
        })
    };
    serde_json::from_value(json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [
            hook("validate.externalsecret.external-secrets.io", EXTERNAL_SECRET_PATH, "externalsecrets"),
            hook("validate.secretstore.external-secrets.io", SECRET_STORE_PATH, "secretstores"),
            hook("validate.clustersecretstore.external-secrets.io", CLUSTER_SECRET_STORE_PATH, "clustersecretstores"),
        ],
    }))
    .unwrap()
}

/// One ExternalSecret of the scan: its name, the store it reads, its spec (merged over a default that reads
/// nothing), and whether it should end Ready.
struct Case {
    name: &'static str,
    store: &'static str,
    spec: Value,
    ready: bool,
}

/// A case whose data is the Fake store's key of the same name (`.v` in templates), with `target` merged in.
fn fake_case(name: &'static str, target: Value, ready: bool) -> Case {
    Case {
        name,
        store: "fake",
        spec: json!({"target": target, "data": [{"secretKey": "v", "remoteRef": {"key": name}}]}),
        ready,
    }
}

/// A case whose template renders `.v` through `data[out]`: the template function fails on the value.
fn template_error(name: &'static str, template: &str) -> Case {
    fake_case(name, json!({"template": {"data": {"out": template}}}), false)
}

/// Every path a value travels; the names of the values planted for them are the case names.
fn cases(ns: &str) -> Vec<Case> {
    let sm = |key: &str| format!("{ns}/leak/{key}");
    let ssm = |key: &str| format!("/{ns}/leak/{key}");
    vec![
        // Provider reads that succeed.
        Case {
            name: "sm-plain",
            store: "aws-sm",
            spec: json!({"data": [{"secretKey": "v", "remoteRef": {"key": sm("plain")}}]}),
            ready: true,
        },
        Case {
            name: "sm-property",
            store: "aws-sm",
            spec: json!({"data": [{"secretKey": "v", "remoteRef": {"key": sm("doc"), "property": "password"}}]}),
            ready: true,
        },
        Case {
            name: "sm-extract",
            store: "aws-sm",
            spec: json!({"dataFrom": [{"extract": {"key": sm("doc")}}]}),
            ready: true,
        },
        Case {
            name: "sm-find",
            store: "aws-sm",
            spec: json!({"dataFrom": [{"find": {"name": {"regexp": format!("^{ns}/leak/find/")}}}]}),
            ready: true,
        },
        Case {
            name: "ssm-plain",
            store: "aws-ssm",
            spec: json!({"data": [{"secretKey": "v", "remoteRef": {"key": ssm("plain")}}]}),
            ready: true,
        },
        Case {
            name: "ssm-property",
            store: "aws-ssm",
            spec: json!({"data": [{"secretKey": "v", "remoteRef": {"key": ssm("doc"), "property": "password"}}]}),
            ready: true,
        },
        fake_case("fake-plain", json!({}), true),
        Case {
            name: "cluster-store",
            store: "cluster:fake",
            spec: json!({"data": [{"secretKey": "v", "remoteRef": {"key": "cluster-store"}}]}),
            ready: true,
        },
        fake_case("template-data", json!({"template": {"data": {"out": "prefix {{ .v }} suffix"}}}), true),
        fake_case(
            "annotation-values",
            json!({"template": {"templateFrom": [{"target": "Annotations", "literal": "leak: {{ .v | toJson }}"}]}}),
            true,
        ),
        fake_case(
            "configmap",
            json!({"manifest": {"apiVersion": "v1", "kind": "ConfigMap"}, "template": {"data": {"out": "{{ .v }}"}}}),
            true,
        ),
        // Provider data the pipeline refuses.
        Case {
            name: "sm-not-base64",
            store: "aws-sm",
            spec: json!({"data": [{"secretKey": "v", "remoteRef": {"key": sm("not-base64"), "decodingStrategy": "Base64"}}]}),
            ready: false,
        },
        Case {
            name: "sm-extract-not-base64",
            store: "aws-sm",
            spec: json!({"dataFrom": [{"extract": {"key": sm("doc"), "decodingStrategy": "Base64"}}]}),
            ready: false,
        },
        Case {
            name: "sm-not-json",
            store: "aws-sm",
            spec: json!({"data": [{"secretKey": "v", "remoteRef": {"key": sm("not-json"), "property": "password"}}]}),
            ready: false,
        },
        Case {
            name: "sm-extract-not-json",
            store: "aws-sm",
            spec: json!({"dataFrom": [{"extract": {"key": sm("not-json")}}]}),
            ready: false,
        },
        Case {
            name: "sm-missing-property",
            store: "aws-sm",
            spec: json!({"data": [{"secretKey": "v", "remoteRef": {"key": sm("doc"), "property": "nope"}}]}),
            ready: false,
        },
        Case {
            name: "ssm-missing-property",
            store: "aws-ssm",
            spec: json!({"data": [{"secretKey": "v", "remoteRef": {"key": ssm("doc"), "property": "nope"}}]}),
            ready: false,
        },
        // Metadata rendered from data that the apiserver rejects, quoting it.
        fake_case("label-template", json!({"template": {"metadata": {"labels": {"leak": "{{ .v }}"}}}}), false),
        fake_case(
            "label-templatefrom",
            json!({"template": {"templateFrom": [{"target": "Labels", "literal": "leak: {{ .v | toJson }}"}]}}),
            false,
        ),
        fake_case(
            "annotation-key",
            json!({"template": {"templateFrom": [{"target": "Annotations", "literal": "{{ .v | toJson }}: x"}]}}),
            false,
        ),
        fake_case(
            "label-yaml",
            json!({"template": {"templateFrom": [{"target": "Labels", "literal": "{leak: {{ .v }}"}]}}),
            false,
        ),
        fake_case(
            "data-key",
            json!({"template": {"templateFrom": [{"target": "Data", "literal": "{{ .v | toJson }}: x"}]}}),
            false,
        ),
        fake_case(
            "configmap-label",
            json!({"manifest": {"apiVersion": "v1", "kind": "ConfigMap"}, "template": {"metadata": {"labels": {"leak": "{{ .v }}"}}, "data": {"out": "x"}}}),
            false,
        ),
        // Templates that fail on a value.
        template_error("template-fail", "{{ fail .v }}"),
        template_error("template-mustfromjson", "{{ .v | mustFromJson }}"),
        // Sprig's decoders render their error text instead of failing (as in ESO): the Secret holds it.
        fake_case("template-b64dec", json!({"template": {"data": {"out": "{{ .v | b64dec }}"}}}), true),
        fake_case("template-b32dec", json!({"template": {"data": {"out": "{{ .v | b32dec }}"}}}), true),
        fake_case("template-hexdec", json!({"template": {"data": {"out": "{{ .v | hexdec }}"}}}), true),
        template_error("template-regex", "{{ mustRegexMatch (print .v \"(\") \"x\" }}"),
        template_error("template-todate", "{{ mustToDate \"2006-01-02\" .v }}"),
        template_error("template-semver", "{{ semver .v }}"),
        template_error("template-field", "{{ .v.field }}"),
        template_error("template-jwk", "{{ .v | jwkPublicKeyPem }}"),
        template_error("template-pkcs12", "{{ .v | pkcs12key }}"),
        template_error("template-fromyaml", "{{ (.v | fromYaml).x.y }}"),
        template_error("template-include", "{{ include .v . }}"),
        fake_case(
            "template-source",
            json!({"template": {"templateFrom": [{"secret": {"name": "template-source", "items": [{"key": "tpl"}]}}]}}),
            false,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_value_escapes_into_logs_events_status_metrics_or_webhook_answers() {
    let cluster = cluster().await;
    let endpoint = aws().await;
    let admin = cluster.admin_client().await.expect("admin client");
    install_crds(&admin).await;
    let ns = cluster.namespace("leak-scan").await.expect("namespace");
    let other_ns = cluster.namespace("leak-scan-other").await.expect("namespace");
    let tag = ns.clone();
    let mut values = Values::default();

    // The webhook, as the shipped binary, with a serving certificate for 127.0.0.1.
    let cert_dir = cluster.dir.join(format!("{ns}-webhook-certs"));
    std::fs::create_dir_all(&cert_dir).expect("cert dir");
    let bundle = CertBundle::generate(&["127.0.0.1".to_string()], Duration::from_secs(86_400)).expect("certificate");
    for (file, pem) in [("tls.crt", &bundle.cert_pem), ("tls.key", &bundle.key_pem), ("ca.crt", &bundle.ca_pem)] {
        std::fs::write(cert_dir.join(file), pem).expect("write certificate");
    }
    let (webhook_port, webhook_health) = (free_port().expect("port"), free_port().expect("port"));
    let webhook_log = cluster.dir.join(format!("{ns}-webhook.log"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_external-secrets"));
    cmd.arg("webhook")
        .arg(format!("--port={webhook_port}"))
        .arg(format!("--cert-dir={}", cert_dir.display()))
        .arg(format!("--healthz-addr=127.0.0.1:{webhook_health}"))
        .arg("--metrics-addr=0")
        .arg("--loglevel=trace")
        .arg("--log-format=text")
        .env("RUST_LOG", "trace");
    let mut webhook = Component::spawn("webhook", cmd, &webhook_log, false).expect("start the webhook");

    // The controller, cluster-wide, generic targets on.
    let metrics_port = free_port().expect("port");
    let controller_log = cluster.dir.join(format!("{ns}-controller.log"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_external-secrets"));
    cmd.arg(format!("--metrics-addr=127.0.0.1:{metrics_port}"))
        .arg(format!("--live-addr=127.0.0.1:{metrics_port}"))
        .arg("--loglevel=trace")
        .arg("--zap-time-encoding=rfc3339nano")
        .arg("--unsafe-allow-generic-targets")
        .arg("--enable-extended-metric-labels")
        .env("KUBECONFIG", &cluster.kubeconfig)
        .env("RUST_LOG", "trace")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for (k, v) in endpoint.env() {
        cmd.env(k, v);
    }
    for var in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
        cmd.env_remove(var);
    }
    let mut controller = Component::spawn("controller", cmd, &controller_log, false).expect("start the controller");

    // Remote values.
    let plain = values.plant("sm-plain");
    put_secret(endpoint, &format!("{ns}/leak/plain"), &plain);
    let doc = json!({"user": "admin", "password": values.plant("sm-property"), "token": values.plant("sm-extract")});
    put_secret(endpoint, &format!("{ns}/leak/doc"), &doc.to_string());
    put_secret(endpoint, &format!("{ns}/leak/find/a"), &values.plant("sm-find-a"));
    put_secret(endpoint, &format!("{ns}/leak/find/b"), &values.plant("sm-find-b"));
    put_secret(endpoint, &format!("{ns}/leak/not-base64"), &values.plant("sm-not-base64"));
    put_secret(endpoint, &format!("{ns}/leak/not-json"), &values.plant("sm-not-json"));
    put_parameter(endpoint, &format!("/{ns}/leak/plain"), &values.plant("ssm-plain"));
    let ssm_doc = json!({"password": values.plant("ssm-property")});
    put_parameter(endpoint, &format!("/{ns}/leak/doc"), &ssm_doc.to_string());

    // Stores: credentials whose secret key is a value too; the Fake store's data holds one value per case.
    let secret_key = values.plant("aws-secret-access-key");
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    create(
        &secrets,
        json!({"metadata": {"name": "aws-credentials"},
                            "stringData": {"access-key-id": "AKIALEAKSCAN00000001", "secret-access-key": secret_key}}),
    )
    .await
    .expect("credentials");
    let source = format!("user: admin\npassword: {}\nbroken: {{{{ .v ", values.plant("template-source-text"));
    create(&secrets, json!({"metadata": {"name": "template-source"}, "stringData": {"tpl": source}}))
        .await
        .expect("template source Secret");
    let stores: Api<SecretStore> = Api::namespaced(admin.clone(), &ns);
    let auth = json!({"secretRef": {
        "accessKeyIDSecretRef": {"name": "aws-credentials", "key": "access-key-id"},
        "secretAccessKeySecretRef": {"name": "aws-credentials", "key": "secret-access-key"}}});
    for (name, service) in [("aws-sm", "SecretsManager"), ("aws-ssm", "ParameterStore")] {
        create(&stores, json!({"apiVersion": "external-secrets.io/v1", "kind": "SecretStore", "metadata": {"name": name},
                               "spec": {"provider": {"aws": {"service": service, "region": endpoint.region, "auth": auth}}}}))
        .await
        .expect("aws store");
    }
    let all_cases = cases(&ns);
    let mut fake_data: Vec<Value> = Vec::new();
    for case in all_cases.iter().filter(|c| c.store == "fake") {
        fake_data.push(json!({"key": case.name, "value": values.plant(case.name)}));
    }
    create(
        &stores,
        json!({"apiVersion": "external-secrets.io/v1", "kind": "SecretStore", "metadata": {"name": "fake"},
                           "spec": {"provider": {"fake": {"data": fake_data}}}}),
    )
    .await
    .expect("fake store");
    let cluster_store = format!("{ns}-fake");
    let cluster_stores: Api<ClusterSecretStore> = Api::all(admin.clone());
    create(
        &cluster_stores,
        json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore", "metadata": {"name": cluster_store},
        "spec": {"provider": {"fake": {"data": [
            {"key": "cluster-store", "value": values.plant("cluster-store")},
            {"key": "ces-plain", "value": values.plant("ces-plain")},
            {"key": "ces-label", "value": values.plant("ces-label")},
        ]}}}}),
    )
    .await
    .expect("cluster store");

    // The ExternalSecrets of every path.
    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &ns);
    for case in &all_cases {
        let store_ref = match case.store.strip_prefix("cluster:") {
            Some(_) => json!({"name": cluster_store, "kind": "ClusterSecretStore"}),
            None => json!({"name": case.store, "kind": "SecretStore"}),
        };
        let mut spec = json!({"refreshInterval": "1h", "secretStoreRef": store_ref, "target": {"name": case.name}});
        for (k, v) in case.spec.as_object().unwrap() {
            if k == "target" {
                for (tk, tv) in v.as_object().unwrap() {
                    spec["target"][tk] = tv.clone();
                }
            } else {
                spec[k] = v.clone();
            }
        }
        create(
            &ess,
            json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                            "metadata": {"name": case.name}, "spec": spec}),
        )
        .await
        .unwrap_or_else(|e| panic!("create ExternalSecret {}: {e}", case.name));
    }

    // Two ClusterExternalSecrets over both namespaces: one syncs, one renders a rejected label.
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    for n in [&ns, &other_ns] {
        let patch = json!({"metadata": {"labels": {"leak-scan": tag}}});
        namespaces.patch(n, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("label namespace");
    }
    let cess: Api<ClusterExternalSecret> = Api::all(admin.clone());
    for (name, template) in
        [("ces-plain", json!(null)), ("ces-label", json!({"metadata": {"labels": {"leak": "{{ .v }}"}}}))]
    {
        let mut target = json!({"name": name});
        if !template.is_null() {
            target["template"] = template;
        }
        create(
            &cess,
            json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ClusterExternalSecret",
            "metadata": {"name": format!("{ns}-{name}")},
            "spec": {"refreshTime": "1h", "namespaceSelectors": [{"matchLabels": {"leak-scan": tag}}],
                     "externalSecretName": name,
                     "externalSecretSpec": {"refreshInterval": "1h", "target": target,
                                            "secretStoreRef": {"name": cluster_store, "kind": "ClusterSecretStore"},
                                            "data": [{"secretKey": "v", "remoteRef": {"key": name}}]}}}),
        )
        .await
        .expect("ClusterExternalSecret");
    }

    // Objects the webhook denies, carrying values the denial could quote.
    let webhook_ready =
        eventually(Duration::from_secs(30), || async { http_get(webhook_health, "/readyz").await.0 == 200 }).await;
    assert!(webhook_ready, "webhook not ready: {:?}\n{}", webhook.exited(), webhook.log_tail(20));
    let vwcs: Api<ValidatingWebhookConfiguration> = Api::all(admin.clone());
    vwcs.create(
        &PostParams::default(),
        &webhook_configuration(&format!("{ns}-leak"), &tag, webhook_port, &bundle.ca_pem),
    )
    .await
    .expect("ValidatingWebhookConfiguration");
    let labels = json!({"leak-scan": tag});
    let denied_es = json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": "webhook-denied", "labels": labels},
        "spec": {"secretStoreRef": {"name": "fake"}, "target": {"template": {
                    "type": "kubernetes.io/service-account-token",
                    "metadata": {"annotations": {"kubernetes.io/service-account.name": "default"}},
                    "data": {"token": values.plant("webhook-es-template-literal")}}},
                 "dataFrom": [{"find": {"name": {"regexp": "x"}},
                               "rewrite": [{"regexp": {"source": "(unclosed", "target": values.plant("webhook-es-rewrite-target")}}]}]}});
    let denied_store = |kind: &str, name: &str, value: String| {
        json!({"apiVersion": "external-secrets.io/v1", "kind": kind, "metadata": {"name": name, "labels": labels},
               "spec": {"conditions": [{"namespaceRegexes": ["(unclosed"]}],
                        "provider": {"fake": {"data": [{"key": "ok", "value": value}, {"key": "", "value": "x"}]}}}})
    };
    let denied_ss = denied_store("SecretStore", "webhook-denied", values.plant("webhook-store-value"));
    let css_name = format!("{ns}-webhook-denied");
    let denied_css = denied_store("ClusterSecretStore", &css_name, values.plant("webhook-cluster-store-value"));
    // The apiserver picks the configuration up asynchronously: retry until the webhook answers all three.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let denials: Vec<String> = loop {
        let answers = [
            create(&ess, denied_es.clone()).await.err(),
            create(&stores, denied_ss.clone()).await.err(),
            create(&cluster_stores, denied_css.clone()).await.err(),
        ];
        let by_webhook =
            |a: &Option<kube::Error>| matches!(a, Some(kube::Error::Api(s)) if s.message.contains("admission webhook"));
        if answers.iter().all(by_webhook) {
            // The whole answer: message, reason, details.
            break answers.iter().map(|a| format!("{a:?}")).collect();
        }
        let _ = ess.delete("webhook-denied", &Default::default()).await;
        let _ = stores.delete("webhook-denied", &Default::default()).await;
        let _ = cluster_stores.delete(&css_name, &Default::default()).await;
        assert!(tokio::time::Instant::now() < deadline, "the webhook did not deny the three objects within 30 s");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };

    // Every case reaches the Ready status it expects.
    let mut expected: BTreeMap<String, bool> = all_cases.iter().map(|c| (c.name.to_string(), c.ready)).collect();
    expected.insert("ces-plain".into(), true);
    expected.insert("ces-label".into(), false);
    let settled = eventually(SETTLE, || async {
        let Ok(list) = ess.list(&ListParams::default()).await else { return false };
        let ready: BTreeMap<String, bool> = list
            .items
            .iter()
            .filter_map(|es| {
                let c = es.status.as_ref()?.condition("Ready")?;
                Some((es.metadata.name.clone()?, c.status == "True"))
            })
            .collect();
        expected.iter().all(|(name, want)| ready.get(name) == Some(want))
    })
    .await;
    let ready_summary = |list: Vec<ExternalSecret>| -> Vec<String> {
        list.into_iter()
            .map(|es| {
                let c = es.status.as_ref().and_then(|s| s.condition("Ready").cloned());
                // Status and reason only: a message might hold a value.
                format!("{}: {:?}", es.metadata.name.unwrap_or_default(), c.map(|c| (c.status, c.reason)))
            })
            .collect()
    };
    assert!(
        settled,
        "not every ExternalSecret reached its expected Ready status within {SETTLE:?} (want {expected:?}): {:?}; log: {}",
        ready_summary(ess.list(&ListParams::default()).await.expect("list").items),
        controller_log.display()
    );

    // Every failing case is reported where the scan looks: a Warning event on it (recorded in the background).
    let events: Api<Event> = Api::namespaced(admin.clone(), &ns);
    let failing: Vec<&str> = all_cases.iter().filter(|c| !c.ready).map(|c| c.name).collect();
    let unwarned = || async {
        let list = events.list(&ListParams::default()).await.map(|l| l.items).unwrap_or_default();
        let warned: Vec<String> = list
            .into_iter()
            .filter(|e| e.type_.as_deref() == Some("Warning"))
            .filter_map(|e| e.involved_object.name)
            .collect();
        failing.iter().filter(|name| !warned.iter().any(|w| w == *name)).map(|n| n.to_string()).collect::<Vec<_>>()
    };
    let all_warned = eventually(Duration::from_secs(30), || async { unwarned().await.is_empty() }).await;
    assert!(all_warned, "no Warning event for {:?}", unwarned().await);

    // Collect everything the operator produced.
    let mut texts: Vec<(String, String)> = Vec::new();
    for n in [&ns, &other_ns] {
        let events: Api<Event> = Api::namespaced(admin.clone(), n);
        for e in events.list(&ListParams::default()).await.expect("events").items {
            let at = format!("Event {}/{} ({:?})", n, e.metadata.name.clone().unwrap_or_default(), e.reason);
            texts.push((at, serde_json::to_string(&e).unwrap()));
        }
        for es in Api::<ExternalSecret>::namespaced(admin.clone(), n).list(&ListParams::default()).await.unwrap().items
        {
            texts.push((
                format!("ExternalSecret {n}/{} status", es.metadata.name.unwrap_or_default()),
                serde_json::to_string(&es.status).unwrap(),
            ));
        }
        for s in Api::<SecretStore>::namespaced(admin.clone(), n).list(&ListParams::default()).await.unwrap().items {
            texts.push((
                format!("SecretStore {n}/{} status", s.metadata.name.unwrap_or_default()),
                serde_json::to_string(&s.status).unwrap(),
            ));
        }
    }
    for s in cluster_stores.list(&ListParams::default()).await.unwrap().items {
        texts.push((
            format!("ClusterSecretStore {} status", s.metadata.name.unwrap_or_default()),
            serde_json::to_string(&s.status).unwrap(),
        ));
    }
    for c in cess.list(&ListParams::default()).await.unwrap().items {
        texts.push((
            format!("ClusterExternalSecret {} status", c.metadata.name.unwrap_or_default()),
            serde_json::to_string(&c.status).unwrap(),
        ));
    }
    let (status, metrics) = http_get(metrics_port, "/metrics").await;
    assert_eq!(status, 200, "/metrics");
    texts.push(("controller /metrics".into(), metrics));
    for (i, d) in denials.iter().enumerate() {
        texts.push((format!("webhook denial {i}"), d.clone()));
    }
    controller.stop();
    webhook.stop();
    let controller_output = std::fs::read_to_string(&controller_log).expect("controller log");
    let webhook_output = std::fs::read_to_string(&webhook_log).expect("webhook log");
    texts.push(("controller output (stdout+stderr)".into(), controller_output.clone()));
    texts.push(("webhook output (stdout+stderr)".into(), webhook_output.clone()));

    // The scan sees real values: the target Secrets hold them (and are the one place they belong).
    let target = secrets.get("sm-plain").await.expect("target Secret");
    let control = scan("target Secret sm-plain", &serde_json::to_string(&target).unwrap(), &values.planted());
    assert!(control.iter().any(|h| h.secret == "sm-plain" && h.form == "base64"), "positive control: {control:?}");
    assert_eq!(denials.len(), 3);

    let hits: Vec<Hit> = texts.iter().flat_map(|(at, text)| scan(at, text, &values.planted())).collect();
    let report: Vec<String> = hits.iter().map(|h| h.to_string()).collect();
    assert!(hits.is_empty(), "{} secret value(s) escaped:\n{}", hits.len(), report.join("\n"));
    for (what, output) in [("controller", &controller_output), ("webhook", &webhook_output)] {
        assert!(
            !output.contains("panicked at"),
            "the {what} panicked (see {})",
            if what == "controller" { controller_log.display() } else { webhook_log.display() }
        );
    }
}
