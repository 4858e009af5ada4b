//! The local control plane is real: pinned version, TokenRequest, RBAC and garbage collection work, and two
//! control planes side by side do not collide.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use external_secrets_testsupport::{Cluster, ClusterOptions, cluster, eventually, tools};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};

fn pinned_kube_version() -> String {
    let env = std::fs::read_to_string(tools::repo_root().join("hack/versions.env")).expect("versions.env");
    env.lines().find_map(|l| l.strip_prefix("KUBE_VERSION=")).expect("KUBE_VERSION in hack/versions.env").to_string()
}

async fn create_service_account(client: kube::Client, ns: &str, name: &str) {
    let sas: Api<ServiceAccount> = Api::namespaced(client, ns);
    let sa =
        ServiceAccount { metadata: ObjectMeta { name: Some(name.into()), ..Default::default() }, ..Default::default() };
    sas.create(&PostParams::default(), &sa).await.expect("create ServiceAccount");
}

#[tokio::test]
async fn apiserver_reports_the_pinned_version() {
    let cluster = cluster().await;
    let client = cluster.admin_client().await.expect("admin client");
    let info = client.apiserver_version().await.expect("/version");
    assert_eq!(info.git_version, pinned_kube_version());
}

#[tokio::test]
async fn token_request_mints_sts_audience_token_with_expected_claims() {
    let cluster = cluster().await;
    let client = cluster.admin_client().await.expect("admin client");
    let ns = cluster.namespace("tokens").await.expect("namespace");
    create_service_account(client, &ns, "appsecrets-sa").await;

    let token =
        cluster.service_account_token(&ns, "appsecrets-sa", &["sts.amazonaws.com"], 3600).await.expect("TokenRequest");
    let payload = token.split('.').nth(1).expect("a JWT has three parts");
    let claims: serde_json::Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("base64url"))
            .expect("JSON claims");
    assert_eq!(claims["iss"], cluster.issuer.as_str());
    assert_eq!(claims["sub"], format!("system:serviceaccount:{ns}:appsecrets-sa").as_str());
    assert_eq!(claims["aud"], serde_json::json!(["sts.amazonaws.com"]));
    assert!(claims["exp"].as_i64().expect("exp") > claims["iat"].as_i64().expect("iat"));
}

#[tokio::test]
async fn rbac_refuses_a_service_account_without_a_role_and_allows_it_with_one() {
    let cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin client");
    let ns = cluster.namespace("rbac").await.expect("namespace");
    create_service_account(admin.clone(), &ns, "reader").await;
    let sa_client = cluster.service_account_client(&ns, "reader").await.expect("SA client");
    let secrets: Api<Secret> = Api::namespaced(sa_client, &ns);

    match secrets.list(&ListParams::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("expected 403 Forbidden without a Role, got {other:?}"),
    }

    let roles: Api<Role> = Api::namespaced(admin.clone(), &ns);
    let role = Role {
        metadata: ObjectMeta { name: Some("secret-reader".into()), ..Default::default() },
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["secrets".into()]),
            verbs: vec!["list".into()],
            ..Default::default()
        }]),
    };
    roles.create(&PostParams::default(), &role).await.expect("create Role");
    let bindings: Api<RoleBinding> = Api::namespaced(admin, &ns);
    let binding = RoleBinding {
        metadata: ObjectMeta { name: Some("secret-reader".into()), ..Default::default() },
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "Role".into(),
            name: "secret-reader".into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: "reader".into(),
            namespace: Some(ns.clone()),
            ..Default::default()
        }]),
    };
    bindings.create(&PostParams::default(), &binding).await.expect("create RoleBinding");

    let allowed =
        eventually(Duration::from_secs(10), || async { secrets.list(&ListParams::default()).await.is_ok() }).await;
    assert!(allowed, "the ServiceAccount should list Secrets once the Role is bound");
}

#[tokio::test]
async fn garbage_collector_deletes_dependents_after_their_owner() {
    let cluster = cluster().await;
    let client = cluster.admin_client().await.expect("admin client");
    let ns = cluster.namespace("gc").await.expect("namespace");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let owner = cms
        .create(
            &PostParams::default(),
            &ConfigMap {
                metadata: ObjectMeta { name: Some("owner".into()), ..Default::default() },
                ..Default::default()
            },
        )
        .await
        .expect("create owner");
    let secrets: Api<Secret> = Api::namespaced(client, &ns);
    let dependent = Secret {
        metadata: ObjectMeta {
            name: Some("dependent".into()),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                name: "owner".into(),
                uid: owner.metadata.uid.clone().expect("uid"),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..Default::default()
        },
        string_data: Some(BTreeMap::from([("k".to_string(), "v".to_string())])),
        ..Default::default()
    };
    secrets.create(&PostParams::default(), &dependent).await.expect("create dependent");
    cms.delete("owner", &DeleteParams::default()).await.expect("delete owner");

    let gone =
        eventually(Duration::from_secs(60), || async { matches!(secrets.get_opt("dependent").await, Ok(None)) }).await;
    assert!(gone, "kube-controller-manager's garbage collector should delete the dependent Secret");
}

#[tokio::test]
async fn a_second_control_plane_does_not_collide_and_stops_by_pid() {
    let first = cluster().await;
    let second = tokio::task::spawn_blocking(|| Cluster::start(ClusterOptions::default()))
        .await
        .expect("join")
        .expect("second control plane starts beside the first");
    assert_ne!(first.server, second.server, "ports must differ");
    assert_ne!(first.dir, second.dir, "directories must differ");

    let c1 = first.admin_client().await.expect("client 1");
    let c2 = second.admin_client().await.expect("client 2");
    let ns2 = second.namespace("only-in-second").await.expect("namespace in second");
    let in_first: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(c1);
    assert!(in_first.get_opt(&ns2).await.expect("get").is_none(), "the clusters must not share etcd");
    assert!(c2.apiserver_version().await.is_ok());

    let pids = second.pids();
    assert_eq!(pids.len(), 3, "etcd, kube-apiserver, kube-controller-manager: {pids:?}");
    drop(second);
    for (pid, name) in pids {
        let alive = std::process::Command::new("kill")
            .args(["-0", &pid.to_string()])
            .stderr(std::process::Stdio::null())
            .status()
            .expect("kill")
            .success();
        assert!(!alive, "{name} (pid {pid}) must be stopped when its Cluster is dropped");
    }
}
