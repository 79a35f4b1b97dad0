//! Roles, their inheritance edges, and role assignments.

use std::collections::{HashMap, HashSet};

use sqlx::{Any, AnyConnection, AnyPool, Row, Transaction};
use warden_core::ids::{AccountId, RoleId, UserId};
use warden_core::model::{Assignment, Role};
use warden_core::page::PageRequest;
use warden_core::store::RoleFilter;
use warden_core::StoreError;

use crate::error::on_error;
use crate::rows::{self, scope_of, ROLE_COLUMNS};
use crate::sql::{Arg, Sql};
use crate::SqlStore;

fn permissions_json(role: &Role) -> String {
    serde_json::to_string(&role.permissions).unwrap_or_else(|_| "[]".into())
}

/// Loads the roles matched by `sql` and fills in their inheritance edges with one more query.
async fn load(pool: &AnyPool, sql: &Sql, edges: Sql) -> Result<Vec<Role>, StoreError> {
    let found = sql.query().fetch_all(pool).await.map_err(on_error)?;
    let mut roles: Vec<Role> = found.iter().map(rows::role).collect::<Result<_, _>>()?;
    if roles.is_empty() {
        return Ok(roles);
    }
    let mut parents: HashMap<String, Vec<RoleId>> = HashMap::new();
    for row in edges.query().fetch_all(pool).await.map_err(on_error)? {
        let child: String = row.try_get("role_id").map_err(on_error)?;
        let parent = rows::parse(&row, "parent_id", RoleId::parse)?;
        parents.entry(child).or_default().push(parent);
    }
    for role in &mut roles {
        if let Some(list) = parents.remove(&role.id.to_string()) {
            role.inherits = list;
        }
    }
    Ok(roles)
}

fn edges_of(ids: impl IntoIterator<Item = String>) -> Sql {
    let mut sql = Sql::new("SELECT role_id, parent_id FROM role_inherits WHERE role_id IN (");
    sql.bind_list(ids).push(") ORDER BY role_id, parent_id");
    sql
}

pub(crate) async fn by_id(pool: &AnyPool, id: &RoleId) -> Result<Option<Role>, StoreError> {
    let mut sql = Sql::new(&format!("SELECT {ROLE_COLUMNS} FROM roles WHERE id = "));
    sql.bind(Arg::Text(id.to_string()));
    Ok(load(pool, &sql, edges_of([id.to_string()])).await?.pop())
}

pub(crate) async fn list(
    pool: &AnyPool,
    filter: &RoleFilter,
    page: &PageRequest,
) -> Result<Vec<Role>, StoreError> {
    let mut sql = Sql::new(&format!("SELECT {ROLE_COLUMNS} FROM roles WHERE 1 = 1"));
    if let Some(name) = &filter.name {
        sql.push(" AND name = ").bind(Arg::Text(name.to_string()));
    }
    if let Some(scope) = &filter.scope {
        sql.push(" AND scope = ")
            .bind(Arg::Text(scope_of(scope.as_ref())));
    }
    if let Some(account) = &filter.visible_in {
        sql.push(" AND (scope = '' OR scope = ")
            .bind(Arg::Text(account.to_string()))
            .push(")");
    }
    if let Some(after) = &page.after {
        sql.push(" AND id > ").bind(Arg::Text(after.clone()));
    }
    sql.push(" ORDER BY id LIMIT ").bind(Arg::Int(page.fetch()));
    let found = sql.query().fetch_all(pool).await.map_err(on_error)?;
    let ids: Vec<String> = found
        .iter()
        .map(|row| row.try_get::<String, _>("id"))
        .collect::<Result<_, _>>()
        .map_err(on_error)?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut again = Sql::new(&format!("SELECT {ROLE_COLUMNS} FROM roles WHERE id IN ("));
    again.bind_list(ids.clone()).push(") ORDER BY id");
    load(pool, &again, edges_of(ids)).await
}

pub(crate) async fn in_scope(
    pool: &AnyPool,
    account: Option<&AccountId>,
) -> Result<Vec<Role>, StoreError> {
    let scope = scope_of(account);
    let mut sql = Sql::new(&format!(
        "SELECT {ROLE_COLUMNS} FROM roles WHERE scope = '' OR scope = "
    ));
    sql.bind(Arg::Text(scope.clone()));
    let mut edges = Sql::new(
        "SELECT ri.role_id, ri.parent_id FROM role_inherits ri JOIN roles r ON r.id = ri.role_id WHERE r.scope = '' OR r.scope = ",
    );
    edges.bind(Arg::Text(scope));
    load(pool, &sql, edges).await
}

async fn write_edges(conn: &mut AnyConnection, role: &Role) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM role_inherits WHERE role_id = $1")
        .bind(role.id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(on_error)?;
    for parent in &role.inherits {
        sqlx::query("INSERT INTO role_inherits (role_id, parent_id) VALUES ($1, $2)")
            .bind(role.id.to_string())
            .bind(parent.to_string())
            .execute(&mut *conn)
            .await
            .map_err(on_error)?;
    }
    Ok(())
}

/// Starts a transaction that changes roles: every such transaction holds one lock, so the
/// checks that span roles (names across scopes, inheritance cycles) see every committed change
/// and no other role write lands before this one commits. Role writes are rare.
async fn begin_role_write(store: &SqlStore) -> Result<Transaction<'static, Any>, StoreError> {
    let mut tx = store
        .backend
        .begin_write(&store.pool)
        .await
        .map_err(on_error)?;
    store
        .backend
        .lock_named(&mut tx, "roles")
        .await
        .map_err(on_error)?;
    Ok(tx)
}

/// Role names travel in tokens' `roles` claim, so they are never shadowed: an account role
/// takes no global role's name, a global role no role's name at all (the same scope is the
/// unique constraint's). Runs under the roles lock, so two racing writers cannot both pass.
async fn check_name_free(conn: &mut AnyConnection, role: &Role) -> Result<(), StoreError> {
    let only_global = if role.account_id.is_some() {
        " AND scope = ''"
    } else {
        ""
    };
    let clash = sqlx::query(&format!(
        "SELECT id FROM roles WHERE name = $1 AND id <> $2{only_global} LIMIT 1"
    ))
    .bind(role.name.as_str())
    .bind(role.id.to_string())
    .fetch_optional(&mut *conn)
    .await
    .map_err(on_error)?;
    match clash {
        Some(_) => Err(StoreError::Conflict("name".into())),
        None => Ok(()),
    }
}

pub(crate) async fn insert(store: &SqlStore, role: &Role) -> Result<(), StoreError> {
    let mut tx = begin_role_write(store).await?;
    check_name_free(&mut tx, role).await?;
    sqlx::query(
        "INSERT INTO roles (id, account_id, scope, name, description, permissions, builtin, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(role.id.to_string())
    .bind(role.account_id.map(|a| a.to_string()))
    .bind(scope_of(role.account_id.as_ref()))
    .bind(role.name.as_str())
    .bind(role.description.as_str())
    .bind(permissions_json(role))
    .bind(i64::from(role.builtin))
    .bind(role.created_at.millis())
    .bind(role.updated_at.millis())
    .execute(&mut *tx)
    .await
    .map_err(on_error)?;
    write_edges(&mut tx, role).await?;
    tx.commit().await.map_err(on_error)
}

pub(crate) async fn update(store: &SqlStore, role: &Role) -> Result<bool, StoreError> {
    let mut tx = begin_role_write(store).await?;
    let stored = sqlx::query("SELECT name FROM roles WHERE id = $1")
        .bind(role.id.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(on_error)?;
    let Some(stored) = stored else {
        return Ok(false);
    };
    if rows::text(&stored, "name")? != role.name.as_str() {
        check_name_free(&mut tx, role).await?;
    }
    let done = sqlx::query("UPDATE roles SET name = $2, description = $3, permissions = $4, updated_at = $5 WHERE id = $1")
        .bind(role.id.to_string())
        .bind(role.name.as_str())
        .bind(role.description.as_str())
        .bind(permissions_json(role))
        .bind(role.updated_at.millis())
        .execute(&mut *tx)
        .await
        .map_err(on_error)?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    write_edges(&mut tx, role).await?;
    check_acyclic(&mut tx, role).await?;
    tx.commit().await.map_err(on_error)?;
    Ok(true)
}

/// Refuses the edit if `role`, its new edges written, now reaches itself. Runs under the roles
/// lock against the committed edges, so two edits that each close half of a cycle cannot both
/// pass. Global roles inherit only global roles and account roles only global roles or their
/// account's, so the edges of those two scopes hold every path back to `role`.
async fn check_acyclic(conn: &mut AnyConnection, role: &Role) -> Result<(), StoreError> {
    if role.inherits.is_empty() {
        return Ok(());
    }
    let found = sqlx::query(
        "SELECT ri.role_id, ri.parent_id FROM role_inherits ri JOIN roles r ON r.id = ri.role_id WHERE r.scope = '' OR r.scope = $1",
    )
    .bind(scope_of(role.account_id.as_ref()))
    .fetch_all(&mut *conn)
    .await
    .map_err(on_error)?;
    let mut parents: HashMap<String, Vec<String>> = HashMap::new();
    for row in &found {
        parents
            .entry(rows::text(row, "role_id")?)
            .or_default()
            .push(rows::text(row, "parent_id")?);
    }
    if reaches_itself(&parents, &role.id.to_string()) {
        return Err(StoreError::InheritanceCycle);
    }
    Ok(())
}

/// Whether following `parents` from `start` leads back to `start`.
fn reaches_itself(parents: &HashMap<String, Vec<String>>, start: &str) -> bool {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut stack: Vec<&str> = parents
        .get(start)
        .map(|list| list.iter().map(String::as_str).collect())
        .unwrap_or_default();
    while let Some(id) = stack.pop() {
        if id == start {
            return true;
        }
        if seen.insert(id) {
            if let Some(list) = parents.get(id) {
                stack.extend(list.iter().map(String::as_str));
            }
        }
    }
    false
}

pub(crate) async fn delete(store: &SqlStore, id: &RoleId) -> Result<bool, StoreError> {
    let mut tx = begin_role_write(store).await?;
    let inherited = sqlx::query("SELECT role_id FROM role_inherits WHERE parent_id = $1")
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(on_error)?;
    if inherited.is_some() {
        return Err(StoreError::Conflict("inherits".into()));
    }
    let done = sqlx::query("DELETE FROM roles WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(on_error)?;
    tx.commit().await.map_err(on_error)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn insert_assignment(
    store: &SqlStore,
    assignment: &Assignment,
) -> Result<(), StoreError> {
    let mut tx = store
        .backend
        .begin_write(&store.pool)
        .await
        .map_err(on_error)?;
    if let Some(account) = &assignment.account_id {
        // The membership must exist, and stay until this grant commits: a concurrent removal
        // of the member waits for it, then removes this assignment too. (SQLite's write
        // transaction is exclusive already.)
        let lock = match store.backend {
            crate::Backend::Postgres => " FOR SHARE",
            crate::Backend::Sqlite => "",
        };
        let member = sqlx::query(&format!(
            "SELECT user_id FROM memberships WHERE account_id = $1 AND user_id = $2{lock}"
        ))
        .bind(account.to_string())
        .bind(assignment.user_id.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(on_error)?;
        if member.is_none() {
            return Err(StoreError::MissingReference);
        }
    }
    sqlx::query("INSERT INTO role_assignments (user_id, role_id, account_id, scope, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(assignment.user_id.to_string())
        .bind(assignment.role_id.to_string())
        .bind(assignment.account_id.map(|a| a.to_string()))
        .bind(scope_of(assignment.account_id.as_ref()))
        .bind(assignment.created_at.millis())
        .execute(&mut *tx)
        .await
        .map_err(on_error)?;
    tx.commit().await.map_err(on_error)
}

pub(crate) async fn delete_assignment(
    store: &SqlStore,
    user: &UserId,
    role: &RoleId,
    account: Option<&AccountId>,
    keep_one: bool,
) -> Result<bool, StoreError> {
    let mut tx = store
        .backend
        .begin_write(&store.pool)
        .await
        .map_err(on_error)?;
    if keep_one {
        // Serialize concurrent revocations of this role, then count: two holders revoking
        // each other at once cannot leave none.
        store
            .backend
            .lock_key(&mut tx, "roles", "id", &role.to_string())
            .await
            .map_err(on_error)?;
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM role_assignments WHERE role_id = $1 AND scope = $2",
        )
        .bind(role.to_string())
        .bind(scope_of(account))
        .fetch_one(&mut *tx)
        .await
        .map_err(on_error)?;
        if rows::int(&row, "n")? <= 1 {
            return Err(StoreError::Conflict("role_id".into()));
        }
    }
    let done = sqlx::query(
        "DELETE FROM role_assignments WHERE user_id = $1 AND role_id = $2 AND scope = $3",
    )
    .bind(user.to_string())
    .bind(role.to_string())
    .bind(scope_of(account))
    .execute(&mut *tx)
    .await
    .map_err(on_error)?;
    tx.commit().await.map_err(on_error)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn assignments(
    pool: &AnyPool,
    user: &UserId,
) -> Result<Vec<Assignment>, StoreError> {
    let found = sqlx::query(
        "SELECT user_id, role_id, account_id, created_at FROM role_assignments WHERE user_id = $1 ORDER BY scope, role_id",
    )
    .bind(user.to_string())
    .fetch_all(pool)
    .await
    .map_err(on_error)?;
    found.iter().map(rows::assignment).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
        let mut parents: HashMap<String, Vec<String>> = HashMap::new();
        for (child, parent) in edges {
            parents
                .entry((*child).to_owned())
                .or_default()
                .push((*parent).to_owned());
        }
        parents
    }

    #[test]
    fn a_path_back_to_the_start_is_a_cycle() {
        assert!(reaches_itself(&graph(&[("a", "a")]), "a"));
        assert!(reaches_itself(&graph(&[("a", "b"), ("b", "a")]), "a"));
        assert!(reaches_itself(
            &graph(&[("a", "b"), ("b", "c"), ("c", "d"), ("d", "b"), ("c", "a")]),
            "a"
        ));
    }

    #[test]
    fn shared_ancestors_and_other_cycles_are_not_this_roles_cycle() {
        assert!(!reaches_itself(&graph(&[]), "a"));
        assert!(!reaches_itself(
            &graph(&[("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]),
            "a"
        ));
        assert!(!reaches_itself(
            &graph(&[("a", "b"), ("b", "c"), ("c", "b")]),
            "a"
        ));
    }
}
