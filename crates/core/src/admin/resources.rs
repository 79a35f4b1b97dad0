//! The resource registry: resources Warden knows by type and id, global or in one account,
//! with the attributes and parents its decisions use (see [`Snapshot::with_registered`] for
//! which wins when a request also sends them). Reads need `warden.resources:read`, writes
//! `warden.resources:write`, in the resource's account or globally.
//!
//! [`Snapshot::with_registered`]: crate::authz::engine::Snapshot::with_registered

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::authz::engine::{validate_resource, EntityRef, Resource};
use crate::authz::permission::builtin as p;
use crate::authz::{Access, Reach};
use crate::error::{DomainError, FieldError};
use crate::ids::AccountId;
use crate::model::RegisteredResource;
use crate::page::{Page, PageRequest};
use crate::services::Services;
use crate::store::ResourceFilter;
use crate::time::Timestamp;

/// Most resources in one bulk write.
pub const MAX_BULK: usize = 1000;

/// What `PUT /v1/resources/{type}/{id}` sends.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PutResource {
    /// The owning account, or `null` for a global resource; absent: the caller's account
    /// for an account-limited caller, else global.
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub account_id: Option<Option<AccountId>>,
    /// Attributes policies read (`resource.owner_id`).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub attributes: Map<String, Value>,
    /// Parent entities.
    #[serde(default)]
    pub parents: Vec<EntityRef>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<AccountId>>, D::Error> {
    Option::<AccountId>::deserialize(deserializer).map(Some)
}

/// One resource of a bulk write.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BulkItem {
    /// Its type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its id.
    pub id: String,
    /// As in a single write.
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub account_id: Option<Option<AccountId>>,
    /// As in a single write.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub attributes: Map<String, Value>,
    /// As in a single write.
    #[serde(default)]
    pub parents: Vec<EntityRef>,
}

/// `POST /v1/resources/bulk`: up to [`MAX_BULK`] resources, written together or not at all.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BulkPut {
    /// The resources.
    pub resources: Vec<BulkItem>,
}

/// What a bulk write did to one resource.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BulkResult {
    /// Its type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its id.
    pub id: String,
    /// Its account.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub account_id: Option<AccountId>,
    /// Whether it was new (else replaced).
    pub created: bool,
}

/// The answer of a bulk write, in request order.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BulkResponse {
    /// One per resource.
    pub results: Vec<BulkResult>,
}

/// The account a write or read is about: the one named, else the caller's own when it is
/// limited to one, else global.
fn scope_for(
    actor: &Access,
    permission: &'static str,
    named: Option<Option<AccountId>>,
) -> Option<AccountId> {
    match named {
        Some(named) => named,
        None => match actor.reach(permission) {
            Reach::Account(mine) => Some(mine),
            Reach::All | Reach::Nowhere => None,
        },
    }
}

/// Checks one resource as a decision would read it, naming fields under `prefix`.
fn validated(
    prefix: &str,
    account: Option<AccountId>,
    kind: String,
    id: String,
    body: PutResource,
    now: Timestamp,
) -> Result<RegisteredResource, DomainError> {
    let resource = Resource {
        kind,
        id,
        attributes: body.attributes,
        parents: body.parents,
    };
    if resource.id.is_empty() {
        return Err(DomainError::invalid(
            format!("{prefix}id"),
            "must not be empty",
        ));
    }
    if serde_json::to_string(&resource.attributes).map_or(0, |t| t.len()) > 64 * 1024 {
        return Err(DomainError::invalid(
            format!("{prefix}attributes"),
            "at most 64 KiB of JSON",
        ));
    }
    validate_resource(&resource).map_err(|err| {
        DomainError::Validation(vec![FieldError::new(
            format!("{prefix}{}", err.field.trim_start_matches("resource.")),
            err.message,
        )])
    })?;
    Ok(RegisteredResource {
        account_id: account,
        kind: resource.kind,
        id: resource.id,
        attributes: resource.attributes,
        parents: resource.parents,
        created_at: now,
        updated_at: now,
    })
}

async fn account_exists(
    services: &Services,
    account: Option<&AccountId>,
) -> Result<(), DomainError> {
    if let Some(account) = account {
        services
            .store
            .account(account)
            .await?
            .ok_or(DomainError::NotFound("account"))?;
    }
    Ok(())
}

/// Registers `kind`/`id` (or replaces its attributes and parents); whether it was new.
pub async fn put(
    services: &Services,
    actor: &Access,
    kind: String,
    id: String,
    body: PutResource,
) -> Result<(RegisteredResource, bool), DomainError> {
    let account = scope_for(actor, p::RESOURCES_WRITE, body.account_id);
    let granted = actor.require_scoped(p::RESOURCES_WRITE, account.as_ref())?;
    account_exists(services, account.as_ref()).await?;
    let resource = validated("", account, kind, id, body, Timestamp::now())?;
    let created = granted
        .store(services)
        .put_resources(std::slice::from_ref(&resource))
        .await?
        .first()
        .copied()
        .unwrap_or(false);
    crate::admin::audit_change::<(), _>(
        services,
        &granted,
        if created {
            "resource.created"
        } else {
            "resource.replaced"
        },
        resource.account_id,
        format!("resource:{}:{}", resource.kind, resource.id),
        None,
        Some(&resource),
    )
    .await;
    Ok((resource, created))
}

/// Registers up to [`MAX_BULK`] resources in one transaction: all are checked first, and
/// one that fails writes none.
pub async fn put_many(
    services: &Services,
    actor: &Access,
    input: BulkPut,
) -> Result<BulkResponse, DomainError> {
    if input.resources.len() > MAX_BULK {
        return Err(DomainError::invalid(
            "resources",
            format!("at most {MAX_BULK} resources per request"),
        ));
    }
    let now = Timestamp::now();
    let mut resources = Vec::with_capacity(input.resources.len());
    let mut accounts = std::collections::BTreeSet::new();
    for (i, item) in input.resources.into_iter().enumerate() {
        let account = scope_for(actor, p::RESOURCES_WRITE, item.account_id);
        accounts.insert(account);
        let prefix = format!("resources[{i}].");
        let body = PutResource {
            account_id: item.account_id,
            attributes: item.attributes,
            parents: item.parents,
        };
        resources.push(validated(&prefix, account, item.kind, item.id, body, now)?);
    }
    // One proof per account written to; the first one writes (each was checked).
    let mut proofs = Vec::with_capacity(accounts.len());
    for account in &accounts {
        account_exists(services, account.as_ref()).await?;
        proofs.push(actor.require_scoped(p::RESOURCES_WRITE, account.as_ref())?);
    }
    let Some(granted) = proofs.first() else {
        return Ok(BulkResponse {
            results: Vec::new(),
        });
    };
    let created = granted.store(services).put_resources(&resources).await?;
    for (proof, account) in proofs.iter().zip(&accounts) {
        let count = resources
            .iter()
            .filter(|r| r.account_id == *account)
            .count();
        crate::admin::audit_change::<(), _>(
            services,
            proof,
            "resource.bulk_written",
            *account,
            format!("resources:{count}"),
            None,
            Some(&serde_json::json!({ "count": count })),
        )
        .await;
    }
    Ok(BulkResponse {
        results: resources
            .into_iter()
            .zip(created)
            .map(|(r, created)| BulkResult {
                kind: r.kind,
                id: r.id,
                account_id: r.account_id,
                created,
            })
            .collect(),
    })
}

/// Reads a registered resource (`account_id` `None`: the caller's account when limited,
/// else global). Another tenant's answers 404.
pub async fn get(
    services: &Services,
    actor: &Access,
    kind: &str,
    id: &str,
    account_id: Option<Option<AccountId>>,
) -> Result<RegisteredResource, DomainError> {
    let account = scope_for(actor, p::RESOURCES_READ, account_id);
    actor.require_sees(p::RESOURCES_READ, account.as_ref(), "resource")?;
    services
        .store
        .resource(&RegisteredResource::key_of(account.as_ref(), kind, id))
        .await?
        .ok_or(DomainError::NotFound("resource"))
}

/// Removes a registered resource.
pub async fn delete(
    services: &Services,
    actor: &Access,
    kind: &str,
    id: &str,
    account_id: Option<Option<AccountId>>,
) -> Result<(), DomainError> {
    let account = scope_for(actor, p::RESOURCES_WRITE, account_id);
    actor.require_sees(p::RESOURCES_WRITE, account.as_ref(), "resource")?;
    let granted = actor.require_scoped(p::RESOURCES_WRITE, account.as_ref())?;
    let key = RegisteredResource::key_of(account.as_ref(), kind, id);
    let before = services
        .store
        .resource(&key)
        .await?
        .ok_or(DomainError::NotFound("resource"))?;
    if !granted.store(services).delete_resource(&key).await? {
        return Err(DomainError::NotFound("resource"));
    }
    crate::admin::audit_change::<_, ()>(
        services,
        &granted,
        "resource.deleted",
        account,
        format!("resource:{kind}:{id}"),
        Some(&before),
        None,
    )
    .await;
    Ok(())
}

/// Lists registered resources in key order: `account_id=global` for global ones, an id for
/// one account's; `kind` for one type.
pub async fn list(
    services: &Services,
    actor: &Access,
    account_id: Option<String>,
    kind: Option<String>,
    page: PageRequest,
) -> Result<Page<RegisteredResource>, DomainError> {
    let asked = super::parse_scope(account_id.as_deref())?;
    // An account-limited caller lists its own account's (and, asked for, the global ones).
    let scope = match actor.list_scope(p::RESOURCES_READ, asked)? {
        Some(mine) => Some(match asked {
            Some(None) => None,
            _ => Some(mine),
        }),
        None => asked,
    };
    let filter = ResourceFilter { scope, kind };
    let rows = services.store.resources(&filter, &page).await?;
    Ok(Page::from_rows(rows, &page, RegisteredResource::key))
}

/// Whether `key` is a key a resource list hands out as a cursor.
pub fn is_cursor_key(key: &str) -> bool {
    key.splitn(3, '\n').count() == 3 && !key.contains('\0')
}
