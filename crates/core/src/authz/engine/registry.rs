//! Registered resources in the snapshot: each one's key, attributes (as compact JSON,
//! parsed only when a decision is about it) and parents in one allocation, which is also the
//! map's key, so a million fit in little memory.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

use serde_json::{Map, Value};

use super::query::EntityRef;
use super::sharded::{ShardKey, Sharded};
use crate::model::RegisteredResource;

/// Registered resources, searched by key ([`RegisteredResource::key_of`]).
pub type Registry = Sharded<ResourceEntry, ()>;

/// What the snapshot keeps of a registered resource: one allocation holding its key, then
/// its attributes as compact JSON and, after a line feed (which compact JSON never holds),
/// its parents when it has any. It is compared, hashed and found by its key alone.
#[derive(Debug, Clone)]
pub struct ResourceEntry {
    text: Box<str>,
    key_len: usize,
}

impl ResourceEntry {
    /// The entry of `resource`.
    pub fn of(resource: &RegisteredResource) -> Self {
        Self::under(&resource.key(), resource)
    }

    /// The entry of `resource` under `key`.
    fn under(key: &str, resource: &RegisteredResource) -> Self {
        let mut text = String::from(key);
        let key_len = text.len();
        text.push_str(&Value::Object(resource.attributes.clone()).to_string());
        if !resource.parents.is_empty() {
            text.push('\n');
            text.push_str(&serde_json::to_string(&resource.parents).unwrap_or_default());
        }
        Self {
            text: text.into_boxed_str(),
            key_len,
        }
    }

    /// The entry of the resource under `key` from its stored JSON texts, as
    /// [`ResourceEntry::of`] would write them; text in another form (a newline in it) is
    /// parsed and written again.
    pub fn stored(key: &str, attributes: &str, parents: &str) -> Self {
        if attributes.contains('\n') || parents.contains('\n') {
            let attributes = match serde_json::from_str(attributes) {
                Ok(Value::Object(map)) => map,
                _ => Map::new(),
            };
            let parents: Vec<EntityRef> = serde_json::from_str(parents).unwrap_or_default();
            let mut text = String::from(key);
            text.push_str(&Value::Object(attributes).to_string());
            if !parents.is_empty() {
                text.push('\n');
                text.push_str(&serde_json::to_string(&parents).unwrap_or_default());
            }
            return Self {
                text: text.into_boxed_str(),
                key_len: key.len(),
            };
        }
        let mut text = String::with_capacity(key.len() + attributes.len() + 1 + parents.len());
        text.push_str(key);
        text.push_str(attributes);
        if parents != "[]" {
            text.push('\n');
            text.push_str(parents);
        }
        Self {
            text: text.into_boxed_str(),
            key_len: key.len(),
        }
    }

    /// The change that writes `resource` under `key` into a [`Registry`], or (`None`)
    /// removes what is there.
    pub fn change(key: &str, resource: Option<&RegisteredResource>) -> (Self, Option<()>) {
        match resource {
            Some(resource) => (Self::under(key, resource), Some(())),
            None => (
                Self {
                    text: key.into(),
                    key_len: key.len(),
                },
                None,
            ),
        }
    }

    /// Its key.
    pub fn key(&self) -> &str {
        &self.text[..self.key_len]
    }

    /// What follows the key: the attributes, then the parents.
    fn data(&self) -> &str {
        &self.text[self.key_len..]
    }

    /// The stored attributes.
    pub fn attributes(&self) -> Map<String, Value> {
        let json = self.data().split('\n').next().unwrap_or_default();
        match serde_json::from_str(json) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }

    /// The stored parents.
    pub fn parents(&self) -> Vec<EntityRef> {
        self.data()
            .split_once('\n')
            .and_then(|(_, json)| serde_json::from_str(json).ok())
            .unwrap_or_default()
    }
}

impl PartialEq for ResourceEntry {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for ResourceEntry {}

/// Hashed as its key is, so a registry is searched by the key's text.
impl Hash for ResourceEntry {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl Borrow<str> for ResourceEntry {
    fn borrow(&self) -> &str {
        self.key()
    }
}

impl ShardKey for ResourceEntry {
    const CARRIES_DATA: bool = true;

    fn shard(&self) -> usize {
        self.key().shard()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registry_finds_an_entry_by_its_key_and_a_write_replaces_its_data() {
        let key = RegisteredResource::key_of(None, "document", "d1");
        let stored = |attributes: &str| ResourceEntry::stored(&key, attributes, "[]");
        let registry = Registry::default().with([(stored(r#"{"v":1}"#), Some(()))]);
        let found = registry.get_key(key.as_str()).unwrap();
        assert_eq!(found.key(), key);
        assert_eq!(found.attributes()["v"], 1);
        assert!(found.parents().is_empty());

        let next = registry.with([(stored(r#"{"v":2}"#), Some(()))]);
        assert_eq!(next.len(), 1);
        assert_eq!(next.get_key(key.as_str()).unwrap().attributes()["v"], 2);
        assert_eq!(registry.get_key(key.as_str()).unwrap().attributes()["v"], 1);

        let gone = next.with([ResourceEntry::change(&key, None)]);
        assert!(gone.is_empty() && gone.get_key(key.as_str()).is_none());
    }

    #[test]
    fn stored_text_in_another_form_reads_the_same() {
        let key = RegisteredResource::key_of(None, "folder", "f");
        let tidy =
            ResourceEntry::stored(&key, r#"{"a":[1,2]}"#, r#"[{"type":"folder","id":"root"}]"#);
        let spread = ResourceEntry::stored(
            &key,
            "{\n \"a\": [1, 2]\n}",
            "[\n{\"type\": \"folder\", \"id\": \"root\"}]",
        );
        assert_eq!(tidy.text, spread.text);
        assert_eq!(spread.key(), key);
        assert_eq!(spread.parents().len(), 1);
    }
}
