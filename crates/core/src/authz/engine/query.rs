//! What a decision is asked: an action on a resource (with its attributes and parents) in a
//! context, and the refusal of a question the engine cannot evaluate at all.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use crate::model::EntityRef;

/// The resource a decision is about.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Resource {
    /// Cedar entity type, such as `document`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The resource's id.
    pub id: String,
    /// Attributes policies may read (`resource.owner_id`).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub attributes: Map<String, Value>,
    /// Parent entities (`resource in Folder::"f1"`).
    #[serde(default)]
    pub parents: Vec<EntityRef>,
}

/// What is asked: an action on a resource, in a context.
#[derive(Debug, Clone)]
pub struct Query<'a> {
    /// A concrete permission, `resource:action`.
    pub action: &'a str,
    /// The resource.
    pub resource: &'a Resource,
    /// The caller's context.
    pub context: &'a Map<String, Value>,
    /// The requester's address, added to the context as `ip` when the caller gave none it may
    /// set.
    pub ip: Option<IpAddr>,
    /// Seconds since the epoch, added to the context as `time`.
    pub time: i64,
    /// Attributes the asker gives the principal (AuthZEN `subject.properties`). Warden's own
    /// (`id`, `email`, `account`, `roles`) and the user's stored attributes win over these.
    pub principal_attributes: Option<&'a Map<String, Value>>,
}

/// A request the engine cannot evaluate at all (as opposed to one it denies).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BadQuery {
    /// The offending field (`resource.type`, `context.x`).
    pub field: String,
    /// What to fix.
    pub message: String,
}

impl BadQuery {
    pub(super) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}
