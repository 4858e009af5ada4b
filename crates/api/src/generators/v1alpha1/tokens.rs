//! Generators that mint access tokens of third-party services: registries (`ACRAccessToken`, `GCRAccessToken`,
//! `QuayAccessToken`, `CloudsmithAccessToken`), source forges (`GithubAccessToken`, `GitlabDeployToken`) and
//! `Grafana` service-account tokens.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::GeneratorSecretKeySelector;
use crate::meta::{SecretKeySelector, ServiceAccountSelector};
use crate::schema;

/// ACRAccessTokenSpec says which Azure Container Registry to get a token for, and how to authenticate.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[kube(
    group = "generators.external-secrets.io",
    version = "v1alpha1",
    kind = "ACRAccessToken",
    root = "AcrAccessToken",
    namespaced,
    derive = "PartialEq",
    category = "external-secrets",
    category = "external-secrets-generators",
    label("external-secrets.io/component", "controller"),
    doc = "ACRAccessToken gets an Azure Container Registry token: a refresh token with the identity's full access, \
           or an access token limited to spec.scope."
)]
#[serde(rename_all = "camelCase")]
pub struct AcrAccessTokenSpec {
    /// How to authenticate with Azure.
    pub auth: AcrAuth,

    /// The Azure tenant (required for service principal auth).
    #[serde(default, rename = "tenantId", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,

    /// The registry's domain name, e.g. `example.azurecr.io`.
    pub registry: String,

    /// The token's scope, e.g. `repository:my-repository:pull,push`; unset means a refresh token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,

    /// The Azure cloud. Defaults to `PublicCloud`.
    #[serde(default)]
    pub environment_type: AzureEnvironmentType,
}

/// The Azure clouds (ESO's `AzureEnvironmentType`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum AzureEnvironmentType {
    /// Azure public cloud (the default).
    #[default]
    PublicCloud,
    /// Azure US Government.
    #[serde(rename = "USGovernmentCloud")]
    UsGovernmentCloud,
    /// Azure China.
    ChinaCloud,
    /// Azure Germany.
    GermanCloud,
    /// Azure Stack.
    AzureStackCloud,
}

/// ACRAuth: one of service principal, managed identity or workload identity.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcrAuth {
    /// A service principal's client id and secret from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_principal: Option<AcrServicePrincipalAuth>,

    /// The pod's managed identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_identity: Option<AcrManagedIdentityAuth>,

    /// Azure workload identity through a ServiceAccount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_identity: Option<AcrWorkloadIdentityAuth>,
}

/// Service principal credentials.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcrServicePrincipalAuth {
    /// The Secret keys holding the client id and secret.
    pub secret_ref: AcrServicePrincipalSecretRef,
}

/// The Secret keys holding a service principal's credentials.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcrServicePrincipalSecretRef {
    /// The client id.
    #[serde(default, rename = "clientId", skip_serializing_if = "Option::is_none")]
    pub client_id: Option<SecretKeySelector>,
    /// The client secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<SecretKeySelector>,
}

/// Managed identity: which one, if the pod has several.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcrManagedIdentityAuth {
    /// The identity's id.
    #[serde(default, rename = "identityId", skip_serializing_if = "Option::is_none")]
    pub identity_id: Option<String>,
}

/// Workload identity: the ServiceAccount whose token is exchanged.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcrWorkloadIdentityAuth {
    /// The ServiceAccount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_ref: Option<ServiceAccountSelector>,
}

/// GCRAccessTokenSpec says which GCP project to get a registry token for, and how to authenticate.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "generators.external-secrets.io",
    version = "v1alpha1",
    kind = "GCRAccessToken",
    root = "GcrAccessToken",
    namespaced,
    derive = "PartialEq",
    category = "external-secrets",
    category = "external-secrets-generators",
    label("external-secrets.io/component", "controller"),
    doc = "GCRAccessToken gets a GCP access token for Google Container/Artifact Registry."
)]
#[serde(rename_all = "camelCase")]
pub struct GcrAccessTokenSpec {
    /// How to authenticate with GCP.
    pub auth: GcpAuth,

    /// The project to authenticate with.
    #[serde(rename = "projectID")]
    pub project_id: String,
}

/// GCPSMAuth: a service account key, GKE workload identity, or workload identity federation.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcpAuth {
    /// A service account key from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<GcpAuthSecretRef>,

    /// GKE workload identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_identity: Option<GcpWorkloadIdentity>,

    /// Workload identity federation (ESO's `GCPWorkloadIdentityFederation` of the GCP SecretStore provider,
    /// which this crate does not model yet): kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::open_object")]
    pub workload_identity_federation: Option<serde_json::Value>,
}

/// The Secret key holding a GCP service account key.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcpAuthSecretRef {
    /// The service account key (JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key_secret_ref: Option<SecretKeySelector>,
}

/// GKE workload identity: the ServiceAccount and the cluster it runs in.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcpWorkloadIdentity {
    /// The ServiceAccount whose token is exchanged.
    pub service_account_ref: ServiceAccountSelector,
    /// The cluster's location.
    pub cluster_location: String,
    /// The cluster's name.
    pub cluster_name: String,
    /// The cluster's project, if not the token's project.
    #[serde(default, rename = "clusterProjectID", skip_serializing_if = "Option::is_none")]
    pub cluster_project_id: Option<String>,
}

/// QuayAccessTokenSpec says which robot account to get a Quay token for, through OIDC federation.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[kube(
    group = "generators.external-secrets.io",
    version = "v1alpha1",
    kind = "QuayAccessToken",
    namespaced,
    derive = "PartialEq",
    category = "external-secrets",
    category = "external-secrets-generators",
    label("external-secrets.io/component", "controller"),
    doc = "QuayAccessToken gets a Quay OAuth token to pull or push images."
)]
#[serde(rename_all = "camelCase")]
pub struct QuayAccessTokenSpec {
    /// The Quay instance; unset means quay.io.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The robot account to federate with.
    pub robot_account: String,
    /// The ServiceAccount whose token is exchanged.
    pub service_account_ref: ServiceAccountSelector,
}

/// CloudsmithAccessTokenSpec says which Cloudsmith service to get a token for, through OIDC federation.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[kube(
    group = "generators.external-secrets.io",
    version = "v1alpha1",
    kind = "CloudsmithAccessToken",
    namespaced,
    derive = "PartialEq",
    category = "external-secrets",
    category = "external-secrets-generators",
    label("external-secrets.io/component", "controller"),
    doc = "CloudsmithAccessToken gets a Cloudsmith access token through OIDC federation."
)]
#[serde(rename_all = "camelCase")]
pub struct CloudsmithAccessTokenSpec {
    /// The Cloudsmith API; unset means https://api.cloudsmith.io.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// The organization slug.
    pub org_slug: String,
    /// The service slug used for OIDC.
    pub service_slug: String,
    /// The ServiceAccount whose token is exchanged.
    pub service_account_ref: ServiceAccountSelector,
}

/// GithubAccessTokenSpec says which GitHub App installation to get a `ghs_` token for.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[kube(
    group = "generators.external-secrets.io",
    version = "v1alpha1",
    kind = "GithubAccessToken",
    namespaced,
    derive = "PartialEq",
    category = "external-secrets",
    category = "external-secrets-generators",
    label("external-secrets.io/component", "controller"),
    doc = "GithubAccessToken gets a GitHub App installation access token (ghs_...)."
)]
#[serde(rename_all = "camelCase")]
pub struct GithubAccessTokenSpec {
    /// The GitHub instance; unset means https://github.com/.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The App id.
    #[serde(rename = "appID")]
    pub app_id: String,
    /// The installation id.
    #[serde(rename = "installID")]
    pub install_id: String,
    /// The repositories the token may access; unset means all the App is installed to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repositories: Vec<String>,
    /// The token's permissions; unset means all the App has.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub permissions: BTreeMap<String, String>,
    /// The App's private key.
    pub auth: GithubAuth,
}

/// How to authenticate as the GitHub App.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GithubAuth {
    /// The App's private key.
    pub private_key: SecretRefHolder,
}

/// A `{secretRef: ...}` wrapper around a Secret key (ESO's `GithubSecretRef` / `GitlabDeployTokenSecretRef`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretRefHolder {
    /// The Secret key.
    pub secret_ref: SecretKeySelector,
}

/// GitlabDeployTokenSpec says where to create a GitLab deploy token and with which scopes.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[kube(
    group = "generators.external-secrets.io",
    version = "v1alpha1",
    kind = "GitlabDeployToken",
    namespaced,
    derive = "PartialEq",
    category = "external-secrets",
    category = "external-secrets-generators",
    label("external-secrets.io/component", "controller"),
    doc = "GitlabDeployToken creates a GitLab deploy token in a project or group."
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "has(self.projectID) != has(self.groupID)",
    "message": "exactly one of projectID or groupID must be set",
}]))]
pub struct GitlabDeployTokenSpec {
    /// The GitLab instance; unset means https://gitlab.com.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The project (numeric id or unescaped path); exclusive with `groupID`.
    #[serde(default, rename = "projectID", skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub project_id: Option<String>,
    /// The group (numeric id or unescaped path); exclusive with `projectID`.
    #[serde(default, rename = "groupID", skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub group_id: Option<String>,
    /// The token's name.
    #[schemars(length(min = 1))]
    pub name: String,
    /// The token's scopes (at least one).
    #[schemars(length(min = 1))]
    pub scopes: Vec<GitlabDeployTokenScope>,
    /// When the token expires; unset means never (it is revoked when the generator state is cleaned up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Time>,
    /// The token's username; unset lets GitLab choose `gitlab+deploy-token-{n}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The GitLab token used to create the deploy token.
    pub auth: GitlabDeployTokenAuth,
}

/// The scopes of a GitLab deploy token.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GitlabDeployTokenScope {
    /// Read the repository.
    ReadRepository,
    /// Read the container registry.
    ReadRegistry,
    /// Write the container registry.
    WriteRegistry,
    /// Read the package registry.
    ReadPackageRegistry,
    /// Write the package registry.
    WritePackageRegistry,
    /// Read the virtual registry (projects only).
    ReadVirtualRegistry,
    /// Write the virtual registry (projects only).
    WriteVirtualRegistry,
}

/// How to authenticate with the GitLab API.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitlabDeployTokenAuth {
    /// A GitLab token with the `api` scope and at least Maintainer on the target.
    pub token: SecretRefHolder,
}

/// GrafanaSpec says which Grafana to create a service account token in, and as whom.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[kube(
    group = "generators.external-secrets.io",
    version = "v1alpha1",
    kind = "Grafana",
    namespaced,
    derive = "PartialEq",
    category = "external-secrets",
    category = "external-secrets-generators",
    label("external-secrets.io/component", "controller"),
    doc = "Grafana creates a Grafana service account and a token for it."
)]
#[serde(rename_all = "camelCase")]
pub struct GrafanaSpec {
    /// The Grafana instance.
    pub url: String,
    /// Credentials allowed to create service accounts.
    pub auth: GrafanaAuth,
    /// The service account to create.
    pub service_account: GrafanaServiceAccount,
}

/// The service account the Grafana generator creates.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrafanaServiceAccount {
    /// Its name.
    pub name: String,
    /// Its basic role (`Viewer`, `Editor`, `Admin`, ...).
    pub role: String,
    /// Lifetime of the token in seconds (some Grafanas, e.g. AWS Managed Grafana, require it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub seconds_to_live: Option<i64>,
}

/// A token or basic credentials for Grafana.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrafanaAuth {
    /// A service account token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<GeneratorSecretKeySelector>,
    /// Basic auth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic: Option<GrafanaBasicAuth>,
}

/// Basic auth for Grafana.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrafanaBasicAuth {
    /// The username.
    pub username: String,
    /// The password.
    pub password: GeneratorSecretKeySelector,
}
