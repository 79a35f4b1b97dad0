//! Administration use cases, shared by the REST API and the CLI. Every operation takes the
//! [`Access`] performing it and enforces, before touching anything, the permission it needs,
//! tenant isolation (another tenant's ids answer 404) and no escalation. A write reaches the
//! store only through the [`Granted`] proof that check handed out, and is audited in the
//! proof's name.

pub mod accounts;
pub mod api_keys;
pub mod assignments;
pub mod audit;
pub mod clients;
pub mod me;
pub mod members;
pub mod policies;
pub mod resources;
pub mod roles;
pub mod sessions;
pub mod sign_in;
pub mod signing_keys;
pub mod users;

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::authz::{Access, Granted, Reach};
use crate::error::DomainError;
use crate::ids::{AccountId, UserId};
use crate::model::UserRecord;
use crate::services::Services;

/// Parses the `account_id` filter of lists of global and per-account records: `global`, or
/// an account id.
pub(crate) fn parse_scope(text: Option<&str>) -> Result<Option<Option<AccountId>>, DomainError> {
    match text {
        None => Ok(None),
        Some("global") => Ok(Some(None)),
        Some(text) => AccountId::parse(text)
            .map(|id| Some(Some(id)))
            .map_err(|err| DomainError::invalid("account_id", err)),
    }
}

/// Parses an IP allow-list: at most 100 CIDR blocks.
pub(crate) fn parse_ips(
    problems: &mut crate::error::Problems,
    texts: &[String],
) -> Vec<crate::net::Cidr> {
    if texts.len() > 100 {
        problems.push("allowed_ips", "must list at most 100 blocks");
        return Vec::new();
    }
    texts
        .iter()
        .enumerate()
        .filter_map(|(i, t)| {
            problems.check(&format!("allowed_ips[{i}]"), crate::net::Cidr::parse(t))
        })
        .collect()
}

/// Deserializes a field that distinguishes "absent" (`None`) from `null` (`Some(None)`).
pub fn double_option<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    de: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(de).map(Some)
}

/// Largest attributes object accepted, serialized.
pub const MAX_ATTRIBUTES_BYTES: usize = 16 * 1024;

/// Validates an ABAC attributes object.
pub fn check_attributes(attributes: &Map<String, Value>) -> Result<(), String> {
    if Value::Object(attributes.clone()).to_string().len() > MAX_ATTRIBUTES_BYTES {
        return Err(format!(
            "must be at most {MAX_ATTRIBUTES_BYTES} bytes of JSON"
        ));
    }
    Ok(())
}

/// Loads a user the actor may see under `permission`, answering 404 for users outside the
/// actor's reach. Users always see themselves.
pub(crate) async fn visible_user(
    services: &Services,
    actor: &Access,
    permission: &'static str,
    id: &UserId,
) -> Result<UserRecord, DomainError> {
    let reach = actor.reach(permission);
    if reach == Reach::Nowhere && actor.user_id() != Some(*id) {
        return Err(DomainError::Forbidden(format!(
            "this needs the permission `{permission}`"
        )));
    }
    let record = services
        .store
        .user(id)
        .await?
        .ok_or(DomainError::NotFound("user"))?;
    if let Reach::Account(account) = reach {
        if actor.user_id() != Some(*id) && !services.store.memberships(id).await?.contains(&account)
        {
            return Err(DomainError::NotFound("user"));
        }
    }
    Ok(record)
}

/// No escalation through another user: an account-scoped actor may act on a user only if that
/// user holds nothing in the account that the actor lacks; with `exclusive` (changing the
/// identity itself, which every account shares), only if the user also belongs to the actor's
/// account alone and holds no global role.
pub(crate) async fn guard_target(
    services: &Services,
    actor: &Access,
    permission: &'static str,
    target: &UserId,
    exclusive: bool,
) -> Result<(), DomainError> {
    let Reach::Account(account) = actor.reach(permission) else {
        return Ok(());
    };
    let memberships = services.store.memberships(target).await?;
    let mut assignments = services.store.assignments(target).await?;
    if exclusive
        && (memberships.iter().any(|m| *m != account)
            || assignments.iter().any(|a| a.account_id.is_none()))
    {
        return Err(DomainError::Forbidden(
            "only a global administrator can change this user".into(),
        ));
    }
    assignments.retain(|a| a.account_id == Some(account));
    let graph = services
        .engine
        .roles_in_scope(&*services.store, Some(&account))
        .await?;
    let held: Vec<_> = assignments.iter().map(|a| a.role_id).collect();
    actor.require_covers(&graph.permissions(&held), Some(&account))
}

/// Resolves the account a new thing is created in for an actor with `reach`.
pub(crate) fn account_for(
    reach: Reach,
    requested: Option<AccountId>,
    permission: &'static str,
) -> Result<Option<AccountId>, DomainError> {
    match (reach, requested) {
        (Reach::All, requested) => Ok(requested),
        (Reach::Account(mine), None) => Ok(Some(mine)),
        (Reach::Account(mine), Some(asked)) if asked == mine => Ok(Some(mine)),
        (Reach::Account(_), Some(_)) => Err(DomainError::NotFound("account")),
        (Reach::Nowhere, _) => Err(DomainError::Forbidden(format!(
            "this needs the permission `{permission}`"
        ))),
    }
}

/// Records an administrative change with the state before and after, in the name of the
/// proof's holder.
pub(crate) async fn audit_change<B: serde::Serialize, A: serde::Serialize>(
    services: &Services,
    granted: &Granted,
    action: &str,
    account: Option<AccountId>,
    target: String,
    before: Option<&B>,
    after: Option<&A>,
) {
    let details = serde_json::json!({ "before": before.map(|b| serde_json::to_value(b).unwrap_or(serde_json::Value::Null)), "after": after.map(|a| serde_json::to_value(a).unwrap_or(serde_json::Value::Null)) });
    // An administrative change is answered only once its record is written: a crash after
    // the answer loses neither.
    crate::audit::record_durably(
        services,
        crate::audit::Event {
            actor: granted.actor(),
            action,
            account,
            target: Some(target),
            details,
        },
    )
    .await;
}
