//! What the engine keeps of an account: whether it is active, and since when tokens issued in
//! it count (its last disabling), so a re-enabled account revives nothing issued before.

use std::sync::Arc;

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
    /// An account that is active (or not), was never disabled and has no allow-list.
    pub fn open(active: bool) -> Self {
        Self {
            active,
            tokens_valid_after: 0,
            allowed_ips: Arc::from(Vec::new()),
        }
    }

    /// What the engine keeps of `account`.
    pub fn of(account: &crate::model::Account) -> Self {
        Self {
            active: account.status == crate::model::Status::Active,
            tokens_valid_after: account.tokens_valid_after.map_or(0, |t| t.millis()),
            allowed_ips: account.allowed_ips.iter().copied().collect(),
        }
    }
}
