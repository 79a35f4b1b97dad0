//! Disabling an account ends everything issued in it: its sessions (listed in the revocation
//! feed), its users' and clients' grants, and what introspection says of its tokens, and
//! enabling it again revives none of it.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{basic, create_client, Backend, Creds, TestApp, PASSWORD, RACE_SETTINGS};

async fn introspect(app: &TestApp, by: &Creds, token: &str) -> Reply {
    let response = app
        .client
        .post(app.url("/oauth/introspect"))
        .basic_auth(&by.client_id, Some(&by.secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    TestApp::read(response).await
}

use crate::helpers::Reply;

/// A `client_credentials` request authenticated as `client`.
async fn client_grant(app: &TestApp, client: &Creds) -> Reply {
    basic(
        app,
        &client.client_id,
        &client.secret,
        &[("grant_type", "client_credentials")],
    )
    .await
}

fn text(body: &Value, key: &str) -> String {
    body[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key}: {body}"))
        .to_owned()
}

async fn set_status(app: &TestApp, account: &str, status: &str) {
    let reply = app
        .patch(
            &format!("/v1/accounts/{account}"),
            &app.admin_token,
            json!({"status": status}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

async fn a_disabled_accounts_credentials_are_dead_and_stay_dead(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let ann = app.create_user("ann@acme.io", Some(&acme)).await;
    let member = app.role_id("member").await;
    app.grant(&ann, &member, Some(&acme)).await;
    // A global verifier, another tenant's verifier, and acme's own service client.
    let global = create_client(&app, &app.admin_token, json!({"name": "gateway"})).await;
    let globex = app.create_account("globex").await;
    let foreign = create_client(
        &app,
        &app.admin_token,
        json!({"name": "globex-api", "account_id": globex}),
    )
    .await;
    let own = create_client(
        &app,
        &app.admin_token,
        json!({"name": "acme-web", "account_id": acme,
               "grant_types": ["password", "refresh_token", "client_credentials"]}),
    )
    .await;
    let login = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", "ann@acme.io"),
            ("password", PASSWORD),
        ])
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    let (access, refresh) = (
        text(&login.body, "access_token"),
        text(&login.body, "refresh_token"),
    );
    let cc = client_grant(&app, &own).await;
    assert_eq!(cc.status, StatusCode::OK, "{}", cc.body);
    let client_token = text(&cc.body, "access_token");
    let minted = app
        .post(
            "/v1/api-keys",
            &access,
            json!({"name": "ci", "roles": [member]}),
        )
        .await;
    assert_eq!(minted.status, StatusCode::CREATED, "{}", minted.body);
    let api_key = text(&minted.body, "key");
    assert_eq!(
        app.get("/v1/users/me", &api_key).await.status,
        StatusCode::OK
    );
    for token in [&access, &refresh, &client_token] {
        assert_eq!(introspect(&app, &global, token).await.body["active"], true);
    }
    let feed_cursor = {
        let reply = TestApp::read(
            app.client
                .get(app.url("/v1/revocations"))
                .basic_auth(&global.client_id, Some(&global.secret))
                .send()
                .await
                .unwrap(),
        )
        .await;
        text(&reply.body, "next_cursor")
    };

    set_status(&app, &acme, "disabled").await;

    for token in [&access, &refresh, &client_token] {
        for verifier in [&global, &foreign] {
            let answer = introspect(&app, verifier, token).await;
            assert_eq!(answer.status, StatusCode::OK);
            assert_eq!(answer.body, json!({"active": false}), "RFC 7662 §2.2");
        }
    }
    // The account's own client no longer authenticates: not for introspection, not for its own
    // token, not to log its users in.
    assert_eq!(
        introspect(&app, &own, &access).await.status,
        StatusCode::UNAUTHORIZED
    );
    let cc = client_grant(&app, &own).await;
    assert_eq!(cc.status, StatusCode::UNAUTHORIZED, "{}", cc.body);
    assert_eq!(cc.body["error"], "invalid_client");
    let through_client = basic(
        &app,
        &own.client_id,
        &own.secret,
        &[
            ("grant_type", "password"),
            ("username", "ann@acme.io"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(
        through_client.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        through_client.body
    );
    let direct = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", "ann@acme.io"),
            ("password", PASSWORD),
        ])
        .await;
    assert_eq!(direct.status, StatusCode::BAD_REQUEST, "{}", direct.body);
    let refreshed = app
        .token_request(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    assert_eq!(
        refreshed.status,
        StatusCode::BAD_REQUEST,
        "{}",
        refreshed.body
    );
    // The session is in the revocation feed, for verifiers that never call Warden.
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let feed = TestApp::read(
        app.client
            .get(app.url(&format!("/v1/revocations?since={feed_cursor}")))
            .basic_auth(&global.client_id, Some(&global.secret))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let sid = crate::helpers::claims(&access)["sid"].clone();
    assert!(
        feed.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["sid"] == sid),
        "{}",
        feed.body
    );

    // Enabling the account again revives nothing issued before.
    set_status(&app, &acme, "active").await;
    for token in [&access, &refresh, &client_token] {
        assert_eq!(
            introspect(&app, &global, token).await.body,
            json!({"active": false})
        );
    }
    assert_eq!(
        app.get("/v1/users/me", &access).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/v1/users/me", &client_token).await.status,
        StatusCode::UNAUTHORIZED,
        "a client's own token from before the disabling stays dead"
    );
    assert_eq!(
        app.get("/v1/users/me", &api_key).await.status,
        StatusCode::UNAUTHORIZED,
        "an API key made before the disabling stays dead"
    );
    let refreshed = app
        .token_request(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    assert_eq!(refreshed.status, StatusCode::BAD_REQUEST);
    // New credentials work again once `iat` lies past the disabling and its two-second margin.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let cc = client_grant(&app, &own).await;
    assert_eq!(cc.status, StatusCode::OK, "{}", cc.body);
    assert_eq!(
        introspect(&app, &global, &text(&cc.body, "access_token"))
            .await
            .body["active"],
        true
    );
    let fresh = app.login("ann@acme.io", PASSWORD).await;
    assert_eq!(introspect(&app, &global, &fresh).await.body["active"], true);
}

async fn an_account_disabled_while_a_login_is_in_flight_keeps_no_session(backend: Backend) {
    // A costlier hash keeps logins in flight while the disabling commits.
    let app = TestApp::spawn_with(backend, RACE_SETTINGS).await;
    let acme = app.create_account("acme").await;
    let bo = app.create_user("bo@acme.io", Some(&acme)).await;
    let form = [
        ("grant_type", "password"),
        ("username", "bo@acme.io"),
        ("password", PASSWORD),
    ];
    let (app, form) = (&app, &form);
    let logins = futures_util::future::join_all((0..5u64).map(|i| async move {
        tokio::time::sleep(Duration::from_millis(i * 4)).await;
        app.token_request(form).await
    }));
    let disable = async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        set_status(app, &acme, "disabled").await;
    };
    let (logins, ()) = tokio::join!(logins, disable);
    // Enabled again, the account must hold no session opened while the disabling ran: each
    // login either committed first (and its session was ended) or saw the account disabled.
    set_status(app, &acme, "active").await;
    let sessions = app
        .get(&format!("/v1/users/{bo}/sessions"), &app.admin_token)
        .await;
    assert_eq!(sessions.body["items"], json!([]), "{}", sessions.body);
    for login in logins.iter().filter(|l| l.status == StatusCode::OK) {
        let refresh = text(&login.body, "refresh_token");
        let refreshed = app
            .token_request(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
            .await;
        assert_eq!(
            refreshed.status,
            StatusCode::BAD_REQUEST,
            "{}",
            refreshed.body
        );
    }
}

async fn a_member_removed_while_a_login_is_in_flight_keeps_no_session(backend: Backend) {
    let app = TestApp::spawn_with(backend, RACE_SETTINGS).await;
    let acme = app.create_account("acme").await;
    let cy = app.create_user("cy@acme.io", Some(&acme)).await;
    let form = [
        ("grant_type", "password"),
        ("username", "cy@acme.io"),
        ("password", PASSWORD),
        ("account", "acme"),
    ];
    let (app, form) = (&app, &form);
    let logins = futures_util::future::join_all((0..5u64).map(|i| async move {
        tokio::time::sleep(Duration::from_millis(i * 4)).await;
        app.token_request(form).await
    }));
    let remove = async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let reply = app
            .delete(
                &format!("/v1/accounts/{acme}/members/{cy}"),
                &app.admin_token,
            )
            .await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    };
    let (logins, ()) = tokio::join!(logins, remove);
    // Each login committed before the removal (which ended its session) or saw it.
    let sessions = app
        .get(&format!("/v1/users/{cy}/sessions"), &app.admin_token)
        .await;
    assert_eq!(sessions.body["items"], json!([]), "{}", sessions.body);
    for login in logins.iter().filter(|l| l.status == StatusCode::OK) {
        let refresh = text(&login.body, "refresh_token");
        let refreshed = app
            .token_request(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
            .await;
        assert_eq!(
            refreshed.status,
            StatusCode::BAD_REQUEST,
            "{}",
            refreshed.body
        );
    }
}

crate::both!(
    a_member_removed_while_a_login_is_in_flight_keeps_no_session,
    a_disabled_accounts_credentials_are_dead_and_stay_dead,
    an_account_disabled_while_a_login_is_in_flight_keeps_no_session,
);
