//! `/v1/api-keys`: the caller's API keys.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use warden_core::admin::api_keys::{self, ApiKeyWithSecret, CreateApiKey};
use warden_core::ids::ApiKeyId;
use warden_core::model::ApiKey;

use crate::error::{ApiError, Problem};
use crate::extract::{Authenticated, Body, PathId};
use crate::state::AppState;

/// Creates an API key for the caller, in the token's account, limited to roles the caller
/// holds there. The key (`wk_…`) is in this answer only; use it as `Authorization: Bearer`.
#[utoipa::path(post, path = "/v1/api-keys", tag = "api keys", request_body = CreateApiKey, security(("bearer" = [])),
    responses((status = 201, body = ApiKeyWithSecret), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    Body(input): Body<CreateApiKey>,
) -> Result<(StatusCode, Json<ApiKeyWithSecret>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(api_keys::create(state.services(), auth.user()?, input).await?),
    ))
}

/// The caller's API keys (never their values).
#[utoipa::path(get, path = "/v1/api-keys", tag = "api keys", security(("bearer" = [])),
    responses((status = 200, body = Vec<ApiKey>), (status = 401, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<Value>, ApiError> {
    let items = api_keys::list(state.services(), auth.user()?).await?;
    Ok(Json(json!({ "items": items, "next_cursor": null })))
}

/// Revokes one of the caller's API keys, at once.
#[utoipa::path(delete, path = "/v1/api-keys/{id}", tag = "api keys", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn revoke(
    State(state): State<AppState>,
    auth: Authenticated,
    PathId(id): PathId<ApiKeyId>,
) -> Result<StatusCode, ApiError> {
    api_keys::revoke(state.services(), auth.user()?, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
