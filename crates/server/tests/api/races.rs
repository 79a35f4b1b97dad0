//! Races between concurrent writers, and refusals at the edges: role names that would shadow
//! each other, inheritance cycles made by two edits at once, keys minted beyond a narrowed
//! token's roles, credentials managing credentials, NUL characters the stores cannot hold,
//! high-`s` ECDSA signatures and duplicated token-request parameters.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{basic, create_client, Backend, Reply, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};

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

async fn an_api_key_manages_its_owners_keys_only_through_an_explicit_permission(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let (boss, token) = app.account_admin("boss@acme.io", &acme).await;
    let admin_role = app.role_id("account_admin").await;
    let key = |name: &str, role: &str| {
        let body = json!({"name": name, "roles": [role]});
        let app = &app;
        let token = token.clone();
        async move {
            let reply = app.post("/v1/api-keys", &token, body).await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
            (
                reply.body["id"].as_str().unwrap().to_owned(),
                reply.body["key"].as_str().unwrap().to_owned(),
            )
        }
    };
    let (_, admin_key) = key("admin", &admin_role).await;
    let (other_id, other_key) = key("other", &admin_role).await;
    let revoke = app
        .delete(&format!("/v1/api-keys/{other_id}"), &admin_key)
        .await;
    assert_eq!(
        revoke.status,
        StatusCode::FORBIDDEN,
        "an API key revokes no key by self-service: {}",
        revoke.body
    );
    assert_eq!(
        app.get("/v1/users", &other_key).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/v1/api-keys", &admin_key).await.status,
        StatusCode::FORBIDDEN
    );

    // A role that says so explicitly lets a key list and revoke its owner's keys.
    let keeper = app
        .create_role(
            "key_keeper",
            Some(&acme),
            &["warden.api_keys:read", "warden.api_keys:delete"],
            &[],
        )
        .await;
    app.grant(&boss, &keeper, Some(&acme)).await;
    let (_, keeper_key) = key("keeper", &keeper).await;
    let listed = app.get("/v1/api-keys", &keeper_key).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 3);
    let revoke = app
        .delete(&format!("/v1/api-keys/{other_id}"), &keeper_key)
        .await;
    assert_eq!(revoke.status, StatusCode::NO_CONTENT, "{}", revoke.body);
    assert_eq!(
        app.get("/v1/users", &other_key).await.status,
        StatusCode::UNAUTHORIZED
    );
    let minted = app
        .post("/v1/api-keys", &keeper_key, json!({"name": "more"}))
        .await;
    assert_eq!(
        minted.status,
        StatusCode::FORBIDDEN,
        "keys still mint no keys"
    );
}

async fn a_client_neither_revokes_its_own_keys_nor_deletes_itself(backend: Backend) {
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
    let key_of = |client: &str, role: &str| {
        let path = format!("/v1/clients/{client}/api-keys");
        let body = json!({"name": "k", "roles": [role]});
        let app = &app;
        async move {
            let reply = app.post(&path, &app.admin_token, body).await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
            (
                reply.body["id"].as_str().unwrap().to_owned(),
                reply.body["key"].as_str().unwrap().to_owned(),
            )
        }
    };
    let (own_key_id, own_key) = key_of(&ops.id, &admin_role).await;
    let (worker_key_id, _) = key_of(&worker.id, &member_role).await;
    let token = basic(
        &app,
        &ops.client_id,
        &ops.secret,
        &[("grant_type", "client_credentials")],
    )
    .await;
    let token = token.body["access_token"].as_str().unwrap().to_owned();
    let own = format!("/v1/clients/{}", ops.id);
    for credential in [&token, &own_key] {
        let revoke = app
            .delete(&format!("{own}/api-keys/{own_key_id}"), credential)
            .await;
        assert_eq!(
            revoke.status,
            StatusCode::FORBIDDEN,
            "its own key: {}",
            revoke.body
        );
        let delete = app.delete(&own, credential).await;
        assert_eq!(
            delete.status,
            StatusCode::FORBIDDEN,
            "itself: {}",
            delete.body
        );
    }
    assert_eq!(
        app.get(&format!("/v1/accounts/{acme}"), &own_key)
            .await
            .status,
        StatusCode::OK,
        "the key still works"
    );
    // Its explicit `warden.clients:*` still manages other clients.
    let revoke = app
        .delete(
            &format!("/v1/clients/{}/api-keys/{worker_key_id}", worker.id),
            &token,
        )
        .await;
    assert_eq!(revoke.status, StatusCode::NO_CONTENT, "{}", revoke.body);
    let delete = app
        .delete(&format!("/v1/clients/{}", worker.id), &token)
        .await;
    assert_eq!(delete.status, StatusCode::NO_CONTENT, "{}", delete.body);
    assert_eq!(
        app.get(&own, &app.admin_token).await.status,
        StatusCode::OK,
        "the client still exists"
    );
}

async fn a_nul_in_any_text_field_is_refused_naming_the_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.admin_token.clone();
    let acme = app.create_account("acme").await;
    let cases = [
        (
            Method::PATCH,
            format!("/v1/accounts/{acme}"),
            json!({"policy_schema": "entity User;\n// \u{0}"}),
            "policy_schema",
        ),
        (
            Method::POST,
            "/v1/users".to_owned(),
            json!({"email": "n@x.io", "password": crate::helpers::PASSWORD, "display_name": "N\u{0}"}),
            "display_name",
        ),
        (
            Method::POST,
            "/v1/roles".to_owned(),
            json!({"name": "nul", "description": "a\u{0}b"}),
            "description",
        ),
        (
            Method::POST,
            "/v1/policies".to_owned(),
            json!({"cedar": "permit(principal, action, resource) when { resource.x == \"\u{0}\" };"}),
            "cedar",
        ),
        (
            Method::PATCH,
            format!("/v1/accounts/{acme}"),
            json!({"attributes": {"tier\u{0}": "gold"}}),
            "attributes",
        ),
        (
            Method::PATCH,
            format!("/v1/accounts/{acme}"),
            json!({"attributes": {"tags": ["ok", "b\u{0}d"]}}),
            "attributes.tags[1]",
        ),
    ];
    for (method, path, body, field) in cases {
        let reply = app.call(method, &path, Some(&t), body.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            reply.body
        );
        assert_eq!(
            reply.body["errors"][0]["field"], field,
            "{body}: {}",
            reply.body
        );
    }
    let account = app.get(&format!("/v1/accounts/{acme}"), &t).await;
    assert_eq!(
        account.body["policy_schema"],
        Value::Null,
        "nothing changed"
    );
    assert_eq!(account.body["attributes"], json!({}), "nothing changed");
    let query = app.get("/v1/users?email=a%00b@x.io", &t).await;
    assert_eq!(
        query.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        query.body
    );
    assert_eq!(query.body["errors"][0]["field"], "email", "{}", query.body);
    let form = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", "admin\u{0}@example.com"),
            ("password", ADMIN_PASSWORD),
        ])
        .await;
    assert_eq!(form.status, StatusCode::BAD_REQUEST, "{}", form.body);
    assert_eq!(form.body["error"], "invalid_request", "{}", form.body);
    // Newlines and tabs are text, not control: policies keep them.
    let lines = app
        .post(
            "/v1/policies",
            &t,
            json!({"description": "lines", "cedar": "permit(principal, action == Action::\"a:b\", resource)\r\n\twhen { true };"}),
        )
        .await;
    assert_eq!(lines.status, StatusCode::CREATED, "{}", lines.body);
}

/// The order of the P-256 group, big-endian.
const P256_N: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";

fn hex_to_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// `n - s` for 32-byte big-endian numbers with `s < n`.
fn negate(s: &[u8]) -> Vec<u8> {
    let n = hex_to_bytes(P256_N);
    let mut out = vec![0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(n[i]) - i16::from(s[i]) - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[i] = u8::try_from(d).unwrap();
    }
    out
}

/// Whether a 32-byte big-endian `s` is at most n / 2.
fn is_low(s: &[u8]) -> bool {
    s <= negate(s).as_slice()
}

async fn high_s_ecdsa_signatures_are_refused(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("WARDEN_SIGNING_ALGORITHM", "ES256")]).await;
    for attempt in 0..12 {
        let token = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
        assert_eq!(signature.len(), 64, "JOSE r || s");
        let (r, s) = signature.split_at(32);
        assert!(is_low(s), "attempt {attempt}: Warden signs with a low s");
        assert_eq!(app.get("/v1/users/me", &token).await.status, StatusCode::OK);
        let flipped = [r, negate(s).as_slice()].concat();
        let malleated = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(flipped));
        let reply = app.get("/v1/users/me", &malleated).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}: the high-s twin is refused: {}",
            reply.body
        );
    }
}

async fn a_json_token_request_with_a_duplicated_key_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let send = |body: String| {
        let request = app
            .client
            .post(app.url("/oauth/token"))
            .header("content-type", "application/json")
            .body(body);
        async move { TestApp::read(request.send().await.unwrap()).await }
    };
    let single = format!(
        r#"{{"grant_type":"password","username":"{ADMIN_EMAIL}","password":"{ADMIN_PASSWORD}"}}"#
    );
    assert_eq!(send(single).await.status, StatusCode::OK);
    let twice = format!(
        r#"{{"grant_type":"password","username":"nobody@example.com","username":"{ADMIN_EMAIL}","password":"{ADMIN_PASSWORD}"}}"#
    );
    let reply = send(twice).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(reply.body["error"], "invalid_request", "{}", reply.body);
    assert!(reply.body["access_token"].is_null());
    // As a repeated form parameter is.
    let form = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", "nobody@example.com"),
            ("username", ADMIN_EMAIL),
            ("password", ADMIN_PASSWORD),
        ])
        .await;
    assert_eq!(form.status, StatusCode::BAD_REQUEST);
    assert_eq!(form.body["error"], "invalid_request");
}

crate::both!(
    an_account_role_and_a_global_role_of_one_name_never_both_exist,
    concurrent_edits_never_store_an_inheritance_cycle,
    a_narrowed_token_mints_keys_only_within_its_roles,
    an_api_key_manages_its_owners_keys_only_through_an_explicit_permission,
    a_client_neither_revokes_its_own_keys_nor_deletes_itself,
    a_nul_in_any_text_field_is_refused_naming_the_field,
    high_s_ecdsa_signatures_are_refused,
    a_json_token_request_with_a_duplicated_key_is_refused,
);
