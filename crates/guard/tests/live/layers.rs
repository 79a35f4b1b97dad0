//! The axum side: extractors and route layers in a service of our own, driven over HTTP with
//! tokens from a live Warden.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use reqwest::{header, StatusCode};
use serde_json::Value;
use warden_guard::{Guard, Principal, Resource};

use crate::support::{claims_of, Warden, PASSWORD};

/// Serves `app` on port 0; its base URL.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

struct Reply {
    status: StatusCode,
    challenge: String,
    content_type: String,
    body: Value,
    text: String,
}

async fn call(
    base: &str,
    method: reqwest::Method,
    path: &str,
    authorization: Option<&str>,
) -> Reply {
    let mut request = reqwest::Client::new().request(method, format!("{base}{path}"));
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text_of = |name| {
        response
            .headers()
            .get(name)
            .map(|v: &header::HeaderValue| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let challenge = text_of(header::WWW_AUTHENTICATE);
    let content_type = text_of(header::CONTENT_TYPE);
    let text = response.text().await.unwrap();
    Reply {
        status,
        challenge,
        content_type,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

async fn get_as(base: &str, path: &str, token: Option<&str>) -> Reply {
    let authorization = token.map(|t| format!("Bearer {t}"));
    call(base, reqwest::Method::GET, path, authorization.as_deref()).await
}

fn app(guard: &Guard, owners: Arc<HashMap<String, String>>) -> Router {
    Router::new()
        .route("/public", get(|| async { "public" }))
        .route(
            "/maybe",
            get(|principal: Option<Principal>| async move {
                principal.map_or("anonymous".to_owned(), |p| p.subject().to_owned())
            }),
        )
        .route(
            "/me",
            get(|principal: Principal| async move { principal.subject().to_owned() }),
        )
        .route(
            "/signed-in",
            get(|| async { "in" }).route_layer(guard.authenticated()),
        )
        .route(
            "/editors",
            get(|principal: Principal| async move { format!("editor {}", principal.subject()) })
                .route_layer(guard.require_role("editor")),
        )
        .route(
            "/staff",
            get(|| async { "staff" }).route_layer(guard.require_any_role(["auditor", "editor"])),
        )
        .route(
            "/board",
            get(|| async { "board" }).route_layer(guard.require_all_roles(["editor", "auditor"])),
        )
        .route(
            "/documents/{id}",
            get(|| async { "read" }).route_layer(guard.require_permission("documents:read")),
        )
        .route(
            "/documents/{id}/edit",
            get(|| async { "edited" }).route_layer(
                guard
                    .require_check("documents:edit")
                    .with_resource(move |request| {
                        let id = request.param("id").unwrap_or_default();
                        let owner = owners.get(id).cloned().unwrap_or_default();
                        Resource::new("document", id).attribute("owner_id", owner)
                    }),
            ),
        )
        .layer(guard.layer())
}

#[tokio::test]
async fn route_layers_answer_per_rfc_6750() {
    let mut warden = Warden::start_with(&[("WARDEN_TOKEN_PERMISSIONS", "true")]).await;
    let editor = warden.tenant("acme", "editor", &["documents:*"]).await;
    // A plain member of the account: no role, so no documents permission.
    let bob = warden.create_user("bob@x.io", Some(&editor.account)).await;
    let bob_login = warden
        .login_in("bob@x.io", PASSWORD, Some(&editor.account))
        .await;
    warden
        .create_policy(
            Some(&editor.account),
            r#"permit(principal, action == Action::"documents:edit", resource) when { resource.owner_id == principal.id };"#,
        )
        .await;
    let owners: HashMap<String, String> = [
        ("1".to_owned(), bob.clone()),
        ("2".to_owned(), editor.user.clone()),
        ("3".to_owned(), editor.user.clone()),
    ]
    .into();
    let guard = warden.guard().realm("docs").build().unwrap();
    let base = serve(app(&guard, Arc::new(owners))).await;
    let alice = editor.login.access.as_str();
    let bob_token = bob_login.access.as_str();

    // Public routes and anonymous callers.
    assert_eq!(get_as(&base, "/public", None).await.text, "public");
    assert_eq!(get_as(&base, "/maybe", None).await.text, "anonymous");
    assert_eq!(get_as(&base, "/maybe", Some(alice)).await.text, editor.user);
    assert_eq!(get_as(&base, "/me", Some(alice)).await.text, editor.user);

    // No token: a bare challenge.
    let missing = get_as(&base, "/me", None).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.challenge, r#"Bearer realm="docs""#);
    assert_eq!(missing.content_type, "application/problem+json");
    assert_eq!(missing.body["status"], 401);
    assert!(missing.body.get("error").is_none());
    let basic = call(
        &base,
        reqwest::Method::GET,
        "/signed-in",
        Some("Basic dTpw"),
    )
    .await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);

    // A bad token: invalid_token, whichever route refuses it.
    for path in ["/me", "/signed-in", "/editors", "/maybe", "/documents/2"] {
        let bad = get_as(&base, path, Some("not.a.token")).await;
        assert_eq!(bad.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(
            bad.challenge,
            r#"Bearer realm="docs", error="invalid_token", error_description="the token is malformed""#
        );
        assert_eq!(bad.body["error"], "invalid_token");
        assert_eq!(bad.body["detail"], "the token is malformed");
    }
    let malformed = call(&base, reqwest::Method::GET, "/me", Some("Bearer ")).await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert!(malformed.challenge.contains(r#"error="invalid_request""#));

    // Roles.
    assert_eq!(
        get_as(&base, "/signed-in", Some(bob_token)).await.status,
        StatusCode::OK
    );
    let editors = get_as(&base, "/editors", Some(alice)).await;
    assert_eq!(editors.text, format!("editor {}", editor.user));
    let denied = get_as(&base, "/editors", Some(bob_token)).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(
        denied.challenge,
        r#"Bearer realm="docs", error="insufficient_scope", error_description="this needs the role `editor`", scope="editor""#
    );
    assert_eq!(denied.body["error"], "insufficient_scope");
    assert_eq!(
        get_as(&base, "/staff", Some(alice)).await.status,
        StatusCode::OK
    );
    let board = get_as(&base, "/board", Some(alice)).await;
    assert_eq!(board.status, StatusCode::FORBIDDEN);
    assert_eq!(
        board.body["detail"],
        "this needs the roles `editor`, `auditor`"
    );

    // A permission from the token's permissions claim, `documents:*` granting `documents:read`.
    assert_eq!(
        claims_of(alice).permissions,
        Some(vec!["documents:*".to_owned()])
    );
    assert_eq!(
        get_as(&base, "/documents/2", Some(alice)).await.text,
        "read"
    );
    let no_read = get_as(&base, "/documents/2", Some(bob_token)).await;
    assert_eq!(no_read.status, StatusCode::FORBIDDEN);
    assert_eq!(
        no_read.body["detail"],
        "this needs the permission `documents:read`"
    );
    let mut without = claims_of(alice);
    without.permissions = None;
    let without = warden.sign(&without);
    let unknown = get_as(&base, "/documents/2", Some(&without)).await;
    assert_eq!(unknown.status, StatusCode::FORBIDDEN);
    assert!(unknown.body["detail"]
        .as_str()
        .unwrap()
        .contains("carries no permissions claim"));

    // A remote decision: the editor's role grants it; Bob only through the owner policy.
    assert_eq!(
        get_as(&base, "/documents/2/edit", Some(alice)).await.text,
        "edited"
    );
    assert_eq!(
        get_as(&base, "/documents/1/edit", Some(bob_token))
            .await
            .text,
        "edited"
    );
    let not_his = get_as(&base, "/documents/2/edit", Some(bob_token)).await;
    assert_eq!(not_his.status, StatusCode::FORBIDDEN);
    assert_eq!(
        not_his.body["detail"],
        "this needs the permission `documents:edit`"
    );
    assert_eq!(warden.hits.of("/v1/check"), 3);

    // Asked again within the cache's lifetime: answered without Warden.
    assert_eq!(
        get_as(&base, "/documents/1/edit", Some(bob_token))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        get_as(&base, "/documents/2/edit", Some(bob_token))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(warden.hits.of("/v1/check"), 3);
    assert_eq!(guard.stats().check_cache_hits, 2);

    // Warden gone: what is cached still answers, anything else is 503 (fail closed).
    warden.stop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        get_as(&base, "/documents/1/edit", Some(bob_token))
            .await
            .status,
        StatusCode::OK
    );
    let down = get_as(&base, "/documents/3/edit", Some(bob_token)).await;
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(down.challenge.is_empty());
    assert_eq!(down.body["type"], "/problems/unavailable");
    assert!(
        !down.text.contains("127.0.0.1"),
        "no internal detail leaks: {}",
        down.text
    );
}

#[tokio::test]
async fn a_remote_check_refused_by_warden_is_a_401() {
    let warden = Warden::start().await;
    let editor = warden.tenant("acme", "editor", &["documents:edit"]).await;
    let guard = warden.guard().build().unwrap();
    let base = serve(app(&guard, Arc::default())).await;
    let token = editor.login.access.as_str();
    assert_eq!(
        get_as(&base, "/documents/9/edit", Some(token)).await.status,
        StatusCode::OK
    );
    // The session ends: the guard does not follow the feed, but Warden refuses the token.
    warden.revoke(token).await;
    let refused = get_as(&base, "/documents/8/edit", Some(token)).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.body["detail"], "Warden refused the token");
}

#[tokio::test]
async fn an_extractor_without_a_guard_is_a_server_error() {
    let warden = Warden::start().await;
    let editor = warden.tenant("acme", "editor", &[]).await;
    let app = Router::new().route(
        "/me",
        get(|principal: Principal| async move { principal.subject().to_owned() }),
    );
    let base = serve(app).await;
    let reply = get_as(&base, "/me", Some(&editor.login.access)).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.body["detail"], "an internal error occurred");
}

#[tokio::test]
async fn a_principal_is_verified_once_per_guard() {
    let warden = Warden::start().await;
    let editor = warden.tenant("acme", "editor", &[]).await;
    let ours = warden.guard().build().unwrap();
    let billing = warden.guard().audience("billing").build().unwrap();
    let app = Router::new()
        .route(
            "/ours",
            get(|principal: Principal| async move { principal.subject().to_owned() })
                .route_layer(ours.require_role("editor")),
        )
        .route(
            "/billing",
            get(|| async { "billing" })
                // The inner layer belongs to another guard (another audience): it does not
                // take the outer guard's word for the token.
                .route_layer(billing.authenticated())
                .route_layer(ours.authenticated()),
        )
        .layer(ours.layer());
    let base = serve(app).await;
    let token = editor.login.access.as_str();

    assert_eq!(get_as(&base, "/ours", Some(token)).await.text, editor.user);
    // The route layer verified it; the extractor reused its principal.
    assert_eq!(ours.stats().verified, 1);

    let refused = get_as(&base, "/billing", Some(token)).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refused.body["detail"],
        "the token was not issued for this service"
    );
    assert_eq!(billing.stats().refused, 1);
}
