//! The CRD types of every kind the External Secrets Operator (ESO 2.9.0) installs, field for field, and the CRDs
//! generated from them.
//!
//! - [`v1`] (external-secrets.io) is the served storage version of `ExternalSecret`, `SecretStore`,
//!   `ClusterSecretStore` and `ClusterExternalSecret`, and holds the canonical types; everything in it is
//!   re-exported here.
//! - [`v1beta1`] is also served, with the same schema, for manifests written before ESO 0.16.
//! - [`v1alpha1`] holds `PushSecret` and `ClusterPushSecret`, which exist only at that version.
//! - [`generators::v1alpha1`] holds the generators (generators.external-secrets.io) and `GeneratorState`.
//! - [`crds`] / [`crds_yaml`] give the CRDs of all 25 kinds as they are installed (`deploy/crds/bundle.yaml`
//!   and the chart's CRD files are generated from them).
//! - [`duration`] reads and prints Go duration strings, the format of the API's duration fields.
//!
//! Fields the API server defaults (`refreshInterval`, `target.creationPolicy`, `engineVersion`, ...) are plain
//! values with the same default in serde, `Default` and the schema; every other optional field is an `Option`
//! (or an empty collection) that is never serialized when unset, so server-side apply writes no `null`s.
//! No IO happens here.

#![warn(missing_docs)]

pub mod duration;
pub mod generators;
mod kind;
pub mod meta;
mod schema;
pub mod v1;
pub mod v1alpha1;
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

/// The CRDs of all 25 kinds ESO 2.9.0 installs, sorted by name, ready to install: the four v1 kinds of
/// external-secrets.io also serve v1beta1; `PushSecret`/`ClusterPushSecret` and the generators serve v1alpha1.
pub fn crds() -> Vec<CustomResourceDefinition> {
    use generators::v1alpha1 as generator;
    use schema::set_status_subresource as status;

    let mut crds = vec![
        kind::merge(v1::ClusterExternalSecret::crd(), v1beta1::ClusterExternalSecret::crd()),
        kind::merge(v1::ClusterSecretStore::crd(), v1beta1::ClusterSecretStore::crd()),
        kind::merge(v1::ExternalSecret::crd(), v1beta1::ExternalSecret::crd()),
        kind::merge(v1::SecretStore::crd(), v1beta1::SecretStore::crd()),
        v1alpha1::PushSecret::crd(),
        v1alpha1::ClusterPushSecret::crd(),
        status(generator::AcrAccessToken::crd(), true),
        status(generator::BeyondtrustWorkloadCredentialsDynamicSecret::crd(), true),
        status(generator::CloudsmithAccessToken::crd(), true),
        status(generator::ClusterGenerator::crd(), true),
        status(generator::EcrAuthorizationToken::crd(), true),
        status(generator::Fake::crd(), true),
        status(generator::GcrAccessToken::crd(), true),
        status(generator::GeneratorState::crd(), false),
        status(generator::GithubAccessToken::crd(), true),
        status(generator::GitlabDeployToken::crd(), true),
        status(generator::Grafana::crd(), true),
        status(generator::Mfa::crd(), true),
        status(generator::Password::crd(), true),
        status(generator::QuayAccessToken::crd(), true),
        status(generator::SshKey::crd(), true),
        status(generator::StsSessionToken::crd(), true),
        status(generator::Uuid::crd(), true),
        status(generator::VaultDynamicSecret::crd(), true),
        status(generator::Webhook::crd(), true),
    ];
    crds.iter_mut().for_each(schema::finalize);
    crds.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
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
