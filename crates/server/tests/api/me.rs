//! Self-service and registration.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, TestApp, PASSWORD};

async fn users_read_and_edit_their_own_profile_but_not_their_status(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let (id, token) = app.member("me@x.io", &acme).await;
    let me = app.get("/v1/users/me", &token).await;
    assert_eq!(me.body["id"], id.as_str());
    let patched = app
        .patch(
            "/v1/users/me",
            &token,
            json!({"display_name": "Me", "username": "itsme"}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["username"], "itsme");
    for mass in [
        json!({"status": "active"}),
        json!({"email": "x@y.io"}),
        json!({"attributes": {"admin": true}}),
    ] {
        assert_eq!(
            app.patch("/v1/users/me", &token, mass.clone()).await.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{mass}"
        );
    }
}

async fn a_password_change_needs_the_current_password(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let (_, token) = app.member("pw@x.io", &acme).await;
    let wrong = app
        .post(
            "/v1/users/me/password",
            &token,
            json!({"current_password": "not it at all", "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong.body["errors"][0]["field"], "current_password");
    let weak = app
        .post(
            "/v1/users/me/password",
            &token,
            json!({"current_password": PASSWORD, "new_password": "12345678"}),
        )
        .await;
    assert_eq!(weak.body["errors"][0]["field"], "new_password");
    let ok = app
        .post(
            "/v1/users/me/password",
            &token,
            json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT);
    app.login("pw@x.io", "a brand new passphrase").await;
    let old = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", "pw@x.io"),
            ("password", PASSWORD),
        ])
        .await;
    assert_eq!(old.body["error"], "invalid_grant");
}

async fn registration_is_off_by_default(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let reply = app
        .call(
            reqwest::Method::POST,
            "/v1/register",
            None,
            json!({"email": "new@x.io", "password": PASSWORD}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let users = app.get("/v1/users?email=new@x.io", &app.admin_token).await;
    assert_eq!(users.body["items"], json!([]));
}

async fn open_registration_answers_alike_for_new_and_taken_addresses(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("WARDEN_REGISTRATION_ENABLED", "true")]).await;
    let first = app
        .call(
            reqwest::Method::POST,
            "/v1/register",
            None,
            json!({"email": "new@x.io", "password": PASSWORD}),
        )
        .await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.body);
    let again = app
        .call(
            reqwest::Method::POST,
            "/v1/register",
            None,
            json!({"email": "NEW@x.io", "password": "some other passphrase"}),
        )
        .await;
    assert_eq!((again.status, &again.body), (first.status, &first.body));
    app.login("new@x.io", PASSWORD).await;
    let bad = app
        .call(
            reqwest::Method::POST,
            "/v1/register",
            None,
            json!({"email": "x@x.io", "password": PASSWORD, "role": "super_admin"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}

crate::both!(
    users_read_and_edit_their_own_profile_but_not_their_status,
    a_password_change_needs_the_current_password,
    registration_is_off_by_default,
    open_registration_answers_alike_for_new_and_taken_addresses,
);
