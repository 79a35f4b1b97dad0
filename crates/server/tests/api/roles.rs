//! `/v1/roles`: scopes, inheritance, cycles, built-ins.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, TestApp};

async fn roles_are_unique_per_scope_and_inherit_without_cycles(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.admin_token.clone();
    let acme = app.create_account("acme").await;
    let globex = app.create_account("globex").await;
    let viewer = app
        .create_role("viewer", Some(&acme), &["documents:read"], &[])
        .await;
    let editor = app
        .create_role("editor", Some(&acme), &["documents:edit"], &["viewer"])
        .await;
    app.create_role("viewer", Some(&globex), &["documents:read"], &[])
        .await;
    let dup = app
        .post(
            "/v1/roles",
            &t,
            json!({"name": "viewer", "account_id": acme}),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    let global_dup = app
        .post(
            "/v1/roles",
            &t,
            json!({"name": "member", "account_id": null}),
        )
        .await;
    assert_eq!(global_dup.status, StatusCode::CONFLICT);

    let read = app.get(&format!("/v1/roles/{editor}"), &t).await;
    assert_eq!(read.body["inherits"], json!([viewer]));
    let cycle = app
        .patch(
            &format!("/v1/roles/{viewer}"),
            &t,
            json!({"inherits": ["editor"]}),
        )
        .await;
    assert_eq!(
        cycle.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        cycle.body
    );
    let self_cycle = app
        .patch(
            &format!("/v1/roles/{viewer}"),
            &t,
            json!({"inherits": ["viewer"]}),
        )
        .await;
    assert_eq!(self_cycle.status, StatusCode::UNPROCESSABLE_ENTITY);
    let foreign_parent = app
        .post(
            "/v1/roles",
            &t,
            json!({"name": "x", "account_id": globex, "inherits": [editor]}),
        )
        .await;
    assert_eq!(
        foreign_parent.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "roles of another account cannot be inherited"
    );

    assert_eq!(
        app.delete(&format!("/v1/roles/{viewer}"), &t).await.status,
        StatusCode::CONFLICT,
        "still inherited"
    );
    let member = app.role_id("member").await;
    assert_eq!(
        app.delete(&format!("/v1/roles/{member}"), &t).await.status,
        StatusCode::CONFLICT,
        "built-in"
    );
    let renamed = app
        .patch(&format!("/v1/roles/{member}"), &t, json!({"name": "plain"}))
        .await;
    assert_eq!(renamed.status, StatusCode::UNPROCESSABLE_ENTITY);
    let edited = app
        .patch(
            &format!("/v1/roles/{member}"),
            &t,
            json!({"permissions": ["warden.accounts:read", "documents:read"]}),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "built-ins are editable");
    assert_eq!(
        app.delete(&format!("/v1/roles/{editor}"), &t).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete(&format!("/v1/roles/{viewer}"), &t).await.status,
        StatusCode::NO_CONTENT
    );

    let listed = app.get("/v1/roles?account_id=global", &t).await;
    let names: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3);
    for name in ["super_admin", "account_admin", "member"] {
        assert!(names.contains(&name), "{names:?}");
    }
}

async fn bad_permissions_are_refused_with_the_offending_index(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let reply = app
        .post(
            "/v1/roles",
            &app.admin_token,
            json!({"name": "r", "permissions": ["documents:read", "Documents:Edit", "a:b:c"]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = reply.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["permissions[1]", "permissions[2]"]);
    let unknown = app
        .post(
            "/v1/roles",
            &app.admin_token,
            json!({"name": "r", "inherits": ["ghost"]}),
        )
        .await;
    assert_eq!(unknown.body["errors"][0]["field"], "inherits[0]");
    let too_many: Vec<String> = (0..300).map(|i| format!("r:a{i}")).collect();
    let reply = app
        .post(
            "/v1/roles",
            &app.admin_token,
            json!({"name": "r", "permissions": too_many}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// The store itself refuses an account grant to a non-member (checked atomically with the
/// insert, so a grant racing the member's removal cannot leave an orphan assignment).
async fn the_store_refuses_account_grants_to_non_members(backend: Backend) {
    use warden_core::ids::{AccountId, RoleId, UserId};
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let role = app
        .create_role("editor", Some(&acme), &["documents:edit"], &[])
        .await;
    let outsider = app.create_user("out@side.io", None).await;
    let store = app.state.services().store.clone();
    let grant = warden_core::model::Assignment {
        user_id: UserId::parse(&outsider).unwrap(),
        role_id: RoleId::parse(&role).unwrap(),
        account_id: Some(AccountId::parse(&acme).unwrap()),
        created_at: warden_core::time::Timestamp::now(),
    };
    let refused = store.insert_assignment(&grant).await;
    assert!(
        matches!(refused, Err(warden_core::StoreError::MissingReference)),
        "{refused:?}"
    );
    let held = store.assignments(&grant.user_id).await.unwrap();
    assert!(held.is_empty(), "nothing was written");
}

crate::both!(
    roles_are_unique_per_scope_and_inherit_without_cycles,
    bad_permissions_are_refused_with_the_offending_index,
    the_store_refuses_account_grants_to_non_members,
);
