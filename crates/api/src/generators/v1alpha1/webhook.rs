//! The `Webhook` generator: calls an HTTP endpoint and takes the result from its JSON response.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::GeneratorSecretKeySelector;
use crate::meta::{DNS_LABEL_PATTERN, DNS_SUBDOMAIN_PATTERN, SECRET_KEY_PATTERN, SecretKeySelector};
use crate::schema;
use crate::v1::CaProviderType;

/// WebhookSpec says which endpoint to call and how; body parameters go in `body` (a template).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[kube(
    group = "generators.external-secrets.io",
    version = "v1alpha1",
    kind = "Webhook",
    namespaced,
    derive = "PartialEq",
    category = "external-secrets",
    category = "external-secrets-generators",
    label("external-secrets.io/component", "controller"),
    doc = "Webhook generates values by calling a third party HTTP API; spec gives the URL, headers, body and \
           where the result is in the response."
)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSpec {
    /// The HTTP method; unset means GET.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,

    /// The URL to call (a template).
    pub url: String,

    /// Request headers (values are templates).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,

    /// An authorization protocol; only one may be set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<WebhookAuth>,

    /// The request body (a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,

    /// Request timeout (a Go duration string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,

    /// Where the result is in the response.
    pub result: WebhookResult,

    /// Secrets passed to the templates, each under its `name`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<WebhookSecret>,

    /// PEM CA bundle (base64 in JSON) to verify an HTTPS server; unset means the system roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::byte_string")]
    pub ca_bundle: Option<k8s_openapi::ByteString>,

    /// A Secret or ConfigMap holding the CA bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_provider: Option<WebhookCaProvider>,
}

/// AuthorizationProtocol: exactly one protocol (today only NTLM).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct WebhookAuth {
    /// NTLM with a username and password from Secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ntlm: Option<WebhookNtlm>,
}

/// NTLMProtocol: the Secret keys holding the NTLM credentials.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookNtlm {
    /// The username.
    pub username_secret: SecretKeySelector,
    /// The password.
    pub password_secret: SecretKeySelector,
}

/// WebhookCAProvider: a Secret or ConfigMap key with the PEM CA bundle.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookCaProvider {
    /// `Secret` or `ConfigMap`.
    #[serde(rename = "type")]
    pub type_: CaProviderType,

    /// The object's name.
    #[schemars(length(min = 1, max = 253), pattern(DNS_SUBDOMAIN_PATTERN))]
    pub name: String,

    /// The key holding the bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), pattern(SECRET_KEY_PATTERN))]
    pub key: Option<String>,

    /// The object's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), pattern(DNS_LABEL_PATTERN))]
    pub namespace: Option<String>,
}

/// WebhookResult: where the value is in the response.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookResult {
    /// A JSONPath into the response; unset means the whole response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_path: Option<String>,
}

/// WebhookSecret: a Secret key made available to the templates under `name`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSecret {
    /// The name the templates use.
    pub name: String,
    /// The Secret (of the generator's namespace) and key.
    pub secret_ref: GeneratorSecretKeySelector,
}
