//! `GET /metrics`: Prometheus text format. Labels are route templates, methods, status
//! classes and outcomes, never a user, token or id.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use warden_core::services::Services;

/// A request's labels. All are `'static`, so counting a request allocates nothing.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Request {
    method: &'static str,
    route: &'static str,
    status: &'static str,
}

/// A latency's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    method: &'static str,
    route: &'static str,
}

/// A route template as a `'static` label. Only the router's templates (and one placeholder
/// for unmatched requests) reach here, so the set is bounded by the route table.
fn intern(route: &str) -> &'static str {
    static SEEN: std::sync::RwLock<Vec<&'static str>> = std::sync::RwLock::new(Vec::new());
    let seen = SEEN
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(known) = seen.iter().find(|known| **known == route) {
        return known;
    }
    drop(seen);
    let mut seen = SEEN
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(known) = seen.iter().find(|known| **known == route) {
        return known;
    }
    let leaked: &'static str = Box::leak(route.to_owned().into_boxed_str());
    seen.push(leaked);
    leaked
}

/// A method as a label: the standard ones by name, anything else as `OTHER`.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Path {
    path: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Grant {
    grant_type: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Limiter {
    limiter: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolState {
    state: &'static str,
}

type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;
type FloatCounter = Counter<f64, std::sync::atomic::AtomicU64>;

/// What the node's state reads for a render, beside the services.
#[derive(Debug, Clone, Copy, Default)]
pub struct Node {
    /// Token endpoint requests the per-address bucket refused.
    pub token_refusals: u64,
    /// Requests refused past `max_in_flight`.
    pub shed: u64,
    /// Requests refused because the node was overloaded, and its smoothed queueing delay.
    pub overload: (u64, std::time::Duration),
    /// Seconds since the change log was last read to its end.
    pub change_log_lag: f64,
}

/// Who may read `/metrics`, and where.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// The bearer token a scrape must present (none: anyone who reaches the listener).
    pub token: Option<secrecy::SecretString>,
    /// Served on its own listener, not the main one.
    pub separate: bool,
}

impl Access {
    /// Whether a request with these headers may read the metrics. The comparison is of
    /// digests, so its time says nothing about the token.
    pub fn admits(&self, headers: &axum::http::HeaderMap) -> bool {
        use secrecy::ExposeSecret;
        let Some(expected) = &self.token else {
            return true;
        };
        let presented = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map_or("", |(_, token)| token.trim());
        warden_core::crypto::sha256_b64(presented.as_bytes())
            == warden_core::crypto::sha256_b64(expected.expose_secret().as_bytes())
    }
}

/// Every metric of the node.
pub struct Metrics {
    /// Who may read them.
    pub access: Access,
    /// One render at a time: each moves counters up to totals kept elsewhere, and two at once
    /// would both add the same difference.
    rendering: std::sync::Mutex<()>,
    registry: Registry,
    requests: Family<Request, Counter>,
    latency: Family<Route, Histogram, fn() -> Histogram>,
    decisions: Family<Outcome, Counter>,
    paths: Family<Path, Counter>,
    snapshot_seq: Gauge,
    snapshot_loads: Counter,
    snapshot_entries: Family<Kind, Gauge>,
    audit_queue: Gauge,
    grants: Family<Grant, Counter>,
    lock_refusals: Counter,
    rate_limited: Family<Limiter, Counter>,
    change_lag: FloatGauge,
    queue_delay: FloatGauge,
    audit_batches: Counter,
    audit_events: Counter,
    audit_seconds: FloatCounter,
    audit_failures: Counter,
    pool: Family<PoolState, Gauge>,
    key_age: FloatGauge,
}

fn latency_histogram() -> Histogram {
    // 50 µs to about 3.3 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 17))
}

impl Metrics {
    /// The metrics, registered.
    pub fn new(access: Access) -> Self {
        let mut registry = Registry::with_prefix("warden");
        let requests = Family::<Request, Counter>::default();
        registry.register(
            "http_requests",
            "Requests answered, by route template, method and status class",
            requests.clone(),
        );
        let latency: Family<Route, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time from the request's arrival to its response, by route template and method",
            latency.clone(),
        );
        let decisions = Family::<Outcome, Counter>::default();
        registry.register(
            "decisions",
            "Authorization decisions (/v1/check, batches, AuthZEN, forward-auth), by result",
            decisions.clone(),
        );
        let paths = Family::<Path, Counter>::default();
        registry.register(
            "policy_evaluations",
            "Policy evaluations by path: compiled, mixed, or Cedar alone",
            paths.clone(),
        );
        let snapshot_seq = Gauge::default();
        registry.register(
            "snapshot_change_seq",
            "Change-log position the authorization snapshot reflects",
            snapshot_seq.clone(),
        );
        let snapshot_loads = Counter::default();
        registry.register(
            "snapshot_loads",
            "Full loads of the authorization snapshot (the first, and reloads)",
            snapshot_loads.clone(),
        );
        let snapshot_entries = Family::<Kind, Gauge>::default();
        registry.register(
            "snapshot_entries",
            "Entries of the authorization snapshot, by kind",
            snapshot_entries.clone(),
        );
        let audit_queue = Gauge::default();
        registry.register(
            "audit_queue_depth",
            "Audit events queued and not yet written",
            audit_queue.clone(),
        );
        let grants = Family::<Grant, Counter>::default();
        registry.register(
            "token_grants",
            "Token endpoint requests by grant type and outcome (`issued` or the OAuth error code); password grants are the logins",
            grants.clone(),
        );
        let lock_refusals = Counter::default();
        registry.register(
            "login_lock_refusals",
            "Password checks refused uncompared because the identifier or user was locked after failures",
            lock_refusals.clone(),
        );
        let rate_limited = Family::<Limiter, Counter>::default();
        registry.register(
            "rate_limited",
            "Requests refused by a limiter: `token_endpoint` (429, per address), `max_in_flight` or `overload` (503, per node)",
            rate_limited.clone(),
        );
        let queue_delay = FloatGauge::default();
        registry.register(
            "runtime_queue_delay_seconds",
            "How late a task that became ready ran, smoothed: what every request waits for a core; past `overload_delay_ms` requests are shed",
            queue_delay.clone(),
        );
        let change_lag = FloatGauge::default();
        registry.register(
            "change_log_lag_seconds",
            "Seconds since this node last read the change log to its end (its snapshot is at most this stale, plus one poll)",
            change_lag.clone(),
        );
        let audit_batches = Counter::default();
        registry.register(
            "audit_write_batches",
            "Audit batches written",
            audit_batches.clone(),
        );
        let audit_events = Counter::default();
        registry.register(
            "audit_events_written",
            "Audit events written",
            audit_events.clone(),
        );
        let audit_seconds = FloatCounter::default();
        registry.register(
            "audit_write_seconds",
            "Seconds spent writing audit batches (divide by warden_audit_write_batches_total for the mean latency)",
            audit_seconds.clone(),
        );
        let audit_failures = Counter::default();
        registry.register(
            "audit_write_failures",
            "Audit write attempts that failed (each is retried; no event is dropped)",
            audit_failures.clone(),
        );
        let pool = Family::<PoolState, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Database connections: open, idle, and the pool's maximum",
            pool.clone(),
        );
        let key_age = FloatGauge::default();
        registry.register(
            "signing_key_age_seconds",
            "Seconds since the key new tokens are signed with became active",
            key_age.clone(),
        );
        Self {
            access,
            rendering: std::sync::Mutex::new(()),
            registry,
            requests,
            latency,
            decisions,
            paths,
            snapshot_seq,
            snapshot_loads,
            snapshot_entries,
            audit_queue,
            grants,
            lock_refusals,
            rate_limited,
            change_lag,
            queue_delay,
            audit_batches,
            audit_events,
            audit_seconds,
            audit_failures,
            pool,
            key_age,
        }
    }

    /// Counts one token endpoint answer: its grant type (as sent; an unknown one is
    /// `other`) and `issued` or the OAuth error code.
    pub fn grant(&self, grant_type: Option<&str>, outcome: &'static str) {
        let grant_type = match grant_type {
            None => "none",
            Some("password") => "password",
            Some("refresh_token") => "refresh_token",
            Some("client_credentials") => "client_credentials",
            Some("authorization_code") => "authorization_code",
            Some(_) => "other",
        };
        self.grants
            .get_or_create(&Grant {
                grant_type,
                outcome,
            })
            .inc();
    }

    /// Counts one answered request; `route` is its template.
    pub fn observe(&self, method: &axum::http::Method, route: &str, status: u16, seconds: f64) {
        let (method, route) = (method_label(method), intern(route));
        let class = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.requests
            .get_or_create(&Request {
                method,
                route,
                status: class,
            })
            .inc();
        self.latency
            .get_or_create(&Route { method, route })
            .observe(seconds);
    }

    /// The text exposition, with the values read from the node now.
    pub fn render(&self, services: &Services, node: &Node) -> String {
        let _one = self
            .rendering
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (allowed, denied) = warden_core::authz::check::decision_counts();
        catch_up(
            &self.decisions.get_or_create(&Outcome { result: "allow" }),
            allowed,
        );
        catch_up(
            &self.decisions.get_or_create(&Outcome { result: "deny" }),
            denied,
        );
        let paths = warden_core::authz::engine::path_counts();
        for (path, count) in [
            ("compiled", paths.native),
            ("mixed", paths.mixed),
            ("cedar", paths.cedar),
        ] {
            catch_up(&self.paths.get_or_create(&Path { path }), count);
        }
        let snapshot = services.engine.snapshot();
        self.snapshot_seq.set(snapshot.seq);
        catch_up(
            &self.snapshot_loads,
            warden_core::authz::engine::load_count(),
        );
        for (kind, n) in [
            ("users", snapshot.users.len()),
            ("policies", snapshot.policies.len()),
            ("resources", snapshot.resources.len()),
            ("api_keys", snapshot.api_keys.len()),
            ("ended_sessions", snapshot.ended.len()),
        ] {
            self.snapshot_entries
                .get_or_create(&Kind { kind })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        self.audit_queue
            .set(i64::try_from(services.audit.queue_depth()).unwrap_or(i64::MAX));
        let written = services.audit.write_stats();
        catch_up(&self.audit_batches, written.batches);
        catch_up(&self.audit_events, written.events);
        catch_up(&self.audit_failures, written.failures);
        let spent = written.seconds - self.audit_seconds.get();
        if spent > 0.0 {
            self.audit_seconds.inc_by(spent);
        }
        catch_up(
            &self.lock_refusals,
            warden_core::identity::attempts::locked_refusals(),
        );
        catch_up(
            &self.rate_limited.get_or_create(&Limiter {
                limiter: "token_endpoint",
            }),
            node.token_refusals,
        );
        catch_up(
            &self.rate_limited.get_or_create(&Limiter {
                limiter: "max_in_flight",
            }),
            node.shed,
        );
        catch_up(
            &self.rate_limited.get_or_create(&Limiter {
                limiter: "overload",
            }),
            node.overload.0,
        );
        self.queue_delay.set(node.overload.1.as_secs_f64());
        self.change_lag.set(node.change_log_lag);
        if let Some((open, idle, max)) = services.store.pool_use() {
            for (label, n) in [("open", open), ("idle", idle), ("max", max)] {
                self.pool
                    .get_or_create(&PoolState { state: label })
                    .set(i64::from(n));
            }
        }
        let since = services.tokens.keys().signing().active_since;
        let age_ms = (warden_core::time::Timestamp::now().millis() - since.millis()).max(0);
        #[expect(clippy::cast_precision_loss, reason = "a metric")]
        self.key_age.set(age_ms as f64 / 1000.0);
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Moves a counter up to a total kept elsewhere.
fn catch_up(counter: &Counter, total: u64) {
    let now = counter.get();
    if total > now {
        counter.inc_by(total - now);
    }
}

/// The node's metrics, shared.
pub type Shared = Arc<Metrics>;
