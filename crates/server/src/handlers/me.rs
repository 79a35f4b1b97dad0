//! Self-service: `/v1/users/me`, the password change, and open registration.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use warden_core::admin::me::{self, ChangePassword, Register, UpdateMe};
use warden_core::admin::sessions::{self, SessionInfo};
use warden_core::ids::SessionId;
use warden_core::model::User;
use warden_core::page::{Page, PageRequest};

use super::accounts::ListPage;
use crate::error::{ApiError, Problem};
use crate::extract::{Authenticated, Body, ClientAddr, Params, PathId};
use crate::state::AppState;

/// The caller's own profile.
#[utoipa::path(get, path = "/v1/users/me", tag = "self-service", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<User>, ApiError> {
    Ok(Json(me::get(state.services(), auth.user()?).await?))
}

/// Changes the caller's username, display name or phone.
#[utoipa::path(patch, path = "/v1/users/me", tag = "self-service", request_body = UpdateMe, security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    auth: Authenticated,
    Body(input): Body<UpdateMe>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(
        me::update(state.services(), auth.user()?, input).await?,
    ))
}

/// Changes the caller's password; the current one is required.
#[utoipa::path(post, path = "/v1/users/me/password", tag = "self-service", request_body = ChangePassword, security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
pub async fn change_password(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    auth: Authenticated,
    Body(input): Body<ChangePassword>,
) -> Result<StatusCode, ApiError> {
    // A password check costs a hash: the same per-address budget as the token endpoint.
    state
        .token_limiter()
        .check(ip)
        .map_err(ApiError::RateLimited)?;
    me::change_password(state.services(), auth.user()?, input).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Open registration (off unless `registration_enabled`). The answer is the same whether or not
/// the address was already registered.
#[utoipa::path(post, path = "/v1/register", tag = "self-service", request_body = Register,
    responses((status = 202, description = "Accepted; log in to continue"), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn register(
    State(state): State<AppState>,
    Body(input): Body<Register>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    me::register(state.services(), input).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(
            json!({ "status": "accepted", "detail": "if the address can be registered, the account is ready: log in to continue" }),
        ),
    ))
}

/// What the caller allowed applications on the consent page, by application.
#[utoipa::path(get, path = "/v1/users/me/consents", tag = "self-service", security(("bearer" = [])),
    responses((status = 200, description = "`{\"items\": [{\"client_id\", \"scope\", \"granted_at\"}]}`"), (status = 401, body = Problem)))]
pub async fn list_consents(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<Value>, ApiError> {
    let consents = warden_core::oauth::consent::mine(state.services(), auth.user()?).await?;
    Ok(Json(json!({ "items": consents })))
}

/// Withdraws what the caller allowed an application, and ends their sessions of it; the next
/// sign-in to it asks again.
#[utoipa::path(delete, path = "/v1/users/me/consents/{client_id}", tag = "self-service", params(("client_id" = String, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn withdraw_consent(
    State(state): State<AppState>,
    auth: Authenticated,
    axum::extract::Path(client_id): axum::extract::Path<String>,
) -> Result<StatusCode, ApiError> {
    warden_core::oauth::consent::withdraw(state.services(), auth.user()?, &client_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's live sessions, newest first; `current` marks the one this token belongs to.
#[utoipa::path(get, path = "/v1/users/me/sessions", tag = "sessions", params(ListPage), security(("bearer" = [])),
    responses((status = 200, body = Page<SessionInfo>), (status = 400, body = Problem), (status = 401, body = Problem), (status = 422, body = Problem)))]
pub async fn list_sessions(
    State(state): State<AppState>,
    auth: Authenticated,
    Params(q): Params<ListPage>,
) -> Result<Json<Page<SessionInfo>>, ApiError> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    Ok(Json(
        sessions::list_mine(state.services(), auth.user()?, page).await?,
    ))
}

/// Ends every session of the caller except the current one.
#[utoipa::path(delete, path = "/v1/users/me/sessions", tag = "sessions", security(("bearer" = [])),
    responses((status = 200, description = "`{\"ended\": n}`"), (status = 401, body = Problem)))]
pub async fn end_other_sessions(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<Value>, ApiError> {
    let ended = sessions::end_my_others(state.services(), auth.user()?).await?;
    Ok(Json(json!({ "ended": ended })))
}

/// Ends one of the caller's sessions (the current one too: a logout).
#[utoipa::path(delete, path = "/v1/users/me/sessions/{id}", tag = "sessions", security(("bearer" = [])),
    responses((status = 204), (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn end_session(
    State(state): State<AppState>,
    auth: Authenticated,
    PathId(id): PathId<SessionId>,
) -> Result<StatusCode, ApiError> {
    sessions::end_mine(state.services(), auth.user()?, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
