//! Tenant isolation against the real local control plane: what a namespace admin who can create a SecretStore
//! must not be able to borrow from the operator.
//!
//! - AWS: with `--aws-refuse-default-credentials-for-namespaced-stores`, a SecretStore without `auth` does not
//!   get the operator's own AWS identity (the SDK default chain); it is `Ready=False` naming the refusal.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::{registry, start_operator_with, wait_store};
use external_secrets_api::SecretStore;
use external_secrets_provider_aws::{AwsProvider, Endpoints, REFUSE_DEFAULT_FLAG};
use external_secrets_testsupport::cluster;
use kube::api::{Api, PostParams};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaced_aws_store_without_auth_is_refused_the_operators_identity() {
    let cluster = cluster().await;
    let ns = cluster.namespace("iso-aws").await.expect("namespace");
    // No AWS call is made: an unroutable endpoint makes sure of it.
    let aws = AwsProvider::with_endpoints(Endpoints::all("http://127.0.0.1:9"))
        .refusing_default_credentials_for_namespaced_stores(true);
    let op = start_operator_with(cluster, &ns, registry().with(Arc::new(aws))).await;
    let admin = cluster.admin_client().await.expect("admin");
    let stores: Api<SecretStore> = Api::namespaced(admin, &ns);
    let store: SecretStore = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
        "metadata": {"name": "no-auth"},
        "spec": {"controller": op.class, "provider": {"aws": {"service": "SecretsManager", "region": "eu-west-1"}}}
    }))
    .expect("SecretStore");
    stores.create(&PostParams::default(), &store).await.expect("create SecretStore");
    let (status, _, message) = wait_store(&stores, "no-auth", "InvalidProviderConfig").await;
    assert_eq!(status, "False");
    assert!(message.contains("refused") && message.contains(REFUSE_DEFAULT_FLAG), "{message}");
    op.stop().await;
}
