//! Loading the authorization snapshot: a page of users, role assignments or registered
//! resources read as one aggregated JSON row. Handing a page over as a single value instead of
//! one row at a time pays the driver's per-row cost (a hand-over between its worker and the
//! async task for every row, on SQLite) once per page. Both page through each table in its
//! physical order (SQLite's `rowid`, PostgreSQL's blocks with a TID range scan), which reads
//! the file sequentially; an index order costs a random heap lookup per row (20 s instead of
//! a few at a million users). A row moved or written during the load may be read twice or
//! not at all; the change log, read from before the load began, replays it.

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

/// The first page of users and of resources also counts the table, to size the maps.
const COUNT_USERS: &str = "SELECT count(*) FROM users";
/// See [`COUNT_USERS`].
const COUNT_RESOURCES: &str = "SELECT count(*) FROM resources";

/// Each query's rows are JSON arrays whose first element is the rowid (SQLite) or 0.
struct Queries {
    users: &'static str,
    assignments: &'static str,
    resources: &'static str,
}

const SQLITE: Queries = Queries {
    users: "SELECT json_group_array(json_array(rowid, id, status, email, json(attributes))) AS page \
         FROM (SELECT rowid, id, status, email, attributes FROM users WHERE rowid > $1 ORDER BY rowid LIMIT $2)",
    assignments: "SELECT json_group_array(json_array(rowid, user_id, role_id, account_id, created_at)) AS page \
         FROM (SELECT rowid, * FROM role_assignments WHERE rowid > $1 ORDER BY rowid LIMIT $2)",
    resources: "SELECT json_group_array(json_array(rowid, key, attributes, parents)) AS page \
         FROM (SELECT rowid, * FROM resources WHERE rowid > $1 ORDER BY rowid LIMIT $2)",
};

/// A page is the rows of `$2` table blocks from block `$1` (a TID range scan; `ctid > x
/// ORDER BY ctid LIMIT n` would sort the whole table for every page), with the table's
/// current size in blocks. The page's JSON text is put together by concatenation: each row's
/// `$columns` is an expression of its JSON array's elements after the leading 0. That costs
/// PostgreSQL about half of what `json_agg(json_build_array(…))` does (6.3 s against 2.9 s for
/// two million assignments), and the database's time is most of a start at a million users.
/// Ids, states and numbers are written as they are (Warden makes them: no quote or escape in
/// them); anything a caller chose goes through `to_json`. A user's `attributes` is embedded as
/// it is stored: Warden only ever writes a serialized JSON object there. Every column concatenated is `NOT
/// NULL` (or wrapped in `coalesce`): a NULL would make the row's text NULL, which `string_agg`
/// skips without a word.
macro_rules! blocks {
    ($table:literal, $columns:literal) => {
        concat!(
            "SELECT '[' || coalesce((SELECT string_agg('[0,' || ", $columns, " || ']', ',') FROM ", $table,
            " WHERE ctid >= format('(%s,0)', $1::bigint)::tid AND ctid < format('(%s,0)', $1::bigint + $2)::tid), '') || ']' AS page, \
             pg_relation_size('", $table, "') / current_setting('block_size')::bigint AS blocks"
        )
    };
}

const POSTGRES: Queries = Queries {
    users: blocks!(
        "users",
        r#"'"' || id || '","' || status || '",' || to_json(email)::text || ',' || attributes"#
    ),
    assignments: blocks!(
        "role_assignments",
        r#"'"' || user_id || '","' || role_id || '",' || coalesce('"' || account_id || '"', 'null') || ',' || created_at"#
    ),
    resources: blocks!(
        "resources",
        "to_json(key)::text || ',' || to_json(attributes)::text || ',' || to_json(parents)::text"
    ),
};

fn queries(backend: Backend) -> &'static Queries {
    match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    }
}

/// The first cursor: before every rowid (SQLite), or the first block (PostgreSQL).
fn first(backend: Backend) -> i64 {
    match backend {
        Backend::Sqlite => i64::MIN,
        Backend::Postgres => 0,
    }
}

/// Table blocks per page on PostgreSQL, from the rows asked for: about fifty rows of these
/// tables fit in a block.
fn blocks_for(limit: u32) -> i64 {
    i64::from(limit / 50).max(1)
}

// Ids and states are plain tokens (no JSON escape in them): read in place from the page's
// text, a few million allocations fewer per load.
type UserRow<'a> = (i64, &'a str, &'a str, String, Map<String, Value>);
type AssignmentRow<'a> = (i64, &'a str, &'a str, Option<&'a str>, i64);
type ResourceRow = (i64, String, String, String);

/// Reads one page and turns its rows into `T` with `each`. Each row's first element is its
/// rowid on SQLite (the next cursor is the largest read); on PostgreSQL the cursor is a
/// block number.
async fn page<'t, R: Deserialize<'t>, T>(
    pool: &AnyPool,
    backend: Backend,
    (sql, count): (&str, Option<&str>),
    cursor: Option<&str>,
    limit: u32,
    text: &'t mut String,
    (rowid, each): (impl Fn(&R) -> i64, impl Fn(R) -> Result<T, StoreError>),
) -> Result<Loaded<T>, StoreError> {
    let expected = match (cursor, count) {
        (None, Some(count)) => {
            let rows: i64 = sqlx::query_scalar(count)
                .fetch_one(pool)
                .await
                .map_err(on_error)?;
            u64::try_from(rows).ok()
        }
        _ => None,
    };
    let from = match cursor {
        None => first(backend),
        Some(text) => text
            .parse::<i64>()
            .map_err(|_| StoreError::Backend(format!("not a load cursor: {text}")))?,
    };
    let span = match backend {
        Backend::Sqlite => i64::from(limit),
        Backend::Postgres => blocks_for(limit),
    };
    let row = sqlx::query(sql)
        .bind(from)
        .bind(span)
        .fetch_one(pool)
        .await
        .map_err(on_error)?;
    *text = row.try_get("page").map_err(on_error)?;
    let rows: Vec<R> = serde_json::from_str(text)
        .map_err(|err| StoreError::Backend(format!("a stored row does not parse: {err}")))?;
    let next = match backend {
        // The aggregate need not keep the subquery's order: the largest rowid read.
        Backend::Sqlite if rows.len() >= limit as usize => rows.iter().map(rowid).max(),
        Backend::Sqlite => None,
        Backend::Postgres => {
            let blocks: i64 = row.try_get("blocks").map_err(on_error)?;
            Some(from + span).filter(|next| *next < blocks)
        }
    };
    Ok(Loaded {
        rows: rows.into_iter().map(each).collect::<Result<_, _>>()?,
        next: next.map(|n| n.to_string()),
        expected,
    })
}

fn corrupt(what: &str) -> impl Fn(String) -> StoreError + '_ {
    move |err| StoreError::Backend(format!("stored {what} does not parse: {err}"))
}

fn account(text: Option<&str>) -> Result<Option<AccountId>, StoreError> {
    text.map(AccountId::parse)
        .transpose()
        .map_err(corrupt("account_id"))
}

pub(crate) async fn users(
    pool: &AnyPool,
    backend: Backend,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Loaded<LoadedUser>, StoreError> {
    let mut text = String::new();
    page(
        pool,
        backend,
        (queries(backend).users, Some(COUNT_USERS)),
        cursor,
        limit,
        &mut text,
        (
            |r: &UserRow<'_>| r.0,
            |(_, id, status, email, attributes)| {
                Ok(LoadedUser {
                    id: UserId::parse(id).map_err(corrupt("user id"))?,
                    status: Status::parse(status).map_err(corrupt("status"))?,
                    email,
                    attributes,
                })
            },
        ),
    )
    .await
}

pub(crate) async fn assignments(
    pool: &AnyPool,
    backend: Backend,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Loaded<Assignment>, StoreError> {
    let mut text = String::new();
    page(
        pool,
        backend,
        (queries(backend).assignments, None),
        cursor,
        limit,
        &mut text,
        (
            |r: &AssignmentRow<'_>| r.0,
            |(_, user, role, account_id, created)| {
                Ok(Assignment {
                    user_id: UserId::parse(user).map_err(corrupt("user_id"))?,
                    role_id: RoleId::parse(role).map_err(corrupt("role_id"))?,
                    account_id: account(account_id)?,
                    created_at: Timestamp::from_millis(created),
                })
            },
        ),
    )
    .await
}

pub(crate) async fn resources(
    pool: &AnyPool,
    backend: Backend,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Loaded<LoadedResource>, StoreError> {
    let mut text = String::new();
    page(
        pool,
        backend,
        (queries(backend).resources, Some(COUNT_RESOURCES)),
        cursor,
        limit,
        &mut text,
        (
            |r: &ResourceRow| r.0,
            |(_, key, attributes, parents)| {
                Ok(LoadedResource {
                    key,
                    attributes,
                    parents,
                })
            },
        ),
    )
    .await
}
