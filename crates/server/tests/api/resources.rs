//! The resource registry: writes, reads, lists and bulk writes with their permissions and
//! tenant bounds, stored attributes deciding checks (they win over a request's), and writes
//! racing on one key.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{Backend, TestApp, PASSWORD};

async fn registry_writes_reads_and_lists(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let globex = app.create_account("globex").await;
    let admin = &app.admin_token;
    let path = "/v1/resources/document/d1";
    let put = app
        .put(
            path,
            admin,
            json!({"account_id": acme, "attributes": {"owner_id": "u1", "n": 2},
                                "parents": [{"type": "folder", "id": "f1"}]}),
        )
        .await;
    assert_eq!(put.status, StatusCode::CREATED, "{}", put.body);
    assert_eq!(put.body["type"], "document");
    assert_eq!(put.body["attributes"]["n"], 2);
    let again = app
        .put(
            path,
            admin,
            json!({"account_id": acme, "attributes": {"owner_id": "u2"}}),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    // The same type and id in another account, and globally, are other resources.
    for account in [json!(globex), Value::Null] {
        let other = app
            .put(
                path,
                admin,
                json!({"account_id": account, "attributes": {"owner_id": "x"}}),
            )
            .await;
        assert_eq!(other.status, StatusCode::CREATED, "{}", other.body);
    }
    let read = app.get(&format!("{path}?account_id={acme}"), admin).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["attributes"], json!({"owner_id": "u2"}));
    assert_eq!(read.body["parents"], json!([]));
    let global = app.get(path, admin).await;
    assert_eq!(global.body["attributes"], json!({"owner_id": "x"}));
    // Ids with slashes and spaces travel percent-encoded.
    let odd = app
        .put(
            "/v1/resources/document/a%2Fb%20c",
            admin,
            json!({"account_id": acme}),
        )
        .await;
    assert_eq!(odd.status, StatusCode::CREATED, "{}", odd.body);
    assert_eq!(odd.body["id"], "a/b c");

    // Paginated, in key order, filtered by account and type.
    let mut seen = Vec::new();
    let mut url = format!("/v1/resources?account_id={acme}&limit=1");
    loop {
        let page = app.get(&url, admin).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        for item in page.body["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(cursor) => {
                url = format!("/v1/resources?account_id={acme}&limit=1&cursor={cursor}")
            }
            None => break,
        }
    }
    assert_eq!(seen, ["a/b c", "d1"]);
    let typed = app.get("/v1/resources?type=folder", admin).await;
    assert_eq!(typed.body["items"], json!([]));
    let bad = app.get("/v1/resources?cursor=bm9wZQ", admin).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Bad input is a 422 naming the field, and nothing is written.
    for body in [
        json!({"attributes": {"x": null}}),
        json!({"attributes": {"x": 1.5}}),
        json!({"parents": [{"type": "Role", "id": "super_admin"}]}),
        json!({"parents": [{"type": "not a type", "id": "x"}]}),
        json!({"unknown": 1}),
    ] {
        let reply = app
            .put("/v1/resources/document/bad", admin, body.clone())
            .await;
        assert!(
            reply.status == StatusCode::UNPROCESSABLE_ENTITY
                || reply.status == StatusCode::BAD_REQUEST,
            "{body}: {} {}",
            reply.status,
            reply.body
        );
    }
    for kind in ["Role", "Action", "not%20a%20type"] {
        let reply = app
            .put(&format!("/v1/resources/{kind}/x"), admin, json!({}))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{kind}: {}",
            reply.body
        );
    }
    assert_eq!(
        app.get("/v1/resources/document/bad", admin).await.status,
        StatusCode::NOT_FOUND
    );

    // Bulk: all or nothing.
    let items: Vec<Value> = (0..300)
        .map(|i| json!({"type": "page", "id": format!("p{i:03}"), "account_id": acme, "attributes": {"i": i}}))
        .collect();
    let bulk = app
        .post("/v1/resources/bulk", admin, json!({"resources": items}))
        .await;
    assert_eq!(bulk.status, StatusCode::OK, "{}", bulk.body);
    assert_eq!(bulk.body["results"].as_array().unwrap().len(), 300);
    assert_eq!(bulk.body["results"][0]["created"], true);
    let broken = app
        .post(
            "/v1/resources/bulk",
            admin,
            json!({"resources": [{"type": "page", "id": "new-one", "account_id": acme},
                                 {"type": "page", "id": "p001", "account_id": acme, "attributes": {"x": null}}]}),
        )
        .await;
    assert_eq!(
        broken.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        broken.body
    );
    assert!(
        broken.body.to_string().contains("resources[1]"),
        "{}",
        broken.body
    );
    let none = app
        .get(
            &format!("/v1/resources/page/new-one?account_id={acme}"),
            admin,
        )
        .await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);

    // Delete.
    let gone = app
        .delete(&format!("{path}?account_id={globex}"), admin)
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let again = app
        .delete(&format!("{path}?account_id={globex}"), admin)
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

async fn tenants_see_and_write_their_own_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let globex = app.create_account("globex").await;
    let (_, acme_admin) = app.account_admin("boss@acme.io", &acme).await;
    let (_, globex_admin) = app.account_admin("boss@globex.io", &globex).await;
    // Without an account named, an account admin writes in its own.
    let mine = app
        .put(
            "/v1/resources/document/d1",
            &acme_admin,
            json!({"attributes": {"owner_id": "a"}}),
        )
        .await;
    assert_eq!(mine.status, StatusCode::CREATED, "{}", mine.body);
    assert_eq!(mine.body["account_id"], acme.as_str());
    // Another tenant cannot read, replace or delete it; its own d1 is a different resource.
    let path = format!("/v1/resources/document/d1?account_id={acme}");
    assert_eq!(
        app.get(&path, &globex_admin).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete(&path, &globex_admin).await.status,
        StatusCode::NOT_FOUND
    );
    let theirs = app
        .put(
            "/v1/resources/document/d1",
            &globex_admin,
            json!({"account_id": acme, "attributes": {}}),
        )
        .await;
    assert!(
        matches!(theirs.status, StatusCode::NOT_FOUND | StatusCode::FORBIDDEN),
        "{}",
        theirs.body
    );
    let global = app
        .put(
            "/v1/resources/document/d1",
            &globex_admin,
            json!({"account_id": null}),
        )
        .await;
    assert_eq!(global.status, StatusCode::FORBIDDEN, "{}", global.body);
    let list = app.get("/v1/resources", &globex_admin).await;
    assert_eq!(list.body["items"], json!([]));
    let listed = app
        .get(&format!("/v1/resources?account_id={acme}"), &globex_admin)
        .await;
    assert_eq!(listed.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/v1/resources/document/d1", &acme_admin).await.body["attributes"]["owner_id"],
        "a"
    );
    // A plain member may do neither.
    let member = app.create_user("member@acme.io", Some(&acme)).await;
    let role = app.role_id("member").await;
    app.grant(&member, &role, Some(&acme)).await;
    let token = app.login("member@acme.io", PASSWORD).await;
    assert_eq!(
        app.put("/v1/resources/document/d2", &token, json!({}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/v1/resources", &token).await.status,
        StatusCode::FORBIDDEN
    );
    // No credential: 401.
    let anonymous = app
        .client
        .get(app.url("/v1/resources"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

async fn stored_attributes_decide_and_win(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let owner = app.create_user("owner@acme.io", Some(&acme)).await;
    let other = app.create_user("other@acme.io", Some(&acme)).await;
    let reply = app
        .post(
            "/v1/policies",
            &app.admin_token,
            json!({"account_id": acme, "enabled": true,
                   "cedar": "permit(principal, action == Action::\"documents:edit\", resource in folder::\"shared\") when { resource.owner_id == principal.id };"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let put = app
        .put(
            "/v1/resources/document/d1",
            &app.admin_token,
            json!({"account_id": acme, "attributes": {"owner_id": owner}, "parents": [{"type": "folder", "id": "shared"}]}),
        )
        .await;
    assert_eq!(put.status, StatusCode::CREATED, "{}", put.body);
    let (app, acme) = (&app, &acme);
    let check = |principal: &str, resource: Value| {
        let body = json!({"principal": principal, "account_id": acme, "action": "documents:edit", "resource": resource});
        async move {
            let reply = app.post("/v1/check", &app.admin_token, body).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            reply.body["allowed"].as_bool().unwrap()
        }
    };
    // Only an id: the stored owner and folder decide.
    assert!(check(&owner, json!({"type": "document", "id": "d1"})).await);
    assert!(!check(&other, json!({"type": "document", "id": "d1"})).await);
    // A request cannot restate the owner or the folder of a registered resource.
    assert!(
        !check(
            &other,
            json!({"type": "document", "id": "d1", "attributes": {"owner_id": other}})
        )
        .await
    );
    assert!(
        check(
            &owner,
            json!({"type": "document", "id": "d1", "parents": []})
        )
        .await
    );
    // Unregistered resources still take what the request sends.
    assert!(
        check(
            &other,
            json!({"type": "document", "id": "d2", "attributes": {"owner_id": other},
                                 "parents": [{"type": "folder", "id": "shared"}]})
        )
        .await
    );
    // A change reaches decisions at once on this node; a removal too.
    let moved = app
        .put("/v1/resources/document/d1", &app.admin_token, json!({"account_id": acme, "attributes": {"owner_id": other}, "parents": [{"type": "folder", "id": "shared"}]}))
        .await;
    assert_eq!(moved.status, StatusCode::OK);
    assert!(check(&other, json!({"type": "document", "id": "d1"})).await);
    assert!(!check(&owner, json!({"type": "document", "id": "d1"})).await);
    let gone = app
        .delete(
            &format!("/v1/resources/document/d1?account_id={acme}"),
            &app.admin_token,
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    assert!(!check(&other, json!({"type": "document", "id": "d1"})).await);
    // Another account's registered d1 never reaches acme's decisions.
    let globex = app.create_account("globex").await;
    let foreign = app
        .put("/v1/resources/document/d1", &app.admin_token, json!({"account_id": globex, "attributes": {"owner_id": owner}, "parents": [{"type": "folder", "id": "shared"}]}))
        .await;
    assert_eq!(foreign.status, StatusCode::CREATED);
    assert!(!check(&owner, json!({"type": "document", "id": "d1"})).await);
}

async fn racing_writes_to_one_key_leave_one_row(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let writes = (0..16).map(|i| {
        let app = &app;
        let acme = acme.clone();
        async move {
            app.put(
                "/v1/resources/document/hot",
                &app.admin_token,
                json!({"account_id": acme, "attributes": {"writer": i}}),
            )
            .await
        }
    });
    let replies = futures_util::future::join_all(writes).await;
    for reply in &replies {
        assert!(
            matches!(reply.status, StatusCode::CREATED | StatusCode::OK),
            "{} {}",
            reply.status,
            reply.body
        );
    }
    assert!(replies.iter().any(|r| r.status == StatusCode::CREATED));
    let list = app
        .get(
            &format!("/v1/resources?account_id={acme}"),
            &app.admin_token,
        )
        .await;
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", list.body);
    let writer = items[0]["attributes"]["writer"].as_i64().unwrap();
    assert!((0..16).contains(&writer));
    // The snapshot agrees with the table after the race.
    app.state.catch_up().await;
    let stored = app.state.services().engine.snapshot();
    let account = warden_core::ids::AccountId::parse(&acme).unwrap();
    let entry = stored
        .registered(Some(&account), "document", "hot")
        .expect("in the snapshot");
    assert_eq!(entry.attributes()["writer"], writer);
}

crate::both!(
    registry_writes_reads_and_lists,
    tenants_see_and_write_their_own_only,
    stored_attributes_decide_and_win,
    racing_writes_to_one_key_leave_one_row,
);
