//! A real nginx (Debian's, which scripts/test.sh installs) in front of an unmodified upstream,
//! configured exactly as `examples/nginx-forward-auth/` ships, asking Warden through
//! `auth_request`. Attacked with no token, forged, other-role and spoofed-header requests and
//! path tricks; the upstream sees only what Warden allowed, with Warden's identity headers.

use reqwest::StatusCode;
use serde_json::{json, Value};
use warden_testkit::{free_port, shipped, Nginx};

use crate::helpers::{Backend, TestApp, PASSWORD};

fn example(name: &str) -> String {
    shipped(&format!("examples/nginx-forward-auth/{name}"))
}

/// An upstream that answers every request with what it received: path and Warden headers.
async fn upstream() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(|request: axum::extract::Request| async move {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        axum::Json(json!({
            "path": request.uri().path(),
            "user": header("x-warden-user"),
            "account": header("x-warden-account"),
            "roles": header("x-warden-roles"),
        }))
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    address
}

/// nginx serving the example's configuration.
async fn nginx(warden: &str, upstream: std::net::SocketAddr) -> Nginx {
    let port = free_port();
    let config = example("nginx.conf")
        .replace("WARDEN_ADDR", warden.trim_start_matches("http://"))
        .replace("UPSTREAM_ADDR", &upstream.to_string())
        .replace("LISTEN_ADDR", &format!("127.0.0.1:{port}"));
    Nginx::start(&config, port).await
}

/// Sends a raw request line (so path tricks reach nginx unnormalized by the client).
async fn raw(nginx: &Nginx, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = nginx.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    let status = reply
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    (status, head.to_owned(), body.to_owned())
}

async fn nginx_auth_request_lets_through_only_what_warden_allows(backend: Backend) {
    let app = TestApp::spawn_with_file(backend, &example("warden.toml"), &[]).await;
    let reader = app.create_user("reader@x.io", None).await;
    let role = app
        .create_role("reader", None, &["documents:read"], &[])
        .await;
    app.grant(&reader, &role, None).await;
    let ops = app.create_role("ops", None, &[], &[]).await;
    let operator = app.create_user("ops@x.io", None).await;
    app.grant(&operator, &ops, None).await;
    let reader_token = app.login("reader@x.io", PASSWORD).await;
    let ops_token = app.login("ops@x.io", PASSWORD).await;
    let proxy = nginx(&app.base, upstream().await).await;
    let bearer = |token: &str| format!("Bearer {token}");

    // Public: through, with no identity; a spoofed identity header never reaches upstream.
    let (status, _, body) = raw(&proxy, "/public/a.css", &[("X-Warden-User", "admin")]).await;
    assert_eq!(status, 200, "{body}");
    let seen: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(seen["user"], Value::Null, "{seen}");

    // No token on an authenticated route: 401 with nginx passing Warden's challenge.
    let (status, head, _) = raw(&proxy, "/me", &[]).await;
    assert_eq!(status, 401);
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: bearer"),
        "{head}"
    );
    // A forged token: 401.
    let forged = format!("{}x", &reader_token[..reader_token.len() - 1]);
    let (status, _, _) = raw(&proxy, "/me", &[("Authorization", &bearer(&forged))]).await;
    assert_eq!(status, 401);
    // A valid one: through, with Warden's identity replacing whatever the client sent.
    let (status, _, body) = raw(
        &proxy,
        "/me",
        &[
            ("Authorization", &bearer(&reader_token)),
            ("X-Warden-User", "someone-else"),
            ("X-Warden-Roles", "ops"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let seen: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(seen["user"], reader.as_str(), "{seen}");
    assert_eq!(seen["roles"], "reader", "{seen}");

    // Role rule: the reader is refused, the operator let through.
    let (status, _, _) = raw(
        &proxy,
        "/admin/x",
        &[("Authorization", &bearer(&reader_token))],
    )
    .await;
    assert_eq!(status, 403);
    let (status, _, _) = raw(
        &proxy,
        "/admin/x",
        &[("Authorization", &bearer(&ops_token))],
    )
    .await;
    assert_eq!(status, 200);

    // Path tricks reach the role rule, however the request spells /admin.
    for path in [
        "/public/../admin/x",
        "/%61dmin/x",
        "//admin/x",
        "/public/%2e%2e/admin/x",
        "/admin/x/../../public/y",
        "/admin/x/..%2F..%2Fpublic/y",
    ] {
        let (status, _, body) =
            raw(&proxy, path, &[("Authorization", &bearer(&reader_token))]).await;
        assert!(status == 403 || status == 400, "{path}: {status} {body}");
    }

    // Permission rule, the id from the path, decided by the engine.
    let (status, _, body) = raw(
        &proxy,
        "/documents/42",
        &[("Authorization", &bearer(&reader_token))],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = raw(
        &proxy,
        "/documents/42",
        &[("Authorization", &bearer(&ops_token))],
    )
    .await;
    assert_eq!(status, 403);

    // A client spoofing the headers nginx sets to Warden cannot pick a public rule.
    let (status, _, _) = raw(
        &proxy,
        "/admin/x",
        &[
            ("X-Original-URL", "http://app.test/public/x"),
            ("X-Forwarded-Uri", "/public/x"),
            ("Authorization", &bearer(&reader_token)),
        ],
    )
    .await;
    assert_eq!(status, 403);

    // Everything else: the default denies.
    let (status, _, _) = raw(
        &proxy,
        "/elsewhere",
        &[("Authorization", &bearer(&ops_token))],
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        app.get("/healthz", "").await.status,
        StatusCode::OK,
        "Warden itself is unaffected"
    );
}

crate::both!(nginx_auth_request_lets_through_only_what_warden_allows);
