//! Extractors: JSON bodies and query strings whose rejections are problem documents, path ids
//! that parse, and the authenticated caller.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;
use warden_core::authn::AuthError;
use warden_core::authz::{Access, Caller};
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
        // The plain parse first: it accepts exactly what the path-tracking one does, without
        // its bookkeeping; only a body that fails is parsed again for the field to name.
        if let Ok(value) = serde_json::from_slice::<T>(&bytes) {
            return Ok(Self(value));
        }
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
        .map(str::trim);
    match media.and_then(|media| media.split_once('/')) {
        Some((kind, subtype)) if kind.eq_ignore_ascii_case("application") => {
            subtype.eq_ignore_ascii_case("json")
                || subtype.len() > 5
                    && subtype.is_char_boundary(subtype.len() - 5)
                    && subtype[subtype.len() - 5..].eq_ignore_ascii_case("+json")
        }
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

/// An id that can stand in a path segment.
pub trait PathSegment: Sized {
    /// Parses the segment; the error says what is wrong.
    fn parse_segment(text: &str) -> Result<Self, String>;
}

macro_rules! path_segment {
    ($($id:ty),*) => {
        $(impl PathSegment for $id {
            fn parse_segment(text: &str) -> Result<Self, String> {
                <$id>::parse(text)
            }
        })*
    };
}
path_segment!(
    warden_core::ids::AccountId,
    warden_core::ids::ApiKeyId,
    warden_core::ids::ClientKey,
    warden_core::ids::PolicyId,
    warden_core::ids::RoleId,
    warden_core::ids::SessionId,
    warden_core::ids::UserId
);

/// A free text segment (a resource's type or id), checked by the use case.
impl PathSegment for String {
    fn parse_segment(text: &str) -> Result<Self, String> {
        Ok(text.to_owned())
    }
}

/// The path's segments, each a parse away from an id.
async fn segments(parts: &mut Parts) -> Result<Vec<String>, ApiError> {
    let axum::extract::Path(all) =
        axum::extract::Path::<Vec<(String, String)>>::from_request_parts(parts, &())
            .await
            .map_err(|err| ApiError::bad_request("invalid-id", err.body_text()))?;
    Ok(all.into_iter().map(|(_, value)| value).collect())
}

/// The path's one id, parsed: a malformed id answers 400 `invalid-id`.
pub struct PathId<T>(pub T);

impl<T: PathSegment, S: Send + Sync> FromRequestParts<S> for PathId<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match segments(parts).await?.as_slice() {
            [one] => path_id(one, T::parse_segment).map(Self),
            _ => Err(ApiError::bad_request("invalid-id", "the path names one id")),
        }
    }
}

/// The path's two ids, in order, parsed.
pub struct PathIds<A, B>(pub A, pub B);

impl<A: PathSegment, B: PathSegment, S: Send + Sync> FromRequestParts<S> for PathIds<A, B> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match segments(parts).await?.as_slice() {
            [a, b] => Ok(Self(
                path_id(a, A::parse_segment)?,
                path_id(b, B::parse_segment)?,
            )),
            _ => Err(ApiError::bad_request(
                "invalid-id",
                "the path names two ids",
            )),
        }
    }
}

/// Parses an id from a path segment.
pub fn path_id<T>(text: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<T, ApiError> {
    parse(text).map_err(|err| ApiError::bad_request("invalid-id", err))
}

/// The authenticated user behind a bearer access token, with permissions resolved, and
/// whether the token was issued to a third-party application (one that signs people in and is
/// not first-party).
pub struct Authenticated(pub Access, bool);

impl Authenticated {
    /// The caller's access, for the use cases.
    pub fn access(&self) -> &Access {
        &self.0
    }

    /// The calling person, for endpoints that manage their own credentials and settings
    /// (password, API keys, sessions, second factor, consents). A token a third-party
    /// application got for them does not: it acts only with the roles they allowed it.
    pub fn user(&self) -> Result<&Caller, ApiError> {
        if self.1 {
            return Err(warden_core::DomainError::Forbidden(
                "a token issued to a third-party application cannot manage the person's account; sign in to Warden itself".into(),
            )
            .into());
        }
        self.reader()
    }

    /// Refuses a third-party application's token asking about the person it acts for by id
    /// (`/v1/users/{own id}`, its permissions): it reads them through `/userinfo` only.
    pub fn not_about_self(&self, id: &warden_core::ids::UserId) -> Result<(), ApiError> {
        match &self.0 {
            Access::Caller(caller) if self.1 && caller.user_id == *id => self.user().map(|_| ()),
            _ => Ok(()),
        }
    }

    /// The calling person, for `/userinfo`, which answers any application they signed in to
    /// with the claims its scopes released.
    pub fn reader(&self) -> Result<&Caller, ApiError> {
        match &self.0 {
            Access::Caller(caller) => Ok(caller),
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
        let ClientAddr(ip) = ClientAddr::from_request_parts(parts, state).await?;
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
        let services = state.services();
        let access = warden_core::authn::authenticate(services, token, ip)
            .await
            .map_err(|err| match err {
                AuthError::Refused(why) => ApiError::Unauthenticated(Some(why)),
                AuthError::Stale => warden_core::DomainError::Busy(5).into(),
            })?;
        // Whether the token came through a third-party application: the cached verification
        // answers, and the snapshot knows the client.
        let third_party = matches!(access, Access::Caller(_))
            && services.tokens.verify(token).is_ok_and(|claims| {
                services
                    .engine
                    .snapshot()
                    .clients
                    .by_client_id(&claims.client_id)
                    // A client gone from the index (deleted) is held to the stricter rule.
                    .map_or(
                        claims.client_id != warden_core::services::DEFAULT_CLIENT_ID,
                        |c| c.third_party,
                    )
            });
        Ok(Self(access, third_party))
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
