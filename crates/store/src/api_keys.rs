//! API keys table.

use sqlx::any::AnyRow;
use sqlx::AnyPool;
use warden_core::ids::{AccountId, ApiKeyId, ClientKey, RoleId, UserId};
use warden_core::model::{ApiKey, KeyOwner};
use warden_core::net::Cidr;
use warden_core::time::Timestamp;
use warden_core::StoreError;

use crate::error::on_error;
use crate::rows;

const COLUMNS: &str =
    "id, prefix, name, user_id, client_key, account_id, roles, allowed_ips, expires_at, last_used_at, revoked_at, created_at";

/// The owner column and value of an owner.
fn owner_column(owner: &KeyOwner) -> (&'static str, String) {
    match owner {
        KeyOwner::User(user) => ("user_id", user.to_string()),
        KeyOwner::Client(client) => ("client_key", client.to_string()),
    }
}

fn key(row: &AnyRow) -> Result<ApiKey, StoreError> {
    let corrupt = |col: &str, err: String| StoreError::Backend(format!("stored {col}: {err}"));
    let list = |col: &str| -> Result<Vec<String>, StoreError> {
        serde_json::from_str(&rows::text(row, col)?).map_err(|err| corrupt(col, err.to_string()))
    };
    Ok(ApiKey {
        id: rows::parse(row, "id", ApiKeyId::parse)?,
        name: rows::text(row, "name")?,
        prefix: rows::text(row, "prefix")?,
        user_id: rows::opt_parse(row, "user_id", UserId::parse)?,
        client_key: rows::opt_parse(row, "client_key", ClientKey::parse)?,
        account_id: rows::opt_parse(row, "account_id", AccountId::parse)?,
        roles: list("roles")?
            .iter()
            .map(|r| RoleId::parse(r))
            .collect::<Result<_, _>>()
            .map_err(|e| corrupt("roles", e))?,
        allowed_ips: list("allowed_ips")?
            .iter()
            .map(|c| Cidr::parse(c))
            .collect::<Result<_, _>>()
            .map_err(|e| corrupt("allowed_ips", e))?,
        expires_at: rows::opt_time(row, "expires_at")?,
        last_used_at: rows::opt_time(row, "last_used_at")?,
        revoked_at: rows::opt_time(row, "revoked_at")?,
        created_at: rows::time(row, "created_at")?,
    })
}

pub(crate) async fn insert(pool: &AnyPool, k: &ApiKey, key_hash: &str) -> Result<(), StoreError> {
    let roles: Vec<String> = k.roles.iter().map(RoleId::to_string).collect();
    let ips: Vec<String> = k.allowed_ips.iter().map(Cidr::to_string).collect();
    sqlx::query(
        "INSERT INTO api_keys (id, prefix, key_hash, name, user_id, client_key, account_id, roles, allowed_ips, expires_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $11, $6, $7, $8, $9, $10)",
    )
    .bind(k.id.to_string())
    .bind(k.prefix.as_str())
    .bind(key_hash)
    .bind(k.name.as_str())
    .bind(k.user_id.map(|u| u.to_string()))
    .bind(k.account_id.map(|a| a.to_string()))
    .bind(serde_json::to_string(&roles).unwrap_or_else(|_| "[]".into()))
    .bind(serde_json::to_string(&ips).unwrap_or_else(|_| "[]".into()))
    .bind(k.expires_at.map(Timestamp::millis))
    .bind(k.created_at.millis())
    .bind(k.client_key.map(|c| c.to_string()))
    .execute(pool)
    .await
    .map_err(on_error)?;
    Ok(())
}

pub(crate) async fn by_hash(pool: &AnyPool, key_hash: &str) -> Result<Option<ApiKey>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE key_hash = $1");
    let row = sqlx::query(&sql)
        .bind(key_hash)
        .fetch_optional(pool)
        .await
        .map_err(on_error)?;
    row.as_ref().map(key).transpose()
}

pub(crate) async fn live(
    pool: &AnyPool,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<(String, ApiKey)>, StoreError> {
    let sql = format!(
        "SELECT key_hash, {COLUMNS} FROM api_keys WHERE revoked_at IS NULL AND key_hash > $1 ORDER BY key_hash LIMIT $2"
    );
    let found = sqlx::query(&sql)
        .bind(after.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await
        .map_err(on_error)?;
    found
        .iter()
        .map(|row| Ok((rows::text(row, "key_hash")?, key(row)?)))
        .collect()
}

pub(crate) async fn of_owner(pool: &AnyPool, owner: &KeyOwner) -> Result<Vec<ApiKey>, StoreError> {
    let (column, value) = owner_column(owner);
    let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE {column} = $1 ORDER BY id DESC");
    let found = sqlx::query(&sql)
        .bind(value)
        .fetch_all(pool)
        .await
        .map_err(on_error)?;
    found.iter().map(key).collect()
}

pub(crate) async fn revoke(
    pool: &AnyPool,
    owner: &KeyOwner,
    id: &ApiKeyId,
    at: Timestamp,
) -> Result<bool, StoreError> {
    let (column, value) = owner_column(owner);
    let sql = format!("UPDATE api_keys SET revoked_at = $3 WHERE id = $1 AND {column} = $2 AND revoked_at IS NULL");
    let done = sqlx::query(&sql)
        .bind(id.to_string())
        .bind(value)
        .bind(at.millis())
        .execute(pool)
        .await
        .map_err(on_error)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn touch(pool: &AnyPool, id: &ApiKeyId, at: Timestamp) -> Result<(), StoreError> {
    sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
        .bind(id.to_string())
        .bind(at.millis())
        .execute(pool)
        .await
        .map_err(on_error)?;
    Ok(())
}
