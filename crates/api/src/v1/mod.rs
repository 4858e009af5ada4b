//! external-secrets.io/v1: the served storage version, and the canonical Rust types (re-exported at the crate
//! root). The v1beta1 kinds reuse these spec and status types.

mod cluster_external_secret;
mod external_secret;
mod provider;
mod secret_store;

pub use cluster_external_secret::*;
pub use external_secret::*;
pub use provider::*;
pub use secret_store::*;

use kube::core::ClusterResourceScope;

use crate::kind::{KindNames, relabel, shared_spec_kind};

shared_spec_kind! {
    /// ClusterSecretStore represents a secure external location for storing secrets, which can be referenced as
    /// part of `storeRef` fields. Cluster scoped; it shares [`SecretStoreSpec`] and [`SecretStoreStatus`] with
    /// [`SecretStore`].
    pub struct ClusterSecretStore {
        spec: SecretStoreSpec,
        status: SecretStoreStatus,
    }
    version = "v1",
    kind = "ClusterSecretStore",
    plural = "clustersecretstores",
    shortname = "css",
    scope = ClusterResourceScope,
    crd = relabel(SecretStore::crd(), &CLUSTER_SECRET_STORE_NAMES),
}

const CLUSTER_SECRET_STORE_NAMES: KindNames = KindNames {
    kind: "ClusterSecretStore",
    plural: "clustersecretstores",
    shortname: "css",
    scope: "Cluster",
    description: "ClusterSecretStore represents a secure external location for storing secrets, which can be \
                  referenced as part of `storeRef` fields.",
};
