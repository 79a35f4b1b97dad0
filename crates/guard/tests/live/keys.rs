//! The key cache against a live Warden: rotation, refresh storms, and an issuer that goes away.

use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::json;
use warden_guard::{GuardError, TokenError};

use crate::support::{claims_of, eventually, header_of, Warden, ADMIN_EMAIL, ADMIN_PASSWORD};

/// Rotates to `algorithm` and waits until logins get tokens signed by the new key.
async fn rotate(warden: &Warden, algorithm: &str) -> String {
    let (status, key) = warden
        .admin(
            Method::POST,
            "/v1/keys/rotate",
            json!({"algorithm": algorithm}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{key}");
    let kid = key["kid"].as_str().unwrap().to_owned();
    let signing = eventually(15, || async {
        let login = warden.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        header_of(&login.access)["kid"] == kid.as_str()
    })
    .await;
    assert!(signing, "the rotated key never started signing");
    kid
}

#[tokio::test]
async fn rotated_keys_are_fetched_once_and_old_tokens_keep_verifying() {
    // The next key signs one second after it is published.
    let warden = Warden::start_with(&[("WARDEN_JWKS_CACHE_TTL", "1")]).await;
    let guard = warden
        .guard()
        .jwks_cache_bounds(Duration::from_secs(60), Duration::from_secs(3600))
        .build()
        .unwrap();
    let first = warden.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(header_of(&first.access)["alg"], "ES256");
    guard.verify(&first.access).await.unwrap();
    assert_eq!(warden.jwks_fetches(), 1);

    for (algorithm, fetches) in [("EdDSA", 2), ("RS256", 3)] {
        let kid = rotate(&warden, algorithm).await;
        tokio::time::sleep(Duration::from_millis(250)).await; // past the cooldown
        let rotated = warden.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert_eq!(header_of(&rotated.access)["alg"], algorithm);
        assert_eq!(header_of(&rotated.access)["kid"], kid.as_str());
        // The set was fresh for a minute, but the unknown kid refreshes it once.
        for _ in 0..5 {
            guard.verify(&rotated.access).await.unwrap();
        }
        assert_eq!(
            warden.jwks_fetches(),
            fetches,
            "after rotating to {algorithm}"
        );
        // The retiring keys stay published until their tokens expire.
        guard.verify(&first.access).await.unwrap();
    }
    assert_eq!(guard.stats().jwks_fetches, 3);
}

/// An ES256 token with a made-up `kid`, signed by a key of our own.
fn random_kid_token(
    key: &EncodingKey,
    claims: &warden_core::tokens::AccessClaims,
    n: usize,
) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(format!("made-up-{n}"));
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn own_es256_key() -> EncodingKey {
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .unwrap();
    EncodingKey::from_ec_der(pkcs8.as_ref())
}

#[tokio::test]
async fn tokens_with_random_kids_cause_no_refresh_storm() {
    let warden = Warden::start().await;
    let login = warden.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let claims = claims_of(&login.access);
    let key = own_es256_key();
    let guard = warden
        .guard()
        .refresh_cooldown(Duration::from_secs(3600))
        .build()
        .unwrap();

    // A cold guard hit by 200 unknown kids at once: one fetch, everyone waits for it.
    let storm = |offset: usize| {
        let tasks: Vec<_> = (0..200)
            .map(|n| {
                let guard = guard.clone();
                let token = random_kid_token(&key, &claims, offset + n);
                tokio::spawn(async move { guard.verify(&token).await })
            })
            .collect();
        async move {
            for task in tasks {
                assert_eq!(
                    task.await.unwrap().unwrap_err(),
                    GuardError::Token(TokenError::UnknownKey)
                );
            }
        }
    };
    storm(0).await;
    assert_eq!(warden.jwks_fetches(), 1);
    // Within the cooldown, more of them fetch nothing, and real tokens still verify.
    storm(1000).await;
    guard.verify(&login.access).await.unwrap();
    assert_eq!(warden.jwks_fetches(), 1);
    assert_eq!(guard.stats().jwks_fetches, 1);
    assert_eq!(guard.stats().refused, 400);
}

#[tokio::test]
async fn unknown_kids_refresh_at_most_once_per_cooldown() {
    let warden = Warden::start().await;
    let login = warden.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let claims = claims_of(&login.access);
    let key = own_es256_key();
    let guard = warden
        .guard()
        .refresh_cooldown(Duration::from_secs(1))
        .build()
        .unwrap();
    guard.verify(&login.access).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Past the cooldown, a burst refreshes once, not once per token.
    let tasks: Vec<_> = (0..100)
        .map(|n| {
            let guard = guard.clone();
            let token = random_kid_token(&key, &claims, n);
            tokio::spawn(async move { guard.verify(&token).await })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().is_err());
    }
    let fetches = warden.jwks_fetches();
    assert!(
        (2..=3).contains(&fetches),
        "one refresh per cooldown at most, got {fetches} fetches"
    );
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_last_good_keys() {
    let mut warden = Warden::start_with(&[("WARDEN_JWKS_CACHE_TTL", "0")]).await;
    let login = warden.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    // Keys go stale at once (max-age=0, no lower bound), so every verification wants a refresh.
    let guard = warden
        .guard()
        .jwks_cache_bounds(Duration::ZERO, Duration::from_secs(60))
        .refresh_cooldown(Duration::ZERO)
        .build()
        .unwrap();
    guard.verify(&login.access).await.unwrap();
    warden.stop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = guard.stats().jwks_fetches;
    for _ in 0..3 {
        guard.verify(&login.access).await.unwrap();
    }
    assert!(
        guard.stats().jwks_fetches > before,
        "refreshes were attempted"
    );
    // Unknown keys are still unknown, not an outage.
    let stranger = random_kid_token(&own_es256_key(), &claims_of(&login.access), 1);
    assert_eq!(
        guard.verify(&stranger).await.unwrap_err(),
        GuardError::Token(TokenError::UnknownKey)
    );
}
