//! Identical events within a short window become few records with a count, so a caller
//! repeating a denied request cannot flood the audit log. The first event of a window is
//! recorded at once, with the count it arrived with; the repeats that follow are counted and
//! recorded as one more record (`details.count`, `details.repeat_of`) when the window closes,
//! or earlier when the log is flushed. At most [`MAX_TRACKED`] windows are open; past it the
//! oldest is closed early, so memory stays bounded and no repeat goes uncounted.
//!
//! The writer task owns this state alone: no lock, and a window's first record always comes
//! before its repeats in the chain.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use serde_json::{json, Value};

use super::Pending;
use crate::crypto::sha256_b64;
use crate::time::Timestamp;

/// Most windows open at once.
pub const MAX_TRACKED: usize = 10_000;

/// An open window: the event that opened it and the repeats not yet recorded.
struct Window {
    opened_ms: i64,
    first: Pending,
    repeated: u64,
    last_ms: i64,
}

/// The open windows, by the fingerprint of their event.
pub(super) struct Repeats {
    window_ms: i64,
    max_tracked: usize,
    open: HashMap<String, Window>,
    /// Fingerprints in the order their windows opened (stale entries are skipped).
    order: VecDeque<(String, i64)>,
}

/// What makes events identical: every field but the id and the time.
fn fingerprint(event: &Pending) -> String {
    let fields = json!([
        event.actor,
        event.action,
        event.account_id.map(|a| a.to_string()),
        event.target,
        event.details
    ]);
    sha256_b64(fields.to_string().as_bytes())
}

/// `details` with `extra` added (an object's fields; anything else is kept under `details`).
fn with(details: &Value, extra: Value) -> Value {
    let mut out = match details {
        Value::Object(map) => map.clone(),
        other => [("details".to_owned(), other.clone())]
            .into_iter()
            .collect(),
    };
    if let Value::Object(extra) = extra {
        out.extend(extra);
    }
    Value::Object(out)
}

impl Window {
    /// The record of the repeats counted since the last one, if any.
    fn take_repeats(&mut self) -> Option<Pending> {
        if self.repeated == 0 {
            return None;
        }
        let count = std::mem::take(&mut self.repeated);
        Some(Pending {
            id: crate::ids::SessionId::new().to_string(),
            at: Timestamp::from_millis(self.last_ms),
            details: with(
                &self.first.details,
                json!({ "count": count, "repeat_of": self.first.id }),
            ),
            ..self.first.clone()
        })
    }
}

impl Repeats {
    /// Windows of `window` (zero: every event is its own record), at most `max_tracked` open.
    pub(super) fn new(window: Duration, max_tracked: usize) -> Self {
        Self {
            window_ms: i64::try_from(window.as_millis()).unwrap_or(i64::MAX),
            max_tracked: max_tracked.max(1),
            open: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// How often the writer should close due windows.
    pub(super) fn tick(&self) -> Duration {
        let window = Duration::from_millis(self.window_ms.unsigned_abs());
        window.clamp(Duration::from_millis(100), Duration::from_secs(1))
    }

    /// Takes `count` identical occurrences of `event`; returns the records to write now: the
    /// event itself when it opens a window, and any window closed to make room.
    pub(super) fn observe(&mut self, event: Pending, count: u64, now_ms: i64) -> Vec<Pending> {
        let mut out = Vec::new();
        if self.window_ms == 0 {
            out.push(Pending {
                details: with(&event.details, json!({ "count": count })),
                ..event
            });
            return out;
        }
        let key = fingerprint(&event);
        if let Some(window) = self.open.get_mut(&key) {
            if now_ms < window.opened_ms.saturating_add(self.window_ms) {
                window.repeated += count;
                window.last_ms = window.last_ms.max(now_ms);
                return out;
            }
            // Due but not yet closed: close it now and open a new window below.
            out.extend(self.open.remove(&key).and_then(|mut w| w.take_repeats()));
        }
        while self.open.len() >= self.max_tracked {
            let Some((oldest, opened_ms)) = self.order.pop_front() else {
                break;
            };
            if self
                .open
                .get(&oldest)
                .is_some_and(|w| w.opened_ms == opened_ms)
            {
                out.extend(self.open.remove(&oldest).and_then(|mut w| w.take_repeats()));
            }
        }
        let first = Pending {
            details: with(&event.details, json!({ "count": count })),
            ..event.clone()
        };
        out.push(first);
        self.order.push_back((key.clone(), now_ms));
        self.open.insert(
            key,
            Window {
                opened_ms: now_ms,
                first: event,
                repeated: 0,
                last_ms: now_ms,
            },
        );
        out
    }

    /// Closes the windows due at `now_ms` and returns the records of their repeats; with
    /// `everything` (a flush), also records the repeats counted so far in windows still open.
    pub(super) fn due(&mut self, now_ms: i64, everything: bool) -> Vec<Pending> {
        let mut out = Vec::new();
        while let Some((key, opened_ms)) = self.order.front() {
            if now_ms < opened_ms.saturating_add(self.window_ms) {
                break;
            }
            let (key, opened_ms) = (key.clone(), *opened_ms);
            self.order.pop_front();
            if self
                .open
                .get(&key)
                .is_some_and(|w| w.opened_ms == opened_ms)
            {
                out.extend(self.open.remove(&key).and_then(|mut w| w.take_repeats()));
            }
        }
        if everything {
            out.extend(self.open.values_mut().filter_map(Window::take_repeats));
        }
        out
    }

    /// How many windows are open.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denial(target: &str) -> Pending {
        Pending {
            id: crate::ids::SessionId::new().to_string(),
            at: Timestamp::from_millis(0),
            actor: "user:u".into(),
            action: "check.denied".into(),
            account_id: None,
            target: Some(target.into()),
            details: json!({ "principal": "user:u", "action": "documents:edit" }),
        }
    }

    fn count(records: &[Pending]) -> u64 {
        records
            .iter()
            .map(|r| r.details["count"].as_u64().unwrap())
            .sum()
    }

    #[test]
    fn the_first_is_recorded_at_once_and_repeats_when_the_window_closes() {
        let mut repeats = Repeats::new(Duration::from_secs(10), 100);
        let first = repeats.observe(denial("document:1"), 1000, 0);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].details["count"], 1000);
        assert_eq!(first[0].details["action"], "documents:edit");
        for at in 1..=4 {
            assert!(repeats.observe(denial("document:1"), 1000, at).is_empty());
        }
        assert!(repeats.due(9_999, false).is_empty(), "the window is open");
        let closed = repeats.due(10_000, false);
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].details["count"], 4000);
        assert_eq!(closed[0].details["repeat_of"], first[0].id.as_str());
        assert_eq!(closed[0].at.millis(), 4);
        assert_eq!(repeats.tracked(), 0);
        // The next one opens a new window and is recorded at once.
        assert_eq!(repeats.observe(denial("document:1"), 1, 10_001).len(), 1);
    }

    #[test]
    fn a_flush_records_the_repeats_so_far_and_keeps_the_window() {
        let mut repeats = Repeats::new(Duration::from_secs(10), 100);
        repeats.observe(denial("document:1"), 1, 0);
        repeats.observe(denial("document:1"), 2, 1);
        assert_eq!(count(&repeats.due(2, true)), 2);
        assert!(repeats.due(3, true).is_empty(), "nothing new to record");
        assert!(repeats.observe(denial("document:1"), 1, 4).is_empty());
        assert_eq!(count(&repeats.due(10_000, false)), 1);
    }

    #[test]
    fn distinct_events_are_distinct_records() {
        let mut repeats = Repeats::new(Duration::from_secs(10), 100);
        let mut other_actor = denial("document:1");
        other_actor.actor = "user:v".into();
        let mut other_account = denial("document:1");
        other_account.account_id = Some(crate::ids::AccountId::new());
        for event in [
            denial("document:1"),
            denial("document:2"),
            other_actor,
            other_account,
        ] {
            assert_eq!(repeats.observe(event, 1, 0).len(), 1);
        }
    }

    #[test]
    fn past_the_cap_the_oldest_window_closes_early_with_its_count() {
        let mut repeats = Repeats::new(Duration::from_secs(10), 2);
        repeats.observe(denial("a"), 1, 0);
        repeats.observe(denial("a"), 5, 1);
        repeats.observe(denial("b"), 1, 2);
        let written = repeats.observe(denial("c"), 1, 3);
        assert_eq!(repeats.tracked(), 2);
        assert_eq!(written.len(), 2, "a's repeats, then c");
        assert_eq!(written[0].target.as_deref(), Some("a"));
        assert_eq!(written[0].details["count"], 5);
        assert_eq!(written[1].target.as_deref(), Some("c"));
    }

    #[test]
    fn a_zero_window_records_every_event() {
        let mut repeats = Repeats::new(Duration::ZERO, 100);
        for _ in 0..3 {
            assert_eq!(repeats.observe(denial("a"), 1, 0).len(), 1);
        }
        assert!(repeats.due(i64::MAX, true).is_empty());
    }
}
