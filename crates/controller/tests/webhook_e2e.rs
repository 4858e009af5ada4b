//! The Webhook provider and the Webhook generator end to end: the operator (in-process, as its own
//! ServiceAccount with the shipped ClusterRole) against the real local control plane, and an HTTP and an HTTPS
//! endpoint (a CA made here, trusted through `caBundle` or `caProvider`) that each test starts on loopback.
//!
//! The endpoint (see [`Remote`]) demands `Authorization: Bearer <TOKEN>` on everything but `/open/...`; the
//! stores get the token from a `secrets[]` Secret through a header template, as ESO's documentation does it.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use common::{Operator, events_text, eventually, logs, start_operator_configured, wait_ready};
use external_secrets_api::v1alpha1::PushSecret;
use external_secrets_api::{ClusterSecretStore, ExternalSecret, SecretStore};
use external_secrets_generators::GeneratorRegistry;
use external_secrets_provider_webhook::WebhookProvider;
use external_secrets_testsupport::cluster;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const TOKEN: &str = "wh-token-do-not-log";
const REMOTE_VALUE: &str = "wh-remote-value-do-not-log";
const PUSHED: &str = "wh-pushed-value-do-not-log";
/// What the endpoint's error answers carry: never to be quoted.
const ANSWER_BODY: &str = "wh-answer-body-do-not-log";
/// Every value none of the operator's logs, events or statuses may show.
const VALUES: &[&str] = &[TOKEN, REMOTE_VALUE, PUSHED, ANSWER_BODY];
const GENERATORS: &str = "generators.external-secrets.io/v1alpha1";

fn object<T: DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("object")
}

fn base64_of(value: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(value)
}

/// One request the endpoint received.
#[derive(Clone, Debug)]
struct Recorded {
    method: String,
    path: String,
    authorization: Option<String>,
}

/// The remote side: a small secrets API plus an echo of each request, served over HTTP and HTTPS.
///
/// - `/echo/...`: `{"echo": {method, path, query, body, xExtra, number, flag, list, object, nested}}`
/// - `/secrets/<key>`: GET `{"value": ...}` or 404; POST/PUT stores the body; DELETE removes (404 if absent)
/// - `/gen`: `{"result": {"token": "gen-<n>", "n": n}}`, n counting calls
/// - `/open/plain`: a text answer (no auth); `/status/<code>`: that status with [`ANSWER_BODY`]; `/slow`: 3 s
#[derive(Default)]
struct Remote {
    secrets: Mutex<BTreeMap<String, String>>,
    requests: Mutex<Vec<Recorded>>,
    generated: AtomicU64,
}

impl Remote {
    fn secret(&self, key: &str) -> Option<String> {
        self.secrets.lock().unwrap().get(key).cloned()
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

fn answer(status: StatusCode, body: impl Into<String>, json: bool) -> Response {
    let kind = if json { "application/json" } else { "text/plain" };
    (status, [(header::CONTENT_TYPE, kind)], body.into()).into_response()
}

async fn handle(
    State(remote): State<Arc<Remote>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_string);
    remote.requests.lock().unwrap().push(Recorded {
        method: method.to_string(),
        path: path.clone(),
        authorization: authorization.clone(),
    });
    if !path.starts_with("/open/") && authorization.as_deref() != Some(&format!("Bearer {TOKEN}")) {
        return answer(StatusCode::UNAUTHORIZED, ANSWER_BODY, false);
    }
    let body = String::from_utf8_lossy(&body).into_owned();
    if path.starts_with("/echo/") {
        let extra = headers.get("x-extra").and_then(|v| v.to_str().ok()).unwrap_or_default();
        let echo = json!({"echo": {
            "method": method.as_str(), "path": path, "query": uri.query().unwrap_or_default(), "body": body,
            "xExtra": extra, "number": 42.7, "flag": true, "list": ["first", "second"], "object": {"a": "b"},
            "nested": "{\"k\":\"v\"}",
        }});
        return answer(StatusCode::OK, echo.to_string(), true);
    }
    if let Some(key) = path.strip_prefix("/secrets/") {
        let mut secrets = remote.secrets.lock().unwrap();
        return match method {
            Method::GET => match secrets.get(key) {
                Some(value) => answer(StatusCode::OK, json!({"value": value}).to_string(), true),
                None => answer(StatusCode::NOT_FOUND, ANSWER_BODY, false),
            },
            Method::POST | Method::PUT => {
                secrets.insert(key.to_string(), body);
                answer(StatusCode::OK, "{}", true)
            }
            Method::DELETE => match secrets.remove(key) {
                Some(_) => answer(StatusCode::NO_CONTENT, "", false),
                None => answer(StatusCode::NOT_FOUND, ANSWER_BODY, false),
            },
            _ => answer(StatusCode::METHOD_NOT_ALLOWED, ANSWER_BODY, false),
        };
    }
    if path == "/gen" {
        let n = remote.generated.fetch_add(1, Ordering::SeqCst) + 1;
        return answer(StatusCode::OK, json!({"result": {"token": format!("gen-{n}"), "n": n}}).to_string(), true);
    }
    if path == "/open/plain" {
        return answer(StatusCode::OK, "not json at all", false);
    }
    if let Some(code) = path.strip_prefix("/status/") {
        let status = code.parse().ok().and_then(|c| StatusCode::from_u16(c).ok()).unwrap_or(StatusCode::IM_A_TEAPOT);
        return answer(status, ANSWER_BODY, false);
    }
    if path == "/slow" {
        tokio::time::sleep(Duration::from_secs(3)).await;
        return answer(StatusCode::OK, "{}", true);
    }
    answer(StatusCode::NOT_FOUND, ANSWER_BODY, false)
}

/// The endpoint, listening on loopback over HTTP and HTTPS until the test's runtime ends.
struct Endpoint {
    remote: Arc<Remote>,
    http: String,
    https: String,
    /// The PEM of the CA that signed the HTTPS server's certificate (for `127.0.0.1`).
    ca_pem: String,
}

async fn start_endpoint() -> Endpoint {
    let remote = Arc::new(Remote::default());
    let router = axum::Router::new().fallback(handle).with_state(remote.clone());

    let plain = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("bind HTTP");
    let http = format!("http://{}", plain.local_addr().expect("addr"));
    let plain_router = router.clone();
    tokio::spawn(async move {
        let _ = axum::serve(plain, plain_router).await;
    });

    let (ca_pem, tls) = tls_config();
    let secure = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("bind HTTPS");
    let addr: SocketAddr = secure.local_addr().expect("addr");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = secure.accept().await else { return };
            let acceptor = acceptor.clone();
            let router = router.clone();
            tokio::spawn(async move {
                // Clients that do not trust the CA fail the handshake here.
                let Ok(stream) = acceptor.accept(stream).await else { return };
                let service = hyper_util::service::TowerToHyperService::new(router);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Endpoint { remote, http, https: format!("https://{addr}"), ca_pem }
}

/// A CA and a serving certificate for 127.0.0.1 signed by it; the CA's PEM and the server's TLS settings.
fn tls_config() -> (String, rustls::ServerConfig) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::default();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).expect("CA");
    let issuer = Issuer::new(ca, &ca_key);
    let key = KeyPair::generate().expect("server key");
    let mut serving = CertificateParams::default();
    serving.subject_alt_names = vec![SanType::IpAddress("127.0.0.1".parse().expect("ip"))];
    let cert = serving.signed_by(&key, &issuer).expect("server certificate");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()))
        .expect("server TLS config");
    (ca_cert.pem(), config)
}

/// One test's world: a namespace, the operator (with the Webhook provider and generator), and the endpoint.
struct World {
    admin: kube::Client,
    ns: String,
    op: Operator,
    endpoint: Endpoint,
}

impl World {
    async fn start(prefix: &str) -> Self {
        let cluster = cluster().await;
        let admin = cluster.admin_client().await.expect("admin client");
        let ns = cluster.namespace(prefix).await.expect("namespace");
        let webhook = Arc::new(WebhookProvider::new());
        let registry = common::registry().with(webhook.clone());
        let generators = GeneratorRegistry::new().with(Arc::new(webhook.generators()));
        let op = start_operator_configured(cluster, &ns, registry, move |c| c.generators = generators).await;
        let endpoint = start_endpoint().await;
        Self { admin, ns, op, endpoint }
    }

    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.admin.clone(), &self.ns)
    }

    /// A Secret for `secrets[]` holding `token` (and `extra`), with ESO's webhook label unless `labelled` is false.
    async fn auth_secret(&self, name: &str, token: &str, labelled: bool) {
        let labels = if labelled { json!({"external-secrets.io/type": "webhook"}) } else { json!({}) };
        let secret: Secret = object(json!({
            "metadata": {"name": name, "labels": labels},
            "stringData": {"token": token, "extra": "extra-value"}
        }));
        self.api::<Secret>().create(&PostParams::default(), &secret).await.expect("create Secret");
    }

    /// The `secrets[]` and `headers` that authenticate with the Secret `auth_secret` (namespace if given).
    fn with_auth(&self, mut webhook: Value, auth_secret: &str, namespace: Option<&str>) -> Value {
        let mut secret_ref = json!({"name": auth_secret, "key": "token"});
        if let Some(namespace) = namespace {
            secret_ref["namespace"] = json!(namespace);
        }
        webhook["secrets"] = json!([{"name": "auth", "secretRef": secret_ref}]);
        let headers = webhook["headers"].as_object().cloned().unwrap_or_default();
        let mut headers = Value::Object(headers);
        headers["Authorization"] = json!("Bearer {{ .auth.token }}");
        webhook["headers"] = headers;
        webhook
    }

    async fn store(&self, name: &str, webhook: Value) {
        let store: SecretStore = object(json!({
            "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
            "metadata": {"name": name},
            "spec": {"controller": self.op.class, "provider": {"webhook": webhook}}
        }));
        self.api::<SecretStore>().create(&PostParams::default(), &store).await.expect("create SecretStore");
    }

    /// A ClusterSecretStore named `<ns>-<name>` (cluster-wide names), serving this test's namespace.
    async fn cluster_store(&self, name: &str, webhook: Value) -> String {
        let name = format!("{}-{name}", self.ns);
        let store: ClusterSecretStore = object(json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore",
            "metadata": {"name": name},
            "spec": {
                "controller": self.op.class,
                "conditions": [{"namespaces": [self.ns]}],
                "provider": {"webhook": webhook}
            }
        }));
        Api::<ClusterSecretStore>::all(self.admin.clone())
            .create(&PostParams::default(), &store)
            .await
            .expect("create ClusterSecretStore");
        name
    }

    async fn es(&self, name: &str, store_kind: &str, store: &str, spec: Value) {
        let mut spec = spec;
        if spec.get("refreshInterval").is_none() {
            spec["refreshInterval"] = json!("1h");
        }
        spec["secretStoreRef"] = json!({"name": store, "kind": store_kind});
        if spec.get("target").is_none() {
            spec["target"] = json!({"name": name});
        }
        let es: ExternalSecret = object(json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": name}, "spec": spec,
        }));
        self.api::<ExternalSecret>().create(&PostParams::default(), &es).await.expect("create ExternalSecret");
    }

    async fn data(&self, name: &str) -> BTreeMap<String, String> {
        let secret = self.api::<Secret>().get(name).await.expect("target Secret");
        secret.data.unwrap_or_default().into_iter().map(|(k, v)| (k, String::from_utf8(v.0).expect("UTF-8"))).collect()
    }

    /// Waits until the ExternalSecret is `SecretSynced`; its target's data.
    async fn synced(&self, name: &str) -> BTreeMap<String, String> {
        wait_ready(&self.api::<ExternalSecret>(), name, "SecretSynced").await;
        self.data(name).await
    }

    /// Waits until the ExternalSecret fails to sync with `expected` in the message (a store that is still being
    /// validated fails first with "not ready"); the message.
    async fn failed(&self, name: &str, expected: &str) -> String {
        let es = self.api::<ExternalSecret>();
        let mut last = None;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while tokio::time::Instant::now() < deadline {
            last = common::ready_reason(&es, name).await;
            if let Some((status, reason, message)) = &last
                && status == "False"
                && reason == "SecretSyncedError"
                && message.contains(expected)
            {
                return message.clone();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("{name}: expected a SecretSyncedError naming {expected:?}, last Ready condition {last:?}");
    }

    /// Waits until the ClusterSecretStore is not Ready with `expected` in the message; the message.
    async fn cluster_store_failed(&self, name: &str, expected: &[&str]) -> String {
        let stores: Api<ClusterSecretStore> = Api::all(self.admin.clone());
        let mut last = None;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while tokio::time::Instant::now() < deadline {
            last = stores.get_opt(name).await.ok().flatten().and_then(|s| s.status).and_then(|s| {
                let c = s.condition("Ready")?.clone();
                Some((c.status, c.message.unwrap_or_default()))
            });
            if let Some((status, message)) = &last
                && status == "False"
                && expected.iter().all(|e| message.contains(e))
            {
                return message.clone();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("ClusterSecretStore {name}: expected {expected:?} in the Ready condition, last {last:?}");
    }

    /// No value of [`VALUES`] in the ExternalSecrets' and PushSecrets' statuses, the events, or the logs.
    async fn assert_nothing_leaked(&self) {
        let mut texts = vec![("events", events_text(&self.admin, &self.ns).await), ("logs", logs())];
        for es in self.api::<ExternalSecret>().list(&Default::default()).await.expect("list").items {
            texts.push(("ExternalSecret status", serde_json::to_string(&es.status).unwrap()));
        }
        for ps in self.api::<PushSecret>().list(&Default::default()).await.expect("list").items {
            texts.push(("PushSecret status", serde_json::to_string(&ps.status).unwrap()));
        }
        for (what, text) in texts {
            for value in VALUES {
                assert!(!text.contains(value), "{value} appeared in the {what}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_templates_url_method_headers_and_body_and_takes_the_value_at_the_json_path() {
    let w = World::start("wh-tpl").await;
    let http = w.endpoint.http.clone();
    w.auth_secret("webhook-auth", TOKEN, true).await;
    let echo = w.with_auth(
        json!({
            "url": format!("{http}/echo/{{{{ .remoteRef.key }}}}?version={{{{ .remoteRef.version }}}}&ns={{{{ .remoteRef.namespace }}}}"),
            "method": "POST",
            "headers": {"X-Extra": "{{ .auth.extra }}"},
            "body": r#"{"key":"{{ .remoteRef.key }}","version":"{{ .remoteRef.version }}"}"#,
            "timeout": "10s",
            "result": {"jsonPath": "$.echo"}
        }),
        "webhook-auth",
        None,
    );
    w.store("echo", echo).await;
    let key = "team/db pass";
    let entry = |secret_key: &str, property: &str| json!({"secretKey": secret_key, "remoteRef": {"key": key, "version": "v1 2", "property": property}});
    w.es(
        "templated",
        "SecretStore",
        "echo",
        json!({
            "data": [entry("method", "method"), entry("path", "path"), entry("query", "query"),
                     entry("body", "body"), entry("extra", "xExtra")],
            "dataFrom": [{"extract": {"key": "whole"}}]
        }),
    )
    .await;
    let data = w.synced("templated").await;
    assert_eq!(data["method"], "POST");
    assert_eq!(data["path"], "/echo/team%2Fdb+pass", "remoteRef.key is query-escaped in the URL");
    assert_eq!(data["query"], format!("version=v1+2&ns={}", w.ns), "version escaped, namespace of the ExternalSecret");
    assert_eq!(data["body"], r#"{"key":"team/db pass","version":"v1 2"}"#, "the body is not escaped");
    assert_eq!(data["extra"], "extra-value", "headers see every key of the secrets[] Secret");
    assert_eq!(data["flag"], "true", "dataFrom.extract: the object at the path, as a map");
    assert_eq!(data["number"], "42.7");

    // A templated result.jsonPath, over scalars, objects and arrays; and a store without a path.
    let typed = w.with_auth(
        json!({"url": format!("{http}/echo/typed"), "result": {"jsonPath": "$.echo.{{ .remoteRef.key }}"}}),
        "webhook-auth",
        None,
    );
    w.store("typed", typed).await;
    w.store("raw", json!({"url": format!("{http}/open/plain")})).await;
    let typed_entry = |key: &str| json!({"secretKey": key.replace(['[', ']', '*'], ""), "remoteRef": {"key": key}});
    w.es(
        "typed",
        "SecretStore",
        "typed",
        json!({"data": [typed_entry("number"), typed_entry("flag"), typed_entry("list"), typed_entry("object"),
                        typed_entry("nested"), typed_entry("list[*]")]}),
    )
    .await;
    let data = w.synced("typed").await;
    assert_eq!(data["number"], "43", "ESO prints a number selected for data[] without decimals");
    assert_eq!(data["flag"], "true");
    assert_eq!(data["list"], "first", "an array selected for data[] gives its first element");
    assert_eq!(data["object"], r#"{"a":"b"}"#, "an object selected for data[] is its JSON");
    assert_eq!(data["nested"], r#"{"k":"v"}"#, "a string is taken as it is");
    w.es("raw", "SecretStore", "raw", json!({"data": [{"secretKey": "text", "remoteRef": {"key": "any"}}]})).await;
    assert_eq!(w.synced("raw").await["text"], "not json at all", "without a path the answer is the value");

    let requests = w.endpoint.remote.requests();
    assert!(requests.iter().any(|r| r.path == "/echo/typed" && r.method == "GET"), "GET by default: {requests:?}");
    w.assert_nothing_leaked().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_endpoints_are_trusted_through_ca_bundle_or_ca_provider_for_cluster_and_namespaced_stores() {
    let w = World::start("wh-tls").await;
    let https = w.endpoint.https.clone();
    let ns = w.ns.clone();
    w.auth_secret("webhook-auth", TOKEN, true).await;
    let ca = w.endpoint.ca_pem.clone();
    let ca_secret: Secret = object(json!({"metadata": {"name": "webhook-ca"}, "stringData": {"ca.crt": ca}}));
    w.api::<Secret>().create(&PostParams::default(), &ca_secret).await.expect("CA Secret");
    let ca_map: ConfigMap = object(json!({"metadata": {"name": "webhook-ca"}, "data": {"ca.crt": ca}}));
    w.api::<ConfigMap>().create(&PostParams::default(), &ca_map).await.expect("CA ConfigMap");
    let echo = |extra: Value| {
        let mut webhook = json!({
            "url": format!("{https}/echo/{{{{ .remoteRef.key }}}}?ns={{{{ .remoteRef.namespace }}}}"),
            "result": {"jsonPath": "$.echo"}
        });
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            webhook[k] = v;
        }
        webhook
    };
    let entries = json!({"data": [
        {"secretKey": "path", "remoteRef": {"key": "k", "property": "path"}},
        {"secretKey": "query", "remoteRef": {"key": "k", "property": "query"}}
    ]});

    // ClusterSecretStores: the secrets[] Secret and the caProvider name their namespace, as ESO requires.
    let bundle = w
        .cluster_store("bundle", w.with_auth(echo(json!({"caBundle": base64_of(&ca)})), "webhook-auth", Some(&ns)))
        .await;
    let provider = w
        .cluster_store(
            "provider",
            w.with_auth(
                echo(json!({"caProvider": {"type": "Secret", "name": "webhook-ca", "key": "ca.crt", "namespace": ns}})),
                "webhook-auth",
                Some(&ns),
            ),
        )
        .await;
    w.es("via-bundle", "ClusterSecretStore", &bundle, entries.clone()).await;
    w.es("via-provider", "ClusterSecretStore", &provider, entries.clone()).await;
    for name in ["via-bundle", "via-provider"] {
        let data = w.synced(name).await;
        assert_eq!(data["path"], "/echo/k");
        assert_eq!(data["query"], format!("ns={ns}"), "remoteRef.namespace is the ExternalSecret's namespace");
    }

    // A SecretStore reads its caProvider (a ConfigMap here) and secrets[] in its own namespace.
    let configmap = echo(json!({"caProvider": {"type": "ConfigMap", "name": "webhook-ca", "key": "ca.crt"}}));
    w.store("configmap-ca", w.with_auth(configmap, "webhook-auth", None)).await;
    w.es("via-configmap", "SecretStore", "configmap-ca", entries.clone()).await;
    assert_eq!(w.synced("via-configmap").await["path"], "/echo/k");

    // A ClusterSecretStore's secrets[] without a namespace is refused, as in ESO (no referent fallback).
    let unnamed =
        w.cluster_store("unnamed", w.with_auth(echo(json!({"caBundle": base64_of(&ca)})), "webhook-auth", None)).await;
    w.es("unnamed", "ClusterSecretStore", &unnamed, entries.clone()).await;
    w.failed("unnamed", "must name its namespace").await;
    // So is its caProvider without one.
    let ca_unnamed = w
        .cluster_store(
            "ca-unnamed",
            w.with_auth(
                echo(json!({"caProvider": {"type": "Secret", "name": "webhook-ca", "key": "ca.crt"}})),
                "webhook-auth",
                Some(&ns),
            ),
        )
        .await;
    w.cluster_store_failed(&ca_unnamed, &["caProvider", "must name its namespace"]).await;

    // Without the CA, the server's certificate is not trusted.
    w.store("untrusted", w.with_auth(echo(json!({})), "webhook-auth", None)).await;
    w.es("untrusted", "SecretStore", "untrusted", entries).await;
    w.failed("untrusted", "calling the webhook failed").await;
    assert!(w.api::<Secret>().get_opt("untrusted").await.expect("get").is_none());
    w.assert_nothing_leaked().await;
}

/// Waits (30 s at most) until the PushSecret is `Synced`; its `Ready` condition as (status, reason, message).
async fn wait_push_ready(pushes: &Api<PushSecret>, name: &str) -> (String, String, String) {
    let mut last = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::time::Instant::now() < deadline {
        last = pushes.get_opt(name).await.ok().flatten().and_then(|ps| {
            let c = ps.status?.conditions.into_iter().find(|c| c.type_ == "Ready")?;
            Some((c.status, c.reason.unwrap_or_default(), c.message.unwrap_or_default()))
        });
        if let Some(found) = last.as_ref().filter(|(_, reason, _)| reason == "Synced") {
            return found.clone();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("PushSecret {name}: expected Synced, last Ready condition {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_secret_sends_the_value_through_the_templates_and_deletes_it_under_deletion_policy_delete() {
    let w = World::start("wh-push").await;
    let http = w.endpoint.http.clone();
    w.auth_secret("webhook-auth", TOKEN, true).await;
    let url = format!("{http}/secrets/{{{{ .remoteRef.remoteKey }}}}");
    let templated = json!({
        "url": url,
        "body": r#"{"value":"{{ .remoteRef.dbpass }}","from":"{{ .remoteRef.secretKey }}"}"#
    });
    w.store("remote", w.with_auth(templated, "webhook-auth", None)).await;
    w.store("remote-raw", w.with_auth(json!({"url": url, "method": "PUT"}), "webhook-auth", None)).await;
    let source: Secret =
        object(json!({"metadata": {"name": "db-creds"}, "stringData": {"password": PUSHED, "user": "app-user"}}));
    w.api::<Secret>().create(&PostParams::default(), &source).await.expect("source Secret");
    let push = |name: &str, store: &str, secret_key: &str, remote_key: &str| -> PushSecret {
        object(json!({
            "apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret",
            "metadata": {"name": name},
            "spec": {
                "refreshInterval": "1h",
                "deletionPolicy": "Delete",
                "secretStoreRefs": [{"name": store, "kind": "SecretStore"}],
                "selector": {"secret": {"name": "db-creds"}},
                "data": [{"match": {"secretKey": secret_key, "remoteRef": {"remoteKey": remote_key}}}]
            }
        }))
    };
    let pushes = w.api::<PushSecret>();
    pushes.create(&PostParams::default(), &push("templated", "remote", "password", "dbpass")).await.expect("create");
    pushes.create(&PostParams::default(), &push("raw", "remote-raw", "user", "dbuser")).await.expect("create");
    let remote = w.endpoint.remote.clone();
    let pushed = eventually(Duration::from_secs(30), || {
        let remote = remote.clone();
        async move { remote.secret("dbpass").is_some() && remote.secret("dbuser").is_some() }
    })
    .await;
    assert!(pushed, "both values pushed; requests: {:?}", remote.requests());
    assert_eq!(remote.secret("dbpass").unwrap(), format!(r#"{{"value":"{PUSHED}","from":"password"}}"#));
    assert_eq!(remote.secret("dbuser").unwrap(), "app-user", "without a body the value itself is sent");
    let requests = remote.requests();
    assert!(requests.iter().any(|r| r.method == "POST" && r.path == "/secrets/dbpass"), "POST by default");
    assert!(requests.iter().any(|r| r.method == "PUT" && r.path == "/secrets/dbuser"), "method is used");

    // updatePolicy IfNotExists: a GET first (whatever the store's method); a value already there stays.
    remote.secrets.lock().unwrap().insert("taken".into(), "original".into());
    let mut if_not_exists = push("if-not-exists", "remote-raw", "user", "taken");
    if_not_exists.spec.update_policy = object(json!("IfNotExists"));
    if_not_exists.spec.deletion_policy = object(json!("None"));
    pushes.create(&PostParams::default(), &if_not_exists).await.expect("create");
    let checked = eventually(Duration::from_secs(30), || {
        let remote = remote.clone();
        async move { remote.requests().iter().any(|r| r.method == "GET" && r.path == "/secrets/taken") }
    })
    .await;
    assert!(checked, "the existence check reached the endpoint: {:?}", remote.requests());
    let (status, ..) = wait_push_ready(&pushes, "if-not-exists").await;
    assert_eq!(status, "True");
    assert_eq!(remote.secret("taken").unwrap(), "original", "IfNotExists left the remote value alone");
    assert!(!remote.requests().iter().any(|r| r.method == "PUT" && r.path == "/secrets/taken"));

    // What was pushed reads back through a store of the same API.
    let reader = json!({"url": format!("{http}/secrets/{{{{ .remoteRef.key }}}}"), "result": {"jsonPath": "$.value"}});
    w.store("reader", w.with_auth(reader, "webhook-auth", None)).await;
    w.es(
        "read-back",
        "SecretStore",
        "reader",
        json!({"data": [{"secretKey": "user", "remoteRef": {"key": "dbuser"}}]}),
    )
    .await;
    assert_eq!(w.synced("read-back").await["user"], "app-user");

    // deletionPolicy Delete: deleting the PushSecret sends an authenticated DELETE for what it pushed.
    pushes.delete("templated", &DeleteParams::default()).await.expect("delete PushSecret");
    let deleted = eventually(Duration::from_secs(30), || {
        let remote = remote.clone();
        async move { remote.secret("dbpass").is_none() }
    })
    .await;
    assert!(deleted, "the pushed value deleted; requests: {:?}", remote.requests());
    let delete = remote.requests().into_iter().find(|r| r.method == "DELETE").expect("a DELETE");
    assert_eq!(delete.path, "/secrets/dbpass");
    assert_eq!(delete.authorization.as_deref(), Some(format!("Bearer {TOKEN}").as_str()));
    assert!(remote.secret("dbuser").is_some(), "the other PushSecret's value stays");
    w.assert_nothing_leaked().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_generator_and_a_cluster_generator_fill_secrets_with_new_values_each_refresh() {
    let w = World::start("wh-gen").await;
    let http = w.endpoint.http.clone();
    w.auth_secret("webhook-auth", TOKEN, true).await;
    w.auth_secret("unlabelled-auth", TOKEN, false).await;
    let spec = |auth: &str| {
        json!({
            "url": format!("{http}/gen"),
            "headers": {"Authorization": "Bearer {{ .auth.token }}"},
            "secrets": [{"name": "auth", "secretRef": {"name": auth, "key": "token"}}],
            "result": {"jsonPath": "$.result"}
        })
    };
    let generators: Api<external_secrets_api::generators::v1alpha1::Webhook> = w.api();
    for (name, auth) in [("token", "webhook-auth"), ("unlabelled", "unlabelled-auth")] {
        let generator = object(json!({"apiVersion": GENERATORS, "kind": "Webhook",
            "metadata": {"name": name}, "spec": spec(auth)}));
        generators.create(&PostParams::default(), &generator).await.expect("Webhook generator");
    }
    let cluster_name = format!("{}-token", w.ns);
    let cluster_generator: external_secrets_api::generators::v1alpha1::ClusterGenerator = object(json!({
        "apiVersion": GENERATORS, "kind": "ClusterGenerator",
        "metadata": {"name": cluster_name},
        "spec": {"kind": "Webhook", "generator": {"webhookSpec": spec("webhook-auth")}}
    }));
    Api::all(w.admin.clone()).create(&PostParams::default(), &cluster_generator).await.expect("ClusterGenerator");

    let generated = |name: &str, kind: &str, generator: &str, interval: &str| -> ExternalSecret {
        object(json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": name},
            "spec": {
                "refreshInterval": interval,
                "target": {"name": name},
                "dataFrom": [{"sourceRef": {"generatorRef": {"apiVersion": GENERATORS, "kind": kind, "name": generator}}}]
            }
        }))
    };
    let ess = w.api::<ExternalSecret>();
    ess.create(&PostParams::default(), &generated("gen", "Webhook", "token", "1s")).await.expect("es");
    ess.create(&PostParams::default(), &generated("cluster-gen", "ClusterGenerator", &cluster_name, "1h"))
        .await
        .expect("es");
    ess.create(&PostParams::default(), &generated("unlabelled", "Webhook", "unlabelled", "1h")).await.expect("es");

    let first = w.synced("gen").await;
    assert!(first["token"].starts_with("gen-"), "{first:?}");
    assert_eq!(first["n"], first["token"].trim_start_matches("gen-"), "each value of the object at the path");
    let secrets = w.api::<Secret>();
    let first_token = first["token"].clone();
    let renewed = eventually(Duration::from_secs(30), || {
        let secrets = secrets.clone();
        let first_token = first_token.clone();
        async move {
            let secret = secrets.get("gen").await.expect("Secret");
            let token = secret.data.and_then(|d| d.get("token").cloned()).map(|v| v.0).unwrap_or_default();
            token != first_token.as_bytes()
        }
    })
    .await;
    assert!(renewed, "each refresh calls the webhook again");
    assert!(w.synced("cluster-gen").await["token"].starts_with("gen-"));

    // The Secret's missing label is named.
    w.failed("unlabelled", "external-secrets.io/type").await;
    assert!(w.api::<Secret>().get_opt("unlabelled").await.expect("get").is_none());
    w.assert_nothing_leaked().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_answers_are_named_without_their_body_and_leave_the_target_secret_as_it_was() {
    let w = World::start("wh-err").await;
    let http = w.endpoint.http.clone();
    w.auth_secret("webhook-auth", TOKEN, true).await;
    w.auth_secret("wrong-auth", "not-the-token", true).await;
    w.auth_secret("unlabelled-auth", TOKEN, false).await;
    w.endpoint.remote.secrets.lock().unwrap().insert("k".into(), REMOTE_VALUE.into());
    let store = |url: String, path: &str, auth: &str| {
        w.with_auth(json!({"url": url, "result": {"jsonPath": path}, "timeout": "1s"}), auth, None)
    };
    let secrets_url = format!("{http}/secrets/{{{{ .remoteRef.key }}}}");
    w.store("flaky", store(secrets_url.clone(), "$.value", "webhook-auth")).await;
    let kept_entry = json!({"refreshInterval": "1s", "data": [{"secretKey": "v", "remoteRef": {"key": "k"}}]});
    w.es("kept", "SecretStore", "flaky", kept_entry).await;
    assert_eq!(w.synced("kept").await["v"], REMOTE_VALUE);

    // The endpoint starts failing: the condition names the status, the Secret keeps its value.
    let patch = json!({"spec": {"provider": {"webhook": {"url": format!("{http}/status/500")}}}});
    w.api::<SecretStore>().patch("flaky", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("patch");
    w.failed("kept", "HTTP 500").await;
    assert_eq!(w.data("kept").await["v"], REMOTE_VALUE, "a failing endpoint never blanks the Secret");

    let cases = [
        ("not-json", store(format!("{http}/open/plain"), "$.value", "webhook-auth"), "not JSON"),
        ("no-such-path", store(format!("{http}/echo/x"), "$.echo.nope", "webhook-auth"), "selects nothing"),
        ("bad-path", store(format!("{http}/echo/x"), "$.echo[", "webhook-auth"), "not a valid JSONPath"),
        ("wrong-token", store(secrets_url.clone(), "$.value", "wrong-auth"), "HTTP 401"),
        ("unlabelled", store(secrets_url.clone(), "$.value", "unlabelled-auth"), "external-secrets.io/type"),
        ("slow", store(format!("{http}/slow"), "$.value", "webhook-auth"), "timed out"),
        ("bad-template", store(format!("{http}/{{{{ .remoteRef.key | nosuchfunc }}}}"), "", "webhook-auth"), "url"),
    ];
    for (name, webhook, _) in &cases {
        w.store(name, webhook.clone()).await;
        w.es(name, "SecretStore", name, json!({"data": [{"secretKey": "v", "remoteRef": {"key": "k"}}]})).await;
    }
    for (name, _, expected) in &cases {
        w.failed(name, expected).await;
        assert!(w.api::<Secret>().get_opt(name).await.expect("get").is_none(), "{name}: no Secret");
    }

    // 404 is the store's "not found": under deletionPolicy Retain the sync fails naming the key.
    w.store("absent", store(secrets_url, "$.value", "webhook-auth")).await;
    w.es(
        "absent",
        "SecretStore",
        "absent",
        json!({"target": {"name": "absent", "deletionPolicy": "Retain"},
               "data": [{"secretKey": "v", "remoteRef": {"key": "no-such-key"}}]}),
    )
    .await;
    w.failed("absent", "no-such-key").await;
    w.assert_nothing_leaked().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_reads_a_value_through_the_webhook_store() {
    let w = World::start("wh-example").await;
    w.endpoint.remote.secrets.lock().unwrap().insert("db-password".into(), REMOTE_VALUE.into());
    let path = external_secrets_testsupport::tools::repo_root().join("examples/webhook/webhook.yaml");
    // The example as written, pointed at the test's endpoint and token, for this test's operator.
    let text = std::fs::read_to_string(path)
        .expect("example")
        .replace("http://secrets-api.example.svc", &w.endpoint.http)
        .replace("replace-with-your-api-token", TOKEN);
    for document in serde_yaml::Deserializer::from_str(&text) {
        let mut value: Value = serde::Deserialize::deserialize(document).expect("YAML document");
        match value["kind"].as_str() {
            Some("Secret") => {
                w.api::<Secret>().create(&PostParams::default(), &object(value)).await.expect("Secret");
            }
            Some("SecretStore") => {
                value["spec"]["controller"] = json!(w.op.class);
                w.api::<SecretStore>().create(&PostParams::default(), &object(value)).await.expect("SecretStore");
            }
            Some("ExternalSecret") => {
                w.api::<ExternalSecret>().create(&PostParams::default(), &object(value)).await.expect("ExternalSecret");
            }
            other => panic!("unexpected kind {other:?} in the example"),
        }
    }
    assert_eq!(w.synced("db-credentials").await["password"], REMOTE_VALUE);
    w.assert_nothing_leaked().await;
}
