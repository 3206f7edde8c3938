//! The metric block: every series of one agent over a run of samples,
//! stored once as a timestamp column shared by all series and one value
//! column per series.
//!
//! All series of a health sample are taken at the same instant, so a
//! block stores the sample times once, as delta-of-delta codes, instead
//! of once per series. Each value column picks, for this block, the
//! cheapest of a few codes, knowing all its values (a block is encoded
//! whole, never appended to):
//! - **Scaled integers.** Most metric values are integers (bytes, counts)
//!   or short decimals (load `0.42`, temperature `27.8`, percentages and
//!   rates rounded at ingest, see [`crate::helpers::series`]). At the smallest
//!   power of ten that makes every value of the column an integer — and
//!   gives back the very same `f64` bits on decoding — the column becomes
//!   a sequence of integers, coded as differences (or differences of
//!   differences, for counters that grow steadily), divided by their
//!   greatest common divisor (memory in KiB steps, disk space in 4 KiB
//!   blocks), as Rice codes whose parameter fits this block. Columns that
//!   rarely change spend one bit on each unchanged value.
//! - **Mirror** of an earlier column of the block at the same scale and
//!   rows, whose every change it repeats or negates exactly: memory
//!   available against used (the agent sends `used = total − available`),
//!   a filesystem's available against used space. Only its first value is
//!   stored.
//! - **XOR floats** (Pelkonen et al., VLDB 2015) for anything else (NaN,
//!   `-0.0`, values with more than nine decimals): lossless in every case.
//!
//! Hand-written: the Gorilla crates on crates.io code one series with its
//! own timestamps and either panic on corrupt input or cannot use a shared
//! time column; neither suits blocks read back from disk.
//!
//! Layout: one format byte ([`FORMAT`]), then one bit stream: the row
//! count, the timestamp column, the column count and, per column, its name
//! id (as the difference from the previous one), which rows it has, and
//! its values. Decoding checks every read against the end of the input
//! and every field against its range, so bad bytes give a [`BlockError`],
//! never a panic or an unbounded allocation.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::bits::{BitReader, BitWriter, gamma_cost, rice_cost, unzigzag, wide_cost, zigzag};

/// The first byte of every block.
pub const FORMAT: u8 = 1;

/// Most rows a block may hold (decoders refuse more).
pub const MAX_ROWS: usize = 4096;

/// Largest power of ten a column is scaled by.
const MAX_SCALE: usize = 9;

const POW10: [f64; MAX_SCALE + 1] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/// Integers this large lose precision as `f64`.
const EXACT_LIMIT: f64 = 9_007_199_254_740_992.0;

/// Bytes that are not a block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// The input is empty.
    #[error("metric block is empty")]
    Empty,
    /// The first byte names a format this build does not know.
    #[error("metric block has format {0}, this build reads format {FORMAT}")]
    Format(u8),
    /// The bit stream ends inside a field.
    #[error("metric block truncated in {0}")]
    Truncated(&'static str),
    /// A field is out of its range.
    #[error("metric block corrupt: {0}")]
    Invalid(&'static str),
}

/// One series' values in a block, by row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Column {
    /// Rows that have a value, strictly increasing.
    pub rows: Vec<u32>,
    /// The value of each of those rows.
    pub values: Vec<f64>,
}

/// Samples of one agent: a time per row and the series present in them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Block {
    /// Time of each row (ms), never decreasing.
    pub ts: Vec<i64>,
    /// Columns by series name id.
    pub columns: BTreeMap<u32, Column>,
}

impl Block {
    /// Rows held.
    pub fn rows(&self) -> usize {
        self.ts.len()
    }

    /// True when no row was added.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// Time of the first row.
    pub fn first_ts(&self) -> Option<i64> {
        self.ts.first().copied()
    }

    /// Time of the last row.
    pub fn last_ts(&self) -> Option<i64> {
        self.ts.last().copied()
    }

    /// Adds a row at `ts` (not before the last one) and returns its index.
    pub fn push_row(&mut self, ts: i64) -> u32 {
        self.ts.push(ts);
        (self.ts.len() - 1) as u32
    }

    /// Sets the value of series `name` in the last row added.
    pub fn put(&mut self, name: u32, value: f64) {
        let row = self.ts.len().saturating_sub(1) as u32;
        let col = self.columns.entry(name).or_default();
        col.rows.push(row);
        col.values.push(value);
    }

    /// The points of series `name`, oldest first.
    pub fn points(&self, name: u32) -> Vec<(i64, f64)> {
        self.columns
            .get(&name)
            .map(|c| points_of(&self.ts, c))
            .unwrap_or_default()
    }

    /// The stored form.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = BitWriter::new();
        w.write(u64::from(FORMAT), 8);
        w.gamma(self.ts.len() as u64 + 1);
        if !self.ts.is_empty() {
            IntPlan::best(&self.ts).write(&mut w, &self.ts);
        }
        w.gamma(self.columns.len() as u64 + 1);
        let mut prev: Option<u32> = None;
        let mut mirrors = Mirrors::default();
        for (&name, col) in &self.columns {
            let gap = match prev {
                None => u64::from(name) + 1,
                Some(p) => u64::from(name - p),
            };
            prev = Some(name);
            w.gamma(gap);
            write_presence(&mut w, &col.rows, self.ts.len());
            write_values(&mut w, name, col, &mut mirrors);
        }
        w.finish()
    }

    /// Decodes a whole block.
    pub fn decode(bytes: &[u8]) -> Result<Block, BlockError> {
        let mut block = Block::default();
        read_block(bytes, |name| name.is_some(), &mut block)?;
        Ok(block)
    }
}

/// The points of series `name` in an encoded block, oldest first; only
/// that column is kept.
pub fn decode_series(bytes: &[u8], name: u32) -> Result<Vec<(i64, f64)>, BlockError> {
    let mut block = Block::default();
    read_block(bytes, |n| n == Some(name), &mut block)?;
    Ok(block.points(name))
}

/// An encoded block with only the columns of `names` kept (one decode
/// for several series).
pub fn decode_columns(bytes: &[u8], names: &BTreeSet<u32>) -> Result<Block, BlockError> {
    let mut block = Block::default();
    read_block(bytes, |n| n.is_some_and(|n| names.contains(&n)), &mut block)?;
    Ok(block)
}

fn points_of(ts: &[i64], col: &Column) -> Vec<(i64, f64)> {
    col.rows
        .iter()
        .zip(&col.values)
        .filter_map(|(r, v)| ts.get(*r as usize).map(|t| (*t, *v)))
        .collect()
}

fn read_block(
    bytes: &[u8],
    keep: impl Fn(Option<u32>) -> bool,
    out: &mut Block,
) -> Result<(), BlockError> {
    let (&format, stream) = bytes.split_first().ok_or(BlockError::Empty)?;
    if format != FORMAT {
        return Err(BlockError::Format(format));
    }
    let mut r = BitReader::new(stream);
    let t = BlockError::Truncated;
    let rows = r.gamma().ok_or(t("row count"))? - 1;
    if rows > MAX_ROWS as u64 {
        return Err(BlockError::Invalid("more rows than a block holds"));
    }
    let rows = rows as usize;
    out.ts = if rows > 0 {
        read_ints(&mut r, rows, "timestamps")?
    } else {
        Vec::new()
    };
    if out.ts.windows(2).any(|w| w[1] < w[0]) {
        return Err(BlockError::Invalid("timestamps go backwards"));
    }
    let cols = r.gamma().ok_or(t("column count"))? - 1;
    let mut name: Option<u32> = None;
    let mut ints: HashMap<u32, IntColumn> = HashMap::new();
    for _ in 0..cols {
        let gap = r.gamma().ok_or(t("column name"))?;
        let next = match name {
            None => Some(gap - 1),
            Some(p) => u64::from(p).checked_add(gap),
        };
        let next = next
            .and_then(|n| u32::try_from(n).ok())
            .ok_or(BlockError::Invalid("column name id"))?;
        name = Some(next);
        let present = read_presence(&mut r, rows)?;
        let values = read_values(&mut r, next, &present, &mut ints)?;
        if keep(name) {
            out.columns.insert(
                next,
                Column {
                    rows: present,
                    values,
                },
            );
        }
    }
    Ok(())
}

fn write_presence(w: &mut BitWriter, rows: &[u32], total: usize) {
    if rows.len() == total {
        w.bit(true);
        return;
    }
    w.bit(false);
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for &r in rows {
        match runs.last_mut() {
            Some((start, len)) if *start + *len == r => *len += 1,
            _ => runs.push((r, 1)),
        }
    }
    w.gamma(runs.len() as u64);
    let mut end = 0u32;
    for (start, len) in runs {
        w.gamma(u64::from(start - end) + 1);
        w.gamma(u64::from(len));
        end = start + len;
    }
}

fn read_presence(r: &mut BitReader<'_>, total: usize) -> Result<Vec<u32>, BlockError> {
    let t = || BlockError::Truncated("column rows");
    if r.bit().ok_or_else(t)? {
        if total == 0 {
            return Err(BlockError::Invalid("column in a block without rows"));
        }
        return Ok((0..total as u32).collect());
    }
    let runs = r.gamma().ok_or_else(t)?;
    let mut rows = Vec::new();
    let mut end = 0u64;
    for _ in 0..runs {
        let gap = r.gamma().ok_or_else(t)? - 1;
        let len = r.gamma().ok_or_else(t)?;
        let start = end
            .checked_add(gap)
            .ok_or(BlockError::Invalid("column rows beyond the block"))?;
        end = start
            .checked_add(len)
            .filter(|e| *e <= total as u64)
            .ok_or(BlockError::Invalid("column rows beyond the block"))?;
        rows.extend(start as u32..end as u32);
    }
    if rows.is_empty() {
        return Err(BlockError::Invalid("column without rows"));
    }
    Ok(rows)
}

/// `v` as an integer at scale `10^k`, if decoding gives back its very bits.
fn scaled(v: f64, k: usize) -> Option<i64> {
    let s = *POW10.get(k)?;
    let n = (v * s).round();
    if !n.is_finite() || n.abs() >= EXACT_LIMIT {
        return None;
    }
    let n = n as i64;
    ((n as f64 / s).to_bits() == v.to_bits()).then_some(n)
}

/// The smallest scale at which every value is an exact integer, with the integers.
fn as_integers(values: &[f64]) -> Option<(usize, Vec<i64>)> {
    let mut k = 0;
    for &v in values {
        while scaled(v, k).is_none() {
            k += 1;
            if k > MAX_SCALE {
                return None;
            }
        }
    }
    let ns = values
        .iter()
        .map(|&v| scaled(v, k))
        .collect::<Option<Vec<_>>>()?;
    Some((k, ns))
}

/// An integer column already in the block, which later ones may mirror.
#[derive(Debug, Clone)]
struct IntColumn {
    scale: usize,
    rows: Vec<u32>,
    ints: Vec<i64>,
}

/// The integer columns written so far, found by their differences.
#[derive(Debug, Default)]
struct Mirrors {
    by_deltas: HashMap<Vec<i64>, Vec<(u32, IntColumn)>>,
}

impl Mirrors {
    fn deltas(ints: &[i64], negate: bool) -> Vec<i64> {
        ints.windows(2)
            .map(|w| {
                let d = w[1].wrapping_sub(w[0]);
                if negate { d.wrapping_neg() } else { d }
            })
            .collect()
    }

    /// An earlier column that `ints` (at `scale`, in `rows`) repeats or
    /// negates change for change: its name and whether negated.
    fn find(&self, scale: usize, rows: &[u32], ints: &[i64]) -> Option<(u32, bool)> {
        if ints.len() < 2 {
            return None;
        }
        for negate in [false, true] {
            let key = Self::deltas(ints, negate);
            if let Some(found) = self.by_deltas.get(&key)
                && let Some((name, _)) = found
                    .iter()
                    .find(|(_, c)| c.scale == scale && c.rows == rows)
            {
                return Some((*name, negate));
            }
        }
        None
    }

    fn add(&mut self, name: u32, col: IntColumn) {
        let key = Self::deltas(&col.ints, false);
        self.by_deltas.entry(key).or_default().push((name, col));
    }
}

// Value modes: 0 integers, 10 XOR floats, 11 mirror.
fn write_values(w: &mut BitWriter, name: u32, col: &Column, mirrors: &mut Mirrors) {
    let values = &col.values;
    let xor = xor_cost(values);
    if let Some((k, ns)) = as_integers(values) {
        let plan = IntPlan::best(&ns);
        let mirror = mirrors.find(k, &col.rows, &ns).map(|(of, negate)| {
            let cost = 2 + gamma_cost(u64::from(name - of)) + 1 + wide_cost(zigzag(ns[0]));
            (of, negate, cost)
        });
        let int_cost = 1 + 4 + plan.cost;
        match mirror {
            Some((of, negate, cost)) if cost < int_cost && cost <= xor + 2 => {
                w.write(0b11, 2);
                w.gamma(u64::from(name - of));
                w.bit(negate);
                w.wide(zigzag(ns[0]));
            }
            _ if int_cost <= xor + 2 => {
                w.bit(false);
                w.write(k as u64, 4);
                plan.write(w, &ns);
            }
            _ => {
                w.write(0b10, 2);
                write_xor(w, values);
                return;
            }
        }
        mirrors.add(
            name,
            IntColumn {
                scale: k,
                rows: col.rows.clone(),
                ints: ns,
            },
        );
        return;
    }
    w.write(0b10, 2);
    write_xor(w, values);
}

fn read_values(
    r: &mut BitReader<'_>,
    name: u32,
    rows: &[u32],
    ints: &mut HashMap<u32, IntColumn>,
) -> Result<Vec<f64>, BlockError> {
    let t = BlockError::Truncated;
    let n = rows.len();
    if !r.bit().ok_or(t("value mode"))? {
        let k = r.read(4).ok_or(t("value scale"))? as usize;
        let s = *POW10.get(k).ok_or(BlockError::Invalid("value scale"))?;
        let ns = read_ints(r, n, "values")?;
        let values = ns.iter().map(|&n| n as f64 / s).collect();
        ints.insert(
            name,
            IntColumn {
                scale: k,
                rows: rows.to_vec(),
                ints: ns,
            },
        );
        return Ok(values);
    }
    if !r.bit().ok_or(t("value mode"))? {
        return read_xor(r, n);
    }
    let gap = r.gamma().ok_or(t("mirrored column"))?;
    let negate = r.bit().ok_or(t("mirrored column"))?;
    let n0 = unzigzag(r.wide().ok_or(t("mirrored column"))?);
    let of = u32::try_from(gap)
        .ok()
        .and_then(|g| name.checked_sub(g))
        .and_then(|of| ints.get(&of))
        .ok_or(BlockError::Invalid("mirror of a column that is not there"))?;
    if of.rows != rows {
        return Err(BlockError::Invalid("mirror of a column with other rows"));
    }
    let base = of.ints.first().copied().unwrap_or(0);
    let ns: Vec<i64> = of
        .ints
        .iter()
        .map(|&a| {
            let d = a.wrapping_sub(base);
            n0.wrapping_add(if negate { d.wrapping_neg() } else { d })
        })
        .collect();
    let scale = of.scale;
    let s = POW10.get(scale).copied().unwrap_or(1.0);
    let values = ns.iter().map(|&n| n as f64 / s).collect();
    ints.insert(
        name,
        IntColumn {
            scale,
            rows: rows.to_vec(),
            ints: ns,
        },
    );
    Ok(values)
}

/// How a sequence of integers is coded.
#[derive(Debug, Clone, Copy)]
struct IntPlan {
    /// Differences of differences instead of differences.
    dod: bool,
    /// Divisor of every residual (0: all residuals are zero).
    gcd: u64,
    /// One flag bit per residual, Rice codes only for the nonzero ones.
    sparse: bool,
    /// Rice parameter.
    k: u32,
    /// Bits the whole sequence takes.
    cost: u64,
}

fn residuals(ns: &[i64], dod: bool) -> Vec<i64> {
    let deltas = ns.windows(2).map(|w| w[1].wrapping_sub(w[0]));
    if dod {
        let d: Vec<i64> = deltas.collect();
        d.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect()
    } else {
        deltas.collect()
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn codes(res: &[i64], g: u64) -> Vec<u64> {
    res.iter()
        .map(|&r| zigzag((i128::from(r) / i128::from(g)) as i64))
        .collect()
}

impl IntPlan {
    /// The cheapest coding of `ns` (at least one integer).
    fn best(ns: &[i64]) -> IntPlan {
        let mut best: Option<IntPlan> = None;
        let head = ns.first().map_or(0, |&n0| wide_cost(zigzag(n0)));
        let preds: &[bool] = match ns.len() {
            0 | 1 => &[],
            2 => &[false],
            _ => &[false, true],
        };
        if preds.is_empty() {
            return IntPlan {
                dod: false,
                gcd: 0,
                sparse: false,
                k: 0,
                cost: head,
            };
        }
        for &dod in preds {
            let res = residuals(ns, dod);
            let mut cost = head + 1;
            if dod {
                cost += wide_cost(zigzag(ns[1].wrapping_sub(ns[0])));
            }
            let g = res.iter().fold(0u64, |g, r| gcd(g, r.unsigned_abs()));
            let mut plan = IntPlan {
                dod,
                gcd: g,
                sparse: false,
                k: 0,
                cost: cost + gamma_cost(g + 1),
            };
            if g > 0 {
                let z = codes(&res, g);
                let (k, sparse, bits) = rice_plan(&z);
                plan.k = k;
                plan.sparse = sparse;
                plan.cost += 1 + 6 + bits;
            }
            if best.is_none_or(|b| plan.cost < b.cost) {
                best = Some(plan);
            }
        }
        best.unwrap_or(IntPlan {
            dod: false,
            gcd: 0,
            sparse: false,
            k: 0,
            cost: head,
        })
    }

    fn write(&self, w: &mut BitWriter, ns: &[i64]) {
        let Some(&n0) = ns.first() else { return };
        w.wide(zigzag(n0));
        if ns.len() < 2 {
            return;
        }
        w.bit(self.dod);
        if self.dod {
            w.wide(zigzag(ns[1].wrapping_sub(ns[0])));
        }
        let res = residuals(ns, self.dod);
        if res.is_empty() {
            return;
        }
        w.gamma(self.gcd + 1);
        if self.gcd == 0 {
            return;
        }
        w.bit(self.sparse);
        w.write(u64::from(self.k), 6);
        for z in codes(&res, self.gcd) {
            if self.sparse {
                w.bit(z != 0);
                if z != 0 {
                    w.rice(z - 1, self.k);
                }
            } else {
                w.rice(z, self.k);
            }
        }
    }
}

/// The Rice parameter and sparse flag that code `z` in the fewest bits.
fn rice_plan(z: &[u64]) -> (u32, bool, u64) {
    let guess = |vals: &mut dyn Iterator<Item = u64>| {
        let (sum, n) = vals.fold((0u128, 0u128), |(s, n), v| (s + u128::from(v), n + 1));
        let mean = sum.checked_div(n).unwrap_or(0);
        127 - (mean + 1).leading_zeros()
    };
    let mut best = (0u32, false, u64::MAX);
    let dense = guess(&mut z.iter().copied());
    for k in dense.saturating_sub(2)..=(dense + 1).min(64) {
        let bits: u64 = z.iter().map(|&v| rice_cost(v, k)).sum();
        if bits < best.2 {
            best = (k, false, bits);
        }
    }
    let sparse = guess(&mut z.iter().filter(|v| **v != 0).map(|v| v - 1));
    for k in sparse.saturating_sub(2)..=(sparse + 1).min(64) {
        let bits: u64 = z
            .iter()
            .map(|&v| if v == 0 { 1 } else { 1 + rice_cost(v - 1, k) })
            .sum();
        if bits < best.2 {
            best = (k, true, bits);
        }
    }
    best
}

fn read_ints(r: &mut BitReader<'_>, n: usize, what: &'static str) -> Result<Vec<i64>, BlockError> {
    let t = || BlockError::Truncated(what);
    let mut out = Vec::with_capacity(n.min(MAX_ROWS));
    if n == 0 {
        return Ok(out);
    }
    let n0 = unzigzag(r.wide().ok_or_else(t)?);
    out.push(n0);
    if n < 2 {
        return Ok(out);
    }
    let dod = r.bit().ok_or_else(t)?;
    let mut delta = 0i64;
    if dod {
        delta = unzigzag(r.wide().ok_or_else(t)?);
        out.push(n0.wrapping_add(delta));
    }
    if out.len() == n {
        return Ok(out);
    }
    let g = r.gamma().ok_or_else(t)? - 1;
    let (sparse, k) = if g > 0 {
        let sparse = r.bit().ok_or_else(t)?;
        let k = r.read(6).ok_or_else(t)? as u32;
        (sparse, k)
    } else {
        (false, 0)
    };
    let mut last = *out.last().unwrap_or(&n0);
    while out.len() < n {
        let res = if g == 0 {
            0
        } else {
            let z = if sparse {
                if r.bit().ok_or_else(t)? {
                    r.rice(k).ok_or_else(t)?.wrapping_add(1)
                } else {
                    0
                }
            } else {
                r.rice(k).ok_or_else(t)?
            };
            unzigzag(z).wrapping_mul(g as i64)
        };
        if dod {
            delta = delta.wrapping_add(res);
        } else {
            delta = res;
        }
        last = last.wrapping_add(delta);
        out.push(last);
    }
    Ok(out)
}

fn xor_cost(values: &[f64]) -> u64 {
    let mut w = XorState::default();
    values.iter().map(|v| w.step(v.to_bits(), None)).sum()
}

fn write_xor(w: &mut BitWriter, values: &[f64]) {
    let mut s = XorState::default();
    for v in values {
        s.step(v.to_bits(), Some(w));
    }
}

/// The running state of XOR coding.
#[derive(Debug, Default)]
struct XorState {
    prev: Option<u64>,
    /// Leading zeros and meaningful bits of the current window.
    window: Option<(u32, u32)>,
}

impl XorState {
    /// Codes `bits` (writing when given a writer) and returns the bits spent.
    fn step(&mut self, bits: u64, w: Option<&mut BitWriter>) -> u64 {
        let Some(prev) = self.prev.replace(bits) else {
            if let Some(w) = w {
                w.write(bits, 64);
            }
            return 64;
        };
        let xor = bits ^ prev;
        if xor == 0 {
            if let Some(w) = w {
                w.bit(false);
            }
            return 1;
        }
        let leading = xor.leading_zeros().min(31);
        let trailing = xor.trailing_zeros();
        if let Some((l, m)) = self.window
            && leading >= l
            && trailing >= 64 - l - m
        {
            if let Some(w) = w {
                w.write(0b10, 2);
                w.write(xor >> (64 - l - m), m);
            }
            return 2 + u64::from(m);
        }
        let m = 64 - leading - trailing;
        self.window = Some((leading, m));
        if let Some(w) = w {
            w.write(0b11, 2);
            w.write(u64::from(leading), 5);
            w.write(u64::from(m % 64), 6);
            w.write(xor >> trailing, m);
        }
        13 + u64::from(m)
    }
}

fn read_xor(r: &mut BitReader<'_>, n: usize) -> Result<Vec<f64>, BlockError> {
    let t = || BlockError::Truncated("float values");
    let mut out = Vec::with_capacity(n.min(MAX_ROWS));
    if n == 0 {
        return Ok(out);
    }
    let mut bits = r.read(64).ok_or_else(t)?;
    out.push(f64::from_bits(bits));
    let mut window: Option<(u32, u32)> = None;
    while out.len() < n {
        if r.bit().ok_or_else(t)? {
            if r.bit().ok_or_else(t)? {
                let l = r.read(5).ok_or_else(t)? as u32;
                let m = match r.read(6).ok_or_else(t)? as u32 {
                    0 => 64,
                    m => m,
                };
                if l + m > 64 {
                    return Err(BlockError::Invalid("float window wider than 64 bits"));
                }
                window = Some((l, m));
            }
            let (l, m) = window.ok_or(BlockError::Invalid("float window reused before set"))?;
            let xor = r.read(m).ok_or_else(t)?;
            bits ^= xor.checked_shl(64 - l - m).unwrap_or(0);
        }
        out.push(f64::from_bits(bits));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn same(a: &Block, b: &Block) -> bool {
        a.ts == b.ts
            && a.columns.len() == b.columns.len()
            && a.columns
                .iter()
                .zip(&b.columns)
                .all(|((na, ca), (nb, cb))| {
                    na == nb
                        && ca.rows == cb.rows
                        && ca.values.len() == cb.values.len()
                        && ca
                            .values
                            .iter()
                            .zip(&cb.values)
                            .all(|(x, y)| x.to_bits() == y.to_bits())
                })
    }

    fn block_of(ts: Vec<i64>, cols: Vec<(u32, Vec<Option<f64>>)>) -> Block {
        let mut b = Block {
            ts,
            ..Block::default()
        };
        for (name, vals) in cols {
            let mut c = Column::default();
            for (row, v) in vals.into_iter().enumerate().take(b.ts.len()) {
                if let Some(v) = v {
                    c.rows.push(row as u32);
                    c.values.push(v);
                }
            }
            if !c.rows.is_empty() {
                b.columns.insert(name, c);
            }
        }
        b
    }

    #[test]
    fn steady_host_costs_little() {
        let ts: Vec<i64> = (0..360)
            .map(|i| 1_795_000_000_000 + i * 10_000 + i % 3)
            .collect();
        let mut mem = 8_000_000i64;
        let cols = vec![
            (
                0,
                (0..360)
                    .map(|_| Some(16.0 * 1024.0 * 1024.0 * 1024.0))
                    .collect(),
            ),
            (
                1,
                (0..360)
                    .map(|i| {
                        mem += [3, -7, 12, -1][i % 4] * 100;
                        Some((mem * 1024) as f64)
                    })
                    .collect(),
            ),
            (
                2,
                (0..360).map(|i| Some(1000.0 + i as f64 * 10.0)).collect(),
            ),
        ];
        let b = block_of(ts, cols);
        let bytes = b.encode();
        assert!(same(&Block::decode(&bytes).unwrap(), &b));
        // Constant: a header; memory: a few bits a sample; uptime: 1 bit.
        assert!(bytes.len() < 360 * 3 / 2, "{}", bytes.len());
        assert_eq!(decode_series(&bytes, 2).unwrap(), b.points(2));
    }

    #[test]
    fn available_memory_mirrors_used_memory() {
        let total = 16i64 << 30;
        let mut used = 6i64 << 30;
        let mut used_col = Vec::new();
        let mut avail_col = Vec::new();
        for i in 0..60i64 {
            used += ((i * 7919) % 40_000 - 20_000) * 1024;
            used_col.push(Some(used as f64));
            avail_col.push(Some((total - used) as f64));
        }
        let ts: Vec<i64> = (0..60).map(|i| i * 10_000).collect();
        let alone = block_of(ts.clone(), vec![(3, used_col.clone())]).encode();
        let b = block_of(ts, vec![(3, used_col), (4, avail_col)]);
        let both = b.encode();
        assert!(same(&Block::decode(&both).unwrap(), &b));
        assert_eq!(decode_series(&both, 4).unwrap(), b.points(4));
        // The mirror costs its first value and a few bits.
        assert!(
            both.len() <= alone.len() + 12,
            "{} vs {}",
            both.len(),
            alone.len()
        );
    }

    #[test]
    fn odd_values_stay_exact() {
        let vals = [
            -0.0,
            0.0,
            f64::NAN,
            f64::INFINITY,
            1e300,
            -1e-300,
            0.1 + 0.2,
            19.53125,
            f64::MIN_POSITIVE,
            9_007_199_254_740_993.0,
        ];
        let ts: Vec<i64> = (0..vals.len() as i64).collect();
        let b = block_of(ts, vec![(7, vals.iter().map(|v| Some(*v)).collect())]);
        assert!(same(&Block::decode(&b.encode()).unwrap(), &b));
    }

    #[test]
    fn corrupt_bytes_are_errors() {
        let b = block_of(
            (0..50).map(|i| i * 10_007).collect(),
            vec![(3, (0..50).map(|i| Some((i as f64).sin() * 100.0)).collect())],
        );
        let bytes = b.encode();
        assert_eq!(Block::decode(&[]), Err(BlockError::Empty));
        assert_eq!(Block::decode(&[9]), Err(BlockError::Format(9)));
        let cut = &bytes[..bytes.len() / 2];
        assert!(matches!(Block::decode(cut), Err(BlockError::Truncated(_))));
    }

    fn arb_value() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            (-1_000_000i64..1_000_000, 0usize..4).prop_map(|(n, k)| n as f64 / POW10[k]),
            (0u64..1 << 40).prop_map(|n| (n * 1024) as f64),
            Just(0.0),
        ]
    }

    fn arb_block() -> impl Strategy<Value = Block> {
        (
            any::<i64>(),
            proptest::collection::vec(0i64..100_000, 0..120),
            proptest::collection::btree_map(
                any::<u32>(),
                proptest::collection::vec(proptest::option::weighted(0.8, arb_value()), 120),
                0..6,
            ),
        )
            .prop_map(|(start, steps, cols)| {
                let mut t = start;
                let ts = steps
                    .iter()
                    .map(|s| {
                        t = t.saturating_add(*s);
                        t
                    })
                    .collect();
                let mut cols: Vec<(u32, Vec<Option<f64>>)> = cols.into_iter().collect();
                // Now and then a column that mirrors the first one, as
                // memory available mirrors memory used.
                if let (Some((_, vals)), Some(last)) = (cols.first(), cols.last())
                    && start.rem_euclid(2) == 0
                    && let Some(name) = last.0.checked_add(1)
                {
                    let mirrored = vals.iter().map(|v| v.map(|v| 1e6 - v)).collect();
                    cols.push((name, mirrored));
                }
                block_of(ts, cols)
            })
    }

    proptest! {
        #[test]
        fn blocks_round_trip(b in arb_block()) {
            let bytes = b.encode();
            let back = Block::decode(&bytes).unwrap();
            prop_assert!(same(&back, &b), "{:?} != {:?}", back, b);
            for name in b.columns.keys() {
                let got = decode_series(&bytes, *name).unwrap();
                let want = b.points(*name);
                prop_assert_eq!(got.len(), want.len());
                prop_assert!(got.iter().zip(&want).all(|(x, y)| x.0 == y.0 && x.1.to_bits() == y.1.to_bits()));
            }
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Block::decode(&bytes);
            let mut with_format = bytes.clone();
            with_format.insert(0, FORMAT);
            let _ = Block::decode(&with_format);
            let _ = decode_series(&with_format, 0);
        }

        #[test]
        fn damaged_blocks_never_panic(b in arb_block(), flips in proptest::collection::vec((any::<usize>(), 0u8..8), 1..4)) {
            let mut bytes = b.encode();
            for (i, bit) in flips {
                let n = bytes.len();
                if let Some(byte) = bytes.get_mut(i % n) {
                    *byte ^= 1 << bit;
                }
            }
            let _ = Block::decode(&bytes);
        }
    }
}
