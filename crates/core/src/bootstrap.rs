//! First start: the built-in roles, the first super admin and the first signing key, written
//! once in one transaction; later starts only check the master key still opens the store.

use secrecy::{ExposeSecret, SecretString};
use serde_json::Map;

use crate::authz::permission::{builtin as p, Permission};
use crate::crypto::MasterKey;
use crate::error::DomainError;
use crate::identity::password::{Password, PasswordHasher};
use crate::identity::{Email, RoleName};
use crate::ids::{RoleId, UserId};
use crate::model::{Assignment, Role, Status, User, UserRecord};
use crate::store::{Bootstrap, Store};
use crate::time::Timestamp;
use crate::tokens::{keys_generate, SigningAlgorithm};

/// Name of the built-in global administrator role.
pub const SUPER_ADMIN: &str = "super_admin";
/// Name of the built-in per-account administrator role.
pub const ACCOUNT_ADMIN: &str = "account_admin";
/// Name of the built-in plain member role.
pub const MEMBER: &str = "member";

const MASTER_CHECK_CONTEXT: &str = "warden-master-key-check";

/// What the first start should create.
pub struct InitOptions {
    /// The first super admin's email.
    pub admin_email: String,
    /// Their password; generated (and returned once) when absent.
    pub admin_password: Option<SecretString>,
    /// Algorithm of the first signing key.
    pub algorithm: SigningAlgorithm,
}

/// What initialization did.
pub enum InitOutcome {
    /// The store was already initialized; nothing changed.
    AlreadyInitialized,
    /// The store was initialized; a generated admin password is returned to print once.
    Initialized {
        /// The generated password, when none was configured.
        generated_password: Option<SecretString>,
    },
}

fn builtin_role(
    name: &str,
    permissions: &[&'static str],
    now: Timestamp,
) -> Result<Role, DomainError> {
    Ok(Role {
        id: RoleId::new(),
        account_id: None,
        name: RoleName::parse(name).map_err(DomainError::Internal)?,
        description: match name {
            SUPER_ADMIN => "Everything, in every account",
            ACCOUNT_ADMIN => "Manages the members, roles and role assignments of its account",
            _ => "A plain member of an account",
        }
        .to_owned(),
        permissions: permissions
            .iter()
            .map(|text| Permission::known(text))
            .collect(),
        inherits: Vec::new(),
        builtin: true,
        created_at: now,
        updated_at: now,
    })
}

/// The built-in roles with their default permissions (editable afterwards).
pub fn builtin_roles(now: Timestamp) -> Result<Vec<Role>, DomainError> {
    Ok(vec![
        builtin_role(SUPER_ADMIN, &["*"], now)?,
        builtin_role(
            ACCOUNT_ADMIN,
            &[
                p::ACCOUNTS_READ,
                p::USERS_READ,
                p::USERS_CREATE,
                p::USERS_UPDATE,
                p::USERS_DELETE,
                "warden.members:*",
                "warden.roles:*",
                "warden.assignments:*",
                "warden.policies:*",
                "warden.resources:*",
                "warden.sessions:*",
                "warden.clients:*",
                "warden.audit:read",
            ],
            now,
        )?,
        builtin_role(MEMBER, &[p::ACCOUNTS_READ], now)?,
    ])
}

/// Whether `master` opens `store`: `Ok(false)` when the store was never initialized, an error
/// in words when it was initialized with another key.
pub async fn opens(store: &dyn Store, master: &MasterKey) -> Result<bool, DomainError> {
    match store.meta("master_key_check").await? {
        Some(check) => master
            .open(MASTER_CHECK_CONTEXT, &check)
            .map(|_| true)
            .map_err(|_| wrong_master_key()),
        None => Ok(false),
    }
}

/// Initializes an empty store, or checks that `master` opens an initialized one.
pub async fn ensure_initialized(
    store: &dyn Store,
    hasher: &PasswordHasher,
    master: &MasterKey,
    options: InitOptions,
) -> Result<InitOutcome, DomainError> {
    if opens(store, master).await? {
        return Ok(InitOutcome::AlreadyInitialized);
    }
    let now = Timestamp::now();
    let email = Email::parse(&options.admin_email)
        .map_err(|err| DomainError::invalid("admin_email", err))?;
    let (password_text, generated) = match options.admin_password {
        Some(password) => (password, false),
        None => (
            SecretString::from(crate::crypto::random_token()[..24].to_owned()),
            true,
        ),
    };
    let password = Password::parse(password_text.expose_secret())
        .map_err(|err| DomainError::invalid("admin_password", err))?;
    let hash = hasher.hash(password).await?;
    let roles = builtin_roles(now)?;
    let super_admin = roles
        .first()
        .map(|r| r.id)
        .ok_or_else(|| DomainError::Internal("no built-in roles".into()))?;
    let admin = User {
        id: UserId::new(),
        email,
        username: None,
        external_id: None,
        display_name: "Administrator".into(),
        phone: None,
        status: Status::Active,
        attributes: Map::new(),
        created_at: now,
        updated_at: now,
        last_login_at: None,
    };
    let bootstrap = Bootstrap {
        admin_role: Assignment {
            user_id: admin.id,
            role_id: super_admin,
            account_id: None,
            created_at: now,
        },
        admin: UserRecord {
            user: admin,
            password_hash: Some(hash),
        },
        roles,
        key: keys_generate(options.algorithm, master, now, now)?,
        master_key_check: master.seal(MASTER_CHECK_CONTEXT, b"warden")?,
    };
    if store.initialize(&bootstrap).await? {
        Ok(InitOutcome::Initialized {
            generated_password: generated.then_some(password_text),
        })
    } else {
        // Another node initialized the store first; the master key must still match.
        let check = store
            .meta("master_key_check")
            .await?
            .ok_or_else(|| DomainError::Internal("store half-initialized".into()))?;
        master
            .open(MASTER_CHECK_CONTEXT, &check)
            .map_err(|_| wrong_master_key())?;
        Ok(InitOutcome::AlreadyInitialized)
    }
}

/// The start-up error for a master key that does not open the store, in words.
fn wrong_master_key() -> DomainError {
    DomainError::Conflict(
        "this master key cannot decrypt the store's signing keys: the store was initialized \
         with another one. Set WARDEN_MASTER_KEY (or the data directory's master.key) to the \
         key it was initialized with"
            .into(),
    )
}
