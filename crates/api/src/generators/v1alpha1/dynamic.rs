//! Generators that ask a secret backend for dynamic credentials: `VaultDynamicSecret` and
//! `BeyondtrustWorkloadCredentialsDynamicSecret`.
//!
//! Both embed a SecretStore provider spec (`provider`): Vault's is typed as the store's; BeyondTrust Workload
//! Credentials', which this crate does not model yet, is kept verbatim as an open object (see
//! `docs/compatibility.md`).

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::schema;
use crate::v1::{SecretStoreRetrySettings, VaultProvider};

/// VaultDynamicSecretSpec says which Vault path to call, how, and which part of the answer to return.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "generators.external-secrets.io",
    version = "v1alpha1",
    kind = "VaultDynamicSecret",
    namespaced,
    derive = "PartialEq",
    category = "external-secrets",
    category = "external-secrets-generators",
    label("external-secrets.io/component", "controller"),
    doc = "VaultDynamicSecret gets dynamic secrets (database credentials, tokens, ...) from HashiCorp Vault."
)]
#[serde(rename_all = "camelCase")]
pub struct VaultDynamicSecretSpec {
    /// Selects the controller that handles this generator; empty means the default controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<String>,

    /// The HTTP method of the Vault call (GET, POST, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,

    /// The body of a write (non-GET) call, any JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::any_json")]
    pub parameters: Option<serde_json::Value>,

    /// Query parameters of a GET call; a key may repeat.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub get_parameters: BTreeMap<String, Vec<String>>,

    /// Which part of the response is returned. Defaults to `Data`.
    #[serde(default)]
    pub result_type: VaultDynamicSecretResultType,

    /// HTTP retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_settings: Option<SecretStoreRetrySettings>,

    /// The Vault connection and auth: ESO's `VaultProvider`, as a SecretStore's `spec.provider.vault`.
    pub provider: VaultProvider,

    /// The Vault path to call.
    pub path: String,

    /// Do not fail when Vault returns no data.
    #[serde(default)]
    pub allow_empty_response: bool,
}

/// Which part of a Vault response a VaultDynamicSecret returns.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum VaultDynamicSecretResultType {
    /// The `data` section (the default).
    #[default]
    Data,
    /// The `auth` section (e.g. for `auth/token/create`).
    Auth,
    /// The whole response.
    Raw,
}

/// BeyondtrustWorkloadCredentialsDynamicSecretSpec says which BeyondTrust dynamic secret definition to call.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "generators.external-secrets.io",
    version = "v1alpha1",
    kind = "BeyondtrustWorkloadCredentialsDynamicSecret",
    namespaced,
    derive = "PartialEq",
    category = "external-secrets",
    category = "external-secrets-generators",
    label("external-secrets.io/component", "controller"),
    doc = "BeyondtrustWorkloadCredentialsDynamicSecret gets short-lived credentials from BeyondTrust Workload \
           Credentials on every refresh."
)]
#[serde(rename_all = "camelCase")]
pub struct BeyondtrustWorkloadCredentialsDynamicSecretSpec {
    /// Selects the controller that handles this generator; empty means the default controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<String>,

    /// The BeyondTrust connection, auth and folder path: ESO's `BeyondtrustWorkloadCredentialsProvider`, kept
    /// verbatim.
    #[schemars(schema_with = "schema::open_object")]
    pub provider: serde_json::Value,

    /// Retries of failed API calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_settings: Option<SecretStoreRetrySettings>,
}
