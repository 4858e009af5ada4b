//! `spec.provider` of a (Cluster)SecretStore: typed for the providers this operator implements, preserved
//! verbatim for every other ESO provider.

mod aws;
mod fake;
mod gcpsm;
mod kind;
mod kubernetes;
mod vault;
mod webhook;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::{DNS_LABEL_PATTERN, DNS_SUBDOMAIN_PATTERN, SECRET_KEY_PATTERN};
use crate::schema;

pub use aws::{
    AwsAuth, AwsAuthSecretRef, AwsJwtAuth, AwsProvider, AwsSecretsManager, AwsServiceType, AwsSessionTagsPolicy, AwsTag,
};
pub use fake::{FakeProvider, FakeProviderData};
pub use gcpsm::{
    GCPSM_LATEST_OR_FAIL, GCPSM_LATEST_OR_FETCH, GcpsmAuth, GcpsmAuthSecretRef, GcpsmAwsCredentialsConfig,
    GcpsmConfigMapReference, GcpsmProvider, GcpsmSecretReference, GcpsmWorkloadIdentity,
    GcpsmWorkloadIdentityFederation,
};
pub use kind::{ProviderKind, ProviderSelectionError, TypedProviderSpec};
pub use kubernetes::{CertAuth, KubernetesAuth, KubernetesProvider, KubernetesServer, TokenAuth};
pub use vault::{
    VaultAppRole, VaultAuth, VaultCertAuth, VaultCheckAndSet, VaultClientTls, VaultGcpAuth, VaultIamAuth, VaultJwtAuth,
    VaultKubernetesAuth, VaultKubernetesServiceAccountTokenAuth, VaultKvStoreVersion, VaultLdapAuth, VaultProvider,
    VaultUserPassAuth,
};
pub use webhook::{WebhookProvider, WebhookProviderSecret};

/// SecretStoreProvider contains the provider-specific configuration. Only one provider may be set.
///
/// The providers this operator implements ([`ProviderKind::implemented`]: `aws`, `kubernetes`, `fake`) are typed.
/// Every other ESO provider key (`azurekv`, `webhook`, ...) is kept as raw JSON in
/// [`SecretStoreProvider::other`], so that stores of providers this operator does not implement still round-trip
/// unchanged (and the API server does not prune them: the schema of `provider` preserves unknown fields).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = schema::provider_union)]
pub struct SecretStoreProvider {
    /// AWS configures this store to sync secrets using AWS Secret Manager provider
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsProvider>,

    /// Vault configures this store to sync secrets using the HashiCorp Vault provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault: Option<VaultProvider>,

    /// GCPSM configures this store to sync secrets using Google Cloud Platform Secret Manager provider
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcpsm: Option<GcpsmProvider>,

    /// Kubernetes configures this store to sync secrets using a Kubernetes cluster provider
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<KubernetesProvider>,

    /// Webhook configures this store to sync secrets using a generic templated webhook
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookProvider>,

    /// Fake configures a store with static key/value pairs
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fake: Option<FakeProvider>,

    /// Every other provider key, verbatim (ESO 2.9.0 knows 43; see the ESO docs for their fields).
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// CAProvider provides a custom certificate authority for accessing the provider's store.
/// The CAProvider points to a Secret or ConfigMap resource that contains a PEM-encoded certificate.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CaProvider {
    /// The type of provider to use such as "Secret", or "ConfigMap".
    #[serde(rename = "type")]
    pub type_: CaProviderType,

    /// The name of the object located at the provider type.
    #[schemars(length(min = 1, max = 253), pattern(DNS_SUBDOMAIN_PATTERN))]
    pub name: String,

    /// The key where the CA certificate can be found in the Secret or ConfigMap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), pattern(SECRET_KEY_PATTERN))]
    pub key: Option<String>,

    /// The namespace the Provider type is in.
    /// Can only be defined when used in a ClusterSecretStore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), pattern(DNS_LABEL_PATTERN))]
    pub namespace: Option<String>,
}

/// CAProviderType defines the type of provider for certificate authority.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum CaProviderType {
    /// The CA certificate is stored in a Secret.
    #[default]
    Secret,
    /// The CA certificate is stored in a ConfigMap.
    ConfigMap,
}
