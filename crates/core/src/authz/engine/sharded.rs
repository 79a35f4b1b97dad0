//! A map cut into shards that a new snapshot copies one at a time, so a change to one user
//! copies one shard of the user map, never the whole map. A map that loading fills is cut
//! beforehand ([`Sharded::reserve`]) into shards whose tables end up about 85 % full: a hash
//! table's size is a power of two, and a million entries spread over 256 shards give each
//! shard just past one, half empty.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::ids::{AccountId, SessionId, UserId};

/// How many shards a map starts with, and the fewest a sized one has.
const SHARDS: usize = 256;
/// How full a map [`Sharded::reserve`] sized leaves each shard's table, on average, of what
/// it holds before it grows: the rest (about 18 % above the mean) is room for the shards
/// that draw more than their share (at a few thousand entries a shard, the fullest of a few
/// hundred draws about 5 % above it).
const FILL: f64 = 0.85;
/// A hash table (std's) holds at most seven eighths of its buckets.
const TABLE_LOAD: f64 = 0.875;
/// Below this many entries a map is not sized: its shards are small anyway.
const SIZED_FROM: usize = 65_536;

/// A key that picks its own shard. A key a map is searched by through `Borrow` picks the
/// same shard as the key it borrows from.
pub trait ShardKey: Eq + Hash {
    /// Whether the key carries data beside what it is compared by (a registered resource is
    /// its own key), so writing under an equal key must replace the key too.
    const CARRIES_DATA: bool = false;

    /// A well-spread number (every bit of it, not only the low ones); reduced modulo the
    /// shard count, which need not be a power of two.
    fn shard(&self) -> usize;
}

/// Text keys spread by their hash.
impl ShardKey for str {
    fn shard(&self) -> usize {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.hash(&mut hasher);
        // Truncation is fine: any bits of a hash are well spread.
        #[expect(
            clippy::cast_possible_truncation,
            reason = "a hash, reduced modulo the shards"
        )]
        let spread = hasher.finish() as usize;
        spread
    }
}

macro_rules! shard_key {
    ($($id:ty),*) => {
        $(impl ShardKey for $id {
            fn shard(&self) -> usize {
                <$id>::shard(self)
            }
        })*
    };
}
shard_key!(UserId, AccountId, SessionId);

/// A map cut into shards that a new snapshot copies one at a time.
#[derive(Debug)]
pub struct Sharded<K, V> {
    shards: Arc<[Arc<HashMap<K, V>>]>,
    len: usize,
}

impl<K, V> Clone for Sharded<K, V> {
    fn clone(&self) -> Self {
        Self {
            shards: self.shards.clone(),
            len: self.len,
        }
    }
}

impl<K: ShardKey + Clone, V: Clone> Default for Sharded<K, V> {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Arc::new(HashMap::new())).collect(),
            len: 0,
        }
    }
}

/// The shard of `key` among `count`.
fn slot<K: ShardKey + ?Sized>(key: &K, count: usize) -> usize {
    key.shard() % count
}

/// Writes `value` under `key`; whether the key is new to the shard.
fn put<K: ShardKey, V>(shard: &mut HashMap<K, V>, key: K, value: V) -> bool {
    if K::CARRIES_DATA {
        // `insert` keeps the key already there: take it out first.
        let replaced = shard.remove(&key).is_some();
        shard.insert(key, value);
        !replaced
    } else {
        shard.insert(key, value).is_none()
    }
}

impl<K: ShardKey + Clone, V: Clone> Sharded<K, V> {
    /// The value under `key`.
    pub fn get<Q: ShardKey + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.shards[slot(key, self.shards.len())].get(key)
    }

    /// The key stored equal to `key`: for maps whose keys carry data.
    pub fn get_key<Q: ShardKey + ?Sized>(&self, key: &Q) -> Option<&K>
    where
        K: Borrow<Q>,
    {
        self.shards[slot(key, self.shards.len())]
            .get_key_value(key)
            .map(|(key, _)| key)
    }

    /// How many shards the map is cut into.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Makes room for the `len` entries a load is about to put in an empty map: the shard
    /// count and table size that leave each table about [`FILL`] full, so the tables do not
    /// grow while loading (a table that grows leaves its old allocation behind, and one
    /// re-cut after loading leaves the whole map's); rows written during the load may still
    /// grow a shard or two. Later changes grow single shards as they need. A map that
    /// already holds entries, or a small one, is left as it is.
    pub fn reserve(&mut self, len: usize) {
        if self.len > 0 || len < SIZED_FROM {
            return;
        }
        let (count, capacity) = sized_layout(len);
        self.shards = (0..count)
            .map(|_| Arc::new(HashMap::with_capacity(capacity)))
            .collect();
    }

    /// How many entries the map holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A map with `changes` applied (`None` removes), copying only the shards they touch.
    pub fn with(&self, changes: impl IntoIterator<Item = (K, Option<V>)>) -> Self {
        let mut shards: Vec<Arc<HashMap<K, V>>> = self.shards.iter().cloned().collect();
        let count = shards.len();
        let mut len = self.len;
        for (key, value) in changes {
            let shard = Arc::make_mut(&mut shards[slot(&key, count)]);
            match value {
                Some(value) => {
                    if put(shard, key, value) {
                        len += 1;
                    }
                }
                None => {
                    if shard.remove(&key).is_some() {
                        len -= 1;
                    }
                }
            }
        }
        Self {
            shards: shards.into(),
            len,
        }
    }

    /// Applies `changes` in place: what loading a snapshot page by page does. Shards no other
    /// map shares are changed without a copy, so loading n entries costs O(n), where
    /// [`Sharded::with`] per page would copy every shard touched, each page.
    pub fn extend(&mut self, changes: impl IntoIterator<Item = (K, Option<V>)>) {
        let mut shards: Vec<Arc<HashMap<K, V>>> = self.shards.iter().cloned().collect();
        let count = shards.len();
        // The old array is released first, so the shards are held once, here.
        self.shards = Arc::from(Vec::new());
        for (key, value) in changes {
            let shard = Arc::make_mut(&mut shards[slot(&key, count)]);
            match value {
                Some(value) => {
                    if put(shard, key, value) {
                        self.len += 1;
                    }
                }
                None => {
                    if shard.remove(&key).is_some() {
                        self.len -= 1;
                    }
                }
            }
        }
        self.shards = shards.into();
    }

    /// Changes in place the value under each key of `items` (absent keys are skipped),
    /// copying only the shards still shared with another snapshot.
    pub fn modify<T>(
        &mut self,
        items: impl IntoIterator<Item = (K, T)>,
        mut change: impl FnMut(&mut V, T),
    ) {
        let mut shards: Vec<Arc<HashMap<K, V>>> = self.shards.iter().cloned().collect();
        let count = shards.len();
        self.shards = Arc::from(Vec::new());
        for (key, item) in items {
            let shard = &mut shards[slot(&key, count)];
            // A shard this map alone holds is changed in one lookup; a shared one is copied
            // only when it holds the key.
            if Arc::strong_count(shard) == 1 || shard.contains_key(&key) {
                if let Some(value) = Arc::make_mut(shard).get_mut(&key) {
                    change(value, item);
                }
            }
        }
        self.shards = shards.into();
    }

    /// How many shards `self` and `other` share (the same allocation).
    #[cfg(test)]
    pub(crate) fn shared_shards(&self, other: &Self) -> usize {
        self.shards
            .iter()
            .zip(other.shards.iter())
            .filter(|(a, b)| Arc::ptr_eq(a, b))
            .count()
    }

    /// A map without the entries `keep` refuses, copying only the shards that lose some.
    pub fn retain(&self, keep: impl Fn(&K, &V) -> bool) -> Self {
        let shards: Vec<Arc<HashMap<K, V>>> = self
            .shards
            .iter()
            .map(|shard| {
                if shard.iter().all(|(k, v)| keep(k, v)) {
                    shard.clone()
                } else {
                    Arc::new(
                        shard
                            .iter()
                            .filter(|(k, v)| keep(k, v))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    )
                }
            })
            .collect();
        let len = shards.iter().map(|s| s.len()).sum();
        Self {
            shards: shards.into(),
            len,
        }
    }
}

/// The shard count and per-shard capacity that hold `len` entries at [`FILL`] of
/// their tables: the largest table (a power of two buckets) for which at least [`SHARDS`]
/// shards are needed, then as many shards of it as `len` takes.
fn sized_layout(len: usize) -> (usize, usize) {
    #[expect(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "sizes far below 2^52, rounded up on purpose"
    )]
    let layout = {
        // A count past any real table is sized as that.
        let len = len.min(1 << 31);
        let per_bucket = FILL * TABLE_LOAD;
        let mut buckets: usize = 16;
        while (SHARDS * buckets * 2) as f64 * per_bucket <= len as f64 {
            buckets *= 2;
        }
        let count = (len as f64 / (buckets as f64 * per_bucket)).ceil() as usize;
        let capacity = (buckets as f64 * TABLE_LOAD) as usize;
        (count.max(SHARDS), capacity)
    };
    layout
}

#[cfg(test)]
mod layout_tests {
    use super::*;

    #[test]
    fn a_sized_map_fills_its_tables_to_about_85_percent() {
        for len in [
            65_536,
            100_000,
            999_999,
            1_000_000,
            1_300_000,
            5_000_000,
            1 << 31,
        ] {
            let (count, capacity) = sized_layout(len);
            assert!(count >= SHARDS, "{len}: {count}");
            let buckets = (capacity * 8 / 7).next_power_of_two();
            let fill = len as f64 / (count * buckets) as f64;
            assert!(
                (0.70..=0.75).contains(&fill),
                "{len}: {count} x {buckets}: {fill}"
            );
            // Room above the mean for the shards that draw more.
            assert!(
                len.div_ceil(count) as f64 <= 0.86 * capacity as f64,
                "{len}"
            );
        }
    }

    #[test]
    fn a_sized_map_holds_every_entry_in_the_layout() {
        let ids: Vec<UserId> = (0..70_000).map(|_| UserId::new()).collect();
        let mut map: Sharded<UserId, usize> = Sharded::default();
        map.reserve(ids.len());
        assert_eq!(map.shard_count(), sized_layout(70_000).0);
        map.extend(ids.iter().enumerate().map(|(i, id)| (*id, Some(i))));
        assert_eq!(map.shard_count(), sized_layout(70_000).0);
        assert_eq!(map.len(), 70_000);
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(map.get(id), Some(&i));
        }
        let next = map.with([(ids[0], None), (UserId::new(), Some(7))]);
        assert_eq!(next.len(), 70_000);
        assert_eq!(next.get(&ids[0]), None);
        assert_eq!(
            map.get(&ids[0]),
            Some(&0),
            "the map it was made from is untouched"
        );
        // A map that holds entries already is not cut again.
        let mut full = next.clone();
        full.reserve(1_000_000);
        assert_eq!(full.shard_count(), next.shard_count());
    }
}
