//! A device's neighbours: LLDP-MIB and CISCO-CDP-MIB, walked, decoded, and
//! each remote entry tied to the local interface it was seen on.
//!
//! One multi-column walk reads the device's own LLDP chassis id, its LLDP
//! ports, its LLDP remote table and its CDP cache together, so a device
//! with neither protocol costs one request (the first answer is already
//! past every column). Only when LLDP has remote entries is a second walk
//! made, for their management addresses and the BRIDGE-MIB port table.
//! [`NeighbourTables::parse`] and [`NeighbourTables::neighbours`] take any
//! bindings without I/O; a binding of an unexpected type or index is skipped.
//!
//! # Local port mapping
//! LLDP names the local end of a link by `lldpRemLocalPortNum`, which is
//! often a bridge port number rather than an `ifIndex`. It is mapped to an
//! interface by the first of these rules that names exactly one interface:
//! 1. the port's `lldpLocPortId`: with subtype interfaceName (5) or local
//!    (7), equal to an `ifName`, else an `ifDescr`, else an `ifAlias`; with
//!    subtype interfaceAlias (1), equal to an `ifAlias`; with subtype
//!    macAddress (3), equal to an interface's MAC address;
//! 2. the port's `lldpLocPortDesc`, equal to an `ifDescr`, else an `ifName`;
//! 3. BRIDGE-MIB `dot1dBasePortIfIndex` of the port number, when the device
//!    has it and that interface exists;
//! 4. the port number itself, when an interface has it as its `ifIndex`.
//!
//! A port no rule maps is kept, unmapped, with its port id as text. CDP's
//! `cdpCacheIfIndex` is an `ifIndex` by definition.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use async_snmp::{Oid, Value, VarBind};
use atalaya_common::model::{DeviceInterface, IdKind, Neighbour, NeighbourProtocol, PeerId};

use super::inventory::{int, mac, text};
use super::oids::{self, split};
use super::walk::{SnmpSource, WalkError, WalkLimits, WalkState, walk_columns_into};

/// `lldpLocPortEntry` columns: port id subtype, port id, port description.
const LOC_PORT_COLUMNS: &[u32] = &[2, 3, 4];
/// `lldpRemEntry` columns: chassis id subtype and id, port id subtype and
/// id, port description, system name and description, capabilities
/// supported and enabled.
const REM_COLUMNS: &[u32] = &[4, 5, 6, 7, 8, 9, 10, 12];
/// `cdpCacheEntry` columns: address type, address, device id, device port,
/// platform, capabilities.
const CDP_COLUMNS: &[u32] = &[3, 4, 6, 7, 8, 9];

/// The columns of the first walk: everything a device without LLDP or CDP
/// answers in one request.
pub fn first_columns() -> Vec<Oid> {
    [
        vec![
            Oid::from_slice(oids::LLDP_LOC_CHASSIS_ID_SUBTYPE),
            Oid::from_slice(oids::LLDP_LOC_CHASSIS_ID),
        ],
        oids::columns(oids::LLDP_LOC_PORT_ENTRY, LOC_PORT_COLUMNS),
        oids::columns(oids::LLDP_REM_ENTRY, REM_COLUMNS),
        oids::columns(oids::CDP_CACHE_ENTRY, CDP_COLUMNS),
    ]
    .concat()
}

/// The columns of the second walk, made only when LLDP has remote entries:
/// `lldpRemManAddrIfSubtype` (its index holds the address) and
/// `dot1dBasePortIfIndex`.
pub fn second_columns() -> Vec<Oid> {
    vec![
        oids::column(oids::LLDP_REM_MAN_ADDR_ENTRY, 3),
        oids::column(oids::DOT1D_BASE_PORT_ENTRY, 2),
    ]
}

/// Walks the neighbour tables of a device, reading each answer into the
/// tables as it comes.
pub async fn walk<S: SnmpSource>(
    source: &S,
    state: &mut WalkState,
    limits: WalkLimits,
) -> Result<NeighbourTables, WalkError> {
    let mut tables = NeighbourTables::default();
    walk_columns_into(source, state, limits, &first_columns(), |vb| {
        tables.take_binding(&vb);
    })
    .await?;
    if !tables.remotes.is_empty() {
        walk_columns_into(source, state, limits, &second_columns(), |vb| {
            tables.take_binding(&vb);
        })
        .await?;
    }
    Ok(tables)
}

/// The device's own LLDP chassis id and its neighbours, as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NeighbourList {
    /// `lldpLocChassisId`, decoded by its subtype.
    pub chassis_id: Option<PeerId>,
    /// Every neighbour, sorted.
    pub neighbours: Vec<Neighbour>,
}

/// One row of `lldpLocPortTable`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct LocalPort {
    subtype: Option<i64>,
    id: Vec<u8>,
    descr: String,
}

/// One row of `lldpRemTable`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Remote {
    chassis_subtype: i64,
    chassis_id: Vec<u8>,
    port_subtype: i64,
    port_id: Vec<u8>,
    port_descr: String,
    sys_name: String,
    sys_descr: String,
    capabilities: Vec<u8>,
}

/// One row of `cdpCacheTable`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct CdpEntry {
    address_type: Option<i64>,
    address: Vec<u8>,
    device_id: String,
    device_port: String,
    platform: String,
    capabilities: Vec<u8>,
}

/// What the neighbour walks brought back, by table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NeighbourTables {
    chassis_subtype: Option<i64>,
    chassis_id: Option<Vec<u8>>,
    local_ports: BTreeMap<u32, LocalPort>,
    /// By local port number, remote index and time mark: the row of the
    /// latest time mark wins.
    remotes: BTreeMap<(u32, u32, u32), Remote>,
    /// By local port number and remote index.
    addresses: BTreeMap<(u32, u32), Vec<IpAddr>>,
    cdp: BTreeMap<(u32, u32), CdpEntry>,
    bridge_ports: BTreeMap<u32, u32>,
}

/// How a local LLDP port was mapped to an interface (the rule that did it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortMatch {
    /// Rule 1: its `lldpLocPortId`.
    PortId,
    /// Rule 2: its `lldpLocPortDesc`.
    PortDescr,
    /// Rule 3: BRIDGE-MIB `dot1dBasePortIfIndex`.
    BridgePort,
    /// Rule 4: the port number is an `ifIndex`.
    IfIndex,
}

impl NeighbourTables {
    /// The tables in `bindings`, in any order.
    pub fn parse(bindings: &[VarBind]) -> NeighbourTables {
        let mut t = NeighbourTables::default();
        t.take_all(bindings);
        t
    }

    /// Whether the device has LLDP remote entries.
    pub fn has_lldp_remotes(&self) -> bool {
        !self.remotes.is_empty()
    }

    fn take_all(&mut self, bindings: &[VarBind]) {
        for vb in bindings {
            self.take_binding(vb);
        }
    }

    fn take_binding(&mut self, vb: &VarBind) {
        if !vb.value.is_exception() {
            self.take(&vb.oid, &vb.value);
        }
    }

    fn take(&mut self, oid: &Oid, v: &Value) {
        let scalar = |object: &[u32]| oid.arcs().strip_prefix(object) == Some(&[0][..]);
        if scalar(oids::LLDP_LOC_CHASSIS_ID_SUBTYPE) {
            self.chassis_subtype = int(v);
        } else if scalar(oids::LLDP_LOC_CHASSIS_ID) {
            self.chassis_id = v.as_bytes().map(<[u8]>::to_vec);
        } else if let Some((col, [port])) = split(oid, oids::LLDP_LOC_PORT_ENTRY) {
            let p = self.local_ports.entry(*port).or_default();
            match col {
                2 => p.subtype = int(v),
                3 => p.id = bytes(v),
                4 => p.descr = text(v).unwrap_or_default(),
                _ => {}
            }
        } else if let Some((col, [mark, port, index])) = split(oid, oids::LLDP_REM_ENTRY) {
            let r = self.remotes.entry((*port, *index, *mark)).or_default();
            match col {
                4 => r.chassis_subtype = int(v).unwrap_or(0),
                5 => r.chassis_id = bytes(v),
                6 => r.port_subtype = int(v).unwrap_or(0),
                7 => r.port_id = bytes(v),
                8 => r.port_descr = text(v).unwrap_or_default(),
                9 => r.sys_name = text(v).unwrap_or_default(),
                10 => r.sys_descr = first_line(v),
                12 => r.capabilities = bytes(v),
                _ => {}
            }
        } else if let Some((3, [_mark, port, index, addr @ ..])) =
            split(oid, oids::LLDP_REM_MAN_ADDR_ENTRY)
        {
            if let Some(ip) = indexed_address(addr) {
                let list = self.addresses.entry((*port, *index)).or_default();
                if !list.contains(&ip) {
                    list.push(ip);
                }
            }
        } else if let Some((col, [if_index, device])) = split(oid, oids::CDP_CACHE_ENTRY) {
            let c = self.cdp.entry((*if_index, *device)).or_default();
            match col {
                3 => c.address_type = int(v),
                4 => c.address = bytes(v),
                6 => c.device_id = text(v).unwrap_or_default(),
                7 => c.device_port = text(v).unwrap_or_default(),
                8 => c.platform = first_line(v),
                9 => c.capabilities = bytes(v),
                _ => {}
            }
        } else if let Some((2, [port])) = split(oid, oids::DOT1D_BASE_PORT_ENTRY)
            && let Some(if_index) = int(v).and_then(|i| u32::try_from(i).ok())
        {
            self.bridge_ports.insert(*port, if_index);
        }
    }

    /// The interface LLDP port `port` is, and the rule that said so (see
    /// the module's port mapping rule); `None` when no rule names exactly
    /// one of `interfaces`.
    pub fn map_local_port<'i>(
        &self,
        port: u32,
        interfaces: &'i [DeviceInterface],
    ) -> Option<(&'i DeviceInterface, PortMatch)> {
        let local = self.local_ports.get(&port);
        if let Some(local) = local {
            if let Some(i) = by_port_id(local, interfaces) {
                return Some((i, PortMatch::PortId));
            }
            if !local.descr.is_empty() {
                let d = local.descr.as_str();
                if let Some(i) =
                    only(interfaces, |i| i.descr == d).or_else(|| only(interfaces, |i| i.name == d))
                {
                    return Some((i, PortMatch::PortDescr));
                }
            }
        }
        if let Some(&if_index) = self.bridge_ports.get(&port)
            && let Some(i) = only(interfaces, |i| i.if_index == if_index)
        {
            return Some((i, PortMatch::BridgePort));
        }
        only(interfaces, |i| i.if_index == port).map(|i| (i, PortMatch::IfIndex))
    }

    /// The neighbours, with their local ports mapped to `interfaces`.
    pub fn neighbours(&self, interfaces: &[DeviceInterface]) -> NeighbourList {
        let chassis_id = self.chassis_id.as_ref().map(|id| {
            let kind = IdKind::of_chassis_subtype(self.chassis_subtype.unwrap_or(0));
            PeerId {
                kind,
                value: decode_id(kind, id),
            }
        });
        let mut latest: BTreeMap<(u32, u32), &Remote> = BTreeMap::new();
        for ((port, index, _mark), r) in &self.remotes {
            // Sorted by time mark within a port and index: the last is newest.
            latest.insert((*port, *index), r);
        }
        let mut neighbours: Vec<Neighbour> = latest
            .into_iter()
            .map(|((port, index), r)| self.lldp_neighbour(port, index, r, interfaces))
            .collect();
        neighbours.extend(
            self.cdp
                .iter()
                .map(|((if_index, _), c)| cdp_neighbour(*if_index, c, interfaces)),
        );
        neighbours.sort();
        neighbours.dedup();
        NeighbourList {
            chassis_id,
            neighbours,
        }
    }

    fn lldp_neighbour(
        &self,
        port: u32,
        index: u32,
        r: &Remote,
        interfaces: &[DeviceInterface],
    ) -> Neighbour {
        let mapped = self.map_local_port(port, interfaces).map(|(i, _)| i);
        let chassis_kind = IdKind::of_chassis_subtype(r.chassis_subtype);
        let port_kind = IdKind::of_port_subtype(r.port_subtype);
        let addresses = self.addresses.get(&(port, index));
        Neighbour {
            local_if_index: mapped.map(|i| i.if_index),
            local_if_name: mapped.map(|i| i.name.clone()),
            local_port: self.local_port_text(port),
            protocol: NeighbourProtocol::Lldp,
            chassis_id: PeerId {
                kind: chassis_kind,
                value: decode_id(chassis_kind, &r.chassis_id),
            },
            port_id: PeerId {
                kind: port_kind,
                value: decode_id(port_kind, &r.port_id),
            },
            port_descr: r.port_descr.clone(),
            sys_name: r.sys_name.clone(),
            platform: r.sys_descr.clone(),
            management_address: addresses.and_then(|a| preferred_address(a)),
            capabilities: lldp_capabilities(&r.capabilities),
        }
    }

    /// The local port as the device names it: its port id, else its
    /// description, else its number.
    fn local_port_text(&self, port: u32) -> String {
        let Some(local) = self.local_ports.get(&port) else {
            return port.to_string();
        };
        if !local.id.is_empty() {
            let kind = IdKind::of_port_subtype(local.subtype.unwrap_or(0));
            return decode_id(kind, &local.id);
        }
        if !local.descr.is_empty() {
            return local.descr.clone();
        }
        port.to_string()
    }
}

/// Rule 1: the interface a local port id names.
fn by_port_id<'i>(
    local: &LocalPort,
    interfaces: &'i [DeviceInterface],
) -> Option<&'i DeviceInterface> {
    match local.subtype {
        Some(5 | 7) => {
            let id = String::from_utf8_lossy(&local.id);
            let id = id.trim_end_matches('\0').trim();
            if id.is_empty() {
                return None;
            }
            only(interfaces, |i| i.name == id)
                .or_else(|| only(interfaces, |i| i.descr == id))
                .or_else(|| only(interfaces, |i| i.alias == id))
        }
        Some(1) => {
            let id = String::from_utf8_lossy(&local.id);
            let id = id.trim_end_matches('\0').trim();
            (!id.is_empty())
                .then(|| only(interfaces, |i| i.alias == id))
                .flatten()
        }
        Some(3) => {
            let m = mac(&local.id)?;
            only(interfaces, |i| i.mac.as_deref() == Some(m.as_str()))
        }
        _ => None,
    }
}

/// The one interface matching `pred`; `None` for none or several.
fn only(
    interfaces: &[DeviceInterface],
    pred: impl Fn(&DeviceInterface) -> bool,
) -> Option<&DeviceInterface> {
    let mut found = interfaces.iter().filter(|i| pred(i));
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

fn cdp_neighbour(if_index: u32, c: &CdpEntry, interfaces: &[DeviceInterface]) -> Neighbour {
    let local = only(interfaces, |i| i.if_index == if_index);
    let address = match (c.address_type, c.address.as_slice()) {
        // CDP address type 1 is IP.
        (Some(1), [a, b, cc, d]) => Some(Ipv4Addr::new(*a, *b, *cc, *d).to_string()),
        _ => None,
    };
    Neighbour {
        local_if_index: local.map(|i| i.if_index),
        local_if_name: local.map(|i| i.name.clone()),
        local_port: local.map_or_else(|| if_index.to_string(), |i| i.name.clone()),
        protocol: NeighbourProtocol::Cdp,
        chassis_id: PeerId {
            kind: IdKind::Local,
            value: c.device_id.clone(),
        },
        port_id: PeerId {
            kind: IdKind::InterfaceName,
            value: c.device_port.clone(),
        },
        port_descr: String::new(),
        sys_name: c.device_id.clone(),
        platform: c.platform.clone(),
        management_address: address,
        capabilities: cdp_capabilities(&c.capabilities),
    }
}

/// An id's text by its kind: a MAC as `aa:bb:cc:dd:ee:ff`, a network
/// address (IANA family byte, then the address) as an IP address, anything
/// else as text when it is printable, else as hex octets.
pub fn decode_id(kind: IdKind, bytes: &[u8]) -> String {
    match kind {
        IdKind::MacAddress if bytes.len() == 6 => mac(bytes).unwrap_or_default(),
        IdKind::NetworkAddress => match bytes {
            [1, a, b, c, d] => Ipv4Addr::new(*a, *b, *c, *d).to_string(),
            [2, rest @ ..] if rest.len() == 16 => {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(rest);
                Ipv6Addr::from(octets).to_string()
            }
            _ => hex(bytes),
        },
        _ => printable(bytes).unwrap_or_else(|| hex(bytes)),
    }
}

/// The text of `bytes` if it is UTF-8 with no control characters (trailing
/// NULs dropped).
fn printable(bytes: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(bytes).ok()?.trim_end_matches('\0');
    (!s.chars().any(char::is_control)).then(|| s.trim().to_owned())
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn bytes(v: &Value) -> Vec<u8> {
    v.as_bytes().map(<[u8]>::to_vec).unwrap_or_default()
}

fn first_line(v: &Value) -> String {
    text(v)
        .and_then(|t| t.lines().next().map(|l| l.trim().to_owned()))
        .unwrap_or_default()
}

/// The address in an `lldpRemManAddrSubtype.lldpRemManAddr` index part:
/// IANA family (1 IPv4, 2 IPv6), length, octets.
fn indexed_address(arcs: &[u32]) -> Option<IpAddr> {
    let (family, rest) = arcs.split_first()?;
    let (len, octets) = rest.split_first()?;
    if usize::try_from(*len).ok()? != octets.len() {
        return None;
    }
    let octets: Vec<u8> = octets
        .iter()
        .map(|o| u8::try_from(*o).ok())
        .collect::<Option<_>>()?;
    match (family, octets.len()) {
        (1, 4) => {
            let a: [u8; 4] = octets.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(a)))
        }
        (2, 16) => {
            let a: [u8; 16] = octets.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(a)))
        }
        _ => None,
    }
}

/// The first IPv4 address, else the first IPv6 one that is not link-local.
fn preferred_address(list: &[IpAddr]) -> Option<String> {
    list.iter()
        .find(|a| a.is_ipv4())
        .or_else(|| {
            list.iter().find(|a| match a {
                IpAddr::V6(v6) => !v6.is_unicast_link_local(),
                IpAddr::V4(_) => false,
            })
        })
        .map(ToString::to_string)
}

/// The names of the bits set in an `LldpSystemCapabilitiesMap` (BITS: bit
/// 0 is the high bit of the first octet).
fn lldp_capabilities(bits: &[u8]) -> Vec<String> {
    const NAMES: [&str; 11] = [
        "other",
        "repeater",
        "bridge",
        "wlan_access_point",
        "router",
        "telephone",
        "docsis_cable_device",
        "station",
        "customer_vlan",
        "service_vlan",
        "two_port_mac_relay",
    ];
    NAMES
        .iter()
        .enumerate()
        .filter(|(n, _)| bits.get(n / 8).is_some_and(|b| b & (0x80 >> (n % 8)) != 0))
        .map(|(_, name)| (*name).to_owned())
        .collect()
}

/// The names of the bits set in `cdpCacheCapabilities` (a 32-bit mask in
/// network order, bit 0 the lowest).
fn cdp_capabilities(bits: &[u8]) -> Vec<String> {
    const NAMES: [&str; 11] = [
        "router",
        "transparent_bridge",
        "source_route_bridge",
        "switch",
        "host",
        "igmp",
        "repeater",
        "phone",
        "remotely_managed",
        "cvta",
        "two_port_mac_relay",
    ];
    let mut mask = 0u32;
    for b in bits.iter().take(4) {
        mask = (mask << 8) | u32::from(*b);
    }
    NAMES
        .iter()
        .enumerate()
        .filter(|(n, _)| mask & (1 << n) != 0)
        .map(|(_, name)| (*name).to_owned())
        .collect()
}

#[cfg(test)]
mod tests;
