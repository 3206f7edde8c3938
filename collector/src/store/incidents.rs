//! Incidents in the store: the incident records and their open index, the
//! engine's saved state, user reports. Persistence only: what an engine
//! action or a staff action does to an incident is decided above (the
//! incident lifecycle, applied by the desk in a [`DeskTxn`]).
//!
//! [`INCIDENT_SPANS`] indexes incidents by when they were active, for the
//! reports of a period ([`Store::incidents_active_between`]); it is kept
//! in step by [`DeskTxn::put_incident`] and rebuilt at open when the
//! file's index version is not [`INCIDENT_SPANS_VERSION`].

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::schema::*;
use super::{DeskTxn, ReportRecord, Store, StoreError, dec, enc};
use crate::records::incident::{IncidentRecord, Status};

/// What [`INCIDENT_SPANS`] holds: bump it when [`span_of`] changes, so that
/// stores written before are re-indexed at open.
pub const INCIDENT_SPANS_VERSION: u64 = 1;

/// The key and value of `rec` in [`INCIDENT_SPANS`]: its opening, and the
/// end of its last active time (`i64::MAX` while active).
fn span_of(rec: &IncidentRecord) -> ((i64, u64), i64) {
    let until = if rec.status.is_active() {
        i64::MAX
    } else {
        rec.resolved_at
            .or(rec.closed_at)
            .map_or(rec.opened_at.0, |t| t.0)
    };
    ((rec.opened_at.0, rec.id), until)
}

/// Builds [`INCIDENT_SPANS`] anew from every incident, in `txn`, and
/// records [`INCIDENT_SPANS_VERSION`]; returns how many it indexed. An
/// incident that does not decode is left out with a warning (reports of a
/// period will not see it) rather than keep the collector from starting.
pub(crate) fn rebuild_incident_spans(txn: &WriteTransaction) -> Result<u64, StoreError> {
    txn.delete_table(INCIDENT_SPANS)?;
    let mut index = txn.open_table(INCIDENT_SPANS)?;
    let mut indexed = 0;
    for r in txn.open_table(INCIDENTS)?.iter()? {
        let (id, v) = r?;
        match dec::<IncidentRecord>("incidents", v.value()) {
            Ok(rec) => {
                let (key, until) = span_of(&rec);
                index.insert(key, until)?;
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

/// Filters of an incident list.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    /// Only this status.
    pub status: Option<Status>,
    /// Only incidents still to handle: open or acknowledged.
    pub active: bool,
    /// Only this asset id.
    pub asset: Option<String>,
}

impl IncidentFilter {
    fn wants(&self, rec: &IncidentRecord) -> bool {
        self.status.is_none_or(|s| s == rec.status)
            && (!self.active || rec.status.is_active())
            && self.asset.as_ref().is_none_or(|a| *a == rec.asset)
    }
}

impl DeskTxn {
    /// One incident.
    pub fn incident(&self, id: u64) -> Result<Option<IncidentRecord>, StoreError> {
        let t = self.txn.open_table(INCIDENTS)?;
        let v = t.get(id)?;
        v.map(|v| dec("incidents", v.value())).transpose()
    }

    /// Writes `rec`, keeping the index of open incidents by (asset, rule,
    /// subject) in step with its status.
    pub fn put_incident(&self, rec: &IncidentRecord) -> Result<(), StoreError> {
        self.txn
            .open_table(INCIDENTS)?
            .insert(rec.id, enc("incidents", rec)?.as_slice())?;
        let (span, until) = span_of(rec);
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
    /// (excluded) by [`INCIDENT_SPANS`], by id: opened before `to`
    /// and not resolved for good before `from`. Reads only those records.
    pub fn incidents_active_between(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Vec<IncidentRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let spans = txn.open_table(INCIDENT_SPANS)?;
        let incidents = txn.open_table(INCIDENTS)?;
        let mut ids = Vec::new();
        for r in spans.range(..(to, 0))? {
            let (k, until) = r?;
            if until.value() >= from {
                ids.push(k.value().1);
            }
        }
        // Read in id order: neighbouring records share pages.
        ids.sort_unstable();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(v) = incidents.get(id)? {
                out.push(dec("incidents", v.value())?);
            }
        }
        Ok(out)
    }

    /// Incidents matching `f`, newest first.
    pub fn incidents(&self, f: &IncidentFilter) -> Result<Vec<IncidentRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(INCIDENTS)?;
        let mut out = Vec::new();
        for row in t.iter()?.rev() {
            let rec: IncidentRecord = dec("incidents", row?.1.value())?;
            if f.wants(&rec) {
                out.push(rec);
            }
        }
        Ok(out)
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
        assert_eq!(
            ids(s.incidents_active_between(200, 300).unwrap()),
            [2, 3, 4, 6]
        );

        // Incident 1 reopened: it is active again.
        let txn = s.begin_desk().unwrap();
        let mut one = txn.incident(1).unwrap().unwrap();
        one.status = Status::Open;
        one.resolved_at = None;
        txn.put_incident(&one).unwrap();
        // Incident 6 resolved before the period.
        txn.put_incident(&rec(6, 50, Some(199))).unwrap();
        txn.commit().unwrap();
        assert_eq!(
            ids(s.incidents_active_between(200, 300).unwrap()),
            [1, 2, 3, 4]
        );

        // A file written before the index gets it at open.
        let path = dir.path().join("store.redb");
        drop(s);
        {
            let db = redb::Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.delete_table(INCIDENT_SPANS).unwrap();
            txn.open_table(META)
                .unwrap()
                .remove(META_INCIDENT_SPANS)
                .unwrap();
            txn.commit().unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(
            ids(s.incidents_active_between(200, 300).unwrap()),
            [1, 2, 3, 4]
        );
        assert_eq!(ids(s.incidents_active_between(0, 100).unwrap()), [6]);
    }
}
