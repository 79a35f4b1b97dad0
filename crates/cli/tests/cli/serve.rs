//! `warden serve` as a process: the generated admin password printed once, the refusal to
//! start without a public URL where one is needed, and the access log.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::Install;

/// Starts `warden serve` on an ephemeral port; returns the child, its address and stdout.
fn serve(install: &Install) -> (std::process::Child, String, String) {
    let (child, address, banner, _log) = serve_logged(install);
    (child, address, banner)
}

/// [`serve`], with the log lines that follow the listening line. Colours are not asked to be
/// off: stderr is a pipe, so there must be none.
pub(crate) fn serve_logged(
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
    let (address, stderr) = listening(&mut child);
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

/// Reads a starting `warden serve`'s log (stderr, piped, at `info`) up to the line saying
/// where it listens; answers that address and the rest of the log.
pub(crate) fn listening(
    child: &mut std::process::Child,
) -> (String, BufReader<std::process::ChildStderr>) {
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 {
        if let Some(at) = line.find("address=") {
            let address = line[at + 8..].split_whitespace().next().unwrap().to_owned();
            return (address, stderr);
        }
        line.clear();
    }
    panic!("serve never said where it listens");
}

/// One access-log line per request at `info`, with the route template, status, latency,
/// request id and client address; never the path's ids, the query's values, the token or
/// the password; no colour codes, since stderr is not a terminal.
#[tokio::test]
async fn requests_are_logged_one_line_each_without_secrets() {
    let install = Install::new(false).await;
    let (child, address, banner, log) = serve_logged(&install);
    let mut child = crate::Reaped(child);
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
pub(crate) fn banner_password(banner: &str) -> String {
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
async fn sqlite_serve_prints_a_generated_admin_password_once_and_restarts_keep_it() {
    serve_prints_a_generated_admin_password_once_and_restarts_keep_it(false).await;
}

#[tokio::test]
async fn postgres_serve_prints_a_generated_admin_password_once_and_restarts_keep_it() {
    serve_prints_a_generated_admin_password_once_and_restarts_keep_it(true).await;
}
