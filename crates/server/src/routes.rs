//! The route table, in one place, and the layers every request passes through.

use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::handlers::{
    accounts, api_keys, audit, check, clients, factors, keys, me, oauth, policies, resources,
    revocations, roles, system, users,
};
use crate::state::AppState;

/// The body limit of `/v1/check/batch`: 1,000 checks of about a kilobyte each.
const BATCH_BODY_BYTES: usize = 1024 * 1024;

/// `/metrics` alone, for its own listener (`metrics_listen`).
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(system::metrics))
        .with_state(state)
}

/// Every route of the main listener.
pub fn router(state: AppState, max_body_bytes: usize, request_timeout: Duration) -> Router {
    let api = Router::new()
        .route("/register", post(me::register))
        .route("/users/me", get(me::get).patch(me::update))
        .route("/users/me/password", post(me::change_password))
        .route("/users/me/permissions", get(check::mine))
        .route("/users/me/consents", get(me::list_consents))
        .route(
            "/users/me/consents/{client_id}",
            axum::routing::delete(me::withdraw_consent),
        )
        .route("/users/me/totp", post(factors::enrol))
        .route("/users/me/totp/confirm", post(factors::confirm))
        .route("/users/{id}/totp", axum::routing::delete(factors::reset))
        .route("/users/{id}/permissions", get(check::of_user))
        .route("/check", post(check::check))
        .route(
            "/forward-auth",
            axum::routing::any(crate::forward_auth::forward_auth),
        )
        // A batch of 1,000 checks does not fit the default body limit.
        .route(
            "/check/batch",
            post(check::batch).layer(DefaultBodyLimit::max(max_body_bytes.max(BATCH_BODY_BYTES))),
        )
        .route("/policies", get(policies::list).post(policies::create))
        .route(
            "/policies/{id}",
            get(policies::get)
                .patch(policies::update)
                .delete(policies::delete),
        )
        .route("/resources", get(resources::list))
        .route(
            "/resources/bulk",
            post(resources::bulk)
                .layer(DefaultBodyLimit::max(max_body_bytes.max(BATCH_BODY_BYTES))),
        )
        .route(
            "/resources/{type}/{id}",
            get(resources::get)
                .put(resources::put)
                .delete(resources::delete),
        )
        .route(
            "/users/me/sessions",
            get(me::list_sessions).delete(me::end_other_sessions),
        )
        .route(
            "/users/me/sessions/{id}",
            axum::routing::delete(me::end_session),
        )
        .route("/users", get(users::list).post(users::create))
        .route(
            "/users/{id}",
            get(users::get).patch(users::update).delete(users::delete),
        )
        .route(
            "/users/{id}/roles",
            get(users::list_roles).post(users::grant_role),
        )
        .route(
            "/users/{id}/roles/{role_id}",
            axum::routing::delete(users::revoke_role),
        )
        .route(
            "/users/{id}/sessions",
            get(users::list_sessions).delete(users::end_sessions),
        )
        .route("/accounts", get(accounts::list).post(accounts::create))
        .route(
            "/accounts/{id}",
            get(accounts::get)
                .patch(accounts::update)
                .delete(accounts::delete),
        )
        .route(
            "/accounts/{id}/members",
            get(accounts::list_members).post(accounts::add_member),
        )
        .route(
            "/accounts/{id}/members/{user_id}",
            axum::routing::delete(accounts::remove_member),
        )
        .route("/revocations", get(revocations::list))
        .route("/audit", get(audit::list))
        .route("/api-keys", get(api_keys::list).post(api_keys::create))
        .route("/api-keys/{id}", axum::routing::delete(api_keys::revoke))
        .route("/keys", get(keys::list))
        .route("/keys/rotate", post(keys::rotate))
        .route("/clients", get(clients::list).post(clients::create))
        .route(
            "/clients/{id}",
            get(clients::get)
                .patch(clients::update)
                .delete(clients::delete),
        )
        .route("/clients/{id}/secret", post(clients::rotate_secret))
        .route(
            "/clients/{id}/api-keys",
            get(clients::list_keys).post(clients::create_key),
        )
        .route(
            "/clients/{id}/api-keys/{key_id}",
            axum::routing::delete(clients::revoke_key),
        )
        .route("/roles", get(roles::list).post(roles::create))
        .route(
            "/roles/{id}",
            get(roles::get).patch(roles::update).delete(roles::delete),
        )
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));

    let system = if state.metrics().access.separate {
        Router::new()
    } else {
        Router::new().route("/metrics", get(system::metrics))
    };
    system
        .route("/healthz", get(system::healthz))
        .route("/readyz", get(system::readyz))
        .route("/problems", get(crate::problems::index))
        .route("/problems/{name}", get(crate::problems::page))
        .route("/openapi.json", get(system::openapi))
        .route("/docs", get(system::docs))
        .route("/docs/swagger-ui-bundle.js", get(system::docs_js))
        .route("/docs/swagger-ui.css", get(system::docs_css))
        .route(
            "/.well-known/jwks.json",
            crate::cors::browser(get(oauth::jwks), &state),
        )
        .merge(crate::authzen::routes(max_body_bytes.max(BATCH_BODY_BYTES)))
        .merge(crate::signin::routes(&state))
        .route(
            "/.well-known/oauth-authorization-server",
            crate::cors::browser(get(oauth::metadata), &state),
        )
        .route(
            "/oauth/token",
            crate::cors::browser(post(oauth::token), &state),
        )
        .route(
            "/oauth/revoke",
            crate::cors::browser(post(oauth::revoke), &state),
        )
        .route("/oauth/introspect", post(oauth::introspect))
        .nest("/v1", api)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            read_your_writes,
        ))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // One layer of layers: each `Router::layer` call boxes every route once more, and a
        // request pays one boxed clone per call. Outermost first.
        .layer(
            tower::ServiceBuilder::new()
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    crate::telemetry::access_log,
                ))
                .layer(TraceLayer::new_for_http().make_span_with(crate::telemetry::RequestSpan))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    request_timeout,
                ))
                .layer(SetResponseHeaderLayer::overriding(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                .layer(DefaultBodyLimit::max(max_body_bytes)),
        )
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::Request(
        StatusCode::NOT_FOUND,
        "not-found",
        "no such endpoint; see /docs".into(),
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::Request(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "this endpoint does not accept that method".into(),
    )
}

/// After a request that may have changed authorization data (a write other than a token
/// request or a decision), applies the change log before answering, so the next request to
/// this node sees the change; other nodes see it within their poll interval.
async fn read_your_writes(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let writes = !matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    ) && !matches!(
        request.uri().path(),
        "/oauth/token" | "/oauth/introspect" | "/v1/check" | "/v1/check/batch"
    ) && !request.uri().path().starts_with("/access/v1/");
    let response = next.run(request).await;
    // Only a successful write changed anything.
    if writes && response.status().is_success() {
        state.catch_up().await;
    }
    response
}
