//! Remote decisions: `POST /v1/check` asked with the caller's own bearer token, so Warden's
//! whole engine decides (role grants, Cedar policies such as the owner rule, ended sessions),
//! and answers remembered for a few seconds in a bounded cache keyed by token, action,
//! resource and context.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_lc_rs::digest::{Context, SHA256};
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{GuardError, TokenError};
use crate::http::read_limited;

/// A parent entity of a [`Resource`] (`resource in Folder::"f1"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct EntityRef {
    #[serde(rename = "type")]
    kind: String,
    id: String,
}

/// The resource a decision is about: a type (`document`), an id, attributes policies may read
/// (`resource.owner_id`) and parent entities.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resource {
    #[serde(rename = "type")]
    kind: String,
    id: String,
    #[serde(skip_serializing_if = "Map::is_empty")]
    attributes: Map<String, Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    parents: Vec<EntityRef>,
}

impl Resource {
    /// The resource `id` of type `kind`.
    pub fn new(kind: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            id: id.into(),
            attributes: Map::new(),
            parents: Vec::new(),
        }
    }

    /// The resource checked when none is named: typed after the action's resource part, with
    /// an empty id (`documents:edit` checks `{"type": "documents", "id": ""}`), as Warden's
    /// Python client does.
    pub fn for_action(action: &str) -> Self {
        let kind: String = action
            .rsplit_once(':')
            .map(|(resource, _)| resource)
            .unwrap_or_default()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let kind = if kind.is_empty() || kind.starts_with(|c: char| c.is_ascii_digit()) {
            "Resource".to_owned()
        } else {
            kind
        };
        Self::new(kind, "")
    }

    /// Adds the attribute `name` (read by policies as `resource.<name>`).
    pub fn attribute(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.attributes.insert(name.into(), value.into());
        self
    }

    /// Adds a parent entity.
    pub fn parent(mut self, kind: impl Into<String>, id: impl Into<String>) -> Self {
        self.parents.push(EntityRef {
            kind: kind.into(),
            id: id.into(),
        });
        self
    }

    /// The resource type.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The resource id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// One question for Warden: may the caller do `action` on `resource`, in `context`?
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    action: String,
    resource: Resource,
    context: Map<String, Value>,
}

impl Check {
    /// A check of `action` (a permission such as `documents:edit`, or a free action name) on
    /// [`Resource::for_action`], with an empty context.
    pub fn new(action: impl Into<String>) -> Self {
        let action = action.into();
        Self {
            resource: Resource::for_action(&action),
            action,
            context: Map::new(),
        }
    }

    /// The resource to decide about.
    pub fn on(mut self, resource: Resource) -> Self {
        self.resource = resource;
        self
    }

    /// Adds the context value `name` (read by policies as `context.<name>`; Warden adds `ip`,
    /// `time` and `account` itself).
    pub fn context(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.context.insert(name.into(), value.into());
        self
    }

    /// The action asked about.
    pub fn action(&self) -> &str {
        &self.action
    }

    /// The resource asked about.
    pub fn resource(&self) -> &Resource {
        &self.resource
    }
}

/// Decisions remembered for a short time, at most `capacity` of them.
pub(crate) struct DecisionCache {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<[u8; 32], (Instant, bool)>>,
}

impl DecisionCache {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn enabled(&self) -> bool {
        !self.ttl.is_zero() && self.capacity > 0
    }

    /// The key of `token` asking `body` (SHA-256, so tokens are not kept in memory twice).
    pub(crate) fn key(token: &str, body: &[u8]) -> [u8; 32] {
        let mut context = Context::new(&SHA256);
        context.update(&(token.len() as u64).to_be_bytes());
        context.update(token.as_bytes());
        context.update(body);
        let mut key = [0u8; 32];
        key.copy_from_slice(context.finish().as_ref());
        key
    }

    pub(crate) fn get(&self, key: &[u8; 32]) -> Option<bool> {
        if !self.enabled() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, allowed)| *allowed)
    }

    pub(crate) fn put(&self, key: [u8; 32], allowed: bool) {
        if !self.enabled() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
            if entries.len() >= self.capacity {
                // Still full of live entries: drop an eighth of them, whichever they are.
                let excess = entries.len() + 1 - self.capacity + self.capacity / 8;
                let victims: Vec<[u8; 32]> = entries.keys().take(excess).copied().collect();
                for victim in victims {
                    entries.remove(&victim);
                }
            }
        }
        entries.insert(key, (Instant::now(), allowed));
    }

    pub(crate) fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// Asks `url` (`…/v1/check`) with `token`: `Ok(true)` allowed, `Ok(false)` denied.
pub(crate) async fn ask(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    body: Vec<u8>,
) -> Result<bool, GuardError> {
    let response = http
        .post(url)
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|err| GuardError::Unavailable(format!("POST {url}: {err}")))?;
    let status = response.status();
    match status {
        StatusCode::OK => {
            let body = read_limited(response)
                .await
                .map_err(GuardError::Unavailable)?;
            let answer: Value = serde_json::from_slice(&body).map_err(|_| {
                GuardError::Unavailable("Warden answered a check with no JSON".into())
            })?;
            Ok(answer.get("allowed") == Some(&Value::Bool(true)))
        }
        StatusCode::UNAUTHORIZED => Err(GuardError::Token(TokenError::Rejected)),
        StatusCode::FORBIDDEN => Ok(false),
        StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => Err(
            GuardError::Unavailable(format!("Warden answered the check with {status}")),
        ),
        status if status.is_server_error() => Err(GuardError::Unavailable(format!(
            "Warden answered the check with {status}"
        ))),
        status => {
            let detail = read_limited(response)
                .await
                .ok()
                .and_then(|body| serde_json::from_slice::<Value>(&body).ok())
                .and_then(|body| {
                    body.get("detail")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .unwrap_or_default();
            Err(GuardError::Misconfigured(format!(
                "Warden refused the check as malformed ({status}): {detail}"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn checks_serialize_as_warden_reads_them() {
        let check = Check::new("documents:edit")
            .on(Resource::new("document", "42")
                .attribute("owner_id", "u1")
                .parent("Folder", "f1"))
            .context("mfa", true);
        assert_eq!(
            serde_json::to_value(&check).unwrap(),
            json!({"action": "documents:edit",
                "resource": {"type": "document", "id": "42", "attributes": {"owner_id": "u1"},
                    "parents": [{"type": "Folder", "id": "f1"}]},
                "context": {"mfa": true}})
        );
        assert_eq!(Check::new("documents:edit").resource().kind(), "documents");
        assert_eq!(
            Resource::for_action("warden.users:read").kind(),
            "warden_users"
        );
        assert_eq!(Resource::for_action("can_read_user").kind(), "Resource");
        assert_eq!(Resource::for_action("9x:read").kind(), "Resource");
    }

    #[test]
    fn the_decision_cache_is_bounded_and_expires() {
        let cache = DecisionCache::new(Duration::from_secs(60), 16);
        for i in 0..100u8 {
            cache.put(DecisionCache::key("t", &[i]), i % 2 == 0);
            assert!(cache.len() <= 16);
        }
        let key = DecisionCache::key("t", b"x");
        cache.put(key, true);
        assert_eq!(cache.get(&key), Some(true));
        assert_ne!(DecisionCache::key("t", b"x"), DecisionCache::key("u", b"x"));
        // The token's length is part of the key, so no token/body split collides.
        assert_ne!(
            DecisionCache::key("ab", b"c"),
            DecisionCache::key("a", b"bc")
        );

        let expiring = DecisionCache::new(Duration::from_millis(1), 16);
        expiring.put(key, true);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(expiring.get(&key), None);
        let off = DecisionCache::new(Duration::ZERO, 16);
        off.put(key, true);
        assert_eq!(off.get(&key), None);
    }
}
