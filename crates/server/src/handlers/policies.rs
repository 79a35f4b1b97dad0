//! `/v1/policies`: Cedar ABAC policies.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use warden_core::admin::policies::{self, CreatePolicy, UpdatePolicy};
use warden_core::ids::PolicyId;
use warden_core::model::Policy;
use warden_core::page::{Page, PageRequest};

use crate::error::{ApiError, Problem};
use crate::extract::{Authenticated, Body, Params, PathId};
use crate::state::AppState;

/// Query of `GET /v1/policies`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListPolicies {
    /// Page size, 1..=1000 (default 50).
    limit: Option<u32>,
    /// Cursor from the previous page.
    cursor: Option<String>,
    /// `global`, or an account id.
    account_id: Option<String>,
    /// Only enabled (`true`) or disabled (`false`) policies.
    enabled: Option<bool>,
}

/// Creates a policy, global or in an account. The Cedar text is validated: errors answer 422
/// with the line and column of each problem.
#[utoipa::path(post, path = "/v1/policies", tag = "policies", request_body = CreatePolicy, security(("bearer" = [])),
    responses((status = 201, body = Policy), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    Body(input): Body<CreatePolicy>,
) -> Result<(StatusCode, Json<Policy>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(policies::create(state.services(), auth.access(), input).await?),
    ))
}

/// Lists policies; account-scoped callers see the global ones and their account's.
#[utoipa::path(get, path = "/v1/policies", tag = "policies", params(ListPolicies), security(("bearer" = [])),
    responses((status = 200, body = Page<Policy>), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    Params(q): Params<ListPolicies>,
) -> Result<Json<Page<Policy>>, ApiError> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    Ok(Json(
        policies::list(
            state.services(),
            auth.access(),
            q.account_id,
            q.enabled,
            page,
        )
        .await?,
    ))
}

/// Reads a policy.
#[utoipa::path(get, path = "/v1/policies/{id}", tag = "policies", security(("bearer" = [])),
    responses((status = 200, body = Policy), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    auth: Authenticated,
    PathId(id): PathId<PolicyId>,
) -> Result<Json<Policy>, ApiError> {
    Ok(Json(
        policies::get(state.services(), auth.access(), &id).await?,
    ))
}

/// Changes a policy's text, description or enabled flag.
#[utoipa::path(patch, path = "/v1/policies/{id}", tag = "policies", request_body = UpdatePolicy, security(("bearer" = [])),
    responses((status = 200, body = Policy), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    auth: Authenticated,
    PathId(id): PathId<PolicyId>,
    Body(patch): Body<UpdatePolicy>,
) -> Result<Json<Policy>, ApiError> {
    Ok(Json(
        policies::update(state.services(), auth.access(), &id, patch).await?,
    ))
}

/// Deletes a policy.
#[utoipa::path(delete, path = "/v1/policies/{id}", tag = "policies", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    auth: Authenticated,
    PathId(id): PathId<PolicyId>,
) -> Result<StatusCode, ApiError> {
    policies::delete(state.services(), auth.access(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
