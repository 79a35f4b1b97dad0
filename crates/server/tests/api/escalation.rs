//! The two rules that hold everywhere: no escalation and tenant isolation — and seed 003's
//! flaws (any logged-in user could assign any role to anyone, create accounts and move users
//! between accounts) shown absent.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, TestApp};

async fn a_plain_member_cannot_do_what_seed_003_allowed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let globex = app.create_account("globex").await;
    let (me, token) = app.member("plain@acme.io", &acme).await;
    let other = app.create_user("other@acme.io", Some(&acme)).await;
    let super_admin = app.role_id("super_admin").await;
    let account_admin = app.role_id("account_admin").await;

    let attempts = [
        app.post(
            &format!("/v1/users/{me}/roles"),
            &token,
            json!({"role_id": super_admin, "account_id": null}),
        )
        .await,
        app.post(
            &format!("/v1/users/{me}/roles"),
            &token,
            json!({"role_id": account_admin, "account_id": acme}),
        )
        .await,
        app.post(
            &format!("/v1/users/{other}/roles"),
            &token,
            json!({"role_id": account_admin, "account_id": acme}),
        )
        .await,
        app.post("/v1/accounts", &token, json!({"name": "mine"}))
            .await,
        app.post(
            &format!("/v1/accounts/{globex}/members"),
            &token,
            json!({"user_id": me}),
        )
        .await,
        app.post(
            &format!("/v1/accounts/{acme}/members"),
            &token,
            json!({"user_id": other}),
        )
        .await,
        app.delete(&format!("/v1/accounts/{acme}/members/{other}"), &token)
            .await,
        app.post(
            "/v1/users",
            &token,
            json!({"email": "n@x.io", "password": crate::helpers::PASSWORD}),
        )
        .await,
        app.get("/v1/users", &token).await,
        app.post(
            "/v1/roles",
            &token,
            json!({"name": "mine", "account_id": acme, "permissions": ["*"]}),
        )
        .await,
        app.patch(
            &format!("/v1/users/{other}"),
            &token,
            json!({"status": "disabled"}),
        )
        .await,
    ];
    for (i, reply) in attempts.iter().enumerate() {
        assert!(
            reply.status == StatusCode::FORBIDDEN || reply.status == StatusCode::NOT_FOUND,
            "attempt {i}: {} {}",
            reply.status,
            reply.body
        );
    }
    // Nothing changed.
    let roles = app
        .get(&format!("/v1/users/{me}/roles"), &app.admin_token)
        .await;
    assert_eq!(roles.body["items"], json!([]));
    let accounts = app.get("/v1/accounts", &app.admin_token).await;
    assert_eq!(accounts.body["items"].as_array().unwrap().len(), 2);
    let globex_members = app
        .get(&format!("/v1/accounts/{globex}/members"), &app.admin_token)
        .await;
    assert_eq!(globex_members.body["items"], json!([]));
    let other_user = app
        .get(&format!("/v1/users/{other}"), &app.admin_token)
        .await;
    assert_eq!(other_user.body["status"], "active");
}

async fn nobody_assigns_roles_to_themselves(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let (admin, token) = app.account_admin("boss@acme.io", &acme).await;
    let editor = app
        .create_role("editor", Some(&acme), &["documents:edit"], &[])
        .await;
    let reply = app
        .post(
            &format!("/v1/users/{admin}/roles"),
            &token,
            json!({"role_id": editor, "account_id": acme}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    let me = app.get("/v1/users/me", &app.admin_token).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = app
        .post(
            &format!("/v1/users/{me}/roles"),
            &app.admin_token,
            json!({"role_id": editor, "account_id": acme}),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::FORBIDDEN,
        "not even a super admin"
    );
}

async fn an_account_admin_cannot_grant_create_or_edit_beyond_what_it_holds(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let (_, token) = app.account_admin("boss@acme.io", &acme).await;
    let (worker, _) = app.member("worker@acme.io", &acme).await;
    let super_admin = app.role_id("super_admin").await;
    let member = app.role_id("member").await;
    let refused = [
        app.post(
            "/v1/roles",
            &token,
            json!({"name": "god", "account_id": acme, "permissions": ["*"]}),
        )
        .await,
        app.post(
            "/v1/roles",
            &token,
            json!({"name": "acc", "account_id": acme, "permissions": ["warden.accounts:create"]}),
        )
        .await,
        app.post(
            "/v1/roles",
            &token,
            json!({"name": "heir", "account_id": acme, "inherits": ["super_admin"]}),
        )
        .await,
        app.post(
            &format!("/v1/users/{worker}/roles"),
            &token,
            json!({"role_id": super_admin, "account_id": acme}),
        )
        .await,
        app.post(
            &format!("/v1/users/{worker}/roles"),
            &token,
            json!({"role_id": member, "account_id": null}),
        )
        .await,
        app.patch(
            &format!("/v1/roles/{member}"),
            &token,
            json!({"permissions": ["*"]}),
        )
        .await,
        app.post(
            "/v1/roles",
            &token,
            json!({"name": "global", "account_id": null}),
        )
        .await,
    ];
    for (i, reply) in refused.iter().enumerate() {
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "attempt {i}: {}",
            reply.body
        );
    }
    // What an account admin may do, it can.
    let editor = app
        .post(
            "/v1/roles",
            &token,
            json!({"name": "editor", "account_id": acme, "permissions": ["documents:edit"]}),
        )
        .await;
    assert_eq!(
        editor.status,
        StatusCode::FORBIDDEN,
        "documents:edit is not held by account_admin either"
    );
    let helper = app
        .post(
            "/v1/roles",
            &token,
            json!({"name": "helper", "account_id": acme, "permissions": ["warden.users:read"]}),
        )
        .await;
    assert_eq!(helper.status, StatusCode::CREATED, "{}", helper.body);
    let helper = helper.body["id"].as_str().unwrap().to_owned();
    let widen = app
        .patch(
            &format!("/v1/roles/{helper}"),
            &token,
            json!({"permissions": ["warden.users:read", "warden.accounts:delete"]}),
        )
        .await;
    assert_eq!(widen.status, StatusCode::FORBIDDEN);
    let grant = app
        .post(
            &format!("/v1/users/{worker}/roles"),
            &token,
            json!({"role_id": helper, "account_id": acme}),
        )
        .await;
    assert_eq!(grant.status, StatusCode::CREATED, "{}", grant.body);
    let created = app
        .post(
            "/v1/users",
            &token,
            json!({"email": "new@acme.io", "password": crate::helpers::PASSWORD}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let new_id = created.body["id"].as_str().unwrap();
    let members = app
        .get(&format!("/v1/accounts/{acme}/members?limit=1000"), &token)
        .await;
    assert!(
        members.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["user_id"] == new_id),
        "created in the admin's account"
    );
    // The only role of the worker is still the one granted legitimately.
    let roles = app
        .get(&format!("/v1/users/{worker}/roles"), &app.admin_token)
        .await;
    assert_eq!(roles.body["items"].as_array().unwrap().len(), 1);
}

async fn an_account_admin_sees_nothing_of_other_accounts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let globex = app.create_account("globex").await;
    let (_, token) = app.account_admin("boss@acme.io", &acme).await;
    let outsider = app.create_user("outsider@globex.io", Some(&globex)).await;
    let foreign_role = app
        .create_role("secret", Some(&globex), &["x:y"], &[])
        .await;
    let account_admin = app.role_id("account_admin").await;

    let not_found = [
        app.get(&format!("/v1/users/{outsider}"), &token).await,
        app.patch(
            &format!("/v1/users/{outsider}"),
            &token,
            json!({"display_name": "pwned"}),
        )
        .await,
        app.delete(&format!("/v1/users/{outsider}"), &token).await,
        app.get(&format!("/v1/accounts/{globex}"), &token).await,
        app.patch(
            &format!("/v1/accounts/{globex}"),
            &token,
            json!({"display_name": "pwned"}),
        )
        .await,
        app.get(&format!("/v1/accounts/{globex}/members"), &token)
            .await,
        app.post(
            &format!("/v1/accounts/{globex}/members"),
            &token,
            json!({"user_id": outsider}),
        )
        .await,
        app.post(
            &format!("/v1/accounts/{acme}/members"),
            &token,
            json!({"user_id": outsider}),
        )
        .await,
        app.get(&format!("/v1/roles/{foreign_role}"), &token).await,
        app.get(&format!("/v1/roles?account_id={globex}"), &token)
            .await,
        app.post(
            "/v1/roles",
            &token,
            json!({"name": "x", "account_id": globex}),
        )
        .await,
        app.post(
            &format!("/v1/users/{outsider}/roles"),
            &token,
            json!({"role_id": account_admin, "account_id": globex}),
        )
        .await,
        app.get(&format!("/v1/users?account_id={globex}"), &token)
            .await,
        app.post(
            "/v1/users",
            &token,
            json!({"email": "z@x.io", "password": crate::helpers::PASSWORD, "account_id": globex}),
        )
        .await,
    ];
    for (i, reply) in not_found.iter().enumerate() {
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "attempt {i}: {}",
            reply.body
        );
    }
    let users = app.get("/v1/users", &token).await;
    assert!(users.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["id"] != outsider.as_str()));
    let accounts = app.get("/v1/accounts", &token).await;
    assert_eq!(accounts.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(accounts.body["items"][0]["id"], acme.as_str());
    let roles = app.get("/v1/roles", &token).await;
    assert!(roles.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["id"] != foreign_role.as_str()));
    let untouched = app
        .get(&format!("/v1/users/{outsider}"), &app.admin_token)
        .await;
    assert_eq!(untouched.body["display_name"], "");
}

async fn an_account_admin_cannot_take_over_more_privileged_users(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let globex = app.create_account("globex").await;
    let (_, token) = app.account_admin("boss@acme.io", &acme).await;
    let root = app.get("/v1/users/me", &app.admin_token).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(
        &format!("/v1/accounts/{acme}/members"),
        &app.admin_token,
        json!({"user_id": root}),
    )
    .await;
    let shared = app.create_user("shared@x.io", Some(&acme)).await;
    app.post(
        &format!("/v1/accounts/{globex}/members"),
        &app.admin_token,
        json!({"user_id": shared}),
    )
    .await;
    for target in [&root, &shared] {
        let takeover = app
            .patch(
                &format!("/v1/users/{target}"),
                &token,
                json!({"password": "attacker chosen passphrase"}),
            )
            .await;
        assert_eq!(takeover.status, StatusCode::FORBIDDEN, "{}", takeover.body);
        assert_eq!(
            app.patch(
                &format!("/v1/users/{target}"),
                &token,
                json!({"status": "disabled"})
            )
            .await
            .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            app.delete(&format!("/v1/users/{target}"), &token)
                .await
                .status,
            StatusCode::FORBIDDEN
        );
    }
    app.login(crate::helpers::ADMIN_EMAIL, crate::helpers::ADMIN_PASSWORD)
        .await;
    let super_admin = app.role_id("super_admin").await;
    let last = app
        .delete(
            &format!("/v1/users/{root}/roles/{super_admin}"),
            &app.admin_token,
        )
        .await;
    assert_eq!(
        last.status,
        StatusCode::CONFLICT,
        "the last super admin stays"
    );
    assert_eq!(
        app.patch(
            &format!("/v1/users/{root}"),
            &app.admin_token,
            json!({"status": "disabled"})
        )
        .await
        .status,
        StatusCode::CONFLICT
    );
}

async fn account_roles_cannot_pose_as_global_roles_in_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let (_, token) = app.account_admin("boss@acme.io", &acme).await;
    for name in ["super_admin", "account_admin", "member"] {
        let reply = app
            .post(
                "/v1/roles",
                &token,
                json!({"name": name, "account_id": acme, "permissions": []}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CONFLICT, "{name}: {}", reply.body);
    }
    let helper = app
        .post(
            "/v1/roles",
            &token,
            json!({"name": "helper", "account_id": acme}),
        )
        .await;
    let helper = helper.body["id"].as_str().unwrap().to_owned();
    let rename = app
        .patch(
            &format!("/v1/roles/{helper}"),
            &token,
            json!({"name": "super_admin"}),
        )
        .await;
    assert_eq!(rename.status, StatusCode::CONFLICT);
    let global = app
        .post("/v1/roles", &app.admin_token, json!({"name": "helper"}))
        .await;
    assert_eq!(
        global.status,
        StatusCode::CONFLICT,
        "a global role cannot take an account role's name either"
    );
}

async fn a_token_narrowed_by_scope_is_narrowed_on_wardens_own_api(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let (boss, full) = app.account_admin("boss@acme.io", &acme).await;
    let member = app.role_id("member").await;
    app.grant(&boss, &member, Some(&acme)).await;
    assert_eq!(app.get("/v1/users", &full).await.status, StatusCode::OK);
    let narrow = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", "boss@acme.io"),
            ("password", crate::helpers::PASSWORD),
            ("scope", "member"),
        ])
        .await;
    let narrow = narrow.body["access_token"].as_str().unwrap();
    assert_eq!(
        app.get("/v1/users", narrow).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get(&format!("/v1/accounts/{acme}"), narrow)
            .await
            .status,
        StatusCode::OK,
        "member may still read its account"
    );
}

async fn a_stolen_token_cannot_change_its_owners_credentials(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let me = app.get("/v1/users/me", &app.admin_token).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for patch in [
        json!({"password": "attacker chosen passphrase"}),
        json!({"email": "attacker@evil.io"}),
    ] {
        let reply = app
            .patch(&format!("/v1/users/{me}"), &app.admin_token, patch.clone())
            .await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{patch}: {}",
            reply.body
        );
    }
    app.login(crate::helpers::ADMIN_EMAIL, crate::helpers::ADMIN_PASSWORD)
        .await;
}

crate::both!(
    account_roles_cannot_pose_as_global_roles_in_tokens,
    a_token_narrowed_by_scope_is_narrowed_on_wardens_own_api,
    a_stolen_token_cannot_change_its_owners_credentials,
    a_plain_member_cannot_do_what_seed_003_allowed,
    nobody_assigns_roles_to_themselves,
    an_account_admin_cannot_grant_create_or_edit_beyond_what_it_holds,
    an_account_admin_sees_nothing_of_other_accounts,
    an_account_admin_cannot_take_over_more_privileged_users,
);
