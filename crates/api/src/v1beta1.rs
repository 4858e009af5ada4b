//! external-secrets.io/v1beta1: served (not stored) for manifests written before ESO 0.16, deprecated.
//!
//! The kinds here carry the v1 spec and status types unchanged. v1beta1 is a structural subset of v1 (v1 only
//! adds fields and enum values; no field was renamed), so the CRD serves it with the v1 schema and no
//! conversion webhook: the API server stores v1 and only rewrites `apiVersion`. Converting between the two
//! Rust types is therefore just moving the fields ([`From`] impls below).

use kube::core::{ClusterResourceScope, NamespaceResourceScope};

use crate::kind::{as_version, shared_spec_kind};
use crate::v1;

/// The version name.
pub const VERSION: &str = "v1beta1";

shared_spec_kind! {
    /// An [`v1::ExternalSecret`] read or written as external-secrets.io/v1beta1.
    pub struct ExternalSecret {
        spec: v1::ExternalSecretSpec,
        status: v1::ExternalSecretStatus,
    }
    version = "v1beta1",
    kind = "ExternalSecret",
    plural = "externalsecrets",
    shortname = "es",
    scope = NamespaceResourceScope,
    crd = as_version(v1::ExternalSecret::crd(), VERSION),
}

shared_spec_kind! {
    /// A [`v1::SecretStore`] read or written as external-secrets.io/v1beta1.
    pub struct SecretStore {
        spec: v1::SecretStoreSpec,
        status: v1::SecretStoreStatus,
    }
    version = "v1beta1",
    kind = "SecretStore",
    plural = "secretstores",
    shortname = "ss",
    scope = NamespaceResourceScope,
    crd = as_version(v1::SecretStore::crd(), VERSION),
}

shared_spec_kind! {
    /// A [`v1::ClusterSecretStore`] read or written as external-secrets.io/v1beta1.
    pub struct ClusterSecretStore {
        spec: v1::SecretStoreSpec,
        status: v1::SecretStoreStatus,
    }
    version = "v1beta1",
    kind = "ClusterSecretStore",
    plural = "clustersecretstores",
    shortname = "css",
    scope = ClusterResourceScope,
    crd = as_version(v1::ClusterSecretStore::crd(), VERSION),
}

shared_spec_kind! {
    /// A [`v1::ClusterExternalSecret`] read or written as external-secrets.io/v1beta1.
    pub struct ClusterExternalSecret {
        spec: v1::ClusterExternalSecretSpec,
        status: v1::ClusterExternalSecretStatus,
    }
    version = "v1beta1",
    kind = "ClusterExternalSecret",
    plural = "clusterexternalsecrets",
    shortname = "ces",
    scope = ClusterResourceScope,
    crd = as_version(v1::ClusterExternalSecret::crd(), VERSION),
}

/// `From` both ways between a v1beta1 kind and its v1 kind: the same metadata, spec and status.
macro_rules! convert_same_schema {
    ($($kind:ident),* $(,)?) => {
        $(
            impl From<v1::$kind> for $kind {
                fn from(object: v1::$kind) -> Self {
                    Self { metadata: object.metadata, spec: object.spec, status: object.status }
                }
            }

            impl From<$kind> for v1::$kind {
                fn from(object: $kind) -> Self {
                    Self { metadata: object.metadata, spec: object.spec, status: object.status }
                }
            }
        )*
    };
}

convert_same_schema!(ExternalSecret, SecretStore, ClusterSecretStore, ClusterExternalSecret);
