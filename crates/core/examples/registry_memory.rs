//! Memory of registered resources in the authorization snapshot: 1M resources with two
//! attributes each, as `warden serve` holds them once loaded (the structure alone, without
//! what loading them from a store leaves behind).
//!
//! `cargo run --release -p warden-core --example registry_memory [resources]`

use std::time::Instant;

use warden_core::authz::engine::{Registry, ResourceEntry};
use warden_core::ids::AccountId;
use warden_core::model::RegisteredResource;
use warden_core::time::Timestamp;

/// Resident memory of this process, bytes, from `/proc/self/statm`.
fn resident() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let account = AccountId::new();
    let before = resident();
    let started = Instant::now();
    let mut map = Registry::default();
    map.reserve(count);
    let now = Timestamp::now();
    for chunk in (0..count).collect::<Vec<_>>().chunks(1000) {
        map.extend(chunk.iter().map(|i| {
            let mut attributes = serde_json::Map::new();
            attributes.insert("owner_id".into(), format!("user-{}", i % 5000).into());
            attributes.insert(
                "status".into(),
                if i % 10 == 0 { "archived" } else { "active" }.into(),
            );
            let resource = RegisteredResource {
                account_id: Some(account),
                kind: "document".into(),
                id: format!("doc-{i:07}"),
                attributes,
                parents: Vec::new(),
                created_at: now,
                updated_at: now,
            };
            (ResourceEntry::of(&resource), Some(()))
        }));
    }
    let built = started.elapsed();
    let after = resident();
    println!(
        "{} resources, 2 attributes each: resident {:.1} MB (built in {:.2?})",
        map.len(),
        (after.saturating_sub(before)) as f64 / 1e6,
        built
    );
}
