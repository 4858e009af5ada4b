//! `PushSecret` (push a Kubernetes Secret, or generated values, to one or more stores) and `ClusterPushSecret`
//! (one PushSecret spec, stamped into every selected namespace).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::{DNS_LABEL_PATTERN, DNS_SUBDOMAIN_PATTERN};
use crate::schema;
use crate::v1::{
    ExternalSecretRewriteRegexp, ExternalSecretRewriteTransform, ExternalSecretTemplate, GeneratorRef, SecretStoreKind,
};

/// The `refreshInterval` the API server fills in when a PushSecret does not set one.
pub const DEFAULT_PUSH_REFRESH_INTERVAL: &str = "1h0m0s";

/// Condition reasons of a PushSecret's `Ready` condition.
pub mod push_reason {
    /// Every entry was pushed (`Ready=True`).
    pub const SYNCED: &str = "Synced";
    /// A push failed (`Ready=False`).
    pub const ERRORED: &str = "Errored";
    /// The source Secret was deleted and the pushed secrets were cleaned up.
    pub const SOURCE_DELETED: &str = "SourceDeleted";
}

/// PushSecretSpec: what to push (`selector`, `data`, `dataTo`, `template`), where (`secretStoreRefs`), and the
/// update and deletion policies.
// The printcolumn(...) lists repeat `type_`, which clippy mistakes for duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "external-secrets.io",
    version = "v1alpha1",
    kind = "PushSecret",
    namespaced,
    status = "PushSecretStatus",
    derive = "PartialEq",
    shortname = "ps",
    category = "external-secrets",
    label("external-secrets.io/component", "controller"),
    doc = "PushSecret is the Schema for the PushSecrets API that enables pushing Kubernetes secrets to external \
           secret providers.",
    printcolumn(name = "AGE", type_ = "date", json_path = ".metadata.creationTimestamp"),
    printcolumn(name = "Status", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].reason"),
    printcolumn(name = "Last Sync", type_ = "date", json_path = ".status.refreshTime")
)]
#[serde(rename_all = "camelCase")]
pub struct PushSecretSpec {
    /// How often the secrets are pushed again (a Go duration string). Defaults to 1h0m0s.
    #[serde(default = "default_refresh_interval")]
    pub refresh_interval: String,

    /// The stores to push to.
    pub secret_store_refs: Vec<PushSecretStoreRef>,

    /// `Replace` (the default) overwrites the provider's secret; `IfNotExists` only creates it.
    #[serde(default)]
    pub update_policy: PushSecretUpdatePolicy,

    /// `None` (the default) leaves the provider's secrets when entries or the PushSecret go away; `Delete`
    /// deletes them.
    #[serde(default)]
    pub deletion_policy: PushSecretDeletionPolicy,

    /// The source: a Secret of this namespace, or a generator.
    pub selector: PushSecretSelector,

    /// Source keys mapped one by one to provider secrets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<PushSecretData>,

    /// Bulk rules that expand the source's keys into provider secrets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_to: Vec<PushSecretDataTo>,

    /// A template applied to the source before pushing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<ExternalSecretTemplate>,
}

impl Default for PushSecretSpec {
    fn default() -> Self {
        Self {
            refresh_interval: default_refresh_interval(),
            secret_store_refs: Vec::new(),
            update_policy: PushSecretUpdatePolicy::default(),
            deletion_policy: PushSecretDeletionPolicy::default(),
            selector: PushSecretSelector::default(),
            data: Vec::new(),
            data_to: Vec::new(),
            template: None,
        }
    }
}

fn default_refresh_interval() -> String {
    DEFAULT_PUSH_REFRESH_INTERVAL.to_string()
}

/// PushSecretStoreRef: a store by name, or stores by label.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushSecretStoreRef {
    /// The store's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), pattern(DNS_SUBDOMAIN_PATTERN))]
    pub name: Option<String>,

    /// Selects stores by label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,

    /// `SecretStore` (the default) or `ClusterSecretStore`.
    #[serde(default)]
    pub kind: SecretStoreKind,
}

/// PushSecretUpdatePolicy: what to do when the provider's secret exists.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum PushSecretUpdatePolicy {
    /// Overwrite it (the default).
    #[default]
    Replace,
    /// Leave it as it is.
    IfNotExists,
}

/// PushSecretDeletionPolicy: what happens to pushed secrets when they are no longer pushed.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum PushSecretDeletionPolicy {
    /// Delete them from the provider.
    Delete,
    /// Keep them (the default).
    #[default]
    None,
}

/// PushSecretConversionStrategy: how key names are converted before pushing.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum PushSecretConversionStrategy {
    /// No conversion (the default).
    #[default]
    None,
    /// Undo ESO's `Unicode` key conversion (`_U<hex>_` back to the character).
    ReverseUnicode,
}

/// PushSecretSelector: exactly one source.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct PushSecretSelector {
    /// A Secret of the PushSecret's namespace, by name or label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<PushSecretSecret>,

    /// A generator whose output is pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_ref: Option<GeneratorRef>,
}

/// PushSecretSecret: the source Secret(s).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushSecretSecret {
    /// The Secret's name (in the PushSecret's namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), pattern(DNS_SUBDOMAIN_PATTERN))]
    pub name: Option<String>,

    /// Selects Secrets by label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

/// PushSecretData: one source key and where it goes.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushSecretData {
    /// The source key and the remote location.
    #[serde(rename = "match")]
    pub match_: PushSecretMatch,

    /// Provider-specific metadata attached to the pushed secret, any JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::any_json")]
    pub metadata: Option<serde_json::Value>,

    /// How key names are converted. Defaults to `None`.
    #[serde(default)]
    pub conversion_strategy: PushSecretConversionStrategy,
}

/// PushSecretMatch: a source key (or the whole Secret) and its remote location.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushSecretMatch {
    /// The source key; unset pushes the whole Secret as one JSON value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<String>,

    /// Where it goes in the provider.
    pub remote_ref: PushSecretRemoteRef,
}

/// PushSecretRemoteRef: the provider secret and, optionally, a property in it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushSecretRemoteRef {
    /// The provider secret's name.
    pub remote_key: String,

    /// A property in the provider secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
}

/// PushSecretDataTo: push many source keys to one store without listing them.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "has(self.storeRef) && (has(self.storeRef.name) || has(self.storeRef.labelSelector))",
        "message": "storeRef must specify either name or labelSelector",
    },
    {
        "rule": "!has(self.remoteKey) || !has(self.rewrite) || size(self.rewrite) == 0",
        "message": "remoteKey and rewrite are mutually exclusive: rewrite is only supported in per-key mode \
                    (without remoteKey)",
    },
]))]
pub struct PushSecretDataTo {
    /// The store to push to (required by the validation rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_ref: Option<PushSecretStoreRef>,

    /// Push all matched keys as one JSON object to this provider secret; unset pushes each key on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_key: Option<String>,

    /// Which source keys; unset means all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "match")]
    pub match_: Option<PushSecretDataToMatch>,

    /// Key rewrites applied in order before pushing (per-key mode only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rewrite: Vec<PushSecretRewrite>,

    /// Provider-specific metadata attached to the pushed secrets, any JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::any_json")]
    pub metadata: Option<serde_json::Value>,

    /// How key names are converted. Defaults to `None`.
    #[serde(default)]
    pub conversion_strategy: PushSecretConversionStrategy,
}

/// PushSecretDataToMatch: which source keys a `dataTo` rule takes.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushSecretDataToMatch {
    /// Keys matching this regular expression; unset means all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regexp: Option<String>,
}

/// PushSecretRewrite: exactly one of a regexp or a template transform.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "(has(self.regexp) && !has(self.transform)) || (!has(self.regexp) && has(self.transform))",
    "message": "exactly one of regexp or transform must be set",
}]))]
pub struct PushSecretRewrite {
    /// Rewrite with a regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regexp: Option<ExternalSecretRewriteRegexp>,

    /// Rewrite with a template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<ExternalSecretRewriteTransform>,
}

/// PushSecretStatus: when it last pushed, what, and the `Ready` condition.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushSecretStatus {
    /// When the secrets were last pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_time: Option<Time>,

    /// The source's version that was last pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced_resource_version: Option<String>,

    /// What was pushed where: store name → remote key → the data entry.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub synced_push_secrets: BTreeMap<String, BTreeMap<String, PushSecretData>>,

    /// The conditions (`Ready`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<PushSecretStatusCondition>,
}

/// A condition of a PushSecret or ClusterPushSecret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushSecretStatusCondition {
    /// The condition type (`Ready`).
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// A CamelCase reason, e.g. `Synced`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A human-readable message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
}

/// ClusterPushSecretSpec: the PushSecret to create, and in which namespaces.
// The printcolumn(...) lists repeat `type_`, which clippy mistakes for duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "external-secrets.io",
    version = "v1alpha1",
    kind = "ClusterPushSecret",
    status = "ClusterPushSecretStatus",
    derive = "PartialEq",
    category = "external-secrets",
    label("external-secrets.io/component", "controller"),
    doc = "ClusterPushSecret is the Schema for the ClusterPushSecrets API that enables cluster-wide management of \
           pushing Kubernetes secrets to external providers.",
    printcolumn(name = "AGE", type_ = "date", json_path = ".metadata.creationTimestamp"),
    printcolumn(name = "Status", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].reason")
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterPushSecretSpec {
    /// The spec of the PushSecrets to create.
    pub push_secret_spec: PushSecretSpec,

    /// How often the namespaces are checked again (a Go duration string).
    #[serde(default, rename = "refreshTime", skip_serializing_if = "Option::is_none")]
    pub refresh_interval: Option<String>,

    /// The name of the PushSecrets to create; unset means the ClusterPushSecret's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), pattern(DNS_SUBDOMAIN_PATTERN))]
    pub push_secret_name: Option<String>,

    /// Labels and annotations of the PushSecrets to create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_secret_metadata: Option<PushSecretMetadata>,

    /// Selects the namespaces by label; the selectors are ORed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespace_selectors: Vec<LabelSelector>,
}

/// PushSecretMetadata: labels and annotations of the PushSecrets a ClusterPushSecret creates.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushSecretMetadata {
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// ClusterPushSecretCondition: namespaces chosen by label or name (ESO declares the type; no 2.9.0 field uses
/// it).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterPushSecretCondition {
    /// Choose namespaces by label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Choose namespaces by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(length(min = 1, max = 63), pattern(DNS_LABEL_PATTERN)))]
    pub namespaces: Vec<String>,
}

/// ClusterPushSecretStatus: where the PushSecrets were created, and where not.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterPushSecretStatus {
    /// The namespaces where creating the PushSecret failed, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_namespaces: Vec<ClusterPushSecretNamespaceFailure>,

    /// The namespaces that have the PushSecret.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provisioned_namespaces: Vec<String>,

    /// The name of the PushSecrets created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_secret_name: Option<String>,

    /// The conditions (`Ready`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<PushSecretStatusCondition>,
}

/// A namespace where the PushSecret could not be applied.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterPushSecretNamespaceFailure {
    /// The namespace.
    pub namespace: String,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
