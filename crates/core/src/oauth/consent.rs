//! Consent remembered: what a person allowed an application (one that is not first-party) on
//! the consent page. An authorization asking for nothing more is not asked again; one asking
//! for more, or with `prompt=consent`, is. People list what they allowed and withdraw it, which
//! also ends their sessions of that application.

use crate::authz::Caller;
use crate::error::DomainError;
use crate::ids::UserId;
use crate::services::Services;
use crate::store::Consent;
use crate::time::Timestamp;

fn values(scope: &str) -> impl Iterator<Item = &str> {
    scope.split(' ').filter(|s| !s.is_empty())
}

/// Whether `user` already allowed `client_id` everything `asked` names.
pub async fn covers(
    services: &Services,
    user: &UserId,
    client_id: &str,
    asked: &[String],
) -> Result<bool, DomainError> {
    Ok(services
        .store
        .consent(user, client_id)
        .await?
        .is_some_and(|given| asked.iter().all(|a| values(&given.scope).any(|g| g == a))))
}

/// Records that `user` allowed `client_id` what `asked` names, beside what they allowed before
/// (atomically: two tabs allowing different scopes at once both stay).
pub async fn remember(
    services: &Services,
    user: &UserId,
    client_id: &str,
    asked: &[String],
) -> Result<(), DomainError> {
    let consent = services
        .store
        .add_consent(user, client_id, asked, Timestamp::now())
        .await?;
    crate::audit::note_durably(
        services,
        format!("user:{user}"),
        "consent.granted",
        None,
        format!("client:{client_id}"),
        serde_json::json!({ "scope": consent.scope }),
    )
    .await;
    Ok(())
}

/// What the caller allowed, by application.
pub async fn mine(services: &Services, caller: &Caller) -> Result<Vec<Consent>, DomainError> {
    crate::authz::require_login(caller)?;
    Ok(services.store.consents(&caller.user_id).await?)
}

/// Withdraws what the caller allowed `client_id`, and ends their sessions of it (their refresh
/// tokens stop working); the next sign-in to it asks again.
pub async fn withdraw(
    services: &Services,
    caller: &Caller,
    client_id: &str,
) -> Result<(), DomainError> {
    let granted = crate::authz::require_login(caller)?;
    if !granted
        .store(services)
        .delete_consent(&caller.user_id, client_id)
        .await?
    {
        return Err(DomainError::NotFound("consent"));
    }
    let now = Timestamp::now();
    for session in services.store.active_sessions(&caller.user_id).await? {
        if session.client_id == client_id {
            services.store.end_session(&session.id, now).await?;
        }
    }
    services.engine.catch_up(services.store.as_ref()).await?;
    crate::audit::note_durably(
        services,
        format!("user:{}", caller.user_id),
        "consent.withdrawn",
        None,
        format!("client:{client_id}"),
        serde_json::json!({}),
    )
    .await;
    Ok(())
}
