//! Sessions and refresh tokens. Rotation is one check-and-act step: the token is marked used
//! only `WHERE used_at IS NULL`, inside a write transaction (`BEGIN IMMEDIATE` on SQLite; on
//! PostgreSQL a concurrent `UPDATE` waits for the row and re-checks the condition), so of N
//! concurrent uses exactly one succeeds.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool};
use warden_core::ids::{AccountId, SessionId, UserId};
use warden_core::model::{RefreshToken, Session, Status};
use warden_core::page::PageRequest;
use warden_core::store::NewLogin;
use warden_core::time::Timestamp;
use warden_core::StoreError;

use crate::backend::Backend;
use crate::error::on_error;
use crate::rows;
use crate::sql::{Arg, Sql};
use crate::SqlStore;

const SESSION_COLUMNS: &str =
    "id, user_id, account_id, client_id, created_at, ended_at, expires_at, scope, parent_id, amr, oidc_scope";

fn session(row: &AnyRow) -> Result<Session, StoreError> {
    Ok(Session {
        id: rows::parse(row, "id", SessionId::parse)?,
        user_id: rows::parse(row, "user_id", UserId::parse)?,
        account_id: rows::opt_parse(row, "account_id", AccountId::parse)?,
        client_id: rows::text(row, "client_id")?,
        created_at: rows::time(row, "created_at")?,
        ended_at: rows::opt_time(row, "ended_at")?,
        expires_at: rows::opt_time(row, "expires_at")?,
        scope: rows::opt_text(row, "scope")?,
        parent_id: rows::opt_parse(row, "parent_id", SessionId::parse)?,
        amr: rows::opt_text(row, "amr")?,
        oidc_scope: rows::opt_text(row, "oidc_scope")?,
    })
}

async fn insert_on(conn: &mut AnyConnection, s: &Session) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sessions (id, user_id, account_id, client_id, created_at, ended_at, expires_at, scope, parent_id, amr, oidc_scope)
         VALUES ($1, $2, $3, $4, $5, NULL, $6, $7, $8, $9, $10)",
    )
    .bind(s.id.to_string())
    .bind(s.user_id.to_string())
    .bind(s.account_id.map(|a| a.to_string()))
    .bind(s.client_id.as_str())
    .bind(s.created_at.millis())
    .bind(s.expires_at.map(Timestamp::millis))
    .bind(s.scope.as_deref())
    .bind(s.parent_id.map(|p| p.to_string()))
    .bind(s.amr.as_deref())
    .bind(s.oidc_scope.as_deref())
    .execute(conn)
    .await
    .map_err(on_error)?;
    Ok(())
}

/// The login's checks and writes in one transaction. The user row is locked first (a password
/// change or a disable updates it, so it waits for this login or this login sees its result),
/// then the account and membership rows are shared (disabling the account or removing the
/// member waits, and then ends the session this login opened).
pub(crate) async fn open_login(store: &SqlStore, login: &NewLogin<'_>) -> Result<bool, StoreError> {
    let session = login.session;
    let user = session.user_id.to_string();
    let mut tx = store
        .backend
        .begin_write(&store.pool)
        .await
        .map_err(on_error)?;
    let backend = store.backend;
    backend
        .lock_key(&mut tx, "users", "id", &user)
        .await
        .map_err(on_error)?;
    let current = sqlx::query("SELECT status, password_hash FROM users WHERE id = $1")
        .bind(&user)
        .fetch_optional(&mut *tx)
        .await
        .map_err(on_error)?;
    let unchanged = match &current {
        Some(row) => {
            rows::text(row, "status")? == Status::Active.as_str()
                && rows::opt_text(row, "password_hash")?.as_deref() == Some(login.password_hash)
        }
        None => false,
    };
    if !unchanged {
        return Ok(false);
    }
    if let Some(account) = &session.account_id {
        let account = account.to_string();
        backend
            .share_key(&mut tx, "accounts", "id", &account)
            .await
            .map_err(on_error)?;
        let active = sqlx::query("SELECT status FROM accounts WHERE id = $1")
            .bind(&account)
            .fetch_optional(&mut *tx)
            .await
            .map_err(on_error)?
            .map(|row| rows::text(&row, "status"))
            .transpose()?
            .is_some_and(|status| status == Status::Active.as_str());
        if !active {
            return Ok(false);
        }
        if login.member {
            let member = match backend {
                Backend::Sqlite => "SELECT 1 AS one FROM memberships WHERE account_id = $1 AND user_id = $2",
                Backend::Postgres => "SELECT 1 AS one FROM memberships WHERE account_id = $1 AND user_id = $2 FOR SHARE",
            };
            let found = sqlx::query(member)
                .bind(&account)
                .bind(&user)
                .fetch_optional(&mut *tx)
                .await
                .map_err(on_error)?;
            if found.is_none() {
                return Ok(false);
            }
        }
    }
    if let Some(parent) = &session.parent_id {
        // Opened from a browser session: only while it lives. Ending it (logout) waits for
        // this login or is seen by it, and then ends this session too.
        let parent = parent.to_string();
        backend
            .share_key(&mut tx, "sessions", "id", &parent)
            .await
            .map_err(on_error)?;
        let live = sqlx::query(
            "SELECT id FROM sessions WHERE id = $1 AND user_id = $2 AND ended_at IS NULL AND (expires_at IS NULL OR expires_at > $3)",
        )
        .bind(&parent)
        .bind(&user)
        .bind(session.created_at.millis())
        .fetch_optional(&mut *tx)
        .await
        .map_err(on_error)?;
        if live.is_none() {
            return Ok(false);
        }
    }
    insert_on(&mut tx, session).await?;
    if let Some(refresh) = login.refresh {
        insert_refresh_on(&mut tx, refresh).await?;
    }
    sqlx::query("UPDATE users SET last_login_at = $2 WHERE id = $1")
        .bind(&user)
        .bind(session.created_at.millis())
        .execute(&mut *tx)
        .await
        .map_err(on_error)?;
    tx.commit().await.map_err(on_error)?;
    Ok(true)
}

pub(crate) async fn by_id(pool: &AnyPool, id: &SessionId) -> Result<Option<Session>, StoreError> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id.to_string())
        .fetch_optional(pool)
        .await
        .map_err(on_error)?;
    row.as_ref().map(session).transpose()
}

pub(crate) async fn active(pool: &AnyPool, user: &UserId) -> Result<Vec<Session>, StoreError> {
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1 AND ended_at IS NULL
         AND (expires_at IS NULL OR expires_at > $2) ORDER BY id DESC"
    );
    let found = sqlx::query(&sql)
        .bind(user.to_string())
        .bind(Timestamp::now().millis())
        .fetch_all(pool)
        .await
        .map_err(on_error)?;
    found.iter().map(session).collect()
}

/// A page of a user's live sessions, newest first; with `account`, only those in it.
pub(crate) async fn active_page(
    pool: &AnyPool,
    user: &UserId,
    account: Option<&AccountId>,
    page: &PageRequest,
) -> Result<Vec<Session>, StoreError> {
    let mut sql = Sql::new(&format!(
        "SELECT {SESSION_COLUMNS} FROM sessions WHERE ended_at IS NULL AND user_id = "
    ));
    sql.bind(Arg::Text(user.to_string()))
        .push(" AND (expires_at IS NULL OR expires_at > ")
        .bind(Arg::Int(Timestamp::now().millis()))
        .push(")");
    if let Some(account) = account {
        sql.push(" AND account_id = ")
            .bind(Arg::Text(account.to_string()));
    }
    if let Some(after) = &page.after {
        sql.push(" AND id < ").bind(Arg::Text(after.clone()));
    }
    sql.push(" ORDER BY id DESC LIMIT ")
        .bind(Arg::Int(page.fetch()));
    let found = sql.query().fetch_all(pool).await.map_err(on_error)?;
    found.iter().map(session).collect()
}

/// Ends the live sessions of `user` beyond its newest `keep`, oldest first, in one write
/// transaction that holds the user's row: concurrent calls for one user queue, and each sees
/// every session opened before it started, so once all have run at most `keep` remain.
pub(crate) async fn end_oldest(
    store: &SqlStore,
    user: &UserId,
    keep: u32,
    at: Timestamp,
) -> Result<Vec<Session>, StoreError> {
    let mut tx = store
        .backend
        .begin_write(&store.pool)
        .await
        .map_err(on_error)?;
    store
        .backend
        .lock_key(&mut tx, "users", "id", &user.to_string())
        .await
        .map_err(on_error)?;
    let live = "user_id = $2 AND ended_at IS NULL AND (expires_at IS NULL OR expires_at > $1)";
    let sql = format!(
        "UPDATE sessions SET ended_at = $1 WHERE {live} AND id NOT IN
         (SELECT id FROM sessions WHERE {live} ORDER BY created_at DESC, id DESC LIMIT $3)
         RETURNING {SESSION_COLUMNS}"
    );
    let ended = sqlx::query(&sql)
        .bind(at.millis())
        .bind(user.to_string())
        .bind(i64::from(keep))
        .fetch_all(&mut *tx)
        .await
        .map_err(on_error)?;
    tx.commit().await.map_err(on_error)?;
    let mut ended = ended.iter().map(session).collect::<Result<Vec<_>, _>>()?;
    ended.sort_by_key(|s| (s.created_at, s.id));
    Ok(ended)
}

pub(crate) async fn end(pool: &AnyPool, id: &SessionId, at: Timestamp) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE sessions SET ended_at = $2 WHERE id = $1 AND ended_at IS NULL")
        .bind(id.to_string())
        .bind(at.millis())
        .execute(pool)
        .await
        .map_err(on_error)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn end_of_client(
    pool: &AnyPool,
    client_id: &str,
    at: Timestamp,
) -> Result<u64, StoreError> {
    let done =
        sqlx::query("UPDATE sessions SET ended_at = $2 WHERE client_id = $1 AND ended_at IS NULL")
            .bind(client_id)
            .bind(at.millis())
            .execute(pool)
            .await
            .map_err(on_error)?;
    Ok(done.rows_affected())
}

pub(crate) async fn adopt(
    pool: &AnyPool,
    from: &SessionId,
    to: &SessionId,
) -> Result<u64, StoreError> {
    let done =
        sqlx::query("UPDATE sessions SET parent_id = $2 WHERE parent_id = $1 AND ended_at IS NULL")
            .bind(from.to_string())
            .bind(to.to_string())
            .execute(pool)
            .await
            .map_err(on_error)?;
    Ok(done.rows_affected())
}

pub(crate) async fn end_all(
    pool: &AnyPool,
    user: &UserId,
    keep: Option<&SessionId>,
    at: Timestamp,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE sessions SET ended_at = $2 WHERE user_id = $1 AND ended_at IS NULL AND id <> $3",
    )
    .bind(user.to_string())
    .bind(at.millis())
    .bind(keep.map(SessionId::to_string).unwrap_or_default())
    .execute(pool)
    .await
    .map_err(on_error)?;
    Ok(done.rows_affected())
}

pub(crate) async fn ended(
    pool: &AnyPool,
    since_ms: i64,
    until_ms: i64,
    after: Option<(i64, String)>,
    limit: i64,
    account: Option<&AccountId>,
) -> Result<Vec<(SessionId, Timestamp)>, StoreError> {
    let (after_ms, after_id) = after.unwrap_or((i64::MIN, String::new()));
    let mut sql =
        Sql::new("SELECT id, ended_at FROM sessions WHERE ended_at IS NOT NULL AND ended_at >= ");
    sql.bind(Arg::Int(since_ms))
        .push(" AND ended_at <= ")
        .bind(Arg::Int(until_ms))
        .push(" AND (ended_at > ")
        .bind(Arg::Int(after_ms))
        .push(" OR (ended_at = ")
        .bind(Arg::Int(after_ms))
        .push(" AND id > ")
        .bind(Arg::Text(after_id))
        .push("))");
    if let Some(account) = account {
        sql.push(" AND account_id = ")
            .bind(Arg::Text(account.to_string()));
    }
    sql.push(" ORDER BY ended_at, id LIMIT ")
        .bind(Arg::Int(limit));
    let found = sql.query().fetch_all(pool).await.map_err(on_error)?;
    found
        .iter()
        .map(|row| {
            Ok((
                rows::parse(row, "id", SessionId::parse)?,
                rows::time(row, "ended_at")?,
            ))
        })
        .collect()
}

const REFRESH_COLUMNS: &str =
    "id, session_id, token_hash, client_id, created_at, expires_at, used_at, successor_sealed";

fn refresh(row: &AnyRow) -> Result<RefreshToken, StoreError> {
    Ok(RefreshToken {
        id: rows::text(row, "id")?,
        session_id: rows::parse(row, "session_id", SessionId::parse)?,
        token_hash: rows::text(row, "token_hash")?,
        client_id: rows::text(row, "client_id")?,
        created_at: rows::time(row, "created_at")?,
        expires_at: rows::time(row, "expires_at")?,
        used_at: rows::opt_time(row, "used_at")?,
        successor_sealed: rows::opt_text(row, "successor_sealed")?,
    })
}

async fn insert_refresh_on(conn: &mut AnyConnection, t: &RefreshToken) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO refresh_tokens (id, session_id, token_hash, client_id, created_at, expires_at, used_at, successor_sealed)
         VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL)",
    )
    .bind(t.id.as_str())
    .bind(t.session_id.to_string())
    .bind(t.token_hash.as_str())
    .bind(t.client_id.as_str())
    .bind(t.created_at.millis())
    .bind(t.expires_at.millis())
    .execute(conn)
    .await
    .map_err(on_error)?;
    Ok(())
}

pub(crate) async fn refresh_by_hash(
    pool: &AnyPool,
    hash: &str,
) -> Result<Option<RefreshToken>, StoreError> {
    let sql = format!("SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE token_hash = $1");
    let row = sqlx::query(&sql)
        .bind(hash)
        .fetch_optional(pool)
        .await
        .map_err(on_error)?;
    row.as_ref().map(refresh).transpose()
}

pub(crate) async fn rotate(
    store: &SqlStore,
    used: &RefreshToken,
    at: Timestamp,
    successor_sealed: &str,
    successor: &RefreshToken,
) -> Result<bool, StoreError> {
    let mut tx = store
        .backend
        .begin_write(&store.pool)
        .await
        .map_err(on_error)?;
    // The session must still be live when the token is used: ending it (logout, a password
    // change, a disabled account) waits for this rotation or is seen by it.
    let session = used.session_id.to_string();
    store
        .backend
        .share_key(&mut tx, "sessions", "id", &session)
        .await
        .map_err(on_error)?;
    let live = sqlx::query("SELECT id FROM sessions WHERE id = $1 AND ended_at IS NULL")
        .bind(&session)
        .fetch_optional(&mut *tx)
        .await
        .map_err(on_error)?;
    if live.is_none() {
        return Ok(false);
    }
    let done = sqlx::query("UPDATE refresh_tokens SET used_at = $2, successor_sealed = $3 WHERE id = $1 AND used_at IS NULL")
        .bind(used.id.as_str())
        .bind(at.millis())
        .bind(successor_sealed)
        .execute(&mut *tx)
        .await
        .map_err(on_error)?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    insert_refresh_on(&mut tx, successor).await?;
    tx.commit().await.map_err(on_error)?;
    Ok(true)
}
