//! Reads: asset lists, one asset, change history, inventory as of a time,
//! installed base, metric series.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use atalaya_common::diff::{self, Change};
use atalaya_common::model::{Inventory, Timestamp};
use atalaya_common::version::cmp as version_cmp;
use redb::{ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata};

use super::block;
use super::heads::{MetaHead, dec_head};
use super::ingest::{MAX_BLOCK_SPAN_MS, decode_name_ids};
use super::records::*;
use super::schema::*;
use super::{Store, StoreError, dec};
use crate::helpers::pattern::glob;
use crate::records::device::DeviceChange;

impl Store {
    /// Assets matching every filter of `f`, by id, one page.
    pub fn assets(&self, f: &AssetFilter) -> Result<Page<AssetSummary>, StoreError> {
        let txn = self.db.begin_read()?;
        let assets = txn.open_table(ASSETS)?;
        // With a software filter the index names the candidates.
        let candidates: Option<BTreeSet<String>> = match &f.software {
            Some(name) => {
                let mut set = BTreeSet::new();
                for (_, version, asset) in software_rows(&txn, name)? {
                    let lo = f
                        .version_min
                        .as_deref()
                        .is_none_or(|m| version_cmp(&version, m) != Ordering::Less);
                    let hi = f
                        .version_max
                        .as_deref()
                        .is_none_or(|m| version_cmp(&version, m) != Ordering::Greater);
                    if lo && hi {
                        set.insert(asset);
                    }
                }
                Some(set)
            }
            None => None,
        };
        let host = f.hostname.as_deref().map(str::to_lowercase);
        let os = f.os.as_deref().map(str::to_lowercase);
        let keep = |m: &MetaHead<'_>| {
            host.as_deref()
                .is_none_or(|h| glob(h, &m.hostname.to_lowercase()))
                && os.as_deref().is_none_or(|o| {
                    m.os_id.is_some_and(|id| id.to_lowercase() == o)
                        || m.os.is_some_and(|n| n.to_lowercase().contains(o))
                })
                && f.tag.as_deref().is_none_or(|t| m.tags.contains(&t))
                && f.seen_before.is_none_or(|b| m.last_seen < b)
                && f.seen_after.is_none_or(|a| m.last_seen >= a)
        };
        let filtered = candidates.is_some()
            || host.is_some()
            || os.is_some()
            || f.tag.is_some()
            || f.seen_before.is_some()
            || f.seen_after.is_some();
        let limit = if f.limit == 0 { 100 } else { f.limit };
        let on_page = |n: usize| n >= f.offset && n - f.offset < limit;
        let mut items = Vec::new();
        let mut total = 0;
        // Each match is counted from the leading fields of its record,
        // borrowed; only the page's rows are decoded whole.
        let mut take = |bytes: &[u8]| -> Result<(), StoreError> {
            let head: MetaHead<'_> = dec_head("assets", bytes)?;
            if keep(&head) {
                if on_page(total) {
                    let m: AssetMeta = dec("assets", bytes)?;
                    items.push(AssetSummary::from(&m));
                }
                total += 1;
            }
            Ok(())
        };
        match &candidates {
            Some(ids) => {
                for id in ids {
                    if let Some(v) = assets.get(id.as_str())? {
                        take(v.value())?;
                    }
                }
            }
            None if filtered => {
                for r in assets.iter()? {
                    take(r?.1.value())?;
                }
            }
            None => {
                // Every asset matches: the count is the table's, and only
                // the page's records are read.
                total = usize::try_from(assets.len()?).unwrap_or(usize::MAX);
                for r in assets.iter()?.skip(f.offset).take(limit) {
                    let m: AssetMeta = dec("assets", r?.1.value())?;
                    items.push(AssetSummary::from(&m));
                }
            }
        }
        let end = f.offset.saturating_add(items.len());
        Ok(Page {
            items,
            total,
            offset: f.offset,
            next_offset: (end < total).then_some(end),
        })
    }

    /// One asset with its current inventory.
    pub fn asset(&self, id: &str) -> Result<Option<AssetRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let meta: AssetMeta = match txn.open_table(ASSETS)?.get(id)? {
            Some(v) => dec("assets", v.value())?,
            None => return Ok(None),
        };
        let inventory = match txn.open_table(INVENTORY)?.get(id)? {
            Some(v) => Some(dec("inventory", v.value())?),
            None => None,
        };
        Ok(Some(AssetRecord { meta, inventory }))
    }

    /// The asset with this host name (case-insensitive); the most recently
    /// seen one when several share it.
    pub fn asset_by_hostname(&self, hostname: &str) -> Result<Option<AssetRecord>, StoreError> {
        let lower = hostname.to_lowercase();
        let ids: Vec<String> = {
            let txn = self.db.begin_read()?;
            let t = txn.open_table(HOSTNAMES)?;
            let mut ids = Vec::new();
            for r in t.range((lower.as_str(), "")..)? {
                let (k, _) = r?;
                let (h, id) = k.value();
                if h != lower {
                    break;
                }
                ids.push(id.to_owned());
            }
            ids
        };
        let mut best: Option<AssetRecord> = None;
        for id in ids {
            if let Some(a) = self.asset(&id)?
                && best
                    .as_ref()
                    .is_none_or(|b| a.meta.last_seen > b.meta.last_seen)
            {
                best = Some(a);
            }
        }
        Ok(best)
    }

    /// Health samples the agents of `asset` dropped, oldest first.
    pub fn gaps(&self, asset: &str) -> Result<Vec<GapRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let gaps = txn.open_table(GAPS)?;
        let mut out = Vec::new();
        for row in gaps.range((asset, "", 0)..)? {
            let (key, value) = row?;
            if key.value().0 != asset {
                break;
            }
            out.push(dec::<GapRecord>("gaps", value.value())?);
        }
        out.sort_by_key(|g| g.missing.since());
        Ok(out)
    }

    /// Change events at or after `since`, oldest first, at most `limit`;
    /// of one asset or of all.
    pub fn changes(
        &self,
        asset: Option<&str>,
        since: Timestamp,
        limit: usize,
    ) -> Result<Vec<ChangeEvent>, StoreError> {
        let txn = self.db.begin_read()?;
        let changes = txn.open_table(CHANGES)?;
        let mut out = Vec::new();
        let push = |out: &mut Vec<ChangeEvent>,
                    asset: &str,
                    at: i64,
                    v: &[u8]|
         -> Result<(), StoreError> {
            let s: StoredChange = dec("changes", v)?;
            out.push(ChangeEvent {
                asset_id: asset.to_owned(),
                hostname: s.hostname,
                at: Timestamp(at),
                seq: s.seq,
                kind: s.kind,
                changes: s.delta.changes.iter().map(change_line).collect(),
                device: None,
            });
            Ok(())
        };
        match asset {
            Some(a) => {
                for r in changes.range((a, since.0, 0)..=(a, i64::MAX, u64::MAX))? {
                    if out.len() >= limit {
                        break;
                    }
                    let (k, v) = r?;
                    push(&mut out, a, k.value().1, v.value())?;
                }
            }
            None => {
                let by_time = txn.open_table(CHANGES_BY_TIME)?;
                for r in by_time.range((since.0, 0)..)? {
                    if out.len() >= limit {
                        break;
                    }
                    let (k, a) = r?;
                    let (at, event) = k.value();
                    let a = a.value();
                    if let Some(v) = changes.get((a, at, event))? {
                        push(&mut out, a, at, v.value())?;
                    }
                }
            }
        }
        out.extend(device_change_events(&txn, asset, since, limit)?);
        // Both lists are in time order; a stable sort interleaves them.
        out.sort_by_key(|e| e.at);
        out.truncate(limit);
        Ok(out)
    }

    /// One page of an asset's inventory change events, newest first:
    /// `limit` of them after skipping the `skip` newest, and how many the
    /// asset has in all (a history read back from now, as a timeline is).
    pub fn asset_changes_newest(
        &self,
        asset: &str,
        skip: usize,
        limit: usize,
    ) -> Result<(Vec<ChangeEvent>, usize), StoreError> {
        let txn = self.db.begin_read()?;
        let changes = txn.open_table(CHANGES)?;
        let range = (asset, i64::MIN, 0)..=(asset, i64::MAX, u64::MAX);
        let mut total = 0;
        let mut out = Vec::new();
        for r in changes.range(range)?.rev() {
            let (k, v) = r?;
            total += 1;
            if total <= skip || out.len() >= limit {
                continue;
            }
            let s: StoredChange = dec("changes", v.value())?;
            out.push(ChangeEvent {
                asset_id: asset.to_owned(),
                hostname: s.hostname,
                at: Timestamp(k.value().1),
                seq: s.seq,
                kind: s.kind,
                changes: s.delta.changes.iter().map(change_line).collect(),
                device: None,
            });
        }
        Ok((out, total))
    }

    /// The inventory of `asset` as it was at `at`: the last snapshot at or
    /// before it with the deltas after it applied. `None` before the first.
    pub fn inventory_as_of(
        &self,
        asset: &str,
        at: Timestamp,
    ) -> Result<Option<Inventory>, StoreError> {
        let txn = self.db.begin_read()?;
        let changes = txn.open_table(CHANGES)?;
        let mut deltas: Vec<StoredChange> = Vec::new();
        let mut base: Option<Inventory> = None;
        for r in changes
            .range((asset, i64::MIN, 0)..=(asset, at.0, u64::MAX))?
            .rev()
        {
            let (_, v) = r?;
            let s: StoredChange = dec("changes", v.value())?;
            if let Some(inv) = s.snapshot {
                base = Some(inv);
                break;
            }
            deltas.push(s);
        }
        let Some(mut inv) = base else {
            return Ok(None);
        };
        for d in deltas.iter().rev() {
            inv = diff::apply(&d.delta, &inv).map_err(|e| StoreError::Corrupt {
                table: "changes",
                reason: format!(
                    "stored delta seq {} of {asset} no longer applies: {e}",
                    d.seq
                ),
            })?;
        }
        Ok(Some(inv))
    }

    /// Installed base of the packages named `name` (exact, or a `*` glob).
    pub fn software(&self, name: &str) -> Result<SoftwareReport, StoreError> {
        let txn = self.db.begin_read()?;
        let hostnames = txn.open_table(ASSETS)?;
        let mut by_name: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
        for (n, version, asset) in software_rows(&txn, name)? {
            by_name
                .entry(n)
                .or_default()
                .entry(version)
                .or_default()
                .push(asset);
        }
        let host_of = |id: &str| -> Result<String, StoreError> {
            Ok(match hostnames.get(id)? {
                Some(v) => dec::<AssetMeta>("assets", v.value())?.hostname,
                None => String::new(),
            })
        };
        let mut packages = Vec::new();
        for (pname, versions) in by_name {
            let mut all = BTreeSet::new();
            let mut vs = Vec::new();
            for (version, ids) in versions {
                let mut assets = Vec::new();
                for id in ids {
                    all.insert(id.clone());
                    assets.push(AssetRef {
                        hostname: host_of(&id)?,
                        id,
                    });
                }
                vs.push(VersionBase {
                    version,
                    count: assets.len(),
                    assets,
                });
            }
            vs.sort_by(|a, b| version_cmp(&a.version, &b.version));
            packages.push(PackageBase {
                name: pname,
                assets: all.len(),
                versions: vs,
            });
        }
        Ok(SoftwareReport {
            query: name.to_owned(),
            packages,
        })
    }

    /// Points of one series of an asset in `[from, to]`, oldest first;
    /// with `step_ms`, the average of each step-long bucket (stamped with
    /// the bucket's start).
    pub fn metric(
        &self,
        asset: &str,
        series: &str,
        from: Timestamp,
        to: Timestamp,
        step_ms: Option<u64>,
    ) -> Result<Vec<(Timestamp, f64)>, StoreError> {
        let points = self.points(asset, series, from, to, true)?;
        let out = match step_ms.filter(|s| *s > 0) {
            None => points.into_iter().map(|(t, v)| (Timestamp(t), v)).collect(),
            Some(step) => {
                let step = i64::try_from(step).unwrap_or(i64::MAX);
                let mut buckets: BTreeMap<i64, (f64, u32)> = BTreeMap::new();
                for (t, v) in points {
                    let b = from.0 + (t - from.0) / step * step;
                    let e = buckets.entry(b).or_insert((0.0, 0));
                    e.0 += v;
                    e.1 += 1;
                }
                buckets
                    .into_iter()
                    .map(|(b, (sum, n))| (Timestamp(b), sum / f64::from(n)))
                    .collect()
            }
        };
        Ok(out)
    }

    /// Points of one series of an asset in `[from, to]` that are in open
    /// blocks only: those not rolled up yet (see [`super::rollups`]).
    pub fn open_points(
        &self,
        asset: &str,
        series: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(i64, f64)>, StoreError> {
        self.points(asset, series, from, to, false)
    }

    /// [`Store::open_points`] of several series of an asset, in the order
    /// asked; each open block is decoded once.
    pub fn open_points_of(
        &self,
        asset: &str,
        series: &[&str],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Vec<(i64, f64)>>, StoreError> {
        let mut out = vec![Vec::new(); series.len()];
        if from > to {
            return Ok(out);
        }
        let txn = self.db.begin_read()?;
        let names = txn.open_table(NAMES)?;
        let mut ids = Vec::with_capacity(series.len());
        for s in series {
            ids.push(names.get(*s)?.map(|v| v.value()));
        }
        let wanted: BTreeSet<u32> = ids.iter().flatten().copied().collect();
        if wanted.is_empty() {
            return Ok(out);
        }
        for (writer, bytes) in open_blocks(&txn, asset)? {
            let block = block::decode_columns(&bytes, &wanted)
                .map_err(|source| open_error(asset, &writer, source))?;
            for (points, id) in out.iter_mut().zip(&ids) {
                if let Some(id) = id {
                    points.extend(
                        block
                            .points(*id)
                            .into_iter()
                            .filter(|p| (from.0..=to.0).contains(&p.0)),
                    );
                }
            }
        }
        for points in &mut out {
            points.sort_by_key(|p| p.0);
        }
        Ok(out)
    }

    /// Points of one series of an asset in `[from, to]`, oldest first:
    /// those of open blocks, and of closed ones when `closed`.
    fn points(
        &self,
        asset: &str,
        series: &str,
        from: Timestamp,
        to: Timestamp,
        closed: bool,
    ) -> Result<Vec<(i64, f64)>, StoreError> {
        if from > to {
            return Ok(Vec::new());
        }
        let txn = self.db.begin_read()?;
        let Some(name) = txn.open_table(NAMES)?.get(series)?.map(|v| v.value()) else {
            return Ok(Vec::new());
        };
        let in_range = |p: &(i64, f64)| (from.0..=to.0).contains(&p.0);
        // Closed blocks: an index key is the block's first sample, and a
        // block spans at most MAX_BLOCK_SPAN_MS. Read in the order they
        // were closed, so that points with equal times keep their order.
        let index = txn.open_table(BLOCK_INDEX)?;
        let lo = from.0.saturating_sub(MAX_BLOCK_SPAN_MS);
        let mut ids = Vec::new();
        if closed {
            for r in index.range((asset, lo, 0)..=(asset, to.0, u64::MAX))? {
                let (k, last) = r?;
                if last.value() >= from.0 {
                    ids.push(k.value().2);
                }
            }
        }
        ids.sort_unstable();
        let blocks = txn.open_table(BLOCKS)?;
        let mut points = Vec::new();
        for id in ids {
            let bytes = block_bytes(&blocks, id)?;
            let decoded =
                block::decode_series(&bytes, name).map_err(|source| StoreError::Block {
                    block: format!("{id}"),
                    source,
                })?;
            points.extend(decoded.into_iter().filter(in_range));
        }
        for (writer, bytes) in open_blocks(&txn, asset)? {
            let decoded = block::decode_series(&bytes, name)
                .map_err(|source| open_error(asset, &writer, source))?;
            points.extend(decoded.into_iter().filter(in_range));
        }
        points.sort_by_key(|p| p.0);
        Ok(points)
    }

    /// Names of an asset's metric series, sorted.
    pub fn series_names(&self, asset: &str) -> Result<Vec<String>, StoreError> {
        let txn = self.db.begin_read()?;
        let ids = match txn.open_table(ASSET_SERIES)?.get(asset)? {
            Some(v) => decode_name_ids(v.value())?,
            None => return Ok(Vec::new()),
        };
        let name_of = txn.open_table(NAME_OF)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            match name_of.get(id)? {
                Some(n) => out.push(n.value().to_owned()),
                None => {
                    return Err(StoreError::Corrupt {
                        table: "series_name_of",
                        reason: format!("series name id {id} of asset {asset} has no name"),
                    });
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

/// The open blocks (heads) holding points of `asset`, by writer: those of
/// its agents, the one written under the asset's own id (a network
/// device's values), and those of devices merged into it, which keep
/// their open block as it was. Their points are not rolled up yet.
pub(crate) fn open_blocks(
    txn: &ReadTransaction,
    asset: &str,
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    let agents = match txn.open_table(ASSETS)?.get(asset)? {
        Some(v) => dec::<AssetMeta>("assets", v.value())?.agent_ids,
        None => Vec::new(),
    };
    let heads = txn.open_table(HEADS)?;
    let head_of = txn.open_table(HEAD_OF)?;
    let agent_asset = txn.open_table(AGENT_ASSET)?;
    let merged = if asset.starts_with(crate::records::device::DEVICE_ASSET_PREFIX) {
        super::device_identity::merged_writers(txn, asset)?
    } else {
        Vec::new()
    };
    let mut writers = vec![asset.to_owned()];
    writers.extend(merged);
    for agent in agents {
        if agent_asset
            .get(agent.as_str())?
            .is_some_and(|a| a.value() == asset)
        {
            writers.push(agent);
        }
    }
    let mut out = Vec::new();
    for writer in writers {
        if let Some(id) = head_of.get(writer.as_str())?.map(|v| v.value()) {
            let bytes = block_bytes(&heads, id)?;
            out.push((writer, bytes));
        }
    }
    Ok(out)
}

/// The error of an open block of `writer` (for `asset`) that does not decode.
pub(crate) fn open_error(asset: &str, writer: &str, source: block::BlockError) -> StoreError {
    StoreError::Block {
        block: format!(
            "open block of {}{writer}",
            if writer == asset { "" } else { "agent " }
        ),
        source,
    }
}

/// The bytes of block `id` (closed, or a head), its parts joined.
fn block_bytes(
    blocks: &redb::ReadOnlyTable<(u64, u16), &[u8]>,
    id: u64,
) -> Result<Vec<u8>, StoreError> {
    let mut bytes = Vec::new();
    for r in blocks.range((id, 0)..=(id, u16::MAX))? {
        let (_, part) = r?;
        bytes.extend_from_slice(part.value());
    }
    if bytes.is_empty() {
        return Err(StoreError::Corrupt {
            table: "metric_blocks",
            reason: format!("block {id} is indexed but missing"),
        });
    }
    Ok(bytes)
}

/// `(name, version, asset)` rows of the software index matching `pattern`.
fn software_rows(
    txn: &ReadTransaction,
    pattern: &str,
) -> Result<Vec<(String, String, String)>, StoreError> {
    let t = txn.open_table(SOFTWARE)?;
    let prefix = pattern.split('*').next().unwrap_or("");
    let exact = !pattern.contains('*');
    let mut out = Vec::new();
    for r in t.range((prefix, "", "")..)? {
        let (k, _) = r?;
        let (n, v, a) = k.value();
        if !n.starts_with(prefix) {
            break;
        }
        if (exact && n == pattern) || (!exact && glob(pattern, n)) {
            out.push((n.to_owned(), v.to_owned(), a.to_owned()));
        } else if exact && n > pattern {
            break;
        }
    }
    Ok(out)
}

/// A stored change as a line for people: the JSON form of the changed
/// part, split into before and after.
pub(crate) fn change_line(c: &Change) -> ChangeLine {
    let path = c.path().to_owned();
    let key = c.key();
    // Externally tagged: {"variant": inner}.
    let inner = match serde_json::to_value(c) {
        Ok(serde_json::Value::Object(map)) => map.into_iter().next().map(|(_, v)| v),
        _ => None,
    };
    let mut line = ChangeLine {
        path,
        key: key.clone(),
        action: Action::Changed,
        before: None,
        after: None,
    };
    let Some(serde_json::Value::Object(mut inner)) = inner else {
        return line;
    };
    if key.is_none() {
        line.before = inner.remove("before");
        line.after = inner.remove("after");
    } else if let Some(v) = inner.remove("added") {
        line.action = Action::Added;
        line.after = Some(v);
    } else if let Some(v) = inner.remove("removed") {
        line.action = Action::Removed;
        line.before = Some(v);
    } else if let Some(serde_json::Value::Object(mut ch)) = inner.remove("changed") {
        line.before = ch.remove("before");
        line.after = ch.remove("after");
    }
    line
}

/// Network devices' inventory changes at or after `since`, oldest first, at
/// most `limit`; of one asset or of all. Across assets the whole table is
/// read: devices change their inventory seldom, so it stays small.
fn device_change_events(
    txn: &ReadTransaction,
    asset: Option<&str>,
    since: Timestamp,
    limit: usize,
) -> Result<Vec<ChangeEvent>, StoreError> {
    let t = txn.open_table(DEVICE_CHANGES)?;
    let mut found: Vec<(i64, u64, String, DeviceChange)> = Vec::new();
    let range = match asset {
        Some(a) => t.range((a, since.0, 0)..=(a, i64::MAX, u64::MAX))?,
        None => t.range::<(&str, i64, u64)>(..)?,
    };
    for r in range {
        let (k, v) = r?;
        let (a, at, event) = k.value();
        if at < since.0 {
            continue;
        }
        found.push((at, event, a.to_owned(), dec("device_changes", v.value())?));
        if asset.is_some() && found.len() >= limit {
            break;
        }
    }
    found.sort_by_key(|(at, event, _, _)| (*at, *event));
    found.truncate(limit);
    let assets = txn.open_table(ASSETS)?;
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut out = Vec::with_capacity(found.len());
    for (at, _, a, change) in found {
        if !names.contains_key(&a) {
            let name = match assets.get(a.as_str())? {
                Some(v) => dec::<AssetMeta>("assets", v.value())?.hostname,
                None => a
                    .strip_prefix(crate::records::device::DEVICE_ASSET_PREFIX)
                    .unwrap_or(&a)
                    .to_owned(),
            };
            names.insert(a.clone(), name);
        }
        let name = names.get(&a).cloned().unwrap_or_default();
        out.push(ChangeEvent {
            asset_id: a,
            hostname: name.clone(),
            at: Timestamp(at),
            seq: change.seq,
            kind: ChangeKind::Delta,
            changes: Vec::new(),
            device: Some(DeviceChanged {
                name,
                agent_id: change.agent_id,
                items: change.items,
            }),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod store_tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn asset_pages_count_every_match_and_hold_only_their_rows() {
        let (_d, s) = temp_store();
        for i in 0..7 {
            let mut inv = machine(
                &format!("web-{i}"),
                Some(&format!("u{i}")),
                &format!("m{i}"),
                &format!("00:aa:00:00:00:0{i}"),
            );
            let debian = i % 2 == 0;
            inv.os.id = Some(if debian { "debian" } else { "rocky" }.into());
            inv.os.pretty_name = Some(if debian { "Debian 12" } else { "Rocky 9" }.into());
            if i < 3 {
                inv = with_package(inv, "curl", &format!("7.{i}"));
            }
            let at = 1_000 * (i64::from(i) + 1);
            s.commit(&[snapshot(&format!("ag-{i}"), 1, at, &inv)])
                .unwrap();
        }
        let id_of = |i: u8| s.agent_asset_id(&format!("ag-{i}")).unwrap().unwrap();
        s.set_tags(&id_of(1), &["db".into()]).unwrap();
        s.set_tags(&id_of(4), &["db".into(), "x".into()]).unwrap();
        let page = |f: AssetFilter| {
            let p = s.assets(&f).unwrap();
            let hosts: Vec<String> = p.items.iter().map(|a| a.hostname.clone()).collect();
            (hosts, p.total, p.next_offset)
        };
        // Every asset, by id: the table's count, the page's rows.
        let all = s.assets(&AssetFilter::default()).unwrap();
        assert_eq!(all.total, 7);
        let ids: Vec<String> = all.items.iter().map(|a| a.id.clone()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        let p = s
            .assets(&AssetFilter {
                offset: 2,
                limit: 3,
                ..AssetFilter::default()
            })
            .unwrap();
        assert_eq!(p.items, all.items[2..5]);
        assert_eq!((p.total, p.offset, p.next_offset), (7, 2, Some(5)));
        let (rows, total, next) = page(AssetFilter {
            offset: 6,
            limit: 3,
            ..AssetFilter::default()
        });
        assert_eq!((rows.len(), total, next), (1, 7, None));
        let (rows, total, _) = page(AssetFilter {
            offset: 9,
            ..AssetFilter::default()
        });
        assert_eq!((rows.len(), total), (0, 7));
        // Filtered: every match counted, only the page's rows returned.
        let debian = |offset, limit| AssetFilter {
            os: Some("Debian".into()),
            offset,
            limit,
            ..AssetFilter::default()
        };
        let (rows, total, next) = page(debian(1, 2));
        let (every, _, _) = page(debian(0, 100));
        assert_eq!(every.len(), 4);
        assert_eq!((rows.as_slice(), total, next), (&every[1..3], 4, Some(3)));
        let (rows, total, _) = page(AssetFilter {
            tag: Some("db".into()),
            ..AssetFilter::default()
        });
        let mut rows = rows;
        rows.sort();
        assert_eq!(
            (rows, total),
            (vec!["web-1".to_owned(), "web-4".to_owned()], 2)
        );
        let (rows, total, _) = page(AssetFilter {
            hostname: Some("WEB-*".into()),
            seen_after: Some(Timestamp(5_000)),
            limit: 1,
            ..AssetFilter::default()
        });
        assert_eq!((rows.len(), total), (1, 3));
        let (rows, total, _) = page(AssetFilter {
            software: Some("curl".into()),
            version_min: Some("7.1".into()),
            os: Some("debian".into()),
            ..AssetFilter::default()
        });
        assert_eq!((rows, total), (vec!["web-2".to_owned()], 1));
    }

    #[test]
    fn as_of_returns_the_inventory_before_a_change() {
        let (_d, s) = temp_store();
        let v1 = with_package(
            machine("h", Some("u"), "m", "00:aa:00:00:00:01"),
            "curl",
            "1",
        );
        let v2 = with_package(v1.clone(), "curl", "2");
        let v3 = with_package(v2.clone(), "zsh", "5.9");
        s.commit(&[snapshot("ag", 1, 1_000, &v1)]).unwrap();
        s.commit(&[delta("ag", 2, 2_000, &v1, &v2)]).unwrap();
        s.commit(&[delta("ag", 3, 3_000, &v2, &v3)]).unwrap();
        let a = s.agent_asset_id("ag").unwrap().unwrap();
        assert_eq!(s.inventory_as_of(&a, Timestamp(500)).unwrap(), None);
        assert_eq!(s.inventory_as_of(&a, Timestamp(1_999)).unwrap(), Some(v1));
        assert_eq!(s.inventory_as_of(&a, Timestamp(2_000)).unwrap(), Some(v2));
        assert_eq!(s.inventory_as_of(&a, Timestamp(9_000)).unwrap(), Some(v3));
        let ch = s.changes(Some(&a), Timestamp(1_500), 10).unwrap();
        assert_eq!(ch.len(), 2);
        let line = &ch[0].changes[0];
        assert_eq!(
            (line.path.as_str(), line.action),
            ("software.packages", Action::Changed)
        );
        assert_eq!(line.before.as_ref().unwrap()["version"], "1");
        assert_eq!(line.after.as_ref().unwrap()["version"], "2");
        assert_eq!(ch[1].changes[0].action, Action::Added);
        assert_eq!(s.changes(None, Timestamp(0), 2).unwrap().len(), 2);
    }

    #[test]
    fn software_index_follows_upgrade_and_removal() {
        let (_d, s) = temp_store();
        let a1 = with_package(
            machine("a", Some("ua"), "ma", "00:aa:00:00:00:01"),
            "openssl",
            "3.0.11",
        );
        let b1 = with_package(
            machine("b", Some("ub"), "mb", "00:aa:00:00:00:02"),
            "openssl",
            "3.0.11",
        );
        let b1 = with_package(b1, "openssh-server", "9.2");
        s.commit(&[snapshot("a", 1, 1_000, &a1), snapshot("b", 1, 1_000, &b1)])
            .unwrap();
        let r = s.software("openssl").unwrap();
        assert_eq!(r.packages.len(), 1);
        assert_eq!(r.packages[0].versions[0].count, 2);
        // a upgrades, b removes openssl.
        let a2 = with_package(a1.clone(), "openssl", "3.0.15");
        let mut b2 = b1.clone();
        b2.software.packages.retain(|p| p.name != "openssl");
        s.commit(&[
            delta("a", 2, 2_000, &a1, &a2),
            delta("b", 2, 2_000, &b1, &b2),
        ])
        .unwrap();
        let r = s.software("openssl").unwrap();
        assert_eq!(r.packages[0].assets, 1);
        assert_eq!(r.packages[0].versions.len(), 1);
        assert_eq!(r.packages[0].versions[0].version, "3.0.15");
        assert_eq!(r.packages[0].versions[0].assets[0].hostname, "a");
        let r = s.software("openss*").unwrap();
        let names: Vec<_> = r.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, vec!["openssh-server", "openssl"]);
        // Filters: software with a version range, host name glob, OS, paging.
        let f = AssetFilter {
            software: Some("openssl".into()),
            version_min: Some("3.0.12".into()),
            ..AssetFilter::default()
        };
        assert_eq!(s.assets(&f).unwrap().total, 1);
        let f = AssetFilter {
            hostname: Some("B*".into()),
            os: Some("debian".into()),
            ..AssetFilter::default()
        };
        let page = s.assets(&f).unwrap();
        assert_eq!(
            page.items
                .iter()
                .map(|i| i.hostname.as_str())
                .collect::<Vec<_>>(),
            vec!["b"]
        );
        let f = AssetFilter {
            limit: 1,
            ..AssetFilter::default()
        };
        let page = s.assets(&f).unwrap();
        assert_eq!(
            (page.items.len(), page.total, page.next_offset),
            (1, 2, Some(1))
        );
        let f = AssetFilter {
            seen_before: Some(Timestamp(1_500)),
            ..AssetFilter::default()
        };
        assert_eq!(s.assets(&f).unwrap().total, 0);
        assert!(
            s.set_tags(&s.agent_asset_id("a").unwrap().unwrap(), &["lab".into()])
                .unwrap()
        );
        let f = AssetFilter {
            tag: Some("lab".into()),
            ..AssetFilter::default()
        };
        assert_eq!(s.assets(&f).unwrap().items[0].hostname, "a");
    }
}
