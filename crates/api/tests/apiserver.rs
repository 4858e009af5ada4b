//! The generated CRDs against a real kube-apiserver: they install, both versions are served from one schema,
//! defaults and pruning behave as with ESO's CRDs, and unknown providers survive.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use external_secrets_api::{
    ExternalSecret, ExternalSecretCreationPolicy, ExternalSecretDeletionPolicy, ExternalSecretStatus,
    ExternalSecretStatusCondition, SecretStore, crds, v1beta1,
};
use external_secrets_testsupport::cluster;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::CustomResourceExt;
use serde_json::json;

const FIELD_MANAGER: &str = "external-secrets-api-tests";

/// An admin client of this test binary's cluster, with the CRDs applied and established (bounded wait).
async fn client_with_crds() -> kube::Client {
    let client = cluster().await.admin_client().await.expect("admin client");
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for crd in crds() {
        let name = crd.metadata.name.clone().expect("CRD name");
        api.patch(&name, &params, &Patch::Apply(&crd)).await.unwrap_or_else(|e| panic!("apply CRD {name}: {e}"));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    for crd in crds() {
        let name = crd.metadata.name.expect("CRD name");
        loop {
            let current = api.get(&name).await.expect("get CRD");
            let established = current
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "CRD {name} not established within 30s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    client
}

fn walkthrough_external_secret(name: &str) -> ExternalSecret {
    serde_yaml::from_str(&format!(
        r#"
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: {name}
spec:
  refreshInterval: 1h
  secretStoreRef: {{name: aws-secretsmanager, kind: SecretStore}}
  target: {{name: appsecret, creationPolicy: Owner}}
  data:
  - secretKey: app-db-username
    remoteRef: {{key: prod/app/db, property: username}}
"#
    ))
    .expect("walkthrough manifest")
}

#[tokio::test]
async fn v1_and_v1beta1_objects_are_served_from_one_schema_with_eso_defaults() {
    let client = client_with_crds().await;
    let ns = cluster().await.namespace("api-versions").await.expect("namespace");
    let v1_api: Api<ExternalSecret> = Api::namespaced(client.clone(), &ns);
    let v1beta1_api: Api<v1beta1::ExternalSecret> = Api::namespaced(client, &ns);

    v1_api.create(&PostParams::default(), &walkthrough_external_secret("current")).await.expect("create v1");
    let legacy: v1beta1::ExternalSecret = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1beta1",
        "kind": "ExternalSecret",
        "metadata": {"name": "legacy"},
        "spec": {
            "secretStoreRef": {"name": "vault-backend", "kind": "ClusterSecretStore"},
            "dataFrom": [{"extract": {"key": "secret/legacy", "decodingStrategy": "None"}}]
        }
    }))
    .unwrap();
    v1beta1_api.create(&PostParams::default(), &legacy).await.expect("create v1beta1");

    let current = v1_api.get("current").await.expect("get v1");
    assert_eq!(current.spec.refresh_interval, "1h");
    assert_eq!(current.spec.target.creation_policy, ExternalSecretCreationPolicy::Owner);
    assert_eq!(current.spec.target.deletion_policy, ExternalSecretDeletionPolicy::Retain, "schema default");

    // The v1beta1 object is stored as v1 and reads back through either version.
    let legacy_as_v1 = v1_api.get("legacy").await.expect("get v1beta1 object as v1");
    assert_eq!(legacy_as_v1.spec.refresh_interval, "1h0m0s", "schema default");
    assert_eq!(legacy_as_v1.spec.target.creation_policy, ExternalSecretCreationPolicy::Owner, "object default");
    assert_eq!(legacy_as_v1.spec.data_from[0].extract.as_ref().unwrap().key, "secret/legacy");
    let current_as_v1beta1 = v1beta1_api.get("current").await.expect("get v1 object as v1beta1");
    assert_eq!(current_as_v1beta1.spec, current.spec);

    // Selectable fields work.
    let by_store = v1_api
        .list(&ListParams::default().fields("spec.secretStoreRef.name=aws-secretsmanager"))
        .await
        .expect("list by field selector");
    let names: Vec<_> = by_store.items.iter().filter_map(|es| es.metadata.name.as_deref()).collect();
    assert_eq!(names, ["current"]);
}

#[tokio::test]
async fn explicit_nulls_are_pruned_and_then_defaulted_like_esos_crds() {
    let client = client_with_crds().await;
    let ns = cluster().await.namespace("api-nulls").await.expect("namespace");
    // Helm renders unset values as null; ESO's schema (not nullable) drops them and applies the defaults.
    let raw: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ExternalSecret::api_resource());
    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": "helm-rendered"},
        "spec": {
            "refreshInterval": null,
            "secretStoreRef": {"name": "aws-secretsmanager", "kind": null},
            "target": {"name": "appsecret", "creationPolicy": null, "template": null},
            "data": [{"secretKey": "k", "remoteRef": {"key": "remote", "property": null}}]
        }
    }))
    .unwrap();
    raw.create(&PostParams::default(), &object).await.expect("create with nulls");

    let typed: Api<ExternalSecret> = Api::namespaced(client, &ns);
    let es = typed.get("helm-rendered").await.expect("get");
    assert_eq!(es.spec.refresh_interval, "1h0m0s");
    assert_eq!(es.spec.secret_store_ref.as_ref().unwrap().kind, None);
    assert_eq!(es.spec.target.creation_policy, ExternalSecretCreationPolicy::Owner);
    assert!(es.spec.target.template.is_none());
    assert_eq!(es.spec.data[0].remote_ref.property, None);
}

#[tokio::test]
async fn status_is_applied_through_the_status_subresource_without_nulls() {
    let client = client_with_crds().await;
    let ns = cluster().await.namespace("api-status").await.expect("namespace");
    let api: Api<ExternalSecret> = Api::namespaced(client, &ns);
    api.create(&PostParams::default(), &walkthrough_external_secret("synced")).await.expect("create");

    let status = ExternalSecretStatus {
        synced_resource_version: Some("1-abc".into()),
        conditions: vec![ExternalSecretStatusCondition {
            type_: "Ready".into(),
            status: "True".into(),
            reason: Some("SecretSynced".into()),
            message: Some("secret synced".into()),
            last_transition_time: None,
        }],
        ..Default::default()
    };
    let patch = json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "status": status,
    });
    api.patch_status("synced", &PatchParams::apply(FIELD_MANAGER), &Patch::Apply(&patch)).await.expect("apply status");

    let es = api.get("synced").await.expect("get");
    let status = es.status.expect("status");
    assert_eq!(status.synced_resource_version.as_deref(), Some("1-abc"));
    assert_eq!(status.condition("Ready").and_then(|c| c.reason.as_deref()), Some("SecretSynced"));
    assert_eq!(status.refresh_time, None);
}

#[tokio::test]
async fn stores_of_unimplemented_providers_survive_and_two_providers_are_rejected() {
    let client = client_with_crds().await;
    let ns = cluster().await.namespace("api-stores").await.expect("namespace");
    let api: Api<SecretStore> = Api::namespaced(client, &ns);
    let gitlab = json!({
        "url": "https://gitlab.example",
        "projectID": "42",
        "auth": {"SecretRef": {"accessToken": {"name": "gitlab-token", "key": "token"}}}
    });
    let store: SecretStore = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "SecretStore",
        "metadata": {"name": "gitlab-backend"},
        "spec": {"provider": {"gitlab": gitlab}}
    }))
    .unwrap();
    api.create(&PostParams::default(), &store).await.expect("create gitlab store");

    let stored = api.get("gitlab-backend").await.expect("get");
    assert_eq!(stored.spec.provider.configured_names(), ["gitlab"]);
    assert_eq!(stored.spec.provider.other.get("gitlab"), Some(&gitlab), "not pruned");

    let two: SecretStore = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "SecretStore",
        "metadata": {"name": "two-providers"},
        "spec": {"provider": {"gitlab": gitlab, "fake": {"data": []}}}
    }))
    .unwrap();
    let err = api.create(&PostParams::default(), &two).await.expect_err("two providers must be rejected");
    assert!(matches!(err, kube::Error::Api(ref status) if status.code == 422), "{err}");
}

/// Creates a raw ExternalSecret `spec` and returns the apiserver's refusal message (`None`: admitted).
async fn create_external_secret(api: &Api<DynamicObject>, name: &str, spec: serde_json::Value) -> Option<String> {
    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .unwrap();
    match api.create(&PostParams::default(), &object).await {
        Ok(_) => None,
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{name}: rejected as invalid, not for another reason: {status:?}");
            Some(status.message)
        }
        Err(e) => panic!("{name}: {e}"),
    }
}

#[tokio::test]
async fn schema_rules_reject_what_esos_webhook_rejects_with_its_messages() {
    let client = client_with_crds().await;
    let ns = cluster().await.namespace("api-cel").await.expect("namespace");
    let api: Api<DynamicObject> = Api::namespaced_with(client, &ns, &ExternalSecret::api_resource());
    let store = json!({"name": "aws", "kind": "SecretStore"});
    let data = json!([{"secretKey": "k", "remoteRef": {"key": "remote"}}]);

    let rejected = [
        ("no-data", json!({"secretStoreRef": store}), "either data or dataFrom should be specified"),
        ("empty-data", json!({"secretStoreRef": store, "data": []}), "either data or dataFrom should be specified"),
        (
            "delete-merge",
            json!({"secretStoreRef": store, "data": data, "target": {"creationPolicy": "Merge", "deletionPolicy": "Delete"}}),
            "deletionPolicy=Delete must not be used",
        ),
        (
            "delete-none",
            json!({"secretStoreRef": store, "data": data, "target": {"creationPolicy": "None", "deletionPolicy": "Delete"}}),
            "deletionPolicy=Delete must not be used",
        ),
        (
            "delete-create-or-merge",
            json!({"secretStoreRef": store, "data": data,
                   "target": {"creationPolicy": "CreateOrMerge", "deletionPolicy": "Delete"}}),
            "deletionPolicy=Delete must not be used",
        ),
        (
            "merge-none",
            json!({"secretStoreRef": store, "data": data, "target": {"creationPolicy": "None", "deletionPolicy": "Merge"}}),
            "deletionPolicy=Merge must not be used with creationPolicy=None",
        ),
        (
            "extract-and-find",
            json!({"secretStoreRef": store, "dataFrom": [{"extract": {"key": "a"}, "find": {"path": "b"}}]}),
            "only one of extract, find and sourceRef.generatorRef",
        ),
        (
            "extract-and-generator",
            json!({"dataFrom": [{"extract": {"key": "a"},
                   "sourceRef": {"generatorRef": {"kind": "Password", "name": "pw"}}}]}),
            "only one of extract, find and sourceRef.generatorRef",
        ),
        (
            "rewrite-only",
            json!({"secretStoreRef": store, "dataFrom": [{"rewrite": [{"regexp": {"source": "a", "target": "b"}}]}]}),
            "a dataFrom entry needs one of extract, find or sourceRef",
        ),
        (
            "bootstrap-token",
            json!({"secretStoreRef": store, "data": data, "target": {"template": {"type": "bootstrap.kubernetes.io/token"}}}),
            "template type bootstrap.kubernetes.io/token is not allowed",
        ),
    ];
    for (name, spec, expected) in rejected {
        let message = create_external_secret(&api, name, spec).await.unwrap_or_else(|| panic!("{name} was admitted"));
        assert!(message.contains(expected), "{name}: {message:?} does not say {expected:?}");
    }

    let admitted = [
        ("plain", json!({"secretStoreRef": store, "data": data})),
        (
            "delete-owner",
            json!({"secretStoreRef": store, "data": data, "target": {"creationPolicy": "Owner", "deletionPolicy": "Delete"}}),
        ),
        (
            "merge-merge",
            json!({"secretStoreRef": store, "data": data, "target": {"creationPolicy": "Merge", "deletionPolicy": "Merge"}}),
        ),
        ("extract", json!({"secretStoreRef": store, "dataFrom": [{"extract": {"key": "a"}}, {"find": {"path": "b"}}]})),
        ("generator", json!({"dataFrom": [{"sourceRef": {"generatorRef": {"kind": "Password", "name": "pw"}}}]})),
        ("extract-other-store", json!({"dataFrom": [{"extract": {"key": "a"}, "sourceRef": {"storeRef": store}}]})),
        (
            "tls-template",
            json!({"secretStoreRef": store, "data": data, "target": {"template": {"type": "kubernetes.io/tls"}}}),
        ),
    ];
    for (name, spec) in admitted {
        assert_eq!(create_external_secret(&api, name, spec).await, None, "{name} must be admitted");
    }
}

/// Every kind beyond ExternalSecret and the stores: an object of each is accepted by the apiserver, reads back
/// into the Rust type, and gets ESO's schema defaults; ClusterExternalSecret is served as v1 and v1beta1 from one
/// schema; the open objects (Vault provider, PushSecret metadata, GeneratorState) are not pruned.
#[tokio::test]
async fn objects_of_every_other_kind_are_accepted_defaulted_and_read_back() {
    use external_secrets_api::generators::v1alpha1 as generators;
    use external_secrets_api::{v1, v1alpha1};

    let client = client_with_crds().await;
    let ns = cluster().await.namespace("api-kinds").await.expect("namespace");
    let post = PostParams::default();

    // ClusterExternalSecret: created as v1beta1, read as v1 (and back), with the ExternalSecret defaults applied.
    let suffix = ns.clone();
    let legacy: v1beta1::ClusterExternalSecret = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1beta1",
        "kind": "ClusterExternalSecret",
        "metadata": {"name": format!("ces-{suffix}")},
        "spec": {
            "namespaceSelectors": [{"matchLabels": {"team": "a"}}],
            "refreshTime": "1m",
            "externalSecretSpec": {
                "secretStoreRef": {"name": "store", "kind": "ClusterSecretStore"},
                "data": [{"secretKey": "k", "remoteRef": {"key": "remote"}}]
            }
        }
    }))
    .unwrap();
    Api::<v1beta1::ClusterExternalSecret>::all(client.clone())
        .create(&post, &legacy)
        .await
        .expect("create v1beta1 CES");
    let ces =
        Api::<v1::ClusterExternalSecret>::all(client.clone()).get(&format!("ces-{suffix}")).await.expect("get v1");
    assert_eq!(ces.spec.external_secret_spec.refresh_interval, "1h0m0s", "schema default inside the CES");
    assert_eq!(ces.spec.refresh_interval.as_deref(), Some("1m"));
    let again =
        Api::<v1beta1::ClusterExternalSecret>::all(client.clone()).get(&ces.metadata.name.clone().unwrap()).await;
    assert_eq!(again.expect("get v1beta1").spec, ces.spec);

    // PushSecret: ESO's defaults, and provider metadata kept as written.
    let push: v1alpha1::PushSecret = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1alpha1",
        "kind": "PushSecret",
        "metadata": {"name": "push"},
        "spec": {
            "secretStoreRefs": [{"name": "store"}],
            "selector": {"secret": {"name": "source"}},
            "data": [{"match": {"secretKey": "k", "remoteRef": {"remoteKey": "remote"}},
                      "metadata": {"apiVersion": "kubernetes.external-secrets.io/v1alpha1", "kind": "PushSecretMetadata",
                                   "spec": {"labels": {"a": "b"}}}}]
        }
    }))
    .unwrap();
    let raw: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &v1alpha1::PushSecret::api_resource());
    let raw_push: DynamicObject = serde_json::from_value(serde_json::to_value(&push).unwrap()).unwrap();
    let stored = raw.create(&post, &raw_push).await.expect("create PushSecret");
    let spec = &stored.data["spec"];
    assert_eq!(spec["refreshInterval"], "1h0m0s");
    assert_eq!(spec["updatePolicy"], "Replace");
    assert_eq!(spec["deletionPolicy"], "None");
    assert_eq!(spec["secretStoreRefs"][0]["kind"], "SecretStore");
    assert_eq!(spec["data"][0]["conversionStrategy"], "None");
    assert_eq!(spec["data"][0]["metadata"]["spec"]["labels"]["a"], "b");
    let typed = Api::<v1alpha1::PushSecret>::namespaced(client.clone(), &ns).get("push").await.expect("typed get");
    assert_eq!(typed.spec.refresh_interval, "1h0m0s");

    // Generators: the apiserver fills in ESO's defaults.
    let raw_password: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &ns, &generators::Password::api_resource());
    let password: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "generators.external-secrets.io/v1alpha1", "kind": "Password",
        "metadata": {"name": "pw"}, "spec": {}
    }))
    .unwrap();
    let stored = raw_password.create(&post, &password).await.expect("create Password");
    assert_eq!(stored.data["spec"], json!({"length": 24, "noUpper": false, "allowRepeat": false, "encoding": "raw"}));

    let created = Api::<generators::Uuid>::namespaced(client.clone(), &ns)
        .create(&post, &generators::Uuid::new("id", generators::UuidSpec {}))
        .await
        .expect("create UUID");
    assert_eq!(created.spec, generators::UuidSpec {});
    let ssh = Api::<generators::SshKey>::namespaced(client.clone(), &ns)
        .create(
            &post,
            &serde_json::from_value(json!({"apiVersion": "generators.external-secrets.io/v1alpha1",
            "kind": "SSHKey", "metadata": {"name": "key"}, "spec": {"keySize": 4096}}))
            .unwrap(),
        )
        .await
        .expect("create SSHKey");
    assert_eq!(ssh.spec.key_type, generators::SshKeyType::Rsa);

    let vault: generators::VaultDynamicSecret = serde_json::from_value(json!({
        "apiVersion": "generators.external-secrets.io/v1alpha1", "kind": "VaultDynamicSecret",
        "metadata": {"name": "pg"},
        "spec": {"path": "database/creds/ro", "provider": {"server": "http://vault:8200",
                 "auth": {"kubernetes": {"mountPath": "kubernetes", "role": "eso"}}}}
    }))
    .unwrap();
    let vault = Api::<generators::VaultDynamicSecret>::namespaced(client.clone(), &ns)
        .create(&post, &vault)
        .await
        .expect("create VaultDynamicSecret");
    let kubernetes = vault.spec.provider.auth.as_ref().and_then(|a| a.kubernetes.as_ref());
    assert_eq!(kubernetes.map(|k| k.role.as_str()), Some("eso"), "the typed Vault provider is kept");
    assert_eq!(vault.spec.result_type, generators::VaultDynamicSecretResultType::Data);

    let cluster_generator: generators::ClusterGenerator = serde_json::from_value(json!({
        "apiVersion": "generators.external-secrets.io/v1alpha1", "kind": "ClusterGenerator",
        "metadata": {"name": format!("cg-{suffix}")},
        "spec": {"kind": "Password", "generator": {"passwordSpec": {"length": 12}}}
    }))
    .unwrap();
    let cluster_generator = Api::<generators::ClusterGenerator>::all(client.clone())
        .create(&post, &cluster_generator)
        .await
        .expect("create ClusterGenerator");
    assert_eq!(
        cluster_generator.spec.generator.password_spec.unwrap().encoding,
        Some(generators::PasswordEncoding::Raw)
    );
    let two_generators: generators::ClusterGenerator = serde_json::from_value(json!({
        "apiVersion": "generators.external-secrets.io/v1alpha1", "kind": "ClusterGenerator",
        "metadata": {"name": format!("cg2-{suffix}")},
        "spec": {"kind": "UUID", "generator": {"uuidSpec": {}, "fakeSpec": {}}}
    }))
    .unwrap();
    let refused = Api::<generators::ClusterGenerator>::all(client.clone()).create(&post, &two_generators).await;
    assert!(matches!(refused, Err(kube::Error::Api(ref s)) if s.code == 422), "one generator only: {refused:?}");

    let state: generators::GeneratorState = serde_json::from_value(json!({
        "apiVersion": "generators.external-secrets.io/v1alpha1", "kind": "GeneratorState",
        "metadata": {"name": "state"},
        "spec": {"resource": {"kind": "GitlabDeployToken", "spec": {"name": "x"}}, "state": {"id": 7}},
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Created"}]}
    }))
    .unwrap();
    let state = Api::<generators::GeneratorState>::namespaced(client.clone(), &ns)
        .create(&post, &state)
        .await
        .expect("create GeneratorState");
    assert_eq!(state.spec.state["id"], 7);
    assert_eq!(
        state.status.map(|s| s.conditions.len()),
        Some(1),
        "no status subresource: status is written with the object, as in ESO"
    );

    // GitLab: exactly one of projectID and groupID (ESO's CEL rule).
    let gitlab = |spec: serde_json::Value| -> generators::GitlabDeployToken {
        serde_json::from_value(json!({"apiVersion": "generators.external-secrets.io/v1alpha1",
            "kind": "GitlabDeployToken", "metadata": {"name": "gl"}, "spec": spec}))
        .unwrap()
    };
    let gitlab_api = Api::<generators::GitlabDeployToken>::namespaced(client.clone(), &ns);
    let both = gitlab(json!({"projectID": "a/b", "groupID": "a", "name": "t", "scopes": ["read_registry"],
                             "auth": {"token": {"secretRef": {"name": "gl", "key": "token"}}}}));
    let refused = gitlab_api.create(&post, &both).await;
    assert!(
        matches!(refused, Err(kube::Error::Api(ref s)) if s.message.contains("exactly one of projectID or groupID")),
        "{refused:?}"
    );
    let one = gitlab(json!({"projectID": "a/b", "name": "t", "scopes": ["read_registry"],
                            "auth": {"token": {"secretRef": {"name": "gl", "key": "token"}}}}));
    gitlab_api.create(&post, &one).await.expect("create GitlabDeployToken");
}
