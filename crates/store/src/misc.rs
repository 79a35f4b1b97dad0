//! Metadata, first-start initialization, signing keys and sessions.

use sqlx::AnyPool;
use warden_core::store::Bootstrap;
use warden_core::time::Timestamp;
use warden_core::tokens::{KeyRecord, SigningAlgorithm};
use warden_core::StoreError;

use crate::error::on_error;
use crate::rows::{self, scope_of};
use crate::SqlStore;

pub(crate) async fn ping(pool: &AnyPool) -> Result<(), StoreError> {
    sqlx::query("SELECT 1")
        .execute(pool)
        .await
        .map_err(on_error)?;
    Ok(())
}

pub(crate) async fn meta(pool: &AnyPool, key: &str) -> Result<Option<String>, StoreError> {
    let row = sqlx::query("SELECT value FROM warden_meta WHERE key = $1")
        .bind(key)
        .fetch_optional(pool)
        .await
        .map_err(on_error)?;
    row.as_ref().map(|r| rows::text(r, "value")).transpose()
}

/// Writes the bootstrap in one transaction. The `initialized` marker goes first: a second
/// node racing on PostgreSQL blocks on it and then sees the conflict, so only one wins.
pub(crate) async fn initialize(store: &SqlStore, b: &Bootstrap) -> Result<bool, StoreError> {
    let mut tx = store
        .backend
        .begin_write(&store.pool)
        .await
        .map_err(on_error)?;
    let marker = sqlx::query("INSERT INTO warden_meta (key, value) VALUES ('initialized', $1)")
        .bind(b.admin.user.created_at.millis().to_string())
        .execute(&mut *tx)
        .await;
    match marker {
        Ok(_) => {}
        Err(err) => {
            return match on_error(err) {
                StoreError::Conflict(_) => Ok(false),
                other => Err(other),
            }
        }
    }
    sqlx::query("INSERT INTO warden_meta (key, value) VALUES ('master_key_check', $1)")
        .bind(b.master_key_check.as_str())
        .execute(&mut *tx)
        .await
        .map_err(on_error)?;
    for role in &b.roles {
        sqlx::query(
            "INSERT INTO roles (id, account_id, scope, name, description, permissions, builtin, created_at, updated_at)
             VALUES ($1, NULL, '', $2, $3, $4, 1, $5, $5)",
        )
        .bind(role.id.to_string())
        .bind(role.name.as_str())
        .bind(role.description.as_str())
        .bind(serde_json::to_string(&role.permissions).unwrap_or_else(|_| "[]".into()))
        .bind(role.created_at.millis())
        .execute(&mut *tx)
        .await
        .map_err(on_error)?;
    }
    let user = &b.admin.user;
    sqlx::query(
        "INSERT INTO users (id, email, display_name, status, attributes, password_hash, created_at, updated_at)
         VALUES ($1, $2, $3, $4, '{}', $5, $6, $6)",
    )
    .bind(user.id.to_string())
    .bind(user.email.as_str())
    .bind(user.display_name.as_str())
    .bind(user.status.as_str())
    .bind(b.admin.password_hash.as_deref())
    .bind(user.created_at.millis())
    .execute(&mut *tx)
    .await
    .map_err(on_error)?;
    sqlx::query("INSERT INTO role_assignments (user_id, role_id, account_id, scope, created_at) VALUES ($1, $2, NULL, $3, $4)")
        .bind(b.admin_role.user_id.to_string())
        .bind(b.admin_role.role_id.to_string())
        .bind(scope_of(None))
        .bind(b.admin_role.created_at.millis())
        .execute(&mut *tx)
        .await
        .map_err(on_error)?;
    let key = &b.key;
    sqlx::query(
        "INSERT INTO signing_keys (kid, alg, private_sealed, public_jwk, created_at, activate_at, retire_at) VALUES ($1, $2, $3, $4, $5, $6, NULL)",
    )
    .bind(key.kid.as_str())
    .bind(key.alg.as_str())
    .bind(key.private_sealed.as_str())
    .bind(key.public_jwk.as_str())
    .bind(key.created_at.millis())
    .bind(key.activate_at.millis())
    .execute(&mut *tx)
    .await
    .map_err(on_error)?;
    tx.commit().await.map_err(on_error)?;
    Ok(true)
}

pub(crate) async fn keys(pool: &AnyPool) -> Result<Vec<KeyRecord>, StoreError> {
    let found = sqlx::query("SELECT kid, alg, private_sealed, public_jwk, created_at, activate_at, retire_at FROM signing_keys ORDER BY created_at")
        .fetch_all(pool)
        .await
        .map_err(on_error)?;
    found
        .iter()
        .map(|row| {
            Ok(KeyRecord {
                kid: rows::text(row, "kid")?,
                alg: rows::parse(row, "alg", SigningAlgorithm::parse)?,
                private_sealed: rows::text(row, "private_sealed")?,
                public_jwk: rows::text(row, "public_jwk")?,
                created_at: rows::time(row, "created_at")?,
                activate_at: rows::time(row, "activate_at")?,
                retire_at: rows::opt_time(row, "retire_at")?,
            })
        })
        .collect()
}

pub(crate) async fn rotate_keys(
    store: &SqlStore,
    next: &KeyRecord,
    retire_at: Timestamp,
) -> Result<(), StoreError> {
    let mut tx = store
        .backend
        .begin_write(&store.pool)
        .await
        .map_err(on_error)?;
    sqlx::query("UPDATE signing_keys SET retire_at = $1 WHERE retire_at IS NULL")
        .bind(retire_at.millis())
        .execute(&mut *tx)
        .await
        .map_err(on_error)?;
    sqlx::query(
        "INSERT INTO signing_keys (kid, alg, private_sealed, public_jwk, created_at, activate_at, retire_at) VALUES ($1, $2, $3, $4, $5, $6, NULL)",
    )
    .bind(next.kid.as_str())
    .bind(next.alg.as_str())
    .bind(next.private_sealed.as_str())
    .bind(next.public_jwk.as_str())
    .bind(next.created_at.millis())
    .bind(next.activate_at.millis())
    .execute(&mut *tx)
    .await
    .map_err(on_error)?;
    tx.commit().await.map_err(on_error)
}
