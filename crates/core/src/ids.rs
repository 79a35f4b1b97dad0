//! Identifiers: UUIDv7 newtypes that parse, never raw strings.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered identifier.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Parses the canonical hyphenated form.
            pub fn parse(text: &str) -> Result<Self, String> {
                if text.len() != 36 {
                    return Err(format!("`{}` is not a valid {} id", crate::error::clip(text), $what));
                }
                Uuid::try_parse(text)
                    .map(Self)
                    .map_err(|_| format!("`{}` is not a valid {} id", crate::error::clip(text), $what))
            }

            /// A well-spread number for sharding maps keyed by this id: the random tail of
            /// the UUID (not its time-ordered head), whose first byte's variant bits are
            /// the top ones here, so any modulus spreads it.
            pub fn shard(&self) -> usize {
                let bytes = self.0.as_bytes();
                let mut tail = [0; 8];
                tail.copy_from_slice(&bytes[8..16]);
                // Truncation on 32-bit targets keeps the low, random bits.
                #[expect(clippy::cast_possible_truncation, reason = "see above")]
                let spread = u64::from_be_bytes(tail) as usize;
                spread
            }

            /// The canonical hyphenated form, as stored.
            pub fn as_string(&self) -> String {
                self.0.hyphenated().to_string()
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(&self.0.hyphenated())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// A user's id.
    UserId, "user"
);
id_type!(
    /// An account's (tenant's) id.
    AccountId, "account"
);
id_type!(
    /// A role's id.
    RoleId, "role"
);
id_type!(
    /// A login session's id (the `sid` claim).
    SessionId, "session"
);
id_type!(
    /// A service client's internal id (its public identifier is `client_id`).
    ClientKey, "client"
);
id_type!(
    /// An API key's id (not the key itself).
    ApiKeyId, "API key"
);
id_type!(
    /// An authorization policy's id.
    PolicyId, "policy"
);
