//! The `vault` provider (`spec.provider.vault`): secrets of a HashiCorp Vault KV engine, v1 or v2.
//!
//! What a store client answers, as ESO does:
//!
//! - `get`: `key` is a path, made into Vault's API path by ESO's rules (`path` is the mount; on v2 `data/` is
//!   added where missing; see [`paths`]). The value is the secret's data as a JSON object, so that `property`
//!   (a data key first, then a gjson path) and `extract` work in `external-secrets-core`. `version` is KV v2's
//!   version number.
//! - `metadataPolicy: Fetch` (v2 only): the JSON object of `custom_metadata` plus `created_time`,
//!   `current_version` and `delete_version_after`, all as strings (empty when there is none).
//! - `find`: lists below `find.path` (recursively) and selects by `name.regexp`, or by `tags` against each
//!   secret's metadata (v2 only).
//! - `validate`: logs in (or checks a static token with `auth/token/lookup-self`).
//! - Errors: only Vault's 404 of a secret (or a deleted v2 version) is [`ProviderError::NotFound`]; 401/403 are
//!   `Denied` (a failed login `Auth`), 5xx `Unavailable`. No token or value is ever in an error or a log line.
//!
//! - PushSecret (`push_secret`, `delete_secret`, `secret_exists`): as ESO's `client_push.go`, see [`push`].
//!
//! Auth: `tokenSecretRef`, `appRole`, `kubernetes` (a ServiceAccount token minted with TokenRequest, or a JWT
//! in a Secret), `userPass`, `ldap`, `jwt` (a Secret or a TokenRequest token), `cert` (a TLS client
//! certificate). A login token is shared by every client of a store identity (store, referent namespace, spec),
//! renewed (`renew-self`) after two thirds of its lease, replaced by a new login when a renewal runs into its max
//! TTL or when Vault no longer knows it (a 403 whose token fails `auth/token/lookup-self`), and revoked
//! (`revoke-self`) when the last client of the identity goes: the store was deleted or changed. `iam` and `gcp`
//! are refused as not supported.

mod auth;
mod client;
mod generator;
mod http;
mod paths;
mod push;

use std::sync::Arc;

use async_trait::async_trait;
use external_secrets_api::meta::SecretKeySelector;
use external_secrets_api::{VaultKvStoreVersion, VaultProvider as VaultSpec};
use external_secrets_provider::{
    Capabilities, CredentialResolver, Provider, ProviderError, StoreClient, StoreContext, StoreKind,
};

use crate::auth::{Login, TokenCache};
use crate::client::{Access, KvSettings, Session, VaultStoreClient};
use crate::http::{Connection, RequestSettings, TlsSettings};

pub use generator::VaultGenerators;

/// `provider` label of ESO's `externalsecret_provider_api_calls_count` for Vault.
pub(crate) const PROVIDER: &str = "HashiCorp/Vault";

/// The `vault` provider. Holds the login tokens of every store it serves.
#[derive(Default)]
pub struct VaultProvider {
    tokens: Arc<TokenCache>,
}

impl std::fmt::Debug for VaultProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultProvider").finish_non_exhaustive()
    }
}

impl VaultProvider {
    /// The provider, with an empty token cache.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Provider for VaultProvider {
    type Spec = VaultSpec;

    /// `ReadWrite`, as ESO reports it: reads, `find`, and PushSecret writes and deletes.
    fn capabilities(&self) -> Capabilities {
        Capabilities::ReadWrite
    }

    /// ESO's admission checks: `server` is set; `caProvider.namespace` only (and always) in a
    /// ClusterSecretStore; a Secret reference has a name; an AppRole has a role ID.
    fn validate_spec(&self, spec: &VaultSpec, kind: StoreKind) -> Result<(), ProviderError> {
        let invalid = |why: &str| Err(ProviderError::InvalidConfig(why.to_string()));
        if spec.server.is_empty() {
            return invalid("vault server must be set");
        }
        if let Some(ca) = &spec.ca_provider {
            match (kind, &ca.namespace) {
                (StoreKind::ClusterSecretStore, None) => {
                    return invalid("CAProvider.namespace must not be empty with ClusterSecretStore");
                }
                (StoreKind::SecretStore, Some(_)) => {
                    return invalid("CAProvider.namespace must be empty with SecretStore");
                }
                _ => {}
            }
        }
        if spec.check_and_set.as_ref().is_some_and(|c| c.required) && spec.version == VaultKvStoreVersion::V1 {
            return invalid("checkAndSet is not supported with Vault KV version v1");
        }
        let Some(auth) = &spec.auth else { return invalid("auth must be set") };
        match Login::from_spec(auth) {
            // An auth method not implemented here is admitted, as ESO admits it; the store reports it when used.
            Ok(_) | Err(ProviderError::Unsupported(_)) => {}
            Err(err) => return Err(err),
        }
        for selector in secret_selectors(spec) {
            if selector.name.is_empty() {
                return invalid("a secretRef of auth has no name");
            }
        }
        Ok(())
    }

    async fn client(&self, spec: &VaultSpec, ctx: &StoreContext) -> Result<Arc<dyn StoreClient>, ProviderError> {
        let auth = spec.auth.as_ref().ok_or_else(|| ProviderError::InvalidConfig("auth must be set".to_string()))?;
        let login = Login::from_spec(auth)?;
        let kv = KvSettings {
            mount: spec.path.clone().filter(|p| !p.is_empty()),
            version: spec.version,
            check_and_set: spec.check_and_set.as_ref().is_some_and(|c| c.required),
        };
        if ctx.kind() == StoreKind::ClusterSecretStore
            && ctx.referent_namespace().is_none()
            && login.references_without_namespace()
        {
            return Ok(Arc::new(VaultStoreClient { kv, access: Access::Deferred }));
        }
        let scope = ctx.scope();
        let store = format!(
            "{}/{}/{}/{}",
            ctx.kind(),
            scope.namespace.as_deref().unwrap_or_default(),
            scope.name,
            scope.referent_namespace.as_deref().unwrap_or_default()
        );
        // A static token is the user's: never revoked by us.
        let revocable = !matches!(login, Login::Token(_));
        let session = self.session(spec, login, ctx.credentials().clone(), &store, revocable).await?;
        // Log in now, so that a wrong credential shows on the store's status when it is validated.
        session.token().await?;
        tracing::debug!(
            kind = %ctx.kind(),
            store = ctx.name(),
            namespace = ctx.namespace().unwrap_or_default(),
            method = session.login.method(),
            "built a vault store client"
        );
        Ok(Arc::new(VaultStoreClient { kv, access: Access::Ready(Box::new(session)) }))
    }
}

impl VaultProvider {
    /// A session (connection, login, token slot) for `spec`, reading credentials with `credentials`; `scope`
    /// names the store (or generator) the token belongs to. `revocable`: revoke the token when the last
    /// session of the identity goes.
    async fn session(
        &self,
        spec: &VaultSpec,
        login: Login,
        credentials: CredentialResolver,
        scope: &str,
        revocable: bool,
    ) -> Result<Session, ProviderError> {
        let tls = tls_settings(spec, &login, &credentials).await?;
        let settings = RequestSettings {
            namespace: spec.namespace.clone(),
            headers: spec.headers.clone(),
            forward_inconsistent: spec.forward_inconsistent,
            read_your_writes: spec.read_your_writes,
        };
        let connection = Connection::new(&spec.server, tls, settings)?;
        let login_connection = match spec.auth.as_ref().and_then(|a| a.namespace.as_ref()) {
            Some(namespace) => connection.in_namespace(Some(namespace.clone())),
            None => connection.clone(),
        };
        let revoke_via = revocable.then(|| login_connection.clone());
        let slot = self.tokens.slot(&auth::identity(scope, spec), revoke_via);
        Ok(Session { connection, login_connection, login, credentials, slot })
    }
}

/// The Secret references of `auth` (for the name check).
fn secret_selectors(spec: &VaultSpec) -> Vec<&SecretKeySelector> {
    let Some(auth) = &spec.auth else { return Vec::new() };
    let mut out: Vec<&SecretKeySelector> = Vec::new();
    out.extend(auth.token_secret_ref.as_ref());
    if let Some(app_role) = &auth.app_role {
        out.push(&app_role.secret_ref);
        out.extend(app_role.role_ref.as_ref());
    }
    out.extend(auth.kubernetes.as_ref().and_then(|k| k.secret_ref.as_ref()));
    out.extend(auth.user_pass.as_ref().and_then(|u| u.secret_ref.as_ref()));
    out.extend(auth.ldap.as_ref().and_then(|l| l.secret_ref.as_ref()));
    out.extend(auth.jwt.as_ref().and_then(|j| j.secret_ref.as_ref()));
    if let Some(cert) = &auth.cert {
        out.extend(cert.client_cert.as_ref());
        out.extend(cert.secret_ref.as_ref());
    }
    out
}

/// `caBundle`, `caProvider` and the client certificate: `auth.cert`'s when that is the login (ESO sets it on the
/// transport, over `tls`), else `tls`'s.
async fn tls_settings(
    spec: &VaultSpec,
    login: &Login,
    credentials: &CredentialResolver,
) -> Result<TlsSettings, ProviderError> {
    let mut tls = TlsSettings::default();
    if let Some(bundle) = &spec.ca_bundle {
        tls.ca_pem.push(bundle.0.clone());
    }
    if let Some(ca) = &spec.ca_provider {
        tls.ca_pem.push(credentials.ca_provider_pem(ca, "ca.crt").await.map_err(|e| e.context("caProvider"))?);
    }
    if let Some(client_tls) = &spec.client_tls
        && let (Some(cert), Some(key)) = (&client_tls.cert_secret_ref, &client_tls.key_secret_ref)
    {
        let with_default = |selector: &SecretKeySelector, key: &str| {
            let mut selector = selector.clone();
            if selector.key.is_empty() {
                selector.key = key.to_string();
            }
            selector
        };
        let cert =
            credentials.secret_key(&with_default(cert, "tls.crt")).await.map_err(|e| e.context("tls.certSecretRef"))?;
        let key =
            credentials.secret_key(&with_default(key, "tls.key")).await.map_err(|e| e.context("tls.keySecretRef"))?;
        tls.client_cert = Some((cert.into_inner(), key));
    }
    if let Login::Cert { client_cert, client_key, .. } = login {
        let cert = credentials.secret_key(client_cert).await.map_err(|e| e.context("auth.cert.clientCert"))?;
        let key = credentials.secret_key(client_key).await.map_err(|e| e.context("auth.cert.secretRef"))?;
        tls.client_cert = Some((cert.into_inner(), key));
    }
    Ok(tls)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn spec(value: serde_json::Value) -> VaultSpec {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn admission_checks_follow_eso() {
        let provider = VaultProvider::new();
        let token = serde_json::json!({"tokenSecretRef": {"name": "t", "key": "token"}});
        let ok = spec(serde_json::json!({"server": "http://vault:8200", "auth": token}));
        assert!(provider.validate_spec(&ok, StoreKind::SecretStore).is_ok());
        let no_auth = spec(serde_json::json!({"server": "http://vault:8200"}));
        assert!(provider.validate_spec(&no_auth, StoreKind::SecretStore).is_err());
        let ca = spec(serde_json::json!({
            "server": "https://vault:8200", "auth": token,
            "caProvider": {"type": "ConfigMap", "name": "ca", "key": "ca.crt"},
        }));
        assert!(provider.validate_spec(&ca, StoreKind::SecretStore).is_ok());
        assert!(provider.validate_spec(&ca, StoreKind::ClusterSecretStore).is_err());
        let iam = spec(serde_json::json!({"server": "http://v", "auth": {"iam": {"vaultRole": "r"}}}));
        assert!(provider.validate_spec(&iam, StoreKind::SecretStore).is_ok(), "admitted; refused when used");
    }
}
