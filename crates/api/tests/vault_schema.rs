//! The Vault provider's schema is ESO's: `spec.provider.vault` of the (Cluster)SecretStore CRDs and
//! `VaultDynamicSecret.spec.provider` equal the schema of ESO 2.9.0's CRDs, apart from descriptions.
//!
//! The fixture `fixtures/eso-2.9.0-vault-provider-schema.json` is `spec.provider.vault` of ESO 2.9.0's
//! `config/crds/bases/external-secrets.io_secretstores.yaml` (v1), with every `description` removed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use external_secrets_api::crds;
use serde_json::Value;

fn eso_schema() -> Value {
    serde_json::from_str(include_str!("fixtures/eso-2.9.0-vault-provider-schema.json")).unwrap()
}

/// `node` without descriptions, and with the order of `required` lists ignored.
fn normalized(node: &Value) -> Value {
    match node {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| k.as_str() != "description")
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("required", Value::Array(items)) => {
                            let mut items = items.clone();
                            items.sort_by_key(|i| i.to_string());
                            Value::Array(items)
                        }
                        _ => normalized(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(normalized).collect()),
        other => other.clone(),
    }
}

/// The paths where `ours` and `eso` differ.
fn differences(eso: &Value, ours: &Value, path: &str, out: &mut Vec<String>) {
    match (eso, ours) {
        (Value::Object(a), Value::Object(b)) => {
            for key in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
                let here = format!("{path}/{key}");
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => differences(x, y, &here, out),
                    (Some(_), None) => out.push(format!("{here}: only in ESO")),
                    (None, _) => out.push(format!("{here}: only here")),
                }
            }
        }
        (a, b) if a != b => out.push(format!("{path}: ESO {a} here {b}")),
        _ => {}
    }
}

fn spec_schema(crd_name: &str, version: &str) -> Value {
    let crd = crds().into_iter().find(|c| c.metadata.name.as_deref() == Some(crd_name)).expect("CRD");
    let version = crd.spec.versions.iter().find(|v| v.name == version).expect("version");
    let schema = serde_json::to_value(version.schema.as_ref().unwrap().open_api_v3_schema.as_ref().unwrap()).unwrap();
    schema["properties"]["spec"].clone()
}

/// Where we knowingly differ: `auth.gcp`'s `secretRef` and `workloadIdentity` are open objects until the Google
/// provider's types (`GcpsmAuthSecretRef`, `GcpsmWorkloadIdentity`) are shared with it (Vault's gcp auth is not
/// implemented here).
fn known(difference: &str) -> bool {
    difference.starts_with("/properties/auth/properties/gcp/properties/secretRef/")
        || difference.starts_with("/properties/auth/properties/gcp/properties/workloadIdentity/")
}

fn assert_equals_eso(ours: &Value, what: &str) {
    let mut found = Vec::new();
    differences(&normalized(&eso_schema()), &normalized(ours), "", &mut found);
    let unexpected: Vec<&String> = found.iter().filter(|d| !known(d)).collect();
    assert!(unexpected.is_empty(), "{what} differs from ESO 2.9.0's schema:\n{unexpected:#?}");
}

/// v1beta1 is served with the v1 schema (see docs/compatibility.md): ESO's v1beta1 lacks `auth.cert.path`,
/// `auth.cert.vaultRole`, `auth.gcp` and `checkAndSet`, which are accepted here in both versions.
#[test]
fn store_vault_provider_schema_equals_esos() {
    for crd in ["secretstores.external-secrets.io", "clustersecretstores.external-secrets.io"] {
        for version in ["v1", "v1beta1"] {
            let vault = &spec_schema(crd, version)["properties"]["provider"]["properties"]["vault"];
            assert_equals_eso(vault, &format!("{crd} {version} spec.provider.vault"));
        }
    }
}

#[test]
fn vault_dynamic_secret_provider_schema_equals_esos() {
    let provider =
        &spec_schema("vaultdynamicsecrets.generators.external-secrets.io", "v1alpha1")["properties"]["provider"];
    assert_equals_eso(provider, "VaultDynamicSecret spec.provider");
    let cluster = spec_schema("clustergenerators.generators.external-secrets.io", "v1alpha1");
    let embedded =
        &cluster["properties"]["generator"]["properties"]["vaultDynamicSecretSpec"]["properties"]["provider"];
    assert_equals_eso(embedded, "ClusterGenerator vaultDynamicSecretSpec.provider");
}

#[test]
fn the_comparison_sees_a_difference() {
    let mut changed = eso_schema();
    changed["properties"]["server"]["type"] = Value::from("integer");
    let mut found = Vec::new();
    differences(&normalized(&eso_schema()), &normalized(&changed), "", &mut found);
    assert_eq!(found, ["/properties/server/type: ESO \"string\" here \"integer\""]);
}
