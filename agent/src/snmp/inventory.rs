//! A device's inventory: the system group by GET, then one walk per table.
//!
//! [`build`] turns the bindings into a [`DeviceInventory`] without I/O and
//! takes anything: a binding of an unexpected type or with a malformed
//! index is skipped, never a panic. Tables the device lacks are empty.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use async_snmp::{Oid, Value, VarBind};
use atalaya_common::model::{
    DeviceAddress, DeviceInterface, DeviceInventory, DeviceProcessor, DeviceStorage, DeviceSystem,
    EntityClass, OperStatus, PhysicalEntity, PrinterSupply, StorageKind, SupplyAmount,
    enterprise_of, vendor_for_enterprise,
};

use super::oids::{self, split};
use super::walk::{SnmpSource, WalkError, WalkLimits, WalkState, walk_columns_into};

/// The tables walked after the system group, and their columns. The first
/// (interfaces) is needed; a failure in the others leaves that table empty.
fn tables() -> Vec<(&'static str, Vec<Oid>)> {
    vec![
        (
            "interfaces",
            [
                oids::columns(oids::IF_ENTRY, &[2, 3, 5, 6, 7, 8, 9]),
                oids::columns(oids::IFX_ENTRY, &[1, 15, 18]),
            ]
            .concat(),
        ),
        (
            "addresses",
            [
                oids::columns(oids::IP_ADDR_ENTRY, &[2, 3]),
                oids::columns(oids::IP_ADDRESS_ENTRY, &[3, 4, 5]),
            ]
            .concat(),
        ),
        (
            "entities",
            oids::columns(oids::ENT_PHYSICAL_ENTRY, &[2, 4, 5, 7, 8, 9, 10, 11, 13]),
        ),
        (
            "storage",
            oids::columns(oids::HR_STORAGE_ENTRY, &[2, 3, 4, 5, 6]),
        ),
        ("processors", oids::columns(oids::HR_PROCESSOR_ENTRY, &[2])),
        (
            "supplies",
            oids::columns(oids::PRT_SUPPLIES_ENTRY, &[5, 6, 8, 9]),
        ),
    ]
}

/// The system group scalars.
pub fn system_oids() -> Vec<Oid> {
    [
        oids::SYS_DESCR,
        oids::SYS_OBJECT_ID,
        oids::SYS_UP_TIME,
        oids::SYS_CONTACT,
        oids::SYS_NAME,
        oids::SYS_LOCATION,
    ]
    .iter()
    .map(|a| Oid::from_slice(a))
    .collect()
}

/// Walks every inventory table and builds the inventory, with the system
/// group's bindings `system`. Each answer is read into rows as it comes: a
/// poll holds the rows, not the walk's bindings (which also hold on to the
/// datagrams their texts arrived in). The interface table is needed: its
/// failure is the error. A failure in another table leaves that table
/// empty and is returned beside the inventory.
pub async fn walk<S: SnmpSource>(
    source: &S,
    state: &mut WalkState,
    limits: WalkLimits,
    system: &[VarBind],
) -> Result<(DeviceInventory, Vec<(&'static str, WalkError)>), WalkError> {
    let mut built = Builder::default();
    for vb in system {
        built.take(vb);
    }
    let mut failed = Vec::new();
    for (i, (name, columns)) in tables().into_iter().enumerate() {
        // Each table's rows are kept only once its walk ended well.
        let mut table = Builder::default();
        match walk_columns_into(source, state, limits, &columns, |vb| table.take(&vb)).await {
            Ok(()) => built.absorb(table),
            Err(e) if i == 0 => return Err(e),
            Err(e) => failed.push((name, e)),
        }
    }
    Ok((built.finish(), failed))
}

/// Builds the inventory from every binding polled, in any order.
pub fn build(bindings: &[VarBind]) -> DeviceInventory {
    let mut b = Builder::default();
    for vb in bindings {
        b.take(vb);
    }
    b.finish()
}

/// Interface fields kept raw until every column is in.
#[derive(Default)]
struct RawInterface {
    iface: DeviceInterface,
    if_name: Option<String>,
    if_speed: Option<u64>,
    high_speed_mbps: Option<u64>,
}

#[derive(Default)]
struct RawStorage {
    storage: DeviceStorage,
    units: u64,
    size: u64,
    used: u64,
}

/// One address row, merged from ipAddrTable and ipAddressTable.
#[derive(Default)]
struct RawAddress {
    if_index: Option<u32>,
    prefix_len: Option<u8>,
    broadcast: bool,
}

#[derive(Default)]
struct Builder {
    system: DeviceSystem,
    interfaces: BTreeMap<u32, RawInterface>,
    addresses: BTreeMap<IpAddr, RawAddress>,
    entities: BTreeMap<u32, PhysicalEntity>,
    storage: BTreeMap<u32, RawStorage>,
    processors: BTreeMap<u32, DeviceProcessor>,
    supplies: BTreeMap<(u32, u32), PrinterSupply>,
}

impl Builder {
    fn take(&mut self, vb: &VarBind) {
        let (oid, v) = (&vb.oid, &vb.value);
        if v.is_exception() {
            return;
        }
        if self.system_scalar(oid, v) {
            return;
        }
        if let Some((col, idx)) = split(oid, oids::IF_ENTRY) {
            self.if_column(col, idx, v);
        } else if let Some((col, idx)) = split(oid, oids::IFX_ENTRY) {
            self.ifx_column(col, idx, v);
        } else if let Some((col, idx)) = split(oid, oids::IP_ADDR_ENTRY) {
            self.ip_addr_column(col, idx, v);
        } else if let Some((col, idx)) = split(oid, oids::IP_ADDRESS_ENTRY) {
            self.ip_address_column(col, idx, v);
        } else if let Some((col, idx)) = split(oid, oids::ENT_PHYSICAL_ENTRY) {
            self.entity_column(col, idx, v);
        } else if let Some((col, idx)) = split(oid, oids::HR_STORAGE_ENTRY) {
            self.storage_column(col, idx, v);
        } else if let Some((2, idx)) = split(oid, oids::HR_PROCESSOR_ENTRY) {
            if let Some(i) = single(idx) {
                let load = int(v)
                    .and_then(|l| u8::try_from(l).ok())
                    .filter(|l| *l <= 100);
                self.processors.insert(
                    i,
                    DeviceProcessor {
                        index: i,
                        load_percent: load,
                    },
                );
            }
        } else if let Some((col, idx)) = split(oid, oids::PRT_SUPPLIES_ENTRY) {
            self.supply_column(col, idx, v);
        }
    }

    /// Adds the table rows of `other` (its system group, which no table
    /// walk reads, is left out).
    fn absorb(&mut self, mut other: Builder) {
        self.interfaces.append(&mut other.interfaces);
        self.addresses.append(&mut other.addresses);
        self.entities.append(&mut other.entities);
        self.storage.append(&mut other.storage);
        self.processors.append(&mut other.processors);
        self.supplies.append(&mut other.supplies);
    }

    fn system_scalar(&mut self, oid: &Oid, v: &Value) -> bool {
        let s = &mut self.system;
        let arcs = oid.arcs();
        if arcs == oids::SYS_DESCR {
            s.descr = text(v).unwrap_or_default();
        } else if arcs == oids::SYS_OBJECT_ID {
            s.object_id = v.as_oid().map(|o| o.to_string()).unwrap_or_default();
            s.enterprise = enterprise_of(&s.object_id);
            s.vendor = s
                .enterprise
                .and_then(vendor_for_enterprise)
                .map(str::to_owned);
        } else if arcs == oids::SYS_UP_TIME {
            s.uptime_seconds = ticks_seconds(v);
        } else if arcs == oids::SYS_CONTACT {
            s.contact = text(v).unwrap_or_default();
        } else if arcs == oids::SYS_NAME {
            s.name = text(v).unwrap_or_default();
        } else if arcs == oids::SYS_LOCATION {
            s.location = text(v).unwrap_or_default();
        } else {
            return false;
        }
        true
    }

    fn interface(&mut self, idx: &[u32]) -> Option<&mut RawInterface> {
        let i = single(idx)?;
        let raw = self.interfaces.entry(i).or_default();
        raw.iface.if_index = i;
        Some(raw)
    }

    fn if_column(&mut self, col: u32, idx: &[u32], v: &Value) {
        let Some(raw) = self.interface(idx) else {
            return;
        };
        let f = &mut raw.iface;
        match col {
            2 => f.descr = text(v).unwrap_or_default(),
            3 => f.if_type = int(v).and_then(|t| u32::try_from(t).ok()).unwrap_or(0),
            5 => raw.if_speed = int(v).and_then(|s| u64::try_from(s).ok()),
            6 => f.mac = v.as_bytes().and_then(mac),
            7 => f.admin_up = int(v) == Some(1),
            8 => f.oper_status = int(v).map_or(OperStatus::Unknown, OperStatus::from_code),
            9 => f.last_change_seconds = ticks_seconds(v),
            _ => {}
        }
    }

    fn ifx_column(&mut self, col: u32, idx: &[u32], v: &Value) {
        let Some(raw) = self.interface(idx) else {
            return;
        };
        match col {
            1 => raw.if_name = text(v).filter(|n| !n.is_empty()),
            15 => raw.high_speed_mbps = int(v).and_then(|s| u64::try_from(s).ok()),
            18 => raw.iface.alias = text(v).unwrap_or_default(),
            _ => {}
        }
    }

    fn ip_addr_column(&mut self, col: u32, idx: &[u32], v: &Value) {
        let Some(addr) = ipv4_of(idx) else { return };
        let row = self.addresses.entry(IpAddr::V4(addr)).or_default();
        match col {
            2 => row.if_index = int(v).and_then(|i| u32::try_from(i).ok()),
            3 => row.prefix_len = row.prefix_len.or(v.as_ip().and_then(netmask_len)),
            _ => {}
        }
    }

    fn ip_address_column(&mut self, col: u32, idx: &[u32], v: &Value) {
        let Some(addr) = inet_address_of(idx) else {
            return;
        };
        let row = self.addresses.entry(addr).or_default();
        match col {
            3 => row.if_index = int(v).and_then(|i| u32::try_from(i).ok()),
            // ipAddressType broadcast(3): net-snmp lists each subnet's
            // broadcast address, which is no address of the device.
            4 => row.broadcast = int(v) == Some(3),
            // ipAddressTable's prefix is preferred over ipAddrTable's mask.
            5 => {
                if let Some(p) = v.as_oid().and_then(prefix_of_pointer) {
                    row.prefix_len = Some(p);
                }
            }
            _ => {}
        }
    }

    fn entity_column(&mut self, col: u32, idx: &[u32], v: &Value) {
        let Some(i) = single(idx) else { return };
        let e = self.entities.entry(i).or_default();
        e.index = i;
        let t = || text(v).unwrap_or_default();
        match col {
            2 => e.descr = t(),
            4 => e.contained_in = int(v).and_then(|c| u32::try_from(c).ok()).unwrap_or(0),
            5 => e.class = int(v).map_or(EntityClass::Other, EntityClass::from_code),
            7 => e.name = t(),
            8 => e.hardware_rev = t(),
            9 => e.firmware_rev = t(),
            10 => e.software_rev = t(),
            11 => e.serial = t(),
            13 => e.model = t(),
            _ => {}
        }
    }

    fn storage_column(&mut self, col: u32, idx: &[u32], v: &Value) {
        let Some(i) = single(idx) else { return };
        let s = self.storage.entry(i).or_default();
        s.storage.index = i;
        match col {
            2 => s.storage.kind = storage_kind(v),
            3 => s.storage.descr = text(v).unwrap_or_default(),
            4 => s.units = int(v).and_then(|u| u64::try_from(u).ok()).unwrap_or(0),
            5 => s.size = integer32_unsigned(v),
            6 => s.used = integer32_unsigned(v),
            _ => {}
        }
    }

    fn supply_column(&mut self, col: u32, idx: &[u32], v: &Value) {
        let [dev, i] = idx else { return };
        let s = self.supplies.entry((*dev, *i)).or_default();
        s.device_index = *dev;
        s.index = *i;
        match col {
            5 => s.supply_type = int(v).and_then(|t| u32::try_from(t).ok()).unwrap_or(0),
            6 => s.descr = text(v).unwrap_or_default(),
            8 => s.max_capacity = int(v).map_or(SupplyAmount::Unknown, SupplyAmount::from_raw),
            9 => s.level = int(v).map_or(SupplyAmount::Unknown, SupplyAmount::from_raw),
            _ => {}
        }
    }

    fn finish(self) -> DeviceInventory {
        let mut inv = DeviceInventory {
            system: self.system,
            interfaces: self
                .interfaces
                .into_values()
                .map(finish_interface)
                .collect(),
            addresses: self
                .addresses
                .into_iter()
                .filter(|(_, row)| !row.broadcast)
                .filter_map(|(address, row)| {
                    Some(DeviceAddress {
                        if_index: row.if_index?,
                        address: address.to_string(),
                        prefix_len: row.prefix_len,
                    })
                })
                .collect(),
            entities: self.entities.into_values().collect(),
            storage: self.storage.into_values().map(finish_storage).collect(),
            processors: self.processors.into_values().collect(),
            supplies: self
                .supplies
                .into_values()
                .map(|mut s| {
                    s.percent = PrinterSupply::compute_percent(s.level, s.max_capacity);
                    s
                })
                .collect(),
        };
        inv.canonicalize();
        inv
    }
}

fn finish_interface(raw: RawInterface) -> DeviceInterface {
    let mut f = raw.iface;
    f.name = raw.if_name.unwrap_or_else(|| f.descr.clone());
    f.speed_bps = match (raw.high_speed_mbps, raw.if_speed) {
        (Some(h), _) if h > 0 => Some(h.saturating_mul(1_000_000)),
        (_, Some(s)) if s > 0 => Some(s),
        _ => None,
    };
    f
}

fn finish_storage(raw: RawStorage) -> DeviceStorage {
    let mut s = raw.storage;
    s.size_bytes = raw.size.saturating_mul(raw.units);
    s.used_bytes = raw.used.saturating_mul(raw.units);
    s
}

/// A single-arc table index.
fn single(idx: &[u32]) -> Option<u32> {
    match idx {
        [i] => Some(*i),
        _ => None,
    }
}

/// Text of an OCTET STRING, lossy, without the trailing NULs some agents send.
pub(crate) fn text(v: &Value) -> Option<String> {
    let b = v.as_bytes()?;
    Some(
        String::from_utf8_lossy(b)
            .trim_end_matches('\0')
            .trim()
            .to_owned(),
    )
}

/// Any integer-typed value, as i64.
pub(crate) fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Integer(i) => Some(i64::from(*i)),
        Value::Counter32(u) | Value::Gauge32(u) | Value::UInteger32(u) | Value::TimeTicks(u) => {
            Some(i64::from(*u))
        }
        Value::Counter64(u) => i64::try_from(*u).ok(),
        _ => None,
    }
}

/// An `Integer32` size that overflowed on a large filesystem, read back as
/// the unsigned number it wrapped from.
fn integer32_unsigned(v: &Value) -> u64 {
    match v {
        Value::Integer(i) => u64::from(i.cast_unsigned()),
        other => int(other).and_then(|i| u64::try_from(i).ok()).unwrap_or(0),
    }
}

/// Seconds of a TimeTicks value (hundredths).
fn ticks_seconds(v: &Value) -> u64 {
    match v {
        Value::TimeTicks(t) => u64::from(*t) / 100,
        _ => 0,
    }
}

/// `aa:bb:cc:dd:ee:ff`; `None` for an empty address.
pub(crate) fn mac(b: &[u8]) -> Option<String> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    let parts: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
    Some(parts.join(":"))
}

/// An IPv4 address from four index arcs.
fn ipv4_of(idx: &[u32]) -> Option<Ipv4Addr> {
    let [a, b, c, d] = idx else { return None };
    let o = |x: &u32| u8::try_from(*x).ok();
    Some(Ipv4Addr::new(o(a)?, o(b)?, o(c)?, o(d)?))
}

/// An `InetAddressType.InetAddress` index (type, length, octets); the zone
/// of the `z` types is dropped.
fn inet_address_of(idx: &[u32]) -> Option<IpAddr> {
    let (kind, rest) = idx.split_first()?;
    let (len, bytes) = rest.split_first()?;
    if usize::try_from(*len).ok()? != bytes.len() {
        return None;
    }
    let octets: Option<Vec<u8>> = bytes.iter().map(|b| u8::try_from(*b).ok()).collect();
    let octets = octets?;
    match (kind, octets.len()) {
        (1, 4) | (3, 8) => {
            let a: [u8; 4] = octets.get(..4)?.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(a)))
        }
        (2, 16) | (4, 20) => {
            let a: [u8; 16] = octets.get(..16)?.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(a)))
        }
        _ => None,
    }
}

/// Prefix length of a contiguous netmask.
fn netmask_len(mask: Ipv4Addr) -> Option<u8> {
    let m = u32::from(mask);
    let len = m.leading_ones();
    (m.checked_shl(len).unwrap_or(0) == 0).then(|| u8::try_from(len).ok())?
}

/// The prefix length at the end of an `ipAddressPrefix` row pointer
/// (`zeroDotZero` when the device does not know it).
fn prefix_of_pointer(o: &Oid) -> Option<u8> {
    if o.len() < 3 {
        return None;
    }
    o.arcs()
        .last()
        .and_then(|l| u8::try_from(*l).ok())
        .filter(|l| *l <= 128)
}

/// The storage kind of an `hrStorageType` OID.
fn storage_kind(v: &Value) -> StorageKind {
    v.as_oid()
        .and_then(|o| o.arcs().strip_prefix(oids::HR_STORAGE_TYPES))
        .and_then(|rest| match rest {
            [k] => Some(StorageKind::from_code(*k)),
            _ => None,
        })
        .unwrap_or(StorageKind::Other)
}

#[cfg(test)]
mod tests;
