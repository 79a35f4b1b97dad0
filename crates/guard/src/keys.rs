//! The issuer's signing keys, cached: discovered through the RFC 8414 metadata (`jwks_uri`),
//! fresh for the JWKS `Cache-Control: max-age` (within configured bounds), refreshed when
//! stale or when a token names an unknown `kid`.
//!
//! Refreshes are single-flight (one fetch at a time; callers that need it wait for it, callers
//! holding a known key keep using it) and at most one per cooldown, so tokens with made-up
//! `kid`s cannot cause a refresh storm. A failed refresh keeps the last good key set.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use axum::http::StatusCode;
use serde_json::Value;

use crate::error::GuardError;
use crate::http::read_limited;
use crate::jwks::{max_age, parse_jwks, VerifyingKey};

/// Before the first success, refresh attempts are this far apart at most (so a service started
/// before Warden recovers quickly), whatever the cooldown.
const FIRST_LOAD_RETRY: Duration = Duration::from_secs(1);

/// How long a key set stays fresh, and how often it may be refreshed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Freshness {
    /// Shortest freshness, whatever `max-age` says.
    pub(crate) min: Duration,
    /// Longest freshness, whatever `max-age` says.
    pub(crate) max: Duration,
    /// Freshness when the JWKS response names no `max-age`.
    pub(crate) default: Duration,
    /// Least time between two refresh attempts, successful or not.
    pub(crate) cooldown: Duration,
}

/// One key set as fetched.
struct KeySnapshot {
    keys: HashMap<String, Arc<VerifyingKey>>,
    loaded: bool,
    fresh_until: Instant,
    generation: u64,
}

/// Where the keys come from.
pub(crate) struct Source {
    pub(crate) issuer: String,
    /// `<base>/.well-known/oauth-authorization-server`.
    pub(crate) metadata_url: String,
    /// `<base>/.well-known/jwks.json`, used when the metadata cannot be read.
    pub(crate) fallback_jwks: String,
    /// A configured `jwks_uri`: no discovery then.
    pub(crate) jwks_uri: Option<String>,
}

/// The cache.
pub(crate) struct KeyCache {
    http: reqwest::Client,
    source: Source,
    freshness: Freshness,
    discovered: Mutex<Option<String>>,
    current: ArcSwap<KeySnapshot>,
    /// Held while a refresh is decided and run; the last attempt's time.
    flight: tokio::sync::Mutex<Option<Instant>>,
    fetches: AtomicU64,
}

impl KeyCache {
    pub(crate) fn new(http: reqwest::Client, source: Source, freshness: Freshness) -> Self {
        Self {
            http,
            source,
            freshness,
            discovered: Mutex::new(None),
            current: ArcSwap::from_pointee(KeySnapshot {
                keys: HashMap::new(),
                loaded: false,
                fresh_until: Instant::now(),
                generation: 0,
            }),
            flight: tokio::sync::Mutex::new(None),
            fetches: AtomicU64::new(0),
        }
    }

    /// How many JWKS fetches were started.
    pub(crate) fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// The key named `kid`, refreshing the set first when that is due. `Ok(None)`: the issuer
    /// has no such key. An error only when no key set was ever fetched.
    pub(crate) async fn get(&self, kid: &str) -> Result<Option<Arc<VerifyingKey>>, GuardError> {
        let snapshot = self.current.load();
        let known = snapshot.keys.get(kid).cloned();
        if known.is_some() && Instant::now() < snapshot.fresh_until {
            return Ok(known);
        }
        let seen = snapshot.generation;
        drop(snapshot);
        let mut last_attempt = match known {
            // A stale but known key serves while another caller refreshes.
            Some(key) => match self.flight.try_lock() {
                Ok(held) => held,
                Err(_) => return Ok(Some(key)),
            },
            None => self.flight.lock().await,
        };
        let snapshot = self.current.load();
        let refreshed_meanwhile = snapshot.generation != seen;
        let wait = if snapshot.loaded {
            self.freshness.cooldown
        } else {
            self.freshness.cooldown.min(FIRST_LOAD_RETRY)
        };
        let cooling = last_attempt.is_some_and(|at| at.elapsed() < wait);
        if refreshed_meanwhile || cooling {
            return lookup(&snapshot, kid);
        }
        drop(snapshot);
        *last_attempt = Some(Instant::now());
        self.refresh().await;
        drop(last_attempt);
        lookup(&self.current.load(), kid)
    }

    /// Fetches the key set now unless one was fetched within the cooldown; whether a key set
    /// is loaded afterwards.
    pub(crate) async fn load(&self) -> bool {
        let mut last_attempt = self.flight.lock().await;
        let loaded = self.current.load().loaded;
        let cooling = last_attempt.is_some_and(|at| at.elapsed() < FIRST_LOAD_RETRY);
        if !(loaded && cooling) {
            *last_attempt = Some(Instant::now());
            self.refresh().await;
        }
        self.current.load().loaded
    }

    /// One fetch; on success the new set replaces the old, on failure the old one stays.
    async fn refresh(&self) {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        match self.fetch().await {
            Ok((keys, age)) => {
                let previous = self.current.load();
                let age = age
                    .unwrap_or(self.freshness.default)
                    .clamp(self.freshness.min, self.freshness.max);
                tracing::debug!(keys = keys.len(), fresh_for = ?age, "warden-guard: signing keys fetched");
                self.current.store(Arc::new(KeySnapshot {
                    keys,
                    loaded: true,
                    fresh_until: Instant::now() + age,
                    generation: previous.generation + 1,
                }));
            }
            Err(err) => {
                tracing::warn!(error = %err, "warden-guard: fetching the signing keys failed; keeping the last good set");
            }
        }
    }

    async fn fetch(
        &self,
    ) -> Result<(HashMap<String, Arc<VerifyingKey>>, Option<Duration>), String> {
        let uri = self.jwks_uri().await?;
        let response = self
            .http
            .get(&uri)
            .send()
            .await
            .map_err(|err| format!("GET {uri}: {err}"))?;
        if response.status() != StatusCode::OK {
            return Err(format!("GET {uri} answered {}", response.status()));
        }
        let age = max_age(response.headers());
        let body = read_limited(response).await?;
        let document: Value =
            serde_json::from_slice(&body).map_err(|err| format!("the JWKS is not JSON: {err}"))?;
        let keys = parse_jwks(&document)?;
        if keys.is_empty() {
            return Err("the JWKS holds no usable signing key".into());
        }
        Ok((keys, age))
    }

    /// The configured `jwks_uri`, the one the metadata named, or (when the metadata cannot
    /// be read) the well-known path.
    async fn jwks_uri(&self) -> Result<String, String> {
        if let Some(uri) = &self.source.jwks_uri {
            return Ok(uri.clone());
        }
        if let Some(uri) = self
            .discovered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Ok(uri);
        }
        let metadata = match self.http.get(&self.source.metadata_url).send().await {
            Ok(response) if response.status() == StatusCode::OK => read_limited(response)
                .await
                .ok()
                .and_then(|body| serde_json::from_slice::<Value>(&body).ok()),
            Ok(_) | Err(_) => None,
        };
        let Some(metadata) = metadata else {
            return Ok(self.source.fallback_jwks.clone());
        };
        let uri = discovered(&self.source.issuer, &metadata)?;
        *self
            .discovered
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(uri.clone());
        Ok(uri)
    }
}

fn lookup(snapshot: &KeySnapshot, kid: &str) -> Result<Option<Arc<VerifyingKey>>, GuardError> {
    if !snapshot.loaded {
        return Err(GuardError::Unavailable(
            "Warden's signing keys could not be fetched".into(),
        ));
    }
    Ok(snapshot.keys.get(kid).cloned())
}

/// The `jwks_uri` of RFC 8414 metadata, refusing metadata of another issuer (§3.3) and keys
/// that an `https` issuer would have fetched in the clear.
fn discovered(issuer: &str, metadata: &Value) -> Result<String, String> {
    let named = metadata.get("issuer").and_then(Value::as_str);
    if named != Some(issuer) {
        return Err(format!(
            "the metadata names the issuer `{}`, not `{issuer}`",
            named.unwrap_or_default()
        ));
    }
    let uri = metadata
        .get("jwks_uri")
        .and_then(Value::as_str)
        .filter(|uri| uri.starts_with("https://") || uri.starts_with("http://"))
        .ok_or("the metadata names no http(s) `jwks_uri`")?;
    if issuer.starts_with("https://") && !uri.starts_with("https://") {
        return Err(format!("the metadata's jwks_uri `{uri}` is not https"));
    }
    Ok(uri.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_of_another_issuer_or_in_the_clear_is_refused() {
        let https = "https://auth.example.com";
        let ok = json!({"issuer": https, "jwks_uri": "https://auth.example.com/jwks"});
        assert_eq!(
            discovered(https, &ok).unwrap(),
            "https://auth.example.com/jwks"
        );
        let other = json!({"issuer": "https://evil.example", "jwks_uri": "https://evil.example/j"});
        assert!(discovered(https, &other).is_err());
        let clear = json!({"issuer": https, "jwks_uri": "http://auth.example.com/jwks"});
        assert!(discovered(https, &clear).is_err());
        let file = json!({"issuer": "http://w", "jwks_uri": "file:///etc/passwd"});
        assert!(discovered("http://w", &file).is_err());
    }
}
