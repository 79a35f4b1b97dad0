//! The audit log table: append-only (the store never updates or deletes a record).

use sqlx::any::AnyRow;
use sqlx::AnyPool;
use warden_core::audit::{chain, AuditRecord, Pending, GENESIS};
use warden_core::ids::AccountId;
use warden_core::store::AuditFilter;
use warden_core::StoreError;

use crate::error::on_error;
use crate::rows;
use crate::sql::{Arg, Sql};
use crate::SqlStore;

const COLUMNS: &str = "seq, id, at, actor, action, account_id, target, details, prev_hash, hash";

fn record(row: &AnyRow) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        seq: rows::int(row, "seq")?,
        id: rows::text(row, "id")?,
        at: rows::time(row, "at")?,
        actor: rows::text(row, "actor")?,
        action: rows::text(row, "action")?,
        account_id: rows::opt_parse(row, "account_id", AccountId::parse)?,
        target: rows::opt_text(row, "target")?,
        details: serde_json::from_str(&rows::text(row, "details")?)
            .map_err(|err| StoreError::Backend(format!("stored details: {err}")))?,
        prev_hash: rows::text(row, "prev_hash")?,
        hash: rows::text(row, "hash")?,
    })
}

pub(crate) async fn append(store: &SqlStore, batch: &[Pending]) -> Result<(), StoreError> {
    let mut tx = store
        .backend
        .begin_write(&store.pool)
        .await
        .map_err(on_error)?;
    // One writer at a time extends the chain: hold its head row.
    sqlx::query("INSERT INTO warden_meta (key, value) VALUES ('audit_head', '') ON CONFLICT (key) DO NOTHING")
        .execute(&mut *tx)
        .await
        .map_err(on_error)?;
    store
        .backend
        .lock_key(&mut tx, "warden_meta", "key", "audit_head")
        .await
        .map_err(on_error)?;
    let head = sqlx::query("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *tx)
        .await
        .map_err(on_error)?;
    let (last_seq, last_hash) = match head {
        Some(row) => (rows::int(&row, "seq")?, rows::text(&row, "hash")?),
        None => (0, GENESIS.to_owned()),
    };
    for r in chain(last_seq, &last_hash, batch) {
        sqlx::query(
            "INSERT INTO audit_events (seq, id, at, actor, action, account_id, target, details, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(r.seq)
        .bind(r.id.as_str())
        .bind(r.at.millis())
        .bind(r.actor.as_str())
        .bind(r.action.as_str())
        .bind(r.account_id.map(|a| a.to_string()))
        .bind(r.target.as_deref())
        .bind(r.details.to_string())
        .bind(r.prev_hash.as_str())
        .bind(r.hash.as_str())
        .execute(&mut *tx)
        .await
        .map_err(on_error)?;
    }
    tx.commit().await.map_err(on_error)
}

pub(crate) async fn list(
    pool: &AnyPool,
    f: &AuditFilter,
    after: i64,
    limit: i64,
) -> Result<Vec<AuditRecord>, StoreError> {
    let mut sql = Sql::new(&format!("SELECT {COLUMNS} FROM audit_events WHERE seq > "));
    sql.bind(Arg::Int(after));
    if let Some(actor) = &f.actor {
        sql.push(" AND actor = ").bind(Arg::Text(actor.clone()));
    }
    if let Some(action) = &f.action {
        sql.push(" AND action = ").bind(Arg::Text(action.clone()));
    }
    if let Some(account) = &f.account_id {
        sql.push(" AND account_id = ")
            .bind(Arg::Text(account.to_string()));
    }
    if let Some(from) = f.from_ms {
        sql.push(" AND at >= ").bind(Arg::Int(from));
    }
    if let Some(to) = f.to_ms {
        sql.push(" AND at < ").bind(Arg::Int(to));
    }
    sql.push(" ORDER BY seq LIMIT ").bind(Arg::Int(limit));
    let found = sql.query().fetch_all(pool).await.map_err(on_error)?;
    found.iter().map(record).collect()
}
