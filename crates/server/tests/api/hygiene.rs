//! Hygiene under abuse: secrets sent by mistake stay out of the server log, the revocation
//! feed keeps tenants apart, repeated denials cannot flood the audit log, and one user cannot
//! pile up sessions without bound.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use reqwest::StatusCode;
use serde_json::{json, Value};
use warden_core::audit::{all, verify, Verdict};

use crate::helpers::{basic, claims, create_client, Backend, TestApp, PASSWORD};

/// Everything logged in this process, at `debug`, as an operator's `WARDEN_LOG=debug` shows
/// it. Installed once, process-wide, so events of every runtime thread are caught; each test
/// looks for its own unique secrets only.
fn captured_log() -> Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
        log
    })
    .clone()
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log_text(log: &Mutex<Vec<u8>>) -> String {
    String::from_utf8_lossy(&log.lock().unwrap()).into_owned()
}

async fn secrets_sent_by_mistake_never_reach_the_log(backend: Backend) {
    let log = captured_log();
    let app = TestApp::spawn(backend).await;
    let unique = uuid::Uuid::now_v7().simple().to_string();
    let query_token = format!("QUERYTOKEN{unique}");
    let query_cursor = format!("QUERYCURSOR{unique}");
    let typed_secret = format!("TYPEDSECRET{unique}");

    // A token in the query string is refused, and the refused request is still logged.
    let refused = app
        .get(
            &format!("/v1/users/me?access_token={query_token}&cursor={query_cursor}"),
            &app.admin_token,
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    // A client secret typed into the client id field, in HTTP Basic and in the body.
    let grant = [("grant_type", "client_credentials")];
    let basic_reply = basic(&app, &typed_secret, "whatever", &grant).await;
    assert_eq!(basic_reply.status, StatusCode::UNAUTHORIZED);
    let body_reply = app
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", &typed_secret),
            ("client_secret", "whatever"),
        ])
        .await;
    assert_eq!(body_reply.body["error"], "invalid_client");
    // A real client with a wrong secret is named: its id is no secret.
    let known = create_client(&app, &app.admin_token, json!({"name": "billing"})).await;
    let wrong = basic(&app, &known.client_id, "wrong secret", &grant).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);

    let text = log_text(&log);
    assert!(
        text.contains("/v1/users/me"),
        "debug logging was captured, request paths included"
    );
    assert!(text.contains("client authentication failed"));
    assert!(
        text.contains(&known.client_id),
        "an existing client is named"
    );
    assert!(
        !text.contains(&unique),
        "a secret reached the log:\n{}",
        text.lines()
            .filter(|line| line.contains(&unique))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Polls the revocation feed from the start as a service client; returns the session ids.
async fn feed_as(app: &TestApp, client_id: &str, secret: &str) -> Vec<Value> {
    let reply = TestApp::read(
        app.client
            .get(app.url("/v1/revocations"))
            .basic_auth(client_id, Some(secret))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["sid"].clone())
        .collect()
}

/// Logs in `email` and ends that session at once; returns its id.
async fn ended_session(app: &TestApp, email: &str) -> Value {
    let token = app.login(email, PASSWORD).await;
    let sid = claims(&token)["sid"].clone();
    let ended = app
        .delete(
            &format!("/v1/users/me/sessions/{}", sid.as_str().unwrap()),
            &token,
        )
        .await;
    assert_eq!(ended.status, StatusCode::NO_CONTENT, "{}", ended.body);
    sid
}

async fn the_revocation_feed_shows_a_tenant_only_its_own_ended_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let globex = app.create_account("globex").await;
    app.create_user("a@acme.io", Some(&acme)).await;
    app.create_user("g@globex.io", Some(&globex)).await;
    app.create_user("loner@x.io", None).await;
    let acme_sid = ended_session(&app, "a@acme.io").await;
    let globex_sid = ended_session(&app, "g@globex.io").await;
    let loner_sid = ended_session(&app, "loner@x.io").await;
    let acme_gateway = create_client(
        &app,
        &app.admin_token,
        json!({"name": "acme-gateway", "account_id": acme}),
    )
    .await;
    let gateway = create_client(&app, &app.admin_token, json!({"name": "gateway"})).await;
    // Endings are listed once settled (two seconds).
    tokio::time::sleep(std::time::Duration::from_millis(2300)).await;

    let acme_sees = feed_as(&app, &acme_gateway.client_id, &acme_gateway.secret).await;
    assert_eq!(
        acme_sees,
        vec![acme_sid.clone()],
        "acme's client sees acme's only"
    );
    let global_sees = feed_as(&app, &gateway.client_id, &gateway.secret).await;
    for sid in [&acme_sid, &globex_sid, &loner_sid] {
        assert!(
            global_sees.contains(sid),
            "a global client sees every ending"
        );
    }
    let admin_sees = app.get("/v1/revocations", &app.admin_token).await;
    assert_eq!(
        admin_sees.body["items"].as_array().unwrap().len(),
        global_sees.len(),
        "{}",
        admin_sees.body
    );
}

/// The `check.denied` records about `target`, read as the super admin (which flushes).
async fn denials_of(app: &TestApp, target: &str) -> Vec<Value> {
    let log = app
        .get("/v1/audit?action=check.denied&limit=1000", &app.admin_token)
        .await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["target"] == target)
        .cloned()
        .collect()
}

fn total(records: &[Value]) -> u64 {
    records
        .iter()
        .map(|r| r["details"]["count"].as_u64().expect("a count"))
        .sum()
}

async fn identical_denials_are_recorded_once_with_their_count(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let (_, member) = app.member("m@acme.io", &acme).await;
    let (_, other) = app.member("o@acme.io", &acme).await;
    let same = json!({"action": "documents:edit", "resource": {"type": "document", "id": "1"}});
    let batch = json!({ "checks": vec![same.clone(); 1000] });

    let first = app.post("/v1/check/batch", &member, batch.clone()).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert!(first.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["allowed"] == false));
    let records = denials_of(&app, "document:1").await;
    assert_eq!(records.len(), 1, "one record for 1,000 identical denials");
    assert_eq!(records[0]["details"]["count"], 1000);
    assert_eq!(records[0]["details"]["action"], "documents:edit");

    // Four more batches within the window: a handful of records, every denial counted.
    for _ in 0..4 {
        let again = app.post("/v1/check/batch", &member, batch.clone()).await;
        assert_eq!(again.status, StatusCode::OK);
    }
    let records = denials_of(&app, "document:1").await;
    assert!(records.len() <= 3, "{records:?}");
    assert_eq!(total(&records), 5000);

    // Distinct denials stay distinct: another principal, resource or action.
    let distinct = json!({"checks": [
        {"action": "documents:edit", "resource": {"type": "document", "id": "2"}},
        {"action": "documents:delete", "resource": {"type": "document", "id": "3"}},
        {"action": "documents:edit", "resource": {"type": "document", "id": "3"}},
    ]});
    app.post("/v1/check/batch", &member, distinct).await;
    app.post("/v1/check", &other, same).await;
    assert_eq!(total(&denials_of(&app, "document:2").await), 1);
    let third = denials_of(&app, "document:3").await;
    assert_eq!(third.len(), 2, "{third:?}");
    assert_eq!(total(&third), 2);
    let records = denials_of(&app, "document:1").await;
    let by_other: Vec<&Value> = records
        .iter()
        .filter(|r| r["details"]["count"] == 1)
        .collect();
    assert_eq!(by_other.len(), 1, "{records:?}");
    assert_ne!(by_other[0]["actor"], records[0]["actor"]);
    assert_eq!(total(&records), 5001);

    let chain = all(app.state.services()).await.unwrap();
    assert!(matches!(verify(chain), Verdict::Intact { .. }));
}

/// Every page of a session list, following `next_cursor`.
async fn every_page(app: &TestApp, path: &str, token: &str) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut next = format!("{path}?limit=2");
    loop {
        let reply = app.get(&next, token).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        pages.push(reply.body["items"].as_array().unwrap().clone());
        match reply.body["next_cursor"].as_str() {
            Some(cursor) => next = format!("{path}?limit=2&cursor={cursor}"),
            None => return pages,
        }
    }
}

async fn session_lists_paginate_like_every_other_list(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.create_user("s@x.io", None).await;
    let mut tokens = Vec::new();
    for _ in 0..5 {
        tokens.push(app.login("s@x.io", PASSWORD).await);
    }
    for (path, token) in [
        ("/v1/users/me/sessions".to_owned(), tokens[0].clone()),
        (
            format!("/v1/users/{user}/sessions"),
            app.admin_token.clone(),
        ),
    ] {
        let pages = every_page(&app, &path, &token).await;
        let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![2, 2, 1], "{path}");
        let mut ids: Vec<&str> = pages
            .iter()
            .flatten()
            .map(|s| s["id"].as_str().unwrap())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 5, "{path}: every session once");
        for bad in ["limit=0", "limit=1001", "cursor=nope"] {
            let reply = app.get(&format!("{path}?{bad}"), &token).await;
            assert_eq!(
                reply.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{path}?{bad}"
            );
        }
    }
}

/// The `session.evicted` records of the audit log.
async fn evictions(app: &TestApp) -> Vec<Value> {
    let log = app
        .get(
            "/v1/audit?action=session.evicted&limit=1000",
            &app.admin_token,
        )
        .await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    log.body["items"].as_array().unwrap().clone()
}

async fn logins_beyond_the_session_limit_end_the_oldest_sessions(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("WARDEN_MAX_SESSIONS_PER_USER", "3")]).await;
    let user = app.create_user("many@x.io", None).await;
    let mut sids = Vec::new();
    for _ in 0..5 {
        let token = app.login("many@x.io", PASSWORD).await;
        sids.push(claims(&token)["sid"].as_str().unwrap().to_owned());
    }
    let listed = app
        .get(&format!("/v1/users/{user}/sessions"), &app.admin_token)
        .await;
    let mut live: Vec<String> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    live.sort_unstable();
    let mut newest = sids[2..].to_vec();
    newest.sort_unstable();
    assert_eq!(live, newest, "the newest three remain");
    let mut evicted: Vec<String> = evictions(&app)
        .await
        .iter()
        .map(|r| r["target"].as_str().unwrap().to_owned())
        .collect();
    evicted.sort_unstable();
    let mut expected: Vec<String> = sids[..2].iter().map(|s| format!("session:{s}")).collect();
    expected.sort_unstable();
    assert_eq!(evicted, expected, "each eviction is audited");
}

async fn concurrent_logins_never_leave_more_sessions_than_the_limit(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("WARDEN_MAX_SESSIONS_PER_USER", "3")]).await;
    let user = app.create_user("rush@x.io", None).await;
    let gateway = create_client(&app, &app.admin_token, json!({"name": "gateway"})).await;
    // Two waves of five logins at once: the login lock counts every attempt in flight, and
    // more than its five free attempts at once would be refused as a burst of guesses.
    let mut sids = Vec::new();
    for _wave in 0..2 {
        let mut logins = tokio::task::JoinSet::new();
        for _ in 0..5 {
            let (client, url) = (app.client.clone(), app.url("/oauth/token"));
            logins.spawn(async move {
                let form = [
                    ("grant_type", "password"),
                    ("username", "rush@x.io"),
                    ("password", PASSWORD),
                ];
                let reply = TestApp::read(client.post(url).form(&form).send().await.unwrap()).await;
                assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
                claims(reply.body["access_token"].as_str().unwrap())["sid"].clone()
            });
        }
        while let Some(sid) = logins.join_next().await {
            sids.push(sid.unwrap());
        }
    }
    let listed = app
        .get(
            &format!("/v1/users/{user}/sessions?limit=1000"),
            &app.admin_token,
        )
        .await;
    let live = listed.body["items"].as_array().unwrap();
    assert!(live.len() <= 3, "{} sessions remain", live.len());
    assert_eq!(evictions(&app).await.len(), 10 - live.len());
    // Verifiers following the feed learn of every eviction.
    tokio::time::sleep(std::time::Duration::from_millis(2300)).await;
    let revoked = feed_as(&app, &gateway.client_id, &gateway.secret).await;
    let ended: Vec<&Value> = sids
        .iter()
        .filter(|sid| !live.iter().any(|s| s["id"] == **sid))
        .collect();
    assert_eq!(ended.len(), 10 - live.len());
    for sid in ended {
        assert!(revoked.contains(sid), "{sid} is in the feed");
    }
}

crate::both!(
    secrets_sent_by_mistake_never_reach_the_log,
    the_revocation_feed_shows_a_tenant_only_its_own_ended_sessions,
    identical_denials_are_recorded_once_with_their_count,
    session_lists_paginate_like_every_other_list,
    logins_beyond_the_session_limit_end_the_oldest_sessions,
    concurrent_logins_never_leave_more_sessions_than_the_limit,
);
