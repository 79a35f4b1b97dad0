//! The password grant: check the credentials in constant shape through the shared password
//! gate (unknown, wrong, locked and disabled answer alike), pick the account, open the session
//! in one transaction that re-checks what was verified, and sign an access token.

use crate::authz::engine::Snapshot;
use crate::error::DomainError;
use crate::identity::attempts::{check_password, identifier_key, user_key};
use crate::identity::password::Password;
use crate::identity::{canonicalize, AccountName};
use crate::ids::{AccountId, SessionId};
use crate::model::{Account, Session, Status, User};
use crate::services::Services;
use crate::store::NewLogin;
use crate::time::Timestamp;

use super::issue::{issue, narrow, new_refresh_token, GrantError, IssuedToken};

/// The one answer for unknown user, wrong password and disabled user.
pub const BAD_CREDENTIALS: &str = "the username or password is incorrect";

/// What the password grant answers a user who signs in with a second factor.
pub const SECOND_FACTOR_NEEDED: &str = "a second factor is required for this user, and the password grant cannot ask for one: sign in through the hosted sign-in page (the authorization code flow)";

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
    pub client: crate::authn::client::ClientIdentity,
    /// Space-separated role names to narrow the token to.
    pub scope: Option<String>,
    /// The requester's address (for the account's allow-list).
    pub ip: std::net::IpAddr,
}

/// Runs the password grant, step by step: read the request, check the password through the
/// shared gate, pick the account, resolve the roles, open the session (one transaction), sign.
pub async fn password_grant(
    services: &Services,
    grant: PasswordGrant,
) -> Result<IssuedToken, GrantError> {
    grant.client.require_grant("password")?;
    let presented = Presented::read(&grant.username, &grant.password)?;
    let (user, password_hash) = verify(services, presented).await?;
    let store = services.store.as_ref();
    // Roles come from the snapshot: bring it up to every change committed so far, wherever it
    // was made (another node, the CLI), so a role granted just before is in this token.
    services
        .engine
        .catch_up(store)
        .await
        .map_err(DomainError::from)?;
    let snapshot = services.engine.snapshot();
    let entry = enter_account(services, &snapshot, &user, grant.account.as_deref()).await?;
    let account_id = entry.account.as_ref().map(|a| a.id);
    if let Some(refusing) = entry
        .account
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
        crate::audit::record_durably(services, event).await;
        return Err(GrantError::InvalidGrant(BAD_CREDENTIALS.into()));
    }
    // Said only to someone who knew the password: the grant cannot ask for a second factor.
    if crate::identity::factor::required(services, &user.id, entry.account.as_ref()).await? {
        let event = crate::audit::Event {
            actor: format!("user:{}", user.id),
            action: "login.refused_second_factor",
            account: account_id,
            target: None,
            details: serde_json::json!({ "client_id": grant.client.client_id() }),
        };
        crate::audit::record_durably(services, event).await;
        return Err(GrantError::InvalidGrant(SECOND_FACTOR_NEEDED.into()));
    }
    let held = snapshot
        .role_names_of(&user.id, account_id.as_ref())
        .ok_or_else(|| GrantError::InvalidGrant(BAD_CREDENTIALS.into()))?;
    let expand = |names: &[&str]| snapshot.roles.names_reached(names, account_id.as_ref());
    let (roles, scope) = narrow(held, None, grant.scope.as_deref(), expand)?;

    let now = Timestamp::now();
    let session = Session {
        id: SessionId::new(),
        user_id: user.id,
        account_id,
        client_id: grant.client.client_id().to_owned(),
        created_at: now,
        ended_at: None,
        expires_at: Some(now.plus_seconds(services.settings.refresh_absolute_ttl)),
        scope: scope.clone(),
        parent_id: None,
        amr: Some("pwd".into()),
        oidc_scope: None,
    };
    let refresh = grant
        .client
        .allows("refresh_token")
        .then(|| new_refresh_token(services, &session, now));
    let opened = store
        .open_login(&NewLogin {
            session: &session,
            refresh: refresh.as_ref().map(|(_, stored)| stored),
            password_hash: &password_hash,
            member: entry.member,
        })
        .await
        .map_err(DomainError::from)?;
    if !opened {
        // The password changed, or the user or account was disabled, while this login was
        // being checked: what it verified is no longer current.
        return Err(GrantError::InvalidGrant(BAD_CREDENTIALS.into()));
    }
    // The login stands even if the bound cannot be applied now; the next login applies it.
    if let Err(err) = crate::admin::sessions::enforce_session_limit(services, &user.id).await {
        tracing::warn!(user = %user.id, error = %err, "could not apply the session limit");
    }
    let mut issued = issue(
        services,
        user.id.to_string(),
        session.client_id.clone(),
        session.id,
        account_id,
        roles,
        scope,
        now,
        session.expires_at,
    )?;
    issued.refresh_token = refresh.map(|(value, _)| value);
    let details = serde_json::json!({ "client_id": issued.claims.client_id });
    let target = Some(format!("session:{}", issued.claims.sid));
    let event = crate::audit::Event {
        actor: format!("user:{}", user.id),
        action: "login.succeeded",
        account: account_id,
        target,
        details,
    };
    crate::audit::record_durably(services, event).await;
    Ok(issued)
}

/// The credentials of a password grant, read and canonicalized.
pub(crate) struct Presented {
    /// The canonical login (email or username), when the text has one.
    login: Option<String>,
    /// The lock key of the identifier as typed.
    key: String,
    password: Password,
}

impl Presented {
    pub(crate) fn read(username: &str, password: &str) -> Result<Self, GrantError> {
        if username.is_empty() || password.is_empty() {
            return Err(GrantError::InvalidRequest(
                "`username` and `password` are required".into(),
            ));
        }
        let password = Password::presented(password)
            .map_err(|_| GrantError::InvalidGrant(BAD_CREDENTIALS.into()))?;
        let login = canonicalize(username).ok().filter(|l| !l.is_empty());
        let key = identifier_key(login.as_deref().unwrap_or(username));
        Ok(Self {
            login,
            key,
            password,
        })
    }
}

/// Checks the password through the shared gate (lock, capped hashing, dummy hash for unknown
/// users): unknown, wrong, locked and disabled answer alike, and each failure is audited. The
/// stored hash comes back so the session is opened only while it is still current.
pub(crate) async fn verify(
    services: &Services,
    presented: Presented,
) -> Result<(User, String), GrantError> {
    let record = match &presented.login {
        Some(login) => services
            .store
            .user_by_login(login)
            .await
            .map_err(DomainError::from)?,
        None => None,
    };
    let stored = record.as_ref().and_then(|r| r.password_hash.clone());
    // Two locks, known user or not (the same store work either way): the identifier as typed,
    // and the user's own, which every identifier of theirs and the password change share, so
    // switching between email and username buys no extra guesses.
    let second = match &record {
        Some(record) => user_key(&record.user.id),
        None => identifier_key(&format!("unknown:{}", presented.key)),
    };
    let keys = [presented.key.clone(), second];
    let checked = check_password(services, &keys, stored.clone(), presented.password).await?;
    match (record, stored) {
        (Some(record), Some(hash)) if checked.verified && record.user.status == Status::Active => {
            Ok((record.user, hash))
        }
        _ => {
            // The identifier is logged only as a hash: people type passwords into it.
            let details = serde_json::json!({
                "identifier_sha256": presented.key,
                "locked": checked.locked,
            });
            crate::audit::record_durably(
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
            Err(GrantError::InvalidGrant(BAD_CREDENTIALS.into()))
        }
    }
}

/// The account a login acts in, the roles visible there, and what entitles the user to it.
pub(crate) struct Entry {
    pub(crate) account: Option<Account>,
    /// Entry rests on a membership (which the session's transaction checks again).
    pub(crate) member: bool,
}

/// Picks the account: the one named (by id or name), or the user's only one. Entering an
/// account takes membership in it, or a global role granting `warden.accounts:enter`; a user
/// holding only some other global role (a support reader, say) is not let into every tenant.
pub(crate) async fn enter_account(
    services: &Services,
    snapshot: &Snapshot,
    user: &User,
    wanted: Option<&str>,
) -> Result<Entry, GrantError> {
    let store = services.store.as_ref();
    let memberships = store
        .memberships(&user.id)
        .await
        .map_err(DomainError::from)?;
    let account =
        match wanted.filter(|a| !a.is_empty()) {
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
                Some(found.ok_or_else(not_a_member)?)
            }
            None => match memberships.as_slice() {
                [] => None,
                [only] => store.account(only).await.map_err(DomainError::from)?,
                _ => return Err(GrantError::InvalidRequest(
                    "the user belongs to several accounts: name one with the `account` parameter"
                        .into(),
                )),
            },
        };
    let Some(account) = account else {
        return Ok(Entry {
            account: None,
            member: false,
        });
    };
    let member = memberships.contains(&account.id);
    if !member && !snapshot.may_enter_any(&user.id) {
        return Err(not_a_member());
    }
    if account.status != Status::Active {
        return Err(GrantError::InvalidGrant("that account is disabled".into()));
    }
    Ok(Entry {
        account: Some(account),
        member,
    })
}

fn not_a_member() -> GrantError {
    GrantError::InvalidGrant("the user is not a member of that account".into())
}
