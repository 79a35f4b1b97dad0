//! `TestApp`: a Warden on port 0 over a fresh database, SQLite or PostgreSQL, plus helpers
//! that read like the API's own vocabulary.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::sync::oneshot;
use warden_server::config::Config;
use warden_server::state::AppState;
use warden_testkit::{CountingStore, PgDatabase};

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";
pub const PASSWORD: &str = "correct horse battery";

/// Settings for race tests: generous per-address limits, and a costlier hash that keeps
/// logins in flight long enough for the competing request to land in between.
pub const RACE_SETTINGS: &[(&str, &str)] = &[
    ("WARDEN_TOKEN_RATE", "1000"),
    ("WARDEN_TOKEN_BURST", "1000"),
    ("WARDEN_ARGON2_MEMORY_KIB", "8192"),
];

/// Which store a test runs against.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates one `#[tokio::test]` per backend for each named scenario.
#[macro_export]
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name($crate::helpers::Backend::Sqlite).await } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name($crate::helpers::Backend::Postgres).await } )*
        }
    };
}

/// A running Warden and an HTTP client.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub admin_token: String,
    pub state: AppState,
    /// The counting store the use cases see, for apps spawned by [`TestApp::spawn_counted`].
    pub counted: Option<Arc<CountingStore>>,
    shutdown: Option<oneshot::Sender<()>>,
    env: BTreeMap<String, String>,
    _dir: Arc<TempDir>,
    _pg: Option<Arc<PgDatabase>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A response: status, headers and JSON body (`Null` when empty or not JSON).
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

/// The setting holding a test's configuration file text, written into its data directory
/// (`WARDEN_TEST_*` settings are the tests' own).
const CONFIG_TOML: &str = "WARDEN_TEST_CONFIG_TOML";

/// The configuration file of a test's `env`, written where its data lives.
fn config_file(env: &BTreeMap<String, String>, dir: &TempDir) -> Option<std::path::PathBuf> {
    let text = env.get(CONFIG_TOML)?;
    let path = dir.path().join("warden.toml");
    std::fs::write(&path, text).expect("write the config file");
    Some(path)
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, &[]).await
    }

    /// Spawns with extra `WARDEN_*` settings.
    pub async fn spawn_with(backend: Backend, extra: &[(&str, &str)]) -> Self {
        Self::spawn_inner(backend, extra, false).await
    }

    /// Spawns with a configuration file holding `toml` (beside the data directory), and
    /// extra `WARDEN_*` settings.
    pub async fn spawn_with_file(backend: Backend, toml: &str, extra: &[(&str, &str)]) -> Self {
        let mut all: Vec<(&str, &str)> = extra.to_vec();
        all.push((CONFIG_TOML, toml));
        Self::spawn_inner(backend, &all, false).await
    }

    /// Spawns with every call the use cases make to the store counted (`counted`).
    pub async fn spawn_counted(backend: Backend, extra: &[(&str, &str)]) -> Self {
        Self::spawn_inner(backend, extra, true).await
    }

    async fn spawn_inner(backend: Backend, extra: &[(&str, &str)], count: bool) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (pg, url) = match backend {
            Backend::Sqlite => (None, None),
            Backend::Postgres => {
                let db = PgDatabase::create().await;
                let url = db.url.clone();
                (Some(db), Some(url))
            }
        };
        let mut env: BTreeMap<String, String> = [
            (
                "WARDEN_DATA_DIR",
                dir.path().to_str().expect("utf-8 temp path"),
            ),
            ("WARDEN_ADMIN_EMAIL", ADMIN_EMAIL),
            ("WARDEN_ADMIN_PASSWORD", ADMIN_PASSWORD),
            // Cheap hashing by configuration: tests measure behaviour, not cost.
            ("WARDEN_ARGON2_MEMORY_KIB", "64"),
            ("WARDEN_ARGON2_ITERATIONS", "1"),
            ("WARDEN_DB_MAX_CONNECTIONS", "5"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        if let Some(url) = url {
            env.insert("DATABASE_URL".into(), url);
        }
        for (k, v) in extra {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
        Self::start(env, Arc::new(dir), pg.map(Arc::new), None, count).await
    }

    /// A second node on the same store (same data directory, master key and issuer), as
    /// another `warden serve` process would be: its own pool, snapshot and caches.
    pub async fn spawn_peer(&self) -> Self {
        Self::start(
            self.env.clone(),
            self._dir.clone(),
            self._pg.clone(),
            Some(self.base.clone()),
            false,
        )
        .await
    }

    async fn start(
        env: BTreeMap<String, String>,
        dir: Arc<TempDir>,
        pg: Option<Arc<PgDatabase>>,
        issuer: Option<String>,
        count: bool,
    ) -> Self {
        let file = config_file(&env, &dir);
        let config = Config::load_from(file.as_deref(), &env).expect("test config");
        let kept_env = env.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let base = format!("http://{address}");
        let mut counted = None;
        // The issuer: a peer's, or the configured one, or this listener's address.
        let issuer = issuer
            .or_else(|| config.issuer.clone())
            .unwrap_or_else(|| base.clone());
        let opened = warden_server::open_wrapped(&config, issuer, |store| {
            if !count {
                return store;
            }
            let store = Arc::new(CountingStore::new(store));
            counted = Some(store.clone());
            store
        })
        .await
        .expect("open warden");
        let state = opened.state.clone();
        state
            .start_engine(Duration::from_millis(config.change_poll_ms))
            .await
            .expect("load the authorization snapshot");
        let app = warden_server::router(
            opened.state,
            config.max_body_bytes,
            Duration::from_secs(config.request_timeout),
        );
        let limits = config.limits();
        let (tx, rx) = oneshot::channel::<()>();
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
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let mut app = Self {
            base,
            client,
            admin_token: String::new(),
            state,
            counted,
            shutdown: Some(tx),
            env: kept_env,
            _dir: dir,
            _pg: pg,
        };
        app.admin_token = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        app
    }

    /// The URL of this app's database.
    pub fn database_url(&self) -> String {
        match self.env.get("DATABASE_URL") {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self._dir.path().join("warden.db").display()),
        }
    }

    /// Opens the same store again, as a restart would, with another admin password configured.
    pub async fn reopen_with_password(&self, password: &str) -> AppState {
        let mut env = self.env.clone();
        env.insert("WARDEN_ADMIN_PASSWORD".into(), password.into());
        let file = config_file(&env, &self._dir);
        let config = Config::load_from(file.as_deref(), &env).expect("test config");
        warden_server::open(&config, self.base.clone())
            .await
            .expect("reopen")
            .state
    }

    /// The server's current signing key, unsealed with the master key from the data dir, so
    /// tests can forge tokens the server would otherwise accept.
    pub async fn server_signing_key(&self) -> (String, jsonwebtoken::EncodingKey) {
        let text =
            std::fs::read_to_string(self._dir.path().join("master.key")).expect("master key file");
        let master = warden_core::crypto::MasterKey::from_base64(&text).expect("master key");
        let records = self.state.services().store.keys().await.expect("keys");
        let record = records.last().expect("a key");
        let der = master
            .open(&record.kid, &record.private_sealed)
            .expect("unseal");
        (
            record.kid.clone(),
            jsonwebtoken::EncodingKey::from_ed_der(&der),
        )
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a JSON request (`body` `Null` for none) with an optional bearer token.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> Reply {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if !body.is_null() {
            request = request.json(&body);
        }
        Self::read(request.send().await.expect("request")).await
    }

    pub async fn read(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }

    /// An unauthenticated GET whose body is JSON (public documents: JWKS, metadata, OpenAPI).
    pub async fn get_json(&self, path: &str) -> Value {
        let response = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("request");
        response.json().await.expect("JSON body")
    }

    /// An unauthenticated GET, answered as is (public pages: `/metrics`, `/problems`, `/docs`).
    pub async fn get_public(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), Value::Null).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(token), body).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::PUT, path, Some(token), body).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(token), body).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.call(Method::DELETE, path, Some(token), Value::Null)
            .await
    }

    /// Posts form parameters to the token endpoint.
    pub async fn token_request(&self, form: &[(&str, &str)]) -> Reply {
        let response = self
            .client
            .post(self.url("/oauth/token"))
            .form(form)
            .send()
            .await
            .expect("token request");
        Self::read(response).await
    }

    /// Sends a body larger than the server accepts. The server answers 413 from the
    /// `Content-Length` alone and closes the connection, so the client either reads that 413
    /// or sees the connection closed mid-upload; both are a refusal. Returns the status, if read.
    /// Build the request on a client of its own, so no pooled connection is left half-closed.
    pub async fn send_oversized(&self, request: reqwest::RequestBuilder) -> Option<StatusCode> {
        match request.send().await {
            Ok(response) => Some(response.status()),
            Err(err) if err.is_request() || err.is_body() => None,
            Err(err) => panic!("unexpected client error: {err}"),
        }
    }

    /// Logs in and returns the access token, panicking on failure.
    pub async fn login(&self, username: &str, password: &str) -> String {
        self.login_to(username, password, None).await
    }

    pub async fn login_to(&self, username: &str, password: &str, account: Option<&str>) -> String {
        let mut form = vec![
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ];
        if let Some(account) = account {
            form.push(("account", account));
        }
        let reply = self.token_request(&form).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "login of {username} failed: {}",
            reply.body
        );
        reply.body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// Creates an account as the super admin; returns its id.
    pub async fn create_account(&self, name: &str) -> String {
        let reply = self
            .post(
                "/v1/accounts",
                &self.admin_token,
                json!({"name": name, "display_name": name}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body["id"].as_str().expect("id").to_owned()
    }

    /// Creates a user (optionally a member of `account`) as the super admin; returns its id.
    pub async fn create_user(&self, email: &str, account: Option<&str>) -> String {
        let reply = self
            .post(
                "/v1/users",
                &self.admin_token,
                json!({"email": email, "password": PASSWORD, "account_id": account}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body["id"].as_str().expect("id").to_owned()
    }

    /// Creates a role as the super admin; returns its id.
    pub async fn create_role(
        &self,
        name: &str,
        account: Option<&str>,
        permissions: &[&str],
        inherits: &[&str],
    ) -> String {
        let body = json!({"name": name, "account_id": account, "permissions": permissions, "inherits": inherits});
        let reply = self.post("/v1/roles", &self.admin_token, body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body["id"].as_str().expect("id").to_owned()
    }

    /// The id of a role by name (global, or the account's).
    pub async fn role_id(&self, name: &str) -> String {
        let reply = self
            .get(&format!("/v1/roles?name={name}"), &self.admin_token)
            .await;
        reply.body["items"][0]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no role {name}: {}", reply.body))
            .to_owned()
    }

    /// Grants a role as the super admin.
    pub async fn grant(&self, user: &str, role: &str, account: Option<&str>) {
        let reply = self
            .post(
                &format!("/v1/users/{user}/roles"),
                &self.admin_token,
                json!({"role_id": role, "account_id": account}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }

    /// A user who is `account_admin` of `account`, logged in: (user id, token).
    pub async fn account_admin(&self, email: &str, account: &str) -> (String, String) {
        let user = self.create_user(email, Some(account)).await;
        let role = self.role_id("account_admin").await;
        self.grant(&user, &role, Some(account)).await;
        let token = self.login(email, PASSWORD).await;
        (user, token)
    }

    /// A plain member of `account`, logged in: (user id, token).
    pub async fn member(&self, email: &str, account: &str) -> (String, String) {
        let user = self.create_user(email, Some(account)).await;
        let token = self.login(email, PASSWORD).await;
        (user, token)
    }
}

/// A service client's credentials, as created.
pub struct Creds {
    pub id: String,
    pub client_id: String,
    pub secret: String,
}

pub async fn create_client(app: &TestApp, token: &str, body: Value) -> Creds {
    let reply = app.post("/v1/clients", token, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    Creds {
        id: reply.body["id"].as_str().unwrap().to_owned(),
        client_id: reply.body["client_id"].as_str().unwrap().to_owned(),
        secret: reply.body["client_secret"].as_str().unwrap().to_owned(),
    }
}

pub async fn basic(app: &TestApp, id: &str, secret: &str, form: &[(&str, &str)]) -> Reply {
    let response = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(form)
        .send()
        .await
        .unwrap();
    TestApp::read(response).await
}

pub fn claims(token: &str) -> Value {
    jwt_part(token, 1)
}

/// Decodes one segment of a JWT (0: header, 1: claims) without verifying anything.
pub fn jwt_part(token: &str, index: usize) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(index).expect("JWT segment");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON")
}
