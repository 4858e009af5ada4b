//! `ExternalSecret` (external-secrets.io/v1): what to read from which store, and the Secret to write it to.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::LocalObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::{DNS_SUBDOMAIN_PATTERN, SECRET_KEY_PATTERN};
use crate::schema;

/// The `refreshInterval` the API server fills in when an ExternalSecret does not set one.
pub const DEFAULT_REFRESH_INTERVAL: &str = "1h0m0s";

/// The only template engine (`engineVersion`) ESO supports since 0.16.
pub const TEMPLATE_ENGINE_V2: &str = "v2";

/// The `apiVersion` of a `generatorRef` when none is given.
pub const DEFAULT_GENERATOR_API_VERSION: &str = "generators.external-secrets.io/v1alpha1";

/// `templateFrom[].target` values understood for Secret targets (compared case-insensitively by ESO).
pub mod template_target {
    /// Render into the Secret's data (the default).
    pub const DATA: &str = "Data";
    /// Render into the Secret's annotations.
    pub const ANNOTATIONS: &str = "Annotations";
    /// Render into the Secret's labels.
    pub const LABELS: &str = "Labels";
}

/// The generator kinds a `generatorRef.kind` may name (v1 enum of ESO 2.9.0).
pub const GENERATOR_KINDS: [&str; 18] = [
    "ACRAccessToken",
    "BeyondtrustWorkloadCredentialsDynamicSecret",
    "ClusterGenerator",
    "CloudsmithAccessToken",
    "ECRAuthorizationToken",
    "Fake",
    "GCRAccessToken",
    "GithubAccessToken",
    "GitlabDeployToken",
    "QuayAccessToken",
    "Password",
    "SSHKey",
    "STSSessionToken",
    "UUID",
    "VaultDynamicSecret",
    "Webhook",
    "Grafana",
    "MFA",
];

/// ExternalSecretSpec defines the desired state of ExternalSecret.
// The printcolumn(...) lists repeat `type_ = "string"`, which clippy mistakes for duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "external-secrets.io",
    version = "v1",
    kind = "ExternalSecret",
    namespaced,
    status = "ExternalSecretStatus",
    derive = "PartialEq",
    shortname = "es",
    category = "external-secrets",
    label("external-secrets.io/component", "controller"),
    doc = "ExternalSecret is the Schema for the external-secrets API. It defines how to fetch data from external \
           APIs and make it available as Kubernetes Secrets.",
    printcolumn(name = "StoreType", type_ = "string", json_path = ".spec.secretStoreRef.kind"),
    printcolumn(name = "Store", type_ = "string", json_path = ".spec.secretStoreRef.name"),
    printcolumn(name = "Refresh Interval", type_ = "string", json_path = ".spec.refreshInterval"),
    printcolumn(name = "Status", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].reason"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Last Sync", type_ = "date", json_path = ".status.refreshTime"),
    selectable = ".spec.secretStoreRef.name",
    selectable = ".spec.secretStoreRef.kind",
    selectable = ".spec.target.name",
    selectable = ".spec.refreshInterval"
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "(has(self.data) && size(self.data) > 0) || (has(self.dataFrom) && size(self.dataFrom) > 0)",
    "message": "either data or dataFrom should be specified",
}]))]
pub struct ExternalSecretSpec {
    /// The store to read from, unless a `data[]`/`dataFrom[]` entry names its own `sourceRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_store_ref: Option<SecretStoreRef>,

    /// The Secret (or, with `manifest`, other resource) to write.
    #[serde(default)]
    pub target: ExternalSecretTarget,

    /// RefreshPolicy determines how the ExternalSecret should be refreshed:
    /// - CreatedOnce: Creates the Secret only if it does not exist and does not update it thereafter
    /// - Periodic: Synchronizes the Secret from the external source at regular intervals specified by
    ///   refreshInterval. No periodic updates occur if refreshInterval is 0.
    /// - OnChange: Only synchronizes the Secret when the ExternalSecret's metadata or specification changes
    ///
    /// Unset means `Periodic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_policy: Option<ExternalSecretRefreshPolicy>,

    /// RefreshInterval is the amount of time before the values are read again from the SecretStore provider,
    /// specified as Golang Duration strings.
    /// Valid time units are "ns", "us" (or "µs"), "ms", "s", "m", "h"
    /// Example values: "1h0m0s", "2h30m0s", "10m0s"
    /// May be set to "0s" to fetch and create it once. Defaults to 1h0m0s.
    #[serde(default = "default_refresh_interval")]
    pub refresh_interval: String,

    /// SyncWindows optionally restricts when periodic refreshes may occur.
    /// Evaluated in UTC, only for Periodic refresh policy (or when refreshPolicy is unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_windows: Option<ExternalSecretSyncWindows>,

    /// Data defines the connection between the Kubernetes Secret keys and the Provider data
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<ExternalSecretData>,

    /// DataFrom is used to fetch all properties from a specific Provider data
    /// If multiple entries are specified, the Secret keys are merged in the specified order
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_from: Vec<ExternalSecretDataFromRemoteRef>,
}

impl Default for ExternalSecretSpec {
    fn default() -> Self {
        Self {
            secret_store_ref: None,
            target: ExternalSecretTarget::default(),
            refresh_policy: None,
            refresh_interval: default_refresh_interval(),
            sync_windows: None,
            data: Vec::new(),
            data_from: Vec::new(),
        }
    }
}

fn default_refresh_interval() -> String {
    DEFAULT_REFRESH_INTERVAL.to_string()
}

/// SecretStoreRef defines which SecretStore to fetch the ExternalSecret data.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretStoreRef {
    /// Name of the SecretStore resource
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(min = 1, max = 253), pattern(DNS_SUBDOMAIN_PATTERN))]
    pub name: String,

    /// Kind of the SecretStore resource (SecretStore or ClusterSecretStore).
    /// Unset means `SecretStore`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<SecretStoreKind>,
}

impl SecretStoreRef {
    /// The kind this reference resolves to: unset means `SecretStore`, as in ESO.
    pub fn kind_or_default(&self) -> SecretStoreKind {
        self.kind.unwrap_or_default()
    }
}

/// The two kinds a `secretStoreRef` may point to.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema)]
pub enum SecretStoreKind {
    /// A namespaced `SecretStore` in the ExternalSecret's namespace.
    #[default]
    SecretStore,
    /// A cluster-scoped `ClusterSecretStore`.
    ClusterSecretStore,
}

impl SecretStoreKind {
    /// The Kubernetes kind name.
    pub fn as_str(self) -> &'static str {
        match self {
            SecretStoreKind::SecretStore => "SecretStore",
            SecretStoreKind::ClusterSecretStore => "ClusterSecretStore",
        }
    }
}

/// ExternalSecretRefreshPolicy defines how and when the ExternalSecret should be refreshed.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum ExternalSecretRefreshPolicy {
    /// Creates the Secret once and does not update it thereafter.
    CreatedOnce,
    /// Synchronizes the Secret from the provider at regular intervals (the behaviour when unset).
    #[default]
    Periodic,
    /// Only synchronizes when the ExternalSecret's metadata or spec changes.
    OnChange,
}

/// ExternalSecretSyncWindows optionally restricts when periodic syncs may occur.
/// All windows in the list share the same Kind.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretSyncWindows {
    /// Kind applies to every window in the list.
    /// "allow" -- syncs are permitted only while at least one window is active; all other times are blocked.
    /// "deny"  -- syncs are blocked while any window is active; all other times are permitted.
    pub kind: ExternalSecretSyncWindowKind,

    /// Windows is the list of schedule+duration pairs.
    #[schemars(length(min = 1))]
    pub windows: Vec<ExternalSecretSyncWindowEntry>,
}

/// ExternalSecretSyncWindowKind defines whether a SyncWindow permits or blocks periodic refreshes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExternalSecretSyncWindowKind {
    /// Periodic refreshes happen only while at least one window in the list is active.
    Allow,
    /// Periodic refreshes are blocked while any window in the list is active.
    Deny,
}

/// ExternalSecretSyncWindowEntry defines a single cron-schedule + duration pair within a SyncWindows block.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretSyncWindowEntry {
    /// Schedule is a standard 5-field cron expression evaluated in UTC, or a named shorthand such as @daily or
    /// @every 1h. It marks the start time of each window occurrence.
    /// Example: "0 22 * * 1-5" opens a window every weekday at 22:00 UTC.
    #[schemars(
        length(min = 1),
        pattern(r"^(@(annually|yearly|monthly|weekly|daily|midnight|hourly)|@every [^\s]+.*|[^\s]+( [^\s]+){4})$")
    )]
    pub schedule: String,

    /// Duration specifies how long the window stays open after each Schedule firing (a Go duration, e.g. "8h").
    pub duration: String,
}

/// ExternalSecretTarget defines the Kubernetes Secret to be created,
/// there can be only one target per ExternalSecret.
///
/// The schema rejects deletion policies that would touch a Secret the controller does not own (ESO's webhook
/// rules, as CEL so they hold with the webhook off).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!(has(self.deletionPolicy) && self.deletionPolicy == 'Delete' && has(self.creationPolicy) \
                 && self.creationPolicy in ['Merge', 'None', 'CreateOrMerge'])",
        "message": "deletionPolicy=Delete must not be used when the controller doesn't own the secret. \
                    Please set creationPolicy=Owner",
    },
    {
        "rule": "!(has(self.deletionPolicy) && self.deletionPolicy == 'Merge' && has(self.creationPolicy) \
                 && self.creationPolicy == 'None')",
        "message": "deletionPolicy=Merge must not be used with creationPolicy=None. There is no Secret to merge with",
    },
]))]
pub struct ExternalSecretTarget {
    /// The name of the Secret resource to be managed.
    /// Defaults to the .metadata.name of the ExternalSecret resource
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), pattern(DNS_SUBDOMAIN_PATTERN))]
    pub name: Option<String>,

    /// CreationPolicy defines rules on how to create the resulting Secret.
    /// Defaults to "Owner"
    #[serde(default)]
    pub creation_policy: ExternalSecretCreationPolicy,

    /// DeletionPolicy defines rules on how to delete the resulting Secret.
    /// Defaults to "Retain"
    #[serde(default)]
    pub deletion_policy: ExternalSecretDeletionPolicy,

    /// Template defines a blueprint for the created Secret resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<ExternalSecretTemplate>,

    /// Manifest defines a custom Kubernetes resource to create instead of a Secret.
    /// When specified, ExternalSecret will create the resource type defined here
    /// (e.g., ConfigMap, Custom Resource) instead of a Secret.
    /// Warning: Using Generic target. Make sure access policies and encryption are properly configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<ManifestReference>,

    /// Immutable defines if the final secret will be immutable
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub immutable: bool,
}

/// ExternalSecretCreationPolicy defines rules on how to create the resulting Secret.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum ExternalSecretCreationPolicy {
    /// Creates the Secret and sets .metadata.ownerReferences to the ExternalSecret resource.
    #[default]
    Owner,
    /// Creates the Secret and does not set the ownerReference.
    /// I.e. it will be orphaned after the deletion of the ExternalSecret.
    Orphan,
    /// Does not create the Secret, but merges the data fields to the Secret.
    Merge,
    /// Does not create a Secret (future use with injector).
    None,
    /// Creates the Secret if it is missing and merges data fields into it if it exists, without an
    /// ownerReference. A deleted target is recreated while the ExternalSecret exists, and the Secret is
    /// retained when the ExternalSecret is deleted.
    CreateOrMerge,
}

/// ExternalSecretDeletionPolicy defines rules on how to delete the resulting Secret.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum ExternalSecretDeletionPolicy {
    /// Deletes the secret if all provider secrets are deleted.
    /// If a secret gets deleted on the provider side and is not accessible
    /// anymore this is not considered an error and the ExternalSecret
    /// does not go into SecretSyncedError status.
    Delete,
    /// Removes keys in the secret, but not the secret itself.
    /// If a secret gets deleted on the provider side and is not accessible
    /// anymore this is not considered an error and the ExternalSecret
    /// does not go into SecretSyncedError status.
    Merge,
    /// Retains the secret if all provider secrets have been deleted.
    /// If a provider secret does not exist the ExternalSecret gets into the
    /// SecretSyncedError status.
    #[default]
    Retain,
}

/// ManifestReference names the kind of a generic (non-Secret) target.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManifestReference {
    /// APIVersion of the target resource (e.g., "v1" for ConfigMap, "argoproj.io/v1alpha1" for ArgoCD
    /// Application)
    #[schemars(length(min = 1))]
    pub api_version: String,

    /// Kind of the target resource (e.g., "ConfigMap", "Application")
    #[schemars(length(min = 1))]
    pub kind: String,
}

/// ExternalSecretTemplate defines a blueprint for the created Secret resource.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "!has(self.type) || self.type != 'bootstrap.kubernetes.io/token'",
    "message": "template type bootstrap.kubernetes.io/token is not allowed",
}]))]
pub struct ExternalSecretTemplate {
    /// The Secret type (`Opaque`, `kubernetes.io/tls`, ...). If empty, the existing Secret's type is kept.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,

    /// EngineVersion specifies the template engine version
    /// that should be used to compile/execute the
    /// template specified in .data and .templateFrom[].
    // A string rather than an enum so that objects stored by ESO <= 0.15 (`v1`) still deserialize; the controller
    // refuses anything but `v2`.
    #[serde(default = "default_engine_version")]
    #[schemars(extend("enum" = ["v2"]))]
    pub engine_version: String,

    /// Labels, annotations and finalizers for the created Secret. Label and annotation values are templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ExternalSecretTemplateMetadata>,

    /// `Replace` (the default) writes only the rendered keys; `Merge` also keeps the provider's keys.
    #[serde(default)]
    pub merge_policy: TemplateMergePolicy,

    /// Secret keys mapped to templates that render their values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,

    /// Templates read from ConfigMaps, Secrets or literals, rendered in order before `data`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub template_from: Vec<TemplateFrom>,
}

impl Default for ExternalSecretTemplate {
    fn default() -> Self {
        Self {
            type_: None,
            engine_version: default_engine_version(),
            metadata: None,
            merge_policy: TemplateMergePolicy::default(),
            data: BTreeMap::new(),
            template_from: Vec::new(),
        }
    }
}

fn default_engine_version() -> String {
    TEMPLATE_ENGINE_V2.to_string()
}

/// TemplateMergePolicy says whether the provider's raw keys are kept next to the rendered ones.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum TemplateMergePolicy {
    /// Only the rendered keys are written.
    #[default]
    Replace,
    /// The provider's keys are written too; rendered keys win.
    Merge,
}

/// ExternalSecretTemplateMetadata defines metadata fields for the Secret blueprint.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretTemplateMetadata {
    /// Annotations of the Secret (values are templates).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,

    /// Labels of the Secret (values are templates).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,

    /// Finalizers added to the Secret unless it is being deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
}

/// TemplateFrom is a source of templates: ConfigMap and/or Secret items and/or a literal, processed in that
/// order.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateFrom {
    /// Templates stored in a ConfigMap of the ExternalSecret's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<TemplateRef>,

    /// Templates stored in a Secret of the ExternalSecret's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<TemplateRef>,

    /// Target specifies where to place the template result.
    /// For Secret resources, common values are: "Data", "Annotations", "Labels".
    /// For custom resources (when spec.target.manifest is set), this supports
    /// nested paths like "spec.database.config" or "data".
    #[serde(default = "default_template_target")]
    pub target: String,

    /// A template rendered in `KeysAndValues` scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub literal: Option<String>,

    /// ValuesDecodingStrategy decodes the rendered values. Unset (no schema default since ESO 2.9.0) means
    /// `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_decoding_strategy: Option<ExternalSecretDecodingStrategy>,
}

impl Default for TemplateFrom {
    fn default() -> Self {
        Self {
            config_map: None,
            secret: None,
            target: default_template_target(),
            literal: None,
            values_decoding_strategy: None,
        }
    }
}

fn default_template_target() -> String {
    template_target::DATA.to_string()
}

/// TemplateRef names a ConfigMap or Secret and the keys in it that hold templates.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateRef {
    /// The name of the ConfigMap/Secret resource
    #[schemars(length(min = 1, max = 253), pattern(DNS_SUBDOMAIN_PATTERN))]
    pub name: String,

    /// A list of keys in the ConfigMap/Secret to use as templates for Secret data
    pub items: Vec<TemplateRefItem>,
}

/// TemplateRefItem is one template key of a ConfigMap or Secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateRefItem {
    /// A key in the ConfigMap/Secret
    #[schemars(length(min = 1, max = 253), pattern(SECRET_KEY_PATTERN))]
    pub key: String,

    /// `Values` renders the value under the same key; `KeysAndValues` renders a YAML map of keys and values.
    #[serde(default)]
    pub template_as: TemplateScope,
}

/// TemplateScope says what a template renders: one value, or a map of keys and values.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum TemplateScope {
    /// The rendered text is the value of the item's key.
    #[default]
    Values,
    /// The rendered text is a YAML map string→string; every pair is written.
    KeysAndValues,
}

/// ExternalSecretData defines the connection between the Kubernetes Secret key (`spec.data.<key>`) and the
/// Provider data.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretData {
    /// The key in the Kubernetes Secret to store the value.
    #[schemars(length(min = 1, max = 253), pattern(SECRET_KEY_PATTERN))]
    pub secret_key: String,

    /// RemoteRef points to the remote secret and defines
    /// which secret (version/property/..) to fetch.
    pub remote_ref: ExternalSecretDataRemoteRef,

    /// SourceRef allows you to override the source
    /// from which the value will be pulled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<StoreSourceRef>,
}

/// ExternalSecretDataRemoteRef defines Provider data location.
///
/// The strategy fields have no schema default since ESO 2.9.0: unset means `None` (metadataPolicy),
/// `Default` (conversionStrategy), `None` (decodingStrategy) and `Ignore` (nullBytePolicy); use
/// `unwrap_or_default()` on them.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretDataRemoteRef {
    /// Key is the key used in the Provider, mandatory
    pub key: String,

    /// Policy for fetching tags/labels from provider secrets, possible options are Fetch, None. Defaults to None
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_policy: Option<ExternalSecretMetadataPolicy>,

    /// Used to select a specific property of the Provider value (if a map), if supported
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,

    /// Used to select a specific version of the Provider value, if supported
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,

    /// Used to define a conversion Strategy
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion_strategy: Option<ExternalSecretConversionStrategy>,

    /// Used to define a decoding Strategy
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoding_strategy: Option<ExternalSecretDecodingStrategy>,

    /// Controls how ESO handles fetched secret data containing NUL bytes for this source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub null_byte_policy: Option<ExternalSecretNullBytePolicy>,
}

/// ExternalSecretMetadataPolicy defines policies for fetching metadata from provider secrets.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum ExternalSecretMetadataPolicy {
    /// Fetch the value (the behaviour when unset).
    #[default]
    None,
    /// Fetch the metadata (tags, labels) instead of the value.
    Fetch,
}

/// ExternalSecretConversionStrategy defines how remote key names are turned into Secret keys.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum ExternalSecretConversionStrategy {
    /// Invalid characters become `_` (the behaviour when unset).
    #[default]
    Default,
    /// Invalid characters become `_U<hex code point>_`.
    Unicode,
}

/// ExternalSecretDecodingStrategy defines strategies for decoding secret values.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum ExternalSecretDecodingStrategy {
    /// Try standard base64, then URL base64, else keep the raw bytes.
    Auto,
    /// Standard base64 with padding.
    Base64,
    /// URL-safe base64 with padding.
    #[serde(rename = "Base64URL")]
    Base64Url,
    /// Keep the raw bytes (the behaviour when unset).
    #[default]
    None,
}

/// ExternalSecretNullBytePolicy defines how fetched secret data containing NUL bytes should be handled.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum ExternalSecretNullBytePolicy {
    /// Values may contain NUL bytes (the behaviour when unset).
    #[default]
    Ignore,
    /// A value containing a NUL byte fails the reconcile.
    Fail,
}

/// ExternalSecretDataFromRemoteRef defines the connection between the Kubernetes Secret keys and the Provider
/// data when using DataFrom to fetch multiple values from a Provider.
///
/// At most one of `extract`, `find` and `sourceRef.generatorRef`, and at least one of `extract`, `find` and
/// `sourceRef` (ESO's webhook rules, checked by the schema).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "(has(self.extract) ? 1 : 0) + (has(self.find) ? 1 : 0) \
                 + (has(self.sourceRef) && has(self.sourceRef.generatorRef) ? 1 : 0) <= 1",
        "message": "only one of extract, find and sourceRef.generatorRef may be set in a dataFrom entry",
    },
    {
        "rule": "has(self.extract) || has(self.find) || has(self.sourceRef)",
        "message": "a dataFrom entry needs one of extract, find or sourceRef",
    },
]))]
pub struct ExternalSecretDataFromRemoteRef {
    /// Used to extract multiple key/value pairs from one secret
    /// Note: Extract does not support sourceRef.Generator or sourceRef.GeneratorRef.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<ExternalSecretDataRemoteRef>,

    /// Used to find secrets based on tags or regular expressions
    /// Note: Find does not support sourceRef.Generator or sourceRef.GeneratorRef.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub find: Option<ExternalSecretFind>,

    /// Used to rewrite secret Keys after getting them from the secret Provider
    /// Multiple Rewrite operations can be provided. They are applied in a layered order (first to last)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rewrite: Vec<ExternalSecretRewrite>,

    /// SourceRef points to a store or generator
    /// which contains secret values ready to use.
    /// Use this in combination with Extract or Find pull values out of
    /// a specific SecretStore.
    /// When sourceRef points to a generator Extract or Find is not supported.
    /// The generator returns a static map of values
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<StoreGeneratorSourceRef>,
}

/// ExternalSecretFind defines configuration for finding secrets in the provider.
///
/// As for [`ExternalSecretDataRemoteRef`], unset strategies mean `Default` / `None` / `Ignore`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretFind {
    /// A root path to start the find operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,

    /// Finds secrets based on the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<FindName>,

    /// Find secrets based on tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,

    /// Used to define a conversion Strategy
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion_strategy: Option<ExternalSecretConversionStrategy>,

    /// Used to define a decoding Strategy
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoding_strategy: Option<ExternalSecretDecodingStrategy>,

    /// Controls how ESO handles fetched secret data containing NUL bytes for this find source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub null_byte_policy: Option<ExternalSecretNullBytePolicy>,
}

/// FindName defines criteria for finding secrets by name patterns.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FindName {
    /// Finds secrets whose name matches this (unanchored, RE2) regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regexp: Option<String>,
}

/// ExternalSecretRewrite defines how to rewrite secret keys before they are written to the Secret.
/// Exactly one of `merge`, `regexp` and `transform` is set.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct ExternalSecretRewrite {
    /// Used to merge key/values in one single Secret
    /// The resulting key will contain all values from the specified secrets
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<ExternalSecretRewriteMerge>,

    /// Used to rewrite with regular expressions.
    /// The resulting key will be the output of a regexp.ReplaceAll operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regexp: Option<ExternalSecretRewriteRegexp>,

    /// Used to apply string transformation on the secrets.
    /// The resulting key will be the output of the template applied by the operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<ExternalSecretRewriteTransform>,
}

/// ExternalSecretRewriteMerge defines configuration for merging secret values.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretRewriteMerge {
    /// Used to define the target key of the merge operation.
    /// Required if strategy is JSON. Ignored otherwise.
    #[serde(default)]
    pub into: String,

    /// Used to define key priority in conflict resolution.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub priority: Vec<String>,

    /// Used to define the policy when a key in the priority list does not exist in the input.
    #[serde(default)]
    pub priority_policy: ExternalSecretRewriteMergePriorityPolicy,

    /// Used to define the policy to use in conflict resolution.
    #[serde(default)]
    pub conflict_policy: ExternalSecretRewriteMergeConflictPolicy,

    /// Used to define the strategy to use in the merge operation.
    #[serde(default)]
    pub strategy: ExternalSecretRewriteMergeStrategy,
}

/// ExternalSecretRewriteMergePriorityPolicy defines the policy for handling missing keys in the priority list.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum ExternalSecretRewriteMergePriorityPolicy {
    /// A priority key missing from the input is ignored.
    IgnoreNotFound,
    /// A priority key missing from the input is an error.
    #[default]
    Strict,
}

/// ExternalSecretRewriteMergeConflictPolicy defines the policy for resolving conflicts when merging secrets.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum ExternalSecretRewriteMergeConflictPolicy {
    /// Conflicts are ignored (the later value wins).
    Ignore,
    /// A conflict is an error.
    #[default]
    Error,
}

/// ExternalSecretRewriteMergeStrategy defines the strategy for merging secrets.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum ExternalSecretRewriteMergeStrategy {
    /// The merged object's keys become the output keys.
    #[default]
    Extract,
    /// The merged object is written as JSON under `into`; the inputs are kept.
    #[serde(rename = "JSON")]
    Json,
}

/// ExternalSecretRewriteRegexp defines configuration for rewriting secrets using regular expressions.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretRewriteRegexp {
    /// Used to define the regular expression of a re.Compiler.
    pub source: String,

    /// Used to define the target pattern of a ReplaceAll operation.
    pub target: String,
}

/// ExternalSecretRewriteTransform defines configuration for transforming secrets using templates.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretRewriteTransform {
    /// Used to define the template to apply on the secret name.
    /// `.value ` will specify the secret name in the template.
    pub template: String,
}

/// StoreSourceRef allows you to override the store (or, in `dataFrom`, use a generator) a value is read from.
/// Exactly one property is set.
///
/// ESO has two Go types of this shape (`StoreSourceRef` for `data[]`, `StoreGeneratorSourceRef` for
/// `dataFrom[]`); the JSON is the same, so one Rust type serves both. `generatorRef` in `data[]` is deprecated and
/// not implemented by ESO.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct StoreSourceRef {
    /// The store to read from instead of `spec.secretStoreRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_ref: Option<SecretStoreRef>,

    /// GeneratorRef points to a generator custom resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_ref: Option<GeneratorRef>,
}

/// ESO's name for the `dataFrom[].sourceRef` type: the same shape as [`StoreSourceRef`].
pub type StoreGeneratorSourceRef = StoreSourceRef;

/// GeneratorRef points to a generator custom resource.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GeneratorRef {
    /// Specify the apiVersion of the generator resource
    #[serde(default = "default_generator_api_version")]
    pub api_version: String,

    /// Specify the Kind of the generator resource
    #[schemars(extend("enum" = GENERATOR_KINDS))]
    pub kind: String,

    /// Specify the name of the generator resource
    #[schemars(length(min = 1, max = 253), pattern(DNS_SUBDOMAIN_PATTERN))]
    pub name: String,
}

fn default_generator_api_version() -> String {
    DEFAULT_GENERATOR_API_VERSION.to_string()
}

/// ExternalSecretStatus defines the observed state of ExternalSecret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretStatus {
    /// refreshTime is the time and date the external secret was fetched and
    /// the target secret updated
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_time: Option<Time>,

    /// SyncedResourceVersion keeps track of the last synced version
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced_resource_version: Option<String>,

    /// The conditions of the ExternalSecret (`Ready`, `Deleted`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ExternalSecretStatusCondition>,

    /// Binding represents a servicebinding.io Provisioned Service reference to the secret
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::local_object_reference")]
    pub binding: Option<LocalObjectReference>,
}

impl ExternalSecretStatus {
    /// The condition of the given type (`Ready`, `Deleted`), if present.
    pub fn condition(&self, type_: &str) -> Option<&ExternalSecretStatusCondition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }
}

/// ExternalSecretStatusCondition defines a status condition of an ExternalSecret resource.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretStatusCondition {
    /// The condition type: `Ready` or `Deleted`.
    #[serde(rename = "type")]
    #[schemars(extend("enum" = ["Ready", "Deleted"]))]
    pub type_: String,

    /// `True`, `False` or `Unknown`.
    pub status: String,

    /// A CamelCase reason, e.g. `SecretSynced`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,

    /// A human-readable message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,

    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
}
