//! The decision API: `POST /v1/check`, `POST /v1/check/batch`, and effective permissions.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use warden_core::authz::check::{self, BatchRequest, BatchResponse, CheckRequest, Permissions};
use warden_core::authz::engine::Decision;
use warden_core::ids::{AccountId, UserId};

use crate::error::{ApiError, Problem};
use crate::extract::{path_id, Authenticated, Body, ClientAddr, Params, PathId};
use crate::state::AppState;

/// Query of the permissions listings.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PermissionsQuery {
    /// The account to resolve roles in; absent: global roles only (or, for `me`, the token's
    /// account).
    account: Option<String>,
}

fn account_param(text: Option<&str>) -> Result<Option<AccountId>, ApiError> {
    text.filter(|t| !t.is_empty())
        .map(|t| path_id(t, AccountId::parse))
        .transpose()
}

/// Decides whether a principal may perform an action on a resource. The principal is the
/// caller, or one it names when it holds `warden.check:any`. Denials are audited.
#[utoipa::path(post, path = "/v1/check", tag = "decisions", request_body = CheckRequest, security(("bearer" = [])),
    responses((status = 200, body = Decision), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
pub async fn check(
    State(state): State<AppState>,
    auth: Authenticated,
    ClientAddr(ip): ClientAddr,
    Body(request): Body<CheckRequest>,
) -> Result<Json<Decision>, ApiError> {
    Ok(Json(
        check::check(state.services(), &auth.0, ip, &request).await?,
    ))
}

/// Decides up to 1,000 checks for one principal, against one consistent snapshot.
#[utoipa::path(post, path = "/v1/check/batch", tag = "decisions", request_body = BatchRequest, security(("bearer" = [])),
    responses((status = 200, body = BatchResponse), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
pub async fn batch(
    State(state): State<AppState>,
    auth: Authenticated,
    ClientAddr(ip): ClientAddr,
    Body(request): Body<BatchRequest>,
) -> Result<Json<BatchResponse>, ApiError> {
    Ok(Json(
        check::check_batch(state.services(), &auth.0, ip, &request).await?,
    ))
}

/// A user's effective roles and permissions in an account (global ones included).
#[utoipa::path(get, path = "/v1/users/{id}/permissions", tag = "decisions", params(PermissionsQuery), security(("bearer" = [])),
    responses((status = 200, body = Permissions), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn of_user(
    State(state): State<AppState>,
    auth: Authenticated,
    PathId(id): PathId<UserId>,
    Params(q): Params<PermissionsQuery>,
) -> Result<Json<Permissions>, ApiError> {
    auth.not_about_self(&id)?;
    let account = account_param(q.account.as_deref())?;
    Ok(Json(
        check::permissions(state.services(), &auth.0, &id, account).await?,
    ))
}

/// The caller's own effective roles and permissions, in its token's account unless another
/// is named.
#[utoipa::path(get, path = "/v1/users/me/permissions", tag = "decisions", params(PermissionsQuery), security(("bearer" = [])),
    responses((status = 200, body = Permissions), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn mine(
    State(state): State<AppState>,
    auth: Authenticated,
    Params(q): Params<PermissionsQuery>,
) -> Result<Json<Permissions>, ApiError> {
    let caller = auth.user()?;
    let account = account_param(q.account.as_deref())?.or(caller.account);
    Ok(Json(
        check::permissions(state.services(), &auth.0, &caller.user_id, account).await?,
    ))
}
