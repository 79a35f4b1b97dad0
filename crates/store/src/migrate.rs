//! A small migrator: versioned SQL files embedded in the binary, applied in order, each in its
//! own transaction, recorded in `warden_migrations`.

use sqlx::{AnyPool, Executor, Row};

use crate::backend::Backend;
use crate::error::ConnectError;
use warden_core::time::Timestamp;

pub(crate) async fn run(pool: &AnyPool, backend: Backend) -> Result<usize, ConnectError> {
    let fail = |version, name, err: sqlx::Error| ConnectError::Migration {
        version,
        name,
        cause: err.to_string(),
    };
    pool.execute("CREATE TABLE IF NOT EXISTS warden_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)")
        .await
        .map_err(|err| fail(0, "bootstrap", err))?;
    let mut applied = 0;
    for (version, name, sql) in backend.migrations() {
        let mut tx = backend
            .begin_write(pool)
            .await
            .map_err(|err| fail(*version, name, err))?;
        let done = sqlx::query("SELECT version FROM warden_migrations WHERE version = $1")
            .bind(*version)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|err| fail(*version, name, err))?
            .map(|row| row.try_get::<i64, _>(0).is_ok())
            .unwrap_or(false);
        if done {
            continue;
        }
        for statement in sql
            .split(";\n")
            .map(str::trim)
            .filter(|s| !s.is_empty() && !s.lines().all(|l| l.trim_start().starts_with("--")))
        {
            tx.execute(statement)
                .await
                .map_err(|err| fail(*version, name, err))?;
        }
        sqlx::query(
            "INSERT INTO warden_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(*version)
        .bind(*name)
        .bind(Timestamp::now().millis())
        .execute(&mut *tx)
        .await
        .map_err(|err| fail(*version, name, err))?;
        tx.commit().await.map_err(|err| fail(*version, name, err))?;
        tracing::info!(version, name, "applied migration");
        applied += 1;
    }
    Ok(applied)
}
