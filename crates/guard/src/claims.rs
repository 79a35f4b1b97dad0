//! What a verified token says: its [`Claims`], and the [`Principal`] a handler receives, which
//! only verification makes.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize};

use crate::permission::permission_grants;

/// The claims of a verified Warden access token (RFC 9068 plus Warden's `sid`, `acct`,
/// `roles`, `narrowed` and `permissions`). Claims this version does not know are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Claims {
    /// Issuer: Warden's issuer URL.
    pub iss: String,
    /// Subject: a user id, or `client:<client_id>` for a service client.
    pub sub: String,
    /// Audiences (Warden issues one; a JWT may carry several).
    #[serde(deserialize_with = "one_or_many")]
    pub aud: Vec<String>,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Not before, seconds since the epoch.
    pub nbf: i64,
    /// The token's unique id.
    pub jti: String,
    /// The OAuth client the token was issued to.
    pub client_id: String,
    /// The login session; ended sessions appear in the revocation feed.
    pub sid: String,
    /// The account (tenant) the token acts in; `None` for a global token.
    #[serde(default)]
    pub acct: Option<String>,
    /// Names of the roles effective in that account (inherited and global ones included).
    /// Role names are per account: compare them only for tokens of the account you expect.
    #[serde(default)]
    pub roles: Vec<String>,
    /// The same role names, space-separated (RFC 9068 §2.2.3).
    #[serde(default)]
    pub scope: Option<String>,
    /// Whether the client narrowed the token to some of the user's roles.
    #[serde(default)]
    pub narrowed: bool,
    /// The effective permissions of `roles`, when Warden is configured to include them
    /// (`WARDEN_TOKEN_PERMISSIONS=true`).
    #[serde(default)]
    pub permissions: Option<Vec<String>>,
}

fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

/// The caller of a request, from a verified access token: what the [`crate::Guard`] checked and
/// what handlers act on. Only verification makes one, so holding a `Principal` is proof the
/// token passed every check. It dereferences to its [`Claims`].
#[derive(Clone)]
pub struct Principal {
    claims: Arc<Claims>,
    token: Arc<str>,
    /// The id of the guard that verified it: a layer of another guard (another issuer,
    /// audience or account) verifies again rather than trust it.
    verifier: u64,
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("sub", &self.claims.sub)
            .field("acct", &self.claims.acct)
            .field("roles", &self.claims.roles)
            .field("sid", &self.claims.sid)
            .field("token", &"[redacted]")
            .finish()
    }
}

impl Deref for Principal {
    type Target = Claims;

    fn deref(&self) -> &Claims {
        &self.claims
    }
}

impl Principal {
    pub(crate) fn new(claims: Claims, token: &str, verifier: u64) -> Self {
        Self {
            claims: Arc::new(claims),
            token: token.into(),
            verifier,
        }
    }

    /// The id of the guard that verified it.
    pub(crate) fn verifier(&self) -> u64 {
        self.verifier
    }

    /// Every claim of the token.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// The bearer token itself, to forward to services that verify it themselves.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The `sub` claim: a user id, or `client:<client_id>`.
    pub fn subject(&self) -> &str {
        &self.claims.sub
    }

    /// The user id, when a user (not a service client) is calling.
    pub fn user_id(&self) -> Option<&str> {
        (!self.claims.sub.starts_with("client:")).then_some(self.claims.sub.as_str())
    }

    /// The service client's id, when a service client is calling on its own behalf.
    pub fn service_client(&self) -> Option<&str> {
        self.claims.sub.strip_prefix("client:")
    }

    /// The account (tenant) the token acts in (`acct`); `None` for a global token.
    pub fn account(&self) -> Option<&str> {
        self.claims.acct.as_deref()
    }

    /// The role names the token carries.
    pub fn roles(&self) -> &[String] {
        &self.claims.roles
    }

    /// The `scope` claim split into its names.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.claims
            .scope
            .as_deref()
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
    }

    /// The `permissions` claim, when the token carries one.
    pub fn permissions(&self) -> Option<&[String]> {
        self.claims.permissions.as_deref()
    }

    /// The login session (`sid`).
    pub fn session(&self) -> &str {
        &self.claims.sid
    }

    /// The OAuth client the token was issued to (`client_id`).
    pub fn client_id(&self) -> &str {
        &self.claims.client_id
    }

    /// Whether the token carries the role `name`.
    pub fn has_role(&self, name: &str) -> bool {
        self.claims.roles.iter().any(|role| role == name)
    }

    /// Whether the token's `permissions` claim grants `permission` (with Warden's `*`
    /// wildcards); `None` when the token carries no `permissions` claim, so the answer is not
    /// known locally (ask Warden through [`crate::Guard::allowed`]).
    pub fn has_permission(&self, permission: &str) -> Option<bool> {
        self.claims.permissions.as_ref().map(|patterns| {
            patterns
                .iter()
                .any(|pattern| permission_grants(pattern, permission))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn principal(extra: serde_json::Value) -> Principal {
        let mut claims = json!({"iss": "http://w", "sub": "u1", "aud": "warden", "exp": 2,
            "iat": 1, "nbf": 1, "jti": "j", "client_id": "c", "sid": "s",
            "roles": ["editor", "viewer"], "scope": "editor viewer"});
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        Principal::new(serde_json::from_value(claims).unwrap(), "t", 0)
    }

    #[test]
    fn a_principal_reads_its_claims() {
        let p = principal(json!({"aud": ["a", "warden"], "acct": "acme", "surprise": 1}));
        assert_eq!(p.aud, vec!["a", "warden"]);
        assert_eq!(p.account(), Some("acme"));
        assert_eq!(p.user_id(), Some("u1"));
        assert_eq!(p.service_client(), None);
        assert!(p.has_role("editor") && !p.has_role("admin"));
        assert_eq!(p.scopes().collect::<Vec<_>>(), vec!["editor", "viewer"]);
        assert_eq!(p.has_permission("documents:edit"), None);
        assert!(!format!("{p:?}").contains("\"t\""));

        let client = principal(json!({"sub": "client:wc_1", "permissions": ["documents:*"]}));
        assert_eq!(client.service_client(), Some("wc_1"));
        assert_eq!(client.user_id(), None);
        assert_eq!(client.has_permission("documents:edit"), Some(true));
        assert_eq!(client.has_permission("users:read"), Some(false));
    }
}
