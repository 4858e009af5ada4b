//! How a store client gets its Vault token: a static token from a Secret, or a login (AppRole, Kubernetes,
//! UserPass, LDAP, JWT) whose token is cached per store identity and replaced before its lease ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use external_secrets_api::meta::{SecretKeySelector, ServiceAccountSelector};
use external_secrets_api::{VaultAuth, VaultProvider};
use external_secrets_provider::{CredentialResolver, ProviderError, SecretBytes};
use reqwest::Method;

use crate::http::Connection;

/// The lifetime asked for a ServiceAccount token minted for a login (ESO: 600 seconds).
const SERVICE_ACCOUNT_TOKEN_LIFETIME: Duration = Duration::from_secs(600);

/// How a store authenticates.
#[derive(Clone)]
pub(crate) enum Login {
    /// `tokenSecretRef`: the token is read from the Secret at each client build; never cached here.
    Token(SecretKeySelector),
    /// `appRole`.
    AppRole { path: String, role_id: RoleId, secret_id: SecretKeySelector },
    /// `kubernetes`: a ServiceAccount token (TokenRequest) or a JWT from a Secret.
    Kubernetes { path: String, role: String, jwt: Jwt },
    /// `userPass` and `ldap`: a username and a password from a Secret.
    Password { path: String, username: String, password: SecretKeySelector },
    /// `jwt`.
    Jwt { path: String, role: String, jwt: Jwt },
}

/// Where an AppRole's role ID comes from.
#[derive(Clone)]
pub(crate) enum RoleId {
    Inline(String),
    Secret(SecretKeySelector),
}

/// Where a JWT comes from.
#[derive(Clone)]
pub(crate) enum Jwt {
    ServiceAccount { account: ServiceAccountSelector, audiences: Vec<String>, lifetime: Duration },
    Secret(SecretKeySelector),
}

impl Login {
    /// The login `auth` configures; auth methods this operator does not implement are `Unsupported`.
    pub(crate) fn from_spec(auth: &VaultAuth) -> Result<Self, ProviderError> {
        if let Some(selector) = &auth.token_secret_ref {
            return Ok(Login::Token(selector.clone()));
        }
        if let Some(app_role) = &auth.app_role {
            let role_id = match (&app_role.role_ref, app_role.role_id.as_str()) {
                (Some(selector), _) => RoleId::Secret(selector.clone()),
                (None, "") => {
                    return Err(ProviderError::InvalidConfig("appRole needs roleId or roleRef".to_string()));
                }
                (None, role_id) => RoleId::Inline(role_id.to_string()),
            };
            return Ok(Login::AppRole { path: app_role.path.clone(), role_id, secret_id: app_role.secret_ref.clone() });
        }
        if let Some(kubernetes) = &auth.kubernetes {
            let jwt = match (&kubernetes.service_account_ref, &kubernetes.secret_ref) {
                (Some(account), _) => Jwt::ServiceAccount {
                    account: account.clone(),
                    audiences: account.audiences.clone(),
                    lifetime: SERVICE_ACCOUNT_TOKEN_LIFETIME,
                },
                (None, Some(selector)) => {
                    let mut selector = selector.clone();
                    if selector.key.is_empty() {
                        selector.key = "token".to_string();
                    }
                    Jwt::Secret(selector)
                }
                (None, None) => {
                    return Err(ProviderError::Unsupported(
                        "kubernetes auth without serviceAccountRef or secretRef (the operator's own token) is not \
                         supported"
                            .to_string(),
                    ));
                }
            };
            return Ok(Login::Kubernetes { path: kubernetes.path.clone(), role: kubernetes.role.clone(), jwt });
        }
        if let Some(user_pass) = &auth.user_pass {
            return password_login(&user_pass.path, &user_pass.username, user_pass.secret_ref.as_ref(), "userPass");
        }
        if let Some(ldap) = &auth.ldap {
            return password_login(&ldap.path, &ldap.username, ldap.secret_ref.as_ref(), "ldap");
        }
        if let Some(jwt) = &auth.jwt {
            let source = match (&jwt.kubernetes_service_account_token, &jwt.secret_ref) {
                (Some(token), _) => {
                    let audiences = match &token.audiences {
                        Some(audiences) => audiences.clone(),
                        None if !token.service_account_ref.audiences.is_empty() => {
                            token.service_account_ref.audiences.clone()
                        }
                        None => vec!["vault".to_string()],
                    };
                    let seconds = token.expiration_seconds.and_then(|s| u64::try_from(s).ok()).unwrap_or(600);
                    Jwt::ServiceAccount {
                        account: token.service_account_ref.clone(),
                        audiences,
                        lifetime: Duration::from_secs(seconds),
                    }
                }
                (None, Some(selector)) => Jwt::Secret(selector.clone()),
                (None, None) => {
                    return Err(ProviderError::InvalidConfig(
                        "jwt auth needs secretRef or kubernetesServiceAccountToken".to_string(),
                    ));
                }
            };
            return Ok(Login::Jwt { path: jwt.path.clone(), role: jwt.role.clone(), jwt: source });
        }
        let unsupported = [(auth.cert.is_some(), "cert"), (auth.iam.is_some(), "iam"), (auth.gcp.is_some(), "gcp")];
        if let Some((_, name)) = unsupported.iter().find(|(set, _)| *set) {
            return Err(ProviderError::Unsupported(format!("Vault auth method {name} is not supported yet")));
        }
        Err(ProviderError::InvalidConfig("auth names no Vault auth method".to_string()))
    }

    /// The method's name, for logs and errors.
    pub(crate) fn method(&self) -> &'static str {
        match self {
            Login::Token(_) => "token",
            Login::AppRole { .. } => "appRole",
            Login::Kubernetes { .. } => "kubernetes",
            Login::Password { .. } => "userPass/ldap",
            Login::Jwt { .. } => "jwt",
        }
    }

    /// Every Secret or ServiceAccount reference of the login, for the referent-authentication check.
    pub(crate) fn references_without_namespace(&self) -> bool {
        let secret = |s: &SecretKeySelector| s.namespace.is_none();
        let jwt = |j: &Jwt| match j {
            Jwt::ServiceAccount { account, .. } => account.namespace.is_none(),
            Jwt::Secret(s) => secret(s),
        };
        match self {
            Login::Token(s) => secret(s),
            Login::AppRole { role_id, secret_id, .. } => {
                secret(secret_id) || matches!(role_id, RoleId::Secret(s) if secret(s))
            }
            Login::Kubernetes { jwt: j, .. } | Login::Jwt { jwt: j, .. } => jwt(j),
            Login::Password { password, .. } => secret(password),
        }
    }

    /// Logs in (or reads the static token): the token and, for a login, how long Vault leased it (`None`: no
    /// expiry, or a static token).
    pub(crate) async fn token(
        &self,
        connection: &Connection,
        credentials: &CredentialResolver,
    ) -> Result<(SecretBytes, Option<Duration>), ProviderError> {
        let (path, body) = match self {
            Login::Token(selector) => {
                let token = credentials.secret_key(selector).await.map_err(|e| e.context("auth.tokenSecretRef"))?;
                let trimmed = String::from_utf8_lossy(token.expose()).trim().to_string();
                return Ok((SecretBytes::from(trimmed), None));
            }
            Login::AppRole { path, role_id, secret_id } => {
                let role_id = match role_id {
                    RoleId::Inline(id) => id.clone(),
                    RoleId::Secret(selector) => text(credentials, selector, "auth.appRole.roleRef").await?,
                };
                let secret_id = text(credentials, secret_id, "auth.appRole.secretRef").await?;
                (path, serde_json::json!({"role_id": role_id, "secret_id": secret_id}))
            }
            Login::Kubernetes { path, role, jwt } => {
                (path, serde_json::json!({"role": role, "jwt": jwt_text(credentials, jwt, "auth.kubernetes").await?}))
            }
            Login::Jwt { path, role, jwt } => {
                (path, serde_json::json!({"role": role, "jwt": jwt_text(credentials, jwt, "auth.jwt").await?}))
            }
            Login::Password { path, username, password } => {
                let password = text(credentials, password, "auth secretRef").await?;
                let login_path = format!("{path}/login/{username}");
                return login(connection, &login_path, &serde_json::json!({ "password": password })).await;
            }
        };
        login(connection, &format!("{path}/login"), &body).await
    }
}

fn password_login(
    path: &str,
    username: &str,
    secret: Option<&SecretKeySelector>,
    what: &str,
) -> Result<Login, ProviderError> {
    let password =
        secret.cloned().ok_or_else(|| ProviderError::InvalidConfig(format!("auth.{what}.secretRef is required")))?;
    Ok(Login::Password { path: path.to_string(), username: username.to_string(), password })
}

async fn text(
    credentials: &CredentialResolver,
    selector: &SecretKeySelector,
    what: &str,
) -> Result<String, ProviderError> {
    let bytes = credentials.secret_key(selector).await.map_err(|e| e.context(what))?;
    Ok(String::from_utf8_lossy(bytes.expose()).trim().to_string())
}

async fn jwt_text(credentials: &CredentialResolver, jwt: &Jwt, what: &str) -> Result<String, ProviderError> {
    match jwt {
        Jwt::Secret(selector) => text(credentials, selector, what).await,
        Jwt::ServiceAccount { account, audiences, lifetime } => Ok(credentials
            .service_account_token(account, audiences, *lifetime)
            .await
            .map_err(|e| e.context(what))?
            .into_string()),
    }
}

/// `POST /v1/auth/<path>`: the client token and its lease. Any refusal is `Auth` (Vault answers 400 for a bad
/// role or secret ID, 403 for a rejected JWT); 5xx stays `Unavailable`.
async fn login(
    connection: &Connection,
    path: &str,
    body: &serde_json::Value,
) -> Result<(SecretBytes, Option<Duration>), ProviderError> {
    let path = format!("auth/{}", path.trim_matches('/'));
    let answer = connection.send(Method::POST, &path, &[], None, Some(body)).await?;
    if !answer.status.is_success() {
        return Err(match answer.error(&format!("logging in at {path}")) {
            err @ (ProviderError::Unavailable(_) | ProviderError::Throttled(_)) => err,
            _ => ProviderError::Auth(format!("logging in at {path}: {}", answer.errors())),
        });
    }
    let auth = answer.body.get("auth");
    let token = auth.and_then(|a| a.get("client_token")).and_then(|t| t.as_str()).filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(ProviderError::Malformed(format!("the login at {path} answered no client_token")));
    };
    let lease = auth.and_then(|a| a.get("lease_duration")).and_then(|l| l.as_u64()).filter(|l| *l > 0);
    Ok((SecretBytes::from(token), lease.map(Duration::from_secs)))
}

/// A token with the time after which it should be replaced.
#[derive(Clone)]
pub(crate) struct CachedToken {
    pub(crate) token: SecretBytes,
    renew_at: Option<Instant>,
}

impl CachedToken {
    /// A token leased for `lease` now; replaced after two thirds of it (Vault's own agents renew at about that
    /// point), so a request never carries a token about to expire.
    pub(crate) fn new(token: SecretBytes, lease: Option<Duration>, now: Instant) -> Self {
        Self { token, renew_at: lease.map(|lease| now + lease * 2 / 3) }
    }

    /// Whether the token is still good to use at `now`.
    pub(crate) fn fresh(&self, now: Instant) -> bool {
        self.renew_at.is_none_or(|at| now < at)
    }
}

/// Login tokens per store identity (the store, the namespace it serves, and its spec), shared by the clients
/// built for it, so that rebuilding a client does not log in again while the token is fresh.
#[derive(Default)]
pub(crate) struct TokenCache {
    tokens: Mutex<HashMap<String, CachedToken>>,
}

impl TokenCache {
    pub(crate) fn get(&self, identity: &str, now: Instant) -> Option<CachedToken> {
        let tokens = self.tokens.lock().ok()?;
        tokens.get(identity).filter(|t| t.fresh(now)).cloned()
    }

    pub(crate) fn put(&self, identity: &str, token: CachedToken) {
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.retain(|_, t| t.fresh(Instant::now()));
            tokens.insert(identity.to_string(), token);
        }
    }

    pub(crate) fn forget(&self, identity: &str) {
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.remove(identity);
        }
    }
}

/// The cache key of a store identity: its scope and a digest of its spec (credentials are not in it; they are
/// read from the cluster at login).
pub(crate) fn identity(scope: &str, spec: &VaultProvider) -> String {
    use sha3::Digest;
    let spec = serde_json::to_vec(spec).unwrap_or_default();
    format!("{scope}/{}", hex::encode(sha3::Sha3_256::digest(&spec)))
}

/// Shared token state of one store client.
pub(crate) type SharedCache = Arc<TokenCache>;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn auth(value: serde_json::Value) -> VaultAuth {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn tokens_are_replaced_after_two_thirds_of_their_lease() {
        let now = Instant::now();
        let token = CachedToken::new(SecretBytes::from("t"), Some(Duration::from_secs(90)), now);
        assert!(token.fresh(now + Duration::from_secs(59)));
        assert!(!token.fresh(now + Duration::from_secs(60)));
        assert!(CachedToken::new(SecretBytes::from("root"), None, now).fresh(now + Duration::from_secs(1 << 30)));
    }

    #[test]
    fn the_cache_keeps_tokens_per_identity_until_they_go_stale() {
        let cache = TokenCache::default();
        let now = Instant::now();
        cache.put("a", CachedToken::new(SecretBytes::from("ta"), Some(Duration::from_secs(300)), now));
        assert_eq!(cache.get("a", now).map(|t| t.token), Some(SecretBytes::from("ta")));
        assert!(cache.get("b", now).is_none());
        assert!(cache.get("a", now + Duration::from_secs(250)).is_none(), "stale after 2/3 of the lease");
        cache.forget("a");
        assert!(cache.get("a", now).is_none());
    }

    #[test]
    fn logins_follow_the_configured_method() {
        let login =
            Login::from_spec(&auth(serde_json::json!({"kubernetes": {"role": "r", "secretRef": {"name": "jwt"}}})))
                .unwrap();
        assert!(
            matches!(&login, Login::Kubernetes { path, jwt: Jwt::Secret(s), .. } if path == "kubernetes" && s.key == "token")
        );
        let login = Login::from_spec(&auth(
            serde_json::json!({"appRole": {"roleId": "id", "secretRef": {"name": "s", "key": "k"}}}),
        ))
        .unwrap();
        assert!(matches!(login, Login::AppRole { role_id: RoleId::Inline(_), .. }));
        let err = Login::from_spec(&auth(serde_json::json!({"appRole": {"secretRef": {"name": "s", "key": "k"}}})))
            .err()
            .unwrap();
        assert!(matches!(err, ProviderError::InvalidConfig(_)), "{err}");
        let err = Login::from_spec(&auth(serde_json::json!({"iam": {"vaultRole": "r"}}))).err().unwrap();
        assert!(matches!(err, ProviderError::Unsupported(_)), "{err}");
        let login = Login::from_spec(&auth(serde_json::json!({"jwt": {"role": "r", "kubernetesServiceAccountToken": {"serviceAccountRef": {"name": "sa"}}}})))
            .unwrap();
        assert!(
            matches!(login, Login::Jwt { jwt: Jwt::ServiceAccount { audiences, .. }, .. } if audiences == ["vault"])
        );
        assert!(Login::from_spec(&VaultAuth::default()).is_err());
    }

    #[test]
    fn identities_differ_by_store_and_spec() {
        let spec =
            |server: &str| -> VaultProvider { serde_json::from_value(serde_json::json!({"server": server})).unwrap() };
        assert_eq!(identity("ss/a/b", &spec("http://v")), identity("ss/a/b", &spec("http://v")));
        assert_ne!(identity("ss/a/b", &spec("http://v")), identity("ss/a/c", &spec("http://v")));
        assert_ne!(identity("ss/a/b", &spec("http://v")), identity("ss/a/b", &spec("http://w")));
    }
}
