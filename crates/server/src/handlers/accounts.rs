//! `/v1/accounts` and `/v1/accounts/{id}/members`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use warden_core::admin::accounts::{self, CreateAccount, UpdateAccount};
use warden_core::admin::members::{self, AddMember};
use warden_core::ids::{AccountId, UserId};
use warden_core::model::{Account, Membership};
use warden_core::page::{Page, PageRequest};

use crate::error::{ApiError, Problem};
use crate::extract::{Authenticated, Body, Params, PathId, PathIds};
use crate::state::AppState;

/// Query of `GET /v1/accounts`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListAccounts {
    /// Page size, 1..=1000 (default 50).
    limit: Option<u32>,
    /// Cursor from the previous page.
    cursor: Option<String>,
    /// Exact name.
    name: Option<String>,
    /// `active` or `disabled`.
    status: Option<String>,
}

/// Query of member and session lists.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListPage {
    /// Page size, 1..=1000 (default 50).
    pub limit: Option<u32>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

/// Creates an account (global administrators).
#[utoipa::path(post, path = "/v1/accounts", tag = "accounts", request_body = CreateAccount, security(("bearer" = [])),
    responses((status = 201, body = Account), (status = 401, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    Body(input): Body<CreateAccount>,
) -> Result<(StatusCode, Json<Account>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(accounts::create(state.services(), auth.access(), input).await?),
    ))
}

/// Lists accounts; account-scoped callers see their own.
#[utoipa::path(get, path = "/v1/accounts", tag = "accounts", params(ListAccounts), security(("bearer" = [])),
    responses((status = 200, body = Page<Account>), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    Params(q): Params<ListAccounts>,
) -> Result<Json<Page<Account>>, ApiError> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    Ok(Json(
        accounts::list(state.services(), auth.access(), q.name, q.status, page).await?,
    ))
}

/// Reads an account.
#[utoipa::path(get, path = "/v1/accounts/{id}", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = Account), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    auth: Authenticated,
    PathId(id): PathId<AccountId>,
) -> Result<Json<Account>, ApiError> {
    Ok(Json(
        accounts::get(state.services(), auth.access(), &id).await?,
    ))
}

/// Changes an account.
#[utoipa::path(patch, path = "/v1/accounts/{id}", tag = "accounts", request_body = UpdateAccount, security(("bearer" = [])),
    responses((status = 200, body = Account), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    auth: Authenticated,
    PathId(id): PathId<AccountId>,
    Body(input): Body<UpdateAccount>,
) -> Result<Json<Account>, ApiError> {
    Ok(Json(
        accounts::update(state.services(), auth.access(), &id, input).await?,
    ))
}

/// Deletes an account with its memberships, roles and role assignments.
#[utoipa::path(delete, path = "/v1/accounts/{id}", tag = "accounts", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    auth: Authenticated,
    PathId(id): PathId<AccountId>,
) -> Result<StatusCode, ApiError> {
    accounts::delete(state.services(), auth.access(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds a user to an account.
#[utoipa::path(post, path = "/v1/accounts/{id}/members", tag = "members", request_body = AddMember, security(("bearer" = [])),
    responses((status = 201, body = Membership), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn add_member(
    State(state): State<AppState>,
    auth: Authenticated,
    PathId(id): PathId<AccountId>,
    Body(input): Body<AddMember>,
) -> Result<(StatusCode, Json<Membership>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(members::add(state.services(), auth.access(), &id, input).await?),
    ))
}

/// Lists an account's members.
#[utoipa::path(get, path = "/v1/accounts/{id}/members", tag = "members", params(ListPage), security(("bearer" = [])),
    responses((status = 200, body = Page<Membership>), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn list_members(
    State(state): State<AppState>,
    auth: Authenticated,
    PathId(id): PathId<AccountId>,
    Params(q): Params<ListPage>,
) -> Result<Json<Page<Membership>>, ApiError> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    Ok(Json(
        members::list(state.services(), auth.access(), &id, page).await?,
    ))
}

/// Removes a user from an account, with the roles they held there.
#[utoipa::path(delete, path = "/v1/accounts/{id}/members/{user_id}", tag = "members", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn remove_member(
    State(state): State<AppState>,
    auth: Authenticated,
    PathIds(id, user): PathIds<AccountId, UserId>,
) -> Result<StatusCode, ApiError> {
    members::remove(state.services(), auth.access(), &id, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}
