//! How a store client gets its Vault token: a static token from a Secret, or a login (AppRole, Kubernetes,
//! UserPass, LDAP, JWT) whose token is cached per store identity and replaced before its lease ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use external_secrets_api::meta::{SecretKeySelector, ServiceAccountSelector};
use external_secrets_api::{VaultAuth, VaultProvider};
use external_secrets_provider::api_calls::record;
use external_secrets_provider::{CredentialResolver, ProviderError, SecretBytes};
use reqwest::Method;
use tokio::sync::Mutex as AsyncMutex;

use crate::PROVIDER;
use crate::http::{Answer, Connection};

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
    /// `cert`: TLS client certificate auth; the certificate is the connection's (see the provider's TLS
    /// settings), the login names the role.
    Cert { path: String, role: String, client_cert: SecretKeySelector, client_key: SecretKeySelector },
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
        if let Some(cert) = &auth.cert {
            let (Some(client_cert), Some(client_key)) = (&cert.client_cert, &cert.secret_ref) else {
                return Err(ProviderError::InvalidConfig("cert auth needs clientCert and secretRef".to_string()));
            };
            let path = if cert.path.is_empty() { "cert".to_string() } else { cert.path.clone() };
            return Ok(Login::Cert {
                path,
                role: cert.vault_role.clone(),
                client_cert: client_cert.clone(),
                client_key: client_key.clone(),
            });
        }
        let unsupported = [(auth.iam.is_some(), "iam"), (auth.gcp.is_some(), "gcp")];
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
            Login::Cert { .. } => "cert",
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
            Login::Cert { client_cert, client_key, .. } => secret(client_cert) || secret(client_key),
        }
    }

    /// Logs in (or reads the static token): the token and, for a login, how long Vault leased it.
    pub(crate) async fn token(
        &self,
        connection: &Connection,
        credentials: &CredentialResolver,
    ) -> Result<Issued, ProviderError> {
        let (path, body) = match self {
            Login::Token(selector) => {
                let token = credentials.secret_key(selector).await.map_err(|e| e.context("auth.tokenSecretRef"))?;
                let trimmed = String::from_utf8_lossy(token.expose()).trim().to_string();
                return Ok(Issued { token: SecretBytes::from(trimmed), lease: None, renewable: false });
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
            Login::Cert { path, role, .. } => {
                let body = if role.is_empty() { serde_json::json!({}) } else { serde_json::json!({ "name": role }) };
                (path, body)
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

/// Counts a call to Vault (ESO's `externalsecret_provider_api_calls_count`): a success only for a 2xx answer.
pub(crate) fn counted(call: &'static str, answer: Result<Answer, ProviderError>) -> Result<Answer, ProviderError> {
    record(PROVIDER, call, matches!(&answer, Ok(a) if a.status.is_success()));
    answer
}

/// What a login answered: the token, its lease (`None`: no expiry, or a static token) and whether Vault lets it
/// be renewed.
pub(crate) struct Issued {
    pub(crate) token: SecretBytes,
    pub(crate) lease: Option<Duration>,
    pub(crate) renewable: bool,
}

/// `POST /v1/auth/<path>`: the client token and its lease. Any refusal is `Auth` (Vault answers 400 for a bad
/// role or secret ID, 403 for a rejected JWT); 5xx stays `Unavailable`.
async fn login(connection: &Connection, path: &str, body: &serde_json::Value) -> Result<Issued, ProviderError> {
    let path = format!("auth/{}", path.trim_matches('/'));
    let answer = counted("Login", connection.send(Method::POST, &path, &[], None, Some(body)).await)?;
    if !answer.status.is_success() {
        return Err(match answer.error(&format!("logging in at {path}")) {
            err @ (ProviderError::Unavailable(_) | ProviderError::Throttled(_)) => err,
            _ => ProviderError::Auth(format!("logging in at {path}: {}", answer.errors())),
        });
    }
    issued(&answer, &path)
}

/// The token of an answer carrying an `auth` block (a login or a renewal).
fn issued(answer: &Answer, path: &str) -> Result<Issued, ProviderError> {
    let auth = answer.body.get("auth");
    let token = auth.and_then(|a| a.get("client_token")).and_then(|t| t.as_str()).filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(ProviderError::Malformed(format!("the answer of {path} carries no client_token")));
    };
    let lease = auth.and_then(|a| a.get("lease_duration")).and_then(|l| l.as_u64()).filter(|l| *l > 0);
    let renewable = auth.and_then(|a| a.get("renewable")).and_then(|r| r.as_bool()).unwrap_or(false);
    Ok(Issued { token: SecretBytes::from(token), lease: lease.map(Duration::from_secs), renewable })
}

/// `POST /v1/auth/token/renew-self`: the token's new lease.
pub(crate) async fn renew(connection: &Connection, token: &SecretBytes) -> Result<Option<Duration>, ProviderError> {
    let path = "auth/token/renew-self";
    let body = serde_json::json!({});
    let answer = counted("RenewSelf", connection.send(Method::POST, path, &[], Some(token), Some(&body)).await)?;
    if !answer.status.is_success() {
        return Err(answer.error("renewing the Vault token"));
    }
    Ok(issued(&answer, path)?.lease)
}

/// `POST /v1/auth/token/revoke-self`, best effort (the token expires anyway).
async fn revoke(connection: &Connection, token: &SecretBytes) {
    let answer =
        counted("RevokeSelf", connection.send(Method::POST, "auth/token/revoke-self", &[], Some(token), None).await);
    if !matches!(&answer, Ok(a) if a.status.is_success()) {
        tracing::debug!("revoking a Vault token failed; it expires with its lease");
    }
}

/// A token with the times it should be renewed (or replaced) and it expires.
#[derive(Clone)]
pub(crate) struct CachedToken {
    pub(crate) token: SecretBytes,
    /// The lease the login gave (renewals that give much less mean the token nears its max TTL).
    login_lease: Option<Duration>,
    renew_at: Option<Instant>,
    expires_at: Option<Instant>,
    renewable: bool,
}

impl CachedToken {
    /// A token issued by a login started at `now`; due for renewal after two thirds of its lease (Vault's own
    /// agents renew at about that point), so a request never carries a token about to expire.
    pub(crate) fn new(issued: Issued, now: Instant) -> Self {
        let Issued { token, lease, renewable } = issued;
        Self {
            token,
            login_lease: lease,
            renew_at: lease.map(|lease| now + lease * 2 / 3),
            expires_at: lease.map(|lease| now + lease),
            renewable,
        }
    }

    /// Whether the token is still good to use at `now` without renewing it.
    pub(crate) fn fresh(&self, now: Instant) -> bool {
        self.renew_at.is_none_or(|at| now < at)
    }

    /// Whether the token has expired at `now` (a static token never does).
    pub(crate) fn expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// Whether a renewal at `now` is worth trying: Vault allows it and the token has not expired.
    pub(crate) fn renewable_at(&self, now: Instant) -> bool {
        self.renewable && self.expires_at.is_some_and(|at| now < at)
    }

    /// The token after a renewal started at `now` granted `lease`, or `None` when that lease is less than half
    /// of what the login gave (the token nears its max TTL): then a new login is due.
    pub(crate) fn renewed(&self, lease: Option<Duration>, now: Instant) -> Option<Self> {
        let (Some(lease), Some(login_lease)) = (lease, self.login_lease) else { return None };
        if lease * 2 < login_lease {
            return None;
        }
        Some(Self { renew_at: Some(now + lease * 2 / 3), expires_at: Some(now + lease), ..self.clone() })
    }
}

/// The token of one store identity, shared by every client built for it. When the last client goes (the store
/// is deleted, or its spec changes), a login token is revoked.
pub(crate) struct TokenSlot {
    current: Mutex<Option<CachedToken>>,
    /// Serialises logins and renewals, so that concurrent reads log in once.
    pub(crate) login_lock: AsyncMutex<()>,
    /// Where the token is revoked; `None` for a static token, which is the user's, never ours to revoke.
    revoke_via: Option<Connection>,
}

impl TokenSlot {
    /// The token, fresh or not.
    pub(crate) fn current(&self) -> Option<CachedToken> {
        self.current.lock().ok().and_then(|t| t.clone())
    }

    /// The token while it is fresh at `now`.
    pub(crate) fn fresh(&self, now: Instant) -> Option<CachedToken> {
        self.current().filter(|t| t.fresh(now))
    }

    pub(crate) fn set(&self, token: Option<CachedToken>) {
        if let Ok(mut current) = self.current.lock() {
            *current = token;
        }
    }
}

impl Drop for TokenSlot {
    fn drop(&mut self) {
        let (Some(connection), Some(token)) =
            (self.revoke_via.take(), self.current.get_mut().ok().and_then(|t| t.take()))
        else {
            return;
        };
        if token.expires_at.is_some_and(|at| at <= Instant::now()) {
            return;
        }
        // Without a runtime (the process is ending) the token is left to expire.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { revoke(&connection, &token.token).await });
        }
    }
}

/// The token slots of the live store identities (the store, the namespace it serves, and its spec). A slot lives
/// as long as a client holds it, so that rebuilding a client while another is alive does not log in again.
#[derive(Default)]
pub(crate) struct TokenCache {
    slots: Mutex<HashMap<String, Weak<TokenSlot>>>,
}

impl TokenCache {
    /// The slot of `identity`, shared with the live clients of it, or a new one (revoking through `revoke_via`).
    pub(crate) fn slot(&self, identity: &str, revoke_via: Option<Connection>) -> Arc<TokenSlot> {
        let Ok(mut slots) = self.slots.lock() else {
            return Arc::new(TokenSlot { current: Mutex::default(), login_lock: AsyncMutex::new(()), revoke_via });
        };
        if let Some(slot) = slots.get(identity).and_then(Weak::upgrade) {
            return slot;
        }
        slots.retain(|_, slot| slot.strong_count() > 0);
        let slot = Arc::new(TokenSlot { current: Mutex::default(), login_lock: AsyncMutex::new(()), revoke_via });
        slots.insert(identity.to_string(), Arc::downgrade(&slot));
        slot
    }
}

/// The cache key of a store identity: its scope and a digest of its spec (credentials are not in it; they are
/// read from the cluster at login).
pub(crate) fn identity(scope: &str, spec: &VaultProvider) -> String {
    use sha3::Digest;
    let spec = serde_json::to_vec(spec).unwrap_or_default();
    format!("{scope}/{}", hex::encode(sha3::Sha3_256::digest(&spec)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn auth(value: serde_json::Value) -> VaultAuth {
        serde_json::from_value(value).unwrap()
    }

    fn issued(token: &str, lease: Option<u64>, renewable: bool) -> Issued {
        Issued { token: SecretBytes::from(token), lease: lease.map(Duration::from_secs), renewable }
    }

    #[test]
    fn tokens_are_due_after_two_thirds_of_their_lease() {
        let now = Instant::now();
        let token = CachedToken::new(issued("t", Some(90), true), now);
        assert!(token.fresh(now + Duration::from_secs(59)));
        assert!(!token.fresh(now + Duration::from_secs(60)));
        assert!(token.renewable_at(now + Duration::from_secs(89)));
        assert!(!token.renewable_at(now + Duration::from_secs(90)), "an expired token is not renewed");
        let root = CachedToken::new(issued("root", None, false), now);
        assert!(root.fresh(now + Duration::from_secs(1 << 30)));
        assert!(!root.renewable_at(now));
        assert!(!CachedToken::new(issued("t", Some(90), false), now).renewable_at(now), "Vault said not renewable");
    }

    #[test]
    fn renewals_extend_the_token_until_they_run_into_its_max_ttl() {
        let now = Instant::now();
        let token = CachedToken::new(issued("t", Some(60), true), now);
        let later = now + Duration::from_secs(45);
        let renewed = token.renewed(Some(Duration::from_secs(60)), later).unwrap();
        assert!(renewed.fresh(later + Duration::from_secs(39)));
        assert!(!renewed.fresh(later + Duration::from_secs(40)));
        assert_eq!(renewed.token, SecretBytes::from("t"));
        // Capped by the max TTL: a new login instead.
        assert!(token.renewed(Some(Duration::from_secs(20)), later).is_none());
        assert!(token.renewed(None, later).is_none());
    }

    #[tokio::test]
    async fn a_slot_is_shared_while_a_client_holds_it() {
        let cache = TokenCache::default();
        let a = cache.slot("a", None);
        let now = Instant::now();
        a.set(Some(CachedToken::new(issued("ta", Some(300), true), now)));
        let again = cache.slot("a", None);
        assert!(Arc::ptr_eq(&a, &again), "the live slot of an identity is shared");
        assert_eq!(again.fresh(now).map(|t| t.token), Some(SecretBytes::from("ta")));
        assert!(cache.slot("b", None).fresh(now).is_none(), "identities do not share tokens");
        assert!(a.fresh(now + Duration::from_secs(250)).is_none(), "due after 2/3 of the lease");
        drop((a, again));
        assert!(cache.slot("a", None).current().is_none(), "a slot no client holds is gone");
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
