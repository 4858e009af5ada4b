//! Generators that need no credentials: `Fake` (static data), `UUID` and `MFA` (TOTP codes from a seed).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::SecretKeySelector;

/// FakeSpec holds the static data the `Fake` generator returns.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[kube(
    group = "generators.external-secrets.io",
    version = "v1alpha1",
    kind = "Fake",
    namespaced,
    derive = "PartialEq",
    category = "external-secrets",
    category = "external-secrets-generators",
    label("external-secrets.io/component", "controller"),
    doc = "Fake generator is used for testing. It returns the same static set of key/value pairs every time."
)]
#[serde(rename_all = "camelCase")]
pub struct FakeSpec {
    /// Selects the controller that handles this generator (think: ingress.ingressClassName); empty means the
    /// default controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<String>,

    /// The static key/value pairs this generator returns.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
}

/// UuidSpec has no settings: the `UUID` generator always makes one random UUID.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[kube(
    group = "generators.external-secrets.io",
    version = "v1alpha1",
    kind = "UUID",
    root = "Uuid",
    plural = "uuids",
    namespaced,
    derive = "PartialEq",
    category = "external-secrets",
    category = "external-secrets-generators",
    label("external-secrets.io/component", "controller"),
    doc = "UUID generates a UUID under the key `uuid`."
)]
#[serde(rename_all = "camelCase")]
pub struct UuidSpec {}

/// MfaSpec configures the `MFA` generator: an RFC 6238 TOTP code derived from a seed stored in a Secret.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[kube(
    group = "generators.external-secrets.io",
    version = "v1alpha1",
    kind = "MFA",
    root = "Mfa",
    plural = "mfas",
    namespaced,
    derive = "PartialEq",
    category = "external-secrets",
    category = "external-secrets-generators",
    label("external-secrets.io/component", "controller"),
    doc = "MFA generates a time-based one-time password (TOTP, RFC 6238)."
)]
#[serde(rename_all = "camelCase")]
pub struct MfaSpec {
    /// The Secret key holding the TOTP seed.
    pub secret: SecretKeySelector,

    /// Number of digits of the code; unset means 6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<i64>,

    /// How long one code is valid, in seconds; unset means 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_period: Option<i64>,

    /// The HMAC algorithm; unset means SHA1, as the RFC says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,

    /// Pins the time the code is computed for (instead of now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Time>,
}
