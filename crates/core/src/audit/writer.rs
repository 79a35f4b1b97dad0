//! The node's audit writer: events queued by requests, chained and appended in batches off
//! the request path, repeated ones coalesced.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use crate::ids::AccountId;
use crate::time::Timestamp;

use super::record::Pending;
use super::repeats;

/// An event to record.
pub struct Event<'a> {
    /// Who.
    pub actor: String,
    /// What.
    pub action: &'a str,
    /// Which account.
    pub account: Option<AccountId>,
    /// On what.
    pub target: Option<String>,
    /// Details (never secrets).
    pub details: Value,
}

pub(crate) fn pending(event: Event<'_>) -> Pending {
    Pending {
        id: crate::ids::SessionId::new().to_string(),
        at: Timestamp::now(),
        actor: event.actor,
        action: event.action.to_owned(),
        account_id: event.account,
        // Targets may carry request text (a resource id): no control characters reach the
        // store, which may refuse them (PostgreSQL refuses NUL) and would stall the writer.
        target: event.target.map(|t| {
            t.chars()
                .map(|c| if c.is_control() { '\u{fffd}' } else { c })
                .collect()
        }),
        details: event.details,
    }
}

enum Message {
    Event(Pending),
    /// An event and how many identical occurrences it stands for, to coalesce.
    Repeated(Pending, u64),
    Flush(tokio::sync::oneshot::Sender<()>),
    /// An event whose sender waits until it is written (and nothing else: repeat windows
    /// stay open).
    Durable(Pending, tokio::sync::oneshot::Sender<()>),
}

/// Who waits on the batch being written: flushes (which also close every repeat window) and
/// durable events.
#[derive(Default)]
struct Waiters {
    flushes: Vec<tokio::sync::oneshot::Sender<()>>,
    durable: Vec<tokio::sync::oneshot::Sender<()>>,
}

/// After repeated failures, writes a batch one event at a time. When some events are written
/// and others refused, the store is up and the refused ones can never be written: they are
/// dropped with an error in the log, so one bad event cannot stall the chain. When every
/// event is refused the store is down: all are kept for the next retry.
async fn set_aside_poison(store: &dyn crate::store::Store, batch: Vec<Pending>) -> Vec<Pending> {
    let mut refused = Vec::new();
    let mut written = 0;
    for event in batch {
        match store.append_audit(std::slice::from_ref(&event)).await {
            Ok(()) => written += 1,
            Err(_) => refused.push(event),
        }
    }
    if written == 0 {
        return refused;
    }
    for event in &refused {
        tracing::error!(action = %event.action, id = %event.id, "the store refuses this audit event; dropped");
    }
    Vec::new()
}

/// The node's audit writer: events are queued by requests and appended in batches, each batch
/// in one transaction that holds the chain's head, so requests never wait on the chain and
/// nodes sharing a store keep one chain. Repeated events are coalesced here (see `repeats`).
#[derive(Clone)]
pub struct AuditLog {
    queue: tokio::sync::mpsc::Sender<Message>,
    stats: std::sync::Arc<Counters>,
}

/// What the writer has done so far, for metrics.
#[derive(Debug, Default)]
struct Counters {
    batches: AtomicU64,
    events: AtomicU64,
    micros: AtomicU64,
    failures: AtomicU64,
}

/// The writer's totals: batches and events written, seconds spent writing them, and failed
/// write attempts (each retried).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WriteStats {
    /// Batches written.
    pub batches: u64,
    /// Events written.
    pub events: u64,
    /// Seconds spent in successful writes.
    pub seconds: f64,
    /// Failed attempts.
    pub failures: u64,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

/// Messages the writer takes, and events it writes, per batch at most.
const BATCH: usize = 1000;

impl AuditLog {
    /// Events queued and not yet written.
    pub fn queue_depth(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }

    /// The writer's totals so far.
    pub fn write_stats(&self) -> WriteStats {
        let stats = &self.stats;
        #[expect(clippy::cast_precision_loss, reason = "a metric")]
        let seconds = stats.micros.load(Ordering::Relaxed) as f64 / 1e6;
        WriteStats {
            batches: stats.batches.load(Ordering::Relaxed),
            events: stats.events.load(Ordering::Relaxed),
            seconds,
            failures: stats.failures.load(Ordering::Relaxed),
        }
    }

    /// Starts the writer task over `store`; identical repeated events within `window` are
    /// coalesced (zero: each is its own record).
    pub fn start(
        store: std::sync::Arc<dyn crate::store::Store>,
        window: std::time::Duration,
    ) -> Self {
        let (queue, mut inbox) = tokio::sync::mpsc::channel::<Message>(10_000);
        let stats = std::sync::Arc::new(Counters::default());
        let counters = stats.clone();
        tokio::spawn(async move {
            let mut repeats = repeats::Repeats::new(window, repeats::MAX_TRACKED);
            let mut tick = tokio::time::interval(repeats.tick());
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut open = true;
            while open {
                let mut batch = Vec::new();
                let mut waiting = Waiters::default();
                tokio::select! {
                    message = inbox.recv() => match message {
                        Some(message) => take(message, &mut batch, &mut waiting, &mut repeats),
                        // Every sender is gone: write what is left, then stop.
                        None => open = false,
                    },
                    _ = tick.tick() => {}
                }
                // Bounded by messages, not events: repeats add no event, and a steady stream
                // of them must not keep the writer from writing and answering flushes.
                for _ in 1..BATCH {
                    if !open || batch.len() >= BATCH {
                        break;
                    }
                    match inbox.try_recv() {
                        Ok(message) => take(message, &mut batch, &mut waiting, &mut repeats),
                        Err(_) => break,
                    }
                }
                // A flush (or the end) also records the repeats counted so far.
                let everything = !waiting.flushes.is_empty() || !open;
                batch.extend(repeats.due(Timestamp::now().millis(), everything));
                write(store.as_ref(), batch, &counters).await;
                // Flushes and durable events are answered only once everything before them
                // is written.
                for done in waiting.flushes.into_iter().chain(waiting.durable) {
                    let _ = done.send(());
                }
            }
        });
        Self { queue, stats }
    }

    /// Queues an event (waits only if the queue is full).
    pub async fn record(&self, event: Pending) {
        if self.queue.send(Message::Event(event)).await.is_err() {
            tracing::error!("the audit writer has stopped; an event was not recorded");
        }
    }

    /// Queues `count` identical occurrences of `event`, to coalesce, without waiting: for
    /// callers that cannot wait (an authorization check). A full queue drops it, with an error
    /// in the log.
    pub fn try_record_repeated(&self, event: Event<'_>, count: u64) {
        if self
            .queue
            .try_send(Message::Repeated(pending(event), count))
            .is_err()
        {
            tracing::error!("the audit queue is full or stopped; an event was not recorded");
        }
    }

    /// Queues `count` identical occurrences of `event`, to coalesce.
    pub async fn record_repeated(&self, event: Pending, count: u64) {
        if self
            .queue
            .send(Message::Repeated(event, count))
            .await
            .is_err()
        {
            tracing::error!("the audit writer has stopped; an event was not recorded");
        }
    }

    /// Records `event` and waits until it is written: a change acknowledged after this
    /// survives a crash together with its audit record.
    pub async fn record_durably(&self, event: Pending) {
        let (done, wait) = tokio::sync::oneshot::channel();
        if self
            .queue
            .send(Message::Durable(event, done))
            .await
            .is_err()
        {
            tracing::error!("the audit writer has stopped; an event was not recorded");
            return;
        }
        let _ = wait.await;
    }

    /// Waits until every event queued before this call is written.
    pub async fn flush(&self) {
        let (done, wait) = tokio::sync::oneshot::channel();
        if self.queue.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

/// Sorts one message into the batch, the waiting flushes, or the repeat windows.
fn take(
    message: Message,
    batch: &mut Vec<Pending>,
    waiting: &mut Waiters,
    repeats: &mut repeats::Repeats,
) {
    match message {
        Message::Event(event) => batch.push(event),
        Message::Repeated(event, count) => {
            batch.extend(repeats.observe(event, count, Timestamp::now().millis()));
        }
        Message::Flush(done) => waiting.flushes.push(done),
        Message::Durable(event, done) => {
            batch.push(event);
            waiting.durable.push(done);
        }
    }
}

/// Appends `batch`. Never drops events: retries with a capped backoff until the store takes
/// them (setting aside, after repeated failures, events the store refuses for good).
async fn write(store: &dyn crate::store::Store, mut batch: Vec<Pending>, counters: &Counters) {
    let mut attempt: u64 = 0;
    while !batch.is_empty() {
        let started = std::time::Instant::now();
        match store.append_audit(&batch).await {
            Ok(()) => {
                let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                counters.micros.fetch_add(micros, Ordering::Relaxed);
                counters.batches.fetch_add(1, Ordering::Relaxed);
                counters
                    .events
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                break;
            }
            Err(err) => {
                counters.failures.fetch_add(1, Ordering::Relaxed);
                attempt += 1;
                tracing::error!(error = %err, events = batch.len(), attempt, "could not write the audit log; retrying");
                if attempt % 5 == 0 && batch.len() > 1 {
                    batch = set_aside_poison(store, batch).await;
                }
                tokio::time::sleep(std::time::Duration::from_millis((50 * attempt).min(1000)))
                    .await;
            }
        }
    }
}
