//! A cluster of three `warden serve` processes on one PostgreSQL behind nginx (Debian's
//! package, configured as `deploy/cluster/nginx.conf` ships), load-balancing round robin:
//! tokens of every node verify on every node; grants, policies and ended sessions reach
//! every node within a second (the p99 is printed); 1,000 refresh races across nodes have
//! one winner each; the password-guessing lock holds on every node; a key rotated through one
//! node is published and then used by all; a node killed with SIGKILL restarts and catches up.

mod harness;

use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::{
    allowed, free_port, grant_new_role, kid, login, me_status, nginx, p99, post, start_node, until,
    until_within, warden, Shared, ADMIN, ADMIN_PASSWORD, PASSWORD,
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use warden_testkit::PgDatabase;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_node_cluster_behind_nginx_agrees() {
    let pg = PgDatabase::create().await;
    let proxy_port = free_port();
    let mut shared = Shared {
        database_url: pg.url.clone(),
        master_key: String::new(),
        issuer: format!("http://127.0.0.1:{proxy_port}"),
        dir: tempfile::tempdir().unwrap(),
    };
    // One node initializes the store; every node then starts with its master key.
    let init_dir = shared.dir.path().join("node0");
    let init = warden(&shared, &init_dir).arg("init").output().unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    shared.master_key = std::fs::read_to_string(init_dir.join("master.key")).unwrap();
    let ports = [free_port(), free_port(), free_port()];
    let mut nodes = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        nodes.push(start_node(&shared, i + 1, *port).await);
    }
    let _nginx = nginx(proxy_port, &ports).await;
    let proxy = shared.issuer.clone();
    let client = reqwest::Client::new();
    let bases: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();

    // A token from any node verifies on every node: 9 of 9.
    let mut tokens = Vec::new();
    for base in &bases {
        tokens.push(login(&client, base, ADMIN, ADMIN_PASSWORD).await.0);
    }
    let mut verified = 0;
    for token in &tokens {
        for base in &bases {
            if me_status(&client, base, token).await == StatusCode::OK {
                verified += 1;
            }
        }
    }
    assert_eq!(verified, 9, "tokens verified across nodes");
    let admin = tokens[0].clone();
    // Through nginx too: round robin spreads these over the nodes.
    for _ in 0..6 {
        assert_eq!(me_status(&client, &proxy, &admin).await, StatusCode::OK);
    }

    // Changes through one node reach the others within a second.
    let user = post(
        &client,
        &bases[0],
        "/v1/users",
        &admin,
        json!({"email": "u@cluster.test", "password": PASSWORD}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (user_token, _) = login(&client, &bases[0], "u@cluster.test", PASSWORD).await;
    let mut grants = Vec::new();
    for k in 0..15 {
        let through = k % 3;
        let action = format!("p{k}:read");
        grant_new_role(
            &client,
            &bases[through],
            &admin,
            &user,
            &format!("r{k}"),
            &action,
        )
        .await;
        let done = Instant::now();
        for other in (0..3).filter(|o| *o != through) {
            until(|| allowed(&client, &bases[other], &user_token, &action, "x")).await;
            grants.push(done.elapsed());
        }
    }
    let mut policies = Vec::new();
    for k in 0..9 {
        let through = k % 3;
        let tag = format!("blocked-{k}");
        for base in &bases {
            assert!(allowed(&client, base, &user_token, "p0:read", &tag).await);
        }
        let cedar = format!("forbid(principal, action == Action::\"p0:read\", resource) when {{ resource has tag && resource.tag == \"{tag}\" }};");
        post(
            &client,
            &bases[through],
            "/v1/policies",
            &admin,
            json!({"cedar": cedar}),
        )
        .await;
        let done = Instant::now();
        for other in (0..3).filter(|o| *o != through) {
            until(|| async {
                !allowed(&client, &bases[other], &user_token, "p0:read", &tag).await
            })
            .await;
            policies.push(done.elapsed());
        }
    }
    let mut ended = Vec::new();
    for k in 0..9 {
        let through = k % 3;
        let (access, refresh) = login(&client, &bases[through], "u@cluster.test", PASSWORD).await;
        for base in &bases {
            assert_eq!(me_status(&client, base, &access).await, StatusCode::OK);
        }
        let revoked = client
            .post(format!("{}/oauth/revoke", bases[through]))
            .form(&[("token", refresh.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(revoked.status(), StatusCode::OK);
        let done = Instant::now();
        for other in (0..3).filter(|o| *o != through) {
            until(|| async {
                me_status(&client, &bases[other], &access).await == StatusCode::UNAUTHORIZED
            })
            .await;
            ended.push(done.elapsed());
        }
    }
    let (grant_p99, policy_p99, ended_p99) =
        (p99(&mut grants), p99(&mut policies), p99(&mut ended));
    println!(
        "cluster propagation p99 (max of {}/{}/{} samples): role grant {grant_p99:?}, policy {policy_p99:?}, session end {ended_p99:?}",
        grants.len(),
        policies.len(),
        ended.len()
    );
    for (what, p99) in [
        ("grant", grant_p99),
        ("policy", policy_p99),
        ("session end", ended_p99),
    ] {
        assert!(
            p99 <= Duration::from_secs(1),
            "{what} p99 {p99:?} over a second"
        );
    }

    // 1,000 refresh races, each between two nodes: exactly one winner each.
    // Logins of one identifier at once count as a burst of guesses: each of 20 users logs in
    // 50 times in turn, the users in parallel.
    let mut set = tokio::task::JoinSet::new();
    for u in 0..20 {
        let email = format!("racer{u}@cluster.test");
        post(
            &client,
            &bases[u % 3],
            "/v1/users",
            &admin,
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
        let (client, bases) = (client.clone(), bases.clone());
        set.spawn(async move {
            let mut tokens = Vec::new();
            for i in 0..50 {
                tokens.push(
                    login(&client, &bases[(u + i) % 3], &email, PASSWORD)
                        .await
                        .1,
                );
            }
            tokens
        });
    }
    let mut refresh_tokens = Vec::new();
    while let Some(tokens) = set.join_next().await {
        refresh_tokens.extend(tokens.unwrap());
    }
    let logins = Arc::new(tokio::sync::Semaphore::new(16));
    let mut races = tokio::task::JoinSet::new();
    for (i, token) in refresh_tokens.into_iter().enumerate() {
        let (client, permit) = (client.clone(), logins.clone());
        let (a, b) = (bases[i % 3].clone(), bases[(i + 1) % 3].clone());
        races.spawn(async move {
            let _permit = permit.acquire().await.unwrap();
            let ask = |base: String| {
                let (client, token) = (client.clone(), token.clone());
                async move {
                    client
                        .post(format!("{base}/oauth/token"))
                        .form(&[
                            ("grant_type", "refresh_token"),
                            ("refresh_token", token.as_str()),
                        ])
                        .send()
                        .await
                        .unwrap()
                        .status()
                }
            };
            let (x, y) = tokio::join!(ask(a), ask(b));
            [x, y].iter().filter(|s| **s == StatusCode::OK).count()
        });
    }
    let mut winners = Vec::new();
    while let Some(count) = races.join_next().await {
        winners.push(count.unwrap());
    }
    assert_eq!(winners.len(), 1000);
    assert!(
        winners.iter().all(|w| *w == 1),
        "races without exactly one winner: {}",
        winners.iter().filter(|w| **w != 1).count()
    );

    // The guessing lock is shared: failures through nginx (so on every node) build up the
    // ladder, and while it holds, the right password is refused on each node.
    post(
        &client,
        &bases[0],
        "/v1/users",
        &admin,
        json!({"email": "v@cluster.test", "password": PASSWORD}),
    )
    .await;
    let guess = |base: String, password: &'static str| {
        let client = client.clone();
        async move {
            client
                .post(format!("{base}/oauth/token"))
                .form(&[
                    ("grant_type", "password"),
                    ("username", "v@cluster.test"),
                    ("password", password),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    for _ in 0..6 {
        assert_eq!(
            guess(proxy.clone(), "wrong guess").await,
            StatusCode::BAD_REQUEST
        );
    }
    // Six failures lock for 1 s, the seventh for 2 s, the eighth for 4 s.
    for wait in [1100, 2100] {
        tokio::time::sleep(Duration::from_millis(wait)).await;
        assert_eq!(
            guess(proxy.clone(), "wrong guess").await,
            StatusCode::BAD_REQUEST
        );
    }
    for base in &bases {
        assert_eq!(
            guess(base.clone(), PASSWORD).await,
            StatusCode::BAD_REQUEST,
            "{base} let the right password in during the lock"
        );
    }
    // The lock lapses: the right password works again (the eighth failure locked for 4 s).
    until_within(Duration::from_secs(15), || async {
        guess(bases[1].clone(), PASSWORD).await == StatusCode::OK
    })
    .await;

    // A key rotated through one node is published by all, then signs on all.
    let rotated = post(&client, &bases[1], "/v1/keys/rotate", &admin, json!({})).await;
    let new_kid = rotated["kid"].as_str().unwrap().to_owned();
    for base in &bases {
        let published = until(|| async {
            let jwks: Value = client
                .get(format!("{base}/.well-known/jwks.json"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kid"] == new_kid.as_str())
        })
        .await;
        println!("{base} published the rotated key after {published:?}");
    }
    let mut signed = Vec::new();
    for base in &bases {
        let started = Instant::now();
        loop {
            let token = login(&client, base, ADMIN, ADMIN_PASSWORD).await.0;
            if kid(&token) == new_kid {
                signed.push(token);
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{base} never signed with the rotated key"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    for token in &signed {
        for base in &bases {
            assert_eq!(
                me_status(&client, base, token).await,
                StatusCode::OK,
                "a token of the new key on {base}"
            );
        }
    }

    // A node killed with SIGKILL misses a change, restarts and catches up.
    let killed = nodes.remove(1);
    let port = killed.port;
    drop(killed);
    for _ in 0..6 {
        assert_eq!(
            me_status(&client, &proxy, &admin).await,
            StatusCode::OK,
            "nginx passes over the dead node"
        );
    }
    grant_new_role(&client, &bases[0], &admin, &user, "after-kill", "late:read").await;
    let restarted = start_node(&shared, 2, port).await;
    assert!(
        allowed(&client, &restarted.base, &user_token, "late:read", "x").await,
        "the restarted node caught up"
    );
    let (fresh, _) = login(&client, &restarted.base, ADMIN, ADMIN_PASSWORD).await;
    for base in &bases {
        assert_eq!(me_status(&client, base, &fresh).await, StatusCode::OK);
    }
}
