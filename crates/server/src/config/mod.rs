//! Configuration: defaults, then an optional TOML file, then `WARDEN_*` environment variables
//! (and `DATABASE_URL`). Validated at start; unknown keys are warned about; secrets are typed
//! so they are never printed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;
use thiserror::Error;
use warden_core::identity::password::HashParams;
use warden_core::tokens::SigningAlgorithm;

/// Why the configuration was refused.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the config file `{path}`: {cause}")]
    Read {
        /// File.
        path: String,
        /// Cause.
        cause: String,
    },
    /// The file is not valid TOML for this schema.
    #[error("the config file `{path}` is invalid: {cause}")]
    Parse {
        /// File.
        path: String,
        /// Cause.
        cause: String,
    },
    /// Values are out of range.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The kinds of values a key holds, so environment strings convert without guessing.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Int,
    Bool,
}

/// Every key: its TOML name and kind. Its environment name is `WARDEN_` + the name uppercased.
const KEYS: &[(&str, Kind)] = &[
    ("listen", Kind::Text),
    ("data_dir", Kind::Text),
    ("database_url", Kind::Text),
    ("issuer", Kind::Text),
    ("audience", Kind::Text),
    ("access_token_ttl", Kind::Int),
    ("refresh_idle_ttl", Kind::Int),
    ("refresh_absolute_ttl", Kind::Int),
    ("refresh_grace", Kind::Int),
    ("jwks_cache_ttl", Kind::Int),
    ("registration_enabled", Kind::Bool),
    ("token_permissions", Kind::Bool),
    ("require_second_factor", Kind::Bool),
    ("admin_email", Kind::Text),
    ("admin_password", Kind::Text),
    ("master_key", Kind::Text),
    ("signing_algorithm", Kind::Text),
    ("max_body_bytes", Kind::Int),
    ("request_timeout", Kind::Int),
    ("change_poll_ms", Kind::Int),
    ("audit_allowed_every", Kind::Int),
    ("audit_denial_window", Kind::Int),
    ("max_sessions_per_user", Kind::Int),
    ("header_read_timeout", Kind::Int),
    ("max_header_bytes", Kind::Int),
    ("db_max_connections", Kind::Int),
    ("log_format", Kind::Text),
    ("trusted_proxies", Kind::Text),
    ("token_rate", Kind::Int),
    ("token_burst", Kind::Int),
    ("argon2_memory_kib", Kind::Int),
    ("argon2_iterations", Kind::Int),
    ("argon2_parallelism", Kind::Int),
    ("hash_concurrency", Kind::Int),
    ("metrics_listen", Kind::Text),
    ("max_in_flight", Kind::Int),
    ("overload_delay_ms", Kind::Int),
    ("metrics_token", Kind::Text),
    ("sign_in_product_name", Kind::Text),
    ("sign_in_logo_url", Kind::Text),
    ("sign_in_accent_color", Kind::Text),
];

/// Environment variables read elsewhere, so not "unknown".
const OTHER_ENV: &[&str] = &["WARDEN_CONFIG", "WARDEN_LOG"];

#[derive(Debug, Default, Deserialize)]
struct Raw {
    listen: Option<String>,
    data_dir: Option<String>,
    database_url: Option<String>,
    issuer: Option<String>,
    audience: Option<String>,
    access_token_ttl: Option<i64>,
    refresh_idle_ttl: Option<i64>,
    refresh_absolute_ttl: Option<i64>,
    refresh_grace: Option<i64>,
    jwks_cache_ttl: Option<i64>,
    registration_enabled: Option<bool>,
    token_permissions: Option<bool>,
    require_second_factor: Option<bool>,
    admin_email: Option<String>,
    admin_password: Option<String>,
    master_key: Option<String>,
    signing_algorithm: Option<String>,
    max_body_bytes: Option<i64>,
    request_timeout: Option<i64>,
    change_poll_ms: Option<i64>,
    audit_allowed_every: Option<i64>,
    audit_denial_window: Option<i64>,
    max_sessions_per_user: Option<i64>,
    header_read_timeout: Option<i64>,
    max_header_bytes: Option<i64>,
    db_max_connections: Option<i64>,
    log_format: Option<String>,
    trusted_proxies: Option<String>,
    token_rate: Option<i64>,
    token_burst: Option<i64>,
    argon2_memory_kib: Option<i64>,
    argon2_iterations: Option<i64>,
    argon2_parallelism: Option<i64>,
    hash_concurrency: Option<i64>,
    metrics_listen: Option<String>,
    metrics_token: Option<String>,
    max_in_flight: Option<i64>,
    overload_delay_ms: Option<i64>,
    sign_in_product_name: Option<String>,
    sign_in_logo_url: Option<String>,
    sign_in_accent_color: Option<String>,
    forward_auth: Option<crate::forward_auth::rules::RawForwardAuth>,
}

/// Output format of the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The effective, validated configuration.
#[derive(Debug)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Directory of the SQLite file and the master key file.
    pub data_dir: PathBuf,
    /// `postgres://…` switches to PostgreSQL; otherwise SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// Token issuer; defaults to `http://<listen address>`.
    pub issuer: Option<String>,
    /// Audience of issued tokens.
    pub audience: String,
    /// Access token lifetime, seconds.
    pub access_token_ttl: i64,
    /// Refresh token idle lifetime, seconds.
    pub refresh_idle_ttl: i64,
    /// Refresh token (session) absolute lifetime, seconds.
    pub refresh_absolute_ttl: i64,
    /// Grace window for an identical retry of a just-rotated refresh token, seconds.
    pub refresh_grace: i64,
    /// How long verifiers may cache the JWKS (its Cache-Control max-age), seconds; a rotated
    /// key signs only after this.
    pub jwks_cache_ttl: i64,
    /// Whether `POST /v1/register` is open.
    pub registration_enabled: bool,
    /// Whether access tokens carry a `permissions` claim.
    pub token_permissions: bool,
    /// Every sign-in takes a second factor (TOTP); the password grant is then refused.
    pub require_second_factor: bool,
    /// Email of the first super admin.
    pub admin_email: String,
    /// Password of the first super admin (generated and printed once when absent).
    pub admin_password: Option<SecretString>,
    /// Master key (base64 of 32 bytes); defaults to the key file in `data_dir`.
    pub master_key: Option<SecretString>,
    /// Algorithm of new signing keys.
    pub signing_algorithm: SigningAlgorithm,
    /// Largest request body, bytes.
    pub max_body_bytes: usize,
    /// Request timeout, seconds.
    pub request_timeout: u64,
    /// Audit one allowed decision in this many (0: none; denials are always audited).
    pub audit_allowed_every: u64,
    /// Seconds in which identical denials of one principal are coalesced into one audit
    /// record with their count (0: one record each).
    pub audit_denial_window: u64,
    /// Most live sessions of one user; a login past it ends the oldest.
    pub max_sessions_per_user: u32,
    /// Seconds a client may take to send its request headers.
    pub header_read_timeout: u64,
    /// Largest request line plus headers, bytes.
    pub max_header_bytes: usize,
    /// How often each node reads the change log, milliseconds (changes made elsewhere are
    /// visible within this plus one query).
    pub change_poll_ms: u64,
    /// Database pool size.
    pub db_max_connections: u32,
    /// Log format.
    pub log_format: LogFormat,
    /// Proxies (CIDR blocks) whose `X-Forwarded-For` header is believed.
    pub trusted_proxies: Vec<warden_core::net::Cidr>,
    /// Token endpoint requests per second per client address.
    pub token_rate: u32,
    /// Token endpoint requests a client address may make at once.
    pub token_burst: u32,
    /// argon2id cost.
    pub argon2: HashParams,
    /// Concurrent password hashes (0: one per core).
    pub hash_concurrency: usize,
    /// The `[forward_auth]` route rules.
    pub forward_auth: crate::forward_auth::rules::ForwardAuth,
    /// Requests one node handles at once; past it, 503 with `Retry-After` (0: no limit).
    pub max_in_flight: usize,
    /// The runtime's smoothed queueing delay past which new requests are shed, 503 with
    /// `Retry-After` (zero: never; see `crate::overload`).
    pub overload_delay: std::time::Duration,
    /// Where `/metrics` is served instead of the main listener.
    pub metrics_listen: Option<SocketAddr>,
    /// A bearer token `/metrics` asks for (none: open, as Prometheus expects by default).
    pub metrics_token: Option<SecretString>,
    /// How the hosted sign-in pages look (`sign_in_product_name`, `_logo_url`, `_accent_color`).
    pub theme: crate::theme::Theme,
    /// Warnings found while loading (unknown keys).
    pub warnings: Vec<String>,
}

impl Config {
    /// The connection-level limits to serve with.
    pub fn limits(&self) -> crate::Limits {
        crate::Limits {
            header_read_timeout: std::time::Duration::from_secs(self.header_read_timeout),
            max_header_bytes: self.max_header_bytes,
            ..crate::Limits::default()
        }
    }

    /// Loads defaults, then `file` (if any), then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        Self::load_from(file, &env)
    }

    /// Loads from `file` and an explicit environment (tests use this).
    pub fn load_from(
        file: Option<&Path>,
        env: &BTreeMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let mut warnings = Vec::new();
        let mut table = match file {
            None => toml::Table::new(),
            Some(path) => {
                let shown = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|err| ConfigError::Read {
                    path: shown.clone(),
                    cause: err.to_string(),
                })?;
                text.parse::<toml::Table>()
                    .map_err(|err| ConfigError::Parse {
                        path: shown,
                        cause: err.to_string(),
                    })?
            }
        };
        for (name, kind) in KEYS {
            let var = format!("WARDEN_{}", name.to_uppercase());
            let value = env.get(&var).or_else(|| {
                (*name == "database_url")
                    .then(|| env.get("DATABASE_URL"))
                    .flatten()
            });
            let Some(value) = value else { continue };
            let parsed =
                match kind {
                    Kind::Text => toml::Value::String(value.clone()),
                    Kind::Int => toml::Value::Integer(value.trim().parse().map_err(|_| {
                        ConfigError::Invalid(format!("{var} must be a whole number"))
                    })?),
                    Kind::Bool => {
                        toml::Value::Boolean(match value.trim().to_ascii_lowercase().as_str() {
                            "1" | "true" | "yes" | "on" => true,
                            "0" | "false" | "no" | "off" => false,
                            _ => {
                                return Err(ConfigError::Invalid(format!(
                                    "{var} must be true or false"
                                )))
                            }
                        })
                    }
                };
            table.insert((*name).to_owned(), parsed);
        }
        for var in env.keys().filter(|k| {
            k.starts_with("WARDEN_")
                && !OTHER_ENV.contains(&k.as_str())
                && !k.starts_with("WARDEN_TEST_")
        }) {
            let name = var.trim_start_matches("WARDEN_").to_lowercase();
            if !KEYS.iter().any(|(key, _)| *key == name) {
                let hint = nearest_key(&name)
                    .map(|key| format!("; did you mean WARDEN_{}?", key.to_uppercase()))
                    .unwrap_or_default();
                warnings.push(format!("unknown environment variable {var} ignored{hint}"));
            }
        }
        let raw: Raw = serde_ignored::deserialize(toml::Value::Table(table), |path| {
            let path = path.to_string();
            let hint = (!path.contains('.'))
                .then(|| nearest_key(&path))
                .flatten()
                .map(|key| format!("; did you mean `{key}`?"))
                .unwrap_or_default();
            warnings.push(format!("unknown config key `{path}` ignored{hint}"));
        })
        .map_err(|err| ConfigError::Parse {
            path: file
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "environment".into()),
            cause: err.to_string(),
        })?;
        Self::validate(raw, warnings)
    }

    fn validate(raw: Raw, mut warnings: Vec<String>) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        let mut int = |name: &str,
                       value: Option<i64>,
                       default: i64,
                       range: std::ops::RangeInclusive<i64>|
         -> i64 {
            let value = value.unwrap_or(default);
            if !range.contains(&value) {
                problems.push(format!(
                    "{name} must be between {} and {}",
                    range.start(),
                    range.end()
                ));
            }
            value
        };
        let access_token_ttl = int("access_token_ttl", raw.access_token_ttl, 900, 60..=86_400);
        let refresh_idle_ttl = int(
            "refresh_idle_ttl",
            raw.refresh_idle_ttl,
            14 * 86_400,
            1..=366 * 86_400,
        );
        let refresh_absolute_ttl = int(
            "refresh_absolute_ttl",
            raw.refresh_absolute_ttl,
            30 * 86_400,
            60..=366 * 86_400,
        );
        let refresh_grace = int("refresh_grace", raw.refresh_grace, 0, 0..=60);
        let jwks_cache_ttl = int("jwks_cache_ttl", raw.jwks_cache_ttl, 300, 0..=86_400);
        let max_body_bytes = int(
            "max_body_bytes",
            raw.max_body_bytes,
            64 * 1024,
            1024..=16 * 1024 * 1024,
        );
        let request_timeout = int("request_timeout", raw.request_timeout, 30, 1..=600);
        let change_poll_ms = int("change_poll_ms", raw.change_poll_ms, 200, 10..=900);
        let audit_allowed_every = int(
            "audit_allowed_every",
            raw.audit_allowed_every,
            0,
            0..=1_000_000,
        );
        let audit_denial_window = int("audit_denial_window", raw.audit_denial_window, 10, 0..=3600);
        let max_sessions_per_user = int(
            "max_sessions_per_user",
            raw.max_sessions_per_user,
            100,
            1..=100_000,
        );
        let header_read_timeout = int("header_read_timeout", raw.header_read_timeout, 30, 1..=300);
        let max_header_bytes = int(
            "max_header_bytes",
            raw.max_header_bytes,
            16 * 1024,
            8 * 1024..=1024 * 1024,
        );
        let db_max_connections = int("db_max_connections", raw.db_max_connections, 20, 1..=1000);
        let argon2 = HashParams {
            memory_kib: int(
                "argon2_memory_kib",
                raw.argon2_memory_kib,
                19_456,
                8..=4 * 1024 * 1024,
            ) as u32,
            iterations: int("argon2_iterations", raw.argon2_iterations, 2, 1..=64) as u32,
            parallelism: int("argon2_parallelism", raw.argon2_parallelism, 1, 1..=64) as u32,
        };
        let token_rate = int("token_rate", raw.token_rate, 20, 1..=100_000) as u32;
        let token_burst = int("token_burst", raw.token_burst, 100, 1..=100_000) as u32;
        let max_in_flight = int("max_in_flight", raw.max_in_flight, 1024, 0..=1_000_000) as usize;
        let overload_delay_ms = int("overload_delay_ms", raw.overload_delay_ms, 0, 0..=10_000);
        let hash_concurrency = int("hash_concurrency", raw.hash_concurrency, 0, 0..=1024) as usize;
        let listen_text = raw.listen.unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen = listen_text.parse().unwrap_or_else(|_| {
            problems.push(format!(
                "listen `{listen_text}` is not an address like 127.0.0.1:8080"
            ));
            SocketAddr::from(([127, 0, 0, 1], 8080))
        });
        let signing_algorithm =
            SigningAlgorithm::parse(raw.signing_algorithm.as_deref().unwrap_or("ES256"))
                .unwrap_or_else(|err| {
                    problems.push(format!("signing_algorithm: {err}"));
                    SigningAlgorithm::ES256
                });
        let forward_auth = match raw.forward_auth.clone() {
            None => crate::forward_auth::rules::ForwardAuth::default(),
            Some(section) => crate::forward_auth::rules::ForwardAuth::compile(section)
                .unwrap_or_else(|found| {
                    problems.extend(found);
                    crate::forward_auth::rules::ForwardAuth::default()
                }),
        };
        let log_format = match raw.log_format.as_deref().unwrap_or("text") {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                problems.push(format!("log_format `{other}` must be `text` or `json`"));
                LogFormat::Text
            }
        };
        let mut trusted_proxies = Vec::new();
        for block in raw
            .trusted_proxies
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|b| !b.is_empty())
        {
            match warden_core::net::Cidr::parse(block) {
                Ok(cidr) => trusted_proxies.push(cidr),
                Err(err) => problems.push(format!("trusted_proxies: {err}")),
            }
        }
        let metrics_listen = raw
            .metrics_listen
            .filter(|l| !l.is_empty())
            .and_then(|text| {
                text.parse::<SocketAddr>()
                    .map_err(|_| {
                        problems.push(format!(
                            "metrics_listen `{text}` is not an address like 127.0.0.1:9090"
                        ));
                    })
                    .ok()
            });
        let metrics_token = raw.metrics_token.filter(|t| !t.is_empty());
        if metrics_token.as_ref().is_some_and(|t| t.len() < 16) {
            problems.push("metrics_token must be at least 16 characters".into());
        }
        if metrics_token.is_none() && metrics_listen.is_some_and(|a| !a.ip().is_loopback()) {
            warnings.push("metrics_listen is not a loopback address and metrics_token is not set: anyone who reaches it reads the metrics".into());
        }
        let database_url = raw.database_url.filter(|u| !u.is_empty());
        if let Some(url) = &database_url {
            if warden_store::Backend::from_url(url).is_err() {
                problems.push("database_url must start with postgres:// or sqlite:".into());
            }
        }
        if let Some(issuer) = &raw.issuer {
            if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
                problems.push("issuer must be an http(s) URL".into());
            }
        }
        let theme = crate::theme::Theme::read(
            raw.sign_in_product_name,
            raw.sign_in_logo_url,
            raw.sign_in_accent_color,
        )
        .map_err(|why| problems.push(why))
        .unwrap_or_default();
        if !problems.is_empty() {
            return Err(ConfigError::Invalid(problems.join("; ")));
        }
        Ok(Self {
            listen,
            data_dir: PathBuf::from(raw.data_dir.unwrap_or_else(|| "./warden-data".into())),
            database_url,
            issuer: raw.issuer.map(|i| i.trim_end_matches('/').to_owned()),
            audience: raw.audience.unwrap_or_else(|| "warden".into()),
            access_token_ttl,
            refresh_idle_ttl,
            refresh_absolute_ttl,
            refresh_grace,
            jwks_cache_ttl,
            registration_enabled: raw.registration_enabled.unwrap_or(false),
            token_permissions: raw.token_permissions.unwrap_or(false),
            require_second_factor: raw.require_second_factor.unwrap_or(false),
            admin_email: raw.admin_email.unwrap_or_else(|| "admin@localhost".into()),
            admin_password: raw
                .admin_password
                .filter(|p| !p.is_empty())
                .map(SecretString::from),
            master_key: raw
                .master_key
                .filter(|k| !k.is_empty())
                .map(SecretString::from),
            signing_algorithm,
            max_body_bytes: max_body_bytes as usize,
            request_timeout: request_timeout as u64,
            change_poll_ms: change_poll_ms as u64,
            audit_allowed_every: audit_allowed_every as u64,
            audit_denial_window: audit_denial_window as u64,
            max_sessions_per_user: max_sessions_per_user as u32,
            header_read_timeout: header_read_timeout as u64,
            max_header_bytes: max_header_bytes as usize,
            db_max_connections: db_max_connections as u32,
            log_format,
            trusted_proxies,
            token_rate,
            token_burst,
            argon2,
            hash_concurrency,
            forward_auth,
            metrics_listen,
            metrics_token: metrics_token.map(SecretString::from),
            theme,
            max_in_flight,
            overload_delay: std::time::Duration::from_millis(overload_delay_ms as u64),
            warnings,
        })
    }

    /// The database URL in effect: the configured one, or the SQLite file in the data dir.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("warden.db").display()
            ),
        }
    }
}

mod display;
mod typos;
pub use display::mask_url_password;
#[cfg(test)]
use typos::edit_distance;
use typos::nearest_key;

#[cfg(test)]
mod tests;
