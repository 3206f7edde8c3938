//! Deleting metric data past their tier's retention, in small write
//! transactions.
//!
//! An expiry pass ([`Expiry`]) walks each tier's table asset by asset
//! (series by series for rollups) and deletes what is older than the
//! tier's cut-off, at most a batch of entries per transaction
//! ([`Store::expire_step`]); between transactions the write lock is free,
//! so a commit of agents' records waits for one small batch at most.
//! Each batch commits whole, and deleting again what is already gone does
//! nothing: a pass cut short by a crash is simply run again. So only the
//! pass's last transaction is durable; the others reach the disk with the
//! next durable commit (the last one, or any commit of agents' records).
//!
//! # The byte budget
//! With [`Retention::max_bytes`], a pass that starts with more pages in
//! use than the budget moves the cut-off of raw points forward past their
//! duration (by an eighth of what is left each pass, so that a far
//! exceeded budget is met in a few passes), and once no raw point is left
//! to delete but the last two hours, the cut-off of the 5-minute rollups.
//! Freed pages are reused by later writes, so the file stops growing.
//! The cut-offs are kept in [`RETENTION`]: what a tier still holds starts
//! there ([`Store::retention_bounds`]).

use std::ops::Bound;

use redb::{Durability, ReadableDatabase, ReadableTable, WriteTransaction};

use super::ingest::MAX_BLOCK_SPAN_MS;
use super::rollups::group_ms;
use super::schema::*;
use super::{Store, StoreError};
use crate::records::rollup::Tier;

/// How long each tier is kept, and the file's byte budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Raw points, ms.
    pub raw_ms: i64,
    /// 5-minute rollups, ms.
    pub five_minutes_ms: i64,
    /// 1-hour rollups (and the 1-day ones), ms.
    pub one_hour_ms: i64,
    /// Bytes of pages in use past which older data go first (`None`: no budget).
    pub max_bytes: Option<u64>,
}

const DAY_MS: i64 = 86_400_000;

impl Default for Retention {
    fn default() -> Self {
        Retention {
            raw_ms: 14 * DAY_MS,
            five_minutes_ms: 400 * DAY_MS,
            one_hour_ms: 5 * 365 * DAY_MS,
            max_bytes: None,
        }
    }
}

impl Retention {
    /// How long `tier` is kept, ms.
    pub fn keep_ms(&self, tier: Tier) -> i64 {
        match tier {
            Tier::Raw => self.raw_ms,
            Tier::FiveMinutes => self.five_minutes_ms,
            Tier::OneHour | Tier::OneDay => self.one_hour_ms,
        }
    }
}

/// Where each tier's data start: the later of its retention and what a
/// byte budget deleted (ms; `i64::MIN` before anything was deleted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Raw points.
    pub raw: i64,
    /// 5-minute rollups.
    pub five_minutes: i64,
    /// 1-hour and 1-day rollups.
    pub one_hour: i64,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            raw: i64::MIN,
            five_minutes: i64::MIN,
            one_hour: i64::MIN,
        }
    }
}

impl Bounds {
    /// Where `tier` starts.
    pub fn of(&self, tier: Tier) -> i64 {
        match tier {
            Tier::Raw => self.raw,
            Tier::FiveMinutes => self.five_minutes,
            Tier::OneHour | Tier::OneDay => self.one_hour,
        }
    }
}

/// What an expiry pass did, so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpiryReport {
    /// Raw blocks deleted.
    pub blocks: u64,
    /// Rollup points deleted.
    pub rollups: u64,
    /// The cut-offs of this pass.
    pub bounds: Bounds,
    /// The pass started over the byte budget, with this many bytes in use.
    pub over_budget: Option<u64>,
    /// The budget moved the raw cut-off past its duration.
    pub raw_forced: bool,
    /// The budget moved the 5-minute cut-off past its duration.
    pub five_minutes_forced: bool,
    /// The oldest raw block and 5-minute rollup left (ms), as walked.
    oldest: [Option<i64>; 2],
}

/// One expiry pass, run a transaction at a time by [`Store::expire_step`].
#[derive(Debug, Default)]
pub struct Expiry {
    /// Tiers done so far (by [`Tier::ALL`] order).
    tier: usize,
    /// Last prefix handled in the current tier: asset, and name id for rollups.
    after: Option<(String, u32)>,
    /// `after` may hold more to delete: walk it again.
    again: bool,
    started: bool,
    /// What was done.
    pub report: ExpiryReport,
}

impl Expiry {
    /// A pass not yet started.
    pub fn new() -> Self {
        Self::default()
    }

    /// True once every tier was walked.
    pub fn done(&self) -> bool {
        self.started && self.tier >= Tier::ALL.len()
    }
}

/// Key in [`RETENTION`] of each tier's cut-off.
fn bound_key(tier: Tier) -> &'static str {
    match tier {
        Tier::Raw => "raw",
        Tier::FiveMinutes => "5m",
        Tier::OneHour | Tier::OneDay => "1h",
    }
}

/// Keys in [`RETENTION`] of the oldest raw block and 5-minute rollup the
/// last pass left.
const OLDEST_KEYS: [&str; 2] = ["raw_oldest", "5m_oldest"];

/// The cut-off moved forward by the budget: an eighth of what is left
/// before `limit`, at least five minutes, never past `limit`.
fn advance(from: i64, limit: i64) -> i64 {
    let step = (limit.saturating_sub(from) / 8).max(300_000);
    from.saturating_add(step).min(limit)
}

impl Store {
    /// Where each tier's data start, as the last expiry pass left them.
    pub fn retention_bounds(&self) -> Result<Bounds, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(RETENTION)?;
        let get = |tier| -> Result<i64, StoreError> {
            Ok(t.get(bound_key(tier))?.map_or(i64::MIN, |v| v.value()))
        };
        Ok(Bounds {
            raw: get(Tier::Raw)?,
            five_minutes: get(Tier::FiveMinutes)?,
            one_hour: get(Tier::OneHour)?,
        })
    }

    /// Runs one transaction of an expiry pass: deletes at most `batch`
    /// entries (blocks or rollup points) older than their tier's cut-off.
    /// The first call of a pass sets the cut-offs for `now` (see the
    /// module docs); call again until [`Expiry::done`].
    pub fn expire_step(
        &self,
        policy: &Retention,
        now: i64,
        pass: &mut Expiry,
        batch: usize,
    ) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write()?;
        if !pass.started {
            pass.report = start_pass(&txn, policy, now)?;
            pass.started = true;
        }
        let mut budget = batch.max(1);
        while budget > 0 && pass.tier < Tier::ALL.len() {
            let Some(&tier) = Tier::ALL.get(pass.tier) else {
                break;
            };
            let cut = pass.report.bounds.of(tier);
            let more = match tier {
                Tier::Raw => expire_raw(&txn, cut, pass, &mut budget)?,
                _ => expire_rollups(&txn, tier, cut, pass, &mut budget)?,
            };
            if !more {
                if let Some(slot) = [Tier::Raw, Tier::FiveMinutes]
                    .iter()
                    .position(|t| *t == tier)
                    && let Some(key) = OLDEST_KEYS.get(slot)
                {
                    // Where the budget starts moving the cut-off next time.
                    let mut t = txn.open_table(RETENTION)?;
                    match pass.report.oldest.get(slot).copied().flatten() {
                        Some(at) => t.insert(*key, at)?,
                        None => t.remove(*key)?,
                    };
                }
                pass.tier += 1;
                pass.after = None;
                pass.again = false;
            }
        }
        if !pass.done() {
            // Only the pass's last transaction waits for the disk: one lost
            // in a crash is deleted again by the next pass, and a commit of
            // agents' records then waits for one fsync less.
            txn.set_durability(Durability::None)?;
        }
        txn.commit()?;
        Ok(())
    }
}

/// Sets the cut-offs of a pass, moving them forward when over budget.
fn start_pass(
    txn: &WriteTransaction,
    policy: &Retention,
    now: i64,
) -> Result<ExpiryReport, StoreError> {
    let mut table = txn.open_table(RETENTION)?;
    let mut report = ExpiryReport::default();
    let stored = |t: &redb::Table<'_, &'static str, i64>, tier| -> Result<i64, StoreError> {
        Ok(t.get(bound_key(tier))?.map_or(i64::MIN, |v| v.value()))
    };
    let mut raw = stored(&table, Tier::Raw)?.max(now.saturating_sub(policy.raw_ms));
    let mut five =
        stored(&table, Tier::FiveMinutes)?.max(now.saturating_sub(policy.five_minutes_ms));
    let hour = stored(&table, Tier::OneHour)?.max(now.saturating_sub(policy.one_hour_ms));
    if let Some(max) = policy.max_bytes {
        let st = txn.stats()?;
        let used = st.allocated_pages().saturating_mul(st.page_size() as u64);
        if used > max {
            report.over_budget = Some(used);
            // The open blocks and the last closed ones stay.
            let raw_limit = now.saturating_sub(MAX_BLOCK_SPAN_MS);
            let oldest = |key| -> Result<i64, StoreError> {
                Ok(table.get(key)?.map_or(i64::MIN, |v| v.value()))
            };
            let [raw_oldest, five_oldest] = OLDEST_KEYS;
            if raw < raw_limit {
                raw = advance(raw.max(oldest(raw_oldest)?), raw_limit);
                report.raw_forced = true;
            } else {
                five = advance(five.max(oldest(five_oldest)?), raw_limit);
                report.five_minutes_forced = true;
            }
        }
    }
    for (tier, v) in [
        (Tier::Raw, raw),
        (Tier::FiveMinutes, five),
        (Tier::OneHour, hour),
    ] {
        table.insert(bound_key(tier), v)?;
    }
    report.bounds = Bounds {
        raw,
        five_minutes: five,
        one_hour: hour,
    };
    Ok(report)
}

fn note_oldest(slot: &mut Option<i64>, at: i64) {
    *slot = Some(slot.map_or(at, |o| o.min(at)));
}

/// Deletes raw blocks that ended before `cut`, from the asset after
/// `pass.after` on; false once every asset was walked. A block is known
/// to have ended by its first point: it spans at most
/// [`MAX_BLOCK_SPAN_MS`].
fn expire_raw(
    txn: &WriteTransaction,
    cut: i64,
    pass: &mut Expiry,
    budget: &mut usize,
) -> Result<bool, StoreError> {
    let mut index = txn.open_table(BLOCK_INDEX)?;
    let mut blocks = txn.open_table(BLOCKS)?;
    let before = cut.saturating_sub(MAX_BLOCK_SPAN_MS);
    while *budget > 0 {
        let next = {
            let start = match &pass.after {
                Some((a, _)) if pass.again => Bound::Included((a.as_str(), i64::MIN, 0)),
                Some((a, _)) => Bound::Excluded((a.as_str(), i64::MAX, u64::MAX)),
                None => Bound::Unbounded,
            };
            let mut it = index.range::<(&str, i64, u64)>((start, Bound::Unbounded))?;
            match it.next() {
                Some(r) => r?.0.value().0.to_owned(),
                None => return Ok(false),
            }
        };
        *budget -= 1;
        let mut ids = Vec::new();
        for r in index
            .extract_from_if(
                (next.as_str(), i64::MIN, 0)..(next.as_str(), before, 0),
                |_, _| true,
            )?
            .take(*budget)
        {
            ids.push(r?.0.value().2);
        }
        *budget -= ids.len();
        for id in &ids {
            blocks.retain_in((*id, 0)..=(*id, u16::MAX), |_, _| false)?;
        }
        if let Some(r) = index
            .range((next.as_str(), i64::MIN, 0)..=(next.as_str(), i64::MAX, u64::MAX))?
            .next()
        {
            note_oldest(&mut pass.report.oldest[0], r?.0.value().1);
        }
        pass.report.blocks += ids.len() as u64;
        // Out of budget, this asset may have more: walked again next time.
        pass.again = *budget == 0;
        pass.after = Some((next, 0));
    }
    Ok(true)
}

/// Deletes rows of rollups of `tier` whose buckets all ended before `cut`, series
/// by series from the one after `pass.after`; false once all were walked.
fn expire_rollups(
    txn: &WriteTransaction,
    tier: Tier,
    cut: i64,
    pass: &mut Expiry,
    budget: &mut usize,
) -> Result<bool, StoreError> {
    let Some(def) = rollup_table(tier) else {
        return Ok(false);
    };
    let mut table = txn.open_table(def)?;
    // A row goes once every bucket of its group has ended before the cut.
    let before = cut.saturating_sub(group_ms(tier));
    while *budget > 0 {
        let (asset, name) = {
            let start = match &pass.after {
                Some((a, n)) if pass.again => Bound::Included((a.as_str(), *n, i64::MIN)),
                Some((a, n)) => Bound::Excluded((a.as_str(), *n, i64::MAX)),
                None => Bound::Unbounded,
            };
            let mut it = table.range::<(&str, u32, i64)>((start, Bound::Unbounded))?;
            match it.next() {
                Some(r) => {
                    let k = r?.0;
                    let (a, n, _) = k.value();
                    (a.to_owned(), n)
                }
                None => return Ok(false),
            }
        };
        *budget -= 1;
        let mut n = 0;
        for r in table
            .extract_from_if(
                (asset.as_str(), name, i64::MIN)..(asset.as_str(), name, before),
                |_, _| true,
            )?
            .take(*budget)
        {
            r?;
            n += 1;
        }
        *budget -= n;
        pass.report.rollups += n as u64;
        if tier == Tier::FiveMinutes
            && let Some(r) = table
                .range((asset.as_str(), name, i64::MIN)..=(asset.as_str(), name, i64::MAX))?
                .next()
        {
            note_oldest(&mut pass.report.oldest[1], r?.0.value().2);
        }
        // Out of budget, this series may have more: walked again next time.
        pass.again = *budget == 0;
        pass.after = Some((asset, name));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    const HOUR: i64 = 3_600_000;
    const START: i64 = 1_800_000_000_000;

    /// Runs an expiry pass to its end in batches of `batch`.
    fn expire(store: &Store, policy: &Retention, now: i64, batch: usize) -> ExpiryReport {
        let mut pass = Expiry::new();
        let mut steps = 0;
        while !pass.done() {
            store.expire_step(policy, now, &mut pass, batch).unwrap();
            steps += 1;
            assert!(steps < 100_000, "the pass never ends");
        }
        pass.report
    }

    /// One day of samples a minute apart, committed an hour at a time.
    fn feed_day(store: &Store, day: i64, seq: &mut u64) {
        for hour in 0..24 {
            let samples = (0..60)
                .map(|m| {
                    let t = START + day * DAY_MS + hour * HOUR + m * 60_000;
                    sample(t, ((t / 60_000) % 97) as f64)
                })
                .collect();
            *seq += 1;
            store.commit(&[metrics("ag", *seq, samples)]).unwrap();
        }
    }

    fn oldest_block_first(store: &Store) -> Option<i64> {
        let txn = store.begin_read().unwrap();
        let index = txn.open_table(BLOCK_INDEX).unwrap();
        index.iter().unwrap().map(|r| r.unwrap().0.value().1).min()
    }

    fn oldest_rollup(store: &Store, tier: Tier) -> Option<i64> {
        let txn = store.begin_read().unwrap();
        let t = txn.open_table(rollup_table(tier).unwrap()).unwrap();
        t.iter().unwrap().map(|r| r.unwrap().0.value().2).min()
    }

    #[test]
    fn expiry_moves_the_boundaries_and_the_file_stops_growing() {
        let (_d, store) = temp_store();
        let policy = Retention {
            raw_ms: DAY_MS,
            five_minutes_ms: 3 * DAY_MS,
            one_hour_ms: 6 * DAY_MS,
            max_bytes: None,
        };
        let mut seq = 0;
        let mut sizes = Vec::new();
        for day in 0..12 {
            feed_day(&store, day, &mut seq);
            let now = START + (day + 1) * DAY_MS;
            let report = expire(&store, &policy, now, 50);
            assert_eq!(report.bounds.raw, now - DAY_MS);
            assert!(report.over_budget.is_none() && !report.raw_forced);
            let oldest = oldest_block_first(&store).unwrap();
            assert!(
                oldest >= now - DAY_MS - MAX_BLOCK_SPAN_MS,
                "day {day}: {oldest}"
            );
            // Rows of an hour of 5-minute rollups, a day of hourly ones.
            let five = oldest_rollup(&store, Tier::FiveMinutes).unwrap();
            assert!(five >= now - 3 * DAY_MS - HOUR, "day {day}");
            let hour = oldest_rollup(&store, Tier::OneHour).unwrap();
            assert!(hour >= now - 7 * DAY_MS, "day {day}");
            if day >= 3 {
                assert!(
                    five <= now - 3 * DAY_MS,
                    "day {day}: 5m rollups kept too short"
                );
            }
            sizes.push(store.stats().unwrap().file_bytes);
        }
        assert_eq!(store.retention_bounds().unwrap().raw, START + 11 * DAY_MS);
        // Past the longest retention, freed pages are reused.
        let steady = sizes[8];
        assert!(
            sizes[8..].iter().all(|s| *s <= steady + steady / 20),
            "{sizes:?}"
        );
        assert!(sizes[7] > sizes[1], "{sizes:?}");
    }

    #[test]
    fn a_byte_budget_deletes_raw_points_first_then_5_minute_rollups() {
        let (_d, store) = temp_store();
        let mut seq = 0;
        for day in 0..4 {
            feed_day(&store, day, &mut seq);
        }
        let now = START + 4 * DAY_MS;
        let policy = Retention {
            max_bytes: Some(1),
            ..Retention::default()
        };
        let first = expire(&store, &policy, now, 1000);
        assert!(first.over_budget.is_some() && first.raw_forced);
        assert_eq!(first.bounds.five_minutes, now - policy.five_minutes_ms);
        // The first pass learnt where the raw points start; the next one
        // deletes from there.
        let second = expire(&store, &policy, now, 1000);
        assert!(second.bounds.raw > START, "{second:?}");
        assert!(second.blocks > 0 && second.raw_forced);
        assert!(oldest_block_first(&store).unwrap() > START);
        // Pass after pass the raw cut-off nears the last two hours, then
        // the 5-minute rollups go.
        let mut last = second;
        for _ in 0..60 {
            last = expire(&store, &policy, now, 1000);
            if last.five_minutes_forced {
                break;
            }
        }
        assert!(last.five_minutes_forced, "{last:?}");
        assert_eq!(
            store.retention_bounds().unwrap().raw,
            now - MAX_BLOCK_SPAN_MS
        );
        assert!(oldest_block_first(&store).unwrap() >= now - 2 * MAX_BLOCK_SPAN_MS);
        assert!(oldest_rollup(&store, Tier::FiveMinutes).unwrap() > START);
        // The hourly rollups are all kept.
        assert_eq!(
            oldest_rollup(&store, Tier::OneHour),
            Some(super::super::rollups::group_of(Tier::OneHour, START))
        );
        // Without the budget, the cut-offs the budget moved stay.
        let calm = expire(&store, &Retention::default(), now, 1000);
        assert!(!calm.raw_forced && calm.bounds.raw == now - MAX_BLOCK_SPAN_MS);
    }
}
