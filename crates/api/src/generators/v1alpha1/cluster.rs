//! `ClusterGenerator`: the spec of any namespaced generator, cluster scoped, so that ExternalSecrets in every
//! namespace can reference one generator.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    AcrAccessTokenSpec, BeyondtrustWorkloadCredentialsDynamicSecretSpec, CloudsmithAccessTokenSpec,
    EcrAuthorizationTokenSpec, FakeSpec, GcrAccessTokenSpec, GithubAccessTokenSpec, GitlabDeployTokenSpec, GrafanaSpec,
    MfaSpec, PasswordSpec, QuayAccessTokenSpec, SshKeySpec, StsSessionTokenSpec, UuidSpec, VaultDynamicSecretSpec,
    WebhookSpec,
};

/// ClusterGeneratorSpec: which generator, and its spec.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "generators.external-secrets.io",
    version = "v1alpha1",
    kind = "ClusterGenerator",
    derive = "PartialEq",
    category = "external-secrets",
    category = "external-secrets-generators",
    label("external-secrets.io/component", "controller"),
    doc = "ClusterGenerator represents a cluster-wide generator which can be referenced as part of `generatorRef` \
           fields."
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterGeneratorSpec {
    /// The kind of generator; it must match the key set in `generator`.
    pub kind: GeneratorKind,

    /// The generator's spec, under the key of its kind (e.g. `passwordSpec`).
    pub generator: GeneratorSpec,
}

/// The generator kinds a ClusterGenerator can hold (every generator but ClusterGenerator itself).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum GeneratorKind {
    /// Azure Container Registry token.
    #[serde(rename = "ACRAccessToken")]
    AcrAccessToken,
    /// BeyondTrust Workload Credentials dynamic secret.
    BeyondtrustWorkloadCredentialsDynamicSecret,
    /// Cloudsmith access token.
    CloudsmithAccessToken,
    /// AWS ECR authorization token.
    #[serde(rename = "ECRAuthorizationToken")]
    EcrAuthorizationToken,
    /// Static data, for tests.
    Fake,
    /// Google Container Registry token.
    #[serde(rename = "GCRAccessToken")]
    GcrAccessToken,
    /// GitHub App installation token.
    GithubAccessToken,
    /// GitLab deploy token.
    GitlabDeployToken,
    /// Quay token.
    QuayAccessToken,
    /// Random password.
    Password,
    /// SSH key pair.
    #[serde(rename = "SSHKey")]
    SshKey,
    /// AWS STS session token.
    #[serde(rename = "STSSessionToken")]
    StsSessionToken,
    /// UUID.
    #[serde(rename = "UUID")]
    Uuid,
    /// HashiCorp Vault dynamic secret.
    VaultDynamicSecret,
    /// HTTP call.
    Webhook,
    /// Grafana service account token.
    Grafana,
    /// TOTP code.
    #[serde(rename = "MFA")]
    Mfa,
}

/// GeneratorSpec: exactly one generator's spec, under the key of its kind.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct GeneratorSpec {
    /// An ACRAccessToken spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr_access_token_spec: Option<AcrAccessTokenSpec>,
    /// A BeyondtrustWorkloadCredentialsDynamicSecret spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beyondtrust_workload_credentials_dynamic_secret_spec: Option<BeyondtrustWorkloadCredentialsDynamicSecretSpec>,
    /// A CloudsmithAccessToken spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloudsmith_access_token_spec: Option<CloudsmithAccessTokenSpec>,
    /// An ECRAuthorizationToken spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecr_authorization_token_spec: Option<EcrAuthorizationTokenSpec>,
    /// A Fake spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fake_spec: Option<FakeSpec>,
    /// A GCRAccessToken spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcr_access_token_spec: Option<GcrAccessTokenSpec>,
    /// A GithubAccessToken spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github_access_token_spec: Option<GithubAccessTokenSpec>,
    /// A GitlabDeployToken spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitlab_deploy_token_spec: Option<GitlabDeployTokenSpec>,
    /// A QuayAccessToken spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quay_access_token_spec: Option<QuayAccessTokenSpec>,
    /// A Password spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_spec: Option<PasswordSpec>,
    /// An SSHKey spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_key_spec: Option<SshKeySpec>,
    /// An STSSessionToken spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sts_session_token_spec: Option<StsSessionTokenSpec>,
    /// A UUID spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid_spec: Option<UuidSpec>,
    /// A VaultDynamicSecret spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault_dynamic_secret_spec: Option<VaultDynamicSecretSpec>,
    /// A Webhook spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_spec: Option<WebhookSpec>,
    /// A Grafana spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grafana_spec: Option<GrafanaSpec>,
    /// An MFA spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_spec: Option<MfaSpec>,
}
