//! Brute-force protection: the per-identifier soft lock and the per-IP token bucket.

use reqwest::StatusCode;

use crate::helpers::{Backend, TestApp, PASSWORD};

async fn attempt(app: &TestApp, user: &str, password: &str) -> (StatusCode, serde_json::Value) {
    let reply = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", user),
            ("password", password),
        ])
        .await;
    (reply.status, reply.body)
}

async fn repeated_failures_lock_an_identifier_softly_and_alike_for_unknown_users(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("victim@x.io", None).await;
    for _ in 0..6 {
        let known = attempt(&app, "victim@x.io", "wrong guess here").await;
        let unknown = attempt(&app, "nobody@x.io", "wrong guess here").await;
        assert_eq!(known, unknown, "locked or not, known or not: one answer");
        assert_eq!(known.1["error"], "invalid_grant");
    }
    // Six failures: locked for a second. Even the right password is refused, with the same
    // answer as a wrong one.
    let locked = attempt(&app, "victim@x.io", PASSWORD).await;
    assert_eq!(locked.0, StatusCode::BAD_REQUEST);
    assert_eq!(locked.1["error"], "invalid_grant");
    // Never permanent: once the delay passes, the owner logs in, and the count is reset.
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let (status, body) = attempt(&app, "VICTIM@x.io", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let again = attempt(&app, "victim@x.io", "wrong guess here").await;
    assert_eq!(again.1["error"], "invalid_grant");
    assert_eq!(
        attempt(&app, "victim@x.io", PASSWORD).await.0,
        StatusCode::OK,
        "one failure after a reset locks nothing"
    );
}

async fn the_token_endpoint_rate_limits_each_address(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[("WARDEN_TOKEN_RATE", "1"), ("WARDEN_TOKEN_BURST", "3")],
    )
    .await;
    // The admin's login in spawn used one token of the burst.
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(attempt(&app, "someone@x.io", "whatever pass").await.0);
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    let limited = app.token_request(&[("grant_type", "password")]).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.body["error"], "temporarily_unavailable");
    assert!(limited
        .header("retry-after")
        .parse::<u64>()
        .is_ok_and(|s| s >= 1));
    assert_eq!(
        app.get("/v1/users/me", &app.admin_token).await.status,
        StatusCode::OK,
        "other endpoints are not limited"
    );
}

crate::both!(
    repeated_failures_lock_an_identifier_softly_and_alike_for_unknown_users,
    the_token_endpoint_rate_limits_each_address,
);
