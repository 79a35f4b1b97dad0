//! A presented `wk_` API key, answered from the snapshot's key index: live, unexpired, from an
//! allowed address (the key's, its client owner's and its account's), of an active owner, in
//! an account that was not disabled since the key was made. The caller acts through only the
//! key's roles the owner still holds.

use std::net::IpAddr;
use std::sync::Arc;

use crate::authz::engine::{ApiKeyEntry, Snapshot};
use crate::authz::{Access, Caller, ClientCaller};
use crate::crypto::sha256_b64;
use crate::model::KeyOwner;
use crate::net::allowed;
use crate::services::Services;
use crate::time::Timestamp;

use super::AuthError;

/// The prefix every API key starts with.
pub const PREFIX: &str = "wk_";

/// Why a presented key was refused; safe to show, and the same whatever the reason.
pub const REFUSED: &str =
    "the API key is invalid, expired, revoked or not allowed from this address";

/// Longest value accepted before hashing (keys are far shorter).
const MAX_LEN: usize = 200;

/// The access a presented key grants.
pub(super) async fn access(
    services: &Services,
    snapshot: &Arc<Snapshot>,
    value: &str,
    ip: IpAddr,
) -> Result<Access, AuthError> {
    let refused = || AuthError::Refused(REFUSED.to_owned());
    if value.len() > MAX_LEN {
        return Err(refused());
    }
    let key = snapshot
        .api_key(&sha256_b64(value.as_bytes()))
        .ok_or_else(refused)?;
    let now = Timestamp::now();
    if !key.usable(now, ip) {
        return Err(refused());
    }
    // Nothing made in an account before it was last disabled lives on, and the account's
    // allow-list binds its keys too.
    if let Some(account) = &key.account {
        let entry = snapshot.accounts.get(account).ok_or_else(refused)?;
        if !allowed(&entry.allowed_ips, ip)
            || !snapshot.account_accepts(account, key.created_at.seconds())
        {
            return Err(refused());
        }
    }
    let roles: Vec<String> = key
        .roles
        .iter()
        .filter_map(|id| snapshot.roles.get(id))
        .filter(|role| role.account.is_none() || role.account == key.account)
        .map(|role| role.name.to_string())
        .collect();
    let access = match key.owner {
        KeyOwner::User(user) => {
            let mut caller = Caller::resolve(snapshot, user, None, key.account, Some(roles))
                .map_err(|_| refused())?;
            caller.api_key = Some(key.id);
            Access::Caller(caller)
        }
        KeyOwner::Client(client) => {
            // A client's key is held to the client's own allow-list too: never more than its
            // owner.
            let entry = snapshot
                .clients
                .by_key(&client)
                .filter(|c| c.active && allowed(&c.allowed_ips, ip))
                .ok_or_else(refused)?;
            let mut caller = ClientCaller::resolve(snapshot, &entry.client_id, Some(roles))
                .map_err(|_| refused())?;
            caller.api_key = Some(key.id);
            Access::Client(caller)
        }
    };
    record_use(services, key, now).await;
    Ok(access)
}

/// Records the key's use, at most once a minute per node: one write a minute for a busy key,
/// and its owner sees the use at once. A failure to record refuses nothing.
async fn record_use(services: &Services, key: &ApiKeyEntry, now: Timestamp) {
    if !services.key_uses.due(key, now) {
        return;
    }
    if let Err(err) = services.store.touch_api_key(&key.id, now).await {
        tracing::warn!(api_key = %key.id, error = %err, "could not record an API key's use");
    }
}
