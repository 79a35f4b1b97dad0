//! `/v1/roles`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use warden_core::admin::roles::{self, CreateRole, UpdateRole};
use warden_core::ids::RoleId;
use warden_core::model::Role;
use warden_core::page::{Page, PageRequest};

use crate::error::{ApiError, Problem};
use crate::extract::{Authenticated, Body, Params, PathId};
use crate::state::AppState;

/// Query of `GET /v1/roles`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListRoles {
    /// Page size, 1..=1000 (default 50).
    limit: Option<u32>,
    /// Cursor from the previous page.
    cursor: Option<String>,
    /// Exact name.
    name: Option<String>,
    /// `global`, or an account id.
    account_id: Option<String>,
}

/// Creates a role, global or in an account. Its permissions, inherited ones included, must all
/// be held by the caller there.
#[utoipa::path(post, path = "/v1/roles", tag = "roles", request_body = CreateRole, security(("bearer" = [])),
    responses((status = 201, body = Role), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    Body(input): Body<CreateRole>,
) -> Result<(StatusCode, Json<Role>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(roles::create(state.services(), auth.access(), input).await?),
    ))
}

/// Lists roles; account-scoped callers see the global roles and their account's.
#[utoipa::path(get, path = "/v1/roles", tag = "roles", params(ListRoles), security(("bearer" = [])),
    responses((status = 200, body = Page<Role>), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    Params(q): Params<ListRoles>,
) -> Result<Json<Page<Role>>, ApiError> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    Ok(Json(
        roles::list(state.services(), auth.access(), q.name, q.account_id, page).await?,
    ))
}

/// Reads a role.
#[utoipa::path(get, path = "/v1/roles/{id}", tag = "roles", security(("bearer" = [])),
    responses((status = 200, body = Role), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    auth: Authenticated,
    PathId(id): PathId<RoleId>,
) -> Result<Json<Role>, ApiError> {
    Ok(Json(
        roles::get(state.services(), auth.access(), &id).await?,
    ))
}

/// Changes a role's name, description, permissions or inherited roles (cycles refused).
#[utoipa::path(patch, path = "/v1/roles/{id}", tag = "roles", request_body = UpdateRole, security(("bearer" = [])),
    responses((status = 200, body = Role), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    auth: Authenticated,
    PathId(id): PathId<RoleId>,
    Body(input): Body<UpdateRole>,
) -> Result<Json<Role>, ApiError> {
    Ok(Json(
        roles::update(state.services(), auth.access(), &id, input).await?,
    ))
}

/// Deletes a role and its assignments; built-in and inherited roles are kept (409).
#[utoipa::path(delete, path = "/v1/roles/{id}", tag = "roles", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    auth: Authenticated,
    PathId(id): PathId<RoleId>,
) -> Result<StatusCode, ApiError> {
    roles::delete(state.services(), auth.access(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
