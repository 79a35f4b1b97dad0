//! A per-IP token bucket for the token endpoint: each address gets `burst` requests at once
//! and `rate` more per second; past that it is told to retry later (429 + `Retry-After`).
//! Per node; the per-identifier lock that stops password guessing is in the store, shared.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Buckets kept before idle ones are dropped.
const MAX_TRACKED: usize = 100_000;

/// Token buckets keyed by client address.
pub struct IpLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
    refused: std::sync::atomic::AtomicU64,
}

impl IpLimiter {
    /// `rate` requests per second per address, `burst` at once.
    pub fn new(rate: u32, burst: u32) -> Self {
        Self {
            rate: f64::from(rate.max(1)),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
            refused: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Takes one token for `ip`, or answers how many seconds to wait.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        let now = Instant::now();
        let mut buckets = match self.buckets.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if buckets.len() >= MAX_TRACKED {
            // Full buckets carry no state worth keeping.
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < burst
            });
        }
        let (tokens, at) = buckets.entry(ip).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            self.refused
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err(((1.0 - *tokens) / self.rate).ceil().max(1.0) as u64)
        }
    }

    /// Takes one token for `ip` and holds it: it is given back when the hold is dropped,
    /// unless [`Held::spend`] keeps it spent. Every request in flight holds one, so requests
    /// sent at once can never spend more than the bucket holds, and a request cancelled
    /// while it holds one (timed out, or its caller gone) costs nothing.
    pub fn hold(&self, ip: IpAddr) -> Result<Held<'_>, u64> {
        self.check(ip)?;
        Ok(Held {
            limiter: self,
            ip,
            spent: false,
        })
    }

    /// Gives back one token to `ip`, never past the burst.
    fn refund(&self, ip: IpAddr) {
        let mut buckets = match self.buckets.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some((tokens, _)) = buckets.get_mut(&ip) {
            *tokens = (*tokens + 1.0).min(self.burst);
        }
    }

    /// Requests refused so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A token taken from an address's bucket: given back when dropped, unless spent.
pub struct Held<'a> {
    limiter: &'a IpLimiter,
    ip: IpAddr,
    spent: bool,
}

impl Held<'_> {
    /// Keeps the token spent: the request counts against the budget.
    pub fn spend(mut self) {
        self.spent = true;
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if !self.spent {
            self.limiter.refund(self.ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_refused_until_tokens_refill() {
        let limiter = IpLimiter::new(1, 3);
        let ip: IpAddr = "192.0.2.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let other: IpAddr = "192.0.2.2".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        assert!((0..3).all(|_| limiter.check(ip).is_ok()));
        assert_eq!(limiter.check(ip), Err(1));
        assert!(
            limiter.check(other).is_ok(),
            "addresses do not share a bucket"
        );
    }

    #[test]
    fn a_hold_is_given_back_unless_spent_and_never_past_the_burst() {
        let limiter = IpLimiter::new(1, 2);
        let ip: IpAddr = "192.0.2.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        for _ in 0..10 {
            drop(limiter.hold(ip));
        }
        let (first, second) = (limiter.hold(ip), limiter.hold(ip));
        assert!(first.is_ok() && second.is_ok(), "two held at once");
        assert_eq!(limiter.hold(ip).err(), Some(1), "the burst is held");
        drop((first, second));
        // Given back, and no more than the burst: two again, then refused.
        let (first, second) = (limiter.hold(ip), limiter.hold(ip));
        assert!(first.is_ok() && second.is_ok());
        assert_eq!(limiter.hold(ip).err(), Some(1));
        if let (Ok(first), Ok(second)) = (first, second) {
            first.spend();
            second.spend();
        }
        assert_eq!(limiter.check(ip), Err(1), "spent holds stay spent");
    }
}
