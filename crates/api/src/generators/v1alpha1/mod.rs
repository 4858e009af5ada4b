//! generators.external-secrets.io/v1alpha1: one kind per generator, `ClusterGenerator` (any generator's spec,
//! cluster scoped) and `GeneratorState`.
//!
//! ESO declares a status subresource on every generator but no status field; [`crate::schema::finalize`]
//! adds the subresource so that the CRDs match.
//!
//! Generators that this operator implements next (`Password`, `UUID`, `Fake`, `SSHKey`,
//! `ECRAuthorizationToken`, `STSSessionToken`, `Webhook`, `ClusterGenerator`, `GeneratorState`) are typed in
//! full. The others are typed down to the parts that reference a SecretStore provider this crate does not model
//! (Vault, BeyondTrust, GCP workload identity federation); those are open objects, listed in
//! `docs/compatibility.md`.

mod aws;
mod cluster;
mod dynamic;
mod password;
mod simple;
mod ssh_key;
mod state;
mod tokens;
mod webhook;

pub use aws::*;
pub use cluster::*;
pub use dynamic::*;
pub use password::*;
pub use simple::*;
pub use ssh_key::*;
pub use state::*;
pub use tokens::*;
pub use webhook::*;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::{DNS_SUBDOMAIN_PATTERN, SECRET_KEY_PATTERN};

/// The version name.
pub const VERSION: &str = "v1alpha1";

/// A Secret and key in the generator's namespace (ESO's generators-package `SecretKeySelector`, without
/// `namespace`), used by `Webhook` and `Grafana`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GeneratorSecretKeySelector {
    /// The Secret's name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(min = 1, max = 253), pattern(DNS_SUBDOMAIN_PATTERN))]
    pub name: String,

    /// The key.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(min = 1, max = 253), pattern(SECRET_KEY_PATTERN))]
    pub key: String,
}
