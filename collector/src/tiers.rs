//! Metric queries over storage tiers, as pure logic: which tier answers a
//! range and step ([`choose`]), how raw points or rollups become one value
//! per step ([`from_raw`], [`from_rollups`]), and the fleet ranking of
//! `atalaya top` ([`top`]). It is fed what the store read; it knows no
//! database.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::records::rollup::{Aggregation, Rollup, Tier};

/// A range at most this long (ms) is answered from raw points whenever
/// they cover it: exact, and cheap to read.
pub const RAW_SPAN_MS: i64 = 2 * 86_400_000;

/// Where each tier's data start (ms), as retention left them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Starts {
    /// Raw points.
    pub raw: i64,
    /// 5-minute rollups.
    pub five_minutes: i64,
    /// 1-hour and 1-day rollups.
    pub one_hour: i64,
}

impl Starts {
    fn of(&self, tier: Tier) -> i64 {
        match tier {
            Tier::Raw => self.raw,
            Tier::FiveMinutes => self.five_minutes,
            Tier::OneHour | Tier::OneDay => self.one_hour,
        }
    }
}

/// The tier that answers `[from, to]` at `step` (ms; `None`: every point).
///
/// Raw points when they reach back to `from` and either no step coarser
/// than 5 minutes is asked or the range is short ([`RAW_SPAN_MS`]).
/// Otherwise the coarsest rollup tier whose buckets fit the step evenly
/// and still reach back to `from`; failing that, the finest tier that
/// does, and failing that too, the 1-day rollups (the longest kept).
pub fn choose(from: i64, to: i64, step: Option<i64>, starts: &Starts) -> Tier {
    let covers = |tier: Tier| from >= starts.of(tier);
    let step = step.filter(|s| *s > 0);
    let fine = step.is_none_or(|s| s < Tier::FiveMinutes.bucket_ms());
    if covers(Tier::Raw) && (fine || to.saturating_sub(from) <= RAW_SPAN_MS) {
        return Tier::Raw;
    }
    let rollups = [Tier::FiveMinutes, Tier::OneHour, Tier::OneDay];
    if let Some(step) = step
        && let Some(t) = rollups
            .iter()
            .rev()
            .find(|t| t.bucket_ms() <= step && step % t.bucket_ms() == 0 && covers(**t))
    {
        return *t;
    }
    rollups
        .into_iter()
        .find(|t| covers(*t))
        .unwrap_or(Tier::OneDay)
}

/// The window of `ts` for windows of `step` from `from`.
fn window(ts: i64, from: i64, step: i64) -> i64 {
    from.saturating_add(
        ts.saturating_sub(from)
            .div_euclid(step)
            .saturating_mul(step),
    )
}

/// Raw points (oldest first) as the answer: the points themselves without
/// a step (their rate between neighbours for [`Aggregation::Rate`]), else
/// one value per step-long window from `from`, exact.
pub fn from_raw(
    points: &[(i64, f64)],
    from: i64,
    step: Option<i64>,
    agg: Aggregation,
) -> Vec<(i64, f64)> {
    let Some(step) = step.filter(|s| *s > 0) else {
        if agg == Aggregation::Rate {
            return rates(points.iter().map(|&(t, v)| (t, t, v)));
        }
        return points.to_vec();
    };
    let mut windows: BTreeMap<i64, Vec<(i64, f64)>> = BTreeMap::new();
    for &(t, v) in points {
        windows
            .entry(window(t, from, step))
            .or_default()
            .push((t, v));
    }
    if agg == Aggregation::Rate {
        return rates(windows.iter().filter_map(|(w, pts)| {
            let (t, v) = latest(pts)?;
            Some((*w, t, v))
        }));
    }
    windows
        .into_iter()
        .filter_map(|(w, pts)| Some((w, exact(&pts, agg)?)))
        .collect()
}

/// The latest point; of several at one time, the last given.
fn latest(points: &[(i64, f64)]) -> Option<(i64, f64)> {
    points
        .iter()
        .copied()
        .reduce(|a, b| if b.0 >= a.0 { b } else { a })
}

/// An aggregation of points, exactly (quantiles by rank, as the sketch
/// defines them).
fn exact(points: &[(i64, f64)], agg: Aggregation) -> Option<f64> {
    let values = points.iter().map(|p| p.1);
    match agg {
        Aggregation::Avg => {
            let n = points.len();
            (n > 0).then(|| values.sum::<f64>() / n as f64)
        }
        Aggregation::Min => values.reduce(f64::min),
        Aggregation::Max => values.reduce(f64::max),
        Aggregation::Last => latest(points).map(|p| p.1),
        Aggregation::P50 | Aggregation::P95 | Aggregation::P99 => {
            let q = agg.quantile()?;
            let mut sorted: Vec<f64> = values.collect();
            sorted.sort_by(f64::total_cmp);
            let rank = (q * sorted.len().checked_sub(1)? as f64).floor() as usize;
            sorted.get(rank).copied()
        }
        Aggregation::Rate => None,
    }
}

/// Per second growth from each `(stamp, time, value)` to the next, stamped
/// with the later one; a fall (a counter reset) or no time between gives
/// no value.
fn rates(items: impl Iterator<Item = (i64, i64, f64)>) -> Vec<(i64, f64)> {
    let mut out = Vec::new();
    let mut prev: Option<(i64, f64)> = None;
    for (stamp, t, v) in items {
        if let Some((pt, pv)) = prev
            && t > pt
            && v >= pv
        {
            out.push((stamp, (v - pv) * 1000.0 / (t - pt) as f64));
        }
        prev = Some((t, v));
    }
    out
}

/// Adds raw points not rolled up yet (those of open blocks) to rollups of
/// `tier`, by bucket.
pub fn fold_points(tier: Tier, rollups: &mut BTreeMap<i64, Rollup>, points: &[(i64, f64)]) {
    for &(t, v) in points {
        rollups
            .entry(tier.bucket_of(t))
            .and_modify(|r| r.add(t, v))
            .or_insert_with(|| Rollup::of(t, v));
    }
}

/// Rollups of one tier (by bucket start) as the answer: one value per
/// step-long window from `from` (a bucket counts in the window it starts
/// in), or per bucket without a step.
pub fn from_rollups(
    rollups: &BTreeMap<i64, Rollup>,
    tier: Tier,
    from: i64,
    step: Option<i64>,
    agg: Aggregation,
) -> Vec<(i64, f64)> {
    let step = step
        .filter(|s| *s > 0)
        .unwrap_or(tier.bucket_ms())
        .max(tier.bucket_ms())
        .max(1);
    let mut windows: BTreeMap<i64, Rollup> = BTreeMap::new();
    for (&bucket, r) in rollups {
        windows
            .entry(window(bucket.max(from), from, step))
            .and_modify(|w| w.merge(r))
            .or_insert_with(|| r.clone());
    }
    if agg == Aggregation::Rate {
        return rates(windows.iter().map(|(w, r)| (*w, r.last_at, r.last)));
    }
    windows
        .into_iter()
        .filter_map(|(w, r)| Some((w, r.value(agg)?)))
        .collect()
}

/// One series of one asset in a fleet ranking.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    /// Asset id.
    pub asset: String,
    /// Full series name.
    pub series: String,
    /// The value it is ranked by.
    pub value: f64,
}

/// The `limit` highest of `candidates` by value, highest first (ties by
/// asset, then series, for a stable answer). Candidates without a value
/// are left out by the caller.
pub fn top(mut candidates: Vec<Ranked>, limit: usize) -> Vec<Ranked> {
    candidates.retain(|c| !c.value.is_nan());
    candidates.sort_by(|a, b| {
        b.value
            .partial_cmp(&a.value)
            .unwrap_or(Ordering::Equal)
            .then_with(|| a.asset.cmp(&b.asset))
            .then_with(|| a.series.cmp(&b.series))
    });
    candidates.truncate(limit);
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;
    const NOW: i64 = 1_800_000_000_000;

    fn starts(raw_days: i64, five_days: i64) -> Starts {
        Starts {
            raw: NOW - raw_days * DAY,
            five_minutes: NOW - five_days * DAY,
            one_hour: i64::MIN,
        }
    }

    #[test]
    fn raw_answers_when_it_covers_the_range_and_the_step_is_fine_or_the_range_short() {
        let s = starts(14, 400);
        assert_eq!(choose(NOW - 3_600_000, NOW, None, &s), Tier::Raw);
        assert_eq!(choose(NOW - 7 * DAY, NOW, Some(60_000), &s), Tier::Raw);
        assert_eq!(choose(NOW - DAY, NOW, Some(3_600_000), &s), Tier::Raw);
        assert_eq!(
            choose(NOW - 7 * DAY, NOW, Some(3_600_000), &s),
            Tier::OneHour
        );
        assert_eq!(
            choose(NOW - 7 * DAY, NOW, Some(600_000), &s),
            Tier::FiveMinutes
        );
        assert_eq!(choose(NOW - 365 * DAY, NOW, Some(DAY), &s), Tier::OneDay);
        // A step that is no multiple of an hour: the 5-minute buckets fit it.
        assert_eq!(
            choose(NOW - 30 * DAY, NOW, Some(5_400_000), &s),
            Tier::FiveMinutes
        );
        // Past the raw points, even at a fine step.
        assert_eq!(choose(NOW - 30 * DAY, NOW, None, &s), Tier::FiveMinutes);
        // Past the 5-minute rollups too.
        assert_eq!(
            choose(NOW - 500 * DAY, NOW, Some(600_000), &s),
            Tier::OneHour
        );
        let nothing = Starts {
            raw: NOW,
            five_minutes: NOW,
            one_hour: NOW,
        };
        assert_eq!(choose(NOW - DAY, NOW, None, &nothing), Tier::OneDay);
    }

    #[test]
    fn raw_windows_are_exact() {
        let points: Vec<(i64, f64)> = (0..10).map(|i| (i * 1000, i as f64)).collect();
        let at = |agg| from_raw(&points, 0, Some(5000), agg);
        assert_eq!(at(Aggregation::Avg), vec![(0, 2.0), (5000, 7.0)]);
        assert_eq!(at(Aggregation::Min), vec![(0, 0.0), (5000, 5.0)]);
        assert_eq!(at(Aggregation::Max), vec![(0, 4.0), (5000, 9.0)]);
        assert_eq!(at(Aggregation::Last), vec![(0, 4.0), (5000, 9.0)]);
        assert_eq!(at(Aggregation::P50), vec![(0, 2.0), (5000, 7.0)]);
        assert_eq!(at(Aggregation::Rate), vec![(5000, 1.0)]);
        assert_eq!(from_raw(&points, 0, None, Aggregation::Avg), points);
        let counter = [(0, 10.0), (1000, 20.0), (2000, 5.0), (4000, 9.0)];
        assert_eq!(
            from_raw(&counter, 0, None, Aggregation::Rate),
            vec![(1000, 10.0), (4000, 2.0)]
        );
    }

    #[test]
    fn rollup_windows_merge_buckets_and_take_open_points() {
        let mut rollups = BTreeMap::new();
        for i in 0..24 {
            let bucket = i * 300_000;
            let mut r = Rollup::of(bucket, i as f64);
            r.add(bucket + 60_000, i as f64 + 0.5);
            rollups.insert(bucket, r);
        }
        fold_points(
            Tier::FiveMinutes,
            &mut rollups,
            &[(24 * 300_000 + 5, 100.0)],
        );
        let hourly = from_rollups(
            &rollups,
            Tier::FiveMinutes,
            0,
            Some(3_600_000),
            Aggregation::Max,
        );
        assert_eq!(
            hourly,
            vec![(0, 11.5), (3_600_000, 23.5), (7_200_000, 100.0)]
        );
        let per_bucket = from_rollups(&rollups, Tier::FiveMinutes, 0, None, Aggregation::Min);
        assert_eq!(per_bucket.len(), 25);
        assert_eq!(per_bucket[3], (900_000, 3.0));
        let rate = from_rollups(
            &rollups,
            Tier::FiveMinutes,
            0,
            Some(3_600_000),
            Aggregation::Rate,
        );
        assert_eq!(rate.len(), 2);
        assert!((rate[0].1 - 12.0 / 3600.0).abs() < 1e-12, "{rate:?}");
    }

    #[test]
    fn top_keeps_the_highest_in_a_stable_order() {
        let r = |asset: &str, value| Ranked {
            asset: asset.into(),
            series: "s".into(),
            value,
        };
        let got = top(
            vec![
                r("b", 1.0),
                r("a", 3.0),
                r("c", 3.0),
                r("d", f64::NAN),
                r("e", 2.0),
            ],
            3,
        );
        let names: Vec<_> = got.iter().map(|x| x.asset.as_str()).collect();
        assert_eq!(names, ["a", "c", "e"]);
    }
}
