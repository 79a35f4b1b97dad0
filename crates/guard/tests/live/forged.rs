//! Forged and tampered tokens against the keys of a live Warden: none of them verifies.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use warden_guard::{GuardError, TokenError};

use crate::support::{claims_of, header_of, Warden, ADMIN_EMAIL, ADMIN_PASSWORD};

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token of `header` and `payload` JSON, with `signature` bytes.
fn compact(header: &Value, payload: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string()),
        b64(payload.to_string()),
        b64(signature)
    )
}

fn own_key() -> (EncodingKey, Value) {
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    let point = pair.public_key().as_ref().to_vec();
    let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..])});
    (EncodingKey::from_ec_der(pkcs8.as_ref()), jwk)
}

async fn refused(guard: &warden_guard::Guard, token: &str) -> TokenError {
    match guard.verify(token).await {
        Err(GuardError::Token(reason)) => reason,
        other => panic!("a forged token was not refused: {other:?}"),
    }
}

#[tokio::test]
async fn forged_tokens_are_refused() {
    let warden = Warden::start().await;
    let login = warden.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let guard = warden.guard().build().unwrap();
    guard.verify(&login.access).await.unwrap();
    let claims = claims_of(&login.access);
    let real_header = header_of(&login.access);
    let kid = real_header["kid"].as_str().unwrap().to_owned();
    let payload = serde_json::to_value(&claims).unwrap();
    let (own, own_jwk) = own_key();

    // Signed with our own key, claiming Warden's kid: the signature does not verify.
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(kid.clone());
    let own_signed = jsonwebtoken::encode(&header, &claims, &own).unwrap();
    assert_eq!(refused(&guard, &own_signed).await, TokenError::Signature);

    // Our own key, embedded in the header (`jwk`) or linked (`jku`): never looked at.
    let mut embedded = header.clone();
    embedded.jwk = serde_json::from_value(own_jwk).ok();
    embedded.jku = Some("http://evil.example/jwks.json".into());
    let embedded = jsonwebtoken::encode(&embedded, &claims, &own).unwrap();
    assert_eq!(refused(&guard, &embedded).await, TokenError::Signature);

    // Our own key under our own kid: no such key.
    header.kid = Some("attacker".into());
    let own_kid = jsonwebtoken::encode(&header, &claims, &own).unwrap();
    assert_eq!(refused(&guard, &own_kid).await, TokenError::UnknownKey);

    // alg none, with or without a signature.
    let none = json!({"alg": "none", "typ": "at+jwt", "kid": kid});
    assert_eq!(
        refused(&guard, &compact(&none, &payload, b"")).await,
        TokenError::Algorithm
    );
    assert_eq!(
        refused(&guard, &compact(&none, &payload, b"x")).await,
        TokenError::Algorithm
    );
    let none = json!({"alg": "None", "typ": "at+jwt", "kid": kid});
    assert_eq!(
        refused(&guard, &compact(&none, &payload, b"x")).await,
        TokenError::Algorithm
    );

    // HS256 keyed with the public key, in every spelling a confused verifier might use.
    let jwks = warden
        .http
        .get(warden.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let document: Value = serde_json::from_str(&jwks).unwrap();
    let jwk = document["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap()
        .clone();
    let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
    let y = URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap();
    let point = [&[4u8][..], &x, &y].concat();
    for secret in [jwk.to_string().into_bytes(), jwks.into_bytes(), point, x] {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let mut header = Header::new(alg);
            header.typ = Some("at+jwt".into());
            header.kid = Some(kid.clone());
            let token =
                jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&secret)).unwrap();
            assert_eq!(refused(&guard, &token).await, TokenError::Algorithm);
        }
    }

    // Warden's ES256 key named with another asymmetric algorithm.
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some("at+jwt".into());
    header.kid = Some(kid.clone());
    let (signed, signature) = own_signed.rsplit_once('.').unwrap();
    let (_, rest) = signed.split_once('.').unwrap();
    let confused = format!(
        "{}.{rest}.{signature}",
        b64(serde_json::to_string(&header).unwrap())
    );
    assert_eq!(refused(&guard, &confused).await, TokenError::Algorithm);
    assert_eq!(guard.stats().verified, 1);
}

#[tokio::test]
async fn tampered_tokens_are_refused() {
    let warden = Warden::start().await;
    let login = warden.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let guard = warden.guard().build().unwrap();
    let (header, rest) = login.access.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();

    // Another subject under Warden's signature.
    let mut claims = serde_json::to_value(claims_of(&login.access)).unwrap();
    claims["sub"] = "someone-else".into();
    claims["roles"] = json!(["super_admin", "owner"]);
    let tampered = format!("{header}.{}.{signature}", b64(claims.to_string()));
    assert_eq!(refused(&guard, &tampered).await, TokenError::Signature);

    // The same signature in its high-S form, (r, n - s): valid ECDSA, not Warden's.
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let order: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63,
        0x25, 0x51,
    ];
    let mut twin = signature.clone();
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(order[i]) - i16::from(signature[32 + i]) - borrow;
        borrow = i16::from(d < 0);
        twin[32 + i] = u8::try_from(d.rem_euclid(256)).unwrap();
    }
    let high_s = format!("{header}.{payload}.{}", b64(&twin));
    assert_eq!(refused(&guard, &high_s).await, TokenError::Signature);

    // Header games: another typ, a critical extension, a repeated alg.
    let mut typ = header_of(&login.access);
    typ["typ"] = "JWT".into();
    let retyped = format!("{}.{payload}.{}", b64(typ.to_string()), b64(&signature));
    assert_eq!(refused(&guard, &retyped).await, TokenError::Type);
    let mut crit = header_of(&login.access);
    crit["crit"] = json!(["exp"]);
    let critical = format!("{}.{payload}.{}", b64(crit.to_string()), b64(&signature));
    assert_eq!(refused(&guard, &critical).await, TokenError::Malformed);
    let kid = header_of(&login.access)["kid"].clone();
    let repeated = format!(r#"{{"alg":"ES256","typ":"at+jwt","kid":{kid},"alg":"HS256"}}"#);
    let repeated = format!("{}.{payload}.{}", b64(repeated), b64(&signature));
    assert_eq!(refused(&guard, &repeated).await, TokenError::Malformed);

    // The original still verifies.
    guard.verify(&login.access).await.unwrap();
}
