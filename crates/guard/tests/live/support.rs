//! `Warden`: a real Warden (warden-server's router and accept loop, as `warden serve` runs
//! them) on port 0 over a throw-away SQLite store, with cheap argon2, a known admin, and a
//! count of the requests it served per path, plus helpers named after the API.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::sync::oneshot;
use warden_core::tokens::AccessClaims;
use warden_guard::{Guard, GuardBuilder};
use warden_server::config::Config;
use warden_server::state::AppState;

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "admin-password-for-guard-tests";
pub const PASSWORD: &str = "correct horse battery";

/// Requests served, by path.
#[derive(Default)]
pub struct Hits(Mutex<HashMap<String, usize>>);

impl Hits {
    pub fn of(&self, path: &str) -> usize {
        self.0.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

async fn count(State(hits): State<Arc<Hits>>, request: Request, next: Next) -> Response {
    *hits
        .0
        .lock()
        .unwrap()
        .entry(request.uri().path().to_owned())
        .or_default() += 1;
    next.run(request).await
}

/// A running Warden.
pub struct Warden {
    pub base: String,
    pub http: reqwest::Client,
    pub admin_token: String,
    pub state: AppState,
    pub hits: Arc<Hits>,
    shutdown: Option<oneshot::Sender<()>>,
    _dir: TempDir,
}

impl Drop for Warden {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The tokens of a login.
pub struct Login {
    pub access: String,
}

impl Warden {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Starts with extra `WARDEN_*` settings.
    pub async fn start_with(extra: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut env: BTreeMap<String, String> = [
            ("WARDEN_DATA_DIR", dir.path().to_str().unwrap()),
            ("WARDEN_ADMIN_EMAIL", ADMIN_EMAIL),
            ("WARDEN_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("WARDEN_ARGON2_MEMORY_KIB", "64"),
            ("WARDEN_ARGON2_ITERATIONS", "1"),
            ("WARDEN_DB_MAX_CONNECTIONS", "5"),
            ("WARDEN_TOKEN_RATE", "1000"),
            ("WARDEN_TOKEN_BURST", "1000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (k, v) in extra {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
        let config = Config::load_from(None, &env).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let opened = warden_server::open(&config, base.clone()).await.unwrap();
        let state = opened.state.clone();
        state
            .start_engine(Duration::from_millis(config.change_poll_ms))
            .await
            .unwrap();
        let hits = Arc::new(Hits::default());
        let app = warden_server::router(
            opened.state,
            config.max_body_bytes,
            Duration::from_secs(config.request_timeout),
        )
        .layer(axum::middleware::from_fn_with_state(hits.clone(), count));
        let (tx, rx) = oneshot::channel::<()>();
        let mut limits = config.limits();
        limits.drain_timeout = Duration::from_millis(100);
        tokio::spawn(async move {
            let _ = warden_server::serve_with(
                listener,
                app,
                async move {
                    let _ = rx.await;
                },
                limits,
            )
            .await;
        });
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let mut warden = Self {
            base,
            http,
            admin_token: String::new(),
            state,
            hits,
            shutdown: Some(tx),
            _dir: dir,
        };
        warden.admin_token = warden.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.access;
        warden
    }

    /// Stops accepting connections, as a Warden that went down.
    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// A guard builder for this Warden, with a short refresh cooldown for tests.
    pub fn guard(&self) -> GuardBuilder {
        Guard::builder(&self.base).refresh_cooldown(Duration::from_millis(200))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// How often the JWKS was fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.hits.of("/.well-known/jwks.json")
    }

    pub async fn login(&self, username: &str, password: &str) -> Login {
        self.login_in(username, password, None).await
    }

    pub async fn login_in(&self, username: &str, password: &str, account: Option<&str>) -> Login {
        let mut form = vec![
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ];
        if let Some(account) = account {
            form.push(("account", account));
        }
        let response = self
            .http
            .post(self.url("/oauth/token"))
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "login of {username}: {body}");
        Login {
            access: body["access_token"].as_str().unwrap().to_owned(),
        }
    }

    /// A JSON request as the admin; returns status and body.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.admin_token);
        if !body.is_null() {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let bytes = response.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn created(&self, path: &str, body: Value) -> Value {
        let (status, reply) = self.admin(reqwest::Method::POST, path, body.clone()).await;
        assert!(status.is_success(), "POST {path} {body}: {status} {reply}");
        reply
    }

    pub async fn create_account(&self, name: &str) -> String {
        let reply = self
            .created("/v1/accounts", json!({"name": name, "display_name": name}))
            .await;
        reply["id"].as_str().unwrap().to_owned()
    }

    /// A user, a member of `account` when given.
    pub async fn create_user(&self, email: &str, account: Option<&str>) -> String {
        let mut body = json!({"email": email, "password": PASSWORD, "display_name": email});
        if let Some(account) = account {
            body["account_id"] = account.into();
        }
        let reply = self.created("/v1/users", body).await;
        reply["id"].as_str().unwrap().to_owned()
    }

    pub async fn create_role(
        &self,
        name: &str,
        account: Option<&str>,
        permissions: &[&str],
    ) -> String {
        let reply = self
            .created(
                "/v1/roles",
                json!({"name": name, "account_id": account, "permissions": permissions}),
            )
            .await;
        reply["id"].as_str().unwrap().to_owned()
    }

    pub async fn grant(&self, user: &str, role: &str, account: Option<&str>) {
        self.created(
            &format!("/v1/users/{user}/roles"),
            json!({"role_id": role, "account_id": account}),
        )
        .await;
    }

    /// A service client: its `client_id` and secret.
    pub async fn create_client(&self, name: &str, account: Option<&str>) -> (String, String) {
        let reply = self
            .created(
                "/v1/clients",
                json!({"name": name, "account_id": account, "roles": []}),
            )
            .await;
        (
            reply["client_id"].as_str().unwrap().to_owned(),
            reply["client_secret"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn create_policy(&self, account: Option<&str>, cedar: &str) {
        self.created(
            "/v1/policies",
            json!({"account_id": account, "description": "test", "cedar": cedar, "enabled": true}),
        )
        .await;
    }

    /// Ends the session of `access` (RFC 7009 revocation of the access token).
    pub async fn revoke(&self, access: &str) {
        let response = self
            .http
            .post(self.url("/oauth/revoke"))
            .form(&[("token", access)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    /// `claims` signed with Warden's current signing key, as Warden signs its own tokens.
    pub fn sign(&self, claims: &AccessClaims) -> String {
        self.state.services().tokens.sign(claims).unwrap()
    }
}

/// The claims of a token, unverified.
pub fn claims_of(token: &str) -> AccessClaims {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The header of a token, unverified.
pub fn header_of(token: &str) -> Value {
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Waits until `condition` holds, polling every 50 ms, for at most `seconds`.
pub async fn eventually<F, Fut>(seconds: u64, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    while tokio::time::Instant::now() < deadline {
        if condition().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// An account, a user in it holding a role there, and that user's login.
pub struct Tenant {
    pub account: String,
    pub user: String,
    pub email: String,
    pub login: Login,
}

impl Warden {
    /// Account `name` with user `<name>-user@x.io` holding role `role` granting `permissions`.
    pub async fn tenant(&self, name: &str, role: &str, permissions: &[&str]) -> Tenant {
        let account = self.create_account(name).await;
        let email = format!("{name}-user@x.io");
        let user = self.create_user(&email, Some(&account)).await;
        let role_id = self.create_role(role, Some(&account), permissions).await;
        self.grant(&user, &role_id, Some(&account)).await;
        let login = self.login_in(&email, PASSWORD, Some(&account)).await;
        Tenant {
            account,
            user,
            email,
            login,
        }
    }
}
