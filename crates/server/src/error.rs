//! The server's one error type and its one `IntoResponse`: RFC 9457 problem documents whose
//! `detail` says what to fix. 5xx bodies are generic; the cause goes to the log.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use warden_core::{DomainError, FieldError};

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A stable identifier of the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What went wrong and what to fix.
    pub detail: String,
    /// Invalid fields, for validation problems.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub errors: Vec<FieldError>,
}

/// Everything a handler can answer with instead of success.
#[derive(Debug)]
pub enum ApiError {
    /// A refusal or failure from the domain.
    Domain(DomainError),
    /// The request itself is malformed (status, slug, detail).
    Request(StatusCode, &'static str, String),
    /// No valid bearer credentials (RFC 6750): `None` when none were sent.
    Unauthenticated(Option<String>),
    /// HTTP Basic client credentials were sent and failed (RFC 7235: challenged with Basic).
    ClientUnauthenticated,
    /// This address sent too many password checks; retry after this many seconds.
    RateLimited(u64),
}

impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        Self::Domain(err)
    }
}

impl ApiError {
    /// A 400 with a slug and detail.
    pub fn bad_request(slug: &'static str, detail: impl Into<String>) -> Self {
        Self::Request(StatusCode::BAD_REQUEST, slug, detail.into())
    }
}

fn problem(status: StatusCode, slug: &str, detail: String, errors: Vec<FieldError>) -> Response {
    let body = Problem {
        kind: format!("/problems/{slug}"),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail,
        errors,
    };
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Request(status, slug, detail) => problem(status, slug, detail, Vec::new()),
            Self::RateLimited(seconds) => {
                let mut response = problem(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate-limited",
                    "too many password checks from this address; retry later".into(),
                    Vec::new(),
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
                response
            }
            Self::ClientUnauthenticated => {
                let mut response = problem(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "service client authentication failed".into(),
                    Vec::new(),
                );
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"warden\""),
                );
                response
            }
            Self::Unauthenticated(reason) => {
                let (challenge, detail) = match &reason {
                    None => ("Bearer realm=\"warden\"".to_owned(), "this endpoint needs a bearer access token".to_owned()),
                    Some(why) => (format!("Bearer realm=\"warden\", error=\"invalid_token\", error_description=\"{why}\""), why.clone()),
                };
                let mut response = problem(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    detail,
                    Vec::new(),
                );
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, value);
                }
                response
            }
            Self::Domain(err) => match err {
                DomainError::Validation(errors) => problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation",
                    "some fields are invalid; see `errors`".into(),
                    errors,
                ),
                DomainError::NotFound(what) => problem(
                    StatusCode::NOT_FOUND,
                    "not-found",
                    format!("{what} not found"),
                    Vec::new(),
                ),
                DomainError::Conflict(detail) => {
                    problem(StatusCode::CONFLICT, "conflict", detail, Vec::new())
                }
                DomainError::Forbidden(detail) => {
                    let mut response =
                        problem(StatusCode::FORBIDDEN, "forbidden", detail, Vec::new());
                    response.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static(
                            "Bearer realm=\"warden\", error=\"insufficient_scope\"",
                        ),
                    );
                    response
                }
                DomainError::Busy(seconds) => {
                    let mut response = problem(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "busy",
                        "the server is busy; retry shortly".into(),
                        Vec::new(),
                    );
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
                    response
                }
                DomainError::Unavailable(cause) => unavailable(&cause),
                DomainError::Store(cause) => internal(&cause.to_string()),
                DomainError::Internal(cause) => internal(&cause),
            },
        }
    }
}

/// 503 `busy` with `Retry-After: 1` for a database out of reach; the cause is logged (at most
/// once a second: an outage fails every request), never sent.
pub fn unavailable(cause: &str) -> Response {
    static LOGGED: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
    let now = warden_core::time::Timestamp::now().millis() / 1000;
    if LOGGED.swap(now, std::sync::atomic::Ordering::Relaxed) != now {
        tracing::warn!(cause, "the database is unavailable; answering 503");
    }
    let mut response = problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        "the database cannot be reached; retry shortly".into(),
        Vec::new(),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(1));
    response
}

/// A generic 500; the cause is logged, never sent.
pub fn internal(cause: &str) -> Response {
    tracing::error!(cause, "internal error");
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the server failed to handle this request".into(),
        Vec::new(),
    )
}
