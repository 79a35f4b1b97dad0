//! Decision latency: RBAC only as users grow (1k, 100k, 1M), and with 10, 100 and 1,000 Cedar
//! policies spread over accounts and actions. Targets (issue 4): RBAC <= 2 µs; 1,000 policies
//! <= 10 µs; flat as users grow. Issue 14: the owner rule through the compiled fast path
//! <= 2 µs, flat from 10 to 10,000 policies (`decide/policies`, beside `decide/policies-cedar`).
#![expect(
    missing_docs,
    reason = "criterion macros generate undocumented functions"
)]
#![expect(
    clippy::expect_used,
    reason = "a benchmark stops at the first surprise"
)]

#[path = "support/world.rs"]
mod world;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use serde_json::{json, Map, Value};
use warden_core::authz::engine::{Principal, Query, Resource, Subject};

fn resource(owner: &str) -> Resource {
    let Value::Object(attributes) = json!({"owner_id": owner}) else {
        unreachable!()
    };
    Resource {
        kind: "document".into(),
        id: "42".into(),
        attributes,
        parents: Vec::new(),
    }
}

/// Measures one decision for the world's first user, in its account, on a document it owns.
fn measure(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    size: usize,
    w: &world::World,
    action: &str,
) {
    let context = Map::new();
    let principal = Principal {
        subject: Subject::User(w.user),
        account: Some(w.account),
        session: None,
        scoped_to: None,
    };
    let doc = resource(&w.user.to_string());
    group.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, _| {
        b.iter(|| {
            let query = Query {
                action,
                resource: &doc,
                context: &context,
                ip: None,
                time: 0,
                principal_attributes: None,
            };
            let decision = w.snapshot.decide(&principal, &query).expect("decides");
            assert!(decision.allowed, "{decision:?}");
        });
    });
}

fn bench(c: &mut Criterion) {
    let mut rbac = c.benchmark_group("decide/rbac");
    for users in [1_000, 100_000, 1_000_000] {
        measure(&mut rbac, users, &world::build(users, 0), "documents:read");
    }
    rbac.finish();

    // `res0:act` in the first account: a permit owner rule applies and is evaluated, through
    // the compiled fast path and, as the reference in the same run, through Cedar.
    for (group, native) in [("decide/policies", true), ("decide/policies-cedar", false)] {
        let mut policies_group = c.benchmark_group(group);
        for policies in [10, 100, 1_000, 10_000] {
            measure(
                &mut policies_group,
                policies,
                &world::build_with(1_000, policies, native),
                "res0:act",
            );
        }
        policies_group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
