//! Timestamps: milliseconds since the Unix epoch in storage, RFC 3339 on the wire.

use serde::{Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A point in time, in milliseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        Self((OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64)
    }

    /// From milliseconds since the epoch, as stored.
    pub fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the epoch, for storage.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch, for JWT claims.
    pub fn seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// This time plus `seconds`.
    pub fn plus_seconds(self, seconds: i64) -> Self {
        Self(self.0.saturating_add(seconds.saturating_mul(1000)))
    }

    /// Parses an RFC 3339 date-time.
    pub fn parse_rfc3339(text: &str) -> Result<Self, String> {
        OffsetDateTime::parse(text, &Rfc3339)
            .map(|t| Self((t.unix_timestamp_nanos() / 1_000_000) as i64))
            .map_err(|_| format!("`{text}` is not an RFC 3339 date-time"))
    }

    /// Formats as RFC 3339 (UTC).
    pub fn to_rfc3339(self) -> String {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_default()
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}
