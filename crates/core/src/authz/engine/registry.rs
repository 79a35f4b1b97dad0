//! Registered resources in the snapshot: each one's attributes (as compact JSON, parsed only
//! when a decision is about it, so a million fit in little memory) and parents, by key.

use std::hash::{Hash, Hasher};

use serde_json::{Map, Value};

use super::query::EntityRef;
use super::sharded::ShardKey;
use crate::ids::AccountId;
use crate::model::RegisteredResource;

/// A registered resource's key: scope, type and id ([`RegisteredResource::key_of`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceKey(Box<str>);

impl ResourceKey {
    /// The key of the text `key`.
    pub fn new(key: &str) -> Self {
        Self(key.into())
    }

    /// The key of `kind`/`id` in `account` (`None`: global).
    pub fn of(account: Option<&AccountId>, kind: &str, id: &str) -> Self {
        Self(RegisteredResource::key_of(account, kind, id).into())
    }
}

impl ShardKey for ResourceKey {
    fn shard(&self) -> usize {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.0.hash(&mut hasher);
        // Truncation is fine: any bits of a hash are well spread.
        #[expect(
            clippy::cast_possible_truncation,
            reason = "a hash, reduced modulo the shards"
        )]
        let spread = hasher.finish() as usize;
        spread
    }
}

/// What the snapshot keeps of a registered resource: one allocation, its attributes as
/// compact JSON and, after a line feed (which compact JSON never holds), its parents when it
/// has any. Held inline in the map, so a million resources cost their keys and this text.
#[derive(Debug, Clone)]
pub struct ResourceEntry {
    text: Box<str>,
}

impl ResourceEntry {
    /// The entry of `resource`.
    pub fn of(resource: &RegisteredResource) -> Self {
        let mut text = Value::Object(resource.attributes.clone()).to_string();
        if !resource.parents.is_empty() {
            text.push('\n');
            text.push_str(&serde_json::to_string(&resource.parents).unwrap_or_default());
        }
        Self {
            text: text.into_boxed_str(),
        }
    }

    /// The entry of a resource from its stored JSON texts, as [`ResourceEntry::of`] would
    /// write them; text in another form (a newline in it) is parsed and written again.
    pub fn stored(attributes: &str, parents: &str) -> Self {
        if attributes.contains('\n') || parents.contains('\n') {
            let attributes = match serde_json::from_str(attributes) {
                Ok(Value::Object(map)) => map,
                _ => Map::new(),
            };
            let parents = serde_json::from_str(parents).unwrap_or_default();
            return Self::of(&RegisteredResource {
                account_id: None,
                kind: String::new(),
                id: String::new(),
                attributes,
                parents,
                created_at: crate::time::Timestamp::from_millis(0),
                updated_at: crate::time::Timestamp::from_millis(0),
            });
        }
        let mut text = String::with_capacity(attributes.len() + 1 + parents.len());
        text.push_str(attributes);
        if parents != "[]" {
            text.push('\n');
            text.push_str(parents);
        }
        Self {
            text: text.into_boxed_str(),
        }
    }

    /// The stored attributes.
    pub fn attributes(&self) -> Map<String, Value> {
        let json = self.text.split('\n').next().unwrap_or_default();
        match serde_json::from_str(json) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }

    /// The stored parents.
    pub fn parents(&self) -> Vec<EntityRef> {
        self.text
            .split_once('\n')
            .and_then(|(_, json)| serde_json::from_str(json).ok())
            .unwrap_or_default()
    }
}
