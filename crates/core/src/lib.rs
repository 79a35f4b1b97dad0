//! Warden's domain: validated identifiers, users, accounts, roles and permissions, password
//! hashing, signed tokens and their keys, the store traits the storage adapters implement, and
//! the use cases (login, bootstrap, administration) that the server and the CLI both call.
//!
//! Nothing here knows about HTTP or SQL.

pub mod admin;
pub mod audit;
pub mod authn;
pub mod authz;
pub mod bootstrap;
pub mod crypto;
pub mod error;
pub mod identity;
pub mod ids;
pub mod json;
pub mod model;
pub mod net;
pub mod oauth;
#[cfg(feature = "openapi")]
mod openapi;
pub mod page;
pub mod services;
pub mod store;
mod sync;
pub mod time;
pub mod tokens;

pub use error::{DomainError, FieldError, StoreError};
