//! Warden's HTTP server: the OAuth2 token endpoint and JWKS, the admin and self-service REST
//! API, OpenAPI docs, and the start-up that opens the store, migrates it and initializes it.
//!
//! The app is a value: [`open`] builds the state, [`router`] the routes, [`serve`] runs them on
//! a listener until a shutdown future resolves, so tests bind port 0.

pub mod config;
pub mod error;
pub mod extract;
mod handlers;
mod openapi;
pub mod ratelimit;
mod routes;
mod startup;
pub mod state;

pub use routes::router;
pub use startup::{open, open_store, Opened, StartError};

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;

/// Serves `app` on `listener` until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
