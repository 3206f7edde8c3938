//! Slows down token guessing: an address that fails enrollment too often
//! is refused for a while before its request is even read.
//!
//! Sans-IO: it is told the time, so it is tested without waiting.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Failed attempts allowed per address within [`WINDOW`].
pub const MAX_FAILURES: u32 = 5;
/// How long failures are remembered, and how long a blocked address waits.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at most; the oldest are forgotten first.
const MAX_ADDRESSES: usize = 10_000;

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

#[cfg(test)]
mod tests {
    use super::*;

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
