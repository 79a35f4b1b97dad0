//! A synthetic authorization world for benchmarks: accounts, roles with inheritance, users
//! holding two roles each, and Cedar policies spread over accounts and actions.

use std::sync::Arc;

use warden_core::authz::engine::{
    compile, AccountEntry, AssignmentSets, CompiledPolicy, PolicyIndex, RoleIndex, Snapshot,
    UserEntry,
};
use warden_core::authz::permission::Permission;
use warden_core::identity::RoleName;
use warden_core::ids::{AccountId, PolicyId, RoleId, UserId};
use warden_core::model::Role;
use warden_core::time::Timestamp;

/// Accounts in the world.
pub const ACCOUNTS: usize = 100;
/// Distinct actions policies are written for.
pub const ACTIONS: usize = 50;

/// The world and a user to ask about.
pub struct World {
    pub snapshot: Snapshot,
    pub user: UserId,
    pub account: AccountId,
}

fn role(name: &str, account: AccountId, permissions: &[&str], inherits: &[RoleId]) -> Role {
    let now = Timestamp::now();
    Role {
        id: RoleId::new(),
        account_id: Some(account),
        name: RoleName::parse(name).expect("role name"),
        description: String::new(),
        permissions: permissions
            .iter()
            .map(|p| Permission::parse(p).expect("permission"))
            .collect(),
        inherits: inherits.to_vec(),
        builtin: false,
        created_at: now,
        updated_at: now,
    }
}

/// Builds `users` users (two roles each, in one of [`ACCOUNTS`] accounts) and `policies`
/// policies spread round-robin over the accounts and [`ACTIONS`] actions.
pub fn build(users: usize, policies: usize) -> World {
    build_with(users, policies, true)
}

/// [`build`], with the compiled fast path (`native`) or with every statement left to Cedar.
pub fn build_with(users: usize, policies: usize, native: bool) -> World {
    let accounts: Vec<AccountId> = (0..ACCOUNTS).map(|_| AccountId::new()).collect();
    let mut roles = Vec::new();
    let mut per_account = Vec::new();
    for account in &accounts {
        let viewer = role("viewer", *account, &["documents:read", "comments:*"], &[]);
        let editor = role("editor", *account, &["documents:edit"], &[viewer.id]);
        let admin = role(
            "admin",
            *account,
            &["documents:*", "billing:read"],
            &[editor.id],
        );
        per_account.push((viewer.id, editor.id));
        roles.extend([viewer, editor, admin]);
    }
    let mut snapshot = Snapshot {
        roles: Arc::new(RoleIndex::build(roles)),
        ..Snapshot::default()
    };
    snapshot.accounts = snapshot.accounts.with(
        accounts
            .iter()
            .map(|a| (*a, Some(AccountEntry::open(true)))),
    );
    let mut first = None;
    let mut sets = AssignmentSets::default();
    snapshot.users.reserve(users);
    let chunk = 100_000;
    for start in (0..users).step_by(chunk) {
        let batch: Vec<_> = (start..(start + chunk).min(users))
            .map(|i| {
                let id = UserId::new();
                let a = i % ACCOUNTS;
                let (viewer, editor) = per_account[a];
                // As loading builds them: the users of an account share their set.
                let mut entry = UserEntry::build(
                    true,
                    &format!("user{i}@example.com"),
                    &serde_json::Map::new(),
                    [],
                );
                entry.hold((Some(accounts[a]), viewer), &mut sets);
                entry.hold((Some(accounts[a]), editor), &mut sets);
                if i == 0 {
                    first = Some(id);
                }
                (id, Some(entry))
            })
            .collect();
        snapshot.users = snapshot.users.with(batch);
    }
    let compiled = (0..policies).map(|i| {
        let id = PolicyId::new();
        // Spread: policy i sits in account i % ACCOUNTS and action (i / ACCOUNTS) % ACTIONS,
        // so no (account, action) cell holds two until every cell holds one.
        let action = format!("res{}:act", (i / ACCOUNTS) % ACTIONS);
        let text = if i % 10 == 9 {
            format!(
                r#"forbid(principal, action == Action::"{action}", resource) when {{ resource has locked && resource.locked }};"#
            )
        } else {
            format!(
                r#"permit(principal, action == Action::"{action}", resource) when {{ resource.owner_id == principal.id }};"#
            )
        };
        let policy = CompiledPolicy::new(
            id,
            Some(accounts[i % ACCOUNTS]),
            true,
            compile(&id, &text).expect("policy compiles"),
        );
        Arc::new(if native {
            policy
        } else {
            policy.interpreted_only()
        })
    });
    snapshot.policies = Arc::new(PolicyIndex::build(compiled));
    World {
        snapshot,
        user: first.unwrap_or_else(UserId::new),
        account: accounts[0],
    }
}
