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
use atalaya_common::model::device::DeviceState;
use atalaya_common::model::device::trap::{TRAPS_DROPPED, TrapEvent};
use atalaya_common::model::{HealthSample, Inventory, ProbeResult, Timestamp, Virtualization};
use atalaya_common::proto;
use redb::{ReadableTable, Table, WriteTransaction};

use super::block::{self, Block};
use super::records::*;
use super::rollups::{Partials, RollupTables};
use super::schema::*;
use super::{
    Store, StoreError, dec, devices, diagnostics, discovery, enc, identity, lookup, neighbours,
    next_id, probes, trays,
};
use crate::helpers::series;
use crate::records::device::DeviceChangeItem;
use crate::records::device::InterfacePeer;

/// An agent's open block is closed once it holds this many samples (10
/// minutes at the default 10 s interval)…
///
/// The choice weighs two costs. Every commit rewrites the open blocks it
/// adds to, so open blocks are pages that exist twice for a moment (old
/// and new copy); shorter blocks keep that small. But every block repeats
/// a header per series (its first value and code parameters), which
/// longer blocks spread over more samples.
pub const BLOCK_ROWS: usize = 60;
/// …or before a sample would make it span more than this (ms); queries
/// look this far back for blocks that reach into their range.
pub const MAX_BLOCK_SPAN_MS: i64 = 2 * 3600 * 1000;
/// A block holding at least half of [`BLOCK_ROWS`] is also closed when its
/// samples reach the end of a window of this length (ms). Each agent's
/// windows start at its own offset (a hash of its id), so that agents
/// started together (a deployment, the bench) do not all close their
/// blocks, and rewrite their largest open blocks, in the same commits.
pub const BLOCK_WINDOW_MS: i64 = 600_000;

/// The window `ts` falls in for an agent whose windows start at `phase`.
fn window(ts: i64, phase: i64) -> i64 {
    ts.wrapping_sub(phase).div_euclid(BLOCK_WINDOW_MS)
}

/// Where an agent's windows start: FNV-1a of its id, within a window.
fn phase(agent: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in agent.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (h % BLOCK_WINDOW_MS as u64) as i64
}

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
    /// A problem reported by the person at the machine.
    UserReport(proto::UserReport),
    /// One poll of a network device by the agent.
    DevicePoll(proto::DevicePoll),
    /// What a discovery the agent was asked for found, or how it ended.
    DiscoveryResult(proto::DiscoveryResult),
    /// The LLDP and CDP neighbours of a network device, from its poller.
    DeviceNeighbours(proto::DeviceNeighbours),
    /// The paper trays of a printer, from its poller.
    PrinterTrays(proto::PrinterTrays),
    /// A trap the agent accepted from a device, and its drop counters.
    DeviceTrap(proto::DeviceTrap),
    /// One round of the agent's network probes.
    ProbeRound(proto::ProbeRound),
    /// What became of a diagnostic request.
    DiagResult(proto::DiagResult),
    /// Connection facts from the server (no sequence number).
    Seen(AgentSeen),
    /// What the agent runs of its policy (no sequence number: it is said
    /// again at each connection; the newest replaces what was kept).
    PolicyState(proto::PolicyState),
    /// A record whose content was refused before it got here (times out
    /// of range, numbers that are not finite): only its sequence number
    /// counts, so the agent's ack covers it and it is not sent again.
    Refused {
        /// Per-agent sequence number.
        seq: u64,
        /// Whether it was an inventory (snapshot or delta). The agent's
        /// next delta builds on it, which the collector does not have, so
        /// the agent then owes a snapshot.
        inventory: bool,
    },
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
            IngestRecord::UserReport(r) => Some(r.seq),
            IngestRecord::DevicePoll(p) => Some(p.seq),
            IngestRecord::DiscoveryResult(r) => Some(r.seq),
            IngestRecord::DeviceNeighbours(n) => Some(n.seq),
            IngestRecord::PrinterTrays(t) => Some(t.seq),
            IngestRecord::DeviceTrap(t) => Some(t.seq),
            IngestRecord::ProbeRound(r) => Some(r.seq),
            IngestRecord::DiagResult(r) => Some(r.seq),
            IngestRecord::Refused { seq, .. } => Some(*seq),
            IngestRecord::Seen(_) | IngestRecord::PolicyState(_) => None,
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
    /// Ask the agent for a full snapshot: it owes one (a delta did not
    /// apply, or an inventory was refused) and something it sent in this
    /// commit was not refused. While all it sends is refused (its clock is
    /// wrong), its snapshot would be refused as well; asking at every
    /// commit would only have it take and send its inventory over and over.
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
    /// A user report was stored (the first time only: a report the agent
    /// sent twice is fed once).
    Report(ReportRecord),
    /// The result of a diagnostic request was stored (the first one only).
    Diagnostic(crate::records::diagnostic::DiagnosticRecord),
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
    /// A network device's poll was stored.
    DevicePoll {
        /// The device's asset id (`device:<name>`).
        asset: String,
        /// The device's name.
        device: String,
        /// When the poll started, on the poller's clock.
        at: Timestamp,
        /// How the poll went.
        state: DeviceState,
        /// The poll's `(series, value)`.
        values: Vec<(String, f64)>,
        /// Interfaces administratively down in the device's stored inventory.
        admin_down: Vec<String>,
        /// What changed in the device's inventory (empty: nothing, or no inventory).
        changes: Vec<DeviceChangeItem>,
        /// The neighbour last seen on each of its interfaces.
        peers: Vec<InterfacePeer>,
    },
    /// A trap from a network device was stored.
    DeviceTrap {
        /// The device's asset id (`device:<name>`).
        asset: String,
        /// The trap.
        trap: TrapEvent,
    },
    /// Named points of an asset were stored (a round of network probes).
    Points {
        /// Asset id.
        asset: String,
        /// Their time.
        at: Timestamp,
        /// `(series, value)`.
        points: Vec<(String, f64)>,
    },
}

/// In-memory state that saves re-reading disk on every commit. Always
/// either consistent with the last commit or empty (cleared on failure).
#[derive(Debug, Default)]
pub(crate) struct Cache {
    /// Series name → name id, as in [`NAMES`].
    pub names: HashMap<String, u32>,
    /// Name ids each asset has, as in [`ASSET_SERIES`] (loaded on first use).
    pub asset_series: HashMap<String, BTreeSet<u32>>,
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
    pub lookup_keys: Table<'t, (&'static str, &'static str), u8>,
    pub identity_keys: Table<'t, (&'static str, &'static str), ()>,
    pub names: Table<'t, &'static str, u32>,
    pub name_of: Table<'t, u32, &'static str>,
    pub asset_series: Table<'t, &'static str, &'static [u8]>,
    pub blocks: Table<'t, (u64, u16), &'static [u8]>,
    pub block_index: Table<'t, (&'static str, i64, u64), i64>,
    pub heads: Table<'t, (u64, u16), &'static [u8]>,
    pub head_of: Table<'t, &'static str, u64>,
    pub gaps: Table<'t, (&'static str, &'static str, u64), &'static [u8]>,
    pub user_reports: Table<'t, (&'static str, &'static str), &'static [u8]>,
    pub devices: Table<'t, &'static str, &'static [u8]>,
    pub device_inventory: Table<'t, &'static str, &'static [u8]>,
    pub device_changes: Table<'t, (&'static str, i64, u64), &'static [u8]>,
    pub device_keys: Table<'t, (&'static str, &'static str), ()>,
    pub device_primary: Table<'t, &'static str, &'static str>,
    pub device_aliases: Table<'t, &'static str, &'static [u8]>,
    pub discoveries: Table<'t, u64, &'static [u8]>,
    pub diagnostics: Table<'t, &'static str, &'static [u8]>,
    pub discovered: Table<'t, (u64, &'static str), &'static [u8]>,
    pub device_neighbours: Table<'t, &'static str, &'static [u8]>,
    pub device_trays: Table<'t, &'static str, &'static [u8]>,
    pub device_events: Table<'t, (&'static str, i64, u64), &'static [u8]>,
    pub device_events_by_time: Table<'t, (i64, u64), &'static str>,
    pub probe_latest: Table<'t, (&'static str, &'static str, &'static str), &'static [u8]>,
    pub agent_policy: Table<'t, &'static str, &'static [u8]>,
    pub rollups: RollupTables<'t>,
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
            lookup_keys: txn.open_table(LOOKUP_KEYS)?,
            identity_keys: txn.open_table(IDENTITY_KEYS)?,
            names: txn.open_table(NAMES)?,
            name_of: txn.open_table(NAME_OF)?,
            asset_series: txn.open_table(ASSET_SERIES)?,
            blocks: txn.open_table(BLOCKS)?,
            block_index: txn.open_table(BLOCK_INDEX)?,
            heads: txn.open_table(HEADS)?,
            head_of: txn.open_table(HEAD_OF)?,
            gaps: txn.open_table(GAPS)?,
            user_reports: txn.open_table(USER_REPORTS)?,
            devices: txn.open_table(DEVICES)?,
            device_inventory: txn.open_table(DEVICE_INVENTORY)?,
            device_changes: txn.open_table(DEVICE_CHANGES)?,
            device_keys: txn.open_table(DEVICE_KEYS)?,
            device_primary: txn.open_table(DEVICE_PRIMARY)?,
            device_aliases: txn.open_table(DEVICE_ALIASES)?,
            discoveries: txn.open_table(DISCOVERIES)?,
            diagnostics: txn.open_table(DIAGNOSTICS)?,
            discovered: txn.open_table(DISCOVERED)?,
            device_neighbours: txn.open_table(DEVICE_NEIGHBOURS)?,
            device_trays: txn.open_table(DEVICE_TRAYS)?,
            device_events: txn.open_table(DEVICE_EVENTS)?,
            device_events_by_time: txn.open_table(DEVICE_EVENTS_BY_TIME)?,
            probe_latest: txn.open_table(PROBE_LATEST)?,
            agent_policy: txn.open_table(AGENT_POLICY)?,
            rollups: RollupTables::open(txn)?,
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

    /// The name ids asset `asset` has (from the cache, or loaded into it).
    pub fn series_of<'c>(
        &self,
        cache: &'c mut Cache,
        asset: &str,
    ) -> Result<&'c mut BTreeSet<u32>, StoreError> {
        if !cache.asset_series.contains_key(asset) {
            let set = match self.asset_series.get(asset)? {
                Some(v) => decode_name_ids(v.value())?,
                None => BTreeSet::new(),
            };
            cache.asset_series.insert(asset.to_owned(), set);
        }
        Ok(cache.asset_series.entry(asset.to_owned()).or_default())
    }

    /// Writes the name ids of `asset` from the cache.
    pub fn put_series_of(&mut self, cache: &Cache, asset: &str) -> Result<(), StoreError> {
        match cache.asset_series.get(asset) {
            Some(set) if !set.is_empty() => {
                self.asset_series
                    .insert(asset, encode_name_ids(set).as_slice())?;
            }
            _ => {
                self.asset_series.remove(asset)?;
            }
        }
        Ok(())
    }
}

/// Name ids as LEB128 differences, ascending.
pub(crate) fn encode_name_ids(ids: &BTreeSet<u32>) -> Vec<u8> {
    let mut out = Vec::with_capacity(ids.len() + 4);
    let mut prev = 0u32;
    for &id in ids {
        let mut d = id - prev;
        prev = id;
        loop {
            let byte = (d & 0x7f) as u8;
            d >>= 7;
            if d == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
    }
    out
}

/// Inverse of [`encode_name_ids`].
pub(crate) fn decode_name_ids(bytes: &[u8]) -> Result<BTreeSet<u32>, StoreError> {
    let bad = |reason: &str| StoreError::Corrupt {
        table: "asset_series",
        reason: reason.to_owned(),
    };
    let mut out = BTreeSet::new();
    let (mut prev, mut d, mut shift) = (0u64, 0u64, 0u32);
    for &byte in bytes {
        if shift > 28 {
            return Err(bad("name id longer than 32 bits"));
        }
        d |= u64::from(byte & 0x7f) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            prev += d;
            let id = u32::try_from(prev).map_err(|_| bad("name id beyond 32 bits"))?;
            out.insert(id);
            (d, shift) = (0, 0);
        }
    }
    if shift != 0 {
        return Err(bad("truncated name id"));
    }
    Ok(out)
}

/// Per-agent state during one commit.
#[derive(Debug, Default)]
struct AgentState {
    highest: u64,
    need_snapshot: bool,
    /// A new record of the agent was not refused in this commit.
    accepted: bool,
    last_seen: Timestamp,
    seen: Option<AgentSeen>,
}

/// The agents present in one commit, in the order they first appear (the
/// order of the acks).
#[derive(Debug, Default)]
struct Agents {
    states: BTreeMap<String, AgentState>,
    order: Vec<String>,
}

impl Agents {
    /// The state of `agent`, read from its stored sequence at its first
    /// record in this commit.
    fn state(&mut self, t: &Tables<'_>, agent: &str) -> Result<&mut AgentState, StoreError> {
        if !self.states.contains_key(agent) {
            let (highest, need_snapshot) = t
                .agent_seq
                .get(agent)?
                .map(|v| v.value())
                .unwrap_or((0, false));
            let state = AgentState {
                highest,
                need_snapshot,
                ..AgentState::default()
            };
            self.states.insert(agent.to_owned(), state);
            self.order.push(agent.to_owned());
        }
        Ok(self.states.entry(agent.to_owned()).or_default())
    }

    /// Writes each agent's sequence, when it was last seen and how its
    /// connection fares.
    fn write(&self, t: &mut Tables<'_>) -> Result<(), StoreError> {
        for (agent, state) in &self.states {
            write_agent(t, agent, state)?;
        }
        Ok(())
    }

    /// What to ack, per agent.
    fn committed(&self) -> Vec<Committed> {
        self.order
            .iter()
            .filter_map(|a| {
                self.states.get(a).map(|s| Committed {
                    agent_id: a.clone(),
                    highest_seq: s.highest,
                    need_snapshot: s.need_snapshot && s.accepted,
                })
            })
            .collect()
    }
}

/// Writes what one commit learnt of `agent`: its highest sequence and
/// whether it owes a snapshot, when its asset and its agent record were
/// last seen, and its connection facts.
fn write_agent(t: &mut Tables<'_>, agent: &str, state: &AgentState) -> Result<(), StoreError> {
    t.agent_seq
        .insert(agent, (state.highest, state.need_snapshot))?;
    let asset = t.agent_asset.get(agent)?.map(|v| v.value().to_owned());
    if let Some(asset) = &asset
        && let Some(mut m) = t.asset(asset)?
        && m.last_seen < state.last_seen
    {
        m.last_seen = state.last_seen;
        t.put_asset(&m)?;
    }
    let rec: Option<AgentRecord> = match t.agents.get(agent)? {
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
        t.agents.insert(agent, enc("agents", &rec)?.as_slice())?;
    }
    Ok(())
}

/// Where a record being stored comes from.
struct Origin<'a> {
    agent: &'a str,
    /// The asset the agent's data go to (before any reconciliation).
    asset: &'a str,
    seq: u64,
    received_at: Timestamp,
}

/// One commit's write transaction, as its records are stored one by one.
struct Commit<'c, 't> {
    t: Tables<'t>,
    cache: &'c mut Cache,
    fed: &'c mut Vec<Fed>,
    /// Open blocks of the writers that sent samples (agents, and devices
    /// by their asset id), with where they were stored (head id and parts).
    heads: BTreeMap<String, (Block, Option<(u64, usize)>)>,
    /// Assets that got new series.
    new_series: BTreeSet<String>,
}

impl Commit<'_, '_> {
    /// Stores one record of an agent whose state is `state`: connection
    /// facts are kept for the end of the commit, a record seen before is
    /// skipped, and each kind of record goes to its own tables.
    fn record(&mut self, item: &Ingest, state: &mut AgentState) -> Result<(), StoreError> {
        let agent = item.agent_id.as_str();
        state.last_seen = state.last_seen.max(item.received_at);
        let seq = match (&item.record, item.record.seq()) {
            (IngestRecord::Seen(s), _) => {
                state.seen = Some(s.clone());
                return self.path(agent, item.received_at, s);
            }
            (IngestRecord::PolicyState(p), _) => {
                return super::policies::put_report(&mut self.t, agent, p, item.received_at);
            }
            (_, Some(seq)) => seq,
            (_, None) => return Ok(()),
        };
        if seq <= state.highest {
            return Ok(());
        }
        state.highest = seq;
        state.accepted |= !matches!(item.record, IngestRecord::Refused { .. });
        let asset = ensure_asset(&mut self.t, agent, item.received_at)?;
        self.fed.push(Fed::Seen {
            asset: asset.clone(),
            at: item.received_at,
        });
        let origin = Origin {
            agent,
            asset: &asset,
            seq,
            received_at: item.received_at,
        };
        match &item.record {
            IngestRecord::Heartbeat(_) | IngestRecord::Seen(_) | IngestRecord::PolicyState(_) => {}
            IngestRecord::Refused { inventory, .. } => {
                // Later deltas would apply to a stale inventory: refused
                // until a snapshot is stored, as after a delta that did not
                // apply.
                if *inventory {
                    state.need_snapshot = true;
                }
            }
            IngestRecord::Gap(g) => self.gap(&origin, g)?,
            IngestRecord::SpoolDamaged(d) => self.spool_damaged(&origin, d)?,
            IngestRecord::UserReport(r) => self.user_report(&origin, r)?,
            IngestRecord::Metrics(batch) => self.metrics(&origin, batch)?,
            IngestRecord::DevicePoll(poll) => self.device_poll(&origin, poll)?,
            IngestRecord::DeviceNeighbours(n) => {
                neighbours::store_neighbours(&mut self.t, origin.agent, n)?;
            }
            IngestRecord::PrinterTrays(trays) => {
                trays::store_trays(&mut self.t, origin.agent, trays)?;
            }
            IngestRecord::DeviceTrap(trap) => self.device_trap(&origin, trap)?,
            IngestRecord::ProbeRound(round) => self.probe_round(&origin, round)?,
            IngestRecord::DiscoveryResult(r) => discovery::store_result(&mut self.t, agent, r)?,
            IngestRecord::DiagResult(r) => {
                if let Some(rec) =
                    diagnostics::store_result(&mut self.t, agent, item.received_at, r)?
                {
                    self.fed.push(Fed::Diagnostic(rec));
                }
            }
            IngestRecord::Snapshot(s) => {
                self.snapshot(&origin, s)?;
                state.need_snapshot = false;
            }
            IngestRecord::Delta(d) => {
                if !state.need_snapshot && !self.delta(&origin, d)? {
                    state.need_snapshot = true;
                }
            }
        }
        Ok(())
    }

    /// Samples the agent dropped from a full spool.
    fn gap(&mut self, o: &Origin<'_>, g: &proto::Gap) -> Result<(), StoreError> {
        let missing = Missing::SpoolFull {
            batches: g.batches,
            samples: g.samples,
            from: g.from,
            to: g.to,
        };
        insert_gap(&mut self.t, o, missing)
    }

    /// A spool file the agent found damaged and moved aside.
    fn spool_damaged(&mut self, o: &Origin<'_>, d: &proto::SpoolDamaged) -> Result<(), StoreError> {
        let missing = Missing::SpoolDamaged {
            found_at: d.found_at,
            file: d.file.clone(),
            reason: d.reason.clone(),
            bytes: d.bytes,
            lost_bytes: d.lost_bytes,
        };
        insert_gap(&mut self.t, o, missing)
    }

    /// A user report, stored and fed once per report id: an agent may send
    /// one again under a new sequence number.
    fn user_report(&mut self, o: &Origin<'_>, r: &proto::UserReport) -> Result<(), StoreError> {
        let key = (o.asset, r.id.as_str());
        if self.t.user_reports.get(key)?.is_some() {
            return Ok(());
        }
        let record = ReportRecord {
            asset: o.asset.to_owned(),
            agent_id: o.agent.to_owned(),
            seq: o.seq,
            id: r.id.clone(),
            written_at: r.written_at,
            received_at: o.received_at,
            text: r.text.clone(),
            user: r.user.clone(),
            uid: r.uid,
            handled_at: None,
            incident: None,
        };
        let bytes = enc("user_reports", &record)?;
        self.t.user_reports.insert(key, bytes.as_slice())?;
        self.fed.push(Fed::Report(record));
        Ok(())
    }

    /// Health samples, appended to the agent's open block; series the
    /// asset did not have yet are noted for the end of the commit.
    fn metrics(&mut self, o: &Origin<'_>, batch: &proto::MetricBatch) -> Result<(), StoreError> {
        for sample in &batch.samples {
            let flat = series::flatten(sample);
            self.points(o.agent, o.asset, o.received_at, sample.at, flat)?;
            self.fed.push(Fed::Sample {
                asset: o.asset.to_owned(),
                sample: sample.clone(),
            });
        }
        Ok(())
    }

    /// A device poll: its status and inventory (see
    /// [`devices::store_poll`]), and its values as one sample of the
    /// device's asset, written to an open block of the device's own. A
    /// poll for a device that is unknown or that the agent does not poll
    /// is not stored.
    fn device_poll(&mut self, o: &Origin<'_>, poll: &proto::DevicePoll) -> Result<(), StoreError> {
        let Some(stored) = devices::store_poll(&mut self.t, self.cache, o.agent, poll)? else {
            return Ok(());
        };
        if !stored.primary {
            // Another device writes this box's asset.
            return Ok(());
        }
        let (asset, changes) = (stored.asset, stored.changes);
        self.fed.push(Fed::DevicePoll {
            asset: asset.clone(),
            device: poll.device.clone(),
            at: poll.polled_at,
            state: poll.state,
            values: poll.values.clone(),
            admin_down: devices::admin_down(&self.t, &asset)?,
            changes,
            peers: neighbours::interface_peers(&self.t, &asset)?,
        });
        if poll.values.is_empty() {
            return Ok(());
        }
        let values = poll.values.iter().map(|(n, v)| (n.clone(), *v));
        self.points(&asset, &asset, o.received_at, poll.polled_at, values)
    }

    /// What an agent's trap listener sent: the trap stored as an event of
    /// its device (not when the device is unknown or polled by another
    /// agent), and its drop totals as `snmp.traps_dropped{reason=…}` points
    /// of the agent's own asset, at the collector's receive time, written
    /// as a writer of their own (the agent's samples carry its clock).
    fn device_trap(&mut self, o: &Origin<'_>, t: &proto::DeviceTrap) -> Result<(), StoreError> {
        if let Some(trap) = &t.trap
            && let Some(asset) =
                devices::store_trap(&mut self.t, o.agent, o.seq, o.received_at, trap)?
        {
            self.fed.push(Fed::DeviceTrap {
                asset,
                trap: trap.clone(),
            });
        }
        if t.dropped.is_empty() {
            return Ok(());
        }
        let values = t
            .dropped
            .iter()
            .map(|(reason, n)| (format!("{TRAPS_DROPPED}{{reason={reason}}}"), *n as f64));
        self.points(o.asset, o.asset, o.received_at, o.received_at, values)
    }

    /// A round of the agent's network probes: its figures as points of the
    /// agent's asset, in the agent's own open block (they carry the agent's
    /// clock, like its samples, and are spooled in time order with them),
    /// and its results as the latest per target.
    fn probe_round(&mut self, o: &Origin<'_>, round: &proto::ProbeRound) -> Result<(), StoreError> {
        probes::store_round(&mut self.t, o.asset, o.agent, round)?;
        let points: Vec<(String, f64)> =
            round.results.iter().flat_map(ProbeResult::values).collect();
        if points.is_empty() {
            return Ok(());
        }
        self.fed.push(Fed::Points {
            asset: o.asset.to_owned(),
            at: round.at,
            points: points.clone(),
        });
        self.points(o.agent, o.asset, o.received_at, round.at, points)
    }

    /// How the agent's QUIC path to the collector fares, as points of its
    /// asset at `at` (the collector's clock). They go to an open block of
    /// the asset's own, not the agent's: the agent's samples carry the
    /// agent's clock, and a point out of time order would close its block.
    fn path(&mut self, agent: &str, at: Timestamp, seen: &AgentSeen) -> Result<(), StoreError> {
        let Some(asset) = self.t.agent_asset.get(agent)?.map(|v| v.value().to_owned()) else {
            return Ok(());
        };
        self.points(&asset, &asset, at, at, seen.path_values())
    }

    /// Appends one sample of `asset` (named values at `at`) to the open
    /// block of `writer`; series the asset did not have yet are noted for
    /// the end of the commit.
    fn points(
        &mut self,
        writer: &str,
        asset: &str,
        received_at: Timestamp,
        at: Timestamp,
        values: impl IntoIterator<Item = (String, f64)>,
    ) -> Result<(), StoreError> {
        if !self.heads.contains_key(writer) {
            let head = load_head(&mut self.t, writer, asset, received_at)?;
            self.heads.insert(writer.to_owned(), head);
        }
        let mut points = Vec::with_capacity(64);
        for (name, value) in values {
            let id = name_id(&mut self.t, self.cache, &name)?;
            points.push((id, series::stored_value(&name, value)));
        }
        let known = self.t.series_of(self.cache, asset)?;
        let before = known.len();
        known.extend(points.iter().map(|p| p.0));
        if known.len() != before {
            self.new_series.insert(asset.to_owned());
        }
        if let Some((head, _)) = self.heads.get_mut(writer) {
            let phase = phase(writer);
            append_sample(&mut self.t, head, asset, phase, at.0, &points)?;
        }
        Ok(())
    }

    /// A full inventory: the agent's asset is reconciled with it first (it
    /// may turn out to be another asset's machine), then it is stored.
    fn snapshot(&mut self, o: &Origin<'_>, s: &proto::InventorySnapshot) -> Result<(), StoreError> {
        let mut inv = s.inventory.clone();
        inv.canonicalize();
        let asset = identity::reconcile(
            &mut self.t,
            self.cache,
            o.agent,
            o.asset,
            &inv,
            o.received_at,
        )?;
        let changes = store_inventory(
            &mut self.t,
            &asset,
            o.agent,
            s.seq,
            s.taken_at,
            ChangeKind::Snapshot,
            inv,
        )?;
        self.fed
            .push(inventory_fed(&self.t, &asset, s.taken_at, changes)?);
        Ok(())
    }

    /// Inventory changes, applied to the stored inventory; false when they
    /// do not apply to it (nothing is stored then).
    fn delta(&mut self, o: &Origin<'_>, d: &proto::InventoryDelta) -> Result<bool, StoreError> {
        let applied = match self.t.inventory_of(o.asset)? {
            Some(base) => diff::apply(&d.delta, &base).ok(),
            None => None,
        };
        let Some(inv) = applied else {
            return Ok(false);
        };
        let changes = store_inventory(
            &mut self.t,
            o.asset,
            o.agent,
            d.seq,
            d.taken_at,
            ChangeKind::Delta,
            inv,
        )?;
        self.fed
            .push(inventory_fed(&self.t, o.asset, d.taken_at, changes)?);
        Ok(true)
    }

    /// Writes the open blocks of the agents that sent samples, in place of
    /// the ones they replace.
    fn write_heads(&mut self) -> Result<(), StoreError> {
        let t = &mut self.t;
        for (agent, (head, stored)) in &self.heads {
            if let Some((id, parts)) = *stored {
                for i in 0..parts {
                    t.heads.remove((id, part_index(i)?))?;
                }
            }
            if head.is_empty() {
                t.head_of.remove(agent.as_str())?;
            } else {
                let id = next_id(&mut t.meta, META_NEXT_HEAD)?;
                write_parts(&mut t.heads, |i| (id, i), &head.encode())?;
                t.head_of.insert(agent.as_str(), id)?;
            }
        }
        Ok(())
    }

    /// Writes the series of the assets that got new ones.
    fn write_new_series(&mut self) -> Result<(), StoreError> {
        for asset in &self.new_series {
            // A merge may have moved the asset's series away meanwhile.
            if self.t.assets.get(asset.as_str())?.is_some() {
                self.t.put_series_of(self.cache, asset)?;
            }
        }
        Ok(())
    }
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
        let txn = self.db.begin_write()?;
        let mut agents = Agents::default();
        {
            let mut commit = Commit {
                t: Tables::open(&txn)?,
                cache,
                fed,
                heads: BTreeMap::new(),
                new_series: BTreeSet::new(),
            };
            for item in items {
                let state = agents.state(&commit.t, &item.agent_id)?;
                commit.record(item, state)?;
            }
            commit.write_heads()?;
            commit.write_new_series()?;
            agents.write(&mut commit.t)?;
        }
        txn.commit()?;
        Ok(agents.committed())
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
/// the software, hostname, identity and lookup indexes in step. Returns what
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
        // Deltas leave volatile values (free space…) out; a snapshot equal
        // but for them still refreshes the copy that views read.
        if kind == ChangeKind::Snapshot {
            t.inventory
                .insert(asset, enc("inventory", &inv)?.as_slice())?;
        }
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

    update_indexes(t, &mut meta, asset, prev.as_ref(), &inv)?;
    meta.os = inv.os.pretty_name.clone().or(inv.os.name.clone());
    meta.os_id = inv.os.id.clone();
    meta.inventory_at = Some(taken_at);
    meta.last_change_at = Some(at);
    t.put_asset(&meta)?;
    t.inventory
        .insert(asset, enc("inventory", &inv)?.as_slice())?;
    Ok(fed_changes)
}

/// Keeps the indexes of `asset` in step with its new inventory `inv`
/// (after `prev`): installed base, host name (on `meta`, written by the
/// caller), identity keys and caller lookup keys.
fn update_indexes(
    t: &mut Tables<'_>,
    meta: &mut AssetMeta,
    asset: &str,
    prev: Option<&Inventory>,
    inv: &Inventory,
) -> Result<(), StoreError> {
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
    let (old, new) = (pairs(prev), pairs(Some(inv)));
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
        .map(|p| identity::hardware_keys(p).into_iter().collect())
        .unwrap_or_default();
    let new_keys: BTreeSet<String> = identity::hardware_keys(inv).into_iter().collect();
    for k in old_keys.difference(&new_keys) {
        t.identity_keys.remove((k.as_str(), asset))?;
    }
    for k in new_keys.difference(&old_keys) {
        t.identity_keys.insert((k.as_str(), asset), ())?;
    }
    // Users, full names and FQDN, for caller lookup.
    lookup::replace_lookup_keys(&mut t.lookup_keys, asset, prev, Some(inv))?;
    Ok(())
}

/// The id of series name `name`, allocated on first use.
pub(crate) fn name_id(
    t: &mut Tables<'_>,
    cache: &mut Cache,
    name: &str,
) -> Result<u32, StoreError> {
    if let Some(id) = cache.names.get(name) {
        return Ok(*id);
    }
    let found = t.names.get(name)?.map(|v| v.value());
    let id = match found {
        Some(id) => id,
        None => {
            let n = next_id(&mut t.meta, META_NEXT_NAME)?;
            let id = u32::try_from(n).map_err(|_| StoreError::Corrupt {
                table: "meta",
                reason: format!("series name id {n} does not fit 32 bits"),
            })?;
            t.names.insert(name, id)?;
            t.name_of.insert(id, name)?;
            id
        }
    };
    cache.names.insert(name.to_owned(), id);
    Ok(id)
}

/// Stores what an agent reported missing from its history.
fn insert_gap(t: &mut Tables<'_>, o: &Origin<'_>, missing: Missing) -> Result<(), StoreError> {
    let record = GapRecord {
        agent_id: o.agent.to_owned(),
        seq: o.seq,
        received_at: o.received_at,
        missing,
    };
    let bytes = enc("gaps", &record)?;
    t.gaps.insert((o.asset, o.agent, o.seq), bytes.as_slice())?;
    Ok(())
}

/// The open block of `agent` as stored, with its head id and number of
/// parts. A head that no longer decodes is kept as a closed block at `now`
/// (so that a query over that time reports it), and the agent starts a
/// new one.
#[allow(clippy::type_complexity)]
fn load_head(
    t: &mut Tables<'_>,
    agent: &str,
    asset: &str,
    now: Timestamp,
) -> Result<(Block, Option<(u64, usize)>), StoreError> {
    let Some(id) = t.head_of.get(agent)?.map(|v| v.value()) else {
        return Ok((Block::default(), None));
    };
    let mut bytes = Vec::new();
    let mut parts = 0;
    for r in t.heads.range((id, 0)..=(id, u16::MAX))? {
        let (_, part) = r?;
        bytes.extend_from_slice(part.value());
        parts += 1;
    }
    match Block::decode(&bytes) {
        Ok(head) => Ok((head, Some((id, parts)))),
        Err(e) => {
            tracing::warn!(agent, error = %e, "open metric block does not decode; kept as a closed block");
            let bid = next_id(&mut t.meta, META_NEXT_BLOCK)?;
            write_parts(&mut t.blocks, |i| (bid, i), &bytes)?;
            t.block_index.insert((asset, now.0, bid), now.0)?;
            Ok((Block::default(), Some((id, parts))))
        }
    }
}

/// Adds one sample (`(name id, value)` pairs, all at `ts`) to an agent's
/// open block, closing the block first when the sample does not belong in
/// it (time went backwards, the block would span too long, or a half-full
/// block reached the end of the agent's window, see [`BLOCK_WINDOW_MS`])
/// and after when it is full.
///
/// A sample that names one series twice (two filesystems reported with one
/// mount point…) becomes several rows with the same time, so that every
/// point is kept, in the order sent.
fn append_sample(
    t: &mut Tables<'_>,
    head: &mut Block,
    asset: &str,
    phase: i64,
    ts: i64,
    points: &[(u32, f64)],
) -> Result<(), StoreError> {
    let mut layers: Vec<Vec<(u32, f64)>> = vec![Vec::with_capacity(points.len())];
    let mut seen: HashMap<u32, usize> = HashMap::new();
    for &(id, v) in points {
        let layer = seen.entry(id).or_insert(0);
        if *layer >= layers.len() {
            layers.push(Vec::new());
        }
        if let Some(l) = layers.get_mut(*layer) {
            l.push((id, v));
        }
        *layer += 1;
    }
    for layer in layers.iter().filter(|l| !l.is_empty()) {
        let close = match (head.first_ts(), head.last_ts()) {
            (Some(first), Some(last)) => {
                ts < last
                    || ts.saturating_sub(first) > MAX_BLOCK_SPAN_MS
                    || head.rows() >= BLOCK_ROWS.min(block::MAX_ROWS)
                    || (head.rows() >= BLOCK_ROWS / 2 && window(ts, phase) != window(first, phase))
            }
            _ => false,
        };
        if close {
            close_head(t, head, asset)?;
        }
        head.push_row(ts);
        for &(id, v) in layer {
            head.put(id, v);
        }
    }
    if head.rows() >= BLOCK_ROWS {
        close_head(t, head, asset)?;
    }
    Ok(())
}

/// Stores an agent's open block as a closed block of `asset`, merges its
/// points into the asset's rollups (in the same transaction: see
/// [`super::rollups`]) and empties it.
fn close_head(t: &mut Tables<'_>, head: &mut Block, asset: &str) -> Result<(), StoreError> {
    let (Some(first), Some(last)) = (head.first_ts(), head.last_ts()) else {
        return Ok(());
    };
    let bid = next_id(&mut t.meta, META_NEXT_BLOCK)?;
    write_parts(&mut t.blocks, |i| (bid, i), &head.encode())?;
    t.block_index.insert((asset, first, bid), last)?;
    let mut partials = Partials::default();
    partials.add_block(head);
    partials.write(&mut t.rollups, asset)?;
    *head = Block::default();
    Ok(())
}

/// Writes `bytes` in parts of at most [`BLOCK_PART_BYTES`] under the keys
/// `key(0)`, `key(1)`…; returns how many.
fn write_parts<'k, K: redb::Key + 'static>(
    table: &mut Table<'_, K, &'static [u8]>,
    key: impl Fn(u16) -> K::SelfType<'k>,
    bytes: &[u8],
) -> Result<usize, StoreError> {
    let mut n = 0;
    for (i, part) in bytes.chunks(BLOCK_PART_BYTES).enumerate() {
        table.insert(key(part_index(i)?), part)?;
        n += 1;
    }
    Ok(n)
}

fn part_index(i: usize) -> Result<u16, StoreError> {
    u16::try_from(i).map_err(|_| StoreError::Encode {
        table: "metric_blocks",
        reason: format!("a metric block of more than {} parts", u16::MAX),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use redb::{ReadableDatabase, TableDefinition};

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
    fn a_refused_record_counts_for_the_sequence_only() {
        let (_d, s) = temp_store();
        let refused = Ingest {
            agent_id: "ag".into(),
            received_at: Timestamp(30_000),
            record: IngestRecord::Refused {
                seq: 2,
                inventory: false,
            },
        };
        let (committed, fed) = s
            .commit_fed(&[metrics("ag", 1, vec![sample(10_000, 1.0)]), refused])
            .unwrap();
        assert_eq!(committed[0].highest_seq, 2, "the ack covers it");
        let samples = fed
            .iter()
            .filter(|f| matches!(f, Fed::Sample { .. }))
            .count();
        assert_eq!(samples, 1, "{fed:?}");
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
        assert_eq!(pts, vec![(Timestamp(10_000), 1.0)]);
    }

    #[test]
    fn a_refused_inventory_owes_a_snapshot_asked_for_once_the_agent_is_heard_right() {
        let (_d, s) = temp_store();
        let v1 = with_package(
            machine("h", Some("u"), "m", "00:aa:00:00:00:01"),
            "curl",
            "1",
        );
        let v2 = with_package(v1.clone(), "curl", "2");
        let v3 = with_package(v1.clone(), "curl", "3");
        s.commit(&[snapshot("ag", 1, 1_000, &v1)]).unwrap();
        let refused = |seq, inventory| Ingest {
            agent_id: "ag".into(),
            received_at: Timestamp(5_000),
            record: IngestRecord::Refused { seq, inventory },
        };
        // The agent's v1→v2 delta is refused for its time, and so is all
        // it sends with it: acked, but not asked for a snapshot yet.
        let r = s.commit(&[refused(2, true), refused(3, false)]).unwrap();
        assert_eq!(
            r[0],
            Committed {
                agent_id: "ag".into(),
                highest_seq: 3,
                need_snapshot: false
            }
        );
        // Its v2→v3 delta would apply to v1; refused, and now that
        // something of it is accepted, the snapshot is asked for.
        let r = s.commit(&[delta("ag", 4, 6_000, &v2, &v3)]).unwrap();
        assert!(r[0].need_snapshot, "{r:?}");
        let asset = s.agent_asset_id("ag").unwrap().unwrap();
        assert_eq!(s.asset(&asset).unwrap().unwrap().inventory, Some(v1));
        // A refused snapshot leaves it owed; a stored one settles it.
        let r = s
            .commit(&[refused(5, true), metrics("ag", 6, vec![sample(7_000, 1.0)])])
            .unwrap();
        assert!(r[0].need_snapshot, "{r:?}");
        let r = s.commit(&[snapshot("ag", 7, 8_000, &v3)]).unwrap();
        assert!(!r[0].need_snapshot, "{r:?}");
        assert_eq!(s.asset(&asset).unwrap().unwrap().inventory, Some(v3));
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
    fn free_space_is_no_change_but_a_snapshot_refreshes_it() {
        let (_d, s) = temp_store();
        let with_free = |free: u64| {
            let mut inv = machine("h", Some("u"), "m", "00:aa:00:00:00:01");
            inv.storage
                .filesystems
                .push(atalaya_common::model::Filesystem {
                    mount_point: "/".into(),
                    device: "/dev/sda2".into(),
                    fs_type: "ext4".into(),
                    total_bytes: Some(100 << 30),
                    free_bytes: Some(free),
                    ..atalaya_common::model::Filesystem::default()
                });
            inv
        };
        let (v1, v2, v3) = (
            with_free(40 << 30),
            with_free(39 << 30),
            with_free(38 << 30),
        );
        s.commit(&[snapshot("ag", 1, 1_000, &v1)]).unwrap();
        let r = s.commit(&[delta("ag", 2, 2_000, &v1, &v2)]).unwrap();
        assert!(!r[0].need_snapshot);
        let r = s.commit(&[snapshot("ag", 3, 3_000, &v3)]).unwrap();
        assert!(!r[0].need_snapshot);
        let asset = s.agent_asset_id("ag").unwrap().unwrap();
        // Only the first inventory is an event.
        assert_eq!(s.changes(Some(&asset), Timestamp(0), 10).unwrap().len(), 1);
        assert_eq!(s.asset(&asset).unwrap().unwrap().inventory, Some(v3));
    }

    #[test]
    fn blocks_close_at_the_row_limit() {
        let (_d, s) = temp_store();
        let samples: Vec<_> = (0..(BLOCK_ROWS as i64 + 10))
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
        assert_eq!(pts.len(), BLOCK_ROWS + 10);
        // One closed block and the agent's open one, for all its series.
        assert_eq!(s.stats().unwrap().chunks, 2);
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
    fn corrupt_blocks_are_typed_errors_and_ingest_goes_on() {
        let (_d, s) = temp_store();
        let samples: Vec<_> = (0..(BLOCK_ROWS as i64 + 5))
            .map(|i| sample(10_000 * (i + 1), i as f64))
            .collect();
        s.commit(&[metrics("ag", 1, samples)]).unwrap();
        let asset = s.agent_asset_id("ag").unwrap().unwrap();
        let query = |from: i64, to: i64| {
            s.metric(
                &asset,
                "cpu.total_percent",
                Timestamp(from),
                Timestamp(to),
                None,
            )
        };
        let smash = |table: TableDefinition<(u64, u16), &[u8]>, id: u64| {
            let txn = s.db.begin_write().unwrap();
            txn.open_table(table)
                .unwrap()
                .insert((id, 0), [block::FORMAT, 0, 0, 0].as_slice())
                .unwrap();
            txn.commit().unwrap();
        };
        // The closed block (id 1) is damaged: reading it is an error that
        // names it; the open block still answers for its own range.
        smash(BLOCKS, 1);
        let err = query(0, i64::MAX).unwrap_err();
        assert!(
            matches!(&err, StoreError::Block { block, .. } if block == "1"),
            "{err}"
        );
        let last = 10_000 * (BLOCK_ROWS as i64 + 5);
        assert_eq!(query(last, last).unwrap(), vec![(Timestamp(last), 64.0)]);
        // The open block is damaged too: an error naming the agent…
        let head =
            s.db.begin_read()
                .unwrap()
                .open_table(HEAD_OF)
                .unwrap()
                .get("ag")
                .unwrap()
                .unwrap()
                .value();
        smash(HEADS, head);
        let err = query(last, last).unwrap_err();
        assert!(err.to_string().contains("open block of agent ag"), "{err}");
        // …and the agent's next samples are stored all the same, in a new
        // open block; the damaged one is kept where a query will report it.
        s.commit(&[Ingest {
            received_at: Timestamp(last + 5_000),
            ..metrics("ag", 2, vec![sample(last + 10_000, 99.0)])
        }])
        .unwrap();
        assert_eq!(
            query(last + 10_000, i64::MAX).unwrap(),
            vec![(Timestamp(last + 10_000), 99.0)]
        );
        assert!(query(last, last + 5_000).is_err());
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
