//! `/v1/policies`: Cedar validation with line and column, tenant scoping, no escalation
//! through permits, and per-account schemas.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::decisions::{policy, world};
use crate::helpers::Backend;

async fn policies_are_validated_and_tenant_scoped(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let t = app.admin_token.clone();
    let bad = app
        .post(
            "/v1/policies",
            &t,
            json!({"cedar": "permit(principal, action, resource)\nwhen { resource.x == };"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert_eq!(bad.body["errors"][0]["field"], "cedar");
    assert_eq!(bad.body["errors"][0]["line"], 2, "{}", bad.body);
    assert!(bad.body["errors"][0]["column"].as_u64().unwrap() > 1);
    for cedar in [
        "",
        "permit(principal == ?principal, action, resource);",
        "not cedar at all",
    ] {
        let reply = app.post("/v1/policies", &t, json!({"cedar": cedar})).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{cedar}");
    }
    let huge = "permit(principal, action, resource);".repeat(2000);
    let reply = app.post("/v1/policies", &t, json!({"cedar": huge})).await;
    assert!(reply.status.is_client_error(), "{}", reply.status);
    let unknown = app
        .post(
            "/v1/policies",
            &t,
            json!({"cedar": "permit(principal, action, resource);", "id": "mine"}),
        )
        .await;
    assert!(unknown.status.is_client_error());
    let no_token = app
        .call(
            reqwest::Method::POST,
            "/v1/policies",
            None,
            json!({"cedar": "permit(principal, action, resource);"}),
        )
        .await;
    assert_eq!(no_token.status, StatusCode::UNAUTHORIZED);

    // An account admin writes its account's policies only.
    let (_, admin) = app.account_admin("admin@acme.io", &w.acme).await;
    let globex = app.create_account("globex").await;
    let cedar = "forbid(principal, action == Action::\"a:b\", resource);";
    let own = policy(app, &admin, Some(&w.acme), cedar).await;
    // No escalation through policies: a permit needs every permission it may allow.
    for escalating in [
        "permit(principal, action == Action::\"billing:refund\", resource);",
        "permit(principal, action, resource);",
        "permit(principal, action in [Action::\"documents:read\", Action::\"billing:refund\"], resource);",
    ] {
        let reply = app
            .post(
                "/v1/policies",
                &admin,
                json!({"account_id": w.acme, "cedar": escalating}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{escalating}: {}", reply.body);
    }
    let nul = app
        .post(
            "/v1/policies",
            &t,
            json!({"cedar": "permit(principal, action, resource); // \u{0}"}),
        )
        .await;
    assert_eq!(nul.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", nul.body);
    let foreign = app
        .post(
            "/v1/policies",
            &admin,
            json!({"account_id": globex, "cedar": cedar}),
        )
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{}", foreign.body);
    let global = app
        .post(
            "/v1/policies",
            &admin,
            json!({"account_id": null, "cedar": cedar}),
        )
        .await;
    assert_eq!(global.status, StatusCode::FORBIDDEN, "{}", global.body);
    let theirs = policy(app, &t, Some(&globex), cedar).await;
    for (method, path) in [
        (reqwest::Method::GET, format!("/v1/policies/{theirs}")),
        (reqwest::Method::PATCH, format!("/v1/policies/{theirs}")),
        (reqwest::Method::DELETE, format!("/v1/policies/{theirs}")),
    ] {
        let body = if method == reqwest::Method::PATCH {
            json!({"enabled": false})
        } else {
            Value::Null
        };
        let reply = app.call(method, &path, Some(&admin), body).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
    }
    let listed = app.get("/v1/policies", &admin).await;
    let ids: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&own.as_str()) && !ids.contains(&theirs.as_str()),
        "{ids:?}"
    );
    let member = app
        .post("/v1/policies", &w.bob_token, json!({"cedar": cedar}))
        .await;
    assert_eq!(member.status, StatusCode::FORBIDDEN);
    let fix = app
        .patch(
            &format!("/v1/policies/{own}"),
            &admin,
            json!({"cedar": "permit(principal, action, resource) when {"}),
        )
        .await;
    assert_eq!(fix.status, StatusCode::UNPROCESSABLE_ENTITY);
    let kept = app.get(&format!("/v1/policies/{own}"), &admin).await;
    assert_eq!(
        kept.body["cedar"], cedar,
        "a refused change changes nothing"
    );
    let gone = app.delete(&format!("/v1/policies/{own}"), &admin).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
}

async fn an_account_schema_validates_its_policies(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let t = app.admin_token.clone();
    let schema = r#"
entity Role;
entity User in [Role] { id: String, email: String, roles: Set<String> };
entity document { owner_id: String };
action "documents:edit" appliesTo { principal: [User], resource: [document] };
"#;
    let broken = app
        .patch(
            &format!("/v1/accounts/{}", w.acme),
            &t,
            json!({"policy_schema": "entity User { id: };"}),
        )
        .await;
    assert_eq!(
        broken.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        broken.body
    );
    assert_eq!(broken.body["errors"][0]["field"], "policy_schema");
    assert!(broken.body["errors"][0]["line"].is_u64(), "{}", broken.body);
    let set = app
        .patch(
            &format!("/v1/accounts/{}", w.acme),
            &t,
            json!({"policy_schema": schema}),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    let typo = app
        .post(
            "/v1/policies",
            &t,
            json!({"account_id": w.acme, "cedar": "permit(principal, action == Action::\"documents:edit\", resource)\nwhen { resource.owner == principal.id };"}),
        )
        .await;
    assert_eq!(
        typo.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        typo.body
    );
    assert_eq!(typo.body["errors"][0]["line"], 2, "{}", typo.body);
    let good = policy(
        app,
        &t,
        Some(&w.acme),
        r#"permit(principal, action == Action::"documents:edit", resource) when { resource.owner_id == principal.id };"#,
    )
    .await;
    // Global policies are not bound by an account's schema.
    policy(
        app,
        &t,
        None,
        "forbid(principal, action, resource) when { resource has nothing && resource.nothing };",
    )
    .await;
    let cleared = app
        .patch(
            &format!("/v1/accounts/{}", w.acme),
            &t,
            json!({"policy_schema": null}),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::OK);
    assert_eq!(cleared.body["policy_schema"], Value::Null);
    let loose = app
        .patch(
            &format!("/v1/policies/{good}"),
            &t,
            json!({"cedar": "permit(principal, action, resource) when { resource.anything == 1 };"}),
        )
        .await;
    assert_eq!(loose.status, StatusCode::OK, "{}", loose.body);
}

/// A stored policy that no longer compiles (written around the API here, as a Cedar upgrade
/// could leave one) fails closed in its scope only.
async fn a_stored_policy_that_no_longer_compiles_fails_closed(backend: Backend) {
    use crate::decisions::{check, doc};
    let w = world(backend).await;
    let app = &w.app;
    let now = warden_core::time::Timestamp::now();
    let id = warden_core::ids::PolicyId::new();
    let broken = warden_core::model::Policy {
        id,
        account_id: Some(warden_core::ids::AccountId::parse(&w.acme).unwrap()),
        description: String::new(),
        cedar: "permit(principal, action, resource) when {".into(),
        enabled: true,
        created_at: now,
        updated_at: now,
    };
    app.state
        .services()
        .store
        .insert_policy(&broken)
        .await
        .unwrap();
    app.state.catch_up().await;
    let denied = check(app, &w.alice_token, "documents:read", doc("1", json!({}))).await;
    assert_eq!(denied["allowed"], false, "{denied}");
    assert_eq!(denied["reasons"][0]["policy_id"], id.to_string());
    let globex = app.create_account("globex").await;
    let (_, carol) = app.member("carol@globex.io", &globex).await;
    let other = check(app, &carol, "accounts:read", doc("1", json!({}))).await;
    assert!(other["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["type"] != "policy"));
}

crate::both!(
    a_stored_policy_that_no_longer_compiles_fails_closed,
    policies_are_validated_and_tenant_scoped,
    an_account_schema_validates_its_policies,
);
