//! Network devices: their records, current inventories and inventory
//! changes, and what a poll stores of them.
//!
//! A device is an asset of its own, `device:<name>`, created when the
//! device is added (so that its series are listed and read like a host's);
//! its series go in the metric blocks under that asset id, written as their
//! own writer (see [`super::ingest`]). Two devices that turn out to be one
//! box share one asset ([`super::device_identity`]). Removing a device
//! forgets its record and, unless another device shares its asset, the
//! asset's current inventory; its asset, series and change history stay,
//! and a device added again under the same name goes on with them.

use std::collections::BTreeMap;

use atalaya_common::model::Timestamp;
use atalaya_common::model::device::{DeviceInventory, PhysicalEntity};
use atalaya_common::proto::DevicePoll;
use redb::{ReadableDatabase, ReadableTable, Table};

use super::device_identity::{self, device_asset_meta, device_keys};
use super::ingest::{Cache, Tables};
use super::schema::*;
use super::{Store, StoreError, dec, enc, next_id};
use crate::records::device::{
    DeviceAlias, DeviceChange, DeviceChangeItem, DeviceEvent, DeviceRecord, DeviceStatus,
};
use atalaya_common::model::device::trap::TrapEvent;

const DEVICES_T: &str = "devices";
const INVENTORY_T: &str = "device_inventory";
const CHANGES_T: &str = "device_changes";
const ALIASES_T: &str = "device_aliases";
const EVENTS_T: &str = "device_events";

/// Events kept per device; older ones are let go as new ones come.
pub const MAX_EVENTS_PER_DEVICE: usize = 1000;

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
            // A device of this name merged into another asset once: this
            // one starts on its own.
            txn.open_table(DEVICE_ALIASES)?.remove(rec.name.as_str())?;
            let mut assets = txn.open_table(ASSETS)?;
            if assets.get(rec.asset_id.as_str())?.is_none() {
                let meta = device_asset_meta(rec, rec.added_at);
                assets.insert(rec.asset_id.as_str(), enc("assets", &meta)?.as_slice())?;
                txn.open_table(HOSTNAMES)?.insert(
                    (rec.name.to_lowercase().as_str(), rec.asset_id.as_str()),
                    (),
                )?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Removes a device's record and, unless another device shares its
    /// asset, the asset's current inventory and neighbours (its asset,
    /// series and change history stay); returns the record, `None` if there
    /// was none. Another device sharing the asset writes it from its next
    /// poll on.
    pub fn remove_device(&self, name: &str) -> Result<Option<DeviceRecord>, StoreError> {
        let txn = self.db.begin_write()?;
        let removed = {
            let mut devices = txn.open_table(DEVICES)?;
            let removed = devices.remove(name)?.map(|v| v.value().to_vec());
            match removed {
                Some(bytes) => {
                    let rec: DeviceRecord = dec(DEVICES_T, &bytes)?;
                    let asset = rec.asset_id.as_str();
                    let mut primary = txn.open_table(DEVICE_PRIMARY)?;
                    if primary.get(asset)?.is_some_and(|p| p.value() == name) {
                        primary.remove(asset)?;
                    }
                    let mut shared = false;
                    for r in devices.iter()? {
                        let (_, v) = r?;
                        shared |= dec::<DeviceRecord>(DEVICES_T, v.value())?.asset_id == asset;
                    }
                    if !shared {
                        let mut inventories = txn.open_table(DEVICE_INVENTORY)?;
                        let old = inventories.remove(asset)?.map(|v| v.value().to_vec());
                        if let Some(old) = old {
                            let old: DeviceInventory = dec(INVENTORY_T, &old)?;
                            let mut keys = txn.open_table(DEVICE_KEYS)?;
                            for k in device_keys(&old) {
                                keys.remove((k.as_str(), asset))?;
                            }
                        }
                        txn.open_table(DEVICE_NEIGHBOURS)?.remove(asset)?;
                        txn.open_table(DEVICE_TRAYS)?.remove(asset)?;
                    }
                    Some(rec)
                }
                None => None,
            }
        };
        txn.commit()?;
        Ok(removed)
    }

    /// Replaces the record of an existing device (how to reach it, its
    /// poller), keeping what polls wrote; returns the record it replaced,
    /// `None` (nothing written) when no device has this name.
    pub fn replace_device(&self, rec: &DeviceRecord) -> Result<Option<DeviceRecord>, StoreError> {
        let txn = self.db.begin_write()?;
        let old = {
            let mut devices = txn.open_table(DEVICES)?;
            let old = devices.get(rec.name.as_str())?.map(|v| v.value().to_vec());
            match old {
                Some(bytes) => {
                    let old: DeviceRecord = dec(DEVICES_T, &bytes)?;
                    let new = DeviceRecord {
                        asset_id: old.asset_id.clone(),
                        added_at: old.added_at,
                        last_poll: old.last_poll,
                        inventory_at: old.inventory_at,
                        ..rec.clone()
                    };
                    devices.insert(rec.name.as_str(), enc(DEVICES_T, &new)?.as_slice())?;
                    txn.open_table(DEVICE_POLLERS)?
                        .insert(rec.poller.as_str(), ())?;
                    Some(old)
                }
                None => None,
            }
        };
        txn.commit()?;
        Ok(old)
    }

    /// The devices declared in the devices file, by name.
    pub fn file_devices(&self) -> Result<Vec<String>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(FILE_DEVICES)?;
        t.iter()?.map(|r| Ok(r?.0.value().to_owned())).collect()
    }

    /// Marks device `name` as declared in the devices file, or not.
    pub fn mark_file_device(&self, name: &str, in_file: bool) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut t = txn.open_table(FILE_DEVICES)?;
            if in_file {
                t.insert(name, ())?;
            } else {
                t.remove(name)?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Why device `name` shares another device's asset, if it does.
    pub fn device_alias(&self, name: &str) -> Result<Option<DeviceAlias>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(DEVICE_ALIASES)?;
        let found = t.get(name)?;
        found.map(|v| dec(ALIASES_T, v.value())).transpose()
    }

    /// The device that writes asset `asset` (the others sharing it were
    /// merged into it), if one has polled it.
    pub fn device_primary(&self, asset: &str) -> Result<Option<String>, StoreError> {
        let txn = self.db.begin_read()?;
        device_identity::primary_in(&txn, asset)
    }

    /// The asset the old asset id of a device merged into another leads
    /// to (`device:B` → the asset B was merged into).
    pub fn merged_device_asset(&self, asset_id: &str) -> Result<Option<String>, StoreError> {
        let Some(name) = asset_id.strip_prefix(crate::records::device::DEVICE_ASSET_PREFIX) else {
            return Ok(None);
        };
        Ok(self.device_alias(name)?.map(|a| a.asset))
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

    /// The latest `limit` events of the device whose asset is `asset`, newest first.
    pub fn device_events(&self, asset: &str, limit: usize) -> Result<Vec<DeviceEvent>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(DEVICE_EVENTS)?;
        t.range((asset, i64::MIN, 0)..=(asset, i64::MAX, u64::MAX))?
            .rev()
            .take(limit)
            .map(|r| {
                let (_, v) = r?;
                dec(EVENTS_T, v.value())
            })
            .collect()
    }

    /// The latest `limit` events of every device, newest first.
    pub fn latest_device_events(&self, limit: usize) -> Result<Vec<DeviceEvent>, StoreError> {
        let txn = self.db.begin_read()?;
        let by_time = txn.open_table(DEVICE_EVENTS_BY_TIME)?;
        let events = txn.open_table(DEVICE_EVENTS)?;
        let mut out = Vec::new();
        for r in by_time.iter()?.rev() {
            if out.len() >= limit {
                break;
            }
            let (key, asset) = r?;
            let (at, id) = key.value();
            // An index entry outliving its event (let go) is skipped.
            if let Some(v) = events.get((asset.value(), at, id))? {
                out.push(dec(EVENTS_T, v.value())?);
            }
        }
        Ok(out)
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

/// Where a stored poll's values go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredPoll {
    /// The device's asset.
    pub asset: String,
    /// Whether the device writes that asset; when it does not (it was
    /// merged into another device's asset), its values are not stored.
    pub primary: bool,
    /// What changed in the asset's inventory with this poll.
    pub changes: Vec<DeviceChangeItem>,
}

/// Stores what a poll says of its device (status, and the inventory with
/// a change event when its stable form differs from the stored one, after
/// deciding which asset it belongs to) and returns where its values go,
/// with what changed in its inventory; `None` when the device is unknown
/// or `agent` is not its poller (nothing is stored then).
pub(crate) fn store_poll(
    t: &mut Tables<'_>,
    cache: &mut Cache,
    agent: &str,
    poll: &DevicePoll,
) -> Result<Option<StoredPoll>, StoreError> {
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
    let mut changes = Vec::new();
    if let Some(inv) = &poll.inventory {
        let mut inv = inv.clone();
        inv.canonicalize();
        if device_identity::reconcile(t, cache, &mut rec, agent, &inv, poll.polled_at)? {
            changes = store_device_inventory(t, &rec, agent, poll, inv)?;
        }
        rec.inventory_at = rec.inventory_at.max(Some(poll.polled_at));
    }
    let primary = device_identity::is_primary(t, &rec)?;
    t.devices
        .insert(rec.name.as_str(), enc(DEVICES_T, &rec)?.as_slice())?;
    if primary {
        touch_asset(t, &rec.asset_id, poll.polled_at)?;
    }
    Ok(Some(StoredPoll {
        asset: rec.asset_id,
        primary,
        changes,
    }))
}

/// Stores a trap from `agent` (record `seq`, received by the collector at
/// `stored_at`) as an event of its device, letting the oldest go past
/// [`MAX_EVENTS_PER_DEVICE`]; returns the device's asset id, `None` when
/// the device is unknown or `agent` is not its poller (nothing is stored).
pub(crate) fn store_trap(
    t: &mut Tables<'_>,
    agent: &str,
    seq: u64,
    stored_at: Timestamp,
    trap: &TrapEvent,
) -> Result<Option<String>, StoreError> {
    let found = t.devices.get(trap.device.as_str())?;
    let Some(rec) = found
        .map(|v| dec::<DeviceRecord>(DEVICES_T, v.value()))
        .transpose()?
    else {
        return Ok(None);
    };
    if rec.poller != agent {
        return Ok(None);
    }
    let asset = rec.asset_id.as_str();
    let event = DeviceEvent {
        agent_id: agent.to_owned(),
        seq,
        stored_at,
        trap: trap.clone(),
    };
    let id = next_id(&mut t.meta, META_NEXT_EVENT)?;
    let at = trap.received_at.0;
    t.device_events
        .insert((asset, at, id), enc(EVENTS_T, &event)?.as_slice())?;
    t.device_events_by_time.insert((at, id), asset)?;
    let range = (asset, i64::MIN, 0)..=(asset, i64::MAX, u64::MAX);
    let kept = t.device_events.range(range.clone())?.count();
    if kept > MAX_EVENTS_PER_DEVICE {
        let old: Vec<(i64, u64)> = t
            .device_events
            .range(range)?
            .take(kept - MAX_EVENTS_PER_DEVICE)
            .map(|r| r.map(|(k, _)| (k.value().1, k.value().2)))
            .collect::<Result<_, _>>()?;
        for (at, id) in old {
            t.device_events.remove((asset, at, id))?;
            t.device_events_by_time.remove((at, id))?;
        }
    }
    touch_asset(t, asset, trap.received_at)?;
    Ok(Some(rec.asset_id))
}

/// The names of the interfaces administratively down in the stored
/// inventory of the device whose asset is `asset`.
pub(crate) fn admin_down(t: &Tables<'_>, asset: &str) -> Result<Vec<String>, StoreError> {
    let found = t.device_inventory.get(asset)?;
    let Some(inv) = found
        .map(|v| dec::<DeviceInventory>(INVENTORY_T, v.value()))
        .transpose()?
    else {
        return Ok(Vec::new());
    };
    Ok(inv
        .interfaces
        .into_iter()
        .filter(|i| !i.admin_up)
        .map(|i| i.name)
        .collect())
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
/// form differs from the one stored (not for a first inventory); returns
/// the event's changes (none: no event).
fn store_device_inventory(
    t: &mut Tables<'_>,
    rec: &DeviceRecord,
    agent: &str,
    poll: &DevicePoll,
    inv: DeviceInventory,
) -> Result<Vec<DeviceChangeItem>, StoreError> {
    let asset = rec.asset_id.as_str();
    let prev = t.device_inventory.get(asset)?;
    let prev: Option<DeviceInventory> = prev.map(|v| dec(INVENTORY_T, v.value())).transpose()?;
    let mut changed = Vec::new();
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
            changed = change.items;
        }
    }
    t.device_inventory
        .insert(asset, enc(INVENTORY_T, &inv)?.as_slice())?;
    if let Some(mut meta) = t.asset(asset)? {
        meta.inventory_at = meta.inventory_at.max(Some(poll.polled_at));
        meta.os = device_model(&inv).or(meta.os);
        t.put_asset(&meta)?;
    }
    Ok(changed)
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
pub fn inventory_changes(
    before: &DeviceInventory,
    after: &DeviceInventory,
) -> Vec<DeviceChangeItem> {
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

#[cfg(test)]
mod tests {
    use atalaya_common::model::device::{
        DeviceInterface, DeviceSpec, DeviceState, EntityClass, OperStatus,
    };
    use atalaya_common::proto;

    use super::super::testutil::*;
    use super::super::{Fed, Ingest, IngestRecord};
    use super::*;
    use crate::records::device::device_asset_id;

    fn record(name: &str, poller: &str) -> DeviceRecord {
        DeviceRecord {
            name: name.into(),
            spec: DeviceSpec::v2c(name, "192.0.2.10", "s3cret-community"),
            poller: poller.into(),
            asset_id: device_asset_id(name),
            added_at: Timestamp(1_000),
            last_poll: None,
            inventory_at: None,
        }
    }

    fn inventory(interfaces: &[(u32, &str)], serial: &str) -> DeviceInventory {
        let mut inv = DeviceInventory::default();
        inv.system.descr = "Cisco IOS Software, C2960X\nTechnical Support".into();
        inv.system.name = "core-sw1".into();
        inv.system.uptime_seconds = 1_000;
        for &(if_index, name) in interfaces {
            inv.interfaces.push(DeviceInterface {
                if_index,
                name: name.into(),
                oper_status: OperStatus::Up,
                ..DeviceInterface::default()
            });
        }
        inv.entities.push(PhysicalEntity {
            index: 1,
            class: EntityClass::Chassis,
            name: "chassis".into(),
            serial: serial.into(),
            ..PhysicalEntity::default()
        });
        inv
    }

    fn poll(agent: &str, seq: u64, at: i64, inv: Option<DeviceInventory>) -> Ingest {
        Ingest {
            agent_id: agent.into(),
            received_at: Timestamp(at),
            record: IngestRecord::DevicePoll(proto::DevicePoll {
                seq,
                device: "core-sw1".into(),
                polled_at: Timestamp(at),
                state: DeviceState::Ok,
                response_ms: Some(12),
                inventory: inv,
                values: vec![
                    ("snmp.reachable".into(), 1.0),
                    (
                        "interface.in_bits_per_second{if=eth0}".into(),
                        1000.0 * seq as f64,
                    ),
                ],
            }),
        }
    }

    const BPS: &str = "interface.in_bits_per_second{if=eth0}";

    fn trap(agent: &str, seq: u64, at: i64, device: &str, dropped: u64) -> Ingest {
        use atalaya_common::model::device::trap::{TrapKind, TrapVersion};
        Ingest {
            agent_id: agent.into(),
            received_at: Timestamp(at),
            record: IngestRecord::DeviceTrap(proto::DeviceTrap {
                seq,
                trap: Some(TrapEvent {
                    device: device.into(),
                    received_at: Timestamp(at),
                    source: "192.0.2.10:50000".into(),
                    version: TrapVersion::V2c,
                    inform: false,
                    trap_oid: "1.3.6.1.6.3.1.1.5.1".into(),
                    kind: TrapKind::ColdStart,
                    interface: None,
                    uptime_ticks: Some(12),
                    varbinds: Vec::new(),
                }),
                dropped: vec![("bad_community".into(), dropped)],
            }),
        }
    }

    #[test]
    fn traps_are_device_events_of_their_poller_and_counters_series_of_the_agent() {
        let (_d, store) = temp_store();
        store.add_device(&record("core-sw1", "ag-1")).unwrap();
        let (_, fed) = store
            .commit_fed(&[trap("ag-1", 1, 60_000, "core-sw1", 2)])
            .unwrap();
        assert!(fed.iter().any(|f| matches!(
            f,
            Fed::DeviceTrap { asset, trap } if asset == "device:core-sw1" && trap.received_at == Timestamp(60_000)
        )));
        // Another agent's, or an unknown device's, are not stored (nor fed).
        let (_, fed) = store
            .commit_fed(&[
                trap("ag-2", 1, 61_000, "core-sw1", 0),
                trap("ag-1", 2, 62_000, "nowhere", 3),
                trap("ag-1", 3, 63_000, "core-sw1", 5),
            ])
            .unwrap();
        assert_eq!(
            fed.iter()
                .filter(|f| matches!(f, Fed::DeviceTrap { .. }))
                .count(),
            1
        );
        let events = store.device_events("device:core-sw1", 10).unwrap();
        let seqs: Vec<(String, u64)> = events.iter().map(|e| (e.agent_id.clone(), e.seq)).collect();
        assert_eq!(seqs, [("ag-1".to_owned(), 3), ("ag-1".to_owned(), 1)]);
        assert_eq!(store.latest_device_events(1).unwrap()[0].seq, 3);
        // The same record again (a resend) is not stored twice.
        store
            .commit_fed(&[trap("ag-1", 3, 63_000, "core-sw1", 5)])
            .unwrap();
        assert_eq!(store.device_events("device:core-sw1", 10).unwrap().len(), 2);
        // The drop totals, as series of the agent's own asset.
        let asset = store.agent_asset_id("ag-1").unwrap().unwrap();
        let points = store
            .metric(
                &asset,
                "snmp.traps_dropped{reason=bad_community}",
                Timestamp(0),
                Timestamp(100_000),
                None,
            )
            .unwrap();
        let values: Vec<f64> = points.iter().map(|p| p.1).collect();
        assert_eq!(values, [2.0, 3.0, 5.0]);
    }

    #[test]
    fn a_device_keeps_its_latest_events_only() {
        let (_d, store) = temp_store();
        store.add_device(&record("core-sw1", "ag-1")).unwrap();
        let n = MAX_EVENTS_PER_DEVICE as u64 + 5;
        let batch: Vec<Ingest> = (1..=n)
            .map(|i| trap("ag-1", i, 1_000 * i as i64, "core-sw1", 0))
            .collect();
        store.commit_fed(&batch).unwrap();
        let events = store.device_events("device:core-sw1", usize::MAX).unwrap();
        assert_eq!(events.len(), MAX_EVENTS_PER_DEVICE);
        assert_eq!(events.last().map(|e| e.seq), Some(6));
        let latest = store.latest_device_events(usize::MAX).unwrap();
        assert_eq!(latest.len(), MAX_EVENTS_PER_DEVICE);
    }

    #[test]
    fn modules_firmware_and_system_changes_are_named() {
        let before = inventory(&[(1, "eth0"), (2, "eth1")], "A1");
        let mut after = inventory(&[(1, "eth0")], "A1");
        after.system.descr = "Cisco IOS Software 15.2".into();
        after.entities[0].firmware_rev = "2.1".into();
        after.entities.push(PhysicalEntity {
            index: 9,
            class: EntityClass::Module,
            name: "slot 1".into(),
            model: "WS-X4748".into(),
            serial: "M9".into(),
            ..PhysicalEntity::default()
        });
        let items = inventory_changes(&before, &after);
        assert_eq!(
            items,
            [
                DeviceChangeItem::System {
                    field: "descr".into(),
                    before: before.system.descr.clone(),
                    after: "Cisco IOS Software 15.2".into()
                },
                DeviceChangeItem::InterfaceRemoved {
                    if_index: 2,
                    name: "eth1".into()
                },
                DeviceChangeItem::FirmwareChanged {
                    index: 1,
                    name: "chassis".into(),
                    before: " / ".into(),
                    after: "2.1 / ".into()
                },
                DeviceChangeItem::ModuleAdded {
                    index: 9,
                    name: "slot 1 (WS-X4748)".into(),
                    serial: "M9".into()
                },
            ]
        );
        let removed = inventory_changes(&after, &before);
        assert!(removed.contains(&DeviceChangeItem::ModuleRemoved {
            index: 9,
            name: "slot 1 (WS-X4748)".into(),
            serial: "M9".into()
        }));
    }

    #[test]
    fn devices_are_added_listed_and_removed() {
        let (_d, store) = temp_store();
        store.add_device(&record("core-sw1", "ag-1")).unwrap();
        store.add_device(&record("edge", "ag-2")).unwrap();
        let again = store.add_device(&record("core-sw1", "ag-2"));
        assert!(matches!(
            again,
            Err(StoreError::Exists { what: "device", .. })
        ));
        let names: Vec<_> = store
            .devices()
            .unwrap()
            .into_iter()
            .map(|d| d.name)
            .collect();
        assert_eq!(names, ["core-sw1", "edge"]);
        assert_eq!(store.devices_of_poller("ag-1").unwrap().len(), 1);
        assert!(store.asset("device:core-sw1").unwrap().is_some());
        let removed = store.remove_device("core-sw1").unwrap().unwrap();
        assert_eq!(removed.poller, "ag-1");
        assert!(store.device("core-sw1").unwrap().is_none());
        assert!(store.remove_device("core-sw1").unwrap().is_none());
        assert!(store.devices_of_poller("ag-1").unwrap().is_empty());
        // Still a poller: it is told its list is empty now.
        assert!(store.is_device_poller("ag-1").unwrap());
        assert!(!store.is_device_poller("ag-3").unwrap());
    }

    #[test]
    fn a_poll_is_stored_once_per_seq_and_its_values_are_readable() {
        let (_d, store) = temp_store();
        store.add_device(&record("core-sw1", "ag-1")).unwrap();
        let first = poll("ag-1", 1, 60_000, Some(inventory(&[(1, "eth0")], "A1")));
        store.commit(std::slice::from_ref(&first)).unwrap();
        store
            .commit(&[first, poll("ag-1", 2, 120_000, None)])
            .unwrap();
        let asset = "device:core-sw1";
        let points = store
            .metric(asset, BPS, Timestamp(0), Timestamp(i64::MAX), None)
            .unwrap();
        assert_eq!(
            points,
            [(Timestamp(60_000), 1000.0), (Timestamp(120_000), 2000.0)]
        );
        assert_eq!(store.series_names(asset).unwrap(), [BPS, "snmp.reachable"]);
        let rec = store.device("core-sw1").unwrap().unwrap();
        let last = rec.last_poll.unwrap();
        assert_eq!(
            (last.at, last.state, last.response_ms),
            (Timestamp(120_000), DeviceState::Ok, Some(12))
        );
        assert_eq!(rec.inventory_at, Some(Timestamp(60_000)));
        let inv = store.device_inventory(asset).unwrap().unwrap();
        assert_eq!(inv.interfaces.len(), 1);
    }

    #[test]
    fn a_stored_poll_is_fed_with_the_interfaces_shut_in_its_inventory() {
        let (_d, store) = temp_store();
        store.add_device(&record("core-sw1", "ag-1")).unwrap();
        let mut inv = inventory(&[(1, "eth0"), (2, "eth1")], "A1");
        inv.interfaces[1].admin_up = true;
        let (_, fed) = store
            .commit_fed(&[poll("ag-1", 1, 60_000, Some(inv))])
            .unwrap();
        let polls: Vec<&Fed> = fed
            .iter()
            .filter(|f| matches!(f, Fed::DevicePoll { .. }))
            .collect();
        assert_eq!(
            polls,
            [&Fed::DevicePoll {
                asset: "device:core-sw1".into(),
                device: "core-sw1".into(),
                at: Timestamp(60_000),
                state: DeviceState::Ok,
                values: vec![("snmp.reachable".into(), 1.0), (BPS.into(), 1000.0)],
                admin_down: vec!["eth0".into()],
                changes: Vec::new(),
                peers: Vec::new(),
            }]
        );
        // A later poll without an inventory still says which are shut.
        let (_, fed) = store.commit_fed(&[poll("ag-1", 2, 120_000, None)]).unwrap();
        assert!(fed.iter().any(|f| matches!(
            f,
            Fed::DevicePoll { admin_down, at, .. } if admin_down == &["eth0"] && *at == Timestamp(120_000)
        )));
        // A poll that is not stored is not fed.
        let (_, fed) = store.commit_fed(&[poll("ag-2", 1, 180_000, None)]).unwrap();
        assert!(
            !fed.iter().any(|f| matches!(f, Fed::DevicePoll { .. })),
            "{fed:?}"
        );
    }

    #[test]
    fn a_poll_from_another_agent_or_for_an_unknown_device_is_acked_not_stored() {
        let (_d, store) = temp_store();
        store.add_device(&record("core-sw1", "ag-1")).unwrap();
        let committed = store.commit(&[poll("ag-2", 5, 60_000, None)]).unwrap();
        assert_eq!(committed[0].highest_seq, 5);
        assert!(
            store
                .device("core-sw1")
                .unwrap()
                .unwrap()
                .last_poll
                .is_none()
        );
        store.remove_device("core-sw1").unwrap();
        let committed = store.commit(&[poll("ag-1", 1, 60_000, None)]).unwrap();
        assert_eq!(committed[0].highest_seq, 1);
        let points = store
            .metric(
                "device:core-sw1",
                BPS,
                Timestamp(0),
                Timestamp(i64::MAX),
                None,
            )
            .unwrap();
        assert!(points.is_empty());
    }

    #[test]
    fn inventory_changes_are_kept_when_the_stable_form_differs() {
        let (_d, store) = temp_store();
        store.add_device(&record("core-sw1", "ag-1")).unwrap();
        let one = inventory(&[(1, "eth0")], "A1");
        let mut busier = one.clone();
        busier.system.uptime_seconds = 5_000;
        busier.interfaces[0].oper_status = OperStatus::Down;
        let replaced = inventory(&[(1, "eth0"), (2, "eth1")], "B2");
        store
            .commit(&[
                poll("ag-1", 1, 60_000, Some(one)),
                poll("ag-1", 2, 120_000, Some(busier)),
                poll("ag-1", 3, 180_000, Some(replaced)),
            ])
            .unwrap();
        let changes = store.device_changes("device:core-sw1").unwrap();
        assert_eq!(changes.len(), 1, "{changes:#?}");
        assert_eq!((changes[0].seq, changes[0].at), (3, Timestamp(180_000)));
        assert_eq!(
            changes[0].items,
            [
                DeviceChangeItem::InterfaceAdded {
                    if_index: 2,
                    name: "eth1".into()
                },
                DeviceChangeItem::SerialChanged {
                    index: 1,
                    name: "chassis".into(),
                    before: "A1".into(),
                    after: "B2".into()
                },
            ]
        );
        let inv = store.device_inventory("device:core-sw1").unwrap().unwrap();
        assert_eq!(inv.interfaces.len(), 2);
        // They come with the hosts' changes, in time order.
        store
            .commit(&[snapshot(
                "ag-host",
                1,
                150_000,
                &machine("web1", None, "m1", "00:11:22:33:44:55"),
            )])
            .unwrap();
        let all = store.changes(None, Timestamp(0), 10).unwrap();
        let shown: Vec<(&str, i64, bool)> = all
            .iter()
            .map(|e| (e.hostname.as_str(), e.at.0, e.device.is_some()))
            .collect();
        assert_eq!(
            shown,
            [("web1", 150_000, false), ("core-sw1", 180_000, true)]
        );
        let device = all[1].device.as_ref().unwrap();
        assert_eq!(
            (device.name.as_str(), device.agent_id.as_str()),
            ("core-sw1", "ag-1")
        );
        assert_eq!(device.items, changes[0].items);
        let one = store
            .changes(Some("device:core-sw1"), Timestamp(0), 10)
            .unwrap();
        assert_eq!(one.len(), 1);
        assert!(
            store
                .changes(None, Timestamp(180_001), 10)
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.changes(None, Timestamp(0), 1).unwrap().len(), 1);
    }

    fn poll_of(
        device: &str,
        agent: &str,
        seq: u64,
        at: i64,
        inv: Option<DeviceInventory>,
        reachable: f64,
    ) -> Ingest {
        Ingest {
            agent_id: agent.into(),
            received_at: Timestamp(at),
            record: IngestRecord::DevicePoll(proto::DevicePoll {
                seq,
                device: device.into(),
                polled_at: Timestamp(at),
                state: DeviceState::Ok,
                response_ms: Some(5),
                inventory: inv,
                values: vec![("snmp.reachable".into(), reachable)],
            }),
        }
    }

    fn reachable(store: &Store, asset: &str) -> Vec<(Timestamp, f64)> {
        store
            .metric(
                asset,
                "snmp.reachable",
                Timestamp(0),
                Timestamp(i64::MAX),
                None,
            )
            .unwrap()
    }

    #[test]
    fn one_box_polled_twice_is_one_asset_with_the_reason() {
        let (_d, store) = temp_store();
        store.add_device(&record("core-sw1", "ag-1")).unwrap();
        store.add_device(&record("core-sw1-b", "ag-2")).unwrap();
        store
            .commit(&[poll_of(
                "core-sw1",
                "ag-1",
                1,
                60_000,
                Some(inventory(&[(1, "eth0")], "FDO1234")),
                1.0,
            )])
            .unwrap();
        // The second entry's first poll finds nothing, then its inventory.
        let mut other_view = inventory(&[(1, "eth0"), (7, "mgmt")], "fdo1234");
        other_view.system.name = "core-sw1.corp".into();
        store
            .commit(&[
                poll_of("core-sw1-b", "ag-2", 1, 61_000, None, 0.5),
                poll_of("core-sw1-b", "ag-2", 2, 62_000, Some(other_view), 0.25),
            ])
            .unwrap();
        let b = store.device("core-sw1-b").unwrap().unwrap();
        assert_eq!(b.asset_id, "device:core-sw1");
        assert_eq!(
            b.last_poll.unwrap().at,
            Timestamp(62_000),
            "its own status stays"
        );
        let alias = store.device_alias("core-sw1-b").unwrap().unwrap();
        assert_eq!(
            (
                alias.same_as.as_str(),
                alias.evidence.as_str(),
                alias.keys.as_slice()
            ),
            (
                "core-sw1",
                "serial fdo1234",
                ["serial:fdo1234".to_owned()].as_slice()
            )
        );
        assert!(
            alias.reason.contains("matches device core-sw1"),
            "{}",
            alias.reason
        );
        let asset = store.asset("device:core-sw1").unwrap().unwrap();
        let note = asset.meta.identity.last().unwrap();
        assert_eq!(note.verdict, super::super::records::Verdict::Matched);
        assert_eq!(note.other_asset.as_deref(), Some("device:core-sw1-b"));
        assert!(store.asset("device:core-sw1-b").unwrap().is_none());
        assert_eq!(
            store
                .merged_device_asset("device:core-sw1-b")
                .unwrap()
                .as_deref(),
            Some("device:core-sw1")
        );
        // Its one stored point (before the merge) is read with the asset;
        // the merging poll's values are not stored twice; nor its inventory.
        assert_eq!(
            reachable(&store, "device:core-sw1"),
            [(Timestamp(60_000), 1.0), (Timestamp(61_000), 0.5)]
        );
        let inv = store.device_inventory("device:core-sw1").unwrap().unwrap();
        assert_eq!(inv.interfaces.len(), 1);
        store
            .commit(&[
                poll_of("core-sw1-b", "ag-2", 3, 63_000, None, 0.0),
                poll_of("core-sw1", "ag-1", 2, 64_000, None, 1.0),
            ])
            .unwrap();
        assert_eq!(reachable(&store, "device:core-sw1").len(), 3);
        assert!(store.device_changes("device:core-sw1").unwrap().is_empty());
    }

    #[test]
    fn a_merged_device_brings_its_rollups_to_the_box() {
        use crate::records::rollup::Tier;
        use crate::store::ingest::BLOCK_ROWS;
        let (_d, store) = temp_store();
        store.add_device(&record("core-sw1", "ag-1")).unwrap();
        store.add_device(&record("core-sw1-b", "ag-2")).unwrap();
        let first = poll_of(
            "core-sw1",
            "ag-1",
            1,
            60_000,
            Some(inventory(&[(1, "eth0")], "FDO1234")),
            1.0,
        );
        store.commit(&[first]).unwrap();
        // The second entry polls a block's worth before its inventory
        // comes: that block closes and is rolled up under its own asset.
        let polls: Vec<Ingest> = (0..BLOCK_ROWS as u64 + 5)
            .map(|i| {
                poll_of(
                    "core-sw1-b",
                    "ag-2",
                    i + 1,
                    61_000 + i as i64 * 1000,
                    None,
                    0.5,
                )
            })
            .collect();
        store.commit(&polls).unwrap();
        let counted = |asset: &str| -> u64 {
            store
                .rollups(asset, "snmp.reachable", Tier::FiveMinutes, 0, i64::MAX)
                .unwrap()
                .iter()
                .map(|(_, r)| r.count)
                .sum()
        };
        assert_eq!(counted("device:core-sw1-b"), BLOCK_ROWS as u64);
        let merging = poll_of(
            "core-sw1-b",
            "ag-2",
            BLOCK_ROWS as u64 + 6,
            200_000,
            Some(inventory(&[(1, "eth0")], "fdo1234")),
            0.5,
        );
        store.commit(&[merging]).unwrap();
        assert_eq!(
            store.device("core-sw1-b").unwrap().unwrap().asset_id,
            "device:core-sw1"
        );
        assert_eq!(counted("device:core-sw1-b"), 0);
        assert_eq!(counted("device:core-sw1"), BLOCK_ROWS as u64);
    }

    #[test]
    fn a_merged_device_takes_over_when_the_first_is_removed_and_splits_when_it_differs() {
        let (_d, store) = temp_store();
        store.add_device(&record("a", "ag-1")).unwrap();
        store.add_device(&record("b", "ag-2")).unwrap();
        let box1 = inventory(&[(1, "eth0")], "S1");
        store
            .commit(&[
                poll_of("a", "ag-1", 1, 60_000, Some(box1.clone()), 1.0),
                poll_of("b", "ag-2", 1, 61_000, Some(box1), 1.0),
            ])
            .unwrap();
        assert_eq!(
            store.device_primary("device:a").unwrap().as_deref(),
            Some("a")
        );
        store.remove_device("a").unwrap();
        assert!(
            store.device_inventory("device:a").unwrap().is_some(),
            "the asset's inventory stays while b shares it"
        );
        store
            .commit(&[poll_of("b", "ag-2", 2, 120_000, None, 0.75)])
            .unwrap();
        assert_eq!(
            store.device_primary("device:a").unwrap().as_deref(),
            Some("b")
        );
        assert!(reachable(&store, "device:a").contains(&(Timestamp(120_000), 0.75)));
        // b's box is replaced by another one at its address: an asset of its own.
        store.add_device(&record("c", "ag-1")).unwrap();
        let c_box = inventory(&[(1, "eth0")], "S9");
        store
            .commit(&[poll_of("c", "ag-1", 2, 121_000, Some(c_box.clone()), 1.0)])
            .unwrap();
        assert_eq!(store.device("c").unwrap().unwrap().asset_id, "device:c");
        store.add_device(&record("d", "ag-2")).unwrap();
        store
            .commit(&[poll_of("d", "ag-2", 3, 122_000, Some(c_box), 1.0)])
            .unwrap();
        assert_eq!(store.device("d").unwrap().unwrap().asset_id, "device:c");
        let mut swapped = inventory(&[(1, "eth0")], "S10");
        swapped.system.name = "new-box".into();
        store
            .commit(&[poll_of("d", "ag-2", 4, 123_000, Some(swapped), 1.0)])
            .unwrap();
        let d = store.device("d").unwrap().unwrap();
        assert_eq!(d.asset_id, "device:d");
        assert!(store.device_alias("d").unwrap().is_none());
        let meta = store.asset("device:d").unwrap().unwrap().meta;
        let note = meta.identity.last().unwrap();
        assert!(
            note.reason.contains("no longer matches asset device:c"),
            "{}",
            note.reason
        );
        assert!(store.device_inventory("device:d").unwrap().is_some());
    }

    #[test]
    fn different_serials_with_one_sysname_stay_apart() {
        let (_d, store) = temp_store();
        store.add_device(&record("a", "ag-1")).unwrap();
        store.add_device(&record("b", "ag-1")).unwrap();
        store
            .commit(&[
                poll_of(
                    "a",
                    "ag-1",
                    1,
                    60_000,
                    Some(inventory(&[(1, "eth0")], "S1")),
                    1.0,
                ),
                poll_of(
                    "b",
                    "ag-1",
                    2,
                    60_000,
                    Some(inventory(&[(1, "eth0")], "S2")),
                    1.0,
                ),
            ])
            .unwrap();
        assert_eq!(store.device("b").unwrap().unwrap().asset_id, "device:b");
        let note = store.asset("device:b").unwrap().unwrap().meta.identity;
        assert_eq!(note.len(), 1);
        assert!(note[0].reason.contains("a new asset"), "{:?}", note[0]);
    }
}
