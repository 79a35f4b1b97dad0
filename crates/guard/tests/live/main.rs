//! warden-guard against a live Warden: an in-process `warden serve` on port 0 over a fresh
//! SQLite store per test, reached over real HTTP.
#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on the first surprise"
)]

mod support;

mod forged;
mod keys;
mod layers;
mod revocations;
mod verify;
