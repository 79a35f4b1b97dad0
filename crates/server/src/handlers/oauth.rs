//! The OAuth2 surface: `POST /oauth/token` (RFC 6749), `/oauth/revoke` (RFC 7009),
//! `/oauth/introspect` (RFC 7662), the JWK Set and the RFC 8414 metadata.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Serialize;
use serde_json::{json, Value};
use warden_core::authn::client::{authenticate, ClientIdentity, Presented};
use warden_core::json::{storable, unique_object, ObjectError, NUL_REFUSED};
use warden_core::oauth::client_credentials_grant;
use warden_core::oauth::introspect::introspect as introspect_token;
use warden_core::oauth::refresh::{refresh_grant, revoke as revoke_token};
use warden_core::oauth::{password_grant, GrantError, PasswordGrant};
use warden_core::DomainError;

use crate::error::internal;
use crate::extract::ClientAddr;
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
    let body = OAuthError {
        error,
        error_description: description.into(),
    };
    let mut response = no_store((status, Json(body)).into_response());
    if error == "invalid_client" {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"warden\""),
        );
    }
    response
}

/// A refusal before any grant runs: rendered as an RFC 6749 error response.
struct Refusal(StatusCode, &'static str, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        oauth_error(self.0, self.1, self.2)
    }
}

fn grant_error(err: GrantError) -> Response {
    match err {
        GrantError::InvalidRequest(why) => {
            oauth_error(StatusCode::BAD_REQUEST, "invalid_request", why)
        }
        GrantError::InvalidClient => oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        ),
        GrantError::UnauthorizedClient(why) => {
            oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client", why)
        }
        GrantError::InvalidGrant(why) => oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", why),
        GrantError::InvalidScope(why) => oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", why),
        GrantError::Domain(DomainError::Busy(seconds)) => {
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
        GrantError::Domain(other) => no_store(internal(&other.to_string())),
    }
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
    let pairs: Vec<(String, String)> =
        match media.as_str() {
            "application/x-www-form-urlencoded" => {
                serde_urlencoded::from_bytes(body).map_err(|_| {
                    "the form body is not valid application/x-www-form-urlencoded".to_owned()
                })?
            }
            "application/json" => {
                // A repeated name is refused as a repeated form parameter is, not resolved to
                // its last value.
                let fields = unique_object(body).map_err(|err| match err {
                    ObjectError::Duplicate(name) => format!(
                        "the parameter `{}` is repeated",
                        warden_core::identity::clip(&name)
                    ),
                    ObjectError::NotAnObject => {
                        "the JSON body must be an object of string parameters".to_owned()
                    }
                })?;
                fields
                    .into_iter()
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
            _ => return Err(
                "send the parameters as application/x-www-form-urlencoded (or application/json)"
                    .into(),
            ),
        };
    let mut out = HashMap::new();
    for (key, value) in pairs {
        if value.is_empty() {
            // FastAPI's form sends empty `scope`, `client_id` and `client_secret`: absent.
            continue;
        }
        if out.insert(key.clone(), value).is_some() {
            return Err(format!(
                "the parameter `{}` is repeated",
                warden_core::identity::clip(&key)
            ));
        }
    }
    Ok(out)
}

/// What the request presents to authenticate its client: HTTP Basic (`client_id:secret`, each
/// form-urlencoded, RFC 6749 §2.3.1) or body parameters — one method, not both.
fn presented_client(
    headers: &HeaderMap,
    params: &mut HashMap<String, String>,
) -> Result<Presented, Refusal> {
    let body_id = params.remove("client_id");
    let body_secret = params.remove("client_secret");
    let basic = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            let text = value.to_str().unwrap_or_default();
            match text.split_once(' ') {
                Some((scheme, encoded)) if scheme.eq_ignore_ascii_case("basic") => {
                    let decoded = STANDARD
                        .decode(encoded.trim())
                        .ok()
                        .and_then(|b| String::from_utf8(b).ok());
                    let pair = decoded.as_deref().and_then(|d| d.split_once(':')).and_then(
                        |(id, secret)| {
                            let id: String = form_decode(id)?;
                            let secret: String = form_decode(secret)?;
                            Some((id, secret))
                        },
                    );
                    match pair {
                        Some(pair) => Some(pair),
                        None => {
                            return Err(Refusal(
                                StatusCode::UNAUTHORIZED,
                                "invalid_client",
                                "malformed HTTP Basic credentials".into(),
                            ))
                        }
                    }
                }
                _ => None,
            }
        }
    };
    match (basic, body_id, body_secret) {
        (Some(_), _, Some(_)) => Err(Refusal(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "use one client authentication method, not HTTP Basic and client_secret".into(),
        )),
        (Some((id, _)), Some(body_id), None) if body_id != id => Err(Refusal(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_id does not match the HTTP Basic credentials".into(),
        )),
        (Some((client_id, secret)), _, None) => Ok(Presented::Secret { client_id, secret }),
        (None, Some(client_id), Some(secret)) => Ok(Presented::Secret { client_id, secret }),
        (None, None, Some(_)) => Err(Refusal(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_secret without client_id".into(),
        )),
        (None, Some(client_id), None) => Ok(Presented::Public(client_id)),
        (None, None, None) => Ok(Presented::Nothing),
    }
}

pub(crate) fn form_decode(text: &str) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={text}"))
        .ok()?
        .pop()
        .map(|(_, v)| v)
}

/// Parses the body and authenticates the client, or answers the OAuth error.
async fn read_request(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    ip: std::net::IpAddr,
) -> Result<(HashMap<String, String>, ClientIdentity), Box<Response>> {
    let refuse = |status, error, why: String| Box::new(oauth_error(status, error, why));
    let body = body.map_err(|_| {
        refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "the request body is too large".into(),
        )
    })?;
    let mut params = parameters(headers, &body)
        .map_err(|why| refuse(StatusCode::BAD_REQUEST, "invalid_request", why))?;
    let presented = presented_client(headers, &mut params)
        .map_err(|refusal| Box::new(refusal.into_response()))?;
    // Client credentials are refused as such (`invalid_client`) when they hold what no client
    // has; every other parameter is held to the text rule of every edge.
    if let Some(name) = params
        .iter()
        .find(|(name, value)| !storable(name) || !storable(value))
        .map(|(name, _)| name)
    {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!(
                "the parameter `{}` {NUL_REFUSED}",
                warden_core::identity::clip(&name.escape_debug().to_string())
            ),
        ));
    }
    let client = authenticate(state.services(), presented, ip)
        .await
        .map_err(|err| Box::new(grant_error(err)))?;
    Ok((params, client))
}

/// Reads a request about one token (revocation, introspection): the client and `token`.
async fn read_token_request(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    ip: std::net::IpAddr,
) -> Result<(String, ClientIdentity), Box<Response>> {
    let (mut params, client) = read_request(state, headers, body, ip).await?;
    let token = params.remove("token").ok_or_else(|| {
        Box::new(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "`token` is required",
        ))
    })?;
    Ok((token, client))
}

/// Issues tokens. Grants: `password` (email or username, optional `account`, optional
/// `scope` to narrow the token to some of the user's roles), `refresh_token` (rotated on every
/// use; reusing a rotated one revokes the session) and `client_credentials` (service clients,
/// HTTP Basic or body credentials).
#[utoipa::path(
    post, path = "/oauth/token", tag = "oauth",
    request_body(content_type = "application/x-www-form-urlencoded", description = "grant_type=password&username=…&password=…[&account=…][&scope=…], grant_type=refresh_token&refresh_token=…, or grant_type=client_credentials with client authentication"),
    responses(
        (status = 200, body = TokenResponse, description = "Issued"),
        (status = 400, body = OAuthError, description = "invalid_request, invalid_grant, invalid_scope, unauthorized_client, unsupported_grant_type"),
        (status = 401, body = OAuthError, description = "invalid_client"),
        (status = 503, body = OAuthError, description = "Busy; see Retry-After"),
    )
)]
pub async fn token(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(retry_after) = state.token_limiter().check(ip) {
        let mut response = oauth_error(
            StatusCode::TOO_MANY_REQUESTS,
            "temporarily_unavailable",
            "too many token requests from this address; retry later",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        return response;
    }
    let (mut params, client) = match read_request(&state, &headers, body, ip).await {
        Ok(request) => request,
        Err(response) => return *response,
    };
    let services = state.services();
    let scope = params.remove("scope");
    let result = match params.remove("grant_type").as_deref() {
        None => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "`grant_type` is required"),
        Some("password") => {
            let grant = PasswordGrant {
                username: params.remove("username").unwrap_or_default(),
                password: params.remove("password").unwrap_or_default(),
                account: params.remove("account"),
                client,
                scope,
                ip,
            };
            password_grant(services, grant).await
        }
        Some("refresh_token") => {
            let value = params.remove("refresh_token").unwrap_or_default();
            refresh_grant(services, &value, &client, scope.as_deref(), ip).await
        }
        Some("client_credentials") => {
            client_credentials_grant(services, &client, scope.as_deref(), ip).await
        }
        Some(other) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!(
                    "the grant type `{}` is not supported; use `password`, `refresh_token` or `client_credentials`",
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
        Err(err) => grant_error(err),
    }
}

/// RFC 7009 revocation of a refresh or access token: its whole session ends. Always 200, even
/// for unknown tokens, so the answer reveals nothing. A service client that presents
/// credentials must authenticate.
#[utoipa::path(
    post, path = "/oauth/revoke", tag = "oauth",
    request_body(content_type = "application/x-www-form-urlencoded", description = "token=…[&token_type_hint=…]"),
    responses((status = 200, description = "Revoked, or nothing to revoke"), (status = 400, body = OAuthError), (status = 401, body = OAuthError))
)]
pub async fn revoke(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (token, client) = match read_token_request(&state, &headers, body, ip).await {
        Ok(request) => request,
        Err(response) => return *response,
    };
    match revoke_token(state.services(), &client, &token).await {
        Ok(true) => no_store(StatusCode::OK.into_response()),
        Ok(false) => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_token_type",
            "tokens of service clients expire on their own and cannot be revoked",
        ),
        Err(err) => no_store(internal(&err.to_string())),
    }
}

/// RFC 7662 introspection, for authenticated service clients: `{"active": true, …claims}` for
/// a live token, `{"active": false}` for anything else, with no reason given.
#[utoipa::path(
    post, path = "/oauth/introspect", tag = "oauth",
    request_body(content_type = "application/x-www-form-urlencoded", description = "token=…[&token_type_hint=…] with HTTP Basic client credentials"),
    responses((status = 200, description = "Introspection response"), (status = 400, body = OAuthError), (status = 401, body = OAuthError))
)]
pub async fn introspect(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (token, client) = match read_token_request(&state, &headers, body, ip).await {
        Ok(request) => request,
        Err(response) => return *response,
    };
    let ClientIdentity::Confidential(client) = client else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "introspection needs service client credentials",
        );
    };
    match introspect_token(state.services(), &client, &token).await {
        Ok(answer) => no_store(Json(answer).into_response()),
        Err(err) => no_store(internal(&err.to_string())),
    }
}

/// The public signing keys (RFC 7517), for offline verification.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "oauth", responses((status = 200, description = "JWK Set")))]
pub async fn jwks(State(state): State<AppState>) -> Response {
    let services = state.services();
    let mut response = Json(services.tokens.keys().jwks().clone()).into_response();
    let cache = format!("public, max-age={}", services.settings.jwks_cache_ttl);
    if let Ok(value) = HeaderValue::from_str(&cache) {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
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
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        "grant_types_supported": ["password", "refresh_token", "client_credentials"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": [],
        "service_documentation": format!("{issuer}/docs"),
    }))
}
