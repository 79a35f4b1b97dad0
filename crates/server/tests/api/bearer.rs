//! Bearer tokens on the admin API: missing, expired, tampered, `alg: none`, HS256 signed with
//! the public key, unknown `kid`, wrong `typ`, `iss` or `aud`, future `nbf`, query-string tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};
use warden_core::tokens::AccessClaims;

use crate::helpers::{Backend, TestApp};

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

fn parts(token: &str) -> (Value, Value, String) {
    let mut it = token.split('.');
    let header =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap()).unwrap();
    let claims =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap()).unwrap();
    (header, claims, it.next().unwrap().to_owned())
}

async fn assert_refused(app: &TestApp, token: &str, why: &str) {
    let reply = app.get("/v1/users", token).await;
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "{why}: {}",
        reply.body
    );
    let challenge = reply.header("www-authenticate");
    assert!(challenge.starts_with("Bearer"), "{why}: {challenge}");
    assert!(challenge.contains("invalid_token"), "{why}: {challenge}");
    assert_eq!(reply.header("content-type"), "application/problem+json");
}

async fn a_missing_token_gets_a_bearer_challenge(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let reply = app
        .call(reqwest::Method::GET, "/v1/users", None, Value::Null)
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.header("www-authenticate"), "Bearer realm=\"warden\"");
    let basic = app
        .client
        .get(app.url("/v1/users"))
        .basic_auth("admin", Some("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
}

async fn forged_and_altered_tokens_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let good = app.admin_token.clone();
    let (header, claims, signature) = parts(&good);

    let mut tampered = claims.clone();
    tampered["sub"] = json!("01900000-0000-7000-8000-000000000000");
    assert_refused(
        &app,
        &format!("{}.{}.{signature}", b64(&header), b64(&tampered)),
        "tampered payload",
    )
    .await;

    for alg in ["none", "None", "NONE"] {
        let mut none = header.clone();
        none["alg"] = json!(alg);
        assert_refused(&app, &format!("{}.{}.", b64(&none), b64(&claims)), alg).await;
    }
    assert_refused(
        &app,
        &format!("{}.{}.", b64(&header), b64(&claims)),
        "empty signature",
    )
    .await;

    // HS256 keyed with the public key, the classic algorithm-confusion attack.
    let jwks: Value = app.get_json("/.well-known/jwks.json").await;
    let public = jwks["keys"][0]["x"].as_str().unwrap().to_owned();
    let mut hs = header.clone();
    hs["alg"] = json!("HS256");
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            alg: jsonwebtoken::Algorithm::HS256,
            typ: Some("at+jwt".into()),
            kid: hs["kid"].as_str().map(str::to_owned),
            ..Default::default()
        },
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(public.as_bytes()),
    )
    .unwrap();
    assert_refused(&app, &forged, "HS256 with the public key").await;

    let mut unknown = header.clone();
    unknown["kid"] = json!("not-our-key");
    assert_refused(
        &app,
        &format!("{}.{}.{signature}", b64(&unknown), b64(&claims)),
        "unknown kid",
    )
    .await;
    unknown["kid"] = json!("../../etc/passwd' OR 1=1 --");
    assert_refused(
        &app,
        &format!("{}.{}.{signature}", b64(&unknown), b64(&claims)),
        "kid traversal",
    )
    .await;
    unknown["kid"] = json!("k".repeat(10_000));
    let long = format!("{}.{}.{signature}", b64(&unknown), b64(&claims));
    let reply = app.get("/v1/users", &long).await;
    assert!(
        reply.status == StatusCode::UNAUTHORIZED || reply.status.is_client_error(),
        "10 KB kid: {}",
        reply.status
    );

    assert_refused(&app, "a.b", "two segments").await;
    assert_refused(&app, &format!("{good}.extra"), "four segments").await;
    assert_refused(&app, "@@@.###.$$$", "bad base64").await;
    let duplicated = format!(
        r#"{{"alg":"EdDSA","alg":"none","typ":"at+jwt","kid":{}}}"#,
        header["kid"]
    );
    assert_refused(
        &app,
        &format!(
            "{}.{}.{signature}",
            URL_SAFE_NO_PAD.encode(duplicated),
            b64(&claims)
        ),
        "duplicate header keys",
    )
    .await;
    let mut with_jku = header.clone();
    with_jku["jku"] = json!("http://127.0.0.1:1/jwks.json");
    with_jku["crit"] = json!(["jku"]);
    assert_refused(
        &app,
        &format!("{}.{}.{signature}", b64(&with_jku), b64(&claims)),
        "crit header",
    )
    .await;
}

async fn validly_signed_tokens_with_bad_claims_or_type_are_refused(backend: Backend) {
    // Forged with the server's own key below: an EdDSA one, whose signatures need no
    // normalization (ES256 tokens must carry low-S signatures, which a plain encoder need not).
    let app = TestApp::spawn_with(backend, &[("WARDEN_SIGNING_ALGORITHM", "EdDSA")]).await;
    let tokens = &app.state.services().tokens;
    let (_, claims, _) = parts(&app.admin_token);
    let base: AccessClaims = serde_json::from_value(claims).unwrap();
    let now = base.iat;
    let cases: Vec<(AccessClaims, &str)> = vec![
        (
            AccessClaims {
                exp: now - 120,
                iat: now - 1000,
                nbf: now - 1000,
                ..base.clone()
            },
            "expired",
        ),
        (
            AccessClaims {
                nbf: now + 3600,
                ..base.clone()
            },
            "future nbf",
        ),
        (
            AccessClaims {
                iat: now + 3600,
                ..base.clone()
            },
            "future iat",
        ),
        (
            AccessClaims {
                iss: "https://evil.example".into(),
                ..base.clone()
            },
            "wrong iss",
        ),
        (
            AccessClaims {
                aud: "someone-else".into(),
                ..base.clone()
            },
            "wrong aud",
        ),
    ];
    for (claims, why) in cases {
        let token = tokens.sign(&claims).unwrap();
        assert_refused(&app, &token, why).await;
    }
    // Correctly signed with the server's own key, but not an access token (typ JWT / none).
    let (kid, key) = app.server_signing_key().await;
    for typ in [Some("JWT"), None] {
        let header = jsonwebtoken::Header {
            alg: jsonwebtoken::Algorithm::EdDSA,
            typ: typ.map(str::to_owned),
            kid: Some(kid.clone()),
            ..Default::default()
        };
        let token = jsonwebtoken::encode(&header, &base, &key).unwrap();
        assert_refused(&app, &token, "wrong typ").await;
    }
    // The same key and claims with the right typ are accepted: the refusals above are the typ.
    let header = jsonwebtoken::Header {
        alg: jsonwebtoken::Algorithm::EdDSA,
        typ: Some("at+jwt".into()),
        kid: Some(kid),
        ..Default::default()
    };
    let token = jsonwebtoken::encode(&header, &base, &key).unwrap();
    assert_eq!(app.get("/v1/users", &token).await.status, StatusCode::OK);
}

async fn tokens_in_the_query_string_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let reply = app
        .call(
            reqwest::Method::GET,
            &format!("/v1/users?access_token={}", app.admin_token),
            None,
            Value::Null,
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
}

async fn tokens_of_disabled_or_deleted_users_stop_working(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let (grace, token) = app.member("grace@x.io", &acme).await;
    assert_eq!(app.get("/v1/users/me", &token).await.status, StatusCode::OK);
    app.patch(
        &format!("/v1/users/{grace}"),
        &app.admin_token,
        json!({"status": "disabled"}),
    )
    .await;
    assert_refused(&app, &token, "disabled user").await;
    app.patch(
        &format!("/v1/users/{grace}"),
        &app.admin_token,
        json!({"status": "active"}),
    )
    .await;
    assert_refused(&app, &token, "disabling ended the session for good").await;
    let fresh = app.login("grace@x.io", crate::helpers::PASSWORD).await;
    assert_eq!(app.get("/v1/users/me", &fresh).await.status, StatusCode::OK);
    assert_eq!(
        app.delete(&format!("/v1/users/{grace}"), &app.admin_token)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_refused(&app, &fresh, "deleted user").await;
}

crate::both!(
    a_missing_token_gets_a_bearer_challenge,
    forged_and_altered_tokens_are_refused,
    validly_signed_tokens_with_bad_claims_or_type_are_refused,
    tokens_in_the_query_string_are_refused,
    tokens_of_disabled_or_deleted_users_stop_working,
);
