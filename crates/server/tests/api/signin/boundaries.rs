//! What an application gets and where its reach ends: a third-party app's tokens carry only
//! what the person allowed, an account's app stays in its account, the consent form cannot
//! skip a fresh login, logout by hint alone, the cookies over https, and the protocol's corners
//! (forms for the authorization and end-session endpoints, repeats, encodings, `prompt`).

use reqwest::StatusCode;
use serde_json::json;

use super::browser::{
    authorize_url, redeem, refresh, sign_in_for_code, web_client, Browser, VERIFIER,
};
use crate::helpers::{claims, Backend, TestApp, PASSWORD};

/// A third-party application gets what the person allowed it, nothing more: its tokens carry
/// only the roles it asked for by name, and never manage the person's account on Warden.
async fn a_third_party_app_gets_only_what_was_allowed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = web_client(&app, json!({})).await;
    let mut browser = Browser::new();
    // The super admin signs in to a third-party app asking only who they are.
    let page = browser
        .get(&authorize_url(&app, &client, &[("scope", "openid")]))
        .await;
    let consent = browser
        .sign_in(
            &app,
            &page,
            crate::helpers::ADMIN_EMAIL,
            crate::helpers::ADMIN_PASSWORD,
        )
        .await;
    let done = browser.decide(&app, &consent, "allow").await;
    let tokens = redeem(&app, &client, &done.param("code").unwrap(), VERIFIER).await;
    let access = tokens.body["access_token"].as_str().unwrap();
    assert_eq!(claims(access)["roles"], json!([]), "no role was allowed");
    let info = app.get("/userinfo", access).await;
    assert_eq!(info.status, StatusCode::OK);
    assert!(
        info.body.get("email").is_none(),
        "no email scope, no email: {}",
        info.body
    );
    assert_eq!(
        app.get("/v1/users/me", access).await.status,
        StatusCode::FORBIDDEN
    );
    // Nor by its own id.
    let own = claims(access)["sub"].as_str().unwrap().to_owned();
    for path in [
        format!("/v1/users/{own}"),
        format!("/v1/users/{own}/permissions"),
    ] {
        assert_eq!(
            app.get(&path, access).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    assert_eq!(
        app.get("/v1/users", access).await.status,
        StatusCode::FORBIDDEN
    );
    for (path, body) in [
        ("/v1/users/me/totp", serde_json::Value::Null),
        ("/v1/api-keys", json!({ "name": "exfiltrate" })),
    ] {
        let reply = app.post(path, access, body).await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{path}: {}",
            reply.body
        );
    }
    assert_eq!(
        app.get("/v1/users/me/sessions", access).await.status,
        StatusCode::FORBIDDEN
    );
    // Asked by name and allowed, a role is carried.
    let page = browser
        .get(&authorize_url(
            &app,
            &client,
            &[("scope", "openid super_admin")],
        ))
        .await;
    assert!(
        page.body.contains("super_admin"),
        "the consent page names the role"
    );
    let done = browser.decide(&app, &page, "allow").await;
    let tokens = redeem(&app, &client, &done.param("code").unwrap(), VERIFIER).await;
    assert_eq!(
        claims(tokens.body["access_token"].as_str().unwrap())["roles"],
        json!(["super_admin"])
    );
}

/// An application that belongs to an account signs people in to that account only.
async fn an_accounts_app_signs_in_to_its_account_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let x = app.create_account("tenant-x").await;
    let y = app.create_account("tenant-y").await;
    app.create_user("inx@x.io", Some(&x)).await;
    let bob = app.create_user("bob@y.io", Some(&y)).await;
    app.post(
        &format!("/v1/accounts/{x}/members"),
        &app.admin_token,
        json!({ "user_id": bob }),
    )
    .await;
    let client = web_client(&app, json!({ "account_id": x, "first_party": false })).await;
    let mut browser = Browser::new();
    let page = browser.get(&authorize_url(&app, &client, &[])).await;
    let consent = browser.sign_in(&app, &page, "bob@y.io", PASSWORD).await;
    let done = browser.decide(&app, &consent, "allow").await;
    let tokens = redeem(&app, &client, &done.param("code").unwrap(), VERIFIER).await;
    assert_eq!(
        claims(tokens.body["access_token"].as_str().unwrap())["acct"],
        x.as_str()
    );
    // Asking for the other account the person belongs to is refused.
    let other = browser
        .get(&authorize_url(&app, &client, &[("account", &y)]))
        .await;
    let other = if other.is_consent_page() {
        browser.decide(&app, &other, "allow").await
    } else {
        other
    };
    assert_eq!(
        other.param("error").as_deref(),
        Some("access_denied"),
        "{}",
        other.location()
    );
    // Someone outside the app's account gets nothing from it.
    let mut outsider = Browser::new();
    app.create_user("iny@y.io", Some(&y)).await;
    let page = outsider.get(&authorize_url(&app, &client, &[])).await;
    let consent = outsider.sign_in(&app, &page, "iny@y.io", PASSWORD).await;
    let denied = if consent.is_consent_page() {
        outsider.decide(&app, &consent, "allow").await
    } else {
        consent
    };
    assert_eq!(
        denied.param("error").as_deref(),
        Some("access_denied"),
        "{}",
        denied.location()
    );
}

/// `prompt=login` and `max_age` cannot be skipped by posting the login page's fields to the
/// consent form; a `{{…}}` in `state` comes back as sent.
async fn prompt_login_is_not_skipped_through_the_consent_form(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("fresh@x.io", None).await;
    let client = web_client(&app, json!({})).await;
    let mut browser = Browser::new();
    sign_in_for_code(&app, &mut browser, &client, "fresh@x.io").await;
    // A second passes, so the sign-in is older than `max_age=0`.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    for extra in [("prompt", "login"), ("max_age", "0")] {
        let login = browser.get(&authorize_url(&app, &client, &[extra])).await;
        assert!(login.is_login_page());
        let forged = browser
            .post(
                &app.url("/oauth/consent"),
                &[
                    ("csrf", &login.field("csrf")),
                    ("request", &login.field("request")),
                    ("decision", "allow"),
                ],
            )
            .await;
        assert_eq!(
            forged.status,
            StatusCode::BAD_REQUEST,
            "{extra:?}: {}",
            forged.body
        );
        assert!(forged.location().is_empty());
    }
    let odd = browser
        .get(&authorize_url(
            &app,
            &client,
            &[("state", "X{{user}}{{csrf}}Y")],
        ))
        .await;
    assert_eq!(
        odd.param("state").as_deref(),
        Some("X{{user}}{{csrf}}Y"),
        "{}",
        odd.location()
    );
}

/// RP-initiated logout from a browser that lost its cookie still ends what the sign-in opened.
async fn logout_by_hint_without_the_cookie_ends_the_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("lost@x.io", None).await;
    let client = web_client(&app, json!({ "first_party": true })).await;
    let mut browser = Browser::new();
    let code = sign_in_for_code(&app, &mut browser, &client, "lost@x.io").await;
    let tokens = redeem(&app, &client, &code, VERIFIER).await;
    let hint = tokens.body["id_token"].as_str().unwrap();
    let mut cookieless = Browser::new();
    let out = cookieless
        .get(&format!(
            "{}?id_token_hint={hint}",
            app.url("/oauth/logout")
        ))
        .await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.body);
    let again = refresh(
        &app,
        &client,
        tokens.body["refresh_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(again.body["error"], "invalid_grant");
}

/// The protocol's corners: the authorization request and RP-initiated logout sent as forms, a
/// repeated `client_id` behind another repeated parameter, `prompt=none` with another value, a
/// non-UTF-8 `state`, and an account's address allow-list answering like a wrong password.
async fn protocol_corners(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let walled = app.create_account("walled").await;
    app.patch(
        &format!("/v1/accounts/{walled}"),
        &app.admin_token,
        json!({ "allowed_ips": ["10.0.0.0/8"] }),
    )
    .await;
    app.create_user("wall@x.io", Some(&walled)).await;
    app.create_user("corner@x.io", None).await;
    let client = web_client(&app, json!({ "first_party": true })).await;
    let other = web_client(&app, json!({ "first_party": true })).await;
    let mut browser = Browser::new();
    let page = browser.get(&authorize_url(&app, &client, &[])).await;
    let right = browser.sign_in(&app, &page, "wall@x.io", PASSWORD).await;
    let wrong = browser
        .sign_in(&app, &page, "wall@x.io", "not the password")
        .await;
    assert_eq!(right.status, wrong.status, "{}", right.body);
    assert!(right.is_login_page() && right.body.contains("incorrect"));
    assert!(!browser.cookies.contains_key("warden_session"));

    let url = authorize_url(&app, &client, &[]);
    let form = url.split_once('?').unwrap().1.to_owned();
    let posted = browser
        .http
        .post(app.url("/oauth/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::OK);
    assert!(posted
        .text()
        .await
        .unwrap()
        .contains("action=\"/oauth/login\""));
    let repeated = format!(
        "{}&state=2&client_id={}&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback",
        authorize_url(&app, &client, &[]),
        other.client_id
    );
    let seen = browser.get(&repeated).await;
    assert_eq!(seen.status, StatusCode::BAD_REQUEST);
    assert!(seen.location().is_empty());
    let lossy = browser
        .get(&format!(
            "{}&state=%ff",
            authorize_url(&app, &client, &[("state", "")])
        ))
        .await;
    assert_eq!(lossy.status, StatusCode::BAD_REQUEST);

    let code = sign_in_for_code(&app, &mut browser, &client, "corner@x.io").await;
    let none_and = browser
        .get(&authorize_url(
            &app,
            &client,
            &[("prompt", "none select_account")],
        ))
        .await;
    assert_eq!(none_and.param("error").as_deref(), Some("invalid_request"));
    let tokens = redeem(&app, &client, &code, VERIFIER).await;
    let hint = tokens.body["id_token"].as_str().unwrap().to_owned();
    let out = browser
        .post(
            &app.url("/oauth/logout"),
            &[
                ("id_token_hint", hint.as_str()),
                ("post_logout_redirect_uri", super::browser::BYE),
                ("state", "s-9"),
            ],
        )
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.body);
    assert_eq!(out.location(), format!("{}?state=s-9", super::browser::BYE));
    let again = refresh(
        &app,
        &client,
        tokens.body["refresh_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(again.body["error"], "invalid_grant");
}

/// Served over https, the cookies are `__Host-` cookies: `Secure`, `Path=/`, this host only,
/// so a sibling subdomain cannot plant one.
async fn over_https_the_cookies_are_host_only(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("WARDEN_ISSUER", "https://auth.example.test")]).await;
    app.create_user("tls@x.io", None).await;
    let client = web_client(&app, json!({ "first_party": true })).await;
    let mut browser = Browser::new();
    let page = browser.get(&authorize_url(&app, &client, &[])).await;
    let set = page.headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set.starts_with("__Host-warden_csrf=") && set.contains("Path=/;") && set.contains("Secure"),
        "{set}"
    );
    // A cookie without the prefix (what a sibling subdomain could set) is not this browser's.
    let csrf_value = browser.cookies.get("__Host-warden_csrf").cloned().unwrap();
    let mut planted = Browser::new();
    planted.cookies.insert("warden_csrf".into(), csrf_value);
    let refused = planted
        .post(
            &app.url("/oauth/login"),
            &[
                ("csrf", &page.field("csrf")),
                ("request", &page.field("request")),
                ("username", "tls@x.io"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let done = browser.sign_in(&app, &page, "tls@x.io", PASSWORD).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let session = done
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("__Host-warden_session="))
        .expect("the session cookie");
    assert!(
        session.contains("Secure") && session.contains("Path=/;") && session.contains("HttpOnly"),
        "{session}"
    );
    assert_eq!(
        done.param("iss").as_deref(),
        Some("https://auth.example.test")
    );
}

/// An application that stops being third-party (its redirect URIs removed) or is deleted: the
/// sessions people opened through it end, so its tokens never gain what it was not allowed.
async fn a_changed_or_deleted_app_ends_what_it_was_given(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("gone@x.io", None).await;
    for change in ["patch", "delete"] {
        let reply = app
            .post(
                "/v1/clients",
                &app.admin_token,
                json!({ "name": "Leaving", "redirect_uris": [super::browser::CALLBACK], "client_type": "public" }),
            )
            .await;
        let key = reply.body["id"].as_str().unwrap().to_owned();
        let client = super::browser::WebClient {
            client_id: reply.body["client_id"].as_str().unwrap().to_owned(),
            secret: None,
        };
        let mut browser = Browser::new();
        let page = browser.get(&authorize_url(&app, &client, &[])).await;
        let consent = browser.sign_in(&app, &page, "gone@x.io", PASSWORD).await;
        let done = browser.decide(&app, &consent, "allow").await;
        let tokens = redeem(&app, &client, &done.param("code").unwrap(), VERIFIER).await;
        let access = tokens.body["access_token"].as_str().unwrap().to_owned();
        assert_eq!(
            app.get("/v1/users/me", &access).await.status,
            StatusCode::FORBIDDEN
        );
        let path = format!("/v1/clients/{key}");
        let answer = if change == "patch" {
            app.patch(
                &path,
                &app.admin_token,
                json!({ "redirect_uris": [], "grant_types": ["refresh_token"] }),
            )
            .await
        } else {
            app.delete(&path, &app.admin_token).await
        };
        assert!(answer.status.is_success(), "{change}: {}", answer.body);
        assert_eq!(
            app.get("/v1/users/me", &access).await.status,
            StatusCode::UNAUTHORIZED,
            "{change}"
        );
        let key_reply = app
            .post("/v1/api-keys", &access, json!({ "name": "k" }))
            .await;
        assert_eq!(key_reply.status, StatusCode::UNAUTHORIZED, "{change}");
        let again = refresh(
            &app,
            &client,
            tokens.body["refresh_token"].as_str().unwrap(),
        )
        .await;
        assert_ne!(again.status, StatusCode::OK, "{change}: {}", again.body);
    }
}

crate::both!(
    a_changed_or_deleted_app_ends_what_it_was_given,
    a_third_party_app_gets_only_what_was_allowed,
    an_accounts_app_signs_in_to_its_account_only,
    prompt_login_is_not_skipped_through_the_consent_form,
    logout_by_hint_without_the_cookie_ends_the_sessions,
    protocol_corners,
    over_https_the_cookies_are_host_only,
);
