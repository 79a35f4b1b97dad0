//! The refresh grant, sessions and revocation.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{Backend, TestApp, PASSWORD};

async fn login_pair(app: &TestApp, user: &str) -> (String, String) {
    let reply = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", user),
            ("password", PASSWORD),
        ])
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    (
        reply.body["access_token"].as_str().unwrap().to_owned(),
        reply.body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

async fn refresh(app: &TestApp, token: &str) -> crate::helpers::Reply {
    app.token_request(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .await
}

fn claim(token: &str, name: &str) -> Value {
    crate::helpers::claims(token)[name].clone()
}

async fn refresh_tokens_rotate_on_every_use_within_the_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    app.create_user("r@x.io", Some(&acme)).await;
    let (access, first) = login_pair(&app, "r@x.io").await;
    assert!(first.len() >= 43, "256-bit value");
    let reply = refresh(&app, &first).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.header("cache-control"), "no-store");
    let second = reply.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    let new_access = reply.body["access_token"].as_str().unwrap();
    assert_eq!(claim(new_access, "sid"), claim(&access, "sid"));
    assert_eq!(claim(new_access, "acct"), acme.as_str());
    assert_eq!(
        app.get("/v1/users/me", new_access).await.status,
        StatusCode::OK
    );
    let third = refresh(&app, &second).await;
    assert_eq!(third.status, StatusCode::OK);
}

async fn reusing_a_rotated_token_revokes_the_whole_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("thief@x.io", None).await;
    let (access, first) = login_pair(&app, "thief@x.io").await;
    let rotated = refresh(&app, &first).await;
    let second = rotated.body["refresh_token"].as_str().unwrap().to_owned();
    let second_access = rotated.body["access_token"].as_str().unwrap().to_owned();

    let reuse = refresh(&app, &first).await;
    assert_eq!(reuse.status, StatusCode::BAD_REQUEST);
    assert_eq!(reuse.body["error"], "invalid_grant");
    // Everything of that session is dead: the successor, and both access tokens.
    assert_eq!(refresh(&app, &second).await.body["error"], "invalid_grant");
    for token in [&access, &second_access] {
        assert_eq!(
            app.get("/v1/users/me", token).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    // A new login still works: the owner is not locked out.
    login_pair(&app, "thief@x.io").await;
}

async fn an_identical_retry_inside_the_grace_window_gets_the_same_successor(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("WARDEN_REFRESH_GRACE", "30")]).await;
    app.create_user("flaky@x.io", None).await;
    let (_, first) = login_pair(&app, "flaky@x.io").await;
    let a = refresh(&app, &first).await;
    let b = refresh(&app, &first).await;
    assert_eq!(b.status, StatusCode::OK, "{}", b.body);
    assert_eq!(a.body["refresh_token"], b.body["refresh_token"]);
    let successor = a.body["refresh_token"].as_str().unwrap().to_owned();
    // Once the successor is used, the old token is plain reuse again.
    assert_eq!(refresh(&app, &successor).await.status, StatusCode::OK);
    assert_eq!(refresh(&app, &first).await.body["error"], "invalid_grant");
}

async fn of_twenty_concurrent_uses_of_one_token_exactly_one_wins(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("race@x.io", None).await;
    let (_, token) = login_pair(&app, "race@x.io").await;
    let attempts = (0..20).map(|_| refresh(&app, &token));
    let replies = futures_join_all(attempts).await;
    let winners = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(
        winners,
        1,
        "{:?}",
        replies
            .iter()
            .map(|r| (r.status, r.body.clone()))
            .collect::<Vec<_>>()
    );
    assert!(replies
        .iter()
        .all(|r| r.status == StatusCode::OK || r.body["error"] == "invalid_grant"));
}

/// Runs futures concurrently on the current task (no extra dependency).
async fn futures_join_all<F: std::future::Future<Output = T>, T>(
    futures: impl Iterator<Item = F>,
) -> Vec<T> {
    let handles: Vec<_> = futures.map(Box::pin).collect();
    let mut results = Vec::new();
    let mut pending: Vec<_> = handles.into_iter().map(Some).collect();
    let mut outputs: Vec<Option<T>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all_done = true;
        for (slot, out) in pending.iter_mut().zip(outputs.iter_mut()) {
            if let Some(fut) = slot {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => {
                        *out = Some(value);
                        *slot = None;
                    }
                    std::task::Poll::Pending => all_done = false,
                }
            }
        }
        if all_done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    results.extend(outputs.into_iter().flatten());
    results
}

async fn bad_refresh_requests_get_rfc6749_errors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let user = app.create_user("s@x.io", Some(&acme)).await;
    let viewer = app
        .create_role("viewer", Some(&acme), &["documents:read"], &[])
        .await;
    app.grant(&user, &viewer, Some(&acme)).await;
    let narrow = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", "s@x.io"),
            ("password", PASSWORD),
            ("scope", ""),
        ])
        .await;
    let token = narrow.body["refresh_token"].as_str().unwrap().to_owned();
    let missing = app.token_request(&[("grant_type", "refresh_token")]).await;
    assert_eq!(missing.body["error"], "invalid_request");
    for garbage in ["nope", "x".repeat(600).as_str(), "' OR 1=1 --"] {
        assert_eq!(refresh(&app, garbage).await.body["error"], "invalid_grant");
    }
    let other_client = app
        .token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &token),
            ("client_id", "stranger"),
        ])
        .await;
    assert_eq!(other_client.status, StatusCode::UNAUTHORIZED);
    let widen = app
        .token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &token),
            ("scope", "super_admin"),
        ])
        .await;
    assert_eq!(widen.body["error"], "invalid_scope");
    // Narrowed at refresh, and a later refresh cannot widen back beyond the session's grant.
    let scoped = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", "s@x.io"),
            ("password", PASSWORD),
            ("scope", "viewer"),
        ])
        .await;
    let scoped_refresh = scoped.body["refresh_token"].as_str().unwrap();
    let again = refresh(&app, scoped_refresh).await;
    assert_eq!(again.body["scope"], "viewer");
}

async fn idle_refresh_tokens_expire(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("WARDEN_REFRESH_IDLE_TTL", "1")]).await;
    app.create_user("idle@x.io", None).await;
    let (_, token) = login_pair(&app, "idle@x.io").await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(refresh(&app, &token).await.body["error"], "invalid_grant");
}

async fn users_list_and_end_their_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("multi@x.io", None).await;
    let (laptop, laptop_refresh) = login_pair(&app, "multi@x.io").await;
    let (phone, _) = login_pair(&app, "multi@x.io").await;
    let (tablet, _) = login_pair(&app, "multi@x.io").await;
    let list = app.get("/v1/users/me/sessions", &laptop).await;
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items.iter().filter(|s| s["current"] == true).count(), 1);
    let phone_sid = claim(&phone, "sid");
    let end = app
        .delete(
            &format!("/v1/users/me/sessions/{}", phone_sid.as_str().unwrap()),
            &laptop,
        )
        .await;
    assert_eq!(end.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/v1/users/me", &phone).await.status,
        StatusCode::UNAUTHORIZED
    );
    let others = app.delete("/v1/users/me/sessions", &laptop).await;
    assert_eq!(others.body["ended"], 1);
    assert_eq!(
        app.get("/v1/users/me", &tablet).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/v1/users/me", &laptop).await.status,
        StatusCode::OK
    );
    // Someone else's session id answers 404.
    let admin_sid = claim(&app.admin_token, "sid");
    let foreign = app
        .delete(
            &format!("/v1/users/me/sessions/{}", admin_sid.as_str().unwrap()),
            &laptop,
        )
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/v1/users/me", &app.admin_token).await.status,
        StatusCode::OK
    );
    // Logging out the current session kills its refresh token too.
    let own = claim(&laptop, "sid");
    app.delete(
        &format!("/v1/users/me/sessions/{}", own.as_str().unwrap()),
        &laptop,
    )
    .await;
    assert_eq!(
        refresh(&app, &laptop_refresh).await.body["error"],
        "invalid_grant"
    );
}

async fn a_password_change_ends_every_other_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("pw@x.io", None).await;
    let (current, _) = login_pair(&app, "pw@x.io").await;
    let (other, other_refresh) = login_pair(&app, "pw@x.io").await;
    let reply = app
        .post(
            "/v1/users/me/password",
            &current,
            json!({"current_password": PASSWORD, "new_password": "fresh passphrase here"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/v1/users/me", &current).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/v1/users/me", &other).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&app, &other_refresh).await.body["error"],
        "invalid_grant"
    );
}

async fn administrators_end_a_users_sessions_within_their_reach(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let globex = app.create_account("globex").await;
    let (_, boss) = app.account_admin("boss@acme.io", &acme).await;
    let (worker, worker_token) = app.member("worker@acme.io", &acme).await;
    let outsider = app.create_user("out@globex.io", Some(&globex)).await;
    let listed = app
        .get(&format!("/v1/users/{worker}/sessions"), &boss)
        .await;
    assert_eq!(
        listed.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        listed.body
    );
    assert_eq!(
        app.get(&format!("/v1/users/{outsider}/sessions"), &boss)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete(&format!("/v1/users/{outsider}/sessions"), &boss)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let ended = app
        .delete(&format!("/v1/users/{worker}/sessions"), &boss)
        .await;
    assert_eq!(ended.body["ended"], 1);
    assert_eq!(
        app.get("/v1/users/me", &worker_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    let (_, member_token) = app.member("peer@acme.io", &acme).await;
    assert_eq!(
        app.delete(&format!("/v1/users/{worker}/sessions"), &member_token)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}

async fn revocation_ends_the_session_of_a_refresh_or_access_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("rev@x.io", None).await;
    let (access, refresh_token) = login_pair(&app, "rev@x.io").await;
    let revoke = |token: String| {
        let client = app.client.clone();
        let url = app.url("/oauth/revoke");
        async move {
            client
                .post(url)
                .form(&[("token", token.as_str())])
                .send()
                .await
                .unwrap()
        }
    };
    let reply = revoke(refresh_token.clone()).await;
    assert_eq!(reply.status(), StatusCode::OK);
    assert_eq!(
        refresh(&app, &refresh_token).await.body["error"],
        "invalid_grant"
    );
    assert_eq!(
        app.get("/v1/users/me", &access).await.status,
        StatusCode::UNAUTHORIZED
    );

    let (access, refresh_token) = login_pair(&app, "rev@x.io").await;
    assert_eq!(revoke(access.clone()).await.status(), StatusCode::OK);
    assert_eq!(
        app.get("/v1/users/me", &access).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&app, &refresh_token).await.body["error"],
        "invalid_grant"
    );

    assert_eq!(
        revoke("not-a-token".into()).await.status(),
        StatusCode::OK,
        "unknown tokens: 200, nothing revealed"
    );
    let missing = app
        .client
        .post(app.url("/oauth/revoke"))
        .form(&[("token_type_hint", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
}

async fn a_refused_refresh_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("r@x.io", None).await;
    let login = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", "r@x.io"),
            ("password", PASSWORD),
        ])
        .await;
    let refresh = login.body["refresh_token"].as_str().unwrap().to_owned();
    // A scope the session does not hold: refused before the token is used up.
    let refused = app
        .token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("scope", "super_admin"),
        ])
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert_eq!(refused.body["error"], "invalid_scope");
    // The same token, asked properly, still works: no rotation, no false reuse alarm.
    let retried = app
        .token_request(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);
    let alarms = app
        .get("/v1/audit?action=token.reuse_detected", &app.admin_token)
        .await;
    assert_eq!(alarms.body["items"], json!([]), "{}", alarms.body);
    let access = retried.body["access_token"].as_str().unwrap();
    assert_eq!(app.get("/v1/users/me", access).await.status, StatusCode::OK);
}

async fn a_refresh_racing_a_revocation_leaves_nothing_alive(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("race@x.io", None).await;
    for _ in 0..5 {
        let login = app
            .token_request(&[
                ("grant_type", "password"),
                ("username", "race@x.io"),
                ("password", PASSWORD),
            ])
            .await;
        let refresh = login.body["refresh_token"].as_str().unwrap().to_owned();
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ];
        let refreshed = app.token_request(&form);
        let revoke = app
            .client
            .post(app.url("/oauth/revoke"))
            .form(&[("token", refresh.as_str())])
            .send();
        let (refreshed, revoked) = tokio::join!(refreshed, revoke);
        assert_eq!(revoked.unwrap().status(), StatusCode::OK);
        // Whichever ran first, the session is over: a successor, if one was issued, is dead.
        if refreshed.status == StatusCode::OK {
            let successor = refreshed.body["refresh_token"].as_str().unwrap();
            let again = app
                .token_request(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", successor),
                ])
                .await;
            assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.body);
            let access = refreshed.body["access_token"].as_str().unwrap();
            assert_eq!(
                app.get("/v1/users/me", access).await.status,
                StatusCode::UNAUTHORIZED
            );
        }
    }
}

crate::both!(
    a_refused_refresh_changes_nothing,
    a_refresh_racing_a_revocation_leaves_nothing_alive,
    refresh_tokens_rotate_on_every_use_within_the_session,
    reusing_a_rotated_token_revokes_the_whole_session,
    an_identical_retry_inside_the_grace_window_gets_the_same_successor,
    of_twenty_concurrent_uses_of_one_token_exactly_one_wins,
    bad_refresh_requests_get_rfc6749_errors,
    idle_refresh_tokens_expire,
    users_list_and_end_their_sessions,
    a_password_change_ends_every_other_session,
    administrators_end_a_users_sessions_within_their_reach,
    revocation_ends_the_session_of_a_refresh_or_access_token,
);
