//! A mergeable quantile sketch (DDSketch, Masson et al., VLDB 2019) with
//! a relative error of at most [`RELATIVE_ERROR`] on every quantile.
//!
//! A value `x > 0` falls in bin `i = ⌈log_γ x⌉` with `γ = (1 + α) / (1 − α)`;
//! a bin only counts its values, and answers with the one number that is
//! within `α` of every value it may hold. Negative values have bins of
//! their own, values too close to zero share a zero count. Sketches merge
//! by adding bin counts, so the sketch of a day is exactly the merge of
//! its hours: a rollup can answer the p95 of any window it covers.
//!
//! Hand-written: the DDSketch crates on crates.io serialise through serde
//! into a layout several times larger than the bins themselves, and a
//! rollup point is stored by the million. Here a sketch is a few bytes
//! per distinct bin (LEB128 varints: the index as a zigzag difference from
//! the previous one, then the count), and [`Sketch::decode`] checks every
//! field so bad bytes are a [`SketchError`], never a panic or an unbounded
//! allocation.

/// The relative error on a quantile: the answer is within this fraction
/// of a value that truly is at the asked rank.
pub const RELATIVE_ERROR: f64 = 0.01;

/// Values closer to zero than this count as zero.
pub const MIN_INDEXED: f64 = 1e-9;

/// Bins kept per sign. Past it the bins of the smallest magnitudes are
/// merged into their neighbour, so only the lowest quantiles lose their
/// guarantee; values would have to span a ratio of 10^17 for that.
pub const MAX_BINS: usize = 2048;

/// γ of the bins for [`RELATIVE_ERROR`].
const GAMMA: f64 = (1.0 + RELATIVE_ERROR) / (1.0 - RELATIVE_ERROR);

/// Bin indexes span finite `f64` magnitudes from [`MIN_INDEXED`] up; the
/// decoder refuses any outside this range.
const MAX_INDEX: i32 = 36_000;

/// Bytes that are not a sketch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SketchError {
    /// The input ends inside a field.
    #[error("quantile sketch truncated in {0}")]
    Truncated(&'static str),
    /// A field is out of its range.
    #[error("quantile sketch corrupt: {0}")]
    Invalid(&'static str),
}

/// Counts of values by bin; see the module docs.
///
/// Bins are sorted vectors of `(index, count)`: a rollup's sketch holds a
/// few dozen bins, which a vector decodes, merges and walks faster than a
/// tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sketch {
    zero: u64,
    positive: Vec<(i32, u64)>,
    /// Bins of `-x` for negative values `x`.
    negative: Vec<(i32, u64)>,
}

fn index_of(magnitude: f64) -> i32 {
    let i = (magnitude.ln() / GAMMA.ln()).ceil();
    i.clamp(-f64::from(MAX_INDEX), f64::from(MAX_INDEX)) as i32
}

/// The value a bin answers with: within [`RELATIVE_ERROR`] of every value
/// in `(γ^(i-1), γ^i]`.
fn value_of(index: i32) -> f64 {
    2.0 * GAMMA.powi(index) / (GAMMA + 1.0)
}

impl Sketch {
    /// An empty sketch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Values counted.
    pub fn count(&self) -> u64 {
        let bins = |m: &[(i32, u64)]| m.iter().fold(0u64, |a, b| a.saturating_add(b.1));
        self.zero
            .saturating_add(bins(&self.positive))
            .saturating_add(bins(&self.negative))
    }

    /// True when no value was counted.
    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// Counts one value; NaN and infinities are not counted.
    pub fn add(&mut self, v: f64) {
        if !v.is_finite() {
            return;
        }
        if v.abs() < MIN_INDEXED {
            self.zero = self.zero.saturating_add(1);
        } else if v > 0.0 {
            add_bin(&mut self.positive, index_of(v), 1);
        } else {
            add_bin(&mut self.negative, index_of(-v), 1);
        }
    }

    /// Adds the counts of `other`, as if its values had been added here.
    pub fn merge(&mut self, other: &Sketch) {
        self.zero = self.zero.saturating_add(other.zero);
        merge_bins(&mut self.positive, &other.positive);
        merge_bins(&mut self.negative, &other.negative);
    }

    /// The value at quantile `q` (0 ≤ q ≤ 1, clamped): within
    /// [`RELATIVE_ERROR`] of the value of rank `⌊q·(n−1)⌋` (from 0) of the
    /// values counted, sorted. `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let q = if q.is_nan() { 0.5 } else { q.clamp(0.0, 1.0) };
        let rank = (q * (n - 1) as f64).floor() as u64;
        let mut seen = 0u64;
        for &(i, c) in self.negative.iter().rev() {
            seen = seen.saturating_add(c);
            if seen > rank {
                return Some(-value_of(i));
            }
        }
        seen = seen.saturating_add(self.zero);
        if seen > rank {
            return Some(0.0);
        }
        for &(i, c) in &self.positive {
            seen = seen.saturating_add(c);
            if seen > rank {
                return Some(value_of(i));
            }
        }
        self.positive.last().map(|&(i, _)| value_of(i))
    }

    /// The stored form: the zero count, then per sign the number of bins
    /// and each bin's index (difference from the previous one) and count.
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.zero);
        for bins in [&self.positive, &self.negative] {
            put_varint(out, bins.len() as u64);
            let mut prev = 0i64;
            for &(i, c) in bins {
                put_varint(out, zigzag(i64::from(i) - prev));
                put_varint(out, c);
                prev = i64::from(i);
            }
        }
    }

    /// Reads a sketch from the front of `bytes`, returning it and the
    /// bytes after it.
    pub fn decode(bytes: &[u8]) -> Result<(Sketch, &[u8]), SketchError> {
        let mut r = bytes;
        let zero = get_varint(&mut r, "zero count")?;
        let mut sides = [Vec::new(), Vec::new()];
        for bins in &mut sides {
            let n = get_varint(&mut r, "bin count")?;
            if n > MAX_BINS as u64 {
                return Err(SketchError::Invalid("more bins than a sketch keeps"));
            }
            bins.reserve(n as usize);
            let mut prev = 0i64;
            for k in 0..n {
                let d = unzigzag(get_varint(&mut r, "bin index")?);
                if k > 0 && d <= 0 {
                    return Err(SketchError::Invalid("bin indexes not increasing"));
                }
                let i = prev
                    .checked_add(d)
                    .filter(|i| i.abs() <= i64::from(MAX_INDEX))
                    .ok_or(SketchError::Invalid("bin index out of range"))?;
                let c = get_varint(&mut r, "bin count")?;
                if c == 0 {
                    return Err(SketchError::Invalid("empty bin"));
                }
                bins.push((i as i32, c));
                prev = i;
            }
        }
        let [positive, negative] = sides;
        Ok((
            Sketch {
                zero,
                positive,
                negative,
            },
            r,
        ))
    }
}

fn add_bin(bins: &mut Vec<(i32, u64)>, i: i32, c: u64) {
    match bins.binary_search_by_key(&i, |b| b.0) {
        Ok(k) => {
            if let Some(b) = bins.get_mut(k) {
                b.1 = b.1.saturating_add(c);
            }
        }
        Err(k) => bins.insert(k, (i, c)),
    }
    collapse(bins);
}

/// Adds the bins of `other` to `bins`, both sorted.
fn merge_bins(bins: &mut Vec<(i32, u64)>, other: &[(i32, u64)]) {
    if other.is_empty() {
        return;
    }
    // Sketches of one series mostly share their bins (a month of a
    // filesystem's days): then the counts are added in place.
    let mut at = 0;
    let shared = other.iter().all(|&(index, _)| {
        match bins
            .get(at..)
            .and_then(|rest| rest.iter().position(|b| b.0 >= index))
        {
            Some(k) if bins.get(at + k).is_some_and(|b| b.0 == index) => {
                at += k + 1;
                true
            }
            _ => false,
        }
    });
    if shared {
        let mut at = 0;
        for &(index, count) in other {
            while let Some(b) = bins.get_mut(at) {
                at += 1;
                if b.0 == index {
                    b.1 = b.1.saturating_add(count);
                    break;
                }
            }
        }
        return;
    }
    let mine = std::mem::take(bins);
    let mut out = Vec::with_capacity(mine.len() + other.len());
    let (mut i, mut j) = (0, 0);
    while let (Some(&x), Some(&y)) = (mine.get(i), other.get(j)) {
        match x.0.cmp(&y.0) {
            std::cmp::Ordering::Equal => {
                out.push((x.0, x.1.saturating_add(y.1)));
                i += 1;
                j += 1;
            }
            std::cmp::Ordering::Less => {
                out.push(x);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(y);
                j += 1;
            }
        }
    }
    out.extend_from_slice(mine.get(i..).unwrap_or_default());
    out.extend_from_slice(other.get(j..).unwrap_or_default());
    *bins = out;
    collapse(bins);
}

/// Keeps at most [`MAX_BINS`] bins: the smallest magnitudes go into their
/// neighbour, so the high quantiles, which rollups are read for, keep
/// their guarantee.
fn collapse(bins: &mut Vec<(i32, u64)>) {
    if bins.len() <= MAX_BINS {
        return;
    }
    let extra = bins.len() - MAX_BINS;
    let low: u64 = bins.drain(..extra).fold(0u64, |a, b| a.saturating_add(b.1));
    if let Some(first) = bins.first_mut() {
        first.1 = first.1.saturating_add(low);
    }
}

/// Appends `v` as a LEB128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Reads a LEB128 varint from the front of `r`, advancing it; `what`
/// names the field in the error.
pub fn get_varint(r: &mut &[u8], what: &'static str) -> Result<u64, SketchError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = r.split_first().ok_or(SketchError::Truncated(what))?;
        *r = rest;
        let bits = u64::from(byte & 0x7f);
        if shift == 63 && bits > 1 {
            return Err(SketchError::Invalid("varint longer than 64 bits"));
        }
        v |= bits << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(SketchError::Invalid("varint longer than 64 bits"))
}

/// Zigzag: small magnitudes of either sign as small unsigned numbers.
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag`].
pub fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The value of rank `⌊q·(n−1)⌋`, as [`Sketch::quantile`] defines it.
    fn exact(sorted: &[f64], q: f64) -> f64 {
        sorted[(q * (sorted.len() - 1) as f64).floor() as usize]
    }

    fn close(got: f64, want: f64) -> bool {
        // The bin edges are computed with logarithms: a value on an edge
        // may land in the bin beside, a rounding error on top of α.
        (got - want).abs() <= RELATIVE_ERROR * want.abs() * (1.0 + 1e-9) + MIN_INDEXED
    }

    fn arb_values() -> impl Strategy<Value = Vec<f64>> {
        proptest::collection::vec(
            prop_oneof![
                -1e6f64..1e6,
                0.0f64..100.0,
                (0u64..1 << 40).prop_map(|n| n as f64),
                Just(0.0),
                1e-12f64..1e-6,
            ],
            1..400,
        )
    }

    proptest! {
        #[test]
        fn quantiles_are_within_the_relative_error(values in arb_values()) {
            let mut s = Sketch::new();
            values.iter().for_each(|v| s.add(*v));
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            prop_assert_eq!(s.count(), values.len() as u64);
            for q in [0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0] {
                let got = s.quantile(q).unwrap();
                let want = exact(&sorted, q);
                prop_assert!(close(got, want), "q{q}: {got} vs {want}");
            }
        }

        #[test]
        fn merging_equals_adding_everything(a in arb_values(), b in arb_values()) {
            let (mut sa, mut sb, mut all) = (Sketch::new(), Sketch::new(), Sketch::new());
            a.iter().for_each(|v| { sa.add(*v); all.add(*v) });
            b.iter().for_each(|v| { sb.add(*v); all.add(*v) });
            sa.merge(&sb);
            prop_assert_eq!(sa, all);
        }

        #[test]
        fn merging_a_sketch_of_bins_already_held_equals_adding_everything(
            a in arb_values(),
            take in 0usize..400,
        ) {
            let b = &a[..take.min(a.len())];
            let (mut sa, mut sb, mut all) = (Sketch::new(), Sketch::new(), Sketch::new());
            a.iter().for_each(|v| { sa.add(*v); all.add(*v) });
            b.iter().for_each(|v| { sb.add(*v); all.add(*v) });
            sa.merge(&sb);
            prop_assert_eq!(sa, all);
        }

        #[test]
        fn sketches_round_trip(values in arb_values()) {
            let mut s = Sketch::new();
            values.iter().for_each(|v| s.add(*v));
            let mut bytes = Vec::new();
            s.encode(&mut bytes);
            bytes.push(0xaa);
            let (back, rest) = Sketch::decode(&bytes).unwrap();
            prop_assert_eq!(back, s);
            prop_assert_eq!(rest, &[0xaa][..]);
        }

        #[test]
        fn bad_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok((s, _)) = Sketch::decode(&bytes) {
                let _ = s.quantile(0.5);
            }
        }
    }

    #[test]
    fn a_steady_series_costs_a_few_bytes() {
        let mut s = Sketch::new();
        for i in 0..30 {
            s.add(40.0 + f64::from(i % 3));
        }
        let mut bytes = Vec::new();
        s.encode(&mut bytes);
        assert!(bytes.len() <= 10, "{}", bytes.len());
    }

    #[test]
    fn odd_values_are_kept_apart_or_left_out() {
        let mut s = Sketch::new();
        for v in [f64::NAN, f64::INFINITY, -f64::INFINITY] {
            s.add(v);
        }
        assert!(s.is_empty() && s.quantile(0.5).is_none());
        for v in [f64::MAX, -f64::MAX, 5e-324, 0.0] {
            s.add(v);
        }
        assert_eq!(s.count(), 4);
        assert!(s.quantile(0.0).unwrap() < -1e300);
        assert!(s.quantile(1.0).unwrap() > 1e300);
    }

    #[test]
    fn too_many_bins_merge_the_smallest_and_keep_the_top() {
        let mut s = Sketch::new();
        let values: Vec<f64> = (0..MAX_BINS + 100).map(|i| GAMMA.powi(i as i32)).collect();
        values.iter().for_each(|v| s.add(*v));
        assert_eq!(s.positive.len(), MAX_BINS);
        assert_eq!(s.count(), values.len() as u64);
        let top = *values.last().unwrap();
        assert!(close(s.quantile(1.0).unwrap(), top));
    }

    #[test]
    fn truncated_and_bad_fields_are_errors() {
        assert_eq!(
            Sketch::decode(&[]),
            Err(SketchError::Truncated("zero count"))
        );
        assert_eq!(
            Sketch::decode(&[0, 2, 2, 1, 0, 1]),
            Err(SketchError::Invalid("bin indexes not increasing"))
        );
        assert_eq!(
            Sketch::decode(&[0, 1, 2, 0]),
            Err(SketchError::Invalid("empty bin"))
        );
        assert!(matches!(
            Sketch::decode(&[0, 0xff, 0xff, 0x7f]),
            Err(SketchError::Invalid(_))
        ));
        assert!(matches!(
            Sketch::decode(&[0xff; 11]),
            Err(SketchError::Invalid(_))
        ));
    }
}
