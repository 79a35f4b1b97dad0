//! ABAC policies, the change log the authorization engine tails, and bulk reads for loading
//! the engine's snapshot.

use sqlx::any::AnyRow;
use sqlx::AnyPool;
use warden_core::authz::engine::Change;
use warden_core::ids::{AccountId, PolicyId, UserId};
use warden_core::model::{Assignment, Policy};
use warden_core::page::PageRequest;
use warden_core::store::PolicyFilter;
use warden_core::StoreError;

use crate::error::on_error;
use crate::rows::{self, scope_of};
use crate::sql::{Arg, Sql};

const COLUMNS: &str = "id, account_id, description, cedar, enabled, created_at, updated_at";

fn policy(row: &AnyRow) -> Result<Policy, StoreError> {
    Ok(Policy {
        id: rows::parse(row, "id", PolicyId::parse)?,
        account_id: rows::opt_parse(row, "account_id", AccountId::parse)?,
        description: rows::text(row, "description")?,
        cedar: rows::text(row, "cedar")?,
        enabled: rows::int(row, "enabled")? != 0,
        created_at: rows::time(row, "created_at")?,
        updated_at: rows::time(row, "updated_at")?,
    })
}

pub(crate) async fn insert(pool: &AnyPool, p: &Policy) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO policies (id, account_id, scope, description, cedar, enabled, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(p.id.to_string())
    .bind(p.account_id.map(|a| a.to_string()))
    .bind(scope_of(p.account_id.as_ref()))
    .bind(p.description.as_str())
    .bind(p.cedar.as_str())
    .bind(i64::from(p.enabled))
    .bind(p.created_at.millis())
    .bind(p.updated_at.millis())
    .execute(pool)
    .await
    .map_err(on_error)?;
    Ok(())
}

pub(crate) async fn by_id(pool: &AnyPool, id: &PolicyId) -> Result<Option<Policy>, StoreError> {
    let found = sqlx::query(&format!("SELECT {COLUMNS} FROM policies WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(pool)
        .await
        .map_err(on_error)?;
    found.as_ref().map(policy).transpose()
}

pub(crate) async fn list(
    pool: &AnyPool,
    filter: &PolicyFilter,
    page: &PageRequest,
) -> Result<Vec<Policy>, StoreError> {
    let mut sql = Sql::new(&format!("SELECT {COLUMNS} FROM policies WHERE 1 = 1"));
    if let Some(scope) = &filter.scope {
        sql.push(" AND scope = ")
            .bind(Arg::Text(scope_of(scope.as_ref())));
    }
    if let Some(account) = &filter.visible_in {
        sql.push(" AND (scope = '' OR scope = ")
            .bind(Arg::Text(account.to_string()))
            .push(")");
    }
    if let Some(enabled) = filter.enabled {
        sql.push(" AND enabled = ")
            .bind(Arg::Int(i64::from(enabled)));
    }
    if let Some(after) = &page.after {
        sql.push(" AND id > ").bind(Arg::Text(after.clone()));
    }
    sql.push(" ORDER BY id LIMIT ").bind(Arg::Int(page.fetch()));
    let found = sql.query().fetch_all(pool).await.map_err(on_error)?;
    found.iter().map(policy).collect()
}

pub(crate) async fn update(pool: &AnyPool, p: &Policy) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE policies SET description = $2, cedar = $3, enabled = $4, updated_at = $5 WHERE id = $1",
    )
    .bind(p.id.to_string())
    .bind(p.description.as_str())
    .bind(p.cedar.as_str())
    .bind(i64::from(p.enabled))
    .bind(p.updated_at.millis())
    .execute(pool)
    .await
    .map_err(on_error)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn delete(pool: &AnyPool, id: &PolicyId) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM policies WHERE id = $1")
        .bind(id.to_string())
        .execute(pool)
        .await
        .map_err(on_error)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn change_head(pool: &AnyPool) -> Result<i64, StoreError> {
    let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS head FROM changes")
        .fetch_one(pool)
        .await
        .map_err(on_error)?;
    rows::int(&row, "head")
}

pub(crate) async fn changes_after(
    pool: &AnyPool,
    seq: i64,
    limit: i64,
) -> Result<Vec<Change>, StoreError> {
    let found =
        sqlx::query("SELECT seq, kind, ref FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(seq)
            .bind(limit)
            .fetch_all(pool)
            .await
            .map_err(on_error)?;
    found
        .iter()
        .map(|row| {
            Ok(Change {
                seq: rows::int(row, "seq")?,
                kind: rows::text(row, "kind")?,
                key: rows::text(row, "ref")?,
            })
        })
        .collect()
}

pub(crate) async fn prune_changes(pool: &AnyPool, before_ms: i64) -> Result<u64, StoreError> {
    // The newest entry is always kept, so the head never moves backwards.
    let done =
        sqlx::query("DELETE FROM changes WHERE at < $1 AND seq < (SELECT MAX(seq) FROM changes)")
            .bind(before_ms)
            .execute(pool)
            .await
            .map_err(on_error)?;
    Ok(done.rows_affected())
}

/// Waits up to `timeout` for a `NOTIFY warden_changes` (sent by the change-log trigger at
/// commit), so a node applies changes made elsewhere at once instead of at its next poll. On
/// any listener error the connection is dropped, reopened next time, and the full timeout
/// waited: polling remains the guarantee.
pub(crate) async fn wait_for_notify(store: &crate::SqlStore, timeout: std::time::Duration) {
    let started = std::time::Instant::now();
    let mut guard = store.listener.lock().await;
    if guard.is_none() {
        match sqlx::postgres::PgListener::connect(&store.url).await {
            Ok(mut listener) => match listener.listen("warden_changes").await {
                Ok(()) => *guard = Some(listener),
                Err(err) => tracing::debug!(error = %err, "cannot LISTEN for changes"),
            },
            Err(err) => tracing::debug!(error = %err, "cannot open the change listener"),
        }
    }
    let left = timeout.saturating_sub(started.elapsed());
    let Some(listener) = guard.as_mut() else {
        drop(guard);
        tokio::time::sleep(left).await;
        return;
    };
    match tokio::time::timeout(left, listener.recv()).await {
        Ok(Ok(_)) | Err(_) => {}
        Ok(Err(err)) => {
            tracing::debug!(error = %err, "change listener failed; polling");
            *guard = None;
            drop(guard);
            tokio::time::sleep(timeout.saturating_sub(started.elapsed())).await;
        }
    }
}

pub(crate) async fn assignments_between(
    pool: &AnyPool,
    first: &UserId,
    last: &UserId,
) -> Result<Vec<Assignment>, StoreError> {
    let found = sqlx::query(
        "SELECT user_id, role_id, account_id, created_at FROM role_assignments WHERE user_id >= $1 AND user_id <= $2 ORDER BY user_id, scope, role_id",
    )
    .bind(first.to_string())
    .bind(last.to_string())
    .fetch_all(pool)
    .await
    .map_err(on_error)?;
    found.iter().map(rows::assignment).collect()
}
