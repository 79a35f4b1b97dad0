//! Memberships: which users belong to an account.

use serde::Deserialize;

use super::{guard_target, visible_user};
use crate::authz::permission::builtin as p;
use crate::authz::Access;
use crate::error::DomainError;
use crate::ids::{AccountId, UserId};
use crate::model::Membership;
use crate::page::{Page, PageRequest};
use crate::services::Services;
use crate::time::Timestamp;

/// A user to add to an account.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    /// The user's id.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub user_id: UserId,
}

/// Adds a user to an account. Account administrators can only add users they can already see.
pub async fn add(
    services: &Services,
    actor: &Access,
    account: &AccountId,
    input: AddMember,
) -> Result<Membership, DomainError> {
    let granted = actor.require_in(p::MEMBERS_CREATE, account)?;
    services
        .store
        .account(account)
        .await?
        .ok_or(DomainError::NotFound("account"))?;
    visible_user(services, actor, p::USERS_READ, &input.user_id).await?;
    let membership = Membership {
        account_id: *account,
        user_id: input.user_id,
        created_at: Timestamp::now(),
    };
    granted
        .store(services)
        .add_member(&membership)
        .await
        .map_err(|err| match DomainError::from(err) {
            DomainError::Conflict(_) => {
                DomainError::Conflict("the user is already a member of this account".into())
            }
            other => other,
        })?;
    crate::admin::audit_change::<(), _>(
        services,
        &granted,
        "member.added",
        Some(*account),
        format!("user:{}", input.user_id),
        None,
        Some(&membership),
    )
    .await;
    Ok(membership)
}

/// Lists an account's members.
pub async fn list(
    services: &Services,
    actor: &Access,
    account: &AccountId,
    page: PageRequest,
) -> Result<Page<Membership>, DomainError> {
    actor.require_in(p::MEMBERS_READ, account)?;
    services
        .store
        .account(account)
        .await?
        .ok_or(DomainError::NotFound("account"))?;
    let rows = services.store.members(account, &page).await?;
    Ok(Page::from_rows(rows, &page, |m| m.user_id.to_string()))
}

/// Removes a member and the roles it held in the account.
pub async fn remove(
    services: &Services,
    actor: &Access,
    account: &AccountId,
    user: &UserId,
) -> Result<(), DomainError> {
    let granted = actor.require_in(p::MEMBERS_DELETE, account)?;
    if actor.user_id() != Some(*user) {
        guard_target(services, actor, p::MEMBERS_DELETE, user, false).await?;
    }
    if granted.store(services).remove_member(account, user).await? {
        crate::admin::audit_change::<(), ()>(
            services,
            &granted,
            "member.removed",
            Some(*account),
            format!("user:{user}"),
            None,
            None,
        )
        .await;
        Ok(())
    } else {
        Err(DomainError::NotFound("membership"))
    }
}
