//! Introspection, revocation and the revocation feed, seen by service clients.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{basic, claims, create_client, Backend, TestApp, PASSWORD};

async fn verifiers_follow_the_revocation_feed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("f@x.io", None).await;
    let verifier = create_client(&app, &app.admin_token, json!({"name": "gateway"})).await;
    let poll = |since: Option<String>| {
        let (client, id, secret) = (
            app.client.clone(),
            verifier.client_id.clone(),
            verifier.secret.clone(),
        );
        let url = match since {
            Some(c) => app.url(&format!("/v1/revocations?since={c}")),
            None => app.url("/v1/revocations"),
        };
        async move {
            TestApp::read(
                client
                    .get(url)
                    .basic_auth(id, Some(secret))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let first = poll(None).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let login = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", "f@x.io"),
            ("password", PASSWORD),
        ])
        .await;
    let access = login.body["access_token"].as_str().unwrap().to_owned();
    let sid = claims(&access)["sid"].clone();
    app.client
        .post(app.url("/oauth/revoke"))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();

    // The feed lists an ending once it has settled (two seconds), so no commit can land
    // behind a poller's cursor.
    tokio::time::sleep(std::time::Duration::from_millis(2300)).await;
    let second = poll(Some(cursor)).await;
    let items = second.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", second.body);
    assert_eq!(items[0]["sid"], sid);
    assert!(items[0]["expires_at"].as_str().unwrap() > items[0]["ended_at"].as_str().unwrap());
    let next = second.body["next_cursor"].as_str().unwrap().to_owned();
    let third = poll(Some(next.clone())).await;
    assert_eq!(third.body["items"], json!([]));
    assert_eq!(
        third.body["next_cursor"],
        next.as_str(),
        "an empty poll keeps the cursor"
    );

    assert_eq!(
        app.get("/v1/revocations", &app.admin_token).await.status,
        StatusCode::OK
    );
    let acme = app.create_account("acme").await;
    let (_, boss) = app.account_admin("boss@acme.io", &acme).await;
    assert_eq!(
        app.get("/v1/revocations", &boss).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.client
            .get(app.url("/v1/revocations"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let wrong = app
        .client
        .get(app.url("/v1/revocations"))
        .basic_auth(&verifier.client_id, Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    // Client credentials that fail are challenged as client credentials (Basic), as the
    // token endpoint does, not as a bearer token.
    assert_eq!(
        wrong.headers()["www-authenticate"],
        "Basic realm=\"warden\""
    );
    assert_eq!(
        app.get("/v1/revocations?since=%%%", &app.admin_token)
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.get("/v1/revocations?since=Zm9v", &app.admin_token)
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

async fn revocation_and_introspection_stay_with_their_client_and_tenant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_account("acme").await;
    let globex = app.create_account("globex").await;
    app.create_user("a@acme.io", Some(&acme)).await;
    let web = create_client(
        &app,
        &app.admin_token,
        json!({"name": "web", "grant_types": ["password", "refresh_token"]}),
    )
    .await;
    let other = create_client(
        &app,
        &app.admin_token,
        json!({"name": "other", "account_id": globex}),
    )
    .await;
    let login = basic(
        &app,
        &web.client_id,
        &web.secret,
        &[
            ("grant_type", "password"),
            ("username", "a@acme.io"),
            ("password", PASSWORD),
        ],
    )
    .await;
    let access = login.body["access_token"].as_str().unwrap().to_owned();
    let refresh = login.body["refresh_token"].as_str().unwrap().to_owned();
    // Someone else's client, or no client at all, cannot revoke web's tokens.
    for token in [&refresh, &access] {
        let by_other = app
            .client
            .post(app.url("/oauth/revoke"))
            .basic_auth(&other.client_id, Some(&other.secret))
            .form(&[("token", token.as_str())]);
        assert_eq!(by_other.send().await.unwrap().status(), StatusCode::OK);
        let anonymous = app
            .client
            .post(app.url("/oauth/revoke"))
            .form(&[("token", token.as_str())]);
        assert_eq!(anonymous.send().await.unwrap().status(), StatusCode::OK);
    }
    assert_eq!(
        app.get("/v1/users/me", &access).await.status,
        StatusCode::OK,
        "nothing was revoked"
    );
    // A globex client learns nothing about acme's tokens.
    let peek = app
        .client
        .post(app.url("/oauth/introspect"))
        .basic_auth(&other.client_id, Some(&other.secret))
        .form(&[("token", access.as_str())]);
    assert_eq!(
        TestApp::read(peek.send().await.unwrap()).await.body,
        json!({"active": false})
    );
    // A service client's own token is refused on the user API with 403, and is not revocable.
    let cc = basic(
        &app,
        &other.client_id,
        &other.secret,
        &[("grant_type", "client_credentials")],
    )
    .await;
    let cc = cc.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get("/v1/users/me", &cc).await.status,
        StatusCode::FORBIDDEN
    );
    let revoke_cc = app
        .client
        .post(app.url("/oauth/revoke"))
        .basic_auth(&other.client_id, Some(&other.secret))
        .form(&[("token", cc.as_str())]);
    assert_eq!(
        TestApp::read(revoke_cc.send().await.unwrap()).await.body["error"],
        "unsupported_token_type"
    );
    // The owner client revokes for real.
    let own = app
        .client
        .post(app.url("/oauth/revoke"))
        .basic_auth(&web.client_id, Some(&web.secret))
        .form(&[("token", refresh.as_str())]);
    assert_eq!(own.send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        app.get("/v1/users/me", &access).await.status,
        StatusCode::UNAUTHORIZED
    );
    let nul = app
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", "a\u{0}"),
            ("client_secret", "b"),
        ])
        .await;
    assert_eq!(
        nul.status,
        StatusCode::UNAUTHORIZED,
        "NUL in client_id: a clean 401, not a 500"
    );
}

async fn introspection_reports_each_token_state(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("i@x.io", None).await;
    let rs = create_client(&app, &app.admin_token, json!({"name": "api"})).await;
    let introspect = |token: String| {
        let (client, url, id, secret) = (
            app.client.clone(),
            app.url("/oauth/introspect"),
            rs.client_id.clone(),
            rs.secret.clone(),
        );
        async move {
            let response = client
                .post(url)
                .basic_auth(id, Some(secret))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap();
            TestApp::read(response).await
        }
    };
    let login = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", "i@x.io"),
            ("password", PASSWORD),
        ])
        .await;
    let access = login.body["access_token"].as_str().unwrap().to_owned();
    let refresh = login.body["refresh_token"].as_str().unwrap().to_owned();

    let live = introspect(access.clone()).await;
    assert_eq!(live.body["active"], true, "{}", live.body);
    assert_eq!(live.body["sub"], claims(&access)["sub"]);
    assert_eq!(
        introspect(refresh.clone()).await.body["token_type"],
        "refresh_token"
    );
    let cc = basic(
        &app,
        &rs.client_id,
        &rs.secret,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(
        introspect(cc.body["access_token"].as_str().unwrap().to_owned())
            .await
            .body["active"],
        true
    );

    let rotated = app
        .token_request(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    assert_eq!(
        introspect(refresh.clone()).await.body,
        json!({"active": false}),
        "a rotated refresh token"
    );
    let next = rotated.body["refresh_token"].as_str().unwrap().to_owned();
    app.client
        .post(app.url("/oauth/revoke"))
        .form(&[("token", next.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        introspect(access.clone()).await.body,
        json!({"active": false}),
        "a revoked session's access token"
    );
    assert_eq!(introspect(next).await.body, json!({"active": false}));
    for junk in ["garbage", "a.b.c", "", "x"] {
        let reply = introspect(junk.to_owned()).await;
        assert!(
            reply.status == StatusCode::OK && reply.body == json!({"active": false})
                || reply.status == StatusCode::BAD_REQUEST,
            "{junk}"
        );
    }
    let anonymous = app
        .client
        .post(app.url("/oauth/introspect"))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

/// Introspection is charged to the address's token budget only when the client's credentials
/// are refused: a resource server introspects at its own rate, a guesser is stopped (429 with
/// `Retry-After`) once the budget is spent, on revocation too.
async fn only_refused_client_credentials_spend_the_token_budget(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[("WARDEN_TOKEN_RATE", "1"), ("WARDEN_TOKEN_BURST", "3")],
    )
    .await;
    let rs = create_client(&app, &app.admin_token, json!({"name": "api"})).await;
    let call = |path: &'static str, secret: String| {
        let (client, url, id) = (app.client.clone(), app.url(path), rs.client_id.clone());
        async move {
            let response = client
                .post(url)
                .basic_auth(id, Some(secret))
                .form(&[("token", "not a token")])
                .send()
                .await
                .unwrap();
            TestApp::read(response).await
        }
    };
    for _ in 0..12 {
        let ok = call("/oauth/introspect", rs.secret.clone()).await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
        assert_eq!(ok.body["active"], false);
    }
    let mut refused = 0;
    let throttled = loop {
        let wrong = call("/oauth/introspect", "guess".into()).await;
        if wrong.status == StatusCode::TOO_MANY_REQUESTS {
            break wrong;
        }
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
        refused += 1;
        assert!(refused <= 6, "the budget of 3 never ran out");
    };
    // The burst of 3, less the administrator's login at start-up, plus what refilled since.
    assert!(refused >= 2, "refused after {refused} guesses");
    assert!(!throttled.header("retry-after").is_empty());
    // What is left in the bucket is under one token but may be close to it: guess on until
    // a token refills and is spent (at most a second at one a second), then it is empty.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let wrong = call("/oauth/introspect", "guess".into()).await;
        if wrong.status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(
            wrong.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            wrong.body
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the bucket never refilled"
        );
    }
    for path in ["/oauth/introspect", "/oauth/revoke"] {
        let blocked = call(path, rs.secret.clone()).await;
        assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS, "{path}");
    }
}

/// Guesses sent at once cannot pass the token budget, at introspection and at the revocation
/// feed (both check a client's secret): each request holds a token while its credentials are
/// tried, so no more are refused with 401 than the bucket held.
async fn guesses_sent_at_once_cannot_pass_the_token_budget(backend: Backend) {
    for feed in [false, true] {
        let app = TestApp::spawn_with(
            backend,
            &[("WARDEN_TOKEN_RATE", "1"), ("WARDEN_TOKEN_BURST", "3")],
        )
        .await;
        let rs = create_client(&app, &app.admin_token, json!({"name": "api"})).await;
        let started = std::time::Instant::now();
        let guesses = (0..30).map(|n| {
            let request = if feed {
                app.client.get(app.url("/v1/revocations"))
            } else {
                app.client
                    .post(app.url("/oauth/introspect"))
                    .form(&[("token", "not a token")])
            };
            let request = request.basic_auth(rs.client_id.clone(), Some(format!("guess {n}")));
            async move { request.send().await.unwrap().status() }
        });
        let statuses = futures_util::future::join_all(guesses).await;
        let refilled = started.elapsed().as_secs() as usize + 1;
        let tried = statuses
            .iter()
            .filter(|s| **s == StatusCode::UNAUTHORIZED)
            .count();
        let throttled = statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count();
        assert_eq!(tried + throttled, 30, "{statuses:?}");
        // At most the burst of 3, plus what refilled while the guesses were answered.
        assert!(
            tried <= 3 + refilled,
            "feed {feed}: {tried} guesses were tried of 30"
        );
        // The right secret is still answered once the budget refills: successes give their
        // token back.
        if feed {
            tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
            for _ in 0..5 {
                let ok = app
                    .client
                    .get(app.url("/v1/revocations"))
                    .basic_auth(rs.client_id.clone(), Some(rs.secret.clone()))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(ok.status(), StatusCode::OK);
            }
        }
    }
}

crate::both!(
    only_refused_client_credentials_spend_the_token_budget,
    guesses_sent_at_once_cannot_pass_the_token_budget,
    introspection_reports_each_token_state,
    revocation_and_introspection_stay_with_their_client_and_tenant,
    verifiers_follow_the_revocation_feed,
);
