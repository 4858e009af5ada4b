//! The `Password` generator: a random password of a given length and character mix.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The `length` the API server fills in when a Password does not set one.
pub const DEFAULT_PASSWORD_LENGTH: i64 = 24;

/// PasswordSpec says what the generated password looks like.
// `length`, `noUpper` and `allowRepeat` are required in ESO's schema and defaulted by it, so they are plain values
// here; the other knobs are `Option`s whose unset value the generator interprets (25 % digits, 25 % symbols, ESO's
// symbol set, key `password`).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[kube(
    group = "generators.external-secrets.io",
    version = "v1alpha1",
    kind = "Password",
    namespaced,
    derive = "PartialEq",
    category = "external-secrets",
    category = "external-secrets-generators",
    label("external-secrets.io/component", "controller"),
    doc = "Password generates a random password; spec sets its length, character classes and encoding."
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("required" = ["allowRepeat", "length", "noUpper"]))]
pub struct PasswordSpec {
    /// Length of the password. Defaults to 24.
    #[serde(default = "default_length")]
    pub length: i64,

    /// How many digits the password has; unset means 25 % of the length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digits: Option<i64>,

    /// How many symbol characters the password has; unset means 25 % of the length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbols: Option<i64>,

    /// The symbol characters to choose from; unset means ESO's default set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol_characters: Option<String>,

    /// No uppercase letters.
    #[serde(default)]
    pub no_upper: bool,

    /// Characters may repeat.
    #[serde(default)]
    pub allow_repeat: bool,

    /// The keys that each receive a generated password; unset means one key, `password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub secret_keys: Option<Vec<String>>,

    /// How the password is encoded. Defaults to `raw`.
    #[serde(default = "default_encoding", skip_serializing_if = "Option::is_none")]
    pub encoding: Option<PasswordEncoding>,
}

impl Default for PasswordSpec {
    fn default() -> Self {
        Self {
            length: DEFAULT_PASSWORD_LENGTH,
            digits: None,
            symbols: None,
            symbol_characters: None,
            no_upper: false,
            allow_repeat: false,
            secret_keys: None,
            encoding: default_encoding(),
        }
    }
}

fn default_length() -> i64 {
    DEFAULT_PASSWORD_LENGTH
}

fn default_encoding() -> Option<PasswordEncoding> {
    Some(PasswordEncoding::Raw)
}

/// The encodings of a generated password.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PasswordEncoding {
    /// Standard base64.
    Base64,
    /// URL-safe base64.
    #[serde(rename = "base64url")]
    Base64Url,
    /// Base32.
    Base32,
    /// Hexadecimal.
    Hex,
    /// No encoding (the default).
    #[default]
    Raw,
}
