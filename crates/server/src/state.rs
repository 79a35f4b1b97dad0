//! Shared application state: the domain services plus what the HTTP layer needs to describe
//! itself.

use std::sync::Arc;

use warden_core::services::Services;

/// Cheap-to-clone handle on everything a handler needs.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    services: Services,
    openapi: String,
    token_limiter: crate::ratelimit::IpLimiter,
}

impl AppState {
    /// Wraps the services.
    pub fn new(services: Services, token_limiter: crate::ratelimit::IpLimiter) -> Self {
        let openapi = crate::openapi::document(services.tokens.issuer());
        Self(Arc::new(Inner {
            services,
            openapi,
            token_limiter,
        }))
    }

    /// The per-IP limiter of the token endpoint.
    pub fn token_limiter(&self) -> &crate::ratelimit::IpLimiter {
        &self.0.token_limiter
    }

    /// The domain services.
    pub fn services(&self) -> &Services {
        &self.0.services
    }

    /// Reloads the signing keys every `every`, so rotations made elsewhere and scheduled
    /// activations take effect here. Stops when the state is dropped.
    pub fn spawn_key_refresh(&self, every: std::time::Duration) {
        let weak = Arc::downgrade(&self.0);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                if let Err(err) = warden_core::keys::reload(&inner.services).await {
                    tracing::warn!(error = %err, "could not reload signing keys");
                }
            }
        });
    }

    /// The OpenAPI document, rendered once.
    pub fn openapi(&self) -> &str {
        &self.0.openapi
    }
}
