//! Per-account IP allow-lists: applied to every token issued in the account (password,
//! refresh, client credentials) and to the use of its API keys; the test client connects from
//! 127.0.0.1.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{basic, create_client, Backend, TestApp, PASSWORD};

async fn an_account_allow_list_holds_for_every_grant_and_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.admin_token.clone();
    let acme = app.create_account("acme").await;
    let reader = app
        .create_role("reader", Some(&acme), &["documents:read"], &[])
        .await;
    let alice = app.create_user("alice@acme.io", Some(&acme)).await;
    app.grant(&alice, &reader, Some(&acme)).await;
    let login = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", "alice@acme.io"),
            ("password", PASSWORD),
            ("account", &acme),
        ])
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    let refresh = login.body["refresh_token"].as_str().unwrap().to_owned();
    let access = login.body["access_token"].as_str().unwrap().to_owned();
    let key = app
        .post(
            "/v1/api-keys",
            &access,
            json!({"name": "ci", "roles": [reader]}),
        )
        .await;
    assert_eq!(key.status, StatusCode::CREATED, "{}", key.body);
    let key = key.body["key"].as_str().unwrap().to_owned();
    let creds = create_client(
        &app,
        &t,
        json!({"name": "svc", "account_id": acme, "roles": [reader]}),
    )
    .await;

    // Bad blocks are refused; an account admin may not change the list.
    let bad = app
        .patch(
            &format!("/v1/accounts/{acme}"),
            &t,
            json!({"allowed_ips": ["10.0.0.0/33"]}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    let (_, admin) = app.account_admin("boss@acme.io", &acme).await;
    let denied = app
        .patch(
            &format!("/v1/accounts/{acme}"),
            &admin,
            json!({"allowed_ips": []}),
        )
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN, "{}", denied.body);

    let set = app
        .patch(
            &format!("/v1/accounts/{acme}"),
            &t,
            json!({"allowed_ips": ["10.0.0.0/8"]}),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.body["allowed_ips"], json!(["10.0.0.0/8"]));

    let login = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", "alice@acme.io"),
            ("password", PASSWORD),
            ("account", &acme),
        ])
        .await;
    assert_eq!(login.status, StatusCode::BAD_REQUEST, "{}", login.body);
    assert_eq!(login.body["error"], "invalid_grant");
    let refreshed = app
        .token_request(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    assert_eq!(
        refreshed.status,
        StatusCode::BAD_REQUEST,
        "{}",
        refreshed.body
    );
    let machine = basic(
        &app,
        &creds.client_id,
        &creds.secret,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(machine.status, StatusCode::BAD_REQUEST, "{}", machine.body);
    let with_key = app.get("/v1/users/me", &key).await;
    assert_eq!(with_key.status, StatusCode::UNAUTHORIZED);
    // Other accounts and global logins are not affected.
    let global = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", "admin@example.com"),
            ("password", crate::helpers::ADMIN_PASSWORD),
        ])
        .await;
    assert_eq!(global.status, StatusCode::OK);

    // Allowing loopback again: the refused refresh token was never used, so it still works.
    let open = app
        .patch(
            &format!("/v1/accounts/{acme}"),
            &t,
            json!({"allowed_ips": ["127.0.0.0/8"]}),
        )
        .await;
    assert_eq!(open.status, StatusCode::OK);
    let refreshed = app
        .token_request(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    let with_key = app.get("/v1/users/me", &key).await;
    assert_eq!(with_key.status, StatusCode::OK);
}

crate::both!(an_account_allow_list_holds_for_every_grant_and_key);
