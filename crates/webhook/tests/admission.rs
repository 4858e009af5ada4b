//! The webhook and the certificate controller against a real kube-apiserver: the apiserver calls the webhook
//! served by this test process on 127.0.0.1, rejects what the webhook rejects, never sends it deletes, and
//! keeps working across a certificate rotation done by the certificate controller.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use external_secrets_api::{ClusterSecretStore, ExternalSecret, crds};
use external_secrets_provider::ProviderRegistry;
use external_secrets_testsupport::{cluster, eventually};
use external_secrets_webhook::certcontroller::{self, CertBundle, CertControllerConfig};
use external_secrets_webhook::server::{CLUSTER_SECRET_STORE_PATH, EXTERNAL_SECRET_PATH};
use external_secrets_webhook::tls::ReloadingCert;
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::CustomResourceExt;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const WAIT: Duration = Duration::from_secs(30);

async fn client_with_crds() -> kube::Client {
    let client = cluster().await.admin_client().await.expect("admin client");
    external_secrets_testsupport::apply_crds(&client, crds()).await.expect("CRDs");
    client
}

/// A webhook served by this process on 127.0.0.1 from `cert_dir`, reloading every 200 ms. Dropping `stop`
/// (or sending on it) stops it.
struct RunningWebhook {
    port: u16,
    stop: Option<oneshot::Sender<()>>,
}

impl RunningWebhook {
    async fn start(cert_dir: &Path) -> Self {
        let cert = ReloadingCert::new(cert_dir);
        cert.wait_loaded(Duration::from_secs(5)).await.expect("certificate loads");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = oneshot::channel::<()>();
        let (watch_stop, watch_stopped) = oneshot::channel::<()>();
        tokio::spawn(cert.clone().watch(Duration::from_millis(200), async {
            let _ = watch_stopped.await;
        }));
        let tls = cert.server_config().unwrap();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
                let _ = watch_stop.send(());
            };
            external_secrets_webhook::serve_tls(
                listener,
                external_secrets_webhook::router(ProviderRegistry::new()),
                tls,
                shutdown,
            )
            .await
            .unwrap();
        });
        Self { port, stop: Some(stop) }
    }

    fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for RunningWebhook {
    fn drop(&mut self) {
        self.stop();
    }
}

fn write_cert_dir(dir: &Path, bundle: &CertBundle) {
    // Written as the kubelet updates a Secret volume: complete files, swapped in by rename.
    for (name, pem) in [("tls.crt", &bundle.cert_pem), ("tls.key", &bundle.key_pem), ("ca.crt", &bundle.ca_pem)] {
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, pem).unwrap();
        std::fs::rename(&tmp, dir.join(name)).unwrap();
    }
}

/// A ValidatingWebhookConfiguration as the chart renders it (CREATE/UPDATE only, v1), pointing at
/// `https://127.0.0.1:<port>` instead of a Service, failurePolicy Fail, for objects labelled `webhook-test=<test>`.
fn webhook_configuration(name: &str, test: &str, port: u16, ca: Option<&str>) -> ValidatingWebhookConfiguration {
    let hook = |hook_name: &str, path: &str, resource: &str| {
        json!({
            "name": hook_name,
            "clientConfig": {
                "url": format!("https://127.0.0.1:{port}{path}"),
                "caBundle": ca.map(|ca| ByteString(ca.as_bytes().to_vec())),
            },
            "rules": [{
                "apiGroups": ["external-secrets.io"],
                "apiVersions": ["v1"],
                "operations": ["CREATE", "UPDATE"],
                "resources": [resource],
                "scope": "*",
            }],
            "objectSelector": {"matchLabels": {"webhook-test": test}},
            "failurePolicy": "Fail",
            "matchPolicy": "Equivalent",
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
            "timeoutSeconds": 5,
        })
    };
    serde_json::from_value(json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name, "labels": {"external-secrets.io/component": "webhook", "webhook-test": test}},
        "webhooks": [
            hook("validate.externalsecret.external-secrets.io", EXTERNAL_SECRET_PATH, "externalsecrets"),
            hook("validate.clustersecretstore.external-secrets.io", CLUSTER_SECRET_STORE_PATH, "clustersecretstores"),
        ],
    }))
    .unwrap()
}

fn external_secret(name: &str, test: &str, rewrite_source: &str) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": name, "labels": {"webhook-test": test}},
        "spec": {
            "secretStoreRef": {"name": "aws"},
            "dataFrom": [{"find": {"path": "app/"}, "rewrite": [{"regexp": {"source": rewrite_source, "target": "x"}}]}],
        },
    }))
    .unwrap()
}

/// Creates an ExternalSecret; `Err(message)` when the apiserver refuses it.
async fn create(api: &Api<DynamicObject>, object: &DynamicObject) -> Result<(), String> {
    match api.create(&PostParams::default(), object).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) => Err(status.message),
        Err(e) => panic!("create: {e}"),
    }
}

/// Waits until the apiserver uses the webhook (its configuration cache is refreshed asynchronously): an
/// invalid object is rejected. Returns the rejection message.
async fn rejected_once_webhook_active(api: &Api<DynamicObject>, test: &str) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    for attempt in 0.. {
        let name = format!("probe-{attempt}");
        match create(api, &external_secret(&name, test, "(unclosed")).await {
            Err(message) => return message,
            Ok(()) => {
                api.delete(&name, &DeleteParams::default()).await.expect("delete probe");
                assert!(tokio::time::Instant::now() < deadline, "webhook not called within {WAIT:?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    unreachable!()
}

#[tokio::test]
async fn apiserver_rejects_what_the_webhook_rejects_and_never_sends_it_deletes() {
    let client = client_with_crds().await;
    let ns = cluster().await.namespace("webhook-admission").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bundle = CertBundle::generate(&["127.0.0.1".to_string()], Duration::from_secs(86_400)).unwrap();
    write_cert_dir(dir.path(), &bundle);
    let mut webhook = RunningWebhook::start(dir.path()).await;

    let vwcs: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let vwc_name = format!("{ns}-validate");
    vwcs.create(&PostParams::default(), &webhook_configuration(&vwc_name, &ns, webhook.port, Some(&bundle.ca_pem)))
        .await
        .expect("register webhook");

    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ExternalSecret::api_resource());
    let message = rejected_once_webhook_active(&api, &ns).await;
    assert!(
        message.contains("dataFrom[0].rewrite[0].regexp.source \"(unclosed\" does not compile"),
        "the user reads which field is wrong and why: {message}"
    );

    create(&api, &external_secret("valid", &ns, "^app/(.*)$")).await.expect("a valid ExternalSecret is admitted");

    // Updates are validated too.
    let update = api
        .patch(
            "valid",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"dataFrom": [{"find": {"path": "app/"},
                "rewrite": [{"regexp": {"source": "[z-a]", "target": "x"}}]}]}})),
        )
        .await;
    assert!(matches!(update, Err(kube::Error::Api(ref s)) if s.message.contains("does not compile")), "{update:?}");

    // Cluster stores: a namespace regexp that does not compile is refused; a provider this build does not
    // implement is admitted (with a warning).
    let stores: Api<DynamicObject> = Api::all_with(client.clone(), &ClusterSecretStore::api_resource());
    let store = |name: &str, regex: &str| -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "external-secrets.io/v1",
            "kind": "ClusterSecretStore",
            "metadata": {"name": name, "labels": {"webhook-test": ns}},
            "spec": {"provider": {"gitlab": {"url": "https://gitlab"}}, "conditions": [{"namespaceRegexes": [regex]}]},
        }))
        .unwrap()
    };
    let refused = create(&stores, &store(&format!("{ns}-bad"), "team-(a|b")).await.expect_err("bad regexp refused");
    assert!(refused.contains("conditions[0].namespaceRegexes[0]"), "{refused}");
    create(&stores, &store(&format!("{ns}-good"), "team-.*")).await.expect("good store admitted");

    // An unanchored namespace regexp is admitted, as ESO admits it, with a warning saying what else it admits.
    // (kube's typed API drops the `Warning` headers, so this create is a raw request.)
    let unanchored = format!("{ns}-unanchored");
    let request = axum::http::Request::post("/apis/external-secrets.io/v1/clustersecretstores")
        .header("content-type", "application/json")
        .body(kube::client::Body::from(serde_json::to_vec(&store(&unanchored, "team-a")).unwrap()))
        .unwrap();
    let response = client.send(request).await.expect("create the unanchored store");
    assert!(response.status().is_success(), "admitted: {}", response.status());
    let warnings: Vec<String> =
        response.headers().get_all("warning").iter().map(|v| v.to_str().unwrap_or_default().to_string()).collect();
    assert!(
        warnings.iter().any(|w| w.contains("namespaceRegexes[0]") && w.contains("is not anchored")),
        "{warnings:?}"
    );
    stores.delete(&unanchored, &DeleteParams::default()).await.expect("delete the unanchored store");

    // With the webhook gone and failurePolicy Fail, creates fail, but deletes still go through: they are
    // never sent to the webhook.
    webhook.stop();
    let attempt = std::sync::atomic::AtomicUsize::new(0);
    let unreachable = eventually(WAIT, || async {
        let name = format!("late-{}", attempt.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        create(&api, &external_secret(&name, &ns, "ok")).await.is_err_and(|m| m.contains("failed calling webhook"))
    })
    .await;
    assert!(unreachable, "with the webhook down, failurePolicy Fail refuses creates");
    api.delete("valid", &DeleteParams::default()).await.expect("delete does not need the webhook");
    stores.delete(&format!("{ns}-good"), &DeleteParams::default()).await.expect("delete does not need the webhook");
    let gone = eventually(WAIT, || async { api.get_opt("valid").await.unwrap().is_none() }).await;
    assert!(gone, "the ExternalSecret was deleted");

    vwcs.delete(&vwc_name, &DeleteParams::default()).await.unwrap();
}

#[tokio::test]
async fn cert_controller_provisions_injects_and_rotates_while_the_webhook_keeps_serving() {
    let client = client_with_crds().await;
    let ns = cluster().await.namespace("webhook-certs").await.unwrap();
    let vwcs: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let vwc_name = format!("{ns}-validate");
    let mut config = CertControllerConfig {
        secret_namespace: ns.clone(),
        secret_name: "external-secrets-webhook".into(),
        hosts: vec!["127.0.0.1".into()],
        // Shorter than the lookahead: every pass replaces it (a certificate "about to expire").
        validity: Duration::from_secs(3600),
        lookahead: Duration::from_secs(2 * 3600),
        webhook_selector: format!("external-secrets.io/component=webhook,webhook-test={ns}"),
    };

    // First pass: no Secret yet. It is created; the configuration has no webhooks to inject yet.
    let first = certcontroller::reconcile(&client, &config).await.expect("first pass");
    assert!(first.rotated.is_some());
    let secret_bundle = |secret: Secret| CertBundle::from_secret(&secret).expect("ca.crt, tls.crt, tls.key");
    let initial = secret_bundle(secrets.get("external-secrets-webhook").await.unwrap());

    // The webhook reads the Secret's files (as from a volume); the configuration is registered without a CA
    // bundle, and the controller injects it.
    let dir = tempfile::tempdir().unwrap();
    write_cert_dir(dir.path(), &initial);
    let webhook = RunningWebhook::start(dir.path()).await;
    vwcs.create(&PostParams::default(), &webhook_configuration(&vwc_name, &ns, webhook.port, None)).await.unwrap();
    let second = certcontroller::reconcile(&client, &config).await.expect("second pass");
    assert_eq!(second.injected, std::slice::from_ref(&vwc_name));

    // That pass also found the 1h certificate inside the 2h lookahead and replaced it; the new CA bundle
    // trusts both the new and the previous CA, so the webhook, still serving the old certificate, is trusted.
    let rotated = secret_bundle(secrets.get("external-secrets-webhook").await.unwrap());
    assert!(second.rotated.as_deref().unwrap_or_default().contains("within the lookahead"), "{second:?}");
    assert_ne!(rotated.cert_pem, initial.cert_pem);
    assert!(rotated.ca_pem.ends_with(&initial.ca_pem.replace("\r\n", "\n")), "previous CA kept in the bundle");
    let injected = vwcs.get(&vwc_name).await.unwrap();
    for hook in injected.webhooks.unwrap() {
        assert_eq!(hook.client_config.ca_bundle.unwrap().0, rotated.ca_pem.as_bytes());
    }

    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ExternalSecret::api_resource());
    let message = rejected_once_webhook_active(&api, &ns).await;
    assert!(message.contains("does not compile"), "{message}");

    // The kubelet updates the volume; the webhook picks up the new certificate without a restart.
    assert_eq!(served_certificate(webhook.port).await, first_der(&initial.cert_pem));
    write_cert_dir(dir.path(), &rotated);
    let new_cert = first_der(&rotated.cert_pem);
    let reloaded = eventually(WAIT, || async { served_certificate(webhook.port).await == new_cert }).await;
    assert!(reloaded, "the webhook serves the rotated certificate without a restart");
    create(&api, &external_secret("after-rotation", &ns, "^(.*)$")).await.expect("admitted via the new certificate");
    let refused = create(&api, &external_secret("bad-after-rotation", &ns, "(")).await;
    assert!(refused.is_err_and(|m| m.contains("does not compile")));

    // A certificate valid beyond the lookahead is kept.
    config.validity = Duration::from_secs(10 * 86_400);
    certcontroller::reconcile(&client, &config).await.unwrap();
    let stable = certcontroller::reconcile(&client, &config).await.unwrap();
    assert_eq!(stable, certcontroller::Outcome::default(), "nothing to do");

    vwcs.delete(&vwc_name, &DeleteParams::default()).await.unwrap();
}

fn first_der(pem: &str) -> Vec<u8> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem.as_bytes()).next().unwrap().unwrap().to_vec()
}

/// The leaf certificate the server on 127.0.0.1:`port` presents (not verified: only compared).
async fn served_certificate(port: u16) -> Vec<u8> {
    let output = tokio::process::Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}"), "-showcerts"])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("openssl s_client");
    let text = String::from_utf8_lossy(&output.stdout);
    let start = text.find("-----BEGIN CERTIFICATE-----").expect("a certificate");
    let end = text[start..].find("-----END CERTIFICATE-----").expect("end") + start + 25;
    first_der(&text[start..end])
}

#[tokio::test]
async fn cert_controller_loop_provisions_then_reports_ready() {
    use std::sync::atomic::{AtomicBool, Ordering};

    let client = client_with_crds().await;
    let ns = cluster().await.namespace("webhook-certloop").await.unwrap();
    let config = CertControllerConfig {
        secret_namespace: ns.clone(),
        secret_name: "external-secrets-webhook".into(),
        hosts: CertControllerConfig::service_hosts("external-secrets-webhook", &ns),
        validity: Duration::from_secs(365 * 86_400),
        lookahead: Duration::from_secs(90 * 86_400),
        webhook_selector: format!("external-secrets.io/component=webhook,webhook-test={ns}"),
    };
    let ready = Arc::new(AtomicBool::new(false));
    let (stop, stopped) = oneshot::channel::<()>();
    let task =
        tokio::spawn(certcontroller::run(client.clone(), config, Duration::from_secs(3600), ready.clone(), async {
            let _ = stopped.await;
        }));
    assert!(eventually(WAIT, || async { ready.load(Ordering::Relaxed) }).await, "ready after the first pass");
    let secret = Api::<Secret>::namespaced(client, &ns).get("external-secrets-webhook").await.unwrap();
    let bundle = CertBundle::from_secret(&secret).expect("provisioned");
    assert_eq!(bundle.needs_rotation(std::time::SystemTime::now(), Duration::from_secs(90 * 86_400)), None);
    stop.send(()).unwrap();
    tokio::time::timeout(WAIT, task).await.expect("stops on shutdown").unwrap();
}
