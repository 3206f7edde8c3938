//! The paper trays of network printers: the list each printer reported
//! last (table [`DEVICE_TRAYS`]). Their levels over time are the
//! `printer.tray_level_percent` series of the device's polls; what counts
//! as low is decided above.

use atalaya_common::proto::PrinterTrays;
use redb::{ReadableDatabase, ReadableTable};

use super::ingest::Tables;
use super::schema::*;
use super::{Store, StoreError, dec, enc};
use crate::records::device::{DeviceRecord, DeviceTraysRecord};

const TRAYS_T: &str = "device_trays";

impl Store {
    /// The paper trays the device whose asset is `asset` reported last.
    pub fn device_trays(&self, asset: &str) -> Result<Option<DeviceTraysRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(DEVICE_TRAYS)?;
        let found = t.get(asset)?;
        found.map(|v| dec(TRAYS_T, v.value())).transpose()
    }
}

/// Stores a printer's trays in place of the ones stored; false when
/// nothing was stored: the device is unknown, `agent` is not its poller,
/// or newer trays are stored already.
pub(crate) fn store_trays(
    t: &mut Tables<'_>,
    agent: &str,
    msg: &PrinterTrays,
) -> Result<bool, StoreError> {
    let found = t.devices.get(msg.device.as_str())?;
    let Some(rec) = found
        .map(|v| dec::<DeviceRecord>("devices", v.value()))
        .transpose()?
    else {
        return Ok(false);
    };
    if rec.poller != agent {
        return Ok(false);
    }
    let asset = rec.asset_id.as_str();
    let prev = t.device_trays.get(asset)?;
    let prev_at = prev
        .map(|v| dec::<DeviceTraysRecord>(TRAYS_T, v.value()))
        .transpose()?
        .map(|p| p.at);
    if prev_at.is_some_and(|at| at > msg.polled_at) {
        return Ok(false);
    }
    let mut trays = msg.trays.clone();
    trays.sort();
    let record = DeviceTraysRecord {
        at: msg.polled_at,
        trays,
    };
    t.device_trays
        .insert(asset, enc(TRAYS_T, &record)?.as_slice())?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use atalaya_common::model::Timestamp;
    use atalaya_common::model::device::{DeviceSpec, PaperTray, SupplyAmount};
    use atalaya_common::proto;

    use super::super::testutil::*;
    use super::super::{Ingest, IngestRecord};
    use super::*;
    use crate::records::device::device_asset_id;

    fn tray(index: u32, level: i64) -> PaperTray {
        let mut t = PaperTray {
            device_index: 1,
            index,
            name: format!("Tray {index}"),
            media: "iso-a4-white".into(),
            level: SupplyAmount::from_raw(level),
            max_capacity: SupplyAmount::Units(500),
            ..PaperTray::default()
        };
        t.fill_percent();
        t
    }

    fn trays(agent: &str, seq: u64, at: i64, trays: Vec<PaperTray>) -> Ingest {
        Ingest {
            agent_id: agent.into(),
            received_at: Timestamp(at),
            record: IngestRecord::PrinterTrays(proto::PrinterTrays {
                seq,
                device: "mfp-1".into(),
                polled_at: Timestamp(at),
                trays,
            }),
        }
    }

    fn device(store: &Store) {
        store
            .add_device(&DeviceRecord {
                name: "mfp-1".into(),
                spec: DeviceSpec::v2c("mfp-1", "192.0.2.9", "c"),
                poller: "ag-1".into(),
                asset_id: device_asset_id("mfp-1"),
                added_at: Timestamp(0),
                last_poll: None,
                inventory_at: None,
            })
            .unwrap();
    }

    #[test]
    fn the_latest_trays_are_kept_per_device_and_survive_a_reopen() {
        let (dir, store) = temp_store();
        device(&store);
        let asset = "device:mfp-1";
        assert_eq!(store.device_trays(asset).unwrap(), None);
        store
            .commit(&[trays("ag-1", 1, 2_000, vec![tray(3, 250), tray(2, 0)])])
            .unwrap();
        // An older read arriving late, and another agent's, change nothing.
        store
            .commit(&[
                trays("ag-1", 2, 1_000, vec![tray(2, 500)]),
                trays("ag-2", 1, 3_000, vec![tray(2, 500)]),
            ])
            .unwrap();
        let path = dir.path().join("store.redb");
        drop(store);
        let store = Store::open(&path).unwrap();
        let rec = store.device_trays(asset).unwrap().expect("stored");
        assert_eq!(rec.at, Timestamp(2_000));
        assert_eq!(rec.trays, vec![tray(2, 0), tray(3, 250)], "sorted");
        assert!(rec.trays[0].is_empty());
        assert_eq!(rec.trays[1].percent, Some(50));
    }

    #[test]
    fn trays_of_an_unknown_device_are_not_stored() {
        let (_d, store) = temp_store();
        store
            .commit(&[trays("ag-1", 1, 1_000, vec![tray(1, 10)])])
            .unwrap();
        assert_eq!(store.device_trays("device:mfp-1").unwrap(), None);
    }
}
