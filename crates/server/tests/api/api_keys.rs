//! API keys: scoped to the owner's roles, shown once, revocable, IP-restricted.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, TestApp};

async fn an_api_key_acts_for_its_owner_within_its_roles(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let (boss, token) = app.account_admin("boss@acme.io", &acme).await;
    let member = app.role_id("member").await;
    let admin_role = app.role_id("account_admin").await;
    app.grant(&boss, &member, Some(&acme)).await;

    let full = app
        .post(
            "/v1/api-keys",
            &token,
            json!({"name": "ci", "roles": [admin_role]}),
        )
        .await;
    assert_eq!(full.status, StatusCode::CREATED, "{}", full.body);
    let key = full.body["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("wk_") && key.len() > 40);
    assert_eq!(full.body["account_id"], acme.as_str());
    let listed = app.get("/v1/api-keys", &token).await;
    assert!(
        !listed.body.to_string().contains(&key),
        "the value is shown once"
    );
    assert_eq!(app.get("/v1/users", &key).await.status, StatusCode::OK);
    assert_eq!(
        app.get("/v1/users/me", &key).await.body["id"],
        boss.as_str()
    );

    let narrow = app
        .post(
            "/v1/api-keys",
            &token,
            json!({"name": "read-only", "roles": [member]}),
        )
        .await;
    let narrow = narrow.body["key"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get("/v1/users", &narrow).await.status,
        StatusCode::FORBIDDEN,
        "only its roles"
    );
    assert_eq!(
        app.get(&format!("/v1/accounts/{acme}"), &narrow)
            .await
            .status,
        StatusCode::OK
    );
    let minted = app
        .post("/v1/api-keys", &key, json!({"name": "again", "roles": []}))
        .await;
    assert_eq!(
        minted.status,
        StatusCode::FORBIDDEN,
        "keys do not mint keys"
    );

    // The owner loses the role: so does the key, at once.
    let revoke = app
        .delete(
            &format!("/v1/users/{boss}/roles/{admin_role}?account_id={acme}"),
            &app.admin_token,
        )
        .await;
    assert_eq!(revoke.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/v1/users", &key).await.status,
        StatusCode::FORBIDDEN
    );
}

async fn a_key_never_exceeds_its_owner_and_bad_input_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let (_, token) = app.account_admin("boss@acme.io", &acme).await;
    let super_admin = app.role_id("super_admin").await;
    let cases = [
        (json!({"name": "x", "roles": [super_admin]}), "roles[0]"),
        (
            json!({"name": "x", "roles": ["01900000-0000-7000-8000-000000000000"]}),
            "roles[0]",
        ),
        (
            json!({"name": "x", "expires_at": "2001-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (json!({"name": "x", "expires_at": "tomorrow"}), "expires_at"),
        (
            json!({"name": "x", "allowed_ips": ["300.0.0.0/8"]}),
            "allowed_ips[0]",
        ),
        (json!({"name": ""}), "name"),
    ];
    for (body, field) in cases {
        let reply = app.post("/v1/api-keys", &token, body.clone()).await;
        // Asking for a role with permissions the caller lacks is an escalation (403); the
        // rest are invalid fields (422).
        let expected = if field == "roles[0]" && body.to_string().contains(&super_admin) {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        assert_eq!(reply.status, expected, "{body}: {}", reply.body);
        if expected == StatusCode::UNPROCESSABLE_ENTITY {
            assert_eq!(reply.body["errors"][0]["field"], field, "{body}");
        }
    }
    assert_eq!(
        app.post(
            "/v1/api-keys",
            &token,
            json!({"name": "x", "owner": "someone"})
        )
        .await
        .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.get("/v1/api-keys", &token).await.body["items"],
        json!([]),
        "nothing was created"
    );
}

async fn revoked_ip_restricted_and_unknown_keys_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let (_, token) = app.account_admin("boss@acme.io", &acme).await;
    let admin_role = app.role_id("account_admin").await;
    let created = app
        .post(
            "/v1/api-keys",
            &token,
            json!({"name": "ci", "roles": [admin_role]}),
        )
        .await;
    let (id, key) = (
        created.body["id"].as_str().unwrap().to_owned(),
        created.body["key"].as_str().unwrap().to_owned(),
    );
    assert_eq!(app.get("/v1/users", &key).await.status, StatusCode::OK);
    let used = app.get("/v1/api-keys", &token).await;
    assert!(
        used.body["items"][0]["last_used_at"].is_string(),
        "last use is kept"
    );
    assert_eq!(
        app.delete(&format!("/v1/api-keys/{id}"), &token)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get("/v1/users", &key).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.delete(&format!("/v1/api-keys/{id}"), &token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let fenced = app
        .post(
            "/v1/api-keys",
            &token,
            json!({"name": "lan", "roles": [admin_role], "allowed_ips": ["10.0.0.0/8"]}),
        )
        .await;
    let fenced = fenced.body["key"].as_str().unwrap();
    assert_eq!(
        app.get("/v1/users", fenced).await.status,
        StatusCode::UNAUTHORIZED,
        "127.0.0.1 is outside 10/8"
    );
    for junk in ["wk_", "wk_nope", &format!("wk_{}", "a".repeat(300))] {
        assert_eq!(
            app.get("/v1/users", junk).await.status,
            StatusCode::UNAUTHORIZED,
            "{junk}"
        );
    }
    let other = app.create_account("globex").await;
    let (_, other_token) = app.account_admin("other@globex.io", &other).await;
    let foreign = app
        .post("/v1/api-keys", &other_token, json!({"name": "theirs"}))
        .await;
    let foreign_id = foreign.body["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/v1/api-keys/{foreign_id}"), &token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

async fn keys_and_narrowed_tokens_cannot_reach_beyond_themselves(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let (boss, _) = app.account_admin("boss@acme.io", &acme).await;
    let member = app.role_id("member").await;
    let admin_role = app.role_id("account_admin").await;
    app.grant(&boss, &member, Some(&acme)).await;
    let narrowed = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", "boss@acme.io"),
            ("password", crate::helpers::PASSWORD),
            ("scope", "member"),
        ])
        .await;
    let narrowed = narrowed.body["access_token"].as_str().unwrap().to_owned();
    let minted = app
        .post(
            "/v1/api-keys",
            &narrowed,
            json!({"name": "wide", "roles": [admin_role]}),
        )
        .await;
    assert_eq!(
        minted.status,
        StatusCode::FORBIDDEN,
        "a narrowed token mints no wider key: {}",
        minted.body
    );
    let key = app
        .post(
            "/v1/api-keys",
            &narrowed,
            json!({"name": "ok", "roles": [member]}),
        )
        .await;
    let key = key.body["key"].as_str().unwrap().to_owned();
    for path in ["/v1/users/me/sessions", "/v1/api-keys"] {
        assert_eq!(
            app.get(path, &key).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    assert_eq!(
        app.delete("/v1/users/me/sessions", &key).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/v1/users/me/sessions", &narrowed).await.status,
        StatusCode::OK,
        "the login still works"
    );
}

crate::both!(
    keys_and_narrowed_tokens_cannot_reach_beyond_themselves,
    an_api_key_acts_for_its_owner_within_its_roles,
    a_key_never_exceeds_its_owner_and_bad_input_is_refused,
    revoked_ip_restricted_and_unknown_keys_are_refused,
);
