//! Role assignments: granting and revoking roles, never to oneself and never beyond what the
//! granter holds.

use serde::Deserialize;

use super::visible_user;
use crate::authz::permission::builtin as p;
use crate::authz::{Access, Reach};
use crate::bootstrap::SUPER_ADMIN;
use crate::error::DomainError;
use crate::ids::{AccountId, RoleId, UserId};
use crate::model::Assignment;
use crate::services::Services;
use crate::time::Timestamp;

/// A role to grant.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GrantRole {
    /// The role's id.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub role_id: RoleId,
    /// Where the role applies; `null` for a global grant.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub account_id: Option<AccountId>,
}

/// Grants a role to a user.
pub async fn grant(
    services: &Services,
    actor: &Access,
    user: &UserId,
    input: GrantRole,
) -> Result<Assignment, DomainError> {
    let account = input.account_id;
    let granted = actor.require_scoped(p::ASSIGNMENTS_CREATE, account.as_ref())?;
    if actor.user_id() == Some(*user) {
        return Err(DomainError::Forbidden(
            "you cannot assign roles to yourself".into(),
        ));
    }
    visible_user(services, actor, p::USERS_READ, user).await?;
    let graph = services
        .engine
        .roles_in_scope(&*services.store, account.as_ref())
        .await?;
    let role = graph
        .get(&input.role_id)
        .filter(|role| role.account_id.is_none() || role.account_id == account)
        .ok_or(DomainError::NotFound("role"))?;
    if let Some(account) = &account {
        if !services.store.memberships(user).await?.contains(account) {
            return Err(DomainError::Conflict(
                "the user is not a member of that account; add them first".into(),
            ));
        }
    }
    actor.require_covers(&graph.permissions(&[role.id]), account.as_ref())?;
    let assignment = Assignment {
        user_id: *user,
        role_id: role.id,
        account_id: account,
        created_at: Timestamp::now(),
    };
    granted
        .store(services)
        .insert_assignment(&assignment)
        .await
        .map_err(|err| match err {
            crate::StoreError::MissingReference => DomainError::Conflict(
                "the user is not a member of that account; add them first".into(),
            ),
            err => match DomainError::from(err) {
                DomainError::Conflict(_) => {
                    DomainError::Conflict("the user already holds this role there".into())
                }
                other => other,
            },
        })?;
    crate::admin::audit_change::<(), _>(
        services,
        &granted,
        "role.granted",
        account,
        format!("user:{user}"),
        None,
        Some(&assignment),
    )
    .await;
    Ok(assignment)
}

/// Lists a user's role assignments that the actor may see.
pub async fn list(
    services: &Services,
    actor: &Access,
    user: &UserId,
) -> Result<Vec<Assignment>, DomainError> {
    visible_user(services, actor, p::USERS_READ, user).await?;
    let reach = actor.require_reach(p::ASSIGNMENTS_READ)?.reach();
    let mut assignments = services.store.assignments(user).await?;
    if let Reach::Account(mine) = reach {
        assignments.retain(|a| a.account_id == Some(mine));
    }
    Ok(assignments)
}

/// Revokes a role from a user.
pub async fn revoke(
    services: &Services,
    actor: &Access,
    user: &UserId,
    role: &RoleId,
    account: Option<&AccountId>,
) -> Result<(), DomainError> {
    let granted = actor.require_scoped(p::ASSIGNMENTS_DELETE, account)?;
    visible_user(services, actor, p::USERS_READ, user).await?;
    let graph = services
        .engine
        .roles_in_scope(&*services.store, account)
        .await?;
    let held = graph
        .get(role)
        .ok_or(DomainError::NotFound("role assignment"))?;
    actor.require_covers(&graph.permissions(&[held.id]), account)?;
    let keep_one = held.builtin && held.name.as_str() == SUPER_ADMIN && account.is_none();
    match granted
        .store(services)
        .delete_assignment(user, role, account, keep_one)
        .await
    {
        Ok(true) => {
            crate::admin::audit_change::<_, ()>(
                services,
                &granted,
                "role.revoked",
                account.copied(),
                format!("user:{user}"),
                Some(&serde_json::json!({"role_id": role})),
                None,
            )
            .await;
            Ok(())
        }
        Ok(false) => Err(DomainError::NotFound("role assignment")),
        Err(crate::StoreError::Conflict(_)) => Err(DomainError::Conflict(
            "this is the last super administrator; grant the role to someone else first".into(),
        )),
        Err(err) => Err(err.into()),
    }
}
