//! Incidents in the store: the incident records and their open index, the
//! engine's saved state, user reports. Persistence only: what an engine
//! action or a staff action does to an incident is decided above (the
//! incident lifecycle, applied by the desk in a [`DeskTxn`]).

use redb::{ReadableDatabase, ReadableTable};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::schema::*;
use super::{DeskTxn, ReportRecord, Store, StoreError, dec, enc};
use crate::records::incident::{IncidentRecord, Status};

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
