//! Second factors: a person enrols a TOTP authenticator and confirms it with a first code;
//! an administrator resets a lost one.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use warden_core::admin::me;
use warden_core::identity::factor::{self, ConfirmTotp, Enrolment, RecoveryCodes};
use warden_core::ids::UserId;

use crate::error::{ApiError, Problem};
use crate::extract::{Authenticated, Body, PathId};
use crate::state::AppState;

/// Starts setting up a TOTP second factor: answers the `otpauth://` URI for an authenticator
/// app (the hosted sign-in pages show it as a QR code) and the key. Nothing is required until
/// it is confirmed with a first code. A confirmed factor is not replaced: an administrator
/// resets it first.
#[utoipa::path(post, path = "/v1/users/me/totp", tag = "self-service", security(("bearer" = [])),
    responses((status = 201, body = Enrolment), (status = 401, body = Problem), (status = 409, body = Problem)))]
pub async fn enrol(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<(StatusCode, Json<Enrolment>), ApiError> {
    let user = me::get(state.services(), auth.user()?).await?;
    let enrolment = factor::enrol(state.services(), &user).await?;
    Ok((StatusCode::CREATED, Json(enrolment)))
}

/// Confirms the factor being set up with the current code from the app. Answers ten recovery
/// codes, shown this once and stored only as hashes. From then on every sign-in asks for a
/// code, and the password grant refuses this user.
#[utoipa::path(post, path = "/v1/users/me/totp/confirm", tag = "self-service", request_body = ConfirmTotp, security(("bearer" = [])),
    responses((status = 200, body = RecoveryCodes), (status = 401, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem, description = "Too many wrong codes; see Retry-After")))]
pub async fn confirm(
    State(state): State<AppState>,
    auth: Authenticated,
    Body(input): Body<ConfirmTotp>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    let user = me::get(state.services(), auth.user()?).await?;
    Ok(Json(
        factor::confirm(state.services(), &user, &input.code, None).await?,
    ))
}

/// Removes a user's second factor (a lost phone). Audited; the user enrols again.
#[utoipa::path(delete, path = "/v1/users/{id}/totp", tag = "users", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn reset(
    State(state): State<AppState>,
    auth: Authenticated,
    PathId(id): PathId<UserId>,
) -> Result<StatusCode, ApiError> {
    factor::reset(state.services(), auth.access(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
