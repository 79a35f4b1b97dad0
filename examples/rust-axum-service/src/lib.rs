//! A small documents service protected by warden-guard: the routes, their guards, and the
//! settings `main` reads from the environment. `main.rs` only serves [`app`].
//!
//! | route | who may call it |
//! |---|---|
//! | `GET /health` | anyone |
//! | `GET /me` | any valid Warden token |
//! | `GET /admin` | a token carrying the role `admin` |
//! | `GET /documents` | a token whose `permissions` claim grants `documents:read` (checked locally) |
//! | `POST /documents` | any valid token; the caller owns the new document |
//! | `PUT /documents/{id}` | whoever Warden allows `documents:edit` on that document (`POST /v1/check`), so a role or a Cedar policy such as the owner rule decides |

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use warden_guard::{BuildError, Guard, Principal, Resource};

/// Where Warden is and how the guard should use it.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Warden's issuer URL (`WARDEN_URL`, default `http://127.0.0.1:8080`).
    pub warden_url: String,
    /// Accept only tokens of this account id (`WARDEN_ACCOUNT`), if set.
    pub account: Option<String>,
    /// Service client credentials to follow the revocation feed with (`WARDEN_CLIENT_ID`,
    /// `WARDEN_CLIENT_SECRET`), if set.
    pub feed_client: Option<(String, String)>,
}

impl Settings {
    /// The settings from the environment.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Self {
            warden_url: var("WARDEN_URL").unwrap_or_else(|| "http://127.0.0.1:8080".into()),
            account: var("WARDEN_ACCOUNT"),
            feed_client: var("WARDEN_CLIENT_ID").zip(var("WARDEN_CLIENT_SECRET")),
        }
    }

    /// The guard these settings describe. Call it inside the Tokio runtime: following the
    /// revocation feed runs a task there.
    pub fn guard(&self) -> Result<Guard, BuildError> {
        let mut builder = Guard::builder(&self.warden_url);
        if let Some(account) = &self.account {
            builder = builder.account(account);
        }
        if let Some((id, secret)) = &self.feed_client {
            builder = builder
                .follow_revocations(id, secret)
                .revocation_interval(Duration::from_secs(2));
        }
        builder.build()
    }
}

/// One document.
#[derive(Debug, Clone, Serialize)]
pub struct Document {
    /// Its id.
    pub id: String,
    /// The user id of its owner (who created it).
    pub owner_id: String,
    /// The text.
    pub content: String,
}

/// The documents, in memory.
#[derive(Debug, Clone, Default)]
pub struct Documents(Arc<RwLock<BTreeMap<String, Document>>>);

impl Documents {
    fn owner_of(&self, id: &str) -> Option<String> {
        let documents = self.0.read().unwrap_or_else(PoisonError::into_inner);
        documents.get(id).map(|d| d.owner_id.clone())
    }
}

/// The body of `POST /documents` and `PUT /documents/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Content {
    /// The text.
    pub content: String,
}

async fn health() -> &'static str {
    "ok"
}

async fn me(principal: Principal) -> Json<Value> {
    Json(json!({
        "sub": principal.subject(),
        "account": principal.account(),
        "roles": principal.roles(),
        "scope": principal.scope,
        "permissions": principal.permissions(),
        "sid": principal.session(),
        "client_id": principal.client_id(),
    }))
}

async fn admin(State(guard): State<Guard>, principal: Principal) -> Json<Value> {
    let stats = guard.stats();
    Json(json!({
        "admin": principal.subject(),
        "tokens_verified": stats.verified,
        "tokens_refused": stats.refused,
        "jwks_fetches": stats.jwks_fetches,
        "checks_asked": stats.check_requests,
    }))
}

async fn list(State(documents): State<Documents>) -> Json<Vec<Document>> {
    let documents = documents.0.read().unwrap_or_else(PoisonError::into_inner);
    Json(documents.values().cloned().collect())
}

async fn create(
    State(documents): State<Documents>,
    principal: Principal,
    Json(body): Json<Content>,
) -> impl IntoResponse {
    let mut documents = documents.0.write().unwrap_or_else(PoisonError::into_inner);
    let document = Document {
        id: (documents.len() + 1).to_string(),
        owner_id: principal.subject().to_owned(),
        content: body.content,
    };
    documents.insert(document.id.clone(), document.clone());
    (StatusCode::CREATED, Json(document))
}

async fn edit(
    State(documents): State<Documents>,
    Path(id): Path<String>,
    Json(body): Json<Content>,
) -> Result<Json<Document>, StatusCode> {
    let mut documents = documents.0.write().unwrap_or_else(PoisonError::into_inner);
    let document = documents.get_mut(&id).ok_or(StatusCode::NOT_FOUND)?;
    document.content = body.content;
    Ok(Json(document.clone()))
}

/// The service: every route with its guard.
pub fn app(guard: &Guard, documents: Documents) -> Router {
    let owners = documents.clone();
    // The resource Warden decides about: the document, with its owner for the owner rule.
    let document = move |request: &warden_guard::RequestInfo<'_>| {
        let id = request.param("id").unwrap_or_default();
        let owner = owners.owner_of(id).unwrap_or_default();
        Resource::new("document", id).attribute("owner_id", owner)
    };
    let documents_routes = Router::new()
        .route(
            "/documents",
            get(list)
                .route_layer(guard.require_permission("documents:read"))
                .post(create),
        )
        .route(
            "/documents/{id}",
            axum::routing::put(edit).route_layer(
                guard
                    .require_check("documents:edit")
                    .with_resource(document),
            ),
        )
        .with_state(documents);
    let admin_routes = Router::new()
        .route(
            "/admin",
            get(admin).route_layer(guard.require_role("admin")),
        )
        .with_state(guard.clone());
    Router::new()
        .route("/health", get(health))
        .route("/me", get(me))
        .merge(documents_routes)
        .merge(admin_routes)
        .layer(guard.layer())
}
