//! Warden's API over real HTTP, every scenario against SQLite and PostgreSQL.

mod helpers;

mod accounts;
mod bearer;
mod escalation;
mod login;
mod me;
mod roles;
mod system;
mod users;
