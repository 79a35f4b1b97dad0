//! Who people are: identifiers canonicalized and validated (emails, usernames, names), password
//! hashing, the one gate every password check passes through (throttling and locks), and TOTP
//! second factors.

pub mod attempts;
pub mod factor;
pub mod password;
mod text;

pub use text::*;
