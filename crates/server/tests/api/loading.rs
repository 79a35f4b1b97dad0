//! The snapshot's bulk reads (a page of users or resources as one aggregated row) return
//! exactly what the row-by-row reads return, page boundaries included, on both stores.

use reqwest::StatusCode;
use serde_json::{json, Value};
use warden_core::ids::UserId;
use warden_core::store::Store;
use warden_testkit::CountingStore;

use crate::helpers::{Backend, TestApp};

async fn bulk_reads_match_the_row_by_row_reads(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = &app.admin_token;
    let acme = app.create_account("acme").await;
    let globex = app.create_account("globex").await;
    let editor = app
        .create_role("editor", Some(&acme), &["documents:edit"], &[])
        .await;
    let auditor = app
        .create_role("auditor", None, &["reports:read"], &[])
        .await;
    let mut users = Vec::new();
    for i in 0..7 {
        users.push(
            app.create_user(&format!("u{i}@example.com"), Some(&acme))
                .await,
        );
    }
    // Roles in an account and globally, several per user, none for some.
    app.grant(&users[0], &editor, Some(&acme)).await;
    app.grant(&users[0], &auditor, None).await;
    app.grant(&users[3], &editor, Some(&acme)).await;
    let attributes = app
        .patch(
            &format!("/v1/users/{}", users[1]),
            admin,
            json!({"attributes": {"team": "red", "level": 3, "tags": ["a", "b"], "nested": {"x": null}}}),
        )
        .await;
    assert_eq!(attributes.status, StatusCode::OK, "{}", attributes.body);
    let disabled = app
        .patch(
            &format!("/v1/users/{}", users[2]),
            admin,
            json!({"status": "disabled"}),
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.body);
    for (account, id, parents) in [
        (json!(acme), "d1", json!([{"type": "folder", "id": "f1"}])),
        (json!(globex), "d1", json!([])),
        (Value::Null, "d1", json!([])),
        (
            json!(acme),
            "d2",
            json!([{"type": "folder", "id": "f1"}, {"type": "folder", "id": "f2"}]),
        ),
        (json!(acme), "é \"quoted\" Z", json!([])),
        (json!(acme), "D3", json!([])),
    ] {
        let path = format!("/v1/resources/document/{}", urlencode(id));
        let put = app
            .put(
                &path,
                admin,
                json!({"account_id": account, "attributes": {"owner_id": users[0], "n": -9007199254740993_i64, "d": {"__extn": {"fn": "decimal", "arg": "1.5"}}, "s": "x\ty"}, "parents": parents}),
            )
            .await;
        assert_eq!(put.status, StatusCode::CREATED, "{}", put.body);
    }

    let store = app.state.services().store.clone();
    // The counting store forwards the row-by-row reads and keeps the trait's default bulk
    // reads, which compose them: the reference.
    let reference = CountingStore::new(store.clone());
    for limit in [1, 2, 3, 5000] {
        let (bulk, rows) = (
            all_users(store.as_ref(), limit).await,
            all_users(&reference, limit).await,
        );
        assert_eq!(bulk.len(), 8, "the admin and seven users");
        assert_eq!(bulk, rows, "users read {limit} per page");
        let (bulk, rows) = (
            all_resources(store.as_ref(), limit).await,
            all_resources(&reference, limit).await,
        );
        assert_eq!(bulk.len(), 6);
        assert_eq!(bulk, rows, "resources read {limit} per page");
    }
    let held = &all_users(store.as_ref(), 10).await;
    let first = held
        .iter()
        .find(|u| u.id == UserId::parse(&users[0]).unwrap())
        .unwrap();
    assert_eq!(first.held.len(), 2, "{first:?}");
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn all_users(store: &dyn Store, limit: u32) -> Vec<warden_core::store::LoadedUser> {
    let mut all = Vec::new();
    let mut after: Option<UserId> = None;
    loop {
        let page = store.load_users(after.as_ref(), limit).await.unwrap();
        assert!(page.len() <= limit as usize);
        let done = page.len() < limit as usize;
        after = page.last().map(|u| u.id);
        all.extend(page);
        if done {
            return all;
        }
    }
}

async fn all_resources(store: &dyn Store, limit: u32) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.load_resources(after.as_deref(), limit).await.unwrap();
        assert!(page.len() <= limit as usize);
        let done = page.len() < limit as usize;
        after = page.last().map(warden_core::model::RegisteredResource::key);
        all.extend(page.iter().map(|r| serde_json::to_value(r).unwrap()));
        if done {
            return all;
        }
    }
}

crate::both!(bulk_reads_match_the_row_by_row_reads);
