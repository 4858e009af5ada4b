//! Manifests written for ESO before 0.16 (`external-secrets.io/v1beta1`) keep working: applied with kubectl or
//! through the typed v1beta1 API, they sync exactly like v1 objects, and their status reads back in v1beta1.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use common::{kubectl, start_operator, wait_ready};
use external_secrets_api::{ExternalSecret, v1beta1};
use external_secrets_testsupport::cluster;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use serde_json::json;

const PASSWORD: &str = "beta-pa55-do-not-log";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1beta1_manifests_applied_with_kubectl_sync_like_v1() {
    let cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("beta-kubectl").await.expect("ns");
    let op = start_operator(cluster, &ns).await;

    // A manifest as users wrote it for ESO 0.9–0.15.
    let manifest = format!(
        r#"apiVersion: external-secrets.io/v1beta1
kind: SecretStore
metadata:
  name: fake
  namespace: {ns}
spec:
  controller: {class}
  provider:
    fake:
      data:
        - key: prod/db
          value: '{{"password":"{PASSWORD}"}}'
---
apiVersion: external-secrets.io/v1beta1
kind: ExternalSecret
metadata:
  name: legacy
  namespace: {ns}
spec:
  refreshInterval: 1h
  secretStoreRef:
    name: fake
    kind: SecretStore
  target:
    name: legacy-secret
    creationPolicy: Owner
  data:
    - secretKey: password
      remoteRef:
        key: prod/db
        property: password
"#,
        class = op.class
    );
    let path = std::env::temp_dir().join(format!("esr-v1beta1-{ns}.yaml"));
    std::fs::write(&path, manifest).expect("write manifest");
    kubectl(cluster, &["apply", "-f", path.to_str().expect("utf-8 path")]);
    let _ = std::fs::remove_file(&path);

    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &ns);
    let (status, _, message) = wait_ready(&ess, "legacy", "SecretSynced").await;
    assert_eq!((status.as_str(), message.as_str()), ("True", "secret synced"));
    let secret = Api::<Secret>::namespaced(admin.clone(), &ns).get("legacy-secret").await.expect("Secret");
    assert_eq!(secret.data.expect("data")["password"].0, PASSWORD.as_bytes());

    // Read back in the version it was written in: the same status.
    let beta: Api<v1beta1::ExternalSecret> = Api::namespaced(admin.clone(), &ns);
    let es = beta.get("legacy").await.expect("v1beta1 read");
    let ready = es.status.expect("status").condition("Ready").cloned().expect("Ready");
    assert_eq!((ready.status.as_str(), ready.reason.as_deref()), ("True", Some("SecretSynced")));
    let store = Api::<v1beta1::SecretStore>::namespaced(admin.clone(), &ns).get("fake").await.expect("store");
    let store_ready = store.status.expect("store status").condition("Ready").cloned().expect("Ready");
    assert_eq!((store_ready.status.as_str(), store_ready.reason.as_deref()), ("True", Some("Valid")));
    let columns = kubectl(cluster, &["get", "externalsecrets.v1beta1.external-secrets.io", "-n", &ns]);
    assert!(columns.contains("SecretSynced"), "{columns}");
    op.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1beta1_typed_objects_with_a_cluster_store_sync_like_v1() {
    let cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("beta-typed").await.expect("ns");
    let op = start_operator(cluster, &ns).await;

    let store_name = format!("beta-{ns}");
    let store: v1beta1::ClusterSecretStore = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1beta1", "kind": "ClusterSecretStore",
        "metadata": {"name": store_name},
        "spec": {
            "controller": op.class,
            "conditions": [{"namespaces": [ns]}],
            "provider": {"fake": {"data": [{"key": "shared", "value": PASSWORD}]}}
        }
    }))
    .expect("v1beta1 ClusterSecretStore");
    Api::<v1beta1::ClusterSecretStore>::all(admin.clone())
        .create(&PostParams::default(), &store)
        .await
        .expect("create v1beta1 ClusterSecretStore");
    let es: v1beta1::ExternalSecret = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1beta1", "kind": "ExternalSecret",
        "metadata": {"name": "typed", "namespace": ns},
        "spec": {
            "secretStoreRef": {"name": store_name, "kind": "ClusterSecretStore"},
            "target": {"name": "typed-secret"},
            "dataFrom": [],
            "data": [{"secretKey": "token", "remoteRef": {"key": "shared"}}]
        }
    }))
    .expect("v1beta1 ExternalSecret");
    Api::<v1beta1::ExternalSecret>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &es)
        .await
        .expect("create v1beta1 ExternalSecret");

    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &ns);
    wait_ready(&ess, "typed", "SecretSynced").await;
    let secret = Api::<Secret>::namespaced(admin.clone(), &ns).get("typed-secret").await.expect("Secret");
    assert_eq!(secret.data.expect("data")["token"].0, PASSWORD.as_bytes());
    let owner = &secret.metadata.owner_references.expect("owner")[0];
    assert_eq!((owner.kind.as_str(), owner.name.as_str()), ("ExternalSecret", "typed"));
    op.stop().await;
}
