//! Backups of the embedded database. A backup is taken while Warden serves: `VACUUM INTO`
//! copies one snapshot inside one read transaction, so concurrent writes neither wait for it
//! nor tear it. Every copy is checked (`PRAGMA integrity_check`, Warden's schema) before it is
//! given its final name, and a restore checks it again before it becomes a data directory's
//! database; neither ever replaces an existing file.
//!
//! PostgreSQL is backed up with its own tools (`pg_dump`), which the README documents.

use std::path::{Path, PathBuf};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{ConnectOptions, Connection, Row, SqliteConnection};
use thiserror::Error;

use crate::backend::Backend;
use crate::SqlStore;

/// Why a backup or restore did not happen. Nothing was written under the target's name.
#[derive(Debug, Error)]
pub enum BackupError {
    /// The store is PostgreSQL.
    #[error("this Warden stores its data in PostgreSQL: back it up with pg_dump (`pg_dump --format=custom --file=warden.dump \"$DATABASE_URL\"`) and restore with pg_restore into an empty database; see the README's Backups section")]
    Postgres,
    /// The target already exists.
    #[error(
        "`{0}` already exists; choose a new file name (a backup or restore never replaces a file)"
    )]
    Exists(PathBuf),
    /// The source is not a Warden database, or not a healthy one.
    #[error("`{path}` is not a usable Warden database: {why}")]
    Unusable {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// Filesystem trouble.
    #[error("{0}")]
    Io(String),
}

/// How many rows one table of a database holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRows {
    /// The table's name.
    pub table: String,
    /// Its rows.
    pub rows: i64,
}

/// What a checked database file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// The newest migration applied to it.
    pub schema_version: i64,
    /// Every table's row count, by name.
    pub tables: Vec<TableRows>,
}

impl Inspection {
    /// The rows of `table`, or 0 when it has none (or does not exist).
    pub fn rows(&self, table: &str) -> i64 {
        self.tables
            .iter()
            .find(|t| t.table == table)
            .map_or(0, |t| t.rows)
    }
}

fn io(what: &str, path: &Path, err: &std::io::Error) -> BackupError {
    BackupError::Io(format!("cannot {what} `{}`: {err}", path.display()))
}

/// A sibling of `target` to write into before the final name is given.
fn partial(target: &Path) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".partial-{}", std::process::id()));
    target.with_file_name(name)
}

/// Creates `path` empty, readable by its owner only: a backup holds password hashes, sealed
/// signing keys and the audit trail. SQLite writes into an existing empty file as it would
/// into a new one.
fn create_private(path: &Path) -> Result<(), BackupError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .map(drop)
        .map_err(|err| io("create", path, &err))
}

/// Gives `from` the name `to`, failing (and leaving `from`) if `to` exists: a hard link
/// never replaces a file, as a rename would.
fn publish(from: &Path, to: &Path) -> Result<(), BackupError> {
    std::fs::File::open(from)
        .and_then(|f| f.sync_all())
        .map_err(|err| io("sync", from, &err))?;
    match std::fs::hard_link(from, to) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            let _ = std::fs::remove_file(from);
            return Err(BackupError::Exists(to.to_owned()));
        }
        // A filesystem without hard links: a new file, then the bytes.
        Err(_) => {
            let copied = create_private(to).and_then(|()| {
                std::fs::copy(from, to)
                    .and_then(|_| std::fs::File::open(to).and_then(|f| f.sync_all()))
                    .map_err(|err| io("write", to, &err))
            });
            if let Err(err) = copied {
                let _ = std::fs::remove_file(from);
                return Err(err);
            }
        }
    }
    let _ = std::fs::remove_file(from);
    if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The new name is durable once its directory is.
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

impl SqlStore {
    /// Writes a consistent copy of the embedded database to `target` (which must not exist)
    /// and answers what the copy holds.
    pub async fn backup_into(&self, target: &Path) -> Result<Inspection, BackupError> {
        if self.backend != Backend::Sqlite {
            return Err(BackupError::Postgres);
        }
        if target.exists() {
            return Err(BackupError::Exists(target.to_owned()));
        }
        let scratch = partial(target);
        let _ = std::fs::remove_file(&scratch);
        create_private(&scratch)?;
        let written = sqlx::query("VACUUM INTO $1")
            .bind(scratch.to_string_lossy().into_owned())
            .execute(&self.pool)
            .await;
        if let Err(err) = written {
            let _ = std::fs::remove_file(&scratch);
            return Err(BackupError::Io(format!(
                "cannot write `{}`: {err}",
                target.display()
            )));
        }
        // A backup is one self-contained file: no write-ahead log beside it.
        if let Err(err) = single_file(&scratch).await {
            let _ = std::fs::remove_file(&scratch);
            return Err(BackupError::Io(format!(
                "cannot finish `{}`: {err}",
                target.display()
            )));
        }
        let inspection = match inspect(&scratch).await {
            Ok(inspection) => inspection,
            Err(err) => {
                let _ = std::fs::remove_file(&scratch);
                return Err(err);
            }
        };
        publish(&scratch, target)?;
        Ok(inspection)
    }
}

async fn single_file(path: &Path) -> Result<(), sqlx::Error> {
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Delete)
        .disable_statement_logging()
        .connect()
        .await?;
    sqlx::query("SELECT COUNT(*) FROM sqlite_master")
        .execute(&mut conn)
        .await?;
    conn.close().await
}

/// Opens `path` read-only and checks that it is a whole Warden database; answers its schema
/// version and row counts.
pub async fn inspect(path: &Path) -> Result<Inspection, BackupError> {
    let unusable = |why: String| BackupError::Unusable {
        path: path.to_owned(),
        why,
    };
    if !path.is_file() {
        return Err(unusable("no such file".into()));
    }
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .disable_statement_logging()
        .connect()
        .await
        .map_err(|err| unusable(err.to_string()))?;
    let result = inspect_open(&mut conn).await.map_err(unusable);
    let _ = conn.close().await;
    result
}

async fn inspect_open(conn: &mut SqliteConnection) -> Result<Inspection, String> {
    let verdict: String = sqlx::query("PRAGMA integrity_check")
        .fetch_one(&mut *conn)
        .await
        .and_then(|row| row.try_get(0))
        .map_err(|err| err.to_string())?;
    if verdict != "ok" {
        return Err(format!("the integrity check failed: {verdict}"));
    }
    let names: Vec<String> = sqlx::query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(|err| err.to_string())?
    .iter()
    .map(|row| row.try_get(0))
    .collect::<Result<_, _>>()
    .map_err(|err| err.to_string())?;
    for needed in ["warden_migrations", "warden_meta", "users"] {
        if !names.iter().any(|n| n == needed) {
            return Err(format!("it has no `{needed}` table"));
        }
    }
    let schema_version: i64 =
        sqlx::query("SELECT COALESCE(MAX(version), 0) FROM warden_migrations")
            .fetch_one(&mut *conn)
            .await
            .and_then(|row| row.try_get(0))
            .map_err(|err| err.to_string())?;
    let newest = Backend::Sqlite.newest_migration();
    if schema_version > newest {
        return Err(format!(
            "its schema is version {schema_version}, newer than this Warden's {newest}: restore it with a newer Warden"
        ));
    }
    let mut tables = Vec::with_capacity(names.len());
    for table in names {
        // The names come from the file's own catalogue; quoted as identifiers.
        let sql = format!("SELECT COUNT(*) FROM \"{}\"", table.replace('"', "\"\""));
        let rows: i64 = sqlx::query(&sql)
            .fetch_one(&mut *conn)
            .await
            .and_then(|row| row.try_get(0))
            .map_err(|err| err.to_string())?;
        tables.push(TableRows { table, rows });
    }
    Ok(Inspection {
        schema_version,
        tables,
    })
}

/// A backup copied next to where it will be restored, checked, not yet given its name: the
/// caller migrates and checks it as a store, then [`Staged::publish`]es it. Dropped
/// unpublished, it is removed.
#[derive(Debug)]
pub struct Staged {
    scratch: PathBuf,
    target: PathBuf,
    /// What the backup holds, as checked.
    pub inspection: Inspection,
}

impl Staged {
    /// The copy's path, to open as a store.
    pub fn path(&self) -> &Path {
        &self.scratch
    }

    /// Gives the copy its final name, which must still be free.
    pub fn publish(self) -> Result<(), BackupError> {
        let (scratch, target) = (self.scratch.clone(), self.target.clone());
        std::mem::forget(self);
        let _ = std::fs::remove_file(wal_of(&scratch));
        let _ = std::fs::remove_file(shm_of(&scratch));
        publish(&scratch, &target)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.scratch);
        let _ = std::fs::remove_file(wal_of(&self.scratch));
        let _ = std::fs::remove_file(shm_of(&self.scratch));
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

fn wal_of(path: &Path) -> PathBuf {
    sibling(path, "-wal")
}

fn shm_of(path: &Path) -> PathBuf {
    sibling(path, "-shm")
}

/// Copies the backup `source` next to `target` (which must not exist, nor its write-ahead
/// log), private to its owner, and checks the copy.
pub async fn stage(source: &Path, target: &Path) -> Result<Staged, BackupError> {
    if target.exists() || wal_of(target).exists() {
        return Err(BackupError::Exists(target.to_owned()));
    }
    inspect(source).await?;
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|err| io("create", dir, &err))?;
    }
    let scratch = partial(target);
    let _ = std::fs::remove_file(&scratch);
    create_private(&scratch)?;
    // Owned from here on, so every failure below removes the copy.
    let mut staged = Staged {
        scratch: scratch.clone(),
        target: target.to_owned(),
        inspection: Inspection {
            schema_version: 0,
            tables: Vec::new(),
        },
    };
    std::fs::copy(source, &scratch).map_err(|err| io("copy into", &scratch, &err))?;
    // The copy is checked again: what is published is what was read.
    staged.inspection = inspect(&scratch).await?;
    Ok(staged)
}
