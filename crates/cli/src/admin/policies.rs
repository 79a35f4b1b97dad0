//! `warden policy`: manage Cedar policies, and test a policy set offline.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Subcommand;
use warden_core::admin::policies;
use warden_core::authz::engine::suite::Suite;
use warden_core::authz::Access;
use warden_core::ids::PolicyId;
use warden_core::page::PageRequest;
use warden_server::config::Config;

use super::{explain, open, optional_account};

/// `warden policy …`
#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Run the cases of a test file (TOML) against its roles and policies, offline; exits 1
    /// when a case fails.
    Test {
        /// The test file.
        file: PathBuf,
    },
    /// Create a policy from a Cedar file.
    Create {
        /// The Cedar file.
        file: PathBuf,
        /// The account it belongs to (id or name); global when omitted.
        #[arg(long)]
        account: Option<String>,
        /// What it is for.
        #[arg(long)]
        description: Option<String>,
        /// Create it disabled.
        #[arg(long)]
        disabled: bool,
    },
    /// List policies.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Delete a policy.
    Delete {
        /// The policy's id.
        id: String,
    },
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Runs `warden policy test`: prints one line per case and a summary.
fn test(file: &Path) -> anyhow::Result<()> {
    let text = read(file)?;
    let mut suite: Suite = toml::from_str(&text)
        .with_context(|| format!("{} is not a valid test file", file.display()))?;
    let dir = file.parent().unwrap_or(Path::new("."));
    for policy in &mut suite.policies {
        if let Some(name) = &policy.file {
            if policy.cedar.is_some() {
                bail!("a policy gives both `cedar` and `file` ({name})");
            }
            policy.cedar = Some(read(&dir.join(name))?);
        }
    }
    let outcomes = suite.run().map_err(anyhow::Error::msg)?;
    let failed = outcomes.iter().filter(|o| !o.passed).count();
    for outcome in &outcomes {
        let status = if outcome.passed { "ok  " } else { "FAIL" };
        let verdict = match &outcome.decision {
            Ok(decision) if decision.allowed => "allow",
            Ok(_) => "deny",
            Err(_) => "error",
        };
        println!(
            "{status} {}: {verdict} ({})",
            outcome.name, outcome.explanation
        );
    }
    println!(
        "{} cases: {} passed, {failed} failed",
        outcomes.len(),
        outcomes.len() - failed
    );
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}

/// Runs `warden policy …`.
pub async fn policy(config: &Config, command: PolicyCommand) -> anyhow::Result<()> {
    if let PolicyCommand::Test { file } = &command {
        return test(file);
    }
    let state = open(config).await?;
    let services = state.services();
    match command {
        PolicyCommand::Test { .. } => {}
        PolicyCommand::Create {
            file,
            account,
            description,
            disabled,
        } => {
            let input = policies::CreatePolicy {
                account_id: optional_account(services, account.as_deref()).await?,
                description,
                cedar: read(&file)?,
                enabled: Some(!disabled),
            };
            let created = policies::create(services, &Access::System, input)
                .await
                .map_err(explain)?;
            println!("created policy {}", created.id);
        }
        PolicyCommand::List { limit } => {
            let page = policies::list(
                services,
                &Access::System,
                None,
                None,
                PageRequest::first(limit),
            )
            .await
            .map_err(explain)?;
            for p in &page.items {
                let scope = super::scope_label(p.account_id);
                let state = if p.enabled { "enabled" } else { "disabled" };
                println!("{}  {:<36} {:<8} {}", p.id, scope, state, p.description);
            }
        }
        PolicyCommand::Delete { id } => {
            let id = PolicyId::parse(&id).map_err(anyhow::Error::msg)?;
            policies::delete(services, &Access::System, &id)
                .await
                .map_err(explain)?;
            println!("deleted policy {id}");
        }
    }
    services.audit.flush().await;
    Ok(())
}
