//! TOTP second factors and recovery codes. Every use is one conditional write: a time step is
//! accepted only `WHERE last_step < step`, a recovery code only `WHERE used_at IS NULL`, so a
//! code presented twice at once is accepted once.

use sqlx::AnyPool;
use warden_core::ids::UserId;
use warden_core::store::TotpFactor;
use warden_core::time::Timestamp;
use warden_core::StoreError;

use crate::error::on_error;
use crate::rows;
use crate::SqlStore;

pub(crate) async fn get(pool: &AnyPool, user: &UserId) -> Result<Option<TotpFactor>, StoreError> {
    let row = sqlx::query(
        "SELECT secret_sealed, created_at, confirmed_at, last_step FROM totp_factors WHERE user_id = $1",
    )
    .bind(user.to_string())
    .fetch_optional(pool)
    .await
    .map_err(on_error)?;
    row.map(|row| {
        Ok(TotpFactor {
            secret_sealed: rows::text(&row, "secret_sealed")?,
            created_at: rows::time(&row, "created_at")?,
            confirmed_at: rows::opt_time(&row, "confirmed_at")?,
            last_step: rows::int(&row, "last_step")?,
        })
    })
    .transpose()
}

pub(crate) async fn put_pending(
    pool: &AnyPool,
    user: &UserId,
    secret_sealed: &str,
    at: Timestamp,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO totp_factors (user_id, secret_sealed, created_at, confirmed_at, last_step)
         VALUES ($1, $2, $3, NULL, 0)
         ON CONFLICT (user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed,
             created_at = excluded.created_at, last_step = 0
         WHERE totp_factors.confirmed_at IS NULL",
    )
    .bind(user.to_string())
    .bind(secret_sealed)
    .bind(at.millis())
    .execute(pool)
    .await
    .map_err(on_error)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn confirm(
    store: &SqlStore,
    user: &UserId,
    secret_sealed: &str,
    step: i64,
    at: Timestamp,
    recovery_hashes: &[String],
) -> Result<bool, StoreError> {
    let user = user.to_string();
    let mut tx = store
        .backend
        .begin_write(&store.pool)
        .await
        .map_err(on_error)?;
    let done = sqlx::query(
        "UPDATE totp_factors SET confirmed_at = $3, last_step = $4
         WHERE user_id = $1 AND secret_sealed = $2 AND confirmed_at IS NULL AND last_step < $4",
    )
    .bind(&user)
    .bind(secret_sealed)
    .bind(at.millis())
    .bind(step)
    .execute(&mut *tx)
    .await
    .map_err(on_error)?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(&user)
        .execute(&mut *tx)
        .await
        .map_err(on_error)?;
    for hash in recovery_hashes {
        sqlx::query(
            "INSERT INTO recovery_codes (user_id, code_hash, used_at) VALUES ($1, $2, NULL)",
        )
        .bind(&user)
        .bind(hash)
        .execute(&mut *tx)
        .await
        .map_err(on_error)?;
    }
    tx.commit().await.map_err(on_error)?;
    Ok(true)
}

pub(crate) async fn use_step(pool: &AnyPool, user: &UserId, step: i64) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE totp_factors SET last_step = $2
         WHERE user_id = $1 AND confirmed_at IS NOT NULL AND last_step < $2",
    )
    .bind(user.to_string())
    .bind(step)
    .execute(pool)
    .await
    .map_err(on_error)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn use_recovery(
    pool: &AnyPool,
    user: &UserId,
    code_hash: &str,
    at: Timestamp,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
    )
    .bind(user.to_string())
    .bind(code_hash)
    .bind(at.millis())
    .execute(pool)
    .await
    .map_err(on_error)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn delete(store: &SqlStore, user: &UserId) -> Result<bool, StoreError> {
    let user = user.to_string();
    let mut tx = store
        .backend
        .begin_write(&store.pool)
        .await
        .map_err(on_error)?;
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(&user)
        .execute(&mut *tx)
        .await
        .map_err(on_error)?;
    let done = sqlx::query("DELETE FROM totp_factors WHERE user_id = $1")
        .bind(&user)
        .execute(&mut *tx)
        .await
        .map_err(on_error)?;
    tx.commit().await.map_err(on_error)?;
    Ok(done.rows_affected() == 1)
}
