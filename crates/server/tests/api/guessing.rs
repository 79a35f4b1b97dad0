//! Password guessing under concurrency: bursts of guesses at once, on one node and across two
//! nodes sharing the store, against the login lock; the self-service password change behind
//! the same lock; and logins that were hashing while the password changed.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{Backend, TestApp, PASSWORD, RACE_SETTINGS};

/// Generous per-address limits: these tests are about the per-identifier lock.
const MANY: &[(&str, &str)] = &[
    ("WARDEN_TOKEN_RATE", "1000"),
    ("WARDEN_TOKEN_BURST", "1000"),
];

async fn guess(app: &TestApp, user: &str, password: &str) -> StatusCode {
    app.token_request(&[
        ("grant_type", "password"),
        ("username", user),
        ("password", password),
    ])
    .await
    .status
}

/// The audit records of `action` (the log is flushed first by the endpoint).
async fn audited(app: &TestApp, action: &str) -> Vec<Value> {
    let reply = app
        .get(
            &format!("/v1/audit?action={action}&limit=1000"),
            &app.admin_token,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["items"].as_array().unwrap().clone()
}

/// How many of the audited failures had their password actually compared.
fn checked(records: &[Value]) -> usize {
    records
        .iter()
        .filter(|r| r["details"]["locked"] == false)
        .count()
}

async fn a_burst_of_concurrent_guesses_is_checked_no_further_than_the_lock_ladder(
    backend: Backend,
) {
    let app = TestApp::spawn_with(backend, MANY).await;
    let peer = app.spawn_peer().await;
    app.create_user("victim@x.io", None).await;
    // Forty wrong guesses at once, half through each node.
    let burst = (0..40).map(|i| {
        let node = if i % 2 == 0 { &app } else { &peer };
        guess(node, "victim@x.io", "wrong guess here")
    });
    let statuses = join_all(burst).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::BAD_REQUEST),
        "{statuses:?}"
    );
    // Each node queues its own audit events; reading the log through a node flushes its queue.
    peer.get("/v1/audit?limit=1", &app.admin_token).await;
    let failures = audited(&app, "login.failed").await;
    assert_eq!(failures.len(), 40, "every attempt is audited");
    // Five free attempts, then the sixth earns a one-second lock: at most six are compared.
    assert!(
        checked(&failures) <= 6,
        "{} guesses were checked",
        checked(&failures)
    );

    // Once the lock lapses, the owner gets in even while a burst with the right password
    // races: the lock does not hold the owner out longer than the ladder says.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let burst = (0..30).map(|i| {
        let node = if i % 2 == 0 { &app } else { &peer };
        guess(node, "victim@x.io", PASSWORD)
    });
    let statuses = join_all(burst).await;
    assert!(statuses.contains(&StatusCode::OK), "{statuses:?}");
    // And a right password after the burst settles simply works: the success cleared the count.
    assert_eq!(guess(&app, "victim@x.io", PASSWORD).await, StatusCode::OK);
}

async fn switching_between_email_and_username_buys_no_extra_guesses(backend: Backend) {
    let app = TestApp::spawn_with(backend, MANY).await;
    let reply = app
        .post(
            "/v1/users",
            &app.admin_token,
            json!({"email": "dual@x.io", "username": "dual", "password": PASSWORD}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    // Six failures, alternating the two identifiers: one lock for the user.
    for i in 0..6 {
        let login = if i % 2 == 0 { "dual@x.io" } else { "dual" };
        assert_eq!(
            guess(&app, login, "wrong guess here").await,
            StatusCode::BAD_REQUEST
        );
    }
    for login in ["dual@x.io", "dual"] {
        assert_eq!(
            guess(&app, login, PASSWORD).await,
            StatusCode::BAD_REQUEST,
            "{login} is locked too"
        );
    }
    let failures = audited(&app, "login.failed").await;
    assert_eq!(checked(&failures), 6);
}

async fn an_unknown_identifier_locks_alike_under_a_burst(backend: Backend) {
    let app = TestApp::spawn_with(backend, MANY).await;
    let statuses = join_all((0..30).map(|_| guess(&app, "ghost@x.io", "wrong guess here"))).await;
    assert!(statuses.iter().all(|s| *s == StatusCode::BAD_REQUEST));
    let failures = audited(&app, "login.failed").await;
    assert_eq!(failures.len(), 30);
    assert!(checked(&failures) <= 6, "{}", checked(&failures));
}

async fn change_password(app: &TestApp, token: &str, current: &str, new: &str) -> StatusCode {
    app.post(
        "/v1/users/me/password",
        token,
        json!({"current_password": current, "new_password": new}),
    )
    .await
    .status
}

async fn the_self_service_password_change_is_behind_the_login_lock(backend: Backend) {
    let app = TestApp::spawn_with(backend, MANY).await;
    app.create_user("owner@x.io", None).await;
    // A stolen access token: guessing the current password through the change endpoint.
    let stolen = app.login("owner@x.io", PASSWORD).await;
    let statuses = join_all(
        (0..30).map(|_| change_password(&app, &stolen, "wrong guess here", "a new password 1")),
    )
    .await;
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::UNPROCESSABLE_ENTITY),
        "{statuses:?}"
    );
    let failures = audited(&app, "user.password_check_failed").await;
    assert_eq!(failures.len(), 30, "every guess is audited");
    assert!(checked(&failures) <= 6, "{}", checked(&failures));
    // Locked: even the right current password is refused now, and so is a login — one lock.
    assert_eq!(
        change_password(&app, &stolen, PASSWORD, "a new password 1").await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        guess(&app, "owner@x.io", PASSWORD).await,
        StatusCode::BAD_REQUEST
    );
    // The lock is soft: after it lapses the owner logs in with the unchanged password.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(guess(&app, "owner@x.io", PASSWORD).await, StatusCode::OK);
}

async fn the_password_change_endpoint_has_the_per_address_limit(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[("WARDEN_TOKEN_RATE", "1"), ("WARDEN_TOKEN_BURST", "4")],
    )
    .await;
    app.create_user("flood@x.io", None).await;
    // spawn's admin login and this login used two tokens of the burst.
    let token = app.login("flood@x.io", PASSWORD).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(change_password(&app, &token, "wrong guess here", "a new password 1").await);
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    let limited = app
        .post(
            "/v1/users/me/password",
            &token,
            json!({"current_password": "x", "new_password": "y"}),
        )
        .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited
        .header("retry-after")
        .parse::<u64>()
        .is_ok_and(|s| s >= 1));
}

async fn a_login_hashing_while_the_password_changes_opens_no_live_session(backend: Backend) {
    // A costlier hash widens the window in which logins are in flight.
    let app = TestApp::spawn_with(backend, RACE_SETTINGS).await;
    for round in 0..3 {
        // A user per round: logins that lose the race count as failures against the lock.
        let email = format!("racer{round}@x.io");
        app.create_user(&email, None).await;
        let old_password = PASSWORD;
        let owner = app.login(&email, old_password).await;
        let new_password = format!("the new password {round}");
        let form = [
            ("grant_type", "password"),
            ("username", email.as_str()),
            ("password", old_password),
        ];
        // The change verifies and then hashes: logins started over that span each read the
        // old hash, and some open their session while, or after, the new one is written.
        let (app, form) = (&app, &form);
        let logins = join_all((0..5u64).map(|i| async move {
            tokio::time::sleep(Duration::from_millis(i * 6)).await;
            app.token_request(form).await
        }));
        let change = app.post(
            "/v1/users/me/password",
            &owner,
            json!({"current_password": old_password, "new_password": new_password}),
        );
        let (logins, changed) = tokio::join!(logins, change);
        assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.body);
        // Whatever order they ran in, nothing verified against the old password lives on.
        for login in logins.iter().filter(|l| l.status == StatusCode::OK) {
            let access = login.body["access_token"].as_str().unwrap();
            let refresh = login.body["refresh_token"].as_str().unwrap();
            assert_eq!(
                app.get("/v1/users/me", access).await.status,
                StatusCode::UNAUTHORIZED,
                "an access token verified against the old password still works"
            );
            let refreshed = app
                .token_request(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
                .await;
            assert_eq!(
                refreshed.status,
                StatusCode::BAD_REQUEST,
                "{}",
                refreshed.body
            );
        }
    }
}

crate::both!(
    a_burst_of_concurrent_guesses_is_checked_no_further_than_the_lock_ladder,
    an_unknown_identifier_locks_alike_under_a_burst,
    switching_between_email_and_username_buys_no_extra_guesses,
    the_self_service_password_change_is_behind_the_login_lock,
    the_password_change_endpoint_has_the_per_address_limit,
    a_login_hashing_while_the_password_changes_opens_no_live_session,
);
