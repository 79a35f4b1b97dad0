//! Administration from the command line. The operator holds the database, so commands act as
//! the system actor, through the same use cases (and validation) as the REST API.

use std::io::Read;

use anyhow::{bail, Context};
use clap::Subcommand;
use warden_core::admin::{accounts, assignments, clients, members, roles, users};
use warden_core::authz::Actor;
use warden_core::identity::{canonicalize, AccountName};
use warden_core::ids::{AccountId, RoleId, UserId};
use warden_core::model::Status;
use warden_core::page::PageRequest;
use warden_core::services::Services;
use warden_core::DomainError;
use warden_server::config::Config;
use warden_server::state::AppState;

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
    Grant {
        /// The user (id, email or username).
        #[arg(long)]
        user: String,
        /// The role (id or name).
        #[arg(long)]
        role: String,
        /// The account (id or name); a global grant when omitted.
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

/// Opens the store (initializing it if empty) for one command.
async fn open(config: &Config) -> anyhow::Result<AppState> {
    let issuer = config
        .issuer
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.listen));
    let opened = warden_server::open(config, issuer).await?;
    if let Some(password) = &opened.generated_admin_password {
        use secrecy::ExposeSecret;
        println!(
            "initialized a new store; first super admin {} has password {}",
            config.admin_email,
            password.expose_secret()
        );
    }
    Ok(opened.state)
}

fn explain(err: DomainError) -> anyhow::Error {
    match err {
        DomainError::Validation(fields) => {
            anyhow::anyhow!(fields
                .iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("\n"))
        }
        other => anyhow::anyhow!(other.to_string()),
    }
}

async fn account_id(services: &Services, text: &str) -> anyhow::Result<AccountId> {
    if let Ok(id) = AccountId::parse(text) {
        return Ok(id);
    }
    let name =
        AccountName::parse(text).map_err(|err| anyhow::anyhow!("account `{text}`: {err}"))?;
    match services
        .store
        .account_by_name(&name)
        .await
        .map_err(DomainError::from)
        .map_err(explain)?
    {
        Some(account) => Ok(account.id),
        None => bail!("no account named `{text}`"),
    }
}

async fn user_id(services: &Services, text: &str) -> anyhow::Result<UserId> {
    if let Ok(id) = UserId::parse(text) {
        return Ok(id);
    }
    let login = canonicalize(text).map_err(|err| anyhow::anyhow!("user `{text}`: {err}"))?;
    match services
        .store
        .user_by_login(&login)
        .await
        .map_err(DomainError::from)
        .map_err(explain)?
    {
        Some(record) => Ok(record.user.id),
        None => bail!("no user `{text}`"),
    }
}

async fn role_id(
    services: &Services,
    text: &str,
    account: Option<&AccountId>,
) -> anyhow::Result<RoleId> {
    if let Ok(id) = RoleId::parse(text) {
        return Ok(id);
    }
    let graph = warden_core::authz::RoleGraph::new(
        services
            .store
            .roles_in_scope(account)
            .await
            .map_err(DomainError::from)
            .map_err(explain)?,
    );
    graph
        .by_name(text, account)
        .map(|role| role.id)
        .with_context(|| format!("no role `{text}` visible there"))
}

/// Runs `warden user …`.
pub async fn user(config: &Config, command: UserCommand) -> anyhow::Result<()> {
    let state = open(config).await?;
    let services = state.services();
    match command {
        UserCommand::Create {
            email,
            username,
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
            let account_id = match account {
                Some(text) => Some(account_id(services, &text).await?),
                None => None,
            };
            let input = users::CreateUser {
                email,
                password: Some(password.clone()),
                username,
                display_name,
                phone: None,
                attributes: None,
                account_id,
            };
            let user = users::create(services, &Actor::System, input)
                .await
                .map_err(explain)?;
            println!("created user {} <{}>", user.id, user.email);
            if generated {
                println!("password (shown once): {password}");
            }
        }
        UserCommand::List { account, limit } => {
            let account_id = match account {
                Some(text) => Some(account_id(services, &text).await?.to_string()),
                None => None,
            };
            let query = users::UserQuery {
                account_id,
                ..users::UserQuery::default()
            };
            let page = users::list(services, &Actor::System, query, PageRequest::first(limit))
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
        UserCommand::Disable { user } => set_status(services, &user, Status::Disabled).await?,
        UserCommand::Enable { user } => set_status(services, &user, Status::Active).await?,
    }
    Ok(())
}

async fn set_status(services: &Services, user: &str, status: Status) -> anyhow::Result<()> {
    let id = user_id(services, user).await?;
    let patch = users::UpdateUser {
        status: Some(status),
        ..users::UpdateUser::default()
    };
    let user = users::update(services, &Actor::System, &id, patch)
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
        AccountCommand::Create { name, display_name } => {
            let input = accounts::CreateAccount {
                name,
                display_name,
                description: None,
                attributes: None,
            };
            let account = accounts::create(services, &Actor::System, input)
                .await
                .map_err(explain)?;
            println!("created account {} ({})", account.id, account.name);
        }
        AccountCommand::List { limit } => {
            let page = accounts::list(
                services,
                &Actor::System,
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
    Ok(())
}

/// Runs `warden member …`.
pub async fn member(config: &Config, command: MemberCommand) -> anyhow::Result<()> {
    let state = open(config).await?;
    let services = state.services();
    let MemberCommand::Add { account, user } = command;
    let account = account_id(services, &account).await?;
    let user = user_id(services, &user).await?;
    members::add(
        services,
        &Actor::System,
        &account,
        members::AddMember { user_id: user },
    )
    .await
    .map_err(explain)?;
    println!("user {user} is now a member of account {account}");
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
            let account_id = match account {
                Some(text) => Some(account_id(services, &text).await?),
                None => None,
            };
            let input = roles::CreateRole {
                name,
                account_id,
                description,
                permissions,
                inherits,
            };
            let role = roles::create(services, &Actor::System, input)
                .await
                .map_err(explain)?;
            println!("created role {} ({})", role.id, role.name);
        }
        RoleCommand::Grant {
            user,
            role,
            account,
        } => {
            let account_id = match account {
                Some(text) => Some(account_id(services, &text).await?),
                None => None,
            };
            let user = user_id(services, &user).await?;
            let role_id = role_id(services, &role, account_id.as_ref()).await?;
            let input = assignments::GrantRole {
                role_id,
                account_id,
            };
            assignments::grant(services, &Actor::System, &user, input)
                .await
                .map_err(explain)?;
            match account_id {
                Some(account) => {
                    println!("granted role `{role}` to user {user} in account {account}")
                }
                None => println!("granted role `{role}` to user {user} globally"),
            }
        }
        RoleCommand::List { limit } => {
            let page = roles::list(
                services,
                &Actor::System,
                None,
                None,
                PageRequest::first(limit),
            )
            .await
            .map_err(explain)?;
            for role in &page.items {
                let scope = role
                    .account_id
                    .map_or_else(|| "global".to_owned(), |a| a.to_string());
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
    Ok(())
}

/// `warden client …`
#[derive(Subcommand)]
pub enum ClientCommand {
    /// Create a service client; prints its id and secret once.
    Create {
        /// Name.
        #[arg(long)]
        name: String,
        /// The account it acts in (id or name); global when omitted.
        #[arg(long)]
        account: Option<String>,
        /// A role it holds, by name or id (repeat for several).
        #[arg(long = "role")]
        roles: Vec<String>,
        /// A CIDR block it may authenticate from (repeat; none means any address).
        #[arg(long = "allowed-ip")]
        allowed_ips: Vec<String>,
        /// A grant it may use (repeat; default client_credentials).
        #[arg(long = "grant")]
        grants: Vec<String>,
    },
    /// List service clients.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

/// `warden keys …`
#[derive(Subcommand)]
pub enum KeysCommand {
    /// List the signing keys and their states.
    List,
    /// Publish a new signing key now; it signs after the JWKS cache lifetime.
    Rotate {
        /// EdDSA, ES256 or RS256 (default: the configured algorithm).
        #[arg(long)]
        algorithm: Option<String>,
    },
}

/// Runs `warden client …`.
pub async fn client(config: &Config, command: ClientCommand) -> anyhow::Result<()> {
    let state = open(config).await?;
    let services = state.services();
    match command {
        ClientCommand::Create {
            name,
            account,
            roles,
            allowed_ips,
            grants,
        } => {
            let account_id = match account {
                Some(text) => Some(account_id(services, &text).await?),
                None => None,
            };
            let mut role_ids = Vec::new();
            for role in &roles {
                role_ids.push(role_id(services, role, account_id.as_ref()).await?);
            }
            let input = clients::CreateClient {
                name,
                account_id,
                roles: role_ids,
                allowed_ips,
                grant_types: (!grants.is_empty()).then_some(grants),
            };
            let created = clients::create(services, &Actor::System, input)
                .await
                .map_err(explain)?;
            println!(
                "created client {} ({})",
                created.client.client_id, created.client.name
            );
            println!("client_id:     {}", created.client.client_id);
            println!("client_secret: {}   (shown once)", created.client_secret);
        }
        ClientCommand::List { limit } => {
            let page = clients::list(services, &Actor::System, PageRequest::first(limit))
                .await
                .map_err(explain)?;
            for c in &page.items {
                let scope = c
                    .account_id
                    .map_or_else(|| "global".to_owned(), |a| a.to_string());
                println!(
                    "{}  {:<24} {:<36} {}  {}",
                    c.client_id,
                    c.name,
                    scope,
                    c.grant_types.join(","),
                    c.status.as_str()
                );
            }
        }
    }
    Ok(())
}

/// Runs `warden keys …`.
pub async fn keys(config: &Config, command: KeysCommand) -> anyhow::Result<()> {
    let state = open(config).await?;
    let services = state.services();
    match command {
        KeysCommand::List => {
            for key in warden_core::keys::list(services, &Actor::System)
                .await
                .map_err(explain)?
            {
                let retire = key
                    .retire_at
                    .map_or_else(|| "-".to_owned(), |t| t.to_rfc3339());
                println!(
                    "{:<28} {:<6} {:<9} signs from {}  unpublished from {}",
                    key.kid,
                    key.alg,
                    key.state,
                    key.activate_at.to_rfc3339(),
                    retire
                );
            }
        }
        KeysCommand::Rotate { algorithm } => {
            let algorithm = algorithm
                .map(|a| warden_core::tokens::SigningAlgorithm::parse(&a))
                .transpose()
                .map_err(|err| anyhow::anyhow!(err))?;
            let key = warden_core::keys::rotate(services, &Actor::System, algorithm)
                .await
                .map_err(explain)?;
            println!(
                "published {} ({}); it signs from {}",
                key.kid,
                key.alg,
                key.activate_at.to_rfc3339()
            );
            println!("the previous key stays published until every token it signed has expired");
        }
    }
    Ok(())
}

/// `warden api-key …`
#[derive(Subcommand)]
pub enum ApiKeyCommand {
    /// Create an API key for a user; prints the key once.
    Create {
        /// The owner (id, email or username).
        #[arg(long)]
        user: String,
        /// Name.
        #[arg(long)]
        name: String,
        /// The account it acts in (id or name).
        #[arg(long)]
        account: Option<String>,
        /// A role it may use (repeat); each must be held by the owner there.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// RFC 3339 expiry.
        #[arg(long)]
        expires_at: Option<String>,
        /// A CIDR block it may be used from (repeat).
        #[arg(long = "allowed-ip")]
        allowed_ips: Vec<String>,
    },
    /// List a user's API keys.
    List {
        /// The owner (id, email or username).
        #[arg(long)]
        user: String,
    },
    /// Revoke an API key of a user.
    Revoke {
        /// The owner (id, email or username).
        #[arg(long)]
        user: String,
        /// The key's id.
        id: String,
    },
}

/// Runs `warden api-key …`.
pub async fn api_key(config: &Config, command: ApiKeyCommand) -> anyhow::Result<()> {
    use warden_core::admin::api_keys;
    let state = open(config).await?;
    let services = state.services();
    match command {
        ApiKeyCommand::Create {
            user,
            name,
            account,
            roles,
            expires_at,
            allowed_ips,
        } => {
            let owner = user_id(services, &user).await?;
            let account_id = match account {
                Some(text) => Some(account_id(services, &text).await?),
                None => None,
            };
            let mut role_ids = Vec::new();
            for role in &roles {
                role_ids.push(role_id(services, role, account_id.as_ref()).await?);
            }
            let input = api_keys::CreateApiKey {
                name,
                roles: role_ids,
                expires_at,
                allowed_ips,
            };
            let created = api_keys::create_for(services, &owner, account_id, input)
                .await
                .map_err(explain)?;
            println!(
                "created API key {} ({})",
                created.api_key.id, created.api_key.name
            );
            println!("key: {}   (shown once)", created.key);
        }
        ApiKeyCommand::List { user } => {
            let owner = user_id(services, &user).await?;
            for key in services
                .store
                .api_keys(&owner)
                .await
                .map_err(DomainError::from)
                .map_err(explain)?
            {
                let state = if key.revoked_at.is_some() {
                    "revoked"
                } else {
                    "live"
                };
                println!("{}  {:<20} {}…  {}", key.id, key.name, key.prefix, state);
            }
        }
        ApiKeyCommand::Revoke { user, id } => {
            let owner = user_id(services, &user).await?;
            let id = warden_core::ids::ApiKeyId::parse(&id).map_err(|err| anyhow::anyhow!(err))?;
            if services
                .store
                .revoke_api_key(&owner, &id, warden_core::time::Timestamp::now())
                .await
                .map_err(DomainError::from)
                .map_err(explain)?
            {
                println!("revoked API key {id}");
            } else {
                bail!("no live API key {id} of that user");
            }
        }
    }
    Ok(())
}
