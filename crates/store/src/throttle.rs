//! Failed-login counters, shared by every node through the store. The read-modify-write of a
//! counter runs in a write transaction (`BEGIN IMMEDIATE` on SQLite; a row lock on
//! PostgreSQL), so concurrent failures are all counted.

use sqlx::AnyPool;
use warden_core::StoreError;

use crate::error::on_error;
use crate::rows;
use crate::SqlStore;

pub(crate) async fn locked_until(
    pool: &AnyPool,
    key_hash: &str,
) -> Result<Option<i64>, StoreError> {
    let row = sqlx::query("SELECT locked_until FROM login_throttle WHERE key_hash = $1")
        .bind(key_hash)
        .fetch_optional(pool)
        .await
        .map_err(on_error)?;
    row.as_ref()
        .map(|r| rows::int(r, "locked_until"))
        .transpose()
}

pub(crate) async fn record_failure(
    store: &SqlStore,
    key_hash: &str,
    now_ms: i64,
    window_ms: i64,
    lock: fn(i64) -> i64,
) -> Result<i64, StoreError> {
    let mut tx = store
        .backend
        .begin_write(&store.pool)
        .await
        .map_err(on_error)?;
    // Make sure the row exists, then lock and read it.
    sqlx::query(
        "INSERT INTO login_throttle (key_hash, failures, window_start, locked_until) VALUES ($1, 0, $2, 0)
         ON CONFLICT (key_hash) DO NOTHING",
    )
    .bind(key_hash)
    .bind(now_ms)
    .execute(&mut *tx)
    .await
    .map_err(on_error)?;
    store
        .backend
        .lock_key(&mut tx, "login_throttle", "key_hash", key_hash)
        .await
        .map_err(on_error)?;
    let row = sqlx::query("SELECT failures, window_start FROM login_throttle WHERE key_hash = $1")
        .bind(key_hash)
        .fetch_one(&mut *tx)
        .await
        .map_err(on_error)?;
    let (mut failures, mut window_start) = (
        rows::int(&row, "failures")?,
        rows::int(&row, "window_start")?,
    );
    if now_ms - window_start > window_ms {
        failures = 0;
        window_start = now_ms;
    }
    failures += 1;
    sqlx::query("UPDATE login_throttle SET failures = $2, window_start = $3, locked_until = $4 WHERE key_hash = $1")
        .bind(key_hash)
        .bind(failures)
        .bind(window_start)
        .bind(now_ms + lock(failures))
        .execute(&mut *tx)
        .await
        .map_err(on_error)?;
    tx.commit().await.map_err(on_error)?;
    Ok(failures)
}

pub(crate) async fn clear(pool: &AnyPool, key_hash: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM login_throttle WHERE key_hash = $1")
        .bind(key_hash)
        .execute(pool)
        .await
        .map_err(on_error)?;
    Ok(())
}
