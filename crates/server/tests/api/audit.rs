//! The audit log: what is recorded, who may read it, that it holds no secret, and that
//! tampering is found.

use reqwest::StatusCode;
use warden_core::audit::{all, verify, Verdict};

use crate::helpers::{basic, create_client, Backend, TestApp, ADMIN_PASSWORD, PASSWORD};

async fn security_events_and_admin_changes_are_recorded_without_secrets(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let user = app.create_user("a@acme.io", Some(&acme)).await;
    let editor = app
        .create_role("editor", Some(&acme), &["documents:edit"], &[])
        .await;
    app.grant(&user, &editor, Some(&acme)).await;
    let failed = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", "a@acme.io"),
            ("password", "typed secret 123"),
        ])
        .await;
    assert_eq!(failed.body["error"], "invalid_grant");
    let ok = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", "a@acme.io"),
            ("password", PASSWORD),
        ])
        .await;
    let refresh = ok.body["refresh_token"].as_str().unwrap().to_owned();
    let access = ok.body["access_token"].as_str().unwrap().to_owned();
    app.token_request(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    app.token_request(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;

    let again = app.login("a@acme.io", PASSWORD).await;
    app.delete("/v1/users/me/sessions", &again).await;
    let key = app
        .post(
            "/v1/api-keys",
            &again,
            serde_json::json!({"name": "ci", "roles": [editor]}),
        )
        .await;
    assert_eq!(key.status, StatusCode::CREATED, "{}", key.body);
    let change = serde_json::json!({"current_password": PASSWORD, "new_password": "another fine passphrase"});
    assert_eq!(
        app.post("/v1/users/me/password", &again, change)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let log = app.get("/v1/audit?limit=1000", &app.admin_token).await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    let actions: Vec<&str> = log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    for expected in [
        "account.created",
        "user.created",
        "role.created",
        "role.granted",
        "login.failed",
        "login.succeeded",
        "token.refreshed",
        "token.reuse_detected",
        "session.ended",
        "api_key.created",
        "user.password_changed",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} missing from {actions:?}"
        );
    }
    let created = log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "user.created")
        .unwrap();
    assert_eq!(created["details"]["after"]["email"], "a@acme.io");
    assert_eq!(created["account_id"], acme.as_str());
    let text = log.body.to_string();
    for secret in [
        PASSWORD,
        ADMIN_PASSWORD,
        "typed secret 123",
        refresh.as_str(),
        access.as_str(),
    ] {
        assert!(!text.contains(secret), "a secret leaked into the audit log");
    }
    let failures = app
        .get("/v1/audit?action=login.failed", &app.admin_token)
        .await;
    let failure = &failures.body["items"][0];
    assert_eq!(failure["actor"], "anonymous");
    assert!(
        failure["details"]["identifier_sha256"].is_string()
            && !failure.to_string().contains("a@acme.io")
    );
}

async fn account_admins_read_their_accounts_audit_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let globex = app.create_account("globex").await;
    app.create_user("x@globex.io", Some(&globex)).await;
    let (_, boss) = app.account_admin("boss@acme.io", &acme).await;
    let mine = app.get("/v1/audit?limit=1000", &boss).await;
    assert_eq!(mine.status, StatusCode::OK);
    assert!(mine.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["account_id"] == acme.as_str()));
    assert_eq!(
        app.get(&format!("/v1/audit?account_id={globex}"), &boss)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let (_, plain) = app.member("m@acme.io", &acme).await;
    assert_eq!(
        app.get("/v1/audit", &plain).await.status,
        StatusCode::FORBIDDEN
    );
    for bad in [
        "/v1/audit?from=yesterday",
        "/v1/audit?limit=0",
        "/v1/audit?cursor=%%%",
        "/v1/audit?nope=1",
        "/v1/audit?account_id=x",
    ] {
        let status = app.get(bad, &app.admin_token).await.status;
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {status}"
        );
    }
    // Pages chain through the cursor without loss.
    let first = app.get("/v1/audit?limit=2", &app.admin_token).await;
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = app
        .get(
            &format!("/v1/audit?limit=2&cursor={cursor}"),
            &app.admin_token,
        )
        .await;
    assert_eq!(
        second.body["items"][0]["seq"].as_i64().unwrap(),
        first.body["items"][1]["seq"].as_i64().unwrap() + 1
    );
}

async fn a_changed_or_removed_record_breaks_the_chain_and_is_named(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for i in 0..3 {
        app.create_user(&format!("u{i}@x.io"), None).await;
    }
    let services = app.state.services();
    assert_eq!(
        verify(all(services).await.unwrap()),
        Verdict::Intact { records: 4 },
        "the admin's login and three user creations"
    );
    let url = app.database_url();
    warden_testkit::execute(
        &url,
        "UPDATE audit_events SET details = '{\"after\":{\"email\":\"evil@x.io\"}}' WHERE seq = 2",
    )
    .await;
    assert!(matches!(
        verify(all(services).await.unwrap()),
        Verdict::Broken { seq: 2, .. }
    ));

    let other = TestApp::spawn(backend).await;
    for i in 0..3 {
        other.create_user(&format!("u{i}@x.io"), None).await;
    }
    // Events are written by a background writer: make sure record 3 is stored before it is
    // removed.
    other.state.services().audit.flush().await;
    warden_testkit::execute(
        &other.database_url(),
        "DELETE FROM audit_events WHERE seq = 3",
    )
    .await;
    match verify(all(other.state.services()).await.unwrap()) {
        Verdict::Broken { seq, reason } => {
            assert!(seq == 3 && reason.contains("missing"), "{seq}: {reason}")
        }
        intact => panic!("removal not found: {intact:?}"),
    }
}

/// Failed client authentications are audited, coalesced (anyone can repeat them), with the
/// reason, whether a secret came with the id or not, and an unknown client id not at all.
async fn refused_client_authentications_are_recorded_with_their_count(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let creds = create_client(
        &app,
        &app.admin_token,
        serde_json::json!({"name": "svc", "account_id": acme, "roles": []}),
    )
    .await;
    let grant = [("grant_type", "client_credentials")];
    for _ in 0..3 {
        let wrong = basic(&app, &creds.client_id, "not the secret 789", &grant).await;
        assert_eq!(wrong.body["error"], "invalid_client", "{}", wrong.body);
    }
    for _ in 0..2 {
        let unknown = basic(&app, "typed secret 456", "whatever", &grant).await;
        assert_eq!(unknown.body["error"], "invalid_client", "{}", unknown.body);
    }
    // A confidential client's id without its secret, an unknown public client id, and a
    // malformed id, each on the form (no secret).
    for client_id in [
        creds.client_id.as_str(),
        "no such public client",
        "a\u{200b}b",
    ] {
        let bare = app
            .token_request(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
            ])
            .await;
        assert_eq!(bare.status, StatusCode::UNAUTHORIZED, "{}", bare.body);
        assert_eq!(bare.body["error"], "invalid_client", "{}", bare.body);
    }
    let too_long = basic(&app, &"c".repeat(200), "whatever", &grant).await;
    assert_eq!(
        too_long.body["error"], "invalid_client",
        "{}",
        too_long.body
    );
    let ok = basic(&app, &creds.client_id, &creds.secret, &grant).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);

    let log = app
        .get(
            "/v1/audit?action=client.authentication_failed&limit=1000",
            &app.admin_token,
        )
        .await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    let records = log.body["items"].as_array().unwrap();
    let count = |reason: &str| -> u64 {
        records
            .iter()
            .filter(|r| r["details"]["reason"] == reason)
            .map(|r| r["details"]["count"].as_u64().unwrap_or(1))
            .sum()
    };
    assert_eq!(count("wrong_secret"), 3, "{records:?}");
    assert_eq!(count("unknown_client"), 3, "{records:?}");
    assert_eq!(count("secret_missing"), 1, "{records:?}");
    assert_eq!(count("malformed_credentials"), 2, "{records:?}");
    let first = |reason: &str| {
        records
            .iter()
            .find(|r| r["details"]["reason"] == reason)
            .unwrap()
    };
    for reason in ["secret_missing", "wrong_secret"] {
        let record = first(reason);
        assert_eq!(record["target"], format!("client:{}", creds.client_id));
        assert_eq!(record["account_id"], acme.as_str(), "{record}");
    }
    let unknown = first("unknown_client");
    assert_eq!(unknown["target"], serde_json::Value::Null, "{unknown}");
    let text = log.body.to_string();
    for secret in [
        "typed secret 456",
        "not the secret 789",
        "no such public client",
        "a\u{200b}b",
        &"c".repeat(200),
        creds.secret.as_str(),
    ] {
        assert!(!text.contains(secret), "a secret leaked into the audit log");
    }
}

crate::both!(
    refused_client_authentications_are_recorded_with_their_count,
    security_events_and_admin_changes_are_recorded_without_secrets,
    account_admins_read_their_accounts_audit_only,
    a_changed_or_removed_record_breaks_the_chain_and_is_named,
);
