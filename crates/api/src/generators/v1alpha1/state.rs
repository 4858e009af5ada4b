//! `GeneratorState`: what a generator made (e.g. a GitLab deploy token), kept so that it can be cleaned up
//! later, with the generator manifest that made it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::schema;

/// The label on a GeneratorState naming the resource that created it (used to garbage-collect its states).
pub const GENERATOR_STATE_OWNER_KEY_LABEL: &str = "generators.external-secrets.io/owner-key";

/// GeneratorStateSpec: the generator manifest and the state it produced.
// The printcolumn(...) lists repeat `type_`, which clippy mistakes for duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "generators.external-secrets.io",
    version = "v1alpha1",
    kind = "GeneratorState",
    namespaced,
    status = "GeneratorStateStatus",
    derive = "PartialEq",
    shortname = "gs",
    category = "external-secrets",
    category = "external-secrets-generators",
    label("external-secrets.io/component", "controller"),
    doc = "GeneratorState represents the state created and managed by a generator resource.",
    printcolumn(name = "GC Deadline", type_ = "string", json_path = ".spec.garbageCollectionDeadline"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct GeneratorStateSpec {
    /// When the state may be deleted (set by the controller that created it, changeable by the user); unset
    /// means never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub garbage_collection_deadline: Option<Time>,

    /// A snapshot of the generator manifest that produced the state; it is used to clean up.
    #[schemars(schema_with = "schema::any_json")]
    pub resource: serde_json::Value,

    /// What the generator recorded about what it made.
    #[schemars(schema_with = "schema::any_json")]
    pub state: serde_json::Value,
}

/// GeneratorStateStatus: the conditions of a GeneratorState.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GeneratorStateStatus {
    /// The conditions (`Ready` with reason `Created` or `Error`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<GeneratorStateStatusCondition>,
}

/// A condition of a GeneratorState.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GeneratorStateStatusCondition {
    /// The condition type (`Ready`).
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// `Created` or `Error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A human-readable message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
}
