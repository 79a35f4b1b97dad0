//! The AuthZEN 1.0 conformance scenario (the OpenID AuthZEN working group's certification
//! document), on Warden loaded with its fixture the way `examples/authzen/` loads it: users
//! `alice` and `bob` (bob's stored attribute `role: "admin"`), records `record-1` (active) and
//! `record-2` (archived) in the registry, roles that grant `record:*` actions, and the policies
//! "archived records only for admins" and "soft deletes only". Every decision the scenario
//! fixes is asserted, and every structural rule (400s, echoes, batch shape, search shape).

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{basic, create_client, Backend, TestApp, PASSWORD};

/// Warden with the fixture, and a gateway token allowed to ask.
pub struct Fixture {
    pub app: TestApp,
    pub gateway: String,
}

pub async fn fixture(backend: Backend) -> Fixture {
    let app = TestApp::spawn(backend).await;
    let account = app.create_account("fixture").await;
    let mut ids = Vec::new();
    for (name, attributes) in [("alice", json!({})), ("bob", json!({"role": "admin"}))] {
        let reply = app
            .post(
                "/v1/users",
                &app.admin_token,
                json!({"email": format!("{name}@fixture.test"), "username": name,
                       "password": PASSWORD, "account_id": account, "attributes": attributes}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        ids.push(reply.body["id"].as_str().unwrap().to_owned());
    }
    let editor = app
        .create_role(
            "record-editor",
            Some(&account),
            &["record:read", "record:write", "record:delete"],
            &[],
        )
        .await;
    let reader = app
        .create_role("record-reader", Some(&account), &["record:read"], &[])
        .await;
    app.grant(&ids[0], &editor, Some(&account)).await;
    app.grant(&ids[1], &reader, Some(&account)).await;
    for cedar in [
        // Archived records are written by admins only ...
        r#"forbid(principal, action == Action::"write", resource)
             when { resource has status && resource.status == "archived" }
             unless { principal has role && principal.role == "admin" };"#,
        // ... and admins may.
        r#"permit(principal, action == Action::"write", resource)
             when { resource has status && resource.status == "archived"
                    && principal has role && principal.role == "admin" };"#,
        // A soft delete is allowed, a hard one is not.
        r#"forbid(principal, action == Action::"delete", resource)
             unless { context has action && context.action has soft && context.action.soft == true };"#,
    ] {
        let reply = app
            .post(
                "/v1/policies",
                &app.admin_token,
                json!({"account_id": account, "cedar": cedar, "enabled": true}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    for (id, status) in [("record-1", "active"), ("record-2", "archived")] {
        let reply = app
            .put(
                &format!("/v1/resources/record/{id}"),
                &app.admin_token,
                json!({"account_id": account, "attributes": {"status": status}}),
            )
            .await;
        assert!(reply.status.is_success(), "{}", reply.body);
    }
    let checker = app
        .create_role("pdp-caller", Some(&account), &["warden.check:any"], &[])
        .await;
    let client = create_client(
        &app,
        &app.admin_token,
        json!({"name": "gateway", "account_id": account, "roles": [checker]}),
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
    Fixture { app, gateway }
}

impl Fixture {
    /// POSTs `body` (as JSON) to `path` with the gateway's token and a request id.
    pub async fn ask(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .app
            .client
            .post(self.app.url(path))
            .bearer_auth(&self.gateway)
            .header("x-request-id", "conformance-1")
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert_eq!(
            response
                .headers()
                .get("x-request-id")
                .map(|v| v.to_str().unwrap()),
            Some("conformance-1"),
            "{path}"
        );
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn decision(&self, body: Value) -> bool {
        let (status, reply) = self.ask("/access/v1/evaluation", &body).await;
        assert_eq!(status, StatusCode::OK, "{body}: {reply}");
        assert_eq!(
            reply.as_object().unwrap().len(),
            1,
            "exactly the decision: {reply}"
        );
        reply["decision"].as_bool().unwrap()
    }
}

fn ask(subject: Value, action: Value, resource: Value) -> Value {
    json!({"subject": subject, "action": action, "resource": resource})
}

fn user(id: &str) -> Value {
    json!({"type": "user", "id": id})
}

fn record(id: &str) -> Value {
    json!({"type": "record", "id": id})
}

fn act(name: &str) -> Value {
    json!({"name": name})
}

async fn the_eight_fixture_decisions_hold(backend: Backend) {
    let f = fixture(backend).await;
    // Core: identifier fields only.
    assert!(
        f.decision(ask(user("alice"), act("read"), record("record-1")))
            .await
    );
    assert!(
        f.decision(ask(user("alice"), act("write"), record("record-1")))
            .await
    );
    assert!(
        f.decision(ask(user("bob"), act("read"), record("record-1")))
            .await
    );
    assert!(
        !f.decision(ask(user("bob"), act("write"), record("record-1")))
            .await
    );
    // Properties.
    let archived =
        json!({"type": "record", "id": "record-2", "properties": {"status": "archived"}});
    assert!(
        !f.decision(ask(user("alice"), act("write"), archived.clone()))
            .await
    );
    let admin = json!({"type": "user", "id": "bob", "properties": {"role": "admin"}});
    assert!(f.decision(ask(admin, act("write"), archived.clone())).await);
    // Rule 6 holds for any subject with the property: it reaches the principal entity.
    let claimed = json!({"type": "user", "id": "alice", "properties": {"role": "admin"}});
    assert!(f.decision(ask(claimed, act("write"), archived)).await);
    let soft = json!({"name": "delete", "properties": {"soft": true}});
    assert!(
        f.decision(ask(user("alice"), soft, record("record-1")))
            .await
    );
    let hard = json!({"name": "delete", "properties": {"soft": false}});
    assert!(
        !f.decision(ask(user("alice"), hard, record("record-1")))
            .await
    );
    // Registered attributes decide when the request sends none: record-2 is archived.
    assert!(
        !f.decision(ask(user("alice"), act("write"), record("record-2")))
            .await
    );
    // Optional context, extra properties and unknown fields change nothing.
    let mut with_context = ask(user("alice"), act("read"), record("record-1"));
    with_context["context"] = json!({"time": "2025-06-27T18:03-07:00", "ip": "192.168.1.1"});
    assert!(f.decision(with_context).await);
    let extra = ask(
        json!({"type": "user", "id": "alice", "properties": {"department": "Sales", "role": "manager"}}),
        json!({"name": "read", "properties": {"method": "GET"}}),
        json!({"type": "record", "id": "record-1", "properties": {"status": "active", "owner": "bob"}}),
    );
    assert!(f.decision(extra).await);
    let mut unknown = ask(user("alice"), act("read"), record("record-1"));
    unknown["foo"] = json!("bar");
    unknown["futureField"] = json!({"nested": true});
    assert!(f.decision(unknown).await);
    // Idempotent.
    for _ in 0..3 {
        assert!(
            !f.decision(ask(user("bob"), act("write"), record("record-1")))
                .await
        );
    }
    // Unknown subjects are denials, never errors.
    assert!(
        !f.decision(ask(user("nobody"), act("read"), record("record-1")))
            .await
    );
    assert!(
        !f.decision(ask(
            json!({"type": "spaceship", "id": "x"}),
            act("read"),
            record("record-1")
        ))
        .await
    );
}

async fn malformed_requests_are_400_problems(backend: Backend) {
    let f = fixture(backend).await;
    let good = ask(user("alice"), act("read"), record("record-1"));
    let mut bad = Vec::new();
    for field in ["subject", "action", "resource"] {
        let mut body = good.clone();
        body.as_object_mut().unwrap().remove(field);
        bad.push(body);
    }
    for (entity, field) in [
        ("subject", "type"),
        ("subject", "id"),
        ("action", "name"),
        ("resource", "type"),
        ("resource", "id"),
    ] {
        let mut body = good.clone();
        body[entity].as_object_mut().unwrap().remove(field);
        bad.push(body);
    }
    bad.push(ask(json!("alice"), act("read"), record("record-1")));
    bad.push(ask(user("alice"), json!({"name": 123}), record("record-1")));
    for body in &bad {
        for path in ["/access/v1/evaluation", "/access/v1/evaluations"] {
            let (status, reply) = f.ask(path, body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {reply}");
        }
    }
    // Not JSON, an empty body, another content type: 400, the request id still echoed.
    for (content_type, body) in [
        ("application/json", "{not json"),
        ("application/json", ""),
        (
            "text/plain",
            r#"{"subject": {"type": "user", "id": "alice"}}"#,
        ),
    ] {
        let response = f
            .app
            .client
            .post(f.app.url("/access/v1/evaluation"))
            .bearer_auth(&f.gateway)
            .header("content-type", content_type)
            .header("x-request-id", "r-2")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{content_type} {body}"
        );
        assert_eq!(response.headers()["x-request-id"], "r-2");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
    // Refusals before the handler echo the request id too.
    let response = f
        .app
        .client
        .post(f.app.url("/access/v1/evaluation"))
        .header("x-request-id", "r-3")
        .json(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["x-request-id"], "r-3");
}

async fn batches_inherit_defaults_and_keep_order(backend: Backend) {
    let f = &fixture(backend).await;
    let batch = |body: Value| async move { f.ask("/access/v1/evaluations", &body).await };
    let decisions = |reply: &Value| -> Vec<bool> {
        reply["evaluations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["decision"].as_bool().unwrap())
            .collect()
    };
    let (status, reply) = batch(json!({
        "subject": user("alice"),
        "action": act("write"),
        "resource": {"type": "record", "id": "record-1", "properties": {"status": "active"}},
        "evaluations": [{}, {"resource": {"type": "record", "id": "record-2", "properties": {"status": "archived"}}}]
    }))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(decisions(&reply), [true, false]);
    assert!(reply.get("decision").is_none(), "{reply}");
    // Fully specified items, and context inherited.
    let (_, reply) = batch(json!({
        "context": {"time": "2025-06-27T18:03-07:00"},
        "evaluations": [
            ask(user("alice"), act("read"), record("record-1")),
            ask(user("bob"), act("write"), record("record-1")),
            ask(json!({"type": "user", "id": "bob", "properties": {"role": "admin"}}), act("write"),
                json!({"type": "record", "id": "record-2", "properties": {"status": "archived"}})),
            ask(user("alice"), json!({"name": "delete", "properties": {"soft": false}}), record("record-1")),
        ]
    }))
    .await;
    assert_eq!(decisions(&reply), [true, false, true, false]);
    // An item missing a part is that item's denial.
    let (status, reply) = batch(json!({
        "subject": user("alice"), "action": act("read"),
        "options": {"evaluations_semantic": "execute_all"},
        "evaluations": [{"resource": record("record-1")}, {}]
    }))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(decisions(&reply), [true, false]);
    assert!(reply["evaluations"][1]["context"].is_object());
    // No `evaluations`, or an empty one: a single evaluation's answer.
    for body in [
        ask(user("alice"), act("read"), record("record-1")),
        json!({"subject": user("alice"), "action": act("read"), "resource": record("record-1"), "evaluations": []}),
    ] {
        let (status, reply) = batch(body).await;
        assert_eq!((status, reply), (StatusCode::OK, json!({"decision": true})));
    }
}

/// The ids (or action names) of a search answer, checking its shape on the way.
fn found(reply: &Value, key: &str, kind: Option<&str>) -> Vec<String> {
    let results = reply["results"]
        .as_array()
        .unwrap_or_else(|| panic!("{reply}"));
    assert!(reply["page"]["next_token"].is_string(), "{reply}");
    results
        .iter()
        .map(|item| {
            if let Some(kind) = kind {
                assert_eq!(item["type"], kind, "{reply}");
            }
            item[key].as_str().unwrap().to_owned()
        })
        .collect()
}

async fn searches_find_what_evaluations_allow(backend: Backend) {
    let f = fixture(backend).await;
    let subjects = "/access/v1/search/subject";
    let resources = "/access/v1/search/resource";
    let actions = "/access/v1/search/action";
    let has = |all: &[String], want: &[&str]| want.iter().all(|w| all.iter().any(|a| a == w));
    // S1, with context, and with a subject id that must be ignored.
    for body in [
        json!({"subject": {"type": "user"}, "action": act("read"), "resource": record("record-1")}),
        json!({"subject": {"type": "user"}, "action": act("read"), "resource": record("record-1"),
               "context": {"time": "2025-06-27T18:03-07:00", "ip": "192.168.1.1"}}),
        json!({"subject": user("alice"), "action": act("read"), "resource": record("record-1")}),
    ] {
        let (status, reply) = f.ask(subjects, &body).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        let ids = found(&reply, "id", Some("user"));
        assert!(has(&ids, &["alice", "bob"]), "{body}: {reply}");
    }
    // Only alice may write record-1.
    let (_, reply) = f
        .ask(subjects, &json!({"subject": {"type": "user"}, "action": act("write"), "resource": record("record-1")}))
        .await;
    assert_eq!(found(&reply, "id", Some("user")), ["alice"]);
    // S4: bob, an admin by his stored attributes, writes archived records.
    let (_, reply) = f
        .ask(subjects, &json!({"subject": {"type": "user"}, "action": act("write"),
                              "resource": {"type": "record", "id": "record-2", "properties": {"status": "archived"}}}))
        .await;
    assert_eq!(found(&reply, "id", Some("user")), ["bob"]);
    // S2 (the resource id, if sent, is ignored) and S5.
    for body in [
        json!({"subject": user("alice"), "action": act("read"), "resource": {"type": "record"}}),
        json!({"subject": user("alice"), "action": act("read"), "resource": record("record-1")}),
    ] {
        let (status, reply) = f.ask(resources, &body).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        assert_eq!(
            found(&reply, "id", Some("record")),
            ["record-1", "record-2"]
        );
    }
    let (_, reply) = f
        .ask(resources, &json!({"subject": user("alice"), "action": act("write"), "resource": {"type": "record"}}))
        .await;
    assert_eq!(
        found(&reply, "id", Some("record")),
        ["record-1"],
        "the archived one is forbidden"
    );
    let (_, reply) = f
        .ask(
            resources,
            &json!({"subject": {"type": "user", "id": "bob", "properties": {"role": "admin"}},
                               "action": act("write"), "resource": {"type": "record"}}),
        )
        .await;
    assert_eq!(found(&reply, "id", Some("record")), ["record-2"]);
    // S3 and S6.
    let (_, reply) = f
        .ask(
            actions,
            &json!({"subject": user("alice"), "resource": record("record-1")}),
        )
        .await;
    let names = found(&reply, "name", None);
    assert!(has(&names, &["read", "write"]), "{reply}");
    assert!(
        !names.iter().any(|n| n == "delete"),
        "a delete is allowed only soft: {reply}"
    );
    let (_, reply) = f
        .ask(actions, &json!({"subject": {"type": "user", "id": "bob", "properties": {"role": "admin"}},
                             "resource": {"type": "record", "id": "record-2", "properties": {"status": "archived"}}}))
        .await;
    assert_eq!(found(&reply, "name", None), ["read", "write"]);
    // Pages: one result each, the token carries on, the last page's token is empty.
    let body = json!({"subject": {"type": "user"}, "action": act("read"), "resource": record("record-1"), "page": {"limit": 1}});
    let (_, first) = f.ask(subjects, &body).await;
    assert_eq!(found(&first, "id", Some("user")).len(), 1);
    let token = first["page"]["next_token"].as_str().unwrap().to_owned();
    assert!(!token.is_empty(), "{first}");
    let mut next = body.clone();
    next["page"] = json!({"limit": 1, "token": token});
    let (status, second) = f.ask(subjects, &next).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let mut all = found(&first, "id", None);
    all.extend(found(&second, "id", None));
    let token = second["page"]["next_token"].as_str().unwrap().to_owned();
    if !token.is_empty() {
        next["page"] = json!({"limit": 1, "token": token});
        let (_, third) = f.ask(subjects, &next).await;
        all.extend(found(&third, "id", None));
        assert_eq!(third["page"]["next_token"], "", "{third}");
    }
    all.sort();
    assert_eq!(all, ["alice", "bob"]);
    // A token sent with another request is refused.
    let mut changed = next.clone();
    changed["action"] = act("write");
    changed["page"]["token"] = first["page"]["next_token"].clone();
    assert_eq!(f.ask(subjects, &changed).await.0, StatusCode::BAD_REQUEST);
    // Nothing matches: empty results, never an error.
    for (path, body) in [
        (
            actions,
            json!({"subject": user("nonexistent-user"), "resource": record("record-1")}),
        ),
        (
            subjects,
            json!({"subject": {"type": "spaceship"}, "action": act("read"), "resource": record("record-1")}),
        ),
        (
            resources,
            json!({"subject": user("alice"), "action": act("read"), "resource": {"type": "spaceship"}}),
        ),
        (
            resources,
            json!({"subject": user("nobody"), "action": act("read"), "resource": {"type": "record"}}),
        ),
    ] {
        let (status, reply) = f.ask(path, &body).await;
        assert_eq!(status, StatusCode::OK, "{path} {body}: {reply}");
        assert_eq!(reply["results"], json!([]), "{path} {body}");
    }
    // Missing inputs are 400s, which entity must carry an id depending on the endpoint.
    for (path, body) in [
        (
            subjects,
            json!({"subject": {"type": "user"}, "resource": record("record-1")}),
        ),
        (
            resources,
            json!({"action": act("read"), "resource": {"type": "record"}}),
        ),
        (actions, json!({"subject": user("alice")})),
        (
            subjects,
            json!({"subject": {"type": "user"}, "action": act("read"), "resource": {"type": "record"}}),
        ),
        (
            resources,
            json!({"subject": {"type": "user"}, "action": act("read"), "resource": {"type": "record"}}),
        ),
        (
            actions,
            json!({"subject": {"type": "user"}, "resource": record("record-1")}),
        ),
        (
            subjects,
            json!({"subject": {"type": "user"}, "action": act("read"), "resource": record("record-1"), "page": {"limit": -1}}),
        ),
    ] {
        let (status, reply) = f.ask(path, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {reply}");
    }
}

async fn the_metadata_lists_every_endpoint(backend: Backend) {
    let f = fixture(backend).await;
    let meta: Value = f.app.get_json("/.well-known/authzen-configuration").await;
    assert_eq!(meta["policy_decision_point"], f.app.base.as_str());
    for (key, path) in [
        ("access_evaluation_endpoint", "/access/v1/evaluation"),
        ("access_evaluations_endpoint", "/access/v1/evaluations"),
        ("search_subject_endpoint", "/access/v1/search/subject"),
        ("search_resource_endpoint", "/access/v1/search/resource"),
        ("search_action_endpoint", "/access/v1/search/action"),
    ] {
        assert_eq!(meta[key], format!("{}{path}", f.app.base), "{key}");
    }
}

crate::both!(
    searches_find_what_evaluations_allow,
    the_metadata_lists_every_endpoint,
    the_eight_fixture_decisions_hold,
    malformed_requests_are_400_problems,
    batches_inherit_defaults_and_keep_order,
);
