//! What people allowed applications on the consent page.

use sqlx::any::AnyRow;
use sqlx::AnyPool;
use warden_core::ids::UserId;
use warden_core::store::Consent;
use warden_core::time::Timestamp;
use warden_core::StoreError;

use crate::error::on_error;
use crate::rows;
use crate::SqlStore;

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

pub(crate) async fn add(
    store: &SqlStore,
    user: &UserId,
    client_id: &str,
    values: &[String],
    at: Timestamp,
) -> Result<Consent, StoreError> {
    let user_id = user.to_string();
    let mut tx = store
        .backend
        .begin_write(&store.pool)
        .await
        .map_err(on_error)?;
    store
        .backend
        .lock_key(&mut tx, "users", "id", &user_id)
        .await
        .map_err(on_error)?;
    let before = sqlx::query("SELECT scope FROM consents WHERE user_id = $1 AND client_id = $2")
        .bind(&user_id)
        .bind(client_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(on_error)?
        .map(|row| rows::text(&row, "scope"))
        .transpose()?
        .unwrap_or_default();
    let mut scope: Vec<&str> = before.split(' ').filter(|s| !s.is_empty()).collect();
    for value in values {
        if !scope.contains(&value.as_str()) {
            scope.push(value);
        }
    }
    let given = Consent {
        client_id: client_id.to_owned(),
        scope: scope.join(" "),
        granted_at: at,
    };
    sqlx::query(
        "INSERT INTO consents (user_id, client_id, scope, granted_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at",
    )
    .bind(&user_id)
    .bind(client_id)
    .bind(given.scope.as_str())
    .bind(at.millis())
    .execute(&mut *tx)
    .await
    .map_err(on_error)?;
    tx.commit().await.map_err(on_error)?;
    Ok(given)
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
