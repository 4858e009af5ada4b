//! A FAKE of Google's APIs for tests — not Google's service, and no emulator of it: a loopback HTTP server
//! implementing the documented REST behaviour the `gcpsm` provider uses, written from Google's public API
//! references (Secret Manager v1, OAuth 2.0 JWT-bearer token endpoint, GKE's STS identity-binding token
//! endpoint, IAM Service Account Credentials v1, the metadata server's token). Google ships no Secret Manager
//! emulator, and no Google endpoint is reachable from the test machines.
//!
//! What it checks, so that the provider's requests are proven well formed rather than merely accepted:
//!
//! - OAuth token endpoint (`/token`): the `assertion` is an RS256 JWT whose signature verifies with the public
//!   key of a registered service-account key (`kid`), `iss` is its account, `aud` this endpoint, `scope`
//!   `cloud-platform`, and it is valid now for at most an hour.
//! - STS (`/v1/identitybindingtoken`): the `subject_token` is an ES256 JWT signed with the apiserver's
//!   ServiceAccount key, issued by our apiserver, for the audience `<project>.svc.id.goog`, unexpired; the
//!   `audience` parameter names that pool and the configured cluster.
//! - IAM Credentials (`generateAccessToken`): the bearer is a federated token whose Kubernetes subject is bound
//!   to the Google service account.
//! - Secret Manager: a valid bearer token (401 `UNAUTHENTICATED` otherwise), the project (id or number), the
//!   regional endpoint for regional secrets only, Google's error JSON (`{"error": {"code", "message",
//!   "status"}}`), `pageToken` pagination (pages of two), version states (`DISABLED`/`DESTROYED` answer
//!   `FAILED_PRECONDITION`), etags, `labels.<k>=<v>`/`name:<s>`/`state:ENABLED` filters.
//!
//! Every token exchange is counted per principal ([`FakeGoogle::exchanges`]).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::Error;

/// The project the fake serves, by id and by number (Google names resources by number in answers).
pub const GCP_PROJECT_ID: &str = "esr-test-project";
pub const GCP_PROJECT_NUMBER: &str = "424242424242";
/// How many items a list answers per page (small, so that pagination is exercised).
const PAGE_SIZE: usize = 2;
const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";

/// A version's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionState {
    Enabled,
    Disabled,
    Destroyed,
}

impl VersionState {
    fn as_str(self) -> &'static str {
        match self {
            VersionState::Enabled => "ENABLED",
            VersionState::Disabled => "DISABLED",
            VersionState::Destroyed => "DESTROYED",
        }
    }
}

/// One version of a fake secret.
#[derive(Clone, Debug)]
pub struct FakeVersion {
    pub number: u32,
    pub data: Vec<u8>,
    pub state: VersionState,
    create_seq: u64,
}

/// One fake secret, as a test inspects it.
#[derive(Clone, Debug, Default)]
pub struct FakeSecret {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub topics: Vec<String>,
    pub replication: Value,
    pub versions: Vec<FakeVersion>,
    etag: u64,
    create_seq: u64,
}

impl FakeSecret {
    /// The data of the highest version, whatever its state.
    pub fn latest_data(&self) -> Option<&[u8]> {
        self.versions.last().map(|v| v.data.as_slice())
    }
}

/// Who a token stands for.
#[derive(Clone, Debug)]
enum Principal {
    /// A service-account key's account.
    Key(String),
    /// A federated token of a Kubernetes ServiceAccount (`system:serviceaccount:<ns>:<name>`).
    Federated(String),
    /// A Google service account impersonated with `generateAccessToken`.
    Impersonated(String),
    /// The metadata server's default account.
    Metadata,
}

impl Principal {
    fn name(&self) -> String {
        match self {
            Principal::Key(email) => format!("key:{email}"),
            Principal::Federated(subject) => format!("federated:{subject}"),
            Principal::Impersonated(email) => format!("gsa:{email}"),
            Principal::Metadata => "metadata".to_string(),
        }
    }
}

#[derive(Default)]
struct State {
    /// `(location, id)`; location `None` for global secrets.
    secrets: BTreeMap<(Option<String>, String), FakeSecret>,
    /// key id → (account email, RSA public key as PKCS#1 DER).
    keys: BTreeMap<String, (String, Vec<u8>)>,
    /// The apiserver's issuer and ServiceAccount public key (uncompressed P-256 point), and the cluster.
    cluster: Option<ClusterTrust>,
    /// Google service account → the Kubernetes subjects bound to it.
    bindings: BTreeMap<String, Vec<String>>,
    tokens: BTreeMap<String, Principal>,
    /// Principals (by [`Principal::name`]) refused with 403 by Secret Manager.
    denied: Vec<String>,
    /// Token exchanges per `<endpoint>:<principal>`.
    exchanges: BTreeMap<String, u64>,
    /// `METHOD path` of every request.
    requests: Vec<String>,
    seq: u64,
    token_lifetime_secs: u64,
}

struct ClusterTrust {
    issuer: String,
    public_key: Vec<u8>,
    location: String,
    name: String,
}

/// A running fake of Google's APIs on a loopback port. Stopped on drop.
pub struct FakeGoogle {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    state: Arc<Mutex<State>>,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for FakeGoogle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGoogle").field("url", &self.url).finish_non_exhaustive()
    }
}

impl Drop for FakeGoogle {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl FakeGoogle {
    /// Starts the fake on a free loopback port, on its own thread (so it outlives any one test runtime).
    pub fn start() -> Result<Self, Error> {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        std_listener.set_nonblocking(true)?;
        let port = std_listener.local_addr()?.port();
        let url = format!("http://127.0.0.1:{port}");
        let state = Arc::new(Mutex::new(State { token_lifetime_secs: 3600, ..State::default() }));
        let (stop_tx, mut stop_rx) = watch::channel(false);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let served = state.clone();
        let base = url.clone();
        let thread = std::thread::Builder::new().name(format!("fake-google-{port}")).spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = TcpListener::from_std(std_listener) else { return };
                loop {
                    tokio::select! {
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            let state = served.clone();
                            let base = base.clone();
                            tokio::spawn(async move {
                                let service = hyper::service::service_fn(move |req| {
                                    let state = state.clone();
                                    let base = base.clone();
                                    async move { Ok::<_, Infallible>(handle(req, &state, &base).await) }
                                });
                                let _ = hyper::server::conn::http1::Builder::new()
                                    .serve_connection(TokioIo::new(stream), service)
                                    .await;
                            });
                        }
                        _ = stop_rx.changed() => return,
                    }
                }
            });
        })?;
        Ok(Self { url, state, stop: stop_tx, thread: Some(thread) })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Secret Manager's global endpoint.
    pub fn secret_manager_url(&self) -> String {
        format!("{}/sm", self.url)
    }

    /// Secret Manager's regional endpoint, `{location}` standing for the location.
    pub fn secret_manager_regional_url(&self) -> String {
        format!("{}/rep/{{location}}", self.url)
    }

    /// The OAuth token endpoint (a key's `token_uri`).
    pub fn token_url(&self) -> String {
        format!("{}/token", self.url)
    }

    /// STS's identity-binding token endpoint.
    pub fn identity_binding_token_url(&self) -> String {
        format!("{}/v1/identitybindingtoken", self.url)
    }

    /// IAM Service Account Credentials.
    pub fn iam_credentials_url(&self) -> String {
        format!("{}/iam", self.url)
    }

    /// The metadata server.
    pub fn metadata_url(&self) -> String {
        self.url.clone()
    }

    /// Registers a service-account key (`private_key_pem`: PKCS#8 RSA) for `email` and returns the key file
    /// Google would hand out, its `token_uri` this fake.
    pub fn add_service_account_key(&self, email: &str, key_id: &str, private_key_pem: &str) -> Result<String, Error> {
        let der = pem_contents(private_key_pem)?;
        let pair = ring::signature::RsaKeyPair::from_pkcs8(&der)
            .map_err(|e| Error::Setup(format!("the test service-account key is not RSA PKCS#8: {e}")))?;
        let public = ring::signature::KeyPair::public_key(&pair).as_ref().to_vec();
        self.state().keys.insert(key_id.to_string(), (email.to_string(), public));
        Ok(json!({
            "type": "service_account",
            "project_id": GCP_PROJECT_ID,
            "private_key_id": key_id,
            "private_key": private_key_pem,
            "client_email": email,
            "client_id": "1",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_url(),
        })
        .to_string())
    }

    /// Trusts ServiceAccount tokens of the apiserver `issuer` signed with `sa_key_pem` (the apiserver's P-256
    /// signing key), for the GKE cluster `location`/`name` of [`GCP_PROJECT_ID`].
    pub fn trust_cluster(&self, issuer: &str, sa_key_pem: &str, location: &str, name: &str) -> Result<(), Error> {
        let pair = rcgen::KeyPair::from_pem(sa_key_pem)
            .map_err(|e| Error::Setup(format!("the apiserver's ServiceAccount key: {e}")))?;
        self.state().cluster = Some(ClusterTrust {
            issuer: issuer.to_string(),
            public_key: pair.public_key_raw().to_vec(),
            location: location.to_string(),
            name: name.to_string(),
        });
        Ok(())
    }

    /// Lets the Kubernetes ServiceAccount `namespace/name` impersonate the Google service account `gsa`.
    pub fn bind(&self, gsa: &str, namespace: &str, name: &str) {
        self.state()
            .bindings
            .entry(gsa.to_string())
            .or_default()
            .push(format!("system:serviceaccount:{namespace}:{name}"));
    }

    /// Makes Secret Manager answer 403 to `principal` (`key:<email>`, `gsa:<email>`, `federated:<subject>`,
    /// `metadata`).
    pub fn deny(&self, principal: &str) {
        self.state().denied.push(principal.to_string());
    }

    /// How long the tokens issued from now on live (default an hour, as Google's).
    pub fn set_token_lifetime(&self, lifetime: std::time::Duration) {
        self.state().token_lifetime_secs = lifetime.as_secs().max(1);
    }

    /// Forgets every issued token (as if revoked): the next call with one is 401.
    pub fn revoke_all_tokens(&self) {
        self.state().tokens.clear();
    }

    /// Creates (or replaces) a secret with labels and annotations and no version.
    pub fn put_secret(&self, location: Option<&str>, id: &str, labels: &[(&str, &str)], annotations: &[(&str, &str)]) {
        let mut state = self.state();
        state.seq += 1;
        let secret = FakeSecret {
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            annotations: annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            replication: json!({"automatic": {}}),
            etag: 1,
            create_seq: state.seq,
            ..FakeSecret::default()
        };
        state.secrets.insert((location.map(str::to_string), id.to_string()), secret);
    }

    /// Adds an enabled version; its number.
    pub fn add_version(&self, location: Option<&str>, id: &str, data: &[u8]) -> u32 {
        let mut state = self.state();
        state.seq += 1;
        let seq = state.seq;
        let Some(secret) = state.secrets.get_mut(&(location.map(str::to_string), id.to_string())) else { return 0 };
        let number = secret.versions.len() as u32 + 1;
        secret.versions.push(FakeVersion {
            number,
            data: data.to_vec(),
            state: VersionState::Enabled,
            create_seq: seq,
        });
        number
    }

    /// Sets a version's state.
    pub fn set_version_state(&self, location: Option<&str>, id: &str, number: u32, version_state: VersionState) {
        let mut state = self.state();
        if let Some(version) = state
            .secrets
            .get_mut(&(location.map(str::to_string), id.to_string()))
            .and_then(|s| s.versions.iter_mut().find(|v| v.number == number))
        {
            version.state = version_state;
        }
    }

    /// A secret as it is now.
    pub fn secret(&self, location: Option<&str>, id: &str) -> Option<FakeSecret> {
        self.state().secrets.get(&(location.map(str::to_string), id.to_string())).cloned()
    }

    /// Token exchanges so far per `<endpoint>:<principal>` (`oauth:key:<email>`, `sts:federated:<subject>`,
    /// `iam:gsa:<email>`, `metadata:metadata`).
    pub fn exchanges(&self) -> BTreeMap<String, u64> {
        self.state().exchanges.clone()
    }

    /// `METHOD path` of every request so far.
    pub fn requests(&self) -> Vec<String> {
        self.state().requests.clone()
    }
}

fn pem_contents(text: &str) -> Result<Vec<u8>, Error> {
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body.trim()).map_err(|_| Error::Setup("a PEM block is not base64".to_string()))
}

type Answer = Response<Full<Bytes>>;

fn answer(status: u16, body: &Value) -> Answer {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response
}

/// Google's error JSON.
fn google_error(code: u16, status: &str, message: &str) -> Answer {
    answer(code, &json!({"error": {"code": code, "message": message, "status": status}}))
}

/// OAuth's error JSON.
fn oauth_error(code: u16, error: &str, description: &str) -> Answer {
    answer(code, &json!({"error": error, "error_description": description}))
}

fn percent_decode(text: &str) -> String {
    let hex = |b: u8| char::from(b).to_digit(16);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() && hex(bytes[i + 1]).is_some() && hex(bytes[i + 2]).is_some() => {
                let value = hex(bytes[i + 1]).unwrap_or(0) * 16 + hex(bytes[i + 2]).unwrap_or(0);
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_pairs(text: &str) -> BTreeMap<String, String> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// The claims of a JWT whose signature `verify` accepts, or why not.
fn verified_claims(jwt: &str, alg: &str, verify: impl FnOnce(&Value, &[u8], &[u8]) -> bool) -> Result<Value, String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 {
        return Err("not a JWT".into());
    }
    let decode = |part: &str| -> Result<Value, String> {
        let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| "JWT part is not base64url".to_string())?;
        serde_json::from_slice(&bytes).map_err(|_| "JWT part is not JSON".to_string())
    };
    let header = decode(parts[0])?;
    if header["alg"] != alg {
        return Err(format!("JWT alg is not {alg}"));
    }
    let claims = decode(parts[1])?;
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).map_err(|_| "JWT signature is not base64url".to_string())?;
    let signed = format!("{}.{}", parts[0], parts[1]);
    if !verify(&header, signed.as_bytes(), &signature) {
        return Err("Invalid JWT Signature.".into());
    }
    let now = now_secs();
    let exp = claims["exp"].as_u64().unwrap_or(0);
    if exp <= now {
        return Err("JWT has expired".into());
    }
    if claims["iat"].as_u64().is_some_and(|iat| iat > now + 60) {
        return Err("JWT issued in the future".into());
    }
    Ok(claims)
}

fn issue_token(state: &mut State, principal: Principal, endpoint: &str) -> String {
    state.seq += 1;
    let token = format!("ya29.fake-{}-{}", endpoint, state.seq);
    *state.exchanges.entry(format!("{endpoint}:{}", principal.name())).or_default() += 1;
    state.tokens.insert(token.clone(), principal);
    token
}

async fn handle(req: Request<Incoming>, state: &Arc<Mutex<State>>, base: &str) -> Answer {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = parse_pairs(req.uri().query().unwrap_or_default());
    let headers = req.headers().clone();
    let body = match req.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return google_error(400, "INVALID_ARGUMENT", "unreadable body"),
    };
    let mut state = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    state.requests.push(format!("{method} {path}"));
    let bearer = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);

    if method == http::Method::POST && path == "/token" {
        return oauth_token(&mut state, &body, base);
    }
    if method == http::Method::POST && path == "/v1/identitybindingtoken" {
        return identity_binding_token(&mut state, &body);
    }
    if method == http::Method::POST
        && let Some(rest) = path.strip_prefix("/iam/v1/projects/-/serviceAccounts/")
    {
        return generate_access_token(&mut state, rest, bearer.as_deref(), &body);
    }
    if method == http::Method::GET && path == "/computeMetadata/v1/instance/service-accounts/default/token" {
        if headers.get("metadata-flavor").and_then(|v| v.to_str().ok()) != Some("Google") {
            return google_error(403, "PERMISSION_DENIED", "Missing Metadata-Flavor:Google header.");
        }
        let lifetime = state.token_lifetime_secs;
        let token = issue_token(&mut state, Principal::Metadata, "metadata");
        return answer(200, &json!({"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}));
    }
    let (endpoint_location, rest) = if let Some(rest) = path.strip_prefix("/sm/v1/") {
        (None, rest)
    } else if let Some(rest) = path.strip_prefix("/rep/") {
        let Some((location, rest)) = rest.split_once("/v1/") else {
            return google_error(404, "NOT_FOUND", "unknown path");
        };
        (Some(location.to_string()), rest)
    } else {
        return google_error(404, "NOT_FOUND", "unknown path");
    };
    let principal = match bearer.as_deref().and_then(|t| state.tokens.get(t)) {
        Some(principal) => principal.clone(),
        None => {
            return google_error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
            );
        }
    };
    if state.denied.contains(&principal.name()) {
        return google_error(
            403,
            "PERMISSION_DENIED",
            "Permission 'secretmanager.versions.access' denied for resource (or it may not exist).",
        );
    }
    secret_manager(&mut state, &method, endpoint_location, rest, &query, &body)
}

fn oauth_token(state: &mut State, body: &[u8], base: &str) -> Answer {
    let form = parse_pairs(&String::from_utf8_lossy(body));
    if form.get("grant_type").map(String::as_str) != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return oauth_error(400, "unsupported_grant_type", "Invalid grant_type.");
    }
    let assertion = form.get("assertion").cloned().unwrap_or_default();
    let mut account = None;
    let claims = verified_claims(&assertion, "RS256", |header, signed, signature| {
        let Some((email, public)) = header["kid"].as_str().and_then(|kid| state.keys.get(kid)) else { return false };
        account = Some(email.clone());
        ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, public)
            .verify(signed, signature)
            .is_ok()
    });
    let claims = match claims {
        Ok(claims) => claims,
        Err(why) => return oauth_error(400, "invalid_grant", &why),
    };
    let Some(account) = account else { return oauth_error(400, "invalid_grant", "unknown key") };
    if claims["iss"] != account.as_str() {
        return oauth_error(400, "invalid_grant", "Invalid JWT: iss is not the key's account.");
    }
    if claims["aud"] != format!("{base}/token").as_str() {
        return oauth_error(400, "invalid_grant", "Invalid JWT: aud is not the token endpoint.");
    }
    if !claims["scope"].as_str().unwrap_or_default().split(' ').any(|s| s == CLOUD_PLATFORM) {
        return oauth_error(400, "invalid_scope", "cloud-platform scope missing.");
    }
    let (iat, exp) = (claims["iat"].as_u64().unwrap_or(0), claims["exp"].as_u64().unwrap_or(0));
    if exp.saturating_sub(iat) > 3600 {
        return oauth_error(400, "invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes).");
    }
    let lifetime = state.token_lifetime_secs;
    let token = issue_token(state, Principal::Key(account), "oauth");
    answer(200, &json!({"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}))
}

fn identity_binding_token(state: &mut State, body: &[u8]) -> Answer {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return oauth_error(400, "invalid_request", "body is not JSON");
    };
    let expect = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
        ("requested_token_type", "urn:ietf:params:oauth:token-type:access_token"),
        ("scope", CLOUD_PLATFORM),
    ];
    for (field, value) in expect {
        if request[field] != value {
            return oauth_error(400, "invalid_request", &format!("{field} must be {value}"));
        }
    }
    let Some(cluster) = &state.cluster else { return oauth_error(400, "invalid_target", "no cluster is trusted") };
    let pool = format!("{GCP_PROJECT_ID}.svc.id.goog");
    let provider = format!(
        "https://container.googleapis.com/v1/projects/{GCP_PROJECT_ID}/locations/{}/clusters/{}",
        cluster.location, cluster.name
    );
    if request["audience"] != format!("identitynamespace:{pool}:{provider}").as_str() {
        return oauth_error(
            400,
            "invalid_target",
            "The target service indicated by the \"audience\" parameters is invalid.",
        );
    }
    let subject_token = request["subject_token"].as_str().unwrap_or_default();
    let public = cluster.public_key.clone();
    let claims = verified_claims(subject_token, "ES256", |_, signed, signature| {
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, &public)
            .verify(signed, signature)
            .is_ok()
    });
    let claims = match claims {
        Ok(claims) => claims,
        Err(why) => return oauth_error(400, "invalid_grant", &why),
    };
    if claims["iss"] != cluster.issuer.as_str() {
        return oauth_error(400, "invalid_grant", "The issuer of the subject token is not the cluster's.");
    }
    let audiences: Vec<&str> = match &claims["aud"] {
        Value::String(one) => vec![one.as_str()],
        Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.contains(&pool.as_str()) {
        return oauth_error(400, "invalid_grant", "The audience of the subject token is not the identity pool.");
    }
    let subject = claims["sub"].as_str().unwrap_or_default().to_string();
    let lifetime = state.token_lifetime_secs;
    let token = issue_token(state, Principal::Federated(subject), "sts");
    answer(200, &json!({"access_token": token, "token_type": "Bearer", "expires_in": lifetime}))
}

fn generate_access_token(state: &mut State, rest: &str, bearer: Option<&str>, body: &[u8]) -> Answer {
    let Some(gsa) = rest.strip_suffix(":generateAccessToken").map(percent_decode) else {
        return google_error(404, "NOT_FOUND", "unknown method");
    };
    let subject = match bearer.and_then(|t| state.tokens.get(t)) {
        Some(Principal::Federated(subject)) => subject.clone(),
        Some(_) => return google_error(403, "PERMISSION_DENIED", "only federated tokens may impersonate here"),
        None => return google_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials."),
    };
    let scopes =
        serde_json::from_slice::<Value>(body).ok().and_then(|b| b["scope"].as_array().cloned()).unwrap_or_default();
    if !scopes.iter().any(|s| s == CLOUD_PLATFORM) {
        return google_error(400, "INVALID_ARGUMENT", "scope must include cloud-platform");
    }
    if !state.bindings.get(&gsa).is_some_and(|subjects| subjects.contains(&subject)) {
        return google_error(
            403,
            "PERMISSION_DENIED",
            "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
        );
    }
    let lifetime = state.token_lifetime_secs;
    let token = issue_token(state, Principal::Impersonated(gsa), "iam");
    let expire = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(lifetime as i64);
    answer(200, &json!({"accessToken": token, "expireTime": expire.to_string()}))
}

fn resource_name(location: &Option<String>, id: &str) -> String {
    match location {
        Some(location) => format!("projects/{GCP_PROJECT_NUMBER}/locations/{location}/secrets/{id}"),
        None => format!("projects/{GCP_PROJECT_NUMBER}/secrets/{id}"),
    }
}

fn timestamp_of(seq: u64) -> String {
    // Creation order as time: one second per event since a fixed day.
    (jiff::Timestamp::from_second(1_767_225_600 + seq as i64).unwrap_or(jiff::Timestamp::UNIX_EPOCH)).to_string()
}

fn secret_json(location: &Option<String>, id: &str, secret: &FakeSecret) -> Value {
    let mut value = json!({
        "name": resource_name(location, id),
        "createTime": timestamp_of(secret.create_seq),
        "etag": format!("\"{}\"", secret.etag),
    });
    if location.is_none() {
        value["replication"] = secret.replication.clone();
    }
    if !secret.labels.is_empty() {
        value["labels"] = json!(secret.labels);
    }
    if !secret.annotations.is_empty() {
        value["annotations"] = json!(secret.annotations);
    }
    if !secret.topics.is_empty() {
        value["topics"] = json!(secret.topics.iter().map(|t| json!({"name": t})).collect::<Vec<_>>());
    }
    value
}

/// One page of `items` from `pageToken` (an offset).
fn page(items: Vec<Value>, query: &BTreeMap<String, String>, field: &str) -> Value {
    let start: usize = query.get("pageToken").and_then(|t| t.parse().ok()).unwrap_or(0);
    let end = (start + PAGE_SIZE).min(items.len());
    let mut body = json!({ field: items.get(start..end).unwrap_or_default(), "totalSize": items.len() });
    if end < items.len() {
        body["nextPageToken"] = json!(end.to_string());
    }
    body
}

/// Secret Manager's filter subset: space-separated terms, all of which must hold: `labels.<k>=<v>`,
/// `name:<substring>`.
fn matches_filter(filter: &str, id: &str, secret: &FakeSecret) -> bool {
    filter.split_whitespace().all(|term| {
        if let Some(label) = term.strip_prefix("labels.") {
            let (k, v) = label.split_once('=').unwrap_or((label, ""));
            secret.labels.get(k).map(String::as_str) == Some(v)
        } else if let Some(name) = term.strip_prefix("name:") {
            id.contains(name)
        } else {
            false
        }
    })
}

fn secret_manager(
    state: &mut State,
    method: &http::Method,
    endpoint_location: Option<String>,
    rest: &str,
    query: &BTreeMap<String, String>,
    body: &[u8],
) -> Answer {
    let (resource, verb) = match rest.rsplit_once(':') {
        Some((resource, verb)) if !verb.contains('/') => (resource, Some(verb)),
        _ => (rest, None),
    };
    let segments: Vec<&str> = resource.split('/').collect();
    if segments.first() != Some(&"projects") || segments.len() < 3 {
        return google_error(404, "NOT_FOUND", "unknown resource");
    }
    let project = segments[1];
    if project != GCP_PROJECT_ID && project != GCP_PROJECT_NUMBER {
        return google_error(403, "PERMISSION_DENIED", &format!("Permission denied on resource project {project}."));
    }
    let (location, tail) = if segments[2] == "locations" && segments.len() >= 5 {
        (Some(segments[3].to_string()), &segments[4..])
    } else {
        (None, &segments[2..])
    };
    if location != endpoint_location {
        return google_error(
            400,
            "INVALID_ARGUMENT",
            "Regional secrets must be used through the regional endpoint of their location, global ones through the global endpoint.",
        );
    }
    let location_name = |id: &str| resource_name(&location, id);
    match (method.as_str(), tail, verb) {
        ("GET", ["secrets"], None) => {
            let filter = query.get("filter").cloned().unwrap_or_default();
            let items: Vec<Value> = state
                .secrets
                .iter()
                .filter(|((l, id), s)| *l == location && matches_filter(&filter, id, s))
                .map(|((l, id), s)| secret_json(l, id, s))
                .collect();
            answer(200, &page(items, query, "secrets"))
        }
        ("POST", ["secrets"], None) => {
            let Some(id) = query.get("secretId").cloned() else {
                return google_error(400, "INVALID_ARGUMENT", "secretId is required");
            };
            let Ok(request) = serde_json::from_slice::<Value>(body) else {
                return google_error(400, "INVALID_ARGUMENT", "body is not JSON");
            };
            let key = (location.clone(), id.clone());
            if state.secrets.contains_key(&key) {
                return google_error(
                    409,
                    "ALREADY_EXISTS",
                    &format!("Secret [{}] already exists.", location_name(&id)),
                );
            }
            let replication = request.get("replication").cloned();
            match (&location, &replication) {
                (None, None) => return google_error(400, "INVALID_ARGUMENT", "Secret.replication is required."),
                (Some(_), Some(_)) => {
                    return google_error(400, "INVALID_ARGUMENT", "Regional secrets do not take a replication policy.");
                }
                _ => {}
            }
            let strings = |field: &str| -> BTreeMap<String, String> {
                serde_json::from_value(request.get(field).cloned().unwrap_or(json!({}))).unwrap_or_default()
            };
            state.seq += 1;
            let secret = FakeSecret {
                labels: strings("labels"),
                annotations: strings("annotations"),
                topics: request["topics"]
                    .as_array()
                    .map(|t| t.iter().filter_map(|t| t["name"].as_str().map(str::to_string)).collect())
                    .unwrap_or_default(),
                replication: replication.unwrap_or(Value::Null),
                versions: Vec::new(),
                etag: 1,
                create_seq: state.seq,
            };
            let json = secret_json(&location, &id, &secret);
            state.secrets.insert(key, secret);
            answer(200, &json)
        }
        (_, ["secrets", id], verb) => {
            let key = (location.clone(), id.to_string());
            let not_found = || google_error(404, "NOT_FOUND", &format!("Secret [{}] not found.", location_name(id)));
            if method == "POST" && verb == Some("addVersion") {
                let data = serde_json::from_slice::<Value>(body)
                    .ok()
                    .and_then(|b| b["payload"]["data"].as_str().and_then(|d| STANDARD.decode(d).ok()));
                let Some(data) = data else { return google_error(400, "INVALID_ARGUMENT", "payload.data is required") };
                state.seq += 1;
                let seq = state.seq;
                let Some(secret) = state.secrets.get_mut(&key) else { return not_found() };
                let number = secret.versions.len() as u32 + 1;
                secret.versions.push(FakeVersion { number, data, state: VersionState::Enabled, create_seq: seq });
                let name = format!("{}/versions/{number}", location_name(id));
                return answer(200, &json!({"name": name, "createTime": timestamp_of(seq), "state": "ENABLED"}));
            }
            if verb.is_some() {
                return google_error(404, "NOT_FOUND", "unknown method");
            }
            let Some(secret) = state.secrets.get_mut(&key) else { return not_found() };
            let etag_matches = |secret: &FakeSecret, given: Option<&str>| {
                given.is_none_or(|g| g.is_empty() || g == format!("\"{}\"", secret.etag))
            };
            match method.as_str() {
                "GET" => answer(200, &secret_json(&location, id, secret)),
                "PATCH" => {
                    let Ok(request) = serde_json::from_slice::<Value>(body) else {
                        return google_error(400, "INVALID_ARGUMENT", "body is not JSON");
                    };
                    if !etag_matches(secret, request["etag"].as_str()) {
                        return google_error(409, "ABORTED", "The etag provided does not match the current etag.");
                    }
                    let mask = query.get("updateMask").cloned().unwrap_or_default();
                    for field in mask.split(',') {
                        let map: BTreeMap<String, String> =
                            serde_json::from_value(request.get(field).cloned().unwrap_or(json!({})))
                                .unwrap_or_default();
                        match field {
                            "labels" => secret.labels = map,
                            "annotations" => secret.annotations = map,
                            _ => return google_error(400, "INVALID_ARGUMENT", &format!("cannot update {field}")),
                        }
                    }
                    secret.etag += 1;
                    answer(200, &secret_json(&location, id, secret))
                }
                "DELETE" => {
                    if !etag_matches(secret, query.get("etag").map(String::as_str)) {
                        return google_error(409, "ABORTED", "The etag provided does not match the current etag.");
                    }
                    state.secrets.remove(&key);
                    answer(200, &json!({}))
                }
                _ => google_error(405, "UNIMPLEMENTED", "method not allowed"),
            }
        }
        ("GET", ["secrets", id, "versions"], None) => {
            let Some(secret) = state.secrets.get(&(location.clone(), id.to_string())) else {
                return google_error(404, "NOT_FOUND", &format!("Secret [{}] not found.", location_name(id)));
            };
            let wanted = query.get("filter").and_then(|f| f.strip_prefix("state:")).map(str::to_string);
            let items: Vec<Value> = secret
                .versions
                .iter()
                .rev()
                .filter(|v| wanted.as_deref().is_none_or(|w| w == v.state.as_str()))
                .map(|v| {
                    json!({
                        "name": format!("{}/versions/{}", location_name(id), v.number),
                        "createTime": timestamp_of(v.create_seq),
                        "state": v.state.as_str(),
                    })
                })
                .collect();
            answer(200, &page(items, query, "versions"))
        }
        ("GET", ["secrets", id, "versions", version], Some("access")) => {
            let Some(secret) = state.secrets.get(&(location.clone(), id.to_string())) else {
                return google_error(
                    404,
                    "NOT_FOUND",
                    &format!("Secret [{}] not found or has no versions.", location_name(id)),
                );
            };
            let found = if *version == "latest" {
                secret.versions.last()
            } else {
                version.parse::<u32>().ok().and_then(|n| secret.versions.iter().find(|v| v.number == n))
            };
            let Some(found) = found else {
                let message = if *version == "latest" {
                    format!("Secret [{}] not found or has no versions.", location_name(id))
                } else {
                    format!("Secret Version [{}/versions/{version}] not found.", location_name(id))
                };
                return google_error(404, "NOT_FOUND", &message);
            };
            let name = format!("{}/versions/{}", location_name(id), found.number);
            if found.state != VersionState::Enabled {
                return google_error(
                    400,
                    "FAILED_PRECONDITION",
                    &format!("Secret Version [{name}] is in {} state.", found.state.as_str()),
                );
            }
            let mut payload = json!({});
            if !found.data.is_empty() {
                payload["data"] = json!(STANDARD.encode(&found.data));
            }
            answer(200, &json!({"name": name, "payload": payload}))
        }
        _ => google_error(404, "NOT_FOUND", "unknown resource or method"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_and_query_values_are_percent_decoded() {
        let pairs = parse_pairs("filter=labels.team%3Dpay+name%3Adb&pageToken=2&x");
        assert_eq!(pairs.get("filter").map(String::as_str), Some("labels.team=pay name:db"));
        assert_eq!(pairs.get("pageToken").map(String::as_str), Some("2"));
        assert_eq!(pairs.get("x").map(String::as_str), Some(""));
        assert_eq!(percent_decode("100%"), "100%");
    }

    #[test]
    fn filters_hold_for_all_terms() {
        let secret =
            FakeSecret { labels: BTreeMap::from([("team".to_string(), "pay".to_string())]), ..FakeSecret::default() };
        assert!(matches_filter("labels.team=pay name:db", "prod-db", &secret));
        assert!(!matches_filter("labels.team=pay name:db", "prod-cache", &secret));
        assert!(!matches_filter("labels.team=ops", "prod-db", &secret));
        assert!(matches_filter("", "any", &secret));
    }
}
