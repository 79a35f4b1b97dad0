//! The OAuth2 surface: `POST /oauth/token` (RFC 6749), `/oauth/revoke` (RFC 7009),
//! `/oauth/introspect` (RFC 7662), the JWK Set and the RFC 8414 metadata. Parsing, client
//! credentials and error responses are the protocol layer's (`crate::oauth`); these only route.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use warden_core::authn::client::{authenticate, ClientIdentity};
use warden_core::oauth::client_credentials_grant;
use warden_core::oauth::code::code_grant;
use warden_core::oauth::introspect::introspect as introspect_token;
use warden_core::oauth::refresh::{refresh_grant, revoke as revoke_token};
use warden_core::oauth::{password_grant, PasswordGrant};

use crate::extract::ClientAddr;
use crate::oauth::{
    authenticate_within_budget, no_store, OAuthError, OAuthErrorBody, OAuthForm, TokenBudget,
};
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
    /// The OpenID Connect ID token, for an authorization code asked with the `openid` scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// Issues tokens. Grants: `password` (email or username, optional `account`, optional
/// `scope` to narrow the token to some of the user's roles), `refresh_token` (rotated on every
/// use; reusing a rotated one revokes the session) and `client_credentials` (service clients,
/// HTTP Basic or body credentials).
#[utoipa::path(
    post, path = "/oauth/token", tag = "oauth",
    request_body(content_type = "application/x-www-form-urlencoded", description = "grant_type=authorization_code&code=…&redirect_uri=…&code_verifier=…, grant_type=password&username=…&password=…[&account=…][&scope=…], grant_type=refresh_token&refresh_token=…, or grant_type=client_credentials with client authentication"),
    responses(
        (status = 200, body = TokenResponse, description = "Issued"),
        (status = 400, body = OAuthErrorBody, description = "invalid_request, invalid_grant, invalid_scope, unauthorized_client, unsupported_grant_type"),
        (status = 401, body = OAuthErrorBody, description = "invalid_client"),
        (status = 503, body = OAuthErrorBody, description = "Busy; see Retry-After"),
    )
)]
pub async fn token(
    State(state): State<AppState>,
    TokenBudget(ip): TokenBudget,
    mut form: OAuthForm,
) -> Result<Response, OAuthError> {
    let grant_type = form.take("grant_type");
    let answer = grant(&state, ip, form, grant_type.as_deref()).await;
    let outcome = answer.as_ref().map_or_else(OAuthError::code, |_| "issued");
    state.metrics().grant(grant_type.as_deref(), outcome);
    answer
}

/// Runs the grant `grant_type` names.
async fn grant(
    state: &AppState,
    ip: std::net::IpAddr,
    mut form: OAuthForm,
    grant_type: Option<&str>,
) -> Result<Response, OAuthError> {
    let services = state.services();
    let presented = std::mem::take(&mut form.credentials.0);
    let client = authenticate(services, presented, ip).await?;
    let scope = form.take("scope");
    let mut id_token = None;
    let issued = match grant_type {
        None => return Err(OAuthError::invalid_request("`grant_type` is required")),
        Some("password") => {
            let grant = PasswordGrant {
                username: form.take("username").unwrap_or_default(),
                password: form.take("password").unwrap_or_default(),
                account: form.take("account"),
                client,
                scope,
                ip,
            };
            password_grant(services, grant).await?
        }
        Some("refresh_token") => {
            let value = form.take("refresh_token").unwrap_or_default();
            refresh_grant(services, &value, &client, scope.as_deref(), ip).await?
        }
        Some("client_credentials") => {
            client_credentials_grant(services, &client, scope.as_deref(), ip).await?
        }
        Some("authorization_code") => {
            let code = form.take("code").unwrap_or_default();
            let redirect_uri = form.take("redirect_uri");
            let verifier = form.take("code_verifier");
            let granted = code_grant(
                services,
                &client,
                &code,
                redirect_uri.as_deref(),
                verifier.as_deref(),
            )
            .await?;
            id_token = granted.id_token;
            granted.issued
        }
        Some(other) => {
            return Err(OAuthError::Refused(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!(
                    "the grant type `{}` is not supported; use `authorization_code`, `password`, `refresh_token` or `client_credentials`",
                    warden_core::identity::clip(other)
                ),
            ))
        }
    };
    Ok(no_store(
        Json(TokenResponse {
            access_token: issued.access_token,
            token_type: "Bearer",
            expires_in: issued.expires_in,
            scope: issued.scope,
            refresh_token: issued.refresh_token,
            id_token,
        })
        .into_response(),
    ))
}

/// A request about one token (revocation, introspection): the client, authenticated within
/// the address's token budget (see [`authenticate_within_budget`]), and `token`.
async fn token_request(
    state: &AppState,
    ip: std::net::IpAddr,
    mut form: OAuthForm,
) -> Result<(String, ClientIdentity), OAuthError> {
    let presented = std::mem::take(&mut form.credentials.0);
    let client = authenticate_within_budget(state, presented, ip)
        .await
        .map_err(OAuthError::Throttled)??;
    let token = form
        .take("token")
        .ok_or_else(|| OAuthError::invalid_request("`token` is required"))?;
    Ok((token, client))
}

/// RFC 7009 revocation of a refresh or access token: its whole session ends. Always 200, even
/// for unknown tokens, so the answer reveals nothing. A service client that presents
/// credentials must authenticate.
#[utoipa::path(
    post, path = "/oauth/revoke", tag = "oauth",
    request_body(content_type = "application/x-www-form-urlencoded", description = "token=…[&token_type_hint=…]"),
    responses((status = 200, description = "Revoked, or nothing to revoke"), (status = 400, body = OAuthErrorBody), (status = 401, body = OAuthErrorBody), (status = 429, body = OAuthErrorBody))
)]
pub async fn revoke(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    form: OAuthForm,
) -> Result<Response, OAuthError> {
    let (token, client) = token_request(&state, ip, form).await?;
    if revoke_token(state.services(), &client, &token).await? {
        Ok(no_store(StatusCode::OK.into_response()))
    } else {
        Err(OAuthError::Refused(
            StatusCode::BAD_REQUEST,
            "unsupported_token_type",
            "tokens of service clients expire on their own and cannot be revoked".into(),
        ))
    }
}

/// RFC 7662 introspection, for authenticated service clients: `{"active": true, …claims}` for
/// a live token, `{"active": false}` for anything else, with no reason given.
#[utoipa::path(
    post, path = "/oauth/introspect", tag = "oauth",
    request_body(content_type = "application/x-www-form-urlencoded", description = "token=…[&token_type_hint=…] with HTTP Basic client credentials"),
    responses((status = 200, description = "Introspection response"), (status = 400, body = OAuthErrorBody), (status = 401, body = OAuthErrorBody), (status = 429, body = OAuthErrorBody))
)]
pub async fn introspect(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    form: OAuthForm,
) -> Result<Response, OAuthError> {
    let (token, client) = token_request(&state, ip, form).await?;
    let ClientIdentity::Confidential(client, _) = client else {
        return Err(OAuthError::Refused(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "introspection needs service client credentials".into(),
        ));
    };
    let answer = introspect_token(state.services(), &client, &token).await?;
    Ok(no_store(Json(answer).into_response()))
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

/// Authorization server metadata (RFC 8414): the same as OpenID Connect discovery's.
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "oauth", responses((status = 200, description = "Metadata")))]
pub async fn metadata(State(state): State<AppState>) -> Json<Value> {
    Json(Value::Object(crate::signin::metadata(&state)))
}
