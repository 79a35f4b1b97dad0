//! Authorization codes. Using one is a single check-and-act step: it is marked used only
//! `WHERE used_at IS NULL`, inside a write transaction, so of N concurrent presentations exactly
//! one finds it fresh; each of the others is recorded as a replay in the same transaction.

use sqlx::any::AnyRow;
use sqlx::AnyPool;
use warden_core::ids::SessionId;
use warden_core::store::{CodeUse, StoredCode};
use warden_core::time::Timestamp;
use warden_core::StoreError;

use crate::error::on_error;
use crate::rows;
use crate::SqlStore;

/// A used code is kept this long past its expiry, so a late replay is still recognised (and
/// still ends what the code opened).
const KEEP_AFTER_EXPIRY_MS: i64 = 24 * 60 * 60 * 1000;

fn code(row: &AnyRow) -> Result<StoredCode, StoreError> {
    Ok(StoredCode {
        code_hash: rows::text(row, "code_hash")?,
        session_id: rows::parse(row, "session_id", SessionId::parse)?,
        details: rows::text(row, "details")?,
        created_at: rows::time(row, "created_at")?,
        expires_at: rows::time(row, "expires_at")?,
    })
}

pub(crate) async fn insert(pool: &AnyPool, code: &StoredCode) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM authorization_codes WHERE expires_at < $1")
        .bind(code.created_at.millis() - KEEP_AFTER_EXPIRY_MS)
        .execute(pool)
        .await
        .map_err(on_error)?;
    sqlx::query(
        "INSERT INTO authorization_codes (code_hash, session_id, details, created_at, expires_at, used_at, replayed_at)
         VALUES ($1, $2, $3, $4, $5, NULL, NULL)",
    )
    .bind(code.code_hash.as_str())
    .bind(code.session_id.to_string())
    .bind(code.details.as_str())
    .bind(code.created_at.millis())
    .bind(code.expires_at.millis())
    .execute(pool)
    .await
    .map_err(on_error)?;
    Ok(())
}

pub(crate) async fn take(
    store: &SqlStore,
    code_hash: &str,
    at: Timestamp,
) -> Result<CodeUse, StoreError> {
    let mut tx = store
        .backend
        .begin_write(&store.pool)
        .await
        .map_err(on_error)?;
    let first = sqlx::query(
        "UPDATE authorization_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL",
    )
    .bind(code_hash)
    .bind(at.millis())
    .execute(&mut *tx)
    .await
    .map_err(on_error)?
    .rows_affected()
        == 1;
    let row = sqlx::query(
        "SELECT code_hash, session_id, details, created_at, expires_at FROM authorization_codes WHERE code_hash = $1",
    )
    .bind(code_hash)
    .fetch_optional(&mut *tx)
    .await
    .map_err(on_error)?;
    let Some(row) = row else {
        return Ok(CodeUse::Unknown);
    };
    let found = code(&row)?;
    if !first {
        sqlx::query(
            "UPDATE authorization_codes SET replayed_at = $2 WHERE code_hash = $1 AND replayed_at IS NULL",
        )
        .bind(code_hash)
        .bind(at.millis())
        .execute(&mut *tx)
        .await
        .map_err(on_error)?;
    }
    tx.commit().await.map_err(on_error)?;
    Ok(if first {
        CodeUse::Fresh(found)
    } else {
        CodeUse::Replayed(found)
    })
}

pub(crate) async fn replayed(pool: &AnyPool, code_hash: &str) -> Result<bool, StoreError> {
    let row = sqlx::query(
        "SELECT code_hash FROM authorization_codes WHERE code_hash = $1 AND replayed_at IS NOT NULL",
    )
    .bind(code_hash)
    .fetch_optional(pool)
    .await
    .map_err(on_error)?;
    Ok(row.is_some())
}
