//! The audit log: append-only records of security-relevant events, each chained to the one
//! before by SHA-256, so a changed, removed or inserted record is found by `verify`. Records
//! never hold credentials or tokens: identifiers typed at login and token references are
//! hashed.

mod repeats;
mod writer;

use writer::pending;
pub use writer::{AuditLog, Event, Pending};

use serde::Serialize;
use serde_json::{json, Value};

use crate::authz::Access;
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
pub fn actor_name(actor: &Access) -> String {
    match actor {
        Access::System => "system".into(),
        Access::Caller(caller) => format!("user:{}", caller.user_id),
        Access::Client(client) => format!("client:{}", client.client),
    }
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
    actor: &Access,
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
    actor: &Access,
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
