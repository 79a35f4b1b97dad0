//! The memory of API key uses on this node, so a busy key costs one write a minute.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::authz::engine::ApiKeyEntry;
use crate::ids::ApiKeyId;
use crate::time::Timestamp;

/// A key's use is recorded at most this often per node, seconds.
const USE_EVERY: i64 = 60;

/// Keys remembered per node before the memory of uses starts over.
const USES_KEPT: usize = 100_000;

/// When this node last recorded each key's use, so a busy key costs one write a minute.
#[derive(Debug, Default)]
pub struct KeyUses(Mutex<HashMap<ApiKeyId, i64>>);

impl KeyUses {
    /// Whether a use of `key` at `now` is due to be recorded (and, if so, remembers it).
    pub(crate) fn due(&self, key: &ApiKeyEntry, now: Timestamp) -> bool {
        let mut uses = match self.0.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let last = uses
            .get(&key.id)
            .copied()
            .or_else(|| key.last_used_at.map(Timestamp::seconds));
        if last.is_some_and(|at| at + USE_EVERY > now.seconds()) {
            return false;
        }
        if uses.len() >= USES_KEPT {
            uses.clear();
        }
        uses.insert(key.id, now.seconds());
        true
    }
}
