//! Service clients, client authentication, `client_credentials`, and introspection.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{basic, claims, create_client, Backend, TestApp, PASSWORD};

async fn a_service_client_gets_tokens_for_itself_with_its_roles(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let billing = app
        .create_role("billing", Some(&acme), &["invoices:read"], &[])
        .await;
    let c = create_client(
        &app,
        &app.admin_token,
        json!({"name": "billing", "account_id": acme, "roles": [billing]}),
    )
    .await;
    assert!(c.client_id.starts_with("wc_") && c.secret.len() >= 43);
    let read = app
        .get(&format!("/v1/clients/{}", c.id), &app.admin_token)
        .await;
    assert!(read.body.get("client_secret").is_none() && !read.body.to_string().contains(&c.secret));

    let reply = basic(
        &app,
        &c.client_id,
        &c.secret,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.header("cache-control"), "no-store");
    assert!(reply.body.get("refresh_token").is_none());
    let token = claims(reply.body["access_token"].as_str().unwrap());
    assert_eq!(token["sub"], format!("client:{}", c.client_id));
    assert_eq!(token["client_id"], c.client_id.as_str());
    assert_eq!(token["acct"], acme.as_str());
    assert_eq!(token["roles"], json!(["billing"]));

    let body = app
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", &c.client_id),
            ("client_secret", &c.secret),
        ])
        .await;
    assert_eq!(body.status, StatusCode::OK, "body credentials work too");
}

async fn client_authentication_failures_answer_invalid_client(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let c = create_client(&app, &app.admin_token, json!({"name": "svc"})).await;
    let cc = [("grant_type", "client_credentials")];
    for (id, secret) in [
        (c.client_id.as_str(), "wrong"),
        ("wc_nobody", c.secret.as_str()),
        (c.client_id.as_str(), ""),
    ] {
        let reply = basic(&app, id, secret, &cc).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{id}");
        assert_eq!(reply.body["error"], "invalid_client");
        assert!(reply.header("www-authenticate").starts_with("Basic"));
    }
    let malformed = app
        .client
        .post(app.url("/oauth/token"))
        .header("authorization", "Basic !!!")
        .form(&cc)
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::UNAUTHORIZED);
    let both = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(&c.client_id, Some(&c.secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_secret", c.secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        TestApp::read(both).await.body["error"],
        "invalid_request",
        "one authentication method per request"
    );
    let public = app.token_request(&cc).await;
    assert_eq!(
        public.body["error"], "invalid_client",
        "client_credentials needs a confidential client"
    );
    let no_secret = app
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", &c.client_id),
        ])
        .await;
    assert_eq!(no_secret.body["error"], "invalid_client");

    let disable = app
        .patch(
            &format!("/v1/clients/{}", c.id),
            &app.admin_token,
            json!({"status": "disabled"}),
        )
        .await;
    assert_eq!(disable.status, StatusCode::OK);
    assert_eq!(
        basic(&app, &c.client_id, &c.secret, &cc).await.body["error"],
        "invalid_client"
    );
    app.patch(
        &format!("/v1/clients/{}", c.id),
        &app.admin_token,
        json!({"status": "active"}),
    )
    .await;
    let rotated = app
        .post(
            &format!("/v1/clients/{}/secret", c.id),
            &app.admin_token,
            Value::Null,
        )
        .await;
    let new_secret = rotated.body["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(
        basic(&app, &c.client_id, &c.secret, &cc).await.body["error"],
        "invalid_client",
        "old secret dead"
    );
    assert_eq!(
        basic(&app, &c.client_id, &new_secret, &cc).await.status,
        StatusCode::OK
    );
}

async fn clients_use_only_their_grants_and_bind_their_refresh_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("u@x.io", None).await;
    let machine = create_client(&app, &app.admin_token, json!({"name": "machine"})).await;
    let login = [
        ("grant_type", "password"),
        ("username", "u@x.io"),
        ("password", PASSWORD),
    ];
    let refused = basic(&app, &machine.client_id, &machine.secret, &login).await;
    assert_eq!(refused.body["error"], "unauthorized_client");
    let web = create_client(
        &app,
        &app.admin_token,
        json!({"name": "web", "grant_types": ["password", "refresh_token"]}),
    )
    .await;
    let reply = basic(&app, &web.client_id, &web.secret, &login).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        claims(reply.body["access_token"].as_str().unwrap())["client_id"],
        web.client_id.as_str()
    );
    let refresh = reply.body["refresh_token"].as_str().unwrap().to_owned();
    let stolen = app
        .token_request(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    assert_eq!(
        stolen.body["error"], "invalid_grant",
        "a refresh token is bound to its client"
    );
    let own = basic(
        &app,
        &web.client_id,
        &web.secret,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    let bad = app
        .post(
            "/v1/clients",
            &app.admin_token,
            json!({"name": "x", "grant_types": ["implicit"]}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// Client credentials over HTTP Basic with the given X-Forwarded-For lines.
async fn forwarded(app: &TestApp, c: &crate::helpers::Creds, lines: &[&str]) -> StatusCode {
    let mut request = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(&c.client_id, Some(&c.secret));
    for line in lines {
        request = request.header("x-forwarded-for", *line);
    }
    request
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .status()
}

async fn ip_allow_lists_use_the_peer_and_forwarded_for_only_from_trusted_proxies(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let c = create_client(
        &app,
        &app.admin_token,
        json!({"name": "lan", "allowed_ips": ["10.0.0.0/8"]}),
    )
    .await;
    let cc = [("grant_type", "client_credentials")];
    assert_eq!(
        basic(&app, &c.client_id, &c.secret, &cc).await.body["error"],
        "invalid_client",
        "127.0.0.1 is outside 10/8"
    );
    assert_eq!(
        forwarded(&app, &c, &["10.1.2.3"]).await,
        StatusCode::UNAUTHORIZED,
        "X-Forwarded-For from an untrusted peer is ignored"
    );
    let bad = app
        .post(
            "/v1/clients",
            &app.admin_token,
            json!({"name": "x", "allowed_ips": ["10.0.0.1/8"]}),
        )
        .await;
    assert_eq!(bad.body["errors"][0]["field"], "allowed_ips[0]");

    let proxied = TestApp::spawn_with(backend, &[("WARDEN_TRUSTED_PROXIES", "127.0.0.1/32")]).await;
    // A second X-Forwarded-For line is read too, and an unreadable chain trusts no one.
    let c = create_client(
        &proxied,
        &proxied.admin_token,
        json!({"name": "lan", "allowed_ips": ["10.0.0.0/8"]}),
    )
    .await;
    assert_eq!(forwarded(&proxied, &c, &["10.1.2.3"]).await, StatusCode::OK);
    // The proxy appends a line after the attacker's: the right-most entry decides.
    assert_eq!(
        forwarded(&proxied, &c, &["10.1.2.3", "203.0.113.9"]).await,
        StatusCode::UNAUTHORIZED
    );
    for chain in ["x, 10.1.2.3", "10.1.2.3:80"] {
        assert_eq!(
            forwarded(&proxied, &c, &[chain]).await,
            StatusCode::UNAUTHORIZED,
            "{chain}: a malformed chain trusts no one"
        );
    }
}

async fn clients_never_hold_more_than_their_creator_nor_cross_tenants(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let globex = app.create_account("globex").await;
    let (_, boss) = app.account_admin("boss@acme.io", &acme).await;
    let super_admin = app.role_id("super_admin").await;
    let reply = app
        .post(
            "/v1/clients",
            &boss,
            json!({"name": "god", "account_id": acme, "roles": [super_admin]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    assert_eq!(
        app.post(
            "/v1/clients",
            &boss,
            json!({"name": "x", "account_id": globex})
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let foreign = create_client(
        &app,
        &app.admin_token,
        json!({"name": "theirs", "account_id": globex}),
    )
    .await;
    assert_eq!(
        app.get(&format!("/v1/clients/{}", foreign.id), &boss)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post(
            &format!("/v1/clients/{}/secret", foreign.id),
            &boss,
            Value::Null
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let mine = create_client(&app, &boss, json!({"name": "mine"})).await;
    let listed = app.get("/v1/clients", &boss).await;
    let ids: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [mine.id.as_str()]);
    let unknown = app
        .post(
            "/v1/clients",
            &boss,
            json!({"name": "x", "roles": ["01900000-0000-7000-8000-000000000000"]}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// Clients that sign people in: public ones get no secret and no machine grants; redirect URIs
/// and origins are exact, safe and validated field by field; only a global administrator marks
/// a client first-party; the type is fixed at creation; a public client cannot authenticate
/// with any secret.
async fn sign_in_settings_are_validated_and_kept(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app
        .post(
            "/v1/clients",
            &app.admin_token,
            json!({"name": "spa", "client_type": "public",
                "redirect_uris": ["https://app.example.com/callback", "http://127.0.0.1:5173/cb", "com.example.app:/oauth"],
                "post_logout_redirect_uris": ["https://app.example.com/"],
                "allowed_origins": ["https://app.example.com", "http://localhost:5173"],
                "first_party": true}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let body = &created.body;
    assert!(body.get("client_secret").is_none(), "{body}");
    assert_eq!(body["client_type"], "public");
    assert_eq!(
        body["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(body["redirect_uris"][2], "com.example.app:/oauth");
    assert_eq!(
        body["allowed_origins"],
        json!(["https://app.example.com", "http://localhost:5173"])
    );
    assert_eq!(body["first_party"], true);
    let id = body["id"].as_str().unwrap().to_owned();
    let client_id = body["client_id"].as_str().unwrap().to_owned();
    let read = app
        .get(&format!("/v1/clients/{id}"), &app.admin_token)
        .await;
    assert_eq!(
        read.body["post_logout_redirect_uris"],
        json!(["https://app.example.com/"])
    );

    // Every unsafe form is refused, each on its own field.
    let bad = app
        .post(
            "/v1/clients",
            &app.admin_token,
            json!({"name": "bad", "grant_types": ["authorization_code"],
                "redirect_uris": ["http://app.example.com/cb", "https://app.example.com/cb#x", "https://*.example.com/cb",
                    "https://user@app.example.com/cb", "javascript:alert(1)", "/cb", "http://127.0.0.1.evil.example/cb"],
                "allowed_origins": ["https://app.example.com/", "*"]}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    let fields: Vec<String> = bad.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    for i in 0..7 {
        assert!(
            fields.contains(&format!("redirect_uris[{i}]")),
            "{fields:?}"
        );
    }
    assert!(
        fields.contains(&"allowed_origins[0]".to_owned())
            && fields.contains(&"allowed_origins[1]".to_owned())
    );
    for (body, field) in [
        (
            json!({"name": "x", "grant_types": ["authorization_code"]}),
            "redirect_uris",
        ),
        (
            json!({"name": "x", "client_type": "public", "grant_types": ["client_credentials"], "redirect_uris": ["https://a.example/cb"]}),
            "grant_types",
        ),
        (json!({"name": "x", "client_type": "spa"}), "client_type"),
    ] {
        let reply = app.post("/v1/clients", &app.admin_token, body).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            reply.body
        );
        assert_eq!(reply.body["errors"][0]["field"], field, "{}", reply.body);
    }

    // Updates replace lists; the type stays.
    let updated = app
        .patch(
            &format!("/v1/clients/{id}"),
            &app.admin_token,
            json!({"redirect_uris": ["https://app.example.com/new"]}),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(
        updated.body["redirect_uris"],
        json!(["https://app.example.com/new"])
    );
    let retyped = app
        .patch(
            &format!("/v1/clients/{id}"),
            &app.admin_token,
            json!({"client_type": "confidential"}),
        )
        .await;
    assert_eq!(
        retyped.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        retyped.body
    );
    let rotate = app
        .post(
            &format!("/v1/clients/{id}/secret"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(rotate.status, StatusCode::CONFLICT, "{}", rotate.body);

    // No secret authenticates a public client.
    for secret in ["", "guess", "a".repeat(43).as_str()] {
        let reply = basic(
            &app,
            &client_id,
            secret,
            &[("grant_type", "client_credentials")],
        )
        .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    }

    // An account administrator may not let a client skip consent.
    let acme = app.create_account("acme").await;
    let (_, boss) = app.account_admin("boss@acme.test", &acme).await;
    let refused = app
        .post(
            "/v1/clients",
            &boss,
            json!({"name": "portal", "redirect_uris": ["https://portal.acme.test/cb"], "grant_types": ["authorization_code"], "first_party": true}),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert_eq!(refused.body["errors"][0]["field"], "first_party");
    let allowed = app
        .post(
            "/v1/clients",
            &boss,
            json!({"name": "portal", "redirect_uris": ["https://portal.acme.test/cb"], "grant_types": ["authorization_code"]}),
        )
        .await;
    assert_eq!(allowed.status, StatusCode::CREATED, "{}", allowed.body);
    assert_eq!(allowed.body["client_type"], "confidential");
    assert!(allowed.body["client_secret"].as_str().is_some());
}

/// CORS on the token, revocation and JWKS endpoints answers exactly the origins active clients
/// registered: preflights from them get the methods and headers, answers get
/// `Access-Control-Allow-Origin`; any other origin gets no CORS header (a refused preflight is
/// a 403), other endpoints never do, and an origin removed from its client stops at once.
async fn cors_answers_registered_origins_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let spa = "https://app.example.com";
    let created = app
        .post(
            "/v1/clients",
            &app.admin_token,
            json!({"name": "spa", "client_type": "public", "redirect_uris": [format!("{spa}/cb")], "allowed_origins": [spa]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let preflight = |path: &'static str, origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    for path in ["/oauth/token", "/oauth/revoke", "/.well-known/jwks.json"] {
        let ok = preflight(path, "https://app.example.com").await.unwrap();
        assert_eq!(ok.status(), StatusCode::NO_CONTENT, "{path}");
        assert_eq!(ok.headers()["access-control-allow-origin"], spa);
        assert!(ok.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST"));
        assert!(ok.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("content-type"));
        assert!(!ok
            .headers()
            .contains_key("access-control-allow-credentials"));
        let evil = preflight(path, "https://evil.example").await.unwrap();
        assert_eq!(evil.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(!evil.headers().contains_key("access-control-allow-origin"));
    }
    let token = app
        .client
        .post(app.url("/oauth/token"))
        .header("origin", spa)
        .form(&[
            ("grant_type", "password"),
            ("username", crate::helpers::ADMIN_EMAIL),
            ("password", crate::helpers::ADMIN_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), StatusCode::OK);
    assert_eq!(token.headers()["access-control-allow-origin"], spa);
    assert!(token
        .headers()
        .get_all("vary")
        .iter()
        .any(|v| v == "origin"));
    let jwks = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        jwks.status(),
        StatusCode::OK,
        "a plain GET is answered; the browser withholds it"
    );
    assert!(!jwks.headers().contains_key("access-control-allow-origin"));
    let api = app
        .client
        .get(app.url("/v1/users/me"))
        .bearer_auth(&app.admin_token)
        .header("origin", spa)
        .send()
        .await
        .unwrap();
    assert!(
        !api.headers().contains_key("access-control-allow-origin"),
        "the admin API is not for browsers of other origins"
    );

    let emptied = app
        .patch(
            &format!("/v1/clients/{id}"),
            &app.admin_token,
            json!({"allowed_origins": []}),
        )
        .await;
    assert_eq!(emptied.status, StatusCode::OK, "{}", emptied.body);
    let gone = preflight("/oauth/token", "https://app.example.com")
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::FORBIDDEN);
}

crate::both!(
    cors_answers_registered_origins_only,
    sign_in_settings_are_validated_and_kept,
    a_service_client_gets_tokens_for_itself_with_its_roles,
    client_authentication_failures_answer_invalid_client,
    clients_use_only_their_grants_and_bind_their_refresh_tokens,
    ip_allow_lists_use_the_peer_and_forwarded_for_only_from_trusted_proxies,
    clients_never_hold_more_than_their_creator_nor_cross_tenants,
);
