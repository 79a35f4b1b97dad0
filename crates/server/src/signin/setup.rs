//! Setting up a second factor from the hosted pages (`/oauth/second-factor`), for the person
//! signed in in this browser within the last fifteen minutes: the QR code and key of a new
//! factor, confirmed with a first code, then the recovery codes, once. The same steps as
//! `POST /v1/users/me/totp` and `/confirm`; the form names the key it showed, so a setup
//! started again elsewhere meanwhile is not confirmed through it.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use warden_core::identity::factor;
use warden_core::oauth::browser::{self, BrowserSession};
use warden_core::DomainError;

use super::pages;
use super::web::{self, Cookies, Form};
use crate::state::AppState;

/// Where the setup lives.
const SETUP: &str = "/oauth/second-factor";
/// How recent the sign-in must be, seconds.
const RECENT: i64 = 15 * 60;

/// The person signed in in this browser, recently, or the page that says to sign in (again).
async fn signed_in(state: &AppState, cookies: &Cookies) -> Result<BrowserSession, Response> {
    let found = browser::current(state.services(), cookies.session())
        .await
        .map_err(|err| web::failure(state, &err))?;
    let now = warden_core::time::Timestamp::now().seconds();
    match found {
        Some(found) if now - found.auth_time() <= RECENT => Ok(found),
        Some(_) => Err(web::notice(
            state,
            StatusCode::UNAUTHORIZED,
            "Sign in again",
            "Setting up a second factor takes a sign-in in the last fifteen minutes: sign in to an application again, then come back.",
        )),
        None => Err(web::notice(
            state,
            StatusCode::UNAUTHORIZED,
            "Sign in first",
            "Sign in to an application with this browser, then come back to this page.",
        )),
    }
}

/// `GET /oauth/second-factor`: a new key to set up (or a note that a factor is already set up).
pub(crate) async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let cookies = Cookies::of(&state, &headers);
    let browser = match signed_in(&state, &cookies).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let services = state.services();
    match factor::enrolled(services, &browser.user.id).await {
        Ok(true) => already(&state),
        Ok(false) => match factor::enrol(services, &browser.user).await {
            Ok(enrolment) => web::setup_page(&state, &cookies, SETUP, &enrolment, None),
            Err(err) => web::failure(&state, &err),
        },
        Err(err) => web::failure(&state, &err),
    }
}

fn already(state: &AppState) -> Response {
    web::notice(
        state,
        StatusCode::OK,
        "Second factor",
        "A second factor is already set up. If you lost it, an administrator can reset it.",
    )
}

/// `POST /oauth/second-factor`: the first code of the key the page showed; the recovery codes
/// are shown once.
pub(crate) async fn confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let cookies = Cookies::of(&state, &headers);
    let mut form = match Form::read(&state, &cookies, &body) {
        Ok(form) => form,
        Err(response) => return response,
    };
    let browser = match signed_in(&state, &cookies).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let services = state.services();
    let shown = form.take("enrolment");
    let why = match factor::confirm(services, &browser.user, &form.take("code"), Some(&shown)).await
    {
        Ok(codes) => return pages::recovery(state.theme(), &codes.recovery_codes, SETUP),
        Err(DomainError::Validation(_)) => "the code is not correct",
        Err(DomainError::Busy(_)) => "too many wrong codes; wait a while and try again",
        Err(DomainError::Conflict(why)) if why.contains("already") => return already(&state),
        Err(err) => return web::failure(&state, &err),
    };
    // The same key stays on screen after a wrong code, if it is still the one set up.
    match factor::pending(services, &browser.user).await {
        Ok(Some(enrolment)) if factor::fingerprint(&enrolment) == shown => {
            web::setup_page(&state, &cookies, SETUP, &enrolment, Some(why))
        }
        Ok(_) => web::error_page(
            &state,
            StatusCode::CONFLICT,
            "the setup was started again elsewhere; start again",
        ),
        Err(err) => web::failure(&state, &err),
    }
}
