//! `/v1/keys`: signing keys and their rotation.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use warden_core::admin::signing_keys::{self, KeyInfo};
use warden_core::tokens::SigningAlgorithm;

use crate::error::{ApiError, Problem};
use crate::extract::{Authenticated, Body};
use crate::state::AppState;

/// Options of a rotation.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rotate {
    /// `EdDSA`, `ES256` or `RS256`; the configured algorithm when absent.
    #[serde(default)]
    algorithm: Option<String>,
}

/// Every signing key and its state (`next`, `active`, `retiring`, `retired`).
#[utoipa::path(get, path = "/v1/keys", tag = "keys", security(("bearer" = [])),
    responses((status = 200, body = Vec<KeyInfo>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<Value>, ApiError> {
    let items = signing_keys::list(state.services(), auth.access()).await?;
    Ok(Json(json!({ "items": items, "next_cursor": null })))
}

/// Starts a rotation: the new key is published now and signs after the JWKS cache lifetime.
#[utoipa::path(post, path = "/v1/keys/rotate", tag = "keys", request_body = Rotate, security(("bearer" = [])),
    responses((status = 200, body = KeyInfo), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn rotate(
    State(state): State<AppState>,
    auth: Authenticated,
    Body(input): Body<Rotate>,
) -> Result<Json<KeyInfo>, ApiError> {
    let algorithm = input
        .algorithm
        .map(|a| SigningAlgorithm::parse(&a))
        .transpose()
        .map_err(|err| warden_core::DomainError::invalid("algorithm", err))?;
    Ok(Json(
        signing_keys::rotate(state.services(), auth.access(), algorithm).await?,
    ))
}
