//! The claims of a Warden access token (RFC 9068 plus `sid`, `acct`, `roles`, and on request
//! `permissions`).

use serde::{Deserialize, Serialize};

/// Claims of an `at+jwt` access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessClaims {
    /// Issuer: Warden's configured issuer URL.
    pub iss: String,
    /// Subject: a user id, or `client:<id>` for a service client.
    pub sub: String,
    /// Audience.
    pub aud: String,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Unique token id.
    pub jti: String,
    /// The OAuth2 client the token was issued to.
    pub client_id: String,
    /// The login session.
    pub sid: String,
    /// The account (tenant) the token acts in, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acct: Option<String>,
    /// Names of the roles effective in that account (and global ones).
    pub roles: Vec<String>,
    /// RFC 9068 §2.2.3: the space-separated names of the roles the token carries (the same
    /// names as `roles`), so a resource server's scope check works on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Present (and `true`) when the client narrowed the token to some of the user's roles:
    /// it then acts through those alone, even after new roles are granted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub narrowed: bool,
    /// The effective permissions of `roles`, when the server is configured to put them in
    /// the token (`token_permissions`), so a service can authorize offline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<String>>,
}

impl AccessClaims {
    /// Whether the token acts through only the roles it names. Tokens issued before the
    /// `narrowed` claim existed carried `scope` only when narrowed, with the names asked for.
    pub fn is_narrowed(&self) -> bool {
        self.narrowed
            || self.scope.as_deref().is_some_and(|scope| {
                let mut named: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
                named.sort_unstable();
                named.dedup();
                let mut carried: Vec<&str> = self.roles.iter().map(String::as_str).collect();
                carried.sort_unstable();
                carried.dedup();
                named != carried
            })
    }
}
