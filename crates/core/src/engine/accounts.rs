//! What the engine keeps of an account: whether it is active, and since when tokens issued in
//! it count (its last disabling), so a re-enabled account revives nothing issued before.

use std::sync::Arc;

use crate::ids::AccountId;

use super::snapshot::Snapshot;

/// What the engine keeps of an account.
#[derive(Debug, Clone)]
pub struct AccountEntry {
    /// Whether it is active.
    pub active: bool,
    /// Tokens issued in the account at or before this (milliseconds; 0: none) are dead: it was
    /// disabled then.
    pub tokens_valid_after: i64,
    /// Addresses tokens may be issued to and keys used from in it; empty means any.
    pub allowed_ips: Arc<[crate::net::Cidr]>,
}

impl AccountEntry {
    /// What the engine keeps of `account`.
    pub fn of(account: &crate::model::Account) -> Self {
        Self {
            active: account.status == crate::model::Status::Active,
            tokens_valid_after: account.tokens_valid_after.map_or(0, |t| t.millis()),
            allowed_ips: account.allowed_ips.iter().copied().collect(),
        }
    }
}

impl Snapshot {
    /// Whether a token issued at `issued_at` (seconds, a JWT `iat`) in `account` may still be
    /// used: the account is active and was not disabled since (with its margin).
    pub fn account_accepts(&self, account: &AccountId, issued_at: i64) -> bool {
        self.accounts.get(account).is_some_and(|a| {
            a.active
                && (a.tokens_valid_after == 0
                    || issued_at.saturating_mul(1000)
                        > a.tokens_valid_after + crate::model::DISABLE_MARGIN_MS)
        })
    }
}
