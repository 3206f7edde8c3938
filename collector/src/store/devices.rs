//! Network devices: their records, current inventories and inventory
//! changes, and what a poll stores of them.
//!
//! A device is an asset of its own, `device:<name>`, created when the
//! device is added (so that its series are listed and read like a host's);
//! its series go in the metric blocks under that asset id, written as their
//! own writer (see [`super::ingest`]). Removing a device forgets its record
//! and current inventory; its asset, series and change history stay, and a
//! device added again under the same name goes on with them.

use std::collections::BTreeMap;

use atalaya_common::model::Timestamp;
use atalaya_common::model::device::{DeviceInventory, PhysicalEntity};
use atalaya_common::proto::DevicePoll;
use redb::{ReadableDatabase, ReadableTable, Table};

use super::ingest::Tables;
use super::records::AssetMeta;
use super::schema::*;
use super::{Store, StoreError, dec, enc, next_id};
use crate::records::device::{DeviceChange, DeviceChangeItem, DeviceRecord, DeviceStatus};

const DEVICES_T: &str = "devices";
const INVENTORY_T: &str = "device_inventory";
const CHANGES_T: &str = "device_changes";

impl Store {
    /// Adds a device, creating its asset if it has none yet; fails with
    /// [`StoreError::Exists`] when a device has this name.
    pub fn add_device(&self, rec: &DeviceRecord) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut devices = txn.open_table(DEVICES)?;
            if devices.get(rec.name.as_str())?.is_some() {
                return Err(StoreError::Exists {
                    what: "device",
                    id: rec.name.clone(),
                });
            }
            devices.insert(rec.name.as_str(), enc(DEVICES_T, rec)?.as_slice())?;
            txn.open_table(DEVICE_POLLERS)?
                .insert(rec.poller.as_str(), ())?;
            let mut assets = txn.open_table(ASSETS)?;
            if assets.get(rec.asset_id.as_str())?.is_none() {
                let meta = device_asset(rec);
                assets.insert(rec.asset_id.as_str(), enc("assets", &meta)?.as_slice())?;
                txn.open_table(HOSTNAMES)?
                    .insert((rec.name.to_lowercase().as_str(), rec.asset_id.as_str()), ())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Removes a device's record and current inventory (its asset, series
    /// and change history stay); returns the record, `None` if there was none.
    pub fn remove_device(&self, name: &str) -> Result<Option<DeviceRecord>, StoreError> {
        let txn = self.db.begin_write()?;
        let removed = {
            let mut devices = txn.open_table(DEVICES)?;
            let removed = devices.remove(name)?.map(|v| v.value().to_vec());
            match removed {
                Some(bytes) => {
                    let rec: DeviceRecord = dec(DEVICES_T, &bytes)?;
                    txn.open_table(DEVICE_INVENTORY)?
                        .remove(rec.asset_id.as_str())?;
                    Some(rec)
                }
                None => None,
            }
        };
        txn.commit()?;
        Ok(removed)
    }

    /// The device named `name`.
    pub fn device(&self, name: &str) -> Result<Option<DeviceRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let devices = txn.open_table(DEVICES)?;
        let found = devices.get(name)?;
        found.map(|v| dec(DEVICES_T, v.value())).transpose()
    }

    /// Every device, by name.
    pub fn devices(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let devices = txn.open_table(DEVICES)?;
        devices
            .iter()?
            .map(|r| {
                let (_, v) = r?;
                dec(DEVICES_T, v.value())
            })
            .collect()
    }

    /// The devices `agent` polls, by name.
    pub fn devices_of_poller(&self, agent: &str) -> Result<Vec<DeviceRecord>, StoreError> {
        let mut all = self.devices()?;
        all.retain(|d| d.poller == agent);
        Ok(all)
    }

    /// Whether `agent` was ever assigned a device (then it is sent its
    /// list, even empty, on every connect).
    pub fn is_device_poller(&self, agent: &str) -> Result<bool, StoreError> {
        let txn = self.db.begin_read()?;
        let pollers = txn.open_table(DEVICE_POLLERS)?;
        Ok(pollers.get(agent)?.is_some())
    }

    /// The current inventory of the device whose asset is `asset`.
    pub fn device_inventory(&self, asset: &str) -> Result<Option<DeviceInventory>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(DEVICE_INVENTORY)?;
        let found = t.get(asset)?;
        found.map(|v| dec(INVENTORY_T, v.value())).transpose()
    }

    /// The inventory changes of the device whose asset is `asset`, oldest first.
    pub fn device_changes(&self, asset: &str) -> Result<Vec<DeviceChange>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(DEVICE_CHANGES)?;
        t.range((asset, i64::MIN, 0)..=(asset, i64::MAX, u64::MAX))?
            .map(|r| {
                let (_, v) = r?;
                dec(CHANGES_T, v.value())
            })
            .collect()
    }
}

/// The asset of a new device: named by the device, no agent of its own.
fn device_asset(rec: &DeviceRecord) -> AssetMeta {
    AssetMeta {
        id: rec.asset_id.clone(),
        hostname: rec.name.clone(),
        os: None,
        os_id: None,
        agent_ids: Vec::new(),
        identity: Vec::new(),
        possible_clones: Vec::new(),
        tags: Vec::new(),
        first_seen: rec.added_at,
        last_seen: rec.added_at,
        inventory_at: None,
        last_change_at: None,
    }
}

/// Stores what a poll says of its device (status and inventory, with a
/// change event when its stable form differs from the stored one) and
/// returns the device's asset id for its values; `None` when the device is
/// unknown or `agent` is not its poller (nothing is stored then).
pub(crate) fn store_poll(
    t: &mut Tables<'_>,
    agent: &str,
    poll: &DevicePoll,
) -> Result<Option<String>, StoreError> {
    let found = t.devices.get(poll.device.as_str())?;
    let Some(mut rec) = found
        .map(|v| dec::<DeviceRecord>(DEVICES_T, v.value()))
        .transpose()?
    else {
        return Ok(None);
    };
    if rec.poller != agent {
        return Ok(None);
    }
    // Polls may arrive out of order after a reconnect; the newest status wins.
    if rec.last_poll.is_none_or(|p| p.at <= poll.polled_at) {
        rec.last_poll = Some(DeviceStatus {
            at: poll.polled_at,
            state: poll.state,
            response_ms: poll.response_ms,
        });
    }
    if let Some(inv) = &poll.inventory {
        store_device_inventory(t, &rec, agent, poll, inv.clone())?;
        rec.inventory_at = rec.inventory_at.max(Some(poll.polled_at));
    }
    t.devices
        .insert(rec.name.as_str(), enc(DEVICES_T, &rec)?.as_slice())?;
    touch_asset(t, &rec.asset_id, poll.polled_at)?;
    Ok(Some(rec.asset_id))
}

/// Marks the device's asset seen at `at`.
fn touch_asset(t: &mut Tables<'_>, asset: &str, at: Timestamp) -> Result<(), StoreError> {
    if let Some(mut meta) = t.asset(asset)?
        && meta.last_seen < at
    {
        meta.last_seen = at;
        t.put_asset(&meta)?;
    }
    Ok(())
}

/// Replaces the device's inventory, with a change event when its stable
/// form differs from the one stored (not for a first inventory).
fn store_device_inventory(
    t: &mut Tables<'_>,
    rec: &DeviceRecord,
    agent: &str,
    poll: &DevicePoll,
    mut inv: DeviceInventory,
) -> Result<(), StoreError> {
    inv.canonicalize();
    let asset = rec.asset_id.as_str();
    let prev = t.device_inventory.get(asset)?;
    let prev: Option<DeviceInventory> = prev.map(|v| dec(INVENTORY_T, v.value())).transpose()?;
    if let Some(prev) = prev {
        let items = inventory_changes(&prev.stable(), &inv.stable());
        if !items.is_empty() {
            let change = DeviceChange {
                seq: poll.seq,
                agent_id: agent.to_owned(),
                at: poll.polled_at,
                items,
            };
            let event = next_id(&mut t.meta, META_NEXT_EVENT)?;
            let key = (asset, poll.polled_at.0, event);
            insert_change(&mut t.device_changes, key, &change)?;
        }
    }
    t.device_inventory
        .insert(asset, enc(INVENTORY_T, &inv)?.as_slice())?;
    if let Some(mut meta) = t.asset(asset)? {
        meta.inventory_at = meta.inventory_at.max(Some(poll.polled_at));
        meta.os = device_model(&inv).or(meta.os);
        t.put_asset(&meta)?;
    }
    Ok(())
}

fn insert_change(
    table: &mut Table<'_, (&'static str, i64, u64), &'static [u8]>,
    key: (&str, i64, u64),
    change: &DeviceChange,
) -> Result<(), StoreError> {
    table.insert(key, enc(CHANGES_T, change)?.as_slice())?;
    Ok(())
}

/// The first line of `sysDescr`, the closest thing to a model and
/// software version most devices give.
pub fn device_model(inv: &DeviceInventory) -> Option<String> {
    let line = inv.system.descr.lines().next()?.trim();
    (!line.is_empty()).then(|| line.to_owned())
}

/// What changed from `before` to `after` (both in stable form): system
/// fields, interfaces added or removed, modules (entities with a serial
/// number) added or removed, serial and firmware changes.
pub fn inventory_changes(before: &DeviceInventory, after: &DeviceInventory) -> Vec<DeviceChangeItem> {
    let mut items = system_changes(before, after);
    let ifs = |inv: &DeviceInventory| -> BTreeMap<u32, String> {
        inv.interfaces
            .iter()
            .map(|i| (i.if_index, i.name.clone()))
            .collect()
    };
    let (old, new) = (ifs(before), ifs(after));
    for (&if_index, name) in &old {
        if !new.contains_key(&if_index) {
            let name = name.clone();
            items.push(DeviceChangeItem::InterfaceRemoved { if_index, name });
        }
    }
    for (&if_index, name) in &new {
        if !old.contains_key(&if_index) {
            let name = name.clone();
            items.push(DeviceChangeItem::InterfaceAdded { if_index, name });
        }
    }
    items.extend(entity_changes(&before.entities, &after.entities));
    items
}

fn system_changes(before: &DeviceInventory, after: &DeviceInventory) -> Vec<DeviceChangeItem> {
    let (b, a) = (&before.system, &after.system);
    [
        ("descr", &b.descr, &a.descr),
        ("object_id", &b.object_id, &a.object_id),
        ("name", &b.name, &a.name),
        ("location", &b.location, &a.location),
        ("contact", &b.contact, &a.contact),
    ]
    .into_iter()
    .filter(|(_, b, a)| b != a)
    .map(|(field, b, a)| DeviceChangeItem::System {
        field: field.to_owned(),
        before: b.clone(),
        after: a.clone(),
    })
    .collect()
}

fn entity_label(e: &PhysicalEntity) -> String {
    match (e.name.is_empty(), e.model.is_empty()) {
        (false, false) => format!("{} ({})", e.name, e.model),
        (false, true) => e.name.clone(),
        (true, false) => e.model.clone(),
        (true, true) => e.descr.clone(),
    }
}

fn firmware(e: &PhysicalEntity) -> String {
    format!("{} / {}", e.firmware_rev, e.software_rev)
}

fn entity_changes(before: &[PhysicalEntity], after: &[PhysicalEntity]) -> Vec<DeviceChangeItem> {
    let by_index = |list: &[PhysicalEntity]| -> BTreeMap<u32, PhysicalEntity> {
        list.iter().map(|e| (e.index, e.clone())).collect()
    };
    let (old, new) = (by_index(before), by_index(after));
    let mut items = Vec::new();
    for (&index, e) in &old {
        match new.get(&index) {
            None if !e.serial.is_empty() => items.push(DeviceChangeItem::ModuleRemoved {
                index,
                name: entity_label(e),
                serial: e.serial.clone(),
            }),
            None => {}
            Some(n) => {
                if n.serial != e.serial {
                    items.push(DeviceChangeItem::SerialChanged {
                        index,
                        name: entity_label(n),
                        before: e.serial.clone(),
                        after: n.serial.clone(),
                    });
                }
                if firmware(n) != firmware(e) {
                    items.push(DeviceChangeItem::FirmwareChanged {
                        index,
                        name: entity_label(n),
                        before: firmware(e),
                        after: firmware(n),
                    });
                }
            }
        }
    }
    for (&index, e) in &new {
        if !old.contains_key(&index) && !e.serial.is_empty() {
            items.push(DeviceChangeItem::ModuleAdded {
                index,
                name: entity_label(e),
                serial: e.serial.clone(),
            });
        }
    }
    items
}
