//! Verification of Warden's own tokens: what a valid one says, and each claim that refuses one.

use std::time::Duration;

use warden_guard::{GuardError, TokenError};

use crate::support::{claims_of, now, Warden, ADMIN_EMAIL, ADMIN_PASSWORD};

fn refusal(outcome: Result<warden_guard::Principal, GuardError>) -> TokenError {
    match outcome {
        Err(GuardError::Token(reason)) => reason,
        other => panic!("expected a refused token, got {other:?}"),
    }
}

#[tokio::test]
async fn a_valid_token_verifies_and_its_principal_carries_the_claims() {
    let warden = Warden::start().await;
    let tenant = warden.tenant("acme", "editor", &["documents:edit"]).await;
    let guard = warden.guard().build().unwrap();

    let principal = guard.verify(&tenant.login.access).await.unwrap();
    assert_eq!(principal.subject(), tenant.user);
    assert_eq!(principal.user_id(), Some(tenant.user.as_str()));
    assert_eq!(principal.account(), Some(tenant.account.as_str()));
    assert!(principal.has_role("editor"));
    assert_eq!(principal.scopes().collect::<Vec<_>>(), vec!["editor"]);
    assert_eq!(principal.session(), claims_of(&tenant.login.access).sid);
    assert!(!principal.client_id().is_empty());
    assert_eq!(principal.aud, vec!["warden"]);
    assert_eq!(principal.permissions(), None);
    assert_eq!(principal.token(), tenant.login.access);
    // Verifying again needs no second fetch of the keys.
    guard.verify(&tenant.login.access).await.unwrap();
    assert_eq!(warden.jwks_fetches(), 1);
    assert_eq!(guard.stats().jwks_fetches, 1);
    assert_eq!(guard.stats().verified, 2);
}

#[tokio::test]
async fn a_service_clients_token_names_the_client() {
    let warden = Warden::start().await;
    let (client_id, secret) = warden.create_client("billing", None).await;
    let response = warden
        .http
        .post(warden.url("/oauth/token"))
        .basic_auth(&client_id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();
    let principal = warden.guard().build().unwrap().verify(token).await.unwrap();
    assert_eq!(principal.service_client(), Some(client_id.as_str()));
    assert_eq!(principal.user_id(), None);
}

#[tokio::test]
async fn expired_and_premature_tokens_are_refused_beyond_the_leeway() {
    let warden = Warden::start().await;
    let login = warden.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let guard = warden.guard().build().unwrap();
    let claims = claims_of(&login.access);
    let at = now();

    let mut expired = claims.clone();
    expired.exp = at - 60;
    expired.iat = at - 960;
    expired.nbf = at - 960;
    assert_eq!(
        refusal(guard.verify(&warden.sign(&expired)).await),
        TokenError::Expired
    );
    // Within the default 10 s leeway it still passes.
    let mut just = claims.clone();
    just.exp = at - 3;
    guard.verify(&warden.sign(&just)).await.unwrap();
    // A guard with no leeway refuses it.
    let strict = warden.guard().leeway(Duration::ZERO).build().unwrap();
    assert_eq!(
        refusal(strict.verify(&warden.sign(&just)).await),
        TokenError::Expired
    );

    let mut premature = claims.clone();
    premature.nbf = at + 120;
    assert_eq!(
        refusal(guard.verify(&warden.sign(&premature)).await),
        TokenError::Premature
    );
    let mut future = claims;
    future.iat = at + 120;
    assert_eq!(
        refusal(guard.verify(&warden.sign(&future)).await),
        TokenError::Premature
    );
}

#[tokio::test]
async fn tokens_for_another_audience_are_refused() {
    let warden = Warden::start().await;
    let login = warden.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let mut claims = claims_of(&login.access);
    claims.aud = "billing".into();
    let for_billing = warden.sign(&claims);

    let guard = warden.guard().build().unwrap();
    assert_eq!(
        refusal(guard.verify(&for_billing).await),
        TokenError::Audience
    );
    let billing = warden.guard().audience("billing").build().unwrap();
    billing.verify(&for_billing).await.unwrap();
    assert_eq!(
        refusal(billing.verify(&login.access).await),
        TokenError::Audience
    );
}

#[tokio::test]
async fn tokens_of_another_issuer_are_refused() {
    let warden = Warden::start().await;
    let login = warden.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let mut claims = claims_of(&login.access);
    claims.iss = "http://evil.example".into();
    let guard = warden.guard().build().unwrap();
    assert_eq!(
        refusal(guard.verify(&warden.sign(&claims)).await),
        TokenError::Issuer
    );

    // A guard expecting another issuer at Warden's address refuses Warden's metadata, so it
    // never trusts these keys for that issuer.
    let other = warden_guard::Guard::builder("http://issuer.example")
        .base_url(&warden.base)
        .build()
        .unwrap();
    assert!(matches!(
        other.verify(&login.access).await,
        Err(GuardError::Unavailable(_))
    ));
    assert_eq!(
        warden.jwks_fetches(),
        1,
        "only the first guard fetched keys"
    );
}

#[tokio::test]
async fn a_guard_pinned_to_an_account_refuses_tokens_of_others() {
    let warden = Warden::start().await;
    let acme = warden.tenant("acme", "editor", &["documents:edit"]).await;
    let globex = warden.tenant("globex", "editor", &["documents:edit"]).await;
    let admin = warden.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;

    let guard = warden.guard().account(&acme.account).build().unwrap();
    let principal = guard.verify(&acme.login.access).await.unwrap();
    assert_eq!(principal.account(), Some(acme.account.as_str()));
    // The same role name in another account is another role.
    assert_eq!(
        refusal(guard.verify(&globex.login.access).await),
        TokenError::Account
    );
    // A global token acts in no account.
    assert_eq!(
        refusal(guard.verify(&admin.access).await),
        TokenError::Account
    );
}

#[tokio::test]
async fn a_guard_reports_warden_unreachable_until_it_has_keys() {
    let mut warden = Warden::start().await;
    let login = warden.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let guard = warden.guard().build().unwrap();
    warden.stop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(matches!(
        guard.verify(&login.access).await,
        Err(GuardError::Unavailable(_))
    ));
    assert!(matches!(
        guard.load_keys().await,
        Err(GuardError::Unavailable(_))
    ));
}
