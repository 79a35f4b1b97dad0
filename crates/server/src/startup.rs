//! Start-up: open (and if needed create) the store, apply migrations, load or create the
//! master key, initialize an empty store, and load the signing keys.

use std::path::Path;

use secrecy::{ExposeSecret, SecretString};
use thiserror::Error;
use warden_core::bootstrap::{ensure_initialized, InitOptions, InitOutcome};
use warden_core::crypto::MasterKey;
use warden_core::identity::password::PasswordHasher;
use warden_core::services::{Services, Settings, Tokens};
use warden_core::time::Timestamp;
use warden_core::tokens::{KeySet, TokenVerifier};
use warden_core::DomainError;
use warden_store::{Backend, SqlStore};

use crate::config::Config;
use crate::state::AppState;

/// The store as the use cases hold it.
pub type SharedStore = std::sync::Arc<dyn warden_core::store::Store>;

/// Why Warden could not start.
#[derive(Debug, Error)]
pub enum StartError {
    /// Filesystem trouble with the data directory or key file.
    #[error("{0}")]
    Io(String),
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] warden_store::ConnectError),
    /// Initialization failed (wrong master key, invalid admin settings, …).
    #[error("{0}")]
    Domain(String),
}

impl From<DomainError> for StartError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::Validation(fields) => Self::Domain(
                fields
                    .iter()
                    .map(|f| format!("{}: {}", f.field, f.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            other => Self::Domain(other.to_string()),
        }
    }
}

/// A started Warden: its state, its store, and the admin password generated on first start.
pub struct Opened {
    /// The application state.
    pub state: AppState,
    /// The store (for the CLI's direct administration).
    pub store: SqlStore,
    /// The generated first admin password, to print once.
    pub generated_admin_password: Option<SecretString>,
}

/// Opens the store named by `config` and applies migrations.
pub async fn open_store(config: &Config) -> Result<SqlStore, StartError> {
    let url = config.effective_database_url();
    if Backend::from_url(&url)? == Backend::Sqlite {
        std::fs::create_dir_all(&config.data_dir).map_err(|err| {
            StartError::Io(format!(
                "cannot create the data directory `{}`: {err}",
                config.data_dir.display()
            ))
        })?;
    }
    let store = SqlStore::connect(&url, config.db_max_connections).await?;
    store.migrate().await?;
    Ok(store)
}

/// The master key the configuration names (`WARDEN_MASTER_KEY`, else `master.key` in the data
/// directory), or `None` when there is none yet.
pub fn existing_master_key(config: &Config) -> Result<Option<MasterKey>, StartError> {
    if let Some(key) = &config.master_key {
        return MasterKey::from_base64(key.expose_secret())
            .map(Some)
            .map_err(|err| StartError::Domain(format!("WARDEN_MASTER_KEY: {err}")));
    }
    let path = config.data_dir.join("master.key");
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|err| StartError::Io(format!("cannot read `{}`: {err}", path.display())))?;
    MasterKey::from_base64(&text)
        .map(Some)
        .map_err(|err| StartError::Domain(format!("`{}`: {err}", path.display())))
}

fn master_key(config: &Config) -> Result<MasterKey, StartError> {
    if let Some(key) = existing_master_key(config)? {
        return Ok(key);
    }
    let path = config.data_dir.join("master.key");
    let key = MasterKey::generate();
    write_private(&path, &key.to_base64())?;
    tracing::info!(path = %path.display(), "created the master key file; back it up, or set WARDEN_MASTER_KEY on every node");
    Ok(key)
}

fn write_private(path: &Path, contents: &str) -> Result<(), StartError> {
    use std::io::Write;
    let fail =
        |err: std::io::Error| StartError::Io(format!("cannot write `{}`: {err}", path.display()));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(fail)?;
    file.write_all(contents.as_bytes()).map_err(fail)
}

/// Opens everything Warden needs, initializing an empty store. `issuer` is the configured one
/// or `http://<bound address>`.
pub async fn open(config: &Config, issuer: String) -> Result<Opened, StartError> {
    open_wrapped(config, issuer, |store| store).await
}

/// [`open`], with the store the use cases see wrapped by `wrap` (tests count its calls).
pub async fn open_wrapped(
    config: &Config,
    issuer: String,
    wrap: impl FnOnce(SharedStore) -> SharedStore,
) -> Result<Opened, StartError> {
    let store = open_store(config).await?;
    let master = master_key(config)?;
    let permits = match config.hash_concurrency {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let hasher = PasswordHasher::new(config.argon2, permits, permits * 32)?;
    let outcome = ensure_initialized(
        &store,
        &hasher,
        &master,
        InitOptions {
            admin_email: config.admin_email.clone(),
            admin_password: config.admin_password.clone(),
            algorithm: config.signing_algorithm,
        },
    )
    .await?;
    let generated_admin_password = match outcome {
        InitOutcome::Initialized { generated_password } => {
            tracing::info!(admin = %config.admin_email, backend = store.backend().name(), "initialized a new Warden store");
            generated_password
        }
        InitOutcome::AlreadyInitialized => None,
    };
    let records = warden_core::store::Store::keys(&store)
        .await
        .map_err(DomainError::from)?;
    let keys = KeySet::open(&records, &master, Timestamp::now())?;
    let shared = wrap(std::sync::Arc::new(store.clone()));
    let services = Services {
        audit: warden_core::audit::AuditLog::start(
            shared.clone(),
            std::time::Duration::from_secs(config.audit_denial_window),
        ),
        store: shared,
        hasher,
        tokens: Tokens::new(TokenVerifier::new(issuer, config.audience.clone()), keys),
        settings: Settings {
            access_token_ttl: config.access_token_ttl,
            registration_enabled: config.registration_enabled,
            token_permissions: config.token_permissions,
            require_second_factor: config.require_second_factor,
            refresh_idle_ttl: config.refresh_idle_ttl,
            refresh_absolute_ttl: config.refresh_absolute_ttl,
            refresh_grace: config.refresh_grace,
            trusted_proxies: config.trusted_proxies.clone(),
            jwks_cache_ttl: config.jwks_cache_ttl,
            signing_algorithm: config.signing_algorithm,
            audit_allowed_every: config.audit_allowed_every,
            max_sessions_per_user: config.max_sessions_per_user,
        },
        sealer: std::sync::Arc::new(master),
        engine: std::sync::Arc::new(warden_core::authz::engine::Engine::new(
            config.access_token_ttl,
        )),
        key_uses: warden_core::authn::KeyUses::default(),
    };
    let openapi = crate::openapi::document(services.tokens.issuer());
    let state = AppState::new(
        services,
        crate::ratelimit::IpLimiter::new(config.token_rate, config.token_burst),
        config.forward_auth.clone(),
        crate::metrics::Access {
            token: config.metrics_token.clone(),
            separate: config.metrics_listen.is_some(),
        },
        crate::state::Limits {
            max_in_flight: config.max_in_flight,
            overload_delay: config.overload_delay,
        },
        openapi,
        config.theme.clone(),
    );
    state.spawn_key_refresh(std::time::Duration::from_secs(1));
    state.spawn_overload_probe();
    Ok(Opened {
        state,
        store,
        generated_admin_password,
    })
}
