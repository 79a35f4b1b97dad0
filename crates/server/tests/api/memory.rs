//! Authentication and decisions from memory: once a node is warm, a bearer token and an API
//! key are answered without a store call (counted by a wrapper around the store, never timed).

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{basic, create_client, Backend, TestApp, PASSWORD};

/// Store calls made on the node's own schedule, whatever the requests: tailing the change log
/// and the audit writer's batches.
const BACKGROUND: &[&str] = &[
    "change_head",
    "changes_after",
    "wait_for_changes",
    "prune_changes",
    "append_audit",
];

/// The calls counted since the last look, without the background ones.
fn request_calls(app: &TestApp) -> BTreeMap<&'static str, u64> {
    let mut calls = app.counted.as_ref().expect("a counted app").take();
    calls.retain(|method, _| !BACKGROUND.contains(method));
    calls
}

async fn bearer_and_api_key_requests_make_no_store_call_once_warm(backend: Backend) {
    let app = TestApp::spawn_counted(backend, &[]).await;
    let acme = app.create_account("acme").await;
    let user = app.create_user("reader@acme.io", Some(&acme)).await;
    let reader = app
        .create_role("reader", Some(&acme), &["documents:read"], &[])
        .await;
    app.grant(&user, &reader, Some(&acme)).await;
    let token = app
        .login_to("reader@acme.io", PASSWORD, Some(acme.as_str()))
        .await;
    let created = app
        .post(
            "/v1/api-keys",
            &token,
            json!({"name": "ci", "roles": [reader]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let key = created.body["key"].as_str().unwrap().to_owned();
    let machine = create_client(
        &app,
        &app.admin_token,
        json!({"name": "indexer", "account_id": acme, "roles": [reader]}),
    )
    .await;
    let client_key = app
        .post(
            &format!("/v1/clients/{}/api-keys", machine.id),
            &app.admin_token,
            json!({"name": "indexer key", "roles": [reader]}),
        )
        .await;
    assert_eq!(
        client_key.status,
        StatusCode::CREATED,
        "{}",
        client_key.body
    );
    let client_key = client_key.body["key"].as_str().unwrap().to_owned();
    let check = json!({"action": "documents:read", "resource": {"type": "document", "id": "7"}});
    let credentials = [token.as_str(), key.as_str(), client_key.as_str()];

    // Warm up: the first use of a key in a minute is written down.
    for credential in credentials {
        let reply = app.post("/v1/check", credential, check.clone()).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.body["allowed"], true, "{}", reply.body);
    }
    let _ = request_calls(&app);

    for _ in 0..10 {
        for credential in credentials {
            let reply = app.post("/v1/check", credential, check.clone()).await;
            assert_eq!(reply.body["allowed"], true, "{}", reply.body);
        }
    }
    assert_eq!(
        request_calls(&app),
        BTreeMap::new(),
        "30 decisions (10 rounds) by a bearer token and two API keys read nothing from the store"
    );

    // The profile is the answer, not the authentication: one read of the user, nothing else.
    for credential in [token.as_str(), key.as_str()] {
        let me = app.get("/v1/users/me", credential).await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.body);
        assert_eq!(me.body["id"], user.as_str());
    }
    assert_eq!(request_calls(&app), BTreeMap::from([("user", 2)]));
}

async fn a_revoked_api_key_is_refused_at_once_from_memory(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let peer = app.spawn_peer().await;
    let user = app.create_user("owner@example.com", None).await;
    let token = app.login("owner@example.com", PASSWORD).await;
    let created = app
        .post("/v1/api-keys", &token, json!({"name": "ci", "roles": []}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let key = created.body["key"].as_str().unwrap().to_owned();
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get("/v1/users/me", &key).await.body["id"],
        user.as_str(),
        "usable at once on the node that made it"
    );
    // The peer learns of the key through the change log.
    let mut seen = false;
    for _ in 0..50 {
        if peer.get("/v1/users/me", &key).await.status == StatusCode::OK {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen, "the peer accepts the new key within five seconds");

    let revoked = app.delete(&format!("/v1/api-keys/{id}"), &token).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.body);
    assert_eq!(
        app.get("/v1/users/me", &key).await.status,
        StatusCode::UNAUTHORIZED,
        "refused at once on the node that revoked it"
    );
    let mut refused = false;
    for _ in 0..50 {
        if peer.get("/v1/users/me", &key).await.status == StatusCode::UNAUTHORIZED {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        refused,
        "the peer refuses the revoked key within five seconds"
    );
}

async fn uses_racing_a_revocation_end_with_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("racer@example.com", None).await;
    let token = app.login("racer@example.com", PASSWORD).await;
    let created = app
        .post("/v1/api-keys", &token, json!({"name": "ci", "roles": []}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let key = created.body["key"].as_str().unwrap().to_owned();
    let id = created.body["id"].as_str().unwrap().to_owned();

    // Uses in flight while the key is revoked: each is answered one way or the other.
    let uses = (0..20).map(|_| app.get("/v1/users/me", &key));
    let path = format!("/v1/api-keys/{id}");
    let revoke = app.delete(&path, &token);
    let (answers, revoked) = tokio::join!(futures_util::future::join_all(uses), revoke);
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.body);
    for answer in &answers {
        assert!(
            matches!(answer.status, StatusCode::OK | StatusCode::UNAUTHORIZED),
            "{} {}",
            answer.status,
            answer.body
        );
    }
    // Once the revocation is answered, no use of the key on this node succeeds.
    let after =
        futures_util::future::join_all((0..20).map(|_| app.get("/v1/users/me", &key))).await;
    assert!(
        after.iter().all(|a| a.status == StatusCode::UNAUTHORIZED),
        "a revoked key still worked"
    );
}

/// Service clients authenticate from memory too: once the node knows a client, neither its
/// tokens nor its authentication at introspection read the client or its account.
async fn client_authentication_makes_no_store_call_once_known(backend: Backend) {
    let app = TestApp::spawn_counted(backend, &[]).await;
    let acme = app.create_account("acme").await;
    let reader = app
        .create_role("reader", Some(&acme), &["documents:read"], &[])
        .await;
    let machine = create_client(
        &app,
        &app.admin_token,
        json!({"name": "indexer", "account_id": acme, "roles": [reader]}),
    )
    .await;
    let cc = [("grant_type", "client_credentials")];
    let first = basic(&app, &machine.client_id, &machine.secret, &cc).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let token = first.body["access_token"].as_str().unwrap().to_owned();
    let _ = request_calls(&app);
    for _ in 0..10 {
        let issued = basic(&app, &machine.client_id, &machine.secret, &cc).await;
        assert_eq!(issued.status, StatusCode::OK, "{}", issued.body);
    }
    assert_eq!(
        request_calls(&app),
        BTreeMap::new(),
        "10 client_credentials grants read nothing from the store"
    );
    // Introspection's answer is the store's (the token's client and account, read once each);
    // authenticating the introspecting client adds nothing.
    for _ in 0..10 {
        let introspected = app
            .client
            .post(app.url("/oauth/introspect"))
            .basic_auth(&machine.client_id, Some(&machine.secret))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(introspected.status(), StatusCode::OK);
    }
    assert_eq!(
        request_calls(&app),
        BTreeMap::from([("account", 10), ("client_by_client_id", 10)])
    );
}

/// Whether `node` refuses the client's credentials within five seconds (it polls the change
/// log).
async fn refused_within_five_seconds(node: &TestApp, client_id: &str, secret: &str) -> bool {
    for _ in 0..50 {
        let reply = basic(
            node,
            client_id,
            secret,
            &[("grant_type", "client_credentials")],
        )
        .await;
        if reply.status == StatusCode::UNAUTHORIZED {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// What another node (or the CLI) changes is honoured without waiting for the change feed
/// where the snapshot would refuse: a new client and a new secret work at once on a peer; an
/// old secret and a disabled client are refused there once the feed has caught up.
async fn a_peer_knows_new_clients_and_secrets_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let peer = app.spawn_peer().await;
    let cc = [("grant_type", "client_credentials")];
    let machine = create_client(&app, &app.admin_token, json!({"name": "indexer"})).await;
    let on_peer = basic(&peer, &machine.client_id, &machine.secret, &cc).await;
    assert_eq!(
        on_peer.status,
        StatusCode::OK,
        "a new client, at once: {}",
        on_peer.body
    );

    let rotated = app
        .post(
            &format!("/v1/clients/{}/secret", machine.id),
            &app.admin_token,
            serde_json::Value::Null,
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let new_secret = rotated.body["client_secret"].as_str().unwrap().to_owned();
    let with_new = basic(&peer, &machine.client_id, &new_secret, &cc).await;
    assert_eq!(
        with_new.status,
        StatusCode::OK,
        "a new secret, at once: {}",
        with_new.body
    );
    assert!(
        refused_within_five_seconds(&peer, &machine.client_id, &machine.secret).await,
        "the peer refuses the old secret within five seconds"
    );

    let disabled = app
        .patch(
            &format!("/v1/clients/{}", machine.id),
            &app.admin_token,
            json!({"status": "disabled"}),
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.body);
    assert!(
        refused_within_five_seconds(&peer, &machine.client_id, &new_secret).await,
        "the peer refuses a disabled client within five seconds"
    );

    // A client of an account: the account disabled on one node is refused on the peer too;
    // the client deleted is refused at once on the node that deleted it.
    let acme = app.create_account("acme").await;
    let tenant = create_client(
        &app,
        &app.admin_token,
        json!({"name": "tenant indexer", "account_id": acme}),
    )
    .await;
    let warm = basic(&peer, &tenant.client_id, &tenant.secret, &cc).await;
    assert_eq!(warm.status, StatusCode::OK, "{}", warm.body);
    let set_status = async |status: &str| {
        let reply = app
            .patch(
                &format!("/v1/accounts/{acme}"),
                &app.admin_token,
                json!({ "status": status }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    };
    set_status("disabled").await;
    assert_eq!(
        basic(&app, &tenant.client_id, &tenant.secret, &cc)
            .await
            .status,
        StatusCode::UNAUTHORIZED,
        "refused at once on the node that disabled the account"
    );
    assert!(
        refused_within_five_seconds(&peer, &tenant.client_id, &tenant.secret).await,
        "the peer refuses a disabled account's client within five seconds"
    );
    set_status("active").await;
    let back = basic(&app, &tenant.client_id, &tenant.secret, &cc).await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    let deleted = app
        .delete(&format!("/v1/clients/{}", tenant.id), &app.admin_token)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    assert_eq!(
        basic(&app, &tenant.client_id, &tenant.secret, &cc)
            .await
            .status,
        StatusCode::UNAUTHORIZED,
        "refused at once on the node that deleted it"
    );
}

crate::both!(
    uses_racing_a_revocation_end_with_it,
    client_authentication_makes_no_store_call_once_known,
    a_peer_knows_new_clients_and_secrets_at_once,
    bearer_and_api_key_requests_make_no_store_call_once_warm,
    a_revoked_api_key_is_refused_at_once_from_memory,
);
