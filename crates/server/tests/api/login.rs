//! `POST /oauth/token` with the password grant, the JWKS and the metadata.

use jsonwebtoken::{DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    jwt_part as decode_part, Backend, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD,
};

async fn a_login_returns_an_rfc6749_response_with_an_at_jwt_verifiable_through_the_jwks(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let account = app.create_account("acme").await;
    let user = app.create_user("alice@acme.io", Some(&account)).await;
    let editor = app
        .create_role("editor", Some(&account), &["documents:edit"], &[])
        .await;
    app.grant(&user, &editor, Some(&account)).await;

    let reply = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", "alice@acme.io"),
            ("password", PASSWORD),
        ])
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.header("cache-control"), "no-store");
    assert_eq!(reply.body["token_type"], "Bearer");
    assert_eq!(reply.body["expires_in"], 900);
    let token = reply.body["access_token"].as_str().unwrap();

    let header = decode_part(token, 0);
    assert_eq!(header["typ"], "at+jwt");
    // ES256 by default: every JOSE library accepts it without configuration.
    assert_eq!(header["alg"], "ES256");
    // Verify independently: the public key comes only from the published JWKS.
    let jwks: Value = app.get_json("/.well-known/jwks.json").await;
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("kid published");
    assert!(jwk.get("d").is_none(), "private member published");
    assert_eq!(jwk["use"], "sig");
    assert_eq!(jwk["kty"], "EC");
    assert_eq!(jwk["crv"], "P-256");
    let key =
        DecodingKey::from_ec_components(jwk["x"].as_str().unwrap(), jwk["y"].as_str().unwrap())
            .unwrap();
    let mut validation = Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_issuer(&[&app.base]);
    validation.set_audience(&["warden"]);
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .expect("verifies with the JWKS")
        .claims;
    assert_eq!(claims["sub"], user);
    assert_eq!(claims["acct"], account);
    assert_eq!(claims["roles"], json!(["editor"]));
    assert_eq!(claims["client_id"], "warden");
    assert!(claims["sid"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(claims["jti"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
}

async fn the_form_fastapi_sends_is_accepted_as_is(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // OAuth2PasswordRequestForm sends empty scope, client_id and client_secret fields.
    let body = format!(
        "grant_type=password&username={}&password={}&scope=&client_id=&client_secret=",
        "admin%40example.com", ADMIN_PASSWORD
    );
    let response = app
        .client
        .post(app.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let reply = TestApp::read(response).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.body.get("scope").is_none());
}

async fn json_bodies_and_usernames_in_any_case_log_in_too(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let reply = app
        .post(
            "/v1/users",
            &app.admin_token,
            json!({"email": "bob@x.io", "username": "Bob", "password": PASSWORD}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let response = app
        .client
        .post(app.url("/oauth/token"))
        .json(&json!({"grant_type": "password", "username": "ＢＯＢ", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    app.login("BOB@X.IO", PASSWORD).await;
}

async fn unknown_user_wrong_password_and_disabled_user_get_the_same_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let carol = app.create_user("carol@x.io", None).await;
    let dave = app.create_user("dave@x.io", None).await;
    let reply = app
        .patch(
            &format!("/v1/users/{dave}"),
            &app.admin_token,
            json!({"status": "disabled"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let _ = carol;
    let mut answers = Vec::new();
    for (user, password) in [
        ("nobody@x.io", PASSWORD),
        ("carol@x.io", "wrong password!"),
        ("dave@x.io", PASSWORD),
    ] {
        let reply = app
            .token_request(&[
                ("grant_type", "password"),
                ("username", user),
                ("password", password),
            ])
            .await;
        answers.push((reply.status, reply.body.clone()));
    }
    assert_eq!(answers[0].0, StatusCode::BAD_REQUEST);
    assert_eq!(answers[0].1["error"], "invalid_grant");
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
}

async fn malformed_token_requests_get_rfc6749_errors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    type Case<'a> = (Vec<(&'a str, &'a str)>, StatusCode, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![("username", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            vec![("grant_type", "password"), ("username", ADMIN_EMAIL)],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            // Warden's own client signs in with the password grant, never with a code.
            vec![("grant_type", "authorization_code"), ("code", "x")],
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
        ),
        (
            vec![("grant_type", "implicit")],
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("grant_type", "password"),
                ("username", ADMIN_EMAIL),
                ("password", ADMIN_PASSWORD),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("username", ADMIN_EMAIL),
                ("password", ADMIN_PASSWORD),
                ("client_id", "nope"),
            ],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("username", ADMIN_EMAIL),
                ("password", ADMIN_PASSWORD),
                ("scope", "not_a_role"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
    ];
    for (form, status, error) in cases {
        let reply = app.token_request(&form).await;
        assert_eq!(
            (reply.status, reply.body["error"].as_str()),
            (status, Some(error)),
            "{form:?}: {}",
            reply.body
        );
        assert_eq!(reply.header("cache-control"), "no-store");
        if error == "invalid_client" {
            assert!(reply.header("www-authenticate").starts_with("Basic"));
        }
    }
    let plain = app
        .client
        .post(app.url("/oauth/token"))
        .header("content-type", "text/plain")
        .body("grant_type=password")
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::BAD_REQUEST);
    let huge = "x".repeat(2 * 1024 * 1024);
    let request = reqwest::Client::new()
        .post(app.url("/oauth/token"))
        .form(&[("grant_type", "password"), ("password", huge.as_str())]);
    let status = app.send_oversized(request).await;
    assert!(
        matches!(status, None | Some(StatusCode::PAYLOAD_TOO_LARGE)),
        "{status:?}"
    );
    let long = "y".repeat(5000);
    let long = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", ADMIN_EMAIL),
            ("password", &long),
        ])
        .await;
    assert_eq!(long.body["error"], "invalid_grant");
}

async fn a_user_of_several_accounts_names_one_and_only_their_own(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let globex = app.create_account("globex").await;
    let initech = app.create_account("initech").await;
    let user = app.create_user("erin@x.io", Some(&acme)).await;
    let reply = app
        .post(
            &format!("/v1/accounts/{globex}/members"),
            &app.admin_token,
            json!({"user_id": user}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);

    let ambiguous = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", "erin@x.io"),
            ("password", PASSWORD),
        ])
        .await;
    assert_eq!(ambiguous.body["error"], "invalid_request");
    let by_name = app.login_to("erin@x.io", PASSWORD, Some("globex")).await;
    assert_eq!(decode_part(&by_name, 1)["acct"], globex.as_str());
    let by_id = app.login_to("erin@x.io", PASSWORD, Some(&acme)).await;
    assert_eq!(decode_part(&by_id, 1)["acct"], acme.as_str());
    let foreign = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", "erin@x.io"),
            ("password", PASSWORD),
            ("account", &initech),
        ])
        .await;
    assert_eq!(foreign.body["error"], "invalid_grant");
}

async fn scope_narrows_the_token_to_some_of_the_users_roles(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let user = app.create_user("frank@x.io", Some(&acme)).await;
    let viewer = app
        .create_role("viewer", Some(&acme), &["documents:read"], &[])
        .await;
    let editor = app
        .create_role("editor", Some(&acme), &["documents:edit"], &["viewer"])
        .await;
    let _ = viewer;
    app.grant(&user, &editor, Some(&acme)).await;
    let full = app.login("frank@x.io", PASSWORD).await;
    assert_eq!(
        decode_part(&full, 1)["roles"],
        json!(["editor", "viewer"]),
        "inherited roles are effective"
    );
    let narrow = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", "frank@x.io"),
            ("password", PASSWORD),
            ("scope", "viewer"),
        ])
        .await;
    assert_eq!(narrow.body["scope"], "viewer");
    let token = narrow.body["access_token"].as_str().unwrap();
    assert_eq!(decode_part(token, 1)["roles"], json!(["viewer"]));
}

async fn a_narrowed_token_keeps_what_its_roles_inherit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let user = app.create_user("gus@x.io", Some(&acme)).await;
    app.create_role("viewer", Some(&acme), &["documents:read"], &[])
        .await;
    let editor = app
        .create_role("editor", Some(&acme), &["documents:edit"], &["viewer"])
        .await;
    app.create_role("auditor", Some(&acme), &["logs:read"], &[])
        .await;
    let auditor = app.role_id("auditor").await;
    app.grant(&user, &editor, Some(&acme)).await;
    app.grant(&user, &auditor, Some(&acme)).await;
    let narrow = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", "gus@x.io"),
            ("password", PASSWORD),
            ("scope", "editor"),
        ])
        .await;
    assert_eq!(narrow.status, StatusCode::OK, "{}", narrow.body);
    assert_eq!(narrow.body["scope"], "editor");
    let token = narrow.body["access_token"].as_str().unwrap();
    assert_eq!(
        decode_part(token, 1)["roles"],
        json!(["editor", "viewer"]),
        "a service checking `viewer` accepts an editor, narrowed or not"
    );
    // Refreshing keeps the closure, and may narrow further to an inherited role, never wider.
    let refresh = narrow.body["refresh_token"].as_str().unwrap();
    let refreshed = app
        .token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("scope", "viewer"),
        ])
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    let token = refreshed.body["access_token"].as_str().unwrap();
    assert_eq!(decode_part(token, 1)["roles"], json!(["viewer"]));
    let wider = app
        .token_request(&[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                refreshed.body["refresh_token"].as_str().unwrap(),
            ),
            ("scope", "auditor"),
        ])
        .await;
    assert_eq!(wider.body["error"], "invalid_scope", "{}", wider.body);
}

async fn a_login_whose_writes_fail_leaves_nothing_half_written(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.create_user("hal@x.io", None).await;
    // Make the refresh token's insert fail, after the session's insert in the same login.
    let url = app.database_url();
    match backend {
        Backend::Sqlite => {
            warden_testkit::execute(&url, "CREATE TRIGGER refuse_refresh BEFORE INSERT ON refresh_tokens BEGIN SELECT RAISE(ABORT, 'injected failure'); END").await;
        }
        Backend::Postgres => {
            warden_testkit::execute(&url, "CREATE FUNCTION refuse_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$").await;
            warden_testkit::execute(&url, "CREATE TRIGGER refuse_refresh BEFORE INSERT ON refresh_tokens FOR EACH ROW EXECUTE FUNCTION refuse_insert()").await;
        }
    }
    let failed = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", "hal@x.io"),
            ("password", PASSWORD),
        ])
        .await;
    assert_eq!(
        failed.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        failed.body
    );
    assert!(
        !failed.body.to_string().contains("injected"),
        "no database text in answers"
    );
    let sessions = app
        .get(&format!("/v1/users/{user}/sessions"), &app.admin_token)
        .await;
    assert_eq!(
        sessions.body["items"],
        json!([]),
        "no session without its refresh token"
    );
    let record = app
        .get(&format!("/v1/users/{user}"), &app.admin_token)
        .await;
    assert_eq!(
        record.body["last_login_at"],
        Value::Null,
        "no half-recorded login"
    );
    let drop = match backend {
        Backend::Sqlite => "DROP TRIGGER refuse_refresh",
        Backend::Postgres => "DROP TRIGGER refuse_refresh ON refresh_tokens",
    };
    warden_testkit::execute(&url, drop).await;
    app.login("hal@x.io", PASSWORD).await;
}

async fn metadata_and_jwks_are_published_with_public_members_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let meta: Value = app
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(meta["issuer"], app.base.as_str());
    assert_eq!(meta["token_endpoint"], format!("{}/oauth/token", app.base));
    assert_eq!(
        meta["jwks_uri"],
        format!("{}/.well-known/jwks.json", app.base)
    );
    let jwks: Value = app.get_json("/.well-known/jwks.json").await;
    for key in jwks["keys"].as_array().unwrap() {
        assert_eq!(key["kty"], "EC");
        assert_eq!(key["alg"], "ES256");
        assert!(key.get("d").is_none());
    }
}

async fn a_global_role_alone_does_not_open_every_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    // A global support role that reads users everywhere, but is no member of acme.
    let support = app
        .create_role("support", None, &["warden.users:read"], &[])
        .await;
    let sam = app.create_user("sam@x.io", None).await;
    app.grant(&sam, &support, None).await;
    for account in ["acme", acme.as_str()] {
        let refused = app
            .token_request(&[
                ("grant_type", "password"),
                ("username", "sam@x.io"),
                ("password", PASSWORD),
                ("account", account),
            ])
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        assert_eq!(refused.body["error"], "invalid_grant");
    }
    // A global permission that explicitly spans accounts lets an operator in…
    let operator = app
        .create_role("operator", None, &["warden.accounts:enter"], &[])
        .await;
    app.grant(&sam, &operator, None).await;
    app.login_to("sam@x.io", PASSWORD, Some("acme")).await;
    // …as does the super admin's `*`, and membership, of course.
    app.login_to(
        crate::helpers::ADMIN_EMAIL,
        crate::helpers::ADMIN_PASSWORD,
        Some("acme"),
    )
    .await;
    app.create_user("mia@acme.io", Some(&acme)).await;
    app.login_to("mia@acme.io", PASSWORD, Some("acme")).await;
}

/// RFC 9068 §2.2.3 `scope`: the names of every role the token carries, so a resource
/// server's scope check (FastAPI's `Security(scopes=[..])`) works; `narrowed` marks a token
/// limited to some roles; `permissions` appears only when configured.
async fn tokens_carry_their_roles_as_scope_and_permissions_when_configured(backend: Backend) {
    for (permissions, extra) in [
        (false, vec![]),
        (true, vec![("WARDEN_TOKEN_PERMISSIONS", "true")]),
    ] {
        let app = TestApp::spawn_with(backend, &extra).await;
        let acme = app.create_account("acme").await;
        let user = app.create_user("hal@x.io", Some(&acme)).await;
        app.create_role("viewer", Some(&acme), &["documents:read"], &[])
            .await;
        let editor = app
            .create_role("editor", Some(&acme), &["documents:edit"], &["viewer"])
            .await;
        app.grant(&user, &editor, Some(&acme)).await;
        let full = decode_part(&app.login("hal@x.io", PASSWORD).await, 1);
        assert_eq!(full["scope"], "editor viewer");
        assert!(full.get("narrowed").is_none(), "{full}");
        let narrow = app
            .token_request(&[
                ("grant_type", "password"),
                ("username", "hal@x.io"),
                ("password", PASSWORD),
                ("scope", "viewer"),
            ])
            .await;
        let claims = decode_part(narrow.body["access_token"].as_str().unwrap(), 1);
        assert_eq!(claims["scope"], "viewer");
        assert_eq!(claims["narrowed"], true);
        if permissions {
            assert_eq!(
                full["permissions"],
                json!(["documents:edit", "documents:read"])
            );
            assert_eq!(claims["permissions"], json!(["documents:read"]));
        } else {
            assert!(full.get("permissions").is_none(), "{full}");
        }
        // The narrowed token still acts through `viewer` alone: editing is denied.
        let token = narrow.body["access_token"].as_str().unwrap();
        let check = app
            .post(
                "/v1/check",
                token,
                json!({"action": "documents:edit", "resource": {"type": "document", "id": "1"}}),
            )
            .await;
        assert_eq!(check.body["allowed"], false, "{}", check.body);
    }
}

crate::both!(
    tokens_carry_their_roles_as_scope_and_permissions_when_configured,
    a_global_role_alone_does_not_open_every_account,
    a_narrowed_token_keeps_what_its_roles_inherit,
    a_login_whose_writes_fail_leaves_nothing_half_written,
    a_login_returns_an_rfc6749_response_with_an_at_jwt_verifiable_through_the_jwks,
    the_form_fastapi_sends_is_accepted_as_is,
    json_bodies_and_usernames_in_any_case_log_in_too,
    unknown_user_wrong_password_and_disabled_user_get_the_same_answer,
    malformed_token_requests_get_rfc6749_errors,
    a_user_of_several_accounts_names_one_and_only_their_own,
    scope_narrows_the_token_to_some_of_the_users_roles,
    metadata_and_jwks_are_published_with_public_members_only,
);
