//! The authorization engine (DESIGN §5): an immutable [`Snapshot`] behind an atomic pointer,
//! loaded once from the store and then kept current by tailing the change log, so a
//! decision never touches the database.

mod accounts;
mod api_keys;
mod decide;
mod grants;
pub mod graph;
mod load;
mod native;
pub mod policy;
mod query;
mod registered;
mod registry;
mod roles;
mod sharded;
mod snapshot;
pub mod suite;
mod values;
pub use values::validate_resource;

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::error::StoreError;
use crate::ids::{AccountId, ClientKey, PolicyId, SessionId, UserId};
use crate::model::{Assignment, Status};
use crate::page::PageRequest;
use crate::store::{AccountFilter, PolicyFilter, RoleFilter, Store};
use crate::time::Timestamp;

pub use crate::store::Change;
pub use accounts::AccountEntry;
pub use api_keys::{ApiKeyEntry, KeyHash};
pub use decide::{Decision, Effect, PolicyFault, Reason};
pub use grants::Grants;
pub use load::load_count;
use load::load_roles;
pub use native::{path_counts, PathCounts};
pub use policy::{compile, CompiledPolicy, PolicyIndex};
pub use query::{BadQuery, EntityRef, Query, Resource};
pub use registry::{Registry, ResourceEntry};
pub use sharded::{ShardKey, Sharded};
pub use snapshot::{
    is_third_party, AssignmentSets, ClientEntry, ClientIndex, Held, Inactive, Principal, Resolved,
    RoleEntry, RoleIndex, Snapshot, Subject, UserEntry,
};

/// The longest access-token lifetime configuration allows, seconds.
const MAX_ACCESS_TOKEN_TTL: i64 = 86_400;

/// Changes applied per catch-up round.
const CHANGE_BATCH: i64 = 5000;

/// How long a hole in the change log may stay open before it is taken for a rolled-back
/// transaction. On PostgreSQL `seq` values are handed out at insert time, so a transaction
/// may commit after another that took a higher `seq`: the reader keeps its position below
/// such a hole and re-reads past it until the hole fills or times out.
const GAP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// How many change-log entries before the head a freshly loaded node re-reads, for
/// transactions that were still in flight while it loaded.
const RELOAD_OVERLAP: i64 = 1000;

/// The reader's position past the snapshot's `seq`: entries applied above a hole, and since
/// when the lowest hole has been open.
#[derive(Debug, Default)]
struct Tail {
    applied: std::collections::BTreeSet<i64>,
    hole_since: Option<(i64, std::time::Instant)>,
    /// A hole was closed by timeout: the entries it stood for may have committed late, so
    /// the next catch-up reloads everything rather than trust the log.
    reload: bool,
    /// When the log was last read successfully.
    last_read: Option<std::time::Instant>,
    /// The head when the snapshot was loaded: holes at or below it were already there (pruned
    /// or rolled-back entries, or transactions in flight during the load, which the overlap
    /// re-reads) and close quietly; only a hole above it can hide a change the load missed.
    quiet_below: i64,
    /// Whether a load succeeded: an engine that never loaded (the CLI's, which decides
    /// nothing) does not replay the change log from its start.
    loaded: bool,
}

/// A node that could not read the change log for this long may have missed entries already
/// pruned; it reloads everything.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(600);

impl Tail {
    /// Moves `low` over applied entries, and over a hole older than [`GAP_TIMEOUT`].
    fn advance(&mut self, mut low: i64) -> i64 {
        loop {
            if self.applied.remove(&(low + 1)) {
                low += 1;
                continue;
            }
            let Some(&next) = self.applied.iter().next() else {
                self.hole_since = None;
                return low;
            };
            match self.hole_since {
                Some((start, since)) if start == low + 1 => {
                    if since.elapsed() < GAP_TIMEOUT {
                        return low;
                    }
                    if low + 1 > self.quiet_below {
                        tracing::info!(
                            from = low + 1,
                            to = next - 1,
                            "change-log hole timed out; reloading"
                        );
                        self.reload = true;
                    }
                    self.hole_since = None;
                    low = next - 1;
                }
                _ => {
                    self.hole_since = Some((low + 1, std::time::Instant::now()));
                    return low;
                }
            }
        }
    }
}

/// The engine: the current snapshot, swapped atomically.
pub struct Engine {
    current: ArcSwap<Snapshot>,
    /// Serializes catch-ups, and remembers what was applied past the snapshot's position.
    applying: tokio::sync::Mutex<Tail>,
    /// How long an ended session is remembered: an access token's longest life plus leeway.
    session_memory_ms: i64,
    /// When the snapshot last reflected the store (milliseconds; 0: never loaded).
    fresh_at_ms: std::sync::atomic::AtomicI64,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("seq", &self.current.load().seq)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An empty engine remembering ended sessions for `access_token_ttl` seconds (plus
    /// verification leeway).
    pub fn new(access_token_ttl: i64) -> Self {
        Self {
            current: ArcSwap::from_pointee(Snapshot::default()),
            applying: tokio::sync::Mutex::new(Tail::default()),
            // Long enough for the longest lifetime an access token can have been issued with,
            // whatever this node's current setting.
            session_memory_ms: (access_token_ttl.max(MAX_ACCESS_TOKEN_TTL) + 60) * 1000,
            fresh_at_ms: std::sync::atomic::AtomicI64::new(0),
        }
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Whether the snapshot was loaded and has reflected the store within `max_age`. A node
    /// that cannot read the change log stops trusting its snapshot after that long, rather
    /// than go on honouring disabled users or ended sessions indefinitely.
    pub fn is_fresh(&self, max_age: std::time::Duration) -> bool {
        let at = self.fresh_at_ms.load(std::sync::atomic::Ordering::Acquire);
        let age = Timestamp::now().millis() - at;
        at > 0 && age <= i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX)
    }

    fn mark_fresh(&self) {
        self.fresh_at_ms.store(
            Timestamp::now().millis(),
            std::sync::atomic::Ordering::Release,
        );
    }

    /// Loads everything from the store. The change-log position is read first, so changes
    /// committed during the load are applied again by the next catch-up (applying a change is
    /// idempotent: it re-reads the record).
    pub async fn load(&self, store: &dyn Store) -> Result<(), StoreError> {
        let mut tail = self.applying.lock().await;
        self.load_locked(&mut tail, store).await
    }

    /// The roles visible in `account`'s scope as committed now, for the checks a write makes
    /// (no escalation, cycles): the snapshot's, after catching up with the change log so a
    /// write just committed anywhere is in them. Never rebuilt from the roles table.
    pub async fn roles_in_scope(
        &self,
        store: &dyn Store,
        account: Option<&crate::ids::AccountId>,
    ) -> Result<crate::authz::RoleGraph, StoreError> {
        if !self.applying.lock().await.loaded {
            // An engine that serves nothing (the CLI's) reads the roles as committed, rather
            // than load every user to answer a question about roles.
            return Ok(load_roles(store).await?.graph_in_scope(account));
        }
        self.catch_up(store).await?;
        Ok(self.snapshot().roles.graph_in_scope(account))
    }

    /// Applies every change committed since the snapshot's position; returns how many.
    pub async fn catch_up(&self, store: &dyn Store) -> Result<usize, StoreError> {
        let mut tail = self.applying.lock().await;
        if !tail.loaded
            || tail.reload
            || tail.last_read.is_some_and(|at| at.elapsed() > STALE_AFTER)
        {
            self.load_locked(&mut tail, store).await?;
            return Ok(0);
        }
        let mut applied = 0;
        // From the snapshot's position: entries in a hole's shadow are read again, and those
        // already applied skipped.
        let mut from = self.snapshot().seq;
        loop {
            let rows = store.changes_after(from, CHANGE_BATCH).await?;
            let fresh: Vec<Change> = rows
                .iter()
                .filter(|c| !tail.applied.contains(&c.seq))
                .cloned()
                .collect();
            let base = self.snapshot();
            let mut next = (*base).clone();
            if !fresh.is_empty() {
                self.apply(&mut next, &fresh, store).await?;
                tail.applied.extend(fresh.iter().map(|c| c.seq));
                applied += fresh.len();
            }
            next.seq = tail.advance(base.seq);
            if !fresh.is_empty() || next.seq != base.seq {
                self.current.store(Arc::new(next));
            }
            match rows.last() {
                Some(last) if rows.len() == CHANGE_BATCH as usize => from = last.seq,
                _ => break,
            }
        }
        tail.last_read = Some(std::time::Instant::now());
        self.mark_fresh();
        Ok(applied)
    }

    /// Forgets ended sessions whose access tokens have all expired.
    pub fn forget_old_sessions(&self, now: Timestamp) {
        let horizon = now.millis() - self.session_memory_ms;
        self.current.rcu(|current| {
            let mut next = (**current).clone();
            next.ended = next.ended.retain(|_, ended| *ended >= horizon);
            next
        });
    }

    /// Applies a batch of changes: each re-reads the record it names.
    async fn apply(
        &self,
        next: &mut Snapshot,
        changes: &[Change],
        store: &dyn Store,
    ) -> Result<(), StoreError> {
        let mut users = Vec::new();
        let mut accounts = Vec::new();
        let mut sessions = Vec::new();
        let mut keys = Vec::new();
        let mut resources = Vec::new();
        let mut policies = Vec::new();
        let mut roles_changed = false;
        let mut seen = std::collections::HashSet::new();
        for change in changes {
            if !seen.insert((change.kind.as_str(), change.key.as_str())) {
                continue;
            }
            match change.kind.as_str() {
                "user" => {
                    let Ok(id) = UserId::parse(&change.key) else {
                        continue;
                    };
                    let entry = match store.user(&id).await? {
                        Some(record) => {
                            let held = store.assignments(&id).await?;
                            Some(UserEntry::new(
                                &record.user,
                                held.iter().map(|a: &Assignment| (a.account_id, a.role_id)),
                            ))
                        }
                        None => None,
                    };
                    users.push((id, entry));
                }
                "account" => {
                    let Ok(id) = AccountId::parse(&change.key) else {
                        continue;
                    };
                    let entry = store.account(&id).await?.map(|a| AccountEntry::of(&a));
                    accounts.push((id, entry));
                }
                "role" => roles_changed = true,
                "client" => {
                    let Ok(key) = ClientKey::parse(&change.key) else {
                        continue;
                    };
                    let entry = store.client(&key).await?.map(ClientEntry::from);
                    // Copied once per batch (if shared), then changed in place.
                    Arc::make_mut(&mut next.clients).set(key, entry);
                }
                "session" => {
                    let Ok(id) = SessionId::parse(&change.key) else {
                        continue;
                    };
                    if let Some(ended) = store.session(&id).await?.and_then(|s| s.ended_at) {
                        sessions.push((id, Some(ended.millis())));
                    }
                }
                "policy" => {
                    let Ok(id) = PolicyId::parse(&change.key) else {
                        continue;
                    };
                    let policy = store.policy(&id).await?.as_ref().and_then(compiled);
                    policies.push((id, policy));
                }
                "api_key" => {
                    let entry = store
                        .api_key_by_hash(&change.key)
                        .await?
                        .as_ref()
                        .and_then(ApiKeyEntry::of);
                    keys.push((KeyHash::new(&change.key), entry.map(Arc::new)));
                }
                "resource" => {
                    let resource = store.resource(&change.key).await?;
                    resources.push(ResourceEntry::change(&change.key, resource.as_ref()));
                }
                other => tracing::warn!(kind = other, "unknown change kind ignored"),
            }
        }
        if roles_changed {
            next.roles = Arc::new(load_roles(store).await?);
        }
        // In place: shards `next` shares with the current snapshot are copied when touched
        // (copy on write), its own are changed as they are.
        next.users.extend(users);
        next.accounts.extend(accounts);
        next.ended.extend(sessions);
        next.api_keys.extend(keys);
        next.resources.extend(resources);
        if !policies.is_empty() {
            next.policies = Arc::new(next.policies.with_all(policies));
        }
        Ok(())
    }
}

/// A stored policy compiled for the index. A policy that no longer compiles (it was valid
/// when written; only a Cedar upgrade changing the grammar could do this) fails closed: it
/// stands as a `forbid` of everything in its scope, with its own id in the reasons, and the
/// error is logged until someone fixes or removes it.
fn compiled(policy: &crate::model::Policy) -> Option<Arc<CompiledPolicy>> {
    let statements = match compile(&policy.id, &policy.cedar) {
        Ok(statements) => statements,
        Err(errors) => {
            tracing::error!(policy = %policy.id, ?errors, "stored policy does not compile; it denies everything in its scope until fixed");
            compile(&policy.id, "forbid(principal, action, resource);").ok()?
        }
    };
    Some(Arc::new(CompiledPolicy::new(
        policy.id,
        policy.account_id,
        policy.enabled,
        statements,
    )))
}

#[cfg(test)]
mod tests;
