//! `/v1/forward-auth` as a reverse proxy asks it: both proxy conventions, every rule kind,
//! path-normalization tricks and spoofed forwarded headers.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, TestApp, PASSWORD};

/// The rules every test here runs with.
pub const RULES: &str = r#"
[forward_auth]
cookie = "warden_token"
pass_token = true
login_url = "https://login.example.com/?rd={url}"

[[forward_auth.rules]]
path = "/public/**"
allow = "public"

[[forward_auth.rules]]
path = "/admin/**"
role = "ops"

[[forward_auth.rules]]
methods = ["GET"]
path = "/documents/{id}"
permission = "documents:read"
resource = "document"

[[forward_auth.rules]]
host = "*.example.com"
path = "/me"
allow = "authenticated"
"#;

/// Asks as nginx does: the original request in `X-Original-Method` and `X-Original-URL`.
async fn nginx(app: &TestApp, method: &str, url: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .get(app.url("/v1/forward-auth"))
        .header("x-original-method", method)
        .header("x-original-url", url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn_with_file(
        backend,
        RULES,
        &[("WARDEN_TRUSTED_PROXIES", "127.0.0.1/32")],
    )
    .await
}

async fn every_rule_kind_decides_as_configured(backend: Backend) {
    let app = spawn(backend).await;
    let acme = app.create_account("acme").await;
    let reader = app.create_user("reader@acme.io", Some(&acme)).await;
    let role = app
        .create_role("reader", Some(&acme), &["documents:read"], &[])
        .await;
    app.grant(&reader, &role, Some(&acme)).await;
    let ops = app.create_role("ops", None, &[], &[]).await;
    let operator = app.create_user("ops@x.io", None).await;
    app.grant(&operator, &ops, None).await;
    let reader_token = app.login("reader@acme.io", PASSWORD).await;
    let ops_token = app.login("ops@x.io", PASSWORD).await;

    // Public: no credential needed, and no identity passed.
    let public = nginx(&app, "GET", "http://app.example.com/public/a.css", None).await;
    assert_eq!(public.status(), StatusCode::OK);
    assert!(public.headers().get("x-warden-user").is_none());

    // Authenticated: 401 with a Bearer challenge without a token or with a bad one.
    let none = nginx(&app, "GET", "http://app.example.com/me", None).await;
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        none.headers()["www-authenticate"],
        "Bearer realm=\"warden\""
    );
    let bad = nginx(&app, "GET", "http://app.example.com/me", Some("garbage")).await;
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    assert!(bad.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("error=\"invalid_token\""));
    let me = nginx(
        &app,
        "GET",
        "http://app.example.com/me",
        Some(&reader_token),
    )
    .await;
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(me.headers()["x-warden-user"], reader.as_str());
    assert_eq!(me.headers()["x-warden-account"], acme.as_str());
    assert_eq!(me.headers()["x-warden-roles"], "reader");
    assert_eq!(
        me.headers()["x-warden-token"],
        reader_token.as_str(),
        "pass_token"
    );
    // The host pattern is `*.example.com`: the apex and look-alikes fall to the default.
    for host in ["example.com", "app.example.com.evil.io"] {
        let other = nginx(
            &app,
            "GET",
            &format!("http://{host}/me"),
            Some(&reader_token),
        )
        .await;
        assert_eq!(other.status(), StatusCode::FORBIDDEN, "{host}");
    }

    // Role: the reader lacks `ops` (403, audited), the operator holds it.
    let denied = nginx(&app, "GET", "http://h/admin/panel", Some(&reader_token)).await;
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = denied.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("ops"), "{body}");
    let allowed = nginx(&app, "GET", "http://h/admin/panel", Some(&ops_token)).await;
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(allowed.headers()["x-warden-roles"], "ops");
    // A tenant cannot make its own `ops`: the name is the operator's (and a role rule
    // matches global roles only, should one ever exist).
    let local = app
        .post(
            "/v1/roles",
            &app.admin_token,
            serde_json::json!({"name": "ops", "account_id": acme, "permissions": []}),
        )
        .await;
    assert_eq!(local.status, StatusCode::CONFLICT, "{}", local.body);

    // Permission, with the resource id from the path, decided by the engine: a Cedar forbid
    // on one document stops the reader there only.
    let doc = nginx(&app, "GET", "http://h/documents/42", Some(&reader_token)).await;
    assert_eq!(doc.status(), StatusCode::OK);
    let as_ops = nginx(&app, "GET", "http://h/documents/42", Some(&ops_token)).await;
    assert_eq!(as_ops.status(), StatusCode::FORBIDDEN);
    let forbid = app
        .post(
            "/v1/policies",
            &app.admin_token,
            json!({"account_id": null, "description": "sealed", "enabled": true,
                   "cedar": "forbid(principal, action, resource == document::\"sealed\");"}),
        )
        .await;
    assert_eq!(forbid.status, StatusCode::CREATED, "{}", forbid.body);
    let mut sealed = StatusCode::OK;
    for _ in 0..50 {
        sealed = nginx(
            &app,
            "GET",
            "http://h/documents/sealed",
            Some(&reader_token),
        )
        .await
        .status();
        if sealed == StatusCode::FORBIDDEN {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(sealed, StatusCode::FORBIDDEN);
    // The method is part of the rule: POST falls to the default, deny.
    let post = nginx(&app, "POST", "http://h/documents/42", Some(&reader_token)).await;
    assert_eq!(post.status(), StatusCode::FORBIDDEN);

    // Denials are in the audit log, as /v1/check's are.
    let mut audited = false;
    for _ in 0..50 {
        let log = app
            .get("/v1/audit?action=check.denied", &app.admin_token)
            .await;
        let text = log.body.to_string();
        if text.contains("forward-auth") && text.contains("documents:read") {
            audited = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(audited, "forward-auth denials are audited");

    // An API key authenticates as its owner; so does the configured cookie.
    let key = app
        .post(
            "/v1/api-keys",
            &reader_token,
            json!({"name": "proxy", "roles": [role]}),
        )
        .await;
    assert_eq!(key.status, StatusCode::CREATED, "{}", key.body);
    let key = key.body["key"].as_str().unwrap();
    let mut by_key = StatusCode::UNAUTHORIZED;
    for _ in 0..50 {
        by_key = nginx(&app, "GET", "http://h/documents/7", Some(key))
            .await
            .status();
        if by_key == StatusCode::OK {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(by_key, StatusCode::OK);
    let by_header = app
        .client
        .get(app.url("/v1/forward-auth"))
        .header("x-original-url", "http://h/documents/7")
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    assert_eq!(by_header.status(), StatusCode::OK);
    assert_eq!(by_header.headers()["x-warden-user"], reader.as_str());
    let by_cookie = app
        .client
        .get(app.url("/v1/forward-auth"))
        .header("x-original-url", "http://app.example.com/me")
        .header("cookie", format!("theme=dark; warden_token={reader_token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_cookie.status(), StatusCode::OK);

    // Nothing matched: the default denies, whoever asks.
    let unmatched = nginx(&app, "GET", "http://h/elsewhere", Some(&ops_token)).await;
    assert_eq!(unmatched.status(), StatusCode::FORBIDDEN);
}

async fn paths_are_matched_as_the_upstream_reads_them(backend: Backend) {
    let app = spawn(backend).await;
    let user = app.create_user("plain@x.io", None).await;
    let _ = user;
    let token = app.login("plain@x.io", PASSWORD).await;
    // Spellings of /admin that every upstream reads alike reach the role rule.
    for url in [
        "http://h/%61dmin/x",
        "http://h//admin//x",
        "http://H./admin/x",
    ] {
        let reply = nginx(&app, "GET", url, Some(&token)).await;
        assert_eq!(reply.status(), StatusCode::FORBIDDEN, "{url}");
        let body: serde_json::Value = reply.json().await.unwrap();
        assert!(
            body["detail"].as_str().unwrap().contains("ops"),
            "{url}: {body}"
        );
    }
    // Dot segments are refused in both directions: into /admin past the public rule, and out
    // of /admin into a public path an upstream would still route to its admin handler.
    for url in [
        "http://h/public/../admin/x",
        "http://h/public/%2e%2e/admin/x",
        "http://h/public\\..\\admin/x",
        "http://h/admin/x/../../public/y",
        "http://h/admin/x/..%2F..%2Fpublic/y",
        "http://h/admin;x/public",
    ] {
        let reply = nginx(&app, "GET", url, Some(&token)).await;
        assert_eq!(reply.status(), StatusCode::FORBIDDEN, "{url}");
    }
    // What an upstream could read otherwise is refused outright, never a 5xx.
    for url in [
        "http://h/public/%252e%252e/admin",
        "http://h/public/%zz",
        "http://h/../public/x",
        "http://h/public/%00",
        "not a url",
    ] {
        let reply = nginx(&app, "GET", url, None).await;
        assert_eq!(reply.status(), StatusCode::FORBIDDEN, "{url}");
    }
}

async fn forwarded_headers_count_only_from_trusted_proxies(backend: Backend) {
    // No trusted proxies: a caller naming a public route is refused.
    let app = TestApp::spawn_with_file(backend, RULES, &[]).await;
    let spoofed = nginx(&app, "GET", "http://h/public/x", None).await;
    assert_eq!(spoofed.status(), StatusCode::FORBIDDEN);
    let traefik = app
        .client
        .get(app.url("/v1/forward-auth"))
        .header("x-forwarded-host", "h")
        .header("x-forwarded-uri", "/public/x")
        .send()
        .await
        .unwrap();
    assert_eq!(traefik.status(), StatusCode::FORBIDDEN);

    // Trusted: the Traefik/Caddy convention works as nginx's does.
    let app = spawn(backend).await;
    let traefik = app
        .client
        .get(app.url("/v1/forward-auth"))
        .header("x-forwarded-method", "GET")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "h")
        .header("x-forwarded-uri", "/public/x")
        .send()
        .await
        .unwrap();
    assert_eq!(traefik.status(), StatusCode::OK);
    // A repeated forwarded header is ambiguous: refused.
    let doubled = app
        .client
        .get(app.url("/v1/forward-auth"))
        .header("x-forwarded-host", "h")
        .header("x-forwarded-uri", "/public/x")
        .header("x-forwarded-uri", "/admin")
        .send()
        .await
        .unwrap();
    assert_eq!(doubled.status(), StatusCode::FORBIDDEN);
    // Both conventions at once: a client may have written one of them (Traefik and Caddy
    // pass client headers on), so neither is believed.
    let mixed = app
        .client
        .get(app.url("/v1/forward-auth"))
        .header("x-original-url", "http://h/public/x")
        .header("x-forwarded-host", "h")
        .header("x-forwarded-uri", "/admin/x")
        .send()
        .await
        .unwrap();
    assert_eq!(mixed.status(), StatusCode::FORBIDDEN);
    // No original request at all: refused, not a 5xx.
    let bare = app
        .client
        .get(app.url("/v1/forward-auth"))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), StatusCode::FORBIDDEN);
    // A browser without a session is told where to sign in.
    let browser = app
        .client
        .get(app.url("/v1/forward-auth"))
        .header("x-original-url", "https://app.example.com/me?x=1")
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(browser.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        browser.headers()["x-warden-login"],
        "https://login.example.com/?rd=https%3A%2F%2Fapp.example.com%2Fme%3Fx%3D1"
    );
}

crate::both!(
    every_rule_kind_decides_as_configured,
    paths_are_matched_as_the_upstream_reads_them,
    forwarded_headers_count_only_from_trusted_proxies,
);
