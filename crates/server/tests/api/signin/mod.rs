//! Browser sign-in (OpenID Connect): the authorization endpoint, the hosted pages, the code
//! grant with PKCE, the ID token, `/userinfo`, discovery, single sign-on and logout, and the
//! attacks on each: open redirects, code replay and injection, PKCE downgrade, CSRF, session
//! fixation and framing. A small cookie-keeping browser drives the pages.

mod attacks;
mod boundaries;
mod browser;
mod factors;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{claims, jwt_part, Backend, TestApp, PASSWORD};
use browser::{
    authorize_url, redeem, refresh, sign_in_for_code, web_client, Browser, BYE, VERIFIER,
};

async fn the_code_flow_signs_a_person_in_with_an_id_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.create_user("ann@x.io", None).await;
    let client = web_client(&app, json!({})).await;
    let mut browser = Browser::new();

    let page = browser.get(&authorize_url(&app, &client, &[])).await;
    assert!(page.is_login_page(), "{}", page.body);
    assert_eq!(page.headers["x-frame-options"], "DENY");
    assert!(page.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert!(page.body.contains("Notes"), "the client's name is shown");

    let wrong = browser
        .sign_in(&app, &page, "ann@x.io", "wrong password")
        .await;
    assert!(wrong.is_login_page());
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("incorrect"), "{}", wrong.body);
    let unknown = browser
        .sign_in(&app, &wrong, "nobody@x.io", "wrong password")
        .await;
    assert_eq!(
        unknown.status, wrong.status,
        "unknown and wrong answer alike"
    );
    assert!(!browser.cookies.contains_key("warden_session"));

    let consent = browser.sign_in(&app, &unknown, "ann@x.io", PASSWORD).await;
    assert!(consent.is_consent_page(), "{}", consent.body);
    assert!(consent.body.contains("See your email address"));
    let session_cookie = browser
        .cookies
        .get("warden_session")
        .cloned()
        .expect("session cookie");
    let done = browser.decide(&app, &consent, "allow").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let code = done.param("code").unwrap();
    assert_eq!(done.param("state").as_deref(), Some("st-1"));

    let tokens = redeem(&app, &client, &code, VERIFIER).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    assert_eq!(tokens.header("cache-control"), "no-store");
    let id_token = tokens.body["id_token"].as_str().unwrap();
    assert_eq!(jwt_part(id_token, 0)["typ"], "JWT");
    let id = claims(id_token);
    assert_eq!(id["iss"], app.base.as_str());
    assert_eq!(id["sub"], user.as_str());
    assert_eq!(id["aud"], client.client_id.as_str());
    assert_eq!(id["azp"], client.client_id.as_str());
    assert_eq!(id["nonce"], "n-1");
    assert_eq!(id["amr"], json!(["pwd"]));
    assert_eq!(id["email"], "ann@x.io");
    assert!(id["auth_time"].as_i64().unwrap() <= id["iat"].as_i64().unwrap());
    assert!(id["sid"].is_string());
    // The ID token is no access token.
    assert_eq!(
        app.get("/v1/users/me", id_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    let access = tokens.body["access_token"].as_str().unwrap();
    assert_eq!(claims(access)["client_id"], client.client_id.as_str());
    for method in [reqwest::Method::GET, reqwest::Method::POST] {
        let info = app
            .call(method, "/userinfo", Some(access), Value::Null)
            .await;
        assert_eq!(info.status, StatusCode::OK, "{}", info.body);
        assert_eq!(info.body["sub"], user.as_str());
        assert_eq!(info.body["email"], "ann@x.io");
    }
    let anonymous = app
        .call(reqwest::Method::GET, "/userinfo", None, Value::Null)
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert!(anonymous.header("www-authenticate").starts_with("Bearer"));

    let refreshed = refresh(
        &app,
        &client,
        tokens.body["refresh_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);

    // Single sign-on: the same browser, another authorization, no password and (consent
    // remembered) no question; the cookie stays.
    let again = browser.get(&authorize_url(&app, &client, &[])).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.body);
    assert!(again.param("code").is_some());
    assert_eq!(browser.cookies.get("warden_session"), Some(&session_cookie));

    // Discovery agrees with the RFC 8414 document and names every endpoint.
    let oidc = app.get_json("/.well-known/openid-configuration").await;
    let oauth = app
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(oidc, oauth);
    assert_eq!(
        oidc["authorization_endpoint"],
        app.url("/oauth/authorize").as_str()
    );
    assert_eq!(oidc["userinfo_endpoint"], app.url("/userinfo").as_str());
    assert_eq!(
        oidc["end_session_endpoint"],
        app.url("/oauth/logout").as_str()
    );
    assert_eq!(oidc["code_challenge_methods_supported"], json!(["S256"]));
}

async fn single_sign_on_prompt_and_max_age(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("sso@x.io", None).await;
    let first = web_client(&app, json!({ "first_party": true })).await;
    let second = web_client(
        &app,
        json!({ "client_type": "public", "first_party": true }),
    )
    .await;
    assert!(second.secret.is_none(), "a public client has no secret");
    let mut browser = Browser::new();

    // prompt=none without a browser session: back to the client, login_required.
    let none = browser
        .get(&authorize_url(&app, &first, &[("prompt", "none")]))
        .await;
    assert_eq!(none.param("error").as_deref(), Some("login_required"));
    assert_eq!(none.param("state").as_deref(), Some("st-1"));

    let code = sign_in_for_code(&app, &mut browser, &first, "sso@x.io").await;
    assert_eq!(
        redeem(&app, &first, &code, VERIFIER).await.status,
        StatusCode::OK
    );

    // The second (public) client signs in without a password, and without consent (first party).
    let silent = browser
        .get(&authorize_url(&app, &second, &[("prompt", "none")]))
        .await;
    let code = silent
        .param("code")
        .unwrap_or_else(|| panic!("{}", silent.location()));
    let tokens = redeem(&app, &second, &code, VERIFIER).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    assert!(
        tokens.body["refresh_token"].is_string(),
        "public clients refresh too"
    );
    let refreshed = refresh(
        &app,
        &second,
        tokens.body["refresh_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);

    // prompt=login and a max_age that has passed show the login page despite the session.
    let login = browser
        .get(&authorize_url(&app, &second, &[("prompt", "login")]))
        .await;
    assert!(login.is_login_page());
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let aged = browser
        .get(&authorize_url(&app, &second, &[("max_age", "0")]))
        .await;
    assert!(aged.is_login_page());
    // Signing in again there renews the session and the cookie, and the ID token says so.
    let before = browser.cookies["warden_session"].clone();
    let back = browser.sign_in(&app, &aged, "sso@x.io", PASSWORD).await;
    assert_ne!(browser.cookies["warden_session"], before);
    let tokens = redeem(&app, &second, &back.param("code").unwrap(), VERIFIER).await;
    let id = claims(tokens.body["id_token"].as_str().unwrap());
    assert!(id["auth_time"].as_i64().unwrap() >= id["iat"].as_i64().unwrap() - 2);

    // prompt=none for a client that needs consent: consent_required.
    let third = web_client(&app, json!({})).await;
    let needs = browser
        .get(&authorize_url(&app, &third, &[("prompt", "none")]))
        .await;
    assert_eq!(needs.param("error").as_deref(), Some("consent_required"));
    // A denial goes back as access_denied.
    let consent = browser.get(&authorize_url(&app, &third, &[])).await;
    let denied = browser.decide(&app, &consent, "deny").await;
    assert_eq!(denied.param("error").as_deref(), Some("access_denied"));
}

async fn logout_ends_the_browser_session_and_every_app_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("out@x.io", None).await;
    let a = web_client(&app, json!({ "first_party": true })).await;
    let b = web_client(
        &app,
        json!({ "first_party": true, "client_type": "public" }),
    )
    .await;
    let mut browser = Browser::new();
    let first = redeem(
        &app,
        &a,
        &sign_in_for_code(&app, &mut browser, &a, "out@x.io").await,
        VERIFIER,
    )
    .await;
    let second = redeem(
        &app,
        &b,
        &sign_in_for_code(&app, &mut browser, &b, "out@x.io").await,
        VERIFIER,
    )
    .await;
    let own = app.login("out@x.io", PASSWORD).await;
    // The browser session is listed among the person's sessions.
    let listed = app.get("/v1/users/me/sessions", &own).await;
    assert!(
        listed.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["client_id"] == "warden:browser"),
        "{}",
        listed.body
    );
    let id_token = first.body["id_token"].as_str().unwrap();

    // A post-logout URI the client did not register is refused with a page.
    let bad = browser
        .get(&format!(
            "{}?id_token_hint={id_token}&post_logout_redirect_uri=http%3A%2F%2Fevil.example%2F",
            app.url("/oauth/logout")
        ))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.location().is_empty());
    // Without a hint, Warden asks first.
    let ask = browser.get(&app.url("/oauth/logout")).await;
    assert!(
        ask.body.contains("action=\"/oauth/logout\""),
        "{}",
        ask.body
    );

    let out = browser
        .get(&format!(
            "{}?id_token_hint={id_token}&post_logout_redirect_uri={}&state=bye-1",
            app.url("/oauth/logout"),
            urlencode(BYE)
        ))
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.body);
    assert_eq!(out.location(), format!("{BYE}?state=bye-1"));
    assert!(!browser.cookies.contains_key("warden_session"));
    for (client, tokens) in [(&a, &first), (&b, &second)] {
        let again = refresh(&app, client, tokens.body["refresh_token"].as_str().unwrap()).await;
        assert_eq!(again.body["error"], "invalid_grant");
        let access = tokens.body["access_token"].as_str().unwrap();
        assert_eq!(
            app.get("/userinfo", access).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    // The person's own session from the password grant is untouched.
    assert_eq!(app.get("/v1/users/me", &own).await.status, StatusCode::OK);
    // The revocation feed lists the app sessions (once its settle delay has passed).
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let feed = app.get("/v1/revocations", &app.admin_token).await;
    let listed: Vec<&Value> = feed.body["items"]
        .as_array()
        .map(|i| i.iter().collect())
        .unwrap_or_default();
    for tokens in [&first, &second] {
        let sid = claims(tokens.body["access_token"].as_str().unwrap())["sid"].clone();
        assert!(
            listed.iter().any(|item| item["sid"] == sid),
            "{} not in {}",
            sid,
            feed.body
        );
    }
    // Signed out: the next authorization shows the login page.
    assert!(browser
        .get(&authorize_url(&app, &a, &[]))
        .await
        .is_login_page());
}

/// A logout racing the redemption of a code issued just before it: whichever comes first,
/// no session opened from the ended browser session survives.
async fn a_logout_racing_a_code_redemption_leaves_nothing_alive(backend: Backend) {
    let app = TestApp::spawn_with(backend, crate::helpers::RACE_SETTINGS).await;
    app.create_user("lr@x.io", None).await;
    let client = web_client(&app, json!({ "first_party": true })).await;
    for _ in 0..5 {
        let mut browser = Browser::new();
        let code = sign_in_for_code(&app, &mut browser, &client, "lr@x.io").await;
        let page = browser.get(&app.url("/oauth/logout")).await;
        let csrf = page.field("csrf");
        let cookies = browser.cookie_header();
        let logout = browser
            .http
            .post(app.url("/oauth/logout"))
            .header("cookie", cookies)
            .form(&[("csrf", csrf.as_str()), ("request", "")]);
        let (redeemed, out) = tokio::join!(redeem(&app, &client, &code, VERIFIER), logout.send());
        assert_eq!(out.unwrap().status(), StatusCode::OK);
        if redeemed.status == StatusCode::OK {
            let token = redeemed.body["refresh_token"].as_str().unwrap();
            assert_eq!(
                refresh(&app, &client, token).await.body["error"],
                "invalid_grant"
            );
        }
    }
}

/// The self-service session list shows the browser session; ending it there signs the
/// browser out of every application it signed in to.
async fn people_see_and_end_their_browser_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("self@x.io", None).await;
    let client = web_client(&app, json!({ "first_party": true })).await;
    let mut browser = Browser::new();
    let tokens = redeem(
        &app,
        &client,
        &sign_in_for_code(&app, &mut browser, &client, "self@x.io").await,
        VERIFIER,
    )
    .await;
    let access = tokens.body["access_token"].as_str().unwrap().to_owned();
    let listed = app.get("/v1/users/me/sessions", &access).await;
    let browser_session = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["client_id"] == "warden:browser")
        .unwrap_or_else(|| panic!("{}", listed.body))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ended = app
        .delete(&format!("/v1/users/me/sessions/{browser_session}"), &access)
        .await;
    assert_eq!(ended.status, StatusCode::NO_CONTENT, "{}", ended.body);
    assert_eq!(
        app.get("/userinfo", &access).await.status,
        StatusCode::UNAUTHORIZED
    );
    let again = refresh(
        &app,
        &client,
        tokens.body["refresh_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(again.body["error"], "invalid_grant");
    assert!(browser
        .get(&authorize_url(&app, &client, &[]))
        .await
        .is_login_page());
}

/// Consent is asked once per application and scope: remembered, asked again for more or with
/// `prompt=consent`, listed, and withdrawn (which ends the person's sessions of that app).
async fn consent_is_remembered_until_withdrawn(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.create_user("ok@x.io", None).await;
    let role = app
        .create_role("viewer_of_notes", None, &["notes:read"], &[])
        .await;
    app.grant(&user, &role, None).await;
    let client = web_client(&app, json!({})).await;
    let mut browser = Browser::new();
    let first = browser.get(&authorize_url(&app, &client, &[])).await;
    let consent = browser.sign_in(&app, &first, "ok@x.io", PASSWORD).await;
    assert!(consent.is_consent_page());
    let done = browser.decide(&app, &consent, "allow").await;
    let tokens = redeem(&app, &client, &done.param("code").unwrap(), VERIFIER).await;
    // The same scope again: no question, even with prompt=none.
    let silent = browser
        .get(&authorize_url(&app, &client, &[("prompt", "none")]))
        .await;
    assert!(silent.param("code").is_some(), "{}", silent.location());
    // More than was allowed (a role), or prompt=consent: asked again.
    let more = browser
        .get(&authorize_url(
            &app,
            &client,
            &[("scope", "openid email viewer_of_notes")],
        ))
        .await;
    assert!(more.is_consent_page(), "{}", more.body);
    assert!(more.body.contains("viewer_of_notes"));
    assert!(browser
        .get(&authorize_url(&app, &client, &[("prompt", "consent")]))
        .await
        .is_consent_page());
    // Listed, then withdrawn: the app's sessions end, and the next sign-in asks again.
    let own = app.login("ok@x.io", PASSWORD).await;
    let listed = app.get("/v1/users/me/consents", &own).await;
    assert_eq!(
        listed.body["items"][0]["client_id"],
        client.client_id.as_str(),
        "{}",
        listed.body
    );
    assert_eq!(listed.body["items"][0]["scope"], "openid profile email");
    let path = format!("/v1/users/me/consents/{}", client.client_id);
    assert_eq!(app.delete(&path, &own).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.delete(&path, &own).await.status, StatusCode::NOT_FOUND);
    let again = refresh(
        &app,
        &client,
        tokens.body["refresh_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(again.body["error"], "invalid_grant");
    let after = browser
        .get(&authorize_url(&app, &client, &[("prompt", "none")]))
        .await;
    assert_eq!(after.param("error").as_deref(), Some("consent_required"));
    // One person's consent is theirs alone.
    app.create_user("other@x.io", None).await;
    let mut other = Browser::new();
    let page = other.get(&authorize_url(&app, &client, &[])).await;
    assert!(other
        .sign_in(&app, &page, "other@x.io", PASSWORD)
        .await
        .is_consent_page());
}

/// Two tabs allowing an application different roles at once: both are remembered.
async fn consents_given_at_once_both_stay(backend: Backend) {
    let app = TestApp::spawn_with(backend, crate::helpers::RACE_SETTINGS).await;
    let user = app.create_user("tabs@x.io", None).await;
    for name in ["reader_role", "writer_role"] {
        let role = app.create_role(name, None, &["notes:read"], &[]).await;
        app.grant(&user, &role, None).await;
    }
    let client = web_client(&app, json!({})).await;
    let own = app.login("tabs@x.io", PASSWORD).await;
    for _ in 0..3 {
        let mut browser = Browser::new();
        let page = browser
            .get(&authorize_url(&app, &client, &[("scope", "openid")]))
            .await;
        let consent = browser.sign_in(&app, &page, "tabs@x.io", PASSWORD).await;
        browser.decide(&app, &consent, "allow").await;
        let a = browser
            .get(&authorize_url(
                &app,
                &client,
                &[("scope", "openid reader_role")],
            ))
            .await;
        let b = browser
            .get(&authorize_url(
                &app,
                &client,
                &[("scope", "openid writer_role")],
            ))
            .await;
        let mut other = Browser {
            http: browser.http.clone(),
            cookies: browser.cookies.clone(),
        };
        let (x, y) = tokio::join!(
            browser.decide(&app, &a, "allow"),
            other.decide(&app, &b, "allow")
        );
        assert!(x.param("code").is_some() && y.param("code").is_some());
        let listed = app.get("/v1/users/me/consents", &own).await;
        let scope = listed.body["items"][0]["scope"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            scope.contains("reader_role") && scope.contains("writer_role"),
            "{scope}"
        );
        let path = format!("/v1/users/me/consents/{}", client.client_id);
        app.delete(&path, &own).await;
    }
}

fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("v", text)]).unwrap()[2..].to_owned()
}

crate::both!(
    the_code_flow_signs_a_person_in_with_an_id_token,
    single_sign_on_prompt_and_max_age,
    logout_ends_the_browser_session_and_every_app_session,
    a_logout_racing_a_code_redemption_leaves_nothing_alive,
    people_see_and_end_their_browser_sessions,
    consent_is_remembered_until_withdrawn,
    consents_given_at_once_both_stay,
);
