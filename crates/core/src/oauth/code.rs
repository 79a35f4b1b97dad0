//! Authorization codes and the `authorization_code` grant (RFC 6749 §4.1, RFC 7636, OpenID
//! Connect Core §3.1.3). A code is a 256-bit random value kept only as its hash, usable once,
//! for sixty seconds, by the client it was issued to, with the redirect URI it was sent to and
//! the PKCE verifier of its challenge. Presenting a used code again ends the session it opened
//! (RFC 6749 §4.1.2), even when the two presentations race.

use serde::{Deserialize, Serialize};

use crate::authn::client::ClientIdentity;
use crate::crypto::{random_token, sha256_b64};
use crate::error::DomainError;
use crate::ids::{AccountId, SessionId, UserId};
use crate::model::{Session, Status, User};
use crate::services::Services;
use crate::store::{CodeUse, NewLogin, StoredCode};
use crate::time::Timestamp;

use super::authorize::AuthorizeRequest;
use super::browser::BrowserSession;
use super::issue::{issue, narrow, new_refresh_token, GrantError, IssuedToken};
use super::password::enter_account;

/// How long a code can be redeemed.
const CODE_TTL_SECONDS: i64 = 60;

const INVALID: &str = "the authorization code is invalid, expired or already used";

fn invalid() -> GrantError {
    GrantError::InvalidGrant(INVALID.into())
}

/// What a code was issued for, stored beside its hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Issued {
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    user_id: UserId,
    account_id: Option<AccountId>,
    /// Entry to the account rests on a membership.
    member: bool,
    browser_session: SessionId,
    /// When the browser session ends (milliseconds).
    browser_expires: i64,
    auth_time: i64,
    amr: Vec<String>,
    oidc_scopes: Vec<String>,
    roles: Option<String>,
    nonce: Option<String>,
}

/// Why no code could be issued, for the redirect back to the client.
#[derive(Debug)]
pub struct CodeRefused {
    /// The OAuth error code.
    pub error: &'static str,
    /// What went wrong.
    pub description: String,
}

/// Issues a code for `request`, signed in through `browser`, from `ip`: the account is picked
/// as the password grant picks it, its address allow-list applies, and the roles asked for must
/// be held. Returns the code's value.
pub async fn issue_code(
    services: &Services,
    request: &AuthorizeRequest,
    browser: &BrowserSession,
    ip: std::net::IpAddr,
) -> Result<String, CodeRefused> {
    let refused = |error, description: String| CodeRefused { error, description };
    let from_grant = |err: GrantError| match err {
        GrantError::InvalidScope(why) => refused("invalid_scope", why),
        GrantError::InvalidRequest(why) | GrantError::InvalidGrant(why) => {
            refused("access_denied", why)
        }
        GrantError::Domain(DomainError::Busy(_) | DomainError::Unavailable(_)) => refused(
            "temporarily_unavailable",
            "the server is busy; try again".into(),
        ),
        other => {
            // The cause is for the log; the application is told only that Warden failed.
            tracing::error!(error = %other, "authorization code not issued");
            refused(
                "server_error",
                "the server could not complete the request".into(),
            )
        }
    };
    services
        .engine
        .catch_up(services.store.as_ref())
        .await
        .map_err(|err| from_grant(GrantError::Domain(err.into())))?;
    let snapshot = services.engine.snapshot();
    // An application that belongs to an account signs people in to that account only.
    let own = request.recipient.client.account_id;
    let wanted = request.entered_account();
    let entry = enter_account(services, &snapshot, &browser.user, wanted.as_deref())
        .await
        .map_err(from_grant)?;
    if own.is_some() && entry.account.as_ref().map(|a| a.id) != own {
        return Err(refused(
            "access_denied",
            "this application signs people in to its own account only".to_owned(),
        ));
    }
    if let Some(account) = &entry.account {
        if !crate::net::allowed(&account.allowed_ips, ip) {
            return Err(refused("access_denied", super::ADDRESS_REFUSED.to_owned()));
        }
    }
    let needs_factor = services.settings.require_second_factor
        || entry
            .account
            .as_ref()
            .is_some_and(|a| a.require_second_factor);
    if needs_factor && !browser.amr().iter().any(|m| m == "mfa") {
        // The policy came after this browser signed in: sign in again, with the factor.
        return Err(refused(
            "login_required",
            "a second factor is required: sign in again".to_owned(),
        ));
    }
    let account_id = entry.account.as_ref().map(|a| a.id);
    let held = snapshot
        .role_names_of(&browser.user.id, account_id.as_ref())
        .unwrap_or_default();
    let expand = |names: &[&str]| snapshot.roles.names_reached(names, account_id.as_ref());
    narrow(held, None, request.roles.as_deref(), expand).map_err(from_grant)?;
    let issued = Issued {
        client_id: request.recipient.client.client_id.clone(),
        redirect_uri: request.recipient.redirect_uri.clone(),
        code_challenge: request.code_challenge.clone(),
        user_id: browser.user.id,
        account_id,
        member: entry.member,
        browser_session: browser.session.id,
        browser_expires: browser
            .session
            .expires_at
            .map_or(i64::MAX, Timestamp::millis),
        auth_time: browser.auth_time(),
        amr: browser.amr(),
        oidc_scopes: request.oidc_scopes.clone(),
        roles: request.roles.clone(),
        nonce: request.nonce.clone(),
    };
    let value = random_token();
    let now = Timestamp::now();
    let stored = StoredCode {
        code_hash: sha256_b64(value.as_bytes()),
        session_id: SessionId::new(),
        details: serde_json::to_string(&issued)
            .map_err(|err| refused("server_error", err.to_string()))?,
        created_at: now,
        expires_at: now.plus_seconds(CODE_TTL_SECONDS),
    };
    services
        .store
        .insert_code(&stored)
        .await
        .map_err(|err| from_grant(GrantError::Domain(err.into())))?;
    Ok(value)
}

/// The claims of an ID token (OpenID Connect Core §2), profile and email claims by scope.
#[derive(Debug, Clone, Serialize)]
pub struct IdClaims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
    amr: Vec<String>,
    azp: String,
    /// The browser session (OpenID Connect's `sid`): what logout ends.
    sid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    acct: Option<String>,
    #[serde(flatten)]
    profile: serde_json::Map<String, serde_json::Value>,
}

/// The claims about `user` that `scopes` release (`profile`, `email`), as `/userinfo` and the
/// ID token give them.
pub fn user_claims(user: &User, scopes: &[&str]) -> serde_json::Map<String, serde_json::Value> {
    let mut claims = serde_json::Map::new();
    if scopes.contains(&"profile") {
        if !user.display_name.is_empty() {
            claims.insert("name".into(), user.display_name.clone().into());
        }
        let preferred = user
            .username
            .as_ref()
            .map_or_else(|| user.email.as_str().to_owned(), |u| u.as_str().to_owned());
        claims.insert("preferred_username".into(), preferred.into());
        claims.insert("updated_at".into(), user.updated_at.seconds().into());
    }
    if scopes.contains(&"email") {
        claims.insert("email".into(), user.email.as_str().into());
        // Warden does not verify addresses itself; an administrator vouches for them.
        claims.insert("email_verified".into(), false.into());
    }
    claims
}

/// A successful code grant: the access and refresh tokens, and the ID token when `openid` was
/// asked for.
#[derive(Debug)]
pub struct CodeGrant {
    /// Access and refresh tokens.
    pub issued: IssuedToken,
    /// The ID token.
    pub id_token: Option<String>,
}

/// Redeems a code: once, by its client, with its redirect URI and its PKCE verifier.
pub async fn code_grant(
    services: &Services,
    client: &ClientIdentity,
    code: &str,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
) -> Result<CodeGrant, GrantError> {
    let Some(registered) = client.registered() else {
        return Err(GrantError::UnauthorizedClient(
            "Warden's own client signs in with the password grant; register a client for the code flow".into(),
        ));
    };
    client.require_grant("authorization_code")?;
    if code.is_empty() {
        return Err(GrantError::InvalidRequest("`code` is required".into()));
    }
    if code.len() > 128 {
        return Err(invalid());
    }
    let code_hash = sha256_b64(code.as_bytes());
    let now = Timestamp::now();
    let store = services.store.as_ref();
    let stored = match store
        .take_code(&code_hash, now)
        .await
        .map_err(DomainError::from)?
    {
        CodeUse::Unknown => return Err(invalid()),
        CodeUse::Replayed(stored) => {
            replayed(services, &stored).await?;
            return Err(invalid());
        }
        CodeUse::Fresh(stored) => stored,
    };
    let issued: Issued = serde_json::from_str(&stored.details)
        .map_err(|err| DomainError::Internal(format!("stored code details: {err}")))?;
    // A code sent to one client and presented by another (code injection) is spent.
    if issued.client_id != registered.client_id || stored.expires_at <= now {
        return Err(invalid());
    }
    if redirect_uri != Some(issued.redirect_uri.as_str()) {
        return Err(GrantError::InvalidGrant(
            "`redirect_uri` must be the one the code was sent to".into(),
        ));
    }
    let verifier = verifier
        .ok_or_else(|| GrantError::InvalidGrant("`code_verifier` is required (PKCE)".into()))?;
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    let matches = aws_lc_rs::constant_time::verify_slices_are_equal(
        sha256_b64(verifier.as_bytes()).as_bytes(),
        issued.code_challenge.as_bytes(),
    )
    .is_ok();
    if !well_formed || !matches {
        return Err(GrantError::InvalidGrant(
            "the `code_verifier` does not match the code's challenge".into(),
        ));
    }
    let record = store
        .user(&issued.user_id)
        .await
        .map_err(DomainError::from)?
        .filter(|r| r.user.status == Status::Active)
        .ok_or_else(invalid)?;
    let password_hash = record.password_hash.clone().ok_or_else(invalid)?;
    services
        .engine
        .catch_up(store)
        .await
        .map_err(DomainError::from)?;
    let snapshot = services.engine.snapshot();
    let account = issued.account_id;
    let held = snapshot
        .role_names_of(&issued.user_id, account.as_ref())
        .ok_or_else(invalid)?;
    let expand = |names: &[&str]| snapshot.roles.names_reached(names, account.as_ref());
    // A third-party application's tokens carry only the roles the person allowed it (those it
    // asked for by name on the consent page); a first-party one's carry them all, as a login.
    let ceiling =
        (!registered.sign_in.first_party).then(|| issued.roles.clone().unwrap_or_default());
    let (roles, scope) = narrow(held, ceiling.as_deref(), issued.roles.as_deref(), expand)?;
    let session = Session {
        id: stored.session_id,
        user_id: issued.user_id,
        account_id: account,
        client_id: registered.client_id.clone(),
        created_at: now,
        ended_at: None,
        // It never outlives the browser session that opened it.
        expires_at: Some(
            now.plus_seconds(services.settings.refresh_absolute_ttl)
                .min(Timestamp::from_millis(issued.browser_expires)),
        ),
        scope: scope.clone(),
        parent_id: Some(issued.browser_session),
        amr: Some(issued.amr.join(" ")),
        oidc_scope: Some(issued.oidc_scopes.join(" ")),
    };
    let refresh = client
        .allows("refresh_token")
        .then(|| new_refresh_token(services, &session, now));
    let opened = store
        .open_login(&NewLogin {
            session: &session,
            refresh: refresh.as_ref().map(|(_, stored)| stored),
            password_hash: &password_hash,
            member: issued.member,
        })
        .await
        .map_err(DomainError::from)?;
    if !opened {
        // The browser session ended (logout), or the user, their password, the account or the
        // membership changed, since the code was issued.
        return Err(invalid());
    }
    // A replay that raced this redemption saw no session to end yet: it is ended here instead.
    if store
        .code_replayed(&code_hash)
        .await
        .map_err(DomainError::from)?
    {
        replayed(services, &stored).await?;
        return Err(invalid());
    }
    let mut access = issue(
        services,
        issued.user_id.to_string(),
        session.client_id.clone(),
        session.id,
        account,
        roles,
        scope,
        now,
        session.expires_at,
    )?;
    access.refresh_token = refresh.map(|(value, _)| value);
    access.scope = Some(super::authorize::granted_scope(
        &issued.oidc_scopes.join(" "),
        access.scope.as_deref(),
    ));
    let id_token = if issued.oidc_scopes.iter().any(|s| s == "openid") {
        let scopes: Vec<&str> = issued.oidc_scopes.iter().map(String::as_str).collect();
        let claims = IdClaims {
            iss: services.tokens.issuer().to_owned(),
            sub: issued.user_id.to_string(),
            aud: registered.client_id.clone(),
            exp: now.seconds() + services.settings.access_token_ttl,
            iat: now.seconds(),
            auth_time: issued.auth_time,
            nonce: issued.nonce.clone(),
            amr: issued.amr.clone(),
            azp: registered.client_id.clone(),
            sid: issued.browser_session.to_string(),
            acct: account.map(|a| a.to_string()),
            profile: user_claims(&record.user, &scopes),
        };
        Some(services.tokens.sign_id_token(&claims)?)
    } else {
        None
    };
    let event = crate::audit::Event {
        actor: format!("user:{}", issued.user_id),
        action: "login.succeeded",
        account,
        target: Some(format!("session:{}", session.id)),
        details: serde_json::json!({
            "client_id": registered.client_id,
            "method": "authorization_code",
            "browser_session": issued.browser_session.to_string(),
        }),
    };
    crate::audit::record_durably(services, event).await;
    Ok(CodeGrant {
        issued: access,
        id_token,
    })
}

/// A used code came back: whatever it opened ends (RFC 6749 §4.1.2), on this node before the
/// answer leaves, and the replay is audited.
async fn replayed(services: &Services, stored: &StoredCode) -> Result<(), GrantError> {
    let store = services.store.as_ref();
    let ended = store
        .end_session(&stored.session_id, Timestamp::now())
        .await
        .map_err(DomainError::from)?;
    if ended {
        services
            .engine
            .catch_up(store)
            .await
            .map_err(DomainError::from)?;
    }
    tracing::warn!(session = %stored.session_id, "authorization code replayed: its session is revoked");
    let event = crate::audit::Event {
        actor: "anonymous".into(),
        action: "token.code_replayed",
        account: None,
        target: Some(format!("session:{}", stored.session_id)),
        details: serde_json::json!({ "code_sha256": stored.code_hash, "session_revoked": ended }),
    };
    crate::audit::record_durably(services, event).await;
    Ok(())
}

/// What `/userinfo` answers for the session a token belongs to: `sub`, and the profile and
/// email claims its OpenID scopes release. A session of Warden's own login (the password
/// grant) releases both: the person asked for their own data through Warden's own client.
pub async fn userinfo(
    services: &Services,
    user: &UserId,
    session: &SessionId,
) -> Result<serde_json::Map<String, serde_json::Value>, DomainError> {
    let record = services
        .store
        .user(user)
        .await?
        .ok_or(DomainError::NotFound("user"))?;
    let granted = services
        .store
        .session(session)
        .await?
        .and_then(|s| s.oidc_scope);
    let scopes: Vec<&str> = match &granted {
        Some(scope) => scope.split(' ').collect(),
        None => vec!["profile", "email"],
    };
    let mut claims = serde_json::Map::new();
    claims.insert("sub".into(), user.to_string().into());
    claims.extend(user_claims(&record.user, &scopes));
    Ok(claims)
}
