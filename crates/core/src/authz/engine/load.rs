//! Loading the whole authorization snapshot from the store: at start, and when the change
//! log cannot be trusted. Users, assignments and resources come in bulk pages
//! ([`Store::load_users`] and the like), each processed while the next is read; policies are
//! compiled on a blocking thread meanwhile.

use std::sync::Arc;

use super::*;

static LOADS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Full loads of the authorization snapshot this process made (the first, and reloads).
pub fn load_count() -> u64 {
    LOADS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Rows read per query while loading.
const LOAD_PAGE: u32 = 1000;
/// Users, assignments and registered resources, read as one aggregated row per page.
const BULK_PAGE: u32 = 5000;

impl Engine {
    /// [`Engine::load`] with the catch-up lock held.
    pub(super) async fn load_locked(
        &self,
        tail: &mut Tail,
        store: &dyn Store,
    ) -> Result<(), StoreError> {
        // Start a little before the head: entries of transactions still in flight now may
        // commit below it. Re-applying an entry is harmless.
        let head = store.change_head().await?;
        let seq = (head - RELOAD_OVERLAP).max(0);
        let mut snapshot = Snapshot {
            seq,
            roles: Arc::new(load_roles(store).await?),
            ..Snapshot::default()
        };

        let mut accounts = Vec::new();
        let mut page = PageRequest::first(LOAD_PAGE);
        loop {
            let rows = store.accounts(&AccountFilter::default(), &page).await?;
            let done = rows.len() < LOAD_PAGE as usize;
            page.after = rows.last().map(|a| a.id.to_string());
            accounts.extend(rows.into_iter().map(|a| (a.id, Some(AccountEntry::of(&a)))));
            if done {
                break;
            }
        }
        snapshot.accounts.extend(accounts);

        let mut clients = Vec::new();
        let mut page = PageRequest::first(LOAD_PAGE);
        loop {
            let rows = store.clients(None, &page).await?;
            let done = rows.len() < LOAD_PAGE as usize;
            page.after = rows.last().map(|c| c.client.id.to_string());
            clients.extend(rows.into_iter().map(ClientEntry::from));
            if done {
                break;
            }
        }
        snapshot.clients = Arc::new(ClientIndex::build(clients));

        // Policies are compiled on another thread while the rest loads.
        let mut stored = Vec::new();
        let mut page = PageRequest::first(LOAD_PAGE);
        loop {
            let rows = store.policies(&PolicyFilter::default(), &page).await?;
            let done = rows.len() < LOAD_PAGE as usize;
            page.after = rows.last().map(|p| p.id.to_string());
            stored.extend(rows);
            if done {
                break;
            }
        }
        let compiling = tokio::task::spawn_blocking(move || {
            let policies: Vec<Arc<CompiledPolicy>> = stored.iter().filter_map(compiled).collect();
            Arc::new(PolicyIndex::build(policies))
        });

        let users = &mut snapshot.users;
        pages(
            |cursor| async move { store.load_users(cursor.as_deref(), BULK_PAGE).await },
            |rows, expected| {
                if let Some(expected) = expected {
                    users.reserve(usize::try_from(expected).unwrap_or(usize::MAX));
                }
                users.extend(rows.into_iter().map(|user| {
                    let entry = UserEntry::build(
                        user.status == Status::Active,
                        &user.email,
                        &user.attributes,
                        [],
                    );
                    (user.id, Some(entry))
                }));
            },
        )
        .await?;
        // Then every assignment, attached in place, users holding the same ones sharing one
        // set. One written after its user was read is skipped if the user was not; the change
        // log replays both.
        let mut sets = AssignmentSets::default();
        pages(
            |cursor| async move { store.load_assignments(cursor.as_deref(), BULK_PAGE).await },
            |rows, _| {
                users.modify(
                    rows.into_iter()
                        .map(|a| (a.user_id, (a.account_id, a.role_id))),
                    |entry, held| entry.hold(held, &mut sets),
                );
            },
        )
        .await?;

        snapshot.policies = compiling
            .await
            .map_err(|err| StoreError::Backend(format!("compiling the policies failed: {err}")))?;

        let mut after: Option<String> = None;
        loop {
            let rows = store.live_api_keys(after.as_deref(), LOAD_PAGE).await?;
            let done = rows.len() < LOAD_PAGE as usize;
            after = rows.last().map(|(hash, _)| hash.clone());
            snapshot
                .api_keys
                .extend(rows.iter().filter_map(|(hash, key)| {
                    Some((KeyHash::new(hash), Some(Arc::new(ApiKeyEntry::of(key)?))))
                }));
            if done {
                break;
            }
        }

        let resources = &mut snapshot.resources;
        pages(
            |cursor| async move { store.load_resources(cursor.as_deref(), BULK_PAGE).await },
            |rows, expected| {
                if let Some(expected) = expected {
                    resources.reserve(usize::try_from(expected).unwrap_or(usize::MAX));
                }
                resources.extend(rows.iter().map(|r| {
                    (
                        ResourceEntry::stored(&r.key, &r.attributes, &r.parents),
                        Some(()),
                    )
                }));
            },
        )
        .await?;

        let now = Timestamp::now().millis();
        let since = now - self.session_memory_ms;
        let mut after = None;
        loop {
            let rows = store
                .ended_sessions(since, i64::MAX, after.clone(), i64::from(LOAD_PAGE), None)
                .await?;
            let done = rows.len() < LOAD_PAGE as usize;
            after = rows.last().map(|(id, at)| (at.millis(), id.to_string()));
            snapshot
                .ended
                .extend(rows.into_iter().map(|(id, at)| (id, Some(at.millis()))));
            if done {
                break;
            }
        }
        // The overlap's entries visible now may have committed after the load read their
        // table: apply them here, in place, while the snapshot is this function's alone (from
        // the first catch-up, each would copy every shard it touches, and a busy overlap
        // touches them all: a million resources held twice at start-up).
        let mut applied = std::collections::BTreeSet::new();
        let overlap: Vec<Change> = store
            .changes_after(seq, CHANGE_BATCH)
            .await?
            .into_iter()
            .filter(|change| change.seq <= head)
            .collect();
        if !overlap.is_empty() {
            self.apply(&mut snapshot, &overlap, store).await?;
            applied.extend(overlap.iter().map(|change| change.seq));
        }
        tracing::info!(
            users = snapshot.users.len(),
            roles = snapshot.roles.len(),
            policies = snapshot.policies.len(),
            api_keys = snapshot.api_keys.len(),
            resources = snapshot.resources.len(),
            seq,
            "authorization snapshot loaded"
        );
        LOADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Only a load that succeeded replaces the reader's state (a failed one leaves the
        // reload pending).
        *tail = Tail {
            applied,
            last_read: Some(std::time::Instant::now()),
            quiet_below: head,
            loaded: true,
            ..Tail::default()
        };
        self.current.store(Arc::new(snapshot));
        self.mark_fresh();
        Ok(())
    }
}

/// Reads every page of a bulk load and hands each to `each` while the next one is read: the
/// database (or SQLite's worker thread) works on the next page meanwhile. `each` also gets
/// what the page says of the whole load's size (the first page only).
async fn pages<T, F, Fut>(
    mut read: F,
    mut each: impl FnMut(Vec<T>, Option<u64>),
) -> Result<(), StoreError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<crate::store::Loaded<T>, StoreError>>,
{
    let mut page = read(None).await?;
    loop {
        let crate::store::Loaded {
            rows,
            next,
            expected,
        } = page;
        let Some(next) = next else {
            each(rows, expected);
            return Ok(());
        };
        // Biased: the read is polled first, so its query is under way before `each` runs.
        let (fetched, ()) = tokio::join!(biased; read(Some(next)), async { each(rows, expected) });
        page = fetched?;
    }
}

pub(super) async fn load_roles(store: &dyn Store) -> Result<RoleIndex, StoreError> {
    let mut roles = Vec::new();
    let mut page = PageRequest::first(LOAD_PAGE);
    loop {
        let rows = store.roles(&RoleFilter::default(), &page).await?;
        let done = rows.len() < LOAD_PAGE as usize;
        page.after = rows.last().map(|r| r.id.to_string());
        roles.extend(rows);
        if done {
            break;
        }
    }
    Ok(RoleIndex::build(roles))
}
