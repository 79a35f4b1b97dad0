//! The OAuth2 protocol at the edge (RFC 6749): the parameters of a request to `/oauth/*` (form
//! or JSON, a repeated parameter refused), the client credentials it presents (HTTP Basic or
//! body, one method per request), the per-address token budget, and one error type that
//! answers as §5.2 says. The handlers in `handlers/oauth.rs` only route.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Serialize;
use serde_json::Value;
use warden_core::authn::client::{ClientIdentity, Presented};
use warden_core::json::{storable, unique_object, ObjectError, NUL_REFUSED};
use warden_core::oauth::GrantError;
use warden_core::DomainError;

use crate::error::internal;
use crate::extract::ClientAddr;
use crate::state::AppState;

/// An error response (RFC 6749 §5.2).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = OAuthError)]
pub struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unauthorized_client`,
    /// `unsupported_grant_type` or `invalid_scope`.
    pub error: &'static str,
    /// What went wrong.
    pub error_description: String,
}

/// Marks a response uncacheable, as RFC 6749 §5.1 asks of every token response.
pub(crate) fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Every refusal an OAuth endpoint answers, rendered as an RFC 6749 §5.2 error response
/// (`Cache-Control: no-store`; `WWW-Authenticate` on `invalid_client`; `Retry-After` when busy).
#[derive(Debug)]
pub enum OAuthError {
    /// Refused before any grant runs: status, error code, description.
    Refused(StatusCode, &'static str, String),
    /// The address spent its token budget: retry after this many seconds.
    Throttled(u64),
    /// A grant, or the client's authentication, refused.
    Grant(GrantError),
}

impl OAuthError {
    /// A `400 invalid_request`.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::Refused(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            description.into(),
        )
    }
}

impl OAuthError {
    /// The OAuth error code it answers (`server_error` for a failure of Warden's own).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Refused(_, code, _) => code,
            Self::Throttled(_)
            | Self::Grant(GrantError::Domain(DomainError::Busy(_) | DomainError::Unavailable(_))) => {
                "temporarily_unavailable"
            }
            Self::Grant(GrantError::InvalidRequest(_)) => "invalid_request",
            Self::Grant(GrantError::InvalidClient) => "invalid_client",
            Self::Grant(GrantError::UnauthorizedClient(_)) => "unauthorized_client",
            Self::Grant(GrantError::InvalidGrant(_)) => "invalid_grant",
            Self::Grant(GrantError::InvalidScope(_)) => "invalid_scope",
            Self::Grant(GrantError::Domain(_)) => "server_error",
        }
    }
}

impl From<GrantError> for OAuthError {
    fn from(err: GrantError) -> Self {
        Self::Grant(err)
    }
}

impl From<DomainError> for OAuthError {
    fn from(err: DomainError) -> Self {
        Self::Grant(GrantError::Domain(err))
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        match self {
            Self::Refused(status, error, description) => render(status, error, description),
            Self::Throttled(retry_after) => {
                let mut response = render(
                    StatusCode::TOO_MANY_REQUESTS,
                    "temporarily_unavailable",
                    "too many token requests from this address; retry later",
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
                response
            }
            Self::Grant(err) => grant_response(err),
        }
    }
}

fn render(status: StatusCode, error: &'static str, description: impl Into<String>) -> Response {
    let body = OAuthErrorBody {
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

fn grant_response(err: GrantError) -> Response {
    match err {
        GrantError::InvalidRequest(why) => render(StatusCode::BAD_REQUEST, "invalid_request", why),
        GrantError::InvalidClient => render(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        ),
        GrantError::UnauthorizedClient(why) => {
            render(StatusCode::BAD_REQUEST, "unauthorized_client", why)
        }
        GrantError::InvalidGrant(why) => render(StatusCode::BAD_REQUEST, "invalid_grant", why),
        GrantError::InvalidScope(why) => render(StatusCode::BAD_REQUEST, "invalid_scope", why),
        GrantError::Domain(DomainError::Busy(seconds)) => {
            let mut response = render(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the server is busy; retry shortly",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            response
        }
        GrantError::Domain(DomainError::Unavailable(cause)) => {
            let _ = crate::error::unavailable(&cause);
            let mut response = render(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the database cannot be reached; retry shortly",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(1));
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
) -> Result<Presented, OAuthError> {
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
                            return Err(OAuthError::Refused(
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
        (Some(_), _, Some(_)) => Err(OAuthError::Refused(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "use one client authentication method, not HTTP Basic and client_secret".into(),
        )),
        (Some((id, _)), Some(body_id), None) if body_id != id => Err(OAuthError::Refused(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_id does not match the HTTP Basic credentials".into(),
        )),
        (Some((client_id, secret)), _, None) => Ok(Presented::Secret { client_id, secret }),
        (None, Some(client_id), Some(secret)) => Ok(Presented::Secret { client_id, secret }),
        (None, None, Some(_)) => Err(OAuthError::Refused(
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

/// The client credentials a request presents: HTTP Basic or body parameters, one method.
#[derive(Debug)]
pub struct ClientCredentials(pub Presented);

/// An OAuth request: its parameters and the client credentials it presents. A body that is too
/// large, malformed, repeats a parameter, mixes client authentication methods or holds text no
/// store can keep is refused before the handler runs.
#[derive(Debug)]
pub struct OAuthForm {
    /// The parameters, client credentials removed.
    pub params: HashMap<String, String>,
    /// The client credentials.
    pub credentials: ClientCredentials,
}

impl OAuthForm {
    /// Takes a parameter out, if present.
    pub fn take(&mut self, name: &str) -> Option<String> {
        self.params.remove(name)
    }
}

impl<S: Send + Sync> FromRequest<S> for OAuthForm {
    type Rejection = OAuthError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let headers = req.headers().clone();
        let body = Bytes::from_request(req, state).await.map_err(|_| {
            OAuthError::Refused(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                "the request body is too large".into(),
            )
        })?;
        let mut params = parameters(&headers, &body).map_err(OAuthError::invalid_request)?;
        let presented = presented_client(&headers, &mut params)?;
        // Client credentials are refused as such (`invalid_client`) when they hold what no
        // client has; every other parameter is held to the text rule of every edge.
        if let Some(name) = params
            .iter()
            .find(|(name, value)| !storable(name) || !storable(value))
            .map(|(name, _)| name)
        {
            return Err(OAuthError::invalid_request(format!(
                "the parameter `{}` {NUL_REFUSED}",
                warden_core::identity::clip(&name.escape_debug().to_string())
            )));
        }
        Ok(Self {
            params,
            credentials: ClientCredentials(presented),
        })
    }
}

/// The requester's address, once its token budget allows one more request.
pub struct TokenBudget(pub std::net::IpAddr);

impl FromRequestParts<AppState> for TokenBudget {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ClientAddr(ip) = ClientAddr::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        state
            .token_limiter()
            .check(ip)
            .map_err(|retry_after| OAuthError::Throttled(retry_after).into_response())?;
        Ok(Self(ip))
    }
}

/// Authenticates a client's credentials under its address's token budget (the token
/// endpoint's): the request holds one token while they are tried, and it stays spent only when
/// they are refused. Resource servers call at their own rate; guesses, even sent at once, are
/// stopped once the budget is spent (`Err` carries the seconds to wait).
pub async fn authenticate_within_budget(
    state: &AppState,
    presented: Presented,
    ip: std::net::IpAddr,
) -> Result<Result<ClientIdentity, GrantError>, u64> {
    let held = state.token_limiter().hold(ip)?;
    let authenticated =
        warden_core::authn::client::authenticate(state.services(), presented, ip).await;
    if matches!(authenticated, Err(GrantError::InvalidClient)) {
        held.spend();
    }
    Ok(authenticated)
}
