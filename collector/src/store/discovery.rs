//! Discoveries: what was asked of which poller, and what it found.
//!
//! A discovery is stored when asked (with the credentials tried, so that
//! the devices found can be added with the one that worked); the poller's
//! [`DiscoveryResult`] records then add what it found and how it ended,
//! in the group commit like every record. A result for a discovery the
//! agent was not asked for is acknowledged and not stored.

use atalaya_common::proto::{DiscoveredDevice, DiscoveryOutcome, DiscoveryResult};
use redb::{ReadableDatabase, ReadableTable};

use super::ingest::Tables;
use super::schema::*;
use super::{Store, StoreError, dec, enc, next_id};
use crate::records::device::{DiscoveryEnd, DiscoveryRecord};

const DISCOVERIES_T: &str = "discoveries";
const DISCOVERED_T: &str = "discovered";

impl Store {
    /// Stores a discovery about to be asked, giving it the next id (the
    /// one in `rec` is replaced); returns the record as stored.
    pub fn add_discovery(&self, rec: &DiscoveryRecord) -> Result<DiscoveryRecord, StoreError> {
        let txn = self.db.begin_write()?;
        let stored = {
            let id = next_id(&mut txn.open_table(META)?, META_NEXT_DISCOVERY)?;
            let stored = DiscoveryRecord { id, ..rec.clone() };
            txn.open_table(DISCOVERIES)?
                .insert(id, enc(DISCOVERIES_T, &stored)?.as_slice())?;
            stored
        };
        txn.commit()?;
        Ok(stored)
    }

    /// Marks a discovery ended without its poller (it could not be asked).
    pub fn end_discovery(&self, id: u64, end: DiscoveryEnd) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut t = txn.open_table(DISCOVERIES)?;
            let found = t.get(id)?.map(|v| v.value().to_vec());
            if let Some(bytes) = found {
                let mut rec: DiscoveryRecord = dec(DISCOVERIES_T, &bytes)?;
                rec.ended = Some(end);
                t.insert(id, enc(DISCOVERIES_T, &rec)?.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// A discovery and the devices it found so far, by address.
    pub fn discovery(
        &self,
        id: u64,
    ) -> Result<Option<(DiscoveryRecord, Vec<DiscoveredDevice>)>, StoreError> {
        let txn = self.db.begin_read()?;
        let Some(rec) = txn
            .open_table(DISCOVERIES)?
            .get(id)?
            .map(|v| dec::<DiscoveryRecord>(DISCOVERIES_T, v.value()))
            .transpose()?
        else {
            return Ok(None);
        };
        let found = txn
            .open_table(DISCOVERED)?
            .range((id, "")..=(id, "\u{10ffff}"))?
            .map(|r| {
                let (_, v) = r?;
                dec(DISCOVERED_T, v.value())
            })
            .collect::<Result<Vec<DiscoveredDevice>, _>>()?;
        Ok(Some((rec, found)))
    }
}

/// Stores one result of a discovery `agent` was asked for.
pub(crate) fn store_result(
    t: &mut Tables<'_>,
    agent: &str,
    result: &DiscoveryResult,
) -> Result<(), StoreError> {
    let found = t.discoveries.get(result.id)?;
    let Some(mut rec) = found
        .map(|v| dec::<DiscoveryRecord>(DISCOVERIES_T, v.value()))
        .transpose()?
    else {
        return Ok(());
    };
    if rec.poller != agent {
        return Ok(());
    }
    match &result.outcome {
        DiscoveryOutcome::Found(d) => {
            t.discovered.insert(
                (result.id, d.address.as_str()),
                enc(DISCOVERED_T, d)?.as_slice(),
            )?;
        }
        DiscoveryOutcome::Finished { addresses, found } => {
            rec.ended = Some(DiscoveryEnd::Finished {
                at: result.at,
                addresses: *addresses,
                found: *found,
            });
        }
        DiscoveryOutcome::Refused { reason } => {
            rec.ended = Some(DiscoveryEnd::Refused {
                at: result.at,
                reason: reason.clone(),
            });
        }
    }
    if !matches!(result.outcome, DiscoveryOutcome::Found(_)) {
        t.discoveries
            .insert(result.id, enc(DISCOVERIES_T, &rec)?.as_slice())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use atalaya_common::model::Timestamp;
    use atalaya_common::model::device::{Credentials, Secret};

    use super::super::testutil::temp_store;
    use super::super::{Ingest, IngestRecord};
    use super::*;

    fn result(agent: &str, seq: u64, id: u64, outcome: DiscoveryOutcome) -> Ingest {
        Ingest {
            agent_id: agent.into(),
            received_at: Timestamp(1_000),
            record: IngestRecord::DiscoveryResult(DiscoveryResult {
                seq,
                id,
                at: Timestamp(1_000),
                outcome,
            }),
        }
    }

    fn found(address: &str) -> DiscoveryOutcome {
        DiscoveryOutcome::Found(DiscoveredDevice {
            address: address.into(),
            credential: 0,
            sys_name: format!("sw-{address}"),
            sys_descr: "switch".into(),
            object_id: "1.3.6.1.4.1.9.1.1".into(),
            vendor: Some("Cisco".into()),
        })
    }

    #[test]
    fn results_of_the_asked_poller_are_kept_and_others_ignored() {
        let (_d, store) = temp_store();
        let rec = DiscoveryRecord {
            id: 0,
            poller: "ag-1".into(),
            ranges: vec!["192.0.2.0/29".into()],
            port: 161,
            credentials: vec![Credentials::V2c {
                community: Secret::new("public"),
            }],
            concurrency: 8,
            timeout_ms: 500,
            addresses: 6,
            asked_at: Timestamp(900),
            asked_by: "ops".into(),
            ended: None,
        };
        let first = store.add_discovery(&rec).unwrap();
        let second = store.add_discovery(&rec).unwrap();
        assert_eq!((first.id, second.id), (1, 2));
        store
            .commit(&[
                result("ag-1", 1, 1, found("192.0.2.3")),
                result("ag-2", 1, 1, found("192.0.2.4")),
                result("ag-1", 2, 9, found("192.0.2.5")),
                result("ag-1", 3, 1, found("192.0.2.1")),
                result(
                    "ag-1",
                    4,
                    1,
                    DiscoveryOutcome::Finished {
                        addresses: 6,
                        found: 2,
                    },
                ),
            ])
            .unwrap();
        let (rec, found) = store.discovery(1).unwrap().unwrap();
        let addresses: Vec<&str> = found.iter().map(|d| d.address.as_str()).collect();
        assert_eq!(addresses, ["192.0.2.1", "192.0.2.3"]);
        assert!(matches!(
            rec.ended,
            Some(DiscoveryEnd::Finished { found: 2, .. })
        ));
        let (other, none) = store.discovery(2).unwrap().unwrap();
        assert!(other.ended.is_none() && none.is_empty());
        assert!(store.discovery(3).unwrap().is_none());
    }
}
