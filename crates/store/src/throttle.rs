//! Password-check counters, shared by every node through the store. Each check is reserved
//! (counted) before hashing, in a write transaction (`BEGIN IMMEDIATE` on SQLite; a row lock
//! on PostgreSQL), so concurrent guesses are all counted and none slips past a lock.

use sqlx::AnyPool;
use warden_core::StoreError;

use crate::error::on_error;
use crate::rows;
use crate::SqlStore;

/// Reserves one password check under every key of `keys`: refused (`false`, nothing counted)
/// while any of them is locked; otherwise the attempt is counted as a failure before any hashing,
/// and the lock it earns is set, in one write transaction. A success clears the count
/// afterwards. So a burst of concurrent guesses is checked no further than the same guesses
/// sent one after another, on one node or many.
pub(crate) async fn reserve(
    store: &SqlStore,
    keys: &[String],
    now_ms: i64,
    window_ms: i64,
    lock: fn(i64) -> i64,
) -> Result<bool, StoreError> {
    // In one order, so two attempts naming the same keys never wait on each other in a cycle.
    let mut keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut tx = store
        .backend
        .begin_write(&store.pool)
        .await
        .map_err(on_error)?;
    let mut counts = Vec::with_capacity(keys.len());
    for key in &keys {
        // Make sure the row exists, then lock and read it.
        sqlx::query(
            "INSERT INTO login_throttle (key_hash, failures, window_start, locked_until) VALUES ($1, 0, $2, 0)
             ON CONFLICT (key_hash) DO NOTHING",
        )
        .bind(*key)
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(on_error)?;
        store
            .backend
            .lock_key(&mut tx, "login_throttle", "key_hash", key)
            .await
            .map_err(on_error)?;
        let row = sqlx::query(
            "SELECT failures, window_start, locked_until FROM login_throttle WHERE key_hash = $1",
        )
        .bind(*key)
        .fetch_one(&mut *tx)
        .await
        .map_err(on_error)?;
        if rows::int(&row, "locked_until")? > now_ms {
            // Any lock refuses the attempt, and none of its keys counts it.
            tx.rollback().await.map_err(on_error)?;
            return Ok(false);
        }
        counts.push((
            *key,
            rows::int(&row, "failures")?,
            rows::int(&row, "window_start")?,
        ));
    }
    for (key, mut failures, mut window_start) in counts {
        if now_ms - window_start > window_ms {
            failures = 0;
            window_start = now_ms;
        }
        failures += 1;
        // No delay earned: no lock at all, so a concurrent attempt whose clock read came a
        // moment earlier is not taken for locked.
        let delay = lock(failures);
        let locked_until = if delay > 0 { now_ms + delay } else { 0 };
        sqlx::query("UPDATE login_throttle SET failures = $2, window_start = $3, locked_until = $4 WHERE key_hash = $1")
            .bind(key)
            .bind(failures)
            .bind(window_start)
            .bind(locked_until)
            .execute(&mut *tx)
            .await
            .map_err(on_error)?;
    }
    tx.commit().await.map_err(on_error)?;
    Ok(true)
}

/// Resets the count after a success. The row is reset, not deleted: a concurrent reservation
/// that made sure of the row and is waiting for its lock must still find it.
pub(crate) async fn clear(pool: &AnyPool, key_hash: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE login_throttle SET failures = 0, locked_until = 0 WHERE key_hash = $1")
        .bind(key_hash)
        .execute(pool)
        .await
        .map_err(on_error)?;
    Ok(())
}
