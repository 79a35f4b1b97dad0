//! A map cut into shards that a new snapshot copies one at a time, so a change to one user
//! copies one shard of the user map, never the whole map.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use crate::ids::{AccountId, SessionId, UserId};

/// How many shards a large map is cut into.
const SHARDS: usize = 256;

/// A key that picks its own shard.
pub trait ShardKey: Eq + Hash + Clone {
    /// A well-spread number; reduced modulo the shard count.
    fn shard(&self) -> usize;
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

impl<K: ShardKey, V: Clone> Default for Sharded<K, V> {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Arc::new(HashMap::new())).collect(),
            len: 0,
        }
    }
}

impl<K: ShardKey, V: Clone> Sharded<K, V> {
    /// The value under `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.shards[key.shard() % SHARDS].get(key)
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
        let mut len = self.len;
        for (key, value) in changes {
            let shard = Arc::make_mut(&mut shards[key.shard() % SHARDS]);
            match value {
                Some(value) => {
                    if shard.insert(key, value).is_none() {
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
        // The old array is released first, so the shards are held once, here.
        self.shards = Arc::from(Vec::new());
        for (key, value) in changes {
            let shard = Arc::make_mut(&mut shards[key.shard() % SHARDS]);
            match value {
                Some(value) => {
                    if shard.insert(key, value).is_none() {
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
        self.shards = Arc::from(Vec::new());
        for (key, item) in items {
            let shard = &mut shards[key.shard() % SHARDS];
            if shard.contains_key(&key) {
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
