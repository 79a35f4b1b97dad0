//! The rule that joins a registered resource with what a request sends about it.

use super::query::Resource;
use super::registry::ResourceEntry;
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
        let find = |account| {
            let key = crate::model::RegisteredResource::key_of(account, kind, id);
            self.resources.get_key(key.as_str())
        };
        account
            .and_then(|account| find(Some(account)))
            .or_else(|| find(None))
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
