//! Metric series read from the store through the tier that answers them:
//! what the JSON API's metric queries and the console's charts share.
//! [`crate::tiers`] decides; this reads what it decided.

use std::collections::BTreeMap;

use atalaya_common::model::Timestamp;

use crate::records::rollup::{Aggregation, Tier};
use crate::store::retention::Bounds;
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
        let mut rollups: BTreeMap<_, _> = s
            .rollups(asset, name, tier, tier.bucket_of(from), to)?
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
