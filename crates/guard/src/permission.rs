//! Warden's permission patterns, matched locally: `resource:action`, where `*` stands for a
//! whole segment (`documents:*`, `*:read`) and `*` alone (or `*:*`) for everything. The same
//! rules Warden's engine applies, so a `permissions` claim answers as `/v1/check` would for
//! role grants (policies aside).

/// Whether the permission pattern `pattern` (as found in a token's `permissions` claim)
/// grants the concrete permission `wanted` (`documents:edit`).
///
/// ```
/// use warden_guard::permission_grants;
/// assert!(permission_grants("documents:*", "documents:edit"));
/// assert!(permission_grants("*:read", "reports:read"));
/// assert!(permission_grants("*", "billing:refund"));
/// assert!(!permission_grants("documents:*", "documentsx:edit"));
/// assert!(!permission_grants("documents:edit", "documents:delete"));
/// ```
pub fn permission_grants(pattern: &str, wanted: &str) -> bool {
    if pattern == "*" || pattern == "*:*" || pattern == wanted {
        return true;
    }
    match (pattern.split_once(':'), wanted.split_once(':')) {
        (Some((have_resource, have_action)), Some((resource, action))) => {
            (have_resource == "*" || have_resource == resource)
                && (have_action == "*" || have_action == action)
        }
        _ => false,
    }
}

/// Whether `text` is a well-formed concrete permission or a free action name: segments of
/// `a-z`, `0-9`, `_`, `.`, `-`, at most one `:`. Used to warn about requirements that can never
/// be granted by anything but `*`.
pub(crate) fn well_formed(text: &str) -> bool {
    let segment = |s: &str| {
        !s.is_empty()
            && s.len() <= 128
            && s.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
            })
    };
    match text.split_once(':') {
        Some((resource, action)) => segment(resource) && segment(action),
        None => segment(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_grant_whole_segments_only() {
        assert!(permission_grants("*", "documents:edit"));
        assert!(permission_grants("*:*", "documents:edit"));
        assert!(permission_grants("documents:*", "documents:edit"));
        assert!(permission_grants("*:read", "documents:read"));
        assert!(permission_grants("documents:edit", "documents:edit"));
        assert!(!permission_grants("documents:*", "documentsx:edit"));
        assert!(!permission_grants("documents:edit", "documents:*"));
        assert!(!permission_grants("*:read", "documents:edit"));
        assert!(!permission_grants("docs*:edit", "docs1:edit"));
        assert!(!permission_grants("", "documents:edit"));
    }

    #[test]
    fn free_action_names_are_granted_by_everything_or_themselves() {
        assert!(permission_grants("*", "can_read_user"));
        assert!(permission_grants("*:*", "GET"));
        assert!(permission_grants("can_read_user", "can_read_user"));
        assert!(!permission_grants("documents:*", "can_read_user"));
        assert!(!permission_grants("*:read", "read"));
    }

    #[test]
    fn well_formed_permissions_are_recognized() {
        assert!(well_formed("documents:edit"));
        assert!(well_formed("warden.users:read"));
        assert!(well_formed("read"));
        assert!(!well_formed("Documents:Edit"));
        assert!(!well_formed("a:b:c"));
        assert!(!well_formed("documents:"));
    }
}
