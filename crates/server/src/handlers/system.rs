//! Health, readiness, the OpenAPI document and the offline docs page.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::state::AppState;

/// Liveness: the process answers.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the database answers.
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.services().store.ping().await {
        Ok(()) => Json(json!({ "status": "ready" })).into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "detail": "the database does not answer" })),
            )
                .into_response()
        }
    }
}

/// Metrics in the Prometheus text format (DESIGN §7): requests, latency, decisions, the
/// snapshot, the audit queue.
pub async fn metrics(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    if !state.metrics().access.admits(&headers) {
        return (
            axum::http::StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"warden-metrics\"")],
            "the metrics need the bearer token configured as metrics_token\n",
        )
            .into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics().render(
            state.services(),
            &crate::metrics::Node {
                token_refusals: state.token_limiter().refused(),
                shed: state.shed_count(),
                overload: state.overload(),
                change_log_lag: state.change_log_lag(),
            },
        ),
    )
        .into_response()
}

/// The OpenAPI 3.1 document.
pub async fn openapi(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi().to_owned(),
    )
        .into_response()
}

/// Swagger UI, served from the binary: works with no internet.
pub async fn docs() -> Html<&'static str> {
    Html(include_str!("../../assets/docs.html"))
}

/// The bundled Swagger UI script.
pub async fn docs_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/javascript"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js").as_slice(),
    )
        .into_response()
}

/// The bundled Swagger UI stylesheet.
pub async fn docs_css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        include_bytes!("../../assets/swagger-ui/swagger-ui.css").as_slice(),
    )
        .into_response()
}
