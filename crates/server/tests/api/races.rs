//! Races between concurrent writers, and refusals at the edges: role names that would shadow
//! each other, inheritance cycles made by two edits at once, keys minted beyond a narrowed
//! token's roles, credentials managing credentials, NUL characters the stores cannot hold,
//! high-`s` ECDSA signatures and duplicated token-request parameters.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{Backend, Reply, TestApp};

/// Sends every request at once, each on its own task, and returns the replies in order.
async fn all_at_once(
    app: &TestApp,
    token: &str,
    requests: Vec<(Method, String, Value)>,
) -> Vec<Reply> {
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|(method, path, body)| {
            let request = app
                .client
                .request(method, app.url(&path))
                .bearer_auth(token)
                .json(&body);
            tokio::spawn(async move { TestApp::read(request.send().await.unwrap()).await })
        })
        .collect();
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.unwrap());
    }
    replies
}

async fn an_account_role_and_a_global_role_of_one_name_never_both_exist(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    for round in 0..3 {
        let name = format!("twin{round}");
        let requests = (0..24)
            .map(|i| {
                let account = if i % 2 == 0 { Value::Null } else { json!(acme) };
                (
                    Method::POST,
                    "/v1/roles".to_owned(),
                    json!({"name": name, "account_id": account}),
                )
            })
            .collect();
        let replies = all_at_once(&app, &app.admin_token, requests).await;
        for reply in &replies {
            assert!(
                reply.status == StatusCode::CREATED || reply.status == StatusCode::CONFLICT,
                "{name}: {} {}",
                reply.status,
                reply.body
            );
        }
        let created = replies
            .iter()
            .filter(|r| r.status == StatusCode::CREATED)
            .count();
        assert_eq!(created, 1, "{name}: one scope wins, the other is refused");
        let listed = app
            .get(&format!("/v1/roles?name={name}"), &app.admin_token)
            .await;
        assert_eq!(
            listed.body["items"].as_array().unwrap().len(),
            1,
            "{name}: {}",
            listed.body
        );
    }
}

async fn concurrent_edits_never_store_an_inheritance_cycle(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let t = app.admin_token.clone();
    // Two pairs: one of account roles, one of global roles.
    let pairs = [
        (
            app.create_role("left", Some(&acme), &[], &[]).await,
            app.create_role("right", Some(&acme), &[], &[]).await,
        ),
        (
            app.create_role("north", None, &[], &[]).await,
            app.create_role("south", None, &[], &[]).await,
        ),
    ];
    for (a, b) in &pairs {
        for round in 0..12 {
            for id in [a, b] {
                let reset = app
                    .patch(&format!("/v1/roles/{id}"), &t, json!({"inherits": []}))
                    .await;
                assert_eq!(reset.status, StatusCode::OK, "{}", reset.body);
            }
            let replies = all_at_once(
                &app,
                &t,
                vec![
                    (
                        Method::PATCH,
                        format!("/v1/roles/{a}"),
                        json!({"inherits": [b]}),
                    ),
                    (
                        Method::PATCH,
                        format!("/v1/roles/{b}"),
                        json!({"inherits": [a]}),
                    ),
                ],
            )
            .await;
            let won = replies
                .iter()
                .filter(|r| r.status == StatusCode::OK)
                .count();
            assert_eq!(won, 1, "round {round}: exactly one edit wins");
            let lost = replies.iter().find(|r| r.status != StatusCode::OK).unwrap();
            assert_eq!(
                lost.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{}",
                lost.body
            );
            assert_eq!(lost.body["errors"][0]["field"], "inherits", "{}", lost.body);
            let a_parents = app.get(&format!("/v1/roles/{a}"), &t).await.body["inherits"].clone();
            let b_parents = app.get(&format!("/v1/roles/{b}"), &t).await.body["inherits"].clone();
            assert!(
                a_parents == json!([]) || b_parents == json!([]),
                "round {round}: a cycle was stored: {a_parents} / {b_parents}"
            );
        }
        // Both stay deletable: the child first, then its parent.
        let a_parents = app.get(&format!("/v1/roles/{a}"), &t).await.body["inherits"].clone();
        let order = if a_parents == json!([]) {
            [b, a]
        } else {
            [a, b]
        };
        for id in order {
            let deleted = app.delete(&format!("/v1/roles/{id}"), &t).await;
            assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
        }
    }
}

async fn a_narrowed_token_mints_keys_only_within_its_roles(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let (boss, _) = app.account_admin("boss@acme.io", &acme).await;
    let member = app.role_id("member").await;
    // `vip` grants no permission of its own; a policy gives it meaning.
    let vip = app.create_role("vip", Some(&acme), &[], &[]).await;
    app.grant(&boss, &member, Some(&acme)).await;
    app.grant(&boss, &vip, Some(&acme)).await;
    let policy = app
        .post(
            "/v1/policies",
            &app.admin_token,
            json!({"account_id": acme, "cedar": "permit(principal in Role::\"vip\", action == Action::\"vault:open\", resource);"}),
        )
        .await;
    assert_eq!(policy.status, StatusCode::CREATED, "{}", policy.body);
    let narrowed = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", "boss@acme.io"),
            ("password", crate::helpers::PASSWORD),
            ("scope", "member"),
        ])
        .await;
    let narrowed = narrowed.body["access_token"].as_str().unwrap().to_owned();
    let vault = json!({"action": "vault:open", "resource": {"type": "vault", "id": "1"}});
    let denied = app.post("/v1/check", &narrowed, vault.clone()).await;
    assert_eq!(denied.body["allowed"], false, "{}", denied.body);

    let beyond = app
        .post(
            "/v1/api-keys",
            &narrowed,
            json!({"name": "vip", "roles": [vip]}),
        )
        .await;
    assert_eq!(
        beyond.status,
        StatusCode::FORBIDDEN,
        "a role outside the token's scope: {}",
        beyond.body
    );
    if let Some(key) = beyond.body["key"].as_str() {
        let allowed = app.post("/v1/check", key, vault).await;
        panic!("the key was minted and allows {}", allowed.body);
    }
    let within = app
        .post(
            "/v1/api-keys",
            &narrowed,
            json!({"name": "member", "roles": [member]}),
        )
        .await;
    assert_eq!(within.status, StatusCode::CREATED, "{}", within.body);
    let listed = app
        .get(
            "/v1/api-keys",
            &app.login("boss@acme.io", crate::helpers::PASSWORD).await,
        )
        .await;
    assert_eq!(
        listed.body["items"].as_array().unwrap().len(),
        1,
        "only the key within scope exists: {}",
        listed.body
    );
}

crate::both!(
    an_account_role_and_a_global_role_of_one_name_never_both_exist,
    concurrent_edits_never_store_an_inheritance_cycle,
    a_narrowed_token_mints_keys_only_within_its_roles,
);
