//! Rollup tables: each series summed up by 5-minute, 1-hour and 1-day
//! buckets ([`ROLLUPS_5M`], [`ROLLUPS_1H`], [`ROLLUPS_1D`]).
//!
//! Rollups are made from a block's points when it closes, in memory and in
//! the write transaction that stores the block: a crash keeps both or
//! neither, so no rollup is lost or counted twice. A block rarely covers
//! whole buckets (it closes every ten minutes or so, and out of order
//! points close it early), so its part of each bucket is merged into the
//! stored rollup of the bucket ([`Partials::write`]).
//!
//! The 1-day rollups are kept as long as the 1-hour ones: a year at a
//! one-day step, or a fleet's week, is then a few rows per series.
//!
//! A row holds the rollups of one series over a group of buckets: an hour
//! of 5-minute rollups, a day of 1-hour ones ([`group_ms`]). Its key is
//! then written once for twelve or twenty-four rollups, and a B-tree
//! holds fewer, fuller rows. The row is a count, then per rollup its
//! bucket's place in the group, its length and its bytes
//! ([`Rollup::encode`]).

use std::collections::BTreeMap;

use redb::{ReadableDatabase, ReadableTable, Table, WriteTransaction};

use super::block::Block;
use super::schema::*;
use super::{Store, StoreError};
use crate::records::rollup::{Rollup, Tier};

/// A table of rollup points: `(asset id, name id, group start ms) → the
/// rollups of the group's buckets`.
pub type RollupTable<'t> = Table<'t, (&'static str, u32, i64), &'static [u8]>;

/// The tiers with rollup tables, finest first.
pub const ROLLUP_TIERS: [Tier; 3] = [Tier::FiveMinutes, Tier::OneHour, Tier::OneDay];

/// The three rollup tables of a write transaction.
pub(crate) struct RollupTables<'t> {
    tables: [RollupTable<'t>; 3],
}

impl<'t> RollupTables<'t> {
    /// Opens them in `txn`.
    pub fn open(txn: &'t WriteTransaction) -> Result<Self, StoreError> {
        Ok(RollupTables {
            tables: [
                txn.open_table(ROLLUPS_5M)?,
                txn.open_table(ROLLUPS_1H)?,
                txn.open_table(ROLLUPS_1D)?,
            ],
        })
    }

    /// The table of `tier` (none for raw points).
    pub fn table(&mut self, tier: Tier) -> Option<&mut RollupTable<'t>> {
        let i = ROLLUP_TIERS.iter().position(|t| *t == tier)?;
        self.tables.get_mut(i)
    }

    /// Moves the rollups of asset `from` to asset `into` (a provisional
    /// asset merged into the machine it turned out to be), merged with
    /// any `into` already has for the same series and bucket.
    pub fn move_asset(&mut self, from: &str, into: &str) -> Result<(), StoreError> {
        for tier in ROLLUP_TIERS {
            let Some(table) = self.table(tier) else {
                continue;
            };
            let mut moved = Partials::default();
            for r in table
                .extract_from_if((from, 0, i64::MIN)..=(from, u32::MAX, i64::MAX), |_, _| {
                    true
                })?
            {
                let (k, v) = r?;
                let (_, name, group) = k.value();
                for (bucket, rollup) in decode_group(tier, from, name, group, v.value(), true)? {
                    moved.points.insert((tier, name, bucket), rollup);
                }
            }
            moved.write(self, into)?;
        }
        Ok(())
    }
}

/// Rollups of some points of one asset, not yet merged into the tables.
#[derive(Debug, Default)]
pub(crate) struct Partials {
    points: BTreeMap<(Tier, u32, i64), Rollup>,
}

impl Partials {
    /// Adds every point of `block` to the buckets of every tier. Values
    /// that are not finite (never stored by ingest) are left out.
    pub fn add_block(&mut self, block: &Block) {
        for (&name, col) in &block.columns {
            for (row, &v) in col.rows.iter().zip(&col.values) {
                let Some(&ts) = block.ts.get(*row as usize) else {
                    continue;
                };
                if v.is_finite() {
                    self.add(name, ts, v);
                }
            }
        }
    }

    /// Adds one point of series `name`.
    pub fn add(&mut self, name: u32, ts: i64, v: f64) {
        self.add_to(&ROLLUP_TIERS, name, ts, v);
    }

    /// Adds one point of series `name` to the buckets of `tiers` only.
    fn add_to(&mut self, tiers: &[Tier], name: u32, ts: i64, v: f64) {
        for &tier in tiers {
            self.points
                .entry((tier, name, tier.bucket_of(ts)))
                .and_modify(|r| r.add(ts, v))
                .or_insert_with(|| Rollup::of(ts, v));
        }
    }

    /// Merges these rollups into the stored ones of `asset` (the stored
    /// points were given first), a row (group of buckets) at a time.
    pub fn write(self, tables: &mut RollupTables<'_>, asset: &str) -> Result<(), StoreError> {
        let mut rows: BTreeMap<(Tier, u32, i64), Vec<(i64, Rollup)>> = BTreeMap::new();
        for ((tier, name, bucket), part) in self.points {
            rows.entry((tier, name, group_of(tier, bucket)))
                .or_default()
                .push((bucket, part));
        }
        for ((tier, name, group), parts) in rows {
            let Some(table) = tables.table(tier) else {
                continue;
            };
            let key = (asset, name, group);
            let mut merged: BTreeMap<i64, Rollup> = match table.get(key)? {
                Some(v) => decode_group(tier, asset, name, group, v.value(), true)?
                    .into_iter()
                    .collect(),
                None => BTreeMap::new(),
            };
            for (bucket, part) in parts {
                merged
                    .entry(bucket)
                    .and_modify(|r| r.merge(&part))
                    .or_insert(part);
            }
            table.insert(key, encode_group(tier, group, &merged).as_slice())?;
        }
        Ok(())
    }
}

/// Width of the group of buckets a row of `tier` holds, ms.
pub fn group_ms(tier: Tier) -> i64 {
    match tier {
        Tier::Raw => 0,
        Tier::FiveMinutes => 3_600_000,
        Tier::OneHour | Tier::OneDay => 86_400_000,
    }
}

/// Start of the row (group of buckets) holding `bucket`.
pub fn group_of(tier: Tier, bucket: i64) -> i64 {
    match group_ms(tier) {
        0 => bucket,
        w => bucket.div_euclid(w).saturating_mul(w),
    }
}

/// A row's bytes: its rollups by bucket, all of the group starting at `group`.
fn encode_group(tier: Tier, group: i64, rollups: &BTreeMap<i64, Rollup>) -> Vec<u8> {
    use crate::helpers::sketch::put_varint;
    let width = tier.bucket_ms().max(1);
    let mut out = Vec::with_capacity(16 + rollups.len() * 40);
    put_varint(&mut out, rollups.len() as u64);
    for (&bucket, r) in rollups {
        put_varint(&mut out, (bucket.saturating_sub(group) / width) as u64);
        let bytes = r.encode(bucket);
        put_varint(&mut out, bytes.len() as u64);
        out.extend_from_slice(&bytes);
    }
    out
}

/// Decodes a row of `tier` (of series `name` of `asset`, group starting
/// at `group`) into its rollups by bucket, oldest first; without
/// `sketches`, their sketches are left empty.
pub(crate) fn decode_group(
    tier: Tier,
    asset: &str,
    name: u32,
    group: i64,
    bytes: &[u8],
    sketches: bool,
) -> Result<Vec<(i64, Rollup)>, StoreError> {
    decode_group_within(
        tier,
        asset,
        name,
        group,
        bytes,
        sketches,
        i64::MIN..=i64::MAX,
    )
}

/// [`decode_group`] of the rollups whose bucket is in `keep`: the others
/// are checked for their place in the row but not decoded.
pub(crate) fn decode_group_within(
    tier: Tier,
    asset: &str,
    name: u32,
    group: i64,
    bytes: &[u8],
    sketches: bool,
    keep: std::ops::RangeInclusive<i64>,
) -> Result<Vec<(i64, Rollup)>, StoreError> {
    let mut out = Vec::new();
    decode_group_into(tier, asset, name, group, bytes, sketches, keep, &mut out)?;
    Ok(out)
}

/// [`decode_group_within`], the rollups added to `out`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn decode_group_into(
    tier: Tier,
    asset: &str,
    name: u32,
    group: i64,
    bytes: &[u8],
    sketches: bool,
    keep: std::ops::RangeInclusive<i64>,
    out: &mut Vec<(i64, Rollup)>,
) -> Result<(), StoreError> {
    use crate::helpers::sketch::get_varint;
    let bad = |what: String| StoreError::Corrupt {
        table: tier_table_name(tier),
        reason: format!("rollups of series {name} of {asset} at {group}: {what}"),
    };
    let width = tier.bucket_ms().max(1);
    let slots = (group_ms(tier) / width).max(1) as u64;
    let mut r = bytes;
    let n = get_varint(&mut r, "rollup count").map_err(|e| bad(e.to_string()))?;
    if n > slots {
        return Err(bad(format!("{n} rollups in a row of {slots}")));
    }
    out.reserve(n as usize);
    let mut prev: Option<u64> = None;
    for _ in 0..n {
        let slot = get_varint(&mut r, "bucket").map_err(|e| bad(e.to_string()))?;
        if slot >= slots || prev.is_some_and(|p| slot <= p) {
            return Err(bad(format!("bucket {slot} out of order or of range")));
        }
        prev = Some(slot);
        let len = get_varint(&mut r, "length").map_err(|e| bad(e.to_string()))?;
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l <= r.len())
            .ok_or_else(|| bad("rollup longer than its row".into()))?;
        let (one, rest) = r.split_at(len);
        r = rest;
        let bucket = group.saturating_add((slot as i64).saturating_mul(width));
        if !keep.contains(&bucket) {
            continue;
        }
        let rollup = if sketches {
            Rollup::decode(one, bucket)
        } else {
            Rollup::decode_summary(one, bucket)
        }
        .map_err(|e| bad(format!("bucket {bucket}: {e}")))?;
        out.push((bucket, rollup));
    }
    if !r.is_empty() {
        return Err(bad("bytes after the last rollup".into()));
    }
    Ok(())
}

fn tier_table_name(tier: Tier) -> &'static str {
    match tier {
        Tier::Raw => "metric_blocks",
        Tier::FiveMinutes => "rollups_5m",
        Tier::OneHour => "rollups_1h",
        Tier::OneDay => "rollups_1d",
    }
}

/// Builds the rollups of every closed block the file holds (a file written
/// before rollups existed); returns how many blocks were read. Blocks are
/// read asset by asset, and each asset's rollups written once.
pub(crate) fn build_all(txn: &WriteTransaction) -> Result<u64, StoreError> {
    let mut tables = RollupTables::open(txn)?;
    let index = txn.open_table(BLOCK_INDEX)?;
    let blocks = txn.open_table(BLOCKS)?;
    let mut per_asset: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for r in index.iter()? {
        let (k, _) = r?;
        let (asset, _, bid) = k.value();
        per_asset.entry(asset.to_owned()).or_default().push(bid);
    }
    let mut read = 0;
    for (asset, mut ids) in per_asset {
        // In the order they were closed: of two points at one time, the
        // later closed is the bucket's last.
        ids.sort_unstable();
        let mut partials = Partials::default();
        for id in ids {
            let mut bytes = Vec::new();
            for r in blocks.range((id, 0)..=(id, u16::MAX))? {
                let (_, part) = r?;
                bytes.extend_from_slice(part.value());
            }
            match Block::decode(&bytes) {
                Ok(block) => partials.add_block(&block),
                // Queries report such a block when read; its rollups are
                // simply missing.
                Err(e) => {
                    tracing::warn!(block = id, %asset, error = %e, "metric block does not decode; no rollups made of it")
                }
            }
            read += 1;
        }
        partials.write(&mut tables, &asset)?;
    }
    Ok(read)
}

/// One read of a series' rollups for [`Store::rollup_reads`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollupRead {
    /// The tier read (nothing for [`Tier::Raw`]).
    pub tier: Tier,
    /// The first bucket start read, ms.
    pub from: i64,
    /// The last bucket start read, ms.
    pub to: i64,
    /// Whether the sketches are decoded (without: left empty, cheaper).
    pub sketches: bool,
}

impl Store {
    /// The rollups of one series of an asset in tier `tier` whose buckets
    /// start in `[from, to]`, oldest first (empty for [`Tier::Raw`]).
    pub fn rollups(
        &self,
        asset: &str,
        series: &str,
        tier: Tier,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, Rollup)>, StoreError> {
        let read = RollupRead {
            tier,
            from,
            to,
            sketches: true,
        };
        Ok(self
            .rollup_reads(asset, series, &[read])?
            .into_iter()
            .next()
            .unwrap_or_default())
    }

    /// Several reads of one series' rollups in one transaction: for each,
    /// the rollups whose buckets start in its range, oldest first.
    pub fn rollup_reads(
        &self,
        asset: &str,
        series: &str,
        reads: &[RollupRead],
    ) -> Result<Vec<Vec<(i64, Rollup)>>, StoreError> {
        let pairs: Vec<(&str, RollupRead)> = reads.iter().map(|r| (series, *r)).collect();
        self.rollup_reads_of(asset, &pairs)
    }

    /// Reads of several series of one asset in one transaction: for each
    /// `(series, read)`, the rollups whose buckets start in its range,
    /// oldest first (none for a series never stored).
    pub fn rollup_reads_of(
        &self,
        asset: &str,
        reads: &[(&str, RollupRead)],
    ) -> Result<Vec<Vec<(i64, Rollup)>>, StoreError> {
        let txn = self.db.begin_read()?;
        let names = txn.open_table(NAMES)?;
        let mut tables = Vec::new();
        for tier in ROLLUP_TIERS {
            if let Some(def) = rollup_table(tier) {
                tables.push((tier, txn.open_table(def)?));
            }
        }
        let mut ids: BTreeMap<&str, Option<u32>> = BTreeMap::new();
        let mut out = Vec::with_capacity(reads.len());
        for &(series, read) in reads {
            let RollupRead {
                tier,
                from,
                to,
                sketches,
            } = read;
            let name = match ids.get(series) {
                Some(id) => *id,
                None => {
                    let id = names.get(series)?.map(|v| v.value());
                    ids.insert(series, id);
                    id
                }
            };
            let table = tables.iter().find(|(t, _)| *t == tier).map(|(_, t)| t);
            // Room for every bucket of the range, up to a month of hours:
            // rollups are large, and growing the vector row by row moves them.
            let buckets = to.saturating_sub(from) / tier.bucket_ms().max(1) + 1;
            let mut got = Vec::with_capacity(usize::try_from(buckets).unwrap_or(0).min(744));
            if let (Some(name), Some(table)) = (name, table.filter(|_| from <= to)) {
                for r in table.range((asset, name, group_of(tier, from))..=(asset, name, to))? {
                    let (k, v) = r?;
                    let group = k.value().2;
                    decode_group_into(
                        tier,
                        asset,
                        name,
                        group,
                        v.value(),
                        sketches,
                        from..=to,
                        &mut got,
                    )?;
                }
            }
            out.push(got);
        }
        Ok(out)
    }
}

/// Points of one series of one asset, made elsewhere, for
/// [`Store::import_history`].
#[derive(Debug, Clone, Copy)]
pub struct History<'a> {
    /// Asset id.
    pub asset: &'a str,
    /// Full series name.
    pub series: &'a str,
    /// `(time ms, value)`, in any order.
    pub points: &'a [(i64, f64)],
}

impl Store {
    /// Adds history made elsewhere (another monitoring system's, or a
    /// bench's) to the rollups of `tiers`, merged with what they hold, in
    /// one transaction; each series is added to its asset's. No raw block
    /// is written: such history is older than raw points are kept.
    pub fn import_history(
        &self,
        history: &[History<'_>],
        tiers: &[Tier],
    ) -> Result<(), StoreError> {
        let mut cache = self.cache();
        let result = self.import_locked(&mut cache, history, tiers);
        if result.is_err() {
            *cache = super::ingest::Cache::default();
        }
        result
    }

    fn import_locked(
        &self,
        cache: &mut super::ingest::Cache,
        history: &[History<'_>],
        tiers: &[Tier],
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut t = super::ingest::Tables::open(&txn)?;
            let mut per_asset: BTreeMap<&str, Partials> = BTreeMap::new();
            for h in history {
                let id = super::ingest::name_id(&mut t, cache, h.series)?;
                t.series_of(cache, h.asset)?.insert(id);
                let partials = per_asset.entry(h.asset).or_default();
                for &(ts, v) in h.points.iter().filter(|p| p.1.is_finite()) {
                    partials.add_to(tiers, id, ts, v);
                }
            }
            for (asset, partials) in per_asset {
                t.put_series_of(cache, asset)?;
                partials.write(&mut t.rollups, asset)?;
            }
        }
        txn.commit()?;
        Ok(())
    }
}

/// One series of one asset over a range, summed up from its rollups.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetRollup {
    /// Asset id.
    pub asset: String,
    /// Full series name (with its subject, if any).
    pub series: String,
    /// The rollups of the range, merged.
    pub rollup: Rollup,
}

impl Store {
    /// Every series named `metric`, or `metric{…}` (any subject), of every
    /// asset (carrying `tag`, if given), with its rollups of tier `tier`
    /// whose buckets start in `[from, to]` merged into one, and the points
    /// of open blocks (not rolled up yet) in those buckets added; series
    /// with neither are left out. Read in one transaction; without
    /// `sketches`, the rollups' sketches are not read (left empty).
    pub fn fleet_rollups(
        &self,
        metric: &str,
        tier: Tier,
        from: i64,
        to: i64,
        tag: Option<&str>,
        sketches: bool,
    ) -> Result<Vec<FleetRollup>, StoreError> {
        let Some(def) = rollup_table(tier) else {
            return Ok(Vec::new());
        };
        if from > to || metric.is_empty() {
            return Ok(Vec::new());
        }
        let txn = self.db.begin_read()?;
        let subject = format!("{metric}{{");
        let mut names: BTreeMap<u32, String> = BTreeMap::new();
        for r in txn.open_table(NAMES)?.range(metric..)? {
            let (k, v) = r?;
            let name = k.value();
            if name != metric && !name.starts_with(&subject) {
                if name > subject.as_str() {
                    break;
                }
                continue;
            }
            names.insert(v.value(), name.to_owned());
        }
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let assets = txn.open_table(ASSETS)?;
        let table = txn.open_table(def)?;
        let mut out = Vec::new();
        for r in txn.open_table(ASSET_SERIES)?.iter()? {
            let (k, ids) = r?;
            let asset = k.value();
            let ids = super::ingest::decode_name_ids(ids.value())?;
            let wanted: Vec<(u32, &String)> = names
                .iter()
                .filter(|(id, _)| ids.contains(id))
                .map(|(id, n)| (*id, n))
                .collect();
            if wanted.is_empty() {
                continue;
            }
            if let Some(tag) = tag {
                let tagged = match assets.get(asset)? {
                    Some(v) => super::dec::<super::AssetMeta>("assets", v.value())?
                        .tags
                        .iter()
                        .any(|t| t == tag),
                    None => false,
                };
                if !tagged {
                    continue;
                }
            }
            // Open blocks are rolled up when they close: their points
            // count now, in the buckets they will be rolled up into.
            let ids: std::collections::BTreeSet<u32> = wanted.iter().map(|w| w.0).collect();
            let mut open = Vec::new();
            for (writer, bytes) in super::query::open_blocks(&txn, asset)? {
                let block = super::block::decode_columns(&bytes, &ids)
                    .map_err(|source| super::query::open_error(asset, &writer, source))?;
                open.push(block);
            }
            for (id, series) in wanted {
                let mut merged: Option<Rollup> = None;
                for r in table.range((asset, id, group_of(tier, from))..=(asset, id, to))? {
                    let (k, v) = r?;
                    let group = k.value().2;
                    let parts = decode_group_within(
                        tier,
                        asset,
                        id,
                        group,
                        v.value(),
                        sketches,
                        from..=to,
                    )?;
                    for (_, part) in parts {
                        match &mut merged {
                            Some(m) => m.merge(&part),
                            None => merged = Some(part),
                        }
                    }
                }
                for (t, v) in open.iter().flat_map(|b| b.points(id)) {
                    if !(from..=to).contains(&tier.bucket_of(t)) || !v.is_finite() {
                        continue;
                    }
                    match &mut merged {
                        Some(m) => m.add(t, v),
                        None => merged = Some(Rollup::of(t, v)),
                    }
                }
                if let Some(rollup) = merged {
                    out.push(FleetRollup {
                        asset: asset.to_owned(),
                        series: series.clone(),
                        rollup,
                    });
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use crate::store::Ingest;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    const SERIES: &str = "cpu.total_percent";

    /// A random series: gaps, now and then a point out of order, values
    /// with decimals.
    fn random_points(seed: u64, n: usize) -> Vec<(i64, f64)> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut t = 1_800_000_000_000i64 + rng.random_range(0..3_600_000);
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            t += match rng.random_range(0..20) {
                0 => rng.random_range(600_000..7_200_000),
                1 => -rng.random_range(1_000..900_000),
                _ => 10_000,
            };
            let v = (rng.random_range(0.0..100.0f64) * 10.0).round() / 10.0;
            out.push((t, v));
        }
        out
    }

    /// Commits the points in batches of `batch`, reopening the store every
    /// `reopen_every` batches (blocks are then closed mid-way).
    fn store_points(
        points: &[(i64, f64)],
        batch: usize,
        reopen_every: usize,
    ) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let mut store = Store::open(&path).unwrap();
        for (k, chunk) in points.chunks(batch).enumerate() {
            let samples = chunk.iter().map(|&(t, v)| sample(t, v)).collect();
            let items: Vec<Ingest> = vec![metrics("ag", k as u64 + 1, samples)];
            store.commit(&items).unwrap();
            if reopen_every > 0 && k % reopen_every == reopen_every - 1 {
                drop(store);
                store = Store::open(&path).unwrap();
            }
        }
        (dir, store)
    }

    /// The points of closed blocks: those the rollups are made of.
    fn closed_points(store: &Store, asset: &str) -> Vec<(i64, f64)> {
        let txn = store.begin_read().unwrap();
        let index = txn.open_table(BLOCK_INDEX).unwrap();
        let blocks = txn.open_table(BLOCKS).unwrap();
        let name = txn
            .open_table(NAMES)
            .unwrap()
            .get(SERIES)
            .unwrap()
            .unwrap()
            .value();
        let mut ids: Vec<u64> = index
            .range((asset, i64::MIN, 0)..=(asset, i64::MAX, u64::MAX))
            .unwrap()
            .map(|r| r.unwrap().0.value().2)
            .collect();
        ids.sort_unstable();
        let mut out = Vec::new();
        for id in ids {
            let bytes: Vec<u8> = blocks
                .range((id, 0)..=(id, u16::MAX))
                .unwrap()
                .flat_map(|r| r.unwrap().1.value().to_vec())
                .collect();
            out.extend(super::super::block::decode_series(&bytes, name).unwrap());
        }
        out
    }

    fn check_against_raw(
        points: &[(i64, f64)],
        batch: usize,
        reopen_every: usize,
    ) -> Result<(), TestCaseError> {
        let (_d, store) = store_points(points, batch, reopen_every);
        let asset = store.agent_asset_id("ag").unwrap().unwrap();
        let raw = closed_points(&store, &asset);
        for tier in ROLLUP_TIERS {
            let mut want: BTreeMap<i64, Vec<(i64, f64)>> = BTreeMap::new();
            for &(t, v) in &raw {
                want.entry(tier.bucket_of(t)).or_default().push((t, v));
            }
            let got = store
                .rollups(&asset, SERIES, tier, i64::MIN, i64::MAX)
                .unwrap();
            prop_assert_eq!(got.len(), want.len(), "{} buckets", tier);
            for ((bucket, r), (wb, pts)) in got.iter().zip(&want) {
                prop_assert_eq!(bucket, wb);
                prop_assert_eq!(r.count, pts.len() as u64);
                let min = pts.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
                let max = pts.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = pts.iter().map(|p| p.1).sum();
                prop_assert_eq!((r.min, r.max), (min, max));
                prop_assert!(
                    (r.sum - sum).abs() <= 1e-9 * sum.abs().max(1.0),
                    "{} vs {}",
                    r.sum,
                    sum
                );
                let last_at = pts.iter().map(|p| p.0).max().unwrap();
                prop_assert_eq!(r.last_at, last_at);
                let mut sorted: Vec<f64> = pts.iter().map(|p| p.1).collect();
                sorted.sort_by(f64::total_cmp);
                for q in [0.5, 0.95, 0.99] {
                    let exact = sorted[(q * (sorted.len() - 1) as f64).floor() as usize];
                    let est = r.sketch.quantile(q).unwrap();
                    prop_assert!(
                        (est - exact).abs()
                            <= crate::helpers::sketch::RELATIVE_ERROR * exact.abs() * (1.0 + 1e-9)
                                + 1e-9,
                        "q{}: {} vs {}",
                        q,
                        est,
                        exact
                    );
                }
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]
        #[test]
        fn rollups_agree_with_the_raw_points(seed in any::<u64>(), n in 1usize..400, batch in 4usize..40, reopen in 0usize..4) {
            let points = random_points(seed, n);
            check_against_raw(&points, batch, reopen)?;
        }
    }

    #[test]
    fn rollups_follow_a_provisional_asset_into_its_machine() {
        let (_d, s) = temp_store();
        let samples: Vec<_> = (0..130).map(|i| sample(i * 10_000, i as f64)).collect();
        s.commit(&[metrics("ag", 1, samples)]).unwrap();
        let asset = s.agent_asset_id("ag").unwrap().unwrap();
        let before = s
            .rollups(&asset, SERIES, Tier::OneHour, i64::MIN, i64::MAX)
            .unwrap();
        assert_eq!(before.len(), 1);
        assert_eq!(before[0].1.count, closed_points(&s, &asset).len() as u64);
        assert!(before[0].1.count >= 60);
        let txn = s.begin_write().unwrap();
        {
            let mut t = RollupTables::open(&txn).unwrap();
            t.move_asset(&asset, "asset-99").unwrap();
        }
        txn.commit().unwrap();
        assert!(
            s.rollups(&asset, SERIES, Tier::OneHour, i64::MIN, i64::MAX)
                .unwrap()
                .is_empty()
        );
        let moved = s
            .rollups("asset-99", SERIES, Tier::OneHour, i64::MIN, i64::MAX)
            .unwrap();
        assert_eq!(moved[0].1, before[0].1);
    }
}
