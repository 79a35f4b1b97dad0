//! The password grant: check the credentials in constant shape (unknown, wrong and disabled
//! answer alike, a dummy hash running for unknown users), pick the account, open a session and
//! sign an access token.

use thiserror::Error;

use crate::authz::{effective_role_names, RoleGraph};
use crate::error::DomainError;
use crate::identity::{canonicalize, AccountName};
use crate::ids::{AccountId, SessionId};
use crate::model::{Account, RefreshToken, Session, Status};
use crate::password::Password;
use crate::services::Services;
use crate::time::Timestamp;
use crate::tokens::AccessClaims;

/// A password grant request, as received.
#[derive(Debug)]
pub struct PasswordGrant {
    /// Email or username.
    pub username: String,
    /// Password.
    pub password: String,
    /// Account id or name.
    pub account: Option<String>,
    /// The authenticated client (the first-party client by default).
    pub client: crate::client_auth::ClientIdentity,
    /// Space-separated role names to narrow the token to.
    pub scope: Option<String>,
    /// The requester's address (for the account's allow-list).
    pub ip: std::net::IpAddr,
}

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

/// Failed attempts are counted per identifier over this window.
pub const LOCK_WINDOW_MS: i64 = 3_600_000;
/// Failures allowed before the first delay.
pub const FREE_ATTEMPTS: i64 = 5;
/// The longest delay: the lock is never permanent.
pub const MAX_LOCK_MS: i64 = 15 * 60 * 1000;

/// The lock ladder: after the free attempts, 1 s, 2 s, 4 s … doubling up to 15 minutes.
/// Attempts during a lock are refused uncounted, so within an hour at most about twenty
/// guesses are checked per identifier (far under 100), and the owner gets in once the delay
/// passes.
pub fn lock_after(failures: i64) -> i64 {
    if failures <= FREE_ATTEMPTS {
        return 0;
    }
    let exponent = (failures - FREE_ATTEMPTS - 1).min(20) as u32;
    (1000_i64 << exponent).min(MAX_LOCK_MS)
}

/// The one answer for unknown user, wrong password and disabled user.
pub const BAD_CREDENTIALS: &str = "the username or password is incorrect";

/// Runs the password grant.
pub async fn password_grant(
    services: &Services,
    grant: PasswordGrant,
) -> Result<IssuedToken, GrantError> {
    grant.client.require_grant("password")?;
    let client_id = grant.client.client_id().to_owned();
    if grant.username.is_empty() || grant.password.is_empty() {
        return Err(GrantError::InvalidRequest(
            "`username` and `password` are required".into(),
        ));
    }
    let password = Password::presented(&grant.password)
        .map_err(|_| GrantError::InvalidGrant(BAD_CREDENTIALS.into()))?;
    let login = canonicalize(&grant.username).ok().filter(|l| !l.is_empty());
    let record = match &login {
        Some(login) => services
            .store
            .user_by_login(login)
            .await
            .map_err(DomainError::from)?,
        None => None,
    };
    // Brute-force protection: a soft lock per identifier (known or not, so the lock reveals
    // nothing), shared by every node through the store. While locked, the password is not
    // checked, but the same hashing work runs, and the answer is the same as a wrong password.
    let throttle_key = crate::crypto::sha256_b64(
        format!("login:{}", login.as_deref().unwrap_or(&grant.username)).as_bytes(),
    );
    let now = Timestamp::now();
    let locked = services
        .store
        .login_locked_until(&throttle_key)
        .await
        .map_err(DomainError::from)?
        .is_some_and(|until| until > now.millis());
    let stored_hash = if locked {
        None
    } else {
        record.as_ref().and_then(|r| r.password_hash.clone())
    };
    let verified = services.hasher.verify(password, stored_hash).await?;
    let user = match record {
        Some(record) if verified && record.user.status == Status::Active => record.user,
        _ => {
            if !locked {
                services
                    .store
                    .record_login_failure(&throttle_key, now.millis(), LOCK_WINDOW_MS, lock_after)
                    .await
                    .map_err(DomainError::from)?;
            }
            // The identifier is logged only as a hash: people type passwords into it.
            let details =
                serde_json::json!({ "identifier_sha256": throttle_key, "locked": locked });
            crate::audit::record(
                services,
                crate::audit::Event {
                    actor: "anonymous".into(),
                    action: "login.failed",
                    account: None,
                    target: None,
                    details,
                },
            )
            .await;
            return Err(GrantError::InvalidGrant(BAD_CREDENTIALS.into()));
        }
    };
    services
        .store
        .clear_login_failures(&throttle_key)
        .await
        .map_err(DomainError::from)?;

    let store = services.store.as_ref();
    let assignments = store
        .assignments(&user.id)
        .await
        .map_err(DomainError::from)?;
    let memberships = store
        .memberships(&user.id)
        .await
        .map_err(DomainError::from)?;
    let holds_global = assignments.iter().any(|a| a.account_id.is_none());
    let account: Option<Account> = match grant.account.as_deref().filter(|a| !a.is_empty()) {
        Some(wanted) => {
            let found = match AccountId::parse(wanted) {
                Ok(id) => store.account(&id).await.map_err(DomainError::from)?,
                Err(_) => match AccountName::parse(wanted) {
                    Ok(name) => store
                        .account_by_name(&name)
                        .await
                        .map_err(DomainError::from)?,
                    Err(_) => None,
                },
            };
            match found {
                Some(account) if holds_global || memberships.contains(&account.id) => Some(account),
                _ => {
                    return Err(GrantError::InvalidGrant(
                        "the user is not a member of that account".into(),
                    ))
                }
            }
        }
        None => {
            match memberships.as_slice() {
                [] => None,
                [only] => store.account(only).await.map_err(DomainError::from)?,
                _ => return Err(GrantError::InvalidRequest(
                    "the user belongs to several accounts: name one with the `account` parameter"
                        .into(),
                )),
            }
        }
    };
    if account.as_ref().is_some_and(|a| a.status != Status::Active) {
        return Err(GrantError::InvalidGrant("that account is disabled".into()));
    }
    if let Some(refusing) = account
        .as_ref()
        .filter(|a| !crate::net::allowed(&a.allowed_ips, grant.ip))
    {
        // The same answer as a wrong password: a distinct one would tell someone at a refused
        // address that the password was right. The audit log has the reason.
        let event = crate::audit::Event {
            actor: format!("user:{}", user.id),
            action: "login.refused_address",
            account: Some(refusing.id),
            target: None,
            details: serde_json::json!({ "ip": grant.ip.to_string() }),
        };
        crate::audit::record(services, event).await;
        return Err(GrantError::InvalidGrant(BAD_CREDENTIALS.into()));
    }
    let account_id = account.as_ref().map(|a| a.id);

    let graph = RoleGraph::new(
        store
            .roles_in_scope(account_id.as_ref())
            .await
            .map_err(DomainError::from)?,
    );
    let held = effective_role_names(&graph, &assignments, account_id.as_ref());
    let (roles, scope) = narrow(held, None, grant.scope.as_deref())?;

    let now = Timestamp::now();
    let settings = &services.settings;
    let session = Session {
        id: SessionId::new(),
        user_id: user.id,
        account_id,
        client_id: client_id.clone(),
        created_at: now,
        ended_at: None,
        expires_at: Some(now.plus_seconds(settings.refresh_absolute_ttl)),
        scope: scope.clone(),
    };
    store
        .insert_session(&session)
        .await
        .map_err(DomainError::from)?;
    crate::admin::sessions::enforce_session_limit(services, &user.id).await?;
    let refresh_value = if grant.client.allows("refresh_token") {
        let (value, refresh) = new_refresh_token(services, &session, now);
        store
            .insert_refresh(&refresh)
            .await
            .map_err(DomainError::from)?;
        Some(value)
    } else {
        None
    };
    store
        .record_login(&user.id, now)
        .await
        .map_err(DomainError::from)?;
    let mut issued = issue(
        services,
        user.id.to_string(),
        client_id,
        session.id,
        account_id,
        roles,
        scope,
        now,
        session.expires_at,
    )?;
    issued.refresh_token = refresh_value;
    let details = serde_json::json!({ "client_id": issued.claims.client_id });
    let target = Some(format!("session:{}", issued.claims.sid));
    let event = crate::audit::Event {
        actor: format!("user:{}", user.id),
        action: "login.succeeded",
        account: account_id,
        target,
        details,
    };
    crate::audit::record(services, event).await;
    Ok(issued)
}

/// Narrows the roles a token carries: to `ceiling` (the scope granted at login) when set, then
/// to the requested scope, which may not name anything outside what remains.
pub(crate) fn narrow(
    mut roles: Vec<String>,
    ceiling: Option<&str>,
    requested: Option<&str>,
) -> Result<(Vec<String>, Option<String>), GrantError> {
    if let Some(ceiling) = ceiling {
        let allowed: Vec<&str> = ceiling.split(' ').collect();
        roles.retain(|r| allowed.contains(&r.as_str()));
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
    roles.retain(|r| wanted.contains(&r.as_str()));
    let scope = roles.join(" ");
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
        scope: scope.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_ladder_grows_and_is_capped() {
        assert_eq!(lock_after(1), 0);
        assert_eq!(lock_after(5), 0);
        assert_eq!(lock_after(6), 1000);
        assert_eq!(lock_after(7), 2000);
        assert_eq!(lock_after(15), 512_000);
        assert_eq!(lock_after(16), MAX_LOCK_MS);
        assert_eq!(lock_after(10_000), MAX_LOCK_MS);
    }

    #[test]
    fn an_hour_of_guessing_checks_far_fewer_than_one_hundred_passwords() {
        // Each checked failure is followed by its lock; count the checks that fit in an hour.
        let (mut t, mut checked) = (0, 0);
        while t < LOCK_WINDOW_MS {
            checked += 1;
            t += lock_after(checked).max(1);
        }
        assert!(checked < 100, "{checked}");
    }
}
