//! The resource registry: registered resources by key, written in batches (one transaction
//! each), listed in key order.

use sqlx::any::AnyRow;
use sqlx::AnyPool;
use warden_core::authz::engine::EntityRef;
use warden_core::ids::AccountId;
use warden_core::model::RegisteredResource;
use warden_core::page::PageRequest;
use warden_core::store::ResourceFilter;
use warden_core::StoreError;

use crate::backend::Backend;
use crate::error::on_error;
use crate::rows::{self, scope_of};
use crate::sql::{Arg, Sql};

const COLUMNS: &str = "account_id, kind, resource_id, attributes, parents, created_at, updated_at";

fn resource(row: &AnyRow) -> Result<RegisteredResource, StoreError> {
    let parents: Vec<EntityRef> = serde_json::from_str(&rows::text(row, "parents")?)
        .map_err(|err| StoreError::Backend(format!("stored parents do not parse: {err}")))?;
    Ok(RegisteredResource {
        account_id: rows::opt_parse(row, "account_id", AccountId::parse)?,
        kind: rows::text(row, "kind")?,
        id: rows::text(row, "resource_id")?,
        attributes: rows::json_object(row, "attributes")?,
        parents,
        created_at: rows::time(row, "created_at")?,
        updated_at: rows::time(row, "updated_at")?,
    })
}

fn parents_json(resource: &RegisteredResource) -> Result<String, StoreError> {
    serde_json::to_string(&resource.parents).map_err(|err| StoreError::Backend(err.to_string()))
}

pub(crate) async fn put(
    pool: &AnyPool,
    backend: Backend,
    items: &[RegisteredResource],
) -> Result<Vec<bool>, StoreError> {
    let mut tx = backend.begin_write(pool).await.map_err(on_error)?;
    let mut created = Vec::with_capacity(items.len());
    for item in items {
        let key = item.key();
        let attributes = serde_json::Value::Object(item.attributes.clone()).to_string();
        let parents = parents_json(item)?;
        // Replace first; a key no row holds yet is inserted, and should a concurrent writer
        // insert it in between, the insert becomes that replacement.
        let replaced = sqlx::query(
            "UPDATE resources SET attributes = $2, parents = $3, updated_at = $4 WHERE key = $1",
        )
        .bind(key.as_str())
        .bind(attributes.as_str())
        .bind(parents.as_str())
        .bind(item.updated_at.millis())
        .execute(&mut *tx)
        .await
        .map_err(on_error)?
        .rows_affected()
            == 1;
        if !replaced {
            sqlx::query(
                "INSERT INTO resources (key, account_id, scope, kind, resource_id, attributes, parents, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (key) DO UPDATE SET attributes = excluded.attributes, parents = excluded.parents, updated_at = excluded.updated_at",
            )
            .bind(key.as_str())
            .bind(item.account_id.map(|a| a.to_string()))
            .bind(scope_of(item.account_id.as_ref()))
            .bind(item.kind.as_str())
            .bind(item.id.as_str())
            .bind(attributes.as_str())
            .bind(parents.as_str())
            .bind(item.created_at.millis())
            .bind(item.updated_at.millis())
            .execute(&mut *tx)
            .await
            .map_err(on_error)?;
        }
        created.push(!replaced);
    }
    tx.commit().await.map_err(on_error)?;
    Ok(created)
}

pub(crate) async fn by_key(
    pool: &AnyPool,
    key: &str,
) -> Result<Option<RegisteredResource>, StoreError> {
    let found = sqlx::query(&format!("SELECT {COLUMNS} FROM resources WHERE key = $1"))
        .bind(key)
        .fetch_optional(pool)
        .await
        .map_err(on_error)?;
    found.as_ref().map(resource).transpose()
}

pub(crate) async fn list(
    pool: &AnyPool,
    filter: &ResourceFilter,
    page: &PageRequest,
) -> Result<Vec<RegisteredResource>, StoreError> {
    let mut sql = Sql::new(&format!("SELECT {COLUMNS}, key FROM resources WHERE 1 = 1"));
    if let Some(scope) = &filter.scope {
        sql.push(" AND scope = ")
            .bind(Arg::Text(scope_of(scope.as_ref())));
    }
    if let Some(kind) = &filter.kind {
        sql.push(" AND kind = ").bind(Arg::Text(kind.clone()));
    }
    if let Some(after) = &page.after {
        sql.push(" AND key > ").bind(Arg::Text(after.clone()));
    }
    sql.push(" ORDER BY key LIMIT ")
        .bind(Arg::Int(page.fetch()));
    let found = sql.query().fetch_all(pool).await.map_err(on_error)?;
    found.iter().map(resource).collect()
}

pub(crate) async fn delete(pool: &AnyPool, key: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM resources WHERE key = $1")
        .bind(key)
        .execute(pool)
        .await
        .map_err(on_error)?;
    Ok(done.rows_affected() == 1)
}
