//! `spec.provider.kubernetes`: Secrets of a (possibly remote) Kubernetes cluster.

use k8s_openapi::ByteString;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::{DNS_LABEL_PATTERN, SecretKeySelector, ServiceAccountSelector};
use crate::v1::CaProvider;

/// The `remoteNamespace` the API server fills in when a store does not set one.
pub const DEFAULT_REMOTE_NAMESPACE: &str = "default";

/// The `server.url` the API server fills in when a store sets `server` without a URL.
pub const DEFAULT_SERVER_URL: &str = "kubernetes.default";

/// Configures a store to sync secrets with a Kubernetes instance.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesProvider {
    /// configures the Kubernetes server Address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<KubernetesServer>,

    /// Auth configures how secret-manager authenticates with a Kubernetes instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<KubernetesAuth>,

    /// A reference to a secret that contains the auth information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_ref: Option<SecretKeySelector>,

    /// Remote namespace to fetch the secrets from
    #[serde(default = "default_remote_namespace")]
    #[schemars(length(min = 1, max = 63), pattern(DNS_LABEL_PATTERN))]
    pub remote_namespace: String,
}

impl Default for KubernetesProvider {
    fn default() -> Self {
        Self { server: None, auth: None, auth_ref: None, remote_namespace: default_remote_namespace() }
    }
}

fn default_remote_namespace() -> String {
    DEFAULT_REMOTE_NAMESPACE.to_string()
}

/// KubernetesServer says where the Kubernetes API server is and which CA to trust.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesServer {
    /// configures the Kubernetes server Address.
    #[serde(default = "default_server_url")]
    pub url: String,

    /// CABundle is a base64-encoded CA certificate
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::byte_string")]
    pub ca_bundle: Option<ByteString>,

    /// The CA certificate, read from a Secret or ConfigMap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_provider: Option<CaProvider>,
}

impl Default for KubernetesServer {
    fn default() -> Self {
        Self { url: default_server_url(), ca_bundle: None, ca_provider: None }
    }
}

fn default_server_url() -> String {
    DEFAULT_SERVER_URL.to_string()
}

/// KubernetesAuth says how to authenticate to the Kubernetes API server. Exactly one field is set.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct KubernetesAuth {
    /// has both clientCert and clientKey as secretKeySelector
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<CertAuth>,

    /// use static token to authenticate with
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<TokenAuth>,

    /// points to a service account that should be used for authentication
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<ServiceAccountSelector>,
}

/// CertAuth authenticates with a client certificate and key read from Secrets.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertAuth {
    /// The PEM client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<SecretKeySelector>,

    /// The PEM private key of the client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<SecretKeySelector>,
}

/// TokenAuth authenticates with a static bearer token read from a Secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenAuth {
    /// The bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<SecretKeySelector>,
}
