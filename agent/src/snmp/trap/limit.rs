//! Per-source limits, sans I/O (time is passed in): a token bucket per
//! source address, so one flooding device is cut off without slowing the
//! others, and a once-a-minute gate for logging drops per source.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Sources remembered at most; beyond, the idle ones are forgotten (a
/// forgotten source starts again with a full bucket).
const MAX_SOURCES: usize = 16_384;

/// A token bucket per key: `rate` messages a second, bursts of `burst`.
#[derive(Debug)]
pub struct RateLimiter<K> {
    rate: f64,
    burst: f64,
    buckets: HashMap<K, Bucket>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// `rate` a second, bursts of `burst` (at least one message).
    pub fn new(rate: f64, burst: u32) -> Self {
        Self {
            rate: rate.max(0.0),
            burst: f64::from(burst.max(1)),
            buckets: HashMap::new(),
        }
    }

    /// Whether one more message from `key` at `now` is within its share
    /// (and takes a token if so).
    pub fn allow(&mut self, key: &K, now: Instant) -> bool {
        if !self.buckets.contains_key(key) && self.buckets.len() >= MAX_SOURCES {
            self.forget_full(now);
        }
        let burst = self.burst;
        let rate = self.rate;
        let bucket = self.buckets.entry(key.clone()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Drops the buckets that would be full again by `now` (they hold
    /// nothing worth remembering); if none is, drops them all.
    fn forget_full(&mut self, now: Instant) {
        let (rate, burst) = (self.rate, self.burst);
        self.buckets.retain(|_, b| {
            let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
            b.tokens + elapsed * rate < burst
        });
        if self.buckets.len() >= MAX_SOURCES {
            self.buckets.clear();
        }
    }
}

/// Lets one log line per key through every `every`, counting the ones held back.
#[derive(Debug)]
pub struct LogGate<K> {
    every: Duration,
    last: HashMap<K, (Instant, u64)>,
}

impl<K: Hash + Eq + Clone> LogGate<K> {
    /// One line per key every `every`.
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            last: HashMap::new(),
        }
    }

    /// `Some(held back since the last line)` when a line about `key` may be
    /// logged at `now`, else `None` (and it is counted).
    pub fn note(&mut self, key: &K, now: Instant) -> Option<u64> {
        if !self.last.contains_key(key) && self.last.len() >= MAX_SOURCES {
            let every = self.every;
            self.last
                .retain(|_, (at, _)| now.saturating_duration_since(*at) < every);
        }
        match self.last.get_mut(key) {
            Some((at, held)) if now.saturating_duration_since(*at) < self.every => {
                *held += 1;
                None
            }
            Some((at, held)) => {
                let since = *held;
                *at = now;
                *held = 0;
                Some(since)
            }
            None => {
                self.last.insert(key.clone(), (now, 0));
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let mut limiter = RateLimiter::new(20.0, 100);
        let t0 = Instant::now();
        let passed = (0..1000).filter(|_| limiter.allow(&"a", t0)).count();
        assert_eq!(passed, 100);
        // A second later, twenty more.
        let t1 = t0 + Duration::from_secs(1);
        let passed = (0..1000).filter(|_| limiter.allow(&"a", t1)).count();
        assert_eq!(passed, 20);
        // Another source has its own bucket.
        assert!(limiter.allow(&"b", t1));
        // Idle long enough, the bucket is full again, never fuller.
        let t2 = t1 + Duration::from_secs(3600);
        let passed = (0..1000).filter(|_| limiter.allow(&"a", t2)).count();
        assert_eq!(passed, 100);
    }

    #[test]
    fn time_going_backwards_adds_nothing() {
        let mut limiter = RateLimiter::new(1.0, 1);
        let t0 = Instant::now() + Duration::from_secs(10);
        assert!(limiter.allow(&1, t0));
        assert!(!limiter.allow(&1, t0 - Duration::from_secs(5)));
    }

    #[test]
    fn many_sources_stay_bounded() {
        let mut limiter = RateLimiter::new(20.0, 100);
        let t0 = Instant::now();
        for i in 0..(MAX_SOURCES as u32 * 2) {
            assert!(limiter.allow(&i, t0));
        }
        assert!(limiter.buckets.len() <= MAX_SOURCES);
    }

    #[test]
    fn the_log_gate_lets_one_line_a_minute_through() {
        let mut gate = LogGate::new(Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(gate.note(&"10.0.0.1", t0), Some(0));
        assert_eq!(gate.note(&"10.0.0.1", t0 + Duration::from_secs(1)), None);
        assert_eq!(gate.note(&"10.0.0.1", t0 + Duration::from_secs(2)), None);
        assert_eq!(gate.note(&"10.0.0.2", t0), Some(0));
        assert_eq!(
            gate.note(&"10.0.0.1", t0 + Duration::from_secs(61)),
            Some(2)
        );
    }
}
