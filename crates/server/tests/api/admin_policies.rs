//! Warden's own API is decided by the engine's one combining rule: the `warden.*` permissions of
//! the caller's roles, then Cedar `forbid` policies on `warden.*` actions.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, TestApp};

async fn create_user(app: &TestApp, token: &str, email: &str, account: &str) -> StatusCode {
    let reply = app
        .post(
            "/v1/users",
            token,
            json!({"email": email, "password": "correct horse battery", "account_id": account}),
        )
        .await;
    reply.status
}

async fn a_forbid_on_a_warden_action_stops_an_account_administrator(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let (_, boss) = app.account_admin("boss@acme.io", &acme).await;
    assert_eq!(
        create_user(&app, &boss, "a1@acme.io", &acme).await,
        StatusCode::CREATED
    );

    let forbid = app
        .post(
            "/v1/policies",
            &app.admin_token,
            json!({
                "account_id": acme,
                "description": "acme's users are provisioned by SCIM only",
                "cedar": "forbid(principal, action == Action::\"warden.users:create\", resource);",
            }),
        )
        .await;
    assert_eq!(forbid.status, StatusCode::CREATED, "{}", forbid.body);
    let policy = forbid.body["id"].as_str().unwrap().to_owned();

    let refused = app
        .post(
            "/v1/users",
            &boss,
            json!({"email": "a2@acme.io", "password": "correct horse battery", "account_id": acme}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let detail = refused.body["detail"].as_str().unwrap();
    assert!(
        detail.contains(&policy),
        "the 403 names the policy: {detail}"
    );
    // The denial is audited, with the policy that decided it.
    let denied = app
        .get("/v1/audit?action=access.denied", &app.admin_token)
        .await;
    assert_eq!(denied.status, StatusCode::OK, "{}", denied.body);
    assert!(
        denied.body["items"].as_array().unwrap().iter().any(|e| {
            e["details"]["forbidden_by"][0] == policy.as_str()
                && e["details"]["action"] == "warden.users:create"
                && e["account_id"] == acme.as_str()
        }),
        "{}",
        denied.body
    );
    // Only that action: the administrator still reads users.
    assert_eq!(app.get("/v1/users", &boss).await.status, StatusCode::OK);
    // An account policy binds principals acting in that account, not a global administrator.
    assert_eq!(
        create_user(&app, &app.admin_token, "a3@acme.io", &acme).await,
        StatusCode::CREATED
    );

    // Lifting it restores access within a second, here and on another node.
    let peer = app.spawn_peer().await;
    let lifted = app
        .delete(&format!("/v1/policies/{policy}"), &app.admin_token)
        .await;
    assert_eq!(lifted.status, StatusCode::NO_CONTENT, "{}", lifted.body);
    assert_eq!(
        create_user(&app, &boss, "a4@acme.io", &acme).await,
        StatusCode::CREATED
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        create_user(&peer, &boss, "a5@acme.io", &acme).await,
        StatusCode::CREATED
    );
}

async fn a_global_forbid_stops_even_the_super_admin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let forbid = app
        .post(
            "/v1/policies",
            &app.admin_token,
            json!({"cedar": "forbid(principal, action == Action::\"warden.accounts:delete\", resource);"}),
        )
        .await;
    assert_eq!(forbid.status, StatusCode::CREATED, "{}", forbid.body);
    let refused = app
        .delete(&format!("/v1/accounts/{acme}"), &app.admin_token)
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(refused.body["detail"].as_str().unwrap().contains("policy"));
    let policy = forbid.body["id"].as_str().unwrap();
    let lifted = app
        .delete(&format!("/v1/policies/{policy}"), &app.admin_token)
        .await;
    assert_eq!(lifted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.delete(&format!("/v1/accounts/{acme}"), &app.admin_token)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
}

crate::both!(
    a_forbid_on_a_warden_action_stops_an_account_administrator,
    a_global_forbid_stops_even_the_super_admin,
);
