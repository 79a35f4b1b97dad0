//! [`GuardBuilder`]: a guard's configuration, with defaults that suit a Warden on its defaults,
//! validated when the guard is built.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::check::DecisionCache;
use crate::error::{BuildError, DEFAULT_REALM};
use crate::guard::{Guard, Inner};
use crate::http::basic_auth;
use crate::keys::{Freshness, KeyCache, Source};
use crate::revocations::Revocations;
use crate::token::Expectations;

/// The audience Warden's tokens carry by default (`WARDEN_AUDIENCE`).
pub const DEFAULT_AUDIENCE: &str = "warden";

/// Builds a [`Guard`] for one issuer. Start with [`Guard::builder`].
#[must_use]
pub struct GuardBuilder {
    issuer: String,
    base_url: Option<String>,
    jwks_uri: Option<String>,
    audience: String,
    account: Option<String>,
    leeway: Duration,
    realm: String,
    timeout: Duration,
    refresh_cooldown: Duration,
    jwks_min_age: Duration,
    jwks_max_age: Duration,
    decision_ttl: Duration,
    decision_capacity: usize,
    revocations: Option<(String, String)>,
    revocation_interval: Duration,
    http: Option<reqwest::Client>,
}

impl fmt::Debug for GuardBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardBuilder")
            .field("issuer", &self.issuer)
            .field("base_url", &self.base_url)
            .field("audience", &self.audience)
            .field("account", &self.account)
            .field(
                "revocations",
                &self.revocations.as_ref().map(|(id, _)| (id, "[redacted]")),
            )
            .finish_non_exhaustive()
    }
}

fn check_url(setting: &'static str, value: &str) -> Result<(), BuildError> {
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"));
    if rest.is_none_or(|host| host.is_empty() || host.starts_with('/')) {
        return Err(BuildError::Url {
            setting,
            value: value.to_owned(),
        });
    }
    if value.starts_with("https://") && !cfg!(feature = "rustls") {
        return Err(BuildError::TlsDisabled(value.to_owned()));
    }
    Ok(())
}

impl GuardBuilder {
    pub(crate) fn new(issuer: String) -> Self {
        Self {
            issuer,
            base_url: None,
            jwks_uri: None,
            audience: DEFAULT_AUDIENCE.to_owned(),
            account: None,
            leeway: Duration::from_secs(10),
            realm: DEFAULT_REALM.to_owned(),
            timeout: Duration::from_secs(5),
            refresh_cooldown: Duration::from_secs(10),
            jwks_min_age: Duration::from_secs(10),
            jwks_max_age: Duration::from_secs(86_400),
            decision_ttl: Duration::from_secs(5),
            decision_capacity: 10_000,
            revocations: None,
            revocation_interval: Duration::from_secs(5),
            http: None,
        }
    }

    /// The audience tokens must name in `aud` (default `warden`, Warden's default
    /// `WARDEN_AUDIENCE`).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = audience.into();
        self
    }

    /// Pins the guard to one account (tenant): tokens whose `acct` is not this account id are
    /// refused (401), global tokens included. Role names are per account, so a service of one
    /// tenant should pin it.
    pub fn account(mut self, account_id: impl Into<String>) -> Self {
        self.account = Some(account_id.into());
        self
    }

    /// Clock skew tolerated on `exp`, `nbf` and `iat` (default 10 s, at most 5 minutes).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The `realm` of `WWW-Authenticate` challenges (default `warden`).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// Where to reach Warden's API (metadata, `/v1/check`, `/v1/revocations`) when that is not
    /// the issuer URL, such as an internal address behind a public issuer. Tokens must still
    /// name the issuer.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Fetches keys from this JWKS URL instead of discovering `jwks_uri` from the metadata.
    pub fn jwks_uri(mut self, url: impl Into<String>) -> Self {
        self.jwks_uri = Some(url.into());
        self
    }

    /// Timeout of every HTTP request to Warden (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Least time between two JWKS refreshes, however many tokens name unknown keys (default
    /// 10 s). Before the first successful fetch, retries come at least every second.
    pub fn refresh_cooldown(mut self, cooldown: Duration) -> Self {
        self.refresh_cooldown = cooldown;
        self
    }

    /// Bounds on how long a fetched JWKS stays fresh, whatever its `Cache-Control: max-age`
    /// says (default 10 s to 1 day; without a `max-age`, 5 minutes within these bounds).
    pub fn jwks_cache_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.jwks_min_age = min;
        self.jwks_max_age = max;
        self
    }

    /// How long remote decisions are remembered, and how many (default 5 s, 10 000). A zero
    /// `ttl` turns the cache off.
    pub fn decision_cache(mut self, ttl: Duration, capacity: usize) -> Self {
        self.decision_ttl = ttl;
        self.decision_capacity = capacity;
        self
    }

    /// Follows the revocation feed with these service client credentials, so tokens of ended
    /// sessions are refused offline. A client of an account sees that account's endings; a
    /// global client every ending. Needs a Tokio runtime when the guard is built.
    pub fn follow_revocations(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.revocations = Some((client_id.into(), client_secret.into()));
        self
    }

    /// How often the revocation feed is read (default 5 s).
    pub fn revocation_interval(mut self, interval: Duration) -> Self {
        self.revocation_interval = interval;
        self
    }

    /// The HTTP client to reach Warden with (proxies, custom roots). By default the guard
    /// builds one with the [`GuardBuilder::timeout`] that follows no redirects.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Validates the settings and builds the guard. Nothing is fetched yet: keys are fetched on
    /// the first verification (or by [`Guard::load_keys`]).
    pub fn build(self) -> Result<Guard, BuildError> {
        check_url("issuer", &self.issuer)?;
        let base = self.base_url.clone().unwrap_or_else(|| self.issuer.clone());
        check_url("base_url", &base)?;
        if let Some(uri) = &self.jwks_uri {
            check_url("jwks_uri", uri)?;
        }
        if self.audience.is_empty() {
            return Err(BuildError::Setting("the audience must not be empty".into()));
        }
        if self.leeway > Duration::from_secs(300) {
            return Err(BuildError::Setting(
                "the leeway must be at most 5 minutes".into(),
            ));
        }
        if self.timeout.is_zero() || self.revocation_interval.is_zero() {
            return Err(BuildError::Setting(
                "the timeout and the revocation interval must be more than zero".into(),
            ));
        }
        if self.jwks_min_age > self.jwks_max_age {
            return Err(BuildError::Setting(
                "the JWKS cache bounds are reversed: min is above max".into(),
            ));
        }
        let http = match self.http {
            Some(client) => client,
            None => reqwest::Client::builder()
                .timeout(self.timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|err| BuildError::Http(err.to_string()))?,
        };
        let base = base.trim_end_matches('/').to_owned();
        let leeway = i64::try_from(self.leeway.as_secs()).unwrap_or(300);
        let revocations = self.revocations.as_ref().map(|(id, secret)| {
            Arc::new(Revocations::new(
                format!("{base}/v1/revocations"),
                basic_auth(id, secret),
                leeway,
            ))
        });
        let runtime = match &revocations {
            Some(_) => {
                Some(tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?)
            }
            None => None,
        };
        let keys = KeyCache::new(
            http.clone(),
            Source {
                issuer: self.issuer.clone(),
                metadata_url: format!("{base}/.well-known/oauth-authorization-server"),
                fallback_jwks: format!("{base}/.well-known/jwks.json"),
                jwks_uri: self.jwks_uri,
            },
            Freshness {
                min: self.jwks_min_age,
                max: self.jwks_max_age,
                default: Duration::from_secs(300).clamp(self.jwks_min_age, self.jwks_max_age),
                cooldown: self.refresh_cooldown,
            },
        );
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let inner = Inner {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            expect: Expectations {
                issuer: self.issuer,
                audience: self.audience,
                account: self.account,
                leeway,
            },
            realm: self.realm.into(),
            check_url: format!("{base}/v1/check"),
            timeout: self.timeout,
            keys,
            decisions: DecisionCache::new(self.decision_ttl, self.decision_capacity),
            revocations,
            http,
            stats: Default::default(),
        };
        let guard = Guard::from_inner(inner);
        if let Some(runtime) = runtime {
            guard.spawn_revocation_follower(&runtime, self.revocation_interval);
        }
        Ok(guard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_are_refused() {
        assert!(matches!(
            Guard::builder("ftp://x").build(),
            Err(BuildError::Url { .. })
        ));
        assert!(matches!(
            Guard::builder("http://").build(),
            Err(BuildError::Url { .. })
        ));
        if !cfg!(feature = "rustls") {
            assert!(matches!(
                Guard::builder("https://auth.example.com").build(),
                Err(BuildError::TlsDisabled(_))
            ));
        }
        assert!(matches!(
            Guard::builder("http://w")
                .leeway(Duration::from_secs(3600))
                .build(),
            Err(BuildError::Setting(_))
        ));
        assert!(matches!(
            Guard::builder("http://w")
                .jwks_cache_bounds(Duration::from_secs(10), Duration::from_secs(1))
                .build(),
            Err(BuildError::Setting(_))
        ));
        // Outside a runtime there is nowhere to run the feed's task.
        assert!(matches!(
            Guard::builder("http://w")
                .follow_revocations("id", "secret")
                .build(),
            Err(BuildError::NoRuntime)
        ));
        assert!(Guard::builder("http://w").build().is_ok());
        let debug = format!(
            "{:?}",
            Guard::builder("http://w").follow_revocations("id", "hunter2")
        );
        assert!(!debug.contains("hunter2"));
    }
}
