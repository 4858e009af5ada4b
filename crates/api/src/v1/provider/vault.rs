//! `spec.provider.vault`: a HashiCorp Vault KV secrets engine (ESO's `VaultProvider`, field for field).

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{AwsAuthSecretRef, AwsJwtAuth};
use crate::meta::{SecretKeySelector, ServiceAccountSelector};
use crate::v1::CaProvider;

/// VaultProvider configures a store to sync secrets using a Hashicorp Vault KV backend.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultProvider {
    /// Auth configures how secret-manager authenticates with the Vault server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<VaultAuth>,

    /// Server is the connection address for the Vault server, e.g: "https://vault.example.com:8200".
    pub server: String,

    /// Path is the mount path of the Vault KV backend endpoint, e.g: "secret". The v2 KV secret engine version
    /// specific "/data" path suffix for fetching secrets from Vault is optional and will be appended if not
    /// present in specified path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,

    /// Version is the Vault KV secret engine version. This can be either "v1" or "v2". Version defaults to "v2".
    #[serde(default)]
    pub version: VaultKvStoreVersion,

    /// Name of the vault namespace (Vault Enterprise), e.g: "ns1".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,

    /// PEM encoded CA bundle used to validate Vault server certificate. Only used if the Server URL is using
    /// HTTPS protocol. If not set the system root certificates are used to validate the TLS connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::byte_string")]
    pub ca_bundle: Option<ByteString>,

    /// The configuration used for client side related TLS communication, when the Vault server requires mutual
    /// authentication.
    #[serde(default, rename = "tls", skip_serializing_if = "Option::is_none")]
    pub client_tls: Option<VaultClientTls>,

    /// The provider for the CA bundle to use to validate Vault server certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_provider: Option<CaProvider>,

    /// ReadYourWrites ensures isolated read-after-write semantics by providing discovered cluster replication
    /// states in each request.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_your_writes: bool,

    /// ForwardInconsistent tells Vault to forward read-after-write requests to the Vault leader instead of
    /// simply retrying within a loop.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forward_inconsistent: bool,

    /// Headers to be added in Vault request
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,

    /// CheckAndSet defines the Check-And-Set (CAS) settings for PushSecret operations (KV v2 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_and_set: Option<VaultCheckAndSet>,
}

/// The version of the Vault KV secrets engine.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum VaultKvStoreVersion {
    /// KV version 1: `<path>/<key>`.
    #[serde(rename = "v1")]
    V1,
    /// KV version 2: `<path>/data/<key>`, versioned, with metadata.
    #[default]
    #[serde(rename = "v2")]
    V2,
}

/// VaultClientTLS is the configuration used for client side related TLS communication.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultClientTls {
    /// CertSecretRef is a certificate added to the transport layer when communicating with the Vault server.
    /// If no key for the Secret is specified, external-secret will default to 'tls.crt'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_secret_ref: Option<SecretKeySelector>,

    /// KeySecretRef to a key in a Secret resource containing client private key. If no key for the Secret is
    /// specified, external-secret will default to 'tls.key'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_secret_ref: Option<SecretKeySelector>,
}

/// VaultAuth is the configuration used to authenticate with a Vault server. Only one method can be specified.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultAuth {
    /// Name of the vault namespace to authenticate to. Defaults to the provider's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,

    /// TokenSecretRef authenticates with Vault by presenting a token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_secret_ref: Option<SecretKeySelector>,

    /// AppRole authenticates with Vault using the App Role auth mechanism.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_role: Option<VaultAppRole>,

    /// Kubernetes authenticates with Vault by passing a ServiceAccount token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<VaultKubernetesAuth>,

    /// Ldap authenticates with Vault by passing username/password pair using the LDAP authentication method
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ldap: Option<VaultLdapAuth>,

    /// Jwt authenticates with Vault by passing role and JWT token using the JWT/OIDC authentication method
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<VaultJwtAuth>,

    /// Cert authenticates with TLS Certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<VaultCertAuth>,

    /// Iam authenticates with vault by passing a special AWS request signed with AWS IAM credentials
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iam: Option<VaultIamAuth>,

    /// UserPass authenticates with Vault by passing username/password pair
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_pass: Option<VaultUserPassAuth>,

    /// Gcp authenticates with Vault using Google Cloud Platform authentication method
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcp: Option<VaultGcpAuth>,
}

fn default_approle_path() -> String {
    "approle".into()
}
fn default_kubernetes_path() -> String {
    "kubernetes".into()
}
fn default_ldap_path() -> String {
    "ldap".into()
}
fn default_jwt_path() -> String {
    "jwt".into()
}
fn default_cert_path() -> String {
    "cert".into()
}
fn default_userpass_path() -> String {
    "userpass".into()
}
fn default_gcp_path() -> String {
    "gcp".into()
}

/// VaultAppRole authenticates with Vault using the App Role auth mechanism.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
// ESO lists the defaulted mount path as required too (a default alone would drop it from `required`).
#[schemars(extend("required" = ["path", "secretRef"]))]
pub struct VaultAppRole {
    /// Path where the App Role authentication backend is mounted in Vault, e.g: "approle"
    #[serde(default = "default_approle_path")]
    pub path: String,

    /// RoleID configured in the App Role authentication backend.
    #[serde(default, rename = "roleId", skip_serializing_if = "String::is_empty")]
    pub role_id: String,

    /// Reference to a key in a Secret that contains the App Role ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_ref: Option<SecretKeySelector>,

    /// Reference to a key in a Secret that contains the App Role secret.
    pub secret_ref: SecretKeySelector,
}

/// VaultKubernetesAuth authenticates against Vault using a Kubernetes ServiceAccount token.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
// ESO lists the defaulted mount path as required too (a default alone would drop it from `required`).
#[schemars(extend("required" = ["mountPath", "role"]))]
pub struct VaultKubernetesAuth {
    /// Path where the Kubernetes authentication backend is mounted in Vault, e.g: "kubernetes"
    #[serde(default = "default_kubernetes_path", rename = "mountPath")]
    pub path: String,

    /// A ServiceAccount whose token (minted with the TokenRequest API) is presented to Vault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_ref: Option<ServiceAccountSelector>,

    /// A Secret key holding a Kubernetes ServiceAccount JWT (key `token` if none is given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeySelector>,

    /// The Vault role to assume.
    pub role: String,
}

/// VaultLdapAuth authenticates with Vault using the LDAP authentication method.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
// ESO lists the defaulted mount path as required too (a default alone would drop it from `required`).
#[schemars(extend("required" = ["path", "username"]))]
pub struct VaultLdapAuth {
    /// Path where the LDAP authentication backend is mounted in Vault, e.g: "ldap"
    #[serde(default = "default_ldap_path")]
    pub path: String,

    /// Username is an LDAP username.
    pub username: String,

    /// SecretRef to a key in a Secret resource containing password for the LDAP user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeySelector>,
}

/// VaultKubernetesServiceAccountTokenAuth authenticates with a token minted by the `TokenRequest` API.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultKubernetesServiceAccountTokenAuth {
    /// The ServiceAccount to request a token for.
    pub service_account_ref: ServiceAccountSelector,

    /// Audiences of the token (default `vault`). Deprecated: use serviceAccountRef.audiences instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audiences: Option<Vec<String>>,

    /// Lifetime of the token in seconds (default 10 minutes). Deprecated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_seconds: Option<i64>,
}

/// VaultJwtAuth authenticates with Vault using the JWT/OIDC authentication method.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
// ESO lists the defaulted mount path as required too (a default alone would drop it from `required`).
#[schemars(extend("required" = ["path"]))]
pub struct VaultJwtAuth {
    /// Path where the JWT authentication backend is mounted in Vault, e.g: "jwt"
    #[serde(default = "default_jwt_path")]
    pub path: String,

    /// Role is a JWT role to authenticate using the JWT/OIDC Vault authentication method
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub role: String,

    /// A Secret key holding the JWT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeySelector>,

    /// A ServiceAccount to request the JWT for with the `TokenRequest` API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_service_account_token: Option<VaultKubernetesServiceAccountTokenAuth>,
}

/// VaultCertAuth authenticates with Vault using the TLS certificate authentication method.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultCertAuth {
    /// Path where the Certificate authentication backend is mounted in Vault, e.g: "cert"
    #[serde(default = "default_cert_path")]
    pub path: String,

    /// VaultRole specifies the Vault role to use for TLS certificate authentication.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub vault_role: String,

    /// ClientCert is a certificate to authenticate using the Cert Vault authentication method
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<SecretKeySelector>,

    /// SecretRef to a key in a Secret resource containing the client private key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeySelector>,
}

/// VaultIamAuth authenticates with Vault using Vault's AWS IAM authentication method.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultIamAuth {
    /// Path where the AWS auth method is enabled in Vault, e.g: "aws"
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,

    /// AWS region
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub region: String,

    /// This is the AWS role to be assumed before talking to vault
    #[serde(default, rename = "role", skip_serializing_if = "String::is_empty")]
    pub aws_iam_role: String,

    /// Vault Role.
    #[serde(rename = "vaultRole")]
    pub role: String,

    /// AWS External ID set on assumed IAM roles
    #[serde(default, rename = "externalID", skip_serializing_if = "String::is_empty")]
    pub external_id: String,

    /// The X-Vault-AWS-IAM-Server-ID header value.
    #[serde(default, rename = "vaultAwsIamServerID", skip_serializing_if = "String::is_empty")]
    pub vault_aws_iam_server_id: String,

    /// Specify credentials in a Secret object
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<AwsAuthSecretRef>,

    /// Specify a service account with IRSA enabled
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<AwsJwtAuth>,
}

/// VaultUserPassAuth authenticates with Vault using the UserPass authentication method.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
// ESO lists the defaulted mount path as required too (a default alone would drop it from `required`).
#[schemars(extend("required" = ["path", "username"]))]
pub struct VaultUserPassAuth {
    /// Path where the UserPassword authentication backend is mounted in Vault, e.g: "userpass"
    #[serde(default = "default_userpass_path")]
    pub path: String,

    /// Username is a username used to authenticate using the UserPass Vault authentication method
    pub username: String,

    /// SecretRef to a key in a Secret resource containing the user's password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeySelector>,
}

/// VaultGCPAuth authenticates with Vault using the Google Cloud Platform authentication method.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultGcpAuth {
    /// Path where the GCP auth method is enabled in Vault, e.g: "gcp"
    #[serde(default = "default_gcp_path")]
    pub path: String,

    /// Vault Role.
    pub role: String,

    /// Project ID of the Google Cloud Platform project
    #[serde(default, rename = "projectID", skip_serializing_if = "String::is_empty")]
    pub project_id: String,

    /// Location optionally defines a location/region for the secret
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub location: String,

    /// Specify credentials in a Secret object (ESO's `GCPSMAuthSecretRef`, kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::open_object")]
    pub secret_ref: Option<serde_json::Value>,

    /// Specify a service account with Workload Identity (ESO's `GCPWorkloadIdentity`, kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::open_object")]
    pub workload_identity: Option<serde_json::Value>,

    /// ServiceAccountRef to a service account for impersonation
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_ref: Option<ServiceAccountSelector>,
}

/// VaultCheckAndSet defines the Check-And-Set (CAS) settings for Vault KV v2 PushSecret operations.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultCheckAndSet {
    /// Required when true, all write operations must include a check-and-set parameter.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_esos() {
        let spec: VaultProvider = serde_json::from_value(serde_json::json!({
            "server": "http://vault:8200",
            "auth": {
                "appRole": {"secretRef": {"name": "s", "key": "k"}},
                "kubernetes": {"role": "r"},
                "userPass": {"username": "u"},
                "jwt": {},
                "cert": {},
                "ldap": {"username": "u"},
            },
        }))
        .unwrap();
        assert_eq!(spec.version, VaultKvStoreVersion::V2);
        assert_eq!(spec.path, None);
        let auth = spec.auth.unwrap();
        assert_eq!(auth.app_role.unwrap().path, "approle");
        assert_eq!(auth.kubernetes.unwrap().path, "kubernetes");
        assert_eq!(auth.user_pass.unwrap().path, "userpass");
        assert_eq!(auth.jwt.unwrap().path, "jwt");
        assert_eq!(auth.cert.unwrap().path, "cert");
        assert_eq!(auth.ldap.unwrap().path, "ldap");
    }

    #[test]
    fn esos_field_names_round_trip() {
        let written = serde_json::json!({
            "server": "https://vault:8200",
            "path": "secret",
            "version": "v1",
            "namespace": "ns1",
            "tls": {"certSecretRef": {"name": "c"}},
            "readYourWrites": true,
            "forwardInconsistent": true,
            "headers": {"X-A": "b"},
            "checkAndSet": {"required": true},
            "auth": {
                "namespace": "admin",
                "appRole": {"path": "approle", "roleId": "id", "secretRef": {"name": "s", "key": "k"}},
                "kubernetes": {"mountPath": "k8s", "role": "r", "serviceAccountRef": {"name": "sa"}},
                "iam": {"vaultRole": "vr", "role": "arn", "externalID": "x", "vaultAwsIamServerID": "id"},
                "gcp": {"path": "gcp", "role": "r", "projectID": "p", "workloadIdentity": {"clusterName": "c"}},
            },
        });
        let spec: VaultProvider = serde_json::from_value(written.clone()).unwrap();
        assert_eq!(serde_json::to_value(&spec).unwrap(), written);
    }
}
