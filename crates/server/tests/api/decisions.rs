//! `/v1/check`, `/v1/check/batch` and the permissions listings: every branch of the combining
//! rule, inheritance and wildcards, account and global roles, the seed's owner rule, explicit
//! principals and bad input. Policy management is in `policies.rs`, propagation between nodes
//! in `propagation.rs`.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{basic, create_client, Backend, TestApp, PASSWORD};

pub(crate) fn doc(id: &str, attributes: Value) -> Value {
    json!({"type": "document", "id": id, "attributes": attributes})
}

pub(crate) async fn check(app: &TestApp, token: &str, action: &str, resource: Value) -> Value {
    let reply = app
        .post(
            "/v1/check",
            token,
            json!({"action": action, "resource": resource}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

pub(crate) async fn policy(
    app: &TestApp,
    token: &str,
    account: Option<&str>,
    cedar: &str,
) -> String {
    let reply = app
        .post(
            "/v1/policies",
            token,
            json!({"account_id": account, "cedar": cedar, "description": "test"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["id"].as_str().unwrap().to_owned()
}

/// An account `acme` where alice is an editor (editor inherits viewer), bob a plain member.
pub(crate) struct World {
    pub(crate) app: TestApp,
    pub(crate) acme: String,
    pub(crate) alice: String,
    pub(crate) alice_token: String,
    pub(crate) bob: String,
    pub(crate) bob_token: String,
}

pub(crate) async fn world(backend: Backend) -> World {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    app.create_role("viewer", Some(&acme), &["documents:read"], &[])
        .await;
    let editor = app
        .create_role(
            "editor",
            Some(&acme),
            &["documents:edit", "comments:*"],
            &["viewer"],
        )
        .await;
    let alice = app.create_user("alice@acme.io", Some(&acme)).await;
    app.grant(&alice, &editor, Some(&acme)).await;
    let alice_token = app.login_to("alice@acme.io", PASSWORD, Some(&acme)).await;
    let (bob, bob_token) = app.member("bob@acme.io", &acme).await;
    World {
        app,
        acme,
        alice,
        alice_token,
        bob,
        bob_token,
    }
}

async fn roles_grant_through_inheritance_and_wildcards(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let read = check(app, &w.alice_token, "documents:read", doc("1", json!({}))).await;
    assert_eq!(read["allowed"], true, "{read}");
    assert_eq!(read["decision"], "allow");
    assert_eq!(read["reasons"][0]["type"], "role");
    assert_eq!(read["reasons"][0]["role"], "editor");
    assert_eq!(read["reasons"][0]["account_id"], w.acme.as_str());
    assert_eq!(read["errors"], json!([]));
    let wildcard = check(app, &w.alice_token, "comments:delete", doc("1", json!({}))).await;
    assert_eq!(wildcard["allowed"], true);
    let denied = check(app, &w.alice_token, "documents:delete", doc("1", json!({}))).await;
    assert_eq!(denied["allowed"], false);
    assert_eq!(denied["decision"], "deny");
    assert_eq!(denied["reasons"], json!([]));
    // Bob holds no role granting documents.
    let bob = check(app, &w.bob_token, "documents:read", doc("1", json!({}))).await;
    assert_eq!(bob["allowed"], false);

    // An account role does not follow alice into another account; a global role does.
    let globex = app.create_account("globex").await;
    let joined = app
        .post(
            &format!("/v1/accounts/{globex}/members"),
            &app.admin_token,
            json!({"user_id": w.alice}),
        )
        .await;
    assert_eq!(joined.status, StatusCode::CREATED, "{}", joined.body);
    let global_token = app.login_to("alice@acme.io", PASSWORD, Some(&globex)).await;
    let outside = check(app, &global_token, "documents:read", doc("1", json!({}))).await;
    assert_eq!(outside["allowed"], false, "{outside}");
    let auditor = app.create_role("auditor", None, &["reports:*"], &[]).await;
    app.grant(&w.alice, &auditor, None).await;
    for token in [&global_token, &w.alice_token] {
        let reports = check(app, token, "reports:export", doc("r", json!({}))).await;
        assert_eq!(reports["allowed"], true, "{reports}");
        assert_eq!(reports["reasons"][0]["account_id"], Value::Null);
    }

    // Her effective permissions, inheritance included.
    let mine = app.get("/v1/users/me/permissions", &w.alice_token).await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);
    assert_eq!(mine.body["roles"], json!(["auditor", "editor", "viewer"]));
    assert_eq!(
        mine.body["permissions"],
        json!([
            "comments:*",
            "documents:edit",
            "documents:read",
            "reports:*"
        ])
    );

    // A narrowed token acts only through the roles it names (with what they inherit).
    let narrowed = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", "alice@acme.io"),
            ("password", PASSWORD),
            ("account", &w.acme),
            ("scope", "viewer"),
        ])
        .await;
    let narrow = narrowed.body["access_token"].as_str().unwrap().to_owned();
    let edit = check(app, &narrow, "documents:edit", doc("1", json!({}))).await;
    assert_eq!(edit["allowed"], false, "{edit}");
    let view = check(app, &narrow, "documents:read", doc("1", json!({}))).await;
    assert_eq!(view["allowed"], true, "{view}");
}

async fn the_owner_rule_is_one_policy(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let id = policy(
        app,
        &app.admin_token,
        Some(&w.acme),
        r#"permit(principal, action == Action::"documents:edit", resource) when { resource.owner_id == principal.id };"#,
    )
    .await;
    let own = check(
        app,
        &w.bob_token,
        "documents:edit",
        doc("42", json!({"owner_id": w.bob})),
    )
    .await;
    assert_eq!(own["allowed"], true, "{own}");
    assert_eq!(
        own["reasons"],
        json!([{"type": "policy", "policy_id": id, "effect": "permit"}])
    );
    let other = check(
        app,
        &w.bob_token,
        "documents:edit",
        doc("43", json!({"owner_id": w.alice})),
    )
    .await;
    assert_eq!(other["allowed"], false, "{other}");
    // A permit that cannot evaluate (no owner_id) is skipped, and reported.
    let broken = check(app, &w.bob_token, "documents:edit", doc("44", json!({}))).await;
    assert_eq!(broken["allowed"], false);
    assert_eq!(broken["errors"][0]["policy_id"], id.as_str(), "{broken}");
    // The policy is the account's: it does not apply to another account's tokens.
    let globex = app.create_account("globex").await;
    let (_, carol) = app.member("carol@globex.io", &globex).await;
    let elsewhere = check(
        app,
        &carol,
        "documents:edit",
        doc("45", json!({"owner_id": "x"})),
    )
    .await;
    assert_eq!(elsewhere["allowed"], false);
    assert_eq!(elsewhere["errors"], json!([]), "{elsewhere}");
}

async fn a_forbid_overrides_a_role_and_an_erroring_forbid_denies(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let id = policy(
        app,
        &app.admin_token,
        None,
        r#"forbid(principal, action, resource) when { resource.locked };"#,
    )
    .await;
    let locked = check(
        app,
        &w.alice_token,
        "documents:edit",
        doc("1", json!({"locked": true})),
    )
    .await;
    assert_eq!(locked["allowed"], false, "{locked}");
    assert_eq!(
        locked["reasons"],
        json!([{"type": "policy", "policy_id": id, "effect": "forbid"}])
    );
    let open = check(
        app,
        &w.alice_token,
        "documents:edit",
        doc("1", json!({"locked": false})),
    )
    .await;
    assert_eq!(open["allowed"], true, "{open}");
    // Without `locked` the forbid errors, and an erroring forbid denies (fail closed).
    let unknown = check(app, &w.alice_token, "documents:edit", doc("1", json!({}))).await;
    assert_eq!(unknown["allowed"], false, "{unknown}");
    assert_eq!(unknown["reasons"][0]["failed"], true);
    assert_eq!(unknown["errors"][0]["policy_id"], id.as_str());

    // Disabled, it no longer takes part.
    let off = app
        .patch(
            &format!("/v1/policies/{id}"),
            &app.admin_token,
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.body);
    let again = check(app, &w.alice_token, "documents:edit", doc("1", json!({}))).await;
    assert_eq!(again["allowed"], true, "{again}");

    // A permit never grants Warden's own permissions.
    policy(
        app,
        &app.admin_token,
        None,
        "permit(principal, action, resource);",
    )
    .await;
    let own = check(
        app,
        &w.bob_token,
        "warden.users:delete",
        doc("x", json!({})),
    )
    .await;
    assert_eq!(own["allowed"], false, "{own}");
    let other = check(app, &w.bob_token, "invoices:pay", doc("x", json!({}))).await;
    assert_eq!(other["allowed"], true, "{other}");
    let escalate = app
        .delete(&format!("/v1/users/{}", w.alice), &w.bob_token)
        .await;
    assert_eq!(escalate.status, StatusCode::FORBIDDEN);
}

async fn explicit_principals_need_check_any_and_batches_answer_in_order(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let t = app.admin_token.clone();
    let named =
        json!({"principal": w.alice, "action": "documents:read", "resource": doc("1", json!({}))});
    let refused = app.post("/v1/check", &w.bob_token, named.clone()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);

    // A service client of the account holding `warden.check:any` asks for its users.
    let checker = app
        .create_role("checker", Some(&w.acme), &["warden.check:any"], &[])
        .await;
    let creds = create_client(
        app,
        &t,
        json!({"name": "gateway", "account_id": w.acme, "roles": [checker]}),
    )
    .await;
    let issued = basic(
        app,
        &creds.client_id,
        &creds.secret,
        &[("grant_type", "client_credentials")],
    )
    .await;
    let service = issued.body["access_token"].as_str().unwrap().to_owned();
    let answer = app.post("/v1/check", &service, named).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["allowed"], true, "{}", answer.body);
    let typed = app
        .post(
            "/v1/check",
            &service,
            json!({"principal": {"type": "user", "id": w.bob}, "action": "documents:read", "resource": doc("1", json!({}))}),
        )
        .await;
    assert_eq!(typed.body["allowed"], false);
    // The type defaults to user; `user_id` and `account` are accepted synonyms.
    for body in [
        json!({"principal": {"id": w.alice}, "action": "documents:read", "resource": doc("1", json!({}))}),
        json!({"user_id": w.alice, "account": w.acme, "action": "documents:read", "resource": doc("1", json!({}))}),
    ] {
        let reply = app.post("/v1/check", &service, body).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.body["allowed"], true, "{}", reply.body);
    }
    // Only in its own account.
    let globex = app.create_account("globex").await;
    let foreign = app
        .post(
            "/v1/check",
            &service,
            json!({"principal": w.alice, "account_id": globex, "action": "documents:read", "resource": doc("1", json!({}))}),
        )
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{}", foreign.body);

    // A disabled user is denied, whatever their roles.
    let disabled = app
        .patch(
            &format!("/v1/users/{}", w.alice),
            &t,
            json!({"status": "disabled"}),
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.body);
    let denied = app
        .post(
            "/v1/check",
            &service,
            json!({"principal": w.alice, "action": "documents:read", "resource": doc("1", json!({}))}),
        )
        .await;
    assert_eq!(denied.body["allowed"], false);
    // An account-limited caller learns nothing about the principal's state...
    assert_eq!(denied.body["reasons"], json!([]), "{}", denied.body);
    // ...a global one does.
    let global = app
        .post(
            "/v1/check",
            &t,
            json!({"principal": w.alice, "action": "documents:read", "resource": doc("1", json!({}))}),
        )
        .await;
    assert_eq!(
        global.body["reasons"],
        json!([{"type": "principal", "code": "principal_disabled"}])
    );
    // Nor whether a foreign id exists, nor its roles elsewhere.
    let elsewhere = app.create_account("elsewhere").await;
    let stranger = app.create_user("stranger@else.io", Some(&elsewhere)).await;
    let auditor = app
        .create_role("auditor", Some(&elsewhere), &["documents:*"], &[])
        .await;
    app.grant(&stranger, &auditor, Some(&elsewhere)).await;
    let foreign_user = app
        .post(
            "/v1/check",
            &service,
            json!({"principal": stranger, "action": "documents:read", "resource": doc("1", json!({}))}),
        )
        .await;
    assert_eq!(foreign_user.status, StatusCode::OK);
    assert_eq!(
        foreign_user.body["reasons"],
        json!([]),
        "{}",
        foreign_user.body
    );
    let nobody = app
        .post(
            "/v1/check",
            &service,
            json!({"principal": "0190a5b0-0000-7000-8000-0000000000ff", "action": "documents:read", "resource": doc("1", json!({}))}),
        )
        .await;
    assert_eq!(nobody.status, StatusCode::OK);
    assert_eq!(
        nobody.body, foreign_user.body,
        "an unknown id answers like a foreign one"
    );

    // Bob reads documents: the answers must come back in the order asked.
    let reader = app
        .create_role("reader", Some(&w.acme), &["documents:read"], &[])
        .await;
    app.grant(&w.bob, &reader, Some(&w.acme)).await;
    let checks: Vec<Value> = ["documents:edit", "documents:read", "billing:pay"]
        .iter()
        .map(|a| json!({"action": a, "resource": doc("1", json!({}))}))
        .collect();
    let batch = app
        .post(
            "/v1/check/batch",
            &service,
            json!({"principal": w.bob, "checks": checks}),
        )
        .await;
    assert_eq!(batch.status, StatusCode::OK, "{}", batch.body);
    let order: Vec<bool> = batch.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["allowed"].as_bool().unwrap())
        .collect();
    assert_eq!(order, vec![false, true, false], "{}", batch.body);
    let mine = app
        .post(
            "/v1/check/batch",
            &app.login_to("admin@example.com", crate::helpers::ADMIN_PASSWORD, None)
                .await,
            json!({"checks": checks}),
        )
        .await;
    let allowed: Vec<bool> = mine.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["allowed"].as_bool().unwrap())
        .collect();
    assert_eq!(allowed, vec![true, true, true], "{}", mine.body);
    let too_many: Vec<Value> = (0..1001)
        .map(|i| json!({"action": "documents:read", "resource": doc(&i.to_string(), json!({}))}))
        .collect();
    let over = app
        .post("/v1/check/batch", &service, json!({"checks": too_many}))
        .await;
    assert_eq!(
        over.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        over.body
    );
    let thousand: Vec<Value> = (0..1000)
        .map(|i| json!({"action": "documents:read", "resource": doc(&i.to_string(), json!({}))}))
        .collect();
    let full = app
        .post(
            "/v1/check/batch",
            &w.alice_token,
            json!({"checks": thousand}),
        )
        .await;
    // Alice is disabled now: her token no longer authenticates.
    assert_eq!(full.status, StatusCode::UNAUTHORIZED);
    let full = app
        .post(
            "/v1/check/batch",
            &service,
            json!({"principal": w.bob, "checks": thousand}),
        )
        .await;
    assert_eq!(full.status, StatusCode::OK);
    assert_eq!(full.body["results"].as_array().unwrap().len(), 1000);

    // Denials are audited, allowed decisions are not (sampling is off by default).
    let audit = app.get("/v1/audit?action=check.denied", &t).await;
    assert!(
        !audit.body["items"].as_array().unwrap().is_empty(),
        "{}",
        audit.body
    );
    let allowed = app.get("/v1/audit?action=check.allowed", &t).await;
    assert_eq!(allowed.body["items"], json!([]), "{}", allowed.body);
}

async fn allowed_decisions_are_audited_when_sampling_is_on(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("WARDEN_AUDIT_ALLOWED_EVERY", "1")]).await;
    let t = app.admin_token.clone();
    let allowed = check(&app, &t, "documents:read", doc("1", json!({}))).await;
    assert_eq!(allowed["allowed"], true);
    let log = app.get("/v1/audit?action=check.allowed", &t).await;
    let items = log.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", log.body);
    assert_eq!(items[0]["target"], "document:1");
    assert_eq!(items[0]["details"]["action"], "documents:read");
}

crate::both!(
    allowed_decisions_are_audited_when_sampling_is_on,
    roles_grant_through_inheritance_and_wildcards,
    the_owner_rule_is_one_policy,
    a_forbid_overrides_a_role_and_an_erroring_forbid_denies,
    explicit_principals_need_check_any_and_batches_answer_in_order,
);
