//! The group commit: many agents' records in one durable transaction.
//!
//! Exactly-once: each agent's highest committed sequence number is written
//! in the same transaction as its data, so a record seen again after a
//! reconnect (seq ≤ highest) is skipped. A delta that does not apply to the
//! asset's current inventory is dropped and the agent is marked as owing a
//! snapshot; its seq still counts (the agent may delete it), and every
//! later delta is refused until the snapshot arrives, because a delta
//! that happens to apply to a stale base would store a wrong inventory.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use atalaya_common::diff;
use atalaya_common::diff::Change;
use atalaya_common::model::{HealthSample, Inventory, Timestamp, Virtualization};
use atalaya_common::proto;
use redb::{ReadableTable, Table, WriteTransaction};

use super::chunk::Encoder;
use super::records::*;
use super::schema::*;
use super::{Store, StoreError, dec, enc, identity, next_id, series};

/// A chunk is closed after this many points…
pub const POINTS_PER_CHUNK: usize = 240;
/// …or when its points span more than this (ms).
pub const MAX_CHUNK_SPAN_MS: i64 = 2 * 3600 * 1000;

/// One record from one agent, as the server hands it over.
#[derive(Debug, Clone)]
pub struct Ingest {
    /// The sending agent (from its certificate).
    pub agent_id: String,
    /// When the collector received it.
    pub received_at: Timestamp,
    /// The record.
    pub record: IngestRecord,
}

/// What an agent sent.
// Snapshots are rare next to metric batches, and the server hands them over
// by value as decoded; boxing would only add an allocation per record.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum IngestRecord {
    /// A full inventory.
    Snapshot(proto::InventorySnapshot),
    /// Inventory changes.
    Delta(proto::InventoryDelta),
    /// Health samples.
    Metrics(proto::MetricBatch),
    /// Alive.
    Heartbeat(proto::Heartbeat),
    /// Samples the agent dropped.
    Gap(proto::Gap),
    /// A damaged spool file the agent moved aside.
    SpoolDamaged(proto::SpoolDamaged),
    /// Connection facts from the server (no sequence number).
    Seen(AgentSeen),
}

impl IngestRecord {
    fn seq(&self) -> Option<u64> {
        match self {
            IngestRecord::Snapshot(s) => Some(s.seq),
            IngestRecord::Delta(d) => Some(d.seq),
            IngestRecord::Metrics(m) => Some(m.seq),
            IngestRecord::Heartbeat(h) => Some(h.seq),
            IngestRecord::Gap(g) => Some(g.seq),
            IngestRecord::SpoolDamaged(d) => Some(d.seq),
            IngestRecord::Seen(_) => None,
        }
    }
}

/// The outcome for one agent of a commit: what to ack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The agent.
    pub agent_id: String,
    /// Highest sequence durably stored (ack this).
    pub highest_seq: u64,
    /// The agent must send a full snapshot (a delta did not apply).
    pub need_snapshot: bool,
}

/// What a commit stored, for the incident engine: fed to it only after
/// the transaction is durable.
#[derive(Debug, Clone, PartialEq)]
pub enum Fed {
    /// The agent of `asset` was heard from.
    Seen {
        /// Asset id.
        asset: String,
        /// Receive time.
        at: Timestamp,
    },
    /// A health sample was stored.
    Sample {
        /// Asset id.
        asset: String,
        /// The sample.
        sample: HealthSample,
    },
    /// An inventory was stored; `changes` is empty for a first snapshot.
    Inventory {
        /// Asset id.
        asset: String,
        /// When it was taken.
        at: Timestamp,
        /// What changed from the previous inventory.
        changes: Vec<Change>,
        /// Host name.
        hostname: String,
        /// Administrator tags.
        tags: Vec<String>,
        /// OS id.
        os_id: Option<String>,
        /// Physical, virtual, container.
        virtualization: Virtualization,
    },
}

/// The chunk a series is appending to.
#[derive(Debug, Clone)]
pub(crate) struct OpenChunk {
    /// Its key in [`CHUNKS`]: the time of its first point (or just after, on a clash).
    pub key: i64,
    pub enc: Encoder,
}

/// In-memory state that saves re-reading disk on every commit. Always
/// either consistent with the last commit or empty (cleared on failure).
#[derive(Debug, Default)]
pub(crate) struct Cache {
    pub series: HashMap<(String, String), u64>,
    pub open: HashMap<u64, OpenChunk>,
    /// Series whose open chunk changed in the current transaction.
    pub dirty: BTreeSet<u64>,
}

/// Every table a commit writes, opened once per transaction.
pub(crate) struct Tables<'t> {
    pub meta: Table<'t, &'static str, u64>,
    pub agents: Table<'t, &'static str, &'static [u8]>,
    pub agent_seq: Table<'t, &'static str, (u64, bool)>,
    pub agent_asset: Table<'t, &'static str, &'static str>,
    pub assets: Table<'t, &'static str, &'static [u8]>,
    pub inventory: Table<'t, &'static str, &'static [u8]>,
    pub changes: Table<'t, (&'static str, i64, u64), &'static [u8]>,
    pub changes_by_time: Table<'t, (i64, u64), &'static str>,
    pub software: Table<'t, (&'static str, &'static str, &'static str), ()>,
    pub hostnames: Table<'t, (&'static str, &'static str), ()>,
    pub identity_keys: Table<'t, (&'static str, &'static str), ()>,
    pub series: Table<'t, (&'static str, &'static str), u64>,
    pub chunks: Table<'t, (u64, i64), &'static [u8]>,
    pub gaps: Table<'t, (&'static str, &'static str, u64), &'static [u8]>,
}

impl<'t> Tables<'t> {
    pub fn open(txn: &'t WriteTransaction) -> Result<Self, StoreError> {
        Ok(Tables {
            meta: txn.open_table(META)?,
            agents: txn.open_table(AGENTS)?,
            agent_seq: txn.open_table(AGENT_SEQ)?,
            agent_asset: txn.open_table(AGENT_ASSET)?,
            assets: txn.open_table(ASSETS)?,
            inventory: txn.open_table(INVENTORY)?,
            changes: txn.open_table(CHANGES)?,
            changes_by_time: txn.open_table(CHANGES_BY_TIME)?,
            software: txn.open_table(SOFTWARE)?,
            hostnames: txn.open_table(HOSTNAMES)?,
            identity_keys: txn.open_table(IDENTITY_KEYS)?,
            series: txn.open_table(SERIES)?,
            chunks: txn.open_table(CHUNKS)?,
            gaps: txn.open_table(GAPS)?,
        })
    }

    pub fn asset(&self, id: &str) -> Result<Option<AssetMeta>, StoreError> {
        match self.assets.get(id)? {
            Some(v) => Ok(Some(dec("assets", v.value())?)),
            None => Ok(None),
        }
    }

    pub fn put_asset(&mut self, m: &AssetMeta) -> Result<(), StoreError> {
        self.assets
            .insert(m.id.as_str(), enc("assets", m)?.as_slice())?;
        Ok(())
    }

    pub fn inventory_of(&self, id: &str) -> Result<Option<Inventory>, StoreError> {
        match self.inventory.get(id)? {
            Some(v) => Ok(Some(dec("inventory", v.value())?)),
            None => Ok(None),
        }
    }

    /// Writes the open chunk of `sid` if it changed in this transaction.
    pub fn flush_chunk(&mut self, cache: &mut Cache, sid: u64) -> Result<(), StoreError> {
        if cache.dirty.remove(&sid)
            && let Some(open) = cache.open.get(&sid)
        {
            self.chunks
                .insert((sid, open.key), open.enc.to_bytes().as_slice())?;
        }
        Ok(())
    }
}

/// Per-agent state during one commit.
#[derive(Debug, Default)]
struct AgentState {
    highest: u64,
    need_snapshot: bool,
    last_seen: Timestamp,
    seen: Option<AgentSeen>,
}

impl Store {
    /// Stores `items` in ONE durable write transaction and returns, per agent
    /// present, the sequence to ack. Nothing is acked before this returns;
    /// on error nothing was stored.
    pub fn commit(&self, items: &[Ingest]) -> Result<Vec<Committed>, StoreError> {
        self.commit_fed(items).map(|(c, _)| c)
    }

    /// [`Store::commit`], also returning what was stored for the incident
    /// engine (records skipped as duplicates are not in it).
    pub fn commit_fed(&self, items: &[Ingest]) -> Result<(Vec<Committed>, Vec<Fed>), StoreError> {
        let mut cache = self.cache();
        let mut fed = Vec::new();
        let result = self
            .commit_locked(&mut cache, items, &mut fed)
            .map(|c| (c, fed));
        if result.is_err() {
            // The cache may hold points the aborted transaction never wrote.
            *cache = Cache::default();
        }
        result
    }

    fn commit_locked(
        &self,
        cache: &mut Cache,
        items: &[Ingest],
        fed: &mut Vec<Fed>,
    ) -> Result<Vec<Committed>, StoreError> {
        cache.dirty.clear();
        let txn = self.db.begin_write()?;
        let mut order: Vec<String> = Vec::new();
        let out = {
            let mut t = Tables::open(&txn)?;
            let mut states: BTreeMap<String, AgentState> = BTreeMap::new();
            for item in items {
                let agent = item.agent_id.as_str();
                if !states.contains_key(agent) {
                    let (highest, need_snapshot) = t
                        .agent_seq
                        .get(agent)?
                        .map(|v| v.value())
                        .unwrap_or((0, false));
                    states.insert(
                        agent.to_owned(),
                        AgentState {
                            highest,
                            need_snapshot,
                            ..AgentState::default()
                        },
                    );
                    order.push(agent.to_owned());
                }
                let Some(state) = states.get_mut(agent) else {
                    continue;
                };
                state.last_seen = state.last_seen.max(item.received_at);
                let seq = match (&item.record, item.record.seq()) {
                    (IngestRecord::Seen(s), _) => {
                        state.seen = Some(s.clone());
                        continue;
                    }
                    (_, Some(seq)) => seq,
                    (_, None) => continue,
                };
                if seq <= state.highest {
                    continue;
                }
                state.highest = seq;
                let asset = ensure_asset(&mut t, agent, item.received_at)?;
                fed.push(Fed::Seen {
                    asset: asset.clone(),
                    at: item.received_at,
                });
                match &item.record {
                    IngestRecord::Heartbeat(_) | IngestRecord::Seen(_) => {}
                    IngestRecord::Gap(g) => {
                        let missing = Missing::SpoolFull {
                            batches: g.batches,
                            samples: g.samples,
                            from: g.from,
                            to: g.to,
                        };
                        insert_gap(&mut t, &asset, agent, seq, item.received_at, missing)?;
                    }
                    IngestRecord::SpoolDamaged(d) => {
                        let missing = Missing::SpoolDamaged {
                            found_at: d.found_at,
                            file: d.file.clone(),
                            reason: d.reason.clone(),
                            bytes: d.bytes,
                            lost_bytes: d.lost_bytes,
                        };
                        insert_gap(&mut t, &asset, agent, seq, item.received_at, missing)?;
                    }
                    IngestRecord::Metrics(batch) => {
                        for sample in &batch.samples {
                            for (name, value) in series::flatten(sample) {
                                append_point(&mut t, cache, &asset, &name, sample.at.0, value)?;
                            }
                            fed.push(Fed::Sample {
                                asset: asset.clone(),
                                sample: sample.clone(),
                            });
                        }
                    }
                    IngestRecord::Snapshot(s) => {
                        let mut inv = s.inventory.clone();
                        inv.canonicalize();
                        let asset = identity::reconcile(
                            &mut t,
                            cache,
                            agent,
                            &asset,
                            &inv,
                            item.received_at,
                        )?;
                        let changes = store_inventory(
                            &mut t,
                            &asset,
                            agent,
                            s.seq,
                            s.taken_at,
                            ChangeKind::Snapshot,
                            inv,
                        )?;
                        fed.push(inventory_fed(&t, &asset, s.taken_at, changes)?);
                        state.need_snapshot = false;
                    }
                    IngestRecord::Delta(d) => {
                        if state.need_snapshot {
                            continue;
                        }
                        let applied = match t.inventory_of(&asset)? {
                            Some(base) => diff::apply(&d.delta, &base).ok(),
                            None => None,
                        };
                        match applied {
                            Some(inv) => {
                                let changes = store_inventory(
                                    &mut t,
                                    &asset,
                                    agent,
                                    d.seq,
                                    d.taken_at,
                                    ChangeKind::Delta,
                                    inv,
                                )?;
                                fed.push(inventory_fed(&t, &asset, d.taken_at, changes)?);
                            }
                            None => state.need_snapshot = true,
                        }
                    }
                }
            }
            let dirty: Vec<u64> = cache.dirty.iter().copied().collect();
            for sid in dirty {
                t.flush_chunk(cache, sid)?;
            }
            for (agent, state) in &states {
                t.agent_seq
                    .insert(agent.as_str(), (state.highest, state.need_snapshot))?;
                let asset = t
                    .agent_asset
                    .get(agent.as_str())?
                    .map(|v| v.value().to_owned());
                if let Some(asset) = &asset
                    && let Some(mut m) = t.asset(asset)?
                    && m.last_seen < state.last_seen
                {
                    m.last_seen = state.last_seen;
                    t.put_asset(&m)?;
                }
                let rec: Option<AgentRecord> = match t.agents.get(agent.as_str())? {
                    Some(v) => Some(dec("agents", v.value())?),
                    None => None,
                };
                if let Some(mut rec) = rec {
                    rec.last_seen = rec.last_seen.max(Some(state.last_seen));
                    rec.asset_id = asset.or(rec.asset_id);
                    if let Some(seen) = &state.seen {
                        rec.agent_version = seen.agent_version.clone();
                        rec.rtt_ms = Some(seen.rtt_ms);
                        rec.lost_packets = seen.lost_packets;
                        rec.sent_packets = seen.sent_packets;
                    }
                    t.agents
                        .insert(agent.as_str(), enc("agents", &rec)?.as_slice())?;
                }
            }
            let out = order
                .iter()
                .filter_map(|a| {
                    states.get(a).map(|s| Committed {
                        agent_id: a.clone(),
                        highest_seq: s.highest,
                        need_snapshot: s.need_snapshot,
                    })
                })
                .collect::<Vec<_>>();
            drop(t);
            out
        };
        txn.commit()?;
        Ok(out)
    }
}

/// The asset an agent's data goes to, creating a provisional one at the
/// agent's first record (see the module docs of [`super`]).
pub(crate) fn ensure_asset(
    t: &mut Tables<'_>,
    agent: &str,
    now: Timestamp,
) -> Result<String, StoreError> {
    if let Some(id) = t.agent_asset.get(agent)? {
        return Ok(id.value().to_owned());
    }
    let n = next_id(&mut t.meta, META_NEXT_ASSET)?;
    let id = format!("asset-{n}");
    let hostname = match t.agents.get(agent)? {
        Some(v) => dec::<AgentRecord>("agents", v.value())?.hostname,
        None => agent.to_owned(),
    };
    let meta = AssetMeta {
        id: id.clone(),
        hostname: hostname.clone(),
        os: None,
        os_id: None,
        agent_ids: vec![agent.to_owned()],
        identity: Vec::new(),
        possible_clones: Vec::new(),
        tags: Vec::new(),
        first_seen: now,
        last_seen: now,
        inventory_at: None,
        last_change_at: None,
    };
    t.put_asset(&meta)?;
    t.hostnames
        .insert((hostname.to_lowercase().as_str(), id.as_str()), ())?;
    t.agent_asset.insert(agent, id.as_str())?;
    Ok(id)
}

/// What the engine hears of a stored inventory.
fn inventory_fed(
    t: &Tables<'_>,
    asset: &str,
    at: Timestamp,
    changes: Vec<Change>,
) -> Result<Fed, StoreError> {
    let meta = t.asset(asset)?;
    let virtualization = t
        .inventory_of(asset)?
        .map(|i| i.host.virtualization)
        .unwrap_or_default();
    Ok(Fed::Inventory {
        asset: asset.to_owned(),
        at,
        changes,
        hostname: meta
            .as_ref()
            .map(|m| m.hostname.clone())
            .unwrap_or_default(),
        tags: meta.as_ref().map(|m| m.tags.clone()).unwrap_or_default(),
        os_id: meta.and_then(|m| m.os_id),
        virtualization,
    })
}

/// Replaces an asset's inventory, recording the change event and keeping
/// the software, hostname and identity indexes in step. Returns what
/// changed (nothing for a first inventory).
fn store_inventory(
    t: &mut Tables<'_>,
    asset: &str,
    agent: &str,
    seq: u64,
    taken_at: Timestamp,
    kind: ChangeKind,
    inv: Inventory,
) -> Result<Vec<Change>, StoreError> {
    let prev = t.inventory_of(asset)?;
    let Some(mut meta) = t.asset(asset)? else {
        return Err(StoreError::Corrupt {
            table: "assets",
            reason: format!("asset {asset} named by agent {agent} is missing"),
        });
    };
    let delta = diff::diff(prev.as_ref().unwrap_or(&Inventory::default()), &inv);
    if prev.is_some() && delta.is_empty() {
        meta.inventory_at = Some(taken_at);
        t.put_asset(&meta)?;
        return Ok(Vec::new());
    }
    let fed_changes = if prev.is_some() {
        delta.changes.clone()
    } else {
        Vec::new()
    };
    // Keep event times in apply order even if the agent's clock stepped back.
    let at = meta.last_change_at.map_or(taken_at, |l| l.max(taken_at));
    let event = next_id(&mut t.meta, META_NEXT_EVENT)?;
    let stored = StoredChange {
        seq,
        agent_id: agent.to_owned(),
        hostname: inv.host.hostname.clone(),
        kind,
        snapshot: (kind == ChangeKind::Snapshot).then(|| inv.clone()),
        delta: if prev.is_some() {
            delta
        } else {
            diff::InventoryDelta::default()
        },
    };
    t.changes
        .insert((asset, at.0, event), enc("changes", &stored)?.as_slice())?;
    t.changes_by_time.insert((at.0, event), asset)?;

    // Installed base.
    let pairs = |i: Option<&Inventory>| -> BTreeSet<(String, String)> {
        i.map(|i| {
            i.software
                .packages
                .iter()
                .map(|p| (p.name.clone(), p.version.clone()))
                .collect()
        })
        .unwrap_or_default()
    };
    let (old, new) = (pairs(prev.as_ref()), pairs(Some(&inv)));
    for (n, v) in old.difference(&new) {
        t.software.remove((n.as_str(), v.as_str(), asset))?;
    }
    for (n, v) in new.difference(&old) {
        t.software.insert((n.as_str(), v.as_str(), asset), ())?;
    }
    // Host name.
    if !inv.host.hostname.is_empty() && inv.host.hostname != meta.hostname {
        t.hostnames
            .remove((meta.hostname.to_lowercase().as_str(), asset))?;
        meta.hostname = inv.host.hostname.clone();
        t.hostnames
            .insert((meta.hostname.to_lowercase().as_str(), asset), ())?;
    }
    // Identity keys.
    let old_keys: BTreeSet<String> = prev
        .as_ref()
        .map(|p| identity::hardware_keys(p).into_iter().collect())
        .unwrap_or_default();
    let new_keys: BTreeSet<String> = identity::hardware_keys(&inv).into_iter().collect();
    for k in old_keys.difference(&new_keys) {
        t.identity_keys.remove((k.as_str(), asset))?;
    }
    for k in new_keys.difference(&old_keys) {
        t.identity_keys.insert((k.as_str(), asset), ())?;
    }
    meta.os = inv.os.pretty_name.clone().or(inv.os.name.clone());
    meta.os_id = inv.os.id.clone();
    meta.inventory_at = Some(taken_at);
    meta.last_change_at = Some(at);
    t.put_asset(&meta)?;
    t.inventory
        .insert(asset, enc("inventory", &inv)?.as_slice())?;
    Ok(fed_changes)
}

/// The id of series `(asset, name)`, allocated on first use.
pub(crate) fn series_id(
    t: &mut Tables<'_>,
    cache: &mut Cache,
    asset: &str,
    name: &str,
) -> Result<u64, StoreError> {
    if let Some(id) = cache.series.get(&(asset.to_owned(), name.to_owned())) {
        return Ok(*id);
    }
    let found = t.series.get((asset, name))?.map(|v| v.value());
    let id = match found {
        Some(id) => id,
        None => {
            let id = next_id(&mut t.meta, META_NEXT_SERIES)?;
            t.series.insert((asset, name), id)?;
            id
        }
    };
    cache.series.insert((asset.to_owned(), name.to_owned()), id);
    Ok(id)
}

/// Stores what an agent reported missing from its history.
fn insert_gap(
    t: &mut Tables<'_>,
    asset: &str,
    agent: &str,
    seq: u64,
    received_at: Timestamp,
    missing: Missing,
) -> Result<(), StoreError> {
    let record = GapRecord {
        agent_id: agent.to_owned(),
        seq,
        received_at,
        missing,
    };
    let bytes = enc("gaps", &record)?;
    t.gaps.insert((asset, agent, seq), bytes.as_slice())?;
    Ok(())
}

/// Appends one point to its series' open chunk, loading the chunk from
/// disk the first time the series is touched since open.
fn append_point(
    t: &mut Tables<'_>,
    cache: &mut Cache,
    asset: &str,
    name: &str,
    ts: i64,
    value: f64,
) -> Result<(), StoreError> {
    let sid = series_id(t, cache, asset, name)?;
    if let std::collections::hash_map::Entry::Vacant(slot) = cache.open.entry(sid) {
        let last = t
            .chunks
            .range((sid, i64::MIN)..=(sid, i64::MAX))?
            .next_back()
            .transpose()?
            .map(|(k, v)| (k.value().1, v.value().to_vec()));
        if let Some((key, bytes)) = last {
            match Encoder::resume(&bytes) {
                Ok(enc) => {
                    slot.insert(OpenChunk { key, enc });
                }
                // A corrupt tail chunk stays as it is (queries report it);
                // new points go to a fresh chunk.
                Err(e) => tracing::warn!(series = sid, error = %e, "corrupt open chunk"),
            }
        }
    }
    let full = cache.open.get(&sid).is_some_and(|o| {
        o.enc.len() >= POINTS_PER_CHUNK
            || ts < o.enc.last_ts()
            || ts.saturating_sub(o.enc.first_ts()) > MAX_CHUNK_SPAN_MS
    });
    if full {
        t.flush_chunk(cache, sid)?;
        cache.open.remove(&sid);
    }
    if let std::collections::hash_map::Entry::Vacant(slot) = cache.open.entry(sid) {
        let mut key = ts;
        while t.chunks.get((sid, key))?.is_some() {
            key = key.saturating_add(1);
        }
        slot.insert(OpenChunk {
            key,
            enc: Encoder::new(),
        });
    }
    if let Some(open) = cache.open.get_mut(&sid) {
        open.enc.push(ts, value);
        cache.dirty.insert(sid);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn gaps_are_kept_per_asset_and_stored_once() {
        let (_d, s) = temp_store();
        let gap = Ingest {
            agent_id: "ag".into(),
            received_at: Timestamp(50_000),
            record: IngestRecord::Gap(proto::Gap {
                seq: 2,
                batches: 3,
                samples: 3,
                from: Timestamp(10_000),
                to: Timestamp(30_000),
            }),
        };
        let damaged = Ingest {
            agent_id: "ag".into(),
            received_at: Timestamp(50_000),
            record: IngestRecord::SpoolDamaged(proto::SpoolDamaged {
                seq: 3,
                found_at: Timestamp(5_000),
                file: "spool/quarantine/1.seg".into(),
                reason: "checksum mismatch in record 7 at byte 0".into(),
                bytes: 900,
                lost_bytes: 120,
            }),
        };
        s.commit(&[
            metrics("ag", 1, vec![sample(5_000, 1.0)]),
            gap.clone(),
            damaged.clone(),
        ])
        .unwrap();
        s.commit(&[gap, damaged]).unwrap();
        let asset = s.agent_asset_id("ag").unwrap().unwrap();
        let gaps = s.gaps(&asset).unwrap();
        assert_eq!(gaps.len(), 2, "{gaps:?}");
        assert!(
            matches!(&gaps[0].missing, Missing::SpoolDamaged { lost_bytes: 120, reason, .. }
                if reason.starts_with("checksum mismatch")),
            "{gaps:?}"
        );
        assert_eq!(
            gaps[1].missing,
            Missing::SpoolFull {
                batches: 3,
                samples: 3,
                from: Timestamp(10_000),
                to: Timestamp(30_000)
            }
        );
        assert!(s.gaps("no-such-asset").unwrap().is_empty());
    }

    #[test]
    fn duplicate_seq_is_stored_once() {
        let (_d, s) = temp_store();
        let batch = metrics("ag", 5, vec![sample(10_000, 1.0), sample(20_000, 2.0)]);
        let r = s.commit(std::slice::from_ref(&batch)).unwrap();
        assert_eq!(
            r,
            vec![Committed {
                agent_id: "ag".into(),
                highest_seq: 5,
                need_snapshot: false
            }]
        );
        // Same batch again after a reconnect, and an older one: skipped.
        let r = s
            .commit(&[batch.clone(), metrics("ag", 4, vec![sample(5_000, 9.0)])])
            .unwrap();
        assert_eq!(r[0].highest_seq, 5);
        let asset = s.agent_asset_id("ag").unwrap().unwrap();
        let pts = s
            .metric(
                &asset,
                "cpu.total_percent",
                Timestamp(0),
                Timestamp(99_000),
                None,
            )
            .unwrap();
        assert_eq!(
            pts,
            vec![(Timestamp(10_000), 1.0), (Timestamp(20_000), 2.0)]
        );
    }

    #[test]
    fn one_commit_carries_many_agents() {
        let (_d, s) = temp_store();
        let r = s
            .commit(&[
                metrics("a", 1, vec![sample(10_000, 1.0)]),
                metrics("b", 7, vec![sample(10_000, 2.0)]),
                metrics("a", 2, vec![sample(20_000, 3.0)]),
            ])
            .unwrap();
        let got: Vec<_> = r
            .iter()
            .map(|c| (c.agent_id.as_str(), c.highest_seq))
            .collect();
        assert_eq!(got, vec![("a", 2), ("b", 7)]);
        assert_eq!(s.stats().unwrap().assets, 2);
    }

    #[test]
    fn delta_that_does_not_apply_asks_for_a_snapshot() {
        let (_d, s) = temp_store();
        let v1 = with_package(
            machine("h", Some("u"), "m", "00:aa:00:00:00:01"),
            "curl",
            "1",
        );
        let v2 = with_package(v1.clone(), "curl", "2");
        let v3 = with_package(v1.clone(), "curl", "3");
        s.commit(&[snapshot("ag", 1, 1_000, &v1)]).unwrap();
        // A delta from v2 (the agent's v1→v2 delta was lost).
        let r = s.commit(&[delta("ag", 3, 3_000, &v2, &v3)]).unwrap();
        assert_eq!(
            r[0],
            Committed {
                agent_id: "ag".into(),
                highest_seq: 3,
                need_snapshot: true
            }
        );
        // Even a delta that would apply is refused until the snapshot comes.
        let r = s.commit(&[delta("ag", 4, 4_000, &v1, &v2)]).unwrap();
        assert!(r[0].need_snapshot);
        let asset = s.agent_asset_id("ag").unwrap().unwrap();
        assert_eq!(
            s.asset(&asset).unwrap().unwrap().inventory,
            Some(v1.clone())
        );
        let r = s.commit(&[snapshot("ag", 5, 5_000, &v3)]).unwrap();
        assert!(!r[0].need_snapshot);
        let r = s.commit(&[delta("ag", 6, 6_000, &v3, &v2)]).unwrap();
        assert!(!r[0].need_snapshot);
        assert_eq!(s.asset(&asset).unwrap().unwrap().inventory, Some(v2));
    }

    #[test]
    fn chunks_close_at_the_point_limit() {
        let (_d, s) = temp_store();
        let samples: Vec<_> = (0..(POINTS_PER_CHUNK as i64 + 10))
            .map(|i| sample(10_000 * (i + 1), i as f64))
            .collect();
        s.commit(&[metrics("ag", 1, samples)]).unwrap();
        let asset = s.agent_asset_id("ag").unwrap().unwrap();
        let pts = s
            .metric(
                &asset,
                "cpu.total_percent",
                Timestamp(0),
                Timestamp(i64::MAX),
                None,
            )
            .unwrap();
        assert_eq!(pts.len(), POINTS_PER_CHUNK + 10);
        let series = s.series_names(&asset).unwrap().len() as u64;
        assert_eq!(s.stats().unwrap().chunks, 2 * series);
        let avg = s
            .metric(
                &asset,
                "cpu.total_percent",
                Timestamp(10_000),
                Timestamp(40_000),
                Some(20_000),
            )
            .unwrap();
        assert_eq!(
            avg,
            vec![(Timestamp(10_000), 0.5), (Timestamp(30_000), 2.5)]
        );
    }

    #[test]
    fn failed_commit_leaves_cache_consistent_with_disk() {
        let (_d, s) = temp_store();
        s.commit(&[metrics("ag", 1, vec![sample(10_000, 1.0)])])
            .unwrap();
        // Simulate a failure after the cache was touched: clear as commit() does.
        *s.cache() = Cache::default();
        s.commit(&[metrics("ag", 2, vec![sample(20_000, 2.0)])])
            .unwrap();
        let asset = s.agent_asset_id("ag").unwrap().unwrap();
        let pts = s
            .metric(
                &asset,
                "cpu.total_percent",
                Timestamp(0),
                Timestamp(99_000),
                None,
            )
            .unwrap();
        assert_eq!(pts.len(), 2);
    }
}
