//! `GET /v1/audit`: reading the audit log, within the reader's reach.

use crate::audit::record::AuditRecord;
use crate::authz::Access;
use crate::error::DomainError;
use crate::ids::AccountId;
use crate::services::Services;
use crate::time::Timestamp;

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
    match actor.require_reach(AUDIT_READ)?.reach() {
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
