//! Database errors become domain errors here, at the storage boundary, through one helper.

use thiserror::Error;
use warden_core::StoreError;

/// Why the store could not be opened or migrated.
#[derive(Debug, Error)]
pub enum ConnectError {
    /// The URL names no supported backend.
    #[error("unsupported database URL: use sqlite://<file> or postgres://<user>@<host>/<db>")]
    Url,
    /// The database did not answer.
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    /// A migration failed.
    #[error("migration {version} ({name}) failed: {cause}")]
    Migration {
        /// Version.
        version: i64,
        /// Name.
        name: &'static str,
        /// What the database said.
        cause: String,
    },
}

/// Which field a uniqueness constraint protects, by constraint name (PostgreSQL) or by the
/// columns SQLite names in its message.
fn conflicting_field(constraint: &str) -> &'static str {
    const FIELDS: &[(&str, &str)] = &[
        ("users_email_key", "email"),
        ("users.email", "email"),
        ("users_username_key", "username"),
        ("users.username", "username"),
        ("users_by_external_id", "external_id"),
        ("users.external_id", "external_id"),
        ("accounts_name_key", "name"),
        ("accounts.name", "name"),
        ("roles_scope_name_key", "name"),
        ("roles.scope, roles.name", "name"),
        ("memberships", "user_id"),
        ("role_assignments", "role_id"),
        ("warden_meta", "key"),
        ("audit_events", "seq"),
    ];
    FIELDS
        .iter()
        .find(|(needle, _)| constraint.contains(needle))
        .map_or("value", |(_, field)| field)
}

/// Maps a sqlx error to a [`StoreError`].
pub(crate) fn on_error(err: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &err {
        if db.is_unique_violation() {
            let name = db
                .constraint()
                .map_or_else(|| db.message().to_owned(), str::to_owned);
            return StoreError::Conflict(conflicting_field(&name).to_owned());
        }
        if db.is_foreign_key_violation() {
            return StoreError::MissingReference;
        }
    }
    StoreError::Backend(err.to_string())
}
