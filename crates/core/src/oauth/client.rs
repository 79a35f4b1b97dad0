//! The `client_credentials` grant: a service client's own access token, carrying its roles.

use crate::authn::client::ClientIdentity;
use crate::ids::SessionId;
use crate::services::Services;
use crate::time::Timestamp;

use super::issue::{issue, narrow, GrantError, IssuedToken, ADDRESS_REFUSED};

/// The `client_credentials` grant: an access token for the client itself
/// (`sub = "client:<client_id>"`), carrying its roles, with no refresh token.
pub async fn client_credentials_grant(
    services: &Services,
    identity: &ClientIdentity,
    scope: Option<&str>,
    ip: std::net::IpAddr,
) -> Result<IssuedToken, GrantError> {
    identity.require_grant("client_credentials")?;
    let ClientIdentity::Confidential(client, account_addresses) = identity else {
        return Err(GrantError::InvalidClient);
    };
    let now = Timestamp::now();
    let account = client.account_id;
    // Authentication refused a client of a disabled account; the account's allow-list, read
    // then, applies to every token issued in it.
    if !account_addresses.allow(ip) {
        return Err(GrantError::InvalidGrant(ADDRESS_REFUSED.into()));
    }
    // Clients hold their roles where they live: in their account, or globally. The roles'
    // definitions come from the snapshot.
    let snapshot = services.engine.snapshot();
    let names = snapshot
        .roles
        .closure_names(client.roles.iter().filter(|id| {
            snapshot
                .roles
                .get(id)
                .is_some_and(|role| role.account.is_none() || role.account == account)
        }));
    let expand = |names: &[&str]| snapshot.roles.names_reached(names, account.as_ref());
    let (roles, scope) = narrow(names, None, scope, expand)?;
    // Client tokens belong to no login session; `sid` is unique per token.
    Ok(issue(
        services,
        format!("client:{}", client.client_id),
        client.client_id.clone(),
        SessionId::new(),
        account,
        roles,
        scope,
        now,
        None,
    )?)
}
