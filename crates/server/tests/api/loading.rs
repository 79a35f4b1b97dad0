//! The snapshot's bulk reads (a page of users, assignments or resources as one aggregated
//! row, in the backend's fastest order) return exactly what the listing reads return, page
//! boundaries included, on both stores.

use reqwest::StatusCode;
use serde_json::{json, Value};
use warden_core::authz::engine::ResourceEntry;
use warden_core::page::PageRequest;
use warden_core::store::{LoadedResource, LoadedUser, ResourceFilter, Store, UserFilter};

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
    // An address beyond ASCII, with an apostrophe (PostgreSQL writes the page's text by
    // concatenation, the address through `to_json`).
    users.push(
        app.create_user("zoë.o'neil+tag@example.com", Some(&acme))
            .await,
    );
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
    // About 1,500 bytes each (under the 2 kB at which PostgreSQL compresses a row), so that PostgreSQL spreads the resources over several blocks
    // and its pages of one block are several pages.
    let pad: String = (0..40).map(|_| uuid::Uuid::now_v7().to_string()).collect();
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
                json!({"account_id": account, "attributes": {"owner_id": users[0], "n": -9007199254740993_i64, "d": {"__extn": {"fn": "decimal", "arg": "1.5"}}, "s": "x\ty", "pad": pad}, "parents": parents}),
            )
            .await;
        assert_eq!(put.status, StatusCode::CREATED, "{}", put.body);
    }

    let store = app.state.services().store.clone();
    let users_listed = listed_users(store.as_ref()).await;
    let held_listed = listed_assignments(store.as_ref(), &users_listed).await;
    let resources_listed = listed_resources(store.as_ref()).await;
    assert_eq!(users_listed.len(), 9, "the admin and eight users");
    assert_eq!(held_listed.len(), 4, "the admin's and three grants");
    assert_eq!(resources_listed.len(), 6);
    for limit in [1, 2, 3, 5000] {
        let mut users = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = store.load_users(cursor.as_deref(), limit).await.unwrap();
            users.extend(page.rows);
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
        users.sort_by_key(|u| u.id);
        assert_eq!(users, users_listed, "users read {limit} per page");

        let mut held = Vec::new();
        loop {
            let page = store
                .load_assignments(cursor.as_deref(), limit)
                .await
                .unwrap();
            held.extend(page.rows.iter().map(assignment));
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
        held.sort();
        assert_eq!(held, held_listed, "assignments read {limit} per page");

        let mut resources = Vec::new();
        loop {
            let page = store
                .load_resources(cursor.as_deref(), limit)
                .await
                .unwrap();
            resources.extend(page.rows);
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
        resources.sort_by(|a, b| a.key.cmp(&b.key));
        // And the snapshot's entry made from the stored text holds what the listing holds.
        for (loaded, listed) in resources.iter().zip(&listed_records(store.as_ref()).await) {
            let entry = ResourceEntry::stored(&loaded.key, &loaded.attributes, &loaded.parents);
            assert_eq!(loaded.key, listed.key());
            assert_eq!(entry.key(), listed.key());
            assert_eq!(entry.attributes(), listed.attributes);
            assert_eq!(
                serde_json::to_value(entry.parents()).unwrap(),
                serde_json::to_value(&listed.parents).unwrap()
            );
        }
        assert_eq!(
            resources, resources_listed,
            "resources read {limit} per page"
        );
    }
    assert!(
        store.load_users(Some("not a cursor"), 10).await.is_err(),
        "a cursor that is not one is an error, never a silent first page"
    );
}

fn assignment(a: &warden_core::model::Assignment) -> (String, String, Option<String>) {
    (
        a.user_id.to_string(),
        a.role_id.to_string(),
        a.account_id.map(|x| x.to_string()),
    )
}

async fn listed_users(store: &dyn Store) -> Vec<LoadedUser> {
    let page = PageRequest::first(1000);
    let mut users: Vec<LoadedUser> = store
        .users(&UserFilter::default(), &page)
        .await
        .unwrap()
        .into_iter()
        .map(|u| LoadedUser {
            id: u.id,
            status: u.status,
            email: u.email.as_str().to_owned(),
            attributes: u.attributes,
        })
        .collect();
    users.sort_by_key(|u| u.id);
    users
}

async fn listed_assignments(
    store: &dyn Store,
    users: &[LoadedUser],
) -> Vec<(String, String, Option<String>)> {
    let (first, last) = (users.first().unwrap().id, users.last().unwrap().id);
    let mut held: Vec<_> = store
        .assignments_between(&first, &last)
        .await
        .unwrap()
        .iter()
        .map(assignment)
        .collect();
    held.sort();
    held
}

async fn listed_records(store: &dyn Store) -> Vec<warden_core::model::RegisteredResource> {
    let page = PageRequest::first(1000);
    let mut all = store
        .resources(&ResourceFilter::default(), &page)
        .await
        .unwrap();
    all.sort_by_key(warden_core::model::RegisteredResource::key);
    all
}

/// What the snapshot keeps of each listed resource, in the form the bulk read gives.
async fn listed_resources(store: &dyn Store) -> Vec<LoadedResource> {
    let page = PageRequest::first(1000);
    let mut all: Vec<LoadedResource> = store
        .resources(&ResourceFilter::default(), &page)
        .await
        .unwrap()
        .iter()
        .map(|r| LoadedResource {
            key: r.key(),
            attributes: Value::Object(r.attributes.clone()).to_string(),
            parents: serde_json::to_string(&r.parents).unwrap(),
        })
        .collect();
    all.sort_by(|a, b| a.key.cmp(&b.key));
    all
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

crate::both!(bulk_reads_match_the_row_by_row_reads);
