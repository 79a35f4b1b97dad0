//! The OpenID AuthZEN Authorization API 1.0, written from the specification: evaluation,
//! evaluations with defaults and semantics, metadata, and who may ask.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{basic, create_client, Backend, TestApp};

struct Pdp {
    app: TestApp,
    /// A global gateway client holding `warden.check:any`.
    gateway: String,
    reader: String,
    acme: String,
}

/// A gateway (a service client with `warden.check:any`), and a reader of documents in acme.
async fn pdp(backend: Backend) -> Pdp {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let reader = app.create_user("reader@acme.io", Some(&acme)).await;
    let role = app
        .create_role("reader", Some(&acme), &["documents:read"], &[])
        .await;
    app.grant(&reader, &role, Some(&acme)).await;
    let checker = app
        .create_role("checker", None, &["warden.check:any"], &[])
        .await;
    let client = create_client(
        &app,
        &app.admin_token,
        json!({"name": "gateway", "roles": [checker]}),
    )
    .await;
    let issued = basic(
        &app,
        &client.client_id,
        &client.secret,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(issued.status, StatusCode::OK, "{}", issued.body);
    let gateway = issued.body["access_token"].as_str().unwrap().to_owned();
    Pdp {
        app,
        gateway,
        reader,
        acme,
    }
}

async fn ask(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = app
        .client
        .post(app.url(path))
        .header("x-request-id", "req-7")
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

fn evaluation(subject: &str, action: &str, resource_id: &str) -> Value {
    json!({
        "subject": {"type": "user", "id": subject},
        "action": {"name": action},
        "resource": {"type": "document", "id": resource_id},
    })
}

async fn an_evaluation_answers_exactly_the_decision(backend: Backend) {
    let pdp = pdp(backend).await;
    let app = &pdp.app;
    // By Warden id, and by email as a gateway names its users.
    for subject in [pdp.reader.as_str(), "reader@acme.io", "READER@acme.io"] {
        let (status, headers, body) = ask(
            app,
            "/access/v1/evaluation",
            Some(&pdp.gateway),
            evaluation(subject, "documents:read", "1"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, json!({"decision": true}), "{subject}");
        assert_eq!(headers["x-request-id"], "req-7");
    }
    // A deny is a 200 with decision false; unknown fields are ignored.
    let mut denied = evaluation("reader@acme.io", "documents:delete", "1");
    denied["unknown_extension"] = json!({"x": 1});
    denied["subject"]["extra"] = json!(true);
    let (status, _, body) = ask(app, "/access/v1/evaluation", Some(&pdp.gateway), denied).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"decision": false})));
    // Reasons only on request.
    let (_, _, explained) = ask(
        app,
        "/access/v1/evaluation?explain=true",
        Some(&pdp.gateway),
        evaluation("reader@acme.io", "documents:read", "1"),
    )
    .await;
    assert_eq!(explained["decision"], true);
    assert!(
        explained["context"]["reasons"]
            .as_array()
            .is_some_and(|r| !r.is_empty()),
        "{explained}"
    );
    // `identity` is the type gateways send; a client is named by its client_id.
    let (_, _, identity) = ask(
        app,
        "/access/v1/evaluation",
        Some(&pdp.gateway),
        json!({"subject": {"type": "identity", "id": "reader@acme.io"},
               "action": {"name": "documents:read"}, "resource": {"type": "document", "id": "1"}}),
    )
    .await;
    assert_eq!(identity, json!({"decision": true}));
    // A subject Warden does not know is denied, never an error.
    for subject in ["nobody@acme.io", "not-an-id"] {
        let (status, _, body) = ask(
            app,
            "/access/v1/evaluation",
            Some(&pdp.gateway),
            evaluation(subject, "documents:read", "1"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["decision"], false, "{subject}: {body}");
    }
    let (_, _, typed) = ask(
        app,
        "/access/v1/evaluation",
        Some(&pdp.gateway),
        json!({"subject": {"type": "robot", "id": "r2"}, "action": {"name": "documents:read"},
               "resource": {"type": "document", "id": "1"}}),
    )
    .await;
    assert_eq!(typed["decision"], false);
}

async fn properties_reach_policies(backend: Backend) {
    let pdp = pdp(backend).await;
    let app = &pdp.app;
    // The owner rule on resource properties, and a soft delete allowed by action properties.
    for cedar in [
        "permit(principal, action == Action::\"documents:edit\", resource) when { resource.owner_id == principal.id };",
        "permit(principal, action == Action::\"documents:delete\", resource) when { context.action has soft && context.action.soft == true };",
    ] {
        let reply = app
            .post("/v1/policies", &app.admin_token, json!({"account_id": pdp.acme, "cedar": cedar, "enabled": true}))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let decide = |body: Value| ask(app, "/access/v1/evaluation", Some(&pdp.gateway), body);
    let own = json!({"subject": {"type": "user", "id": pdp.reader},
        "action": {"name": "documents:edit"},
        "resource": {"type": "document", "id": "9", "properties": {"owner_id": pdp.reader}}});
    assert_eq!(decide(own).await.2, json!({"decision": true}));
    let other = json!({"subject": {"type": "user", "id": pdp.reader},
        "action": {"name": "documents:edit"},
        "resource": {"type": "document", "id": "9", "properties": {"owner_id": "someone-else"}}});
    assert_eq!(decide(other).await.2, json!({"decision": false}));
    let soft = json!({"subject": {"type": "user", "id": pdp.reader},
        "action": {"name": "documents:delete", "properties": {"soft": true}},
        "resource": {"type": "document", "id": "9"}});
    assert_eq!(decide(soft).await.2, json!({"decision": true}));
    let hard = json!({"subject": {"type": "user", "id": pdp.reader},
        "action": {"name": "documents:delete", "properties": {"soft": false}},
        "resource": {"type": "document", "id": "9"}});
    assert_eq!(decide(hard).await.2, json!({"decision": false}));
}

async fn bad_requests_and_callers_are_refused(backend: Backend) {
    let pdp = pdp(backend).await;
    let app = &pdp.app;
    for body in [
        json!({"action": {"name": "documents:read"}, "resource": {"type": "document", "id": "1"}}),
        json!({"subject": {"type": "user", "id": "x"}, "resource": {"type": "document", "id": "1"}}),
        json!({"subject": {"type": "user"}, "action": {"name": "a:b"}, "resource": {"type": "document", "id": "1"}}),
        json!({"subject": {"type": "user", "id": "x"}, "action": {"name": "a:b"}, "resource": {"type": "document"}}),
        json!([1, 2]),
    ] {
        let (status, headers, reply) = ask(
            app,
            "/access/v1/evaluation",
            Some(&pdp.gateway),
            body.clone(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {reply}");
        assert_eq!(headers["content-type"], "application/problem+json");
        assert_eq!(headers["x-request-id"], "req-7");
    }
    let request = evaluation("reader@acme.io", "documents:read", "1");
    let (status, _, _) = ask(app, "/access/v1/evaluation", None, request.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A plain user's token may not ask about others.
    let user = app.login("reader@acme.io", crate::helpers::PASSWORD).await;
    let (status, _, _) = ask(app, "/access/v1/evaluation", Some(&user), request.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A gateway of another account sees its own account only: acme's reader is a denial.
    let globex = app.create_account("globex").await;
    let local = app
        .create_role("local-checker", Some(&globex), &["warden.check:any"], &[])
        .await;
    let client = create_client(
        app,
        &app.admin_token,
        json!({"name": "globex-gateway", "account_id": globex, "roles": [local]}),
    )
    .await;
    let token = basic(
        app,
        &client.client_id,
        &client.secret,
        &[("grant_type", "client_credentials")],
    )
    .await
    .body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _, body) = ask(app, "/access/v1/evaluation", Some(&token), request).await;
    assert_eq!(
        (status, body["decision"].clone()),
        (StatusCode::OK, json!(false))
    );
}

async fn evaluations_take_defaults_semantics_and_item_errors(backend: Backend) {
    let pdp = pdp(backend).await;
    let app = &pdp.app;
    let batch = |options: Value| {
        json!({
            "subject": {"type": "user", "id": "reader@acme.io"},
            "resource": {"type": "document", "id": "1"},
            "evaluations": [
                {"action": {"name": "documents:read"}},
                {"action": {"name": "documents:delete"}},
                {"action": {"name": "not a permission"}},
                {"action": {"name": "documents:read"}, "subject": {"type": "user", "id": "nobody@x.io"}},
                {"action": {"name": "documents:read"}, "resource": {"type": "document", "id": "2"}},
            ],
            "options": options,
        })
    };
    let (status, headers, all) = ask(
        app,
        "/access/v1/evaluations",
        Some(&pdp.gateway),
        batch(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(headers["x-request-id"], "req-7");
    let decisions: Vec<Value> = all["evaluations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["decision"].clone())
        .collect();
    assert_eq!(
        decisions,
        vec![
            json!(true),
            json!(false),
            json!(false),
            json!(false),
            json!(true)
        ]
    );
    assert!(
        all["evaluations"][2]["context"]["error"].is_object(),
        "{all}"
    );
    assert_eq!(all["evaluations"][0], json!({"decision": true}));

    let (_, _, first_deny) = ask(
        app,
        "/access/v1/evaluations",
        Some(&pdp.gateway),
        batch(json!({"evaluations_semantic": "deny_on_first_deny"})),
    )
    .await;
    assert_eq!(
        first_deny["evaluations"].as_array().unwrap().len(),
        2,
        "{first_deny}"
    );
    let (_, _, first_permit) = ask(
        app,
        "/access/v1/evaluations",
        Some(&pdp.gateway),
        batch(json!({"evaluations_semantic": "permit_on_first_permit"})),
    )
    .await;
    assert_eq!(first_permit["evaluations"], json!([{"decision": true}]));
    let (status, _, _) = ask(
        app,
        "/access/v1/evaluations",
        Some(&pdp.gateway),
        batch(json!({"evaluations_semantic": "sometimes"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // An empty `evaluations`: the top level is the one evaluation, answered as one.
    let single = json!({"subject": {"type": "user", "id": "reader@acme.io"},
        "action": {"name": "documents:read"}, "resource": {"type": "document", "id": "1"}, "evaluations": []});
    let (_, _, one) = ask(app, "/access/v1/evaluations", Some(&pdp.gateway), single).await;
    assert_eq!(one, json!({"decision": true}));

    // No small caps: a thousand items decide; one more is refused.
    let items: Vec<Value> = (0..1000)
        .map(|i| json!({"resource": {"type": "document", "id": i.to_string()}}))
        .collect();
    let big = json!({"subject": {"type": "user", "id": pdp.reader}, "action": {"name": "documents:read"}, "evaluations": items});
    let (status, _, many) = ask(app, "/access/v1/evaluations", Some(&pdp.gateway), big).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(many["evaluations"].as_array().unwrap().len(), 1000);
    let items: Vec<Value> = (0..1001).map(|_| json!({})).collect();
    let (status, _, _) = ask(
        app,
        "/access/v1/evaluations",
        Some(&pdp.gateway),
        json!({"evaluations": items}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn the_metadata_names_the_endpoints(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let meta: Value = app.get_json("/.well-known/authzen-configuration").await;
    assert_eq!(meta["policy_decision_point"], app.base.as_str());
    assert_eq!(
        meta["access_evaluation_endpoint"],
        format!("{}/access/v1/evaluation", app.base)
    );
    assert_eq!(
        meta["access_evaluations_endpoint"],
        format!("{}/access/v1/evaluations", app.base)
    );
}

crate::both!(
    an_evaluation_answers_exactly_the_decision,
    properties_reach_policies,
    bad_requests_and_callers_are_refused,
    evaluations_take_defaults_semantics_and_item_errors,
    the_metadata_names_the_endpoints,
);
