//! `/v1/users`: the success paths, pagination and filters, and bad inputs.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{Backend, TestApp, PASSWORD};

async fn an_admin_creates_reads_updates_and_deletes_a_user(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.admin_token.clone();
    let created = app
        .post("/v1/users", &t, json!({"email": "Alice@Example.COM", "username": "Alice", "password": PASSWORD, "display_name": "Alice A", "attributes": {"team": "red"}}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let user = created.body.clone();
    assert_eq!(user["email"], "alice@example.com", "stored canonical");
    assert_eq!(user["username"], "alice");
    assert_eq!(user["status"], "active");
    let text = user.to_string();
    assert!(
        !text.contains("argon2") && !text.contains(PASSWORD) && user.get("password_hash").is_none(),
        "{text}"
    );
    let id = user["id"].as_str().unwrap();

    let read = app.get(&format!("/v1/users/{id}"), &t).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["attributes"]["team"], "red");

    let updated = app
        .patch(
            &format!("/v1/users/{id}"),
            &t,
            json!({"display_name": "Alice B", "phone": "+1 555", "username": null}),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.body["display_name"], "Alice B");
    assert_eq!(updated.body["username"], Value::Null);

    let new_password = app
        .patch(
            &format!("/v1/users/{id}"),
            &t,
            json!({"password": "another good passphrase"}),
        )
        .await;
    assert_eq!(new_password.status, StatusCode::OK);
    app.login("alice@example.com", "another good passphrase")
        .await;

    assert_eq!(
        app.delete(&format!("/v1/users/{id}"), &t).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&format!("/v1/users/{id}"), &t).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete(&format!("/v1/users/{id}"), &t).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn lists_paginate_with_an_opaque_cursor_and_filter(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    for i in 0..5 {
        app.create_user(&format!("u{i}@acme.io"), Some(&acme)).await;
    }
    app.create_user("outsider@x.io", None).await;
    let t = &app.admin_token;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/users?limit=2&account_id={acme}&cursor={c}"),
            None => format!("/v1/users?limit=2&account_id={acme}"),
        };
        let page = app.get(&path, t).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|u| u["email"].as_str().unwrap().to_owned()),
        );
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        (0..5).map(|i| format!("u{i}@acme.io")).collect::<Vec<_>>()
    );
    let by_email = app.get("/v1/users?email=U3@ACME.IO", t).await;
    assert_eq!(by_email.body["items"].as_array().unwrap().len(), 1);
    let disabled = app.get("/v1/users?status=disabled", t).await;
    assert_eq!(disabled.body["items"], json!([]));
    for bad in [
        "/v1/users?limit=0",
        "/v1/users?limit=1001",
        "/v1/users?cursor=%%%",
        "/v1/users?cursor=AA",
        "/v1/users?cursor=JyBPUiAxPTEgLS0",
        "/v1/users?status=zombie",
        "/v1/users?nope=1",
        "/v1/users?account_id=x",
    ] {
        let reply = app.get(bad, t).await;
        assert!(
            reply.status == StatusCode::BAD_REQUEST
                || reply.status == StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            reply.status
        );
    }
}

async fn bad_user_input_gets_clear_errors_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.admin_token.clone();
    let cases = [
        (
            json!({"email": "not-an-email", "password": PASSWORD}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "email",
        ),
        (
            json!({"email": "a@x.io", "password": "short"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "password",
        ),
        (
            json!({"email": "a@x.io", "password": "password123"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "password",
        ),
        (
            json!({"email": "a@x.io", "password": "p".repeat(1025)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "password",
        ),
        (
            json!({"email": "a\u{200b}b@x.io", "password": PASSWORD}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "email",
        ),
        (
            json!({"email": "a@x.io", "password": PASSWORD, "is_admin": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "is_admin",
        ),
        (
            json!({"email": "a@x.io", "password": PASSWORD, "account_id": "nope"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "account id",
        ),
        (
            json!({"email": 5}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid type",
        ),
        (
            json!({"email": "a@x.io", "password": PASSWORD, "account_id": "01900000-0000-7000-8000-000000000000"}),
            StatusCode::NOT_FOUND,
            "account",
        ),
    ];
    for (body, status, mention) in cases {
        let reply = app.post("/v1/users", &t, body.clone()).await;
        assert_eq!(reply.status, status, "{body}: {}", reply.body);
        assert!(
            reply.body.to_string().contains(mention),
            "{body}: {}",
            reply.body
        );
        assert_eq!(reply.header("content-type"), "application/problem+json");
    }
    let malformed = app
        .client
        .post(app.url("/v1/users"))
        .bearer_auth(&t)
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    let no_type = app
        .client
        .post(app.url("/v1/users"))
        .bearer_auth(&t)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(no_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge =
        json!({"email": "a@x.io", "password": PASSWORD, "display_name": "x".repeat(200_000)});
    let status = app
        .send_oversized(
            reqwest::Client::new()
                .post(app.url("/v1/users"))
                .bearer_auth(&t)
                .json(&huge),
        )
        .await;
    assert!(
        matches!(status, None | Some(StatusCode::PAYLOAD_TOO_LARGE)),
        "{status:?}"
    );
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let nested = app
        .client
        .post(app.url("/v1/users"))
        .bearer_auth(&t)
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .unwrap();
    assert!(nested.status().is_client_error());
    let nul = app
        .post(
            "/v1/users",
            &t,
            json!({"email": "a\u{0}@x.io", "password": PASSWORD}),
        )
        .await;
    assert_eq!(nul.status, StatusCode::UNPROCESSABLE_ENTITY);
    let invalid_utf8 = app
        .client
        .post(app.url("/v1/users"))
        .bearer_auth(&t)
        .header("content-type", "application/json")
        .body(vec![b'{', b'"', 0xff, 0xfe, b'"', b'}'])
        .send()
        .await
        .unwrap();
    assert!(invalid_utf8.status().is_client_error());
    // Nothing was created by any of that.
    let all = app.get("/v1/users", &t).await;
    assert_eq!(
        all.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        all.body
    );
    assert_eq!(
        app.get("/v1/users/not-an-id", &t).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get("/v1/users/01900000-0000-7000-8000-000000000000", &t)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

async fn duplicate_emails_and_usernames_conflict_in_any_case_or_width(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.admin_token.clone();
    assert_eq!(
        app.post(
            "/v1/users",
            &t,
            json!({"email": "dup@x.io", "username": "admin2", "password": PASSWORD})
        )
        .await
        .status,
        StatusCode::CREATED
    );
    for body in [
        json!({"email": "DUP@X.IO", "password": PASSWORD}),
        json!({"email": "ｄｕｐ@x.io", "password": PASSWORD}),
        json!({"email": "other@x.io", "username": "ADMIN2", "password": PASSWORD}),
    ] {
        let reply = app.post("/v1/users", &t, body.clone()).await;
        assert_eq!(reply.status, StatusCode::CONFLICT, "{body}: {}", reply.body);
    }
}

crate::both!(
    external_ids_are_unique_settable_by_admins_only_and_name_authzen_subjects,
    an_admin_creates_reads_updates_and_deletes_a_user,
    lists_paginate_with_an_opaque_cursor_and_filter,
    bad_user_input_gets_clear_errors_and_changes_nothing,
    duplicate_emails_and_usernames_conflict_in_any_case_or_width,
);

async fn external_ids_are_unique_settable_by_admins_only_and_name_authzen_subjects(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let created = app
        .post(
            "/v1/users",
            &app.admin_token,
            serde_json::json!({"email": "ext@acme.io", "password": PASSWORD, "account_id": acme, "external_id": "00u1abc"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["external_id"], "00u1abc");
    let id = created.body["id"].as_str().unwrap().to_owned();
    let clash = app
        .post(
            "/v1/users",
            &app.admin_token,
            serde_json::json!({"email": "other@acme.io", "external_id": "00u1abc"}),
        )
        .await;
    assert_eq!(clash.status, StatusCode::CONFLICT, "{}", clash.body);
    assert!(
        clash.body.to_string().contains("external_id"),
        "{}",
        clash.body
    );
    let found = app
        .get("/v1/users?external_id=00u1abc", &app.admin_token)
        .await;
    assert_eq!(found.body["items"][0]["id"], id.as_str());
    for bad in [
        serde_json::json!(""),
        serde_json::json!("a\u{7}b"),
        serde_json::json!("x".repeat(300)),
    ] {
        let reply = app
            .patch(
                &format!("/v1/users/{id}"),
                &app.admin_token,
                serde_json::json!({"external_id": bad}),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            reply.body
        );
    }
    // A user cannot name themself to other systems.
    let token = app.login("ext@acme.io", PASSWORD).await;
    let own = app
        .patch(
            "/v1/users/me",
            &token,
            serde_json::json!({"external_id": "00u-admin"}),
        )
        .await;
    assert!(own.status.is_client_error(), "{}", own.body);
    // An AuthZEN subject id resolves through it.
    let role = app
        .create_role("viewer", Some(&acme), &["documents:read"], &[])
        .await;
    app.grant(&id, &role, Some(&acme)).await;
    let decide = |subject: &str| {
        let body = serde_json::json!({"subject": {"type": "user", "id": subject},
            "action": {"name": "documents:read"}, "resource": {"type": "document", "id": "1"}});
        let app = &app;
        async move {
            app.post("/access/v1/evaluation", &app.admin_token, body)
                .await
                .body["decision"]
                .clone()
        }
    };
    assert_eq!(decide("00u1abc").await, true);
    let cleared = app
        .patch(
            &format!("/v1/users/{id}"),
            &app.admin_token,
            serde_json::json!({"external_id": null}),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.body);
    assert!(cleared.body["external_id"].is_null());
    assert_eq!(decide("00u1abc").await, false);
}
