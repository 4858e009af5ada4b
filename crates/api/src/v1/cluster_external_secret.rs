//! `ClusterExternalSecret` (external-secrets.io/v1): one ExternalSecret spec, stamped into every selected
//! namespace.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::{DNS_LABEL_PATTERN, DNS_SUBDOMAIN_PATTERN};
use crate::v1::ExternalSecretSpec;

/// ClusterExternalSecretSpec: the ExternalSecret to create, and in which namespaces.
// The printcolumn(...) lists repeat `type_ = "string"`, which clippy mistakes for duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "external-secrets.io",
    version = "v1",
    kind = "ClusterExternalSecret",
    status = "ClusterExternalSecretStatus",
    derive = "PartialEq",
    shortname = "ces",
    category = "external-secrets",
    label("external-secrets.io/component", "controller"),
    doc = "ClusterExternalSecret is the Schema for the clusterexternalsecrets API.",
    printcolumn(name = "Store", type_ = "string", json_path = ".spec.externalSecretSpec.secretStoreRef.name"),
    printcolumn(name = "Refresh Interval", type_ = "string", json_path = ".spec.refreshTime"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status")
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterExternalSecretSpec {
    /// The spec of the ExternalSecrets to create.
    pub external_secret_spec: ExternalSecretSpec,

    /// The name of the ExternalSecrets to create; unset means the ClusterExternalSecret's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), pattern(DNS_SUBDOMAIN_PATTERN))]
    pub external_secret_name: Option<String>,

    /// Labels and annotations of the ExternalSecrets to create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_secret_metadata: Option<ExternalSecretMetadata>,

    /// Selects the namespaces by label. Deprecated: use `namespaceSelectors`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,

    /// Selects the namespaces by label; the selectors are ORed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespace_selectors: Vec<LabelSelector>,

    /// Selects namespaces by name, ORed with the selectors. Deprecated: use `namespaceSelectors`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(length(min = 1, max = 63), pattern(DNS_LABEL_PATTERN)))]
    pub namespaces: Vec<String>,

    /// How often the namespaces are checked again and the ExternalSecrets reconciled (a Go duration string).
    #[serde(default, rename = "refreshTime", skip_serializing_if = "Option::is_none")]
    pub refresh_interval: Option<String>,
}

/// ExternalSecretMetadata: labels and annotations of the ExternalSecrets a ClusterExternalSecret creates.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretMetadata {
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,

    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// ClusterExternalSecretStatus: where the ExternalSecrets were created, and where not.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterExternalSecretStatus {
    /// The name of the ExternalSecrets created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_secret_name: Option<String>,

    /// The namespaces where creating the ExternalSecret failed, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_namespaces: Vec<ClusterExternalSecretNamespaceFailure>,

    /// The namespaces that have the ExternalSecret.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provisioned_namespaces: Vec<String>,

    /// The conditions (`Ready`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ClusterExternalSecretStatusCondition>,
}

/// A namespace where the ExternalSecret could not be applied.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterExternalSecretNamespaceFailure {
    /// The namespace.
    pub namespace: String,

    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A condition of a ClusterExternalSecret (ESO's has no reason and no transition time).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterExternalSecretStatusCondition {
    /// The condition type (`Ready`).
    #[serde(rename = "type")]
    pub type_: String,

    /// `True`, `False` or `Unknown`.
    pub status: String,

    /// A human-readable message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
