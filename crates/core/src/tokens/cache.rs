//! Verified tokens, remembered until they expire, so a token presented again does not pay for
//! signature verification again. Only successful verifications are kept; the cache is emptied
//! whenever the key set changes.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::sync::Mutex;

use crate::sync::lock;

use super::claims::AccessClaims;
use super::verify::LEEWAY_SECONDS;

const SHARDS: usize = 16;
/// Entries per shard before expired ones are swept (and, if that is not enough, all dropped).
const PER_SHARD: usize = 4096;

/// One shard: token text to verified claims.
type Shard = Mutex<HashMap<Box<str>, Arc<AccessClaims>, TailHash>>;

/// Bytes of a token's end its map hash reads: its signature's last ones.
const HASHED_TAIL: usize = 24;

/// Hashes a token by its last [`HASHED_TAIL`] bytes (keyed, as the standard map's hasher
/// is): the end of a signature is as random as the whole, and a token is about 700 bytes, so
/// hashing all of it cost as much as the rest of the lookup. Only tokens that verified are
/// ever stored, and nobody without the signing key can choose a valid signature, so nobody
/// can fill a bucket; equality still compares whole tokens.
#[derive(Debug, Default, Clone)]
struct TailHash(RandomState);

impl BuildHasher for TailHash {
    type Hasher = Tail;

    fn build_hasher(&self) -> Tail {
        Tail(self.0.build_hasher())
    }
}

/// The hasher of [`TailHash`]: a `str` hashes as one `write` of its bytes (then a marker),
/// of which only the tail is fed on.
struct Tail(DefaultHasher);

impl Hasher for Tail {
    fn write(&mut self, bytes: &[u8]) {
        self.0
            .write(&bytes[bytes.len().saturating_sub(HASHED_TAIL)..]);
    }

    fn finish(&self) -> u64 {
        self.0.finish()
    }
}

/// A bounded map from token text to its verified claims.
#[derive(Debug)]
pub struct VerifiedCache {
    shards: Box<[Shard]>,
    /// Bumped by every `clear`: a verification that started before a clear must not be
    /// remembered after it (it may have used a key that is now gone).
    generation: AtomicU64,
}

impl Default for VerifiedCache {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::default()))
                .collect(),
            generation: AtomicU64::new(0),
        }
    }
}

impl VerifiedCache {
    fn shard(&self, token: &str) -> &Shard {
        // The signature's tail is random: hashing it spreads tokens evenly and cheaply.
        let tail = &token.as_bytes()[token.len().saturating_sub(16)..];
        let mut hasher = DefaultHasher::new();
        tail.hash(&mut hasher);
        &self.shards[(hasher.finish() as usize) % SHARDS]
    }

    /// The claims of `token` if it was verified before and has not expired at `now` (seconds).
    pub fn get(&self, token: &str, now: i64) -> Option<Arc<AccessClaims>> {
        let mut shard = lock(self.shard(token));
        match shard.get(token) {
            Some(claims) if now <= claims.exp + LEEWAY_SECONDS => Some(Arc::clone(claims)),
            Some(_) => {
                shard.remove(token);
                None
            }
            None => None,
        }
    }

    /// The current generation, read before verifying a token to [`VerifiedCache::put`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Remembers that `token` verified to `claims`, unless the cache was cleared since
    /// `generation` was read.
    pub fn put(&self, token: &str, claims: &Arc<AccessClaims>, now: i64, generation: u64) {
        let mut shard = lock(self.shard(token));
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if shard.len() >= PER_SHARD {
            shard.retain(|_, c| now <= c.exp + LEEWAY_SECONDS);
            if shard.len() >= PER_SHARD {
                shard.clear();
            }
        }
        shard.insert(token.into(), Arc::clone(claims));
    }

    /// Forgets everything (the key set changed).
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        for shard in self.shards.iter() {
            lock(shard).clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Arc<AccessClaims> {
        Arc::new(AccessClaims {
            iss: "i".into(),
            sub: "s".into(),
            aud: "a".into(),
            exp,
            iat: 0,
            nbf: 0,
            jti: "j".into(),
            client_id: "c".into(),
            sid: "s".into(),
            acct: None,
            roles: Vec::new(),
            scope: None,
            narrowed: false,
            permissions: None,
        })
    }

    #[test]
    fn entries_live_until_their_token_expires() {
        let cache = VerifiedCache::default();
        cache.put("a.b.c", &claims(100), 50, cache.generation());
        assert!(cache.get("a.b.c", 100 + LEEWAY_SECONDS).is_some());
        assert!(cache.get("a.b.c", 101 + LEEWAY_SECONDS).is_none());
        assert!(
            cache.get("a.b.c", 50).is_none(),
            "an expired entry is dropped"
        );
        assert!(cache.get("a.b.d", 50).is_none());
        cache.put("a.b.c", &claims(100), 50, cache.generation());
        cache.clear();
        assert!(cache.get("a.b.c", 50).is_none());
        // A verification that began before a clear is not remembered after it.
        let before = cache.generation();
        cache.clear();
        cache.put("a.b.c", &claims(100), 50, before);
        assert!(cache.get("a.b.c", 50).is_none());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = VerifiedCache::default();
        for i in 0..(SHARDS * PER_SHARD * 2) {
            cache.put(
                &format!("token-{i:08}"),
                &claims(100),
                0,
                cache.generation(),
            );
        }
        let total: usize = cache.shards.iter().map(|s| lock(s).len()).sum();
        assert!(total <= SHARDS * PER_SHARD, "{total}");
    }

    #[test]
    fn tokens_with_the_same_tail_stay_apart() {
        // The map hashes only the tail: two tokens ending alike share a bucket, and each is
        // still found only as itself.
        let cache = VerifiedCache::default();
        let tail = "0123456789abcdefghijklmnopqrstuv";
        let first = format!("h1.p1.{tail}");
        let second = format!("h2.p2.{tail}");
        cache.put(&first, &claims(100), 50, cache.generation());
        assert_eq!(cache.get(&first, 50).map(|c| c.exp), Some(100));
        assert!(cache.get(&second, 50).is_none());
        cache.put(&second, &claims(200), 50, cache.generation());
        assert_eq!(cache.get(&first, 50).map(|c| c.exp), Some(100));
        assert_eq!(cache.get(&second, 50).map(|c| c.exp), Some(200));
    }
}
