//! API keys: a user's long-lived credentials, each limited to some of the user's roles in one
//! account, with an optional expiry and IP allow-list; shown once, stored hashed.

use serde::{Deserialize, Serialize};

use crate::authz::{effective_role_names, Caller, Granted, RoleGraph};
use crate::crypto::{random_token, sha256_b64};
use crate::error::{DomainError, Problems};
use crate::identity::display_text;
use crate::ids::{AccountId, ApiKeyId, RoleId};
use crate::model::{ApiKey, KeyOwner};
use crate::net::Cidr;
use crate::services::Services;
use crate::time::Timestamp;

use crate::authn::api_key::PREFIX;

/// A new API key.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// Name shown to people.
    pub name: String,
    /// Role ids the key may use: each must be one the caller holds in the token's account.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub roles: Vec<RoleId>,
    /// RFC 3339 expiry, or `null` for none.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// CIDR blocks it may be used from; empty allows any address.
    #[serde(default)]
    pub allowed_ips: Vec<String>,
}

/// A key with its value, as answered once at creation.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyWithSecret {
    /// The key's record.
    #[serde(flatten)]
    pub api_key: ApiKey,
    /// The key (`wk_…`): shown this once, stored only as a hash.
    pub key: String,
}

/// The role names an owner holds in `account` (global ones included), through inheritance.
async fn held_roles(
    services: &Services,
    owner: &KeyOwner,
    account: Option<&AccountId>,
) -> Result<(RoleGraph, Vec<String>), DomainError> {
    let graph = services
        .engine
        .roles_in_scope(&*services.store, account)
        .await?;
    let names = match owner {
        KeyOwner::User(user) => {
            let assignments = services.store.assignments(user).await?;
            effective_role_names(&graph, &assignments, account)
        }
        KeyOwner::Client(client) => {
            let roles = services
                .store
                .client(client)
                .await?
                .map(|r| r.client.roles)
                .unwrap_or_default();
            graph
                .closure(&roles)
                .iter()
                .map(|r| r.name.as_str().to_owned())
                .collect()
        }
    };
    Ok((graph, names))
}

/// Creates an API key for the caller, in the caller's account.
pub async fn create(
    services: &Services,
    caller: &Caller,
    input: CreateApiKey,
) -> Result<ApiKeyWithSecret, DomainError> {
    if caller.api_key.is_some() {
        return Err(DomainError::Forbidden(
            "an API key cannot create API keys; log in to do that".into(),
        ));
    }
    // A token narrowed by scope cannot mint a key with more than the token itself carries:
    // no role outside its scope, and no permission it does not hold.
    let graph = services
        .engine
        .roles_in_scope(&*services.store, caller.account.as_ref())
        .await?;
    let granted = crate::authz::require_login(caller)?;
    let actor = crate::authz::Access::Caller(caller.clone());
    actor.require_carries(&graph, &input.roles)?;
    actor.require_covers(&graph.permissions(&input.roles), caller.account.as_ref())?;
    create_for(
        services,
        &granted,
        KeyOwner::User(caller.user_id),
        caller.account,
        input,
    )
    .await
}

/// Creates an API key for `owner` in `account`: the shared path of [`create`] (a user's own
/// key), client keys, and the operator's CLI. Callers check who may create it, and pass the
/// proof.
pub async fn create_for(
    services: &Services,
    granted: &Granted,
    owner: KeyOwner,
    account: Option<AccountId>,
    input: CreateApiKey,
) -> Result<ApiKeyWithSecret, DomainError> {
    let mut problems = Problems::default();
    let name = problems
        .check("name", display_text(&input.name, 100))
        .unwrap_or_default();
    if name.is_empty() {
        problems.push("name", "is required");
    }
    let now = Timestamp::now();
    let expires_at = input
        .expires_at
        .and_then(|t| problems.check("expires_at", Timestamp::parse_rfc3339(&t)));
    if expires_at.is_some_and(|t| t <= now) {
        problems.push("expires_at", "must be in the future");
    }
    if input.allowed_ips.len() > 100 {
        problems.push("allowed_ips", "must list at most 100 blocks");
    }
    let allowed_ips: Vec<Cidr> = input
        .allowed_ips
        .iter()
        .enumerate()
        .filter_map(|(i, t)| problems.check(&format!("allowed_ips[{i}]"), Cidr::parse(t)))
        .collect();
    if input.roles.len() > 64 {
        problems.push("roles", "must list at most 64 roles");
    }
    let (graph, held) = held_roles(services, &owner, account.as_ref()).await?;
    for (i, role) in input.roles.iter().enumerate() {
        if !graph
            .get(role)
            .is_some_and(|r| held.iter().any(|h| h == r.name.as_str()))
        {
            problems.push(
                format!("roles[{i}]"),
                "is not a role you hold here; a key never exceeds its owner",
            );
        }
    }
    problems.finish()?;
    let value = format!("{PREFIX}{}", random_token());
    let key = ApiKey {
        id: ApiKeyId::new(),
        name,
        prefix: value[..PREFIX.len() + 6].to_owned(),
        user_id: match owner {
            KeyOwner::User(user) => Some(user),
            KeyOwner::Client(_) => None,
        },
        client_key: match owner {
            KeyOwner::Client(client) => Some(client),
            KeyOwner::User(_) => None,
        },
        account_id: account,
        roles: input.roles,
        allowed_ips,
        expires_at,
        last_used_at: None,
        revoked_at: None,
        created_at: now,
    };
    granted
        .store(services)
        .insert_api_key(&key, &sha256_b64(value.as_bytes()))
        .await?;
    let owner_name = match owner {
        KeyOwner::User(user) => format!("user:{user}"),
        KeyOwner::Client(client) => format!("client:{client}"),
    };
    let details = serde_json::json!({ "owner": owner_name, "name": key.name, "roles": key.roles, "expires_at": key.expires_at, "prefix": key.prefix });
    crate::audit::note_durably(
        services,
        owner_name,
        "api_key.created",
        key.account_id,
        format!("api_key:{}", key.id),
        details,
    )
    .await;
    Ok(ApiKeyWithSecret {
        api_key: key,
        key: value,
    })
}

/// The caller's API keys (through an API key, only with `warden.api_keys:read`).
pub async fn list(services: &Services, caller: &Caller) -> Result<Vec<ApiKey>, DomainError> {
    crate::authz::require_self_service(caller, crate::authz::permission::builtin::API_KEYS_READ)?;
    Ok(services
        .store
        .api_keys(&KeyOwner::User(caller.user_id))
        .await?)
}

/// Revokes one of the caller's API keys (through an API key, only with
/// `warden.api_keys:delete`).
pub async fn revoke(
    services: &Services,
    caller: &Caller,
    id: &ApiKeyId,
) -> Result<(), DomainError> {
    let granted = crate::authz::require_self_service(
        caller,
        crate::authz::permission::builtin::API_KEYS_DELETE,
    )?;
    if granted
        .store(services)
        .revoke_api_key(&KeyOwner::User(caller.user_id), id, Timestamp::now())
        .await?
    {
        let actor = format!("user:{}", caller.user_id);
        crate::audit::note_durably(
            services,
            actor,
            "api_key.revoked",
            caller.account,
            format!("api_key:{id}"),
            serde_json::json!({}),
        )
        .await;
        Ok(())
    } else {
        Err(DomainError::NotFound("API key"))
    }
}
