//! What every grant shares: the refusals in RFC 6749 §5.2 terms, narrowing a token's roles to
//! a requested scope, a session's refresh token, and signing the access token.

use thiserror::Error;

use crate::error::DomainError;
use crate::ids::{AccountId, SessionId};
use crate::model::{RefreshToken, Session};
use crate::services::Services;
use crate::time::Timestamp;
use crate::tokens::AccessClaims;

/// What a grant answers when the account's allow-list refuses the requester's address.
pub const ADDRESS_REFUSED: &str = "the account does not accept tokens for this address";

/// A successful grant.
#[derive(Debug)]
pub struct IssuedToken {
    /// The signed JWT.
    pub access_token: String,
    /// Lifetime in seconds.
    pub expires_in: i64,
    /// The scope granted, when narrowed.
    pub scope: Option<String>,
    /// The refresh token, when the grant issues one.
    pub refresh_token: Option<String>,
    /// The claims inside the token.
    pub claims: AccessClaims,
}

/// Why a grant was refused, in RFC 6749 §5.2 terms.
#[derive(Debug, Error)]
pub enum GrantError {
    /// A parameter is missing, repeated or malformed.
    #[error("{0}")]
    InvalidRequest(String),
    /// The client is unknown or failed to authenticate.
    #[error("client authentication failed")]
    InvalidClient,
    /// The client may not use this grant.
    #[error("{0}")]
    UnauthorizedClient(String),
    /// The credentials are wrong, or the user cannot log in (one answer for every case).
    #[error("{0}")]
    InvalidGrant(String),
    /// The requested scope exceeds what the user holds.
    #[error("{0}")]
    InvalidScope(String),
    /// Another failure (busy, storage).
    #[error(transparent)]
    Domain(#[from] DomainError),
}

/// Narrows the roles a token carries: to `ceiling` (the scope granted at login) when set, then
/// to the requested scope, which may not name anything outside what remains. A kept role keeps
/// what it inherits (`expand` gives the names a set of role names reaches), so a token
/// narrowed to `editor` carries `viewer` too, exactly as an unnarrowed one does; the `scope`
/// answered is the names asked for.
pub(crate) fn narrow(
    mut roles: Vec<String>,
    ceiling: Option<&str>,
    requested: Option<&str>,
    expand: impl Fn(&[&str]) -> Vec<String>,
) -> Result<(Vec<String>, Option<String>), GrantError> {
    if let Some(ceiling) = ceiling {
        let named: Vec<&str> = ceiling.split(' ').filter(|s| !s.is_empty()).collect();
        let allowed = expand(&named);
        roles.retain(|r| allowed.contains(r));
    }
    let requested = requested.map(str::trim).filter(|s| !s.is_empty());
    let Some(requested) = requested else {
        return Ok((roles, ceiling.map(str::to_owned)));
    };
    let wanted: Vec<&str> = requested.split(' ').filter(|s| !s.is_empty()).collect();
    if let Some(extra) = wanted.iter().find(|w| !roles.iter().any(|r| r == *w)) {
        return Err(GrantError::InvalidScope(format!(
            "the scope `{}` is not a role the user holds within this grant",
            crate::identity::clip(extra)
        )));
    }
    let kept: Vec<&str> = roles
        .iter()
        .map(String::as_str)
        .filter(|r| wanted.contains(r))
        .collect();
    let scope = kept.join(" ");
    let reach = expand(&kept);
    roles.retain(|r| reach.contains(r));
    Ok((roles, Some(scope)))
}

/// A new refresh token for `session`: its value (shown once) and its stored form.
pub(crate) fn new_refresh_token(
    services: &Services,
    session: &Session,
    now: Timestamp,
) -> (String, RefreshToken) {
    let value = crate::crypto::random_token();
    let idle_end = now.plus_seconds(services.settings.refresh_idle_ttl);
    let expires_at = session.expires_at.map_or(idle_end, |end| end.min(idle_end));
    let token = RefreshToken {
        id: crate::ids::SessionId::new().to_string(),
        session_id: session.id,
        token_hash: crate::crypto::sha256_b64(value.as_bytes()),
        client_id: session.client_id.clone(),
        created_at: now,
        expires_at,
        used_at: None,
        successor_sealed: None,
    };
    (value, token)
}

/// Signs an access token for a subject, expiring after the configured lifetime or at
/// `until` (the session's end), whichever comes first.
#[expect(clippy::too_many_arguments, reason = "each argument is one claim")]
pub fn issue(
    services: &Services,
    sub: String,
    client_id: String,
    sid: SessionId,
    account: Option<AccountId>,
    roles: Vec<String>,
    scope: Option<String>,
    now: Timestamp,
    until: Option<Timestamp>,
) -> Result<IssuedToken, DomainError> {
    let ttl = until.map_or(services.settings.access_token_ttl, |end| {
        services
            .settings
            .access_token_ttl
            .min(end.seconds() - now.seconds())
            .max(1)
    });
    let permissions = services.settings.token_permissions.then(|| {
        services
            .engine
            .snapshot()
            .roles
            .permissions_of_names(&roles, account.as_ref())
    });
    let carried = roles.join(" ");
    let claims = AccessClaims {
        iss: services.tokens.issuer().to_owned(),
        sub,
        aud: services.tokens.audience().to_owned(),
        exp: now.seconds() + ttl,
        iat: now.seconds(),
        nbf: now.seconds(),
        jti: crate::ids::SessionId::new().to_string(),
        client_id,
        sid: sid.to_string(),
        acct: account.map(|a| a.to_string()),
        roles,
        narrowed: scope.is_some(),
        scope: Some(carried),
        permissions,
    };
    let access_token = services.tokens.sign(&claims)?;
    Ok(IssuedToken {
        access_token,
        expires_in: ttl,
        scope,
        refresh_token: None,
        claims,
    })
}
