//! Following the revocation feed: tokens of ended sessions are refused without asking Warden.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use warden_guard::{GuardError, TokenError};

use crate::support::{claims_of, eventually, Warden, PASSWORD};

#[tokio::test]
async fn tokens_of_ended_sessions_are_refused_offline() {
    let warden = Warden::start().await;
    let tenant = warden.tenant("acme", "editor", &["documents:edit"]).await;
    let other = warden
        .login_in(&tenant.email, PASSWORD, Some(&tenant.account))
        .await;
    let (client_id, secret) = warden.create_client("feed-reader", None).await;
    let guard = warden
        .guard()
        .follow_revocations(&client_id, &secret)
        .revocation_interval(Duration::from_millis(200))
        .build()
        .unwrap();
    guard.verify(&tenant.login.access).await.unwrap();
    guard.verify(&other.access).await.unwrap();

    warden.revoke(&tenant.login.access).await;
    // Warden lists an ending once it has settled (about two seconds), then the next poll
    // brings it here.
    let refused = eventually(15, || async {
        matches!(
            guard.verify(&tenant.login.access).await,
            Err(GuardError::Token(TokenError::Revoked))
        )
    })
    .await;
    assert!(refused, "the ended session's token was still accepted");
    // The user's other session lives on.
    guard.verify(&other.access).await.unwrap();
    let stats = guard.stats();
    assert!(stats.revocation_polls >= 2, "{stats:?}");
    assert_eq!(stats.revoked_sessions, 1);
}

#[tokio::test]
async fn a_new_guard_knows_earlier_endings_before_its_first_verification() {
    let warden = Warden::start().await;
    let tenant = warden.tenant("acme", "editor", &[]).await;
    let (client_id, secret) = warden.create_client("feed-reader", None).await;
    warden.revoke(&tenant.login.access).await;
    let sid = claims_of(&tenant.login.access).sid;
    let listed = eventually(15, || async {
        let page: Value = warden
            .http
            .get(warden.url("/v1/revocations"))
            .basic_auth(&client_id, Some(&secret))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        page["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|item| item["sid"] == sid.as_str()))
    })
    .await;
    assert!(listed);

    // The first verification waits for the first poll, so the token is refused at once.
    let guard = warden
        .guard()
        .follow_revocations(&client_id, &secret)
        .build()
        .unwrap();
    assert_eq!(
        guard.verify(&tenant.login.access).await.unwrap_err(),
        GuardError::Token(TokenError::Revoked)
    );
}

#[tokio::test]
async fn refused_feed_credentials_leave_verification_working() {
    let warden = Warden::start().await;
    let tenant = warden.tenant("acme", "editor", &[]).await;
    let (client_id, _) = warden.create_client("feed-reader", None).await;
    let response = warden
        .http
        .get(warden.url("/v1/revocations"))
        .basic_auth(&client_id, Some("not the secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let guard = warden
        .guard()
        .follow_revocations(&client_id, "not the secret")
        .revocation_interval(Duration::from_millis(100))
        .build()
        .unwrap();
    guard.verify(&tenant.login.access).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(guard.stats().revocation_polls, 0);
    assert!(
        warden.hits.of("/v1/revocations") >= 2,
        "the guard kept trying"
    );
}
