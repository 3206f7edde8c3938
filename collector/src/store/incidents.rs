//! Incidents in the store: the incident records and their open index, the
//! engine's saved state, user reports. Persistence only: what an engine
//! action or a staff action does to an incident is decided above (the
//! incident lifecycle, applied by the desk in a [`DeskTxn`]).
//!
//! [`INCIDENT_SPANS`] indexes incidents by when they were active, for the
//! reports of a period ([`Store::incidents_active_between`]); it is kept
//! in step by [`DeskTxn::put_incident`] and rebuilt at open when the
//! file's index version is not [`INCIDENT_SPANS_VERSION`].
//! [`INCIDENTS_BY_ASSET`] indexes them by asset, for the reads of one
//! asset's incidents (its page, the API's `asset` filter), kept and built
//! at open the same way ([`INCIDENTS_BY_ASSET_VERSION`]).

use std::collections::VecDeque;

use atalaya_common::model::Timestamp;
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, WriteTransaction};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::schema::*;
use super::{DeskTxn, ReportRecord, Store, StoreError, dec, enc};
use crate::records::incident::{IncidentRecord, Priority, Severity, Status};

/// What [`INCIDENT_SPANS`] and [`INCIDENT_ENDS`] hold: bump it when
/// [`span_of`] changes, so that stores written before are re-indexed at
/// open. 2: with [`INCIDENT_ENDS`].
pub const INCIDENT_SPANS_VERSION: u64 = 2;

/// The key and value of `rec` in [`INCIDENT_SPANS`]: its opening, and the
/// end of its last active time (`i64::MAX` while active).
fn span_of(rec: &IncidentRecord) -> ((i64, u64), i64) {
    let until = until_of(rec.status, rec.resolved_at, rec.closed_at, rec.opened_at);
    ((rec.opened_at.0, rec.id), until)
}

/// The end of an incident's last active time ([`span_of`]).
fn until_of(
    status: Status,
    resolved_at: Option<Timestamp>,
    closed_at: Option<Timestamp>,
    opened_at: Timestamp,
) -> i64 {
    if status.is_active() {
        i64::MAX
    } else {
        resolved_at.or(closed_at).map_or(opened_at.0, |t| t.0)
    }
}

/// Builds [`INCIDENT_SPANS`] anew from every incident, in `txn`, and
/// records [`INCIDENT_SPANS_VERSION`]; returns how many it indexed. An
/// incident that does not decode is left out with a warning (reports of a
/// period will not see it) rather than keep the collector from starting.
pub(crate) fn rebuild_incident_spans(txn: &WriteTransaction) -> Result<u64, StoreError> {
    txn.delete_table(INCIDENT_SPANS)?;
    txn.delete_table(INCIDENT_ENDS)?;
    let mut index = txn.open_table(INCIDENT_SPANS)?;
    let mut ends = txn.open_table(INCIDENT_ENDS)?;
    let mut indexed = 0;
    for r in txn.open_table(INCIDENTS)?.iter()? {
        let (id, v) = r?;
        match dec::<IncidentRecord>("incidents", v.value()) {
            Ok(rec) => {
                let ((opened, id), until) = span_of(&rec);
                index.insert((opened, id), until)?;
                ends.insert((until, id), opened)?;
                indexed += 1;
            }
            Err(e) => {
                tracing::warn!(incident = id.value(), error = %e, "incident left out of the index by time");
            }
        }
    }
    txn.open_table(META)?
        .insert(META_INCIDENT_SPANS, INCIDENT_SPANS_VERSION)?;
    Ok(indexed)
}

/// What [`INCIDENTS_BY_ASSET`] holds: bump it when its keys change, so
/// that stores written before are re-indexed at open.
pub const INCIDENTS_BY_ASSET_VERSION: u64 = 1;

/// Builds [`INCIDENTS_BY_ASSET`] anew from every incident, in `txn`, and
/// records [`INCIDENTS_BY_ASSET_VERSION`]; returns how many it indexed.
/// Only each record's leading fields are decoded. An incident that does
/// not decode is left out with a warning (its asset's page will not list
/// it) rather than keep the collector from starting.
pub(crate) fn rebuild_incidents_by_asset(txn: &WriteTransaction) -> Result<u64, StoreError> {
    txn.delete_table(INCIDENTS_BY_ASSET)?;
    let mut index = txn.open_table(INCIDENTS_BY_ASSET)?;
    let mut indexed = 0;
    for r in txn.open_table(INCIDENTS)?.iter()? {
        let (id, v) = r?;
        match dec_borrowed::<Head<'_>>("incidents", v.value()) {
            Ok(head) => {
                index.insert((head.asset, head.id), ())?;
                indexed += 1;
            }
            Err(e) => {
                tracing::warn!(incident = id.value(), error = %e, "incident left out of the index by asset");
            }
        }
    }
    txn.open_table(META)?
        .insert(META_INCIDENTS_BY_ASSET, INCIDENTS_BY_ASSET_VERSION)?;
    Ok(indexed)
}

/// The ids of the incidents of `asset` by [`INCIDENTS_BY_ASSET`], newest
/// first.
fn asset_ids_newest_first(
    txn: &redb::ReadTransaction,
    asset: &str,
) -> Result<Vec<u64>, StoreError> {
    let index = txn.open_table(INCIDENTS_BY_ASSET)?;
    let mut ids = Vec::new();
    for row in index.range((asset, 0)..=(asset, u64::MAX))?.rev() {
        ids.push(row?.0.value().1);
    }
    Ok(ids)
}

/// What a count of incidents reads of each: a few of its leading fields
/// (see [`Store::active_incident_heads`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncidentHead {
    /// Its number.
    pub id: u64,
    /// Its priority.
    pub priority: Priority,
    /// Its status.
    pub status: Status,
    /// Whether someone is assigned.
    pub assigned: bool,
    /// When its running SLA clock is at risk.
    pub at_risk_at: Timestamp,
    /// Acknowledged too late (or not yet, past the time).
    pub acknowledge_breached: bool,
    /// Resolved too late (or not yet, past the time).
    pub resolve_breached: bool,
}

/// Filters of an incident list.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    /// Only this status.
    pub status: Option<Status>,
    /// Only incidents still to handle: open or acknowledged.
    pub active: bool,
    /// Only this asset id.
    pub asset: Option<String>,
    /// Only this priority.
    pub priority: Option<Priority>,
    /// Only incidents assigned so: `Some(None)` unassigned,
    /// `Some(Some(name))` assigned to `name`.
    pub assignee: Option<Option<String>>,
    /// Only incidents whose title holds this text, ignoring case (give it
    /// in lower case).
    pub title_contains: Option<String>,
}

/// The leading fields of a stored incident, up to its SLA flags, read
/// from the record's bytes without copying and without the rest (solution,
/// articles, timeline): what a filter needs. They are
/// [`IncidentRecord`]'s first fields in its order, which postcard keeps.
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // every field is read, to reach the ones after it
struct Head<'a> {
    id: u64,
    asset: &'a str,
    rule: &'a str,
    subject: &'a str,
    title: &'a str,
    description: &'a str,
    severity: Severity,
    priority: Priority,
    status: Status,
    level: u8,
    assignee: Option<&'a str>,
    occurrences: u32,
    flapping: bool,
    opened_at: Timestamp,
    stored_at: Timestamp,
    acknowledged_at: Option<Timestamp>,
    resolved_at: Option<Timestamp>,
    closed_at: Option<Timestamp>,
    acknowledge_due: Timestamp,
    at_risk_at: Timestamp,
    resolve_due: Timestamp,
    acknowledge_breached: bool,
    resolve_breached: bool,
}

/// Decodes the start of a record read from table `table`, borrowing from it.
fn dec_borrowed<'a, T: Deserialize<'a>>(table: &'static str, b: &'a [u8]) -> Result<T, StoreError> {
    postcard::from_bytes(b).map_err(|e| StoreError::Corrupt {
        table,
        reason: e.to_string(),
    })
}

impl IncidentFilter {
    fn wants_head(&self, h: &Head<'_>) -> bool {
        self.takes(h.status, h.asset, h.priority, h.assignee, h.title)
    }

    fn takes(
        &self,
        status: Status,
        asset: &str,
        priority: Priority,
        assignee: Option<&str>,
        title: &str,
    ) -> bool {
        self.status.is_none_or(|s| s == status)
            && (!self.active || status.is_active())
            && self.asset.as_ref().is_none_or(|a| a == asset)
            && self.priority.is_none_or(|p| p == priority)
            && self
                .assignee
                .as_ref()
                .is_none_or(|a| a.as_deref() == assignee)
            && self
                .title_contains
                .as_ref()
                .is_none_or(|t| contains_ignoring_case(title, t))
    }

    /// Whether every incident matches.
    fn is_everything(&self) -> bool {
        self.status.is_none()
            && !self.active
            && self.asset.is_none()
            && self.priority.is_none()
            && self.assignee.is_none()
            && self.title_contains.is_none()
    }

    /// Whether only open or acknowledged incidents can match, so the index
    /// of active incidents holds every candidate.
    fn only_active(&self) -> bool {
        self.active || self.status.is_some_and(Status::is_active)
    }
}

/// Whether `text` holds `lower` (already lower case), ignoring case.
fn contains_ignoring_case(text: &str, lower: &str) -> bool {
    if lower.is_empty() {
        return true;
    }
    if text.is_ascii() && lower.is_ascii() {
        text.as_bytes()
            .windows(lower.len())
            .any(|w| w.eq_ignore_ascii_case(lower.as_bytes()))
    } else {
        text.to_lowercase().contains(lower)
    }
}

/// The ids of the open and acknowledged incidents, newest first.
fn active_ids_newest_first(txn: &redb::ReadTransaction) -> Result<Vec<u64>, StoreError> {
    let open = txn.open_table(OPEN_INCIDENTS)?;
    let mut ids = open
        .iter()?
        .map(|row| Ok(row?.1.value()))
        .collect::<Result<Vec<u64>, StoreError>>()?;
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids.dedup();
    Ok(ids)
}

/// One page of an incident list, newest first (see [`Store::incident_page`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IncidentPage {
    /// The page's incidents, newest first.
    pub incidents: Vec<IncidentRecord>,
    /// How many incidents match in all, on every page.
    pub matched: u64,
    /// How many match newer than the page (0 on the first page).
    pub newer: u64,
    /// Where the page before this one (newer) starts, when there is one.
    pub newer_page: Option<u64>,
    /// The newest id of the next (older) page, when there is one: pass it
    /// as `from` to read that page.
    pub older: Option<u64>,
}

impl DeskTxn {
    /// One incident.
    pub fn incident(&self, id: u64) -> Result<Option<IncidentRecord>, StoreError> {
        let t = self.txn.open_table(INCIDENTS)?;
        let v = t.get(id)?;
        v.map(|v| dec("incidents", v.value())).transpose()
    }

    /// Writes `rec`, keeping the index of open incidents by (asset, rule,
    /// subject) in step with its status, and the indexes by time and by
    /// asset with it.
    pub fn put_incident(&self, rec: &IncidentRecord) -> Result<(), StoreError> {
        let mut by_asset = self.txn.open_table(INCIDENTS_BY_ASSET)?;
        let mut ends = self.txn.open_table(INCIDENT_ENDS)?;
        let (span, until) = span_of(rec);
        {
            let mut incidents = self.txn.open_table(INCIDENTS)?;
            let old = incidents.insert(rec.id, enc("incidents", rec)?.as_slice())?;
            // A record stored before leaves the keys it no longer has.
            if let Some(old) = old
                && let Ok(head) = dec_borrowed::<Head<'_>>("incidents", old.value())
            {
                if head.asset != rec.asset {
                    by_asset.remove((head.asset, rec.id))?;
                }
                let old_until = until_of(
                    head.status,
                    head.resolved_at,
                    head.closed_at,
                    head.opened_at,
                );
                if old_until != until {
                    ends.remove((old_until, rec.id))?;
                }
                if head.opened_at != rec.opened_at {
                    self.txn
                        .open_table(INCIDENT_SPANS)?
                        .remove((head.opened_at.0, rec.id))?;
                }
            }
        }
        by_asset.insert((rec.asset.as_str(), rec.id), ())?;
        ends.insert((until, rec.id), span.0)?;
        self.txn.open_table(INCIDENT_SPANS)?.insert(span, until)?;
        let mut open = self.txn.open_table(OPEN_INCIDENTS)?;
        let key = (rec.asset.as_str(), rec.rule.as_str(), rec.subject.as_str());
        if rec.status.is_active() {
            open.insert(key, rec.id)?;
        } else if open.get(key)?.map(|v| v.value()) == Some(rec.id) {
            open.remove(key)?;
        }
        Ok(())
    }

    /// The ids of every open or acknowledged incident.
    pub fn active_incident_ids(&self) -> Result<Vec<u64>, StoreError> {
        let open = self.txn.open_table(OPEN_INCIDENTS)?;
        open.iter()?.map(|row| Ok(row?.1.value())).collect()
    }

    /// Saves the incident engine's state.
    pub fn set_engine_state<T: Serialize>(&self, state: &T) -> Result<(), StoreError> {
        self.txn
            .open_table(ENGINE_STATE)?
            .insert(ENGINE_STATE_KEY, enc("engine_state", state)?.as_slice())?;
        Ok(())
    }

    /// One user report.
    pub fn report(&self, asset: &str, id: &str) -> Result<Option<ReportRecord>, StoreError> {
        let t = self.txn.open_table(USER_REPORTS)?;
        let v = t.get((asset, id))?;
        v.map(|v| dec("user_reports", v.value())).transpose()
    }

    /// Writes a user report back (after the desk handled it).
    pub fn put_report(&self, rec: &ReportRecord) -> Result<(), StoreError> {
        self.txn.open_table(USER_REPORTS)?.insert(
            (rec.asset.as_str(), rec.id.as_str()),
            enc("user_reports", rec)?.as_slice(),
        )?;
        Ok(())
    }
}

impl Store {
    /// The saved incident engine state, if any (see
    /// [`DeskTxn::set_engine_state`]).
    pub fn engine_state<T: DeserializeOwned>(&self) -> Result<Option<T>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(ENGINE_STATE)?;
        let v = t.get(ENGINE_STATE_KEY)?;
        v.map(|v| dec("engine_state", v.value())).transpose()
    }

    /// User reports the incident desk has not handled yet, oldest first.
    pub fn pending_reports(&self) -> Result<Vec<ReportRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(USER_REPORTS)?;
        let mut out = Vec::new();
        for r in table.iter()? {
            let rec: ReportRecord = dec("user_reports", r?.1.value())?;
            if rec.handled_at.is_none() {
                out.push(rec);
            }
        }
        out.sort_by_key(|r| (r.received_at, r.seq));
        Ok(out)
    }

    /// The user reports about `asset`, newest first.
    pub fn reports(&self, asset: &str) -> Result<Vec<ReportRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(USER_REPORTS)?;
        let mut out = Vec::new();
        for r in table.range((asset, "")..)? {
            let (k, v) = r?;
            if k.value().0 != asset {
                break;
            }
            out.push(dec::<ReportRecord>("user_reports", v.value())?);
        }
        out.sort_by_key(|r| std::cmp::Reverse((r.received_at, r.seq)));
        Ok(out)
    }

    /// One incident.
    pub fn incident(&self, id: u64) -> Result<Option<IncidentRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(INCIDENTS)?;
        let v = t.get(id)?;
        v.map(|v| dec("incidents", v.value())).transpose()
    }

    /// The open and acknowledged incidents of `asset`, by rule and subject.
    pub fn active_incidents_of(&self, asset: &str) -> Result<Vec<IncidentRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let open = txn.open_table(OPEN_INCIDENTS)?;
        let incidents = txn.open_table(INCIDENTS)?;
        let mut out = Vec::new();
        for r in open.range((asset, "", "")..)? {
            let (k, v) = r?;
            if k.value().0 != asset {
                break;
            }
            if let Some(rec) = incidents.get(v.value())? {
                out.push(dec("incidents", rec.value())?);
            }
        }
        Ok(out)
    }

    /// The incidents active at some time from `from` (ms, included) to `to`
    /// (excluded) by [`INCIDENT_SPANS`] and [`INCIDENT_ENDS`], by id:
    /// opened before `to` and not resolved for good before `from`. Reads
    /// only those records, and of the indexes about as many keys as the
    /// smaller of the incidents opened before `to` and those active since
    /// `from`, twice.
    pub fn incidents_active_between(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Vec<IncidentRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let spans = txn.open_table(INCIDENT_SPANS)?;
        let ends = txn.open_table(INCIDENT_ENDS)?;
        let incidents = txn.open_table(INCIDENTS)?;
        // Those opened before `to` (by opening) and those active since
        // `from` (by end) are walked a step each in turn: the first walk to
        // finish has seen every candidate, and each key says both times.
        let mut by_opening = spans.range(..(to, 0))?;
        let mut by_end = ends.range((from, 0)..)?;
        let mut opened_ids = Vec::new();
        let mut ended_ids = Vec::new();
        let ids = loop {
            match by_opening.next() {
                None => break opened_ids,
                Some(r) => {
                    let (k, until) = r?;
                    if until.value() >= from {
                        opened_ids.push(k.value().1);
                    }
                }
            }
            match by_end.next() {
                None => break ended_ids,
                Some(r) => {
                    let (k, opened) = r?;
                    if opened.value() < to {
                        ended_ids.push(k.value().1);
                    }
                }
            }
        };
        let mut ids = ids;
        // Read in id order: neighbouring records share pages.
        ids.sort_unstable();
        ids.dedup();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(v) = incidents.get(id)? {
                let rec: IncidentRecord = dec("incidents", v.value())?;
                // The record has the last word over its index keys.
                let ((opened, _), until) = span_of(&rec);
                if opened < to && until >= from {
                    out.push(rec);
                }
            }
        }
        Ok(out)
    }

    /// The leading fields ([`IncidentHead`]) of every open or
    /// acknowledged incident, newest first, without the rest of their
    /// records: for counts.
    pub fn active_incident_heads(&self) -> Result<Vec<IncidentHead>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(INCIDENTS)?;
        let mut out = Vec::new();
        for id in active_ids_newest_first(&txn)? {
            if let Some(v) = t.get(id)? {
                let h: Head<'_> = dec_borrowed("incidents", v.value())?;
                out.push(IncidentHead {
                    id: h.id,
                    priority: h.priority,
                    status: h.status,
                    assigned: h.assignee.is_some(),
                    at_risk_at: h.at_risk_at,
                    acknowledge_breached: h.acknowledge_breached,
                    resolve_breached: h.resolve_breached,
                });
            }
        }
        Ok(out)
    }

    /// One page of the incidents matching `f` and `also`, newest first:
    /// at most `limit` of them with ids at most `from` (`None`: from the
    /// newest), how many match in all, and where the next page starts.
    ///
    /// With an asset, only the index of incidents by asset and that
    /// asset's records are read; else when only active incidents can
    /// match, only the index of active incidents and their records;
    /// otherwise every record,
    /// newest first, for the count. Of each, only the leading fields are
    /// decoded for `f` ([`Head`], borrowed, without the timeline); the
    /// whole record only for those `f` takes when `also` is given, and for
    /// the page's.
    pub fn incident_page(
        &self,
        f: &IncidentFilter,
        also: Option<&dyn Fn(&IncidentRecord) -> bool>,
        from: Option<u64>,
        limit: usize,
    ) -> Result<IncidentPage, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(INCIDENTS)?;
        let mut page = IncidentPage::default();
        // The ids of the last `limit` matches newer than the page: the
        // first of them starts the page before.
        let mut before: VecDeque<u64> = VecDeque::with_capacity(limit.min(1024) + 1);
        let mut take = |bytes: &[u8], page: &mut IncidentPage| -> Result<(), StoreError> {
            let head: Head<'_> = dec_borrowed("incidents", bytes)?;
            if !f.wants_head(&head) {
                return Ok(());
            }
            let mut full = None;
            if let Some(also) = also {
                let rec: IncidentRecord = dec("incidents", bytes)?;
                if !also(&rec) {
                    return Ok(());
                }
                full = Some(rec);
            }
            page.matched += 1;
            if from.is_some_and(|from| head.id > from) {
                page.newer += 1;
                before.push_back(head.id);
                if before.len() > limit {
                    before.pop_front();
                }
            } else if page.incidents.len() < limit {
                let rec = match full {
                    Some(rec) => rec,
                    None => dec("incidents", bytes)?,
                };
                page.incidents.push(rec);
            } else if page.older.is_none() {
                page.older = Some(head.id);
            }
            Ok(())
        };
        let candidates = match &f.asset {
            Some(asset) => Some(asset_ids_newest_first(&txn, asset)?),
            None if f.only_active() => Some(active_ids_newest_first(&txn)?),
            None => None,
        };
        if let Some(ids) = candidates {
            for id in ids {
                if let Some(v) = t.get(id)? {
                    take(v.value(), &mut page)?;
                }
            }
        } else if f.is_everything() && also.is_none() {
            // Every incident matches: the count is the table's, and only
            // the keys before the page and the page's records are read.
            page.matched = t.len()?;
            let start = from.unwrap_or(u64::MAX);
            if start < u64::MAX {
                // Oldest first: the page before starts at the `limit`-th.
                for row in t.range(start + 1..)? {
                    let id = row?.0.value();
                    page.newer += 1;
                    if page.newer <= limit as u64 {
                        before.clear();
                        before.push_back(id);
                    }
                }
            }
            for row in t.range(..=start)?.rev() {
                let (k, v) = row?;
                if page.incidents.len() < limit {
                    page.incidents.push(dec("incidents", v.value())?);
                } else {
                    page.older = Some(k.value());
                    break;
                }
            }
        } else {
            for row in t.iter()?.rev() {
                take(row?.1.value(), &mut page)?;
            }
        }
        page.newer_page = before.front().copied();
        Ok(page)
    }

    /// Incidents matching `f`, newest first. With an asset, only that
    /// asset's are read (through [`INCIDENTS_BY_ASSET`]); else when only
    /// active incidents can match, only those (through their index);
    /// otherwise every record, its leading fields first ([`Head`]).
    pub fn incidents(&self, f: &IncidentFilter) -> Result<Vec<IncidentRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(INCIDENTS)?;
        let mut out = Vec::new();
        let mut take = |bytes: &[u8]| -> Result<(), StoreError> {
            let head: Head<'_> = dec_borrowed("incidents", bytes)?;
            if f.wants_head(&head) {
                out.push(dec("incidents", bytes)?);
            }
            Ok(())
        };
        if let Some(asset) = &f.asset {
            for id in asset_ids_newest_first(&txn, asset)? {
                if let Some(v) = t.get(id)? {
                    take(v.value())?;
                }
            }
        } else if f.only_active() {
            for id in active_ids_newest_first(&txn)? {
                if let Some(v) = t.get(id)? {
                    take(v.value())?;
                }
            }
        } else {
            for row in t.iter()?.rev() {
                take(row?.1.value())?;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod page_tests {
    use super::*;
    use crate::records::incident::Severity;
    use crate::store::testutil::temp_store;

    fn rec(id: u64, status: Status, priority: Priority, assignee: Option<&str>) -> IncidentRecord {
        IncidentRecord {
            id,
            asset: format!("asset-{}", id % 3),
            rule: "r".into(),
            subject: id.to_string(),
            title: format!("Disk FULL on host-{id}"),
            description: String::new(),
            severity: Severity::Warning,
            priority,
            status,
            level: 1,
            assignee: assignee.map(str::to_owned),
            occurrences: 1,
            flapping: false,
            opened_at: Timestamp(0),
            stored_at: Timestamp(0),
            acknowledged_at: None,
            resolved_at: None,
            closed_at: None,
            acknowledge_due: Timestamp(1),
            at_risk_at: Timestamp(1),
            resolve_due: Timestamp(1),
            acknowledge_breached: false,
            resolve_breached: false,
            solution: None,
            kb_articles: Vec::new(),
            timeline: Vec::new(),
        }
    }

    fn ids(p: &IncidentPage) -> Vec<u64> {
        p.incidents.iter().map(|r| r.id).collect()
    }

    #[test]
    fn pages_are_newest_first_filtered_and_counted() {
        let (_d, s) = temp_store();
        let txn = s.begin_desk().unwrap();
        for id in 1..=30 {
            let status = if id % 2 == 0 {
                Status::Open
            } else {
                Status::Closed
            };
            let priority = if id % 5 == 0 {
                Priority::P1
            } else {
                Priority::P3
            };
            let who = (id % 4 == 0).then_some("ana");
            txn.put_incident(&rec(id, status, priority, who)).unwrap();
        }
        txn.commit().unwrap();
        let any = None;

        let all = IncidentFilter::default();
        let p = s.incident_page(&all, any, None, 7).unwrap();
        assert_eq!(ids(&p), (24..=30).rev().collect::<Vec<_>>());
        assert_eq!((p.matched, p.older), (30, Some(23)));
        assert_eq!((p.newer, p.newer_page), (0, None));
        let p = s.incident_page(&all, any, p.older, 7).unwrap();
        assert_eq!(ids(&p), (17..=23).rev().collect::<Vec<_>>());
        assert_eq!((p.matched, p.newer, p.newer_page), (30, 7, Some(30)));
        let p = s.incident_page(&all, any, p.older, 7).unwrap();
        assert_eq!((p.newer, p.newer_page), (14, Some(23)));
        let p = s.incident_page(&all, any, Some(3), 7).unwrap();
        assert_eq!((ids(&p), p.older), (vec![3, 2, 1], None));

        // The active ones come from the index: the even ids.
        let active = IncidentFilter {
            active: true,
            ..IncidentFilter::default()
        };
        let p = s.incident_page(&active, any, None, 4).unwrap();
        assert_eq!(
            (ids(&p), p.matched, p.older),
            (vec![30, 28, 26, 24], 15, Some(22))
        );
        let p = s.incident_page(&active, any, Some(22), 100).unwrap();
        assert_eq!(ids(&p).len(), 11);
        let listed: Vec<u64> = s.incidents(&active).unwrap().iter().map(|r| r.id).collect();
        assert_eq!(listed, (1..=15).rev().map(|n| n * 2).collect::<Vec<_>>());
        let listed = s
            .incidents(&IncidentFilter {
                status: Some(Status::Closed),
                priority: Some(Priority::P1),
                ..IncidentFilter::default()
            })
            .unwrap();
        assert_eq!(listed.iter().map(|r| r.id).collect::<Vec<_>>(), [25, 15, 5]);

        let f = IncidentFilter {
            active: true,
            priority: Some(Priority::P1),
            ..IncidentFilter::default()
        };
        let p = s.incident_page(&f, any, None, 50).unwrap();
        assert_eq!((ids(&p), p.matched), (vec![30, 20, 10], 3));

        let f = IncidentFilter {
            assignee: Some(Some("ana".into())),
            ..IncidentFilter::default()
        };
        assert_eq!(s.incident_page(&f, any, None, 50).unwrap().matched, 7);
        let f = IncidentFilter {
            active: true,
            assignee: Some(None),
            ..IncidentFilter::default()
        };
        assert_eq!(s.incident_page(&f, any, None, 50).unwrap().matched, 8);

        let f = IncidentFilter {
            status: Some(Status::Closed),
            title_contains: Some("full on host-1".into()),
            ..IncidentFilter::default()
        };
        let p = s.incident_page(&f, any, None, 50).unwrap();
        assert_eq!(ids(&p), vec![19, 17, 15, 13, 11, 1]);
        let f = IncidentFilter {
            asset: Some("asset-0".into()),
            ..IncidentFilter::default()
        };
        let odd = |r: &IncidentRecord| r.id % 2 == 1;
        let p = s.incident_page(&f, Some(&odd), None, 50).unwrap();
        assert_eq!(ids(&p), vec![27, 21, 15, 9, 3]);
    }

    #[test]
    fn active_heads_are_the_active_records_leading_fields() {
        let (_d, s) = temp_store();
        let txn = s.begin_desk().unwrap();
        for id in 1..=6 {
            let status = [Status::Open, Status::Acknowledged, Status::Closed][id as usize % 3];
            let mut r = rec(
                id,
                status,
                Priority::ALL[id as usize % 4],
                (id == 4).then_some("ana"),
            );
            r.at_risk_at = Timestamp(i64::try_from(id).unwrap() * 100);
            r.resolve_breached = id == 1;
            txn.put_incident(&r).unwrap();
        }
        txn.commit().unwrap();
        let heads = s.active_incident_heads().unwrap();
        let full = s
            .incidents(&IncidentFilter {
                active: true,
                ..IncidentFilter::default()
            })
            .unwrap();
        assert_eq!(heads.iter().map(|h| h.id).collect::<Vec<_>>(), [6, 4, 3, 1]);
        for (h, r) in heads.iter().zip(&full) {
            assert_eq!(
                (h.id, h.priority, h.status, h.assigned, h.at_risk_at),
                (
                    r.id,
                    r.priority,
                    r.status,
                    r.assignee.is_some(),
                    r.at_risk_at
                )
            );
            assert_eq!(
                (h.acknowledge_breached, h.resolve_breached),
                (r.acknowledge_breached, r.resolve_breached)
            );
        }
        assert!(heads[1].assigned && heads[3].resolve_breached);
    }

    #[test]
    fn a_head_is_the_start_of_its_record() {
        let mut r = rec(7, Status::Acknowledged, Priority::P2, Some("ana"));
        r.acknowledged_at = Some(Timestamp(5));
        r.resolve_breached = true;
        r.solution = Some("x".into());
        let bytes = enc("incidents", &r).unwrap();
        let h: Head<'_> = dec_borrowed("incidents", &bytes).unwrap();
        assert_eq!((h.id, h.asset, h.rule, h.subject), (7, "asset-1", "r", "7"));
        assert_eq!((h.title, h.description), (r.title.as_str(), ""));
        assert_eq!(
            (h.priority, h.status, h.assignee),
            (Priority::P2, Status::Acknowledged, Some("ana"))
        );
        assert_eq!(
            (h.acknowledged_at, h.at_risk_at, h.resolve_due),
            (Some(Timestamp(5)), Timestamp(1), Timestamp(1))
        );
        assert!(!h.acknowledge_breached && h.resolve_breached);
    }

    #[test]
    fn titles_match_ignoring_case() {
        assert!(contains_ignoring_case("Disk FULL", "disk full"));
        assert!(contains_ignoring_case("Ñandú SIN tinta", "sin tinta"));
        assert!(contains_ignoring_case("ÑANDÚ", "ñandú"));
        assert!(!contains_ignoring_case("Disk", "disks"));
        assert!(contains_ignoring_case("", ""));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use atalaya_common::model::Timestamp;

    use super::super::testutil::temp_store;
    use super::*;
    use crate::records::incident::{Priority, Severity};

    /// Incident `id`, opened at `opened`, resolved at `resolved` (active without).
    fn rec(id: u64, opened: i64, resolved: Option<i64>) -> IncidentRecord {
        IncidentRecord {
            id,
            asset: format!("asset-{id}"),
            rule: "agent-offline".into(),
            subject: String::new(),
            title: "t".into(),
            description: String::new(),
            severity: Severity::High,
            priority: Priority::P2,
            status: if resolved.is_some() {
                Status::Resolved
            } else {
                Status::Open
            },
            level: 1,
            assignee: None,
            occurrences: 1,
            flapping: false,
            opened_at: Timestamp(opened),
            stored_at: Timestamp(opened),
            acknowledged_at: None,
            resolved_at: resolved.map(Timestamp),
            closed_at: None,
            acknowledge_due: Timestamp(opened + 10),
            at_risk_at: Timestamp(opened + 8),
            resolve_due: Timestamp(opened + 100),
            acknowledge_breached: false,
            resolve_breached: false,
            solution: None,
            kb_articles: Vec::new(),
            timeline: Vec::new(),
        }
    }

    fn ids(v: Vec<IncidentRecord>) -> Vec<u64> {
        v.into_iter().map(|r| r.id).collect()
    }

    /// [`Store::incidents_active_between`] for every period with bounds in
    /// `bounds`, checked against every record read without the indexes;
    /// the ids for `(from, to)`.
    fn active_between(s: &Store, from: i64, to: i64, bounds: &[i64]) -> Vec<u64> {
        let all = s.incidents(&IncidentFilter::default()).unwrap();
        for &a in bounds {
            for &b in bounds {
                let mut want: Vec<u64> = all
                    .iter()
                    .filter(|r| {
                        let ((opened, _), until) = span_of(r);
                        opened < b && until >= a
                    })
                    .map(|r| r.id)
                    .collect();
                want.sort_unstable();
                assert_eq!(
                    ids(s.incidents_active_between(a, b).unwrap()),
                    want,
                    "{a}..{b}"
                );
            }
        }
        ids(s.incidents_active_between(from, to).unwrap())
    }

    #[test]
    fn incidents_active_in_a_period_come_from_the_index_and_follow_changes() {
        let (dir, s) = temp_store();
        let txn = s.begin_desk().unwrap();
        txn.put_incident(&rec(1, 100, Some(150))).unwrap(); // before
        txn.put_incident(&rec(2, 150, Some(250))).unwrap(); // across the start
        txn.put_incident(&rec(3, 250, Some(260))).unwrap(); // inside
        txn.put_incident(&rec(4, 280, None)).unwrap(); // still open
        txn.put_incident(&rec(5, 300, None)).unwrap(); // opened at the end
        txn.put_incident(&rec(6, 50, None)).unwrap(); // open all along
        txn.commit().unwrap();
        let bounds = [0, 100, 149, 150, 151, 200, 250, 260, 280, 300, 301, 1000];
        assert_eq!(active_between(&s, 200, 300, &bounds), [2, 3, 4, 6]);

        // Incident 1 reopened: it is active again.
        let txn = s.begin_desk().unwrap();
        let mut one = txn.incident(1).unwrap().unwrap();
        one.status = Status::Open;
        one.resolved_at = None;
        txn.put_incident(&one).unwrap();
        // Incident 6 resolved before the period.
        txn.put_incident(&rec(6, 50, Some(199))).unwrap();
        txn.commit().unwrap();
        assert_eq!(active_between(&s, 200, 300, &bounds), [1, 2, 3, 4]);

        // A file written before the index gets it at open.
        let path = dir.path().join("store.redb");
        drop(s);
        {
            let db = redb::Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.delete_table(INCIDENT_SPANS).unwrap();
            txn.delete_table(INCIDENT_ENDS).unwrap();
            txn.open_table(META)
                .unwrap()
                .remove(META_INCIDENT_SPANS)
                .unwrap();
            txn.commit().unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(active_between(&s, 200, 300, &bounds), [1, 2, 3, 4]);
        assert_eq!(active_between(&s, 0, 100, &bounds), [6]);

        // A file whose index by time is of the first version (without the
        // index by end) gets both built again at open.
        drop(s);
        {
            let db = redb::Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.delete_table(INCIDENT_ENDS).unwrap();
            txn.open_table(META)
                .unwrap()
                .insert(META_INCIDENT_SPANS, 1)
                .unwrap();
            txn.commit().unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(active_between(&s, 200, 300, &bounds), [1, 2, 3, 4]);
    }

    /// The incidents of `asset` as [`Store::incidents`] reads them through
    /// the index, checked against every record read without it.
    fn of_asset(s: &Store, asset: &str) -> Vec<u64> {
        let f = IncidentFilter {
            asset: Some(asset.into()),
            ..IncidentFilter::default()
        };
        let scanned: Vec<u64> = s
            .incidents(&IncidentFilter::default())
            .unwrap()
            .into_iter()
            .filter(|r| r.asset == asset)
            .map(|r| r.id)
            .collect();
        let indexed = ids(s.incidents(&f).unwrap());
        assert_eq!(indexed, scanned, "{asset}");
        let page = s.incident_page(&f, None, None, 2).unwrap();
        assert_eq!(page.matched, indexed.len() as u64);
        assert_eq!(ids(page.incidents), indexed[..indexed.len().min(2)]);
        indexed
    }

    #[test]
    fn incidents_of_an_asset_come_from_the_index_and_follow_changes() {
        let (dir, s) = temp_store();
        let txn = s.begin_desk().unwrap();
        for id in 1..=9 {
            let mut r = rec(id, i64::try_from(id).unwrap() * 10, None);
            r.asset = format!("asset-{}", id % 3);
            txn.put_incident(&r).unwrap();
        }
        txn.commit().unwrap();
        assert_eq!(of_asset(&s, "asset-0"), [9, 6, 3]);
        assert_eq!(of_asset(&s, "asset-1"), [7, 4, 1]);
        assert!(of_asset(&s, "asset-").is_empty());
        assert!(of_asset(&s, "asset-10").is_empty());

        // Resolved, closed and reopened: still the asset's. Stored again
        // under another asset: only that one's.
        let txn = s.begin_desk().unwrap();
        let mut three = txn.incident(3).unwrap().unwrap();
        three.status = Status::Resolved;
        three.resolved_at = Some(Timestamp(40));
        txn.put_incident(&three).unwrap();
        three.status = Status::Closed;
        txn.put_incident(&three).unwrap();
        let mut six = txn.incident(6).unwrap().unwrap();
        six.status = Status::Closed;
        txn.put_incident(&six).unwrap();
        six.status = Status::Open;
        txn.put_incident(&six).unwrap();
        let mut four = txn.incident(4).unwrap().unwrap();
        four.asset = "asset-0".into();
        txn.put_incident(&four).unwrap();
        txn.commit().unwrap();
        assert_eq!(of_asset(&s, "asset-0"), [9, 6, 4, 3]);
        assert_eq!(of_asset(&s, "asset-1"), [7, 1]);
        let active = IncidentFilter {
            asset: Some("asset-0".into()),
            active: true,
            ..IncidentFilter::default()
        };
        assert_eq!(ids(s.incidents(&active).unwrap()), [9, 6, 4]);

        // A file written before the index gets it at open.
        let path = dir.path().join("store.redb");
        drop(s);
        {
            let db = redb::Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.delete_table(INCIDENTS_BY_ASSET).unwrap();
            txn.open_table(META)
                .unwrap()
                .remove(META_INCIDENTS_BY_ASSET)
                .unwrap();
            txn.commit().unwrap();
        }
        {
            let db = redb::Database::create(&path).unwrap();
            let txn = db.begin_read().unwrap();
            assert!(txn.open_table(INCIDENTS_BY_ASSET).is_err(), "no index");
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(of_asset(&s, "asset-0"), [9, 6, 4, 3]);
        assert_eq!(of_asset(&s, "asset-1"), [7, 1]);
        assert_eq!(of_asset(&s, "asset-2"), [8, 5, 2]);
    }
}
