//! Permissions: `resource:action` strings whose segments are `[a-z0-9_.-]+`, with `*` as a
//! whole-segment wildcard (`documents:*`, `*`); free action names as other systems write them
//! (`read`, `GET`, `can_read_user`: `[A-Za-z0-9_.-]+`, case kept, no `:`), which only `*` or the
//! name itself grants; and sets of them that answer "does this grant that?".

use std::collections::BTreeSet;
use std::fmt;

use serde::{Serialize, Serializer};

/// A validated permission or permission pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Permission(String);

/// Longest segment (and free action name), in bytes.
const MAX_SEGMENT: usize = 128;

fn valid_segment(segment: &str) -> bool {
    segment == "*"
        || (!segment.is_empty()
            && segment.len() <= MAX_SEGMENT
            && segment.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
            }))
}

/// A free action name: what AuthZEN callers and gateways send (`read`, `GET`, `can_read_user`).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_SEGMENT
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

impl Permission {
    /// Parses `resource:action`, `resource:*`, `*`, or a free action name.
    pub fn parse(text: &str) -> Result<Self, String> {
        let valid = text == "*"
            || match text.split_once(':') {
                Some((resource, action)) => valid_segment(resource) && valid_segment(action),
                None => valid_name(text),
            };
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(format!(
                "`{}` is not a permission: use `resource:action` with segments of a-z, 0-9, `_`, `.`, `-`, or `*`, or an action name of letters, digits, `_`, `.`, `-`",
                crate::identity::clip(text)
            ))
        }
    }

    /// Whether this is a free action name (no `resource:` part, not `*`).
    pub fn is_name(&self) -> bool {
        self.0 != "*" && !self.0.contains(':')
    }

    /// The concrete permission `resource:action` that an action name asked about a resource of
    /// type `kind` also counts as: `read` on a `record` is granted by `record:read` (and so by
    /// `record:*` and `*:read`) as well as by `read`. `None` for a structured permission, or
    /// when the pair does not spell one (`Document`, `GET`).
    pub fn on_kind(action: &str, kind: &str) -> Option<String> {
        if action.contains(':') || !valid_segment(kind) || !valid_segment(action) {
            return None;
        }
        if kind == "*" || action == "*" {
            return None;
        }
        Some(format!("{kind}:{action}"))
    }

    /// The permission text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this pattern grants `wanted` (a concrete permission or another pattern).
    pub fn grants(&self, wanted: &Permission) -> bool {
        if self.0 == "*" {
            return true;
        }
        if wanted.0 == "*" {
            return false;
        }
        match (self.0.split_once(':'), wanted.0.split_once(':')) {
            (Some((have_res, have_act)), Some((want_res, want_act))) => {
                let segment = |have: &str, want: &str| have == "*" || have == want;
                segment(have_res, want_res) && segment(have_act, want_act)
            }
            // A free action name grants itself only.
            (None, None) => self.0 == wanted.0,
            _ => false,
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Permission {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// A set of permission patterns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionSet(BTreeSet<Permission>);

impl PermissionSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds every pattern of `other`.
    pub fn extend<'a>(&mut self, other: impl IntoIterator<Item = &'a Permission>) {
        self.0.extend(other.into_iter().cloned());
    }

    /// Whether some pattern in the set grants `wanted`.
    pub fn allows(&self, wanted: &Permission) -> bool {
        self.0.iter().any(|have| have.grants(wanted))
    }

    /// Whether every pattern of `other` is granted by this set (no escalation).
    pub fn covers(&self, other: &PermissionSet) -> bool {
        other.0.iter().all(|wanted| self.allows(wanted))
    }

    /// The patterns of `other` this set does not grant.
    pub fn missing<'a>(&self, other: &'a PermissionSet) -> Vec<&'a Permission> {
        other
            .0
            .iter()
            .filter(|wanted| !self.allows(wanted))
            .collect()
    }

    /// The patterns, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &Permission> {
        self.0.iter()
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Permission {
        Permission::parse(text).unwrap()
    }

    #[test]
    fn parses_only_well_formed_permissions() {
        for good in [
            "documents:edit",
            "documents:*",
            "*",
            "warden.users:read",
            "a-b_c.d:x",
            "read",
            "GET",
            "can_read_user",
        ] {
            assert!(Permission::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Documents:edit",
            "rea d",
            "read*",
            "GET\n",
            "a:b:c",
            ":edit",
            "docs:",
            "docs: edit",
            "d*:x",
            "'; drop table x; --",
        ] {
            assert!(Permission::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn wildcards_grant_whole_segments_only() {
        assert!(p("*").grants(&p("documents:edit")));
        assert!(p("documents:*").grants(&p("documents:edit")));
        assert!(p("documents:*").grants(&p("documents:*")));
        assert!(p("*:read").grants(&p("documents:read")));
        assert!(!p("documents:*").grants(&p("documentsx:edit")));
        assert!(!p("documents:edit").grants(&p("documents:*")));
        assert!(!p("documents:*").grants(&p("*")));
    }

    #[test]
    fn action_names_grant_themselves_and_count_as_their_typed_permission() {
        assert!(p("read").grants(&p("read")));
        assert!(!p("read").grants(&p("READ")));
        assert!(!p("read").grants(&p("record:read")));
        assert!(!p("record:read").grants(&p("read")));
        assert!(!p("record:*").grants(&p("read")));
        assert!(p("*").grants(&p("GET")));
        assert_eq!(
            Permission::on_kind("read", "record").as_deref(),
            Some("record:read")
        );
        assert_eq!(Permission::on_kind("GET", "record"), None);
        assert_eq!(Permission::on_kind("read", "Record"), None);
        assert_eq!(Permission::on_kind("records:read", "record"), None);
    }

    #[test]
    fn sets_cover_only_what_they_grant() {
        let mine: PermissionSet = [p("documents:*")].into_iter().collect();
        let theirs: PermissionSet = [p("documents:edit"), p("users:read")].into_iter().collect();
        assert!(!mine.covers(&theirs));
        assert_eq!(mine.missing(&theirs), vec![&p("users:read")]);
    }
}

/// The permissions that protect Warden's own API (`warden.<resource>:<action>`).
pub mod builtin {
    /// Read users.
    pub const USERS_READ: &str = "warden.users:read";
    /// Create users.
    pub const USERS_CREATE: &str = "warden.users:create";
    /// Change users (profile, status, password).
    pub const USERS_UPDATE: &str = "warden.users:update";
    /// Delete users.
    pub const USERS_DELETE: &str = "warden.users:delete";
    /// Read accounts.
    pub const ACCOUNTS_READ: &str = "warden.accounts:read";
    /// Create accounts.
    pub const ACCOUNTS_CREATE: &str = "warden.accounts:create";
    /// Change accounts.
    pub const ACCOUNTS_UPDATE: &str = "warden.accounts:update";
    /// Delete accounts.
    pub const ACCOUNTS_DELETE: &str = "warden.accounts:delete";
    /// Log into any account without being a member of it (held globally; the super admin's
    /// `*` includes it).
    pub const ACCOUNTS_ENTER: &str = "warden.accounts:enter";
    /// Read memberships.
    pub const MEMBERS_READ: &str = "warden.members:read";
    /// Add members.
    pub const MEMBERS_CREATE: &str = "warden.members:create";
    /// Remove members.
    pub const MEMBERS_DELETE: &str = "warden.members:delete";
    /// Read roles.
    pub const ROLES_READ: &str = "warden.roles:read";
    /// Create roles.
    pub const ROLES_CREATE: &str = "warden.roles:create";
    /// Change roles.
    pub const ROLES_UPDATE: &str = "warden.roles:update";
    /// Delete roles.
    pub const ROLES_DELETE: &str = "warden.roles:delete";
    /// Read role assignments.
    pub const ASSIGNMENTS_READ: &str = "warden.assignments:read";
    /// Grant roles.
    pub const ASSIGNMENTS_CREATE: &str = "warden.assignments:create";
    /// Revoke roles.
    pub const ASSIGNMENTS_DELETE: &str = "warden.assignments:delete";
    /// See other users' sessions.
    pub const SESSIONS_READ: &str = "warden.sessions:read";
    /// End other users' sessions.
    pub const SESSIONS_DELETE: &str = "warden.sessions:delete";
    /// Read ABAC policies.
    pub const POLICIES_READ: &str = "warden.policies:read";
    /// Create ABAC policies.
    pub const POLICIES_CREATE: &str = "warden.policies:create";
    /// Change ABAC policies.
    pub const POLICIES_UPDATE: &str = "warden.policies:update";
    /// Delete ABAC policies.
    pub const POLICIES_DELETE: &str = "warden.policies:delete";
    /// List one's own API keys while authenticated by an API key (a login needs none).
    pub const API_KEYS_READ: &str = "warden.api_keys:read";
    /// Revoke one's own API keys while authenticated by an API key (a login needs none).
    pub const API_KEYS_DELETE: &str = "warden.api_keys:delete";
    /// Ask for decisions about any principal (a service acting for its users).
    pub const CHECK_ANY: &str = "warden.check:any";
    /// Read registered resources.
    pub const RESOURCES_READ: &str = "warden.resources:read";
    /// Register, replace and remove resources.
    pub const RESOURCES_WRITE: &str = "warden.resources:write";
}

impl Permission {
    /// Wraps one of the [`builtin`] constants, which are valid by construction (a unit test
    /// parses every one).
    pub fn known(text: &'static str) -> Self {
        Self(text.to_owned())
    }
}

#[cfg(test)]
mod builtin_tests {
    use super::builtin::*;
    use super::Permission;

    #[test]
    fn every_builtin_permission_parses() {
        for text in [
            USERS_READ,
            USERS_CREATE,
            USERS_UPDATE,
            USERS_DELETE,
            ACCOUNTS_READ,
            ACCOUNTS_CREATE,
            ACCOUNTS_UPDATE,
            ACCOUNTS_DELETE,
            ACCOUNTS_ENTER,
            MEMBERS_READ,
            MEMBERS_CREATE,
            MEMBERS_DELETE,
            ROLES_READ,
            ROLES_CREATE,
            ROLES_UPDATE,
            ROLES_DELETE,
            ASSIGNMENTS_READ,
            ASSIGNMENTS_CREATE,
            ASSIGNMENTS_DELETE,
            SESSIONS_READ,
            SESSIONS_DELETE,
            POLICIES_READ,
            POLICIES_CREATE,
            POLICIES_UPDATE,
            POLICIES_DELETE,
            API_KEYS_READ,
            API_KEYS_DELETE,
            CHECK_ANY,
            RESOURCES_READ,
            RESOURCES_WRITE,
        ] {
            assert!(Permission::parse(text).is_ok(), "{text}");
        }
    }
}
