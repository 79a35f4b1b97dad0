//! The roles an actor acts through, as the snapshot it was resolved against names them.

use super::Access;

impl Access {
    /// The names of the roles the actor acts through, inheritance included, sorted, from
    /// the snapshot it was resolved against (a narrowed token: only those it kept). Empty for
    /// the system.
    pub fn role_names(&self) -> Vec<String> {
        let (snapshot, principal) = match self {
            Self::System => return Vec::new(),
            Self::Caller(c) => (c.snapshot.as_ref(), c.principal()),
            Self::Client(c) => (c.snapshot.as_ref(), c.principal()),
        };
        let Some(snapshot) = snapshot else {
            return Vec::new();
        };
        snapshot
            .resolve(&principal)
            .map(|resolved| {
                resolved
                    .role_names(&snapshot.roles)
                    .iter()
                    .map(ToString::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether the actor acts through the global role `name` (inheritance included, a narrowed
    /// token only through what it kept). An account's own role of the same name does not
    /// count: a tenant admin can create roles in their account, not grant an operator's role.
    pub fn acts_through_global_role(&self, name: &str) -> bool {
        let (snapshot, principal) = match self {
            Self::System => return false,
            Self::Caller(c) => (c.snapshot.as_ref(), c.principal()),
            Self::Client(c) => (c.snapshot.as_ref(), c.principal()),
        };
        snapshot.is_some_and(|snapshot| {
            snapshot
                .resolve(&principal)
                .is_ok_and(|resolved| resolved.acts_through_global(&snapshot.roles, name))
        })
    }
}
