//! The browser's side of sign-in: cookies, CSRF tokens, the forms, pages and redirects.
//!
//! Two cookies, both `HttpOnly` and `SameSite=Lax`; over https `__Host-` cookies (`Secure`,
//! `Path=/`, this host only), on plain loopback http scoped to `/oauth`: `warden_session` names the browser session (its id sealed under the
//! master key; a new one at every login, so a cookie planted before a login names nothing
//! after it), and `warden_csrf` is a random value every form's CSRF token is sealed from, so a
//! form posted from another site, or before this browser was given a token, is refused — the
//! login form included (login CSRF).

use std::collections::HashMap;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use warden_core::model::Client;
use warden_core::oauth::authorize::AuthorizeRequest;
use warden_core::oauth::browser::BrowserSession;
use warden_core::tokens::IdTokenHint;
use warden_core::DomainError;

use super::pages;
use crate::state::AppState;

/// The browser session cookie.
const SESSION_COOKIE: &str = "warden_session";
/// The CSRF cookie.
const CSRF_COOKIE: &str = "warden_csrf";

/// How the cookies are named and scoped. Over https they are `__Host-` cookies on `/`: only
/// this host, over https, can set them, so a sibling subdomain cannot plant one (a login CSRF
/// or a session of its own choosing). On plain http (loopback) no prefix is possible, and they
/// are scoped to `/oauth`.
struct Jar {
    session: &'static str,
    csrf: &'static str,
    attributes: &'static str,
}

fn jar(state: &AppState) -> Jar {
    if state.services().tokens.issuer().starts_with("https://") {
        Jar {
            session: "__Host-warden_session",
            csrf: "__Host-warden_csrf",
            attributes: "Path=/; HttpOnly; SameSite=Lax; Secure",
        }
    } else {
        Jar {
            session: SESSION_COOKIE,
            csrf: CSRF_COOKIE,
            attributes: "Path=/oauth; HttpOnly; SameSite=Lax",
        }
    }
}
/// What a form's CSRF token is sealed under.
const CSRF_CONTEXT: &str = "sign-in-form";

/// The cookies a request carries that sign-in reads.
pub struct Cookies {
    session: String,
    csrf: Option<String>,
}

impl Cookies {
    /// Reads the `Cookie` headers; of a name sent twice the first is kept.
    pub fn of(state: &AppState, headers: &HeaderMap) -> Self {
        let names = jar(state);
        let mut session = None;
        let mut csrf = None;
        for value in headers.get_all(header::COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            for pair in text.split(';') {
                let Some((name, value)) = pair.trim().split_once('=') else {
                    continue;
                };
                if name == names.session && session.is_none() {
                    session = Some(value.to_owned());
                } else if name == names.csrf && csrf.is_none() && !value.is_empty() {
                    csrf = Some(value.to_owned());
                }
            }
        }
        Self {
            session: session.unwrap_or_default(),
            csrf,
        }
    }

    /// The session cookie's value (empty when none).
    pub fn session(&self) -> &str {
        &self.session
    }

    /// The secret only this browser holds (its CSRF cookie; empty when none), to which what the
    /// pages carry between steps is bound.
    pub fn binding(&self) -> &str {
        self.csrf.as_deref().unwrap_or_default()
    }

    /// The cookies after a sign-in: a new CSRF value (so nothing bound to the old one, a form
    /// or a pending second-factor proof, is accepted again), and its `Set-Cookie` line.
    pub fn rotated(&self, state: &AppState) -> (Self, String) {
        let value = warden_core::crypto::random_token();
        let names = jar(state);
        let line = format!("{}={value}; {}", names.csrf, names.attributes);
        (
            Self {
                session: self.session.clone(),
                csrf: Some(value),
            },
            line,
        )
    }
}

/// Adds a `Set-Cookie` line made by [`Cookies::rotated`].
pub fn set_rotated(response: &mut Response, line: &str) {
    set_cookie(response, line);
}

fn set_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// Gives the browser its session cookie, for as long as the session can live.
pub fn set_session_cookie(state: &AppState, response: &mut Response, value: &str) {
    let max_age = state.services().settings.refresh_absolute_ttl;
    let names = jar(state);
    set_cookie(
        response,
        &format!(
            "{}={value}; Max-Age={max_age}; {}",
            names.session, names.attributes
        ),
    );
}

/// Makes the browser forget its session cookie.
fn clear_session_cookie(state: &AppState, response: &mut Response) {
    let names = jar(state);
    set_cookie(
        response,
        &format!("{}=; Max-Age=0; {}", names.session, names.attributes),
    );
}

/// The CSRF token of a page's form, and the cookie to set when the browser had none.
fn csrf(state: &AppState, cookies: &Cookies) -> (String, Option<String>) {
    let (value, fresh) = match &cookies.csrf {
        Some(value) => (value.clone(), false),
        None => (warden_core::crypto::random_token(), true),
    };
    let token = state
        .services()
        .sealer
        .seal(CSRF_CONTEXT, value.as_bytes())
        .unwrap_or_default();
    let cookie = fresh.then(|| {
        let names = jar(state);
        format!("{}={value}; {}", names.csrf, names.attributes)
    });
    (token, cookie)
}

/// A page with a form: its CSRF token is made, and the cookie set, here.
fn with_form(
    state: &AppState,
    cookies: &Cookies,
    render: impl FnOnce(&str) -> Response,
) -> Response {
    let (token, cookie) = csrf(state, cookies);
    let mut response = render(&token);
    if let Some(cookie) = cookie {
        set_cookie(&mut response, &cookie);
    }
    response
}

/// A posted form, its CSRF token checked against this browser's cookie.
pub struct Form(HashMap<String, String>);

impl Form {
    /// Reads a form body; a malformed one, a repeated field, or a CSRF token that is missing
    /// or not this browser's is refused with a page.
    #[expect(
        clippy::result_large_err,
        reason = "the refusal is the page answered, handed straight back to the handler"
    )]
    pub fn read(state: &AppState, cookies: &Cookies, body: &[u8]) -> Result<Self, Response> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| {
            error_page(state, StatusCode::BAD_REQUEST, "the form could not be read")
        })?;
        let mut fields = HashMap::new();
        for (name, value) in pairs {
            if fields.insert(name, value).is_some() {
                return Err(error_page(
                    state,
                    StatusCode::BAD_REQUEST,
                    "the form repeats a field",
                ));
            }
        }
        let expected = cookies.csrf.as_deref().unwrap_or_default();
        let presented = fields.get("csrf").map(String::as_str).unwrap_or_default();
        let valid = !expected.is_empty()
            && state
                .services()
                .sealer
                .open(CSRF_CONTEXT, presented)
                .is_ok_and(|opened| warden_core::crypto::same_secret(&opened, expected.as_bytes()));
        if !valid {
            return Err(message(
                state,
                StatusCode::FORBIDDEN,
                "This form has expired",
                "The form was not sent from this sign-in page, or it has expired.",
            ));
        }
        Ok(Self(fields))
    }

    /// Takes a field out (empty when absent).
    pub fn take(&mut self, name: &str) -> String {
        self.0.remove(name).unwrap_or_default()
    }
}

/// A `303 See Other` to `location`.
pub fn redirect(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    pages::protect(&mut response);
    response
}

/// Sends an error back to the application's registered redirect URI.
pub fn send_back(
    state: &AppState,
    request: &AuthorizeRequest,
    error: &str,
    description: &str,
) -> Response {
    redirect(&request.recipient.redirect(
        state.services().tokens.issuer(),
        &[("error", error), ("error_description", description)],
    ))
}

/// A page that says something, with a title of its own.
pub fn notice(state: &AppState, status: StatusCode, title: &str, text: &str) -> Response {
    message(state, status, title, text)
}

/// The self-service setup page of a second factor: the QR code, the key, a first code.
pub fn setup_page(
    state: &AppState,
    cookies: &Cookies,
    action: &str,
    enrolment: &warden_core::identity::factor::Enrolment,
    error: Option<&str>,
) -> Response {
    let fingerprint = warden_core::identity::factor::fingerprint(enrolment);
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    with_form(state, cookies, |csrf| {
        pages::second_factor(
            state.theme(),
            status,
            &pages::SecondFactorPage {
                action,
                csrf,
                request: "",
                carried: ("enrolment", &fingerprint),
                enrolment: Some((&enrolment.otpauth_uri, &enrolment.secret)),
                error,
            },
        )
    })
}

/// A notice or error page.
fn message(state: &AppState, status: StatusCode, title: &str, text: &str) -> Response {
    let hint = if status.is_success() {
        "You can close this window."
    } else {
        "Go back to the application and try again."
    };
    pages::message(state.theme(), status, title, text, hint)
}

/// The error page: shown when nothing may be sent back to the application.
pub fn error_page(state: &AppState, status: StatusCode, why: &str) -> Response {
    message(state, status, "Sign-in failed", why)
}

/// Warden could not answer: busy or unavailable (503), or its own failure (500, logged).
pub fn failure(state: &AppState, err: &DomainError) -> Response {
    match err {
        DomainError::Busy(_) | DomainError::Unavailable(_) => {
            let mut response = message(
                state,
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again shortly",
                "The server is busy.",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(1));
            response
        }
        DomainError::Conflict(why) => message(state, StatusCode::CONFLICT, "Sign-in failed", why),
        other => {
            tracing::error!(error = %other, "sign-in failed");
            message(
                state,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Sign-in failed",
                "Something went wrong on our side.",
            )
        }
    }
}

/// Too many attempts from this address.
pub fn throttled(state: &AppState, retry_after: u64) -> Response {
    let mut response = message(
        state,
        StatusCode::TOO_MANY_REQUESTS,
        "Too many attempts",
        &format!("Too many sign-in attempts from this address; wait {retry_after} seconds."),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
}

/// The login page for `request`.
pub fn login_page(
    state: &AppState,
    cookies: &Cookies,
    query: &str,
    request: &AuthorizeRequest,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    with_form(state, cookies, |csrf| {
        pages::login(
            state.theme(),
            status,
            &pages::LoginPage {
                csrf,
                request: query,
                client: &request.recipient.client.name,
                login_hint: request.login_hint.as_deref().unwrap_or_default(),
                error,
            },
        )
    })
}

/// The second-factor page (or, enrolling, the setup page).
pub fn second_factor_page(
    state: &AppState,
    cookies: &Cookies,
    query: &str,
    pending: &str,
    enrolment: Option<(&str, &str)>,
    error: Option<&str>,
) -> Response {
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    with_form(state, cookies, |csrf| {
        pages::second_factor(
            state.theme(),
            status,
            &pages::SecondFactorPage {
                action: "/oauth/login/second-factor",
                csrf,
                request: query,
                carried: ("pending", pending),
                enrolment,
                error,
            },
        )
    })
}

/// The consent page for `request`.
pub fn consent_page(
    state: &AppState,
    cookies: &Cookies,
    query: &str,
    request: &AuthorizeRequest,
    browser: &BrowserSession,
) -> Response {
    let proof = state
        .services()
        .sealer
        .seal(CONSENT_CONTEXT, consent_binding(browser, query).as_bytes())
        .unwrap_or_default();
    with_form(state, cookies, |csrf| {
        pages::consent(
            state.theme(),
            csrf,
            &proof,
            query,
            &request.recipient.client.name,
            browser.user.email.as_str(),
            &request.asked_for(),
        )
    })
}

/// What a consent page's proof is sealed under.
const CONSENT_CONTEXT: &str = "consent-page";

/// What a consent page's proof binds: the browser session it was shown in and the request.
fn consent_binding(browser: &BrowserSession, query: &str) -> String {
    format!(
        "{}|{}",
        browser.session.id,
        warden_core::crypto::sha256_b64(query.as_bytes())
    )
}

/// Whether `proof` is that of a consent page shown for `query` in `browser`'s session: only a
/// request that reached the consent page (past the login, `prompt=login` and `max_age`
/// checks) can be allowed.
pub fn consent_shown(state: &AppState, browser: &BrowserSession, query: &str, proof: &str) -> bool {
    state
        .services()
        .sealer
        .open(CONSENT_CONTEXT, proof)
        .is_ok_and(|opened| {
            warden_core::crypto::same_secret(&opened, consent_binding(browser, query).as_bytes())
        })
}

/// The logout confirmation page.
pub fn logout_page(
    state: &AppState,
    cookies: &Cookies,
    query: &str,
    target: &LogoutTarget,
) -> Response {
    with_form(state, cookies, |csrf| {
        pages::logout(
            state.theme(),
            csrf,
            query,
            target.client.as_ref().map(|c| c.name.as_str()),
        )
    })
}

/// Where an RP-initiated logout returns, checked: the `post_logout_redirect_uri` must be one
/// the client (named by `client_id` or by the hint's audience) registered, exactly.
pub struct LogoutTarget {
    hint: Option<IdTokenHint>,
    client: Option<Client>,
    redirect: Option<String>,
    state: Option<String>,
}

impl LogoutTarget {
    /// Reads a logout request's parameters; anything that cannot be trusted is an error page.
    pub async fn read(state: &AppState, query: &str) -> Result<Self, Response> {
        let refuse = |why: &str| error_page(state, StatusCode::BAD_REQUEST, why);
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|_| refuse("the request is not a valid query string"))?;
        let mut params: HashMap<String, String> = HashMap::new();
        for (name, value) in pairs {
            if value.is_empty() {
                continue;
            }
            if params.insert(name, value).is_some() {
                return Err(refuse("the request repeats a parameter"));
            }
        }
        let services = state.services();
        let hint = match params.get("id_token_hint") {
            None => None,
            Some(token) => Some(services.tokens.read_id_token_hint(token).ok_or_else(|| {
                refuse("the id_token_hint is not an ID token this server issued")
            })?),
        };
        let client_id = match (params.get("client_id"), &hint) {
            (Some(id), Some(hint)) if *id != hint.aud => {
                return Err(refuse("client_id does not match the id_token_hint"))
            }
            (Some(id), _) => Some(id.clone()),
            (None, Some(hint)) => Some(hint.aud.clone()),
            (None, None) => None,
        };
        let client = match &client_id {
            None => None,
            Some(id) if id.len() <= 128 => services
                .store
                .client_by_client_id(id)
                .await
                .map_err(|err| failure(state, &DomainError::from(err)))?
                .map(|record| record.client)
                .filter(|c| c.status == warden_core::model::Status::Active),
            Some(_) => None,
        };
        let redirect = match params.get("post_logout_redirect_uri") {
            None => None,
            Some(uri) => {
                let registered = client
                    .as_ref()
                    .is_some_and(|c| c.sign_in.post_logout_redirect_uris.iter().any(|r| r == uri));
                if !registered {
                    return Err(refuse(
                        "the post_logout_redirect_uri is not one the application registered",
                    ));
                }
                Some(uri.clone())
            }
        };
        Ok(Self {
            hint,
            client,
            redirect,
            state: params.get("state").cloned(),
        })
    }

    /// The browser session and person the hint names, if there is a hint.
    pub fn hinted(&self) -> Option<(&str, &str)> {
        self.hint
            .as_ref()
            .and_then(|hint| Some((hint.sid.as_deref()?, hint.sub.as_str())))
    }

    /// Whether the hint names `browser`'s session and person, so logout needs no question.
    pub fn names(&self, browser: &BrowserSession) -> bool {
        self.hint.as_ref().is_some_and(|hint| {
            hint.sub == browser.user.id.to_string()
                && hint.sid.as_deref() == Some(browser.session.id.to_string().as_str())
        })
    }

    /// Signed out: back to the application with its `state`, or a page that says so.
    pub fn done(&self, state: &AppState) -> Response {
        let mut response = match &self.redirect {
            Some(uri) => {
                let mut location = uri.clone();
                if let Some(value) = &self.state {
                    let query = serde_urlencoded::to_string([("state", value)]).unwrap_or_default();
                    location.push(if uri.contains('?') { '&' } else { '?' });
                    location.push_str(&query);
                }
                redirect(&location)
            }
            None => message(state, StatusCode::OK, "Signed out", "You are signed out."),
        };
        clear_session_cookie(state, &mut response);
        response
    }
}
