//! Google access tokens for a store, as ESO's `NewTokenSource` gets them, cached per identity until they expire.
//!
//! - `auth.secretRef`: a service-account key (JSON). A JWT signed with its RSA key (RS256, `kid` = the key id,
//!   `iss` = the account, `aud` = the key's `token_uri`, scope `cloud-platform`) is exchanged at the OAuth token
//!   endpoint with the JWT-bearer grant (RFC 7523), as Go's `google.JWTConfigFromJSON`.
//! - `auth.workloadIdentity` (GKE): a token of the ServiceAccount from this cluster's TokenRequest API (audiences
//!   the identity pool `<project>.svc.id.goog` plus `serviceAccountRef.audiences`) is exchanged at Google's
//!   identity-binding token endpoint (STS, `audience` = `identitynamespace:<pool>:<cluster URL>`); when the
//!   ServiceAccount is annotated `iam.gke.io/gcp-service-account`, that token then calls IAM Credentials'
//!   `generateAccessToken` for the Google service account.
//! - No auth: the pod's default credentials: the key file `GOOGLE_APPLICATION_CREDENTIALS` names (a
//!   service-account key), else the metadata server's token for the node's or pod's service account.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use external_secrets_api::ServiceAccountSelector;
use external_secrets_provider::{CredentialResolver, ProviderError, SecretBytes};
use reqwest::Method;
use serde::Deserialize;
use sha3::{Digest, Sha3_256};
use tokio::sync::Mutex as AsyncMutex;

use crate::Endpoints;
use crate::http::{Body, Http};

/// The scope every token is asked for (ESO's `CloudPlatformRole`).
pub(crate) const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Google's OAuth token endpoint, for keys that name none.
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The ServiceAccount annotation naming the Google service account to impersonate (GKE's).
pub(crate) const GCP_SA_ANNOTATION: &str = "iam.gke.io/gcp-service-account";
/// How long the ServiceAccount token minted for the exchange lives (ESO's 15 minutes).
const SUBJECT_TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// How long a signed key assertion is valid (Google's maximum).
const ASSERTION_LIFETIME_SECS: u64 = 3600;
/// The longest a token is renewed before it expires.
const MAX_RENEW_MARGIN: Duration = Duration::from_secs(5 * 60);

/// An access token and when it expires. `Debug` shows only the expiry.
#[derive(Clone)]
pub(crate) struct AccessToken {
    pub(crate) token: SecretBytes,
    obtained_at: Instant,
    expires_at: Instant,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken").field("expires_at", &self.expires_at).finish_non_exhaustive()
    }
}

impl AccessToken {
    fn new(token: String, lifetime: Duration) -> Self {
        let now = Instant::now();
        Self { token: SecretBytes::from(token), obtained_at: now, expires_at: now + lifetime }
    }

    /// Whether it is still good to use at `now`: renewed a tenth of its lifetime (at most five minutes) early.
    fn fresh_at(&self, now: Instant) -> bool {
        let lifetime = self.expires_at.saturating_duration_since(self.obtained_at);
        let margin = (lifetime / 10).min(MAX_RENEW_MARGIN);
        now + margin < self.expires_at
    }
}

/// A parsed service-account key (the JSON file Google hands out). `Debug` shows only the account.
pub(crate) struct ServiceAccountKey {
    client_email: String,
    private_key_id: String,
    /// The PKCS#8 DER of the RSA key.
    private_key: SecretBytes,
    token_uri: String,
}

impl std::fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountKey").field("client_email", &self.client_email).finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type", default)]
    type_: String,
    #[serde(default)]
    client_email: String,
    #[serde(default)]
    private_key_id: String,
    #[serde(default)]
    private_key: String,
    #[serde(default)]
    token_uri: String,
}

impl ServiceAccountKey {
    /// Parses Google's key JSON. Errors never quote the document.
    pub(crate) fn parse(json: &[u8]) -> Result<Self, ProviderError> {
        let invalid =
            |why: &str| ProviderError::InvalidConfig(format!("failed to process the provided JSON credentials: {why}"));
        let file: KeyFile = serde_json::from_slice(json).map_err(|_| invalid("not a JSON service-account key"))?;
        if file.type_ != "service_account" {
            return Err(invalid("the key's type is not \"service_account\""));
        }
        if file.client_email.is_empty() {
            return Err(invalid("the key has no client_email"));
        }
        let pem = pem::parse(file.private_key.as_bytes()).map_err(|_| invalid("the private_key is not PEM"))?;
        if pem.tag() != "PRIVATE KEY" {
            return Err(invalid("the private_key is not a PKCS#8 private key"));
        }
        let private_key = SecretBytes::new(pem.into_contents());
        ring::signature::RsaKeyPair::from_pkcs8(private_key.expose())
            .map_err(|_| invalid("the private_key is not a usable RSA key"))?;
        let token_uri = if file.token_uri.is_empty() { DEFAULT_TOKEN_URI.to_string() } else { file.token_uri };
        Ok(Self { client_email: file.client_email, private_key_id: file.private_key_id, private_key, token_uri })
    }

    /// The JWT-bearer assertion for this key, issued at `now` (seconds since the epoch): header
    /// `{"alg":"RS256","typ":"JWT","kid":<key id>}`, claims `iss`, `scope`, `aud` (the token URI), `iat`, `exp`.
    pub(crate) fn assertion(&self, now: u64) -> Result<String, ProviderError> {
        let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        if !self.private_key_id.is_empty() {
            header["kid"] = serde_json::json!(self.private_key_id);
        }
        let claims = serde_json::json!({
            "iss": self.client_email,
            "scope": CLOUD_PLATFORM_SCOPE,
            "aud": self.token_uri,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        let signing_input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let key = ring::signature::RsaKeyPair::from_pkcs8(self.private_key.expose())
            .map_err(|_| ProviderError::InvalidConfig("the service-account key is not a usable RSA key".to_string()))?;
        let mut signature = vec![0; key.public().modulus_len()];
        key.sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            signing_input.as_bytes(),
            &mut signature,
        )
        .map_err(|_| ProviderError::Internal("signing the service-account assertion failed".to_string()))?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    /// What identifies this key in the cache: account, key id, token URI and a digest of the key.
    fn cache_key(&self) -> String {
        let digest = hex::encode(&Sha3_256::digest(self.private_key.expose())[..12]);
        format!("key:{}:{}:{}:{digest}", self.client_email, self.private_key_id, self.token_uri)
    }
}

/// GKE workload identity, resolved: the ServiceAccount, the pool and provider it is exchanged for, and the
/// Google service account its annotation names.
#[derive(Debug, Clone)]
pub(crate) struct WorkloadIdentity {
    pub(crate) service_account: ServiceAccountSelector,
    /// `<cluster project>.svc.id.goog`.
    pub(crate) identity_pool: String,
    /// `https://container.googleapis.com/v1/projects/<p>/locations/<l>/clusters/<c>`.
    pub(crate) identity_provider: String,
    /// The annotation `iam.gke.io/gcp-service-account`, if set.
    pub(crate) gcp_service_account: Option<String>,
}

impl WorkloadIdentity {
    /// The identity pool and provider of a cluster (ESO's `gcpWorkloadIdentity`).
    pub(crate) fn pool_and_provider(project: &str, location: &str, cluster: &str) -> (String, String) {
        (
            format!("{project}.svc.id.goog"),
            format!("https://container.googleapis.com/v1/projects/{project}/locations/{location}/clusters/{cluster}"),
        )
    }

    /// The audiences of the ServiceAccount token: the pool, then `serviceAccountRef.audiences`.
    pub(crate) fn audiences(&self) -> Vec<String> {
        let mut audiences = vec![self.identity_pool.clone()];
        audiences.extend(self.service_account.audiences.iter().cloned());
        audiences
    }

    fn cache_key(&self) -> String {
        format!(
            "wi:{}/{}:{}:{}:{}",
            self.service_account.namespace.as_deref().unwrap_or_default(),
            self.service_account.name,
            self.audiences().join(","),
            self.identity_provider,
            self.gcp_service_account.as_deref().unwrap_or_default()
        )
    }
}

/// Where a store's tokens come from.
pub(crate) enum Identity {
    Key(ServiceAccountKey),
    /// The ServiceAccount is read through the store's resolver (its namespace already resolved).
    Workload(WorkloadIdentity, CredentialResolver),
    /// The metadata server of the node the operator runs on.
    Metadata,
}

impl Identity {
    fn cache_key(&self, endpoints: &Endpoints) -> String {
        match self {
            Identity::Key(key) => key.cache_key(),
            Identity::Workload(identity, _) => identity.cache_key(),
            Identity::Metadata => format!("metadata:{}", endpoints.metadata),
        }
    }
}

/// Access tokens by identity, shared by every store of the provider; one exchange at a time per identity.
#[derive(Default)]
pub(crate) struct TokenCache {
    entries: Mutex<HashMap<String, Arc<AsyncMutex<Option<AccessToken>>>>>,
}

impl TokenCache {
    fn entry(&self, key: &str) -> Arc<AsyncMutex<Option<AccessToken>>> {
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.entry(key.to_string()).or_default().clone()
    }
}

/// A store's way to a token: its identity, the shared cache and the endpoints.
pub(crate) struct TokenSource {
    pub(crate) identity: Identity,
    pub(crate) cache: Arc<TokenCache>,
    pub(crate) http: Http,
    pub(crate) endpoints: Arc<Endpoints>,
}

impl TokenSource {
    /// A token for this identity: the cached one while it is fresh, else a new exchange (one at a time).
    pub(crate) async fn token(&self) -> Result<SecretBytes, ProviderError> {
        let entry = self.cache.entry(&self.identity.cache_key(&self.endpoints));
        let mut slot = entry.lock().await;
        if let Some(token) = slot.as_ref().filter(|t| t.fresh_at(Instant::now())) {
            return Ok(token.token.clone());
        }
        let token = self.exchange().await?;
        let value = token.token.clone();
        *slot = Some(token);
        Ok(value)
    }

    /// Forgets the cached token (Google refused it: revoked or expired early).
    pub(crate) async fn forget(&self) {
        let entry = self.cache.entry(&self.identity.cache_key(&self.endpoints));
        *entry.lock().await = None;
    }

    async fn exchange(&self) -> Result<AccessToken, ProviderError> {
        match &self.identity {
            Identity::Key(key) => self.exchange_key(key).await,
            Identity::Workload(identity, credentials) => self.exchange_workload(identity, credentials).await,
            Identity::Metadata => self.metadata_token().await,
        }
    }

    async fn exchange_key(&self, key: &ServiceAccountKey) -> Result<AccessToken, ProviderError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let assertion = key.assertion(now)?;
        let form = [("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion.as_str())];
        let answer = self.http.send(Method::POST, &key.token_uri, &[], None, &[], Body::Form(&form)).await?;
        if !answer.is_success() {
            return Err(answer.auth_error(&format!("exchanging the key of {} for a token", key.client_email)));
        }
        oauth_token(&answer.body, "the OAuth token endpoint")
    }

    async fn exchange_workload(
        &self,
        identity: &WorkloadIdentity,
        credentials: &CredentialResolver,
    ) -> Result<AccessToken, ProviderError> {
        let subject = credentials
            .service_account_token(&identity.service_account, &identity.audiences(), SUBJECT_TOKEN_LIFETIME)
            .await
            .map_err(|e| ProviderError::from(e.context("unable to fetch pod token")))?;
        let audience = format!("identitynamespace:{}:{}", identity.identity_pool, identity.identity_provider);
        let request = serde_json::json!({
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "subject_token": subject.expose(),
            "audience": audience,
            "scope": CLOUD_PLATFORM_SCOPE,
        });
        let answer = self
            .http
            .send(Method::POST, &self.endpoints.identity_binding_token, &[], None, &[], Body::Json(&request))
            .await?;
        if !answer.is_success() {
            return Err(answer.auth_error("unable to fetch identitybindingtoken"));
        }
        let federated = oauth_token(&answer.body, "the identity-binding token endpoint")?;
        let Some(gcp_service_account) = &identity.gcp_service_account else { return Ok(federated) };
        let url = format!(
            "{}/v1/projects/-/serviceAccounts/{}:generateAccessToken",
            self.endpoints.iam_credentials,
            path_segment(gcp_service_account)
        );
        let request = serde_json::json!({"scope": [CLOUD_PLATFORM_SCOPE]});
        let answer = self.http.send(Method::POST, &url, &[], Some(&federated.token), &[], Body::Json(&request)).await?;
        if !answer.is_success() {
            return Err(answer.auth_error(&format!("unable to generate gcp access token for {gcp_service_account}")));
        }
        let token = answer.body.get("accessToken").and_then(|t| t.as_str()).filter(|t| !t.is_empty());
        let expire_time = answer.body.get("expireTime").and_then(|t| t.as_str());
        let (Some(token), Some(expire_time)) = (token, expire_time) else {
            return Err(ProviderError::Malformed("generateAccessToken answered without accessToken/expireTime".into()));
        };
        let expires: jiff::Timestamp = expire_time
            .parse()
            .map_err(|_| ProviderError::Malformed("generateAccessToken answered an unreadable expireTime".into()))?;
        let lifetime = Duration::try_from(expires.duration_since(jiff::Timestamp::now())).unwrap_or_default();
        Ok(AccessToken::new(token.to_string(), lifetime))
    }

    async fn metadata_token(&self) -> Result<AccessToken, ProviderError> {
        let url = format!("{}/computeMetadata/v1/instance/service-accounts/default/token", self.endpoints.metadata);
        let answer = self.http.send(Method::GET, &url, &[], None, &[("Metadata-Flavor", "Google")], Body::None).await?;
        if !answer.is_success() {
            return Err(answer.auth_error("getting the default credentials from the metadata server"));
        }
        oauth_token(&answer.body, "the metadata server")
    }
}

/// An OAuth token answer: `access_token` and `expires_in` (seconds).
fn oauth_token(body: &serde_json::Value, from: &str) -> Result<AccessToken, ProviderError> {
    let token = body.get("access_token").and_then(|t| t.as_str()).filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(ProviderError::Malformed(format!("{from} answered without an access_token")));
    };
    let expires_in = body.get("expires_in").and_then(serde_json::Value::as_u64).unwrap_or(3600);
    Ok(AccessToken::new(token.to_string(), Duration::from_secs(expires_in)))
}

/// `value` as one URL path segment (a service-account email keeps `@`).
pub(crate) fn path_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~@".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// A throw-away RSA key for these tests only (2048 bits, PKCS#8).
    const TEST_KEY: &str = include_str!("../tests/testdata/service-account-key.pem");

    fn key_json(token_uri: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "type": "service_account",
            "project_id": "p",
            "private_key_id": "k1",
            "private_key": TEST_KEY,
            "client_email": "esr@p.iam.gserviceaccount.com",
            "token_uri": token_uri,
        }))
        .unwrap()
    }

    #[test]
    fn the_assertion_is_an_rs256_jwt_for_the_token_uri_that_verifies_with_the_public_key() {
        let key = ServiceAccountKey::parse(&key_json("https://oauth2.googleapis.com/token")).unwrap();
        let jwt = key.assertion(1_700_000_000).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header, serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": "k1"}));
        let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(
            claims,
            serde_json::json!({
                "iss": "esr@p.iam.gserviceaccount.com", "scope": CLOUD_PLATFORM_SCOPE,
                "aud": "https://oauth2.googleapis.com/token", "iat": 1_700_000_000u64, "exp": 1_700_003_600u64,
            })
        );
        let pair = ring::signature::RsaKeyPair::from_pkcs8(key.private_key.expose()).unwrap();
        let public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            ring::signature::KeyPair::public_key(&pair).as_ref().to_vec(),
        );
        let signed = format!("{}.{}", parts[0], parts[1]);
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        public.verify(signed.as_bytes(), &signature).expect("the signature verifies");
        assert!(public.verify(b"something else", &signature).is_err());
    }

    #[test]
    fn keys_default_to_googles_token_endpoint_and_bad_keys_never_quote_the_document() {
        let key = ServiceAccountKey::parse(&key_json("")).unwrap();
        assert_eq!(key.token_uri, DEFAULT_TOKEN_URI);
        assert!(!format!("{key:?}").contains("PRIVATE"));
        for bad in [
            br#"{"type": "authorized_user", "client_email": "a"}"#.to_vec(),
            br#"not json hunter2"#.to_vec(),
            serde_json::to_vec(
                &serde_json::json!({"type": "service_account", "client_email": "a@b", "private_key": "hunter2"}),
            )
            .unwrap(),
        ] {
            let err = ServiceAccountKey::parse(&bad).unwrap_err();
            assert!(matches!(err, ProviderError::InvalidConfig(_)), "{err}");
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn workload_identity_uses_the_clusters_pool_and_provider_then_the_extra_audiences() {
        let (pool, provider) = WorkloadIdentity::pool_and_provider("proj", "europe-west1", "prod");
        assert_eq!(pool, "proj.svc.id.goog");
        assert_eq!(provider, "https://container.googleapis.com/v1/projects/proj/locations/europe-west1/clusters/prod");
        let identity = WorkloadIdentity {
            service_account: ServiceAccountSelector {
                name: "sa".into(),
                namespace: Some("ns".into()),
                audiences: vec!["extra".into()],
            },
            identity_pool: pool,
            identity_provider: provider,
            gcp_service_account: None,
        };
        assert_eq!(identity.audiences(), vec!["proj.svc.id.goog".to_string(), "extra".to_string()]);
    }

    #[test]
    fn tokens_are_renewed_shortly_before_they_expire() {
        let token = AccessToken::new("token-do-not-print".into(), Duration::from_secs(3600));
        let start = token.obtained_at;
        assert!(token.fresh_at(start + Duration::from_secs(3000)));
        assert!(!token.fresh_at(start + Duration::from_secs(3301)), "renewed five minutes early");
        let short = AccessToken::new("t".into(), Duration::from_secs(100));
        let start = short.obtained_at;
        assert!(short.fresh_at(start + Duration::from_secs(89)));
        assert!(!short.fresh_at(start + Duration::from_secs(91)), "a tenth of a short lifetime early");
        assert!(!format!("{token:?}").contains("do-not-print"));
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(path_segment("gsa@p.iam.gserviceaccount.com"), "gsa@p.iam.gserviceaccount.com");
        assert_eq!(path_segment("a/b?c"), "a%2Fb%3Fc");
    }
}
