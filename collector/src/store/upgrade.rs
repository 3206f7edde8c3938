//! Upgrading a store file written by an older collector to the current
//! format ([`FORMAT_VERSION`]), in place, when [`super::Store::open`]
//! finds an older version in [`META`].
//!
//! The version is read without writing to the file ([`older_version`]).
//! The file is then copied beside itself (`atalaya.redb.v1.bak` for a
//! file of format 1), synced, so that the old file exists until the
//! upgrade has committed. Every step from the file's version to the
//! current one then runs in one write transaction, which also writes the
//! new version. Only after its commit is the copy removed. If anything
//! fails before that, the transaction is dropped and the copy is moved
//! back in place of the file, so that the file is byte for byte what the
//! old collector left; the error names the step. (A file the old
//! collector did not close cleanly can only be read once redb has
//! repaired it; it is then copied and upgraded as repaired.)
//!
//! One transaction for the whole upgrade rather than one per step: a file
//! is then either entirely its old version or entirely the current one,
//! whatever fails or crashes on the way, and no half-upgraded file (of a
//! version in between, which no released collector reads as such) can
//! exist. redb writes a large transaction's pages to the file as it goes,
//! so this costs disk space, not memory.
//!
//! # Steps
//! - **1 → 2.** Format 2 added the incident tables (created at open like
//!   every table) and converted nothing. Gap records of the first format-1
//!   releases, before a gap carried its cause, are given one.
//! - **2 → 3, per-series chunks.** Each asset's metric points, stored as
//!   Gorilla chunks per series (decoded by the `chunk` submodule), are
//!   written again as metric blocks, one row per sample time shared by its
//!   series, with the series named by fleet-wide ids. The values are the
//!   stored ones, bit for bit (not rounded as new samples are, see
//!   [`crate::helpers::series::stored_value`]).
//! - **2 → 3, metric blocks.** A file of format 2 can also come from the
//!   first release of metric blocks, made apart from the incident tables;
//!   it is told apart by its tables. Its blocks are already current; its
//!   gap records get their cause.
//! - **3 → 4.** Format 4 added the network device tables, created empty;
//!   nothing else changes (device series go in the existing metric blocks).
//! - **4 → 5.** Format 5 added the rollup tables: the rollups of every
//!   closed block are built (the open blocks are rolled up as they close,
//!   as in a current file).
//!
//! The layouts of older formats are described here and nowhere else.

mod chunk;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use atalaya_common::model::Timestamp;
use redb::{
    Database, ReadOnlyDatabase, ReadableDatabase, ReadableTable, Table, TableDefinition,
    TableHandle, WriteTransaction,
};
use serde::Deserialize;

use super::block::Block;
use super::ingest::{BLOCK_ROWS, MAX_BLOCK_SPAN_MS, encode_name_ids};
use super::records::{GapRecord, Missing};
use super::schema::*;
use super::{StoreError, enc, next_id, rollups};

/// Formats 1 and 2: `(asset id, series name) → series id`.
const SERIES_V2: TableDefinition<(&str, &str), u64> = TableDefinition::new("series");
/// Formats 1 and 2: `(series id, time of its first point) → chunk`.
const CHUNKS_V2: TableDefinition<(u64, i64), &[u8]> = TableDefinition::new("chunks");
/// Formats 1 and 2: key in [`META`] of the next series id.
const META_NEXT_SERIES_V2: &str = "next_series";
/// A chunk's key is the time of its first point, moved a millisecond
/// later for each chunk of the series that already had that key (merged
/// assets). Points this far before the key of the next chunk to read are
/// taken to be all read (the formats' own queries made the same
/// assumption); a point earlier still is not lost, it only starts a block
/// that overlaps another.
const CHUNK_KEY_SLACK_MS: i64 = 60_000;

/// A gap record before gaps carried their cause (format 1 until the
/// damaged-spool report, and format 2 with metric blocks).
#[derive(Debug, Deserialize)]
struct GapRecordV1 {
    agent_id: String,
    seq: u64,
    received_at: Timestamp,
    batches: u32,
    samples: u32,
    from: Timestamp,
    to: Timestamp,
}

/// One step from an older format to a newer one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Format 1 → 2: incident tables; gap causes for the oldest records.
    V1ToV2,
    /// Format 2 with per-series chunks → 3: chunks to metric blocks.
    V2ChunksToV3,
    /// Format 2 with metric blocks → 3: gap causes.
    V2BlocksToV3,
    /// Format 3 → 4: the network device tables, created empty.
    V3ToV4,
    /// Format 4 → 5: the rollups of the blocks already stored.
    V4ToV5,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::V1ToV2 => "1 → 2 (incident tables, gap causes)",
            Step::V2ChunksToV3 => "2 → 3 (per-series chunks to metric blocks)",
            Step::V2BlocksToV3 => "2 → 3 (metric blocks kept, gap causes)",
            Step::V3ToV4 => "3 → 4 (network device tables)",
            Step::V4ToV5 => "4 → 5 (rollups of the stored metric blocks)",
        })
    }
}

/// Where an upgrade was when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Opening the file after copying it.
    Open,
    /// Finding out which layout of its version the file has.
    Layout,
    /// A step.
    Step(Step),
    /// Committing the upgrade.
    Commit,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Open => f.write_str("opening the file"),
            Stage::Layout => f.write_str("reading which tables the file has"),
            Stage::Step(s) => write!(f, "step {s}"),
            Stage::Commit => f.write_str("committing"),
        }
    }
}

/// Upgrading a store file failed.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    /// The copy of the old file could not be made; the file was not touched.
    #[error(
        "upgrading store {path} from format {from}: copying it to {backup} first failed: \
         {source}; the store was not changed"
    )]
    Backup {
        /// The store file.
        path: PathBuf,
        /// Where the copy was to go.
        backup: PathBuf,
        /// Its format version.
        from: u64,
        /// Why.
        source: io::Error,
    },
    /// The upgrade failed; the file is back as it was (from the copy).
    #[error(
        "upgrading store {path} from format {from} to {to} failed at {stage}: {source}; \
         the store is unchanged (format {from})"
    )]
    Failed {
        /// The store file.
        path: PathBuf,
        /// Its format version.
        from: u64,
        /// The version it was upgraded to.
        to: u64,
        /// Where it failed.
        stage: Stage,
        /// Why.
        source: StoreError,
    },
    /// The upgrade failed and moving the copy back failed too.
    #[error(
        "upgrading store {path} from format {from} failed at {stage}: {source}; putting \
         the copy back also failed ({restore}): the old store is {backup}"
    )]
    Restore {
        /// The store file.
        path: PathBuf,
        /// The copy of the old file.
        backup: PathBuf,
        /// Its format version.
        from: u64,
        /// Where it failed.
        stage: Stage,
        /// Why.
        source: StoreError,
        /// Why the copy could not be moved back.
        restore: io::Error,
    },
}

/// True for the format versions an upgrade starts from.
pub fn can_upgrade(version: u64) -> bool {
    (1..FORMAT_VERSION).contains(&version)
}

/// The format version of the store file at `path` when it is one to
/// upgrade, read without writing to the file. `None` also when the file
/// cannot be read so (it is missing, in use, or needs the repair of an
/// unclean shutdown): opening it for writing then tells.
pub fn older_version(path: &Path) -> Option<u64> {
    if !path.is_file() {
        return None;
    }
    let db = ReadOnlyDatabase::open(path).ok()?;
    let txn = db.begin_read().ok()?;
    let meta = txn.open_table(META).ok()?;
    let version = meta.get(META_FORMAT).ok()??.value();
    can_upgrade(version).then_some(version)
}

/// Where the copy of a store file of format `from` is kept while it is
/// upgraded: beside it, `<file name>.v<from>.bak`.
pub fn backup_path(path: &Path, from: u64) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".v{from}.bak"));
    path.with_file_name(name)
}

/// Upgrades the closed store file at `path` from format `from` (see
/// [`can_upgrade`]) to [`FORMAT_VERSION`]; see the module docs. (The
/// error is boxed: it is large, and rare.)
pub fn upgrade(path: &Path, from: u64) -> Result<(), Box<UpgradeError>> {
    let started = Instant::now();
    let backup = backup_path(path, from);
    copy_aside(path, &backup).map_err(|source| UpgradeError::Backup {
        path: path.to_owned(),
        backup: backup.clone(),
        from,
        source,
    })?;
    tracing::info!(
        path = %path.display(),
        from,
        to = FORMAT_VERSION,
        backup = %backup.display(),
        "upgrading the store file; the old file is copied aside until the upgrade commits"
    );
    let mut db = match migrate(path, from) {
        Ok(db) => db,
        Err((stage, source)) => {
            // The transaction is dropped (redb keeps the old commit); the
            // copy makes the file byte for byte the old one again.
            return Err(Box::new(match restore(&backup, path) {
                Ok(()) => UpgradeError::Failed {
                    path: path.to_owned(),
                    from,
                    to: FORMAT_VERSION,
                    stage,
                    source,
                },
                Err(restore) => UpgradeError::Restore {
                    path: path.to_owned(),
                    backup,
                    from,
                    stage,
                    source,
                    restore,
                },
            }));
        }
    };
    if let Err(e) = fs::remove_file(&backup) {
        tracing::warn!(backup = %backup.display(), error = %e, "the store is upgraded; removing the copy of the old file failed");
    }
    // Rewritten metrics leave the old ones' pages free; give them back.
    let before = file_len(path);
    if let Err(e) = db.compact() {
        tracing::warn!(error = %e, "the store is upgraded; compacting it failed");
    }
    drop(db);
    tracing::info!(
        from,
        to = FORMAT_VERSION,
        ms = started.elapsed().as_millis() as u64,
        bytes_before_compaction = before,
        bytes = file_len(path),
        "store file upgraded; the copy of the old file is removed"
    );
    Ok(())
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Copies `path` to `backup` through a temporary name, synced, so that a
/// file named `backup` is always a whole copy.
fn copy_aside(path: &Path, backup: &Path) -> io::Result<()> {
    let mut partial = backup.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let copied = (|| {
        fs::copy(path, &partial)?;
        File::open(&partial)?.sync_all()?;
        fs::rename(&partial, backup)?;
        sync_dir(backup)
    })();
    if copied.is_err() {
        let _ = fs::remove_file(&partial);
    }
    copied
}

/// Moves the copy back in place of the store file.
fn restore(backup: &Path, path: &Path) -> io::Result<()> {
    fs::rename(backup, path)?;
    sync_dir(path)
}

/// Makes a rename in the directory of `path` durable.
fn sync_dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Opens the file and runs every step in one transaction; the database,
/// committed, or where it failed.
fn migrate(path: &Path, from: u64) -> Result<Database, (Stage, StoreError)> {
    let db = Database::create(path).map_err(|e| (Stage::Open, StoreError::Database(e.into())))?;
    let txn = db
        .begin_write()
        .map_err(|e| (Stage::Open, StoreError::from(e)))?;
    let steps = steps(&txn, from).map_err(|e| (Stage::Layout, e))?;
    for step in steps {
        let started = Instant::now();
        let at = |e| (Stage::Step(step), e);
        match step {
            Step::V1ToV2 => {
                let gaps = give_gaps_a_cause(&txn).map_err(at)?;
                tracing::info!(%step, gaps_given_a_cause = gaps, ms = started.elapsed().as_millis() as u64, "store upgrade step done");
            }
            Step::V2ChunksToV3 => {
                let n = chunks_to_blocks(&txn).map_err(at)?;
                tracing::info!(
                    %step,
                    assets = n.assets,
                    series = n.series,
                    chunks = n.chunks,
                    points = n.points,
                    blocks = n.blocks,
                    ms = started.elapsed().as_millis() as u64,
                    "store upgrade step done"
                );
            }
            Step::V2BlocksToV3 => {
                let gaps = give_gaps_a_cause(&txn).map_err(at)?;
                tracing::info!(%step, gaps_given_a_cause = gaps, ms = started.elapsed().as_millis() as u64, "store upgrade step done");
            }
            Step::V3ToV4 => {
                create_device_tables(&txn).map_err(|e| at(e.into()))?;
                tracing::info!(%step, "store upgrade step done");
            }
            Step::V4ToV5 => {
                let blocks = rollups::build_all(&txn).map_err(at)?;
                tracing::info!(%step, blocks, ms = started.elapsed().as_millis() as u64, "store upgrade step done");
            }
        }
    }
    let commit = || -> Result<(), StoreError> {
        txn.open_table(META)?.insert(META_FORMAT, FORMAT_VERSION)?;
        txn.commit()?;
        Ok(())
    };
    commit().map_err(|e| (Stage::Commit, e))?;
    Ok(db)
}

/// The steps from `from` to the current format, by the tables the file has.
fn steps(txn: &WriteTransaction, from: u64) -> Result<Vec<Step>, StoreError> {
    let mut chunks = false;
    let mut blocks = false;
    for t in txn.list_tables()? {
        chunks |= t.name() == CHUNKS_V2.name();
        blocks |= t.name() == BLOCKS.name();
    }
    match (from, chunks, blocks) {
        (1, _, false) => Ok(vec![
            Step::V1ToV2,
            Step::V2ChunksToV3,
            Step::V3ToV4,
            Step::V4ToV5,
        ]),
        (2, true, false) => Ok(vec![Step::V2ChunksToV3, Step::V3ToV4, Step::V4ToV5]),
        (2, false, true) => Ok(vec![Step::V2BlocksToV3, Step::V3ToV4, Step::V4ToV5]),
        (3, false, true) => Ok(vec![Step::V3ToV4, Step::V4ToV5]),
        (4, false, true) => Ok(vec![Step::V4ToV5]),
        _ => Err(StoreError::Corrupt {
            table: "meta",
            reason: format!(
                "a file of format {from} {} per-series chunks and {} metric blocks",
                if chunks { "with" } else { "without" },
                if blocks { "with" } else { "without" },
            ),
        }),
    }
}

/// Re-encodes the gap records stored without their cause (all of them
/// spool-full gaps, the only kind there was); returns how many.
fn give_gaps_a_cause(txn: &WriteTransaction) -> Result<u64, StoreError> {
    let mut gaps = txn.open_table(GAPS)?;
    let mut old = Vec::new();
    for r in gaps.iter()? {
        let (k, v) = r?;
        if whole::<GapRecord>(v.value()).is_some() {
            continue;
        }
        let Some(g) = whole::<GapRecordV1>(v.value()) else {
            let (asset, agent, seq) = k.value();
            return Err(StoreError::Corrupt {
                table: "gaps",
                reason: format!(
                    "gap {seq} of agent {agent} (asset {asset}) decodes in no known layout"
                ),
            });
        };
        let (asset, agent, seq) = k.value();
        let record = GapRecord {
            agent_id: g.agent_id,
            seq: g.seq,
            received_at: g.received_at,
            missing: Missing::SpoolFull {
                batches: g.batches,
                samples: g.samples,
                from: g.from,
                to: g.to,
            },
        };
        old.push(((asset.to_owned(), agent.to_owned(), seq), record));
    }
    for ((asset, agent, seq), record) in &old {
        gaps.insert(
            (asset.as_str(), agent.as_str(), *seq),
            enc("gaps", record)?.as_slice(),
        )?;
    }
    Ok(old.len() as u64)
}

/// `bytes` decoded as a `T` that uses every byte: postcard does not
/// describe itself, so a record of another layout may decode as a prefix.
fn whole<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Option<T> {
    match postcard::take_from_bytes(bytes) {
        Ok((v, [])) => Some(v),
        _ => None,
    }
}

/// What [`chunks_to_blocks`] did.
#[derive(Debug, Default)]
struct ChunkCounts {
    assets: u64,
    series: u64,
    chunks: u64,
    points: u64,
    blocks: u64,
}

/// Writes every asset's chunked series as metric blocks, then drops the
/// chunk tables.
fn chunks_to_blocks(txn: &WriteTransaction) -> Result<ChunkCounts, StoreError> {
    let mut n = ChunkCounts::default();
    {
        // Series by asset, and a fleet-wide id for every name, in name order.
        let mut by_asset: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
        for r in txn.open_table(SERIES_V2)?.iter()? {
            let (k, sid) = r?;
            let (asset, name) = k.value();
            by_asset
                .entry(asset.to_owned())
                .or_default()
                .push((name.to_owned(), sid.value()));
            n.series += 1;
        }
        let mut meta = txn.open_table(META)?;
        let mut names = txn.open_table(NAMES)?;
        let mut name_of = txn.open_table(NAME_OF)?;
        let mut ids: BTreeMap<String, u32> = BTreeMap::new();
        let all: BTreeSet<&String> = by_asset.values().flatten().map(|(name, _)| name).collect();
        for name in all {
            let found = names.get(name.as_str())?.map(|v| v.value());
            let id = match found {
                Some(id) => id,
                None => {
                    let n = next_id(&mut meta, META_NEXT_NAME)?;
                    let id = u32::try_from(n).map_err(|_| StoreError::Corrupt {
                        table: "meta",
                        reason: format!("series name id {n} does not fit 32 bits"),
                    })?;
                    names.insert(name.as_str(), id)?;
                    name_of.insert(id, name.as_str())?;
                    id
                }
            };
            ids.insert(name.clone(), id);
        }
        let chunks = txn.open_table(CHUNKS_V2)?;
        let mut out = BlockWriter {
            meta,
            blocks: txn.open_table(BLOCKS)?,
            index: txn.open_table(BLOCK_INDEX)?,
            head: Block::default(),
            written: 0,
        };
        let mut asset_series = txn.open_table(ASSET_SERIES)?;
        for (asset, series) in &by_asset {
            let mut set = BTreeSet::new();
            // Every chunk of the asset's series, in key (time) order.
            let mut keys = Vec::new();
            for (i, (name, sid)) in series.iter().enumerate() {
                set.insert(ids.get(name).copied().unwrap_or_default());
                for r in chunks.range((*sid, i64::MIN)..=(*sid, i64::MAX))? {
                    let (k, _) = r?;
                    keys.push((k.value().1, i));
                }
            }
            asset_series.insert(asset.as_str(), encode_name_ids(&set).as_slice())?;
            keys.sort_unstable();
            // Points read but not yet written: (time, order read) → point.
            let mut pending: BTreeMap<(i64, u64), (u32, f64)> = BTreeMap::new();
            let mut order = 0u64;
            for (key, i) in keys {
                let (name, sid) = &series[i];
                out.write_until(asset, &mut pending, key.saturating_sub(CHUNK_KEY_SLACK_MS))?;
                let Some(bytes) = chunks.get((*sid, key))? else {
                    continue;
                };
                let points = chunk::decode(bytes.value()).map_err(|e| StoreError::Corrupt {
                    table: "chunks",
                    reason: format!("chunk of series {name} of asset {asset} at {key}: {e}"),
                })?;
                let id = ids.get(name).copied().unwrap_or_default();
                n.chunks += 1;
                n.points += points.len() as u64;
                for (ts, v) in points {
                    pending.insert((ts, order), (id, v));
                    order += 1;
                }
            }
            out.write_until(asset, &mut pending, i64::MAX)?;
            out.close(asset)?;
            n.assets += 1;
        }
        n.blocks = out.written;
        out.meta.remove(META_NEXT_SERIES_V2)?;
    }
    txn.delete_table(CHUNKS_V2)?;
    txn.delete_table(SERIES_V2)?;
    Ok(n)
}

/// Builds one asset's blocks at a time from its points in time order and
/// stores them closed, as the ingest closes an agent's open block.
struct BlockWriter<'t> {
    meta: Table<'t, &'static str, u64>,
    blocks: Table<'t, (u64, u16), &'static [u8]>,
    index: Table<'t, (&'static str, i64, u64), i64>,
    head: Block,
    written: u64,
}

impl BlockWriter<'_> {
    /// Writes the points of `pending` before time `until` as rows: one per
    /// time, or several when a series has more than one point at it (all
    /// points are kept, in the order read).
    fn write_until(
        &mut self,
        asset: &str,
        pending: &mut BTreeMap<(i64, u64), (u32, f64)>,
        until: i64,
    ) -> Result<(), StoreError> {
        let rest = pending.split_off(&(until, 0));
        let ready = std::mem::replace(pending, rest);
        let mut it = ready.into_iter().peekable();
        while let Some(&((ts, _), _)) = it.peek() {
            // The k-th point of a series at this time goes to the k-th row.
            let mut layers: Vec<Vec<(u32, f64)>> = Vec::new();
            let mut seen: HashMap<u32, usize> = HashMap::new();
            while let Some((_, p)) = it.next_if(|((t, _), _)| *t == ts) {
                let k = seen.entry(p.0).or_insert(0);
                if *k == layers.len() {
                    layers.push(Vec::new());
                }
                if let Some(layer) = layers.get_mut(*k) {
                    layer.push(p);
                }
                *k += 1;
            }
            for layer in layers {
                self.row(asset, ts, &layer)?;
            }
        }
        Ok(())
    }

    fn row(&mut self, asset: &str, ts: i64, points: &[(u32, f64)]) -> Result<(), StoreError> {
        if let (Some(first), Some(last)) = (self.head.first_ts(), self.head.last_ts())
            && (ts < last
                || ts.saturating_sub(first) > MAX_BLOCK_SPAN_MS
                || self.head.rows() >= BLOCK_ROWS)
        {
            self.close(asset)?;
        }
        self.head.push_row(ts);
        for &(id, v) in points {
            self.head.put(id, v);
        }
        Ok(())
    }

    /// Stores the block being built, if any, as a closed block of `asset`.
    fn close(&mut self, asset: &str) -> Result<(), StoreError> {
        let (Some(first), Some(last)) = (self.head.first_ts(), self.head.last_ts()) else {
            return Ok(());
        };
        let id = next_id(&mut self.meta, META_NEXT_BLOCK)?;
        let bytes = std::mem::take(&mut self.head).encode();
        for (i, part) in bytes.chunks(BLOCK_PART_BYTES).enumerate() {
            let i = u16::try_from(i).map_err(|_| StoreError::Encode {
                table: "metric_blocks",
                reason: format!("a metric block of more than {} parts", u16::MAX),
            })?;
            self.blocks.insert((id, i), part)?;
        }
        self.index.insert((asset, first, id), last)?;
        self.written += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gap_records_without_a_cause_are_told_from_current_ones() {
        #[derive(serde::Serialize)]
        struct Old<'a> {
            agent_id: &'a str,
            seq: u64,
            received_at: Timestamp,
            batches: u32,
            samples: u32,
            from: Timestamp,
            to: Timestamp,
        }
        let t = Timestamp(1_764_000_000_000);
        let old = postcard::to_stdvec(&Old {
            agent_id: "ag",
            seq: 7,
            received_at: t,
            batches: 0,
            samples: 1,
            from: t,
            to: t,
        })
        .unwrap();
        assert!(whole::<GapRecord>(&old).is_none());
        assert!(whole::<GapRecordV1>(&old).is_some());
        for missing in [
            Missing::SpoolFull {
                batches: 1,
                samples: 6,
                from: t,
                to: t,
            },
            Missing::SpoolDamaged {
                found_at: t,
                file: "f".into(),
                reason: "r".into(),
                bytes: 1,
                lost_bytes: 1,
            },
        ] {
            let new = postcard::to_stdvec(&GapRecord {
                agent_id: "ag".into(),
                seq: 7,
                received_at: t,
                missing,
            })
            .unwrap();
            assert!(whole::<GapRecord>(&new).is_some());
            assert!(whole::<GapRecordV1>(&new).is_none());
        }
    }

    #[test]
    fn the_copy_is_named_after_the_file_and_its_version() {
        assert_eq!(
            backup_path(Path::new("/var/lib/atalaya/atalaya.redb"), 1),
            Path::new("/var/lib/atalaya/atalaya.redb.v1.bak")
        );
        assert!(can_upgrade(1) && can_upgrade(FORMAT_VERSION - 1));
        assert!(!can_upgrade(0) && !can_upgrade(FORMAT_VERSION));
    }
}
