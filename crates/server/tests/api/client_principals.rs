//! Service clients as principals of Warden's own API, and API keys owned by clients.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{basic, create_client, Backend, TestApp};

async fn service_clients_act_on_the_api_through_their_roles_and_keys(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let globex = app.create_account("globex").await;
    let member = app.create_user("m@acme.io", Some(&acme)).await;
    app.create_user("g@globex.io", Some(&globex)).await;
    let admin_role = app.role_id("account_admin").await;
    let member_role = app.role_id("member").await;
    let ops = create_client(
        &app,
        &app.admin_token,
        json!({"name": "ops", "account_id": acme, "roles": [admin_role, member_role]}),
    )
    .await;
    let cc = basic(
        &app,
        &ops.client_id,
        &ops.secret,
        &[("grant_type", "client_credentials")],
    )
    .await;
    let token = cc.body["access_token"].as_str().unwrap().to_owned();

    let users = app.get("/v1/users", &token).await;
    assert_eq!(users.status, StatusCode::OK, "{}", users.body);
    let emails: Vec<&str> = users.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["m@acme.io"], "its own account only");
    assert_eq!(
        app.get(&format!("/v1/accounts/{globex}"), &token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let grant = app
        .post(
            &format!("/v1/users/{member}/roles"),
            &token,
            json!({"role_id": member_role, "account_id": acme}),
        )
        .await;
    assert_eq!(grant.status, StatusCode::CREATED, "{}", grant.body);
    let super_admin = app.role_id("super_admin").await;
    let escalate = app
        .post(
            &format!("/v1/users/{member}/roles"),
            &token,
            json!({"role_id": super_admin, "account_id": acme}),
        )
        .await;
    assert_eq!(escalate.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/v1/users/me", &token).await.status,
        StatusCode::FORBIDDEN,
        "self-service is for users"
    );

    // A key owned by the client acts as the client, within the roles it names.
    let key = app
        .post(
            &format!("/v1/clients/{}/api-keys", ops.id),
            &app.admin_token,
            json!({"name": "ci", "roles": [member_role]}),
        )
        .await;
    assert_eq!(key.status, StatusCode::CREATED, "{}", key.body);
    let key_id = key.body["id"].as_str().unwrap().to_owned();
    let key = key.body["key"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get(&format!("/v1/accounts/{acme}"), &key).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/v1/users", &key).await.status,
        StatusCode::FORBIDDEN,
        "member only"
    );
    let outside = app
        .post(
            &format!("/v1/clients/{}/api-keys", ops.id),
            &app.admin_token,
            json!({"name": "x", "roles": [super_admin]}),
        )
        .await;
    assert_eq!(
        outside.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a key never exceeds its client"
    );
    let listed = app
        .get(
            &format!("/v1/clients/{}/api-keys", ops.id),
            &app.admin_token,
        )
        .await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    app.patch(
        &format!("/v1/clients/{}", ops.id),
        &app.admin_token,
        json!({"status": "disabled"}),
    )
    .await;
    assert_eq!(
        app.get(&format!("/v1/accounts/{acme}"), &key).await.status,
        StatusCode::UNAUTHORIZED,
        "disabled client"
    );
    assert_eq!(
        app.get("/v1/users", &token).await.status,
        StatusCode::UNAUTHORIZED,
        "its tokens too"
    );
    app.patch(
        &format!("/v1/clients/{}", ops.id),
        &app.admin_token,
        json!({"status": "active"}),
    )
    .await;
    let revoke = app
        .delete(
            &format!("/v1/clients/{}/api-keys/{key_id}", ops.id),
            &app.admin_token,
        )
        .await;
    assert_eq!(revoke.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&format!("/v1/accounts/{acme}"), &key).await.status,
        StatusCode::UNAUTHORIZED
    );

    let (_, other) = app.account_admin("boss@globex.io", &globex).await;
    let foreign = app
        .post(
            &format!("/v1/clients/{}/api-keys", ops.id),
            &other,
            json!({"name": "x"}),
        )
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    let bare = create_client(&app, &app.admin_token, json!({"name": "bare"})).await;
    let bare_token = basic(
        &app,
        &bare.client_id,
        &bare.secret,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(
        app.get(
            "/v1/users",
            bare_token.body["access_token"].as_str().unwrap()
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
}

async fn a_client_never_changes_itself_nor_outlives_its_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let admin_role = app.role_id("account_admin").await;
    let member_role = app.role_id("member").await;
    let ops = create_client(
        &app,
        &app.admin_token,
        json!({"name": "ops", "account_id": acme, "roles": [admin_role, member_role]}),
    )
    .await;
    let worker = create_client(
        &app,
        &app.admin_token,
        json!({"name": "worker", "account_id": acme, "roles": [member_role]}),
    )
    .await;
    let token = basic(
        &app,
        &ops.client_id,
        &ops.secret,
        &[("grant_type", "client_credentials")],
    )
    .await;
    let token = token.body["access_token"].as_str().unwrap().to_owned();
    let own = format!("/v1/clients/{}", ops.id);
    let refused = [
        app.patch(&own, &token, json!({"roles": [admin_role, member_role]}))
            .await,
        app.patch(&own, &token, json!({"allowed_ips": []})).await,
        app.post(&format!("{own}/secret"), &token, Value::Null)
            .await,
        app.post(
            &format!("{own}/api-keys"),
            &token,
            json!({"name": "mine", "roles": [member_role]}),
        )
        .await,
    ];
    for (i, reply) in refused.iter().enumerate() {
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "attempt {i}: {}",
            reply.body
        );
    }
    // It may manage another client of its account, but not through an API key.
    let for_worker = app
        .post(
            &format!("/v1/clients/{}/api-keys", worker.id),
            &token,
            json!({"name": "w", "roles": [member_role]}),
        )
        .await;
    assert_eq!(
        for_worker.status,
        StatusCode::CREATED,
        "{}",
        for_worker.body
    );
    let ops_key = app
        .post(
            &format!("{own}/api-keys"),
            &app.admin_token,
            json!({"name": "ops", "roles": [admin_role]}),
        )
        .await;
    let ops_key = ops_key.body["key"].as_str().unwrap().to_owned();
    let minted = app
        .post(
            &format!("/v1/clients/{}/api-keys", worker.id),
            &ops_key,
            json!({"name": "w2", "roles": [member_role]}),
        )
        .await;
    assert_eq!(
        minted.status,
        StatusCode::FORBIDDEN,
        "keys do not mint keys"
    );
    // A client's key is held to the client's allow-list.
    app.patch(
        &format!("/v1/clients/{}", worker.id),
        &app.admin_token,
        json!({"allowed_ips": ["10.0.0.0/8"]}),
    )
    .await;
    let worker_key = for_worker.body["key"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/v1/accounts/{acme}"), worker_key)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // Disabling the account ends what its clients' tokens can do.
    app.patch(
        &format!("/v1/accounts/{acme}"),
        &app.admin_token,
        json!({"status": "disabled"}),
    )
    .await;
    assert_eq!(
        app.get("/v1/users", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
}

crate::both!(
    service_clients_act_on_the_api_through_their_roles_and_keys,
    a_client_never_changes_itself_nor_outlives_its_account,
);
