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
/// Whether `err` says the database cannot be reached now rather than that the request is
/// wrong: lost or refused connections, an exhausted pool, a server shutting down or starting
/// up (PostgreSQL classes 08 and 57), SQLite still locked after its busy timeout.
fn unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        // PostgreSQL: connection exceptions (08…), too many connections (53300), operator
        // intervention (57…: shutting down, starting up, and statement timeouts). SQLite:
        // SQLITE_BUSY and its extended codes (the primary code is the low byte).
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08")
                || code.starts_with("57")
                || code == "53300"
                || code.parse::<i64>().is_ok_and(|n| n & 0xff == 5)
        }),
        sqlx::Error::Protocol(message) => message.contains("closed") || message.contains("reset"),
        _ => false,
    }
}

pub(crate) fn on_error(err: sqlx::Error) -> StoreError {
    if unavailable(&err) {
        return StoreError::Unavailable(err.to_string());
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_out_of_reach_is_unavailable_not_a_failure() {
        for err in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        ] {
            assert!(
                matches!(on_error(err), StoreError::Unavailable(_)),
                "unavailable"
            );
        }
        assert!(matches!(
            on_error(sqlx::Error::RowNotFound),
            StoreError::Backend(_)
        ));
        assert!(matches!(
            warden_core::DomainError::from(StoreError::Unavailable("down".into())),
            warden_core::DomainError::Unavailable(_)
        ));
    }
}
