//! Who is calling: [`authenticate`] turns a credential presented on Warden's API (an access
//! token or an API key) into an [`Access`], from memory alone — the verified-token cache and
//! the authorization snapshot, never the database. Service clients proving a secret at the
//! OAuth endpoints are [`client`].

pub mod api_key;
pub mod client;
pub mod uses;

use std::net::IpAddr;
use std::time::Duration;

use crate::authz::engine::{Inactive, Snapshot};
use crate::authz::{Access, Caller, ClientCaller};
use crate::ids::{AccountId, SessionId, UserId};
use crate::services::Services;

pub use uses::KeyUses;

/// A node that has not read the change log for this long no longer trusts its authorization
/// data: requests wait (503) until it catches up.
pub const FRESHNESS: Duration = Duration::from_secs(30);

/// Why a credential was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The credential is refused; the text says why and is safe to show.
    #[error("{0}")]
    Refused(String),
    /// This node's authorization data is too old to trust; retry shortly.
    #[error("the authorization data is being refreshed")]
    Stale,
}

/// Authenticates a bearer credential presented from `client_ip`: a `wk_` API key, or an
/// access token Warden issued. Reads only memory (an API key's first use in a minute on this
/// node is written down).
pub async fn authenticate(
    services: &Services,
    credential: &str,
    client_ip: IpAddr,
) -> Result<Access, AuthError> {
    if !services.engine.is_fresh(FRESHNESS) {
        return Err(AuthError::Stale);
    }
    let snapshot = services.engine.snapshot();
    let access = if credential.starts_with(api_key::PREFIX) {
        api_key::access(services, &snapshot, credential, client_ip).await
    } else {
        access_token(services, &snapshot, credential)
    }?;
    Ok(access.audited(&services.audit))
}

/// An access token: verified (once per token, then from the cache), its principal resolved
/// against the snapshot.
fn access_token(
    services: &Services,
    snapshot: &std::sync::Arc<Snapshot>,
    token: &str,
) -> Result<Access, AuthError> {
    let claims = services
        .tokens
        .verify(token)
        .map_err(|err| AuthError::Refused(err.to_string()))?;
    let invalid = |why: &str| AuthError::Refused(why.to_owned());
    let scoped_to = claims.is_narrowed().then(|| claims.roles.clone());
    let account = claims
        .acct
        .as_deref()
        .map(AccountId::parse)
        .transpose()
        .map_err(|_| invalid("the token's account is invalid"))?;
    // A token issued in an account before it was last disabled stays dead, even once the
    // account is enabled again (a client's own token has no session that ended with it).
    if let Some(account) = &account {
        if !snapshot.account_accepts(account, claims.iat) {
            return Err(inactive(Inactive::AccountInactive, "account"));
        }
    }
    if let Some(client_id) = claims.sub.strip_prefix("client:") {
        // A service client's own token: no session; the client must still be active.
        let caller = ClientCaller::resolve(snapshot, client_id, scoped_to)
            .map_err(|why| inactive(why, "client"))?;
        return Ok(Access::Client(caller));
    }
    let user_id =
        UserId::parse(&claims.sub).map_err(|_| invalid("the token's subject is not a user"))?;
    let session_id =
        SessionId::parse(&claims.sid).map_err(|_| invalid("the token carries no valid session"))?;
    let caller = Caller::resolve(snapshot, user_id, Some(session_id), account, scoped_to)
        .map_err(|why| inactive(why, "user"))?;
    Ok(Access::Caller(caller))
}

/// The refusal of a token whose principal can no longer act.
fn inactive(why: Inactive, what: &str) -> AuthError {
    AuthError::Refused(match why {
        Inactive::Unknown | Inactive::Disabled => {
            format!("the token's {what} no longer exists or is disabled")
        }
        Inactive::SessionEnded => "the token's session has ended".to_owned(),
        Inactive::AccountInactive => {
            "the token's account no longer exists or is disabled".to_owned()
        }
    })
}
