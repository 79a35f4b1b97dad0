//! `/v1/accounts` and members.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, TestApp};

async fn an_admin_manages_accounts_and_their_members(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.admin_token.clone();
    let acme = app.create_account("acme").await;
    let read = app.get(&format!("/v1/accounts/{acme}"), &t).await;
    assert_eq!(read.body["name"], "acme");
    let patched = app
        .patch(
            &format!("/v1/accounts/{acme}"),
            &t,
            json!({"display_name": "Acme Corp", "attributes": {"tier": "gold"}}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["attributes"]["tier"], "gold");
    let listed = app.get("/v1/accounts?name=acme", &t).await;
    assert_eq!(listed.body["items"][0]["id"], acme.as_str());

    let user = app.create_user("m@x.io", None).await;
    let added = app
        .post(
            &format!("/v1/accounts/{acme}/members"),
            &t,
            json!({"user_id": user}),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED);
    assert_eq!(
        app.post(
            &format!("/v1/accounts/{acme}/members"),
            &t,
            json!({"user_id": user})
        )
        .await
        .status,
        StatusCode::CONFLICT
    );
    let members = app.get(&format!("/v1/accounts/{acme}/members"), &t).await;
    assert_eq!(members.body["items"][0]["user_id"], user.as_str());
    let role = app
        .create_role("editor", Some(&acme), &["documents:edit"], &[])
        .await;
    app.grant(&user, &role, Some(&acme)).await;
    assert_eq!(
        app.delete(&format!("/v1/accounts/{acme}/members/{user}"), &t)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let roles = app.get(&format!("/v1/users/{user}/roles"), &t).await;
    assert_eq!(
        roles.body["items"],
        json!([]),
        "removing a member removes the roles it held there"
    );

    assert_eq!(
        app.delete(&format!("/v1/accounts/{acme}"), &t).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&format!("/v1/accounts/{acme}"), &t).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&format!("/v1/roles/{role}"), &t).await.status,
        StatusCode::NOT_FOUND,
        "account roles go with it"
    );
}

async fn account_names_are_unique_slugs(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.admin_token.clone();
    app.create_account("acme").await;
    assert_eq!(
        app.post("/v1/accounts", &t, json!({"name": "acme"}))
            .await
            .status,
        StatusCode::CONFLICT
    );
    for bad in [
        "Acme",
        "",
        "a b",
        "acme;drop table accounts",
        "01900000-0000-7000-8000-000000000000",
    ] {
        let reply = app.post("/v1/accounts", &t, json!({"name": bad})).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            reply.body
        );
        assert_eq!(reply.body["errors"][0]["field"], "name");
    }
    assert_eq!(
        app.post("/v1/accounts", &t, json!({"name": "ok", "owner": "me"}))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let disabled = app.create_account("sleepy").await;
    let user = app.create_user("s@x.io", Some(&disabled)).await;
    let _ = user;
    app.patch(
        &format!("/v1/accounts/{disabled}"),
        &t,
        json!({"status": "disabled"}),
    )
    .await;
    let reply = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", "s@x.io"),
            ("password", crate::helpers::PASSWORD),
        ])
        .await;
    assert_eq!(
        reply.body["error"], "invalid_grant",
        "no tokens for a disabled account"
    );
}

crate::both!(
    an_admin_manages_accounts_and_their_members,
    account_names_are_unique_slugs
);
