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

impl GeneratorKind {
    /// The key of this kind's spec in a [`GeneratorSpec`] (`ClusterGenerator.spec.generator`), e.g. `grafanaSpec`.
    pub fn spec_field(self) -> &'static str {
        match self {
            GeneratorKind::AcrAccessToken => "acrAccessTokenSpec",
            GeneratorKind::BeyondtrustWorkloadCredentialsDynamicSecret => {
                "beyondtrustWorkloadCredentialsDynamicSecretSpec"
            }
            GeneratorKind::CloudsmithAccessToken => "cloudsmithAccessTokenSpec",
            GeneratorKind::EcrAuthorizationToken => "ecrAuthorizationTokenSpec",
            GeneratorKind::Fake => "fakeSpec",
            GeneratorKind::GcrAccessToken => "gcrAccessTokenSpec",
            GeneratorKind::GithubAccessToken => "githubAccessTokenSpec",
            GeneratorKind::GitlabDeployToken => "gitlabDeployTokenSpec",
            GeneratorKind::QuayAccessToken => "quayAccessTokenSpec",
            GeneratorKind::Password => "passwordSpec",
            GeneratorKind::SshKey => "sshKeySpec",
            GeneratorKind::StsSessionToken => "stsSessionTokenSpec",
            GeneratorKind::Uuid => "uuidSpec",
            GeneratorKind::VaultDynamicSecret => "vaultDynamicSecretSpec",
            GeneratorKind::Webhook => "webhookSpec",
            GeneratorKind::Grafana => "grafanaSpec",
            GeneratorKind::Mfa => "mfaSpec",
        }
    }
}

impl GeneratorSpec {
    /// The spec of `kind` alone, as JSON (the `spec` of a namespaced generator of that kind); `None` when unset.
    pub fn kind_spec_json(&self, kind: GeneratorKind) -> Option<serde_json::Value> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut fields)) => fields.remove(kind.spec_field()),
            _ => None,
        }
    }

    /// A GeneratorSpec holding `spec` (the `spec` of a generator manifest of `kind`) under the key of its kind.
    pub fn from_kind_spec_json(kind: GeneratorKind, spec: serde_json::Value) -> Result<Self, serde_json::Error> {
        serde_json::from_value(serde_json::Value::Object(serde_json::Map::from_iter([(
            kind.spec_field().to_string(),
            spec,
        )])))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_kind_names_the_field_its_spec_serializes_under() {
        // A Fake spec round-trips through its field; every field name is one GeneratorSpec knows.
        let spec = GeneratorSpec { fake_spec: Some(FakeSpec::default()), ..Default::default() };
        let json = spec.kind_spec_json(GeneratorKind::Fake).expect("set");
        assert_eq!(GeneratorSpec::from_kind_spec_json(GeneratorKind::Fake, json).expect("parses"), spec);
        assert_eq!(spec.kind_spec_json(GeneratorKind::Uuid), None);
        let schema = serde_json::to_value(schemars::schema_for!(GeneratorSpec)).expect("schema");
        let properties = schema["properties"].as_object().expect("properties");
        use GeneratorKind::*;
        let kinds = [
            AcrAccessToken,
            BeyondtrustWorkloadCredentialsDynamicSecret,
            CloudsmithAccessToken,
            EcrAuthorizationToken,
            Fake,
            GcrAccessToken,
            GithubAccessToken,
            GitlabDeployToken,
            QuayAccessToken,
            Password,
            SshKey,
            StsSessionToken,
            Uuid,
            VaultDynamicSecret,
            Webhook,
            Grafana,
            Mfa,
        ];
        assert_eq!(kinds.len(), properties.len());
        for kind in kinds {
            assert!(properties.contains_key(kind.spec_field()), "{kind:?}: {}", kind.spec_field());
        }
    }
}
