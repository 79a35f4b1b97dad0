//! Self-service: a user's own profile and password, and open registration.

use serde::Deserialize;

use super::users::{apply_patch, optional_text, UpdateUser};
use crate::authz::permission::builtin::USERS_CREATE;
use crate::authz::Caller;
use crate::error::{DomainError, Problems};
use crate::identity::attempts::{check_password, user_key};
use crate::identity::password::Password;
use crate::identity::{Email, Username};
use crate::ids::UserId;
use crate::model::{Status, User, UserRecord};
use crate::services::Services;
use crate::time::Timestamp;

/// Changes a user may make to their own profile.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateMe {
    /// New username, or `null` to remove it.
    #[serde(default, deserialize_with = "super::double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub username: Option<Option<String>>,
    /// New display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// New phone, or `null`.
    #[serde(default, deserialize_with = "super::double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub phone: Option<Option<String>>,
}

/// A password change.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    /// The current password.
    pub current_password: String,
    /// The new password.
    pub new_password: String,
}

/// An open registration.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Register {
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
    /// Optional username.
    #[serde(default)]
    pub username: Option<String>,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
}

async fn me_record(services: &Services, caller: &Caller) -> Result<UserRecord, DomainError> {
    services
        .store
        .user(&caller.user_id)
        .await?
        .ok_or(DomainError::NotFound("user"))
}

/// The caller's profile.
pub async fn get(services: &Services, caller: &Caller) -> Result<User, DomainError> {
    Ok(me_record(services, caller).await?.user)
}

/// Updates the caller's profile.
pub async fn update(
    services: &Services,
    caller: &Caller,
    input: UpdateMe,
) -> Result<User, DomainError> {
    let mut user = me_record(services, caller).await?.user;
    let patch = UpdateUser {
        username: input.username,
        display_name: input.display_name,
        phone: input.phone,
        ..UpdateUser::default()
    };
    apply_patch(services, &mut user, patch).await?;
    let granted = crate::authz::own_profile(caller);
    if !granted.store(services).update_user(&user).await? {
        return Err(DomainError::NotFound("user"));
    }
    Ok(user)
}

/// Changes the caller's password after checking the current one.
pub async fn change_password(
    services: &Services,
    caller: &Caller,
    input: ChangePassword,
) -> Result<(), DomainError> {
    let granted = crate::authz::require_login(caller)?;
    let record = me_record(services, caller).await?;
    let new_password = Password::parse(&input.new_password)
        .map_err(|err| DomainError::invalid("new_password", err))?;
    let current = Password::presented(&input.current_password)
        .map_err(|_| DomainError::invalid("current_password", "is incorrect"))?;
    // The same gate as login, under the user's own lock, which every login of theirs takes
    // too: a stolen access token is no way around the lock.
    let keys = [user_key(&caller.user_id)];
    let checked = check_password(services, &keys, record.password_hash, current).await?;
    if !checked.verified {
        let actor = format!("user:{}", caller.user_id);
        let details = serde_json::json!({ "locked": checked.locked });
        crate::audit::note_durably(
            services,
            actor.clone(),
            "user.password_check_failed",
            caller.account,
            actor,
            details,
        )
        .await;
        return Err(DomainError::invalid("current_password", "is incorrect"));
    }
    let hash = services.hasher.hash(new_password).await?;
    // Every other session ends with the change, in one transaction; this one goes on.
    granted
        .store(services)
        .set_password(
            &caller.user_id,
            &hash,
            Timestamp::now(),
            Some(&caller.session_id),
        )
        .await?;
    let actor = format!("user:{}", caller.user_id);
    let details = serde_json::json!({ "other_sessions_ended": true });
    crate::audit::note_durably(
        services,
        actor.clone(),
        "user.password_changed",
        caller.account,
        actor,
        details,
    )
    .await;
    Ok(())
}

/// Registers a new user when registration is open. Answers the same whether or not the email
/// or username was already taken, so registration cannot be used to discover accounts.
pub async fn register(services: &Services, input: Register) -> Result<(), DomainError> {
    if !services.settings.registration_enabled {
        return Err(DomainError::Forbidden(
            "registration is disabled on this server".into(),
        ));
    }
    let mut problems = Problems::default();
    let email = problems.check("email", Email::parse(&input.email));
    let username = input
        .username
        .and_then(|u| problems.check("username", Username::parse(&u)));
    let password = problems.check("password", Password::parse(&input.password));
    let display_name =
        optional_text(&mut problems, "display_name", input.display_name, 200).unwrap_or_default();
    problems.finish()?;
    let (Some(email), Some(password)) = (email, password) else {
        return Err(DomainError::invalid("email", "is required"));
    };
    let hash = services.hasher.hash(password).await?;
    // Open registration is the server's own act, under its setting: the system's proof.
    let granted = crate::authz::Access::System.require(USERS_CREATE, None)?;
    let now = Timestamp::now();
    let user = User {
        id: UserId::new(),
        email,
        username,
        external_id: None,
        display_name,
        phone: None,
        status: Status::Active,
        attributes: serde_json::Map::new(),
        created_at: now,
        updated_at: now,
        last_login_at: None,
    };
    match granted
        .store(services)
        .insert_user(
            &UserRecord {
                user,
                password_hash: Some(hash),
            },
            None,
        )
        .await
    {
        Ok(()) | Err(crate::StoreError::Conflict(_)) => Ok(()),
        Err(err) => Err(err.into()),
    }
}
