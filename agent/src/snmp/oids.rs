//! The MIB objects Atalaya polls, numerically (no MIB files are loaded).

use async_snmp::Oid;

/// `system` scalars (SNMPv2-MIB), instance `.0` appended.
pub const SYS_DESCR: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 1, 0];
/// `sysObjectID.0`.
pub const SYS_OBJECT_ID: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 2, 0];
/// `sysUpTime.0`.
pub const SYS_UP_TIME: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 3, 0];
/// `sysContact.0`.
pub const SYS_CONTACT: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 4, 0];
/// `sysName.0`.
pub const SYS_NAME: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 5, 0];
/// `sysLocation.0`.
pub const SYS_LOCATION: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 6, 0];

/// `ifEntry` (IF-MIB `ifTable`).
pub const IF_ENTRY: &[u32] = &[1, 3, 6, 1, 2, 1, 2, 2, 1];
/// `ifXEntry` (IF-MIB `ifXTable`).
pub const IFX_ENTRY: &[u32] = &[1, 3, 6, 1, 2, 1, 31, 1, 1, 1];
/// `ipAddrEntry` (IP-MIB, IPv4 only, deprecated but everywhere).
pub const IP_ADDR_ENTRY: &[u32] = &[1, 3, 6, 1, 2, 1, 4, 20, 1];
/// `ipAddressEntry` (IP-MIB, IPv4 and IPv6).
pub const IP_ADDRESS_ENTRY: &[u32] = &[1, 3, 6, 1, 2, 1, 4, 34, 1];
/// `entPhysicalEntry` (ENTITY-MIB).
pub const ENT_PHYSICAL_ENTRY: &[u32] = &[1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1];
/// `hrStorageEntry` (HOST-RESOURCES-MIB).
pub const HR_STORAGE_ENTRY: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 2, 3, 1];
/// `hrStorageTypes`, the parent of the storage type OIDs.
pub const HR_STORAGE_TYPES: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 2, 1];
/// `hrProcessorEntry` (HOST-RESOURCES-MIB).
pub const HR_PROCESSOR_ENTRY: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 3, 3, 1];
/// `prtMarkerSuppliesEntry` (Printer-MIB).
pub const PRT_SUPPLIES_ENTRY: &[u32] = &[1, 3, 6, 1, 2, 1, 43, 11, 1, 1];
/// `prtInputEntry` (Printer-MIB): the paper trays.
pub const PRT_INPUT_ENTRY: &[u32] = &[1, 3, 6, 1, 2, 1, 43, 8, 2, 1];

/// `lldpLocChassisIdSubtype` (LLDP-MIB), a scalar: walked as a column of one row.
pub const LLDP_LOC_CHASSIS_ID_SUBTYPE: &[u32] = &[1, 0, 8802, 1, 1, 2, 1, 3, 1];
/// `lldpLocChassisId`.
pub const LLDP_LOC_CHASSIS_ID: &[u32] = &[1, 0, 8802, 1, 1, 2, 1, 3, 2];
/// `lldpLocPortEntry`: the device's own LLDP ports, by `lldpLocPortNum`.
pub const LLDP_LOC_PORT_ENTRY: &[u32] = &[1, 0, 8802, 1, 1, 2, 1, 3, 7, 1];
/// `lldpRemEntry`: the remote systems, by time mark, local port number and index.
pub const LLDP_REM_ENTRY: &[u32] = &[1, 0, 8802, 1, 1, 2, 1, 4, 1, 1];
/// `lldpRemManAddrEntry`: the remote systems' management addresses.
pub const LLDP_REM_MAN_ADDR_ENTRY: &[u32] = &[1, 0, 8802, 1, 1, 2, 1, 4, 2, 1];
/// `cdpCacheEntry` (CISCO-CDP-MIB), by `ifIndex` and device index.
pub const CDP_CACHE_ENTRY: &[u32] = &[1, 3, 6, 1, 4, 1, 9, 9, 23, 1, 2, 1, 1];
/// `dot1dBasePortEntry` (BRIDGE-MIB): bridge port number → `ifIndex`.
pub const DOT1D_BASE_PORT_ENTRY: &[u32] = &[1, 3, 6, 1, 2, 1, 17, 1, 4, 1];

/// The OID of column `column` of table entry `entry`.
pub fn column(entry: &[u32], column: u32) -> Oid {
    let mut arcs = entry.to_vec();
    arcs.push(column);
    Oid::new(arcs)
}

/// The OIDs of several columns of one entry.
pub fn columns(entry: &[u32], cols: &[u32]) -> Vec<Oid> {
    cols.iter().map(|c| column(entry, *c)).collect()
}

/// The column number and index arcs of `oid` if it is under `entry`.
pub fn split<'a>(oid: &'a Oid, entry: &[u32]) -> Option<(u32, &'a [u32])> {
    let rest = oid.arcs().strip_prefix(entry)?;
    let (col, index) = rest.split_first()?;
    Some((*col, index))
}
