//! The audit log: append-only records of security-relevant events, each chained to the one
//! before by SHA-256, so a changed, removed or inserted record is found by `verify`. Records
//! never hold credentials or tokens: identifiers typed at login and token references are
//! hashed.

mod repeats;

use serde::Serialize;
use serde_json::{json, Value};

use crate::authz::Actor;
use crate::crypto::sha256_b64;
use crate::error::DomainError;
use crate::ids::AccountId;
use crate::services::Services;
use crate::time::Timestamp;

/// The hash before the first record.
pub const GENESIS: &str = "genesis";

/// One audit record.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditRecord {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// Unique id.
    pub id: String,
    /// When.
    pub at: Timestamp,
    /// Who: `user:<id>`, `client:<id>`, `system` or `anonymous`.
    pub actor: String,
    /// What, as `<resource>.<verb>` (`login.failed`, `role.updated`, …).
    pub action: String,
    /// The account concerned, if any.
    pub account_id: Option<AccountId>,
    /// What it was done to (`user:<id>`, `session:<id>`, …).
    pub target: Option<String>,
    /// Details: for changes, the state before and after.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: Value,
    /// The previous record's hash.
    pub prev_hash: String,
    /// SHA-256 over the previous hash and this record's fields.
    pub hash: String,
}

/// The hash of a record: SHA-256 over its predecessor's hash and every field but its own hash.
pub fn chain_hash(r: &AuditRecord) -> String {
    let body = json!([
        r.prev_hash,
        r.seq,
        r.id,
        r.at.millis(),
        r.actor,
        r.action,
        r.account_id.map(|a| a.to_string()),
        r.target,
        r.details
    ]);
    sha256_b64(body.to_string().as_bytes())
}

/// Who an actor is, for the log.
pub fn actor_name(actor: &Actor) -> String {
    match actor {
        Actor::System => "system".into(),
        Actor::Caller(caller) => format!("user:{}", caller.user_id),
        Actor::Client(client) => format!("client:{}", client.client),
    }
}

/// An event to record.
pub struct Event<'a> {
    /// Who.
    pub actor: String,
    /// What.
    pub action: &'a str,
    /// Which account.
    pub account: Option<AccountId>,
    /// On what.
    pub target: Option<String>,
    /// Details (never secrets).
    pub details: Value,
}

/// Queues an event for the node's audit writer, which appends it within milliseconds.
pub async fn record(services: &Services, event: Event<'_>) {
    services.audit.record(pending(event)).await;
}

/// Queues `count` identical occurrences of an event that a caller can repeat at will (a denied
/// decision): identical events within the coalescing window become few records, each with
/// the number of occurrences it stands for in `details.count`.
pub async fn record_repeated(services: &Services, event: Event<'_>, count: u64) {
    services.audit.record_repeated(pending(event), count).await;
}

fn pending(event: Event<'_>) -> Pending {
    Pending {
        id: crate::ids::SessionId::new().to_string(),
        at: Timestamp::now(),
        actor: event.actor,
        action: event.action.to_owned(),
        account_id: event.account,
        // Targets may carry request text (a resource id): no control characters reach the
        // store, which may refuse them (PostgreSQL refuses NUL) and would stall the writer.
        target: event.target.map(|t| {
            t.chars()
                .map(|c| if c.is_control() { '\u{fffd}' } else { c })
                .collect()
        }),
        details: event.details,
    }
}

/// An event waiting to be chained and appended.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Unique id.
    pub id: String,
    /// When it happened.
    pub at: Timestamp,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// Which account.
    pub account_id: Option<AccountId>,
    /// On what.
    pub target: Option<String>,
    /// Details.
    pub details: Value,
}

enum Message {
    Event(Pending),
    /// An event and how many identical occurrences it stands for, to coalesce.
    Repeated(Pending, u64),
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// After repeated failures, writes a batch one event at a time. When some events are written
/// and others refused, the store is up and the refused ones can never be written: they are
/// dropped with an error in the log, so one bad event cannot stall the chain. When every
/// event is refused the store is down: all are kept for the next retry.
async fn set_aside_poison(store: &dyn crate::store::Store, batch: Vec<Pending>) -> Vec<Pending> {
    let mut refused = Vec::new();
    let mut written = 0;
    for event in batch {
        match store.append_audit(std::slice::from_ref(&event)).await {
            Ok(()) => written += 1,
            Err(_) => refused.push(event),
        }
    }
    if written == 0 {
        return refused;
    }
    for event in &refused {
        tracing::error!(action = %event.action, id = %event.id, "the store refuses this audit event; dropped");
    }
    Vec::new()
}

/// The node's audit writer: events are queued by requests and appended in batches, each batch
/// in one transaction that holds the chain's head, so requests never wait on the chain and
/// nodes sharing a store keep one chain. Repeated events are coalesced here (see `repeats`).
#[derive(Clone)]
pub struct AuditLog {
    queue: tokio::sync::mpsc::Sender<Message>,
}

/// Messages the writer takes, and events it writes, per batch at most.
const BATCH: usize = 1000;

impl AuditLog {
    /// Starts the writer task over `store`; identical repeated events within `window` are
    /// coalesced (zero: each is its own record).
    pub fn start(
        store: std::sync::Arc<dyn crate::store::Store>,
        window: std::time::Duration,
    ) -> Self {
        let (queue, mut inbox) = tokio::sync::mpsc::channel::<Message>(10_000);
        tokio::spawn(async move {
            let mut repeats = repeats::Repeats::new(window, repeats::MAX_TRACKED);
            let mut tick = tokio::time::interval(repeats.tick());
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut open = true;
            while open {
                let mut batch = Vec::new();
                let mut waiting = Vec::new();
                tokio::select! {
                    message = inbox.recv() => match message {
                        Some(message) => take(message, &mut batch, &mut waiting, &mut repeats),
                        // Every sender is gone: write what is left, then stop.
                        None => open = false,
                    },
                    _ = tick.tick() => {}
                }
                // Bounded by messages, not events: repeats add no event, and a steady stream
                // of them must not keep the writer from writing and answering flushes.
                for _ in 1..BATCH {
                    if !open || batch.len() >= BATCH {
                        break;
                    }
                    match inbox.try_recv() {
                        Ok(message) => take(message, &mut batch, &mut waiting, &mut repeats),
                        Err(_) => break,
                    }
                }
                // A flush (or the end) also records the repeats counted so far.
                let everything = !waiting.is_empty() || !open;
                batch.extend(repeats.due(Timestamp::now().millis(), everything));
                write(store.as_ref(), batch).await;
                // Flushes are answered only once everything before them is written.
                for done in waiting {
                    let _ = done.send(());
                }
            }
        });
        Self { queue }
    }

    /// Queues an event (waits only if the queue is full).
    pub async fn record(&self, event: Pending) {
        if self.queue.send(Message::Event(event)).await.is_err() {
            tracing::error!("the audit writer has stopped; an event was not recorded");
        }
    }

    /// Queues `count` identical occurrences of `event`, to coalesce.
    pub async fn record_repeated(&self, event: Pending, count: u64) {
        if self
            .queue
            .send(Message::Repeated(event, count))
            .await
            .is_err()
        {
            tracing::error!("the audit writer has stopped; an event was not recorded");
        }
    }

    /// Waits until every event queued before this call is written.
    pub async fn flush(&self) {
        let (done, wait) = tokio::sync::oneshot::channel();
        if self.queue.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

/// Sorts one message into the batch, the waiting flushes, or the repeat windows.
fn take(
    message: Message,
    batch: &mut Vec<Pending>,
    waiting: &mut Vec<tokio::sync::oneshot::Sender<()>>,
    repeats: &mut repeats::Repeats,
) {
    match message {
        Message::Event(event) => batch.push(event),
        Message::Repeated(event, count) => {
            batch.extend(repeats.observe(event, count, Timestamp::now().millis()));
        }
        Message::Flush(done) => waiting.push(done),
    }
}

/// Appends `batch`. Never drops events: retries with a capped backoff until the store takes
/// them (setting aside, after repeated failures, events the store refuses for good).
async fn write(store: &dyn crate::store::Store, mut batch: Vec<Pending>) {
    let mut attempt: u64 = 0;
    while !batch.is_empty() {
        match store.append_audit(&batch).await {
            Ok(()) => break,
            Err(err) => {
                attempt += 1;
                tracing::error!(error = %err, events = batch.len(), attempt, "could not write the audit log; retrying");
                if attempt % 5 == 0 && batch.len() > 1 {
                    batch = set_aside_poison(store, batch).await;
                }
                tokio::time::sleep(std::time::Duration::from_millis((50 * attempt).min(1000)))
                    .await;
            }
        }
    }
}

/// Chains `batch` after the record `(last_seq, last_hash)`.
pub fn chain(last_seq: i64, last_hash: &str, batch: &[Pending]) -> Vec<AuditRecord> {
    let mut prev = last_hash.to_owned();
    let mut out = Vec::with_capacity(batch.len());
    for (i, p) in batch.iter().enumerate() {
        let mut record = AuditRecord {
            seq: last_seq + 1 + i as i64,
            id: p.id.clone(),
            at: p.at,
            actor: p.actor.clone(),
            action: p.action.clone(),
            account_id: p.account_id,
            target: p.target.clone(),
            details: p.details.clone(),
            prev_hash: prev.clone(),
            hash: String::new(),
        };
        record.hash = chain_hash(&record);
        prev = record.hash.clone();
        out.push(record);
    }
    out
}

/// Records an event with plain fields.
pub async fn note(
    services: &Services,
    actor: String,
    action: &str,
    account: Option<AccountId>,
    target: String,
    details: Value,
) {
    record(
        services,
        Event {
            actor,
            action,
            account,
            target: Some(target),
            details,
        },
    )
    .await;
}

/// Records an administrative change with the state before and after.
pub async fn change<B: Serialize, A: Serialize>(
    services: &Services,
    actor: &Actor,
    action: &str,
    account: Option<AccountId>,
    target: String,
    before: Option<&B>,
    after: Option<&A>,
) {
    let details = json!({ "before": before.map(|b| serde_json::to_value(b).unwrap_or(Value::Null)), "after": after.map(|a| serde_json::to_value(a).unwrap_or(Value::Null)) });
    record(
        services,
        Event {
            actor: actor_name(actor),
            action,
            account,
            target: Some(target),
            details,
        },
    )
    .await;
}

/// What `verify` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every record chains to the one before.
    Intact {
        /// How many records were checked.
        records: i64,
    },
    /// The first broken record and why.
    Broken {
        /// Its position.
        seq: i64,
        /// What is wrong.
        reason: String,
    },
}

/// Checks the whole chain: positions without gaps, each record's hash, each link.
pub fn verify(records: impl IntoIterator<Item = AuditRecord>) -> Verdict {
    let mut expected_seq = 1;
    let mut prev = GENESIS.to_owned();
    for r in records {
        if r.seq != expected_seq {
            return Verdict::Broken {
                seq: expected_seq,
                reason: format!("record {expected_seq} is missing (found {} next)", r.seq),
            };
        }
        if r.prev_hash != prev {
            return Verdict::Broken {
                seq: r.seq,
                reason: "does not link to the record before it (removed or inserted record)".into(),
            };
        }
        if chain_hash(&r) != r.hash {
            return Verdict::Broken {
                seq: r.seq,
                reason: "its content was changed".into(),
            };
        }
        prev = r.hash;
        expected_seq += 1;
    }
    Verdict::Intact {
        records: expected_seq - 1,
    }
}

/// Read the audit log.
pub const AUDIT_READ: &str = "warden.audit:read";

/// Query of the audit log, as received.
#[derive(Debug, Default)]
pub struct AuditQuery {
    /// Exact actor (`user:<id>`, `client:<id>`, `system`, `anonymous`).
    pub actor: Option<String>,
    /// Exact action.
    pub action: Option<String>,
    /// Account id.
    pub account_id: Option<String>,
    /// RFC 3339, inclusive.
    pub from: Option<String>,
    /// RFC 3339, exclusive.
    pub to: Option<String>,
    /// Page size, 1..=1000.
    pub limit: Option<u32>,
    /// Opaque cursor.
    pub cursor: Option<String>,
}

fn decode_cursor(cursor: &str) -> Result<i64, DomainError> {
    use base64::Engine;
    let bad = || DomainError::invalid("cursor", "is not a cursor this service issued");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad())?;
    String::from_utf8(bytes)
        .ok()
        .and_then(|t| t.strip_prefix("seq:").and_then(|n| n.parse().ok()))
        .ok_or_else(bad)
}

fn encode_cursor(seq: i64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("seq:{seq}"))
}

/// Lists audit records, oldest first; account administrators see their account's only.
pub async fn list(
    services: &Services,
    actor: &Actor,
    query: AuditQuery,
) -> Result<crate::page::Page<AuditRecord>, DomainError> {
    let mut problems = crate::error::Problems::default();
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        problems.push("limit", "must be between 1 and 1000");
    }
    let after = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(cursor) => problems.check(
            "cursor",
            decode_cursor(cursor).map_err(|_| "is not a cursor this service issued"),
        ),
        None => Some(0),
    };
    let mut filter = crate::store::AuditFilter {
        actor: query.actor.filter(|a| a.len() <= 200),
        action: query.action.filter(|a| a.len() <= 100),
        account_id: query
            .account_id
            .and_then(|a| problems.check("account_id", AccountId::parse(&a))),
        from_ms: query
            .from
            .and_then(|t| problems.check("from", Timestamp::parse_rfc3339(&t)))
            .map(Timestamp::millis),
        to_ms: query
            .to
            .and_then(|t| problems.check("to", Timestamp::parse_rfc3339(&t)))
            .map(Timestamp::millis),
    };
    if filter
        .actor
        .as_deref()
        .is_some_and(|a| a.chars().any(crate::identity::is_invisible))
        || filter
            .action
            .as_deref()
            .is_some_and(|a| a.chars().any(crate::identity::is_invisible))
    {
        problems.push("actor", "must not contain control characters");
    }
    problems.finish()?;
    match actor.require_reach(AUDIT_READ)? {
        crate::authz::Reach::Account(mine) => match filter.account_id {
            Some(asked) if asked != mine => return Err(DomainError::NotFound("account")),
            _ => filter.account_id = Some(mine),
        },
        crate::authz::Reach::All | crate::authz::Reach::Nowhere => {}
    }
    // Events this node queued before the request are written first: a reader sees its own
    // node's history up to now (the writer batches appends off the request path).
    services.audit.flush().await;
    let mut rows = services
        .store
        .audit(&filter, after.unwrap_or(0), i64::from(limit) + 1)
        .await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|r| encode_cursor(r.seq))
    } else {
        None
    };
    Ok(crate::page::Page {
        items: rows,
        next_cursor,
    })
}

/// Every record in order, for export and verification.
pub async fn all(services: &Services) -> Result<Vec<AuditRecord>, DomainError> {
    services.audit.flush().await;
    let mut out = Vec::new();
    loop {
        let after = out.last().map_or(0, |r: &AuditRecord| r.seq);
        let page = services
            .store
            .audit(&crate::store::AuditFilter::default(), after, 1000)
            .await?;
        if page.is_empty() {
            return Ok(out);
        }
        out.extend(page);
    }
}
