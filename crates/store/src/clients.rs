//! Service clients table.

use sqlx::any::AnyRow;
use sqlx::AnyPool;
use warden_core::ids::{AccountId, ClientKey, RoleId};
use warden_core::model::{Client, ClientRecord, Status};
use warden_core::net::Cidr;
use warden_core::page::PageRequest;
use warden_core::StoreError;

use crate::error::on_error;
use crate::rows;
use crate::sql::{Arg, Sql};

const COLUMNS: &str =
    "id, client_id, name, secret_hash, account_id, roles, allowed_ips, grant_types, sign_in, status, created_at, updated_at";

fn json_list(row: &AnyRow, col: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(&rows::text(row, col)?)
        .map_err(|err| StoreError::Backend(format!("stored {col}: {err}")))
}

fn record(row: &AnyRow) -> Result<ClientRecord, StoreError> {
    let corrupt = |col: &str, err: String| StoreError::Backend(format!("stored {col}: {err}"));
    Ok(ClientRecord {
        client: Client {
            id: rows::parse(row, "id", ClientKey::parse)?,
            client_id: rows::text(row, "client_id")?,
            name: rows::text(row, "name")?,
            account_id: rows::opt_parse(row, "account_id", AccountId::parse)?,
            roles: json_list(row, "roles")?
                .iter()
                .map(|r| RoleId::parse(r))
                .collect::<Result<_, _>>()
                .map_err(|e| corrupt("roles", e))?,
            allowed_ips: json_list(row, "allowed_ips")?
                .iter()
                .map(|c| Cidr::parse(c))
                .collect::<Result<_, _>>()
                .map_err(|e| corrupt("allowed_ips", e))?,
            grant_types: json_list(row, "grant_types")?,
            sign_in: serde_json::from_str(&rows::text(row, "sign_in")?)
                .map_err(|err| corrupt("sign_in", err.to_string()))?,
            status: rows::parse(row, "status", Status::parse)?,
            created_at: rows::time(row, "created_at")?,
            updated_at: rows::time(row, "updated_at")?,
        },
        secret_hash: rows::text(row, "secret_hash")?,
    })
}

/// The JSON columns: roles, allowed IPs, grants, sign-in settings.
fn lists(client: &Client) -> (String, String, String, String) {
    let roles: Vec<String> = client.roles.iter().map(RoleId::to_string).collect();
    let ips: Vec<String> = client.allowed_ips.iter().map(Cidr::to_string).collect();
    let json = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    let sign_in = serde_json::to_string(&client.sign_in).unwrap_or_else(|_| "{}".into());
    (json(&roles), json(&ips), json(&client.grant_types), sign_in)
}

pub(crate) async fn insert(pool: &AnyPool, r: &ClientRecord) -> Result<(), StoreError> {
    let c = &r.client;
    let (roles, ips, grants, sign_in) = lists(c);
    sqlx::query(
        "INSERT INTO clients (id, client_id, name, secret_hash, account_id, roles, allowed_ips, grant_types, status, created_at, updated_at, sign_in)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(c.id.to_string())
    .bind(c.client_id.as_str())
    .bind(c.name.as_str())
    .bind(r.secret_hash.as_str())
    .bind(c.account_id.map(|a| a.to_string()))
    .bind(roles)
    .bind(ips)
    .bind(grants)
    .bind(c.status.as_str())
    .bind(c.created_at.millis())
    .bind(c.updated_at.millis())
    .bind(sign_in)
    .execute(pool)
    .await
    .map_err(on_error)?;
    Ok(())
}

pub(crate) async fn by(
    pool: &AnyPool,
    column: &'static str,
    value: &str,
) -> Result<Option<ClientRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM clients WHERE {column} = $1");
    let row = sqlx::query(&sql)
        .bind(value)
        .fetch_optional(pool)
        .await
        .map_err(on_error)?;
    row.as_ref().map(record).transpose()
}

pub(crate) async fn list(
    pool: &AnyPool,
    account: Option<&AccountId>,
    page: &PageRequest,
) -> Result<Vec<ClientRecord>, StoreError> {
    let mut sql = Sql::new(&format!("SELECT {COLUMNS} FROM clients WHERE 1 = 1"));
    if let Some(account) = account {
        sql.push(" AND account_id = ")
            .bind(Arg::Text(account.to_string()));
    }
    if let Some(after) = &page.after {
        sql.push(" AND id > ").bind(Arg::Text(after.clone()));
    }
    sql.push(" ORDER BY id LIMIT ").bind(Arg::Int(page.fetch()));
    let found = sql.query().fetch_all(pool).await.map_err(on_error)?;
    found.iter().map(record).collect()
}

pub(crate) async fn update(
    pool: &AnyPool,
    c: &Client,
    secret_hash: Option<&str>,
) -> Result<bool, StoreError> {
    let (roles, ips, grants, sign_in) = lists(c);
    let done = sqlx::query(
        "UPDATE clients SET name = $2, roles = $3, allowed_ips = $4, grant_types = $5, status = $6, updated_at = $7,
         secret_hash = COALESCE($8, secret_hash), sign_in = $9 WHERE id = $1",
    )
    .bind(c.id.to_string())
    .bind(c.name.as_str())
    .bind(roles)
    .bind(ips)
    .bind(grants)
    .bind(c.status.as_str())
    .bind(c.updated_at.millis())
    .bind(secret_hash)
    .bind(sign_in)
    .execute(pool)
    .await
    .map_err(on_error)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn delete(pool: &AnyPool, id: &ClientKey) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM clients WHERE id = $1")
        .bind(id.to_string())
        .execute(pool)
        .await
        .map_err(on_error)?;
    Ok(done.rows_affected() == 1)
}
