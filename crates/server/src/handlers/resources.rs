//! `/v1/resources`: the resource registry.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use warden_core::admin::resources::{self, BulkPut, BulkResponse, PutResource};
use warden_core::model::RegisteredResource;
use warden_core::page::{Page, PageRequest};

use crate::error::{ApiError, Problem};
use crate::extract::{Authenticated, Body, Params, PathIds};
use crate::state::AppState;

/// Query of `GET /v1/resources`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListResources {
    /// Page size, 1..=1000 (default 50).
    limit: Option<u32>,
    /// Cursor from the previous page.
    cursor: Option<String>,
    /// `global`, or an account id.
    account_id: Option<String>,
    /// One resource type only.
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// Query naming a resource's account: `global`, or an account id; absent: the caller's
/// account for an account-limited caller, else global.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InAccount {
    /// `global`, or an account id.
    account_id: Option<String>,
}

impl InAccount {
    fn scope(&self) -> Result<Option<Option<warden_core::ids::AccountId>>, ApiError> {
        match self.account_id.as_deref() {
            None => Ok(None),
            Some("global" | "") => Ok(Some(None)),
            Some(text) => warden_core::ids::AccountId::parse(text)
                .map(|id| Some(Some(id)))
                .map_err(|err| warden_core::DomainError::invalid("account_id", err).into()),
        }
    }
}

/// Registers a resource, or replaces its attributes and parents: 201 when new, 200 when
/// replaced. Decisions about it use the stored attributes (they win over a request's).
#[utoipa::path(put, path = "/v1/resources/{type}/{id}", tag = "resources", request_body = PutResource, security(("bearer" = [])),
    params(("type" = String, Path, description = "Cedar entity type"), ("id" = String, Path, description = "id within the type")),
    responses((status = 200, body = RegisteredResource), (status = 201, body = RegisteredResource), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn put(
    State(state): State<AppState>,
    auth: Authenticated,
    PathIds(kind, id): PathIds<String, String>,
    Body(input): Body<PutResource>,
) -> Result<(StatusCode, Json<RegisteredResource>), ApiError> {
    let (resource, created) =
        resources::put(state.services(), auth.access(), kind, id, input).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(resource)))
}

/// Registers up to 1,000 resources in one transaction: all are validated first, and one
/// that fails writes none.
#[utoipa::path(post, path = "/v1/resources/bulk", tag = "resources", request_body = BulkPut, security(("bearer" = [])),
    responses((status = 200, body = BulkResponse), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn bulk(
    State(state): State<AppState>,
    auth: Authenticated,
    Body(input): Body<BulkPut>,
) -> Result<Json<BulkResponse>, ApiError> {
    Ok(Json(
        resources::put_many(state.services(), auth.access(), input).await?,
    ))
}

/// Reads a registered resource.
#[utoipa::path(get, path = "/v1/resources/{type}/{id}", tag = "resources", params(("type" = String, Path), ("id" = String, Path), InAccount), security(("bearer" = [])),
    responses((status = 200, body = RegisteredResource), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    auth: Authenticated,
    PathIds(kind, id): PathIds<String, String>,
    Params(q): Params<InAccount>,
) -> Result<Json<RegisteredResource>, ApiError> {
    Ok(Json(
        resources::get(state.services(), auth.access(), &kind, &id, q.scope()?).await?,
    ))
}

/// Removes a registered resource.
#[utoipa::path(delete, path = "/v1/resources/{type}/{id}", tag = "resources", params(("type" = String, Path), ("id" = String, Path), InAccount), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    auth: Authenticated,
    PathIds(kind, id): PathIds<String, String>,
    Params(q): Params<InAccount>,
) -> Result<StatusCode, ApiError> {
    resources::delete(state.services(), auth.access(), &kind, &id, q.scope()?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lists registered resources; account-limited callers see their account's.
#[utoipa::path(get, path = "/v1/resources", tag = "resources", params(ListResources), security(("bearer" = [])),
    responses((status = 200, body = Page<RegisteredResource>), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    Params(q): Params<ListResources>,
) -> Result<Json<Page<RegisteredResource>>, ApiError> {
    let page = PageRequest::parse_keyed(q.limit, q.cursor.as_deref(), resources::is_cursor_key)?;
    Ok(Json(
        resources::list(state.services(), auth.access(), q.account_id, q.kind, page).await?,
    ))
}
