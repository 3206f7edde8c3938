//! Rollup points: what the store keeps of a series over a 5-minute or
//! 1-hour (or 1-day) bucket once its raw points age out, and the aggregations a
//! query may ask of them.
//!
//! Buckets are of 5 minutes, 1 hour and 1 day ([`Tier`]), aligned on
//! the epoch (UTC days).
//!
//! A [`Rollup`] holds the exact minimum, maximum, sum, count and last
//! value of its bucket and a [`Sketch`] of its values, and merges with
//! another (of an overlapping or adjacent time) into the rollup of both:
//! a bucket whose points arrive in several blocks is built up block by
//! block, and a query's window is the merge of the buckets in it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::helpers::sketch::{Sketch, SketchError, get_varint, put_varint, unzigzag, zigzag};

/// The first byte of every stored rollup point.
pub const FORMAT: u8 = 1;

/// Where a series' points are read from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Every point as stored.
    Raw,
    /// 5-minute rollups.
    #[serde(rename = "5m")]
    FiveMinutes,
    /// 1-hour rollups.
    #[serde(rename = "1h")]
    OneHour,
    /// 1-day rollups, kept as long as the 1-hour ones.
    #[serde(rename = "1d")]
    OneDay,
}

impl Tier {
    /// Every tier, finest first.
    pub const ALL: [Tier; 4] = [Tier::Raw, Tier::FiveMinutes, Tier::OneHour, Tier::OneDay];

    /// Width of a bucket, ms (0 for raw points).
    pub fn bucket_ms(self) -> i64 {
        match self {
            Tier::Raw => 0,
            Tier::FiveMinutes => 300_000,
            Tier::OneHour => 3_600_000,
            Tier::OneDay => 86_400_000,
        }
    }

    /// Start of the bucket holding `ts`.
    pub fn bucket_of(self, ts: i64) -> i64 {
        match self.bucket_ms() {
            0 => ts,
            w => ts.div_euclid(w).saturating_mul(w),
        }
    }

    /// The name used in answers and configuration.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Raw => "raw",
            Tier::FiveMinutes => "5m",
            Tier::OneHour => "1h",
            Tier::OneDay => "1d",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a window of points becomes one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Aggregation {
    /// Mean.
    Avg,
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// Value of the latest point.
    Last,
    /// Median, from the sketch.
    P50,
    /// 95th percentile, from the sketch.
    P95,
    /// 99th percentile, from the sketch.
    P99,
    /// Growth per second of a counter, from the last value of each window
    /// to the next (a counter reset gives no value).
    Rate,
}

impl Aggregation {
    /// Whether it is read from the rollups' sketches (a percentile).
    pub fn needs_sketch(self) -> bool {
        matches!(self, Aggregation::P50 | Aggregation::P95 | Aggregation::P99)
    }

    /// Every aggregation, as named in queries.
    pub const ALL: [Aggregation; 8] = [
        Aggregation::Avg,
        Aggregation::Min,
        Aggregation::Max,
        Aggregation::Last,
        Aggregation::P50,
        Aggregation::P95,
        Aggregation::P99,
        Aggregation::Rate,
    ];

    /// The name used in queries.
    pub fn name(self) -> &'static str {
        match self {
            Aggregation::Avg => "avg",
            Aggregation::Min => "min",
            Aggregation::Max => "max",
            Aggregation::Last => "last",
            Aggregation::P50 => "p50",
            Aggregation::P95 => "p95",
            Aggregation::P99 => "p99",
            Aggregation::Rate => "rate",
        }
    }

    /// The quantile this aggregation reads from a sketch.
    pub fn quantile(self) -> Option<f64> {
        match self {
            Aggregation::P50 => Some(0.5),
            Aggregation::P95 => Some(0.95),
            Aggregation::P99 => Some(0.99),
            _ => None,
        }
    }
}

impl fmt::Display for Aggregation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no aggregation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown aggregation {0:?}: use avg, min, max, last, p50, p95, p99 or rate")]
pub struct UnknownAggregation(pub String);

impl FromStr for Aggregation {
    type Err = UnknownAggregation;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Aggregation::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownAggregation(s.to_owned()))
    }
}

/// Bytes that are not a rollup point.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RollupError {
    /// The first byte names a format this build does not know.
    #[error("rollup point has format {0}, this build reads format {FORMAT}")]
    Format(u8),
    /// The input ends inside a field.
    #[error("rollup point truncated in {0}")]
    Truncated(&'static str),
    /// A field is out of its range.
    #[error("rollup point corrupt: {0}")]
    Invalid(&'static str),
    /// Its sketch does not decode.
    #[error(transparent)]
    Sketch(#[from] SketchError),
}

/// The summary of a series over a bucket; see the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollup {
    /// Points summed up.
    pub count: u64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Sum of the values.
    pub sum: f64,
    /// Time of the latest point, ms.
    pub last_at: i64,
    /// Value of the latest point (of the last one given, among points of
    /// that same time).
    pub last: f64,
    /// The values' distribution.
    pub sketch: Sketch,
}

impl Rollup {
    /// The rollup of one point.
    pub fn of(ts: i64, v: f64) -> Rollup {
        let mut sketch = Sketch::new();
        sketch.add(v);
        Rollup {
            count: 1,
            min: v,
            max: v,
            sum: v,
            last_at: ts,
            last: v,
            sketch,
        }
    }

    /// Adds one point. Points need not come in time order. The same as
    /// merging [`Rollup::of`] the point, without making its sketch.
    pub fn add(&mut self, ts: i64, v: f64) {
        self.count = self.count.saturating_add(1);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sum += v;
        if ts >= self.last_at {
            self.last_at = ts;
            self.last = v;
        }
        self.sketch.add(v);
    }

    /// Adds the points of `other`, given after those of `self`.
    pub fn merge(&mut self, other: &Rollup) {
        self.count = self.count.saturating_add(other.count);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
        if other.last_at >= self.last_at {
            self.last_at = other.last_at;
            self.last = other.last;
        }
        self.sketch.merge(&other.sketch);
    }

    /// The value of an aggregation over this bucket (`None` for
    /// [`Aggregation::Rate`], which needs the bucket before).
    pub fn value(&self, agg: Aggregation) -> Option<f64> {
        match agg {
            Aggregation::Avg => Some(self.sum / self.count.max(1) as f64),
            Aggregation::Min => Some(self.min),
            Aggregation::Max => Some(self.max),
            Aggregation::Last => Some(self.last),
            Aggregation::P50 | Aggregation::P95 | Aggregation::P99 => {
                self.sketch.quantile(agg.quantile()?)
            }
            Aggregation::Rate => None,
        }
    }

    /// The stored form, for the bucket starting at `bucket`: the format
    /// byte, the count, a byte saying how each value is written (two bits
    /// each: integral values as zigzag varints, values with at most three
    /// decimals as thousandths likewise, others as their 8 bytes), the
    /// values, the time of the last point from the bucket's start, and the
    /// sketch. A bucket of one point stores its value once and no sketch.
    pub fn encode(&self, bucket: i64) -> Vec<u8> {
        let mut out = Vec::with_capacity(32);
        out.push(FORMAT);
        put_varint(&mut out, self.count);
        let single = self.count == 1;
        let values: &[f64] = if single {
            &[self.last]
        } else {
            &[self.min, self.max, self.sum, self.last]
        };
        let codes: Vec<(u8, Option<i64>)> = values.iter().map(|v| value_code(*v)).collect();
        let flags = codes
            .iter()
            .enumerate()
            .fold(0u8, |f, (k, (code, _))| f | (code << (2 * k)));
        out.push(flags);
        for (v, (_, n)) in values.iter().zip(&codes) {
            match n {
                Some(n) => put_varint(&mut out, zigzag(*n)),
                None => out.extend_from_slice(&v.to_le_bytes()),
            }
        }
        put_varint(&mut out, zigzag(self.last_at.wrapping_sub(bucket)));
        if !single {
            self.sketch.encode(&mut out);
        }
        out
    }

    /// Reads a stored rollup point of the bucket starting at `bucket`.
    pub fn decode(bytes: &[u8], bucket: i64) -> Result<Rollup, RollupError> {
        decode(bytes, bucket, true)
    }

    /// Reads a stored rollup point without its sketch (left empty): for
    /// the aggregations that do not need it, faster.
    pub fn decode_summary(bytes: &[u8], bucket: i64) -> Result<Rollup, RollupError> {
        decode(bytes, bucket, false)
    }
}

fn decode(bytes: &[u8], bucket: i64, with_sketch: bool) -> Result<Rollup, RollupError> {
    let (&format, mut r) = bytes
        .split_first()
        .ok_or(RollupError::Truncated("format"))?;
    if format != FORMAT {
        return Err(RollupError::Format(format));
    }
    let count = get_varint(&mut r, "count")?;
    if count == 0 {
        return Err(RollupError::Invalid("no points"));
    }
    let (&flags, rest) = r.split_first().ok_or(RollupError::Truncated("flags"))?;
    r = rest;
    let single = count == 1;
    let n = if single { 1 } else { 4 };
    if n < 4 && flags >> (2 * n) != 0 {
        return Err(RollupError::Invalid("flags"));
    }
    let mut values = [0f64; 4];
    for (k, v) in values.iter_mut().enumerate().take(n) {
        *v = match (flags >> (2 * k)) & 3 {
            CODE_INTEGER => unzigzag(get_varint(&mut r, "value")?) as f64,
            CODE_THOUSANDTHS => unzigzag(get_varint(&mut r, "value")?) as f64 / 1000.0,
            CODE_FLOAT => {
                let (raw, rest) = r
                    .split_first_chunk::<8>()
                    .ok_or(RollupError::Truncated("value"))?;
                r = rest;
                f64::from_le_bytes(*raw)
            }
            _ => return Err(RollupError::Invalid("value code")),
        };
    }
    let last_at = bucket.wrapping_add(unzigzag(get_varint(&mut r, "last time")?));
    if single {
        if !r.is_empty() {
            return Err(RollupError::Invalid("bytes after the value"));
        }
        return Ok(Rollup::of(last_at, values[0]));
    }
    let sketch = if with_sketch {
        let (sketch, rest) = Sketch::decode(r)?;
        if !rest.is_empty() {
            return Err(RollupError::Invalid("bytes after the sketch"));
        }
        sketch
    } else {
        Sketch::new()
    };
    let [min, max, sum, last] = values;
    Ok(Rollup {
        count,
        min,
        max,
        sum,
        last_at,
        last,
        sketch,
    })
}

const CODE_INTEGER: u8 = 0;
const CODE_THOUSANDTHS: u8 = 1;
const CODE_FLOAT: u8 = 2;

/// How a value is stored: its code, and the integer written for it.
fn value_code(v: f64) -> (u8, Option<i64>) {
    if let Some(n) = integral(v) {
        return (CODE_INTEGER, Some(n));
    }
    // Percentages and rates are stored to three decimals (see
    // crate::helpers::series), and so are their sums, mostly.
    if let Some(n) = integral((v * 1000.0).round())
        && (n as f64 / 1000.0).to_bits() == v.to_bits()
    {
        return (CODE_THOUSANDTHS, Some(n));
    }
    (CODE_FLOAT, None)
}

/// `v` as an integer, when it is one and converts back bit for bit.
fn integral(v: f64) -> Option<i64> {
    if v.fract() != 0.0 || !v.is_finite() || v.abs() >= 9.0e15 {
        return None;
    }
    let n = v as i64;
    ((n as f64).to_bits() == v.to_bits()).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_point() -> impl Strategy<Value = (i64, f64)> {
        (
            0i64..3_600_000,
            prop_oneof![
                -1e6f64..1e6,
                (0i64..1 << 40).prop_map(|n| n as f64),
                (0i64..100_000).prop_map(|n| n as f64 / 1000.0),
                Just(-0.0),
            ],
        )
    }

    fn rollup_of(points: &[(i64, f64)]) -> Option<Rollup> {
        let (first, rest) = points.split_first()?;
        let mut r = Rollup::of(first.0, first.1);
        rest.iter().for_each(|p| r.add(p.0, p.1));
        Some(r)
    }

    fn same(a: &Rollup, b: &Rollup) -> bool {
        a.count == b.count
            && a.min.to_bits() == b.min.to_bits()
            && a.max.to_bits() == b.max.to_bits()
            && a.sum.to_bits() == b.sum.to_bits()
            && a.last_at == b.last_at
            && a.last.to_bits() == b.last.to_bits()
            && a.sketch == b.sketch
    }

    proptest! {
        #[test]
        fn rollups_round_trip(points in proptest::collection::vec(arb_point(), 1..80), bucket in -1i64 << 40..1 << 40) {
            let r = rollup_of(&points).unwrap();
            let back = Rollup::decode(&r.encode(bucket), bucket).unwrap();
            prop_assert!(same(&back, &r), "{back:?} != {r:?}");
        }

        #[test]
        fn adding_a_point_is_merging_its_rollup(points in proptest::collection::vec(arb_point(), 1..80)) {
            let added = rollup_of(&points).unwrap();
            let (first, rest) = points.split_first().unwrap();
            let mut merged = Rollup::of(first.0, first.1);
            rest.iter().for_each(|p| merged.merge(&Rollup::of(p.0, p.1)));
            prop_assert!(same(&added, &merged), "{added:?} != {merged:?}");
        }

        #[test]
        fn bad_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let mut with_format = bytes.clone();
            with_format.insert(0, FORMAT);
            for b in [&bytes, &with_format] {
                if let Ok(r) = Rollup::decode(b, 0) {
                    let _ = r.value(Aggregation::P99);
                }
                let _ = Rollup::decode_summary(b, 0);
            }
        }
    }

    #[test]
    fn last_is_the_latest_point_and_ties_go_to_the_later_given() {
        let r = rollup_of(&[(10, 1.0), (30, 3.0), (20, 2.0), (30, 4.0)]).unwrap();
        assert_eq!((r.last_at, r.last), (30, 4.0));
        assert_eq!((r.min, r.max, r.sum, r.count), (1.0, 4.0, 10.0, 4));
        assert_eq!(r.value(Aggregation::Avg), Some(2.5));
        assert_eq!(r.value(Aggregation::Rate), None);
    }

    #[test]
    fn a_bucket_of_integers_costs_a_few_bytes() {
        let points: Vec<(i64, f64)> = (0..30).map(|i| (i * 10_000, 1000.0 + i as f64)).collect();
        let bytes = rollup_of(&points).unwrap().encode(0);
        assert!(bytes.len() <= 80, "{}", bytes.len());
        let single = rollup_of(&[(5, 42.0)]).unwrap().encode(0);
        assert_eq!(single.len(), 5);
        let percents: Vec<(i64, f64)> = (0..30)
            .map(|i| (i * 10_000, 12.345 + i as f64 / 8.0))
            .collect();
        let r = rollup_of(&percents).unwrap();
        let bytes = r.encode(0);
        assert_eq!(Rollup::decode(&bytes, 0).unwrap(), r);
        assert!(bytes.len() <= 90, "{}", bytes.len());
        let summary = Rollup::decode_summary(&bytes, 0).unwrap();
        assert_eq!(
            (summary.count, summary.max, summary.sketch.count()),
            (30, r.max, 0)
        );
    }

    #[test]
    fn aggregations_and_tiers_are_named() {
        for a in Aggregation::ALL {
            assert_eq!(a.name().parse::<Aggregation>(), Ok(a));
        }
        assert!("P95".parse::<Aggregation>().is_ok());
        assert!("median".parse::<Aggregation>().is_err());
        assert_eq!(Tier::FiveMinutes.bucket_of(299_999), 0);
        assert_eq!(Tier::OneHour.bucket_of(-1), -3_600_000);
        assert_eq!(serde_json::to_string(&Tier::FiveMinutes).unwrap(), "\"5m\"");
    }

    #[test]
    fn corrupt_points_are_errors() {
        assert_eq!(
            Rollup::decode(&[], 0),
            Err(RollupError::Truncated("format"))
        );
        assert_eq!(Rollup::decode(&[9], 0), Err(RollupError::Format(9)));
        assert_eq!(
            Rollup::decode(&[FORMAT, 0], 0),
            Err(RollupError::Invalid("no points"))
        );
        let mut bytes = rollup_of(&[(1, 1.5), (2, 2.5)]).unwrap().encode(0);
        assert_eq!(
            Rollup::decode(&bytes[..bytes.len() - 1], 0).map(|_| ()),
            Err(RollupError::Sketch(
                crate::helpers::sketch::SketchError::Truncated("bin count")
            ))
        );
        bytes.push(0);
        assert_eq!(
            Rollup::decode(&bytes, 0),
            Err(RollupError::Invalid("bytes after the sketch"))
        );
    }
}
