//! Users: create, read, list, update, delete.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{account_for, check_attributes, double_option, guard_target, visible_user};
use crate::authz::permission::builtin as p;
use crate::authz::{Access, Reach};
use crate::error::{DomainError, Problems};
use crate::identity::password::Password;
use crate::identity::{display_text, Email, Username};
use crate::ids::{AccountId, UserId};
use crate::model::{Status, User, UserRecord};
use crate::page::{Page, PageRequest};
use crate::services::Services;
use crate::store::UserFilter;
use crate::time::Timestamp;

/// A new user.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Email address (canonicalized: NFKC + case fold).
    pub email: String,
    /// Password: 8 to 1024 bytes, not a common password. Without one the user cannot log in
    /// with a password.
    #[serde(default)]
    pub password: Option<String>,
    /// Optional username, usable to log in.
    #[serde(default)]
    pub username: Option<String>,
    /// Optional id another system knows the user by (SCIM `externalId`), unique.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Name shown to people.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// Attributes for ABAC policies.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub attributes: Option<Map<String, Value>>,
    /// Make the user a member of this account (account administrators: always their own).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub account_id: Option<AccountId>,
}

/// Changes to a user; absent fields stay as they are, `null` clears optional ones.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    /// New email.
    #[serde(default)]
    pub email: Option<String>,
    /// New username, or `null` to remove it.
    #[serde(default, deserialize_with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub username: Option<Option<String>>,
    /// New external id, or `null` to remove it (administrators only).
    #[serde(default, deserialize_with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub external_id: Option<Option<String>>,
    /// New display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// New phone, or `null`.
    #[serde(default, deserialize_with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub phone: Option<Option<String>>,
    /// `active` or `disabled`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub status: Option<Status>,
    /// Replaces the attributes.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub attributes: Option<Map<String, Value>>,
    /// Sets a new password (administrators only).
    #[serde(default)]
    pub password: Option<String>,
}

/// Query filters of the user list, as received.
#[derive(Debug, Default)]
pub struct UserQuery {
    /// Email.
    pub email: Option<String>,
    /// Username.
    pub username: Option<String>,
    /// Status.
    pub status: Option<String>,
    /// Account membership.
    pub account_id: Option<String>,
    /// External id.
    pub external_id: Option<String>,
}

/// Checks an external id: 1 to 256 characters, no control characters.
fn external_id(problems: &mut Problems, value: Option<String>) -> Option<String> {
    let value = value?;
    if value.is_empty() {
        problems.push("external_id", "must not be empty; send null to remove it");
        return None;
    }
    problems.check("external_id", display_text(&value, 256))
}

pub(crate) fn optional_text(
    problems: &mut Problems,
    field: &str,
    value: Option<String>,
    max: usize,
) -> Option<String> {
    value
        .and_then(|v| problems.check(field, display_text(&v, max)))
        .filter(|v| !v.is_empty())
}

/// Creates a user.
pub async fn create(
    services: &Services,
    actor: &Access,
    input: CreateUser,
) -> Result<User, DomainError> {
    let account = account_for(
        actor.reach(p::USERS_CREATE),
        input.account_id,
        p::USERS_CREATE,
    )?;
    // Tenant isolation and, through the engine, any `forbid` on the action in that scope.
    let granted = actor.require_scoped(p::USERS_CREATE, account.as_ref())?;
    let mut problems = Problems::default();
    let email = problems.check("email", Email::parse(&input.email));
    let username = input
        .username
        .and_then(|u| problems.check("username", Username::parse(&u)));
    let password = input
        .password
        .and_then(|pw| problems.check("password", Password::parse(&pw)));
    let display_name =
        optional_text(&mut problems, "display_name", input.display_name, 200).unwrap_or_default();
    let phone = optional_text(&mut problems, "phone", input.phone, 32);
    let external_id = external_id(&mut problems, input.external_id);
    let attributes = input.attributes.unwrap_or_default();
    problems.check("attributes", check_attributes(&attributes));
    problems.finish()?;
    let Some(email) = email else {
        return Err(DomainError::invalid("email", "is required"));
    };
    if let Some(account) = &account {
        services
            .store
            .account(account)
            .await?
            .ok_or(DomainError::NotFound("account"))?;
    }
    let password_hash = match password {
        Some(password) => Some(services.hasher.hash(password).await?),
        None => None,
    };
    let now = Timestamp::now();
    let user = User {
        id: UserId::new(),
        email,
        username,
        external_id,
        display_name,
        phone,
        status: Status::Active,
        attributes,
        created_at: now,
        updated_at: now,
        last_login_at: None,
    };
    granted
        .store(services)
        .insert_user(
            &UserRecord {
                user: user.clone(),
                password_hash,
            },
            account.as_ref(),
        )
        .await?;
    crate::admin::audit_change::<(), _>(
        services,
        &granted,
        "user.created",
        account,
        format!("user:{}", user.id),
        None,
        Some(&user),
    )
    .await;
    Ok(user)
}

/// Reads a user.
pub async fn get(services: &Services, actor: &Access, id: &UserId) -> Result<User, DomainError> {
    Ok(visible_user(services, actor, p::USERS_READ, id).await?.user)
}

/// Lists users the actor may see.
pub async fn list(
    services: &Services,
    actor: &Access,
    query: UserQuery,
    page: PageRequest,
) -> Result<Page<User>, DomainError> {
    let mut problems = Problems::default();
    let mut filter = UserFilter {
        email: query
            .email
            .and_then(|e| problems.check("email", Email::parse(&e))),
        username: query
            .username
            .and_then(|u| problems.check("username", Username::parse(&u))),
        status: query
            .status
            .and_then(|s| problems.check("status", Status::parse(&s))),
        account_id: query
            .account_id
            .and_then(|a| problems.check("account_id", AccountId::parse(&a))),
        external_id: query.external_id,
    };
    problems.finish()?;
    match actor.reach(p::USERS_READ) {
        Reach::All => {}
        Reach::Account(mine) => match filter.account_id {
            Some(asked) if asked != mine => return Err(DomainError::NotFound("account")),
            _ => filter.account_id = Some(mine),
        },
        Reach::Nowhere => {
            return Err(DomainError::Forbidden(format!(
                "this needs the permission `{}`",
                p::USERS_READ
            )))
        }
    }
    let rows = services.store.users(&filter, &page).await?;
    Ok(Page::from_rows(rows, &page, |u| u.id.to_string()))
}

/// Applies a patch to a user record, validating every field.
pub(crate) async fn apply_patch(
    services: &Services,
    user: &mut User,
    patch: UpdateUser,
) -> Result<Option<String>, DomainError> {
    let mut problems = Problems::default();
    if let Some(email) = patch.email {
        if let Some(email) = problems.check("email", Email::parse(&email)) {
            user.email = email;
        }
    }
    if let Some(username) = patch.username {
        user.username = username.and_then(|u| problems.check("username", Username::parse(&u)));
    }
    if let Some(name) = patch.display_name {
        user.display_name = problems
            .check("display_name", display_text(&name, 200))
            .unwrap_or_default();
    }
    if let Some(phone) = patch.phone {
        user.phone = optional_text(&mut problems, "phone", phone, 32);
    }
    if let Some(id) = patch.external_id {
        user.external_id = external_id(&mut problems, id);
    }
    if let Some(status) = patch.status {
        user.status = status;
    }
    if let Some(attributes) = patch.attributes {
        problems.check("attributes", check_attributes(&attributes));
        user.attributes = attributes;
    }
    let password = patch
        .password
        .and_then(|pw| problems.check("password", Password::parse(&pw)));
    problems.finish()?;
    user.updated_at = Timestamp::now();
    match password {
        Some(password) => Ok(Some(services.hasher.hash(password).await?)),
        None => Ok(None),
    }
}

/// Updates a user.
pub async fn update(
    services: &Services,
    actor: &Access,
    id: &UserId,
    patch: UpdateUser,
) -> Result<User, DomainError> {
    let mut user = visible_user(services, actor, p::USERS_UPDATE, id)
        .await?
        .user;
    let before = user.clone();
    let granted = actor.require_reach(p::USERS_UPDATE)?;
    guard_target(services, actor, p::USERS_UPDATE, id, true).await?;
    if actor.user_id() == Some(*id) && patch.status == Some(Status::Disabled) {
        return Err(DomainError::Conflict("you cannot disable yourself".into()));
    }
    if actor.user_id() == Some(*id) && (patch.password.is_some() || patch.email.is_some()) {
        // A stolen token must not turn into a permanent takeover: changing one's own
        // credentials needs the current password (POST /v1/users/me/password).
        return Err(DomainError::Forbidden(
            "change your own password or email through /v1/users/me/password, which asks for the current password".into(),
        ));
    }
    let disabling = patch.status == Some(Status::Disabled);
    let new_hash = apply_patch(services, &mut user, patch).await?;
    if !granted.store(services).update_user(&user).await? {
        return Err(DomainError::NotFound("user"));
    }
    if let Some(hash) = &new_hash {
        // A user whose password an administrator reset keeps no session (one transaction).
        granted
            .store(services)
            .set_password(id, hash, user.updated_at, None)
            .await?;
    }
    if disabling {
        // Tokens of disabled users are refused anyway; ending the sessions makes it final.
        granted
            .store(services)
            .end_sessions(id, None, Timestamp::now())
            .await?;
    }
    crate::admin::audit_change(
        services,
        &granted,
        "user.updated",
        None,
        format!("user:{id}"),
        Some(&before),
        Some(&user),
    )
    .await;
    Ok(user)
}

/// Deletes a user.
pub async fn delete(services: &Services, actor: &Access, id: &UserId) -> Result<(), DomainError> {
    let before = visible_user(services, actor, p::USERS_DELETE, id)
        .await?
        .user;
    let granted = actor.require_reach(p::USERS_DELETE)?;
    guard_target(services, actor, p::USERS_DELETE, id, true).await?;
    if actor.user_id() == Some(*id) {
        return Err(DomainError::Conflict("you cannot delete yourself".into()));
    }
    if granted.store(services).delete_user(id).await? {
        crate::admin::audit_change::<_, ()>(
            services,
            &granted,
            "user.deleted",
            None,
            format!("user:{id}"),
            Some(&before),
            None,
        )
        .await;
        Ok(())
    } else {
        Err(DomainError::NotFound("user"))
    }
}
