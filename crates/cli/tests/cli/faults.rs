//! Faults, on both stores: `warden serve` killed with SIGKILL in the middle of writes and
//! logins loses no write and no login record it acknowledged and leaves an audit chain that
//! verifies; SIGTERM under load answers
//! every request it accepted, exits cleanly and writes every queued audit event first.
//! `WARDEN_FAULT_KILLS` sets the kills per store (the test command: 5; RELIABILITY.md's long
//! run: 200).

use std::io::BufRead;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::Install;

const ADMIN_PASSWORD: &str = "operator passphrase";

/// Starts `warden serve` on an ephemeral port with a known admin password.
fn start(install: &Install) -> (Child, String) {
    let mut child = install
        .command(&["serve"])
        .env("WARDEN_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("WARDEN_LISTEN", "127.0.0.1:0")
        .env("WARDEN_ISSUER", "https://auth.example.test")
        .env("WARDEN_TOKEN_RATE", "100000")
        .env("WARDEN_TOKEN_BURST", "100000")
        // The login writer must never end the writers' own session by eviction.
        .env("WARDEN_MAX_SESSIONS_PER_USER", "100000")
        .env("WARDEN_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (address, stderr) = crate::serve::listening(&mut child);
    std::thread::spawn(move || for _ in stderr.lines().map_while(Result::ok) {});
    (child, format!("http://{address}"))
}

/// Verifies the audit chain; answers how many `user.created` and `login.succeeded` records it
/// holds.
fn audit_verifies(install: &Install) -> (usize, usize) {
    let out = install.command(&["audit", "export"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verify = install.command(&["audit", "verify"]).output().unwrap();
    assert!(
        verify.status.success(),
        "the audit chain: {}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let export = String::from_utf8_lossy(&out.stdout);
    let count = |action: &str| {
        let action = format!("\"{action}\"");
        export.lines().filter(|l| l.contains(&action)).count()
    };
    (count("user.created"), count("login.succeeded"))
}

/// Logs the admin in with the password grant until a request fails or `stop`; answers how
/// many logins were acknowledged (answered 200).
async fn log_in(base: String, stop: Arc<AtomicBool>) -> usize {
    let client = reqwest::Client::new();
    let mut acknowledged = 0;
    while !stop.load(Ordering::Relaxed) {
        let sent = client
            .post(format!("{base}/oauth/token"))
            .form(&[
                ("grant_type", "password"),
                ("username", "admin@localhost"),
                ("password", ADMIN_PASSWORD),
            ])
            .send()
            .await;
        match sent {
            Ok(reply) if reply.status() == 200 => acknowledged += 1,
            Ok(reply) => panic!("a login answered {}", reply.status()),
            Err(_) => break,
        }
    }
    acknowledged
}

async fn stored(install: &Install, emails: &[String]) -> usize {
    let url = install.database_url.clone().unwrap_or_else(|| {
        format!(
            "sqlite://{}",
            install.dir.path().join("warden.db").display()
        )
    });
    let store = warden_store::SqlStore::connect(&url, 2).await.unwrap();
    let mut found = 0;
    for email in emails {
        if warden_core::store::Store::user_by_login(&store, email)
            .await
            .unwrap()
            .is_some()
        {
            found += 1;
        }
    }
    store.close().await;
    found
}

async fn sigkill_in_the_middle_of_writes_loses_no_acknowledged_write(postgres: bool) {
    let kills: usize = std::env::var("WARDEN_FAULT_KILLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5);
    let install = Install::new(postgres).await;
    let mut acknowledged_total = 0;
    let mut logins_total = 0;
    for round in 0..kills {
        let (child, base) = start(&install);
        let mut child = crate::Reaped(child);
        let token = crate::admin_token(&base, ADMIN_PASSWORD).await;
        let stop_logins = Arc::new(AtomicBool::new(false));
        let logins = tokio::spawn(log_in(base.clone(), stop_logins.clone()));
        let writers = crate::Writers::start(&base, &token, &format!("r{round}"), 4).await;
        // A different moment of each round: 100 to 400 ms after the first acknowledged write.
        let wait = 100 + (round * 73 % 300) as u64;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        child.kill().unwrap();
        child.wait().unwrap();
        let (acknowledged, _) = writers.stop().await;
        stop_logins.store(true, Ordering::Relaxed);
        // The admin's own login for the writers' token counts too.
        logins_total += 1 + logins.await.unwrap();
        assert_eq!(
            stored(&install, &acknowledged).await,
            acknowledged.len(),
            "round {round}: an acknowledged user is missing after SIGKILL"
        );
        let (audited, logins_audited) = audit_verifies(&install);
        acknowledged_total += acknowledged.len();
        // A creation, and a login, is answered only once its audit record is written.
        assert!(
            audited >= acknowledged_total,
            "round {round}: {acknowledged_total} creations acknowledged, {audited} audited"
        );
        assert!(
            logins_audited >= logins_total,
            "round {round}: {logins_total} logins acknowledged, {logins_audited} audited"
        );
    }
    println!(
        "{} SIGKILLs ({}): {acknowledged_total} acknowledged user creations and {logins_total} logins, none lost, each with its audit record; audit chain verified after each",
        kills,
        if postgres { "postgres" } else { "sqlite" }
    );
}

#[tokio::test]
async fn sqlite_sigkill_in_the_middle_of_writes_loses_no_acknowledged_write() {
    sigkill_in_the_middle_of_writes_loses_no_acknowledged_write(false).await;
}

#[tokio::test]
async fn postgres_sigkill_in_the_middle_of_writes_loses_no_acknowledged_write() {
    sigkill_in_the_middle_of_writes_loses_no_acknowledged_write(true).await;
}

/// SIGTERM while writers run: every request that was answered was answered 201, the process
/// exits 0 after draining, every acknowledged user is stored and every one has its audit event
/// (the queue is written before exit).
async fn sigterm_under_load_drains(postgres: bool) {
    let install = Install::new(postgres).await;
    let (child, base) = start(&install);
    let mut child = crate::Reaped(child);
    let token = crate::admin_token(&base, ADMIN_PASSWORD).await;
    let writers = crate::Writers::start(&base, &token, "t", 6).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = writers.acknowledged().len();
    let term = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    // Waited for off the runtime: the writers go on sending while the node drains.
    let status = tokio::task::spawn_blocking(move || {
        let status = child.wait().unwrap();
        (status, child)
    })
    .await
    .unwrap()
    .0;
    let (acknowledged, _) = writers.stop().await;
    assert!(status.success(), "serve exited with {status} after SIGTERM");
    assert!(before > 0 && acknowledged.len() >= before);
    assert_eq!(stored(&install, &acknowledged).await, acknowledged.len());
    let (audited, _) = audit_verifies(&install);
    assert!(
        audited >= acknowledged.len(),
        "{} acknowledged, {audited} audited: SIGTERM lost queued audit events",
        acknowledged.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_sigterm_under_load_drains() {
    sigterm_under_load_drains(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sigterm_under_load_drains() {
    sigterm_under_load_drains(true).await;
}
