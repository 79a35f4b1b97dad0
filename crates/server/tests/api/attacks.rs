//! The rest of the attack catalogue: ECDSA signatures with r = s = 0 ("psychic signatures"),
//! embedded `jwk`/`x5u` headers, a refresh token used as an access token, 1 MB passwords, and
//! injection strings in every list filter, path id and decision field. Each gets a clean 4xx
//! (or an empty result) and changes nothing.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{Backend, TestApp, PASSWORD};

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

async fn refused(app: &TestApp, token: &str, why: &str) {
    let reply = app.get("/v1/users/me", token).await;
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "{why}: {}",
        reply.body
    );
}

async fn ecdsa_zero_signatures_and_embedded_keys_are_refused(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("WARDEN_SIGNING_ALGORITHM", "ES256")]).await;
    let token = app.admin_token.clone();
    let mut it = token.split('.');
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["alg"], "ES256", "the server signs with ES256 here");
    let payload = it.next().unwrap().to_owned();
    let head = b64(&header);
    // r = s = 0, in the JOSE (fixed 64-byte) form and in DER.
    let zero = URL_SAFE_NO_PAD.encode([0u8; 64]);
    refused(&app, &format!("{head}.{payload}.{zero}"), "r = s = 0").await;
    let der = URL_SAFE_NO_PAD.encode([0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00]);
    refused(&app, &format!("{head}.{payload}.{der}"), "DER r = s = 0").await;
    // r = s = n (the curve order) is as invalid as zero.
    let n = hex_to_bytes("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
    let nn = URL_SAFE_NO_PAD.encode([n.clone(), n].concat());
    refused(&app, &format!("{head}.{payload}.{nn}"), "r = s = n").await;
    // Keys offered by the token itself are never used, and never fetched.
    for extra in [
        json!({"jwk": {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}}),
        json!({"x5u": "http://127.0.0.1:1/evil.pem"}),
        json!({"jku": "http://127.0.0.1:1/jwks.json"}),
        json!({"x5c": ["AAAA"]}),
    ] {
        let mut h = header.clone();
        for (k, v) in extra.as_object().unwrap() {
            h[k] = v.clone();
        }
        let signature = token.rsplit('.').next().unwrap();
        let forged = format!("{}.{payload}.{signature}", b64(&h));
        let reply = app.get("/v1/users/me", &forged).await;
        // The header changed, so the signature no longer matches: refused either way.
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{extra}");
    }
    // The real attack: a token signed by the attacker's own key, which it embeds as `jwk`,
    // under the server's `kid` or its own. A verifier that trusted the embedded key would
    // accept it; Warden verifies only with its own keys.
    let master = warden_core::crypto::MasterKey::generate();
    let now = warden_core::time::Timestamp::now();
    let evil = warden_core::tokens::keys_generate(
        warden_core::tokens::SigningAlgorithm::ES256,
        &master,
        now,
        now,
    )
    .unwrap();
    let evil_set =
        warden_core::tokens::KeySet::open(std::slice::from_ref(&evil), &master, now).unwrap();
    let evil_jwk = evil_set.jwks()["keys"][0].clone();
    let evil_key = jsonwebtoken::EncodingKey::from_ec_der(
        &master.open(&evil.kid, &evil.private_sealed).unwrap(),
    );
    for kid in [header["kid"].clone(), json!(evil.kid)] {
        let forged_header = json!({"alg": "ES256", "typ": "at+jwt", "kid": kid, "jwk": evil_jwk});
        let signed = format!("{}.{payload}", b64(&forged_header));
        let signature = jsonwebtoken::crypto::sign(
            signed.as_bytes(),
            &evil_key,
            jsonwebtoken::Algorithm::ES256,
        )
        .unwrap();
        refused(
            &app,
            &format!("{signed}.{signature}"),
            "attacker-signed, embedded jwk",
        )
        .await;
    }
    // A refresh token is not an access token.
    let login = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", "admin@example.com"),
            ("password", crate::helpers::ADMIN_PASSWORD),
        ])
        .await;
    let refresh = login.body["refresh_token"].as_str().unwrap().to_owned();
    refused(&app, &refresh, "refresh token as bearer").await;
    let still = app.get("/v1/users/me", &token).await;
    assert_eq!(still.status, StatusCode::OK, "the real token still works");
}

fn hex_to_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

async fn megabyte_passwords_are_refused_before_hashing(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("WARDEN_MAX_BODY_BYTES", "4194304")]).await;
    let huge = "p".repeat(1024 * 1024);
    let login = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", "admin@example.com"),
            ("password", huge.as_str()),
        ])
        .await;
    assert_eq!(login.status, StatusCode::BAD_REQUEST, "{}", login.body);
    assert_eq!(login.body["error"], "invalid_grant");
    let create = app
        .post(
            "/v1/users",
            &app.admin_token,
            json!({"email": "big@x.io", "password": huge}),
        )
        .await;
    assert_eq!(
        create.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        create.body
    );
    let change = app
        .post(
            "/v1/users/me/password",
            &app.admin_token,
            json!({"current_password": huge, "new_password": huge}),
        )
        .await;
    assert!(change.status.is_client_error(), "{}", change.status);
    // Nothing was created, and the real password still works.
    let list = app.get("/v1/users?email=big@x.io", &app.admin_token).await;
    assert_eq!(list.body["items"], json!([]));
    app.login("admin@example.com", crate::helpers::ADMIN_PASSWORD)
        .await;
}

const INJECTIONS: &[&str] = &[
    "' OR '1'='1",
    "1; DROP TABLE users; --",
    "\" OR 1=1 --",
    "admin@example.com' --",
    "%27%20OR%201%3D1",
    "') UNION SELECT password_hash FROM users --",
    "$1",
    "*",
    "%",
    "_",
    "\\",
    "../../etc/passwd",
    "01900000-0000-7000-8000-000000000000' OR '1'='1",
];

async fn injection_strings_in_filters_and_ids_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.admin_token.clone();
    let acme = app.create_account("acme").await;
    app.create_user("alice@acme.io", Some(&acme)).await;
    let users_before = app.get("/v1/users?limit=1000", &t).await.body["items"]
        .as_array()
        .unwrap()
        .len();
    let filters = [
        "/v1/users?email=",
        "/v1/users?username=",
        "/v1/users?status=",
        "/v1/users?account_id=",
        "/v1/users?cursor=",
        "/v1/accounts?name=",
        "/v1/accounts?status=",
        "/v1/roles?name=",
        "/v1/roles?account_id=",
        "/v1/policies?account_id=",
        "/v1/policies?enabled=",
        "/v1/audit?actor=",
        "/v1/audit?action=",
        "/v1/audit?account_id=",
        "/v1/audit?from=",
        "/v1/audit?cursor=",
        "/v1/revocations?since=",
        "/v1/clients?account_id=",
        "/v1/users/me/permissions?account=",
    ];
    let ids = [
        "/v1/users/",
        "/v1/accounts/",
        "/v1/roles/",
        "/v1/policies/",
        "/v1/clients/",
        "/v1/users/me/sessions/",
        "/v1/api-keys/",
    ];
    for payload in INJECTIONS {
        let encoded: String = url_encode(payload);
        for filter in filters {
            let reply = app.get(&format!("{filter}{encoded}"), &t).await;
            assert!(
                reply.status == StatusCode::OK || reply.status.is_client_error(),
                "{filter}{payload}: {} {}",
                reply.status,
                reply.body
            );
            if reply.status == StatusCode::OK {
                let items = reply.body["items"].as_array().map_or(0, Vec::len);
                assert!(
                    items == 0
                        || filter.contains("audit")
                        || filter.contains("revocations")
                        || filter.contains("permissions"),
                    "{filter}{payload} matched {items} rows"
                );
            }
        }
        for id in ids {
            for method in [Method::GET, Method::DELETE] {
                let reply = app
                    .call(
                        method.clone(),
                        &format!("{id}{encoded}"),
                        Some(&t),
                        Value::Null,
                    )
                    .await;
                assert!(
                    reply.status.is_client_error(),
                    "{method} {id}{payload}: {}",
                    reply.status
                );
            }
        }
        // Identifiers in bodies.
        let login = app
            .token_request(&[
                ("grant_type", "password"),
                ("username", payload),
                ("password", PASSWORD),
            ])
            .await;
        assert_eq!(login.status, StatusCode::BAD_REQUEST, "login as {payload}");
        let user = app
            .post(
                "/v1/users",
                &t,
                json!({"email": payload, "password": PASSWORD}),
            )
            .await;
        assert_eq!(
            user.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "user {payload}"
        );
        let account = app
            .post(
                "/v1/accounts",
                &t,
                json!({"name": payload, "display_name": "x"}),
            )
            .await;
        assert_eq!(
            account.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "account {payload}"
        );
        let check = app
            .post(
                "/v1/check",
                &t,
                json!({"action": "documents:read", "resource": {"type": "document", "id": payload, "attributes": {"owner_id": payload}}, "context": {"note": payload}}),
            )
            .await;
        assert_eq!(
            check.status,
            StatusCode::OK,
            "a payload as data is just data"
        );
        let principal = app
            .post(
                "/v1/check",
                &t,
                json!({"principal": payload, "action": "documents:read", "resource": {"type": "document", "id": "1"}}),
            )
            .await;
        assert!(principal.status.is_client_error(), "principal {payload}");
    }
    let users_after = app.get("/v1/users?limit=1000", &t).await.body["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(users_before, users_after, "nothing was created or removed");
    app.login("alice@acme.io", PASSWORD).await;
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

crate::both!(
    ecdsa_zero_signatures_and_embedded_keys_are_refused,
    megabyte_passwords_are_refused_before_hashing,
    injection_strings_in_filters_and_ids_change_nothing,
);
