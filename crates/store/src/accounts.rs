//! Accounts and memberships tables.

use sqlx::{AnyPool, Row};
use warden_core::identity::AccountName;
use warden_core::ids::{AccountId, UserId};
use warden_core::model::{Account, Membership, Status};
use warden_core::page::PageRequest;
use warden_core::store::AccountFilter;
use warden_core::StoreError;

use crate::error::on_error;
use crate::rows::{self, ACCOUNT_COLUMNS};
use crate::sql::{Arg, Sql};
use crate::SqlStore;

fn attributes_json(account: &Account) -> String {
    serde_json::Value::Object(account.attributes.clone()).to_string()
}

fn allowed_ips_json(account: &Account) -> String {
    let texts: Vec<String> = account
        .allowed_ips
        .iter()
        .map(ToString::to_string)
        .collect();
    serde_json::Value::from(texts).to_string()
}

pub(crate) async fn insert(pool: &AnyPool, account: &Account) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO accounts (id, name, display_name, description, status, attributes, created_at, updated_at, allowed_ips, policy_schema, require_second_factor)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(account.id.to_string())
    .bind(account.name.as_str())
    .bind(account.display_name.as_str())
    .bind(account.description.as_str())
    .bind(account.status.as_str())
    .bind(attributes_json(account))
    .bind(account.created_at.millis())
    .bind(account.updated_at.millis())
    .bind(allowed_ips_json(account))
    .bind(account.policy_schema.as_deref())
    .bind(i64::from(account.require_second_factor))
    .execute(pool)
    .await
    .map_err(on_error)?;
    Ok(())
}

pub(crate) async fn by_id(pool: &AnyPool, id: &AccountId) -> Result<Option<Account>, StoreError> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id.to_string())
        .fetch_optional(pool)
        .await
        .map_err(on_error)?;
    row.as_ref().map(rows::account).transpose()
}

pub(crate) async fn by_name(
    pool: &AnyPool,
    name: &AccountName,
) -> Result<Option<Account>, StoreError> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = $1");
    let row = sqlx::query(&sql)
        .bind(name.as_str())
        .fetch_optional(pool)
        .await
        .map_err(on_error)?;
    row.as_ref().map(rows::account).transpose()
}

pub(crate) async fn list(
    pool: &AnyPool,
    filter: &AccountFilter,
    page: &PageRequest,
) -> Result<Vec<Account>, StoreError> {
    let mut sql = Sql::new(&format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE 1 = 1"
    ));
    if let Some(name) = &filter.name {
        sql.push(" AND name = ").bind(Arg::Text(name.to_string()));
    }
    if let Some(status) = filter.status {
        sql.push(" AND status = ")
            .bind(Arg::Text(status.as_str().into()));
    }
    if let Some(only) = &filter.only {
        sql.push(" AND id = ").bind(Arg::Text(only.to_string()));
    }
    if let Some(after) = &page.after {
        sql.push(" AND id > ").bind(Arg::Text(after.clone()));
    }
    sql.push(" ORDER BY id LIMIT ").bind(Arg::Int(page.fetch()));
    let found = sql.query().fetch_all(pool).await.map_err(on_error)?;
    found.iter().map(rows::account).collect()
}

/// Writes an account. Turning it to disabled also stamps `tokens_valid_after` and ends every
/// session in it, in the same transaction: nothing issued in a disabled account lives on.
pub(crate) async fn update(store: &SqlStore, account: &Account) -> Result<bool, StoreError> {
    let mut tx = store
        .backend
        .begin_write(&store.pool)
        .await
        .map_err(on_error)?;
    let id = account.id.to_string();
    let now = account.updated_at.millis();
    let disabling = account.status == Status::Disabled;
    let done = sqlx::query(
        "UPDATE accounts SET name = $2, display_name = $3, description = $4, status = $5, attributes = $6, updated_at = $7, allowed_ips = $8, policy_schema = $9, require_second_factor = $11,
         tokens_valid_after = CASE WHEN $10 = 1 AND status <> 'disabled' THEN $7 ELSE tokens_valid_after END
         WHERE id = $1",
    )
    .bind(&id)
    .bind(account.name.as_str())
    .bind(account.display_name.as_str())
    .bind(account.description.as_str())
    .bind(account.status.as_str())
    .bind(attributes_json(account))
    .bind(now)
    .bind(allowed_ips_json(account))
    .bind(account.policy_schema.as_deref())
    .bind(i64::from(disabling))
    .bind(i64::from(account.require_second_factor))
    .execute(&mut *tx)
    .await
    .map_err(on_error)?;
    if disabling {
        sqlx::query("UPDATE sessions SET ended_at = $2 WHERE account_id = $1 AND ended_at IS NULL")
            .bind(&id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(on_error)?;
    }
    tx.commit().await.map_err(on_error)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn delete(pool: &AnyPool, id: &AccountId) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM accounts WHERE id = $1")
        .bind(id.to_string())
        .execute(pool)
        .await
        .map_err(on_error)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn add_member(pool: &AnyPool, membership: &Membership) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO memberships (account_id, user_id, created_at) VALUES ($1, $2, $3)")
        .bind(membership.account_id.to_string())
        .bind(membership.user_id.to_string())
        .bind(membership.created_at.millis())
        .execute(pool)
        .await
        .map_err(on_error)?;
    Ok(())
}

pub(crate) async fn remove_member(
    store: &SqlStore,
    account: &AccountId,
    user: &UserId,
) -> Result<bool, StoreError> {
    let mut tx = store
        .backend
        .begin_write(&store.pool)
        .await
        .map_err(on_error)?;
    let done = sqlx::query("DELETE FROM memberships WHERE account_id = $1 AND user_id = $2")
        .bind(account.to_string())
        .bind(user.to_string())
        .execute(&mut *tx)
        .await
        .map_err(on_error)?;
    sqlx::query("DELETE FROM role_assignments WHERE scope = $1 AND user_id = $2")
        .bind(account.to_string())
        .bind(user.to_string())
        .execute(&mut *tx)
        .await
        .map_err(on_error)?;
    // A former member keeps no session in the account: its tokens stop with it.
    let now = warden_core::time::Timestamp::now().millis();
    sqlx::query(
        "UPDATE sessions SET ended_at = $3 WHERE account_id = $1 AND user_id = $2 AND ended_at IS NULL",
    )
    .bind(account.to_string())
    .bind(user.to_string())
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(on_error)?;
    tx.commit().await.map_err(on_error)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn members(
    pool: &AnyPool,
    account: &AccountId,
    page: &PageRequest,
) -> Result<Vec<Membership>, StoreError> {
    let mut sql =
        Sql::new("SELECT account_id, user_id, created_at FROM memberships WHERE account_id = ");
    sql.bind(Arg::Text(account.to_string()));
    if let Some(after) = &page.after {
        sql.push(" AND user_id > ").bind(Arg::Text(after.clone()));
    }
    sql.push(" ORDER BY user_id LIMIT ")
        .bind(Arg::Int(page.fetch()));
    let found = sql.query().fetch_all(pool).await.map_err(on_error)?;
    found.iter().map(rows::membership).collect()
}

pub(crate) async fn memberships(
    pool: &AnyPool,
    user: &UserId,
) -> Result<Vec<AccountId>, StoreError> {
    let found =
        sqlx::query("SELECT account_id FROM memberships WHERE user_id = $1 ORDER BY account_id")
            .bind(user.to_string())
            .fetch_all(pool)
            .await
            .map_err(on_error)?;
    found
        .iter()
        .map(|row| {
            let text: String = row.try_get(0).map_err(on_error)?;
            AccountId::parse(&text).map_err(StoreError::Backend)
        })
        .collect()
}
