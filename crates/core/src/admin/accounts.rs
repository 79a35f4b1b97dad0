//! Accounts (tenants): create, read, list, update, delete.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::check_attributes;
use crate::authz::permission::builtin as p;
use crate::authz::{Access, Reach};
use crate::error::{DomainError, Problems};
use crate::identity::{display_text, AccountName};
use crate::ids::AccountId;
use crate::model::{Account, Status};
use crate::page::{Page, PageRequest};
use crate::services::Services;
use crate::store::AccountFilter;
use crate::time::Timestamp;

/// A new account.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    /// Unique slug: lowercase letters, digits and `-`.
    pub name: String,
    /// Name shown to people (defaults to the slug).
    #[serde(default)]
    pub display_name: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Attributes for ABAC policies.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub attributes: Option<Map<String, Value>>,
    /// CIDR blocks tokens of this account may be issued to and its API keys used from
    /// (none: any address).
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    /// A Cedar schema (Cedar schema syntax) the account's policies must validate against.
    #[serde(default)]
    pub policy_schema: Option<String>,
    /// Whether signing in to the account takes a second factor (default `false`).
    #[serde(default)]
    pub require_second_factor: bool,
}

/// Changes to an account.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateAccount {
    /// New slug.
    #[serde(default)]
    pub name: Option<String>,
    /// New display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// New description.
    #[serde(default)]
    pub description: Option<String>,
    /// `active` or `disabled`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub status: Option<Status>,
    /// Replaces the attributes.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub attributes: Option<Map<String, Value>>,
    /// Replaces the IP allow-list.
    #[serde(default)]
    pub allowed_ips: Option<Vec<String>>,
    /// Sets the Cedar schema for the account's policies; `null` removes it.
    #[serde(default, deserialize_with = "super::double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub policy_schema: Option<Option<String>>,
    /// Whether signing in to the account takes a second factor.
    #[serde(default)]
    pub require_second_factor: Option<bool>,
}

/// Creates an account (global administrators only).
pub async fn create(
    services: &Services,
    actor: &Access,
    input: CreateAccount,
) -> Result<Account, DomainError> {
    let granted = actor.require(p::ACCOUNTS_CREATE, None)?;
    let mut problems = Problems::default();
    let name = problems.check("name", AccountName::parse(&input.name));
    let display_name = input
        .display_name
        .and_then(|d| problems.check("display_name", display_text(&d, 200)));
    let description = input
        .description
        .and_then(|d| problems.check("description", display_text(&d, 2000)));
    let attributes = input.attributes.unwrap_or_default();
    problems.check("attributes", check_attributes(&attributes));
    let allowed_ips = super::parse_ips(&mut problems, &input.allowed_ips);
    problems.finish()?;
    if let Some(schema) = &input.policy_schema {
        crate::authz::engine::policy::parse_schema(schema).map_err(DomainError::Validation)?;
    }
    let Some(name) = name else {
        return Err(DomainError::invalid("name", "is required"));
    };
    let now = Timestamp::now();
    let account = Account {
        id: AccountId::new(),
        display_name: display_name
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| name.to_string()),
        name,
        description: description.unwrap_or_default(),
        status: Status::Active,
        attributes,
        allowed_ips,
        policy_schema: input.policy_schema,
        require_second_factor: input.require_second_factor,
        tokens_valid_after: None,
        created_at: now,
        updated_at: now,
    };
    granted.store(services).insert_account(&account).await?;
    crate::admin::audit_change::<(), _>(
        services,
        &granted,
        "account.created",
        Some(account.id),
        format!("account:{}", account.id),
        None,
        Some(&account),
    )
    .await;
    Ok(account)
}

/// Reads an account.
pub async fn get(
    services: &Services,
    actor: &Access,
    id: &AccountId,
) -> Result<Account, DomainError> {
    actor.require_in(p::ACCOUNTS_READ, id)?;
    services
        .store
        .account(id)
        .await?
        .ok_or(DomainError::NotFound("account"))
}

/// Lists the accounts the actor may see.
pub async fn list(
    services: &Services,
    actor: &Access,
    name: Option<String>,
    status: Option<String>,
    page: PageRequest,
) -> Result<Page<Account>, DomainError> {
    let mut problems = Problems::default();
    let mut filter = AccountFilter {
        name: name.and_then(|n| problems.check("name", AccountName::parse(&n))),
        status: status.and_then(|s| problems.check("status", Status::parse(&s))),
        only: None,
    };
    problems.finish()?;
    match actor.require_reach(p::ACCOUNTS_READ)?.reach() {
        Reach::Account(mine) => filter.only = Some(mine),
        Reach::All | Reach::Nowhere => {}
    }
    let rows = services.store.accounts(&filter, &page).await?;
    Ok(Page::from_rows(rows, &page, |a| a.id.to_string()))
}

/// Updates an account.
pub async fn update(
    services: &Services,
    actor: &Access,
    id: &AccountId,
    patch: UpdateAccount,
) -> Result<Account, DomainError> {
    let granted = actor.require_in(p::ACCOUNTS_UPDATE, id)?;
    let mut account = services
        .store
        .account(id)
        .await?
        .ok_or(DomainError::NotFound("account"))?;
    let before = account.clone();
    let mut problems = Problems::default();
    if let Some(name) = patch.name {
        if let Some(name) = problems.check("name", AccountName::parse(&name)) {
            account.name = name;
        }
    }
    if let Some(display_name) = patch.display_name {
        account.display_name = problems
            .check("display_name", display_text(&display_name, 200))
            .unwrap_or_default();
    }
    if let Some(description) = patch.description {
        account.description = problems
            .check("description", display_text(&description, 2000))
            .unwrap_or_default();
    }
    if let Some(status) = patch.status {
        account.status = status;
    }
    if let Some(attributes) = patch.attributes {
        problems.check("attributes", check_attributes(&attributes));
        account.attributes = attributes;
    }
    if let Some(ips) = patch.allowed_ips {
        account.allowed_ips = super::parse_ips(&mut problems, &ips);
    }
    if let Some(required) = patch.require_second_factor {
        account.require_second_factor = required;
    }
    if let Some(schema) = patch.policy_schema {
        if let Some(text) = &schema {
            crate::authz::engine::policy::parse_schema(text).map_err(DomainError::Validation)?;
        }
        account.policy_schema = schema;
    }
    problems.finish()?;
    account.updated_at = Timestamp::now();
    if !granted.store(services).update_account(&account).await? {
        return Err(DomainError::NotFound("account"));
    }
    crate::admin::audit_change(
        services,
        &granted,
        "account.updated",
        Some(*id),
        format!("account:{id}"),
        Some(&before),
        Some(&account),
    )
    .await;
    Ok(account)
}

/// Deletes an account with its memberships, roles and role assignments.
pub async fn delete(
    services: &Services,
    actor: &Access,
    id: &AccountId,
) -> Result<(), DomainError> {
    let granted = actor.require_in(p::ACCOUNTS_DELETE, id)?;
    let before = services.store.account(id).await?;
    if granted.store(services).delete_account(id).await? {
        crate::admin::audit_change::<_, ()>(
            services,
            &granted,
            "account.deleted",
            Some(*id),
            format!("account:{id}"),
            before.as_ref(),
            None,
        )
        .await;
        Ok(())
    } else {
        Err(DomainError::NotFound("account"))
    }
}
