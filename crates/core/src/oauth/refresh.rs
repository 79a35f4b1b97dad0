//! The refresh grant and revocation: refresh tokens rotate on every use; reusing a rotated one
//! revokes the whole session (every refresh and access token of it), except for an identical
//! retry inside the optional grace window, which gets the same successor.

use crate::crypto::sha256_b64;
use crate::error::DomainError;
use crate::ids::{SessionId, UserId};
use crate::model::{RefreshToken, Session};
use crate::oauth::{issue, narrow, new_refresh_token, GrantError, IssuedToken};
use crate::services::Services;
use crate::time::Timestamp;

const INVALID: &str = "the refresh token is invalid, expired or revoked";

fn invalid() -> GrantError {
    GrantError::InvalidGrant(INVALID.into())
}

fn successor_context(token: &RefreshToken) -> String {
    format!("refresh-successor:{}", token.id)
}

/// Exchanges a refresh token for a new access token and a new refresh token.
pub async fn refresh_grant(
    services: &Services,
    value: &str,
    client: &crate::authn::client::ClientIdentity,
    scope: Option<&str>,
    ip: std::net::IpAddr,
) -> Result<IssuedToken, GrantError> {
    client.require_grant("refresh_token")?;
    // OpenID Connect scopes sent again with a refresh (as relying parties do) narrow nothing:
    // only role names do.
    let roles_asked = scope.map(super::authorize::without_oidc_scopes);
    let scope = roles_asked.as_deref().filter(|s| !s.is_empty());
    let client_id = client.client_id();
    if value.is_empty() || value.len() > 512 {
        return Err(if value.is_empty() {
            GrantError::InvalidRequest("`refresh_token` is required".into())
        } else {
            invalid()
        });
    }
    let store = services.store.as_ref();
    let now = Timestamp::now();
    let token = store
        .refresh_by_hash(&sha256_b64(value.as_bytes()))
        .await
        .map_err(DomainError::from)?
        .ok_or_else(invalid)?;
    if token.client_id != client_id {
        return Err(invalid());
    }
    let session = store
        .session(&token.session_id)
        .await
        .map_err(DomainError::from)?
        .ok_or_else(invalid)?;
    if session.ended_at.is_some() {
        return Err(invalid());
    }
    if token.used_at.is_some() {
        return retry_or_reuse(services, &token, &session, now, scope).await;
    }
    if token.expires_at <= now || session.expires_at.is_some_and(|end| end <= now) {
        return Err(invalid());
    }
    if let Some(account) = &session.account_id {
        // The account's allow-list applies to every token issued in it; the refresh token
        // stays unused.
        let found = store.account(account).await.map_err(DomainError::from)?;
        if found.is_some_and(|a| !crate::net::allowed(&a.allowed_ips, ip)) {
            return Err(GrantError::InvalidGrant(
                crate::oauth::ADDRESS_REFUSED.into(),
            ));
        }
    }
    // Everything the answer depends on is checked before the token is used up.
    let plan = plan_access(services, &session, scope).await?;
    let (successor_value, successor) = new_refresh_token(services, &session, now);
    let sealed = services
        .sealer
        .seal(&successor_context(&token), successor_value.as_bytes())?;
    if !store
        .rotate_refresh(&token, now, &sealed, &successor)
        .await
        .map_err(DomainError::from)?
    {
        // Another request rotated it between our read and our write: the same as a reuse.
        let used = store
            .refresh_by_hash(&token.token_hash)
            .await
            .map_err(DomainError::from)?
            .ok_or_else(invalid)?;
        if used.used_at.is_none() {
            // Not used by another request: the session ended meanwhile.
            return Err(invalid());
        }
        return retry_or_reuse(services, &used, &session, now, scope).await;
    }
    let mut issued = sign(services, &session, plan, now)?;
    issued.refresh_token = Some(successor_value);
    let event = crate::audit::Event {
        actor: format!("user:{}", session.user_id),
        action: "token.refreshed",
        account: session.account_id,
        target: Some(format!("session:{}", session.id)),
        details: serde_json::json!({ "client_id": client_id }),
    };
    crate::audit::record_durably(services, event).await;
    Ok(issued)
}

/// A rotated token came back: inside the grace window and while its successor is unused, the
/// same successor is returned; otherwise the session is revoked.
async fn retry_or_reuse(
    services: &Services,
    used: &RefreshToken,
    session: &Session,
    now: Timestamp,
    scope: Option<&str>,
) -> Result<IssuedToken, GrantError> {
    let grace = services.settings.refresh_grace;
    let in_window = grace > 0 && used.used_at.is_some_and(|at| now <= at.plus_seconds(grace));
    if in_window {
        if let Some(sealed) = &used.successor_sealed {
            let value = String::from_utf8(services.sealer.open(&successor_context(used), sealed)?)
                .map_err(|_| DomainError::Internal("sealed successor is not text".into()))?;
            let successor = services
                .store
                .refresh_by_hash(&sha256_b64(value.as_bytes()))
                .await
                .map_err(DomainError::from)?;
            // The session may have ended since the first use: a retry answers only while it lives.
            let live = session_is_live(services, &session.id, &session.user_id).await?;
            if live && successor.is_some_and(|s| s.used_at.is_none()) {
                let mut issued = access_for(services, session, now, scope).await?;
                issued.refresh_token = Some(value);
                return Ok(issued);
            }
        }
    }
    services
        .store
        .end_session(&session.id, now)
        .await
        .map_err(DomainError::from)?;
    // The stolen session's access tokens stop working on this node before the answer leaves.
    services
        .engine
        .catch_up(services.store.as_ref())
        .await
        .map_err(DomainError::from)?;
    tracing::warn!(session = %session.id, user = %session.user_id, "refresh token reuse detected: session revoked");
    let event = crate::audit::Event {
        actor: format!("user:{}", session.user_id),
        action: "token.reuse_detected",
        account: session.account_id,
        target: Some(format!("session:{}", session.id)),
        details: serde_json::json!({ "refresh_token_sha256": used.token_hash, "session_revoked": true }),
    };
    crate::audit::record_durably(services, event).await;
    Err(invalid())
}

/// A fresh access token for the session's user, with their current roles.
async fn access_for(
    services: &Services,
    session: &Session,
    now: Timestamp,
    scope: Option<&str>,
) -> Result<IssuedToken, GrantError> {
    let plan = plan_access(services, session, scope).await?;
    sign(services, session, plan, now)
}

/// What a refresh will issue: checked in full (user active, account active and still
/// entered, scope within the session's) before anything is rotated, so a refused request
/// changes nothing.
struct Plan {
    roles: Vec<String>,
    scope: Option<String>,
}

async fn plan_access(
    services: &Services,
    session: &Session,
    scope: Option<&str>,
) -> Result<Plan, GrantError> {
    let account = session.account_id;
    let snapshot = known_snapshot(services, &session.user_id).await?;
    let held = snapshot
        .role_names_of(&session.user_id, account.as_ref())
        .ok_or_else(invalid)?;
    if let Some(account) = &account {
        // Still a member (or a global operator entitled to every account) of a still-active
        // account.
        let active = snapshot.accounts.get(account).is_some_and(|a| a.active);
        let member = snapshot.may_enter_any(&session.user_id)
            || services
                .store
                .memberships(&session.user_id)
                .await
                .map_err(DomainError::from)?
                .contains(account);
        if !active || !member {
            return Err(invalid());
        }
    }
    let expand = |names: &[&str]| snapshot.roles.names_reached(names, account.as_ref());
    let (roles, scope) = narrow(held, session.scope.as_deref(), scope, expand)?;
    Ok(Plan { roles, scope })
}

/// The snapshot, brought up to date first when it does not know `user` yet (a login made a
/// moment ago on a node this one has not heard from).
async fn known_snapshot(
    services: &Services,
    user: &UserId,
) -> Result<std::sync::Arc<crate::authz::engine::Snapshot>, GrantError> {
    let snapshot = services.engine.snapshot();
    if snapshot.users.get(user).is_some() {
        return Ok(snapshot);
    }
    services
        .engine
        .catch_up(services.store.as_ref())
        .await
        .map_err(DomainError::from)?;
    Ok(services.engine.snapshot())
}

fn sign(
    services: &Services,
    session: &Session,
    plan: Plan,
    now: Timestamp,
) -> Result<IssuedToken, GrantError> {
    let mut issued = issue(
        services,
        session.user_id.to_string(),
        session.client_id.clone(),
        session.id,
        session.account_id,
        plan.roles,
        plan.scope,
        now,
        session.expires_at,
    )?;
    if let Some(oidc) = &session.oidc_scope {
        issued.scope = Some(super::authorize::granted_scope(
            oidc,
            issued.scope.as_deref(),
        ));
    }
    Ok(issued)
}

/// RFC 7009 revocation: a refresh token or an access token ends its whole session, but only
/// when it was issued to the requesting client (§2.1). Unknown, invalid or foreign tokens are
/// ignored, as the RFC asks, so the answer reveals nothing. `Ok(false)`: a service client's own
/// access token, which belongs to no session and cannot be revoked.
pub async fn revoke(
    services: &Services,
    client: &crate::authn::client::ClientIdentity,
    token: &str,
) -> Result<bool, DomainError> {
    if token.is_empty() || token.len() > crate::tokens::MAX_TOKEN_BYTES {
        return Ok(true);
    }
    let now = Timestamp::now();
    let session = if token.contains('.') {
        match services.tokens.verify(token) {
            Ok(claims) if claims.client_id == client.client_id() => {
                if claims.sub.starts_with("client:") {
                    return Ok(false);
                }
                SessionId::parse(&claims.sid).ok()
            }
            _ => None,
        }
    } else {
        services
            .store
            .refresh_by_hash(&sha256_b64(token.as_bytes()))
            .await?
            .filter(|t| t.client_id == client.client_id())
            .map(|t| t.session_id)
    };
    if let Some(session) = session {
        if services.store.end_session(&session, now).await? {
            let event = crate::audit::Event {
                actor: format!("client:{}", client.client_id()),
                action: "session.revoked",
                account: None,
                target: Some(format!("session:{session}")),
                details: serde_json::json!({}),
            };
            crate::audit::record_durably(services, event).await;
        }
    }
    Ok(true)
}

/// Whether a session exists, belongs to `user` and has not ended.
pub async fn session_is_live(
    services: &Services,
    session: &SessionId,
    user: &UserId,
) -> Result<bool, DomainError> {
    let now = Timestamp::now();
    Ok(services.store.session(session).await?.is_some_and(|s| {
        s.user_id == *user && s.ended_at.is_none() && s.expires_at.is_none_or(|end| end > now)
    }))
}
