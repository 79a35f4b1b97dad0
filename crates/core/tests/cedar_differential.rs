//! The compiled fast path against Cedar itself: generated policies, users, resources and
//! contexts, each decided twice — by a snapshot whose policies take the fast path where they
//! can, and by the same snapshot with every statement left to `cedar-policy` — and the two
//! decisions (allow or deny, reasons, errors, refusals) must be equal.
//!
//! CI runs 3,000 cases. The long run recorded in SECURITY.md is
//! `PROPTEST_CASES=1000000 cargo test --release -p warden-core --test cedar_differential`.
#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on the first surprise"
)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::{json, Map, Value};
use warden_core::authz::engine::{
    compile, path_counts, AccountEntry, CompiledPolicy, EntityRef, PolicyIndex, Principal, Query,
    Resource, RoleIndex, Snapshot, Subject, UserEntry,
};
use warden_core::authz::permission::Permission;
use warden_core::identity::RoleName;
use warden_core::ids::{AccountId, PolicyId, RoleId, UserId};
use warden_core::model::Role;
use warden_core::time::Timestamp;

/// The fixed part of the world: one account, roles `viewer` <- `editor` <- `admin`, a user.
struct World {
    account: AccountId,
    user: UserId,
    roles: Arc<RoleIndex>,
    role_ids: [RoleId; 3],
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let account = AccountId::new();
        let now = Timestamp::now();
        let role = |name: &str, permissions: &[&str], inherits: Vec<RoleId>| Role {
            id: RoleId::new(),
            account_id: Some(account),
            name: RoleName::parse(name).unwrap(),
            description: String::new(),
            permissions: permissions
                .iter()
                .map(|p| Permission::parse(p).unwrap())
                .collect(),
            inherits,
            builtin: false,
            created_at: now,
            updated_at: now,
        };
        let viewer = role("viewer", &["documents:read"], vec![]);
        let editor = role("editor", &["documents:edit"], vec![viewer.id]);
        let admin = role("admin", &["reports:*"], vec![editor.id]);
        let role_ids = [viewer.id, editor.id, admin.id];
        World {
            account,
            user: UserId::new(),
            roles: Arc::new(RoleIndex::build(vec![viewer, editor, admin])),
            role_ids,
        }
    })
}

fn uid() -> String {
    world().user.to_string()
}

// --- values -----------------------------------------------------------------------------

const KEYS: [&str; 8] = [
    "owner_id", "locked", "tags", "level", "name", "owner", "account", "nested",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        (-3i64..4).prop_map(|n| json!(n)),
        Just(json!(i64::MAX)),
        Just(json!(i64::MIN)),
        prop::sample::select(vec!["a", "b", "ab", "x*", ""]).prop_map(|s| json!(s)),
        Just(Value::String(uid())),
        Just(json!({"__entity": {"type": "User", "id": uid()}})),
        Just(json!({"__entity": {"type": "Folder", "id": "f1"}})),
        Just(json!({"__entity": {"type": "document", "id": "1"}})),
        Just(json!({"__extn": {"fn": "ip", "arg": "10.0.0.1"}})),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(2, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(prop::sample::select(KEYS.to_vec()), inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.into(), v)).collect())),
        ]
    })
}

/// Attributes: values only Cedar could hold, and now and then one it cannot (a null, a
/// fraction), which a request refuses and a user's stored attributes leave out.
/// A value of the type policies usually expect of `key` (mostly), or anything.
fn typed(key: &'static str) -> BoxedStrategy<Value> {
    let usual: BoxedStrategy<Value> = match key {
        "owner_id" => prop_oneof![Just(Value::String(uid())), Just(json!("a"))].boxed(),
        "locked" => any::<bool>().prop_map(Value::Bool).boxed(),
        "tags" => prop::collection::vec(prop::sample::select(vec!["a", "b", "x*"]), 0..3)
            .prop_map(|t| json!(t))
            .boxed(),
        "level" => (-2i64..6).prop_map(|n| json!(n)).boxed(),
        "name" => prop::sample::select(vec!["ab", "a", "b", "", "x*"])
            .prop_map(|n| json!(n))
            .boxed(),
        "owner" => prop_oneof![
            Just(json!({"__entity": {"type": "User", "id": uid()}})),
            Just(json!({"__entity": {"type": "User", "id": "someone"}})),
        ]
        .boxed(),
        "account" => prop_oneof![
            Just(json!(world().account.to_string())),
            Just(json!("other"))
        ]
        .boxed(),
        "nested" => prop_oneof![
            Just(json!({"level": 1})),
            Just(json!({"level": 2})),
            Just(json!({"level": 1, "name": "a"})),
        ]
        .boxed(),
        _ => value().boxed(),
    };
    prop_oneof![6 => usual, 1 => value()].boxed()
}

fn typed_attributes() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec(prop::sample::select(KEYS.to_vec()), 0..6).prop_flat_map(|keys| {
        let values: Vec<BoxedStrategy<Value>> = keys.iter().map(|k| typed(k)).collect();
        values.prop_map(move |values| {
            keys.iter()
                .map(|k| (*k).to_owned())
                .zip(values)
                .collect::<Map<String, Value>>()
        })
    })
}

fn attributes() -> impl Strategy<Value = Map<String, Value>> {
    let odd = prop_oneof![
        40 => value(),
        1 => Just(Value::Null),
        1 => Just(json!(1.5)),
    ];
    prop::collection::btree_map(prop::sample::select(KEYS.to_vec()), odd, 0..6)
        .prop_map(|m| m.into_iter().map(|(k, v)| (k.into(), v)).collect())
}

// --- policy text ------------------------------------------------------------------------

fn literal() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("true".to_owned()),
        Just("false".to_owned()),
        (-3i64..4).prop_map(|n| n.to_string()),
        Just("9223372036854775807".to_owned()),
        prop::sample::select(vec![r#""a""#, r#""b""#, r#""""#]).prop_map(str::to_owned),
        Just(format!(r#""{}""#, uid())),
        Just(format!(r#"User::"{}""#, uid())),
        Just(r#"Folder::"f1""#.to_owned()),
        Just(r#"document::"1""#.to_owned()),
        prop::sample::select(vec!["viewer", "editor", "admin", "other"])
            .prop_map(|r| format!(r#"Role::"{r}""#)),
        Just(r#"[1, "a"]"#.to_owned()),
        Just(r#"{level: 1, name: "a"}"#.to_owned()),
        Just(r#"ip("10.0.0.1")"#.to_owned()),
    ]
}

fn atom() -> impl Strategy<Value = String> {
    let key = prop::sample::select(
        KEYS.iter()
            .copied()
            .chain(["id", "email", "roles", "time", "ip", "x"])
            .collect::<Vec<_>>(),
    );
    prop_oneof![
        3 => literal(),
        1 => prop::sample::select(vec!["principal", "resource", "action", "context"])
            .prop_map(str::to_owned),
        4 => (prop::sample::select(vec!["principal", "resource", "context"]), key)
            .prop_map(|(var, key)| format!("{var}.{key}")),
    ]
}

fn expr() -> impl Strategy<Value = String> {
    atom().prop_recursive(3, 24, 3, |inner| {
        let key = prop::sample::select(
            KEYS.iter()
                .copied()
                .chain(["id", "roles", "ip"])
                .collect::<Vec<_>>(),
        );
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(vec![
                    "==", "!=", "in", "<", "<=", ">", ">=", "&&", "||", "+", "-", "*"
                ]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("({a} {op} {b})")),
            inner.clone().prop_map(|a| format!("(!{a})")),
            inner.clone().prop_map(|a| format!("(-{a})")),
            (
                inner.clone(),
                prop::sample::select(vec!["contains", "containsAll", "containsAny"]),
                inner.clone()
            )
                .prop_map(|(a, f, b)| format!("({a}.{f}({b}))")),
            inner.clone().prop_map(|a| format!("({a}.isEmpty())")),
            (inner.clone(), key.clone()).prop_map(|(a, k)| format!("({a} has {k})")),
            (inner.clone(), key.clone(), key.clone())
                .prop_map(|(a, k, j)| format!("({a} has {k}.{j})")),
            (inner.clone(), key).prop_map(|(a, k)| format!("({a}.{k})")),
            (
                inner.clone(),
                prop::sample::select(vec!["a*", "*b", "*", "ab", ""])
            )
                .prop_map(|(a, p)| format!(r#"({a} like "{p}")"#)),
            (
                inner.clone(),
                prop::sample::select(vec!["User", "document", "Folder"])
            )
                .prop_map(|(a, t)| format!("({a} is {t})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} is User in {b})")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(a, b, c)| format!("(if {a} then {b} else {c})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("[{a}, {b}]")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{{level: {a}, name: {b}}}")),
            inner
                .clone()
                .prop_map(|a| format!(r#"({a}.isInRange(ip("10.0.0.0/8")))"#)),
        ]
    })
}

/// A long, mostly well typed.
fn long_expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        (-2i64..6).prop_map(|n| n.to_string()),
        Just("resource.level".to_owned()),
        Just("principal.level".to_owned()),
        Just("context.level".to_owned()),
        Just("context.time".to_owned()),
        Just("9223372036854775807".to_owned()),
    ];
    leaf.prop_recursive(1, 4, 2, |inner| {
        (
            inner.clone(),
            prop::sample::select(vec!["+", "-", "*"]),
            inner,
        )
            .prop_map(|(a, op, b)| format!("({a} {op} {b})"))
    })
}

/// A condition in the shape real policies take: comparisons, ownership, membership, tags.
fn typed_condition() -> impl Strategy<Value = String> {
    let key = || {
        prop::sample::select(
            KEYS.iter()
                .copied()
                .chain(["id", "roles", "x"])
                .collect::<Vec<_>>(),
        )
    };
    let var = || prop::sample::select(vec!["principal", "resource", "context"]);
    let leaf = prop_oneof![
        (
            long_expr(),
            prop::sample::select(vec!["<", "<=", ">", ">=", "==", "!="]),
            long_expr()
        )
            .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
        prop::sample::select(vec![
            "resource.owner_id == principal.id",
            "resource.owner == principal",
            "resource.account == context.account",
            "resource.account == principal.account",
            "principal.roles.contains(\"admin\")",
            "resource.tags.contains(\"a\")",
            "resource.tags.containsAny([\"a\", \"b\"])",
            "resource.tags.containsAll([\"a\"])",
            "resource.tags.isEmpty()",
            "resource.locked",
            "resource.name like \"a*\"",
            "resource.owner in Role::\"viewer\"",
            "resource in principal",
            "principal in Role::\"editor\"",
            "resource in Folder::\"f1\"",
            "resource.owner is User",
            "resource.owner.email == \"u@x.io\"",
            "context.x == resource.name",
            "resource.nested.level > 1",
            "resource has nested.level",
            "resource.tags == [\"a\"]",
            "[\"a\"] == resource.tags",
            "principal.roles == [\"viewer\", \"editor\"]",
            "resource.nested == {level: 1}",
            "{level: 1} == resource.nested",
        ])
        .prop_map(str::to_owned),
        (var(), key()).prop_map(|(v, k)| format!("{v} has {k}")),
    ];
    leaf.prop_recursive(2, 8, 2, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(vec!["&&", "||"]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("({a}) {op} ({b})")),
            inner.clone().prop_map(|a| format!("!({a})")),
            (inner.clone(), inner.clone(), inner)
                .prop_map(|(a, b, c)| format!("if {a} then {b} else {c}")),
        ]
    })
}

fn statement() -> impl Strategy<Value = String> {
    let principal = prop::sample::select(vec![
        "principal".to_owned(),
        format!(r#"principal == User::"{}""#, uid()),
        r#"principal in Role::"viewer""#.to_owned(),
        r#"principal in Role::"admin""#.to_owned(),
        "principal is User".to_owned(),
        r#"principal is User in Role::"editor""#.to_owned(),
    ]);
    let action = prop::sample::select(vec![
        "action",
        r#"action == Action::"documents:edit""#,
        r#"action in [Action::"documents:edit", Action::"read"]"#,
        r#"action == Action::"read""#,
    ]);
    let resource = prop::sample::select(vec![
        "resource",
        r#"resource in Folder::"f1""#,
        "resource is document",
        r#"resource == document::"1""#,
        r#"resource in Role::"admin""#,
    ]);
    let condition = prop_oneof![3 => typed_condition(), 1 => expr()];
    let clause = (any::<bool>(), condition)
        .prop_map(|(when, e)| format!("{} {{ {e} }}", if when { "when" } else { "unless" }));
    (
        any::<bool>(),
        principal,
        action,
        resource,
        prop::collection::vec(clause, 0..3),
    )
        .prop_map(|(permit, p, a, r, clauses)| {
            format!(
                "{}({p}, {a}, {r}) {};",
                if permit { "permit" } else { "forbid" },
                clauses.join(" ")
            )
        })
}

// --- requests ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Case {
    policies: Vec<(String, bool)>,
    stored: Map<String, Value>,
    held: Vec<usize>,
    in_account: bool,
    action: &'static str,
    resource: Resource,
    context: Map<String, Value>,
    ip: bool,
}

fn case() -> impl Strategy<Value = Case> {
    let policies = prop::collection::vec(
        (prop::collection::vec(statement(), 1..3), any::<bool>())
            .prop_map(|(statements, global)| (statements.join("\n"), global)),
        1..4,
    );
    let parent = prop::sample::select(vec![
        ("Folder", "f1".to_owned()),
        ("Folder", "f2".to_owned()),
        ("User", uid()),
        ("document", "1".to_owned()),
    ]);
    let resource = (
        prop::sample::select(vec!["document", "document", "Folder", "User", "if"]),
        prop::sample::select(vec!["1".to_owned(), "2".to_owned(), "f1".to_owned(), uid()]),
        prop_oneof![4 => typed_attributes(), 1 => attributes()],
        prop::collection::vec(parent, 0..3),
    )
        .prop_map(|(kind, id, attributes, parents)| Resource {
            kind: kind.into(),
            id,
            attributes,
            parents: parents
                .into_iter()
                .map(|(kind, id)| EntityRef {
                    kind: kind.into(),
                    id,
                })
                .collect(),
        });
    let context = prop::collection::btree_map(
        prop::sample::select(vec!["x", "level", "account", "time", "ip", "tags"]),
        prop_oneof![(-2i64..6).prop_map(|n| json!(n)), value()],
        0..3,
    )
    .prop_map(|m| m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
    (
        policies,
        prop_oneof![typed_attributes(), attributes()],
        prop::collection::vec(0usize..3, 0..3),
        any::<bool>(),
        prop::sample::select(vec!["documents:edit", "documents:read", "read"]),
        resource,
        context,
        any::<bool>(),
    )
        .prop_map(
            |(policies, stored, held, in_account, action, resource, context, ip)| Case {
                policies,
                stored,
                held,
                in_account,
                action,
                resource,
                context,
                ip,
            },
        )
}

/// The case's snapshot, with the fast path (`native`) or without it.
fn snapshot(
    case: &Case,
    compiled: &[(PolicyId, bool, Vec<cedar_policy::Policy>)],
    native: bool,
) -> Snapshot {
    let w = world();
    let mut snapshot = Snapshot {
        roles: w.roles.clone(),
        ..Snapshot::default()
    };
    snapshot.accounts = snapshot
        .accounts
        .with([(w.account, Some(AccountEntry::open(true)))]);
    let entry = UserEntry::build(
        true,
        "u@x.io",
        &case.stored,
        case.held.iter().map(|i| (Some(w.account), w.role_ids[*i])),
    );
    snapshot.users = snapshot.users.with([(w.user, Some(entry))]);
    snapshot.policies = Arc::new(PolicyIndex::build(compiled.iter().map(
        |(id, global, statements)| {
            let account = if *global { None } else { Some(w.account) };
            let policy = CompiledPolicy::new(*id, account, true, statements.clone());
            Arc::new(if native {
                policy
            } else {
                policy.interpreted_only()
            })
        },
    )));
    snapshot
}

/// Decisions of the fast snapshot that took the fast path, and that went to Cedar whole.
static FAST: AtomicU64 = AtomicU64::new(0);
static WHOLE: AtomicU64 = AtomicU64::new(0);

/// One case: both snapshots decide; the decisions must be equal.
fn check(case: &Case) -> Result<(), TestCaseError> {
    let mut compiled = Vec::new();
    for (text, global) in &case.policies {
        let id = PolicyId::new();
        // Generated text Cedar does not parse (an out-of-range literal) says nothing.
        let Ok(statements) = compile(&id, text) else {
            continue;
        };
        compiled.push((id, *global, statements));
    }
    prop_assume!(!compiled.is_empty());
    let fast = snapshot(case, &compiled, true);
    let reference = snapshot(case, &compiled, false);
    let w = world();
    let principal = Principal {
        subject: Subject::User(w.user),
        account: case.in_account.then_some(w.account),
        session: None,
        scoped_to: None,
    };
    let query = Query {
        action: case.action,
        resource: &case.resource,
        context: &case.context,
        ip: case.ip.then(|| "10.1.2.3".parse().unwrap()),
        time: 1_700_000_000,
        principal_attributes: None,
    };
    let texts: Vec<&str> = case.policies.iter().map(|(t, _)| t.as_str()).collect();
    let before = path_counts();
    let decided = fast.decide(&principal, &query);
    let after = path_counts();
    let fast_path = after.native + after.mixed - before.native - before.mixed;
    FAST.fetch_add(fast_path, Ordering::Relaxed);
    WHOLE.fetch_add(after.cedar - before.cedar, Ordering::Relaxed);
    prop_assert_eq!(
        decided,
        reference.decide(&principal, &query),
        "policies: {:#?}",
        texts
    );
    Ok(())
}

#[test]
fn the_fast_path_decides_as_cedar_does() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3000);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases,
        max_global_rejects: cases,
        ..ProptestConfig::default()
    });
    let result = runner.run(&case(), |case| check(&case));
    if let Err(failure) = result {
        panic!("{failure}");
    }
    let (native, cedar) = (FAST.load(Ordering::Relaxed), WHOLE.load(Ordering::Relaxed));
    eprintln!("{cases} cases: {native} decided on the fast path, {cedar} by Cedar whole");
    // The comparison means something only if the fast path decides often.
    assert!(
        native * 3 > native + cedar,
        "only {native} of {} decisions took the fast path",
        native + cedar
    );
}

/// The generator reaches the fast path: most generated statements compile natively, so the
/// property above compares the two evaluators and not Cedar with itself.
#[test]
fn the_generated_policies_mostly_compile_natively() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = statement();
    let (mut parsed, mut native) = (0, 0);
    for _ in 0..500 {
        let text = strategy.new_tree(&mut runner).unwrap().current();
        let id = PolicyId::new();
        if let Ok(statements) = compile(&id, &text) {
            parsed += 1;
            if CompiledPolicy::new(id, None, true, statements).native_statements() > 0 {
                native += 1;
            }
        }
    }
    assert!(
        parsed > 400,
        "only {parsed} of 500 generated statements parse"
    );
    assert!(
        native * 3 > parsed * 2,
        "only {native} of {parsed} compile natively"
    );
}
