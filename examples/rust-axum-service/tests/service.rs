//! The documents service against a live Warden (in-process, port 0, a fresh SQLite store),
//! provisioned over HTTP with the same calls as the README, then driven as a client would.
#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on the first surprise"
)]

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use rust_axum_service::{app, Documents, Settings};
use serde_json::{json, Value};
use tokio::sync::oneshot;

const ADMIN: &str = "admin@localhost";
const ADMIN_PASSWORD: &str = "change me at once, please";
const PASSWORD: &str = "correct horse battery";

/// A Warden serving on port 0 until dropped.
struct Warden {
    base: String,
    http: reqwest::Client,
    _stop: oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

impl Warden {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let env: BTreeMap<String, String> = [
            ("WARDEN_DATA_DIR", dir.path().to_str().unwrap()),
            ("WARDEN_ADMIN_EMAIL", ADMIN),
            ("WARDEN_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("WARDEN_TOKEN_PERMISSIONS", "true"),
            ("WARDEN_ARGON2_MEMORY_KIB", "64"),
            ("WARDEN_ARGON2_ITERATIONS", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let config = warden_server::config::Config::load_from(None, &env).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let opened = warden_server::open(&config, base.clone()).await.unwrap();
        opened
            .state
            .start_engine(Duration::from_millis(config.change_poll_ms))
            .await
            .unwrap();
        let router = warden_server::router(
            opened.state,
            config.max_body_bytes,
            Duration::from_secs(config.request_timeout),
        );
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(warden_server::serve_with(
            listener,
            router,
            async move {
                let _ = stopped.await;
            },
            config.limits(),
        ));
        Self {
            base,
            http: reqwest::Client::new(),
            _stop: stop,
            _dir: dir,
        }
    }

    async fn token(&self, username: &str, password: &str) -> String {
        let body: Value = self
            .http
            .post(format!("{}/oauth/token", self.base))
            .form(&[
                ("grant_type", "password"),
                ("username", username),
                ("password", password),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn post(&self, token: &str, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "POST {path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }
}

/// The README's provisioning: account `acme`; alice an `editor` (documents read and edit),
/// bob a `viewer` (read), carol an `admin`; the owner rule as a policy of the account.
async fn provision(warden: &Warden) -> String {
    let admin = warden.token(ADMIN, ADMIN_PASSWORD).await;
    let acme = warden
        .post(
            &admin,
            "/v1/accounts",
            json!({"name": "acme", "display_name": "Acme"}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let role = |name: &'static str, permissions: Value| {
        let (admin, acme) = (admin.clone(), acme.clone());
        async move {
            let body = json!({"name": name, "account_id": acme, "permissions": permissions});
            warden.post(&admin, "/v1/roles", body).await["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let viewer = role("viewer", json!(["documents:read"])).await;
    let editor = role("editor", json!(["documents:read", "documents:edit"])).await;
    let admin_role = role("admin", json!([])).await;
    for (email, role) in [
        ("alice@acme.io", &editor),
        ("bob@acme.io", &viewer),
        ("carol@acme.io", &admin_role),
    ] {
        let user = warden
            .post(
                &admin,
                "/v1/users",
                json!({"email": email, "password": PASSWORD, "display_name": email, "account_id": acme}),
            )
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        warden
            .post(
                &admin,
                &format!("/v1/users/{user}/roles"),
                json!({"role_id": role, "account_id": acme}),
            )
            .await;
    }
    warden
        .post(
            &admin,
            "/v1/policies",
            json!({"account_id": acme, "description": "owners edit their documents",
                "cedar": r#"permit(principal, action == Action::"documents:edit", resource) when { resource.owner_id == principal.id };"#,
                "enabled": true}),
        )
        .await;
    acme
}

struct Service {
    base: String,
    http: reqwest::Client,
}

impl Service {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> (StatusCode, String, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if !body.is_null() {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, challenge, body)
    }
}

async fn serve(settings: &Settings) -> Service {
    let guard = settings.guard().unwrap();
    guard.load_keys().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = app(&guard, Documents::default());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Service {
        base,
        http: reqwest::Client::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documents_service_lets_each_caller_do_what_warden_grants() {
    let warden = Warden::start().await;
    let acme = provision(&warden).await;
    let service = serve(&Settings {
        warden_url: warden.base.clone(),
        account: Some(acme.clone()),
        feed_client: None,
    })
    .await;
    let alice = warden.token("alice@acme.io", PASSWORD).await;
    let bob = warden.token("bob@acme.io", PASSWORD).await;
    let carol = warden.token("carol@acme.io", PASSWORD).await;
    let admin = warden.token(ADMIN, ADMIN_PASSWORD).await;

    // Public.
    let (status, _, _) = service
        .call(Method::GET, "/health", None, Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK);

    // Authenticated.
    let (status, challenge, _) = service.call(Method::GET, "/me", None, Value::Null).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge, r#"Bearer realm="warden""#);
    let (status, _, me) = service
        .call(Method::GET, "/me", Some(&alice), Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["account"], acme.as_str());
    assert_eq!(me["roles"], json!(["editor"]));
    let (status, challenge, body) = service
        .call(Method::GET, "/me", Some("forged.token.here"), Value::Null)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
    assert_eq!(body["error"], "invalid_token");
    // The super admin's token acts in no account: this service is pinned to acme.
    let (status, _, body) = service
        .call(Method::GET, "/me", Some(&admin), Value::Null)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["detail"], "the token acts in another account");

    // Role-protected.
    let (status, challenge, _) = service
        .call(Method::GET, "/admin", Some(&alice), Value::Null)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    let (status, _, stats) = service
        .call(Method::GET, "/admin", Some(&carol), Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(stats["tokens_verified"].as_u64().unwrap() >= 1);

    // Permission from the token (documents:read).
    let (status, _, _) = service
        .call(Method::GET, "/documents", Some(&bob), Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = service
        .call(Method::GET, "/documents", Some(&carol), Value::Null)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["detail"], "this needs the permission `documents:read`");

    // Permission decided by Warden: alice's role grants documents:edit on any document; bob,
    // a viewer, edits only what he owns (the owner rule).
    let content = |text: &str| json!({"content": text});
    let (status, _, alices) = service
        .call(Method::POST, "/documents", Some(&alice), content("alice's"))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, _, bobs) = service
        .call(Method::POST, "/documents", Some(&bob), content("bob's"))
        .await;
    let path = |doc: &Value| format!("/documents/{}", doc["id"].as_str().unwrap());
    let (status, _, edited) = service
        .call(
            Method::PUT,
            &path(&bobs),
            Some(&bob),
            content("bob's, edited"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(edited["content"], "bob's, edited");
    let (status, _, body) = service
        .call(Method::PUT, &path(&alices), Some(&bob), content("defaced"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["detail"], "this needs the permission `documents:edit`");
    let (status, _, _) = service
        .call(
            Method::PUT,
            &path(&bobs),
            Some(&alice),
            content("alice was here"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, list) = service
        .call(Method::GET, "/documents", Some(&alice), Value::Null)
        .await;
    assert_eq!(list[0]["content"], "alice's");
    assert_eq!(list[1]["content"], "alice was here");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_refuses_tokens_of_ended_sessions_through_the_feed() {
    let warden = Warden::start().await;
    provision(&warden).await;
    let admin = warden.token(ADMIN, ADMIN_PASSWORD).await;
    let client = warden
        .post(
            &admin,
            "/v1/clients",
            json!({"name": "documents-service", "account_id": null, "roles": []}),
        )
        .await;
    let service = serve(&Settings {
        warden_url: warden.base.clone(),
        account: None,
        feed_client: Some((
            client["client_id"].as_str().unwrap().to_owned(),
            client["client_secret"].as_str().unwrap().to_owned(),
        )),
    })
    .await;
    let bob = warden.token("bob@acme.io", PASSWORD).await;
    let (status, _, _) = service
        .call(Method::GET, "/me", Some(&bob), Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK);

    // Bob logs out (his access token's session ends).
    let response = warden
        .http
        .post(format!("{}/oauth/revoke", warden.base))
        .form(&[("token", bob.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut refused = None;
    for _ in 0..150 {
        let (status, _, body) = service
            .call(Method::GET, "/me", Some(&bob), Value::Null)
            .await;
        if status == StatusCode::UNAUTHORIZED {
            refused = Some(body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(refused.unwrap()["detail"], "the token's session has ended");
}
