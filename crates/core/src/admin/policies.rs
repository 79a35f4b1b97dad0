//! ABAC policies: Cedar text, global or per account, validated when written. An account's
//! administrators manage its policies; global policies need a global grant.

use serde::Deserialize;

use crate::authz::permission::builtin as p;
use crate::authz::Access;
use crate::error::DomainError;
use crate::identity::display_text;
use crate::ids::{AccountId, PolicyId};
use crate::model::Policy;
use crate::page::{Page, PageRequest};
use crate::services::Services;
use crate::store::PolicyFilter;
use crate::time::Timestamp;

/// A new policy.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreatePolicy {
    /// The owning account, or `null` for a global policy.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub account_id: Option<AccountId>,
    /// What it is for.
    #[serde(default)]
    pub description: Option<String>,
    /// Cedar text: one or more `permit`/`forbid` statements.
    pub cedar: String,
    /// Whether it takes part in decisions (default `true`).
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// Changes to a policy.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdatePolicy {
    /// New description.
    #[serde(default)]
    pub description: Option<String>,
    /// New Cedar text.
    #[serde(default)]
    pub cedar: Option<String>,
    /// Enables or disables it.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// Refuses Cedar text that does not compile (naming line and column) or holds control
/// characters other than line breaks and tabs.
fn validate(id: &PolicyId, cedar: &str) -> Result<(), DomainError> {
    if cedar
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(DomainError::invalid(
            "cedar",
            "control characters other than line breaks and tabs are not allowed",
        ));
    }
    crate::authz::engine::compile(id, cedar)
        .map(|_| ())
        .map_err(DomainError::Validation)
}

/// No escalation through policies: whoever writes a `permit` must hold, in the policy's
/// account, every permission it may allow (a `permit` naming no action needs `*`).
fn require_permits_covered(
    actor: &Access,
    id: &PolicyId,
    cedar: &str,
    account: Option<&AccountId>,
) -> Result<(), DomainError> {
    let statements = crate::authz::engine::compile(id, cedar).map_err(DomainError::Validation)?;
    actor.require_covers(
        &crate::authz::engine::policy::permitted_actions(&statements),
        account,
    )
}

/// Validates policy text against its account's schema, when the account has one.
async fn check_schema(
    services: &Services,
    account: Option<&AccountId>,
    id: &PolicyId,
    cedar: &str,
) -> Result<(), DomainError> {
    let Some(account) = account else {
        return Ok(());
    };
    let schema = services
        .store
        .account(account)
        .await?
        .and_then(|a| a.policy_schema);
    match schema {
        Some(schema) => crate::authz::engine::policy::validate_with_schema(id, cedar, &schema)
            .map_err(DomainError::Validation),
        None => Ok(()),
    }
}

fn description(text: Option<String>) -> Result<String, DomainError> {
    match text {
        None => Ok(String::new()),
        Some(text) => {
            display_text(&text, 2000).map_err(|err| DomainError::invalid("description", err))
        }
    }
}

/// Creates a policy.
pub async fn create(
    services: &Services,
    actor: &Access,
    input: CreatePolicy,
) -> Result<Policy, DomainError> {
    let account = input.account_id;
    let granted = actor.require_scoped(p::POLICIES_CREATE, account.as_ref())?;
    if let Some(account) = &account {
        services
            .store
            .account(account)
            .await?
            .ok_or(DomainError::NotFound("account"))?;
    }
    let id = PolicyId::new();
    validate(&id, &input.cedar)?;
    require_permits_covered(actor, &id, &input.cedar, account.as_ref())?;
    check_schema(services, account.as_ref(), &id, &input.cedar).await?;
    let now = Timestamp::now();
    let policy = Policy {
        id,
        account_id: account,
        description: description(input.description)?,
        cedar: input.cedar,
        enabled: input.enabled.unwrap_or(true),
        created_at: now,
        updated_at: now,
    };
    granted.store(services).insert_policy(&policy).await?;
    crate::admin::audit_change::<(), _>(
        services,
        &granted,
        "policy.created",
        policy.account_id,
        format!("policy:{id}"),
        None,
        Some(&policy),
    )
    .await;
    Ok(policy)
}

/// Loads a policy the actor may see under `permission` (another tenant's answers 404).
async fn visible(
    services: &Services,
    actor: &Access,
    permission: &'static str,
    id: &PolicyId,
) -> Result<Policy, DomainError> {
    actor.require_reach(permission)?;
    let policy = services
        .store
        .policy(id)
        .await?
        .ok_or(DomainError::NotFound("policy"))?;
    actor.require_sees(permission, policy.account_id.as_ref(), "policy")?;
    Ok(policy)
}

/// Reads a policy.
pub async fn get(
    services: &Services,
    actor: &Access,
    id: &PolicyId,
) -> Result<Policy, DomainError> {
    visible(services, actor, p::POLICIES_READ, id).await
}

/// Lists policies: `account_id=global` for global ones, an id for one account's.
pub async fn list(
    services: &Services,
    actor: &Access,
    account_id: Option<String>,
    enabled: Option<bool>,
    page: PageRequest,
) -> Result<Page<Policy>, DomainError> {
    let scope = super::parse_scope(account_id.as_deref())?;
    let filter = PolicyFilter {
        visible_in: actor.list_scope(p::POLICIES_READ, scope)?,
        scope,
        enabled,
    };
    let rows = services.store.policies(&filter, &page).await?;
    Ok(Page::from_rows(rows, &page, |p| p.id.to_string()))
}

/// Changes a policy; new Cedar text is validated first.
pub async fn update(
    services: &Services,
    actor: &Access,
    id: &PolicyId,
    patch: UpdatePolicy,
) -> Result<Policy, DomainError> {
    let mut policy = visible(services, actor, p::POLICIES_UPDATE, id).await?;
    let granted = actor.require_scoped(p::POLICIES_UPDATE, policy.account_id.as_ref())?;
    let before = policy.clone();
    if let Some(cedar) = patch.cedar {
        validate(id, &cedar)?;
        check_schema(services, policy.account_id.as_ref(), id, &cedar).await?;
        policy.cedar = cedar;
    }
    if patch.description.is_some() {
        policy.description = description(patch.description)?;
    }
    if let Some(enabled) = patch.enabled {
        policy.enabled = enabled;
    }
    if policy.enabled {
        require_permits_covered(actor, id, &policy.cedar, policy.account_id.as_ref())?;
    }
    policy.updated_at = Timestamp::now();
    if !granted.store(services).update_policy(&policy).await? {
        return Err(DomainError::NotFound("policy"));
    }
    crate::admin::audit_change(
        services,
        &granted,
        "policy.updated",
        policy.account_id,
        format!("policy:{id}"),
        Some(&before),
        Some(&policy),
    )
    .await;
    Ok(policy)
}

/// Deletes a policy.
pub async fn delete(services: &Services, actor: &Access, id: &PolicyId) -> Result<(), DomainError> {
    let policy = visible(services, actor, p::POLICIES_DELETE, id).await?;
    let granted = actor.require_scoped(p::POLICIES_DELETE, policy.account_id.as_ref())?;
    if !granted.store(services).delete_policy(id).await? {
        return Err(DomainError::NotFound("policy"));
    }
    crate::admin::audit_change::<_, ()>(
        services,
        &granted,
        "policy.deleted",
        policy.account_id,
        format!("policy:{id}"),
        Some(&policy),
        None,
    )
    .await;
    Ok(())
}
