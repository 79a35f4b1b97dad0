//! The effective configuration as `warden config check` prints it: secrets shown only as set
//! or not set, passwords in database URLs masked.

use serde_json::{json, Value};

use super::{Config, LogFormat};

impl Config {
    /// The effective configuration for display: secrets shown only as set or not set, and
    /// passwords in database URLs masked.
    pub fn redacted(&self) -> Value {
        let secret = |set: bool| if set { "(set)" } else { "(not set)" };
        json!({
            "listen": self.listen.to_string(),
            "data_dir": self.data_dir.display().to_string(),
            "database_url": mask_url_password(&self.effective_database_url()),
            "issuer": self.issuer.clone().unwrap_or_else(|| format!("http://{}", self.listen)),
            "audience": self.audience,
            "access_token_ttl": self.access_token_ttl,
            "refresh_idle_ttl": self.refresh_idle_ttl,
            "refresh_absolute_ttl": self.refresh_absolute_ttl,
            "refresh_grace": self.refresh_grace,
            "jwks_cache_ttl": self.jwks_cache_ttl,
            "registration_enabled": self.registration_enabled,
            "token_permissions": self.token_permissions,
            "require_second_factor": self.require_second_factor,
            "admin_email": self.admin_email,
            "admin_password": secret(self.admin_password.is_some()),
            "master_key": secret(self.master_key.is_some()),
            "signing_algorithm": self.signing_algorithm.as_str(),
            "max_body_bytes": self.max_body_bytes,
            "request_timeout": self.request_timeout,
            "change_poll_ms": self.change_poll_ms,
            "audit_allowed_every": self.audit_allowed_every,
            "audit_denial_window": self.audit_denial_window,
            "max_sessions_per_user": self.max_sessions_per_user,
            "header_read_timeout": self.header_read_timeout,
            "max_header_bytes": self.max_header_bytes,
            "db_max_connections": self.db_max_connections,
            "log_format": match self.log_format { LogFormat::Text => "text", LogFormat::Json => "json" },
            "argon2_memory_kib": self.argon2.memory_kib,
            "argon2_iterations": self.argon2.iterations,
            "argon2_parallelism": self.argon2.parallelism,
            "hash_concurrency": self.hash_concurrency,
            "token_rate": self.token_rate,
            "token_burst": self.token_burst,
            "max_in_flight": self.max_in_flight,
            "overload_delay_ms": self.overload_delay.as_millis(),
            "metrics_listen": self.metrics_listen.map_or_else(|| "(the main listener)".to_owned(), |a| a.to_string()),
            "metrics_token": secret(self.metrics_token.is_some()),
            "sign_in_product_name": self.theme.product_name,
            "sign_in_logo_url": self.theme.logo_url,
            "sign_in_accent_color": self.theme.accent_color,
            "trusted_proxies": self.trusted_proxies.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
        })
    }
}
/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn mask_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}
