//! TOTP second factors: enrolment through the API and through the hosted pages, sign-in with
//! a code or a recovery code, no code accepted twice (even at once), the lock on guesses, the
//! password grant's refusal, account policy, and an administrator's reset.

use reqwest::StatusCode;
use serde_json::{json, Value};
use totp_rs::TOTP;

use super::browser::{authorize_url, redeem, web_client, Browser, Seen, VERIFIER};
use crate::helpers::{claims, Backend, TestApp, PASSWORD};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Waits out the end of a time step, so the codes of this step and its neighbours stay valid
/// for the rest of the test.
async fn early_in_a_step() {
    let into = now() % 30;
    if into > 18 {
        tokio::time::sleep(std::time::Duration::from_secs(31 - into)).await;
    }
}

/// The code of the step `offset` steps from now.
fn code(uri: &str, offset: i64) -> String {
    let totp = TOTP::from_url(uri).unwrap();
    totp.generate(now().checked_add_signed(offset * 30).unwrap())
}

async fn enrol(app: &TestApp, token: &str) -> String {
    let reply = app.post("/v1/users/me/totp", token, Value::Null).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let uri = reply.body["otpauth_uri"].as_str().unwrap().to_owned();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(reply.body["secret"].as_str().unwrap().len() >= 32);
    uri
}

/// The key (base32) a setup page shows beside its QR code.
fn shown_key(page: &Seen) -> String {
    let after = page
        .body
        .split("<code class=\"secret\">")
        .nth(1)
        .unwrap_or_else(|| panic!("no key on the page: {}", page.body));
    after.split('<').next().unwrap_or_default().to_owned()
}

/// An `otpauth://` URI for a key a page showed, to compute its codes.
fn uri_of(key: &str) -> String {
    format!("otpauth://totp/Warden:x?secret={key}&issuer=Warden")
}

/// Gives a person a confirmed factor through the API (confirmed with the previous step's
/// code, so this step's is still free); answers its `otpauth://` URI.
async fn confirmed_factor(app: &TestApp, email: &str) -> String {
    let token = app.login(email, PASSWORD).await;
    let uri = enrol(app, &token).await;
    let confirmed = app
        .post(
            "/v1/users/me/totp/confirm",
            &token,
            json!({ "code": code(&uri, -1) }),
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    uri
}

fn is_second_factor_page(seen: &Seen) -> bool {
    seen.body.contains("action=\"/oauth/login/second-factor\"")
}

/// Sends the second-factor form of `page`.
async fn send_code(app: &TestApp, browser: &mut Browser, page: &Seen, code: &str) -> Seen {
    assert!(is_second_factor_page(page), "{}", page.body);
    let (csrf, request, pending) = (
        page.field("csrf"),
        page.field("request"),
        page.field("pending"),
    );
    browser
        .post(
            &app.url("/oauth/login/second-factor"),
            &[
                ("csrf", &csrf),
                ("request", &request),
                ("pending", &pending),
                ("code", code),
            ],
        )
        .await
}

/// A fresh browser at the second-factor page for `user`.
async fn at_second_factor(
    app: &TestApp,
    client: &super::browser::WebClient,
    user: &str,
) -> (Browser, Seen) {
    let mut browser = Browser::new();
    let page = browser.get(&authorize_url(app, client, &[])).await;
    let next = browser.sign_in(app, &page, user, PASSWORD).await;
    assert!(is_second_factor_page(&next), "{}", next.body);
    assert!(
        !browser.cookies.contains_key("warden_session"),
        "no session before the factor"
    );
    (browser, next)
}

async fn a_second_factor_is_enrolled_and_then_asked_at_every_sign_in(backend: Backend) {
    early_in_a_step().await;
    let app = TestApp::spawn(backend).await;
    let user = app.create_user("two@x.io", None).await;
    let token = app.login("two@x.io", PASSWORD).await;
    let uri = enrol(&app, &token).await;
    // Until confirmed nothing changes, and a wrong first code confirms nothing.
    assert_eq!(
        app.post("/v1/users/me/totp/confirm", &token, json!({ "code": "12" }))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let confirmed = app
        .post(
            "/v1/users/me/totp/confirm",
            &token,
            json!({ "code": code(&uri, -1) }),
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    let recovery: Vec<String> = confirmed.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recovery.len(), 10);
    assert_eq!(
        recovery
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        10
    );
    // A confirmed factor is not replaced through a session.
    assert_eq!(
        app.post("/v1/users/me/totp", &token, Value::Null)
            .await
            .status,
        StatusCode::CONFLICT
    );

    // The password grant cannot ask for the factor, and says so (only to the right password).
    let refused = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", "two@x.io"),
            ("password", PASSWORD),
        ])
        .await;
    assert_eq!(refused.body["error"], "invalid_grant");
    assert!(refused.body["error_description"]
        .as_str()
        .unwrap()
        .contains("second factor"));
    let wrong = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", "two@x.io"),
            ("password", "wrong one"),
        ])
        .await;
    assert!(!wrong.body["error_description"]
        .as_str()
        .unwrap()
        .contains("second factor"));

    let client = web_client(&app, json!({ "first_party": true })).await;
    let (mut browser, page) = at_second_factor(&app, &client, "two@x.io").await;
    // The code used to confirm is spent.
    let again = send_code(&app, &mut browser, &page, &code(&uri, -1)).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert!(again.body.contains("not correct"), "{}", again.body);
    let done = send_code(&app, &mut browser, &again, &code(&uri, 0)).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let tokens = redeem(&app, &client, &done.param("code").unwrap(), VERIFIER).await;
    let id = claims(tokens.body["id_token"].as_str().unwrap());
    assert_eq!(id["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(id["sub"], user.as_str());

    // Another browser: that code again is refused; a recovery code works, once.
    let (mut second, page) = at_second_factor(&app, &client, "two@x.io").await;
    let reused = send_code(&app, &mut second, &page, &code(&uri, 0)).await;
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED);
    let typed = recovery[3].to_uppercase().replace('-', " ");
    let by_recovery = send_code(&app, &mut second, &reused, &typed).await;
    assert_eq!(
        by_recovery.status,
        StatusCode::SEE_OTHER,
        "{}",
        by_recovery.body
    );
    let (mut third, page) = at_second_factor(&app, &client, "two@x.io").await;
    let spent = send_code(&app, &mut third, &page, &recovery[3]).await;
    assert_eq!(spent.status, StatusCode::UNAUTHORIZED);

    // The administrator resets it: audited; the password grant works again.
    let reset = app
        .delete(&format!("/v1/users/{user}/totp"), &app.admin_token)
        .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT, "{}", reset.body);
    assert_eq!(
        app.delete(&format!("/v1/users/{user}/totp"), &app.admin_token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Someone without users:update cannot reset anyone's factor, their own included.
    assert_eq!(
        app.delete(&format!("/v1/users/{user}/totp"), &token)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert!(!app.login("two@x.io", PASSWORD).await.is_empty());
    let audit = app
        .get("/v1/audit?action=second_factor.reset", &app.admin_token)
        .await;
    assert!(
        audit.body.to_string().contains("second_factor.reset"),
        "{}",
        audit.body
    );
}

/// One code sent from six browsers at once: one sign-in.
async fn one_code_sent_at_once_signs_in_once(backend: Backend) {
    early_in_a_step().await;
    let app = TestApp::spawn_with(backend, crate::helpers::RACE_SETTINGS).await;
    app.create_user("once@x.io", None).await;
    let uri = confirmed_factor(&app, "once@x.io").await;
    let client = web_client(&app, json!({ "first_party": true })).await;
    let mut waiting = Vec::new();
    for _ in 0..6 {
        waiting.push(at_second_factor(&app, &client, "once@x.io").await);
    }
    let now_code = code(&uri, 0);
    let answers = futures_util::future::join_all(
        waiting
            .iter_mut()
            .map(|(browser, page)| send_code(&app, browser, page, &now_code)),
    )
    .await;
    let signed_in = answers
        .iter()
        .filter(|a| a.status == StatusCode::SEE_OTHER)
        .count();
    assert_eq!(
        signed_in,
        1,
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
}

async fn wrong_codes_lock_the_second_factor(backend: Backend) {
    early_in_a_step().await;
    let app = TestApp::spawn(backend).await;
    app.create_user("lock@x.io", None).await;
    let uri = confirmed_factor(&app, "lock@x.io").await;
    let client = web_client(&app, json!({ "first_party": true })).await;
    let (mut browser, mut page) = at_second_factor(&app, &client, "lock@x.io").await;
    for guess in ["111111", "222222", "333333", "444444", "555555", "666666"] {
        page = send_code(&app, &mut browser, &page, guess).await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    }
    // Locked now: even the right code is not compared.
    let locked = send_code(&app, &mut browser, &page, &code(&uri, 0)).await;
    assert_eq!(locked.status, StatusCode::UNAUTHORIZED);
    assert!(locked.body.contains("too many"), "{}", locked.body);
    assert!(!browser.cookies.contains_key("warden_session"));
}

/// An account that requires a second factor: its members without one set it up on the hosted
/// pages (a QR code, a first code, the recovery codes) before they get in, and the password
/// grant into it is refused.
async fn an_account_can_require_a_second_factor(backend: Backend) {
    early_in_a_step().await;
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    app.create_user("pol@x.io", Some(&acme)).await;
    let patched = app
        .patch(
            &format!("/v1/accounts/{acme}"),
            &app.admin_token,
            json!({ "require_second_factor": true }),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["require_second_factor"], true);
    let refused = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", "pol@x.io"),
            ("password", PASSWORD),
        ])
        .await;
    assert_eq!(refused.body["error"], "invalid_grant", "{}", refused.body);

    let client = web_client(&app, json!({ "first_party": true })).await;
    let (mut browser, page) = at_second_factor(&app, &client, "pol@x.io").await;
    assert!(page.body.contains("<svg"), "a QR code is shown");
    let uri = uri_of(&shown_key(&page));
    let wrong = send_code(&app, &mut browser, &page, "000000").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("<svg"), "the setup stays on screen");
    let codes = send_code(&app, &mut browser, &wrong, &code(&uri, 0)).await;
    assert_eq!(codes.status, StatusCode::OK, "{}", codes.body);
    assert_eq!(
        codes.body.matches("<li><code>").count(),
        10,
        "{}",
        codes.body
    );
    assert!(browser.cookies.contains_key("warden_session"));
    let next = codes
        .body
        .split("class=\"button\" href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    let back = browser.get(&app.url(&next)).await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    let tokens = redeem(&app, &client, &back.param("code").unwrap(), VERIFIER).await;
    assert_eq!(
        claims(tokens.body["access_token"].as_str().unwrap())["acct"],
        acme.as_str()
    );
}

/// The proof that the password was right, carried to the second-factor step, works only in
/// the browser that typed the password, and only until that browser signs in.
async fn the_password_step_is_bound_to_its_browser_and_spent_by_a_sign_in(backend: Backend) {
    early_in_a_step().await;
    let app = TestApp::spawn(backend).await;
    app.create_user("bound@x.io", None).await;
    let uri = confirmed_factor(&app, "bound@x.io").await;
    let client = web_client(&app, json!({ "first_party": true })).await;
    let (_victim, page) = at_second_factor(&app, &client, "bound@x.io").await;
    // Another browser, which never typed the password, carries the victim's proof.
    let mut other = Browser::new();
    let login = other.get(&authorize_url(&app, &client, &[])).await;
    let stolen = other
        .post(
            &app.url("/oauth/login/second-factor"),
            &[
                ("csrf", &login.field("csrf")),
                ("request", &login.field("request")),
                ("pending", &page.field("pending")),
                ("code", &code(&uri, 0)),
            ],
        )
        .await;
    assert_eq!(stolen.status, StatusCode::BAD_REQUEST, "{}", stolen.body);
    assert!(!other.cookies.contains_key("warden_session"));
    // In its own browser the proof works once; after that sign-in it is spent.
    let (mut mine, page) = at_second_factor(&app, &client, "bound@x.io").await;
    let done = send_code(&app, &mut mine, &page, &code(&uri, 0)).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let again = mine
        .post(
            &app.url("/oauth/login/second-factor"),
            &[
                ("csrf", &page.field("csrf")),
                ("request", &page.field("request")),
                ("pending", &page.field("pending")),
                ("code", &code(&uri, 1)),
            ],
        )
        .await;
    assert_ne!(again.status, StatusCode::SEE_OTHER, "{}", again.body);
}

/// A person signed in in a browser sets a factor up on the hosted page, from its QR code.
async fn a_second_factor_is_set_up_from_the_hosted_page(backend: Backend) {
    early_in_a_step().await;
    let app = TestApp::spawn(backend).await;
    app.create_user("self2@x.io", None).await;
    let client = web_client(&app, json!({ "first_party": true })).await;
    let mut nobody = Browser::new();
    assert_eq!(
        nobody.get(&app.url("/oauth/second-factor")).await.status,
        StatusCode::UNAUTHORIZED
    );
    let mut browser = Browser::new();
    super::browser::sign_in_for_code(&app, &mut browser, &client, "self2@x.io").await;
    let setup = browser.get(&app.url("/oauth/second-factor")).await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.body);
    assert!(setup.body.contains("<svg") && setup.body.contains("action=\"/oauth/second-factor\""));
    let secret = shown_key(&setup);
    let uri = uri_of(&secret);
    let forged = browser
        .post(
            &app.url("/oauth/second-factor"),
            &[("csrf", "forged"), ("code", &code(&uri, 0))],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let csrf = setup.field("csrf");
    let shown = setup.field("enrolment");
    let wrong = browser
        .post(
            &app.url("/oauth/second-factor"),
            &[("csrf", &csrf), ("enrolment", &shown), ("code", "000000")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains(&secret), "the same key stays on screen");
    let done = browser
        .post(
            &app.url("/oauth/second-factor"),
            &[
                ("csrf", &csrf),
                ("enrolment", &shown),
                ("code", &code(&uri, 0)),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body.matches("<li><code>").count(), 10);
    assert!(browser
        .get(&app.url("/oauth/second-factor"))
        .await
        .body
        .contains("already set up"));
    // The next sign-in asks for a code.
    at_second_factor(&app, &client, "self2@x.io").await;
}

/// Two browsers that must set a factor up get a key each; the one started first cannot be
/// confirmed once the second started (someone else who knew the password never holds the key
/// that ends up set), and says so with a page, not a failure.
async fn each_setup_gets_its_own_key(backend: Backend) {
    early_in_a_step().await;
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    app.create_user("two-setups@x.io", Some(&acme)).await;
    app.patch(
        &format!("/v1/accounts/{acme}"),
        &app.admin_token,
        json!({ "require_second_factor": true }),
    )
    .await;
    let client = web_client(&app, json!({ "first_party": true })).await;
    let (mut first, first_page) = at_second_factor(&app, &client, "two-setups@x.io").await;
    let (mut second, second_page) = at_second_factor(&app, &client, "two-setups@x.io").await;
    assert_ne!(shown_key(&first_page), shown_key(&second_page));
    let stale = send_code(
        &app,
        &mut first,
        &first_page,
        &code(&uri_of(&shown_key(&first_page)), 0),
    )
    .await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.body);
    assert!(!first.cookies.contains_key("warden_session"));
    let done = send_code(
        &app,
        &mut second,
        &second_page,
        &code(&uri_of(&shown_key(&second_page)), 0),
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("recovery codes"));
}

/// A global administrator entering an account that requires a second factor is asked to set
/// one up at the sign-in (not sent round to the login page), and going on after the setup
/// meets `prompt=login` instead of asking for the password again.
async fn entering_an_account_that_requires_a_factor_asks_for_it(backend: Backend) {
    early_in_a_step().await;
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    app.patch(
        &format!("/v1/accounts/{acme}"),
        &app.admin_token,
        json!({ "require_second_factor": true }),
    )
    .await;
    let client = web_client(&app, json!({ "first_party": true })).await;
    let mut browser = Browser::new();
    let page = browser
        .get(&authorize_url(
            &app,
            &client,
            &[("account", &acme), ("prompt", "login")],
        ))
        .await;
    let setup = browser
        .sign_in(
            &app,
            &page,
            crate::helpers::ADMIN_EMAIL,
            crate::helpers::ADMIN_PASSWORD,
        )
        .await;
    assert!(
        is_second_factor_page(&setup) && setup.body.contains("<svg"),
        "{}",
        setup.body
    );
    let secret = shown_key(&setup);
    let uri = uri_of(&secret);
    let codes = send_code(&app, &mut browser, &setup, &code(&uri, 0)).await;
    assert_eq!(codes.status, StatusCode::OK, "{}", codes.body);
    let next = codes
        .body
        .split("class=\"button\" href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    assert!(!next.contains("prompt=login"), "{next}");
    let back = browser.get(&app.url(&next)).await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    let tokens = redeem(&app, &client, &back.param("code").unwrap(), VERIFIER).await;
    assert_eq!(
        claims(tokens.body["access_token"].as_str().unwrap())["acct"],
        acme.as_str()
    );
}

/// One enrolment confirmed from two places at once: one confirmation wins, the other is told the
/// setup is no longer pending, and one set of recovery codes stands.
async fn one_enrolment_confirmed_twice_at_once_confirms_once(backend: Backend) {
    early_in_a_step().await;
    let app = TestApp::spawn_with(backend, crate::helpers::RACE_SETTINGS).await;
    app.create_user("twice@x.io", None).await;
    for _ in 0..3 {
        let token = app.login("twice@x.io", PASSWORD).await;
        let uri = enrol(&app, &token).await;
        let body = json!({ "code": code(&uri, -1) });
        let (a, b) = tokio::join!(
            app.post("/v1/users/me/totp/confirm", &token, body.clone()),
            app.post("/v1/users/me/totp/confirm", &token, body.clone()),
        );
        let mut statuses = [a.status, b.status];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::CONFLICT],
            "{} / {}",
            a.body,
            b.body
        );
        let user = claims(&token)["sub"].as_str().unwrap().to_owned();
        let reset = app
            .delete(&format!("/v1/users/{user}/totp"), &app.admin_token)
            .await;
        assert_eq!(reset.status, StatusCode::NO_CONTENT);
    }
}

crate::both!(
    one_enrolment_confirmed_twice_at_once_confirms_once,
    entering_an_account_that_requires_a_factor_asks_for_it,
    each_setup_gets_its_own_key,
    a_second_factor_is_set_up_from_the_hosted_page,
    the_password_step_is_bound_to_its_browser_and_spent_by_a_sign_in,
    a_second_factor_is_enrolled_and_then_asked_at_every_sign_in,
    one_code_sent_at_once_signs_in_once,
    wrong_codes_lock_the_second_factor,
    an_account_can_require_a_second_factor,
);
