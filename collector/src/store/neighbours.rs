//! The LLDP and CDP neighbours of network devices: the list each device
//! reported last (table [`DEVICE_NEIGHBOURS`]) with the last neighbour seen
//! on each interface, a change event in [`DEVICE_CHANGES`] when one appears
//! or disappears, and the plain reads that tie a neighbour to an asset (by
//! a MAC among the hardware keys, or by host name). Which neighbour is
//! which asset is decided above; nothing here matches or words.

use std::collections::{BTreeMap, BTreeSet};

use atalaya_common::model::device::Neighbour;
use atalaya_common::proto::DeviceNeighbours;
use redb::{ReadableDatabase, ReadableTable};

use super::ingest::Tables;
use super::schema::*;
use super::{Store, StoreError, dec, enc, next_id};
use crate::records::device::{
    DeviceChange, DeviceChangeItem, DeviceNeighboursRecord, DeviceRecord, InterfacePeer,
    LastNeighbour, NeighbourChange,
};

const NEIGHBOURS_T: &str = "device_neighbours";

impl Store {
    /// The neighbours the device whose asset is `asset` reported last.
    pub fn device_neighbours(
        &self,
        asset: &str,
    ) -> Result<Option<DeviceNeighboursRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(DEVICE_NEIGHBOURS)?;
        let found = t.get(asset)?;
        found.map(|v| dec(NEIGHBOURS_T, v.value())).transpose()
    }

    /// The neighbours of every device that reported some, by asset id.
    pub fn all_device_neighbours(
        &self,
    ) -> Result<BTreeMap<String, DeviceNeighboursRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(DEVICE_NEIGHBOURS)?;
        t.iter()?
            .map(|r| {
                let (k, v) = r?;
                Ok((k.value().to_owned(), dec(NEIGHBOURS_T, v.value())?))
            })
            .collect()
    }

    /// The assets holding the hardware identity key `key` (e.g.
    /// `mac:00:1b:54:aa:01:00`).
    pub fn assets_with_identity_key(&self, key: &str) -> Result<Vec<String>, StoreError> {
        let txn = self.db.begin_read()?;
        let mut out = Vec::new();
        for r in txn.open_table(IDENTITY_KEYS)?.range((key, "")..)? {
            let (k, _) = r?;
            let (found, asset) = k.value();
            if found != key {
                break;
            }
            out.push(asset.to_owned());
        }
        Ok(out)
    }
}

/// Stores a device's neighbour list, with a change event for each
/// neighbour that appeared or disappeared since the stored list (none for
/// a first list); false when nothing was stored: the device is unknown,
/// `agent` is not its poller, or a newer list is stored already.
pub(crate) fn store_neighbours(
    t: &mut Tables<'_>,
    agent: &str,
    msg: &DeviceNeighbours,
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
    let prev = t.device_neighbours.get(asset)?;
    let prev: Option<DeviceNeighboursRecord> =
        prev.map(|v| dec(NEIGHBOURS_T, v.value())).transpose()?;
    if prev.as_ref().is_some_and(|p| p.at > msg.polled_at) {
        return Ok(false);
    }
    let mut neighbours = msg.neighbours.clone();
    neighbours.sort();
    if let Some(prev) = &prev {
        let items = neighbour_changes(&prev.neighbours, &neighbours);
        if !items.is_empty() {
            let change = DeviceChange {
                seq: msg.seq,
                agent_id: agent.to_owned(),
                at: msg.polled_at,
                items,
            };
            let event = next_id(&mut t.meta, META_NEXT_EVENT)?;
            t.device_changes.insert(
                (asset, msg.polled_at.0, event),
                enc("device_changes", &change)?.as_slice(),
            )?;
        }
    }
    let mut last_seen = prev.map(|p| p.last_seen).unwrap_or_default();
    for n in &neighbours {
        last_seen.insert(
            n.local_name().to_owned(),
            LastNeighbour {
                neighbour: n.clone(),
                at: msg.polled_at,
            },
        );
    }
    let record = DeviceNeighboursRecord {
        at: msg.polled_at,
        chassis_id: msg.chassis_id.clone(),
        neighbours,
        last_seen,
    };
    t.device_neighbours
        .insert(asset, enc(NEIGHBOURS_T, &record)?.as_slice())?;
    Ok(true)
}

/// The neighbour last seen on each interface of the device whose asset is
/// `asset`, and whether it is still there.
pub(crate) fn interface_peers(
    t: &Tables<'_>,
    asset: &str,
) -> Result<Vec<InterfacePeer>, StoreError> {
    let found = t.device_neighbours.get(asset)?;
    let Some(rec) = found
        .map(|v| dec::<DeviceNeighboursRecord>(NEIGHBOURS_T, v.value()))
        .transpose()?
    else {
        return Ok(Vec::new());
    };
    Ok(peers_of(&rec))
}

/// The neighbour last seen on each interface of `rec`.
pub fn peers_of(rec: &DeviceNeighboursRecord) -> Vec<InterfacePeer> {
    rec.last_seen
        .iter()
        .map(|(interface, last)| InterfacePeer {
            interface: interface.clone(),
            neighbour: last.neighbour.remote_name().to_owned(),
            port: last.neighbour.remote_port().to_owned(),
            seen_at: last.at,
            current: rec.neighbours.contains(&last.neighbour),
        })
        .collect()
}

/// What tells one neighbour from another: its local interface, protocol,
/// and remote chassis and port. Its name, description or address changing
/// is no new neighbour.
fn identity(n: &Neighbour) -> (String, &'static str, String, String) {
    (
        n.local_name().to_owned(),
        n.protocol.as_str(),
        n.chassis_id.value.clone(),
        n.port_id.value.clone(),
    )
}

/// The neighbours that disappeared from `before`, then those that appeared in `after`.
pub fn neighbour_changes(before: &[Neighbour], after: &[Neighbour]) -> Vec<DeviceChangeItem> {
    let old: BTreeSet<_> = before.iter().map(identity).collect();
    let new: BTreeSet<_> = after.iter().map(identity).collect();
    let removed = before
        .iter()
        .filter(|n| !new.contains(&identity(n)))
        .map(|n| DeviceChangeItem::NeighbourRemoved(NeighbourChange::of(n)));
    let added = after
        .iter()
        .filter(|n| !old.contains(&identity(n)))
        .map(|n| DeviceChangeItem::NeighbourAdded(NeighbourChange::of(n)));
    removed.chain(added).collect()
}

#[cfg(test)]
mod tests {
    use atalaya_common::model::Timestamp;
    use atalaya_common::model::device::{DeviceSpec, IdKind, NeighbourProtocol, PeerId};
    use atalaya_common::proto;

    use super::super::testutil::*;
    use super::super::{Fed, Ingest, IngestRecord};
    use super::*;
    use crate::records::device::device_asset_id;

    fn neighbour(local: &str, name: &str, port: &str) -> Neighbour {
        Neighbour {
            local_if_index: Some(2),
            local_if_name: Some(local.into()),
            local_port: local.into(),
            protocol: NeighbourProtocol::Lldp,
            chassis_id: PeerId {
                kind: IdKind::Local,
                value: format!("{name}-chassis"),
            },
            port_id: PeerId {
                kind: IdKind::InterfaceName,
                value: port.into(),
            },
            sys_name: name.into(),
            ..Neighbour::default()
        }
    }

    fn list(agent: &str, seq: u64, at: i64, neighbours: Vec<Neighbour>) -> Ingest {
        Ingest {
            agent_id: agent.into(),
            received_at: Timestamp(at),
            record: IngestRecord::DeviceNeighbours(proto::DeviceNeighbours {
                seq,
                device: "sw-a".into(),
                polled_at: Timestamp(at),
                chassis_id: Some(PeerId {
                    kind: IdKind::MacAddress,
                    value: "00:00:5e:00:53:01".into(),
                }),
                neighbours,
            }),
        }
    }

    fn poll(agent: &str, seq: u64, at: i64) -> Ingest {
        Ingest {
            agent_id: agent.into(),
            received_at: Timestamp(at),
            record: IngestRecord::DevicePoll(proto::DevicePoll {
                seq,
                device: "sw-a".into(),
                polled_at: Timestamp(at),
                state: atalaya_common::model::device::DeviceState::Ok,
                response_ms: Some(1),
                inventory: None,
                values: vec![("interface.oper_up{if=eth1}".into(), 0.0)],
            }),
        }
    }

    fn device(store: &Store) {
        store
            .add_device(&DeviceRecord {
                name: "sw-a".into(),
                spec: DeviceSpec::v2c("sw-a", "192.0.2.1", "c"),
                poller: "ag-1".into(),
                asset_id: device_asset_id("sw-a"),
                added_at: Timestamp(0),
                last_poll: None,
                inventory_at: None,
            })
            .unwrap();
    }

    #[test]
    fn neighbours_are_stored_with_their_changes_and_the_last_one_per_interface() {
        let (_d, store) = temp_store();
        device(&store);
        let asset = "device:sw-a";
        store
            .commit(&[list(
                "ag-1",
                1,
                1_000,
                vec![neighbour("eth1", "sw-b", "p1")],
            )])
            .unwrap();
        assert!(
            store.device_changes(asset).unwrap().is_empty(),
            "first list"
        );
        store
            .commit(&[list(
                "ag-1",
                2,
                2_000,
                vec![neighbour("eth2", "sw-c", "p9")],
            )])
            .unwrap();
        let changes = store.device_changes(asset).unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(
            changes[0].items,
            [
                DeviceChangeItem::NeighbourRemoved(NeighbourChange {
                    interface: "eth1".into(),
                    protocol: NeighbourProtocol::Lldp,
                    neighbour: "sw-b".into(),
                    port: "p1".into()
                }),
                DeviceChangeItem::NeighbourAdded(NeighbourChange {
                    interface: "eth2".into(),
                    protocol: NeighbourProtocol::Lldp,
                    neighbour: "sw-c".into(),
                    port: "p9".into()
                }),
            ]
        );
        let rec = store.device_neighbours(asset).unwrap().unwrap();
        assert_eq!(rec.neighbours.len(), 1);
        assert_eq!(rec.last_seen.len(), 2, "eth1's neighbour is remembered");
        // An older list arriving late changes nothing.
        store.commit(&[list("ag-1", 3, 1_500, Vec::new())]).unwrap();
        assert_eq!(store.device_neighbours(asset).unwrap().unwrap(), rec);
        // Another agent's list is not stored.
        store.commit(&[list("ag-2", 1, 9_000, Vec::new())]).unwrap();
        assert_eq!(store.device_neighbours(asset).unwrap().unwrap(), rec);
        // A stored poll feeds the peers of its interfaces, gone or not.
        let (_, fed) = store.commit_fed(&[poll("ag-1", 4, 3_000)]).unwrap();
        let peers = fed
            .iter()
            .find_map(|f| match f {
                Fed::DevicePoll { peers, .. } => Some(peers.clone()),
                _ => None,
            })
            .unwrap();
        let summary: Vec<_> = peers
            .iter()
            .map(|p| (p.interface.as_str(), p.neighbour.as_str(), p.current))
            .collect();
        assert_eq!(summary, [("eth1", "sw-b", false), ("eth2", "sw-c", true)]);
        // Removing the device forgets its neighbours.
        store.remove_device("sw-a").unwrap();
        assert!(store.device_neighbours(asset).unwrap().is_none());
    }

    #[test]
    fn a_renamed_neighbour_is_no_change_and_old_changes_still_decode() {
        let mut renamed = neighbour("eth1", "sw-b", "p1");
        renamed.sys_name = "sw-b.example.org".into();
        assert!(neighbour_changes(&[neighbour("eth1", "sw-b", "p1")], &[renamed]).is_empty());
        // A change stored before neighbour changes existed reads the same.
        let old = DeviceChange {
            seq: 1,
            agent_id: "ag".into(),
            at: Timestamp(5),
            items: vec![DeviceChangeItem::InterfaceAdded {
                if_index: 3,
                name: "eth3".into(),
            }],
        };
        let bytes = postcard::to_stdvec(&old).unwrap();
        let back: DeviceChange = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, old);
        assert_eq!(
            bytes,
            [1, 2, b'a', b'g', 10, 1, 1, 3, 4, b'e', b't', b'h', b'3']
        );
    }
}
