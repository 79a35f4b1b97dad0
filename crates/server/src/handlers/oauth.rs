//! The OAuth2 surface: `POST /oauth/token` (RFC 6749), the JWK Set and the RFC 8414 metadata.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};
use warden_core::login::{password_grant, GrantError, PasswordGrant};
use warden_core::refresh::{refresh_grant, revoke as revoke_token};
use warden_core::DomainError;

use crate::error::internal;
use crate::state::AppState;

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// The access token (an `at+jwt`).
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Lifetime in seconds.
    pub expires_in: i64,
    /// The granted scope, when narrowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// An opaque refresh token, rotated on every use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// An error response (RFC 6749 §5.2).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OAuthError {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unauthorized_client`,
    /// `unsupported_grant_type` or `invalid_scope`.
    pub error: &'static str,
    /// What went wrong.
    pub error_description: String,
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn oauth_error(
    status: StatusCode,
    error: &'static str,
    description: impl Into<String>,
) -> Response {
    let mut response = no_store(
        (
            status,
            Json(OAuthError {
                error,
                error_description: description.into(),
            }),
        )
            .into_response(),
    );
    if error == "invalid_client" {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"warden\""),
        );
    }
    response
}

/// Reads the parameters, form-encoded (canonical) or JSON; a repeated parameter is an error.
fn parameters(headers: &HeaderMap, body: &[u8]) -> Result<HashMap<String, String>, String> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let pairs: Vec<(String, String)> = match media.as_str() {
        "application/x-www-form-urlencoded" => {
            serde_urlencoded::from_bytes(body).map_err(|_| {
                "the form body is not valid application/x-www-form-urlencoded".to_owned()
            })?
        }
        "application/json" => {
            let map: serde_json::Map<String, Value> = serde_json::from_slice(body)
                .map_err(|_| "the JSON body must be an object of string parameters".to_owned())?;
            map.into_iter()
                .map(|(key, value)| match value {
                    Value::String(text) => Ok((key, text)),
                    Value::Null => Ok((key, String::new())),
                    _ => Err(format!(
                        "the parameter `{}` must be a string",
                        warden_core::identity::clip(&key)
                    )),
                })
                .collect::<Result<_, _>>()?
        }
        _ => {
            return Err(
                "send the parameters as application/x-www-form-urlencoded (or application/json)"
                    .into(),
            )
        }
    };
    let mut out = HashMap::new();
    for (key, value) in pairs {
        if out.insert(key.clone(), value).is_some() {
            return Err(format!(
                "the parameter `{}` is repeated",
                warden_core::identity::clip(&key)
            ));
        }
    }
    Ok(out)
}

/// Issues tokens. Grants: `password` (email or username, optional `account`, optional
/// `scope` to narrow the token to some of the user's roles) and `refresh_token` (rotated on
/// every use; reusing a rotated one revokes the session).
#[utoipa::path(
    post, path = "/oauth/token", tag = "oauth",
    request_body(content_type = "application/x-www-form-urlencoded", description = "grant_type=password&username=…&password=…[&account=…][&scope=…] or grant_type=refresh_token&refresh_token=…[&scope=…]"),
    responses(
        (status = 200, body = TokenResponse, description = "Issued"),
        (status = 400, body = OAuthError, description = "invalid_request, invalid_grant, invalid_scope, unsupported_grant_type"),
        (status = 401, body = OAuthError, description = "invalid_client"),
        (status = 503, body = OAuthError, description = "Busy; see Retry-After"),
    )
)]
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let Ok(body) = body else {
        return oauth_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "the request body is too large",
        );
    };
    let mut params = match parameters(&headers, &body) {
        Ok(params) => params,
        Err(why) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", why),
    };
    let mut take = |name: &str| params.remove(name).filter(|v| !v.is_empty());
    let result = match take("grant_type").as_deref() {
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "`grant_type` is required",
            )
        }
        Some("password") => {
            let grant = PasswordGrant {
                username: take("username").unwrap_or_default(),
                password: take("password").unwrap_or_default(),
                account: take("account"),
                client_id: take("client_id"),
                scope: take("scope"),
            };
            password_grant(state.services(), grant).await
        }
        Some("refresh_token") => {
            let value = take("refresh_token").unwrap_or_default();
            let client_id = take("client_id");
            let scope = take("scope");
            refresh_grant(
                state.services(),
                &value,
                client_id.as_deref(),
                scope.as_deref(),
            )
            .await
        }
        Some(other) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!(
                    "the grant type `{}` is not supported; use `password` or `refresh_token`",
                    warden_core::identity::clip(other)
                ),
            )
        }
    };
    match result {
        Ok(issued) => no_store(
            Json(TokenResponse {
                access_token: issued.access_token,
                token_type: "Bearer",
                expires_in: issued.expires_in,
                scope: issued.scope,
                refresh_token: issued.refresh_token,
            })
            .into_response(),
        ),
        Err(GrantError::InvalidRequest(why)) => {
            oauth_error(StatusCode::BAD_REQUEST, "invalid_request", why)
        }
        Err(GrantError::InvalidClient) => oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        ),
        Err(GrantError::InvalidGrant(why)) => {
            oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", why)
        }
        Err(GrantError::InvalidScope(why)) => {
            oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", why)
        }
        Err(GrantError::Domain(DomainError::Busy(seconds))) => {
            let mut response = oauth_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the server is busy; retry shortly",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            response
        }
        Err(GrantError::Domain(other)) => no_store(internal(&other.to_string())),
    }
}

/// The public signing keys (RFC 7517), for offline verification.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "oauth", responses((status = 200, description = "JWK Set")))]
pub async fn jwks(State(state): State<AppState>) -> Response {
    let keys = state.services().tokens.keys();
    let mut response = Json(keys.jwks().clone()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// Authorization server metadata (RFC 8414).
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "oauth", responses((status = 200, description = "Metadata")))]
pub async fn metadata(State(state): State<AppState>) -> Json<Value> {
    let issuer = state.services().tokens.issuer();
    Json(json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/oauth/token"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "grant_types_supported": ["password", "refresh_token"],
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "revocation_endpoint_auth_methods_supported": ["none"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["none"],
        "service_documentation": format!("{issuer}/docs"),
    }))
}

/// RFC 7009 revocation of a refresh or access token: its whole session ends. Always 200, even
/// for unknown tokens, so the answer reveals nothing.
#[utoipa::path(
    post, path = "/oauth/revoke", tag = "oauth",
    request_body(content_type = "application/x-www-form-urlencoded", description = "token=…[&token_type_hint=…]"),
    responses((status = 200, description = "Revoked, or nothing to revoke"), (status = 400, body = OAuthError))
)]
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let Ok(body) = body else {
        return oauth_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "the request body is too large",
        );
    };
    let mut params = match parameters(&headers, &body) {
        Ok(params) => params,
        Err(why) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", why),
    };
    let Some(token) = params.remove("token").filter(|t| !t.is_empty()) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "`token` is required",
        );
    };
    if params
        .remove("client_id")
        .is_some_and(|c| !c.is_empty() && c != warden_core::services::DEFAULT_CLIENT_ID)
    {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        );
    }
    match revoke_token(state.services(), &token).await {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(err) => no_store(internal(&err.to_string())),
    }
}
