//! OpenAPI schemas for the domain's newtypes (with the `openapi` feature): ids, identifiers,
//! permissions and timestamps are plain strings on the wire.

use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::RefOr;

fn string(format: Option<KnownFormat>, description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(format.map(SchemaFormat::KnownFormat))
        .description(Some(description))
        .into()
}

macro_rules! string_schema {
    ($ty:ty, $format:expr, $description:literal) => {
        impl utoipa::PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                string($format, $description)
            }
        }
        impl utoipa::ToSchema for $ty {}
    };
}

string_schema!(
    crate::ids::UserId,
    Some(KnownFormat::Uuid),
    "A user id (UUIDv7)"
);
string_schema!(
    crate::ids::AccountId,
    Some(KnownFormat::Uuid),
    "An account id (UUIDv7)"
);
string_schema!(
    crate::ids::PolicyId,
    Some(KnownFormat::Uuid),
    "A policy id (UUIDv7)"
);
string_schema!(
    crate::ids::RoleId,
    Some(KnownFormat::Uuid),
    "A role id (UUIDv7)"
);
string_schema!(
    crate::ids::ApiKeyId,
    Some(KnownFormat::Uuid),
    "An API key's id (UUIDv7)"
);
string_schema!(
    crate::ids::ClientKey,
    Some(KnownFormat::Uuid),
    "A service client's internal id (UUIDv7)"
);
string_schema!(
    crate::ids::SessionId,
    Some(KnownFormat::Uuid),
    "A session id (UUIDv7)"
);
string_schema!(
    crate::identity::Email,
    Some(KnownFormat::Email),
    "An email address, canonical form"
);
string_schema!(
    crate::identity::Username,
    None,
    "A username, canonical form"
);
string_schema!(crate::identity::AccountName, None, "An account slug");
string_schema!(crate::identity::RoleName, None, "A role name");
string_schema!(
    crate::authz::permission::Permission,
    None,
    "A permission: `resource:action`, `*` wildcards"
);
string_schema!(
    crate::time::Timestamp,
    Some(KnownFormat::DateTime),
    "An RFC 3339 date-time (UTC)"
);
string_schema!(crate::model::Status, None, "`active` or `disabled`");
