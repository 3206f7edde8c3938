//! The network map read from the store: every device with its interfaces
//! and the neighbours it reported last, and the hosts those neighbours may
//! be, looked up by MAC among the hardware keys and by host name. Which
//! neighbour is which, and which reports are one link, is
//! [`crate::topology`]'s to decide.

use std::collections::BTreeSet;

use crate::records::device::DEVICE_ASSET_PREFIX;
use crate::store::{Store, StoreError};
use crate::topology::{self, DeviceFacts, HostFacts, HostIndex, Topology};

/// The map of every device and its neighbours.
pub fn read(store: &Store) -> Result<Topology, StoreError> {
    let neighbours = store.all_device_neighbours()?;
    let mut devices = Vec::new();
    for rec in store.devices()? {
        let inv = store.device_inventory(&rec.asset_id)?.unwrap_or_default();
        let reported = neighbours.get(&rec.asset_id);
        devices.push(DeviceFacts {
            name: rec.name.clone(),
            asset_id: rec.asset_id.clone(),
            address: rec.spec.address.clone(),
            sys_name: inv.system.name,
            chassis_id: reported.and_then(|r| r.chassis_id.clone()),
            interfaces: inv.interfaces,
            neighbours: reported.map(|r| r.neighbours.clone()).unwrap_or_default(),
        });
    }
    let (macs, names) = topology::wanted_keys(&devices);
    let mut index = HostIndex::default();
    for mac in macs {
        let ids = store.assets_with_identity_key(&format!("mac:{mac}"))?;
        let found = hosts(store, &ids)?;
        if !found.is_empty() {
            index.by_mac.insert(mac, found);
        }
    }
    for name in names {
        let ids: BTreeSet<String> = store
            .hostnames_from(&name)?
            .into_iter()
            .filter(|(host, _)| *host == name || host.split('.').next() == Some(name.as_str()))
            .map(|(_, id)| id)
            .collect();
        let ids: Vec<String> = ids.into_iter().collect();
        let found = hosts(store, &ids)?;
        if !found.is_empty() {
            index.by_name.insert(name, found);
        }
    }
    Ok(topology::build(&devices, &index))
}

/// The hosts among the assets `ids` (devices are assets too, and not hosts).
fn hosts(store: &Store, ids: &[String]) -> Result<Vec<HostFacts>, StoreError> {
    let ids: Vec<&str> = ids
        .iter()
        .map(String::as_str)
        .filter(|id| !id.starts_with(DEVICE_ASSET_PREFIX))
        .collect();
    Ok(store
        .asset_metas(&ids)?
        .into_iter()
        .map(|m| HostFacts {
            asset_id: m.id,
            hostname: m.hostname,
        })
        .collect())
}
