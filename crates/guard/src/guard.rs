//! [`Guard`]: verifies Warden access tokens and decides requests, for one issuer.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::http::HeaderMap;
use time::OffsetDateTime;

use crate::builder::GuardBuilder;
use crate::check::{ask, Check, DecisionCache};
use crate::claims::Principal;
use crate::error::{GuardError, Rejection, TokenError};
use crate::http::bearer;
use crate::keys::KeyCache;
use crate::layer::{GuardLayer, Rule};
use crate::revocations::Revocations;
use crate::token::{parse, Expectations};

/// Verifies Warden access tokens against the issuer's published keys and authorizes requests,
/// locally from the token's claims or remotely through `POST /v1/check`.
///
/// Cheap to clone (one `Arc`); share one guard per issuer across the whole service.
#[derive(Clone)]
pub struct Guard {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// Distinguishes guards, so one guard never trusts another's principal.
    pub(crate) id: u64,
    pub(crate) expect: Expectations,
    pub(crate) realm: Arc<str>,
    pub(crate) check_url: String,
    pub(crate) timeout: Duration,
    pub(crate) keys: KeyCache,
    pub(crate) decisions: DecisionCache,
    pub(crate) revocations: Option<Arc<Revocations>>,
    pub(crate) http: reqwest::Client,
    pub(crate) stats: Counters,
}

#[derive(Default)]
pub(crate) struct Counters {
    verified: AtomicU64,
    refused: AtomicU64,
    check_requests: AtomicU64,
    check_cache_hits: AtomicU64,
}

/// What a guard has done so far, for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Tokens verified.
    pub verified: u64,
    /// Verifications that failed (a refused token, or no keys to verify with).
    pub refused: u64,
    /// JWKS fetches started.
    pub jwks_fetches: u64,
    /// `POST /v1/check` requests sent.
    pub check_requests: u64,
    /// Remote decisions answered from the cache.
    pub check_cache_hits: u64,
    /// Remote decisions currently cached.
    pub cached_decisions: usize,
    /// Revocation feed polls completed.
    pub revocation_polls: u64,
    /// Ended sessions currently known from the feed.
    pub revoked_sessions: usize,
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("issuer", &self.inner.expect.issuer)
            .field("audience", &self.inner.expect.audience)
            .field("account", &self.inner.expect.account)
            .field("follows_revocations", &self.inner.revocations.is_some())
            .finish_non_exhaustive()
    }
}

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

impl Guard {
    /// Starts configuring a guard for tokens of `issuer`, Warden's issuer URL (its
    /// `WARDEN_ISSUER`, by default `http://<listen address>`), such as
    /// `http://127.0.0.1:8080`.
    pub fn builder(issuer: impl Into<String>) -> GuardBuilder {
        GuardBuilder::new(issuer.into())
    }

    pub(crate) fn from_inner(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The issuer tokens must name.
    pub fn issuer(&self) -> &str {
        &self.inner.expect.issuer
    }

    /// The audience tokens must name.
    pub fn audience(&self) -> &str {
        &self.inner.expect.audience
    }

    /// The account tokens must act in, if the guard is pinned to one.
    pub fn account(&self) -> Option<&str> {
        self.inner.expect.account.as_deref()
    }

    /// The realm of this guard's challenges.
    pub fn realm(&self) -> &str {
        &self.inner.realm
    }

    /// What the guard has done so far.
    pub fn stats(&self) -> Stats {
        let counters = &self.inner.stats;
        let revocations = self.inner.revocations.as_deref();
        Stats {
            verified: counters.verified.load(Ordering::Relaxed),
            refused: counters.refused.load(Ordering::Relaxed),
            jwks_fetches: self.inner.keys.fetches(),
            check_requests: counters.check_requests.load(Ordering::Relaxed),
            check_cache_hits: counters.check_cache_hits.load(Ordering::Relaxed),
            cached_decisions: self.inner.decisions.len(),
            revocation_polls: revocations.map_or(0, Revocations::polls),
            revoked_sessions: revocations.map_or(0, Revocations::len),
        }
    }

    /// Fetches the issuer's keys now (at start-up, say, to fail fast) unless they were just
    /// fetched; [`GuardError::Unavailable`] when no key set could ever be fetched. When the
    /// guard follows the revocation feed, also waits (up to the timeout) for its first poll.
    pub async fn load_keys(&self) -> Result<(), GuardError> {
        if let Some(feed) = &self.inner.revocations {
            feed.wait_ready(self.inner.timeout).await;
        }
        if self.inner.keys.load().await {
            Ok(())
        } else {
            Err(GuardError::Unavailable(
                "Warden's signing keys could not be fetched".into(),
            ))
        }
    }

    /// Verifies `token` (the bearer credential, without `Bearer `) and returns its principal.
    ///
    /// Refused ([`GuardError::Token`]) unless: its header is strict (`alg` of the allow-list
    /// and of the key its `kid` names, `typ: at+jwt`, no `crit`), its signature verifies with
    /// the issuer's key (ES256 in low-S form), `iss`, `aud`, `exp`, `nbf`, `iat` hold with the
    /// leeway, `acct` is the pinned account (if any), and its session is not in the revocation
    /// feed (if followed). [`GuardError::Unavailable`] when no key set was ever fetched.
    pub async fn verify(&self, token: &str) -> Result<Principal, GuardError> {
        let outcome = self.verify_inner(token).await;
        let counter = match &outcome {
            Ok(_) => &self.inner.stats.verified,
            Err(_) => &self.inner.stats.refused,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if let Err(GuardError::Token(reason)) = &outcome {
            tracing::debug!(reason = reason.reason(), "warden-guard: token refused");
        }
        outcome
    }

    async fn verify_inner(&self, token: &str) -> Result<Principal, GuardError> {
        let parsed = parse(token)?;
        let key = self
            .inner
            .keys
            .get(&parsed.kid)
            .await?
            .ok_or(TokenError::UnknownKey)?;
        parsed.check_signature(&key)?;
        let claims = parsed.check_claims(&self.inner.expect, now())?;
        if let Some(feed) = &self.inner.revocations {
            feed.wait_ready(self.inner.timeout).await;
            if feed.is_revoked(&claims.sid) {
                return Err(TokenError::Revoked.into());
            }
        }
        Ok(Principal::new(claims, token, self.inner.id))
    }

    /// Finds the bearer token in `headers` and verifies it; the refusal is ready to answer.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, Rejection> {
        let token = bearer(headers)
            .map_err(|err| self.reject(err))?
            .ok_or_else(|| self.reject(GuardError::MissingToken))?;
        self.verify(token).await.map_err(|err| self.reject(err))
    }

    /// Asks Warden whether `principal` may do what `check` says (`POST /v1/check` with the
    /// principal's own token), through the decision cache. A 401 from Warden (an ended session,
    /// a disabled user) is [`TokenError::Rejected`]; Warden unreachable is
    /// [`GuardError::Unavailable`].
    pub async fn allowed(&self, principal: &Principal, check: &Check) -> Result<bool, GuardError> {
        let body = serde_json::to_vec(check)
            .map_err(|err| GuardError::Misconfigured(format!("serializing a check: {err}")))?;
        let key = DecisionCache::key(principal.token(), &body);
        if let Some(allowed) = self.inner.decisions.get(&key) {
            self.inner
                .stats
                .check_cache_hits
                .fetch_add(1, Ordering::Relaxed);
            return Ok(allowed);
        }
        self.inner
            .stats
            .check_requests
            .fetch_add(1, Ordering::Relaxed);
        let allowed = ask(
            &self.inner.http,
            &self.inner.check_url,
            principal.token(),
            body,
        )
        .await?;
        self.inner.decisions.put(key, allowed);
        Ok(allowed)
    }

    /// [`Guard::allowed`], with a denial as a ready 403 (`insufficient_scope`).
    pub async fn require(&self, principal: &Principal, check: &Check) -> Result<(), Rejection> {
        match self.allowed(principal, check).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(self.reject(GuardError::forbidden(format!(
                "this needs the permission `{}`",
                check.action()
            )))),
            Err(err) => Err(self.reject(err)),
        }
    }

    /// `error` as an answer with this guard's realm.
    pub fn reject(&self, error: GuardError) -> Rejection {
        Rejection::new(error, self.inner.realm.clone())
    }

    /// Whether `principal` was verified by this guard (or a clone of it).
    pub(crate) fn verified(&self, principal: &Principal) -> bool {
        principal.verifier() == self.inner.id
    }

    /// A layer that only attaches this guard to requests, so the [`Principal`] extractor can
    /// verify lazily; it refuses nothing itself.
    pub fn layer(&self) -> GuardLayer {
        GuardLayer::new(self.clone(), Rule::Attach)
    }

    /// A route layer that requires a valid token.
    pub fn authenticated(&self) -> GuardLayer {
        GuardLayer::new(self.clone(), Rule::Authenticated)
    }

    /// A route layer that requires a valid token carrying the role `name`.
    pub fn require_role(&self, name: impl Into<String>) -> GuardLayer {
        GuardLayer::new(
            self.clone(),
            Rule::Roles {
                names: vec![name.into()],
                all: true,
            },
        )
    }

    /// A route layer that requires a valid token carrying at least one of the roles `names`.
    pub fn require_any_role<I, S>(&self, names: I) -> GuardLayer
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        GuardLayer::new(
            self.clone(),
            Rule::Roles {
                names: names.into_iter().map(Into::into).collect(),
                all: false,
            },
        )
    }

    /// A route layer that requires a valid token carrying every one of the roles `names`.
    pub fn require_all_roles<I, S>(&self, names: I) -> GuardLayer
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        GuardLayer::new(
            self.clone(),
            Rule::Roles {
                names: names.into_iter().map(Into::into).collect(),
                all: true,
            },
        )
    }

    /// A route layer that requires the permission `permission` locally, from the token's
    /// `permissions` claim with Warden's `*` wildcards. A token without that claim (Warden's
    /// `WARDEN_TOKEN_PERMISSIONS` is off) is refused with 403 saying so; use
    /// [`Guard::require_check`] to ask Warden instead.
    pub fn require_permission(&self, permission: impl Into<String>) -> GuardLayer {
        let permission = permission.into();
        if !crate::permission::well_formed(&permission) {
            tracing::warn!(%permission, "warden-guard: this permission is not well formed; only `*` grants it");
        }
        GuardLayer::new(self.clone(), Rule::Permission(permission))
    }

    /// A route layer that asks Warden (`POST /v1/check`, with the caller's token) whether the
    /// caller may do `action`; the resource is [`crate::Resource::for_action`] unless
    /// [`GuardLayer::with_resource`] says how to build it from the request.
    pub fn require_check(&self, action: impl Into<String>) -> GuardLayer {
        GuardLayer::new(
            self.clone(),
            Rule::Check {
                action: action.into(),
                resource: None,
            },
        )
    }

    /// Runs the revocation follower on `runtime` until the guard is dropped.
    pub(crate) fn spawn_revocation_follower(
        &self,
        runtime: &tokio::runtime::Handle,
        interval: Duration,
    ) {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        runtime.spawn(async move {
            loop {
                let Some(inner) = weak.upgrade() else { break };
                let Some(feed) = inner.revocations.clone() else {
                    break;
                };
                let http = inner.http.clone();
                drop(inner);
                if let Err(err) = feed.poll(&http).await {
                    tracing::warn!(error = %err, "warden-guard: reading the revocation feed failed; keeping the last list");
                }
                feed.mark_ready();
                drop(feed);
                tokio::time::sleep(interval).await;
            }
        });
    }
}
