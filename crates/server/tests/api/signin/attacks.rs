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

crate::both!(
    redirect_uri_tricks_are_never_followed,
    pkce_is_required_and_s256_only,
    a_replayed_code_revokes_what_it_issued,
    concurrent_presentations_of_one_code,
    forms_need_this_browsers_csrf_token,
    each_code_carries_its_own_requests_nonce,
);
