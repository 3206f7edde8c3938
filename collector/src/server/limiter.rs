//! Limits per peer, told the time (sans-IO), so they are tested without
//! waiting:
//!
//! - [`FailureLimiter`] slows down token guessing: an address that fails
//!   enrollment too often is refused for a while before its request is
//!   even read;
//! - [`NoticeLimiter`] keeps a misbehaving agent from flooding the log:
//!   one line per agent per interval, saying how many were held back.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Failed attempts allowed per address within [`WINDOW`].
pub const MAX_FAILURES: u32 = 5;
/// How long failures are remembered, and how long a blocked address waits.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at most; the oldest are forgotten first.
const MAX_ADDRESSES: usize = 10_000;
/// Keys a [`NoticeLimiter`] remembers at most.
const MAX_NOTICE_KEYS: usize = 100_000;

/// Failed enrollments per remote address.
#[derive(Debug, Default)]
pub struct FailureLimiter {
    failures: HashMap<IpAddr, (u32, Instant)>,
}

impl FailureLimiter {
    /// `Err(wait)` when `ip` must wait before trying again.
    pub fn check(&mut self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        match self.failures.get(&ip) {
            Some(&(count, since)) if now.duration_since(since) >= WINDOW => {
                let _ = count;
                self.failures.remove(&ip);
                Ok(())
            }
            Some(&(count, since)) if count >= MAX_FAILURES => {
                Err(WINDOW - now.duration_since(since))
            }
            _ => Ok(()),
        }
    }

    /// Records a failed attempt from `ip`.
    pub fn failed(&mut self, ip: IpAddr, now: Instant) {
        if self.failures.len() >= MAX_ADDRESSES && !self.failures.contains_key(&ip) {
            self.failures
                .retain(|_, (_, since)| now.duration_since(*since) < WINDOW);
            if self.failures.len() >= MAX_ADDRESSES
                && let Some(oldest) = self
                    .failures
                    .iter()
                    .min_by_key(|(_, (_, since))| *since)
                    .map(|(ip, _)| *ip)
            {
                self.failures.remove(&oldest);
            }
        }
        let entry = self.failures.entry(ip).or_insert((0, now));
        if now.duration_since(entry.1) >= WINDOW {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    /// A success clears the address's record.
    pub fn succeeded(&mut self, ip: IpAddr) {
        self.failures.remove(&ip);
    }
}

/// At most one log line per key (an agent) per interval; what happens in
/// between is added up and told with the next line.
#[derive(Debug)]
pub struct NoticeLimiter {
    every: Duration,
    /// Per key: when its last line was let through, and the count held
    /// back since.
    keys: HashMap<String, (Instant, u64)>,
}

impl NoticeLimiter {
    /// One line per key per `every`.
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            keys: HashMap::new(),
        }
    }

    /// `count` more things happened for `key` at `now`. `Some(total)` when
    /// a line is due, `total` counting the things held back since the
    /// last line; `None` when the line is held back.
    pub fn note(&mut self, key: &str, count: u64, now: Instant) -> Option<u64> {
        if let Some((last, held)) = self.keys.get_mut(key) {
            let total = held.saturating_add(count);
            if now.duration_since(*last) < self.every {
                *held = total;
                return None;
            }
            *last = now;
            *held = 0;
            return Some(total);
        }
        if self.keys.len() >= MAX_NOTICE_KEYS {
            // Forget keys whose interval is over: their next line is due
            // anyway, so only the count held back for them is lost.
            let every = self.every;
            self.keys
                .retain(|_, (last, _)| now.duration_since(*last) < every);
            if self.keys.len() >= MAX_NOTICE_KEYS {
                return None;
            }
        }
        self.keys.insert(key.to_owned(), (now, 0));
        Some(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_notice_per_agent_per_minute_with_the_count_held_back() {
        let minute = Duration::from_secs(60);
        let mut l = NoticeLimiter::new(minute);
        let t0 = Instant::now();
        assert_eq!(l.note("agent-a", 3, t0), Some(3));
        assert_eq!(l.note("agent-a", 2, t0 + Duration::from_secs(1)), None);
        assert_eq!(l.note("agent-b", 1, t0 + Duration::from_secs(1)), Some(1));
        assert_eq!(l.note("agent-a", 4, t0 + Duration::from_secs(59)), None);
        assert_eq!(l.note("agent-a", 1, t0 + minute), Some(7));
        assert_eq!(
            l.note("agent-a", 1, t0 + minute + Duration::from_secs(30)),
            None
        );
        assert_eq!(l.note("agent-a", 1, t0 + 2 * minute), Some(2));
    }

    #[test]
    fn notice_keys_are_bounded() {
        let mut l = NoticeLimiter::new(Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..MAX_NOTICE_KEYS {
            assert!(l.note(&format!("agent-{i}"), 1, t0).is_some());
        }
        // Full within the interval: a new key waits rather than grow the map.
        assert_eq!(l.note("late", 1, t0 + Duration::from_secs(1)), None);
        assert_eq!(l.keys.len(), MAX_NOTICE_KEYS);
        // Once the interval is over, the old keys make room.
        assert_eq!(l.note("late", 1, t0 + Duration::from_secs(60)), Some(1));
        assert_eq!(l.keys.len(), 1);
    }

    #[test]
    fn five_failures_block_an_address_for_the_rest_of_the_window() {
        let mut l = FailureLimiter::default();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        let t0 = Instant::now();
        for i in 0..MAX_FAILURES {
            assert!(l.check(ip, t0).is_ok(), "attempt {i}");
            l.failed(ip, t0);
        }
        let wait = l.check(ip, t0 + Duration::from_secs(10)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        assert!(
            l.check(other, t0).is_ok(),
            "another address is not affected"
        );
        assert!(
            l.check(ip, t0 + WINDOW).is_ok(),
            "the block ends with the window"
        );
        l.failed(ip, t0 + WINDOW);
        assert!(
            l.check(ip, t0 + WINDOW).is_ok(),
            "a new window starts from one failure"
        );
    }

    #[test]
    fn success_clears_the_record() {
        let mut l = FailureLimiter::default();
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES - 1 {
            l.failed(ip, t0);
        }
        l.succeeded(ip);
        l.failed(ip, t0);
        assert!(l.check(ip, t0).is_ok());
    }
}
