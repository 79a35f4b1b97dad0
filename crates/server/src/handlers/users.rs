//! `/v1/users` and `/v1/users/{id}/roles`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use warden_core::admin::assignments::{self, GrantRole};
use warden_core::admin::sessions::{self, SessionInfo};
use warden_core::admin::users::{self, CreateUser, UpdateUser, UserQuery};
use warden_core::ids::{AccountId, RoleId, UserId};
use warden_core::model::{Assignment, User};
use warden_core::page::{Page, PageRequest};

use super::accounts::ListPage;
use crate::error::{ApiError, Problem};
use crate::extract::{path_id, Authenticated, Body, Params, PathId, PathIds};
use crate::state::AppState;

/// Query of `GET /v1/users`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListUsers {
    /// Page size, 1..=1000 (default 50).
    limit: Option<u32>,
    /// Cursor from the previous page's `next_cursor`.
    cursor: Option<String>,
    /// Exact email.
    email: Option<String>,
    /// Exact username.
    username: Option<String>,
    /// `active` or `disabled`.
    status: Option<String>,
    /// Members of this account.
    account_id: Option<String>,
    /// Exact external id (SCIM `externalId`).
    external_id: Option<String>,
}

/// Creates a user. Account administrators create users in their own account.
#[utoipa::path(post, path = "/v1/users", tag = "users", request_body = CreateUser, security(("bearer" = [])),
    responses((status = 201, body = User), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    Body(input): Body<CreateUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(users::create(state.services(), auth.access(), input).await?),
    ))
}

/// Lists users, filtered; account administrators see their account's members only.
#[utoipa::path(get, path = "/v1/users", tag = "users", params(ListUsers), security(("bearer" = [])),
    responses((status = 200, body = Page<User>), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    Params(q): Params<ListUsers>,
) -> Result<Json<Page<User>>, ApiError> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let query = UserQuery {
        email: q.email,
        username: q.username,
        status: q.status,
        account_id: q.account_id,
        external_id: q.external_id,
    };
    Ok(Json(
        users::list(state.services(), auth.access(), query, page).await?,
    ))
}

/// Reads a user.
#[utoipa::path(get, path = "/v1/users/{id}", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    auth: Authenticated,
    PathId(id): PathId<UserId>,
) -> Result<Json<User>, ApiError> {
    auth.not_about_self(&id)?;
    Ok(Json(
        users::get(state.services(), auth.access(), &id).await?,
    ))
}

/// Changes a user's profile, status, attributes or password.
#[utoipa::path(patch, path = "/v1/users/{id}", tag = "users", request_body = UpdateUser, security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    auth: Authenticated,
    PathId(id): PathId<UserId>,
    Body(input): Body<UpdateUser>,
) -> Result<Json<User>, ApiError> {
    auth.not_about_self(&id)?;
    Ok(Json(
        users::update(state.services(), auth.access(), &id, input).await?,
    ))
}

/// Deletes a user with their memberships and role assignments.
#[utoipa::path(delete, path = "/v1/users/{id}", tag = "users", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    auth: Authenticated,
    PathId(id): PathId<UserId>,
) -> Result<StatusCode, ApiError> {
    users::delete(state.services(), auth.access(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Grants a role to a user, in an account or globally. Never to yourself, never beyond what
/// you hold.
#[utoipa::path(post, path = "/v1/users/{id}/roles", tag = "role assignments", request_body = GrantRole, security(("bearer" = [])),
    responses((status = 201, body = Assignment), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn grant_role(
    State(state): State<AppState>,
    auth: Authenticated,
    PathId(id): PathId<UserId>,
    Body(input): Body<GrantRole>,
) -> Result<(StatusCode, Json<Assignment>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(assignments::grant(state.services(), auth.access(), &id, input).await?),
    ))
}

/// Lists a user's role assignments.
#[utoipa::path(get, path = "/v1/users/{id}/roles", tag = "role assignments", security(("bearer" = [])),
    responses((status = 200, body = Vec<Assignment>), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn list_roles(
    State(state): State<AppState>,
    auth: Authenticated,
    PathId(id): PathId<UserId>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let items = assignments::list(state.services(), auth.access(), &id).await?;
    Ok(Json(
        serde_json::json!({ "items": items, "next_cursor": null }),
    ))
}

/// Query of `DELETE /v1/users/{id}/roles/{role_id}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RevokeQuery {
    /// The account the role was granted in; omit for a global grant.
    account_id: Option<String>,
}

/// Revokes a role from a user.
#[utoipa::path(delete, path = "/v1/users/{id}/roles/{role_id}", tag = "role assignments", params(RevokeQuery), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn revoke_role(
    State(state): State<AppState>,
    auth: Authenticated,
    PathIds(id, role): PathIds<UserId, RoleId>,
    Params(q): Params<RevokeQuery>,
) -> Result<StatusCode, ApiError> {
    let account = q
        .account_id
        .filter(|a| !a.is_empty())
        .map(|a| path_id(&a, AccountId::parse))
        .transpose()?;
    assignments::revoke(
        state.services(),
        auth.access(),
        &id,
        &role,
        account.as_ref(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A user's live sessions, newest first (account administrators: those in their account).
#[utoipa::path(get, path = "/v1/users/{id}/sessions", tag = "sessions", params(ListPage), security(("bearer" = [])),
    responses((status = 200, body = Page<SessionInfo>), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list_sessions(
    State(state): State<AppState>,
    auth: Authenticated,
    PathId(id): PathId<UserId>,
    Params(q): Params<ListPage>,
) -> Result<Json<Page<SessionInfo>>, ApiError> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    Ok(Json(
        sessions::list_for(state.services(), auth.access(), &id, page).await?,
    ))
}

/// Ends a user's sessions: their refresh tokens stop working and their access tokens are
/// refused at once.
#[utoipa::path(delete, path = "/v1/users/{id}/sessions", tag = "sessions", security(("bearer" = [])),
    responses((status = 200, description = "`{\"ended\": n}`"), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn end_sessions(
    State(state): State<AppState>,
    auth: Authenticated,
    PathId(id): PathId<UserId>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let ended = sessions::end_for(state.services(), auth.access(), &id).await?;
    Ok(Json(serde_json::json!({ "ended": ended })))
}
