//! What differs between SQLite and PostgreSQL: URL scheme, connection set-up, migrations, and
//! how a write transaction starts.

use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor, Transaction};

use crate::error::ConnectError;

/// Declares the migrations once, so both backends have the same versions and names; each
/// backend has its own SQL file of that name.
macro_rules! migrations {
    ($(($version:literal, $name:literal, $file:literal)),* $(,)?) => {
        const SQLITE_MIGRATIONS: &[(i64, &str, &str)] =
            &[$(($version, $name, include_str!(concat!("../migrations/sqlite/", $file)))),*];
        const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] =
            &[$(($version, $name, include_str!(concat!("../migrations/postgres/", $file)))),*];
    };
}

migrations!(
    (1, "init", "0001_init.sql"),
    (2, "refresh_tokens", "0002_refresh_tokens.sql"),
    (3, "clients", "0003_clients.sql"),
    (4, "revocation_feed", "0004_revocation_feed.sql"),
    (5, "api_keys", "0005_api_keys.sql"),
    (6, "client_api_keys", "0006_client_api_keys.sql"),
    (7, "login_throttle", "0007_login_throttle.sql"),
    (8, "audit", "0008_audit.sql"),
    (9, "policies_and_changes", "0009_policies_and_changes.sql"),
    (10, "account_settings", "0010_account_settings.sql"),
    (11, "account_revocation", "0011_account_revocation.sql"),
    (12, "api_key_changes", "0012_api_key_changes.sql"),
    (13, "resources", "0013_resources.sql"),
    (14, "external_ids", "0014_external_ids.sql"),
    (15, "client_sign_in", "0015_client_sign_in.sql"),
    (16, "browser_sign_in", "0016_browser_sign_in.sql"),
    (17, "second_factor", "0017_second_factor.sql"),
    (18, "consents", "0018_consents.sql"),
);

/// The database engine behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite (WAL mode).
    Sqlite,
    /// PostgreSQL or a compatible engine.
    Postgres,
}

impl Backend {
    /// Picks the backend from a URL's scheme.
    pub fn from_url(url: &str) -> Result<Self, ConnectError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(ConnectError::Url)
        }
    }

    /// A short name for logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }

    pub(crate) async fn pool(
        self,
        url: &str,
        max_connections: u32,
    ) -> Result<AnyPool, ConnectError> {
        sqlx::any::install_default_drivers();
        let options = AnyPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10));
        let options = match self {
            Self::Sqlite => options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;")
                        .await?;
                    Ok(())
                })
            }),
            Self::Postgres => options,
        };
        options
            .connect(url)
            .await
            .map_err(|err| ConnectError::Connect(err.to_string()))
    }

    /// The migration files, in order: (version, name, SQL).
    pub(crate) fn migrations(self) -> &'static [(i64, &'static str, &'static str)] {
        match self {
            Self::Sqlite => SQLITE_MIGRATIONS,
            Self::Postgres => POSTGRES_MIGRATIONS,
        }
    }

    /// The version of the newest migration this build knows.
    pub fn newest_migration(self) -> i64 {
        self.migrations().last().map_or(0, |m| m.0)
    }

    /// The database file a `sqlite:` URL names (`None` for other URLs and in-memory ones).
    pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))?;
        let path = rest.split('?').next().unwrap_or_default();
        (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
    }

    /// The `sqlite:` URL of the database file `path`, creating it when missing.
    pub fn sqlite_url(path: &std::path::Path) -> String {
        // The path goes in as sqlx reads it: percent-encoding `?`, `#` and `%` keeps them
        // in the file name.
        let text = path.display().to_string();
        let escaped = text
            .replace('%', "%25")
            .replace('?', "%3F")
            .replace('#', "%23");
        format!("sqlite://{escaped}?mode=rwc")
    }

    /// Starts a transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so two writers queue on the busy timeout instead of deadlocking on
    /// a read-to-write upgrade.
    pub(crate) async fn begin_write(
        self,
        pool: &AnyPool,
    ) -> Result<Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self {
            Self::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
            Self::Postgres => pool.begin().await,
        }
    }

    /// Takes the lock `name` until the transaction ends: of the transactions that take it,
    /// one runs at a time. For checks that span many rows, where no one row can be locked
    /// (role names across scopes, the inheritance graph). SQLite's write transactions are
    /// exclusive already; PostgreSQL locks a `warden_meta` row, made on first use (a row lock
    /// rather than an advisory lock, so Postgres-compatible engines serialize alike).
    pub(crate) async fn lock_named(
        self,
        tx: &mut Transaction<'static, sqlx::Any>,
        name: &'static str,
    ) -> Result<(), sqlx::Error> {
        match self {
            Self::Sqlite => Ok(()),
            Self::Postgres => {
                let key = format!("lock:{name}");
                sqlx::query(
                    "INSERT INTO warden_meta (key, value) VALUES ($1, '') ON CONFLICT (key) DO NOTHING",
                )
                .bind(&key)
                .execute(&mut **tx)
                .await?;
                self.lock_key(tx, "warden_meta", "key", &key).await
            }
        }
    }

    /// Locks one row of `table` (where `column` = `value`) until the transaction ends. SQLite's
    /// write transactions are exclusive already; PostgreSQL takes a row lock.
    pub(crate) async fn lock_key(
        self,
        tx: &mut Transaction<'static, sqlx::Any>,
        table: &'static str,
        column: &'static str,
        value: &str,
    ) -> Result<(), sqlx::Error> {
        self.lock_row(tx, table, column, value, "FOR UPDATE").await
    }

    /// Like [`Backend::lock_key`], but shared: other readers that share it go on, a writer of
    /// the row waits (and is waited for) until the transaction ends.
    pub(crate) async fn share_key(
        self,
        tx: &mut Transaction<'static, sqlx::Any>,
        table: &'static str,
        column: &'static str,
        value: &str,
    ) -> Result<(), sqlx::Error> {
        self.lock_row(tx, table, column, value, "FOR SHARE").await
    }

    async fn lock_row(
        self,
        tx: &mut Transaction<'static, sqlx::Any>,
        table: &'static str,
        column: &'static str,
        value: &str,
        mode: &'static str,
    ) -> Result<(), sqlx::Error> {
        match self {
            Self::Sqlite => Ok(()),
            Self::Postgres => {
                let sql = format!("SELECT {column} FROM {table} WHERE {column} = $1 {mode}");
                sqlx::query(&sql)
                    .bind(value)
                    .fetch_optional(&mut **tx)
                    .await
                    .map(|_| ())
            }
        }
    }
}
