//! `spec.provider.webhook`: any HTTP API, called with templated URL, headers and body (ESO's `WebhookProvider`,
//! field for field). The nested types are the Webhook generator's: ESO declares the same fields twice.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::generators::v1alpha1::{WebhookAuth, WebhookCaProvider, WebhookResult};
use crate::meta::SecretKeySelector;

/// WebhookProvider configures a store to sync secrets using a generic templated webhook.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookProvider {
    /// Webhook Method
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,

    /// Webhook url to call
    pub url: String,

    /// Headers
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,

    /// Auth specifies a authorization protocol. Only one protocol may be set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<WebhookAuth>,

    /// Body
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,

    /// Timeout
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,

    /// Result formatting
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<WebhookResult>,

    /// Secrets to fill in templates. These secrets will be passed to the templating function as key value pairs
    /// under the given name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<WebhookProviderSecret>,

    /// PEM encoded CA bundle used to validate webhook server certificate. Only used if the Server URL is using
    /// HTTPS protocol. This parameter is ignored for plain HTTP protocol connection. If not set the system root
    /// certificates are used to validate the TLS connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::byte_string")]
    pub ca_bundle: Option<ByteString>,

    /// The provider for the CA bundle to use to validate webhook server certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_provider: Option<WebhookCaProvider>,
}

/// WebhookSecret defines a secret that will be passed to the webhook request.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookProviderSecret {
    /// Name of this secret in templates
    pub name: String,

    /// Secret ref to fill in credentials
    pub secret_ref: SecretKeySelector,
}
