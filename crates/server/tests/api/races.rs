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

crate::both!(an_account_role_and_a_global_role_of_one_name_never_both_exist,);
