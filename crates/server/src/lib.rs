//! Warden's HTTP server: the OAuth2 token endpoint and JWKS, the admin and self-service REST
//! API, OpenAPI docs, and the start-up that opens the store, migrates it and initializes it.
//!
//! The app is a value: [`open`] builds the state, [`router`] the routes, [`serve`] runs them on
//! a listener until a shutdown future resolves, so tests bind port 0.

pub mod authzen;
pub mod config;
pub mod cors;
pub mod error;
pub mod extract;
pub mod forward_auth;
mod handlers;
pub mod metrics;
mod oauth;
mod openapi;
pub mod overload;
mod problems;
pub mod ratelimit;
mod routes;
pub mod signin;
mod startup;
pub mod state;
pub mod telemetry;
pub mod theme;

pub use routes::{metrics_router, router};
pub use startup::{
    existing_master_key, open, open_store, open_wrapped, Opened, SharedStore, StartError,
};

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::{Service, ServiceExt};

/// Connection-level limits, enforced before a request reaches any handler.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest time a client may take to send its request line and headers (slow-header
    /// protection); the connection is closed past it. It also bounds how long an idle
    /// keep-alive connection stays open.
    pub header_read_timeout: Duration,
    /// Largest request line plus headers, bytes; past it the request is answered 431.
    pub max_header_bytes: usize,
    /// Most header fields in one request.
    pub max_headers: usize,
    /// Longest wait for in-flight requests at shutdown.
    pub drain_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(30),
            max_header_bytes: 16 * 1024,
            max_headers: 100,
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// Serves `app` on `listener` with the default [`Limits`] until `shutdown` resolves, then
/// drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, app, shutdown, Limits::default()).await
}

/// Serves `app` on `listener` with `limits` until `shutdown` resolves; then stops accepting,
/// lets in-flight requests finish (up to `limits.drain_timeout`) and returns.
pub async fn serve_with(
    listener: TcpListener,
    app: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: Limits,
) -> std::io::Result<()> {
    let mut make_service = app.into_make_service_with_connect_info::<SocketAddr>();
    let graceful = GracefulShutdown::new();
    let mut connections = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // Reap finished connections so the set holds only live ones.
        while connections.try_join_next().is_some() {}
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(service) = Service::<SocketAddr>::call(&mut make_service, peer).await;
        let service = TowerToHyperService::new(service.map_request(
            |request: axum::http::Request<Incoming>| request.map(axum::body::Body::new),
        ));
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_buf_size(limits.max_header_bytes.max(8192))
            .max_headers(limits.max_headers);
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        connections.spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.drain_timeout) => {
            tracing::warn!(open = connections.len(), "in-flight requests did not finish in time; closing them");
            connections.abort_all();
        }
    }
    while connections.join_next().await.is_some() {}
    Ok(())
}
