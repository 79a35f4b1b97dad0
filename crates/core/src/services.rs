//! The services every use case runs against: the store, the password hasher, the token
//! keys, and the settings that shape behaviour.

use std::sync::{Arc, RwLock};

use crate::error::DomainError;
use crate::identity::password::PasswordHasher;
use crate::store::Store;
use crate::time::Timestamp;
use crate::tokens::{AccessClaims, KeySet, TokenError, TokenVerifier, VerifiedCache};

/// The first-party public client used when a login names none.
pub const DEFAULT_CLIENT_ID: &str = "warden";

/// Behaviour switches from configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Access token lifetime in seconds.
    pub access_token_ttl: i64,
    /// Whether `POST /v1/register` is open.
    pub registration_enabled: bool,
    /// Refresh token idle lifetime in seconds: unused this long, it expires.
    pub refresh_idle_ttl: i64,
    /// Refresh token absolute lifetime in seconds: the session's longest life.
    pub refresh_absolute_ttl: i64,
    /// Seconds during which an identical retry of a just-rotated refresh token gets the same
    /// successor instead of revoking the session (0 disables).
    pub refresh_grace: i64,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<crate::net::Cidr>,
    /// How long verifiers may cache the JWKS, seconds: a rotated key signs only after this.
    pub jwks_cache_ttl: i64,
    /// Algorithm of new signing keys.
    pub signing_algorithm: crate::tokens::SigningAlgorithm,
    /// Audit one allowed decision in this many (0: none); denials are always audited.
    pub audit_allowed_every: u64,
    /// Most live sessions of one user: a login past it ends the oldest.
    pub max_sessions_per_user: u32,
    /// Whether access tokens carry a `permissions` claim (the effective permissions of their
    /// roles).
    pub token_permissions: bool,
    /// Whether every sign-in takes a second factor (TOTP), whatever the account.
    pub require_second_factor: bool,
}

/// Issues and verifies access tokens with the current key set.
pub struct Tokens {
    verifier: TokenVerifier,
    keys: RwLock<Arc<KeySet>>,
    verified: VerifiedCache,
}

impl Tokens {
    /// Tokens for `verifier`'s issuer and audience, signed with `keys`.
    pub fn new(verifier: TokenVerifier, keys: KeySet) -> Self {
        Self {
            verifier,
            keys: RwLock::new(Arc::new(keys)),
            verified: VerifiedCache::default(),
        }
    }

    /// The current key set.
    pub fn keys(&self) -> Arc<KeySet> {
        match self.keys.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the key set (after a rotation).
    pub fn replace_keys(&self, keys: KeySet) {
        let mut guard = match self.keys.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        // Tokens verified before stay verified unless a key they may use is gone.
        let kept = keys.verifies_every_key_of(&guard);
        *guard = Arc::new(keys);
        drop(guard);
        if !kept {
            self.verified.clear();
        }
    }

    /// Signs claims.
    pub fn sign(&self, claims: &AccessClaims) -> Result<String, DomainError> {
        self.verifier.sign(&self.keys(), claims)
    }

    /// Signs an OpenID Connect ID token (header type `JWT`).
    pub fn sign_id_token<T: serde::Serialize>(&self, claims: &T) -> Result<String, DomainError> {
        self.verifier.sign_jwt(&self.keys(), "JWT", claims)
    }

    /// Reads an `id_token_hint` Warden issued (signature and issuer checked, expiry not).
    pub fn read_id_token_hint(&self, token: &str) -> Option<crate::tokens::IdTokenHint> {
        self.verifier.read_id_token_hint(&self.keys(), token)
    }

    /// Verifies a token; a token verified before is answered from the cache until it
    /// expires.
    pub fn verify(&self, token: &str) -> Result<Arc<AccessClaims>, TokenError> {
        let now = Timestamp::now();
        if let Some(claims) = self.verified.get(token, now.seconds()) {
            return Ok(claims);
        }
        let generation = self.verified.generation();
        let claims = Arc::new(self.verifier.verify(&self.keys(), token, now)?);
        self.verified.put(token, &claims, now.seconds(), generation);
        Ok(claims)
    }

    /// The issuer URL.
    pub fn issuer(&self) -> &str {
        self.verifier.issuer()
    }

    /// The audience of issued tokens.
    pub fn audience(&self) -> &str {
        self.verifier.audience()
    }
}

/// Everything a use case needs.
pub struct Services {
    /// Storage.
    pub store: Arc<dyn Store>,
    /// Password hashing.
    pub hasher: PasswordHasher,
    /// Token keys.
    pub tokens: Tokens,
    /// Settings.
    pub settings: Settings,
    /// The node's audit writer.
    pub audit: crate::audit::writer::AuditLog,
    /// Seals short-lived secrets (grace-window successors) at rest.
    pub sealer: Arc<crate::crypto::MasterKey>,
    /// The authorization engine's snapshot.
    pub engine: Arc<crate::authz::engine::Engine>,
    /// When this node last recorded each API key's use.
    pub key_uses: crate::authn::uses::KeyUses,
}
