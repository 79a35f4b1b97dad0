//! Test support: a fresh PostgreSQL database per test, dropped afterwards, a store that
//! counts its calls, and nginx in front of what a test starts. PostgreSQL being
//! unreachable fails the test; it never skips.
#![expect(clippy::expect_used, reason = "test support fails loudly")]

mod counting;
mod nginx;

pub use counting::CountingStore;
pub use nginx::{free_port, shipped, Nginx};
use sqlx::Connection;

/// The server's admin connection URL (`WARDEN_TEST_POSTGRES_URL`, default the local `test`
/// database with trust auth).
pub fn postgres_admin_url() -> String {
    std::env::var("WARDEN_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh, empty PostgreSQL database; dropped (with its connections) when this is dropped.
pub struct PgDatabase {
    name: String,
    /// Its connection URL.
    pub url: String,
}

impl PgDatabase {
    /// Creates the database.
    pub async fn create() -> Self {
        let admin = postgres_admin_url();
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|err| {
                panic!(
                    "PostgreSQL is required for these tests and is unreachable at {admin}: {err}"
                )
            });
        let name = format!("warden_test_{}", uuid::Uuid::now_v7().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let base = admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(base, _)| base)
            .to_owned();
        Self {
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Dropping needs async I/O and may run inside a runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_admin_url()).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

/// Runs one SQL statement against a database by URL (`sqlite://…` or `postgres://…`): for
/// tests that tamper with stored data behind Warden's back.
pub async fn execute(url: &str, sql: &str) -> u64 {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url)
        .await
        .expect("connect for tampering");
    sqlx::query(sql)
        .execute(&mut conn)
        .await
        .expect("tampering statement")
        .rows_affected()
}
