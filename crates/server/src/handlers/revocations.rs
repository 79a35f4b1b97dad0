//! `GET /v1/revocations`: the revocation feed for offline verifiers.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header;
use axum::Json;
use serde::Deserialize;
use warden_core::authn::client::{ClientIdentity, Presented};
use warden_core::oauth::revocations::{feed, Feed, Reader};

use crate::error::{ApiError, Problem};
use crate::extract::{Authenticated, ClientAddr, Params};
use crate::state::AppState;

/// Query of the feed.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    /// The `next_cursor` of the previous poll; absent for everything still relevant.
    since: Option<String>,
    /// At most this many entries, 1..=1000 (default 1000).
    limit: Option<u32>,
}

/// Ended sessions since the cursor, each until its last access token expires. Readable by a
/// service client (HTTP Basic), which sees its own account's sessions only (a global client:
/// all), or a global administrator (bearer with `warden.sessions:read`).
#[utoipa::path(get, path = "/v1/revocations", tag = "sessions", params(FeedQuery),
    responses((status = 200, body = Feed), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
pub async fn list(State(state): State<AppState>, request: Request) -> Result<Json<Feed>, ApiError> {
    let (mut parts, _) = request.into_parts();
    let Params(query) = Params::<FeedQuery>::from_request_parts(&mut parts, &state).await?;
    let basic = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, encoded)| encoded.trim().to_owned());
    let reader = match basic {
        Some(encoded) => {
            use base64::Engine;
            let unauthenticated = || ApiError::ClientUnauthenticated;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
                .and_then(|b| String::from_utf8(b).ok());
            let (client_id, secret) = decoded
                .as_deref()
                .and_then(|d| d.split_once(':'))
                .and_then(|(id, secret)| {
                    Some((
                        crate::oauth::form_decode(id)?,
                        crate::oauth::form_decode(secret)?,
                    ))
                })
                .ok_or_else(unauthenticated)?;
            let ClientAddr(ip) = ClientAddr::from_request_parts(&mut parts, &state).await?;
            let presented = Presented::Secret { client_id, secret };
            // A secret checked here is a guess like any other: the token endpoint's budget.
            let authenticated = crate::oauth::authenticate_within_budget(&state, presented, ip)
                .await
                .map_err(ApiError::RateLimited)?;
            match authenticated {
                Ok(ClientIdentity::Confidential(client, _)) => Reader::client(&client),
                _ => return Err(unauthenticated()),
            }
        }
        None => {
            let auth = Authenticated::from_request_parts(&mut parts, &state).await?;
            Reader::administrator(auth.access())?
        }
    };
    Ok(Json(
        feed(
            state.services(),
            reader,
            query.since.as_deref(),
            query.limit.unwrap_or(1000),
        )
        .await?,
    ))
}
