//! An audit record and its chain: each record's hash covers its predecessor's.

use serde::Serialize;
use serde_json::{json, Value};

use crate::crypto::sha256_b64;
use crate::ids::AccountId;
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
