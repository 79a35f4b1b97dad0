//! Users table.

use sqlx::AnyPool;
use warden_core::ids::{AccountId, SessionId, UserId};
use warden_core::model::{User, UserRecord};
use warden_core::page::PageRequest;
use warden_core::store::UserFilter;
use warden_core::time::Timestamp;
use warden_core::StoreError;

use crate::error::on_error;
use crate::rows::{self, USER_COLUMNS};
use crate::sql::{Arg, Sql};
use crate::SqlStore;

fn attributes_json(user: &User) -> String {
    serde_json::Value::Object(user.attributes.clone()).to_string()
}

pub(crate) async fn insert(
    store: &SqlStore,
    record: &UserRecord,
    member_of: Option<&AccountId>,
) -> Result<(), StoreError> {
    let user = &record.user;
    let mut tx = store
        .backend
        .begin_write(&store.pool)
        .await
        .map_err(on_error)?;
    sqlx::query(
        "INSERT INTO users (id, email, username, display_name, phone, status, attributes, password_hash, created_at, updated_at, external_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(user.id.to_string())
    .bind(user.email.as_str())
    .bind(user.username.as_ref().map(|u| u.as_str()))
    .bind(user.display_name.as_str())
    .bind(user.phone.as_deref())
    .bind(user.status.as_str())
    .bind(attributes_json(user))
    .bind(record.password_hash.as_deref())
    .bind(user.created_at.millis())
    .bind(user.updated_at.millis())
    .bind(user.external_id.as_deref())
    .execute(&mut *tx)
    .await
    .map_err(on_error)?;
    if let Some(account) = member_of {
        sqlx::query(
            "INSERT INTO memberships (account_id, user_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(account.to_string())
        .bind(user.id.to_string())
        .bind(user.created_at.millis())
        .execute(&mut *tx)
        .await
        .map_err(on_error)?;
    }
    tx.commit().await.map_err(on_error)
}

pub(crate) async fn by_id(pool: &AnyPool, id: &UserId) -> Result<Option<UserRecord>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id.to_string())
        .fetch_optional(pool)
        .await
        .map_err(on_error)?;
    row.as_ref().map(rows::user).transpose()
}

pub(crate) async fn by_login(
    pool: &AnyPool,
    login: &str,
) -> Result<Option<UserRecord>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1 OR username = $1");
    let row = sqlx::query(&sql)
        .bind(login)
        .fetch_optional(pool)
        .await
        .map_err(on_error)?;
    row.as_ref().map(rows::user).transpose()
}

pub(crate) async fn list(
    pool: &AnyPool,
    filter: &UserFilter,
    page: &PageRequest,
) -> Result<Vec<User>, StoreError> {
    let mut sql = Sql::new(&format!("SELECT {USER_COLUMNS} FROM users WHERE 1 = 1"));
    if let Some(email) = &filter.email {
        sql.push(" AND email = ").bind(Arg::Text(email.to_string()));
    }
    if let Some(username) = &filter.username {
        sql.push(" AND username = ")
            .bind(Arg::Text(username.to_string()));
    }
    if let Some(external_id) = &filter.external_id {
        sql.push(" AND external_id = ")
            .bind(Arg::Text(external_id.clone()));
    }
    if let Some(status) = filter.status {
        sql.push(" AND status = ")
            .bind(Arg::Text(status.as_str().into()));
    }
    if let Some(account) = &filter.account_id {
        sql.push(" AND id IN (SELECT user_id FROM memberships WHERE account_id = ")
            .bind(Arg::Text(account.to_string()))
            .push(")");
    }
    if let Some(after) = &page.after {
        sql.push(" AND id > ").bind(Arg::Text(after.clone()));
    }
    sql.push(" ORDER BY id LIMIT ").bind(Arg::Int(page.fetch()));
    let found = sql.query().fetch_all(pool).await.map_err(on_error)?;
    found
        .iter()
        .map(|row| rows::user(row).map(|r| r.user))
        .collect()
}

pub(crate) async fn update(pool: &AnyPool, user: &User) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE users SET email = $2, username = $3, display_name = $4, phone = $5, status = $6, attributes = $7, updated_at = $8, external_id = $9
         WHERE id = $1",
    )
    .bind(user.id.to_string())
    .bind(user.email.as_str())
    .bind(user.username.as_ref().map(|u| u.as_str()))
    .bind(user.display_name.as_str())
    .bind(user.phone.as_deref())
    .bind(user.status.as_str())
    .bind(attributes_json(user))
    .bind(user.updated_at.millis())
    .bind(user.external_id.as_deref())
    .execute(pool)
    .await
    .map_err(on_error)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn set_password(
    store: &SqlStore,
    id: &UserId,
    hash: &str,
    at: Timestamp,
    keep: Option<&SessionId>,
) -> Result<bool, StoreError> {
    let mut tx = store
        .backend
        .begin_write(&store.pool)
        .await
        .map_err(on_error)?;
    let done = sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
        .bind(id.to_string())
        .bind(hash)
        .bind(at.millis())
        .execute(&mut *tx)
        .await
        .map_err(on_error)?;
    sqlx::query(
        "UPDATE sessions SET ended_at = $2 WHERE user_id = $1 AND ended_at IS NULL AND id <> $3",
    )
    .bind(id.to_string())
    .bind(at.millis())
    .bind(keep.map(SessionId::to_string).unwrap_or_default())
    .execute(&mut *tx)
    .await
    .map_err(on_error)?;
    tx.commit().await.map_err(on_error)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn delete(pool: &AnyPool, id: &UserId) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id.to_string())
        .execute(pool)
        .await
        .map_err(on_error)?;
    Ok(done.rows_affected() == 1)
}
