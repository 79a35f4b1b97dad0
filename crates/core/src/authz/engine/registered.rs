//! The rule that joins a registered resource with what a request sends about it.

use super::query::Resource;
use super::registry::{ResourceEntry, ResourceKey};
use super::snapshot::Snapshot;
use crate::ids::AccountId;

impl Snapshot {
    /// The registered resource `kind`/`id` a decision in `account` sees: the account's own,
    /// else a global one.
    pub fn registered(
        &self,
        account: Option<&AccountId>,
        kind: &str,
        id: &str,
    ) -> Option<&ResourceEntry> {
        if self.resources.is_empty() {
            return None;
        }
        account
            .and_then(|account| {
                self.resources
                    .get(&ResourceKey::of(Some(account), kind, id))
            })
            .or_else(|| self.resources.get(&ResourceKey::of(None, kind, id)))
    }

    /// `resource` as a decision in `account` reads it when it is registered: the stored
    /// attributes win over those the request sends (which fill in the names not stored), and
    /// the stored parents replace the request's. `None` when it is not registered. The
    /// registry is the authority on a resource: whoever asks about it (a proxy, a gateway, the
    /// resource's own service) cannot restate its owner or lift it out of its folder.
    pub fn with_registered(
        &self,
        account: Option<&AccountId>,
        resource: &Resource,
    ) -> Option<Resource> {
        let entry = self.registered(account, &resource.kind, &resource.id)?;
        let mut attributes = resource.attributes.clone();
        attributes.extend(entry.attributes());
        Some(Resource {
            kind: resource.kind.clone(),
            id: resource.id.clone(),
            attributes,
            parents: entry.parents(),
        })
    }
}
