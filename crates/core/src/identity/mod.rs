//! Who people are: identifiers canonicalized and validated (emails, usernames, names), password
//! hashing, and the one gate every password check passes through (throttling and locks).

pub mod attempts;
pub mod password;
mod text;

pub use text::*;
