//! Signing-key rotation with tokens in flight.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{Backend, TestApp};

fn header(token: &str) -> Value {
    crate::helpers::jwt_part(token, 0)
}

async fn jwks_kids(app: &TestApp) -> Vec<String> {
    let jwks: Value = app.get_json("/.well-known/jwks.json").await;
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

async fn a_rotated_key_is_published_at_once_but_signs_only_after_the_cache_lifetime(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let old_kid = header(&app.admin_token)["kid"].as_str().unwrap().to_owned();
    let rotated = app
        .post("/v1/keys/rotate", &app.admin_token, json!({}))
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert_eq!(rotated.body["state"], "next");
    let new_kid = rotated.body["kid"].as_str().unwrap().to_owned();
    let kids = jwks_kids(&app).await;
    assert!(
        kids.contains(&old_kid) && kids.contains(&new_kid),
        "{kids:?}"
    );
    let fresh = app
        .login(crate::helpers::ADMIN_EMAIL, crate::helpers::ADMIN_PASSWORD)
        .await;
    assert_eq!(
        header(&fresh)["kid"],
        old_kid.as_str(),
        "verifiers may not have the new key yet"
    );
    let listed = app.get("/v1/keys", &app.admin_token).await;
    let states: Vec<(String, String)> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["kid"].as_str().unwrap().to_owned(),
                k["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        states.contains(&(old_kid, "active".into())) && states.contains(&(new_kid, "next".into())),
        "{states:?}"
    );
}

async fn tokens_signed_before_and_after_the_switch_all_verify(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("WARDEN_JWKS_CACHE_TTL", "1")]).await;
    let before = app.admin_token.clone();
    let rotated = app
        .post(
            "/v1/keys/rotate",
            &app.admin_token,
            json!({"algorithm": "ES256"}),
        )
        .await;
    let new_kid = rotated.body["kid"].as_str().unwrap().to_owned();
    // Activation is a point in time; the node's key refresher picks it up within a second.
    let mut after = String::new();
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        after = app
            .login(crate::helpers::ADMIN_EMAIL, crate::helpers::ADMIN_PASSWORD)
            .await;
        if header(&after)["kid"] == new_kid.as_str() {
            break;
        }
    }
    assert_eq!(header(&after)["kid"], new_kid.as_str());
    assert_eq!(header(&after)["alg"], "ES256");
    for token in [&before, &after] {
        assert_eq!(app.get("/v1/users/me", token).await.status, StatusCode::OK);
    }
    assert_eq!(
        jwks_kids(&app).await.len(),
        2,
        "the old key stays published while its tokens live"
    );
    let states = app.get("/v1/keys", &after).await;
    let old = states.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] != new_kid.as_str())
        .unwrap()
        .clone();
    assert_eq!(old["state"], "retiring");
    assert!(old["retire_at"].is_string());
}

async fn only_global_administrators_see_or_rotate_keys(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let (_, boss) = app.account_admin("boss@acme.io", &acme).await;
    assert_eq!(
        app.get("/v1/keys", &boss).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post("/v1/keys/rotate", &boss, json!({})).await.status,
        StatusCode::FORBIDDEN
    );
    let bad = app
        .post(
            "/v1/keys/rotate",
            &app.admin_token,
            json!({"algorithm": "HS256"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(jwks_kids(&app).await.len(), 1, "nothing rotated");
}

/// Three rotations while tokens are issued and used without pause, on this node and a peer:
/// no token is ever refused, whichever key signed it.
async fn rotations_under_load_refuse_no_token(backend: Backend) {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    // Above the nodes' one-second key refresh, as any real cache lifetime is.
    let app = TestApp::spawn_with(backend, &[("WARDEN_JWKS_CACHE_TTL", "2")]).await;
    let peer = Arc::new(app.spawn_peer().await);
    let tokens = Arc::new(Mutex::new(vec![app.admin_token.clone()]));
    let stop = Arc::new(AtomicBool::new(false));
    let (used, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut users = Vec::new();
    for worker in 0..4_usize {
        let (tokens, stop, used, refused) =
            (tokens.clone(), stop.clone(), used.clone(), refused.clone());
        let (client, bases) = (app.client.clone(), [app.base.clone(), peer.base.clone()]);
        users.push(tokio::spawn(async move {
            let mut n = worker;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let token = {
                    let all = tokens.lock().unwrap();
                    all[n % all.len()].clone()
                };
                let status = client
                    .get(format!("{}/v1/users/me", bases[n % 2]))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .status();
                used.fetch_add(1, Ordering::Relaxed);
                if status != StatusCode::OK {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let mut kids = std::collections::BTreeSet::new();
    for round in 0..3 {
        let rotated = app
            .post("/v1/keys/rotate", &app.admin_token, json!({}))
            .await;
        assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
        // Logins go on through the switch, alternately on each node.
        for i in 0..25 {
            let node = if (round + i) % 2 == 0 { &app } else { &*peer };
            let token = node
                .login(crate::helpers::ADMIN_EMAIL, crate::helpers::ADMIN_PASSWORD)
                .await;
            kids.insert(header(&token)["kid"].as_str().unwrap().to_owned());
            tokens.lock().unwrap().push(token);
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for user in users {
        user.await.unwrap();
    }
    assert!(
        kids.len() >= 3,
        "tokens of several keys were used: {kids:?}"
    );
    assert!(used.load(Ordering::Relaxed) > 100);
    assert_eq!(
        refused.load(Ordering::Relaxed),
        0,
        "tokens refused during rotations"
    );
}

crate::both!(
    rotations_under_load_refuse_no_token,
    a_rotated_key_is_published_at_once_but_signs_only_after_the_cache_lifetime,
    tokens_signed_before_and_after_the_switch_all_verify,
    only_global_administrators_see_or_rotate_keys,
);
