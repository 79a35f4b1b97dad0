//! The audit log: append-only records of security-relevant events, each chained to the one
//! before by SHA-256, so a changed, removed or inserted record is found by `verify`. Records
//! never hold credentials or tokens: identifiers typed at login and token references are
//! hashed.

pub mod record;
mod repeats;
pub mod writer;

pub use record::{chain, chain_hash, AuditRecord, Pending, GENESIS};
use writer::pending;
pub use writer::{AuditLog, Event, WriteStats};

use serde_json::Value;

use crate::error::DomainError;
use crate::ids::AccountId;
use crate::services::Services;

/// Queues an event for the node's audit writer, which appends it within milliseconds, without
/// waiting for the write: only for events of the decision path, which never waits on the
/// store (a sampled allowed decision). Everything else is [`record_durably`].
pub async fn record(services: &Services, event: Event<'_>) {
    services.audit.record(pending(event)).await;
}

/// Records an event and waits until it is written, for changes whose record must not be lost
/// with the process: the change is acknowledged only after its audit record is durable.
pub async fn record_durably(services: &Services, event: Event<'_>) {
    services.audit.record_durably(pending(event)).await;
}

/// Queues `count` identical occurrences of an event that a caller can repeat at will (a denied
/// decision): identical events within the coalescing window become few records, each with
/// the number of occurrences it stands for in `details.count`.
pub async fn record_repeated(services: &Services, event: Event<'_>, count: u64) {
    services.audit.record_repeated(pending(event), count).await;
}

/// An event with plain fields, as [`note_durably`] records it.
fn plain(
    actor: String,
    action: &str,
    account: Option<AccountId>,
    target: String,
    details: Value,
) -> Event<'_> {
    Event {
        actor,
        action,
        account,
        target: Some(target),
        details,
    }
}

/// Records an event with plain fields and waits until it is written ([`record_durably`]).
pub async fn note_durably(
    services: &Services,
    actor: String,
    action: &str,
    account: Option<AccountId>,
    target: String,
    details: Value,
) {
    record_durably(services, plain(actor, action, account, target, details)).await;
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
