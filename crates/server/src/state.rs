//! Shared application state: the domain services plus what the HTTP layer needs to describe
//! itself.

use std::sync::Arc;

use warden_core::services::Services;

/// Cheap-to-clone handle on everything a handler needs.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    services: Services,
    theme: crate::theme::Theme,
    openapi: String,
    token_limiter: crate::ratelimit::IpLimiter,
    forward_auth: crate::forward_auth::rules::ForwardAuth,
    metrics: crate::metrics::Metrics,
    /// When the node last read the change log to its end (Unix milliseconds).
    caught_up_at: std::sync::atomic::AtomicI64,
    /// Requests being handled now, and the most allowed (0: no limit).
    in_flight: std::sync::atomic::AtomicUsize,
    max_in_flight: usize,
    shed: std::sync::atomic::AtomicU64,
    /// Shedding on the runtime's queueing delay, and the requests it refused.
    overload: Arc<crate::overload::Overload>,
    overload_shed: std::sync::atomic::AtomicU64,
}

/// How much one node takes on before it refuses requests (503 with `Retry-After`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Requests handled at once (0: no limit).
    pub max_in_flight: usize,
    /// The smoothed queueing delay past which requests are shed (zero: never).
    pub overload_delay: std::time::Duration,
}

/// A request counted in flight until dropped (`None`: not counted).
pub struct Admitted<'a>(Option<&'a std::sync::atomic::AtomicUsize>);

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        if let Some(counter) = self.0 {
            counter.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

impl AppState {
    /// Wraps the services.
    pub fn new(
        services: Services,
        token_limiter: crate::ratelimit::IpLimiter,
        forward_auth: crate::forward_auth::rules::ForwardAuth,
        metrics: crate::metrics::Access,
        limits: Limits,
        openapi: String,
        theme: crate::theme::Theme,
    ) -> Self {
        Self(Arc::new(Inner {
            services,
            theme,
            openapi,
            token_limiter,
            forward_auth,
            metrics: crate::metrics::Metrics::new(metrics),
            in_flight: std::sync::atomic::AtomicUsize::new(0),
            max_in_flight: limits.max_in_flight,
            shed: std::sync::atomic::AtomicU64::new(0),
            overload: crate::overload::Overload::new(limits.overload_delay),
            overload_shed: std::sync::atomic::AtomicU64::new(0),
            caught_up_at: std::sync::atomic::AtomicI64::new(
                warden_core::time::Timestamp::now().millis(),
            ),
        }))
    }

    /// Counts a request to `route` in flight, or refuses it when the node is overloaded
    /// (see [`crate::overload`]) or `max_in_flight` are already (health, readiness and metrics
    /// are always answered and never counted, so a balancer and a scraper see a busy node as
    /// alive).
    pub fn admit(&self, route: &str) -> Option<Admitted<'_>> {
        use std::sync::atomic::Ordering;
        let counter = &self.0.in_flight;
        // Exempt routes are not counted, so a flood of them cannot crowd out real requests.
        // (The count ends when the response's head is ready; every body is buffered.)
        if matches!(route, "/healthz" | "/readyz" | "/metrics") {
            return Some(Admitted(None));
        }
        if self.0.overload.shed() {
            self.0.overload_shed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        if self.0.max_in_flight == 0 {
            return Some(Admitted(None));
        }
        let before = counter.fetch_add(1, Ordering::Relaxed);
        let admitted = Admitted(Some(counter));
        if before < self.0.max_in_flight {
            Some(admitted)
        } else {
            self.0.shed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }

    /// Requests refused because `max_in_flight` were in flight.
    pub fn shed_count(&self) -> u64 {
        self.0.shed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Requests refused because the node was overloaded, and its smoothed queueing delay now.
    pub fn overload(&self) -> (u64, std::time::Duration) {
        (
            self.0
                .overload_shed
                .load(std::sync::atomic::Ordering::Relaxed),
            self.0.overload.delay(),
        )
    }

    /// Starts measuring the runtime's queueing delay (when shedding on it is configured).
    pub fn spawn_overload_probe(&self) {
        self.0.overload.spawn_probe();
    }

    /// Seconds since the node last read the change log to its end: how stale its snapshot
    /// may be.
    pub fn change_log_lag(&self) -> f64 {
        let at = self
            .0
            .caught_up_at
            .load(std::sync::atomic::Ordering::Relaxed);
        let ms = (warden_core::time::Timestamp::now().millis() - at).max(0);
        #[expect(clippy::cast_precision_loss, reason = "a metric")]
        let seconds = ms as f64 / 1000.0;
        seconds
    }

    /// The node's metrics.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.0.metrics
    }

    /// The forward-auth route rules.
    pub fn forward_auth(&self) -> &crate::forward_auth::rules::ForwardAuth {
        &self.0.forward_auth
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
                if let Err(err) = warden_core::admin::signing_keys::reload(&inner.services).await {
                    tracing::warn!(error = %err, "could not reload signing keys");
                }
            }
        });
    }

    /// Loads the authorization snapshot, then keeps it current: every `every` the node applies
    /// what the change log gained, and once a minute it forgets ended sessions whose tokens
    /// have expired and prunes change-log entries older than an hour. Stops when the state is
    /// dropped. A node serving requests must call this before it listens.
    pub async fn start_engine(
        &self,
        every: std::time::Duration,
    ) -> Result<(), warden_core::StoreError> {
        let services = self.services();
        services.engine.load(services.store.as_ref()).await?;
        let weak = Arc::downgrade(&self.0);
        let store = services.store.clone();
        tokio::spawn(async move {
            let mut last_cleanup = std::time::Instant::now();
            loop {
                // A notification (PostgreSQL) wakes the node early; the poll is the guarantee.
                store.wait_for_changes(every).await;
                let Some(inner) = weak.upgrade() else { break };
                let services = &inner.services;
                match services.engine.catch_up(services.store.as_ref()).await {
                    Ok(_) => inner.caught_up_at.store(
                        warden_core::time::Timestamp::now().millis(),
                        std::sync::atomic::Ordering::Relaxed,
                    ),
                    Err(err) => tracing::warn!(error = %err, "could not read the change log"),
                }
                if last_cleanup.elapsed() >= std::time::Duration::from_secs(60) {
                    last_cleanup = std::time::Instant::now();
                    let now = warden_core::time::Timestamp::now();
                    services.engine.forget_old_sessions(now);
                    let horizon = now.millis() - 3_600_000;
                    if let Err(err) = services.store.prune_changes(horizon).await {
                        tracing::warn!(error = %err, "could not prune the change log");
                    }
                }
            }
        });
        Ok(())
    }

    /// Applies changes committed so far, so this node answers with its own writes at once.
    pub async fn catch_up(&self) {
        let services = self.services();
        if let Err(err) = services.engine.catch_up(services.store.as_ref()).await {
            tracing::warn!(error = %err, "could not read the change log");
        }
    }

    /// How the hosted sign-in pages look.
    pub fn theme(&self) -> &crate::theme::Theme {
        &self.0.theme
    }

    /// The OpenAPI document, rendered once.
    pub fn openapi(&self) -> &str {
        &self.0.openapi
    }
}
