//! `warden check`: one decision, made by the engine `warden serve` decides with, against the
//! store as committed now.

use anyhow::Context;
use clap::Args;
use warden_core::authz::check::{self, CheckRequest};
use warden_core::authz::Access;
use warden_server::config::Config;

use super::{explain, open, optional_account, user_id};

/// `warden check …`
#[derive(Args)]
pub struct CheckArgs {
    /// The user (id, email or username).
    #[arg(long)]
    user: String,
    /// The permission asked for, `resource:action` (`documents:edit`).
    #[arg(long)]
    action: String,
    /// The resource, `type:id` (`document:42`).
    #[arg(long)]
    resource: String,
    /// The account to decide in (id or name).
    #[arg(long)]
    account: Option<String>,
    /// The resource's attributes, a JSON object (registered resources use their stored ones).
    #[arg(long)]
    attributes: Option<String>,
    /// Context for policies, a JSON object (`{"ip": "10.1.2.3"}`).
    #[arg(long)]
    context: Option<String>,
}

/// Runs `warden check`: prints the decision and what decided it; exits 0 when allowed and
/// 3 when denied, so scripts can branch on it.
pub async fn check(config: &Config, args: CheckArgs) -> anyhow::Result<bool> {
    let state = open(config).await?;
    let services = state.services();
    // This process decides, so it loads the snapshot a server holds (seconds at a million
    // users).
    services
        .engine
        .load(services.store.as_ref())
        .await
        .context("loading the authorization data")?;
    let user = user_id(services, &args.user).await?;
    let account = optional_account(services, args.account.as_deref()).await?;
    let (kind, id) = args
        .resource
        .split_once(':')
        .context("--resource is `type:id`, for example document:42")?;
    let object =
        |flag: &str, example: &str, text: Option<&str>| -> anyhow::Result<serde_json::Value> {
            match text {
                None => Ok(serde_json::json!({})),
                Some(text) => match serde_json::from_str(text) {
                    Ok(value @ serde_json::Value::Object(_)) => Ok(value),
                    _ => anyhow::bail!("--{flag} is a JSON object, for example '{example}'"),
                },
            }
        };
    let body = serde_json::json!({
        "user_id": user,
        "account_id": account,
        "action": args.action,
        "resource": {"type": kind, "id": id, "attributes": object("attributes", r#"{"owner_id": "u1"}"#, args.attributes.as_deref())?},
        "context": object("context", r#"{"ip": "10.1.2.3"}"#, args.context.as_deref())?,
    });
    let request: CheckRequest =
        serde_json::from_value(body).context("the question does not parse")?;
    let decision = check::check(
        services,
        &Access::System,
        std::net::IpAddr::from([127, 0, 0, 1]),
        &request,
    )
    .await
    .map_err(explain)?;
    println!("{}", if decision.allowed { "allow" } else { "deny" });
    for reason in &decision.reasons {
        println!("  {}", serde_json::to_string(reason).unwrap_or_default());
    }
    for error in &decision.errors {
        println!(
            "  error: {}",
            serde_json::to_string(error).unwrap_or_default()
        );
    }
    state.services().audit.flush().await;
    Ok(decision.allowed)
}
