//! The one gate every password check passes, whoever asks (the password grant, a self-service
//! password change, any future re-authentication): the attempt is reserved and counted against
//! the identifier's lock before any hashing, the hash runs on the capped hashing pool (a dummy
//! hash for unknown users and locked identifiers, so every answer takes as long), and a
//! success clears the count.

use crate::error::DomainError;
use crate::identity::password::Password;
use crate::services::Services;
use crate::time::Timestamp;

/// Failed attempts are counted per identifier over this window.
pub const LOCK_WINDOW_MS: i64 = 3_600_000;
/// Failures allowed before the first delay.
pub const FREE_ATTEMPTS: i64 = 5;
/// The longest delay: the lock is never permanent.
pub const MAX_LOCK_MS: i64 = 15 * 60 * 1000;

/// The lock ladder: after the free attempts, 1 s, 2 s, 4 s … doubling up to 15 minutes.
/// Attempts during a lock are refused uncounted, so within an hour at most about twenty
/// guesses are checked per identifier (far under 100), and the owner gets in once the delay
/// passes.
pub fn lock_after(failures: i64) -> i64 {
    if failures <= FREE_ATTEMPTS {
        return 0;
    }
    let exponent = (failures - FREE_ATTEMPTS - 1).min(20) as u32;
    (1000_i64 << exponent).min(MAX_LOCK_MS)
}

/// The lock key of a login identifier (an email or username as typed, canonicalized when it
/// can be). Stored and logged only as a hash: people type passwords into the username field.
pub fn identifier_key(identifier: &str) -> String {
    crate::crypto::sha256_b64(format!("login:{identifier}").as_bytes())
}

/// The lock key every password check of one user shares, whichever identifier it came by.
pub fn user_key(user: &crate::ids::UserId) -> String {
    crate::crypto::sha256_b64(format!("user:{user}").as_bytes())
}

static LOCKED_REFUSALS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Password checks this process refused, uncompared, because an identifier was locked.
pub fn locked_refusals() -> u64 {
    LOCKED_REFUSALS.load(std::sync::atomic::Ordering::Relaxed)
}

/// What a password check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// The password matched the stored hash (never true while locked).
    pub verified: bool,
    /// An identifier was locked, so the password was not compared.
    pub locked: bool,
}

/// Checks `password` against `stored` under the locks of `keys` (the identifier as typed and
/// the user's own). The attempt is reserved under all of them atomically in the store before
/// hashing, so concurrent guesses, on one node or many, are
/// checked no further than the same guesses one after another; while any key is locked the
/// password is not compared, but the same hashing work runs.
pub async fn check_password(
    services: &Services,
    keys: &[String],
    stored: Option<String>,
    password: Password,
) -> Result<Checked, DomainError> {
    let now = Timestamp::now().millis();
    let admitted = services
        .store
        .reserve_login_attempt(keys, now, LOCK_WINDOW_MS, lock_after)
        .await?;
    if !admitted {
        LOCKED_REFUSALS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let stored = if admitted { stored } else { None };
    let verified = services.hasher.verify(password, stored).await?;
    if verified {
        for key in keys {
            services.store.clear_login_failures(key).await?;
        }
    }
    Ok(Checked {
        verified,
        locked: !admitted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_ladder_grows_and_is_capped() {
        assert_eq!(lock_after(1), 0);
        assert_eq!(lock_after(5), 0);
        assert_eq!(lock_after(6), 1000);
        assert_eq!(lock_after(7), 2000);
        assert_eq!(lock_after(15), 512_000);
        assert_eq!(lock_after(16), MAX_LOCK_MS);
        assert_eq!(lock_after(10_000), MAX_LOCK_MS);
    }

    #[test]
    fn an_hour_of_guessing_checks_far_fewer_than_one_hundred_passwords() {
        // Each checked failure is followed by its lock; count the checks that fit in an hour.
        let (mut t, mut checked) = (0, 0);
        while t < LOCK_WINDOW_MS {
            checked += 1;
            t += lock_after(checked).max(1);
        }
        assert!(checked < 100, "{checked}");
    }
}
