//! Why a request is refused, and how a refusal becomes an HTTP answer: RFC 6750 challenges
//! (`WWW-Authenticate: Bearer realm="…", error="invalid_token"` with 401,
//! `error="insufficient_scope"` with 403) and a small RFC 9457 problem document, the shape
//! Warden itself answers with.

use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use thiserror::Error;

/// The realm of challenges when none is configured.
pub const DEFAULT_REALM: &str = "warden";

/// Why a token was refused. The text is safe to show to the caller.
#[derive(Debug, Clone, Copy, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// Not three base64url segments of JSON objects, too long, or a refused header.
    #[error("the token is malformed")]
    Malformed,
    /// The header names an algorithm that is not on the allow-list, or not its key's.
    #[error("the token's algorithm is not accepted")]
    Algorithm,
    /// The header's `typ` is not `at+jwt`.
    #[error("the token is not an access token")]
    Type,
    /// No key of the issuer has the token's `kid`.
    #[error("the token was not signed by a known key")]
    UnknownKey,
    /// The signature does not verify (or is not in Warden's low-S ES256 form).
    #[error("the token's signature is invalid")]
    Signature,
    /// Past `exp` (with the leeway).
    #[error("the token has expired")]
    Expired,
    /// Before `nbf`, or issued in the future (with the leeway).
    #[error("the token is not valid yet")]
    Premature,
    /// `iss` is not the configured issuer.
    #[error("the token was not issued by the expected issuer")]
    Issuer,
    /// `aud` does not name the configured audience.
    #[error("the token was not issued for this service")]
    Audience,
    /// A required claim is missing or has the wrong type.
    #[error("the token's claims are incomplete or malformed")]
    Claims,
    /// `acct` is not the account this guard is pinned to.
    #[error("the token acts in another account")]
    Account,
    /// The token's session (`sid`) has ended, as the revocation feed says.
    #[error("the token's session has ended")]
    Revoked,
    /// Warden refused the token when asked for a decision (an ended session, a disabled user).
    #[error("Warden refused the token")]
    Rejected,
}

impl TokenError {
    /// A short stable name of the failed check (`expired`, `signature` …), for logs and metrics.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::Algorithm => "algorithm",
            Self::Type => "type",
            Self::UnknownKey => "unknown_key",
            Self::Signature => "signature",
            Self::Expired => "expired",
            Self::Premature => "premature",
            Self::Issuer => "issuer",
            Self::Audience => "audience",
            Self::Claims => "claims",
            Self::Account => "account",
            Self::Revoked => "revoked",
            Self::Rejected => "rejected",
        }
    }
}

/// Why the guard refused a request, or could not decide.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum GuardError {
    /// The request carried no bearer token (401 with a bare challenge).
    #[error("this endpoint needs a bearer access token")]
    MissingToken,
    /// The `Authorization` header is not `Bearer <token>` (400, `invalid_request`).
    #[error("the Authorization header is not `Bearer <token>`")]
    MalformedCredentials,
    /// The token was refused (401, `invalid_token`).
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The token is valid but does not allow this (403, `insufficient_scope`). `scope` names
    /// the roles that would, when a role was required.
    #[error("{detail}")]
    Forbidden {
        /// What was needed, safe to show to the caller.
        detail: String,
        /// The role names that would satisfy the requirement, space-separated.
        scope: Option<String>,
    },
    /// Warden could not be reached or answered with a server error, and nothing cached could
    /// decide (503). Guards fail closed.
    #[error("Warden is unavailable: {0}")]
    Unavailable(String),
    /// A bug on this side: Warden refused a decision request as malformed, or no guard was
    /// attached to the route (500). The cause is logged, never shown.
    #[error("the guard is misconfigured: {0}")]
    Misconfigured(String),
}

impl GuardError {
    /// A 403 refusal saying what was needed.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::Forbidden {
            detail: detail.into(),
            scope: None,
        }
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingToken | Self::Token(_) => StatusCode::UNAUTHORIZED,
            Self::MalformedCredentials => StatusCode::BAD_REQUEST,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Misconfigured(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The RFC 6750 error code, if this refusal has one.
    pub fn oauth_error(&self) -> Option<&'static str> {
        match self {
            Self::MissingToken | Self::Unavailable(_) | Self::Misconfigured(_) => None,
            Self::MalformedCredentials => Some("invalid_request"),
            Self::Token(_) => Some("invalid_token"),
            Self::Forbidden { .. } => Some("insufficient_scope"),
        }
    }
}

/// A refusal ready to answer: the [`GuardError`] and the realm of its challenge. This is the
/// rejection of the [`crate::Principal`] extractor and what the route layers answer with.
#[derive(Debug, Clone)]
pub struct Rejection {
    error: GuardError,
    realm: Arc<str>,
}

impl Rejection {
    /// `error` answered with the challenge realm `realm`.
    pub fn new(error: GuardError, realm: impl Into<Arc<str>>) -> Self {
        Self {
            error,
            realm: realm.into(),
        }
    }

    /// Why the request was refused.
    pub fn error(&self) -> &GuardError {
        &self.error
    }

    /// The challenge realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The `WWW-Authenticate` value of this refusal (400, 401 and 403 carry one).
    pub fn challenge(&self) -> Option<String> {
        let status = self.error.status();
        if !matches!(
            status,
            StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) {
            return None;
        }
        let mut challenge = format!("Bearer realm=\"{}\"", quoted(&self.realm));
        if let Some(code) = self.error.oauth_error() {
            challenge.push_str(&format!(
                ", error=\"{code}\", error_description=\"{}\"",
                quoted(&self.error.to_string())
            ));
        }
        if let GuardError::Forbidden {
            scope: Some(scope), ..
        } = &self.error
        {
            challenge.push_str(&format!(", scope=\"{}\"", quoted(scope)));
        }
        Some(challenge)
    }
}

impl From<GuardError> for Rejection {
    fn from(error: GuardError) -> Self {
        Self::new(error, DEFAULT_REALM)
    }
}

impl From<TokenError> for Rejection {
    fn from(error: TokenError) -> Self {
        Self::new(GuardError::Token(error), DEFAULT_REALM)
    }
}

/// Text fit for a quoted-string: no control characters, quotes and backslashes escaped.
fn quoted(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .flat_map(|c| match c {
            '"' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let status = self.error.status();
        let (slug, detail) = match &self.error {
            GuardError::MissingToken | GuardError::MalformedCredentials | GuardError::Token(_) => {
                ("unauthenticated", self.error.to_string())
            }
            GuardError::Forbidden { detail, .. } => ("forbidden", detail.clone()),
            GuardError::Unavailable(cause) => {
                tracing::warn!(cause = %cause, "warden-guard: answering 503");
                (
                    "unavailable",
                    "the authorization service cannot be reached; retry shortly".to_owned(),
                )
            }
            GuardError::Misconfigured(cause) => {
                tracing::error!(cause = %cause, "warden-guard: answering 500");
                ("internal", "an internal error occurred".to_owned())
            }
        };
        let mut body = json!({
            "type": format!("/problems/{slug}"),
            "title": status.canonical_reason().unwrap_or_default(),
            "status": status.as_u16(),
            "detail": detail,
        });
        if let Some(code) = self.error.oauth_error() {
            body["error"] = code.into();
        }
        let mut response = (status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(value) = self
            .challenge()
            .and_then(|c| HeaderValue::from_str(&c).ok())
        {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

impl IntoResponse for GuardError {
    fn into_response(self) -> Response {
        Rejection::from(self).into_response()
    }
}

/// Why a [`crate::GuardBuilder`] could not build a guard.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A URL setting is not an absolute `http://` or `https://` URL.
    #[error("`{value}` is not an http:// or https:// URL ({setting})")]
    Url {
        /// Which setting.
        setting: &'static str,
        /// Its value.
        value: String,
    },
    /// An `https://` URL was given but the crate was built without its `rustls` feature.
    #[error("`{0}` needs TLS: enable the `rustls` feature of warden-guard")]
    TlsDisabled(String),
    /// A duration or size is out of its range.
    #[error("{0}")]
    Setting(String),
    /// Following the revocation feed needs a Tokio runtime to run its task in.
    #[error("following the revocation feed needs a Tokio runtime: build the guard inside one")]
    NoRuntime,
    /// The HTTP client could not be built.
    #[error("the HTTP client could not be built: {0}")]
    Http(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_follow_rfc_6750() {
        let missing = Rejection::new(GuardError::MissingToken, "api");
        assert_eq!(missing.challenge().unwrap(), "Bearer realm=\"api\"");
        let expired = Rejection::from(TokenError::Expired);
        assert_eq!(
            expired.challenge().unwrap(),
            "Bearer realm=\"warden\", error=\"invalid_token\", error_description=\"the token has expired\""
        );
        let forbidden = Rejection::from(GuardError::Forbidden {
            detail: "this needs the role `a\"b`".into(),
            scope: Some("admin".into()),
        });
        assert_eq!(
            forbidden.challenge().unwrap(),
            "Bearer realm=\"warden\", error=\"insufficient_scope\", error_description=\"this needs the role `a\\\"b`\", scope=\"admin\""
        );
        assert!(Rejection::from(GuardError::Unavailable("x".into()))
            .challenge()
            .is_none());
    }

    #[test]
    fn server_side_causes_are_not_shown() {
        let response = GuardError::Misconfigured("secret detail".into()).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
    }
}
