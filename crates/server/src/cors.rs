//! CORS for the endpoints a browser app calls directly (token, revocation, userinfo, JWKS and
//! the discovery documents): only origins an active client registered in `allowed_origins` are
//! answered, exactly as the browser sends them; never with credentials (these endpoints take no
//! cookies). Every other origin gets no CORS header, so the browser keeps the answer from it.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;

use crate::state::AppState;

/// How long a browser may cache a preflight, seconds.
const PREFLIGHT_MAX_AGE: &str = "600";

/// Answers preflights from registered origins and marks their answers readable; the rest pass
/// through untouched (a refused preflight is a 403 without CORS headers).
pub async fn cors(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(origin) = request.headers().get(header::ORIGIN).cloned() else {
        return next.run(request).await;
    };
    let allowed = origin
        .to_str()
        .is_ok_and(|o| state.services().engine.snapshot().clients.allows_origin(o));
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = match (preflight, allowed) {
        (true, true) => {
            let mut response = StatusCode::NO_CONTENT.into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST"),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("authorization, content-type"),
            );
            headers.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static(PREFLIGHT_MAX_AGE),
            );
            response
        }
        (true, false) => (
            StatusCode::FORBIDDEN,
            "this origin is not registered by any client (allowed_origins)\n",
        )
            .into_response(),
        (false, _) => next.run(request).await,
    };
    let headers = response.headers_mut();
    // The answer depends on the origin: caches must keep one per origin.
    headers.append(header::VARY, HeaderValue::from_static("origin"));
    if allowed {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    response
}

/// An endpoint a browser app calls directly: CORS for the origins clients registered, and an
/// `OPTIONS` answer for the preflight.
pub(crate) fn browser(route: MethodRouter<AppState>, state: &AppState) -> MethodRouter<AppState> {
    route
        .options(|| async { StatusCode::NO_CONTENT })
        .layer(axum::middleware::from_fn_with_state(state.clone(), cors))
}
