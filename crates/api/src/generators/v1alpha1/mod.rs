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

/// The version name.
pub const VERSION: &str = "v1alpha1";
