//! Users' manifests, as ESO documents them, read into the Rust types; and the CRDs carry ESO's names and columns.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use external_secrets_api::{
    ClusterSecretStore, ExternalSecret, ExternalSecretCreationPolicy, ExternalSecretDeletionPolicy,
    ExternalSecretStatus, ExternalSecretStatusCondition, SecretStore, SecretStoreKind, crds, v1beta1,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::core::Resource;
use serde_json::{Value, json};

/// The walkthrough's ExternalSecret: a SecretStore, an owned target, two properties of one remote JSON secret.
const WALKTHROUGH_EXTERNAL_SECRET_V1: &str = r#"
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: appsecret
  namespace: default
spec:
  refreshInterval: 1h
  secretStoreRef:
    name: aws-secretsmanager
    kind: SecretStore
  target:
    name: appsecret
    creationPolicy: Owner
  data:
  - secretKey: app-db-username
    remoteRef:
      key: prod/app/db
      property: username
  - secretKey: app-db-password
    remoteRef:
      key: prod/app/db
      property: password
"#;

/// An ExternalSecret written for ESO <= 0.15 (v1beta1), with the strategy fields that version defaulted.
const EXTERNAL_SECRET_V1BETA1: &str = r#"
apiVersion: external-secrets.io/v1beta1
kind: ExternalSecret
metadata:
  name: legacy
spec:
  refreshInterval: 15m
  secretStoreRef:
    name: vault-backend
    kind: ClusterSecretStore
  target:
    name: legacy-secret
    template:
      engineVersion: v2
      type: kubernetes.io/dockerconfigjson
      data:
        .dockerconfigjson: "{{ .config | toString }}"
  dataFrom:
  - extract:
      key: secret/legacy
      conversionStrategy: Default
      decodingStrategy: None
      metadataPolicy: None
  - find:
      name:
        regexp: "^app-.*"
    rewrite:
    - regexp:
        source: "app-(.*)"
        target: "$1"
"#;

#[test]
fn walkthrough_external_secret_v1_deserializes() {
    let es: ExternalSecret = serde_yaml::from_str(WALKTHROUGH_EXTERNAL_SECRET_V1).unwrap();

    assert_eq!(es.metadata.name.as_deref(), Some("appsecret"));
    assert_eq!(es.spec.refresh_interval, "1h");
    let store = es.spec.secret_store_ref.as_ref().unwrap();
    assert_eq!(store.name, "aws-secretsmanager");
    assert_eq!(store.kind, Some(SecretStoreKind::SecretStore));
    assert_eq!(es.spec.target.name.as_deref(), Some("appsecret"));
    assert_eq!(es.spec.target.creation_policy, ExternalSecretCreationPolicy::Owner);
    // Not in the manifest: the schema default.
    assert_eq!(es.spec.target.deletion_policy, ExternalSecretDeletionPolicy::Retain);
    assert_eq!(es.spec.data.len(), 2);
    assert_eq!(es.spec.data[0].secret_key, "app-db-username");
    assert_eq!(es.spec.data[0].remote_ref.key, "prod/app/db");
    assert_eq!(es.spec.data[0].remote_ref.property.as_deref(), Some("username"));
    assert_eq!(es.spec.data[1].remote_ref.property.as_deref(), Some("password"));
    // Strategies have no default since ESO 2.9.0: unset stays unset.
    assert_eq!(es.spec.data[0].remote_ref.decoding_strategy, None);
    assert!(es.status.is_none());
}

#[test]
fn v1beta1_external_secret_deserializes_into_the_v1_types() {
    let es: v1beta1::ExternalSecret = serde_yaml::from_str(EXTERNAL_SECRET_V1BETA1).unwrap();

    assert_eq!(ExternalSecret::api_version(&()), "external-secrets.io/v1");
    assert_eq!(v1beta1::ExternalSecret::api_version(&()), "external-secrets.io/v1beta1");
    assert_eq!(es.spec.secret_store_ref.as_ref().unwrap().kind, Some(SecretStoreKind::ClusterSecretStore));
    let template = es.spec.target.template.as_ref().unwrap();
    assert_eq!(template.engine_version, "v2");
    assert_eq!(template.type_.as_deref(), Some("kubernetes.io/dockerconfigjson"));
    assert_eq!(es.spec.data_from.len(), 2);
    assert_eq!(es.spec.data_from[0].extract.as_ref().unwrap().key, "secret/legacy");
    let find = es.spec.data_from[1].find.as_ref().unwrap();
    assert_eq!(find.name.as_ref().unwrap().regexp.as_deref(), Some("^app-.*"));
    assert_eq!(es.spec.data_from[1].rewrite[0].regexp.as_ref().unwrap().target, "$1");

    // The same object as v1: only apiVersion differs.
    let as_v1: ExternalSecret = es.clone().into();
    let v1_json = serde_json::to_value(&as_v1).unwrap();
    let v1beta1_json = serde_json::to_value(&es).unwrap();
    assert_eq!(v1_json["apiVersion"], "external-secrets.io/v1");
    assert_eq!(v1beta1_json["apiVersion"], "external-secrets.io/v1beta1");
    assert_eq!(v1_json["spec"], v1beta1_json["spec"]);
}

#[test]
fn store_of_an_unimplemented_provider_round_trips() {
    let manifest = json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "SecretStore",
        "metadata": {"name": "gitlab-backend", "namespace": "default"},
        "spec": {
            "provider": {
                "gitlab": {
                    "url": "https://gitlab.example",
                    "projectID": "42",
                    "auth": {"SecretRef": {"accessToken": {"name": "gitlab-token", "key": "token"}}}
                }
            }
        }
    });

    let store: SecretStore = serde_json::from_value(manifest.clone()).unwrap();

    assert_eq!(store.spec.provider.configured_names(), vec!["gitlab".to_string()]);
    assert!(store.spec.provider.aws.is_none());
    assert_eq!(serde_json::to_value(&store).unwrap(), manifest);
}

#[test]
fn configured_names_lists_typed_and_other_providers_sorted() {
    let store: ClusterSecretStore = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ClusterSecretStore",
        "metadata": {"name": "two"},
        "spec": {"provider": {
            "gitlab": {"url": "https://gitlab.example"},
            "aws": {"service": "ParameterStore", "region": "eu-west-1"},
            "onepasswordSDK": null
        }}
    }))
    .unwrap();

    assert_eq!(store.spec.provider.configured_names(), vec!["aws".to_string(), "gitlab".to_string()]);
}

#[test]
fn aws_store_reads_ids_with_eso_casing() {
    let store: SecretStore = serde_yaml::from_str(
        r#"
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {name: aws, namespace: default}
spec:
  provider:
    aws:
      service: SecretsManager
      region: eu-central-1
      externalID: ext-1
      auth:
        secretRef:
          accessKeyIDSecretRef: {name: awssm-secret, key: access-key}
          secretAccessKeySecretRef: {name: awssm-secret, key: secret-access-key}
        jwt:
          serviceAccountRef: {name: appsecrets-sa}
"#,
    )
    .unwrap();

    let aws = store.spec.provider.aws.as_ref().unwrap();
    assert_eq!(aws.external_id.as_deref(), Some("ext-1"));
    let secret_ref = aws.auth.as_ref().unwrap().secret_ref.as_ref().unwrap();
    assert_eq!(secret_ref.access_key_id_secret_ref.as_ref().unwrap().key, "access-key");
    let jwt = aws.auth.as_ref().unwrap().jwt.as_ref().unwrap();
    assert_eq!(jwt.service_account_ref.as_ref().unwrap().name, "appsecrets-sa");
    let json = serde_json::to_value(&store).unwrap();
    assert_eq!(json["spec"]["provider"]["aws"]["auth"]["secretRef"]["accessKeyIDSecretRef"]["name"], "awssm-secret");
    assert_eq!(store.spec.provider.configured_names(), vec!["aws".to_string()]);
}

#[test]
fn status_serializes_without_nulls() {
    let status = ExternalSecretStatus {
        conditions: vec![ExternalSecretStatusCondition {
            type_: "Ready".into(),
            status: "True".into(),
            reason: Some("SecretSynced".into()),
            ..Default::default()
        }],
        ..Default::default()
    };

    assert_eq!(
        serde_json::to_value(&status).unwrap(),
        json!({"conditions": [{"type": "Ready", "status": "True", "reason": "SecretSynced"}]})
    );
}

fn crd(name: &str) -> CustomResourceDefinition {
    crds().into_iter().find(|crd| crd.metadata.name.as_deref() == Some(name)).unwrap()
}

fn columns(crd: &CustomResourceDefinition, version: &str) -> Vec<(String, String, String)> {
    let version = crd.spec.versions.iter().find(|v| v.name == version).unwrap();
    version
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| (c.name.clone(), c.type_.clone(), c.json_path.clone()))
        .collect()
}

fn column(name: &str, type_: &str, json_path: &str) -> (String, String, String) {
    (name.into(), type_.into(), json_path.into())
}

#[test]
fn crds_carry_eso_names_columns_and_versions() {
    let ready_reason = r#".status.conditions[?(@.type=="Ready")].reason"#;
    let ready_status = r#".status.conditions[?(@.type=="Ready")].status"#;
    let store_columns = vec![
        column("AGE", "date", ".metadata.creationTimestamp"),
        column("Status", "string", ready_reason),
        column("Capabilities", "string", ".status.capabilities"),
        column("Ready", "string", ready_status),
    ];
    let expected = [
        (
            "externalsecrets.external-secrets.io",
            "ExternalSecret",
            "es",
            "Namespaced",
            vec![
                column("StoreType", "string", ".spec.secretStoreRef.kind"),
                column("Store", "string", ".spec.secretStoreRef.name"),
                column("Refresh Interval", "string", ".spec.refreshInterval"),
                column("Status", "string", ready_reason),
                column("Ready", "string", ready_status),
                column("Last Sync", "date", ".status.refreshTime"),
            ],
        ),
        ("secretstores.external-secrets.io", "SecretStore", "ss", "Namespaced", store_columns.clone()),
        ("clustersecretstores.external-secrets.io", "ClusterSecretStore", "css", "Cluster", store_columns),
    ];

    for (name, kind, short_name, scope, printer_columns) in expected {
        let crd = crd(name);
        assert_eq!(crd.spec.group, "external-secrets.io");
        assert_eq!(crd.spec.names.kind, kind);
        assert_eq!(crd.spec.names.list_kind.as_deref(), Some(format!("{kind}List").as_str()));
        assert_eq!(crd.spec.names.short_names, Some(vec![short_name.to_string()]));
        assert_eq!(crd.spec.names.categories, Some(vec!["external-secrets".to_string()]));
        assert_eq!(crd.spec.scope, scope);
        let labels = crd.metadata.labels.as_ref().unwrap();
        assert_eq!(labels.get("external-secrets.io/component").map(String::as_str), Some("controller"));

        let versions: Vec<_> = crd.spec.versions.iter().map(|v| (v.name.as_str(), v.served, v.storage)).collect();
        assert_eq!(versions, vec![("v1", true, true), ("v1beta1", true, false)], "{name}");
        assert_eq!(crd.spec.versions[0].schema, crd.spec.versions[1].schema, "{name}: one schema for both");
        for version in &crd.spec.versions {
            assert!(version.subresources.as_ref().unwrap().status.is_some(), "{name}: status subresource");
        }
        assert_eq!(columns(&crd, "v1"), printer_columns, "{name}");
        assert_eq!(columns(&crd, "v1beta1"), printer_columns, "{name}");
    }

    let es = crd("externalsecrets.external-secrets.io");
    let selectable: Vec<_> =
        es.spec.versions[0].selectable_fields.iter().flatten().map(|f| f.json_path.as_str()).collect();
    assert_eq!(
        selectable,
        [".spec.secretStoreRef.name", ".spec.secretStoreRef.kind", ".spec.target.name", ".spec.refreshInterval"]
    );
}

fn spec_schema(crd_name: &str) -> Value {
    let crd = crd(crd_name);
    let schema = crd.spec.versions[0].schema.as_ref().unwrap().open_api_v3_schema.as_ref().unwrap();
    serde_json::to_value(schema).unwrap()["properties"]["spec"].clone()
}

#[test]
fn crd_schemas_carry_eso_defaults() {
    let es = spec_schema("externalsecrets.external-secrets.io");
    let props = &es["properties"];
    assert_eq!(props["refreshInterval"]["default"], "1h0m0s");
    assert_eq!(props["target"]["default"], json!({"creationPolicy": "Owner", "deletionPolicy": "Retain"}));
    let target = &props["target"]["properties"];
    assert_eq!(target["creationPolicy"]["default"], "Owner");
    assert_eq!(target["deletionPolicy"]["default"], "Retain");
    let template = &target["template"]["properties"];
    assert_eq!(template["engineVersion"]["default"], "v2");
    assert_eq!(template["mergePolicy"]["default"], "Replace");
    let template_from = &template["templateFrom"]["items"]["properties"];
    assert_eq!(template_from["target"]["default"], "Data");
    assert_eq!(
        template_from["configMap"]["properties"]["items"]["items"]["properties"]["templateAs"]["default"],
        "Values"
    );
    // ESO 2.9.0 removed the schema defaults of the strategy fields.
    let remote_ref = &props["data"]["items"]["properties"]["remoteRef"]["properties"];
    for strategy in ["metadataPolicy", "conversionStrategy", "decodingStrategy", "nullBytePolicy"] {
        assert!(remote_ref[strategy].get("default").is_none(), "{strategy} has no default");
        assert!(remote_ref[strategy]["enum"].is_array(), "{strategy} is an enum");
    }

    let store = spec_schema("secretstores.external-secrets.io");
    let provider = &store["properties"]["provider"];
    assert_eq!(provider["x-kubernetes-preserve-unknown-fields"], true);
    assert_eq!(provider["minProperties"], 1);
    assert_eq!(provider["maxProperties"], 1);
    assert!(provider.get("additionalProperties").is_none());
    assert_eq!(provider["properties"]["kubernetes"]["properties"]["remoteNamespace"]["default"], "default");
    assert_eq!(store["properties"]["refreshInterval"]["x-kubernetes-int-or-string"], true);
}

/// Walks every schema node and checks the rules of a structural schema the API server enforces that the
/// derive could break: a type on every node (unless int-or-string or preserve-unknown-fields), no
/// `additionalProperties` next to `properties`, and no `nullable` (ESO's CRDs have none outside
/// `status.refreshTime`).
fn check_structural(path: &str, node: &Value, problems: &mut Vec<String>) {
    let Some(object) = node.as_object() else { return };
    let int_or_string = object.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    let preserve = object.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if !object.contains_key("type") && !int_or_string && !preserve {
        problems.push(format!("{path}: no type"));
    }
    if object.contains_key("properties") && object.contains_key("additionalProperties") {
        problems.push(format!("{path}: properties and additionalProperties"));
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if object.contains_key(key) {
            problems.push(format!("{path}: {key}"));
        }
    }
    if object.contains_key("nullable") && path != ".status.refreshTime" {
        problems.push(format!("{path}: nullable"));
    }
    if let Some(properties) = object.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            check_structural(&format!("{path}.{name}"), property, problems);
        }
    }
    if let Some(items) = object.get("items") {
        check_structural(&format!("{path}[]"), items, problems);
    }
    if let Some(additional) = object.get("additionalProperties") {
        check_structural(&format!("{path}{{}}"), additional, problems);
    }
}

#[test]
fn crd_schemas_are_structural() {
    for crd in crds() {
        for version in &crd.spec.versions {
            let schema = version.schema.as_ref().unwrap().open_api_v3_schema.as_ref().unwrap();
            let mut problems = Vec::new();
            check_structural("", &serde_json::to_value(schema).unwrap(), &mut problems);
            assert!(problems.is_empty(), "{:?} {}: {problems:#?}", crd.metadata.name, version.name);
        }
    }
}
