//! The claims of a Warden access token (RFC 9068 plus `sid`, `acct`, `roles`).

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
    /// Granted scope, when the client asked to narrow the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}
