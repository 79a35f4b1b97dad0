//! The `warden` binary: run the server, migrate, check the configuration, and administer
//! users, accounts, members and roles directly against the store (no token needed).

mod admin;
mod backup;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;
use warden_server::config::{Config, LogFormat};

/// Warden: authentication and authorization service.
#[derive(Parser)]
#[command(name = "warden", version, about)]
struct Cli {
    /// TOML config file (also WARDEN_CONFIG).
    #[arg(long, global = true, env = "WARDEN_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (initializes an empty store on first start).
    Serve,
    /// Initialize an empty store (schema, keys, first admin) without serving.
    Init,
    /// Apply database migrations and exit.
    Migrate,
    /// Configuration commands.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Forward-auth route rules (the `[forward_auth]` section of the config file).
    #[command(subcommand, name = "forward-auth")]
    ForwardAuth(ForwardAuthCommand),
    /// Manage users.
    #[command(subcommand)]
    User(admin::UserCommand),
    /// Manage accounts (tenants).
    #[command(subcommand)]
    Account(admin::AccountCommand),
    /// Manage account memberships.
    #[command(subcommand)]
    Member(admin::MemberCommand),
    /// Manage roles and grant them.
    #[command(subcommand)]
    Role(admin::RoleCommand),
    /// Manage service clients.
    #[command(subcommand)]
    Client(admin::ClientCommand),
    /// Manage API keys.
    #[command(subcommand, name = "api-key")]
    ApiKey(admin::ApiKeyCommand),
    /// The audit log: export it, verify its chain.
    #[command(subcommand)]
    Audit(admin::AuditCommand),
    /// Signing keys: list their states, rotate.
    #[command(subcommand)]
    Keys(admin::KeysCommand),
    /// ABAC policies (Cedar): create, list, delete, and test a policy set offline.
    #[command(subcommand)]
    Policy(admin::PolicyCommand),
    /// Copy the embedded database to FILE while Warden may be serving (consistent, checked).
    /// PostgreSQL: use pg_dump (see the README).
    Backup {
        /// The backup file to write; it must not exist.
        file: PathBuf,
    },
    /// Restore a backup into the configured data directory, which must hold no database.
    /// The backed-up installation's master key must be in place first.
    Restore {
        /// The backup file.
        file: PathBuf,
    },
    /// Decide one question against the store as it is: allow (exit 0) or deny (exit 3).
    Check(admin::CheckArgs),
}

#[derive(Subcommand)]
enum ForwardAuthCommand {
    /// Say which rule a request would hit and what it needs, e.g. `explain GET
    /// https://app.example.com/documents/42`.
    Explain {
        /// The request's method.
        method: String,
        /// The request's absolute URL.
        url: String,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration (secrets redacted) and any warnings.
    Check,
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WARDEN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info"));
    // Colours only for a person at a terminal: a log file or journal gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Refuses to serve without a public URL where one cannot be guessed: on an address other
/// than loopback (the listen address is not what clients reach), and with PostgreSQL (nodes
/// share the store, so each would otherwise issue tokens the others reject).
fn require_issuer(config: &Config) -> anyhow::Result<()> {
    if config.issuer.is_some() {
        return Ok(());
    }
    let why = if !config.listen.ip().is_loopback() {
        format!(
            "Warden listens on {}, which is not what clients reach",
            config.listen
        )
    } else if config
        .database_url
        .as_deref()
        .is_some_and(|url| url.starts_with("postgres"))
    {
        "with PostgreSQL, several nodes can share the store and must all issue the same `iss`"
            .to_owned()
    } else {
        return Ok(());
    };
    anyhow::bail!(
        "{why}: set WARDEN_ISSUER (or `issuer` in the configuration file) to Warden's public URL, such as https://auth.example.com; tokens carry it as `iss` and verifiers check it"
    )
}

fn issuer(config: &Config, bound: std::net::SocketAddr) -> String {
    config
        .issuer
        .clone()
        .unwrap_or_else(|| format!("http://{bound}"))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = terminate => {} }
    tracing::info!("shutting down: draining in-flight requests");
}

fn print_generated_password(email: &str, password: &secrecy::SecretString) {
    println!("================================================================");
    println!(" Warden initialized. First super admin:");
    println!("   email:    {email}");
    println!("   password: {}", password.expose_secret());
    println!(" This password is shown once. Log in and change it.");
    println!("================================================================");
}

async fn serve(config: Config) -> anyhow::Result<()> {
    require_issuer(&config)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let bound = listener.local_addr()?;
    let opened = warden_server::open(&config, issuer(&config, bound)).await?;
    if let Some(password) = &opened.generated_admin_password {
        print_generated_password(&config.admin_email, password);
    }
    let state = opened.state.clone();
    state
        .start_engine(Duration::from_millis(config.change_poll_ms))
        .await
        .context("cannot load the authorization data")?;
    let app = warden_server::router(
        opened.state,
        config.max_body_bytes,
        Duration::from_secs(config.request_timeout),
    );
    if let Some(address) = config.metrics_listen {
        let metrics = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address} (metrics_listen)"))?;
        let router = warden_server::metrics_router(state.clone());
        tracing::info!(address = %metrics.local_addr()?, "metrics are served on their own listener");
        tokio::spawn(async move {
            if let Err(err) = warden_server::serve(metrics, router, std::future::pending()).await {
                tracing::error!(error = %err, "the metrics listener failed");
            }
        });
    }
    tracing::info!(address = %bound, backend = opened.store.backend().name(), "Warden is listening");
    warden_server::serve_with(listener, app, shutdown_signal(), config.limits()).await?;
    // Requests have drained; write the audit events they queued.
    state.services().audit.flush().await;
    opened.store.close().await;
    Ok(())
}

/// Runs the command; a failure is one line on stderr (its causes joined), never a backtrace,
/// and exit status 1.
fn main() -> std::process::ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref())?;
    init_logging(&config);
    // `config check` prints them itself: each once.
    if !matches!(cli.command, Command::Config(ConfigCommand::Check)) {
        for warning in &config.warnings {
            tracing::warn!("{warning}");
        }
    }
    match cli.command {
        Command::Serve => serve(config).await,
        Command::Init => {
            let opened = warden_server::open(&config, issuer(&config, config.listen)).await?;
            match &opened.generated_admin_password {
                Some(password) => print_generated_password(&config.admin_email, password),
                None => println!("the store is initialized"),
            }
            Ok(())
        }
        Command::Migrate => {
            let store = warden_server::open_store(&config).await?;
            println!("migrations applied ({} backend)", store.backend().name());
            Ok(())
        }
        Command::Config(ConfigCommand::Check) => {
            println!("{}", serde_json::to_string_pretty(&config.redacted())?);
            for warning in &config.warnings {
                eprintln!("warning: {warning}");
            }
            Ok(())
        }
        Command::ForwardAuth(ForwardAuthCommand::Explain { method, url }) => {
            explain_route(&config, &method, &url)
        }
        Command::User(command) => admin::user(&config, command).await,
        Command::Account(command) => admin::account(&config, command).await,
        Command::Member(command) => admin::member(&config, command).await,
        Command::Role(command) => admin::role(&config, command).await,
        Command::Client(command) => admin::client(&config, command).await,
        Command::Keys(command) => admin::keys(&config, command).await,
        Command::ApiKey(command) => admin::api_key(&config, command).await,
        Command::Audit(command) => admin::audit(&config, command).await,
        Command::Policy(command) => admin::policy(&config, command).await,
        Command::Backup { file } => backup::backup(&config, &file).await,
        Command::Restore { file } => backup::restore(&config, &file).await,
        Command::Check(args) => {
            if admin::check(&config, args).await? {
                Ok(())
            } else {
                std::process::exit(3)
            }
        }
    }
}

/// `warden forward-auth explain METHOD URL`: the rule the request hits, read exactly as the
/// endpoint reads it.
fn explain_route(config: &Config, method: &str, url: &str) -> anyhow::Result<()> {
    use warden_server::forward_auth::{from_url, rules::normalize_path};
    let request = from_url(method, url).map_err(|why| anyhow::anyhow!("{why}"))?;
    let path = match normalize_path(&request.target) {
        Ok(path) => path,
        Err(bad) => {
            println!(
                "{} {} {}  refused before any rule (403): {}",
                request.method, request.host, request.target, bad.0
            );
            return Ok(());
        }
    };
    let rules = &config.forward_auth;
    let matched = rules.decide(&request.method, &request.host, &path);
    println!(
        "{} {} {}  (path as matched: {path})",
        request.method, request.host, request.target
    );
    match matched.rule {
        Some(number) => println!(
            "rule {number} ({}): {}",
            rules.describe(number).unwrap_or_default(),
            matched.outcome
        ),
        None => println!("no rule matches: the default, {}", matched.outcome),
    }
    if let warden_server::forward_auth::rules::Outcome::Permission { kind, .. } = matched.outcome {
        println!("resource: {kind} `{}`", matched.resource_id);
    }
    Ok(())
}
