//! `spec.provider.fake`: static key/value pairs, for tests and demos.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// FakeProvider configures a fake provider that returns static values.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FakeProvider {
    /// The key/value pairs the store holds.
    pub data: Vec<FakeProviderData>,

    /// The outcome store validation reports: 0 Ready, 1 Unknown, 2 Error. Unset means Ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_result: Option<i32>,
}

/// FakeProviderData defines a key-value pair with optional version for the fake provider.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FakeProviderData {
    /// The remote key.
    pub key: String,

    /// The value returned for the key.
    pub value: String,

    /// The version this value answers (empty matches an empty `remoteRef.version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}
