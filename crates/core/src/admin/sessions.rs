//! Login sessions: users list and end their own; administrators list and end a user's. A user
//! holds at most `max_sessions_per_user` live sessions: opening one past it ends the oldest.

use serde::Serialize;

use super::visible_user;
use crate::authz::permission::builtin as p;
use crate::authz::{Access, Caller, Reach};
use crate::error::DomainError;
use crate::ids::{SessionId, UserId};
use crate::model::Session;
use crate::page::{Page, PageRequest};
use crate::services::Services;
use crate::time::Timestamp;

/// A session as its owner or an administrator sees it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionInfo {
    /// The session.
    #[serde(flatten)]
    pub session: Session,
    /// Whether the caller's own token belongs to it.
    pub current: bool,
}

/// A page of `user`'s live sessions (only those in `account`, when set), newest first.
async fn page(
    services: &Services,
    user: &UserId,
    account: Option<&crate::ids::AccountId>,
    request: &PageRequest,
    current: Option<&SessionId>,
) -> Result<Page<SessionInfo>, DomainError> {
    let rows = services
        .store
        .active_sessions_page(user, account, request)
        .await?;
    Ok(
        Page::from_rows(rows, request, |s| s.id.to_string()).map(|session| SessionInfo {
            current: Some(&session.id) == current,
            session,
        }),
    )
}

/// A page of the caller's live sessions, newest first.
pub async fn list_mine(
    services: &Services,
    caller: &Caller,
    request: PageRequest,
) -> Result<Page<SessionInfo>, DomainError> {
    crate::authz::require_login(caller)?;
    page(
        services,
        &caller.user_id,
        None,
        &request,
        Some(&caller.session_id),
    )
    .await
}

/// Holds `user` to `max_sessions_per_user` live sessions: ends the oldest beyond it and
/// audits each as `session.evicted`. Every path that opens a session calls this right after;
/// concurrent calls for one user queue in the store, so once they have all returned no more
/// than the limit remain. Returns the sessions ended.
pub async fn enforce_session_limit(
    services: &Services,
    user: &UserId,
) -> Result<Vec<SessionId>, DomainError> {
    let limit = services.settings.max_sessions_per_user;
    // The server holds its own limit: the system's proof.
    let granted = Access::System.require(p::SESSIONS_DELETE, None)?;
    let ended = granted
        .store(services)
        .end_oldest_sessions(user, limit, Timestamp::now())
        .await?;
    for session in &ended {
        crate::audit::note_durably(
            services,
            "system".into(),
            "session.evicted",
            session.account_id,
            format!("session:{}", session.id),
            serde_json::json!({ "user_id": user, "reason": "session limit", "limit": limit }),
        )
        .await;
    }
    Ok(ended.into_iter().map(|s| s.id).collect())
}

/// Ends one of the caller's sessions (the current one included: that is a logout).
pub async fn end_mine(
    services: &Services,
    caller: &Caller,
    id: &SessionId,
) -> Result<(), DomainError> {
    let granted = crate::authz::require_login(caller)?;
    let own = services
        .store
        .session(id)
        .await?
        .is_some_and(|s| s.user_id == caller.user_id && s.ended_at.is_none());
    if !own {
        return Err(DomainError::NotFound("session"));
    }
    granted
        .store(services)
        .end_session(id, Timestamp::now())
        .await?;
    let actor = format!("user:{}", caller.user_id);
    crate::audit::note_durably(
        services,
        actor,
        "session.ended",
        caller.account,
        format!("session:{id}"),
        serde_json::json!({ "by": "owner" }),
    )
    .await;
    Ok(())
}

/// Ends every session of the caller but the current one; returns how many ended.
pub async fn end_my_others(services: &Services, caller: &Caller) -> Result<u64, DomainError> {
    let granted = crate::authz::require_login(caller)?;
    let ended = granted
        .store(services)
        .end_sessions(&caller.user_id, Some(&caller.session_id), Timestamp::now())
        .await?;
    let actor = format!("user:{}", caller.user_id);
    let details = serde_json::json!({ "by": "owner", "ended": ended, "kept": caller.session_id });
    crate::audit::note_durably(
        services,
        actor.clone(),
        "session.ended",
        caller.account,
        actor,
        details,
    )
    .await;
    Ok(ended)
}

/// A page of a user's live sessions, newest first, as far as the actor reaches (its account
/// only, for account admins).
pub async fn list_for(
    services: &Services,
    actor: &Access,
    user: &UserId,
    request: PageRequest,
) -> Result<Page<SessionInfo>, DomainError> {
    visible_user(services, actor, p::USERS_READ, user).await?;
    let account = match actor.require_reach(p::SESSIONS_READ)?.reach() {
        Reach::Account(mine) => Some(mine),
        Reach::All | Reach::Nowhere => None,
    };
    let current = match actor {
        Access::Caller(caller) => Some(caller.session_id),
        Access::System | Access::Client(_) => None,
    };
    page(services, user, account.as_ref(), &request, current.as_ref()).await
}

/// Ends a user's sessions (within the actor's reach); returns how many ended.
pub async fn end_for(
    services: &Services,
    actor: &Access,
    user: &UserId,
) -> Result<u64, DomainError> {
    visible_user(services, actor, p::USERS_READ, user).await?;
    let granted = actor.require_reach(p::SESSIONS_DELETE)?;
    super::guard_target(services, actor, p::SESSIONS_DELETE, user, false).await?;
    let now = Timestamp::now();
    let actor_name = granted.actor();
    match granted.reach() {
        Reach::Account(mine) => {
            let mut ended = 0;
            for session in services
                .store
                .active_sessions(user)
                .await?
                .into_iter()
                .filter(|s| s.account_id == Some(mine))
            {
                ended += u64::from(
                    granted
                        .store(services)
                        .end_session(&session.id, now)
                        .await?,
                );
            }
            crate::audit::note_durably(
                services,
                actor_name,
                "session.ended",
                Some(mine),
                format!("user:{user}"),
                serde_json::json!({ "by": "administrator", "ended": ended }),
            )
            .await;
            Ok(ended)
        }
        Reach::All | Reach::Nowhere => {
            let ended = granted
                .store(services)
                .end_sessions(user, None, now)
                .await?;
            crate::audit::note_durably(
                services,
                actor_name,
                "session.ended",
                None,
                format!("user:{user}"),
                serde_json::json!({ "by": "administrator", "ended": ended }),
            )
            .await;
            Ok(ended)
        }
    }
}
