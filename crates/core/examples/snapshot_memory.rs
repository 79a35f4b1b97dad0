//! Memory of the authorization snapshot with 1M users holding two roles each (issue 4 target:
//! <= 300 MB), and the cost of applying one user change to it.
//!
//! `cargo run --release -p warden-core --example snapshot_memory [users]`

#![expect(
    clippy::expect_used,
    reason = "a measurement stops at the first surprise"
)]

#[path = "../benches/support/world.rs"]
mod world;

use std::time::Instant;

use warden_core::authz::engine::UserEntry;
use warden_core::ids::UserId;

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
    let users: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let before = resident();
    let started = Instant::now();
    let w = world::build(users, 0);
    let built = started.elapsed();
    let after = resident();
    assert!(
        w.snapshot.users.get(&w.user).is_some() && w.snapshot.accounts.get(&w.account).is_some()
    );
    println!(
        "{users} users, 2 roles each: snapshot resident {:.1} MB (built in {:.2?})",
        (after.saturating_sub(before)) as f64 / 1e6,
        built
    );
    // One change: a new snapshot sharing all but one shard.
    let started = Instant::now();
    let rounds = 100;
    let mut snapshot = w.snapshot.clone();
    for i in 0..rounds {
        let entry = UserEntry::build(
            true,
            &format!("new{i}@example.com"),
            &serde_json::Map::new(),
            [],
        );
        let mut next = snapshot.clone();
        next.users = next.users.with([(UserId::new(), Some(entry))]);
        snapshot = next;
    }
    println!(
        "applying one user change: {:.1} µs per change (mean of {rounds})",
        started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds)
    );
    assert_eq!(snapshot.users.len(), users + rounds as usize);
}
