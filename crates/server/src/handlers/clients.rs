//! `/v1/clients`: service clients.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use warden_core::admin::api_keys::{ApiKeyWithSecret, CreateApiKey};
use warden_core::admin::clients::{self, ClientWithSecret, CreateClient, UpdateClient};
use warden_core::ids::{ApiKeyId, ClientKey};
use warden_core::model::{ApiKey, Client};
use warden_core::page::{Page, PageRequest};

use crate::error::{ApiError, Problem};
use crate::extract::{Authenticated, Body, Params, PathId, PathIds};
use crate::state::AppState;

/// Query of `GET /v1/clients`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListClients {
    /// Page size, 1..=1000 (default 50).
    limit: Option<u32>,
    /// Cursor from the previous page.
    cursor: Option<String>,
}

/// Creates a service client; `client_secret` is in this answer only.
#[utoipa::path(post, path = "/v1/clients", tag = "clients", request_body = CreateClient, security(("bearer" = [])),
    responses((status = 201, body = ClientWithSecret), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    Body(input): Body<CreateClient>,
) -> Result<(StatusCode, Json<ClientWithSecret>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(clients::create(state.services(), auth.access(), input).await?),
    ))
}

/// Lists service clients (account administrators: their account's).
#[utoipa::path(get, path = "/v1/clients", tag = "clients", params(ListClients), security(("bearer" = [])),
    responses((status = 200, body = Page<Client>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    Params(q): Params<ListClients>,
) -> Result<Json<Page<Client>>, ApiError> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    Ok(Json(
        clients::list(state.services(), auth.access(), page).await?,
    ))
}

/// Reads a service client (never its secret).
#[utoipa::path(get, path = "/v1/clients/{id}", tag = "clients", security(("bearer" = [])),
    responses((status = 200, body = Client), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    auth: Authenticated,
    PathId(id): PathId<ClientKey>,
) -> Result<Json<Client>, ApiError> {
    Ok(Json(
        clients::get(state.services(), auth.access(), &id).await?,
    ))
}

/// Changes a service client's name, roles, allow-list, grants or status.
#[utoipa::path(patch, path = "/v1/clients/{id}", tag = "clients", request_body = UpdateClient, security(("bearer" = [])),
    responses((status = 200, body = Client), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    auth: Authenticated,
    PathId(id): PathId<ClientKey>,
    Body(input): Body<UpdateClient>,
) -> Result<Json<Client>, ApiError> {
    Ok(Json(
        clients::update(state.services(), auth.access(), &id, input).await?,
    ))
}

/// Replaces a service client's secret; the new one is in this answer only.
#[utoipa::path(post, path = "/v1/clients/{id}/secret", tag = "clients", security(("bearer" = [])),
    responses((status = 200, body = ClientWithSecret), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    auth: Authenticated,
    PathId(id): PathId<ClientKey>,
) -> Result<Json<ClientWithSecret>, ApiError> {
    Ok(Json(
        clients::rotate_secret(state.services(), auth.access(), &id).await?,
    ))
}

/// Deletes a service client.
#[utoipa::path(delete, path = "/v1/clients/{id}", tag = "clients", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    auth: Authenticated,
    PathId(id): PathId<ClientKey>,
) -> Result<StatusCode, ApiError> {
    clients::delete(state.services(), auth.access(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Creates an API key owned by the client: it acts as the client, limited to the roles it
/// names (a subset of the client's). The key is in this answer only.
#[utoipa::path(post, path = "/v1/clients/{id}/api-keys", tag = "clients", request_body = CreateApiKey, security(("bearer" = [])),
    responses((status = 201, body = ApiKeyWithSecret), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn create_key(
    State(state): State<AppState>,
    auth: Authenticated,
    PathId(id): PathId<ClientKey>,
    Body(input): Body<CreateApiKey>,
) -> Result<(StatusCode, Json<ApiKeyWithSecret>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(clients::create_key(state.services(), auth.access(), &id, input).await?),
    ))
}

/// A client's API keys (never their values).
#[utoipa::path(get, path = "/v1/clients/{id}/api-keys", tag = "clients", security(("bearer" = [])),
    responses((status = 200, body = Vec<ApiKey>), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn list_keys(
    State(state): State<AppState>,
    auth: Authenticated,
    PathId(id): PathId<ClientKey>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let items = clients::list_keys(state.services(), auth.access(), &id).await?;
    Ok(Json(
        serde_json::json!({ "items": items, "next_cursor": null }),
    ))
}

/// Revokes an API key of a client.
#[utoipa::path(delete, path = "/v1/clients/{id}/api-keys/{key_id}", tag = "clients", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn revoke_key(
    State(state): State<AppState>,
    auth: Authenticated,
    PathIds(id, key): PathIds<ClientKey, ApiKeyId>,
) -> Result<StatusCode, ApiError> {
    clients::revoke_key(state.services(), auth.access(), &id, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}
