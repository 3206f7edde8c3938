//! Priorities and SLA clocks, as pure functions of times in milliseconds.
//!
//! An incident's priority comes from its rule's severity and the asset's
//! criticality tag ([`priority`]); the SLA policy of that priority gives the
//! time to acknowledge and the time to resolve. With business hours the
//! clocks only run inside the working window (e.g. Mon–Fri 08:00–18:00 at a
//! fixed UTC offset): an incident opened on Friday at 17:00 with a two-hour
//! target is due on Monday at 09:00.
//!
//! Written by hand rather than with a calendar crate: the only calendar
//! facts needed are the day of the week and minutes since local midnight
//! at a fixed offset, which are a division away from a Unix timestamp.

use serde::{Deserialize, Serialize};

pub use crate::records::incident::Priority;
use crate::records::incident::Severity;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;
/// At most this many days are walked when adding business time (a guard
/// against a policy whose window never opens; validation refuses those).
const MAX_DAYS: i64 = 366 * 20;

/// How much an asset matters, from its `criticality:high|medium|low` tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Criticality {
    /// Production, customer-facing, many users depend on it.
    High,
    /// The default.
    #[default]
    Medium,
    /// Lab, spare, test machines.
    Low,
}

impl Criticality {
    /// From an asset's tags: `criticality:high` (or `criticality=high`);
    /// absent or unknown values mean medium.
    pub fn from_tags(tags: &[String]) -> Self {
        for tag in tags {
            let value = tag
                .strip_prefix("criticality:")
                .or_else(|| tag.strip_prefix("criticality="));
            match value.map(str::to_ascii_lowercase).as_deref() {
                Some("high" | "critical") => return Criticality::High,
                Some("medium" | "normal") => return Criticality::Medium,
                Some("low") => return Criticality::Low,
                _ => {}
            }
        }
        Criticality::Medium
    }
}

/// The priority matrix:
///
/// | severity \ criticality | high | medium | low |
/// | --- | --- | --- | --- |
/// | critical | P1 | P1 | P2 |
/// | high     | P1 | P2 | P3 |
/// | warning  | P2 | P3 | P4 |
/// | info     | P3 | P4 | P4 |
pub fn priority(severity: Severity, criticality: Criticality) -> Priority {
    use Criticality as C;
    use Priority::*;
    use Severity as S;
    match (severity, criticality) {
        (S::Critical, C::High | C::Medium) | (S::High, C::High) => P1,
        (S::Critical, C::Low) | (S::High, C::Medium) | (S::Warning, C::High) => P2,
        (S::High, C::Low) | (S::Warning, C::Medium) | (S::Info, C::High) => P3,
        (S::Warning, C::Low) | (S::Info, C::Medium | C::Low) => P4,
    }
}

/// A weekly working window at a fixed UTC offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessHours {
    /// Working days, Monday first.
    pub days: [bool; 7],
    /// Start of the working day, minutes after local midnight.
    pub start_minute: u32,
    /// End of the working day, minutes after local midnight (after `start_minute`).
    pub end_minute: u32,
    /// Local time minus UTC, minutes (e.g. 60 for UTC+01:00).
    pub utc_offset_minutes: i32,
}

impl BusinessHours {
    /// Monday to Friday, 08:00–18:00 at `utc_offset_minutes`.
    pub fn office(utc_offset_minutes: i32) -> Self {
        BusinessHours {
            days: [true, true, true, true, true, false, false],
            start_minute: 8 * 60,
            end_minute: 18 * 60,
            utc_offset_minutes,
        }
    }

    /// Whether the window ever opens.
    pub fn is_valid(&self) -> bool {
        self.days.iter().any(|d| *d)
            && self.start_minute < self.end_minute
            && self.end_minute <= 1440
    }

    fn offset_ms(&self) -> i64 {
        i64::from(self.utc_offset_minutes) * MINUTE_MS
    }

    /// The working window of local day `day` (days since 1970-01-01, local),
    /// in UTC ms; `None` on a day off.
    fn window(&self, day: i64) -> Option<(i64, i64)> {
        // 1970-01-01 was a Thursday (index 3 with Monday = 0).
        let weekday = usize::try_from((day + 3).rem_euclid(7)).unwrap_or(0);
        if !self.days.get(weekday).copied().unwrap_or(false) {
            return None;
        }
        let midnight = day.saturating_mul(DAY_MS).saturating_sub(self.offset_ms());
        Some((
            midnight.saturating_add(i64::from(self.start_minute) * MINUTE_MS),
            midnight.saturating_add(i64::from(self.end_minute) * MINUTE_MS),
        ))
    }

    fn local_day(&self, t: i64) -> i64 {
        t.saturating_add(self.offset_ms()).div_euclid(DAY_MS)
    }
}

/// Targets for one priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaPolicy {
    /// Time to acknowledge, seconds (of business time with business hours).
    pub acknowledge_seconds: u64,
    /// Time to resolve, seconds (of business time with business hours).
    pub resolve_seconds: u64,
    /// Clocks run only inside these hours; `None`: around the clock.
    pub business_hours: Option<BusinessHours>,
}

/// The policies of all priorities, and when an incident counts as at risk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaPolicies {
    /// P1 … P4.
    pub by_priority: [SlaPolicy; 4],
    /// An unacknowledged incident whose acknowledge clock has used this
    /// share (percent) of its target escalates to second level.
    pub at_risk_percent: u8,
}

impl Default for SlaPolicies {
    /// P1: ack 15 min, resolve 4 h; P2: 30 min, 8 h; both around the clock.
    /// P3: 4 h, 3 days; P4: 1 day, 5 days; both in office hours (Mon–Fri
    /// 08:00–18:00 UTC). At risk at 80 %.
    fn default() -> Self {
        let h = 3600;
        let policy = |ack, resolve, bh: bool| SlaPolicy {
            acknowledge_seconds: ack,
            resolve_seconds: resolve,
            business_hours: bh.then(|| BusinessHours::office(0)),
        };
        SlaPolicies {
            by_priority: [
                policy(15 * 60, 4 * h, false),
                policy(30 * 60, 8 * h, false),
                policy(4 * h, 30 * h, true),
                policy(10 * h, 50 * h, true),
            ],
            at_risk_percent: 80,
        }
    }
}

impl SlaPolicies {
    /// The policy of a priority.
    pub fn of(&self, p: Priority) -> &SlaPolicy {
        let i = match p {
            Priority::P1 => 0,
            Priority::P2 => 1,
            Priority::P3 => 2,
            Priority::P4 => 3,
        };
        &self.by_priority[i]
    }
}

/// The time `duration_ms` of clock time after `start`: plain addition
/// around the clock, or counting only business hours.
pub fn add_clock(start: i64, duration_ms: i64, hours: Option<&BusinessHours>) -> i64 {
    let Some(bh) = hours.filter(|b| b.is_valid()) else {
        return start.saturating_add(duration_ms);
    };
    let mut left = duration_ms.max(0);
    let first = bh.local_day(start);
    for day in first..first.saturating_add(MAX_DAYS) {
        if let Some((open, close)) = bh.window(day)
            && start < close
        {
            let from = start.max(open);
            let available = close.saturating_sub(from);
            if left <= available {
                // A zero target falls due when the window opens.
                return from.saturating_add(left);
            }
            left -= available;
        }
    }
    start.saturating_add(duration_ms)
}

/// Clock time between `from` and `to` (0 when `to` is earlier).
pub fn clock_between(from: i64, to: i64, hours: Option<&BusinessHours>) -> i64 {
    if to <= from {
        return 0;
    }
    let Some(bh) = hours.filter(|b| b.is_valid()) else {
        return to.saturating_sub(from);
    };
    let mut total = 0;
    let last = bh.local_day(to);
    let mut day = bh.local_day(from);
    while day <= last && day - bh.local_day(from) < MAX_DAYS {
        if let Some((open, close)) = bh.window(day) {
            let a = from.max(open);
            let b = to.min(close);
            if b > a {
                total += b.saturating_sub(a);
            }
        }
        day += 1;
    }
    total
}

/// The clocks an incident starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clocks {
    /// Acknowledge by.
    pub acknowledge_due: i64,
    /// Escalate (unacknowledged) from.
    pub at_risk_at: i64,
    /// Resolve by.
    pub resolve_due: i64,
}

/// The clocks of an incident opened at `opened` under `policy`.
pub fn clocks(opened: i64, policy: &SlaPolicy, at_risk_percent: u8) -> Clocks {
    let hours = policy.business_hours.as_ref();
    let ack_ms = i64::try_from(policy.acknowledge_seconds)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000);
    let resolve_ms = i64::try_from(policy.resolve_seconds)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000);
    let risk_ms = ack_ms / 100 * i64::from(at_risk_percent.min(100));
    Clocks {
        acknowledge_due: add_clock(opened, ack_ms, hours),
        at_risk_at: add_clock(opened, risk_ms, hours),
        resolve_due: add_clock(opened, resolve_ms, hours),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-27 was a Friday; ms of that day at `h:m` UTC.
    fn fri(h: i64, m: i64) -> i64 {
        // 2026-11-27T00:00:00Z
        1_795_737_600_000 + (h * 60 + m) * MINUTE_MS
    }

    #[test]
    fn the_fixed_friday_is_a_friday() {
        let bh = BusinessHours::office(0);
        let day = bh.local_day(fri(12, 0));
        assert_eq!((day + 3).rem_euclid(7), 4, "Friday has index 4");
        assert!(bh.window(day).is_some());
        assert!(bh.window(day + 1).is_none(), "Saturday is off");
        assert!(bh.window(day + 2).is_none(), "Sunday is off");
        assert!(bh.window(day + 3).is_some(), "Monday works");
    }

    #[test]
    fn around_the_clock_is_plain_addition() {
        assert_eq!(add_clock(fri(17, 0), 2 * 3_600_000, None), fri(19, 0));
        assert_eq!(clock_between(fri(17, 0), fri(19, 0), None), 2 * 3_600_000);
        assert_eq!(clock_between(fri(19, 0), fri(17, 0), None), 0);
    }

    #[test]
    fn business_hours_carry_over_the_weekend() {
        let bh = BusinessHours::office(0);
        // Friday 17:00 + 2 h of business time → Monday 09:00.
        let due = add_clock(fri(17, 0), 2 * 3_600_000, Some(&bh));
        assert_eq!(due, fri(9, 0) + 3 * DAY_MS);
        assert_eq!(clock_between(fri(17, 0), due, Some(&bh)), 2 * 3_600_000);
        // Opened on Saturday: the clock starts Monday 08:00.
        let sat = fri(11, 0) + DAY_MS;
        assert_eq!(
            add_clock(sat, 30 * MINUTE_MS, Some(&bh)),
            fri(8, 30) + 3 * DAY_MS
        );
        // Opened Friday 06:00 (before the window): due within Friday.
        assert_eq!(add_clock(fri(6, 0), 3_600_000, Some(&bh)), fri(9, 0));
        // Exactly the end of the window stays on Friday.
        assert_eq!(add_clock(fri(17, 0), 3_600_000, Some(&bh)), fri(18, 0));
        // Nothing counts over the weekend.
        assert_eq!(
            clock_between(fri(18, 0), fri(8, 0) + 3 * DAY_MS, Some(&bh)),
            0
        );
        // Several working days: 25 h of business time from Friday 08:00 is
        // Fri 10 h + Mon 10 h + Tue 5 h → Tuesday 13:00.
        assert_eq!(
            add_clock(fri(8, 0), 25 * 3_600_000, Some(&bh)),
            fri(13, 0) + 4 * DAY_MS
        );
    }

    #[test]
    fn the_utc_offset_moves_the_window() {
        // UTC+02:00: 08:00 local is 06:00 UTC, 18:00 local is 16:00 UTC.
        let bh = BusinessHours::office(120);
        assert_eq!(
            add_clock(fri(15, 0), 2 * 3_600_000, Some(&bh)),
            fri(7, 0) + 3 * DAY_MS
        );
        // UTC-05:00: Friday 18:00 local is Friday 23:00 UTC.
        let bh = BusinessHours::office(-300);
        assert_eq!(add_clock(fri(22, 0), 3_600_000, Some(&bh)), fri(23, 0));
    }

    #[test]
    fn a_window_that_never_opens_is_ignored() {
        let mut bh = BusinessHours::office(0);
        bh.days = [false; 7];
        assert!(!bh.is_valid());
        assert_eq!(add_clock(fri(17, 0), 3_600_000, Some(&bh)), fri(18, 0));
    }

    #[test]
    fn at_risk_is_a_share_of_the_acknowledge_target() {
        let policy = SlaPolicy {
            acknowledge_seconds: 600,
            resolve_seconds: 3600,
            business_hours: None,
        };
        let c = clocks(fri(10, 0), &policy, 80);
        assert_eq!(c.acknowledge_due, fri(10, 10));
        assert_eq!(c.at_risk_at, fri(10, 8));
        assert_eq!(c.resolve_due, fri(11, 0));
    }

    #[test]
    fn priority_matrix() {
        use Criticality as C;
        assert_eq!(priority(Severity::Critical, C::Medium), Priority::P1);
        assert_eq!(priority(Severity::High, C::High), Priority::P1);
        assert_eq!(priority(Severity::High, C::Medium), Priority::P2);
        assert_eq!(priority(Severity::Warning, C::Medium), Priority::P3);
        assert_eq!(priority(Severity::Warning, C::Low), Priority::P4);
        assert_eq!(priority(Severity::Info, C::High), Priority::P3);
        let tags = |t: &[&str]| t.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            Criticality::from_tags(&tags(&["prod", "criticality:high"])),
            C::High
        );
        assert_eq!(Criticality::from_tags(&tags(&["criticality=low"])), C::Low);
        assert_eq!(
            Criticality::from_tags(&tags(&["criticality:weird"])),
            C::Medium
        );
        assert_eq!(Criticality::from_tags(&[]), C::Medium);
    }
}
