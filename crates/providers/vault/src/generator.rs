//! ESO's `VaultDynamicSecret` generator (`generators/v1/vault`): one call to a Vault path with a store's
//! connection and auth (`spec.provider`), and a part of the answer as the generated keys.
//!
//! - `method`: unset or `GET` reads (with `getParameters` as the query), `LIST` lists, `DELETE` deletes, anything
//!   else writes `parameters` (Vault treats `POST` and `PUT` alike).
//! - `resultType`: `Data` the answer's `data`, `Auth` its `auth` block (e.g. of `auth/token/create`), `Raw` the
//!   whole answer. Each top-level key becomes one output key: strings as they are, objects and arrays as JSON,
//!   numbers and booleans as text, `null` empty (ESO's `GetByteValue`).
//! - An answer without content (a 404 or an empty 204) fails with "empty response from Vault", unless
//!   `allowEmptyResponse`, which gives no keys.
//! - `retrySettings`: a call that failed with an unavailable or throttled Vault is repeated up to `maxRetries`
//!   times, `retryInterval` apart (no retry when unset, as ESO's generator client with retry settings).
//!
//! Logins: references are read in the ExternalSecret's namespace (for a ClusterGenerator too). The login token is
//! kept per generator identity while it is valid and reused by later runs; it is never revoked here, because
//! revoking a token revokes the leases created with it — the dynamic credentials this generator just handed out.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use external_secrets_api::duration::parse_go_duration;
use external_secrets_api::generators::v1alpha1::{
    GeneratorKind, GeneratorSpec, VaultDynamicSecretResultType, VaultDynamicSecretSpec,
};
use external_secrets_generators::{CredentialedGenerator, Generated, GeneratorError, SecretBytes, spec_of};
use external_secrets_provider::{CredentialResolver, ProviderError};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::VaultProvider;
use crate::auth::{Login, TokenSlot};

const KIND: &str = "VaultDynamicSecret";

/// The `VaultDynamicSecret` generator; get one from [`VaultProvider::generators`] and register it in `main`.
pub struct VaultGenerators {
    provider: Arc<VaultProvider>,
    /// The token slots of recent generator identities, kept while their token is valid so that the next run
    /// reuses the login.
    kept: Mutex<HashMap<String, Arc<TokenSlot>>>,
}

impl VaultProvider {
    /// The generators of this provider (sharing its token cache).
    pub fn generators(self: &Arc<Self>) -> VaultGenerators {
        VaultGenerators { provider: self.clone(), kept: Mutex::default() }
    }
}

impl VaultGenerators {
    async fn run(
        &self,
        spec: &VaultDynamicSecretSpec,
        credentials: &CredentialResolver,
    ) -> Result<Generated, ProviderError> {
        let provider = &spec.provider;
        if provider.server.is_empty() {
            return Err(ProviderError::InvalidConfig("provider.server must be set".to_string()));
        }
        let auth = provider
            .auth
            .as_ref()
            .ok_or_else(|| ProviderError::InvalidConfig("provider.auth must be set".to_string()))?;
        let login = Login::from_spec(auth)?;
        let retry = Retry::from_spec(spec)?;
        let scope = credentials.scope();
        let owner = format!("generator/{}/{}", scope.namespace.as_deref().unwrap_or_default(), scope.name);
        let session = self.provider.session(provider, login, credentials.clone(), &owner, false).await?;
        self.keep(&owner, &session.slot);
        let method = spec.method.as_deref().unwrap_or_default().to_ascii_uppercase();
        let path = spec.path.trim_start_matches('/');
        let query: Vec<(&str, &str)> = spec
            .get_parameters
            .iter()
            .flat_map(|(k, values)| values.iter().map(move |v| (k.as_str(), v.as_str())))
            .collect();
        let (method, query, body) = match method.as_str() {
            "" | "GET" => (Method::GET, query, None),
            "LIST" => (Method::GET, vec![("list", "true")], None),
            "DELETE" => (Method::DELETE, Vec::new(), None),
            _ => (Method::PUT, Vec::new(), Some(spec.parameters.clone().unwrap_or_else(|| serde_json::json!({})))),
        };
        let mut attempt = 0;
        let answer = loop {
            let result = session.send("GenerateDynamicSecret", method.clone(), path, &query, body.as_ref()).await;
            let result = result.and_then(|answer| {
                if answer.status.is_success() || answer.status == StatusCode::NOT_FOUND {
                    Ok(answer)
                } else {
                    Err(answer.error(&format!("calling {path}")))
                }
            });
            match result {
                Err(ProviderError::Unavailable(_) | ProviderError::Throttled(_)) if attempt < retry.max_retries => {
                    attempt += 1;
                    tokio::time::sleep(retry.interval).await;
                }
                other => break other?,
            }
        };
        let empty = answer.status == StatusCode::NOT_FOUND || answer.body.is_null();
        if empty {
            if spec.allow_empty_response {
                return Ok(Generated::new());
            }
            return Err(ProviderError::Malformed(format!(
                "unable to get dynamic secret at {path}: empty response from Vault"
            )));
        }
        result_of(spec.result_type, &answer.body)
    }

    /// Keeps `slot` for `owner` while its token is valid; forgets the slots whose token has expired.
    fn keep(&self, owner: &str, slot: &Arc<TokenSlot>) {
        if let Ok(mut kept) = self.kept.lock() {
            let now = Instant::now();
            kept.retain(|_, slot| slot.current().is_some_and(|t| !t.expired(now)));
            kept.insert(owner.to_string(), slot.clone());
        }
    }
}

/// `retrySettings` of the generator.
struct Retry {
    max_retries: u32,
    interval: Duration,
}

impl Retry {
    fn from_spec(spec: &VaultDynamicSecretSpec) -> Result<Self, ProviderError> {
        let Some(settings) = &spec.retry_settings else { return Ok(Self { max_retries: 0, interval: Duration::ZERO }) };
        let max_retries = settings.max_retries.and_then(|n| u32::try_from(n).ok()).unwrap_or(0).min(10);
        let interval = match settings.retry_interval.as_deref() {
            None => Duration::from_secs(1),
            Some(text) => parse_go_duration(text)
                .map_err(|e| ProviderError::InvalidConfig(format!("retrySettings.retryInterval {text:?}: {e}")))?
                .to_std()
                .unwrap_or(Duration::ZERO),
        };
        Ok(Self { max_retries, interval })
    }
}

/// The generated keys of a Vault answer, as ESO's `prepareResponse`: the part `result_type` names, each
/// top-level key one output key. `Auth` and `Raw` have the keys of the Go client's `SecretAuth` and `Secret`
/// (which ESO re-encodes), whatever else Vault sent. Errors never hold a value.
fn result_of(result_type: VaultDynamicSecretResultType, body: &Value) -> Result<Generated, ProviderError> {
    let part = match result_type {
        VaultDynamicSecretResultType::Data => body.get("data").cloned(),
        VaultDynamicSecretResultType::Auth => body.get("auth").filter(|a| !a.is_null()).map(go_secret_auth),
        VaultDynamicSecretResultType::Raw => Some(go_secret(body)),
    };
    let map = match part {
        None | Some(Value::Null) => return Ok(Generated::new()),
        Some(Value::Object(map)) => map,
        Some(_) => {
            return Err(ProviderError::Malformed(format!(
                "the {result_type:?} part of Vault's answer is not an object"
            )));
        }
    };
    Ok(map.iter().map(|(k, v)| (k.clone(), SecretBytes::from(bytes_of(v)))).collect::<BTreeMap<_, _>>())
}

/// `key` of `from`, or the Go zero value `zero` when Vault did not send it.
fn field(from: &Value, key: &str, zero: Value) -> (String, Value) {
    (key.to_string(), from.get(key).cloned().filter(|v| !v.is_null() || zero.is_null()).unwrap_or(zero))
}

/// The Vault Go client's `SecretAuth`, as JSON.
fn go_secret_auth(auth: &Value) -> Value {
    let text = || Value::String(String::new());
    Value::Object(
        [
            field(auth, "client_token", text()),
            field(auth, "accessor", text()),
            field(auth, "policies", Value::Null),
            field(auth, "token_policies", Value::Null),
            field(auth, "identity_policies", Value::Null),
            field(auth, "metadata", Value::Null),
            field(auth, "orphan", Value::Bool(false)),
            field(auth, "entity_id", text()),
            field(auth, "lease_duration", Value::from(0)),
            field(auth, "renewable", Value::Bool(false)),
            field(auth, "mfa_requirement", Value::Null),
        ]
        .into_iter()
        .collect(),
    )
}

/// The Vault Go client's `Secret`, as JSON (`auth`, `wrap_info` and `mount_type` left out when empty).
fn go_secret(body: &Value) -> Value {
    let mut secret: serde_json::Map<String, Value> = [
        field(body, "request_id", Value::String(String::new())),
        field(body, "lease_id", Value::String(String::new())),
        field(body, "lease_duration", Value::from(0)),
        field(body, "renewable", Value::Bool(false)),
        field(body, "data", Value::Null),
        field(body, "warnings", Value::Null),
    ]
    .into_iter()
    .collect();
    if let Some(auth) = body.get("auth").filter(|a| !a.is_null()) {
        secret.insert("auth".to_string(), go_secret_auth(auth));
    }
    if let Some(wrap) = body.get("wrap_info").filter(|w| !w.is_null()) {
        secret.insert("wrap_info".to_string(), wrap.clone());
    }
    if let Some(mount) = body.get("mount_type").filter(|m| m.as_str().is_some_and(|m| !m.is_empty())) {
        secret.insert("mount_type".to_string(), mount.clone());
    }
    Value::Object(secret)
}

/// ESO's `GetByteValue` for JSON values.
fn bytes_of(value: &Value) -> Vec<u8> {
    match value {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Null => Vec::new(),
        Value::Bool(b) => b.to_string().into_bytes(),
        Value::Number(n) => n.to_string().into_bytes(),
        other => other.to_string().into_bytes(),
    }
}

#[async_trait]
impl CredentialedGenerator for VaultGenerators {
    fn kinds(&self) -> Vec<GeneratorKind> {
        vec![GeneratorKind::VaultDynamicSecret]
    }

    async fn generate(
        &self,
        kind: GeneratorKind,
        spec: &GeneratorSpec,
        credentials: &CredentialResolver,
    ) -> Result<Generated, GeneratorError> {
        match kind {
            GeneratorKind::VaultDynamicSecret => {
                let spec = spec_of(KIND, spec.vault_dynamic_secret_spec.as_ref())?;
                self.run(spec, credentials).await.map_err(|source| GeneratorError::Provider { kind: KIND, source })
            }
            other => Err(GeneratorError::Unsupported(external_secrets_generators::kind_name(other))),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(generated: &Generated, key: &str) -> String {
        String::from_utf8(generated[key].expose().to_vec()).unwrap()
    }

    #[test]
    fn each_part_of_the_answer_becomes_keys_as_eso_prints_them() {
        let body = json!({
            "request_id": "r", "lease_id": "pki/issue/x/123", "lease_duration": 3600, "renewable": false,
            "data": {"certificate": "PEM", "serial": 7, "ok": true, "chain": ["a", "b"], "nested": {"k": "v"}, "none": null},
            "auth": {"client_token": "hvs.x", "policies": ["default"]},
        });
        let data = result_of(VaultDynamicSecretResultType::Data, &body).unwrap();
        assert_eq!(text(&data, "certificate"), "PEM");
        assert_eq!(text(&data, "serial"), "7");
        assert_eq!(text(&data, "ok"), "true");
        assert_eq!(text(&data, "chain"), r#"["a","b"]"#);
        assert_eq!(text(&data, "nested"), r#"{"k":"v"}"#);
        assert_eq!(text(&data, "none"), "");
        let auth = result_of(VaultDynamicSecretResultType::Auth, &body).unwrap();
        assert_eq!(text(&auth, "client_token"), "hvs.x");
        assert_eq!(text(&auth, "policies"), r#"["default"]"#);
        let keys: Vec<&str> = auth.keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 11, "the Go client's SecretAuth fields: {keys:?}");
        assert_eq!(
            (text(&auth, "orphan"), text(&auth, "lease_duration"), text(&auth, "metadata")),
            ("false".into(), "0".into(), String::new())
        );
        let raw = result_of(VaultDynamicSecretResultType::Raw, &body).unwrap();
        assert_eq!(text(&raw, "lease_id"), "pki/issue/x/123");
        assert_eq!(text(&raw, "lease_duration"), "3600");
        assert_eq!(text(&raw, "warnings"), "");
        assert!(raw.contains_key("data") && raw.contains_key("auth") && !raw.contains_key("wrap_info"));
        assert!(result_of(VaultDynamicSecretResultType::Auth, &json!({"data": {}, "auth": null})).unwrap().is_empty());
    }

    #[test]
    fn a_part_that_is_not_an_object_is_malformed_and_not_quoted() {
        let err = result_of(VaultDynamicSecretResultType::Data, &json!({"data": "hunter2"})).unwrap_err();
        assert!(matches!(err, ProviderError::Malformed(_)));
        assert!(!err.to_string().contains("hunter2"));
    }
}
