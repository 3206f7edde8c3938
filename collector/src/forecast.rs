//! When a series reaches a limit, by the least-squares line through its
//! recent history; the one forecast behind the `forecast` incident rules
//! and the capacity report, so both give the same date for a series.
//!
//! A [`Trend`] keeps the least-squares sums of a sliding window in a fixed
//! number of buckets, however often the series is sampled; the incident
//! engine persists it between samples, the capacity report fills one from
//! the stored hourly rollups ([`Trend::of_hours`]) or points. [`Trend::fit`] gives the line ([`Fit`]), with its
//! fit quality, and [`Fit::outlook`] what it says of a limit ([`Outlook`]).
//!
//! # Fit quality
//! R² is the share of the variation of the buckets' averages (each
//! weighted by its samples) that the line explains: 1 for a series that
//! follows a line, near 0 for one that jumps about whatever its slope.
//! It is computed from the bucket sums alone (the sums of squared values
//! are not kept), so noise within a bucket, which averages out over the
//! window, does not count against the trend; swings from bucket to bucket
//! do. A series whose line explains less than the minimum is "not a trend"
//! and gives no date.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::records::rollup::Rollup;

/// Buckets a window is summed in: the window moves a bucket at a time.
pub const TREND_BUCKETS: i64 = 24;

/// The fit quality under which a growing line is not called a trend.
pub const DEFAULT_MIN_R2: f64 = 0.5;

const MS_PER_SECOND: i64 = 1000;
const HOUR_MS: i64 = 3_600_000;
const MS_PER_DAY: f64 = 86_400_000.0;

/// Least-squares sums of a series over a sliding window, in buckets so the
/// memory stays fixed however often the series is sampled. Times within a
/// bucket are seconds from its start, so the sums keep their precision.
// The incident engine persists this (postcard): fields and their order
// are part of the stored engine state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    bucket_ms: i64,
    /// The first sample still in the window (to the bucket, once buckets were dropped).
    since: i64,
    buckets: VecDeque<Bucket>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Bucket {
    start: i64,
    n: u32,
    sum_t: f64,
    sum_v: f64,
    sum_tt: f64,
    sum_tv: f64,
}

/// A fitted line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    /// The line's value at the time it was fitted for.
    pub now_value: f64,
    /// Growth per second (negative: shrinking).
    pub slope_per_second: f64,
    /// Fit quality, 0 to 1 (see the module documentation).
    pub r2: f64,
}

/// What a line says of a limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outlook {
    /// The line is at or past the limit already.
    Full,
    /// The line reaches the limit in this many ms.
    FullIn(i64),
    /// The line is flat or falls.
    NotGrowing,
    /// The line grows, but explains too little of the series to be believed.
    NotATrend,
}

impl Fit {
    /// Seconds until the line reaches `limit`: 0 when there, `None` when it never does.
    pub fn eta_seconds(&self, limit: f64) -> Option<f64> {
        if self.now_value >= limit {
            return Some(0.0);
        }
        if self.slope_per_second <= 0.0 {
            return None;
        }
        Some((limit - self.now_value) / self.slope_per_second)
    }

    /// Growth per day.
    pub fn per_day(&self) -> f64 {
        self.slope_per_second * 86_400.0
    }

    /// What the line says of `limit`, believing a growing line only when
    /// its R² is at least `min_r2`.
    pub fn outlook(&self, limit: f64, min_r2: f64) -> Outlook {
        if self.now_value >= limit {
            return Outlook::Full;
        }
        if self.slope_per_second <= 0.0 {
            return Outlook::NotGrowing;
        }
        if self.r2 < min_r2 {
            return Outlook::NotATrend;
        }
        match self.eta_seconds(limit) {
            // Capped so that adding it to a time cannot overflow.
            Some(eta) => Outlook::FullIn((eta * 1000.0).min(i64::MAX as f64 / 4.0) as i64),
            None => Outlook::NotGrowing,
        }
    }
}

impl Outlook {
    /// When the limit is reached, for a line fitted at `t` (ms); `None` when it is not.
    pub fn full_at(self, t: i64) -> Option<i64> {
        match self {
            Outlook::Full => Some(t),
            Outlook::FullIn(ms) => Some(t.saturating_add(ms)),
            Outlook::NotGrowing | Outlook::NotATrend => None,
        }
    }

    /// Days from `now` to when the limit is reached (0 when already
    /// there), for a line fitted at `t`.
    pub fn days_from(self, t: i64, now: i64) -> Option<f64> {
        self.full_at(t)
            .map(|at| (at.saturating_sub(now) as f64 / MS_PER_DAY).max(0.0))
    }
}

impl Trend {
    /// An empty trend for a window of `window_ms`.
    pub fn new(window_ms: i64) -> Self {
        Self {
            bucket_ms: (window_ms / TREND_BUCKETS).max(MS_PER_SECOND),
            since: 0,
            buckets: VecDeque::new(),
        }
    }

    /// A trend of `points` (ms, value), oldest first, as the engine would
    /// have it after being fed them one by one.
    pub fn of_points(points: impl IntoIterator<Item = (i64, f64)>, window_ms: i64) -> Self {
        let mut trend = Self::new(window_ms);
        for (t, v) in points {
            trend.add(t, v, window_ms);
        }
        trend
    }

    /// The width of the buckets the window is summed in, ms.
    pub fn bucket_ms(&self) -> i64 {
        self.bucket_ms
    }

    /// How far back from the newest point a trend of `window_ms` may still
    /// hold points: a reader that gives it everything since then gives it
    /// all it keeps.
    pub fn reach_ms(window_ms: i64) -> i64 {
        window_ms.saturating_add(Self::new(window_ms).bucket_ms)
    }

    /// A trend of hourly rollups `(bucket start, rollup)`, oldest first,
    /// each taken as its `count` points at their mean time, for a series
    /// whose raw points are too many to read (a fleet's report) or no
    /// longer kept.
    ///
    /// The mean time is exact for points evenly spaced through the hour
    /// (one point, every 10 s, every 30 minutes...): the first is put at
    /// the last one's time less `count - 1` spacings of an hour over
    /// `count`, not before the hour starts. A line through hourly
    /// averages is then the line through the points themselves when the
    /// series is straight within each hour; an hour of one point (as a
    /// series sampled hourly has) adds exactly what [`Trend::add`] adds,
    /// so such a series gives the trend it gives fed point by point.
    pub fn of_hours<'r>(
        hours: impl IntoIterator<Item = (i64, &'r Rollup)>,
        window_ms: i64,
    ) -> Self {
        let mut trend = Self::new(window_ms);
        for (bucket, r) in hours {
            if r.count == 0 || !r.sum.is_finite() {
                continue;
            }
            let spacing = HOUR_MS / i64::try_from(r.count).unwrap_or(i64::MAX);
            let spread = spacing.saturating_mul(i64::try_from(r.count - 1).unwrap_or(i64::MAX));
            let first = r.last_at.saturating_sub(spread).max(bucket).min(r.last_at);
            let mean_t = first + (r.last_at - first) / 2;
            let n = u32::try_from(r.count).unwrap_or(u32::MAX);
            trend.add_many(mean_t, n, r.sum, window_ms);
        }
        trend
    }

    /// The trend of `a + b·v` for the values `v` this one holds: a
    /// percentage derived from a stored amount (memory used, from memory
    /// available and its total) is fitted from the amount's sums. The
    /// line maps the same way and its fit quality is unchanged (for `b ≠ 0`).
    pub fn affine(&self, a: f64, b: f64) -> Trend {
        let mut out = self.clone();
        for k in &mut out.buckets {
            let n = f64::from(k.n);
            k.sum_v = n * a + b * k.sum_v;
            k.sum_tv = a * k.sum_t + b * k.sum_tv;
        }
        out
    }

    /// Adds a point at `t` (ms); points older than the window are let go.
    pub fn add(&mut self, t: i64, v: f64, window_ms: i64) {
        self.add_many(t, 1, v, window_ms);
    }

    /// Adds `n` points at `t` (ms) whose values sum to `sum`.
    fn add_many(&mut self, t: i64, n: u32, sum: f64, window_ms: i64) {
        while self
            .buckets
            .front()
            .is_some_and(|b| b.start.saturating_add(self.bucket_ms) <= t.saturating_sub(window_ms))
        {
            self.buckets.pop_front();
        }
        match self.buckets.front() {
            // After a gap longer than the window, history starts again here.
            None => self.since = t,
            Some(front) => self.since = self.since.max(front.start),
        }
        let start = t.saturating_sub(t.rem_euclid(self.bucket_ms));
        let dt = t.saturating_sub(start) as f64 / 1000.0;
        if self.buckets.back().is_none_or(|b| b.start < start) {
            self.buckets.push_back(Bucket {
                start,
                n: 0,
                sum_t: 0.0,
                sum_v: 0.0,
                sum_tt: 0.0,
                sum_tv: 0.0,
            });
        }
        if let Some(b) = self.buckets.back_mut().filter(|b| b.start == start) {
            // With n = 1 these are the sums of one point, to the bit.
            let weight = f64::from(n);
            b.n = b.n.saturating_add(n);
            b.sum_t += weight * dt;
            b.sum_v += sum;
            b.sum_tt += weight * dt * dt;
            b.sum_tv += dt * sum;
        }
    }

    /// The least-squares line through the window, once it spans at least a
    /// quarter of the window (a few hours of data say little about days).
    pub fn fit(&self, now: i64, window_ms: i64) -> Option<Fit> {
        let last = self.buckets.back()?;
        if now.saturating_sub(self.since) < window_ms / 4 {
            return None;
        }
        let reference = last.start;
        let offset = |b: &Bucket| b.start.saturating_sub(reference) as f64 / 1000.0;
        let (mut n, mut st, mut sv, mut stt, mut stv) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for b in &self.buckets {
            let off = offset(b);
            let bn = f64::from(b.n);
            n += bn;
            st += bn * off + b.sum_t;
            sv += b.sum_v;
            stt += bn * off * off + 2.0 * off * b.sum_t + b.sum_tt;
            stv += off * b.sum_v + b.sum_tv;
        }
        if n < 3.0 {
            return None;
        }
        let mean_t = st / n;
        let mean_v = sv / n;
        let sxx = stt - n * mean_t * mean_t;
        let sxy = stv - n * mean_t * mean_v;
        if sxx <= 0.0 {
            return None;
        }
        // A flat series sums to a slope of rounding noise: a growth that
        // would not change its value's digits over the window is none.
        let window_seconds = window_ms as f64 / 1000.0;
        let slope = match sxy / sxx {
            s if (s * window_seconds).abs() <= 1e-9 * mean_v.abs().max(1.0) => 0.0,
            s => s,
        };
        let line = |t: f64| mean_v + slope * (t - mean_t);
        let (mut ss_tot, mut ss_res) = (0.0, 0.0);
        for b in self.buckets.iter().filter(|b| b.n > 0) {
            let bn = f64::from(b.n);
            let average = b.sum_v / bn;
            let at = offset(b) + b.sum_t / bn;
            ss_tot += bn * (average - mean_v).powi(2);
            ss_res += bn * (average - line(at)).powi(2);
        }
        // Averages all alike: a flat line describes them fully.
        let r2 = if ss_tot > f64::EPSILON * n * mean_v.abs().max(1.0).powi(2) {
            (1.0 - ss_res / ss_tot).clamp(0.0, 1.0)
        } else {
            1.0
        };
        let now_t = now.saturating_sub(reference) as f64 / 1000.0;
        let fit = Fit {
            now_value: line(now_t),
            slope_per_second: slope,
            r2,
        };
        (fit.now_value.is_finite() && fit.slope_per_second.is_finite()).then_some(fit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn trend_fits_a_line_exactly_and_forgets_the_old() {
        let window = 72 * HOUR;
        let mut trend = Trend::new(window);
        // 1 unit per hour, sampled every 10 minutes for 4 days.
        let mut t = 0;
        while t <= 96 * HOUR {
            trend.add(t, 10.0 + t as f64 / HOUR as f64, window);
            t += 600_000;
        }
        let now = 96 * HOUR;
        let fit = trend.fit(now, window).unwrap();
        assert!(
            (fit.slope_per_second * 3600.0 - 1.0).abs() < 1e-9,
            "{fit:?}"
        );
        assert!((fit.now_value - 106.0).abs() < 1e-6, "{fit:?}");
        assert!((fit.r2 - 1.0).abs() < 1e-9, "{fit:?}");
        assert!((fit.eta_seconds(110.0).unwrap() - 4.0 * 3600.0).abs() < 1e-3);
        assert_eq!(fit.eta_seconds(100.0), Some(0.0));
        assert!(trend.buckets.len() <= 25, "{}", trend.buckets.len());
        // After a silence longer than the window, history starts again.
        let later = now + 5 * window;
        trend.add(later, 50.0, window);
        assert_eq!(trend.buckets.len(), 1);
        assert_eq!(trend.since, later);
        assert_eq!(trend.fit(later, window), None);
        // Too short a history gives no forecast.
        let mut short = Trend::new(window);
        short.add(0, 1.0, window);
        short.add(HOUR, 2.0, window);
        short.add(2 * HOUR, 3.0, window);
        assert_eq!(short.fit(2 * HOUR, window), None);
    }

    #[test]
    fn a_reader_from_the_reach_rebuilds_the_fed_trend() {
        let window = 72 * HOUR;
        let points: Vec<(i64, f64)> = (0..2000)
            .map(|i| (i * 397_000, 20.0 + (i % 37) as f64 * 0.1 + i as f64 * 0.01))
            .collect();
        let fed = Trend::of_points(points.iter().copied(), window);
        let last = points.last().unwrap().0;
        let recent = points
            .iter()
            .copied()
            .filter(|p| p.0 > last - Trend::reach_ms(window));
        let read = Trend::of_points(recent, window);
        assert_eq!(fed.buckets, read.buckets);
        assert_eq!(fed.fit(last, window), read.fit(last, window));
    }

    /// The hourly rollups of `points`, as the store keeps them.
    fn hourly(points: &[(i64, f64)]) -> std::collections::BTreeMap<i64, Rollup> {
        let mut hours = std::collections::BTreeMap::new();
        for &(t, v) in points {
            hours
                .entry(t.div_euclid(HOUR) * HOUR)
                .and_modify(|r: &mut Rollup| r.add(t, v))
                .or_insert_with(|| Rollup::of(t, v));
        }
        hours
    }

    #[test]
    fn hourly_samples_give_the_fed_trend_from_their_rollups() {
        let window = 72 * HOUR;
        // One sample an hour, off the hour, for five days.
        let t0 = 1_800_000_123_457;
        let points: Vec<(i64, f64)> = (0..120)
            .map(|h| (t0 + h * HOUR, 40.0 + 0.25 * h as f64 + (h % 5) as f64 * 0.1))
            .collect();
        let fed = Trend::of_points(points.iter().copied(), window);
        let hours = hourly(&points);
        let read = Trend::of_hours(hours.iter().map(|(b, r)| (*b, r)), window);
        assert_eq!(fed, read);
        let now = t0 + 120 * HOUR;
        assert_eq!(fed.fit(now, window), read.fit(now, window));
    }

    #[test]
    fn ten_second_samples_from_hourly_rollups_are_dated_within_minutes() {
        let window = 72 * HOUR;
        // Every 10 s for four days, 6 points a day, with noise within the hour.
        let t0 = 1_800_000_004_321;
        let points: Vec<(i64, f64)> = (0..4 * 8640)
            .map(|i| {
                let t = t0 + i * 10_000;
                let noise = ((i * 7919) % 101) as f64 / 100.0 - 0.5;
                (t, 40.0 + 6.0 * (t - t0) as f64 / 86_400_000.0 + noise)
            })
            .collect();
        let last = points.last().unwrap().0;
        let fed = Trend::of_points(points.iter().copied(), window);
        let hours = hourly(&points);
        let read = Trend::of_hours(hours.iter().map(|(b, r)| (*b, r)), window);
        let (a, b) = (
            fed.fit(last, window).unwrap(),
            read.fit(last, window).unwrap(),
        );
        assert!((a.per_day() - b.per_day()).abs() < 0.01, "{a:?} {b:?}");
        let full = |f: Fit| f.outlook(100.0, DEFAULT_MIN_R2).full_at(last).unwrap();
        let apart = (full(a) - full(b)).abs();
        assert!(apart < 10 * 60_000, "{apart} ms apart: {a:?} {b:?}");
        // The newest hour, partly filled, is placed at its points' middle.
        let newest = Trend::of_hours(hours.iter().rev().take(1).map(|(b, r)| (*b, r)), window);
        let b = newest.buckets.back().unwrap();
        let mean = points
            .iter()
            .rev()
            .take(b.n as usize)
            .map(|p| p.0)
            .sum::<i64>()
            / i64::from(b.n);
        let got = b.start + (b.sum_t / f64::from(b.n) * 1000.0) as i64;
        assert!((got - mean).abs() <= 10_000, "{got} vs {mean}");
    }

    #[test]
    fn an_affine_trend_fits_the_affine_line() {
        let window = 24 * HOUR_MS;
        let mut trend = Trend::new(window);
        for i in 0..200 {
            let t = 1_800_000_000_000 + i * 600_000;
            let noise = ((i * 7919) % 13) as f64 * 1e6;
            trend.add(t, 8e9 - 2e5 * i as f64 + noise, window);
        }
        let now = 1_800_000_000_000 + 200 * 600_000;
        let fit = trend.fit(now, window).unwrap();
        let (a, b) = (100.0, -100.0 / 16e9);
        let mapped = trend.affine(a, b).fit(now, window).unwrap();
        assert!(
            (mapped.now_value - (a + b * fit.now_value)).abs() < 1e-9,
            "{mapped:?}"
        );
        assert!(
            (mapped.slope_per_second - b * fit.slope_per_second).abs() < 1e-15,
            "{mapped:?}"
        );
        assert!((mapped.r2 - fit.r2).abs() < 1e-9, "{mapped:?} {fit:?}");
    }

    #[test]
    fn outlook_dates_a_believable_growth_only() {
        let line = |slope_per_day: f64, r2: f64| Fit {
            now_value: 60.0,
            slope_per_second: slope_per_day / 86_400.0,
            r2,
        };
        let grows = line(4.0, 0.9).outlook(100.0, DEFAULT_MIN_R2);
        assert_eq!(grows, Outlook::FullIn(10 * 86_400_000));
        assert_eq!(grows.full_at(5), Some(5 + 10 * 86_400_000));
        assert_eq!(grows.days_from(0, 86_400_000), Some(9.0));
        assert_eq!(
            line(4.0, 0.2).outlook(100.0, DEFAULT_MIN_R2),
            Outlook::NotATrend
        );
        assert_eq!(
            line(-1.0, 1.0).outlook(100.0, DEFAULT_MIN_R2),
            Outlook::NotGrowing
        );
        assert_eq!(line(0.0, 0.0).outlook(50.0, DEFAULT_MIN_R2), Outlook::Full);
        assert_eq!(Outlook::NotATrend.full_at(0), None);
        // A line growing by almost nothing does not overflow a date.
        let slow = line(1e-300, 1.0).outlook(100.0, 0.5);
        assert!(slow.full_at(i64::MAX - 1).is_some());
    }

    #[test]
    fn swings_between_buckets_are_not_a_trend() {
        let window = 72 * HOUR;
        // Hourly, jumping between 20 % and 70 % every few hours, drifting up a little.
        let points = (0..=72).map(|h| {
            let jump = if (h * 7 + h / 5) % 3 == 0 { 50.0 } else { 0.0 };
            (h * HOUR, 20.0 + jump + h as f64 * 0.05)
        });
        let trend = Trend::of_points(points, window);
        let fit = trend.fit(72 * HOUR, window).unwrap();
        assert!(fit.r2 < DEFAULT_MIN_R2, "{fit:?}");
        // A flat series is described fully by its (flat) line, whatever
        // the rounding of the sums.
        let flat = Trend::of_points((0..=72).map(|h| (h * HOUR + 7, 50.0)), window);
        let fit = flat.fit(72 * HOUR, window).unwrap();
        assert_eq!((fit.slope_per_second, fit.r2), (0.0, 1.0));
        assert_eq!(fit.outlook(100.0, DEFAULT_MIN_R2), Outlook::NotGrowing);
    }
}
