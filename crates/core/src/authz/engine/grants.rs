//! Permission sets compiled for constant-time checks of concrete permissions: the effective
//! permissions of a role after inheritance, with `*` wildcards split by the segment they
//! cover.

use std::collections::HashSet;

use crate::authz::permission::PermissionSet;

/// A compiled permission set: `allows` costs at most three hash lookups, however many
/// patterns the set holds.
#[derive(Debug, Default, Clone)]
pub struct Grants {
    /// `*` or `*:*`: everything.
    all: bool,
    /// `resource:action` patterns without wildcards.
    exact: HashSet<Box<str>>,
    /// Resources of `resource:*` patterns.
    resources: HashSet<Box<str>>,
    /// Actions of `*:action` patterns.
    actions: HashSet<Box<str>>,
}

impl Grants {
    /// Compiles `set`.
    pub fn compile(set: &PermissionSet) -> Self {
        let mut grants = Self::default();
        for pattern in set.iter() {
            match pattern.as_str().split_once(':') {
                None if pattern.as_str() == "*" => grants.all = true,
                Some(("*", "*")) => grants.all = true,
                // A free action name (`read`, `GET`) grants itself.
                None => {
                    grants.exact.insert(pattern.as_str().into());
                }
                Some((resource, "*")) => {
                    grants.resources.insert(resource.into());
                }
                Some(("*", action)) => {
                    grants.actions.insert(action.into());
                }
                Some(_) => {
                    grants.exact.insert(pattern.as_str().into());
                }
            }
        }
        grants
    }

    /// Whether the set grants the concrete permission `wanted` (`resource:action`).
    pub fn allows(&self, wanted: &str) -> bool {
        if self.all || self.exact.contains(wanted) {
            return true;
        }
        match wanted.split_once(':') {
            Some((resource, action)) => {
                self.resources.contains(resource) || self.actions.contains(action)
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::permission::Permission;

    fn grants(patterns: &[&str]) -> Grants {
        let set: PermissionSet = patterns
            .iter()
            .map(|p| Permission::parse(p).unwrap())
            .collect();
        Grants::compile(&set)
    }

    #[test]
    fn wildcards_cover_exactly_their_segment() {
        let g = grants(&["documents:*", "*:read", "billing:pay"]);
        assert!(g.allows("documents:edit"));
        assert!(g.allows("reports:read"));
        assert!(g.allows("billing:pay"));
        assert!(!g.allows("billing:refund"));
        assert!(!g.allows("documentsx:edit"));
        assert!(!g.allows("reports:write"));
        assert!(grants(&["*"]).allows("anything:at-all"));
        assert!(grants(&["*:*"]).allows("a:b"));
        assert!(!grants(&[]).allows("a:b"));
        let named = grants(&["read", "GET"]);
        assert!(named.allows("read") && named.allows("GET"));
        assert!(!named.allows("write") && !named.allows("get") && !named.allows("x:read"));
        assert!(grants(&["*"]).allows("can_read_user"));
        assert!(!grants(&["*:read"]).allows("read"));
    }
}
