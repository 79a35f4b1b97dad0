//! The cluster test's parts: `warden serve` processes sharing one store, nginx in front of
//! them, and the requests the test makes of them.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
pub(super) use warden_testkit::free_port;
use warden_testkit::{shipped, Nginx};

pub(super) const ADMIN: &str = "admin@localhost";
pub(super) const ADMIN_PASSWORD: &str = "cluster operator passphrase";
pub(super) const PASSWORD: &str = "a long enough passphrase";

/// What every node shares: the database, the master key, the issuer.
pub(super) struct Shared {
    pub(super) database_url: String,
    pub(super) master_key: String,
    pub(super) issuer: String,
    pub(super) dir: tempfile::TempDir,
}

/// One `warden serve` process; killed when dropped.
pub(super) struct Node {
    pub(super) child: Child,
    pub(super) port: u16,
    pub(super) base: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(super) fn warden(shared: &Shared, data_dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_warden"));
    command
        .env_remove("WARDEN_CONFIG")
        .env("DATABASE_URL", &shared.database_url)
        .env("WARDEN_DATA_DIR", data_dir)
        .env("WARDEN_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("WARDEN_ARGON2_MEMORY_KIB", "64")
        .env("WARDEN_ARGON2_ITERATIONS", "1")
        .env("WARDEN_TOKEN_RATE", "100000")
        .env("WARDEN_TOKEN_BURST", "100000")
        .env("WARDEN_MAX_SESSIONS_PER_USER", "100000")
        .env("WARDEN_JWKS_CACHE_TTL", "2")
        .env("WARDEN_LOG", "warn");
    if !shared.master_key.is_empty() {
        command.env("WARDEN_MASTER_KEY", &shared.master_key);
    }
    command
}

pub(super) async fn start_node(shared: &Shared, index: usize, port: u16) -> Node {
    let data_dir = shared.dir.path().join(format!("node{index}"));
    let child = warden(shared, &data_dir)
        .arg("serve")
        .env("WARDEN_LISTEN", format!("127.0.0.1:{port}"))
        .env("WARDEN_ISSUER", &shared.issuer)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let node = Node {
        child,
        port,
        base: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(reply) = client.get(format!("{}/readyz", node.base)).send().await {
            if reply.status() == StatusCode::OK {
                return node;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("node {index} never became ready");
}

/// nginx in front of the nodes, configured as `deploy/cluster/nginx.conf` ships.
pub(super) async fn nginx(port: u16, nodes: &[u16]) -> Nginx {
    let mut config =
        shipped("deploy/cluster/nginx.conf").replace("LISTEN_ADDR", &format!("127.0.0.1:{port}"));
    for (i, node) in nodes.iter().enumerate() {
        config = config.replace(&format!("NODE{}", i + 1), &format!("127.0.0.1:{node}"));
    }
    Nginx::start(&config, port).await
}

/// A password login: (access token, refresh token).
pub(super) async fn login(
    client: &reqwest::Client,
    base: &str,
    user: &str,
    password: &str,
) -> (String, String) {
    let reply = client
        .post(format!("{base}/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", user),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK, "login to {base}");
    let body: Value = reply.json().await.unwrap();
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

pub(super) async fn post(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    token: &str,
    body: Value,
) -> Value {
    let reply = client
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = reply.status();
    let body: Value = reply.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

/// Creates a global role holding `permission` through the node at `base`, and grants it to
/// `user` there.
pub(super) async fn grant_new_role(
    client: &reqwest::Client,
    base: &str,
    admin: &str,
    user: &str,
    name: &str,
    permission: &str,
) {
    let role = post(
        client,
        base,
        "/v1/roles",
        admin,
        json!({"name": name, "permissions": [permission]}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/users/{user}/roles");
    post(client, base, &path, admin, json!({"role_id": role})).await;
}

pub(super) async fn me_status(client: &reqwest::Client, base: &str, token: &str) -> StatusCode {
    client
        .get(format!("{base}/v1/users/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

pub(super) async fn allowed(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    action: &str,
    tag: &str,
) -> bool {
    let body = post(
        client,
        base,
        "/v1/check",
        token,
        json!({"action": action, "resource": {"type": "document", "id": "1", "attributes": {"tag": tag}}}),
    )
    .await;
    body["allowed"].as_bool().unwrap()
}

/// Polls `seen` until it holds; answers how long that took (at most 5 s).
pub(super) async fn until<F, Fut>(seen: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    until_within(Duration::from_secs(5), seen).await
}

/// [`until`], within `budget`.
pub(super) async fn until_within<F, Fut>(budget: Duration, mut seen: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !seen().await {
        assert!(started.elapsed() < budget, "not seen within {budget:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    started.elapsed()
}

pub(super) fn p99(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[(samples.len() * 99).div_ceil(100).saturating_sub(1)]
}

pub(super) fn kid(token: &str) -> String {
    use base64::Engine;
    let header = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    serde_json::from_slice::<Value>(&bytes).unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned()
}
