//! Loading the authorization snapshot: a page of users, role assignments or registered
//! resources read as one aggregated JSON row. Handing a page over as a single value instead of
//! one row at a time pays the driver's per-row cost (a hand-over between its worker and the
//! async task for every row, on SQLite) once per page. SQLite pages through each table in
//! its physical order (`rowid`), which reads the file sequentially; an index order there
//! costs a random lookup per row. PostgreSQL pages in key order.

use serde::Deserialize;
use serde_json::{Map, Value};
use sqlx::{AnyPool, Row};
use warden_core::ids::{AccountId, RoleId, UserId};
use warden_core::model::{Assignment, Status};
use warden_core::store::{Loaded, LoadedResource, LoadedUser};
use warden_core::time::Timestamp;
use warden_core::StoreError;

use crate::error::on_error;
use crate::Backend;

/// Each query's first column is the row's cursor (rowid or key), as text.
struct Queries {
    users: &'static str,
    assignments: &'static str,
    resources: &'static str,
}

const SQLITE: Queries = Queries {
    users: "SELECT json_group_array(json_array(CAST(rowid AS TEXT), id, status, email, json(attributes))) AS page \
         FROM (SELECT rowid, id, status, email, attributes FROM users WHERE rowid > CAST($1 AS INTEGER) ORDER BY rowid LIMIT $2)",
    assignments: "SELECT json_group_array(json_array(CAST(rowid AS TEXT), user_id, role_id, account_id, created_at)) AS page \
         FROM (SELECT rowid, * FROM role_assignments WHERE rowid > CAST($1 AS INTEGER) ORDER BY rowid LIMIT $2)",
    resources: "SELECT json_group_array(json_array(CAST(rowid AS TEXT), key, attributes, parents)) AS page \
         FROM (SELECT rowid, * FROM resources WHERE rowid > CAST($1 AS INTEGER) ORDER BY rowid LIMIT $2)",
};

const POSTGRES: Queries = Queries {
    users: "SELECT coalesce(json_agg(json_build_array(id, id, status, email, attributes::json) ORDER BY id), '[]'::json)::text AS page \
         FROM (SELECT id, status, email, attributes FROM users WHERE id > $1 ORDER BY id LIMIT $2) u",
    // The cursor of an assignment is its primary key, joined by newlines (ids hold none).
    assignments: "SELECT coalesce(json_agg(json_build_array(user_id || E'\\n' || role_id || E'\\n' || scope, user_id, role_id, account_id, created_at) \
         ORDER BY user_id, role_id, scope), '[]'::json)::text AS page \
         FROM (SELECT * FROM role_assignments WHERE (user_id, role_id, scope) > (split_part($1, E'\\n', 1), split_part($1, E'\\n', 2), split_part($1, E'\\n', 3)) \
         ORDER BY user_id, role_id, scope LIMIT $2) r",
    resources: "SELECT coalesce(json_agg(json_build_array(key, key, attributes, parents) \
         ORDER BY key), '[]'::json)::text AS page \
         FROM (SELECT * FROM resources WHERE key > $1 ORDER BY key LIMIT $2) r",
};

fn queries(backend: Backend) -> &'static Queries {
    match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    }
}

/// The first cursor: before every rowid, key, or primary key.
fn first(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "-9223372036854775808",
        Backend::Postgres => "",
    }
}

type UserRow = (String, String, String, String, Map<String, Value>);
type AssignmentRow = (String, String, String, Option<String>, i64);
type ResourceRow = (String, String, String, String);

/// Reads one page; `cursor` of a row is its first element. The next cursor is the largest
/// one read, in the order the query pages by.
async fn page<T: for<'de> Deserialize<'de>>(
    pool: &AnyPool,
    backend: Backend,
    sql: &str,
    cursor: Option<&str>,
    limit: u32,
    cursor_of: impl Fn(&T) -> &str,
) -> Result<(Vec<T>, Option<String>), StoreError> {
    let cursor = cursor.unwrap_or(first(backend));
    if backend == Backend::Sqlite && cursor.parse::<i64>().is_err() {
        return Err(StoreError::Backend(format!("not a load cursor: {cursor}")));
    }
    let row = sqlx::query(sql)
        .bind(cursor)
        .bind(i64::from(limit))
        .fetch_one(pool)
        .await
        .map_err(on_error)?;
    let text: String = row.try_get("page").map_err(on_error)?;
    let rows: Vec<T> = serde_json::from_str(&text)
        .map_err(|err| StoreError::Backend(format!("a stored row does not parse: {err}")))?;
    let next = if rows.len() < limit as usize {
        None
    } else {
        let last = match backend {
            // The aggregate need not keep the subquery's order: take the largest rowid.
            Backend::Sqlite => rows
                .iter()
                .map(|r| cursor_of(r))
                .max_by_key(|c| c.parse::<i64>().unwrap_or(i64::MIN)),
            Backend::Postgres => rows.last().map(cursor_of),
        };
        last.map(ToOwned::to_owned)
    };
    Ok((rows, next))
}

fn corrupt(what: &str) -> impl Fn(String) -> StoreError + '_ {
    move |err| StoreError::Backend(format!("stored {what} does not parse: {err}"))
}

fn account(text: Option<String>) -> Result<Option<AccountId>, StoreError> {
    text.map(|a| AccountId::parse(&a))
        .transpose()
        .map_err(corrupt("account_id"))
}

pub(crate) async fn users(
    pool: &AnyPool,
    backend: Backend,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Loaded<LoadedUser>, StoreError> {
    let (rows, next) = page(
        pool,
        backend,
        queries(backend).users,
        cursor,
        limit,
        |r: &UserRow| &r.0,
    )
    .await?;
    let rows = rows
        .into_iter()
        .map(|(_, id, status, email, attributes)| {
            Ok(LoadedUser {
                id: UserId::parse(&id).map_err(corrupt("user id"))?,
                status: Status::parse(&status).map_err(corrupt("status"))?,
                email,
                attributes,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(Loaded { rows, next })
}

pub(crate) async fn assignments(
    pool: &AnyPool,
    backend: Backend,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Loaded<Assignment>, StoreError> {
    let (rows, next) = page(
        pool,
        backend,
        queries(backend).assignments,
        cursor,
        limit,
        |r: &AssignmentRow| &r.0,
    )
    .await?;
    let rows = rows
        .into_iter()
        .map(|(_, user, role, account_id, created)| {
            Ok(Assignment {
                user_id: UserId::parse(&user).map_err(corrupt("user_id"))?,
                role_id: RoleId::parse(&role).map_err(corrupt("role_id"))?,
                account_id: account(account_id)?,
                created_at: Timestamp::from_millis(created),
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(Loaded { rows, next })
}

pub(crate) async fn resources(
    pool: &AnyPool,
    backend: Backend,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Loaded<LoadedResource>, StoreError> {
    let (rows, next) = page(
        pool,
        backend,
        queries(backend).resources,
        cursor,
        limit,
        |r: &ResourceRow| &r.0,
    )
    .await?;
    let rows = rows
        .into_iter()
        .map(|(_, key, attributes, parents)| LoadedResource {
            key,
            attributes,
            parents,
        })
        .collect();
    Ok(Loaded { rows, next })
}
