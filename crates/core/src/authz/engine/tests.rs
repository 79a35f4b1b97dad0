//! The combining rule branch by branch, on snapshots built in memory.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::*;
use crate::authz::permission::Permission;
use crate::identity::RoleName;
use crate::ids::RoleId;
use crate::model::Role;

fn role(name: &str, account: Option<AccountId>, permissions: &[&str], inherits: &[RoleId]) -> Role {
    let now = Timestamp::now();
    Role {
        id: RoleId::new(),
        account_id: account,
        name: RoleName::parse(name).unwrap(),
        description: String::new(),
        permissions: permissions
            .iter()
            .map(|p| Permission::parse(p).unwrap())
            .collect(),
        inherits: inherits.to_vec(),
        builtin: false,
        created_at: now,
        updated_at: now,
    }
}

struct Fixture {
    snapshot: Snapshot,
    account: AccountId,
    user: UserId,
}

/// `viewer` (documents:read) <- `editor` (documents:edit) <- `lead`, and a cycle `a` <-> `b`;
/// the user holds `editor` in the account.
fn fixture(policies: &[(&str, Option<bool>)]) -> Fixture {
    let account = AccountId::new();
    let viewer = role("viewer", Some(account), &["documents:read"], &[]);
    let editor = role("editor", Some(account), &["documents:edit"], &[viewer.id]);
    let lead = role("lead", Some(account), &["reports:*"], &[editor.id]);
    let mut a = role("a", None, &["x:a"], &[]);
    let b = role("b", None, &["x:b"], &[a.id]);
    a.inherits = vec![b.id];
    let user = UserId::new();
    let Value::Object(attributes) = json!({"department": "eng"}) else {
        unreachable!()
    };
    let entry = UserEntry::build(
        true,
        "u@x.io",
        &attributes,
        [(Some(account), editor.id), (None, a.id)],
    );
    let mut snapshot = Snapshot {
        roles: Arc::new(RoleIndex::build(vec![viewer, editor, lead, a, b])),
        ..Snapshot::default()
    };
    snapshot.users = snapshot.users.with([(user, Some(entry))]);
    snapshot.accounts = snapshot
        .accounts
        .with([(account, Some(AccountEntry::open(true)))]);
    let compiled = policies
        .iter()
        .map(|(text, global)| {
            let id = PolicyId::new();
            let scope = if global.unwrap_or(false) {
                None
            } else {
                Some(account)
            };
            Arc::new(CompiledPolicy::new(
                id,
                scope,
                true,
                compile(&id, text).unwrap(),
            ))
        })
        .collect::<Vec<_>>();
    snapshot.policies = Arc::new(PolicyIndex::build(compiled));
    Fixture {
        snapshot,
        account,
        user,
    }
}

fn ask(f: &Fixture, action: &str, attributes: Value) -> Decision {
    ask_with(f, action, "document", attributes, None)
}

fn ask_as(f: &Fixture, action: &str, kind: &str, properties: Option<Value>) -> Decision {
    ask_with(f, action, kind, json!({}), properties)
}

/// Decides `action` on `kind`/`1` with `attributes`, for the fixture's user in its account,
/// the asker adding `properties` to the principal.
fn ask_with(
    f: &Fixture,
    action: &str,
    kind: &str,
    attributes: Value,
    properties: Option<Value>,
) -> Decision {
    let object = |value: Value| match value {
        Value::Object(map) => map,
        _ => unreachable!(),
    };
    let resource = Resource {
        kind: kind.into(),
        id: "1".into(),
        attributes: object(attributes),
        parents: Vec::new(),
    };
    let properties = properties.map(object);
    let principal = Principal {
        subject: Subject::User(f.user),
        account: Some(f.account),
        session: None,
        scoped_to: None,
    };
    f.snapshot
        .decide(
            &principal,
            &Query {
                action,
                resource: &resource,
                context: &Map::new(),
                ip: None,
                time: 0,
                principal_attributes: properties.as_ref(),
            },
        )
        .unwrap()
}

#[test]
fn a_role_grant_allows_through_inheritance_and_cycles_terminate() {
    let f = fixture(&[]);
    let d = ask(&f, "documents:read", json!({}));
    assert!(d.allowed);
    assert!(matches!(&d.reasons[0], Reason::Role { role, .. } if role == "editor"));
    assert!(
        !ask(&f, "reports:read", json!({})).allowed,
        "lead is not held"
    );
    // The cycle a <-> b resolves to both, once.
    assert!(ask(&f, "x:a", json!({})).allowed);
    assert!(ask(&f, "x:b", json!({})).allowed);
}

#[test]
fn nothing_applies_denies_without_reasons() {
    let f = fixture(&[]);
    let d = ask(&f, "billing:pay", json!({}));
    assert_eq!(d.decision, Effect::Deny);
    assert!(d.reasons.is_empty() && d.errors.is_empty());
}

#[test]
fn a_satisfied_permit_allows_when_no_role_does() {
    let f = fixture(&[(
        r#"permit(principal, action == Action::"billing:pay", resource) when { principal.department == "eng" };"#,
        None,
    )]);
    let d = ask(&f, "billing:pay", json!({}));
    assert!(d.allowed);
    assert!(matches!(
        d.reasons[0],
        Reason::Policy {
            effect: "permit",
            ..
        }
    ));
}

#[test]
fn a_satisfied_forbid_beats_a_role_grant() {
    let f = fixture(&[(
        r#"forbid(principal, action, resource) when { resource.locked };"#,
        Some(true),
    )]);
    assert!(!ask(&f, "documents:edit", json!({"locked": true})).allowed);
    assert!(ask(&f, "documents:edit", json!({"locked": false})).allowed);
}

#[test]
fn an_erroring_forbid_denies_and_an_erroring_permit_is_skipped() {
    let f = fixture(&[
        (
            r#"forbid(principal, action == Action::"documents:edit", resource) when { resource.missing };"#,
            None,
        ),
        (
            r#"permit(principal, action == Action::"billing:pay", resource) when { resource.missing };"#,
            None,
        ),
    ]);
    let forbid = ask(&f, "documents:edit", json!({}));
    assert!(!forbid.allowed);
    assert!(matches!(
        forbid.reasons[0],
        Reason::Policy {
            effect: "forbid",
            failed: true,
            ..
        }
    ));
    assert_eq!(forbid.errors.len(), 1);
    let permit = ask(&f, "billing:pay", json!({}));
    assert!(!permit.allowed);
    assert!(permit.reasons.is_empty());
    assert_eq!(permit.errors.len(), 1);
}

#[test]
fn policies_for_other_actions_are_not_evaluated() {
    // A policy that would error on every request, indexed under another action, stays silent.
    let f = fixture(&[(
        r#"forbid(principal, action == Action::"other:thing", resource) when { resource.missing };"#,
        None,
    )]);
    let d = ask(&f, "documents:edit", json!({}));
    assert!(d.allowed && d.errors.is_empty());
}

#[test]
fn disabled_users_ended_sessions_and_inactive_accounts_are_denied() {
    let mut f = fixture(&[]);
    let session = SessionId::new();
    f.snapshot.ended = f.snapshot.ended.with([(session, Some(0))]);
    let principal = Principal {
        subject: Subject::User(f.user),
        account: Some(f.account),
        session: Some(session),
        scoped_to: None,
    };
    assert_eq!(
        f.snapshot.resolve(&principal).unwrap_err(),
        Inactive::SessionEnded
    );
    let held = f
        .snapshot
        .users
        .get(&f.user)
        .unwrap()
        .assignments()
        .to_vec();
    let entry = UserEntry::build(false, "o@x.io", &Map::new(), held);
    f.snapshot.users = f.snapshot.users.with([(f.user, Some(entry))]);
    let d = ask(&f, "documents:read", json!({}));
    assert!(!d.allowed);
    assert_eq!(
        d.reasons,
        vec![Reason::Principal {
            code: "principal_disabled"
        }]
    );
    f.snapshot.accounts = f
        .snapshot
        .accounts
        .with([(f.account, Some(AccountEntry::open(false)))]);
    assert_eq!(
        ask(&f, "documents:read", json!({})).reasons,
        vec![Reason::Principal {
            code: "account_inactive"
        }]
    );
}

#[test]
fn a_user_entry_reads_back_what_it_was_built_from() {
    let mut attributes = Map::new();
    attributes.insert("team".into(), json!("a\nb"));
    let role = RoleId::new();
    for active in [true, false] {
        for attributes in [Map::new(), attributes.clone()] {
            let entry = UserEntry::build(active, "p@x.io", &attributes, [(None, role)]);
            assert_eq!(entry.active(), active);
            assert_eq!(entry.email(), "p@x.io");
            let read: Option<Map<String, Value>> =
                entry.attributes().map(|a| serde_json::from_str(a).unwrap());
            assert_eq!(read, (!attributes.is_empty()).then_some(attributes));
            assert_eq!(entry.assignments(), [(None, role)]);
        }
    }
}

#[test]
fn sharded_maps_copy_only_what_changes() {
    let f = fixture(&[]);
    let before = f.snapshot.users.clone();
    let other = UserId::new();
    let after = before.with([(
        other,
        Some(UserEntry::build(true, "o@x.io", &Map::new(), [])),
    )]);
    assert_eq!(before.len(), 1);
    assert_eq!(after.len(), 2);
    assert_eq!(
        before.shared_shards(&after),
        255,
        "one change copies one shard of 256, and shares the rest"
    );
    assert!(before.get(&other).is_none() && after.get(&other).is_some());
    assert_eq!(after.with([(other, None)]).len(), 1);
}

#[test]
fn extending_in_place_changes_only_this_map() {
    let f = fixture(&[]);
    let shared = f.snapshot.users.clone();
    let mut loading = f.snapshot.users.clone();
    let ids: Vec<UserId> = (0..1000).map(|_| UserId::new()).collect();
    loading.extend(
        ids.iter()
            .map(|id| (*id, Some(UserEntry::build(true, "o@x.io", &Map::new(), [])))),
    );
    assert_eq!(loading.len(), 1001);
    assert!(ids.iter().all(|id| loading.get(id).is_some()));
    // A map sharing the shards is untouched.
    assert_eq!(shared.len(), 1);
    assert!(shared.get(&ids[0]).is_none());
    loading.extend([(ids[0], None), (ids[0], None)]);
    assert_eq!(loading.len(), 1000);
}

#[test]
fn the_change_log_reader_waits_at_a_hole_then_closes_it() {
    let mut tail = super::Tail::default();
    tail.applied.extend([1, 2, 4, 5]);
    // 3 is in flight: the position stops below it.
    assert_eq!(tail.advance(0), 2);
    assert_eq!(tail.advance(2), 2);
    // It commits and is applied: the position moves over it and what follows.
    tail.applied.insert(3);
    assert_eq!(tail.advance(2), 5);
    assert!(tail.applied.is_empty());
    // A hole that never fills is closed after the timeout.
    tail.applied.insert(7);
    assert_eq!(tail.advance(5), 5);
    tail.hole_since = Some((6, std::time::Instant::now() - super::GAP_TIMEOUT));
    assert_eq!(tail.advance(5), 7);
    assert!(
        tail.reload,
        "a timed-out hole makes the next catch-up reload everything"
    );
    // Holes that were there when the snapshot loaded close quietly.
    let mut loaded = super::Tail {
        quiet_below: 10,
        ..super::Tail::default()
    };
    loaded.applied.insert(9);
    assert_eq!(loaded.advance(7), 7);
    loaded.hole_since = Some((8, std::time::Instant::now() - super::GAP_TIMEOUT));
    assert_eq!(loaded.advance(7), 9);
    assert!(
        !loaded.reload,
        "no reload loop over holes the load already saw"
    );
}

#[test]
fn a_changed_user_is_never_answered_from_a_stale_principal_entity() {
    let mut f = fixture(&[(
        r#"permit(principal, action == Action::"billing:pay", resource) when { principal.department == "eng" };"#,
        None,
    )]);
    assert!(ask(&f, "billing:pay", json!({})).allowed);
    // The same user, now in another department: a new entry, so a fresh entity.
    let Value::Object(ops) = json!({"department": "ops"}) else {
        unreachable!()
    };
    let moved = UserEntry::build(
        true,
        "u@x.io",
        &ops,
        f.snapshot
            .users
            .get(&f.user)
            .unwrap()
            .assignments()
            .to_vec(),
    );
    f.snapshot.users = f.snapshot.users.with([(f.user, Some(moved))]);
    assert!(!ask(&f, "billing:pay", json!({})).allowed);
}

#[test]
fn an_action_name_counts_as_the_permission_on_its_resource_type() {
    let f = fixture(&[]);
    // `edit` on a `documents` resource is `documents:edit`, which editor holds.
    assert!(ask_as(&f, "edit", "documents", None).allowed);
    assert!(!ask_as(&f, "edit", "reports", None).allowed);
    assert!(!ask_as(&f, "delete", "documents", None).allowed);
    // Names that spell no permission are granted by name only.
    assert!(!ask_as(&f, "EDIT", "documents", None).allowed);
}

#[test]
fn asker_properties_reach_the_principal_under_wardens_own() {
    let f = fixture(&[(
        r#"permit(principal, action == Action::"approve", resource) when { principal has level && principal.level == 3 && principal.department == "eng" };"#,
        None,
    )]);
    assert!(!ask_as(&f, "approve", "document", None).allowed);
    assert!(ask_as(&f, "approve", "document", Some(json!({"level": 3}))).allowed);
    // The user's stored attributes win over the asker's: still `eng`.
    assert!(
        ask_as(
            &f,
            "approve",
            "document",
            Some(json!({"level": 3, "department": "ops"}))
        )
        .allowed
    );
    let ops = fixture(&[(
        r#"permit(principal, action == Action::"approve", resource) when { principal.department == "ops" };"#,
        None,
    )]);
    assert!(
        !ask_as(
            &ops,
            "approve",
            "document",
            Some(json!({"department": "ops"}))
        )
        .allowed
    );
    let own = fixture(&[(
        r#"permit(principal, action == Action::"approve", resource) when { principal.id == "spoofed" || principal has email && principal.email == "x@y.z" };"#,
        None,
    )]);
    assert!(
        !ask_as(
            &own,
            "approve",
            "document",
            Some(json!({"id": "spoofed", "email": "x@y.z"}))
        )
        .allowed
    );
}
