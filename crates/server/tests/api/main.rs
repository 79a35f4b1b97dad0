//! Warden's API over real HTTP, every scenario against SQLite and PostgreSQL.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on the first surprise"
)]

mod helpers;

mod accounts;
mod admin_policies;
mod allowlists;
mod api_keys;
mod attacks;
mod audit;
mod authzen;
mod authzen_conformance;
mod bearer;
mod check_inputs;
mod client_principals;
mod clients;
mod decisions;
mod disabling;
mod escalation;
mod forward_auth;
mod guessing;
mod hygiene;
mod introspection;
mod keys;
mod loading;
mod login;
mod me;
mod memory;
mod nginx;
mod policies;
mod propagation;
mod races;
mod refresh;
mod resources;
mod roles;
mod signin;
mod system;
mod throttle;
mod users;
