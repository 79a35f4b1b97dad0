//! The browser session behind the hosted sign-in pages: a Warden session of the pseudo-client
//! [`BROWSER_CLIENT`], opened by a password check through the same gate as the password grant
//! (one answer for unknown, wrong, locked and disabled; the same locks; the same audit), and
//! named by a cookie that is the session id sealed under the master key. The sessions it opens
//! through authorization codes end with it.

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::identity::factor::{self, Enrolment};
use crate::ids::{SessionId, UserId};
use crate::model::{Session, Status, User};
use crate::services::Services;
use crate::store::NewLogin;
use crate::time::Timestamp;

use super::password::{verify, Presented};
use super::GrantError;

/// The client id of browser sessions, as the self-service session list shows them.
pub const BROWSER_CLIENT: &str = "warden:browser";

/// What the cookie's seal is bound to, so no other sealed value passes for a cookie.
const COOKIE_CONTEXT: &str = "browser-session";

/// A live browser session and its user.
#[derive(Debug, Clone)]
pub struct BrowserSession {
    /// The session.
    pub session: Session,
    /// Its user, active.
    pub user: User,
}

impl BrowserSession {
    /// When the person last authenticated (OpenID Connect's `auth_time`), in seconds.
    pub fn auth_time(&self) -> i64 {
        self.session.created_at.seconds()
    }

    /// How they authenticated (RFC 8176 values).
    pub fn amr(&self) -> Vec<String> {
        self.session
            .amr
            .as_deref()
            .unwrap_or("pwd")
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// A browser session just opened, with the cookie value that names it.
#[derive(Debug)]
pub struct SignedIn {
    /// The session.
    pub browser: BrowserSession,
    /// The cookie's value: the session id, sealed.
    pub cookie: String,
    /// Recovery codes to show once, when the sign-in also finished a second-factor enrolment.
    pub recovery_codes: Option<Vec<String>>,
}

/// What a correct password leads to.
#[derive(Debug)]
pub enum PasswordChecked {
    /// Signed in.
    SignedIn(Box<SignedIn>),
    /// A second factor is needed first: the sealed proof of the password to carry to
    /// [`complete`], and the enrolment to show when the person has no factor yet.
    SecondFactor {
        /// The sealed proof of the checked password (five minutes).
        pending: String,
        /// Set when the person must enrol first (a policy requires a factor they lack).
        enrolment: Option<Enrolment>,
    },
}

/// What the pending proof seals.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    user: UserId,
    /// SHA-256 of the password hash checked: a password change meanwhile voids the proof.
    hash: String,
    expires: i64,
    enrol: bool,
    /// SHA-256 of the browser binding the proof was made for: another browser cannot carry it,
    /// and this one cannot once the binding changes (it does at every sign-in).
    browser: String,
    /// The [`factor::fingerprint`] of the enrolment shown, when enrolling.
    #[serde(default)]
    enrolment: Option<String>,
}

/// What a pending proof is sealed under.
const PENDING_CONTEXT: &str = "second-factor-pending";
/// How long a checked password waits for its second factor, seconds.
const PENDING_SECONDS: i64 = 300;

/// Checks a person's password from the hosted login page, through the same gate as the
/// password grant. Without a second factor to ask, the browser session opens; otherwise the
/// answer says so. `replaces` is the browser session the browser held before, if any: it ends,
/// so a browser holds one session and a cookie planted before the login names nothing after it.
/// `binding` is a secret only this browser holds (its CSRF cookie), to which a pending proof is
/// bound. `ip` and `account` (the account the request enters, when it names one) apply the
/// account's address allow-list here, with the same answer as a wrong password, so the
/// allow-list tells nobody at a refused address that the password was right.
pub async fn sign_in(
    services: &Services,
    username: &str,
    password: &str,
    replaces: Option<&BrowserSession>,
    binding: &str,
    (ip, account): (std::net::IpAddr, Option<&str>),
) -> Result<PasswordChecked, GrantError> {
    let presented = Presented::read(username, password)?;
    let (user, password_hash) = verify(services, presented).await?;
    let snapshot = services.engine.snapshot();
    // The account the request enters, when it can be told now: its allow-list and its
    // second-factor rule apply to this sign-in (a global administrator entering an account that
    // requires a factor is asked for one here, not refused later).
    let mut entered_requires_factor = false;
    if let Ok(entry) = super::password::enter_account(services, &snapshot, &user, account).await {
        entered_requires_factor = entry
            .account
            .as_ref()
            .is_some_and(|a| a.require_second_factor);
        if let Some(refusing) = entry
            .account
            .filter(|a| !crate::net::allowed(&a.allowed_ips, ip))
        {
            let event = crate::audit::Event {
                actor: format!("user:{}", user.id),
                action: "login.refused_address",
                account: Some(refusing.id),
                target: None,
                details: serde_json::json!({ "ip": ip.to_string(), "client_id": BROWSER_CLIENT }),
            };
            crate::audit::record_durably(services, event).await;
            return Err(GrantError::InvalidGrant(super::BAD_CREDENTIALS.into()));
        }
    }
    if !entered_requires_factor && !factor::required_for_sign_in(services, &user.id).await? {
        return Ok(PasswordChecked::SignedIn(Box::new(
            open(services, user, &password_hash, "pwd", replaces).await?,
        )));
    }
    // Each sign-in that must enrol gets a key of its own: one shown to another browser (someone
    // else who knew the password) is never confirmed through this one.
    let enrolment = if factor::enrolled(services, &user.id).await? {
        None
    } else {
        Some(factor::enrol(services, &user).await?)
    };
    let pending = Pending {
        user: user.id,
        hash: crate::crypto::sha256_b64(password_hash.as_bytes()),
        expires: Timestamp::now().seconds() + PENDING_SECONDS,
        enrol: enrolment.is_some(),
        browser: crate::crypto::sha256_b64(binding.as_bytes()),
        enrolment: enrolment.as_ref().map(factor::fingerprint),
    };
    let text = serde_json::to_vec(&pending)
        .map_err(|err| DomainError::Internal(format!("pending sign-in: {err}")))?;
    Ok(PasswordChecked::SecondFactor {
        pending: services.sealer.seal(PENDING_CONTEXT, &text)?,
        enrolment,
    })
}

/// Finishes a sign-in with the second factor: a TOTP code or a recovery code, or, for a
/// person enrolling, the first code of their new factor (the recovery codes then come back).
pub async fn complete(
    services: &Services,
    pending: &str,
    code: &str,
    replaces: Option<&BrowserSession>,
    binding: &str,
) -> Result<SignedIn, GrantError> {
    let expired = || GrantError::InvalidRequest("the sign-in has expired; sign in again".into());
    let (pending, record) = read_pending(services, pending, binding)
        .await?
        .ok_or_else(expired)?;
    let hash = record.password_hash.clone().ok_or_else(expired)?;
    let user = record.user;
    if pending.enrol {
        let codes = match factor::confirm(services, &user, code, pending.enrolment.as_deref()).await
        {
            Ok(codes) => codes,
            Err(DomainError::Validation(_)) => return Err(wrong_code(services, &user).await),
            Err(DomainError::Busy(_)) => return Err(GrantError::InvalidGrant(TOO_MANY.into())),
            Err(other) => return Err(other.into()),
        };
        let mut signed_in =
            open(services, user, &hash, factor::Checked::Totp.amr(), replaces).await?;
        signed_in.recovery_codes = Some(codes.recovery_codes);
        return Ok(signed_in);
    }
    match factor::check(services, &user, code).await? {
        checked @ (factor::Checked::Totp | factor::Checked::Recovery) => {
            open(services, user, &hash, checked.amr(), replaces).await
        }
        factor::Checked::Locked => Err(GrantError::InvalidGrant(TOO_MANY.into())),
        factor::Checked::Refused => Err(wrong_code(services, &user).await),
    }
}

/// A pending proof, opened and checked (sealed by Warden, for this browser, not expired, and the
/// password it proves still the user's), with the user it names.
async fn read_pending(
    services: &Services,
    pending: &str,
    binding: &str,
) -> Result<Option<(Pending, crate::model::UserRecord)>, DomainError> {
    let Some(pending) = services
        .sealer
        .open(PENDING_CONTEXT, pending)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Pending>(&bytes).ok())
    else {
        return Ok(None);
    };
    let bound = crate::crypto::same_secret(
        crate::crypto::sha256_b64(binding.as_bytes()).as_bytes(),
        pending.browser.as_bytes(),
    );
    if pending.expires < Timestamp::now().seconds() || !bound {
        return Ok(None);
    }
    let Some(record) = services
        .store
        .user(&pending.user)
        .await?
        .filter(|r| r.user.status == Status::Active)
    else {
        return Ok(None);
    };
    let current = record
        .password_hash
        .as_deref()
        .is_some_and(|hash| crate::crypto::sha256_b64(hash.as_bytes()) == pending.hash);
    Ok(current.then_some((pending, record)))
}

/// The enrolment (its `otpauth://` URI and key) a pending sign-in is completing: shown again
/// after a wrong first code, and only the one this proof was issued with.
pub async fn pending_enrolment(
    services: &Services,
    pending: &str,
    binding: &str,
) -> Result<Option<(String, String)>, DomainError> {
    let Some((pending, record)) = read_pending(services, pending, binding).await? else {
        return Ok(None);
    };
    let Some(expected) = pending.enrolment.filter(|_| pending.enrol) else {
        return Ok(None);
    };
    Ok(factor::pending(services, &record.user)
        .await?
        .filter(|e| factor::fingerprint(e) == expected)
        .map(|e| (e.otpauth_uri, e.secret)))
}

/// What a locked second factor answers.
const TOO_MANY: &str = "too many wrong codes; wait a while and try again";

/// A wrong second-factor code: audited like a wrong password.
async fn wrong_code(services: &Services, user: &User) -> GrantError {
    let event = crate::audit::Event {
        actor: format!("user:{}", user.id),
        action: "login.failed",
        account: None,
        target: None,
        details: serde_json::json!({ "second_factor": true }),
    };
    crate::audit::record_durably(services, event).await;
    GrantError::InvalidGrant("the code is not correct".into())
}

/// Opens the browser session of a person who proved who they are (`amr`), in one transaction
/// that re-checks the password hash they proved.
async fn open(
    services: &Services,
    user: User,
    password_hash: &str,
    amr: &str,
    replaces: Option<&BrowserSession>,
) -> Result<SignedIn, GrantError> {
    let now = Timestamp::now();
    let session = Session {
        id: SessionId::new(),
        user_id: user.id,
        account_id: None,
        client_id: BROWSER_CLIENT.to_owned(),
        created_at: now,
        ended_at: None,
        expires_at: Some(now.plus_seconds(services.settings.refresh_absolute_ttl)),
        scope: None,
        parent_id: None,
        amr: Some(amr.into()),
        oidc_scope: None,
    };
    let opened = services
        .store
        .open_login(&NewLogin {
            session: &session,
            refresh: None,
            password_hash,
            member: false,
        })
        .await
        .map_err(DomainError::from)?;
    if !opened {
        return Err(GrantError::InvalidGrant(super::BAD_CREDENTIALS.into()));
    }
    if let Some(old) = replaces {
        // A different person signing in here ends what the last one left open; the same person
        // signing in again keeps the apps they signed into, now ended by this session's logout.
        if old.user.id == user.id {
            services
                .store
                .adopt_sessions(&old.session.id, &session.id)
                .await
                .map_err(DomainError::from)?;
        }
        end(services, &old.session.id, "replaced").await?;
    }
    let event = crate::audit::Event {
        actor: format!("user:{}", user.id),
        action: "login.succeeded",
        account: None,
        target: Some(format!("session:{}", session.id)),
        details: serde_json::json!({ "client_id": BROWSER_CLIENT, "amr": amr }),
    };
    crate::audit::record_durably(services, event).await;
    let cookie = services
        .sealer
        .seal(COOKIE_CONTEXT, session.id.to_string().as_bytes())?;
    Ok(SignedIn {
        browser: BrowserSession { session, user },
        cookie,
        recovery_codes: None,
    })
}

/// The live browser session a cookie names, if any: a cookie that does not open, names
/// another kind of session, or one that ended or expired, names nothing.
pub async fn current(
    services: &Services,
    cookie: &str,
) -> Result<Option<BrowserSession>, DomainError> {
    if cookie.is_empty() || cookie.len() > 256 {
        return Ok(None);
    }
    let Ok(opened) = services.sealer.open(COOKIE_CONTEXT, cookie) else {
        return Ok(None);
    };
    let Some(id) = std::str::from_utf8(&opened)
        .ok()
        .and_then(|text| SessionId::parse(text).ok())
    else {
        return Ok(None);
    };
    let now = Timestamp::now();
    let Some(session) = services.store.session(&id).await? else {
        return Ok(None);
    };
    if session.client_id != BROWSER_CLIENT
        || session.ended_at.is_some()
        || session.expires_at.is_some_and(|end| end <= now)
    {
        return Ok(None);
    }
    let Some(record) = services.store.user(&session.user_id).await? else {
        return Ok(None);
    };
    if record.user.status != Status::Active {
        return Ok(None);
    }
    Ok(Some(BrowserSession {
        session,
        user: record.user,
    }))
}

/// Ends the browser session an ID token names (`sid`), when it is that person's (`sub`): an
/// RP-initiated logout from a browser that no longer holds the cookie (it expired, or was
/// cleared) still ends what the sign-in opened.
pub async fn end_hinted(services: &Services, sid: &str, sub: &str) -> Result<(), DomainError> {
    let Ok(id) = SessionId::parse(sid) else {
        return Ok(());
    };
    let named = services
        .store
        .session(&id)
        .await?
        .is_some_and(|s| s.client_id == BROWSER_CLIENT && s.user_id.to_string() == sub);
    if named {
        end(services, &id, "logout").await?;
    }
    Ok(())
}

/// Ends a browser session and every session it opened (their refresh tokens stop working and
/// the revocation feed lists them), applied on this node before the answer leaves.
pub async fn end(services: &Services, id: &SessionId, why: &str) -> Result<(), DomainError> {
    let Some(session) = services.store.session(id).await? else {
        return Ok(());
    };
    if services.store.end_session(id, Timestamp::now()).await? {
        services.engine.catch_up(services.store.as_ref()).await?;
        let event = crate::audit::Event {
            actor: format!("user:{}", session.user_id),
            action: "session.ended",
            account: None,
            target: Some(format!("session:{id}")),
            details: serde_json::json!({ "client_id": BROWSER_CLIENT, "reason": why }),
        };
        crate::audit::record_durably(services, event).await;
    }
    Ok(())
}
