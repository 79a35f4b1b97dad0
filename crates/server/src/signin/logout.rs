//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): `GET` or `POST
//! /oauth/logout` from a relying party, and the confirmation form Warden shows when the request
//! does not name this browser's session.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use warden_core::oauth::browser;

use super::web::{self, Cookies, Form};
use crate::state::AppState;

/// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): `id_token_hint`,
/// `post_logout_redirect_uri` (registered exactly by the hint's client or `client_id`),
/// `state`. With a hint of this browser's session it signs out at once; otherwise it asks
/// first. Signing out ends the browser session and every session it opened.
#[utoipa::path(get, path = "/oauth/logout", tag = "sign-in",
    responses((status = 200, description = "The confirmation page, or the signed-out page", content_type = "text/html"),
              (status = 303, description = "Signed out: back to the post-logout redirect URI with `state`"),
              (status = 400, description = "An unregistered post-logout URI or a foreign hint: an error page", content_type = "text/html")))]
pub(crate) async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    rp_logout(
        &state,
        &Cookies::of(&state, &headers),
        &query.unwrap_or_default(),
    )
    .await
}

/// An RP-initiated logout request (its parameters in `query`, from the query or a form).
async fn rp_logout(state: &AppState, cookies: &Cookies, query: &str) -> Response {
    let state = state.clone();
    let target = match web::LogoutTarget::read(&state, query).await {
        Ok(target) => target,
        Err(response) => return response,
    };
    let browser = match browser::current(state.services(), cookies.session()).await {
        Ok(found) => found,
        Err(err) => return web::failure(&state, &err),
    };
    match browser {
        None => {
            // Nothing in this browser; what the hint names still ends.
            if let Some((sid, sub)) = target.hinted() {
                if let Err(err) = browser::end_hinted(state.services(), sid, sub).await {
                    return web::failure(&state, &err);
                }
            }
            target.done(&state)
        }
        Some(browser) if target.names(&browser) => {
            if let Err(err) = browser::end(state.services(), &browser.session.id, "logout").await {
                return web::failure(&state, &err);
            }
            target.done(&state)
        }
        Some(_) => web::logout_page(&state, cookies, query, &target),
    }
}

/// `POST /oauth/logout`: the confirmation form, or an RP-initiated logout sent as a form
/// (RP-Initiated Logout §2 lets a relying party POST it; such a request carries no CSRF token,
/// and is answered exactly as the `GET`).
pub(crate) async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let cookies = Cookies::of(&state, &headers);
    let confirming = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
        .is_ok_and(|pairs| pairs.iter().any(|(name, _)| name == "csrf"));
    if !confirming {
        return match std::str::from_utf8(&body) {
            Ok(query) => rp_logout(&state, &cookies, query).await,
            Err(_) => web::error_page(&state, StatusCode::BAD_REQUEST, "the form is not UTF-8"),
        };
    }
    let mut form = match Form::read(&state, &cookies, &body) {
        Ok(form) => form,
        Err(response) => return response,
    };
    let query = form.take("request");
    let target = match web::LogoutTarget::read(&state, &query).await {
        Ok(target) => target,
        Err(response) => return response,
    };
    match browser::current(state.services(), cookies.session()).await {
        Ok(Some(browser)) => {
            if let Err(err) = browser::end(state.services(), &browser.session.id, "logout").await {
                return web::failure(&state, &err);
            }
        }
        Ok(None) => {}
        Err(err) => return web::failure(&state, &err),
    }
    target.done(&state)
}
