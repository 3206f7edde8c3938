//! System, board, BIOS and chassis identity from `/sys/class/dmi/id`.
//!
//! The kernel exposes the SMBIOS strings one per file. Serials and the UUID
//! are readable by root only, so a file that exists but cannot be read is a
//! gap, while a file that does not exist simply means the firmware left the
//! value out. Vendors fill unused strings with placeholders ("To Be Filled
//! By O.E.M.") that would make unrelated machines look alike; those become
//! `None` here so asset matching never keys on them.

use atalaya_common::model::{Bios, Board, Chassis, SystemInfo};

use crate::root::{Gaps, Root};

use super::SOURCE;

const DIR: &str = "/sys/class/dmi/id";

/// The four DMI parts of the hardware inventory.
#[derive(Debug, Default)]
pub struct Dmi {
    /// System information (type 1).
    pub system: SystemInfo,
    /// Base board (type 2).
    pub board: Board,
    /// Firmware (type 0).
    pub bios: Bios,
    /// Chassis (type 3).
    pub chassis: Chassis,
}

/// Reads `/sys/class/dmi/id`; its absence is one gap, not one per field.
pub fn collect(root: &Root, gaps: &mut Gaps) -> Dmi {
    if let Err(err) = root.list(DIR) {
        gaps.io(SOURCE, "dmi", DIR, &err);
        return Dmi::default();
    }
    let mut field = |name: &str| read_field(root, gaps, name);
    let system = SystemInfo {
        vendor: field("sys_vendor"),
        product: field("product_name"),
        version: field("product_version"),
        serial: field("product_serial"),
        uuid: field("product_uuid").and_then(|u| uuid(&u)),
        sku: field("product_sku"),
        family: field("product_family"),
    };
    let board = Board {
        vendor: field("board_vendor"),
        product: field("board_name"),
        version: field("board_version"),
        serial: field("board_serial"),
        asset_tag: field("board_asset_tag"),
    };
    let bios = Bios {
        vendor: field("bios_vendor"),
        version: field("bios_version"),
        date: field("bios_date"),
    };
    let chassis = Chassis {
        kind: field("chassis_type")
            .and_then(|t| t.parse::<u8>().ok())
            .and_then(chassis_type),
        vendor: field("chassis_vendor"),
        serial: field("chassis_serial"),
        asset_tag: field("chassis_asset_tag"),
    };
    Dmi {
        system,
        board,
        bios,
        chassis,
    }
}

/// One DMI file: missing is silent, unreadable is a gap, placeholders are `None`.
fn read_field(root: &Root, gaps: &mut Gaps, name: &str) -> Option<String> {
    let path = format!("{DIR}/{name}");
    match root.read(&path) {
        Ok(text) => meaningful(&text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => {
            gaps.io(SOURCE, &format!("dmi {name}"), &path, &err);
            None
        }
    }
}

/// The trimmed string, or `None` when it is empty or a vendor placeholder.
pub fn meaningful(text: &str) -> Option<String> {
    let text = text.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    if text.is_empty() || is_placeholder(text) {
        return None;
    }
    Some(text.to_owned())
}

/// Strings firmware writers leave in unused SMBIOS fields.
const PLACEHOLDERS: &[&str] = &[
    "to be filled by o.e.m.",
    "to be filled by oem",
    "default string",
    "not specified",
    "not applicable",
    "not available",
    "not present",
    "none",
    "n/a",
    "na",
    "unknown",
    "oem",
    "o.e.m.",
    "empty",
    "[empty]",
    "no dimm",
    "no module installed",
    "0123456789",
    "123456789",
    "1234567890",
    "system manufacturer",
    "system product name",
    "system version",
    "system serial number",
    "system sku",
    "base board serial number",
    "base board manufacturer",
    "chassis manufacturer",
    "chassis serial number",
    "chassis version",
    "asset-1234567890",
    "no asset tag",
    "type2 - board serial number",
    "type2 - board asset tag",
];

/// Whether `text` is a placeholder: a known phrase, or one repeated filler
/// character such as `00000000` or `FFFFFFFF` (dashes and spaces ignored).
pub fn is_placeholder(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    if PLACEHOLDERS.contains(&lower.as_str()) {
        return true;
    }
    let mut fill = lower.chars().filter(|c| !matches!(c, '-' | ' ' | ':'));
    match fill.next() {
        Some(first) if matches!(first, '0' | 'f' | 'x' | '.' | '*' | '#') => {
            fill.all(|c| c == first)
        }
        _ => false,
    }
}

/// The SMBIOS UUID in lower case, or `None` for the all-zero and all-F
/// values firmware uses when it has none.
pub fn uuid(text: &str) -> Option<String> {
    let text = meaningful(text)?.to_ascii_lowercase();
    let hex = text.chars().filter(|c| *c != '-');
    if hex.clone().count() != 32 || !hex.clone().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    Some(text)
}

/// The SMBIOS chassis type name (DSP0134 7.4.1); bit 7 is the lock flag.
pub fn chassis_type(code: u8) -> Option<String> {
    let name = match code & 0x7f {
        0x01 => "Other",
        0x02 => "Unknown",
        0x03 => "Desktop",
        0x04 => "Low Profile Desktop",
        0x05 => "Pizza Box",
        0x06 => "Mini Tower",
        0x07 => "Tower",
        0x08 => "Portable",
        0x09 => "Laptop",
        0x0a => "Notebook",
        0x0b => "Hand Held",
        0x0c => "Docking Station",
        0x0d => "All in One",
        0x0e => "Sub Notebook",
        0x0f => "Space-saving",
        0x10 => "Lunch Box",
        0x11 => "Main Server Chassis",
        0x12 => "Expansion Chassis",
        0x13 => "Sub Chassis",
        0x14 => "Bus Expansion Chassis",
        0x15 => "Peripheral Chassis",
        0x16 => "RAID Chassis",
        0x17 => "Rack Mount Chassis",
        0x18 => "Sealed-case PC",
        0x19 => "Multi-system Chassis",
        0x1a => "Compact PCI",
        0x1b => "Advanced TCA",
        0x1c => "Blade",
        0x1d => "Blade Enclosure",
        0x1e => "Tablet",
        0x1f => "Convertible",
        0x20 => "Detachable",
        0x21 => "IoT Gateway",
        0x22 => "Embedded PC",
        0x23 => "Mini PC",
        0x24 => "Stick PC",
        _ => return None,
    };
    Some(name.to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    #[test]
    fn chassis_types_map_to_smbios_names() {
        assert_eq!(chassis_type(3).as_deref(), Some("Desktop"));
        assert_eq!(chassis_type(9).as_deref(), Some("Laptop"));
        assert_eq!(chassis_type(10).as_deref(), Some("Notebook"));
        assert_eq!(chassis_type(17).as_deref(), Some("Main Server Chassis"));
        assert_eq!(chassis_type(23).as_deref(), Some("Rack Mount Chassis"));
        assert_eq!(chassis_type(1).as_deref(), Some("Other"));
        assert_eq!(chassis_type(0x80 | 10).as_deref(), Some("Notebook"));
        assert_eq!(chassis_type(0), None);
        assert_eq!(chassis_type(0x25), None);
    }

    #[test]
    fn placeholders_are_dropped() {
        for junk in [
            "To Be Filled By O.E.M.",
            "Default string",
            "Not Specified",
            "0123456789",
            "System Serial Number",
            "00000000",
            "FFFFFFFF",
            "  \n",
            "",
        ] {
            assert_eq!(meaningful(junk), None, "{junk:?}");
        }
        assert_eq!(meaningful(" Dell Inc.\n").as_deref(), Some("Dell Inc."));
        assert_eq!(meaningful("F00F").as_deref(), Some("F00F"));
        assert_eq!(meaningful("0").as_deref(), None);
        assert_eq!(meaningful("7XK8L93").as_deref(), Some("7XK8L93"));
    }

    #[test]
    fn uuids_are_lowercased_and_blank_ones_dropped() {
        assert_eq!(
            uuid("4C4C4544-0042-3510-8048-B7C04F4B3933\n").as_deref(),
            Some("4c4c4544-0042-3510-8048-b7c04f4b3933")
        );
        assert_eq!(uuid("00000000-0000-0000-0000-000000000000"), None);
        assert_eq!(uuid("FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF"), None);
        assert_eq!(uuid("not-a-uuid"), None);
    }

    #[test]
    fn unreadable_serial_is_a_gap_and_missing_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let id = dir.path().join("sys/class/dmi/id");
        std::fs::create_dir_all(&id).unwrap();
        std::fs::write(id.join("sys_vendor"), "LENOVO\n").unwrap();
        std::fs::write(id.join("chassis_type"), "23\n").unwrap();
        // A directory cannot be read as a file, even by root: it stands in
        // for the mode 0400 serial a normal user meets.
        std::fs::create_dir(id.join("product_serial")).unwrap();
        let mut gaps = Gaps::default();
        let dmi = collect(&Root::new(dir.path()), &mut gaps);
        assert_eq!(dmi.system.vendor.as_deref(), Some("LENOVO"));
        assert_eq!(dmi.system.serial, None);
        assert_eq!(dmi.chassis.kind.as_deref(), Some("Rack Mount Chassis"));
        assert_eq!(gaps.0.len(), 1, "{:?}", gaps.0);
        assert_eq!(gaps.0[0].item, "dmi product_serial");
    }

    #[test]
    fn missing_dmi_directory_is_one_gap() {
        let dir = tempfile::tempdir().unwrap();
        let mut gaps = Gaps::default();
        let dmi = collect(&Root::new(dir.path()), &mut gaps);
        assert_eq!(dmi.system.vendor, None);
        assert_eq!(gaps.0.len(), 1);
        assert!(gaps.0[0].reason.contains("not found"));
    }
}
