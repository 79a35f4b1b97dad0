//! Setting up a second factor from the hosted pages (`/oauth/second-factor`), for the person
//! signed in in this browser: the QR code and key of a new factor, confirmed with a first code,
//! then the recovery codes, once. The same steps as `POST /v1/users/me/totp` and `/confirm`.

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

/// The person signed in in this browser, or the page that says to sign in first.
async fn signed_in(state: &AppState, cookies: &Cookies) -> Result<BrowserSession, Response> {
    match browser::current(state.services(), cookies.session()).await {
        Ok(Some(found)) => Ok(found),
        Ok(None) => Err(web::notice(
            state,
            StatusCode::UNAUTHORIZED,
            "Sign in first",
            "Sign in to an application with this browser, then come back to this page.",
        )),
        Err(err) => Err(web::failure(state, &err)),
    }
}

/// `GET /oauth/second-factor`: the setup page (or a note that a factor is already set up).
pub(crate) async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let cookies = Cookies::of(&headers);
    let browser = match signed_in(&state, &cookies).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    show(&state, &cookies, &browser, None).await
}

/// The setup page for `browser`'s person, with `error` from a wrong first code.
async fn show(
    state: &AppState,
    cookies: &Cookies,
    browser: &BrowserSession,
    error: Option<&str>,
) -> Response {
    let services = state.services();
    let user = &browser.user;
    let enrolment =
        match factor::enrolled(services, &user.id).await {
            Ok(true) => return web::notice(
                state,
                StatusCode::OK,
                "Second factor",
                "A second factor is already set up. If you lost it, an administrator can reset it.",
            ),
            Ok(false) => match factor::pending(services, user).await {
                Ok(Some(started)) => Ok(started),
                Ok(None) => factor::enrol(services, user).await,
                Err(err) => Err(err),
            },
            Err(err) => Err(err),
        };
    let enrolment = match enrolment {
        Ok(enrolment) => enrolment,
        Err(err) => return web::failure(state, &err),
    };
    web::setup_page(
        state,
        cookies,
        SETUP,
        (&enrolment.otpauth_uri, &enrolment.secret),
        error,
    )
}

/// `POST /oauth/second-factor`: the first code; the recovery codes are shown once.
pub(crate) async fn confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let cookies = Cookies::of(&headers);
    let mut form = match Form::read(&state, &cookies, &body) {
        Ok(form) => form,
        Err(response) => return response,
    };
    let browser = match signed_in(&state, &cookies).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    match factor::confirm(state.services(), &browser.user, &form.take("code")).await {
        Ok(codes) => pages::recovery(state.theme(), &codes.recovery_codes, SETUP),
        Err(DomainError::Validation(_)) => {
            show(&state, &cookies, &browser, Some("the code is not correct")).await
        }
        Err(DomainError::Busy(_)) => {
            show(
                &state,
                &cookies,
                &browser,
                Some("too many wrong codes; wait a while and try again"),
            )
            .await
        }
        Err(DomainError::Conflict(why)) => web::error_page(&state, StatusCode::CONFLICT, &why),
        Err(err) => web::failure(&state, &err),
    }
}
