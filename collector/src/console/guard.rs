//! Failed-login limits, per account and per address: past `max` failures
//! within `window`, further attempts are refused until the oldest of them
//! leaves the window, whatever the password. Pure, in virtual time: the
//! caller passes `now`.
//!
//! The tables are bounded: an attacker spraying names or addresses makes
//! the guard forget the oldest entries, never grow without end.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;

use atalaya_common::model::Timestamp;

/// Most names or addresses remembered at once, each.
const MAX_KEYS: usize = 50_000;

/// The limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Failures of one account within the window that lock it.
    pub per_account: usize,
    /// Failures from one address within the window that lock it out.
    pub per_address: usize,
    /// The window, in milliseconds.
    pub window_ms: i64,
}

impl From<&crate::config::ConsoleSettings> for Limits {
    fn from(s: &crate::config::ConsoleSettings) -> Self {
        Limits {
            per_account: s.account_failures,
            per_address: s.address_failures,
            window_ms: i64::try_from(s.lockout.as_millis()).unwrap_or(i64::MAX),
        }
    }
}

/// Why an attempt is refused before the password is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locked {
    /// The account had too many failures.
    Account {
        /// When attempts are accepted again.
        until: Timestamp,
    },
    /// The address had too many failures.
    Address {
        /// When attempts are accepted again.
        until: Timestamp,
    },
}

/// Recent failures per key, oldest first.
#[derive(Debug)]
struct Failures<K> {
    by_key: HashMap<K, VecDeque<i64>>,
    max: usize,
}

impl<K: Hash + Eq + Clone> Failures<K> {
    fn new(max: usize) -> Self {
        Self {
            by_key: HashMap::new(),
            max,
        }
    }

    fn prune(&mut self, key: &K, now: i64, window: i64) {
        if let Some(times) = self.by_key.get_mut(key) {
            while times.front().is_some_and(|&t| t <= now - window) {
                times.pop_front();
            }
            if times.is_empty() {
                self.by_key.remove(key);
            }
        }
    }

    /// When the key may try again, if it is locked now.
    fn locked_until(&mut self, key: &K, now: i64, window: i64) -> Option<Timestamp> {
        self.prune(key, now, window);
        let times = self.by_key.get(key)?;
        (times.len() >= self.max).then(|| {
            // The attempt that brings the count below max is the one after
            // the oldest counted failure leaves the window.
            let oldest = times[times.len() - self.max];
            Timestamp(oldest + window)
        })
    }

    fn add(&mut self, key: &K, now: i64, window: i64) {
        if !self.by_key.contains_key(key) && self.by_key.len() >= MAX_KEYS {
            self.by_key
                .retain(|_, t| t.back().is_some_and(|&last| last > now - window));
            if self.by_key.len() >= MAX_KEYS {
                // Still full of live entries: forget the one seen longest ago.
                if let Some(oldest) = self
                    .by_key
                    .iter()
                    .min_by_key(|(_, t)| t.back().copied().unwrap_or(i64::MIN))
                    .map(|(k, _)| k.clone())
                {
                    self.by_key.remove(&oldest);
                }
            }
        }
        let times = self.by_key.entry(key.clone()).or_default();
        times.push_back(now);
        // Only the last `max` failures matter for the lock.
        while times.len() > self.max {
            times.pop_front();
        }
    }
}

/// The failed-login bookkeeping of the console.
#[derive(Debug)]
pub struct LoginGuard {
    limits: Limits,
    accounts: Failures<String>,
    addresses: Failures<IpAddr>,
}

impl LoginGuard {
    /// A guard with no failures yet.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            accounts: Failures::new(limits.per_account.max(1)),
            addresses: Failures::new(limits.per_address.max(1)),
        }
    }

    /// Whether an attempt for `account` from `address` may be checked now.
    pub fn check(&mut self, account: &str, address: IpAddr, now: Timestamp) -> Result<(), Locked> {
        let w = self.limits.window_ms;
        if let Some(until) = self.addresses.locked_until(&address, now.0, w) {
            return Err(Locked::Address { until });
        }
        if let Some(until) = self.accounts.locked_until(&account.to_owned(), now.0, w) {
            return Err(Locked::Account { until });
        }
        Ok(())
    }

    /// A wrong password (or an unknown or disabled account).
    pub fn failed(&mut self, account: &str, address: IpAddr, now: Timestamp) {
        let w = self.limits.window_ms;
        self.accounts.add(&account.to_owned(), now.0, w);
        self.addresses.add(&address, now.0, w);
    }

    /// A good password: the account's failures are forgotten (the
    /// address's stay, so one good account does not launder a spray).
    pub fn succeeded(&mut self, account: &str) {
        self.accounts.by_key.remove(account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn guard() -> LoginGuard {
        LoginGuard::new(Limits {
            per_account: 3,
            per_address: 5,
            window_ms: 15 * MIN,
        })
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn an_account_locks_after_max_failures_and_unlocks_when_the_oldest_leaves() {
        let mut g = guard();
        for i in 0..3 {
            assert_eq!(g.check("ana", ip(i), Timestamp(i64::from(i) * MIN)), Ok(()));
            g.failed("ana", ip(i), Timestamp(i64::from(i) * MIN));
        }
        // Three failures at 0, 1 and 2 minutes: locked until 15 minutes.
        assert_eq!(
            g.check("ana", ip(9), Timestamp(3 * MIN)),
            Err(Locked::Account {
                until: Timestamp(15 * MIN)
            })
        );
        assert_eq!(g.check("luis", ip(9), Timestamp(3 * MIN)), Ok(()));
        assert_eq!(g.check("ana", ip(9), Timestamp(15 * MIN)), Ok(()));
    }

    #[test]
    fn an_address_spraying_names_locks_out_whatever_the_name() {
        let mut g = guard();
        for i in 0..5 {
            g.failed(&format!("user{i}"), ip(1), Timestamp(i * MIN));
        }
        assert!(matches!(
            g.check("someone-else", ip(1), Timestamp(6 * MIN)),
            Err(Locked::Address { .. })
        ));
        assert_eq!(g.check("someone-else", ip(2), Timestamp(6 * MIN)), Ok(()));
    }

    #[test]
    fn success_forgets_the_accounts_failures_but_not_the_addresss() {
        let mut g = guard();
        for i in 0..2 {
            g.failed("ana", ip(1), Timestamp(i * MIN));
        }
        g.succeeded("ana");
        g.failed("ana", ip(1), Timestamp(3 * MIN));
        assert_eq!(g.check("ana", ip(1), Timestamp(4 * MIN)), Ok(()));
        for i in 0..2 {
            g.failed("luis", ip(1), Timestamp((5 + i) * MIN));
        }
        assert!(matches!(
            g.check("ana", ip(1), Timestamp(8 * MIN)),
            Err(Locked::Address { .. })
        ));
    }

    #[test]
    fn the_tables_stay_bounded_under_a_spray_of_names() {
        let mut g = guard();
        for i in 0..(MAX_KEYS as i64 + 10) {
            g.failed(&format!("name{i}"), ip(1), Timestamp(i));
        }
        assert!(g.accounts.by_key.len() <= MAX_KEYS);
    }
}
