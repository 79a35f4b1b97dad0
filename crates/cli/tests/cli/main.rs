//! The `warden` binary as an operator uses it: admin commands on a fresh install (before any
//! token exists), `config check`, policy tests, forward-auth rules, and (in `serve`) the
//! server's start, banner and logs.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on the first surprise"
)]

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use warden_testkit::PgDatabase;

mod backup;
mod cluster;
mod faults;
mod serve;

/// The first super admin's access token from the server at `base`.
pub(crate) async fn admin_token(base: &str, password: &str) -> String {
    let reply: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "admin@localhost"),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    reply["access_token"].as_str().unwrap().to_owned()
}

/// Creates users (and with them audit events and change-log rows) until a request fails or
/// `stop`; records each acknowledged email; answers how many requests failed.
pub(crate) async fn create_users(
    base: String,
    token: String,
    prefix: String,
    stop: Arc<AtomicBool>,
    acknowledged: Arc<Mutex<Vec<String>>>,
) -> usize {
    let client = reqwest::Client::new();
    let mut failures = 0;
    for n in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let email = format!("{prefix}-{n}@faults.test");
        let sent = client
            .post(format!("{base}/v1/users"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"email": email, "password": "a long enough passphrase"}))
            .send()
            .await;
        match sent {
            Ok(reply) if reply.status() == 201 => acknowledged.lock().unwrap().push(email),
            Ok(reply) => panic!("{email}: answered {}", reply.status()),
            Err(_) => {
                failures += 1;
                break;
            }
        }
    }
    failures
}

/// Writers creating users at a server until stopped, each email recorded once acknowledged.
pub(crate) struct Writers {
    stop: Arc<AtomicBool>,
    acknowledged: Arc<Mutex<Vec<String>>>,
    handles: Vec<tokio::task::JoinHandle<usize>>,
}

impl Writers {
    /// Starts `n` writers (emails `{prefix}w{i}-…`) and answers once the first write is
    /// acknowledged (a busy machine may take a while), failing after 30 s.
    pub(crate) async fn start(base: &str, token: &str, prefix: &str, n: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let handles = (0..n)
            .map(|w| {
                tokio::spawn(create_users(
                    base.to_owned(),
                    token.to_owned(),
                    format!("{prefix}w{w}"),
                    stop.clone(),
                    acknowledged.clone(),
                ))
            })
            .collect();
        let writers = Self {
            stop,
            acknowledged,
            handles,
        };
        let started = std::time::Instant::now();
        while writers.acknowledged().is_empty() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "nothing was written in 30 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        writers
    }

    /// The emails acknowledged so far.
    pub(crate) fn acknowledged(&self) -> Vec<String> {
        self.acknowledged.lock().unwrap().clone()
    }

    /// Stops the writers; answers every acknowledged email and how many requests failed.
    pub(crate) async fn stop(self) -> (Vec<String>, usize) {
        self.stop.store(true, Ordering::Relaxed);
        let mut failures = 0;
        for handle in self.handles {
            failures += handle.await.unwrap();
        }
        let acknowledged = self.acknowledged.lock().unwrap().clone();
        (acknowledged, failures)
    }
}

/// A child process killed when dropped, so a failing test leaves no server behind.
pub(crate) struct Reaped(pub(crate) std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl std::ops::Deref for Reaped {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// A fresh data directory (and PostgreSQL database, when asked) to run `warden` against.
pub(crate) struct Install {
    dir: tempfile::TempDir,
    database_url: Option<String>,
    _pg: Option<PgDatabase>,
}

impl Install {
    pub(crate) async fn new(postgres: bool) -> Self {
        let pg = if postgres {
            Some(PgDatabase::create().await)
        } else {
            None
        };
        Self {
            dir: tempfile::tempdir().unwrap(),
            database_url: pg.as_ref().map(|db| db.url.clone()),
            _pg: pg,
        }
    }

    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_warden"));
        command
            .args(args)
            .env_remove("DATABASE_URL")
            .env("WARDEN_DATA_DIR", self.dir.path())
            .env("WARDEN_ARGON2_MEMORY_KIB", "64")
            .env("WARDEN_ARGON2_ITERATIONS", "1")
            .env("WARDEN_LOG", "warn");
        if let Some(url) = &self.database_url {
            command.env("DATABASE_URL", url);
        }
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args)
            .env("WARDEN_ADMIN_PASSWORD", "operator passphrase")
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "warden {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

async fn administer_a_fresh_install_from_the_command_line(postgres: bool) {
    let install = Install::new(postgres).await;
    let config = install.ok(&["config", "check"]);
    let shown: Value = serde_json::from_str(&config).unwrap();
    assert_eq!(shown["admin_password"], "(set)");
    assert!(!config.contains("operator passphrase"));

    assert!(install
        .ok(&["account", "create", "acme", "--display-name", "Acme"])
        .contains("created account"));
    let mut child = install
        .command(&[
            "user",
            "create",
            "--email",
            "Alice@Acme.io",
            "--account",
            "acme",
            "--password-stdin",
        ])
        .env("WARDEN_ADMIN_PASSWORD", "operator passphrase")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse battery\n")
        .unwrap();
    let created = child.wait_with_output().unwrap();
    assert!(created.status.success());
    assert!(String::from_utf8_lossy(&created.stdout).contains("alice@acme.io"));

    let generated = install.ok(&[
        "user",
        "create",
        "--email",
        "bob@acme.io",
        "--external-id",
        "emp-0042",
    ]);
    assert!(generated.contains("password (shown once)"));
    assert!(install
        .ok(&["user", "set-external-id", "bob@acme.io", "emp-0043"])
        .contains("known elsewhere as emp-0043"));
    // Unique across Warden: a second user cannot take it.
    let taken = install.run(&["user", "set-external-id", "alice@acme.io", "emp-0043"]);
    assert!(!taken.status.success());
    assert!(install
        .ok(&["user", "set-external-id", "alice@acme.io", "--clear"])
        .contains("has no external id"));
    install.ok(&[
        "member",
        "add",
        "--account",
        "acme",
        "--user",
        "bob@acme.io",
    ]);
    install.ok(&[
        "role",
        "create",
        "editor",
        "--account",
        "acme",
        "-p",
        "documents:edit",
        "-p",
        "documents:read",
    ]);
    assert!(install
        .ok(&[
            "role",
            "grant",
            "--user",
            "alice@acme.io",
            "--role",
            "editor",
            "--account",
            "acme"
        ])
        .contains("granted"));
    let listed = install.ok(&["user", "list", "--account", "acme"]);
    assert!(
        listed.contains("alice@acme.io")
            && listed.contains("bob@acme.io")
            && !listed.contains("admin@localhost")
    );
    assert!(install.ok(&["role", "list"]).contains("editor"));
    assert!(install
        .ok(&["user", "disable", "bob@acme.io"])
        .contains("disabled"));
    let client = install.ok(&[
        "client",
        "create",
        "--name",
        "billing",
        "--account",
        "acme",
        "--role",
        "editor",
        "--allowed-ip",
        "10.0.0.0/8",
    ]);
    assert!(
        client.contains("client_secret:") && client.contains("wc_"),
        "{client}"
    );
    assert!(install.ok(&["client", "list"]).contains("billing"));
    let key = install.ok(&[
        "api-key",
        "create",
        "--user",
        "alice@acme.io",
        "--account",
        "acme",
        "--role",
        "editor",
        "--name",
        "ci",
    ]);
    assert!(key.contains("key: wk_"), "{key}");
    assert!(install
        .ok(&["api-key", "list", "--user", "alice@acme.io"])
        .contains("live"));
    let refused = install.run(&[
        "api-key",
        "create",
        "--user",
        "bob@acme.io",
        "--account",
        "acme",
        "--role",
        "editor",
        "--name",
        "x",
    ]);
    assert!(!refused.status.success(), "bob does not hold editor");
    let client_id = client
        .lines()
        .find_map(|l| l.strip_prefix("client_id:"))
        .unwrap()
        .trim()
        .to_owned();
    let client_key = install.ok(&[
        "api-key", "create", "--client", &client_id, "--role", "editor", "--name", "svc",
    ]);
    assert!(client_key.contains("key: wk_"), "{client_key}");
    assert!(install
        .ok(&["audit", "verify"])
        .contains("audit log intact"));
    let exported = install.ok(&["audit", "export"]);
    assert!(
        exported
            .lines()
            .all(|l| serde_json::from_str::<Value>(l).is_ok())
            && exported.contains("account.created")
    );
    let rotated = install.ok(&["keys", "rotate", "--algorithm", "ES256"]);
    assert!(rotated.contains("published es256-"), "{rotated}");
    let keys = install.ok(&["keys", "list"]);
    assert!(keys.contains("active") && keys.contains("next"), "{keys}");

    for bad in [
        vec!["account", "create", "Not A Slug"],
        vec!["account", "create", "acme"],
        vec!["role", "create", "x", "-p", "NOT:valid:perm"],
        vec!["role", "grant", "--user", "nobody@x.io", "--role", "editor"],
        vec!["user", "create", "--email", "not-an-email"],
    ] {
        let out = install.run(&bad);
        assert!(!out.status.success(), "{bad:?} should fail");
        assert!(
            !String::from_utf8_lossy(&out.stderr).trim().is_empty(),
            "{bad:?} should say why"
        );
    }
}

#[tokio::test]
async fn sqlite_administer_a_fresh_install_from_the_command_line() {
    administer_a_fresh_install_from_the_command_line(false).await;
}

#[tokio::test]
async fn postgres_administer_a_fresh_install_from_the_command_line() {
    administer_a_fresh_install_from_the_command_line(true).await;
}

/// `warden policy test` runs the repository's example suite offline and fails loudly on a
/// wrong expectation.
#[test]
fn policy_test_runs_cases_offline_and_fails_on_a_wrong_expectation() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies");
    let passing = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["policy", "test"])
        .arg(examples.join("documents.toml"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&passing.stdout);
    assert!(passing.status.success(), "{out}");
    assert!(out.contains("7 cases: 7 passed, 0 failed"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        examples.join("documents.cedar"),
        dir.path().join("documents.cedar"),
    )
    .unwrap();
    let suite = std::fs::read_to_string(examples.join("documents.toml"))
        .unwrap()
        .replacen("expect = \"deny\"", "expect = \"allow\"", 1);
    std::fs::write(dir.path().join("wrong.toml"), suite).unwrap();
    let failing = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["policy", "test"])
        .arg(dir.path().join("wrong.toml"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&failing.stdout);
    assert_eq!(failing.status.code(), Some(1), "{out}");
    assert!(out.contains("FAIL a viewer may not edit"), "{out}");

    std::fs::write(
        dir.path().join("bad.cedar"),
        "permit(principal, action, resource) when {",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "[[policies]]\nfile = \"bad.cedar\"\n[[cases]]\nname = \"x\"\nprincipal = { id = \"0190a5b0-0000-7000-8000-000000000001\" }\naction = \"a:b\"\nresource = { type = \"t\", id = \"1\" }\nexpect = \"deny\"\n",
    )
    .unwrap();
    let invalid = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["policy", "test"])
        .arg(dir.path().join("bad.toml"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&invalid.stderr);
    assert!(!invalid.status.success());
    assert!(err.contains("1:"), "the error names a line: {err}");
}

/// `warden forward-auth explain` reads a request exactly as the endpoint does: the shipped
/// nginx example's rules, a path trick, a refused path; bad rules stop `config check`.
#[test]
fn forward_auth_explain_names_the_rule_a_request_hits() {
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/nginx-forward-auth/warden.toml");
    let explain = |method: &str, url: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_warden"))
            .arg("--config")
            .arg(&rules)
            .args(["forward-auth", "explain", method, url])
            .env_remove("WARDEN_CONFIG")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let document = explain("GET", "https://app.example.com/documents/42");
    assert!(
        document.contains("rule 3") && document.contains("document `42`"),
        "{document}"
    );
    let admin = explain("GET", "https://app.example.com/%61dmin/x");
    assert!(
        admin.contains("rule 2") && admin.contains("role `ops`"),
        "{admin}"
    );
    let trick = explain("GET", "https://app.example.com/public/../admin/x");
    assert!(trick.contains("refused before any rule"), "{trick}");
    let refused = explain("GET", "https://app.example.com/public/%252e%252e/admin");
    assert!(refused.contains("refused before any rule"), "{refused}");
    let nothing = explain("DELETE", "https://app.example.com/documents/42");
    assert!(
        nothing.contains("no rule matches: the default, deny"),
        "{nothing}"
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[forward_auth.rules]]\npath = \"/x\"\npermision = \"a:b\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .arg("--config")
        .arg(&bad)
        .args(["config", "check"])
        .env_remove("WARDEN_CONFIG")
        .output()
        .unwrap();
    assert!(!out.status.success(), "a misspelt rule key is refused");
    assert!(String::from_utf8_lossy(&out.stderr).contains("permision"));
}

/// The hardened example configuration in `deploy/` loads without a warning.
#[tokio::test]
async fn the_deploy_example_configuration_is_valid() {
    let install = Install::new(false).await;
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/warden.toml");
    let out = install
        .command(&["--config", file, "config", "check"])
        .env_remove("WARDEN_DATA_DIR")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(!said.contains("warning"), "{said}");
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["issuer"], "https://auth.example.com");
    assert_eq!(shown["metrics_listen"], "127.0.0.1:9464");
}

/// A master key that does not open the store is refused in words, on one line, without a
/// backtrace; the data directory's key file opens it again.
#[tokio::test]
async fn a_wrong_master_key_is_refused_in_words() {
    let install = Install::new(false).await;
    let init = install.command(&["init"]).output().unwrap();
    assert!(init.status.success());
    let other = "q6TqgPqdN2q2h5vSxVqH1mjCVM8wq4zQy7P7m1Ck3yA";
    for args in [&["user", "list"][..], &["role", "list"][..]] {
        let out = install
            .command(args)
            .env("WARDEN_MASTER_KEY", other)
            .env("RUST_BACKTRACE", "1")
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{said}");
        assert!(said.contains("cannot decrypt"), "{said}");
        assert!(said.contains("WARDEN_MASTER_KEY"), "{said}");
        assert!(!said.contains("internal failure"), "{said}");
        assert_eq!(said.trim().lines().count(), 1, "one line: {said}");
    }
    let out = install.command(&["user", "list"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
