//! `spec.provider.aws`: AWS Secrets Manager and Parameter Store.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::{SecretKeySelector, ServiceAccountSelector};

/// AWSProvider configures a store to sync secrets with AWS.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsProvider {
    /// Service defines which service should be used to fetch the secrets
    pub service: AwsServiceType,

    /// Auth defines the information necessary to authenticate against AWS
    /// if not set aws sdk will infer credentials from your environment
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AwsAuth>,

    /// Role is a Role ARN which the provider will assume
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,

    /// AWS Region to be used for the provider
    pub region: String,

    /// AdditionalRoles is a chained list of Role ARNs which the provider will sequentially assume before assuming
    /// the Role
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_roles: Vec<String>,

    /// AWS External ID set on assumed IAM roles
    #[serde(default, rename = "externalID", skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,

    /// AWS STS assume role session tags
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub session_tags: Vec<AwsTag>,

    /// SecretsManager defines how the provider behaves when interacting with AWS SecretsManager
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets_manager: Option<AwsSecretsManager>,

    /// AWS STS assume role transitive session tags. Required when multiple rules are used with the provider
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transitive_tag_keys: Vec<String>,

    /// SessionTagsPolicy controls whether and how STS session tags are added when assuming roles.
    /// None (default): no tags are added.
    /// Simple: automatically adds esoNamespace (from the ExternalSecret), esoStoreName, and esoStoreKind tags.
    /// Custom: adds esoNamespace, esoStoreName, and esoStoreKind plus any tags defined in CustomSessionTags.
    /// Note: the IAM role must have sts:TagSession permission when using Simple or Custom.
    #[serde(default)]
    pub session_tags_policy: AwsSessionTagsPolicy,

    /// CustomSessionTags defines additional STS session tags to include when SessionTagsPolicy is Custom.
    /// These are merged with the automatically injected esoNamespace, esoStoreName, and esoStoreKind tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_session_tags: BTreeMap<String, String>,

    /// Prefix adds a prefix to all retrieved values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// AWSServiceType is a enum that defines the service/API that is used to fetch the secrets.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum AwsServiceType {
    /// AWS Secrets Manager.
    #[default]
    SecretsManager,
    /// AWS Systems Manager Parameter Store.
    ParameterStore,
    /// AWS Certificate Manager (ESO 2.8.0+).
    CertificateManager,
}

/// AWSAuth tells the controller how to do authentication with aws.
/// Only one of secretRef or jwt can be specified.
/// if none is specified the controller will load credentials using the aws sdk defaults.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsAuth {
    /// Static credentials read from Secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<AwsAuthSecretRef>,

    /// Web identity through a ServiceAccount token (IRSA style).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<AwsJwtAuth>,
}

/// AWSAuthSecretRef holds secret references for AWS credentials
/// both AccessKeyID and SecretAccessKey must be defined in order to properly authenticate.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsAuthSecretRef {
    /// The AccessKeyID is used for authentication
    #[serde(default, rename = "accessKeyIDSecretRef", skip_serializing_if = "Option::is_none")]
    pub access_key_id_secret_ref: Option<SecretKeySelector>,

    /// The SecretAccessKey is used for authentication
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key_secret_ref: Option<SecretKeySelector>,

    /// The SessionToken used for authentication
    /// This must be defined if AccessKeyID and SecretAccessKey are temporary credentials
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token_secret_ref: Option<SecretKeySelector>,
}

/// AWSJWTAuth stores reference to Authenticate against AWS using service account tokens.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsJwtAuth {
    /// The ServiceAccount whose token is exchanged (its `eks.amazonaws.com/role-arn` annotation names the role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_ref: Option<ServiceAccountSelector>,
}

/// Tag is a key-value pair that can be attached to an AWS resource.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsTag {
    /// The tag key.
    pub key: String,
    /// The tag value.
    pub value: String,
}

/// SecretsManager defines how the provider behaves when interacting with AWS SecretsManager (PushSecret
/// deletion only).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsSecretsManager {
    /// Specifies whether to delete the secret without any recovery window. You
    /// can't use both this parameter and RecoveryWindowInDays in the same call.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force_delete_without_recovery: bool,

    /// The number of days from 7 to 30 that Secrets Manager waits before
    /// permanently deleting the secret (0 = the AWS default of 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_window_in_days: Option<i64>,
}

/// SessionTagsPolicy defines how STS session tags are handled.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum AwsSessionTagsPolicy {
    /// `sessionTags` as configured (the default).
    #[default]
    None,
    /// esoNamespace, esoStoreName and esoStoreKind replace `sessionTags`.
    Simple,
    /// As Simple, plus `customSessionTags`.
    Custom,
}
