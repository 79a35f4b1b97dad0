//! The OAuth2 token endpoint's grants (password, authorization code, refresh token, client
//! credentials), browser sign-in (authorization requests and browser sessions), token
//! introspection (RFC 7662) and revocation (RFC 7009), and the revocation feed for verifiers.

pub mod authorize;
pub mod browser;
mod client;
pub mod code;
pub mod consent;
pub mod introspect;
mod issue;
mod password;
pub mod refresh;
pub mod revocations;

pub use client::client_credentials_grant;
pub use issue::{issue, GrantError, IssuedToken, ADDRESS_REFUSED};
pub(crate) use issue::{narrow, new_refresh_token};
pub use password::{password_grant, PasswordGrant, BAD_CREDENTIALS};
