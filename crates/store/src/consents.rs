//! What people allowed applications on the consent page.

use sqlx::any::AnyRow;
use sqlx::AnyPool;
use warden_core::ids::UserId;
use warden_core::store::Consent;
use warden_core::StoreError;

use crate::error::on_error;
use crate::rows;

fn consent(row: &AnyRow) -> Result<Consent, StoreError> {
    Ok(Consent {
        client_id: rows::text(row, "client_id")?,
        scope: rows::text(row, "scope")?,
        granted_at: rows::time(row, "granted_at")?,
    })
}

pub(crate) async fn get(
    pool: &AnyPool,
    user: &UserId,
    client_id: &str,
) -> Result<Option<Consent>, StoreError> {
    let row = sqlx::query(
        "SELECT client_id, scope, granted_at FROM consents WHERE user_id = $1 AND client_id = $2",
    )
    .bind(user.to_string())
    .bind(client_id)
    .fetch_optional(pool)
    .await
    .map_err(on_error)?;
    row.as_ref().map(consent).transpose()
}

pub(crate) async fn put(pool: &AnyPool, user: &UserId, given: &Consent) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO consents (user_id, client_id, scope, granted_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at",
    )
    .bind(user.to_string())
    .bind(given.client_id.as_str())
    .bind(given.scope.as_str())
    .bind(given.granted_at.millis())
    .execute(pool)
    .await
    .map_err(on_error)?;
    Ok(())
}

pub(crate) async fn list(pool: &AnyPool, user: &UserId) -> Result<Vec<Consent>, StoreError> {
    let found = sqlx::query(
        "SELECT client_id, scope, granted_at FROM consents WHERE user_id = $1 ORDER BY client_id",
    )
    .bind(user.to_string())
    .fetch_all(pool)
    .await
    .map_err(on_error)?;
    found.iter().map(consent).collect()
}

pub(crate) async fn delete(
    pool: &AnyPool,
    user: &UserId,
    client_id: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM consents WHERE user_id = $1 AND client_id = $2")
        .bind(user.to_string())
        .bind(client_id)
        .execute(pool)
        .await
        .map_err(on_error)?;
    Ok(done.rows_affected() == 1)
}
