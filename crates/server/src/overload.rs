//! Shedding before the queue grows. A node whose one or two cores are saturated queues work
//! where no in-flight count sees it: in socket buffers and in the runtime's run queue, before
//! any middleware runs. A request taken then waits behind all of it, so an in-flight limit
//! alone keeps the work bounded but not the latency of what it accepts.
//!
//! A probe task wakes every [`PERIOD`], steps to the back of the run queue and measures how
//! long it waits there to run again: the time a task that became ready waits for a core,
//! which every request pays at each of its steps (each wait on the database, a lock or a
//! hash puts it back in that queue). While that delay,
//! smoothed, is above the configured `overload_delay_ms`, new requests are refused (503 with
//! `Retry-After`, as past `max_in_flight`) with a probability rising from 0 at the delay to 1
//! at twice it. Refusing is far cheaper than serving, so the core goes back to the requests
//! already taken and to the ones still admitted, and the delay settles near the setting:
//! what is accepted keeps its latency, and what is refused is refused at once. A node with
//! spare cores never sees the delay and never sheds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often the probe measures.
pub const PERIOD: Duration = Duration::from_millis(2);

/// The runtime's smoothed queueing delay, and the shedding it drives.
#[derive(Debug)]
pub struct Overload {
    /// The smoothed delay, in microseconds.
    delay_micros: AtomicU64,
    /// Where shedding starts, in microseconds (0: never).
    threshold_micros: u64,
    /// A Weyl sequence: each admission draws the next value, spread evenly over `u64`.
    draws: AtomicU64,
}

impl Overload {
    /// Sheds past `threshold` of smoothed delay (zero: never, and no probe runs).
    pub fn new(threshold: Duration) -> Arc<Self> {
        Arc::new(Self {
            delay_micros: AtomicU64::new(0),
            threshold_micros: u64::try_from(threshold.as_micros()).unwrap_or(u64::MAX),
            draws: AtomicU64::new(0),
        })
    }

    /// Starts the probe on the current runtime, for as long as `self` is held elsewhere.
    pub fn spawn_probe(self: &Arc<Self>) {
        if self.threshold_micros == 0 {
            return;
        }
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PERIOD).await;
                // The time a task put at the back of the run queue waits to run again: the
                // delay itself, to the microsecond (a timer's lateness would add its own
                // millisecond granularity).
                let asked = std::time::Instant::now();
                tokio::task::yield_now().await;
                let waited = asked.elapsed();
                let Some(this) = weak.upgrade() else { return };
                this.observe(waited);
            }
        });
    }

    /// Takes one measurement of how late a ready task ran: an exponentially weighted moving
    /// average, a quarter of each new sample, so a few periods (tens of milliseconds) follow a
    /// change.
    pub fn observe(&self, late: Duration) {
        let sample = u64::try_from(late.as_micros()).unwrap_or(u64::MAX);
        let old = self.delay_micros.load(Ordering::Relaxed);
        let new = if sample >= old {
            old + (sample - old) / 2
        } else {
            old - (old - sample) / 2
        };
        self.delay_micros.store(new, Ordering::Relaxed);
    }

    /// The smoothed queueing delay now.
    pub fn delay(&self) -> Duration {
        Duration::from_micros(self.delay_micros.load(Ordering::Relaxed))
    }

    /// Whether to refuse a new request now.
    pub fn shed(&self) -> bool {
        let threshold = self.threshold_micros;
        let delay = self.delay_micros.load(Ordering::Relaxed);
        if threshold == 0 || delay <= threshold {
            return false;
        }
        let excess = delay - threshold;
        if excess >= threshold {
            return true;
        }
        // Refuse with probability excess / threshold: the next evenly spread draw, compared
        // with that share of the whole range.
        let draw = self
            .draws
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        let share = u128::from(excess) * u128::from(u64::MAX) / u128::from(threshold);
        u128::from(draw) < share
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sheds_out_of(overload: &Overload, n: u32) -> u32 {
        (0..n).map(|_| u32::from(overload.shed())).sum()
    }

    #[test]
    fn below_the_threshold_nothing_is_shed_and_past_twice_everything_is() {
        let overload = Overload::new(Duration::from_millis(4));
        assert_eq!(sheds_out_of(&overload, 1000), 0, "no delay measured");
        for _ in 0..50 {
            overload.observe(Duration::from_millis(3));
        }
        assert_eq!(sheds_out_of(&overload, 1000), 0, "3 ms is below 4 ms");
        for _ in 0..50 {
            overload.observe(Duration::from_millis(9));
        }
        assert_eq!(
            sheds_out_of(&overload, 1000),
            1000,
            "9 ms is past twice 4 ms"
        );
    }

    #[test]
    fn between_the_threshold_and_twice_it_the_share_shed_follows_the_excess() {
        let overload = Overload::new(Duration::from_millis(4));
        for _ in 0..60 {
            overload.observe(Duration::from_millis(5));
        }
        // 5 ms is a quarter of the way from 4 to 8: about a quarter refused.
        let shed = sheds_out_of(&overload, 10_000);
        assert!((2_200..=2_800).contains(&shed), "{shed} of 10,000");
        for _ in 0..60 {
            overload.observe(Duration::from_millis(7));
        }
        let shed = sheds_out_of(&overload, 10_000);
        assert!((7_200..=7_800).contains(&shed), "{shed} of 10,000");
    }

    #[test]
    fn the_average_follows_a_change_within_a_few_periods_and_decays_when_calm() {
        let overload = Overload::new(Duration::from_millis(4));
        for _ in 0..20 {
            overload.observe(Duration::from_millis(20));
        }
        assert!(overload.delay() > Duration::from_millis(19));
        for _ in 0..20 {
            overload.observe(Duration::ZERO);
        }
        assert!(overload.delay() < Duration::from_millis(1));
        assert!(!overload.shed());
    }

    #[test]
    fn a_zero_threshold_never_sheds() {
        let overload = Overload::new(Duration::ZERO);
        overload.observe(Duration::from_secs(1));
        assert!(!overload.shed());
    }
}
