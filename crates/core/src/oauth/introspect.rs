//! RFC 7662 introspection: what a live token is, and `{"active": false}` for anything that is
//! not active — expired, revoked, of an ended session or a disabled subject, malformed or
//! unknown — with no reason given.

use serde_json::{json, Value};

use crate::crypto::sha256_b64;
use crate::error::DomainError;
use crate::ids::{AccountId, SessionId, UserId};
use crate::model::Status;
use crate::oauth::refresh::session_is_live;
use crate::services::Services;
use crate::time::Timestamp;

fn inactive() -> Value {
    json!({ "active": false })
}

/// Introspects an access token (JWT) or a refresh token (opaque) for `caller`. A client of one
/// account learns nothing about another account's tokens.
pub async fn introspect(
    services: &Services,
    caller: &crate::model::Client,
    token: &str,
) -> Result<Value, DomainError> {
    if token.is_empty() || token.len() > crate::tokens::MAX_TOKEN_BYTES {
        return Ok(inactive());
    }
    let answer = if token.contains('.') {
        access(services, token).await?
    } else {
        refresh(services, token).await?
    };
    if let Some(mine) = caller.account_id {
        if answer.get("acct").and_then(Value::as_str) != Some(mine.to_string().as_str()) {
            return Ok(inactive());
        }
    }
    Ok(answer)
}

async fn access(services: &Services, token: &str) -> Result<Value, DomainError> {
    let Ok(claims) = services.tokens.verify(token) else {
        return Ok(inactive());
    };
    // A token of an account that is disabled, or was disabled after the token was issued, is
    // not active (a client's own token has no session that ended with the account).
    if let Some(account) = &claims.acct {
        if !account_accepts(services, account, claims.iat).await? {
            return Ok(inactive());
        }
    }
    let live = match claims.sub.strip_prefix("client:") {
        Some(client_id) => services
            .store
            .client_by_client_id(client_id)
            .await?
            .is_some_and(|c| c.client.status == Status::Active),
        None => match (UserId::parse(&claims.sub), SessionId::parse(&claims.sid)) {
            (Ok(user), Ok(session)) => {
                let active = services
                    .store
                    .user(&user)
                    .await?
                    .is_some_and(|u| u.user.status == Status::Active);
                active && session_is_live(services, &session, &user).await?
            }
            _ => false,
        },
    };
    if !live {
        return Ok(inactive());
    }
    let mut answer =
        serde_json::to_value(&claims).map_err(|err| DomainError::Internal(err.to_string()))?;
    if let Some(map) = answer.as_object_mut() {
        map.insert("active".into(), Value::Bool(true));
        map.insert("token_type".into(), Value::String("Bearer".into()));
    }
    Ok(answer)
}

/// Whether the account a token was issued in (by its id text) is active and has not been
/// disabled since `issued_at` (seconds).
async fn account_accepts(
    services: &Services,
    account: &str,
    issued_at: i64,
) -> Result<bool, DomainError> {
    let Ok(id) = AccountId::parse(account) else {
        return Ok(false);
    };
    Ok(services
        .store
        .account(&id)
        .await?
        .is_some_and(|a| a.accepts_token_issued_at(issued_at)))
}

async fn refresh(services: &Services, token: &str) -> Result<Value, DomainError> {
    let Some(record) = services
        .store
        .refresh_by_hash(&sha256_b64(token.as_bytes()))
        .await?
    else {
        return Ok(inactive());
    };
    let Some(session) = services.store.session(&record.session_id).await? else {
        return Ok(inactive());
    };
    let now = Timestamp::now();
    let user_active = services
        .store
        .user(&session.user_id)
        .await?
        .is_some_and(|u| u.user.status == Status::Active);
    let account_active = match &session.account_id {
        Some(account) => {
            account_accepts(services, &account.to_string(), record.created_at.seconds()).await?
        }
        None => true,
    };
    let live = record.used_at.is_none()
        && record.expires_at > now
        && account_active
        && user_active
        && session_is_live(services, &session.id, &session.user_id).await?;
    if !live {
        return Ok(inactive());
    }
    Ok(json!({
        "active": true,
        "token_type": "refresh_token",
        "acct": session.account_id,
        "client_id": record.client_id,
        "sub": session.user_id,
        "sid": session.id,
        "iat": record.created_at.seconds(),
        "exp": record.expires_at.seconds(),
        "iss": services.tokens.issuer(),
    }))
}
