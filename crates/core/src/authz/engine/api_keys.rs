//! What the engine keeps of API keys: every live key under the hash of its value, so a request
//! presenting one is answered from memory. The change log names a key by that hash.

use crate::ids::{AccountId, ApiKeyId, RoleId};
use crate::model::{ApiKey, KeyOwner};
use crate::net::Cidr;
use crate::time::Timestamp;

use super::sharded::ShardKey;

/// The stored hash of a key's value (SHA-256, base64url): the index's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyHash(Box<str>);

impl KeyHash {
    /// The hash as stored.
    pub fn new(hash: &str) -> Self {
        Self(hash.into())
    }
}

impl ShardKey for KeyHash {
    fn shard(&self) -> usize {
        // The text is a digest already: any of its characters is well spread.
        self.0
            .bytes()
            .take(2)
            .fold(0, |acc, b| acc * 64 + usize::from(b))
    }
}

/// What the engine keeps of a live API key.
#[derive(Debug)]
pub struct ApiKeyEntry {
    /// Id.
    pub id: ApiKeyId,
    /// Who owns it.
    pub owner: KeyOwner,
    /// The account it acts in.
    pub account: Option<AccountId>,
    /// The roles it may use (each still held by the owner at every use).
    pub roles: Box<[RoleId]>,
    /// Addresses it may be used from; empty means any.
    pub allowed_ips: Box<[Cidr]>,
    /// Unusable from this moment.
    pub expires_at: Option<Timestamp>,
    /// When it was made (an account disabled since revokes it).
    pub created_at: Timestamp,
    /// Its last recorded use when the entry was read.
    pub last_used_at: Option<Timestamp>,
}

impl ApiKeyEntry {
    /// The entry of `key`; `None` for a revoked key, or one without an owner, which nothing
    /// accepts.
    pub fn of(key: &ApiKey) -> Option<Self> {
        let owner = match (key.user_id, key.client_key) {
            (Some(user), None) => KeyOwner::User(user),
            (None, Some(client)) => KeyOwner::Client(client),
            _ => return None,
        };
        key.revoked_at.is_none().then(|| Self {
            id: key.id,
            owner,
            account: key.account_id,
            roles: key.roles.iter().copied().collect(),
            allowed_ips: key.allowed_ips.iter().copied().collect(),
            expires_at: key.expires_at,
            created_at: key.created_at,
            last_used_at: key.last_used_at,
        })
    }

    /// Whether the key may be used at `now` from `ip` (its own expiry and allow-list).
    pub fn usable(&self, now: Timestamp, ip: std::net::IpAddr) -> bool {
        self.expires_at.is_none_or(|t| now < t) && crate::net::allowed(&self.allowed_ips, ip)
    }
}
