//! `warden user`, `account`, `member` and `role`: people, tenants and their roles.

use std::io::Read;

use anyhow::Context;
use clap::Subcommand;
use warden_core::admin::{accounts, assignments, members, roles, users};
use warden_core::authz::Access;
use warden_core::model::Status;
use warden_core::page::PageRequest;
use warden_core::services::Services;
use warden_server::config::Config;

use super::{account_id, explain, open, optional_account, role_id, user_id};

/// `warden user …`
#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user. The password comes from stdin with --password-stdin, or is generated
    /// and printed once.
    Create {
        /// Email address.
        #[arg(long)]
        email: String,
        /// Optional username.
        #[arg(long)]
        username: Option<String>,
        /// Optional id another system knows the user by (SCIM externalId), unique.
        #[arg(long)]
        external_id: Option<String>,
        /// Display name.
        #[arg(long)]
        display_name: Option<String>,
        /// Add the user to this account (id or name).
        #[arg(long)]
        account: Option<String>,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List {
        /// Only members of this account (id or name).
        #[arg(long)]
        account: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Set or clear the id another system knows a user (id, email or username) by.
    SetExternalId {
        /// The user.
        user: String,
        /// The external id; leave it out with --clear.
        external_id: Option<String>,
        /// Remove the external id.
        #[arg(long, conflicts_with = "external_id")]
        clear: bool,
    },
    /// Disable a user (id, email or username): they can no longer log in or use their tokens.
    Disable {
        /// The user.
        user: String,
    },
    /// Enable a disabled user.
    Enable {
        /// The user.
        user: String,
    },
    /// Remove a user's second factor (a lost phone); they set one up again at their next
    /// sign-in where one is required.
    ResetSecondFactor {
        /// The user (id, email or username).
        user: String,
    },
    /// Delete a user (id, email or username), with their sessions, roles and API keys.
    Delete {
        /// The user.
        user: String,
    },
}

/// `warden account …`
#[derive(Subcommand)]
pub enum AccountCommand {
    /// Create an account.
    Create {
        /// Unique slug (lowercase letters, digits, `-`).
        name: String,
        /// Display name.
        #[arg(long)]
        display_name: Option<String>,
        /// Signing in to the account takes a second factor (TOTP).
        #[arg(long)]
        require_second_factor: bool,
    },
    /// List accounts.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

/// `warden member …`
#[derive(Subcommand)]
pub enum MemberCommand {
    /// Add a user to an account.
    Add {
        /// The account (id or name).
        #[arg(long)]
        account: String,
        /// The user (id, email or username).
        #[arg(long)]
        user: String,
    },
    /// List an account's members.
    List {
        /// The account (id or name).
        #[arg(long)]
        account: String,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Remove a user from an account, with the roles they held there.
    Remove {
        /// The account (id or name).
        #[arg(long)]
        account: String,
        /// The user (id, email or username).
        #[arg(long)]
        user: String,
    },
}

/// `warden role …`
#[derive(Subcommand)]
pub enum RoleCommand {
    /// Create a role.
    Create {
        /// Name.
        name: String,
        /// Owning account (id or name); global when omitted.
        #[arg(long)]
        account: Option<String>,
        /// A permission (repeat for several).
        #[arg(long = "permission", short = 'p')]
        permissions: Vec<String>,
        /// A role to inherit (repeat for several).
        #[arg(long = "inherits")]
        inherits: Vec<String>,
        /// Description.
        #[arg(long)]
        description: Option<String>,
    },
    /// Grant a role to a user, in an account or globally.
    Grant(Held),
    /// Revoke a role from a user, in an account or globally.
    Revoke(Held),
    /// Delete a role and every grant of it (built-in roles, and roles others inherit, stay).
    Delete {
        /// The role (id or name).
        role: String,
        /// The account whose role it is (id or name); a global role when omitted.
        #[arg(long)]
        account: Option<String>,
    },
    /// List roles.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

/// A role held by a user, in an account or globally (`role grant` and `role revoke`).
#[derive(clap::Args)]
pub struct Held {
    /// The user (id, email or username).
    #[arg(long)]
    user: String,
    /// The role (id or name).
    #[arg(long)]
    role: String,
    /// The account (id or name); global when omitted.
    #[arg(long)]
    account: Option<String>,
}

impl Held {
    /// The user, role and account it names.
    async fn resolve(
        &self,
        services: &Services,
    ) -> anyhow::Result<(
        warden_core::ids::UserId,
        warden_core::ids::RoleId,
        Option<warden_core::ids::AccountId>,
    )> {
        let account = optional_account(services, self.account.as_deref()).await?;
        let user = user_id(services, &self.user).await?;
        let role = role_id(services, &self.role, account.as_ref()).await?;
        Ok((user, role, account))
    }
}

/// Runs `warden user …`.
pub async fn user(config: &Config, command: UserCommand) -> anyhow::Result<()> {
    let state = open(config).await?;
    let services = state.services();
    match command {
        UserCommand::Create {
            email,
            username,
            external_id,
            display_name,
            account,
            password_stdin,
        } => {
            let (password, generated) = if password_stdin {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("reading the password from stdin")?;
                (text.trim_end_matches(['\r', '\n']).to_owned(), false)
            } else {
                (warden_core::crypto::random_token()[..20].to_owned(), true)
            };
            let account_id = optional_account(services, account.as_deref()).await?;
            let input = users::CreateUser {
                email,
                password: Some(password.clone()),
                username,
                external_id,
                display_name,
                phone: None,
                attributes: None,
                account_id,
            };
            let user = users::create(services, &Access::System, input)
                .await
                .map_err(explain)?;
            println!("created user {} <{}>", user.id, user.email);
            if generated {
                println!("password (shown once): {password}");
            }
        }
        UserCommand::List { account, limit } => {
            let account_id = optional_account(services, account.as_deref())
                .await?
                .map(|a| a.to_string());
            let query = users::UserQuery {
                account_id,
                ..users::UserQuery::default()
            };
            let page = users::list(services, &Access::System, query, PageRequest::first(limit))
                .await
                .map_err(explain)?;
            for user in &page.items {
                println!(
                    "{}  {:<32} {:<16} {}",
                    user.id,
                    user.email,
                    user.username.as_ref().map_or("-", |u| u.as_str()),
                    user.status.as_str()
                );
            }
            if page.next_cursor.is_some() {
                println!("(more users exist; raise --limit)");
            }
        }
        UserCommand::SetExternalId {
            user,
            external_id,
            clear,
        } => {
            if external_id.is_none() && !clear {
                anyhow::bail!("give the external id, or --clear to remove it");
            }
            let id = user_id(services, &user).await?;
            let patch = users::UpdateUser {
                external_id: Some(external_id),
                ..users::UpdateUser::default()
            };
            let user = users::update(services, &Access::System, &id, patch)
                .await
                .map_err(explain)?;
            match &user.external_id {
                Some(external) => println!(
                    "user {} <{}> is known elsewhere as {external}",
                    user.id, user.email
                ),
                None => println!("user {} <{}> has no external id", user.id, user.email),
            }
        }
        UserCommand::Disable { user } => set_status(services, &user, Status::Disabled).await?,
        UserCommand::Enable { user } => set_status(services, &user, Status::Active).await?,
        UserCommand::ResetSecondFactor { user } => {
            let id = user_id(services, &user).await?;
            warden_core::identity::factor::reset(services, &Access::System, &id)
                .await
                .map_err(explain)?;
            println!("removed the second factor of user {id} ({user})");
        }
        UserCommand::Delete { user } => {
            let id = user_id(services, &user).await?;
            users::delete(services, &Access::System, &id)
                .await
                .map_err(explain)?;
            println!("deleted user {id} ({user})");
        }
    }
    // Events recorded by this command are written before the process exits.
    state.services().audit.flush().await;
    Ok(())
}

async fn set_status(services: &Services, user: &str, status: Status) -> anyhow::Result<()> {
    let id = user_id(services, user).await?;
    let patch = users::UpdateUser {
        status: Some(status),
        ..users::UpdateUser::default()
    };
    let user = users::update(services, &Access::System, &id, patch)
        .await
        .map_err(explain)?;
    println!(
        "user {} <{}> is now {}",
        user.id,
        user.email,
        user.status.as_str()
    );
    Ok(())
}

/// Runs `warden account …`.
pub async fn account(config: &Config, command: AccountCommand) -> anyhow::Result<()> {
    let state = open(config).await?;
    let services = state.services();
    match command {
        AccountCommand::Create {
            name,
            display_name,
            require_second_factor,
        } => {
            let input = accounts::CreateAccount {
                allowed_ips: Vec::new(),
                policy_schema: None,
                require_second_factor,
                name,
                display_name,
                description: None,
                attributes: None,
            };
            let account = accounts::create(services, &Access::System, input)
                .await
                .map_err(explain)?;
            println!("created account {} ({})", account.id, account.name);
        }
        AccountCommand::List { limit } => {
            let page = accounts::list(
                services,
                &Access::System,
                None,
                None,
                PageRequest::first(limit),
            )
            .await
            .map_err(explain)?;
            for account in &page.items {
                println!(
                    "{}  {:<24} {:<32} {}",
                    account.id,
                    account.name,
                    account.display_name,
                    account.status.as_str()
                );
            }
        }
    }
    // Events recorded by this command are written before the process exits.
    state.services().audit.flush().await;
    Ok(())
}

/// Runs `warden member …`.
pub async fn member(config: &Config, command: MemberCommand) -> anyhow::Result<()> {
    let state = open(config).await?;
    let services = state.services();
    match command {
        MemberCommand::Add { account, user } => {
            let account = account_id(services, &account).await?;
            let user = user_id(services, &user).await?;
            members::add(
                services,
                &Access::System,
                &account,
                members::AddMember { user_id: user },
            )
            .await
            .map_err(explain)?;
            println!("user {user} is now a member of account {account}");
        }
        MemberCommand::List { account, limit } => {
            let account = account_id(services, &account).await?;
            let page = members::list(
                services,
                &Access::System,
                &account,
                PageRequest::first(limit),
            )
            .await
            .map_err(explain)?;
            for member in &page.items {
                let email = services
                    .store
                    .user(&member.user_id)
                    .await?
                    .map(|u| u.user.email.as_str().to_owned())
                    .unwrap_or_default();
                println!(
                    "{}  {:<32} joined {}",
                    member.user_id,
                    email,
                    member.created_at.to_rfc3339()
                );
            }
            if page.next_cursor.is_some() {
                println!("(more members exist; raise --limit)");
            }
        }
        MemberCommand::Remove { account, user } => {
            let account = account_id(services, &account).await?;
            let user = user_id(services, &user).await?;
            members::remove(services, &Access::System, &account, &user)
                .await
                .map_err(explain)?;
            println!("user {user} is no longer a member of account {account}");
        }
    }
    // Events recorded by this command are written before the process exits.
    state.services().audit.flush().await;
    Ok(())
}

/// Runs `warden role …`.
pub async fn role(config: &Config, command: RoleCommand) -> anyhow::Result<()> {
    let state = open(config).await?;
    let services = state.services();
    match command {
        RoleCommand::Create {
            name,
            account,
            permissions,
            inherits,
            description,
        } => {
            let account_id = optional_account(services, account.as_deref()).await?;
            let input = roles::CreateRole {
                name,
                account_id,
                description,
                permissions,
                inherits,
            };
            let role = roles::create(services, &Access::System, input)
                .await
                .map_err(explain)?;
            println!("created role {} ({})", role.id, role.name);
        }
        RoleCommand::Grant(held) => {
            let (user, role_id, account_id) = held.resolve(services).await?;
            let role = held.role;
            let input = assignments::GrantRole {
                role_id,
                account_id,
            };
            assignments::grant(services, &Access::System, &user, input)
                .await
                .map_err(explain)?;
            match account_id {
                Some(account) => {
                    println!("granted role `{role}` to user {user} in account {account}")
                }
                None => println!("granted role `{role}` to user {user} globally"),
            }
        }
        RoleCommand::Revoke(held) => {
            let (user, role_id, account_id) = held.resolve(services).await?;
            let role = held.role;
            assignments::revoke(
                services,
                &Access::System,
                &user,
                &role_id,
                account_id.as_ref(),
            )
            .await
            .map_err(explain)?;
            match account_id {
                Some(account) => {
                    println!("revoked role `{role}` from user {user} in account {account}")
                }
                None => println!("revoked the global role `{role}` from user {user}"),
            }
        }
        RoleCommand::Delete { role, account } => {
            let account_id = optional_account(services, account.as_deref()).await?;
            let id = role_id(services, &role, account_id.as_ref()).await?;
            roles::delete(services, &Access::System, &id)
                .await
                .map_err(explain)?;
            println!("deleted role {id} ({role}) and every grant of it");
        }
        RoleCommand::List { limit } => {
            let page = roles::list(
                services,
                &Access::System,
                None,
                None,
                PageRequest::first(limit),
            )
            .await
            .map_err(explain)?;
            for role in &page.items {
                let scope = super::scope_label(role.account_id);
                let perms: Vec<&str> = role.permissions.iter().map(|p| p.as_str()).collect();
                println!(
                    "{}  {:<20} {:<36} {}",
                    role.id,
                    role.name,
                    scope,
                    perms.join(" ")
                );
            }
        }
    }
    // Events recorded by this command are written before the process exits.
    state.services().audit.flush().await;
    Ok(())
}
