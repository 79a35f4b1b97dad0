//! Administration from the command line. The operator holds the database, so commands act as
//! the system actor, through the same use cases (and validation) as the REST API.

mod check;
mod identity;
mod machines;
mod policies;

pub use check::{check, CheckArgs};
pub use identity::{
    account, member, role, user, AccountCommand, MemberCommand, RoleCommand, UserCommand,
};
pub use machines::{
    api_key, audit, client, keys, ApiKeyCommand, AuditCommand, ClientCommand, KeysCommand,
};
pub use policies::{policy, PolicyCommand};

use anyhow::{bail, Context};
use warden_core::identity::{canonicalize, AccountName};
use warden_core::ids::{AccountId, RoleId, UserId};
use warden_core::services::Services;
use warden_core::DomainError;
use warden_server::config::Config;
use warden_server::state::AppState;

/// Opens the store (initializing it if empty) for one command.
pub(crate) async fn open(config: &Config) -> anyhow::Result<AppState> {
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

/// How a list shows where a record lives: its account id, or `global`.
pub(crate) fn scope_label(account: Option<AccountId>) -> String {
    account.map_or_else(|| "global".to_owned(), |a| a.to_string())
}

/// A domain error as a CLI message: each invalid field on its own line.
pub(crate) fn explain(err: DomainError) -> anyhow::Error {
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

pub(crate) async fn account_id(services: &Services, text: &str) -> anyhow::Result<AccountId> {
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

/// Resolves an optional `--account` (id or name).
pub(crate) async fn optional_account(
    services: &Services,
    text: Option<&str>,
) -> anyhow::Result<Option<AccountId>> {
    match text {
        Some(text) => Ok(Some(account_id(services, text).await?)),
        None => Ok(None),
    }
}

pub(crate) async fn user_id(services: &Services, text: &str) -> anyhow::Result<UserId> {
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

pub(crate) async fn role_id(
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
