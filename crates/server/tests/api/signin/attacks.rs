//! The attacks on browser sign-in: open redirects and redirect-URI tricks, PKCE downgrade,
//! code replay (also at once) and injection, nonce binding, CSRF on every form, login CSRF and
//! session fixation.

use reqwest::StatusCode;
use serde_json::json;

use super::browser::{
    authorize_url, redeem, refresh, sign_in_for_code, web_client, Browser, WebClient, CALLBACK,
    CHALLENGE, VERIFIER,
};
use crate::helpers::{claims, Backend, TestApp, PASSWORD};

async fn redirect_uri_tricks_are_never_followed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = web_client(&app, json!({})).await;
    let mut browser = Browser::new();
    for bad in [
        "http://127.0.0.1:9/callback/../evil",
        "http://127.0.0.1:9/callbackx",
        "http://127.0.0.1:9/callback?x=1",
        "http://127.0.0.1:9/callback#frag",
        "http://evil@127.0.0.1:9/callback",
        "http://127.0.0.1:9/%63allback",
        "http://127.0.0.1:9/CALLBACK",
        "http://127.0.0.1:90/callback",
        "https://127.0.0.1:9/callback",
        "http://evil.example/callback",
        "",
    ] {
        let seen = browser
            .get(&authorize_url(&app, &client, &[("redirect_uri", bad)]))
            .await;
        assert_eq!(seen.status, StatusCode::BAD_REQUEST, "{bad}: {}", seen.body);
        assert!(
            seen.location().is_empty(),
            "{bad} redirected to {}",
            seen.location()
        );
        assert_eq!(seen.headers["x-frame-options"], "DENY");
    }
    // An unknown client, or none: an error page too.
    for client_id in ["wc_nobody", ""] {
        let seen = browser
            .get(&authorize_url(
                &app,
                &WebClient {
                    client_id: client_id.into(),
                    secret: None,
                },
                &[],
            ))
            .await;
        assert_eq!(seen.status, StatusCode::BAD_REQUEST);
        assert!(seen.location().is_empty());
    }
    // A repeated redirect_uri is refused outright.
    let url = format!(
        "{}&redirect_uri=http%3A%2F%2Fevil.example%2F",
        authorize_url(&app, &client, &[])
    );
    let seen = browser.get(&url).await;
    assert_eq!(seen.status, StatusCode::BAD_REQUEST);
    assert!(seen.location().is_empty());
    // Markup in a parameter never reaches the page as markup.
    let seen = browser
        .get(&authorize_url(
            &app,
            &client,
            &[("login_hint", "\"><script>alert(1)</script>")],
        ))
        .await;
    assert!(seen.is_login_page());
    assert!(!seen.body.contains("<script>"), "{}", seen.body);
}

async fn pkce_is_required_and_s256_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("pk@x.io", None).await;
    let client = web_client(&app, json!({ "first_party": true })).await;
    let mut browser = Browser::new();
    for (extra, why) in [
        (
            vec![
                ("code_challenge_method", "plain"),
                ("code_challenge", VERIFIER),
            ],
            "plain",
        ),
        (vec![("code_challenge", "")], "missing challenge"),
        (
            vec![("code_challenge_method", "")],
            "missing method (plain by default)",
        ),
        (vec![("code_challenge", "short")], "malformed challenge"),
        (vec![("response_type", "token")], "implicit"),
        (vec![("scope", "openid <script>")], "bad scope"),
    ] {
        let seen = browser.get(&authorize_url(&app, &client, &extra)).await;
        assert_eq!(seen.status, StatusCode::SEE_OTHER, "{why}: {}", seen.body);
        assert!(seen.location().starts_with(CALLBACK), "{why}");
        assert!(seen.param("error").is_some(), "{why}: {}", seen.location());
        assert!(seen.param("code").is_none(), "{why}");
        assert_eq!(seen.param("state").as_deref(), Some("st-1"));
    }
    let code = sign_in_for_code(&app, &mut browser, &client, "pk@x.io").await;
    let missing = redeem(&app, &client, &code, "").await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.body["error"], "invalid_grant");
    // The code was spent by that attempt: even the right verifier cannot use it now.
    assert_eq!(
        redeem(&app, &client, &code, VERIFIER).await.body["error"],
        "invalid_grant"
    );
    let code = sign_in_for_code(&app, &mut browser, &client, "pk@x.io").await;
    let wrong = redeem(
        &app,
        &client,
        &code,
        "wrong-verifier-wrong-verifier-wrong-verifier-x",
    )
    .await;
    assert_eq!(wrong.body["error"], "invalid_grant");
    // The verifier itself given as a plain challenge does not pass either.
    let code = sign_in_for_code(&app, &mut browser, &client, "pk@x.io").await;
    assert_eq!(
        redeem(&app, &client, &code, CHALLENGE).await.body["error"],
        "invalid_grant"
    );
    // A redirect URI other than the one the code went to.
    let code = sign_in_for_code(&app, &mut browser, &client, "pk@x.io").await;
    let other = app
        .token_request(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9/other"),
            ("code_verifier", VERIFIER),
            ("client_id", &client.client_id),
            ("client_secret", client.secret.as_deref().unwrap()),
        ])
        .await;
    assert_eq!(other.body["error"], "invalid_grant");
}

async fn a_replayed_code_revokes_what_it_issued(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("rp@x.io", None).await;
    let client = web_client(&app, json!({ "first_party": true })).await;
    let other = web_client(&app, json!({ "first_party": true })).await;
    let mut browser = Browser::new();
    let code = sign_in_for_code(&app, &mut browser, &client, "rp@x.io").await;
    let first = redeem(&app, &client, &code, VERIFIER).await;
    assert_eq!(first.status, StatusCode::OK);
    let access = first.body["access_token"].as_str().unwrap();
    assert_eq!(app.get("/userinfo", access).await.status, StatusCode::OK);
    let replay = redeem(&app, &client, &code, VERIFIER).await;
    assert_eq!(replay.body["error"], "invalid_grant");
    assert_eq!(
        app.get("/userinfo", access).await.status,
        StatusCode::UNAUTHORIZED
    );
    let refreshed = refresh(&app, &client, first.body["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refreshed.body["error"], "invalid_grant");

    // Code injection: a code sent to one client is refused to another, and is spent.
    let code = sign_in_for_code(&app, &mut browser, &client, "rp@x.io").await;
    assert_eq!(
        redeem(&app, &other, &code, VERIFIER).await.body["error"],
        "invalid_grant"
    );
    assert_eq!(
        redeem(&app, &client, &code, VERIFIER).await.body["error"],
        "invalid_grant"
    );
    // A confidential client's id alone does not authenticate it.
    let code = sign_in_for_code(&app, &mut browser, &client, "rp@x.io").await;
    let public = WebClient {
        client_id: client.client_id.clone(),
        secret: None,
    };
    assert_eq!(
        redeem(&app, &public, &code, VERIFIER).await.body["error"],
        "invalid_client"
    );
    // Warden's own client cannot redeem codes.
    let code = sign_in_for_code(&app, &mut browser, &client, "rp@x.io").await;
    let own = WebClient {
        client_id: "warden".into(),
        secret: None,
    };
    assert_eq!(
        redeem(&app, &own, &code, VERIFIER).await.body["error"],
        "unauthorized_client"
    );
}

/// Eight presentations of one code at once: at most one gets tokens, and since the others are
/// replays, whatever it got is revoked once all have answered.
async fn concurrent_presentations_of_one_code(backend: Backend) {
    let app = TestApp::spawn_with(backend, crate::helpers::RACE_SETTINGS).await;
    app.create_user("race@x.io", None).await;
    let client = web_client(&app, json!({ "first_party": true })).await;
    let mut browser = Browser::new();
    for _ in 0..5 {
        let code = sign_in_for_code(&app, &mut browser, &client, "race@x.io").await;
        let answers =
            futures_util::future::join_all((0..8).map(|_| redeem(&app, &client, &code, VERIFIER)))
                .await;
        let won: Vec<_> = answers
            .iter()
            .filter(|a| a.status == StatusCode::OK)
            .collect();
        assert!(won.len() <= 1, "{} winners", won.len());
        for winner in won {
            let token = winner.body["refresh_token"].as_str().unwrap();
            assert_eq!(
                refresh(&app, &client, token).await.body["error"],
                "invalid_grant"
            );
            let access = winner.body["access_token"].as_str().unwrap();
            assert_eq!(
                app.get("/userinfo", access).await.status,
                StatusCode::UNAUTHORIZED
            );
        }
    }
}

async fn forms_need_this_browsers_csrf_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("cs@x.io", None).await;
    let client = web_client(&app, json!({})).await;
    let mut browser = Browser::new();
    let page = browser.get(&authorize_url(&app, &client, &[])).await;
    let request = page.field("request");
    let csrf = page.field("csrf");
    // Login CSRF: no token, a made-up token, or another browser's token.
    let mut attacker = Browser::new();
    let theirs = attacker
        .get(&authorize_url(&app, &client, &[]))
        .await
        .field("csrf");
    for token in ["", "forged", theirs.as_str()] {
        let seen = browser
            .post(
                &app.url("/oauth/login"),
                &[
                    ("csrf", token),
                    ("request", &request),
                    ("username", "cs@x.io"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(seen.status, StatusCode::FORBIDDEN, "{token}: {}", seen.body);
        assert!(!browser.cookies.contains_key("warden_session"));
    }
    // A form posted without the CSRF cookie (from another site's page) is refused too.
    let mut cookieless = Browser::new();
    let seen = cookieless
        .post(
            &app.url("/oauth/login"),
            &[
                ("csrf", &csrf),
                ("request", &request),
                ("username", "cs@x.io"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(seen.status, StatusCode::FORBIDDEN);
    // Session fixation: a cookie planted before the login names nothing after it.
    browser
        .cookies
        .insert("warden_session".into(), "planted-by-attacker".into());
    let consent = browser.sign_in(&app, &page, "cs@x.io", PASSWORD).await;
    assert!(consent.is_consent_page());
    assert_ne!(browser.cookies["warden_session"], "planted-by-attacker");
    let set = consent.headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    // The consent and logout forms check the token as well.
    let request = consent.field("request");
    for (path, form) in [
        (
            "/oauth/consent",
            vec![
                ("csrf", "forged"),
                ("request", request.as_str()),
                ("decision", "allow"),
            ],
        ),
        ("/oauth/logout", vec![("csrf", "forged"), ("request", "")]),
    ] {
        let seen = browser.post(&app.url(path), &form).await;
        assert_eq!(seen.status, StatusCode::FORBIDDEN, "{path}");
        assert!(seen.location().is_empty());
    }
    // Still signed in: nothing above took effect.
    assert!(browser
        .get(&authorize_url(&app, &client, &[]))
        .await
        .is_consent_page());
}

/// Two authorizations in flight in one browser: each code carries its own request's nonce,
/// and a code answers only for the PKCE challenge of its own request.
async fn each_code_carries_its_own_requests_nonce(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("nonce@x.io", None).await;
    let client = web_client(&app, json!({ "first_party": true })).await;
    let mut browser = Browser::new();
    sign_in_for_code(&app, &mut browser, &client, "nonce@x.io").await;
    let other_verifier = "another-verifier-another-verifier-another-verifier";
    let other_challenge = {
        use base64::Engine;
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, other_verifier.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
    };
    let first = browser
        .get(&authorize_url(&app, &client, &[("nonce", "first-nonce")]))
        .await;
    let second = browser
        .get(&authorize_url(
            &app,
            &client,
            &[
                ("nonce", "second-nonce"),
                ("code_challenge", &other_challenge),
            ],
        ))
        .await;
    let (first, second) = (first.param("code").unwrap(), second.param("code").unwrap());
    // Swapped verifiers fail (and spend the codes), so start again for the real exchange.
    assert_eq!(
        redeem(&app, &client, &second, VERIFIER).await.body["error"],
        "invalid_grant"
    );
    let one = redeem(&app, &client, &first, VERIFIER).await;
    assert_eq!(
        claims(one.body["id_token"].as_str().unwrap())["nonce"],
        "first-nonce"
    );
    let third = browser
        .get(&authorize_url(
            &app,
            &client,
            &[
                ("nonce", "second-nonce"),
                ("code_challenge", &other_challenge),
            ],
        ))
        .await;
    let two = redeem(&app, &client, &third.param("code").unwrap(), other_verifier).await;
    assert_eq!(
        claims(two.body["id_token"].as_str().unwrap())["nonce"],
        "second-nonce"
    );
    // No nonce asked, none given.
    let none = browser
        .get(&authorize_url(&app, &client, &[("nonce", "")]))
        .await;
    let three = redeem(&app, &client, &none.param("code").unwrap(), VERIFIER).await;
    assert!(claims(three.body["id_token"].as_str().unwrap())
        .get("nonce")
        .is_none());
}

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
    assert_eq!(app.get("/userinfo", access).await.status, StatusCode::OK);
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

crate::both!(
    over_https_the_cookies_are_host_only,
    protocol_corners,
    a_third_party_app_gets_only_what_was_allowed,
    an_accounts_app_signs_in_to_its_account_only,
    prompt_login_is_not_skipped_through_the_consent_form,
    logout_by_hint_without_the_cookie_ends_the_sessions,
    redirect_uri_tricks_are_never_followed,
    pkce_is_required_and_s256_only,
    a_replayed_code_revokes_what_it_issued,
    concurrent_presentations_of_one_code,
    forms_need_this_browsers_csrf_token,
    each_code_carries_its_own_requests_nonce,
);
