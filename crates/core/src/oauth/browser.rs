//! The browser session behind the hosted sign-in pages: a Warden session of the pseudo-client
//! [`BROWSER_CLIENT`], opened by a password check through the same gate as the password grant
//! (one answer for unknown, wrong, locked and disabled; the same locks; the same audit), and
//! named by a cookie that is the session id sealed under the master key. The sessions it opens
//! through authorization codes end with it.

use crate::error::DomainError;
use crate::ids::SessionId;
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
}

/// Signs a person in with their password from the hosted login page. `replaces` is the browser
/// session the browser held before, if any: it ends, so a browser holds one session and a
/// cookie planted before the login names nothing after it.
pub async fn sign_in(
    services: &Services,
    username: &str,
    password: &str,
    replaces: Option<&BrowserSession>,
) -> Result<SignedIn, GrantError> {
    let presented = Presented::read(username, password)?;
    let (user, password_hash) = verify(services, presented).await?;
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
        amr: Some("pwd".into()),
        oidc_scope: None,
    };
    let opened = services
        .store
        .open_login(&NewLogin {
            session: &session,
            refresh: None,
            password_hash: &password_hash,
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
        details: serde_json::json!({ "client_id": BROWSER_CLIENT, "method": "password" }),
    };
    crate::audit::record(services, event).await;
    let cookie = services
        .sealer
        .seal(COOKIE_CONTEXT, session.id.to_string().as_bytes())?;
    Ok(SignedIn {
        browser: BrowserSession { session, user },
        cookie,
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
        crate::audit::record(services, event).await;
    }
    Ok(())
}
