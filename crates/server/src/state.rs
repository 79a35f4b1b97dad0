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
}

impl AppState {
    /// Wraps the services.
    pub fn new(services: Services) -> Self {
        let openapi = crate::openapi::document(services.tokens.issuer());
        Self(Arc::new(Inner { services, openapi }))
    }

    /// The domain services.
    pub fn services(&self) -> &Services {
        &self.0.services
    }

    /// The OpenAPI document, rendered once.
    pub fn openapi(&self) -> &str {
        &self.0.openapi
    }
}
