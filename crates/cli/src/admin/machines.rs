//! `warden client`, `api-key` and `keys`: machine identities, API keys and signing keys.

use anyhow::bail;
use clap::Subcommand;
use warden_core::admin::clients;
use warden_core::authz::Access;
use warden_core::page::PageRequest;
use warden_core::DomainError;
use warden_server::config::Config;

use super::{explain, open, optional_account, role_id, user_id};

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
        /// A grant it may use (repeat; default client_credentials, or authorization_code and
        /// refresh_token for a public client or one with redirect URIs).
        #[arg(long = "grant")]
        grants: Vec<String>,
        /// A public client (a single-page or native app): no secret, PKCE required.
        #[arg(long)]
        public: bool,
        /// Where sign-in may return with a code (repeat; matched exactly).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Where logout may return (repeat; matched exactly).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// A browser origin allowed to call the token and userinfo endpoints (repeat).
        #[arg(long = "allowed-origin")]
        allowed_origins: Vec<String>,
        /// People signing in through it are not asked to consent.
        #[arg(long)]
        first_party: bool,
    },
    /// List service clients.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Replace a client's secret; prints the new one once. The old one stops working at once.
    RotateSecret {
        /// The client id (`wc_…`).
        client: String,
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
            public,
            redirect_uris,
            post_logout_redirect_uris,
            allowed_origins,
            first_party,
        } => {
            let account_id = optional_account(services, account.as_deref()).await?;
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
                client_type: public.then(|| "public".to_owned()),
                redirect_uris: Some(redirect_uris),
                post_logout_redirect_uris: Some(post_logout_redirect_uris),
                first_party: Some(first_party),
                allowed_origins: Some(allowed_origins),
            };
            let created = clients::create(services, &Access::System, input)
                .await
                .map_err(explain)?;
            println!(
                "created client {} ({})",
                created.client.client_id, created.client.name
            );
            println!("client_id:     {}", created.client.client_id);
            match &created.client_secret {
                Some(secret) => println!("client_secret: {secret}   (shown once)"),
                None => println!("client_type:   public (no secret; sign-in uses PKCE)"),
            }
        }
        ClientCommand::List { limit } => {
            let page = clients::list(services, &Access::System, PageRequest::first(limit))
                .await
                .map_err(explain)?;
            for c in &page.items {
                let scope = super::scope_label(c.account_id);
                println!(
                    "{}  {:<24} {:<36} {}  {}  {}",
                    c.client_id,
                    c.name,
                    scope,
                    c.grant_types.join(","),
                    c.status.as_str(),
                    c.sign_in.client_type.as_str()
                );
            }
        }
        ClientCommand::RotateSecret { client } => {
            let record = client_record(services, &client).await?;
            let rotated = clients::rotate_secret(services, &Access::System, &record.client.id)
                .await
                .map_err(explain)?;
            println!("client_id:     {}", rotated.client.client_id);
            println!(
                "client_secret: {}   (shown once; the old one no longer works)",
                rotated.client_secret.unwrap_or_default()
            );
        }
    }
    // Events recorded by this command are written before the process exits.
    state.services().audit.flush().await;
    Ok(())
}

/// A client by its public `client_id`.
async fn client_record(
    services: &warden_core::services::Services,
    client: &str,
) -> anyhow::Result<warden_core::model::ClientRecord> {
    services
        .store
        .client_by_client_id(client)
        .await
        .map_err(DomainError::from)
        .map_err(explain)?
        .ok_or_else(|| anyhow::anyhow!("no client `{client}`"))
}

/// Runs `warden keys …`.
pub async fn keys(config: &Config, command: KeysCommand) -> anyhow::Result<()> {
    let state = open(config).await?;
    let services = state.services();
    match command {
        KeysCommand::List => {
            for key in warden_core::admin::signing_keys::list(services, &Access::System)
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
            let key =
                warden_core::admin::signing_keys::rotate(services, &Access::System, algorithm)
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
    // Events recorded by this command are written before the process exits.
    state.services().audit.flush().await;
    Ok(())
}

/// `warden api-key …`
#[derive(Subcommand)]
pub enum ApiKeyCommand {
    /// Create an API key for a user or a service client; prints the key once.
    Create {
        /// The owning user (id, email or username).
        #[arg(long, required_unless_present = "client", conflicts_with = "client")]
        user: Option<String>,
        /// The owning service client (its client_id); the key acts in the client's account.
        #[arg(long)]
        client: Option<String>,
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
            client,
            name,
            account,
            roles,
            expires_at,
            allowed_ips,
        } => {
            let (owner, account_id) = match (user, client) {
                (Some(user), _) => (
                    warden_core::model::KeyOwner::User(user_id(services, &user).await?),
                    optional_account(services, account.as_deref()).await?,
                ),
                (None, Some(client)) => {
                    let record = client_record(services, &client).await?;
                    (
                        warden_core::model::KeyOwner::Client(record.client.id),
                        record.client.account_id,
                    )
                }
                (None, None) => bail!("name the owner with --user or --client"),
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
            // The operator holds the database: the system's proof.
            let granted = warden_core::authz::Access::System
                .require(warden_core::admin::clients::CLIENTS_UPDATE, None)
                .map_err(explain)?;
            let created = api_keys::create_for(services, &granted, owner, account_id, input)
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
                .api_keys(&warden_core::model::KeyOwner::User(owner))
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
                .revoke_api_key(
                    &warden_core::model::KeyOwner::User(owner),
                    &id,
                    warden_core::time::Timestamp::now(),
                )
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
    // Events recorded by this command are written before the process exits.
    state.services().audit.flush().await;
    Ok(())
}

/// `warden audit …`
#[derive(Subcommand)]
pub enum AuditCommand {
    /// Print every audit record as JSON lines, oldest first.
    Export,
    /// Check the hash chain: exits 1 naming the first changed, removed or inserted record.
    Verify,
}

/// Runs `warden audit …`.
pub async fn audit(config: &Config, command: AuditCommand) -> anyhow::Result<()> {
    use warden_core::audit::{all, verify, Verdict};
    let state = open(config).await?;
    let records = all(state.services()).await.map_err(explain)?;
    match command {
        AuditCommand::Export => {
            for record in &records {
                println!("{}", serde_json::to_string(record)?);
            }
            eprintln!("exported {} records", records.len());
        }
        AuditCommand::Verify => match verify(records) {
            Verdict::Intact { records } => {
                println!("audit log intact: {records} records chain correctly")
            }
            Verdict::Broken { seq, reason } => bail!("audit log broken at record {seq}: {reason}"),
        },
    }
    // Events recorded by this command are written before the process exits.
    state.services().audit.flush().await;
    Ok(())
}
