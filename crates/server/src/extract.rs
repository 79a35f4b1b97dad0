//! Extractors: JSON bodies and query strings whose rejections are problem documents, path ids
//! that parse, and the authenticated caller.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;
use warden_core::authz::{Actor, Caller, ClientCaller};
use warden_core::ids::{AccountId, SessionId, UserId};
use warden_core::DomainError;

use crate::error::ApiError;
use crate::state::AppState;

/// A JSON request body; unknown fields, syntax errors and oversized bodies become problems,
/// and so does any string or key no store can hold (a NUL), naming its field, whatever the
/// body's type.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(unsupported_media_type());
        }
        let bytes = match axum::body::Bytes::from_request(req, state).await {
            Ok(bytes) => bytes,
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(payload_too_large())
            }
            Err(rejection) => {
                return Err(ApiError::bad_request(
                    "unreadable-body",
                    rejection.body_text(),
                ))
            }
        };
        refuse_unstorable(&bytes)?;
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// `application/json`, or any `application/…+json`, as axum's own JSON extractor accepts.
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|media| media.trim().to_ascii_lowercase());
    match media.as_deref().and_then(|media| media.split_once('/')) {
        Some(("application", subtype)) => subtype == "json" || subtype.ends_with("+json"),
        _ => false,
    }
}

/// Refuses a body holding a NUL in any string or key, naming the field (422). A NUL can only
/// reach a JSON string escaped, so bodies without the escape skip the second parse; the
/// decision itself is made on the parsed value, and a body that does not parse is left to the
/// typed parse for its error.
fn refuse_unstorable(bytes: &[u8]) -> Result<(), ApiError> {
    if !bytes.windows(6).any(|w| w == b"\\u0000") {
        return Ok(());
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Ok(());
    };
    match warden_core::json::unstorable_field(&value) {
        Some(field) => Err(DomainError::invalid(field, warden_core::json::NUL_REFUSED).into()),
        None => Ok(()),
    }
}

fn unsupported_media_type() -> ApiError {
    ApiError::Request(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
        "send the body as JSON with `Content-Type: application/json`".into(),
    )
}

fn payload_too_large() -> ApiError {
    ApiError::Request(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload-too-large",
        "the request body is too large".into(),
    )
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(err) => ApiError::Request(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-body",
            body_text(&err.body_text()),
        ),
        JsonRejection::JsonSyntaxError(err) => {
            ApiError::bad_request("malformed-json", body_text(&err.body_text()))
        }
        JsonRejection::MissingJsonContentType(_) => unsupported_media_type(),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => payload_too_large(),
        other => ApiError::bad_request("unreadable-body", other.body_text()),
    }
}

/// Trims axum's prefix so the message reads as advice, and caps its length.
fn body_text(text: &str) -> String {
    let text =
        text.trim_start_matches("Failed to deserialize the JSON body into the target type: ");
    let text = text.trim_start_matches("Failed to parse the request body as JSON: ");
    warden_core::identity::clip_to(text, 400)
}

/// Query parameters; unknown or malformed ones become problems.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        refuse_unstorable_query(parts.uri.query().unwrap_or_default())?;
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(err)) => {
                Err(ApiError::bad_request("invalid-query", err.body_text()))
            }
            Err(other) => Err(ApiError::bad_request("invalid-query", other.body_text())),
        }
    }
}

/// Refuses a query parameter (name or value) holding a NUL, naming it (422). A NUL can only
/// arrive percent-encoded, so other queries skip the second parse.
fn refuse_unstorable_query(query: &str) -> Result<(), ApiError> {
    if !query.contains("%00") {
        return Ok(());
    }
    let Ok(pairs) = serde_urlencoded::from_str::<Vec<(String, String)>>(query) else {
        return Ok(());
    };
    use warden_core::json::{storable, NUL_REFUSED};
    match pairs
        .iter()
        .find(|(name, value)| !storable(name) || !storable(value))
    {
        Some((name, _)) => {
            Err(DomainError::invalid(name.escape_debug().to_string(), NUL_REFUSED).into())
        }
        None => Ok(()),
    }
}

/// Parses an id from a path segment.
pub fn path_id<T>(text: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<T, ApiError> {
    parse(text).map_err(|err| ApiError::bad_request("invalid-id", err))
}

/// The authenticated user behind a bearer access token, with permissions resolved.
pub struct Authenticated(pub Actor);

impl Authenticated {
    /// The caller as an actor for admin use cases.
    pub fn actor(&self) -> Actor {
        self.0.clone()
    }

    /// The calling user, for endpoints that act for a person (self-service, API keys).
    pub fn user(&self) -> Result<&Caller, ApiError> {
        match &self.0 {
            Actor::Caller(caller) => Ok(caller),
            _ => Err(warden_core::DomainError::Forbidden(
                "this endpoint acts for a user; service clients cannot use it".into(),
            )
            .into()),
        }
    }
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if parts
            .uri
            .query()
            .is_some_and(|q| q.split('&').any(|pair| pair.starts_with("access_token=")))
        {
            return Err(ApiError::bad_request(
                "token-in-query",
                "access tokens in the query string are refused (RFC 9700); send `Authorization: Bearer <token>`",
            ));
        }
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or(ApiError::Unauthenticated(None))?;
        let value = header.to_str().map_err(|_| {
            ApiError::Unauthenticated(Some("the Authorization header is not ASCII".into()))
        })?;
        let token = match value.split_once(' ') {
            Some((scheme, token))
                if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
            {
                token.trim()
            }
            _ => return Err(ApiError::Unauthenticated(None)),
        };
        // A node that has not read the change log for this long no longer trusts its
        // authorization data: 503 until it catches up.
        if !state
            .services()
            .engine
            .is_fresh(std::time::Duration::from_secs(30))
        {
            return Err(warden_core::DomainError::Busy(5).into());
        }
        if token.starts_with(warden_core::admin::api_keys::PREFIX) {
            let token = token.to_owned();
            return api_key_caller(parts, state, &token).await.map(Self);
        }
        let services = state.services();
        let claims = services
            .tokens
            .verify(token)
            .map_err(|err| ApiError::Unauthenticated(Some(err.to_string())))?;
        let invalid = |why: &str| ApiError::Unauthenticated(Some(why.to_owned()));
        // Everything below reads the authorization snapshot, never the database.
        let snapshot = services.engine.snapshot();
        let scoped_to = claims.scope.is_some().then(|| claims.roles.clone());
        // A token issued in an account before it was last disabled stays dead, even once the
        // account is enabled again (a client's own token has no session that ended with it).
        if let Some(account) = claims.acct.as_deref() {
            let account =
                AccountId::parse(account).map_err(|_| invalid("the token's account is invalid"))?;
            if !snapshot.account_accepts(&account, claims.iat) {
                return Err(inactive(
                    warden_core::engine::Inactive::AccountInactive,
                    "account",
                ));
            }
        }
        if let Some(client_id) = claims.sub.strip_prefix("client:") {
            // A service client's own token: no session; the client must still be active.
            let caller = ClientCaller::resolve(&snapshot, client_id, scoped_to)
                .map_err(|why| inactive(why, "client"))?;
            return Ok(Self(Actor::Client(caller)));
        }
        let user_id =
            UserId::parse(&claims.sub).map_err(|_| invalid("the token's subject is not a user"))?;
        let session_id = SessionId::parse(&claims.sid)
            .map_err(|_| invalid("the token carries no valid session"))?;
        let account = claims
            .acct
            .as_deref()
            .map(AccountId::parse)
            .transpose()
            .map_err(|_| invalid("the token's account is invalid"))?;
        let caller = Caller::resolve(&snapshot, user_id, Some(session_id), account, scoped_to)
            .map_err(|why| inactive(why, "user"))?;
        Ok(Self(Actor::Caller(caller)))
    }
}

/// The 401 for a token whose principal can no longer act.
fn inactive(why: warden_core::engine::Inactive, what: &str) -> ApiError {
    use warden_core::engine::Inactive;
    ApiError::Unauthenticated(Some(match why {
        Inactive::Unknown | Inactive::Disabled => {
            format!("the token's {what} no longer exists or is disabled")
        }
        Inactive::SessionEnded => "the token's session has ended".to_owned(),
        Inactive::AccountInactive => {
            "the token's account no longer exists or is disabled".to_owned()
        }
    }))
}

/// Authenticates a `wk_` API key: the caller is its owner (a user or a service client), acting
/// in its account through only the key's roles the owner still holds.
async fn api_key_caller(
    parts: &mut Parts,
    state: &AppState,
    token: &str,
) -> Result<Actor, ApiError> {
    use warden_core::admin::api_keys::{authenticate, REFUSED};
    let ClientAddr(ip) = ClientAddr::from_request_parts(parts, state).await?;
    let services = state.services();
    let refused = || ApiError::Unauthenticated(Some(REFUSED.to_owned()));
    let (key, roles) = authenticate(services, token, ip)
        .await?
        .ok_or_else(refused)?;
    if let Some(account) = &key.account_id {
        let found = services
            .store
            .account(account)
            .await
            .map_err(warden_core::DomainError::from)?;
        // Nothing made in an account before it was last disabled lives on: not its keys either.
        if !found.is_some_and(|a| a.accepts_token_issued_at(key.created_at.seconds())) {
            return Err(refused());
        }
    }
    match (key.user_id, key.client_key) {
        (Some(user), _) => {
            let snapshot = services.engine.snapshot();
            let mut caller = Caller::resolve(&snapshot, user, None, key.account_id, Some(roles))
                .map_err(|_| refused())?;
            caller.api_key = Some(key.id);
            Ok(Actor::Caller(caller))
        }
        (None, Some(client)) => {
            let record = services
                .store
                .client(&client)
                .await
                .map_err(warden_core::DomainError::from)?
                .ok_or_else(refused)?;
            let snapshot = services.engine.snapshot();
            let mut caller =
                ClientCaller::resolve(&snapshot, &record.client.client_id, Some(roles))
                    .map_err(|_| refused())?;
            caller.api_key = Some(key.id);
            Ok(Actor::Client(caller))
        }
        (None, None) => Err(refused()),
    }
}

/// The client's IP address: the peer, or what a trusted proxy forwarded.
pub struct ClientAddr(pub std::net::IpAddr);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Without connection info (not served through `serve`) the address is unknown and
        // matches no allow-list.
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |info| info.0.ip());
        // Every X-Forwarded-For line, in order: a proxy may append its own line.
        let mut forwarded: Option<String> = None;
        for value in parts.headers.get_all("x-forwarded-for") {
            let text = value.to_str().unwrap_or("unreadable");
            forwarded = Some(match forwarded {
                Some(so_far) => format!("{so_far},{text}"),
                None => text.to_owned(),
            });
        }
        let forwarded = forwarded.as_deref();
        Ok(Self(warden_core::net::client_ip(
            peer,
            forwarded,
            &state.services().settings.trusted_proxies,
        )))
    }
}
