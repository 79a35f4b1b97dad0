//! Changes made through one node honoured by another: a grant within one second (the
//! issue's bound; nodes poll every 200 ms), then revocations, ended sessions and removed
//! members (with a looser bound, so a busy CI machine does not fail the run).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::decisions::{check, doc, world};
use crate::helpers::Backend;

async fn a_change_on_one_node_is_honoured_by_another_within_a_second(backend: Backend) {
    let w = world(backend).await;
    let peer = w.app.spawn_peer().await;
    let ask = |token: String| {
        let peer = &peer;
        async move {
            check(peer, &token, "invoices:approve", doc("7", json!({}))).await["allowed"]
                .as_bool()
                .unwrap()
        }
    };
    assert!(!ask(w.bob_token.clone()).await);
    let approver = w
        .app
        .create_role("approver", Some(&w.acme), &["invoices:approve"], &[])
        .await;
    w.app.grant(&w.bob, &approver, Some(&w.acme)).await;
    let granted = Instant::now();
    while !ask(w.bob_token.clone()).await {
        assert!(
            granted.elapsed() < Duration::from_secs(1),
            "the peer did not honour the grant within a second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // And a revocation, the other way round.
    let revoke = peer
        .delete(
            &format!("/v1/users/{}/roles/{approver}?account_id={}", w.bob, w.acme),
            &peer.admin_token,
        )
        .await;
    assert_eq!(revoke.status, StatusCode::NO_CONTENT, "{}", revoke.body);
    let revoked = Instant::now();
    loop {
        let allowed = check(
            &w.app,
            &w.bob_token,
            "invoices:approve",
            doc("7", json!({})),
        )
        .await["allowed"]
            .as_bool()
            .unwrap();
        if !allowed {
            break;
        }
        assert!(
            revoked.elapsed() < Duration::from_secs(3),
            "the first node did not honour the revocation"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A session ended on one node stops its tokens on the other.
    let sessions = w.app.get("/v1/users/me/sessions", &w.alice_token).await;
    assert_eq!(sessions.status, StatusCode::OK);
    let ended = w
        .app
        .delete(
            &format!("/v1/users/{}/sessions", w.alice),
            &w.app.admin_token,
        )
        .await;
    assert!(ended.status.is_success(), "{}", ended.status);
    let at = Instant::now();
    loop {
        let reply = peer.get("/v1/users/me", &w.alice_token).await;
        if reply.status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            at.elapsed() < Duration::from_secs(3),
            "session still live on the peer"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A member removed from the account keeps no session there.
    let removed = w
        .app
        .delete(
            &format!("/v1/accounts/{}/members/{}", w.acme, w.bob),
            &w.app.admin_token,
        )
        .await;
    assert!(removed.status.is_success(), "{}", removed.status);
    let at = Instant::now();
    loop {
        let reply = peer.get("/v1/users/me", &w.bob_token).await;
        if reply.status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            at.elapsed() < Duration::from_secs(3),
            "a removed member's token still works"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

crate::both!(a_change_on_one_node_is_honoured_by_another_within_a_second);

/// On PostgreSQL a committed change wakes waiting nodes at once (LISTEN/NOTIFY) instead of at
/// their next poll: a 60 s wait returns as soon as another node writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_notifies_waiting_nodes_of_changes() {
    use warden_core::store::Store;
    let app = crate::helpers::TestApp::spawn(Backend::Postgres).await;
    // Another node's store: its own listener, so this node's poll loop cannot take the wake-up.
    let store = warden_store::SqlStore::connect(&app.database_url(), 1)
        .await
        .unwrap();
    // The first wait opens the listener; later ones are woken by NOTIFY.
    store.wait_for_changes(Duration::from_millis(50)).await;
    let waiter = tokio::spawn(async move {
        let started = Instant::now();
        store.wait_for_changes(Duration::from_secs(60)).await;
        started.elapsed()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.create_account("notified").await;
    let waited = tokio::time::timeout(Duration::from_secs(20), waiter)
        .await
        .expect("the wait returned long before its 60 s timeout")
        .unwrap();
    assert!(waited < Duration::from_secs(20), "{waited:?}");
}
