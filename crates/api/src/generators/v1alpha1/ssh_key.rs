//! The `SSHKey` generator: an SSH key pair.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// SshKeySpec says which kind of key pair to generate.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[kube(
    group = "generators.external-secrets.io",
    version = "v1alpha1",
    kind = "SSHKey",
    root = "SshKey",
    plural = "sshkeys",
    namespaced,
    derive = "PartialEq",
    category = "external-secrets",
    category = "external-secrets-generators",
    label("external-secrets.io/component", "controller"),
    doc = "SSHKey generates an SSH key pair (keys `privateKey` and `publicKey`)."
)]
#[serde(rename_all = "camelCase")]
pub struct SshKeySpec {
    /// The key type. Defaults to `rsa`.
    #[serde(default)]
    pub key_type: SshKeyType,

    /// The key size: RSA 2048 (default), 3072 or 4096; ECDSA 256 (default), 384 or 521; ignored for ed25519.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 256, max = 8192))]
    pub key_size: Option<i64>,

    /// A comment appended to the public key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// SSH key types.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SshKeyType {
    /// RSA (the default).
    #[default]
    Rsa,
    /// ECDSA.
    Ecdsa,
    /// Ed25519.
    Ed25519,
}
