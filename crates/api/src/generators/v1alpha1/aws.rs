//! AWS generators: `ECRAuthorizationToken` (a registry login for ECR) and `STSSessionToken` (temporary
//! credentials from STS `GetSessionToken`).
//!
//! Both authenticate like the AWS SecretStore provider and reuse its [`AwsAuth`] (ESO's generator `AWSAuth` has
//! the same fields: `secretRef` with the three key selectors, or `jwt.serviceAccountRef`).

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::v1::AwsAuth;

/// ECRAuthorizationTokenSpec says where and as whom to ask ECR for an authorization token.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[kube(
    group = "generators.external-secrets.io",
    version = "v1alpha1",
    kind = "ECRAuthorizationToken",
    root = "EcrAuthorizationToken",
    namespaced,
    derive = "PartialEq",
    category = "external-secrets",
    category = "external-secrets-generators",
    label("external-secrets.io/component", "controller"),
    doc = "ECRAuthorizationToken gets a registry login for Amazon ECR (GetAuthorizationToken); the token is valid \
           for 12 hours."
)]
#[serde(rename_all = "camelCase")]
pub struct EcrAuthorizationTokenSpec {
    /// The AWS region.
    pub region: String,

    /// How to authenticate with AWS; unset means the SDK's default credential chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AwsAuth>,

    /// A role ARN to assume before calling ECR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,

    /// `private` (the default) or `public` (ECR Public).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// STSSessionTokenSpec says where and as whom to ask STS for a session token.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[kube(
    group = "generators.external-secrets.io",
    version = "v1alpha1",
    kind = "STSSessionToken",
    root = "StsSessionToken",
    namespaced,
    derive = "PartialEq",
    category = "external-secrets",
    category = "external-secrets-generators",
    label("external-secrets.io/component", "controller"),
    doc = "STSSessionToken gets temporary AWS credentials from STS (GetSessionToken)."
)]
#[serde(rename_all = "camelCase")]
pub struct StsSessionTokenSpec {
    /// The AWS region.
    pub region: String,

    /// How to authenticate with AWS; unset means the SDK's default credential chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AwsAuth>,

    /// A role ARN to assume before calling STS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,

    /// Parameters of the GetSessionToken call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_parameters: Option<StsRequestParameters>,
}

/// The parameters ESO passes to STS `GetSessionToken` (ESO's `RequestParameters`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StsRequestParameters {
    /// How long the credentials stay valid, in seconds (900 to 129600; STS defaults to 43200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_duration: Option<i32>,

    /// The MFA device (serial number or virtual device ARN) of the calling IAM user, if MFA is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,

    /// The code shown by that MFA device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_code: Option<String>,
}
