//! Access tokens: signing keys and the JWKS, RFC 9068 `at+jwt` claims, signing and strict
//! verification.

mod cache;
mod claims;
mod ecdsa;
mod keys;
mod verify;

pub use cache::VerifiedCache;
pub use claims::AccessClaims;
pub use keys::{generate as keys_generate, KeyRecord, KeySet, SigningAlgorithm, SigningKey};
pub use verify::{IdTokenHint, TokenError, TokenVerifier, LEEWAY_SECONDS, MAX_TOKEN_BYTES};
