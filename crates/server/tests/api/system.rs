//! Health, OpenAPI, docs, unknown routes.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, TestApp};

async fn the_openapi_document_and_offline_docs_are_served(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let doc: Value = app.get_json("/openapi.json").await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/oauth/token",
        "/v1/users",
        "/v1/users/{id}/roles",
        "/v1/accounts/{id}/members",
        "/v1/roles/{id}",
        "/v1/users/me",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} undocumented");
    }
    let docs = app.get_public("/docs").await.text().await.unwrap();
    assert!(
        docs.contains("/docs/swagger-ui-bundle.js") && !docs.contains("https://"),
        "docs must not need the internet"
    );
    let js = app.get_public("/docs/swagger-ui-bundle.js").await;
    assert_eq!(js.status(), StatusCode::OK);
    assert!(js.bytes().await.unwrap().len() > 100_000);
}

async fn health_readiness_and_unknown_routes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(app.get_public("/healthz").await.status(), StatusCode::OK);
    assert_eq!(app.get_public("/readyz").await.status(), StatusCode::OK);
    let missing = app.get_public("/nope").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        missing.headers()["content-type"],
        "application/problem+json"
    );
    let wrong_method = app.client.put(app.url("/v1/users")).send().await.unwrap();
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);

    // Every answer carries a request id: the client's when it is plain, a fresh one otherwise.
    let generated = missing.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(generated.len(), 32, "{generated}");
    let mine = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-7f3a.1")
        .send()
        .await
        .unwrap();
    assert_eq!(mine.headers()["x-request-id"], "trace-7f3a.1");
    let injected = app
        .client
        .get(app.url("/v1/users"))
        .header("x-request-id", "a b;c")
        .send()
        .await
        .unwrap();
    assert_eq!(injected.status(), StatusCode::UNAUTHORIZED);
    let replaced = injected.headers()["x-request-id"].to_str().unwrap();
    assert!(replaced.len() == 32 && replaced != generated, "{replaced}");
}

/// `/metrics` answers the Prometheus text format without authentication: requests by route
/// template (never the path), decisions by result, the snapshot; no id or token in it.
async fn metrics_count_requests_and_decisions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = &app.admin_token;
    let user = app.create_user("metrics@example.com", None).await;
    let read = app.get(&format!("/v1/users/{user}"), admin).await;
    assert_eq!(read.status, StatusCode::OK);
    let denied = app
        .post(
            "/v1/check",
            admin,
            serde_json::json!({"principal": {"type": "user", "id": user}, "action": "documents:read",
                "resource": {"type": "document", "id": "d1"}}),
        )
        .await;
    assert_eq!(denied.status, StatusCode::OK, "{}", denied.body);
    assert_eq!(denied.body["allowed"], false);
    let wrong = app
        .client
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "metrics@example.com"),
            ("password", "not the password at all"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    let reply = app.get_public("/metrics").await;
    assert_eq!(reply.status(), StatusCode::OK);
    assert!(reply.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = reply.text().await.unwrap();
    for line in [
        r#"warden_http_requests_total{method="GET",route="/v1/users/{id}",status="2xx"} 1"#,
        r#"warden_http_requests_total{method="POST",route="/v1/check",status="2xx"} 1"#,
        r#"warden_http_request_duration_seconds_count{method="POST",route="/v1/check"} 1"#,
        "# TYPE warden_decisions counter",
        "warden_snapshot_change_seq ",
        r#"warden_snapshot_entries{kind="users"} 2"#,
        "warden_audit_queue_depth ",
        r#"warden_token_grants_total{grant_type="password",outcome="issued"} "#,
        r#"warden_token_grants_total{grant_type="password",outcome="invalid_grant"} 1"#,
        "warden_login_lock_refusals_total ",
        r#"warden_rate_limited_total{limiter="token_endpoint"} 0"#,
        "warden_change_log_lag_seconds ",
        "warden_audit_write_batches_total ",
        "warden_audit_write_seconds_total ",
        r#"warden_db_pool_connections{state="max"} "#,
        "warden_signing_key_age_seconds ",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
    let denials = text
        .lines()
        .find_map(|l| l.strip_prefix(r#"warden_decisions_total{result="deny"} "#))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .expect("a deny count");
    assert!(denials >= 1, "{text}");
    assert!(
        !text.contains(&user) && !text.contains(admin.as_str()),
        "{text}"
    );
}

/// With `metrics_token` set, a scrape without that bearer token is refused; with
/// `metrics_listen`, the main listener has no `/metrics`.
#[tokio::test]
async fn metrics_can_ask_for_a_token() {
    let token = "scrape-secret-0123456789";
    let app = TestApp::spawn_with(Backend::Sqlite, &[("WARDEN_METRICS_TOKEN", token)]).await;
    let refused = app.get_public("/metrics").await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(refused.headers().contains_key("www-authenticate"));
    let wrong = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("scrape-secret-0123456780")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let read = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    assert!(read
        .text()
        .await
        .unwrap()
        .contains("warden_http_requests_total"));

    let apart =
        TestApp::spawn_with(Backend::Sqlite, &[("WARDEN_METRICS_LISTEN", "127.0.0.1:0")]).await;
    assert_eq!(
        apart.get_public("/metrics").await.status(),
        StatusCode::NOT_FOUND
    );
    let own = warden_server::metrics_router(apart.state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(warden_server::serve(listener, own, std::future::pending()));
    let scraped = reqwest::get(format!("http://{address}/metrics"))
        .await
        .unwrap();
    assert_eq!(scraped.status(), StatusCode::OK);
}

/// Past `max_in_flight` requests at once, a node refuses more at once with 503, `Retry-After`
/// and the `busy` problem, counts them, and still answers its health check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_past_the_in_flight_limit_are_refused_at_once() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("WARDEN_MAX_IN_FLIGHT", "2")]).await;
    let checks: Vec<serde_json::Value> = (0..1000)
        .map(|i| serde_json::json!({"action": "documents:read", "resource": {"type": "document", "id": i.to_string()}}))
        .collect();
    let body = serde_json::json!({ "checks": checks });
    let batches = futures_util::future::join_all((0..24).map(|_| {
        app.client
            .post(app.url("/v1/check/batch"))
            .bearer_auth(&app.admin_token)
            .json(&body)
            .send()
    }));
    // Health is answered while the batches hold the node at its limit.
    let health = async {
        let mut statuses = Vec::new();
        for _ in 0..10 {
            statuses.push(app.get_public("/healthz").await.status());
        }
        statuses
    };
    let (replies, health) = tokio::join!(batches, health);
    assert!(health.iter().all(|s| *s == StatusCode::OK), "{health:?}");
    let mut refused = 0;
    for reply in replies {
        let reply = reply.unwrap();
        match reply.status() {
            StatusCode::OK => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                refused += 1;
                assert_eq!(reply.headers()["retry-after"], "1");
                let problem: serde_json::Value = reply.json().await.unwrap();
                assert_eq!(problem["type"], "/problems/busy");
            }
            other => panic!("answered {other}"),
        }
    }
    assert!(refused > 0, "24 batches at once never passed a limit of 2");
    let text = app.get_public("/metrics").await.text().await.unwrap();
    let counted = text
        .lines()
        .find_map(|l| l.strip_prefix(r#"warden_rate_limited_total{limiter="max_in_flight"} "#))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .expect("the shed count");
    assert_eq!(counted, refused);
}

/// A node whose runtime cannot run ready work on time (here: a task that holds the one thread
/// for 30 ms at a time, far past the 5 ms setting) sheds new requests with 503, `Retry-After`
/// and the `busy` problem, still answers its health check, counts what it shed, and serves
/// again as soon as the delay is gone.
#[tokio::test]
async fn a_node_whose_queue_delay_passes_the_setting_sheds_until_it_recovers() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("WARDEN_OVERLOAD_DELAY_MS", "5")]).await;
    // A calm node serves (a busy test machine may delay one probe: a few tries).
    let served = || async {
        for _ in 0..20 {
            if app.get("/v1/users/me", &app.admin_token).await.status == StatusCode::OK {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        false
    };
    assert!(served().await, "a calm node serves");
    let hogging = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let hog = tokio::spawn({
        let hogging = hogging.clone();
        async move {
            while hogging.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(30));
                tokio::task::yield_now().await;
            }
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut refused = 0;
    for _ in 0..5 {
        let reply = app
            .client
            .get(app.url("/v1/users/me"))
            .bearer_auth(&app.admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(reply.headers()["retry-after"], "1");
        let problem: serde_json::Value = reply.json().await.unwrap();
        assert_eq!(problem["type"], "/problems/busy");
        refused += 1;
    }
    assert_eq!(app.get_public("/healthz").await.status(), StatusCode::OK);
    let text = app.get_public("/metrics").await.text().await.unwrap();
    let counted = text
        .lines()
        .find_map(|l| l.strip_prefix(r#"warden_rate_limited_total{limiter="overload"} "#))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .expect("the overload count");
    assert!(counted >= refused, "{counted} counted, {refused} refused");
    let delay = text
        .lines()
        .find_map(|l| l.strip_prefix("warden_runtime_queue_delay_seconds "))
        .and_then(|n| n.trim().parse::<f64>().ok())
        .expect("the queue delay");
    assert!(delay > 0.01, "{delay}");

    hogging.store(false, std::sync::atomic::Ordering::Relaxed);
    hog.await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(served().await, "served again once calm");
}

/// Every problem's `type` names a page saying what it means and how to fix it.
async fn problem_types_answer_a_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = &app.admin_token;
    let json = |body: &str| {
        app.client
            .post(app.url("/v1/users"))
            .bearer_auth(admin)
            .header("content-type", "application/json")
            .body(body.to_owned())
    };
    let mut replies = vec![
        app.get_public("/nope").await,
        app.client.put(app.url("/v1/users")).send().await.unwrap(),
        app.get_public("/v1/users").await,
        app.client
            .get(app.url("/v1/users/not-an-id"))
            .bearer_auth(admin)
            .send()
            .await
            .unwrap(),
        app.client
            .get(app.url("/v1/users?limit=0"))
            .bearer_auth(admin)
            .send()
            .await
            .unwrap(),
        app.get_public("/v1/users?access_token=x").await,
        json("{not json").send().await.unwrap(),
        json(r#"{"email": "not an email", "password": "x"}"#)
            .send()
            .await
            .unwrap(),
        app.client
            .post(app.url("/v1/users"))
            .bearer_auth(admin)
            .body("{}")
            .send()
            .await
            .unwrap(),
    ];
    app.create_user("plain@example.com", None).await;
    let token = app
        .login("plain@example.com", crate::helpers::PASSWORD)
        .await;
    replies.push(
        app.client
            .get(app.url("/v1/users"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    );
    let mut seen = std::collections::BTreeSet::new();
    for reply in replies {
        let body: Value = reply.json().await.unwrap();
        let kind = body["type"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}"))
            .to_owned();
        seen.insert(kind);
    }
    assert!(seen.len() >= 8, "{seen:?}");
    for kind in &seen {
        let page = app.get_public(kind).await;
        assert_eq!(page.status(), StatusCode::OK, "{kind}");
        assert!(page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let text = page.text().await.unwrap();
        assert!(text.contains("How to fix it"), "{kind}: {text}");
    }
    let unknown = app.get_public("/problems/<script>").await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert!(!unknown.text().await.unwrap().contains("<script>"));
    let index = app.get_public("/problems").await.text().await.unwrap();
    for kind in &seen {
        assert!(index.contains(kind.as_str()), "{kind} in the index");
    }
}

async fn restarting_keeps_the_admin_and_the_keys(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let before: Value = app.get_json("/.well-known/jwks.json").await;
    let again = app
        .reopen_with_password("a different configured password")
        .await;
    let after = again.services().tokens.keys().jwks().clone();
    assert_eq!(before, after, "keys are not regenerated");
    assert!(
        again.services().tokens.verify(&app.admin_token).is_ok(),
        "tokens survive a restart"
    );
    app.login(crate::helpers::ADMIN_EMAIL, crate::helpers::ADMIN_PASSWORD)
        .await;
}

crate::both!(
    the_openapi_document_and_offline_docs_are_served,
    health_readiness_and_unknown_routes,
    restarting_keeps_the_admin_and_the_keys,
    metrics_count_requests_and_decisions,
    problem_types_answer_a_page,
);

/// Connection limits hold before any handler runs: oversized headers get 431, and a client
/// that sends its headers too slowly is disconnected. Not store-facing: SQLite only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_slow_headers_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("WARDEN_HEADER_READ_TIMEOUT", "1"),
            ("WARDEN_MAX_HEADER_BYTES", "8192"),
        ],
    )
    .await;
    let address = app.base.trim_start_matches("http://").to_owned();

    let mut big = tokio::net::TcpStream::connect(&address).await.unwrap();
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    // The server may close before reading everything; what it answered is what counts.
    let _ = big.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = big.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    // The server answers 431 and closes; with part of the request still unread the kernel may
    // reset the connection before the answer is read. Either way the request is not served.
    assert!(
        text.starts_with("HTTP/1.1 431") || answer.is_empty(),
        "{text}"
    );
    assert!(!text.contains("\"ok\""), "an oversized request was served");

    let mut slow = tokio::net::TcpStream::connect(&address).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buffer = [0u8; 256];
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), slow.read(&mut buffer))
        .await
        .expect("the server closes a slow connection well before 10 s");
    // Closed (0 bytes, or a reset), or a 408 before closing: never a served request.
    match read {
        Ok(0) | Err(_) => {}
        Ok(n) => {
            let text = String::from_utf8_lossy(&buffer[..n]);
            assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        }
    }

    // A normal request still works, on a connection of its own: the test client's pooled one
    // has sat idle past the 1 s header timeout, so the server may be closing it just as it is
    // reused.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let ok: Value = fresh
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON body");
    assert_eq!(ok["status"], "ok", "{ok}");
}
