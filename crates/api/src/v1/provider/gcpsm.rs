//! `spec.provider.gcpsm`: Google Cloud Secret Manager (ESO's `GCPSMProvider`,
//! `apis/externalsecrets/v1/secretstore_gcpsm_types.go`), field for field.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::{
    DNS_LABEL_PATTERN, DNS_SUBDOMAIN_PATTERN, SECRET_KEY_PATTERN, SecretKeySelector, ServiceAccountSelector,
};

/// `secretVersionSelectionPolicy` when unset.
pub const GCPSM_LATEST_OR_FAIL: &str = "LatestOrFail";
/// `secretVersionSelectionPolicy`: fall back to the newest enabled version when `latest` is disabled or destroyed.
pub const GCPSM_LATEST_OR_FETCH: &str = "LatestOrFetch";

fn default_version_selection_policy() -> String {
    GCPSM_LATEST_OR_FAIL.to_string()
}

/// GCPSM configures this store to sync secrets using Google Cloud Platform Secret Manager provider
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcpsmProvider {
    /// Auth defines the information necessary to authenticate against GCP
    #[serde(default)]
    #[schemars(transform = crate::schema::no_default)]
    pub auth: GcpsmAuth,

    /// ProjectID project where secret is located
    #[serde(default, rename = "projectID", skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,

    /// Location optionally defines a location for a secret
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,

    /// SecretVersionSelectionPolicy specifies how the provider selects a secret version
    /// when "latest" is disabled or destroyed.
    /// Possible values are:
    /// - LatestOrFail: the provider always uses "latest", or fails if that version is disabled/destroyed.
    /// - LatestOrFetch: the provider falls back to fetching the latest version if the version is DESTROYED or DISABLED
    #[serde(default = "default_version_selection_policy")]
    pub secret_version_selection_policy: String,
}

impl Default for GcpsmProvider {
    fn default() -> Self {
        Self {
            auth: GcpsmAuth::default(),
            project_id: None,
            location: None,
            secret_version_selection_policy: default_version_selection_policy(),
        }
    }
}

/// GCPSMAuth defines the authentication methods for the GCP Secret Manager provider.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcpsmAuth {
    /// GCPSMAuthSecretRef contains the secret references for GCP Secret Manager authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<GcpsmAuthSecretRef>,

    /// GCPWorkloadIdentity defines configuration for workload identity authentication to GCP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_identity: Option<GcpsmWorkloadIdentity>,

    /// GCPWorkloadIdentityFederation holds the configurations required for generating federated access tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_identity_federation: Option<GcpsmWorkloadIdentityFederation>,
}

/// GCPSMAuthSecretRef contains the secret references for GCP Secret Manager authentication.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcpsmAuthSecretRef {
    /// The SecretAccessKey is used for authentication
    #[serde(default)]
    #[schemars(transform = crate::schema::no_default)]
    pub secret_access_key_secret_ref: SecretKeySelector,
}

/// GCPWorkloadIdentity defines configuration for workload identity authentication to GCP.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcpsmWorkloadIdentity {
    /// ServiceAccountSelector is a reference to a ServiceAccount resource.
    pub service_account_ref: ServiceAccountSelector,

    /// ClusterLocation is the location of the cluster
    /// If not specified, it fetches information from the metadata server
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_location: Option<String>,

    /// ClusterName is the name of the cluster
    /// If not specified, it fetches information from the metadata server
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,

    /// ClusterProjectID is the project ID of the cluster
    /// If not specified, it fetches information from the metadata server
    #[serde(default, rename = "clusterProjectID", skip_serializing_if = "Option::is_none")]
    pub cluster_project_id: Option<String>,
}

/// GCPWorkloadIdentityFederation holds the configurations required for generating federated access tokens.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcpsmWorkloadIdentityFederation {
    /// credConfig holds the configmap reference containing the GCP external account credential configuration in
    /// JSON format and the key name containing the json data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cred_config: Option<GcpsmConfigMapReference>,

    /// serviceAccountRef is the reference to the kubernetes ServiceAccount to be used for obtaining the tokens,
    /// when Kubernetes is configured as provider in workload identity pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_ref: Option<ServiceAccountSelector>,

    /// awsSecurityCredentials is for configuring AWS region and credentials to use for obtaining the access token,
    /// when using the AWS metadata server is not an option.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_security_credentials: Option<GcpsmAwsCredentialsConfig>,

    /// audience is the Secure Token Service (STS) audience which contains the resource name for the workload
    /// identity pool and the provider identifier in that pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,

    /// externalTokenEndpoint is the endpoint explicitly set up to provide tokens, which will be matched against
    /// the credential_source.url in the provided credConfig.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_token_endpoint: Option<String>,

    /// GCPServiceAccountEmail is the email of the Google Cloud service account to impersonate
    /// after Workload Identity Federation.
    #[serde(default, rename = "gcpServiceAccountEmail", skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1), pattern(r"^.*@.*\.iam\.gserviceaccount\.com$"), extend("example" = "my-gsa@my-project.iam.gserviceaccount.com"))]
    pub gcp_service_account_email: Option<String>,
}

/// ConfigMapReference holds the details of a configmap.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcpsmConfigMapReference {
    /// name of the configmap.
    #[schemars(length(min = 1, max = 253), pattern(DNS_SUBDOMAIN_PATTERN))]
    pub name: String,

    /// namespace in which the configmap exists. If empty, configmap will looked up in local namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), pattern(DNS_LABEL_PATTERN))]
    pub namespace: Option<String>,

    /// key name holding the external account credential config.
    #[schemars(length(min = 1, max = 253), pattern(SECRET_KEY_PATTERN))]
    pub key: String,
}

/// AwsCredentialsConfig holds the region and the Secret reference which contains the AWS credentials.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcpsmAwsCredentialsConfig {
    /// region is for configuring the AWS region to be used.
    #[schemars(length(min = 1, max = 50), pattern(r"^[a-z0-9-]+$"), extend("example" = "ap-south-1"))]
    pub region: String,

    /// awsCredentialsSecretRef is the reference to the secret which holds the AWS credentials.
    pub aws_credentials_secret_ref: GcpsmSecretReference,
}

/// SecretReference holds the details of a secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcpsmSecretReference {
    /// name of the secret.
    #[schemars(length(min = 1, max = 253), pattern(DNS_SUBDOMAIN_PATTERN))]
    pub name: String,

    /// namespace in which the secret exists. If empty, secret will looked up in local namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), pattern(DNS_LABEL_PATTERN))]
    pub namespace: Option<String>,
}
