//! The `warden` binary as an operator uses it: admin commands on a fresh install (before any
//! token exists), `config check`, and `serve` printing the generated admin password once.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on the first surprise"
)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use warden_testkit::PgDatabase;

struct Install {
    dir: tempfile::TempDir,
    database_url: Option<String>,
    _pg: Option<PgDatabase>,
}

impl Install {
    async fn new(postgres: bool) -> Self {
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

    fn command(&self, args: &[&str]) -> Command {
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

/// Starts `warden serve` on an ephemeral port; returns the child, its address and stdout.
fn serve(install: &Install) -> (std::process::Child, String, String) {
    let (child, address, banner, _log) = serve_logged(install);
    (child, address, banner)
}

/// [`serve`], with the log lines that follow the listening line. Colours are not asked to be
/// off: stderr is a pipe, so there must be none.
fn serve_logged(
    install: &Install,
) -> (
    std::process::Child,
    String,
    String,
    std::sync::mpsc::Receiver<String>,
) {
    let mut child = install
        .command(&["serve"])
        .env_remove("WARDEN_ADMIN_PASSWORD")
        .env_remove("NO_COLOR")
        .env("WARDEN_LISTEN", "127.0.0.1:0")
        .env("WARDEN_ISSUER", "https://auth.example.test")
        .env("WARDEN_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut address = String::new();
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 {
        if let Some(at) = line.find("address=") {
            address = line[at + 8..].split_whitespace().next().unwrap().to_owned();
            break;
        }
        line.clear();
    }
    assert!(!address.is_empty(), "serve never said where it listens");
    let (log_tx, log) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Drained to the end whether or not anyone listens.
        for line in stderr.lines().map_while(Result::ok) {
            let _ = log_tx.send(line);
        }
    });
    // The banner (if any) is printed, line by line, before the listening line is logged, so
    // everything it wrote is in the pipe by now; drain it on a thread and take what arrived.
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    let banner = rx.try_iter().collect::<Vec<_>>().join("\n");
    (child, address, banner, log)
}

/// One access-log line per request at `info`, with the route template, status, latency,
/// request id and client address; never the path's ids, the query's values, the token or
/// the password; no colour codes, since stderr is not a terminal.
#[tokio::test]
async fn requests_are_logged_one_line_each_without_secrets() {
    let install = Install::new(false).await;
    let (mut child, address, banner, log) = serve_logged(&install);
    let password = banner_password(&banner);
    let client = reqwest::Client::new();
    let form = [
        ("grant_type", "password"),
        ("username", "admin@localhost"),
        ("password", password.as_str()),
    ];
    let reply: serde_json::Value = client
        .post(format!("http://{address}/oauth/token"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = reply["access_token"].as_str().unwrap().to_owned();
    let missing = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
    let read = client
        .get(format!(
            "http://{address}/v1/users/{missing}?access_token=leaked-secret"
        ))
        .bearer_auth(&token)
        .header("x-request-id", "probe-1")
        .send()
        .await
        .unwrap();
    assert_eq!(read.headers()["x-request-id"], "probe-1");
    let mut lines = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !lines.iter().any(|l: &String| l.contains("probe-1")) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match log.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(_) => break,
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let all = lines.join("\n");
    let access: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("warden::access"))
        .collect();
    assert_eq!(access.len(), 2, "one line per request: {all}");
    let line = access[1];
    for part in [
        "INFO",
        "request_id=probe-1",
        "method=GET",
        "route=/v1/users/{id}",
        "status=",
        "latency_ms=",
        "client=127.0.0.1",
    ] {
        assert!(line.contains(part), "{part} in {line}");
    }
    assert!(access[0].contains("route=/oauth/token") && access[0].contains("status=200"));
    for secret in [token.as_str(), password.as_str(), missing, "leaked-secret"] {
        assert!(!all.contains(secret), "the log holds {secret}: {all}");
    }
    assert!(
        !all.contains('\u{1b}'),
        "colour codes in a log that is not a terminal: {all}"
    );
}

/// The admin password a first start printed.
fn banner_password(banner: &str) -> String {
    banner
        .lines()
        .find_map(|l| l.trim().strip_prefix("password:"))
        .map(str::trim)
        .expect("banner")
        .to_owned()
}

async fn login(address: &str, password: &str) -> reqwest::StatusCode {
    let client = reqwest::Client::new();
    let form = [
        ("grant_type", "password"),
        ("username", "admin@localhost"),
        ("password", password),
    ];
    client
        .post(format!("http://{address}/oauth/token"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .status()
}

async fn serve_prints_a_generated_admin_password_once_and_restarts_keep_it(postgres: bool) {
    let install = Install::new(postgres).await;
    let (mut first, address, banner) = serve(&install);
    let password = banner_password(&banner);
    assert_eq!(login(&address, &password).await, reqwest::StatusCode::OK);
    first.kill().unwrap();
    first.wait().unwrap();

    let (mut second, address, banner) = serve(&install);
    assert!(
        !banner.contains("password:"),
        "a restart must not re-create the admin: {banner}"
    );
    assert_eq!(login(&address, &password).await, reqwest::StatusCode::OK);
    second.kill().unwrap();
    second.wait().unwrap();
}

/// Without a public URL, `serve` refuses where the listen address cannot stand in for one: a
/// non-loopback address, and PostgreSQL (nodes would disagree on `iss`). It says what to set,
/// and a CLI mistake prints no backtrace even under `RUST_BACKTRACE=1`.
async fn serve_without_an_issuer_says_what_to_set(postgres: bool) {
    let install = Install::new(postgres).await;
    let listen = if postgres { "127.0.0.1:0" } else { "0.0.0.0:0" };
    let out = install
        .command(&["serve"])
        .env("WARDEN_LISTEN", listen)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("WARDEN_ISSUER"), "{said}");
    assert!(
        !said.contains("Stack backtrace") && !said.contains("stack backtrace"),
        "{said}"
    );
}

#[tokio::test]
async fn sqlite_serve_without_an_issuer_on_a_public_address_says_what_to_set() {
    serve_without_an_issuer_says_what_to_set(false).await;
}

#[tokio::test]
async fn postgres_serve_without_an_issuer_says_what_to_set() {
    serve_without_an_issuer_says_what_to_set(true).await;
}

#[tokio::test]
async fn sqlite_administer_a_fresh_install_from_the_command_line() {
    administer_a_fresh_install_from_the_command_line(false).await;
}

#[tokio::test]
async fn postgres_administer_a_fresh_install_from_the_command_line() {
    administer_a_fresh_install_from_the_command_line(true).await;
}

#[tokio::test]
async fn sqlite_serve_prints_a_generated_admin_password_once_and_restarts_keep_it() {
    serve_prints_a_generated_admin_password_once_and_restarts_keep_it(false).await;
}

#[tokio::test]
async fn postgres_serve_prints_a_generated_admin_password_once_and_restarts_keep_it() {
    serve_prints_a_generated_admin_password_once_and_restarts_keep_it(true).await;
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
