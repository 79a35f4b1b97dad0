//! Loading the authorization snapshot: a page of users (with their assignments) or of
//! registered resources read as one aggregated JSON row. Handing a page over as a single value
//! instead of one row at a time is what makes a cold start at a million rows take seconds:
//! the per-row cost of the driver (a hand-over between its worker and the async task for
//! every row, on SQLite) is paid once per page. Each aggregate orders its rows as the paging
//! does (`ORDER BY` inside the aggregate, in the database's own collation).

use serde::Deserialize;
use serde_json::{Map, Value};
use sqlx::{AnyPool, Row};
use warden_core::authz::engine::EntityRef;
use warden_core::ids::{AccountId, RoleId, UserId};
use warden_core::model::{RegisteredResource, Status};
use warden_core::store::LoadedUser;
use warden_core::time::Timestamp;
use warden_core::StoreError;

use crate::error::on_error;
use crate::Backend;

const SQLITE_USERS: &str = "SELECT json_group_array(json_array(u.id, u.status, u.email, json(u.attributes), \
     json((SELECT json_group_array(json_array(r.account_id, r.role_id) ORDER BY r.scope, r.role_id) FROM role_assignments r WHERE r.user_id = u.id))) ORDER BY u.id) AS page \
     FROM (SELECT id, status, email, attributes FROM users WHERE id > $1 ORDER BY id LIMIT $2) u";

const POSTGRES_USERS: &str = "SELECT coalesce(json_agg(json_build_array(u.id, u.status, u.email, u.attributes::json, \
     (SELECT coalesce(json_agg(json_build_array(r.account_id, r.role_id) ORDER BY r.scope, r.role_id), '[]'::json) FROM role_assignments r WHERE r.user_id = u.id)) \
     ORDER BY u.id), '[]'::json)::text AS page \
     FROM (SELECT id, status, email, attributes FROM users WHERE id > $1 ORDER BY id LIMIT $2) u";

const SQLITE_RESOURCES: &str = "SELECT json_group_array(json_array(key, account_id, kind, resource_id, json(attributes), json(parents), created_at, updated_at) ORDER BY key) AS page \
     FROM (SELECT * FROM resources WHERE key > $1 ORDER BY key LIMIT $2)";

const POSTGRES_RESOURCES: &str = "SELECT coalesce(json_agg(json_build_array(key, account_id, kind, resource_id, attributes::json, parents::json, created_at, updated_at) \
     ORDER BY key), '[]'::json)::text AS page \
     FROM (SELECT * FROM resources WHERE key > $1 ORDER BY key LIMIT $2) r";

type UserRow = (
    String,
    String,
    String,
    Map<String, Value>,
    Vec<(Option<String>, String)>,
);

type ResourceRow = (
    String,
    Option<String>,
    String,
    String,
    Map<String, Value>,
    Vec<EntityRef>,
    i64,
    i64,
);

async fn page<T: for<'de> Deserialize<'de>>(
    pool: &AnyPool,
    sql: &str,
    after: &str,
    limit: u32,
) -> Result<Vec<T>, StoreError> {
    let row = sqlx::query(sql)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_one(pool)
        .await
        .map_err(on_error)?;
    let text: String = row.try_get("page").map_err(on_error)?;
    serde_json::from_str(&text)
        .map_err(|err| StoreError::Backend(format!("a stored row does not parse: {err}")))
}

fn corrupt(what: &str) -> impl Fn(String) -> StoreError + '_ {
    move |err| StoreError::Backend(format!("stored {what} does not parse: {err}"))
}

pub(crate) async fn users(
    pool: &AnyPool,
    backend: Backend,
    after: Option<&UserId>,
    limit: u32,
) -> Result<Vec<LoadedUser>, StoreError> {
    let sql = match backend {
        Backend::Sqlite => SQLITE_USERS,
        Backend::Postgres => POSTGRES_USERS,
    };
    let after = after.map(ToString::to_string).unwrap_or_default();
    let rows: Vec<UserRow> = page(pool, sql, &after, limit).await?;
    rows.into_iter()
        .map(|(id, status, email, attributes, held)| {
            let held = held
                .into_iter()
                .map(|(account, role)| {
                    let account = account
                        .map(|a| AccountId::parse(&a))
                        .transpose()
                        .map_err(corrupt("account_id"))?;
                    Ok((account, RoleId::parse(&role).map_err(corrupt("role_id"))?))
                })
                .collect::<Result<_, StoreError>>()?;
            Ok(LoadedUser {
                id: UserId::parse(&id).map_err(corrupt("id"))?,
                status: Status::parse(&status).map_err(corrupt("status"))?,
                email,
                attributes,
                held,
            })
        })
        .collect()
}

pub(crate) async fn resources(
    pool: &AnyPool,
    backend: Backend,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<RegisteredResource>, StoreError> {
    let sql = match backend {
        Backend::Sqlite => SQLITE_RESOURCES,
        Backend::Postgres => POSTGRES_RESOURCES,
    };
    let rows: Vec<ResourceRow> = page(pool, sql, after.unwrap_or_default(), limit).await?;
    rows.into_iter()
        .map(
            |(_, account, kind, id, attributes, parents, created, updated)| {
                Ok(RegisteredResource {
                    account_id: account
                        .map(|a| AccountId::parse(&a))
                        .transpose()
                        .map_err(corrupt("account_id"))?,
                    kind,
                    id,
                    attributes,
                    parents,
                    created_at: Timestamp::from_millis(created),
                    updated_at: Timestamp::from_millis(updated),
                })
            },
        )
        .collect()
}
