//! Verify Warden access tokens and authorize requests in axum and tower services.
//!
//! A [`Guard`] is built from Warden's issuer URL. It finds the JWKS through the RFC 8414
//! metadata, caches the keys (within the JWKS `max-age`, refreshing once for an unknown `kid`,
//! one fetch at a time, at most one per cooldown, keeping the last good set when a refresh
//! fails) and verifies tokens as strictly as Warden does. On top of it:
//!
//! - the [`Principal`] extractor (and `Option<Principal>`) hands handlers the verified caller;
//! - route layers require a valid token ([`Guard::authenticated`]), roles
//!   ([`Guard::require_role`] …), a permission from the token's `permissions` claim
//!   ([`Guard::require_permission`]), or a decision of Warden's whole engine through
//!   `POST /v1/check` ([`Guard::require_check`]), cached for a few seconds;
//! - optionally, a background task follows the revocation feed so tokens of ended sessions
//!   are refused offline ([`GuardBuilder::follow_revocations`]);
//! - refusals answer per RFC 6750 (`WWW-Authenticate: Bearer realm="warden",
//!   error="invalid_token"` with 401, `error="insufficient_scope"` with 403) with a small
//!   problem+json body.
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use warden_guard::{Guard, Principal};
//!
//! async fn me(principal: Principal) -> String {
//!     format!("hello {}", principal.subject())
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let guard = Guard::builder("http://127.0.0.1:8080").build()?;
//! let app: Router = Router::new()
//!     .route("/admin", get(|| async { "admin only" }).route_layer(guard.require_role("admin")))
//!     .route("/me", get(me))
//!     .layer(guard.layer());
//! # let _ = app; Ok(()) }
//! ```

mod builder;
mod check;
mod claims;
mod error;
mod extract;
mod guard;
mod http;
mod json;
mod jwks;
mod keys;
mod layer;
mod permission;
mod revocations;
mod token;

pub use builder::{GuardBuilder, DEFAULT_AUDIENCE};
pub use check::{Check, Resource};
pub use claims::{Claims, Principal};
pub use error::{BuildError, GuardError, Rejection, TokenError, DEFAULT_REALM};
pub use guard::{Guard, Stats};
pub use layer::{GuardLayer, GuardService, RequestInfo};
pub use permission::permission_grants;
pub use token::MAX_TOKEN_BYTES;
