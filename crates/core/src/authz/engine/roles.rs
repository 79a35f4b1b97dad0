//! The role questions a token's issuance asks, answered from the snapshot: which roles a
//! principal carries (inheritance included), what a set of role names reaches, and whether a
//! user's global roles let them enter any account.

use std::collections::BTreeSet;

use crate::authz::permission::{builtin, Permission};
use crate::ids::{AccountId, RoleId, UserId};

use super::snapshot::{Principal, RoleEntry, RoleIndex, Snapshot, Subject};

impl RoleIndex {
    /// A role by name in `account`'s scope: the account's own role first, then the global one.
    pub fn by_name(&self, name: &str, account: Option<&AccountId>) -> Option<&RoleEntry> {
        let mut global = None;
        for role in self.iter().filter(|role| &*role.name == name) {
            if account.is_some() && role.account.as_ref() == account {
                return Some(role);
            }
            if role.account.is_none() {
                global = Some(role);
            }
        }
        global
    }

    /// The sorted names of `roles` and of every role they inherit.
    pub fn closure_names<'a>(&self, roles: impl IntoIterator<Item = &'a RoleId>) -> Vec<String> {
        let names: BTreeSet<String> = roles
            .into_iter()
            .filter_map(|id| self.get(id))
            .flat_map(|role| role.closure.iter())
            .filter_map(|id| self.get(id))
            .map(|role| role.name.to_string())
            .collect();
        names.into_iter().collect()
    }

    /// The sorted effective permissions of the roles named in `names` (in `account`'s scope),
    /// as a token's `permissions` claim carries them.
    pub fn permissions_of_names(
        &self,
        names: &[String],
        account: Option<&AccountId>,
    ) -> Vec<String> {
        let granted: BTreeSet<String> = names
            .iter()
            .filter_map(|name| self.by_name(name, account))
            .flat_map(|role| role.patterns.iter().map(ToString::to_string))
            .collect();
        granted.into_iter().collect()
    }

    /// The names every role named in `names` (in `account`'s scope) reaches, those included.
    pub fn names_reached(&self, names: &[&str], account: Option<&AccountId>) -> Vec<String> {
        let start: Vec<RoleId> = names
            .iter()
            .filter_map(|name| self.by_name(name, account).map(|role| role.id))
            .collect();
        self.closure_names(&start)
    }
}

impl Snapshot {
    /// The role names a token for `user` in `account` carries (global assignments and those in
    /// the account, with what they inherit), sorted; `None` when the snapshot does not know the
    /// user or the user is disabled.
    pub fn role_names_of(&self, user: &UserId, account: Option<&AccountId>) -> Option<Vec<String>> {
        let principal = Principal {
            subject: Subject::User(*user),
            account: None,
            session: None,
            scoped_to: None,
        };
        // The account's own state is the caller's to check; only the user is resolved here.
        self.resolve(&principal).ok()?;
        let entry = self.users.get(user)?;
        let direct = entry
            .assignments()
            .iter()
            .filter(|(scope, _)| scope.is_none() || scope.as_ref() == account)
            .map(|(_, role)| role);
        Some(self.roles.closure_names(direct))
    }

    /// The one account `user`'s role assignments are in, when there is exactly one: where a
    /// decision about them is made when the asker names no account.
    pub fn sole_account_of(&self, user: &UserId) -> Option<AccountId> {
        let entry = self.users.get(user)?;
        let mut accounts = entry.assignments().iter().filter_map(|(scope, _)| *scope);
        let first = accounts.next()?;
        accounts.all(|other| other == first).then_some(first)
    }

    /// Whether `user`'s global roles grant entry to every account (`warden.accounts:enter`,
    /// which the super admin's `*` includes).
    pub fn may_enter_any(&self, user: &UserId) -> bool {
        let wanted = Permission::known(builtin::ACCOUNTS_ENTER);
        self.users.get(user).is_some_and(|entry| {
            entry
                .assignments()
                .iter()
                .filter(|(scope, _)| scope.is_none())
                .filter_map(|(_, role)| self.roles.get(role))
                .any(|role| role.patterns.allows(&wanted))
        })
    }

    /// The concrete actions the roles usable in `account` (global ones included) name that
    /// apply to a resource of type `kind`: free action names as written, and `kind:x` as the
    /// name `x` (as a caller asking about a `kind` would spell it). Wildcards name nothing.
    pub fn role_actions_for(&self, account: Option<&AccountId>, kind: &str) -> Vec<String> {
        let mut names = std::collections::BTreeSet::new();
        for role in self.roles.iter() {
            if role.account.is_some() && role.account.as_ref() != account {
                continue;
            }
            for permission in role.patterns.iter() {
                let text = permission.as_str();
                if text.contains('*') {
                    continue;
                }
                match text.split_once(':') {
                    None => {
                        names.insert(text.to_owned());
                    }
                    Some((of, action)) if of == kind => {
                        names.insert(action.to_owned());
                    }
                    Some(_) => {}
                }
            }
        }
        names.into_iter().collect()
    }
}
