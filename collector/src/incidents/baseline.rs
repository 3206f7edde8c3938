//! A series' own usual level, for rules that fire when a value is far
//! above it (a probe's round trip well above what it normally is).
//!
//! The baseline is the median of the hourly medians of the series over a
//! window (24 hours by default): each hour's median ignores the odd slow
//! probe, and the median of the hours ignores a few bad hours, so an
//! incident an hour long does not lift the level it is measured against.
//! A level that stays up for more than half the window becomes the new
//! normal and the incident clears: the rule finds changes, not levels
//! (a threshold rule watches levels).
//!
//! The engine seeds a baseline from the series' stored points when it
//! first meets the series (after a start, or when the rule appears), then
//! keeps it from the points it is fed. Per series it keeps one number per
//! past hour and at most [`KEEP_PER_HOUR`] values of the current hour.

use std::collections::VecDeque;

/// One hour, ms.
pub const HOUR_MS: i64 = 3_600_000;
/// Values of the current hour kept for its median; beyond it every
/// other one is dropped, which keeps the hour's spread.
pub const KEEP_PER_HOUR: usize = 64;

/// The hourly medians of a series and the values of its current hour.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Baseline {
    /// `(hour start ms, median)`, oldest first.
    hours: VecDeque<(i64, f32)>,
    /// The current hour's start and values.
    current: Option<(i64, Vec<f32>)>,
}

impl Baseline {
    /// A baseline of `points` (`(ms, value)`, in time order).
    pub fn from_points(points: &[(i64, f64)], window_hours: u64) -> Self {
        let mut b = Baseline::default();
        for &(t, v) in points {
            b.add(t, v, window_hours);
        }
        b
    }

    /// Adds a value at `t` (ms); values older than the current hour are
    /// ignored.
    pub fn add(&mut self, t: i64, value: f64, window_hours: u64) {
        if !value.is_finite() {
            return;
        }
        let hour = t.div_euclid(HOUR_MS) * HOUR_MS;
        match &mut self.current {
            Some((start, values)) if *start == hour => {
                if values.len() >= KEEP_PER_HOUR {
                    let mut i = 0;
                    values.retain(|_| {
                        i += 1;
                        i % 2 == 0
                    });
                }
                values.push(value as f32);
            }
            Some((start, _)) if *start > hour => {}
            _ => {
                if let Some((start, mut values)) = self.current.take()
                    && let Some(m) = median(&mut values)
                {
                    self.hours.push_back((start, m));
                }
                self.current = Some((hour, vec![value as f32]));
            }
        }
        let oldest = hour - i64::try_from(window_hours).unwrap_or(i64::MAX / HOUR_MS) * HOUR_MS;
        while self.hours.front().is_some_and(|(s, _)| *s < oldest) {
            self.hours.pop_front();
        }
    }

    /// The level at `t`: the median of the hourly medians of the finished
    /// hours within `window_hours` before `t`; `None` with fewer than
    /// `min_hours` of them.
    pub fn level(&self, t: i64, window_hours: u64, min_hours: u64) -> Option<f64> {
        let oldest = t - i64::try_from(window_hours).unwrap_or(i64::MAX / HOUR_MS) * HOUR_MS;
        let mut medians: Vec<f32> = self
            .hours
            .iter()
            .filter(|(s, _)| *s + HOUR_MS > oldest && *s < t)
            .map(|(_, m)| *m)
            .collect();
        if (medians.len() as u64) < min_hours.max(1) {
            return None;
        }
        median(&mut medians).map(f64::from)
    }
}

/// The median of `values` (reordered); the mean of the middle two for an
/// even count.
fn median(values: &mut [f32]) -> Option<f32> {
    values.sort_by(f32::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        n if n % 2 == 1 => values.get(n / 2).copied(),
        n => Some((values.get(n / 2 - 1)? + values.get(n / 2)?) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_level_is_the_median_of_hourly_medians() {
        let mut b = Baseline::default();
        // Six hours at 10 ms with one slow probe each, and one bad hour at 200 ms.
        for h in 0..7 {
            let usual = if h == 3 { 200.0 } else { 10.0 };
            for m in 0..60 {
                let v = if m == 30 { 500.0 } else { usual };
                b.add(h * HOUR_MS + m * 60_000, v, 24);
            }
        }
        // The seventh hour is still open: six finished hours.
        assert_eq!(b.level(7 * HOUR_MS - 1, 24, 6), Some(10.0));
        assert_eq!(b.level(7 * HOUR_MS - 1, 24, 7), None, "not enough history");
    }

    #[test]
    fn old_hours_leave_the_window_and_late_values_are_ignored() {
        let mut b = Baseline::from_points(&[(0, 5.0), (HOUR_MS, 6.0)], 2);
        b.add(10 * HOUR_MS, 50.0, 2);
        b.add(HOUR_MS, 1000.0, 2);
        assert_eq!(b.hours.len(), 0, "hours 0 and 1 are older than the window");
        b.add(11 * HOUR_MS, 60.0, 2);
        assert_eq!(b.level(11 * HOUR_MS + 1, 2, 1), Some(50.0));
    }

    #[test]
    fn a_busy_hour_keeps_a_bounded_sample() {
        let mut b = Baseline::default();
        for i in 0..10_000 {
            b.add(i, f64::from(i32::try_from(i % 100).unwrap_or(0)), 24);
        }
        let kept = b.current.as_ref().map_or(0, |(_, v)| v.len());
        assert!(kept <= KEEP_PER_HOUR + 1, "{kept}");
    }
}
