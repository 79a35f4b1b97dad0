//! Role graphs: the roles visible in one scope, their inheritance closure (cycles
//! terminate), the permissions they carry, and the role names assignments make effective.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use crate::authz::permission::{Permission, PermissionSet};
use crate::ids::{AccountId, RoleId};
use crate::model::{Assignment, Role};

/// The roles visible in one scope, indexed for inheritance walks.
#[derive(Debug, Default)]
pub struct RoleGraph {
    roles: HashMap<RoleId, Arc<Role>>,
}

impl RoleGraph {
    /// Indexes `roles`.
    pub fn new(roles: Vec<Role>) -> Self {
        Self {
            roles: roles
                .into_iter()
                .map(|role| (role.id, Arc::new(role)))
                .collect(),
        }
    }

    /// The roles visible in `account`'s scope (the global ones and the account's own; only
    /// the global ones for `None`), sharing the records with this graph.
    pub fn in_scope(&self, account: Option<&AccountId>) -> Self {
        Self {
            roles: self
                .roles
                .iter()
                .filter(|(_, role)| {
                    role.account_id.is_none() || role.account_id.as_ref() == account
                })
                .map(|(id, role)| (*id, Arc::clone(role)))
                .collect(),
        }
    }

    /// Every role, in no order.
    pub fn iter(&self) -> impl Iterator<Item = &Role> {
        self.roles.values().map(|role| &**role)
    }

    /// A role by id.
    pub fn get(&self, id: &RoleId) -> Option<&Role> {
        self.roles.get(id).map(|role| &**role)
    }

    /// A role by name: the account's own role first, then the global one.
    pub fn by_name(&self, name: &str, account: Option<&AccountId>) -> Option<&Role> {
        let mut global = None;
        for role in self
            .roles
            .values()
            .map(|role| &**role)
            .filter(|role| role.name.as_str() == name)
        {
            if account.is_some() && role.account_id.as_ref() == account {
                return Some(role);
            }
            if role.account_id.is_none() {
                global = Some(role);
            }
        }
        global
    }

    /// The names of every role reachable from the roles named `names` in `account` (the
    /// account's own role first, then the global one), those included.
    pub fn names_reached(&self, names: &[&str], account: Option<&AccountId>) -> Vec<String> {
        let start: Vec<RoleId> = names
            .iter()
            .filter_map(|name| self.by_name(name, account).map(|role| role.id))
            .collect();
        self.closure(&start)
            .iter()
            .map(|role| role.name.as_str().to_owned())
            .collect()
    }

    /// Every role reachable from `start` through inheritance, `start` included.
    pub fn closure<'a>(&'a self, start: impl IntoIterator<Item = &'a RoleId>) -> Vec<&'a Role> {
        let mut seen = HashSet::new();
        let mut stack: Vec<&RoleId> = start.into_iter().collect();
        let mut out = Vec::new();
        while let Some(id) = stack.pop() {
            if !seen.insert(*id) {
                continue;
            }
            if let Some(role) = self.roles.get(id) {
                out.push(&**role);
                stack.extend(role.inherits.iter());
            }
        }
        out
    }

    /// The permissions granted by `roles`, through inheritance.
    pub fn permissions<'a>(&'a self, roles: impl IntoIterator<Item = &'a RoleId>) -> PermissionSet {
        let mut set = PermissionSet::new();
        for role in self.closure(roles) {
            set.extend(&role.permissions);
        }
        set
    }

    /// The permissions a role would have with `permissions` and `inherits`.
    pub fn permissions_of(&self, permissions: &[Permission], inherits: &[RoleId]) -> PermissionSet {
        let mut set = self.permissions(inherits);
        set.extend(permissions);
        set
    }

    /// Whether giving `role` the parents `inherits` would close a cycle.
    pub fn creates_cycle(&self, role: &RoleId, inherits: &[RoleId]) -> bool {
        inherits.contains(role) || self.closure(inherits).iter().any(|r| r.id == *role)
    }
}

/// The names of the roles `assignments` make effective in `account` (global ones included),
/// through inheritance, sorted.
pub fn effective_role_names(
    graph: &RoleGraph,
    assignments: &[Assignment],
    account: Option<&AccountId>,
) -> Vec<String> {
    let direct: Vec<RoleId> = assignments
        .iter()
        .filter(|a| a.account_id.is_none() || a.account_id.as_ref() == account)
        .map(|a| a.role_id)
        .collect();
    let names: BTreeSet<String> = graph
        .closure(&direct)
        .iter()
        .map(|role| role.name.as_str().to_owned())
        .collect();
    names.into_iter().collect()
}
