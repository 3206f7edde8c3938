//! The webhook outbox: events waiting for delivery and the ids already
//! sent. Persistence only: what an event says and where it goes are
//! decided above (`notify`, `webhooks`).
//!
//! An event id is queued once: queuing an id that is pending or already
//! sent does nothing, so replaying incident actions queues nothing new.

use atalaya_common::model::Timestamp;
use redb::{ReadableDatabase, ReadableTable};

use super::schema::{NOTIFY_OUTBOX, NOTIFY_SENT};
use super::{DeskTxn, Store, StoreError, dec, enc};
use crate::records::outbox::{Event, OutboxRecord};

const OUTBOX: &str = "notify_outbox";

impl DeskTxn {
    /// Queues `ev` in this transaction. Returns false (and changes
    /// nothing) when an event with this id is pending or was sent already.
    pub fn enqueue(&self, ev: &Event, now: Timestamp) -> Result<bool, StoreError> {
        if self
            .txn
            .open_table(NOTIFY_SENT)?
            .get(ev.id.as_str())?
            .is_some()
        {
            return Ok(false);
        }
        let mut outbox = self.txn.open_table(NOTIFY_OUTBOX)?;
        if outbox.get(ev.id.as_str())?.is_some() {
            return Ok(false);
        }
        let rec = OutboxRecord {
            event: ev.clone(),
            enqueued_at: now,
            deliveries: Vec::new(),
        };
        outbox.insert(ev.id.as_str(), enc(OUTBOX, &rec)?.as_slice())?;
        Ok(true)
    }
}

impl Store {
    /// Queues `ev` in a transaction of its own (see [`DeskTxn::enqueue`]).
    pub fn enqueue(&self, ev: &Event, now: Timestamp) -> Result<bool, StoreError> {
        let txn = self.begin_desk()?;
        let added = txn.enqueue(ev, now)?;
        txn.commit()?;
        Ok(added)
    }

    /// Events not yet delivered everywhere, by id.
    pub fn outbox(&self) -> Result<Vec<OutboxRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(NOTIFY_OUTBOX)?;
        t.iter()?
            .map(|r| {
                let (_, v) = r?;
                dec(OUTBOX, v.value())
            })
            .collect()
    }

    /// When event `id` was delivered to every webhook it went to (`None`:
    /// not yet, or unknown).
    pub fn sent_at(&self, id: &str) -> Result<Option<Timestamp>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(NOTIFY_SENT)?;
        Ok(t.get(id)?.map(|v| Timestamp(v.value())))
    }

    /// Moves the events `ids` from the outbox to the sent ids, in one
    /// transaction.
    pub fn outbox_done(&self, ids: &[String], now: Timestamp) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut outbox = txn.open_table(NOTIFY_OUTBOX)?;
            let mut sent = txn.open_table(NOTIFY_SENT)?;
            for id in ids {
                outbox.remove(id.as_str())?;
                sent.insert(id.as_str(), now.0)?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Updates the outbox events `ids` in one transaction: `update` changes
    /// each record and says whether it is done (then it moves to the sent
    /// ids) or still waiting (then it is written back). Ids no longer in
    /// the outbox are skipped.
    pub fn outbox_update<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a str>,
        now: Timestamp,
        mut update: impl FnMut(&mut OutboxRecord) -> bool,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut outbox = txn.open_table(NOTIFY_OUTBOX)?;
            let mut sent = txn.open_table(NOTIFY_SENT)?;
            for id in ids {
                let mut rec: OutboxRecord = match outbox.get(id)? {
                    Some(v) => dec(OUTBOX, v.value())?,
                    None => continue,
                };
                if update(&mut rec) {
                    outbox.remove(id)?;
                    sent.insert(id, now.0)?;
                } else {
                    outbox.insert(id, enc(OUTBOX, &rec)?.as_slice())?;
                }
            }
        }
        txn.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::outbox::{EventKind, IncidentInfo};

    #[test]
    fn an_event_id_is_enqueued_once() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(&d.path().join("s.redb")).unwrap();
        let ev = Event::new(EventKind::Opened, 1, IncidentInfo::default(), Timestamp(5));
        assert!(s.enqueue(&ev, Timestamp(5)).unwrap());
        assert!(!s.enqueue(&ev, Timestamp(6)).unwrap());
        assert_eq!(s.outbox().unwrap().len(), 1);
        assert_eq!(s.sent_at(&ev.id).unwrap(), None);
        for k in EventKind::NAMES {
            assert_eq!(EventKind::parse(k).map(EventKind::name), Some(*k));
        }
    }
}
