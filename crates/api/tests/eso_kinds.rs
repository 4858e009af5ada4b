//! The kinds beyond ExternalSecret and the stores (ClusterExternalSecret, PushSecret, ClusterPushSecret, the
//! generators and GeneratorState): manifests like those of ESO's documentation, as the API server returns them
//! (schema defaults filled in), read into the Rust types and written back unchanged; and every CRD carries
//! ESO 2.9.0's group, versions, names, scope, categories, columns and subresources.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use external_secrets_api::generators::v1alpha1 as generators;
use external_secrets_api::{crds, v1, v1alpha1, v1beta1};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Reads `yaml` into `K`, and checks that writing it back gives the same document (no field lost, none added).
fn round_trip<K: DeserializeOwned + Serialize>(yaml: &str) -> K {
    let original: Value = serde_yaml::from_str(yaml).unwrap();
    let typed: K = serde_json::from_value(original.clone()).unwrap_or_else(|e| panic!("deserialize: {e}\n{yaml}"));
    let written = serde_json::to_value(&typed).unwrap();
    assert_eq!(written, original, "round trip changed the manifest");
    typed
}

const CLUSTER_EXTERNAL_SECRET: &str = r#"
apiVersion: external-secrets.io/v1
kind: ClusterExternalSecret
metadata:
  name: shared-db
spec:
  externalSecretName: db-credentials
  externalSecretMetadata:
    labels: {team: platform}
    annotations: {owner: dba}
  namespaceSelectors:
  - matchLabels: {shared-db: "true"}
  - matchExpressions:
    - {key: tier, operator: In, values: [backend]}
  namespaces: [payments]
  refreshTime: 1m
  externalSecretSpec:
    secretStoreRef: {name: aws, kind: ClusterSecretStore}
    refreshInterval: 1h
    target: {name: db, creationPolicy: Owner, deletionPolicy: Retain}
    data:
    - secretKey: password
      remoteRef: {key: prod/db, property: password}
status:
  externalSecretName: db-credentials
  provisionedNamespaces: [payments, orders]
  failedNamespaces:
  - {namespace: legacy, reason: "external secret already exists in namespace"}
  conditions:
  - {type: Ready, status: "False", message: one or more namespaces failed}
"#;

#[test]
fn cluster_external_secret_reads_in_v1_and_v1beta1() {
    let ces: v1::ClusterExternalSecret = round_trip(CLUSTER_EXTERNAL_SECRET);
    assert_eq!(ces.spec.refresh_interval.as_deref(), Some("1m"), "refreshTime");
    assert_eq!(ces.spec.namespace_selectors.len(), 2);
    assert_eq!(ces.spec.external_secret_spec.data[0].remote_ref.key, "prod/db");
    assert_eq!(ces.status.as_ref().unwrap().failed_namespaces[0].namespace, "legacy");

    let legacy: v1beta1::ClusterExternalSecret =
        round_trip(&CLUSTER_EXTERNAL_SECRET.replace("external-secrets.io/v1\n", "external-secrets.io/v1beta1\n"));
    assert_eq!(v1::ClusterExternalSecret::from(legacy), ces);
}

const PUSH_SECRET: &str = r#"
apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata:
  name: push-db
  namespace: team-a
spec:
  refreshInterval: 10s
  updatePolicy: IfNotExists
  deletionPolicy: Delete
  secretStoreRefs:
  - {name: aws-parameterstore, kind: SecretStore}
  - labelSelector: {matchLabels: {push: "true"}}
    kind: ClusterSecretStore
  selector:
    secret: {name: db-source}
  template:
    engineVersion: v2
    mergePolicy: Replace
    data:
      url: "postgres://{{ .user }}@db"
  data:
  - conversionStrategy: None
    match:
      secretKey: password
      remoteRef: {remoteKey: prod/db, property: password}
    metadata:
      apiVersion: kubernetes.external-secrets.io/v1alpha1
      kind: PushSecretMetadata
      spec: {labels: {a: b}}
  dataTo:
  - storeRef: {name: aws-parameterstore, kind: SecretStore}
    match: {regexp: "^DB_"}
    rewrite:
    - regexp: {source: "^DB_", target: "db/"}
    conversionStrategy: ReverseUnicode
status:
  refreshTime: "2026-12-03T09:00:00Z"
  syncedResourceVersion: 1-abc
  syncedPushSecrets:
    SecretStore/aws-parameterstore:
      prod/db:
        conversionStrategy: None
        match:
          secretKey: password
          remoteRef: {remoteKey: prod/db, property: password}
  conditions:
  - {type: Ready, status: "True", reason: Synced, message: PushSecret synced successfully}
"#;

#[test]
fn push_secret_reads_with_data_data_to_template_and_status() {
    let ps: v1alpha1::PushSecret = round_trip(PUSH_SECRET);
    assert_eq!(ps.spec.update_policy, v1alpha1::PushSecretUpdatePolicy::IfNotExists);
    assert_eq!(ps.spec.deletion_policy, v1alpha1::PushSecretDeletionPolicy::Delete);
    assert_eq!(ps.spec.secret_store_refs[1].kind, v1::SecretStoreKind::ClusterSecretStore);
    assert_eq!(ps.spec.data[0].match_.remote_ref.remote_key, "prod/db");
    assert_eq!(ps.spec.data_to[0].conversion_strategy, v1alpha1::PushSecretConversionStrategy::ReverseUnicode);
    let status = ps.status.unwrap();
    assert_eq!(
        status.synced_push_secrets["SecretStore/aws-parameterstore"]["prod/db"].match_.secret_key.as_deref(),
        Some("password")
    );
}

#[test]
fn push_secret_defaults_match_esos_schema_defaults() {
    let ps: v1alpha1::PushSecret = serde_yaml::from_str(
        r#"
apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata: {name: minimal}
spec:
  secretStoreRefs: [{name: store}]
  selector: {generatorRef: {apiVersion: generators.external-secrets.io/v1alpha1, kind: Password, name: pw}}
  data: [{match: {remoteRef: {remoteKey: whole-secret}}}]
"#,
    )
    .unwrap();
    assert_eq!(ps.spec.refresh_interval, "1h0m0s");
    assert_eq!(ps.spec.update_policy, v1alpha1::PushSecretUpdatePolicy::Replace);
    assert_eq!(ps.spec.deletion_policy, v1alpha1::PushSecretDeletionPolicy::None);
    assert_eq!(ps.spec.secret_store_refs[0].kind, v1::SecretStoreKind::SecretStore);
    assert_eq!(ps.spec.data[0].conversion_strategy, v1alpha1::PushSecretConversionStrategy::None);
    assert_eq!(ps.spec.selector.generator_ref.unwrap().kind, "Password");
}

#[test]
fn cluster_push_secret_reads() {
    let cps: v1alpha1::ClusterPushSecret = round_trip(
        r#"
apiVersion: external-secrets.io/v1alpha1
kind: ClusterPushSecret
metadata: {name: everywhere}
spec:
  pushSecretName: pushed
  refreshTime: 1m
  pushSecretMetadata: {labels: {a: b}}
  namespaceSelectors: [{matchLabels: {push: "yes"}}]
  pushSecretSpec:
    refreshInterval: 1h0m0s
    updatePolicy: Replace
    deletionPolicy: None
    secretStoreRefs: [{name: vault, kind: ClusterSecretStore}]
    selector: {secret: {selector: {matchLabels: {app: web}}}}
    data:
    - conversionStrategy: None
      match: {secretKey: token, remoteRef: {remoteKey: web/token}}
status:
  pushSecretName: pushed
  provisionedNamespaces: [web]
  conditions: [{type: Ready, status: "True"}]
"#,
    );
    assert_eq!(cps.spec.push_secret_name.as_deref(), Some("pushed"));
    assert_eq!(cps.spec.push_secret_spec.secret_store_refs[0].kind, v1::SecretStoreKind::ClusterSecretStore);
}

#[test]
fn password_generator_reads_and_defaults_like_eso() {
    let pw: generators::Password = round_trip(
        r#"
apiVersion: generators.external-secrets.io/v1alpha1
kind: Password
metadata: {name: db-password, namespace: team-a}
spec:
  length: 42
  digits: 5
  symbols: 5
  symbolCharacters: "-_$@"
  noUpper: false
  allowRepeat: true
  secretKeys: [password, confirm]
  encoding: base64url
"#,
    );
    assert_eq!(pw.spec.encoding, Some(generators::PasswordEncoding::Base64Url));
    let minimal: generators::Password = serde_yaml::from_str(
        "apiVersion: generators.external-secrets.io/v1alpha1\nkind: Password\nmetadata: {name: p}\nspec: {}\n",
    )
    .unwrap();
    assert_eq!(minimal.spec, generators::PasswordSpec::default());
    assert_eq!(minimal.spec.length, 24);
    assert_eq!(minimal.spec.encoding, Some(generators::PasswordEncoding::Raw));
}

#[test]
fn simple_generators_read() {
    let uuid: generators::Uuid =
        round_trip("apiVersion: generators.external-secrets.io/v1alpha1\nkind: UUID\nmetadata: {name: id}\nspec: {}\n");
    assert_eq!(uuid.spec, generators::UuidSpec {});
    let fake: generators::Fake = round_trip(
        "apiVersion: generators.external-secrets.io/v1alpha1\nkind: Fake\nmetadata: {name: f}\n\
         spec: {controller: dev, data: {foo: bar, baz: bang}}\n",
    );
    assert_eq!(fake.spec.data, BTreeMap::from([("baz".into(), "bang".into()), ("foo".into(), "bar".into())]));
    let ssh: generators::SshKey = round_trip(
        "apiVersion: generators.external-secrets.io/v1alpha1\nkind: SSHKey\nmetadata: {name: k}\n\
         spec: {keyType: ecdsa, keySize: 384, comment: deploy@example}\n",
    );
    assert_eq!(ssh.spec.key_type, generators::SshKeyType::Ecdsa);
    let default_ssh: generators::SshKey = serde_yaml::from_str(
        "apiVersion: generators.external-secrets.io/v1alpha1\nkind: SSHKey\nmetadata: {name: k}\nspec: {}\n",
    )
    .unwrap();
    assert_eq!(default_ssh.spec.key_type, generators::SshKeyType::Rsa);
    let mfa: generators::Mfa = round_trip(
        "apiVersion: generators.external-secrets.io/v1alpha1\nkind: MFA\nmetadata: {name: totp}\n\
         spec: {secret: {name: seed, key: seed}, length: 8, timePeriod: 60, algorithm: sha256, when: \"2026-01-01T00:00:00Z\"}\n",
    );
    assert_eq!(mfa.spec.length, Some(8));
}

#[test]
fn aws_generators_read_with_the_aws_provider_auth() {
    let ecr: generators::EcrAuthorizationToken = round_trip(
        r#"
apiVersion: generators.external-secrets.io/v1alpha1
kind: ECRAuthorizationToken
metadata: {name: ecr-gen}
spec:
  region: eu-west-1
  role: arn:aws:iam::123456789012:role/pull
  scope: public
  auth:
    secretRef:
      accessKeyIDSecretRef: {name: awssm-secret, key: access-key}
      secretAccessKeySecretRef: {name: awssm-secret, key: secret-access-key}
      sessionTokenSecretRef: {name: awssm-secret, key: session-token}
"#,
    );
    assert_eq!(ecr.spec.auth.unwrap().secret_ref.unwrap().access_key_id_secret_ref.unwrap().key, "access-key");
    let sts: generators::StsSessionToken = round_trip(
        r#"
apiVersion: generators.external-secrets.io/v1alpha1
kind: STSSessionToken
metadata: {name: sts-gen}
spec:
  region: eu-west-1
  auth:
    jwt:
      serviceAccountRef: {name: my-sa, audiences: [sts.amazonaws.com]}
  requestParameters:
    sessionDuration: 3600
    serialNumber: arn:aws:iam::123456789012:mfa/user
    tokenCode: "123456"
"#,
    );
    assert_eq!(sts.spec.request_parameters.unwrap().session_duration, Some(3600));
}

#[test]
fn webhook_generator_reads() {
    let hook: generators::Webhook = round_trip(
        r#"
apiVersion: generators.external-secrets.io/v1alpha1
kind: Webhook
metadata: {name: webhook}
spec:
  method: POST
  url: "http://httpbin.org/post"
  headers: {Content-Type: application/json, Authorization: "Basic {{ print .auth.basic }}"}
  body: '{"foo":"bar"}'
  timeout: 5s
  result: {jsonPath: "$.data"}
  secrets:
  - name: auth
    secretRef: {name: webhook-credentials, key: basic}
  auth:
    ntlm:
      usernameSecret: {name: ntlm, key: user}
      passwordSecret: {name: ntlm, key: password}
  caBundle: LS0tLS1CRUdJTg==
  caProvider: {type: ConfigMap, name: ca, key: ca.crt, namespace: certs}
"#,
    );
    assert_eq!(hook.spec.result.json_path.as_deref(), Some("$.data"));
    assert_eq!(hook.spec.ca_bundle.unwrap().0, b"-----BEGIN".to_vec());
}

#[test]
fn cluster_generator_holds_one_generator_spec_of_its_kind() {
    let cg: generators::ClusterGenerator = round_trip(
        r#"
apiVersion: generators.external-secrets.io/v1alpha1
kind: ClusterGenerator
metadata: {name: shared-password}
spec:
  kind: Password
  generator:
    passwordSpec: {length: 32, noUpper: true, allowRepeat: false, encoding: raw}
"#,
    );
    assert_eq!(cg.spec.kind, generators::GeneratorKind::Password);
    assert_eq!(cg.spec.generator.password_spec.unwrap().length, 32);
    let kinds: Vec<String> = [
        "ACRAccessToken",
        "BeyondtrustWorkloadCredentialsDynamicSecret",
        "CloudsmithAccessToken",
        "ECRAuthorizationToken",
        "Fake",
        "GCRAccessToken",
        "GithubAccessToken",
        "GitlabDeployToken",
        "QuayAccessToken",
        "Password",
        "SSHKey",
        "STSSessionToken",
        "UUID",
        "VaultDynamicSecret",
        "Webhook",
        "Grafana",
        "MFA",
    ]
    .iter()
    .map(|kind| {
        let parsed: generators::GeneratorKind = serde_json::from_value(Value::from(*kind)).unwrap();
        serde_json::to_value(parsed).unwrap().as_str().unwrap().to_string()
    })
    .collect();
    assert_eq!(kinds.len(), 17);
    // Every kind an ExternalSecret's generatorRef may name, except ClusterGenerator itself.
    let mut referable: Vec<&str> = v1::GENERATOR_KINDS.iter().copied().filter(|k| *k != "ClusterGenerator").collect();
    referable.sort_unstable();
    let mut held: Vec<&str> = kinds.iter().map(String::as_str).collect();
    held.sort_unstable();
    assert_eq!(held, referable);
}

#[test]
fn generator_state_reads() {
    let state: generators::GeneratorState = round_trip(
        r#"
apiVersion: generators.external-secrets.io/v1alpha1
kind: GeneratorState
metadata:
  name: es-db-password-abcde
  labels: {generators.external-secrets.io/owner-key: es-db}
spec:
  garbageCollectionDeadline: "2026-12-04T00:00:00Z"
  resource: {apiVersion: generators.external-secrets.io/v1alpha1, kind: GitlabDeployToken, spec: {name: x}}
  state: {id: 42}
status:
  conditions: [{type: Ready, status: "True", reason: Created}]
"#,
    );
    assert_eq!(state.spec.state["id"], 42);
}

#[test]
fn token_and_dynamic_generators_read() {
    let _: generators::AcrAccessToken = round_trip(
        r#"
apiVersion: generators.external-secrets.io/v1alpha1
kind: ACRAccessToken
metadata: {name: acr}
spec:
  registry: example.azurecr.io
  tenantId: 11111111-2222-3333-4444-555555555555
  scope: "repository:app:pull"
  environmentType: PublicCloud
  auth:
    servicePrincipal:
      secretRef:
        clientId: {name: az, key: id}
        clientSecret: {name: az, key: secret}
"#,
    );
    let gcr: generators::GcrAccessToken = round_trip(
        r#"
apiVersion: generators.external-secrets.io/v1alpha1
kind: GCRAccessToken
metadata: {name: gcr}
spec:
  projectID: my-project
  auth:
    workloadIdentity:
      serviceAccountRef: {name: gsa}
      clusterLocation: europe-west1
      clusterName: prod
    workloadIdentityFederation:
      audience: "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/q"
      awsSecurityCredentials: {region: eu-west-1, awsCredentialsSecretRef: {name: aws}}
"#,
    );
    assert!(gcr.spec.auth.workload_identity_federation.unwrap().get("awsSecurityCredentials").is_some());
    let _: generators::QuayAccessToken = round_trip(
        "apiVersion: generators.external-secrets.io/v1alpha1\nkind: QuayAccessToken\nmetadata: {name: q}\n\
         spec: {url: quay.io, robotAccount: org+robot, serviceAccountRef: {name: default}}\n",
    );
    let _: generators::CloudsmithAccessToken = round_trip(
        "apiVersion: generators.external-secrets.io/v1alpha1\nkind: CloudsmithAccessToken\nmetadata: {name: c}\n\
         spec: {apiUrl: \"https://api.cloudsmith.io\", orgSlug: org, serviceSlug: svc, serviceAccountRef: {name: default, audiences: [cloudsmith]}}\n",
    );
    let _: generators::GithubAccessToken = round_trip(
        r#"
apiVersion: generators.external-secrets.io/v1alpha1
kind: GithubAccessToken
metadata: {name: gh}
spec:
  appID: "0000000"
  installID: "00000000"
  repositories: [octo]
  permissions: {contents: read}
  auth: {privateKey: {secretRef: {name: github-app, key: key.pem}}}
"#,
    );
    let gitlab: generators::GitlabDeployToken = round_trip(
        r#"
apiVersion: generators.external-secrets.io/v1alpha1
kind: GitlabDeployToken
metadata: {name: gl}
spec:
  projectID: group/project
  name: ci-pull
  scopes: [read_registry, read_package_registry]
  expiresAt: "2027-01-01T00:00:00Z"
  auth: {token: {secretRef: {name: gitlab, key: token}}}
"#,
    );
    assert_eq!(gitlab.spec.scopes[0], generators::GitlabDeployTokenScope::ReadRegistry);
    let _: generators::Grafana = round_trip(
        r#"
apiVersion: generators.external-secrets.io/v1alpha1
kind: Grafana
metadata: {name: grafana}
spec:
  url: https://grafana.example.com
  auth: {basic: {username: admin, password: {name: grafana, key: password}}}
  serviceAccount: {name: eso, role: Viewer, secondsToLive: 3600}
"#,
    );
    let vault: generators::VaultDynamicSecret = round_trip(
        r#"
apiVersion: generators.external-secrets.io/v1alpha1
kind: VaultDynamicSecret
metadata: {name: pg}
spec:
  path: /database/creds/readonly
  method: GET
  getParameters: {ttl: ["1h"]}
  resultType: Data
  allowEmptyResponse: false
  provider:
    server: http://vault.default:8200
    version: v2
    auth:
      kubernetes: {mountPath: kubernetes, role: external-secrets, serviceAccountRef: {name: default}}
"#,
    );
    let kubernetes = vault.spec.provider.auth.as_ref().and_then(|a| a.kubernetes.as_ref());
    assert_eq!(kubernetes.map(|k| k.role.as_str()), Some("external-secrets"));
    let _: generators::BeyondtrustWorkloadCredentialsDynamicSecret = round_trip(
        r#"
apiVersion: generators.external-secrets.io/v1alpha1
kind: BeyondtrustWorkloadCredentialsDynamicSecret
metadata: {name: bt}
spec:
  provider: {server: {apiUrl: "https://example.secretsafe.io", siteId: s}, folderPath: production/aws-temp}
  retrySettings: {maxRetries: 3, retryInterval: 10s}
"#,
    );
}

/// One row of ESO 2.9.0's CRDs (config/crds/bases): what a user and kubectl see of the kind.
struct Expected {
    name: &'static str,
    scope: &'static str,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    /// (version, served, storage); served v1beta1 differs from ESO on purpose (see docs/compatibility.md).
    versions: &'static [(&'static str, bool, bool)],
    columns: &'static [&'static str],
    status_subresource: bool,
}

const ES: &[&str] = &["external-secrets"];
const GEN: &[&str] = &["external-secrets", "external-secrets-generators"];
const V1: &[(&str, bool, bool)] = &[("v1", true, true), ("v1beta1", true, false)];
const V1ALPHA1: &[(&str, bool, bool)] = &[("v1alpha1", true, true)];

fn generator(name: &'static str) -> Expected {
    Expected {
        name,
        scope: "Namespaced",
        short_names: &[],
        categories: GEN,
        versions: V1ALPHA1,
        columns: &[],
        status_subresource: true,
    }
}

#[test]
fn every_crd_carries_esos_names_versions_columns_and_subresources() {
    let mut expected = vec![
        Expected {
            name: "clusterexternalsecrets.external-secrets.io",
            scope: "Cluster",
            short_names: &["ces"],
            categories: ES,
            versions: V1,
            columns: &["Store", "Refresh Interval", "Ready"],
            status_subresource: true,
        },
        Expected {
            name: "clusterpushsecrets.external-secrets.io",
            scope: "Cluster",
            short_names: &[],
            categories: ES,
            versions: V1ALPHA1,
            columns: &["AGE", "Status"],
            status_subresource: true,
        },
        Expected {
            name: "clustersecretstores.external-secrets.io",
            scope: "Cluster",
            short_names: &["css"],
            categories: ES,
            versions: V1,
            columns: &["AGE", "Status", "Capabilities", "Ready"],
            status_subresource: true,
        },
        Expected {
            name: "externalsecrets.external-secrets.io",
            scope: "Namespaced",
            short_names: &["es"],
            categories: ES,
            versions: V1,
            columns: &["StoreType", "Store", "Refresh Interval", "Status", "Ready", "Last Sync"],
            status_subresource: true,
        },
        Expected {
            name: "pushsecrets.external-secrets.io",
            scope: "Namespaced",
            short_names: &["ps"],
            categories: ES,
            versions: V1ALPHA1,
            columns: &["AGE", "Status", "Last Sync"],
            status_subresource: true,
        },
        Expected {
            name: "secretstores.external-secrets.io",
            scope: "Namespaced",
            short_names: &["ss"],
            categories: ES,
            versions: V1,
            columns: &["AGE", "Status", "Capabilities", "Ready"],
            status_subresource: true,
        },
        generator("acraccesstokens.generators.external-secrets.io"),
        generator("beyondtrustworkloadcredentialsdynamicsecrets.generators.external-secrets.io"),
        generator("cloudsmithaccesstokens.generators.external-secrets.io"),
        Expected { scope: "Cluster", ..generator("clustergenerators.generators.external-secrets.io") },
        generator("ecrauthorizationtokens.generators.external-secrets.io"),
        generator("fakes.generators.external-secrets.io"),
        generator("gcraccesstokens.generators.external-secrets.io"),
        Expected {
            short_names: &["gs"],
            columns: &["GC Deadline", "Age"],
            status_subresource: false,
            ..generator("generatorstates.generators.external-secrets.io")
        },
        generator("githubaccesstokens.generators.external-secrets.io"),
        generator("gitlabdeploytokens.generators.external-secrets.io"),
        generator("grafanas.generators.external-secrets.io"),
        generator("mfas.generators.external-secrets.io"),
        generator("passwords.generators.external-secrets.io"),
        generator("quayaccesstokens.generators.external-secrets.io"),
        generator("sshkeys.generators.external-secrets.io"),
        generator("stssessiontokens.generators.external-secrets.io"),
        generator("uuids.generators.external-secrets.io"),
        generator("vaultdynamicsecrets.generators.external-secrets.io"),
        generator("webhooks.generators.external-secrets.io"),
    ];
    expected.sort_by_key(|e| e.name);
    let crds = crds();
    let names: Vec<_> = crds.iter().map(|c| c.metadata.name.clone().unwrap()).collect();
    let expected_names: Vec<_> = expected.iter().map(|e| e.name.to_string()).collect();
    assert_eq!(names, expected_names);

    for (crd, want) in crds.iter().zip(&expected) {
        let name = want.name;
        let (plural, group) = name.split_once('.').unwrap();
        assert_eq!(crd.spec.group, group, "{name}");
        assert_eq!(crd.spec.names.plural, plural, "{name}");
        assert_eq!(crd.spec.names.list_kind.as_deref(), Some(format!("{}List", crd.spec.names.kind).as_str()));
        assert_eq!(crd.spec.names.singular.as_deref(), Some(crd.spec.names.kind.to_lowercase().as_str()), "{name}");
        assert_eq!(crd.spec.scope, want.scope, "{name}");
        assert_eq!(crd.spec.names.short_names.clone().unwrap_or_default(), want.short_names, "{name}");
        assert_eq!(crd.spec.names.categories.clone().unwrap_or_default(), want.categories, "{name}");
        let labels = crd.metadata.labels.clone().unwrap_or_default();
        assert_eq!(labels.get("external-secrets.io/component").map(String::as_str), Some("controller"), "{name}");
        let versions: Vec<_> = crd.spec.versions.iter().map(|v| (v.name.as_str(), v.served, v.storage)).collect();
        assert_eq!(versions, want.versions, "{name}");
        for version in &crd.spec.versions {
            let columns: Vec<_> =
                version.additional_printer_columns.clone().unwrap_or_default().into_iter().map(|c| c.name).collect();
            assert_eq!(columns, want.columns, "{name} {}", version.name);
            let status = version.subresources.as_ref().and_then(|s| s.status.as_ref()).is_some();
            assert_eq!(status, want.status_subresource, "{name} {}: status subresource", version.name);
        }
    }
}
