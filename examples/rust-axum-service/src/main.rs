//! Serves the documents service: `WARDEN_URL=http://127.0.0.1:8080 cargo run -p
//! rust-axum-service` (see the README for every setting).

use rust_axum_service::{app, Documents, Settings};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let settings = Settings::from_env();
    let guard = settings.guard()?;
    // Fetch Warden's keys now; if Warden is not up yet, the guard keeps trying on requests.
    if let Err(err) = guard.load_keys().await {
        tracing::warn!(error = %err, warden = %settings.warden_url, "Warden's keys are not available yet");
    }
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    tracing::info!(address = %listener.local_addr()?, warden = %settings.warden_url, "documents service listening");
    axum::serve(listener, app(&guard, Documents::default())).await?;
    Ok(())
}
