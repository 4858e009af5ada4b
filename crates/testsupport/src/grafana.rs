//! A FAKE of Grafana's HTTP API — not Grafana — for the `Grafana` generator's tests, on loopback.
//!
//! Grafana itself cannot be run here: its server is one Go module with hundreds of dependencies and a frontend
//! build, far beyond what the shared test machine can build. This fake implements exactly the endpoints ESO's
//! Grafana generator calls, as Grafana's HTTP API documentation and source describe them (service account API,
//! Grafana 11/12):
//!
//! | request | answer |
//! |---|---|
//! | `GET /api/serviceaccounts/search?query=` | 200 `{totalCount, serviceAccounts: [{id, name, login, orgId, isDisabled, role, tokens, avatarUrl}], page, perPage}`; `query` matches name or login, case-insensitively, as a substring |
//! | `POST /api/serviceaccounts` `{name, role, isDisabled}` | 201 the account (login `sa-1-<name lowercased, spaces as dashes>`, Grafana's `generateLogin` in org 1); 400 `service account already exists` for a taken name; 400 for an empty name or a role that is not `None`, `Viewer`, `Editor`, `Admin` |
//! | `POST /api/serviceaccounts/{id}/tokens` `{name, secondsToLive}` | 200 `{id, name, key}` (key `glsa_…`); 404 `service account not found`; 409 for a token name taken in the account |
//! | `DELETE /api/serviceaccounts/{id}/tokens/{tokenId}` | 200 `{"message": "Service account token deleted"}`; 404 `service account not found` / `service account token not found` |
//!
//! Every request must authenticate as the admin, with basic auth (`admin` + the password) or the admin's
//! service account token as `Authorization: Bearer`; otherwise 401 `{"message": "Unauthorized", ...}` (Grafana's
//! error body shape: `message`, `messageId`, `statusCode`, `traceID`). Any other path is 404 `Not found`.
//! Token deletes can be made to fail (500) to test what a failed cleanup does.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rand::Rng;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::Error;

/// The admin's basic-auth user name.
pub const GRAFANA_ADMIN_USER: &str = "admin";

/// A service account of the fake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeServiceAccount {
    pub id: i64,
    pub name: String,
    pub login: String,
    pub role: String,
}

/// A token of the fake (its `key` is what the generator returns as `token`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeToken {
    pub id: i64,
    pub service_account_id: i64,
    pub name: String,
    pub key: String,
    pub seconds_to_live: Option<i64>,
}

#[derive(Default)]
struct State {
    next_id: i64,
    accounts: BTreeMap<i64, FakeServiceAccount>,
    tokens: BTreeMap<i64, FakeToken>,
    deleted_tokens: Vec<FakeToken>,
    fail_token_deletes: bool,
    requests: Vec<String>,
}

/// A running fake of Grafana's service account API on `127.0.0.1`. Stops when dropped.
pub struct FakeGrafana {
    url: String,
    admin_password: String,
    admin_token: String,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeGrafana {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn random_text(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    (0..len).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

impl FakeGrafana {
    /// Starts the fake on a free loopback port, with a random admin password and admin token.
    pub async fn start() -> Result<Self, Error> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let admin_password = random_text(16);
        let admin_token = format!("glsa_{}_{}", random_text(32), random_text(8));
        let state = Arc::new(Mutex::new(State { next_id: 1, ..State::default() }));
        let auth = Arc::new((admin_password.clone(), admin_token.clone()));
        let shared = state.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (state, auth) = (shared.clone(), auth.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let (state, auth) = (state.clone(), auth.clone());
                        async move { Ok::<_, Infallible>(handle(req, &state, &auth).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self { url, admin_password, admin_token, state, server })
    }

    /// The base URL (`http://127.0.0.1:<port>`), a generator's `spec.url`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The admin's basic-auth password.
    pub fn admin_password(&self) -> &str {
        &self.admin_password
    }

    /// The admin's service account token (bearer).
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut state)
    }

    /// The service accounts.
    pub fn service_accounts(&self) -> Vec<FakeServiceAccount> {
        self.with(|s| s.accounts.values().cloned().collect())
    }

    /// The tokens that exist, oldest first.
    pub fn tokens(&self) -> Vec<FakeToken> {
        self.with(|s| s.tokens.values().cloned().collect())
    }

    /// The tokens deleted through the API, in the order they were deleted.
    pub fn deleted_tokens(&self) -> Vec<FakeToken> {
        self.with(|s| s.deleted_tokens.clone())
    }

    /// Makes token deletes answer 500 (`true`) or work again (`false`).
    pub fn fail_token_deletes(&self, fail: bool) {
        self.with(|s| s.fail_token_deletes = fail);
    }

    /// Every request so far, as `METHOD path`, without the query.
    pub fn requests(&self) -> Vec<String> {
        self.with(|s| s.requests.clone())
    }
}

fn answer(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    response
}

/// Grafana's error body (`errutil` public payload).
fn error(status: StatusCode, message_id: &str, message: &str) -> Response<Full<Bytes>> {
    answer(status, json!({"message": message, "messageId": message_id, "statusCode": status.as_u16(), "traceID": ""}))
}

fn authorized(req: &Request<Incoming>, auth: &(String, String)) -> bool {
    use base64::Engine;
    let Some(header) = req.headers().get(hyper::header::AUTHORIZATION).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    if let Some(token) = header.strip_prefix("Bearer ") {
        return token == auth.1;
    }
    if let Some(basic) = header.strip_prefix("Basic ") {
        let expected = base64::engine::general_purpose::STANDARD.encode(format!("{GRAFANA_ADMIN_USER}:{}", auth.0));
        return basic == expected;
    }
    false
}

fn account_json(account: &FakeServiceAccount, tokens: usize) -> Value {
    json!({
        "id": account.id, "uid": format!("sa{}", account.id), "name": account.name, "login": account.login,
        "orgId": 1, "isDisabled": false, "role": account.role, "tokens": tokens,
        "avatarUrl": "/avatar/46d229b033af06a191ff2267bca9ae56",
    })
}

async fn handle(req: Request<Incoming>, state: &Mutex<State>, auth: &(String, String)) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query: BTreeMap<String, String> = req
        .uri()
        .query()
        .map(|q| {
            q.split('&')
                .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
                .map(|(k, v)| (k.to_string(), percent_decode(v)))
                .collect()
        })
        .unwrap_or_default();
    let is_authorized = authorized(&req, auth);
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    state.requests.push(format!("{method} {path}"));
    if !is_authorized {
        return error(StatusCode::UNAUTHORIZED, "auth.unauthorized", "Unauthorized");
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (&method, segments.as_slice()) {
        (&Method::GET, ["api", "serviceaccounts", "search"]) => {
            let needle = query.get("query").cloned().unwrap_or_default().to_lowercase();
            let found: Vec<Value> = state
                .accounts
                .values()
                .filter(|a| a.name.to_lowercase().contains(&needle) || a.login.contains(&needle))
                .map(|a| account_json(a, state.tokens.values().filter(|t| t.service_account_id == a.id).count()))
                .collect();
            answer(
                StatusCode::OK,
                json!({"totalCount": found.len(), "serviceAccounts": found, "page": 1, "perPage": 1000}),
            )
        }
        (&Method::POST, ["api", "serviceaccounts"]) => {
            let Ok(form) = serde_json::from_slice::<Value>(&body) else {
                return error(StatusCode::BAD_REQUEST, "bad.request", "bad request data");
            };
            let name = form["name"].as_str().unwrap_or_default().to_string();
            let role = form["role"].as_str().unwrap_or("Viewer").to_string();
            if name.is_empty() {
                return error(
                    StatusCode::BAD_REQUEST,
                    "serviceaccounts.ErrNoName",
                    "required value Name must not be empty",
                );
            }
            if !["None", "Viewer", "Editor", "Admin", ""].contains(&role.as_str()) {
                return error(StatusCode::BAD_REQUEST, "serviceaccounts.ErrInvalidRole", "invalid role value");
            }
            if state.accounts.values().any(|a| a.name == name) {
                return error(
                    StatusCode::BAD_REQUEST,
                    "serviceaccounts.ErrAlreadyExists",
                    "service account already exists",
                );
            }
            let id = state.next_id;
            state.next_id += 1;
            let login = format!("sa-1-{}", name.to_lowercase()).replacen("--", "-", 1).replace(' ', "-");
            let account = FakeServiceAccount { id, name, login, role };
            let json = account_json(&account, 0);
            state.accounts.insert(id, account);
            answer(StatusCode::CREATED, json)
        }
        (&Method::POST, ["api", "serviceaccounts", id, "tokens"]) => {
            let Some(account) = id.parse::<i64>().ok().filter(|id| state.accounts.contains_key(id)) else {
                return error(StatusCode::NOT_FOUND, "serviceaccounts.ErrNotFound", "service account not found");
            };
            let Ok(command) = serde_json::from_slice::<Value>(&body) else {
                return error(StatusCode::BAD_REQUEST, "bad.request", "Bad request data");
            };
            let name = command["name"].as_str().unwrap_or_default().to_string();
            if state.tokens.values().any(|t| t.service_account_id == account && t.name == name) {
                return error(
                    StatusCode::CONFLICT,
                    "serviceaccounts.ErrTokenAlreadyExists",
                    "service account token with given name already exists in the organization",
                );
            }
            let id = state.next_id;
            state.next_id += 1;
            let key = format!("glsa_{}_{}", random_text(32), random_text(8));
            let token = FakeToken {
                id,
                service_account_id: account,
                name: name.clone(),
                key: key.clone(),
                seconds_to_live: command["secondsToLive"].as_i64(),
            };
            state.tokens.insert(id, token);
            answer(StatusCode::OK, json!({"id": id, "name": name, "key": key}))
        }
        (&Method::DELETE, ["api", "serviceaccounts", id, "tokens", token]) => {
            let Some(account) = id.parse::<i64>().ok().filter(|id| state.accounts.contains_key(id)) else {
                return error(StatusCode::NOT_FOUND, "serviceaccounts.ErrNotFound", "service account not found");
            };
            if state.fail_token_deletes {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "serviceaccounts.ErrInternal",
                    "Failed to delete service account token",
                );
            }
            let found = token
                .parse::<i64>()
                .ok()
                .filter(|t| state.tokens.get(t).is_some_and(|token| token.service_account_id == account));
            match found.and_then(|t| state.tokens.remove(&t)) {
                Some(deleted) => {
                    state.deleted_tokens.push(deleted);
                    answer(StatusCode::OK, json!({"message": "Service account token deleted"}))
                }
                None => error(
                    StatusCode::NOT_FOUND,
                    "serviceaccounts.ErrServiceAccountTokenNotFound",
                    "service account token not found",
                ),
            }
        }
        _ => error(StatusCode::NOT_FOUND, "api.notFound", "Not found"),
    }
}

/// Decodes `%XX` and `+` of a query value.
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
