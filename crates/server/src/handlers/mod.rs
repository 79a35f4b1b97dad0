//! Request handlers, by resource.

pub mod accounts;
pub mod api_keys;
pub mod audit;
pub mod check;
pub mod clients;
pub mod factors;
pub mod keys;
pub mod me;
pub mod oauth;
pub mod policies;
pub mod resources;
pub mod revocations;
pub mod roles;
pub mod system;
pub mod users;
