//! Metric series read from the store through the tier that answers them:
//! what the JSON API's metric queries and the console's charts share.
//! [`crate::tiers`] decides; this reads what it decided.

use std::collections::BTreeMap;

use atalaya_common::model::Timestamp;

use crate::records::rollup::{Aggregation, Tier};
use crate::store::retention::Bounds;
use crate::store::rollups::RollupRead;
use crate::store::{Store, StoreError};
use crate::tiers::{self, Starts};

/// `(time ms, value)` pairs, oldest first.
pub type Points = Vec<(i64, f64)>;

/// Where each tier's data start, as retention left them.
pub fn starts(b: Bounds) -> Starts {
    Starts {
        raw: b.raw,
        five_minutes: b.five_minutes,
        one_hour: b.one_hour,
    }
}

/// One series of one asset from the tier that answers the range and step,
/// aggregated each way of `aggs` (one list of points per aggregation, in
/// their order, oldest first). The points are read once.
pub fn read_series_aggs(
    s: &Store,
    asset: &str,
    name: &str,
    from: i64,
    to: i64,
    step: Option<i64>,
    aggs: &[Aggregation],
) -> Result<(Tier, Vec<Points>), StoreError> {
    let tier = tiers::choose(from, to, step, &starts(s.retention_bounds()?));
    let out = if tier == Tier::Raw {
        let raw: Vec<(i64, f64)> = s
            .metric(asset, name, Timestamp(from), Timestamp(to), None)?
            .into_iter()
            .map(|(t, v)| (t.0, v))
            .collect();
        aggs.iter()
            .map(|agg| tiers::from_raw(&raw, from, step, *agg))
            .collect()
    } else {
        // The sketches only for a percentile: decoding them costs most.
        let read = RollupRead {
            tier,
            from: tier.bucket_of(from),
            to,
            sketches: aggs.iter().any(|a| a.needs_sketch()),
        };
        let mut rollups: BTreeMap<_, _> = s
            .rollup_reads(asset, name, &[read])?
            .into_iter()
            .next()
            .unwrap_or_default()
            .into_iter()
            .collect();
        // Open blocks are rolled up when they close; their points count now.
        let open = s.open_points(asset, name, Timestamp(from), Timestamp(to))?;
        tiers::fold_points(tier, &mut rollups, &open);
        aggs.iter()
            .map(|agg| tiers::from_rollups(&rollups, tier, from, step, *agg))
            .collect()
    };
    Ok((tier, out))
}

/// One series of one asset from the tier that answers the range and step.
pub fn read_series(
    s: &Store,
    asset: &str,
    name: &str,
    from: i64,
    to: i64,
    step: Option<i64>,
    agg: Aggregation,
) -> Result<(Tier, Vec<(Timestamp, f64)>), StoreError> {
    let (tier, mut lists) = read_series_aggs(s, asset, name, from, to, step, &[agg])?;
    let points = lists.pop().unwrap_or_default();
    Ok((
        tier,
        points.into_iter().map(|(t, v)| (Timestamp(t), v)).collect(),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;
    use crate::store::testutil::{machine, metrics, sample, snapshot, temp_store};

    #[test]
    fn rollups_read_without_sketches_give_the_same_means_and_extremes() {
        let (_d, s) = temp_store();
        let inv = machine("h", Some("u"), "m", "00:aa:00:00:00:01");
        s.commit(&[snapshot("ag", 1, 0, &inv)]).unwrap();
        // Three days, a sample every ten minutes.
        let day = 86_400_000;
        for d in 0..3 {
            let samples = (0..144)
                .map(|i| sample(d * day + i * 600_000, ((d * 144 + i) * 37 % 100) as f64))
                .collect();
            s.commit(&[metrics("ag", 2 + u64::try_from(d).unwrap(), samples)])
                .unwrap();
        }
        let asset = s.agent_asset_id("ag").unwrap().unwrap();
        let read = |aggs: &[Aggregation]| {
            read_series_aggs(
                &s,
                &asset,
                "cpu.total_percent",
                0,
                3 * day,
                Some(3_600_000),
                aggs,
            )
            .unwrap()
        };
        use Aggregation::{Avg, Max, Min, P95};
        let (tier, plain) = read(&[Avg, Min, Max]);
        assert_eq!(tier, Tier::OneHour);
        let (_, with_p95) = read(&[Avg, Min, Max, P95]);
        assert_eq!(plain[..], with_p95[..3]);
        assert_eq!(plain[0].len(), 72);
        // The percentile still comes from the sketches, between the extremes.
        assert_eq!(with_p95[3].len(), 72);
        for ((p, lo), hi) in with_p95[3].iter().zip(&plain[1]).zip(&plain[2]) {
            assert!(lo.1 <= p.1 && p.1 <= hi.1 * 1.01, "{lo:?} {p:?} {hi:?}");
        }
    }
}
