//! The CRD types of API group `external-secrets.io`: `ExternalSecret`, `SecretStore` and `ClusterSecretStore`,
//! field for field as in the External Secrets Operator (ESO 2.9.0), and the CRDs generated from them.
//!
//! - [`v1`] is the served storage version and holds the canonical types; everything in it is re-exported here.
//! - [`v1beta1`] is also served, with the same schema, for manifests written before ESO 0.16.
//! - [`crds`] / [`crds_yaml`] give the three CRDs, each with both versions, as they are installed
//!   (`deploy/crds/bundle.yaml` is generated from them).
//!
//! Fields the API server defaults (`refreshInterval`, `target.creationPolicy`, `engineVersion`, ...) are plain
//! values with the same default in serde, `Default` and the schema; every other optional field is an `Option`
//! (or an empty collection) that is never serialized when unset, so server-side apply writes no `null`s.
//! No IO happens here.

#![warn(missing_docs)]

mod kind;
pub mod meta;
mod schema;
pub mod v1;
pub mod v1beta1;

pub use meta::{SecretKeySelector, ServiceAccountSelector};
pub use v1::*;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::core::CustomResourceExt;

/// The API group of all kinds here.
pub const GROUP: &str = "external-secrets.io";

/// The label every ESO CRD carries (`external-secrets.io/component: controller`); ESO's cert-controller finds
/// CRDs by it.
pub const CRD_COMPONENT_LABEL: (&str, &str) = ("external-secrets.io/component", "controller");

/// Condition types used in `status.conditions`.
pub mod condition_type {
    /// The object is usable (ExternalSecret: synced; store: validated).
    pub const READY: &str = "Ready";
    /// The ExternalSecret's target was deleted.
    pub const DELETED: &str = "Deleted";
}

/// Condition reasons ESO sets; users alert on these, so they are kept verbatim.
pub mod reason {
    /// ExternalSecret: the target was written (`Ready=True`).
    pub const SECRET_SYNCED: &str = "SecretSynced";
    /// ExternalSecret: the sync failed (`Ready=False`).
    pub const SECRET_SYNCED_ERROR: &str = "SecretSyncedError";
    /// ExternalSecret: the target was deleted under `deletionPolicy: Delete` (`Ready=True`).
    pub const SECRET_DELETED: &str = "SecretDeleted";
    /// ExternalSecret: the target does not exist and `creationPolicy: Merge` does not create it (`Ready=True`).
    pub const SECRET_MISSING: &str = "SecretMissing";
    /// ExternalSecret with a `manifest` target: the resource was written.
    pub const RESOURCE_SYNCED: &str = "ResourceSynced";
    /// ExternalSecret with a `manifest` target: the sync failed.
    pub const RESOURCE_SYNCED_ERROR: &str = "ResourceSyncedError";
    /// ExternalSecret with a `manifest` target: the resource was deleted.
    pub const RESOURCE_DELETED: &str = "ResourceDeleted";
    /// ExternalSecret with a `manifest` target: the resource is missing.
    pub const RESOURCE_MISSING: &str = "ResourceMissing";
    /// Store: validated (`Ready=True`).
    pub const STORE_VALID: &str = "Valid";
    /// Store: the client could not be built or validation failed (`Ready=False`).
    pub const INVALID_PROVIDER_CONFIG: &str = "InvalidProviderConfig";
    /// Store: validation could not tell (`Ready=True`).
    pub const VALIDATION_UNKNOWN: &str = "ValidationUnknown";
}

/// The three CRDs (`clustersecretstores`, `externalsecrets`, `secretstores`, in that order), each serving v1
/// (storage) and v1beta1, ready to install.
pub fn crds() -> Vec<CustomResourceDefinition> {
    let mut crds = vec![
        kind::merge(v1::ClusterSecretStore::crd(), v1beta1::ClusterSecretStore::crd()),
        kind::merge(v1::ExternalSecret::crd(), v1beta1::ExternalSecret::crd()),
        kind::merge(v1::SecretStore::crd(), v1beta1::SecretStore::crd()),
    ];
    crds.iter_mut().for_each(schema::finalize);
    crds
}

/// [`crds`] as one multi-document YAML text (each document starts with `---`), byte-for-byte deterministic.
///
/// Serializing a CRD to YAML cannot fail in practice (all map keys are strings); should it ever, the document
/// is replaced by a line `error: ...`, which `kubectl apply` rejects, rather than the caller panicking.
pub fn crds_yaml() -> String {
    crds()
        .iter()
        .map(|crd| {
            let doc = serde_yaml::to_string(crd).unwrap_or_else(|err| format!("error: {err:?}\n"));
            format!("---\n{doc}")
        })
        .collect()
}
