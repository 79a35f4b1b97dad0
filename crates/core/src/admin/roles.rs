//! Roles: global or per account, with permissions and inheritance (cycles refused), never
//! carrying a permission their author lacks.

use serde::Deserialize;

use crate::authz::permission::{builtin as p, Permission};
use crate::authz::{Access, RoleGraph};
use crate::error::{DomainError, Problems};
use crate::identity::{display_text, RoleName};
use crate::ids::{AccountId, RoleId};
use crate::model::Role;
use crate::page::{Page, PageRequest};
use crate::services::Services;
use crate::store::RoleFilter;
use crate::time::Timestamp;

/// Most permissions one role may list.
pub const MAX_PERMISSIONS: usize = 256;
/// Most roles one role may inherit directly.
pub const MAX_INHERITS: usize = 64;

/// A new role.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateRole {
    /// Name, unique within its scope.
    pub name: String,
    /// The owning account, or `null` for a global role.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub account_id: Option<AccountId>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Permissions (`resource:action`, `*` wildcards).
    #[serde(default)]
    pub permissions: Vec<String>,
    /// Names (or ids) of roles to inherit, global or of the same account.
    #[serde(default)]
    pub inherits: Vec<String>,
}

/// Changes to a role.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateRole {
    /// New name (not for built-in roles).
    #[serde(default)]
    pub name: Option<String>,
    /// New description.
    #[serde(default)]
    pub description: Option<String>,
    /// Replaces the permissions.
    #[serde(default)]
    pub permissions: Option<Vec<String>>,
    /// Replaces the inherited roles.
    #[serde(default)]
    pub inherits: Option<Vec<String>>,
}

fn parse_permissions(problems: &mut Problems, texts: &[String]) -> Vec<Permission> {
    if texts.len() > MAX_PERMISSIONS {
        problems.push(
            "permissions",
            format!("must list at most {MAX_PERMISSIONS} permissions"),
        );
        return Vec::new();
    }
    let mut out: Vec<Permission> = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        if let Some(permission) =
            problems.check(&format!("permissions[{i}]"), Permission::parse(text))
        {
            if !out.contains(&permission) {
                out.push(permission);
            }
        }
    }
    out
}

fn resolve_inherits(
    problems: &mut Problems,
    graph: &RoleGraph,
    texts: &[String],
    account: Option<&AccountId>,
) -> Vec<RoleId> {
    if texts.len() > MAX_INHERITS {
        problems.push(
            "inherits",
            format!("must list at most {MAX_INHERITS} roles"),
        );
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let found = RoleId::parse(text)
            .ok()
            .and_then(|id| graph.get(&id))
            .filter(|role| role.account_id.is_none() || role.account_id.as_ref() == account)
            .or_else(|| graph.by_name(text, account));
        match found {
            Some(role) if !out.contains(&role.id) => out.push(role.id),
            Some(_) => {}
            None => problems.push(
                format!("inherits[{i}]"),
                format!(
                    "no role `{}` is visible here (global roles, or roles of the same account)",
                    crate::identity::clip(text)
                ),
            ),
        }
    }
    out
}

/// Role names travel in tokens' `roles` claim, where services authorize on them: an account
/// role may never take the name of a global role (an account admin naming a role
/// `super_admin` would otherwise mint that claim), nor a global role the name of any role.
async fn check_name_free(
    services: &Services,
    name: &RoleName,
    account: Option<&AccountId>,
    except: Option<&RoleId>,
) -> Result<(), DomainError> {
    // An account role clashes only with global roles; a global role with any role.
    let scope = account.map(|_| None);
    let filter = RoleFilter {
        name: Some(name.clone()),
        scope,
        visible_in: None,
    };
    let clash = services
        .store
        .roles(&filter, &PageRequest::first(2))
        .await?;
    if clash.iter().any(|role| Some(&role.id) != except)
        && (account.is_none() || clash.iter().any(|r| r.account_id.is_none()))
    {
        return Err(DomainError::Conflict(format!(
            "`{name}` is already the name of a global role{}; choose another name",
            if account.is_none() {
                " or of an account role"
            } else {
                ""
            }
        )));
    }
    Ok(())
}

/// Creates a role.
pub async fn create(
    services: &Services,
    actor: &Access,
    input: CreateRole,
) -> Result<Role, DomainError> {
    let account = input.account_id;
    let granted = actor.require_scoped(p::ROLES_CREATE, account.as_ref())?;
    if let Some(account) = &account {
        services
            .store
            .account(account)
            .await?
            .ok_or(DomainError::NotFound("account"))?;
    }
    let graph = services
        .engine
        .roles_in_scope(&*services.store, account.as_ref())
        .await?;
    let mut problems = Problems::default();
    let name = problems.check("name", RoleName::parse(&input.name));
    let description = input
        .description
        .and_then(|d| problems.check("description", display_text(&d, 2000)));
    let permissions = parse_permissions(&mut problems, &input.permissions);
    let inherits = resolve_inherits(&mut problems, &graph, &input.inherits, account.as_ref());
    problems.finish()?;
    if let Some(name) = &name {
        check_name_free(services, name, account.as_ref(), None).await?;
    }
    let Some(name) = name else {
        return Err(DomainError::invalid("name", "is required"));
    };
    actor.require_covers(
        &graph.permissions_of(&permissions, &inherits),
        account.as_ref(),
    )?;
    let now = Timestamp::now();
    let role = Role {
        id: RoleId::new(),
        account_id: account,
        name,
        description: description.unwrap_or_default(),
        permissions,
        inherits,
        builtin: false,
        created_at: now,
        updated_at: now,
    };
    granted.store(services).insert_role(&role).await?;
    crate::admin::audit_change::<(), _>(
        services,
        &granted,
        "role.created",
        role.account_id,
        format!("role:{}", role.id),
        None,
        Some(&role),
    )
    .await;
    Ok(role)
}

/// Loads a role the actor may see under `permission`.
async fn visible_role(
    services: &Services,
    actor: &Access,
    permission: &'static str,
    id: &RoleId,
) -> Result<Role, DomainError> {
    actor.require_reach(permission)?;
    let role = services
        .store
        .role(id)
        .await?
        .ok_or(DomainError::NotFound("role"))?;
    actor.require_sees(permission, role.account_id.as_ref(), "role")?;
    Ok(role)
}

/// Reads a role.
pub async fn get(services: &Services, actor: &Access, id: &RoleId) -> Result<Role, DomainError> {
    visible_role(services, actor, p::ROLES_READ, id).await
}

/// Lists roles: `account_id=global` for global roles, an id for one account's.
pub async fn list(
    services: &Services,
    actor: &Access,
    name: Option<String>,
    account_id: Option<String>,
    page: PageRequest,
) -> Result<Page<Role>, DomainError> {
    let mut problems = Problems::default();
    let name = name.and_then(|n| problems.check("name", RoleName::parse(&n)));
    problems.finish()?;
    let scope = super::parse_scope(account_id.as_deref())?;
    let filter = RoleFilter {
        name,
        visible_in: actor.list_scope(p::ROLES_READ, scope)?,
        scope,
    };
    let rows = services.store.roles(&filter, &page).await?;
    Ok(Page::from_rows(rows, &page, |r| r.id.to_string()))
}

/// Updates a role. The actor must hold every permission the role has before and after.
pub async fn update(
    services: &Services,
    actor: &Access,
    id: &RoleId,
    patch: UpdateRole,
) -> Result<Role, DomainError> {
    let mut role = visible_role(services, actor, p::ROLES_UPDATE, id).await?;
    let before = role.clone();
    let account = role.account_id;
    let granted = actor.require_scoped(p::ROLES_UPDATE, account.as_ref())?;
    let graph = services
        .engine
        .roles_in_scope(&*services.store, account.as_ref())
        .await?;
    actor.require_covers(&graph.permissions(&[role.id]), account.as_ref())?;
    let mut problems = Problems::default();
    if let Some(name) = patch.name {
        if role.builtin && name != role.name.as_str() {
            problems.push("name", "built-in roles cannot be renamed");
        } else if let Some(name) = problems.check("name", RoleName::parse(&name)) {
            if name != role.name {
                check_name_free(services, &name, account.as_ref(), Some(&role.id)).await?;
            }
            role.name = name;
        }
    }
    if let Some(description) = patch.description {
        role.description = problems
            .check("description", display_text(&description, 2000))
            .unwrap_or_default();
    }
    if let Some(permissions) = patch.permissions {
        role.permissions = parse_permissions(&mut problems, &permissions);
    }
    if let Some(inherits) = patch.inherits {
        role.inherits = resolve_inherits(&mut problems, &graph, &inherits, account.as_ref());
        if graph.creates_cycle(&role.id, &role.inherits) {
            // The store checks again, under its lock, against the edges as committed.
            problems.push("inherits", crate::error::INHERITANCE_CYCLE);
        }
    }
    problems.finish()?;
    actor.require_covers(
        &graph.permissions_of(&role.permissions, &role.inherits),
        account.as_ref(),
    )?;
    role.updated_at = Timestamp::now();
    if !granted.store(services).update_role(&role).await? {
        return Err(DomainError::NotFound("role"));
    }
    crate::admin::audit_change(
        services,
        &granted,
        "role.updated",
        role.account_id,
        format!("role:{id}"),
        Some(&before),
        Some(&role),
    )
    .await;
    Ok(role)
}

/// Deletes a role and its assignments. Built-in roles and roles others inherit stay.
pub async fn delete(services: &Services, actor: &Access, id: &RoleId) -> Result<(), DomainError> {
    let role = visible_role(services, actor, p::ROLES_DELETE, id).await?;
    let granted = actor.require_scoped(p::ROLES_DELETE, role.account_id.as_ref())?;
    if role.builtin {
        return Err(DomainError::Conflict(
            "built-in roles cannot be deleted".into(),
        ));
    }
    let graph = services
        .engine
        .roles_in_scope(&*services.store, role.account_id.as_ref())
        .await?;
    actor.require_covers(&graph.permissions(&[role.id]), role.account_id.as_ref())?;
    match granted.store(services).delete_role(id).await {
        Ok(true) => {
            crate::admin::audit_change::<_, ()>(
                services,
                &granted,
                "role.deleted",
                role.account_id,
                format!("role:{id}"),
                Some(&role),
                None,
            )
            .await;
            Ok(())
        }
        Ok(false) => Err(DomainError::NotFound("role")),
        Err(crate::StoreError::Conflict(_)) => Err(DomainError::Conflict(
            "other roles inherit this role; remove it from them first".into(),
        )),
        Err(err) => Err(err.into()),
    }
}
