//! `warden backup` while writes go on, and `warden restore` into fresh data directories: each
//! copy restores, its audit chain verifies, every table holds the rows the backup counted, and
//! every write acknowledged before the backup began is in it. A restore never replaces a
//! database or proceeds without the master key; PostgreSQL is sent to pg_dump, whose documented
//! procedure is exercised too.

use std::collections::BTreeMap;

use crate::serve::{banner_password, serve_logged};
use crate::Install;

/// The `name rows` lines a backup or restore prints, as a map.
fn table_rows(stdout: &str) -> BTreeMap<String, i64> {
    stdout
        .lines()
        .filter(|l| l.starts_with("  "))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some((words.next()?.to_owned(), words.next()?.parse().ok()?))
        })
        .collect()
}

#[tokio::test]
async fn a_backup_taken_under_writes_restores_whole() {
    let install = Install::new(false).await;
    let (child, address, banner, _log) = serve_logged(&install);
    let mut child = crate::Reaped(child);
    let base = format!("http://{address}");
    let token = crate::admin_token(&base, &banner_password(&banner)).await;
    let writers = crate::Writers::start(&base, &token, "b", 3).await;
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let key = std::fs::read_to_string(install.dir.path().join("master.key")).unwrap();
    let mut restored_users = Vec::new();
    for round in 0..3 {
        let before = writers.acknowledged();
        let file = install.dir.path().join(format!("backup-{round}.db"));
        let out = install
            .command(&["backup", file.to_str().unwrap()])
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(said.contains("master key is not in the backup"), "{said}");
        let private = |path: &std::path::Path| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(path).unwrap().permissions().mode() & 0o077 == 0
        };
        assert!(private(&file), "a backup is readable by its owner only");
        let counted = table_rows(&said);
        assert!(
            counted["users"] > 0 && counted["audit_events"] > 0,
            "{said}"
        );

        // Into a fresh data directory holding only the installation's master key.
        let fresh = Install::new(false).await;
        let refused = fresh
            .command(&["restore", file.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            !refused.status.success(),
            "a restore without the master key"
        );
        assert!(String::from_utf8_lossy(&refused.stderr).contains("master key"));
        std::fs::write(fresh.dir.path().join("master.key"), &key).unwrap();
        let restore = fresh.ok(&["restore", file.to_str().unwrap()]);
        assert_eq!(table_rows(&restore), counted, "{restore}");
        assert!(restore.contains("audit log intact"), "{restore}");
        let verify = fresh.ok(&["audit", "verify"]);
        assert!(verify.contains("audit log intact"), "{verify}");
        let again = fresh
            .command(&["restore", file.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(!again.status.success(), "a restore over a database");
        assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a database"));

        // The restored rows are the file's, and hold every acknowledged write.
        let database = fresh.dir.path().join("warden.db");
        assert!(
            private(&database),
            "a restored database is readable by its owner only"
        );
        let inspection = warden_store::inspect(&database).await.unwrap();
        for (table, rows) in &counted {
            if table != "audit_events" {
                assert_eq!(inspection.rows(table), *rows, "{table}");
            }
        }
        let store = warden_store::SqlStore::connect(&format!("sqlite://{}", database.display()), 1)
            .await
            .unwrap();
        for email in &before {
            let found = warden_core::store::Store::user_by_login(&store, email)
                .await
                .unwrap();
            assert!(
                found.is_some(),
                "{email} was acknowledged before backup {round}"
            );
        }
        store.close().await;
        restored_users.push(counted["users"]);
        drop(fresh);
    }
    let (_, failures) = writers.stop().await;
    assert_eq!(failures, 0, "a write failed");
    assert!(
        restored_users.windows(2).all(|w| w[0] < w[1]),
        "the writes went on between backups: {restored_users:?}"
    );
    let taken = install.dir.path().join("backup-0.db");
    let out = install
        .command(&["backup", taken.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a backup never replaces a file");
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Two backups to one file at once, and two restores into one data directory at once:
/// exactly one of each wins, the other is told the name is taken, and what stands is whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn competing_backups_and_restores_have_one_winner() {
    let install = Install::new(false).await;
    install.ok(&["account", "create", "acme"]);
    let file = install.dir.path().join("one.db");
    let race = |args: Vec<String>, env: Option<std::path::PathBuf>| {
        let mut command = install.command(&args.iter().map(String::as_str).collect::<Vec<_>>());
        if let Some(dir) = env {
            command.env("WARDEN_DATA_DIR", dir);
        }
        std::thread::spawn(move || command.output().unwrap())
    };
    let backup = vec!["backup".to_owned(), file.display().to_string()];
    let (a, b) = (race(backup.clone(), None), race(backup, None));
    let outcomes = [a.join().unwrap(), b.join().unwrap()];
    assert_eq!(outcomes.iter().filter(|o| o.status.success()).count(), 1);
    assert!(outcomes
        .iter()
        .any(|o| String::from_utf8_lossy(&o.stderr).contains("already exists")));
    assert!(warden_store::inspect(&file).await.is_ok());

    let fresh = install.dir.path().join("fresh");
    std::fs::create_dir_all(&fresh).unwrap();
    std::fs::copy(
        install.dir.path().join("master.key"),
        fresh.join("master.key"),
    )
    .unwrap();
    let restore = vec!["restore".to_owned(), file.display().to_string()];
    let (a, b) = (
        race(restore.clone(), Some(fresh.clone())),
        race(restore, Some(fresh.clone())),
    );
    let outcomes = [a.join().unwrap(), b.join().unwrap()];
    assert_eq!(
        outcomes.iter().filter(|o| o.status.success()).count(),
        1,
        "{:?}",
        outcomes
            .iter()
            .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
            .collect::<Vec<_>>()
    );
    let restored = warden_store::inspect(&fresh.join("warden.db"))
        .await
        .unwrap();
    assert_eq!(restored.rows("accounts"), 1);
}

#[tokio::test]
async fn a_file_that_is_not_a_warden_database_is_not_restored() {
    let install = Install::new(false).await;
    let junk = install.dir.path().join("junk.db");
    std::fs::write(&junk, b"not a database at all").unwrap();
    let out = install
        .command(&["restore", junk.to_str().unwrap()])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(said.contains("not a usable Warden database"), "{said}");
    assert!(!install.dir.path().join("warden.db").exists());
    assert_eq!(said.trim().lines().count(), 1, "{said}");
}

/// With PostgreSQL, both verbs name pg_dump; the README's pg_dump / pg_restore procedure
/// carries a store into a fresh database whose audit chain verifies.
#[tokio::test]
async fn postgres_backups_go_through_pg_dump() {
    let install = Install::new(true).await;
    install.ok(&["account", "create", "acme"]);
    for verb in ["backup", "restore"] {
        let out = install.command(&[verb, "x.db"]).output().unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(said.contains("pg_dump"), "{said}");
    }
    if !std::process::Command::new("pg_dump")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        panic!("pg_dump is needed (Debian's postgresql-client)");
    }
    let dump = install.dir.path().join("warden.dump");
    let source = install.database_url.clone().unwrap();
    let status = std::process::Command::new("pg_dump")
        .args(["--format=custom", "--file"])
        .arg(&dump)
        .arg(&source)
        .status()
        .unwrap();
    assert!(status.success());
    let target = warden_testkit::PgDatabase::create().await;
    let status = std::process::Command::new("pg_restore")
        .args(["--no-owner", "--exit-on-error", "--dbname"])
        .arg(&target.url)
        .arg(&dump)
        .status()
        .unwrap();
    assert!(status.success());
    let restored = install
        .command(&["audit", "verify"])
        .env("DATABASE_URL", &target.url)
        .output()
        .unwrap();
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    let accounts = install
        .command(&["account", "list"])
        .env("DATABASE_URL", &target.url)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&accounts.stdout).contains("acme"));
}
