//! Bad input to `/v1/check` and the permissions listings: clean 4xx answers, never a 500;
//! typed context values; addresses a caller cannot spoof; other tenants' users hidden.

use reqwest::StatusCode;
use serde_json::json;

use crate::decisions::{check, doc, policy, world};
use crate::helpers::Backend;

async fn bad_decision_requests_get_clear_errors(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let t = &w.alice_token;
    for (body, why) in [
        (
            json!({"action": "documents:*", "resource": doc("1", json!({}))}),
            "wildcard action",
        ),
        (
            json!({"action": "Documents:Read", "resource": doc("1", json!({}))}),
            "not a permission",
        ),
        (
            json!({"action": "no pe", "resource": doc("1", json!({}))}),
            "not an action name",
        ),
        (
            json!({"action": "a:b", "resource": {"type": "not a type", "id": "1"}}),
            "bad type",
        ),
        (
            json!({"action": "a:b", "resource": doc("1", json!({"x": null}))}),
            "null attribute",
        ),
        (
            json!({"action": "a:b", "resource": doc("1", json!({"x": 1.5}))}),
            "fraction",
        ),
        (
            json!({"action": "a:b", "resource": doc("1", json!({"x": {"__extn": {"fn": "exec", "arg": "x"}}}))}),
            "extension",
        ),
        (
            json!({"action": "a:b", "resource": doc("1", json!({})), "context": {"k": null}}),
            "null context",
        ),
        (
            json!({"action": "a:b", "resource": doc("1", json!({})), "principal": "not-an-id"}),
            "principal",
        ),
        (json!({"action": "a:b"}), "no resource"),
        (
            json!({"action": "a:b", "resource": doc("1", json!({})), "extra": 1}),
            "unknown field",
        ),
        (
            json!({"action": "a:b", "resource": {"type": "document", "id": "1", "owner": "x"}}),
            "unknown resource field",
        ),
        (json!(["a"]), "not an object"),
        (
            json!({"action": "a:b", "resource": {"type": "Role", "id": "viewer", "parents": [{"type": "Role", "id": "finance"}]}}),
            "a forged role",
        ),
        (
            json!({"action": "a:b", "resource": {"type": "document", "id": "1", "parents": [{"type": "Action", "id": "x"}]}}),
            "an action parent",
        ),
        (
            json!({"action": "a:b", "resource": {"type": "document", "id": "a\u{0}b"}}),
            "NUL in an id",
        ),
        (
            json!({"action": "a:b", "resource": {"type": "document", "id": "x".repeat(2000)}}),
            "a long id",
        ),
    ] {
        let reply = app.post("/v1/check", t, body).await;
        assert!(
            reply.status == StatusCode::UNPROCESSABLE_ENTITY
                || reply.status == StatusCode::BAD_REQUEST,
            "{why}: {} {}",
            reply.status,
            reply.body
        );
    }
    // A policy that reads a typed context still works with typed values.
    policy(
        app,
        &app.admin_token,
        Some(&w.acme),
        r#"permit(principal, action == Action::"vpn:use", resource) when { context.ip.isInRange(ip("127.0.0.0/8")) && context.time > 0 };"#,
    )
    .await;
    let vpn = check(app, &w.bob_token, "vpn:use", doc("gw", json!({}))).await;
    assert_eq!(vpn["allowed"], true, "{vpn}");
    // Callers cannot spoof the address Warden adds.
    let spoofed = app
        .post(
            "/v1/check",
            &w.bob_token,
            json!({"action": "vpn:use", "resource": doc("gw", json!({})), "context": {"ip": "10.0.0.1"}}),
        )
        .await;
    assert_eq!(spoofed.body["allowed"], true, "{}", spoofed.body);
    let no_token = app
        .call(
            reqwest::Method::POST,
            "/v1/check",
            None,
            json!({"action": "a:b", "resource": doc("1", json!({}))}),
        )
        .await;
    assert_eq!(no_token.status, StatusCode::UNAUTHORIZED);
    let huge = json!({"action": "a:b", "resource": doc("1", json!({"x": "y".repeat(2 << 20)}))});
    let oversized = app
        .send_oversized(
            // A client of its own: the server closes the connection, which must not be a
            // pooled one the next request reuses.
            reqwest::Client::new()
                .post(app.url("/v1/check"))
                .bearer_auth(t)
                .json(&huge),
        )
        .await;
    assert!(
        matches!(oversized, None | Some(StatusCode::PAYLOAD_TOO_LARGE)),
        "{oversized:?}"
    );

    // Permissions of another user: their account's admin or a global reader only.
    let globex = app.create_account("globex").await;
    let (_, other_admin) = app.account_admin("boss@globex.io", &globex).await;
    let path = format!("/v1/users/{}/permissions?account={}", w.alice, w.acme);
    let foreign = app.get(&path, &other_admin).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{}", foreign.body);
    let member = app.get(&path, &w.bob_token).await;
    assert_eq!(member.status, StatusCode::FORBIDDEN);
    let admin = app.get(&path, &app.admin_token).await;
    assert_eq!(admin.status, StatusCode::OK);
    assert_eq!(admin.body["roles"], json!(["editor", "viewer"]));
    // An account admin asking about someone outside its account gets 404, as for no one.
    let (_, acme_admin) = app.account_admin("boss@acme.io", &w.acme).await;
    let outsider = app.create_user("out@side.io", None).await;
    let hidden = app
        .get(
            &format!("/v1/users/{outsider}/permissions?account={}", w.acme),
            &acme_admin,
        )
        .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND, "{}", hidden.body);
    let member = app
        .get(
            &format!("/v1/users/{}/permissions?account={}", w.alice, w.acme),
            &acme_admin,
        )
        .await;
    assert_eq!(member.status, StatusCode::OK, "{}", member.body);
    let bad = app
        .get(
            &format!("/v1/users/{}/permissions?account=x", w.alice),
            &app.admin_token,
        )
        .await;
    assert!(bad.status.is_client_error());
}

crate::both!(bad_decision_requests_get_clear_errors);
