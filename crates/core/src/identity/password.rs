//! Passwords: validation (NFC, 8..=1024 bytes, not a common password) and argon2id hashing on
//! the blocking pool behind a semaphore, so a burst of logins cannot starve the runtime.

use std::collections::HashSet;
use std::sync::{Arc, LazyLock};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;
use unicode_normalization::UnicodeNormalization;

use crate::error::DomainError;

/// Shortest accepted password, in bytes (ASVS 5.0 asks for at least 8).
pub const MIN_BYTES: usize = 8;
/// Longest accepted password, in bytes; longer input is refused before any hashing.
pub const MAX_BYTES: usize = 1024;

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../../data/common-passwords.txt")
        .lines()
        .collect()
});

/// A password that passed the policy, normalized to NFC. Never logged, never serialized.
pub struct Password(SecretString);

impl Password {
    /// Applies the password policy to a new password.
    pub fn parse(text: &str) -> Result<Self, String> {
        let normalized = Self::normalize(text)?;
        let exposed = normalized.expose_secret();
        if exposed.len() < MIN_BYTES {
            return Err(format!("must be at least {MIN_BYTES} bytes long"));
        }
        if COMMON.contains(exposed.to_lowercase().as_str()) {
            return Err(
                "is too common; choose a password that is not on lists of leaked passwords".into(),
            );
        }
        Ok(Self(normalized))
    }

    /// Normalizes a password presented at login, only refusing what no policy could accept.
    pub fn presented(text: &str) -> Result<Self, String> {
        Self::normalize(text).map(Self)
    }

    fn normalize(text: &str) -> Result<SecretString, String> {
        if text.len() > MAX_BYTES * 4 {
            return Err(format!("must be at most {MAX_BYTES} bytes long"));
        }
        let normalized: String = text.nfc().collect();
        if normalized.len() > MAX_BYTES {
            return Err(format!("must be at most {MAX_BYTES} bytes long"));
        }
        Ok(SecretString::from(normalized))
    }

    fn bytes(&self) -> &[u8] {
        self.0.expose_secret().as_bytes()
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// argon2id cost parameters. The defaults are OWASP's (19 MiB, 2 passes, 1 lane).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HashParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Degree of parallelism.
    pub parallelism: u32,
}

impl Default for HashParams {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Hashes and verifies passwords with argon2id on the blocking pool, at most `permits` at once
/// and at most `queue` waiting; past that it answers [`DomainError::Busy`].
#[derive(Clone)]
pub struct PasswordHasher {
    argon: Arc<Argon2<'static>>,
    running: Arc<Semaphore>,
    waiting: Arc<Semaphore>,
    dummy: Arc<String>,
}

impl PasswordHasher {
    /// A hasher with the given cost and concurrency; computes the dummy hash that login checks
    /// against for unknown users, so they take as long as known ones.
    pub fn new(params: HashParams, permits: usize, queue: usize) -> Result<Self, DomainError> {
        let argon_params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|err| DomainError::Internal(format!("argon2 parameters: {err}")))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params);
        let salt = SaltString::encode_b64(&crate::crypto::random_bytes::<16>())
            .map_err(|err| DomainError::Internal(format!("salt: {err}")))?;
        let dummy = argon
            .hash_password(b"warden-dummy-password", &salt)
            .map_err(|err| DomainError::Internal(format!("argon2: {err}")))?
            .to_string();
        Ok(Self {
            argon: Arc::new(argon),
            running: Arc::new(Semaphore::new(permits.max(1))),
            waiting: Arc::new(Semaphore::new(queue.max(1))),
            dummy: Arc::new(dummy),
        })
    }

    /// Hashes a password into a PHC string.
    pub async fn hash(&self, password: Password) -> Result<String, DomainError> {
        let argon = self.argon.clone();
        self.on_pool(move || {
            let salt = SaltString::encode_b64(&crate::crypto::random_bytes::<16>())
                .map_err(|err| DomainError::Internal(format!("salt: {err}")))?;
            argon
                .hash_password(password.bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|err| DomainError::Internal(format!("argon2: {err}")))
        })
        .await
    }

    /// Verifies a password against a stored PHC string; with `None` it verifies against the
    /// dummy hash and answers `false`, taking the same time.
    pub async fn verify(
        &self,
        password: Password,
        stored: Option<String>,
    ) -> Result<bool, DomainError> {
        let argon = self.argon.clone();
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| self.dummy.as_str().to_owned());
        self.on_pool(move || {
            let parsed = PasswordHash::new(&phc)
                .map_err(|err| DomainError::Internal(format!("stored hash: {err}")))?;
            Ok(argon.verify_password(password.bytes(), &parsed).is_ok() && known)
        })
        .await
    }

    async fn on_pool<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, DomainError> + Send + 'static,
    ) -> Result<T, DomainError> {
        let _queued = self
            .waiting
            .try_acquire()
            .map_err(|_| DomainError::Busy(1))?;
        let _running = self
            .running
            .acquire()
            .await
            .map_err(|_| DomainError::Busy(1))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|err| DomainError::Internal(format!("hashing task: {err}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_refuses_short_long_and_common_passwords() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"x".repeat(MAX_BYTES + 1)).is_err());
        assert!(
            Password::parse("Password").is_err(),
            "case-insensitive common list"
        );
        assert!(Password::parse("qwertyuiop").is_err());
        assert!(Password::parse("correct horse battery staple").is_ok());
    }

    #[tokio::test]
    async fn hashes_verify_and_unknown_users_never_match() {
        let hasher = PasswordHasher::new(
            HashParams {
                memory_kib: 64,
                iterations: 1,
                parallelism: 1,
            },
            2,
            8,
        )
        .unwrap();
        let hash = hasher
            .hash(Password::parse("tr0ub4dor&3-horse").unwrap())
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(hasher
            .verify(
                Password::presented("tr0ub4dor&3-horse").unwrap(),
                Some(hash.clone())
            )
            .await
            .unwrap());
        assert!(!hasher
            .verify(Password::presented("wrong-password").unwrap(), Some(hash))
            .await
            .unwrap());
        assert!(!hasher
            .verify(Password::presented("warden-dummy-password").unwrap(), None)
            .await
            .unwrap());
    }
}
