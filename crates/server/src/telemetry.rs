//! The span every request is logged in. Its URI keeps the path and the names of the query
//! parameters but never their values: tokens and secrets sent by mistake land there
//! (`?access_token=…`), and a debug log must not collect them.

use axum::extract::MatchedPath;
use axum::http::{HeaderValue, Request, Uri};
use axum::response::Response;
use tower_http::trace::MakeSpan;
use tracing::{Instrument, Span};

use crate::extract::ClientAddr;

/// The header a request id travels in, both ways.
pub const REQUEST_ID: &str = "x-request-id";

/// Longest request id taken from a client.
const MAX_REQUEST_ID: usize = 128;

/// What a query value (or a name that does not look like one) is logged as.
pub const REDACTED: &str = "redacted";

/// Longest query parameter name logged as is.
const MAX_NAME: usize = 32;

/// Makes each request's span, with its URI [`redacted`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, request: &Request<B>) -> Span {
        tracing::debug_span!(
            "request",
            method = %request.method(),
            uri = %redacted(request.uri()),
            version = ?request.version(),
        )
    }
}

/// `uri` as it may be logged: the path, then each query parameter as `name=redacted`. A name
/// is kept only when it looks like a parameter name (lowercase letters and `_`), since a
/// secret pasted into the query has no `=` and would otherwise be its name.
pub fn redacted(uri: &Uri) -> String {
    let mut shown = uri.path().to_owned();
    let Some(query) = uri.query() else {
        return shown;
    };
    for (i, pair) in query.split('&').enumerate() {
        shown.push(if i == 0 { '?' } else { '&' });
        let (name, value) = match pair.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (pair, None),
        };
        let plain = (1..=MAX_NAME).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
        shown.push_str(if plain { name } else { REDACTED });
        if value.is_some() {
            shown.push('=');
            shown.push_str(REDACTED);
        }
    }
    shown
}

/// The request id a client sent, when it is one worth repeating: 1 to 128 characters of
/// letters, digits and `-._:`. Anything else (a log-injection attempt, a token pasted there)
/// is replaced by a generated id.
pub fn request_id(sent: Option<&HeaderValue>) -> String {
    sent.and_then(|value| value.to_str().ok())
        .filter(|id| {
            (1..=MAX_REQUEST_ID).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b':'))
        })
        .map_or_else(|| uuid::Uuid::now_v7().simple().to_string(), str::to_owned)
}

/// The most of a refused request's body that is read (and dropped) before the 503.
const SHED_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// Counts the request in the metrics, and writes one access-log line per request at `info`, on one line: method, route template (never
/// the path itself, which may carry ids), status, latency, request id and client address.
/// The request id (taken from `X-Request-ID`, or generated) is returned in the response's
/// `X-Request-ID` and is a field of the span every other log line of the request is in.
pub async fn access_log(
    axum::extract::State(state): axum::extract::State<crate::state::AppState>,
    ClientAddr(client): ClientAddr,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let started = std::time::Instant::now();
    let id = request_id(request.headers().get(REQUEST_ID));
    let method = request.method().clone();
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("(no route)", MatchedPath::as_str);
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = match state.admit(route) {
        Some(_admitted) => next.run(request).instrument(span.clone()).await,
        // Past `max_in_flight`, or overloaded: refused without running it, so the requests already taken
        // keep their latency. What the client is still sending is read and dropped first (a
        // bounded amount, for a bounded time): answering before the body is in and closing
        // would reset the connection under the client's feet, and it would see an error
        // instead of the 503.
        None => {
            let body = request.into_body();
            let drained = axum::body::to_bytes(body, SHED_BODY_LIMIT);
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), drained).await;
            axum::response::IntoResponse::into_response(crate::error::ApiError::from(
                warden_core::DomainError::Busy(1),
            ))
        }
    };
    let status = response.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    state.metrics().observe(&method, route, status, seconds);
    let latency_ms = seconds * 1000.0;
    span.in_scope(|| {
        tracing::info!(
            target: "warden::access",
            method = %method,
            route = %route,
            status,
            latency_ms = format_args!("{latency_ms:.3}"),
            client = %client,
            "request"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(uri: &str) -> String {
        redacted(&uri.parse().expect("a URI"))
    }

    #[test]
    fn request_ids_are_repeated_only_when_plain() {
        let plain = HeaderValue::from_static("req-42.a_b:c");
        assert_eq!(request_id(Some(&plain)), "req-42.a_b:c");
        for bad in ["", "has space", "new\tline", "a/b", &"x".repeat(129)] {
            let generated = request_id(HeaderValue::from_str(bad).ok().as_ref());
            assert_ne!(generated, bad);
            assert_eq!(generated.len(), 32, "{generated}");
        }
        assert_eq!(request_id(None).len(), 32);
    }

    #[test]
    fn query_values_never_show() {
        assert_eq!(
            shown("/v1/users/me?access_token=eyJ.secret&limit=5"),
            "/v1/users/me?access_token=redacted&limit=redacted"
        );
        assert_eq!(shown("/v1/audit?cursor="), "/v1/audit?cursor=redacted");
    }

    #[test]
    fn names_that_may_be_secrets_never_show() {
        assert_eq!(shown("/v1/users?wk_Secret123"), "/v1/users?redacted");
        assert_eq!(
            shown("/v1/users?Bearer%20x=1"),
            "/v1/users?redacted=redacted"
        );
        assert_eq!(
            shown(&format!("/x?{}=1", "a".repeat(33))),
            "/x?redacted=redacted"
        );
    }

    #[test]
    fn paths_without_a_query_and_absolute_forms_show_the_path_only() {
        assert_eq!(shown("/healthz"), "/healthz");
        assert_eq!(
            shown("http://user:pass@example.com/oauth/token?x=1"),
            "/oauth/token?x=redacted"
        );
    }
}
