//! Names for PCI and USB IDs from the system's `pci.ids` / `usb.ids`.
//!
//! The databases are over a megabyte and a host has a few dozen devices,
//! so the file is streamed once, looking only for the IDs asked for, and
//! the walk stops as soon as every one is found. Nothing is cached: the
//! inventory runs rarely and memory matters more than that one read.
//!
//! Format: `VVVV  Vendor` at the start of a line, `\tDDDD  Device` under
//! it, `\t\t` lines for subsystems (not needed); in `pci.ids` a class
//! section `C CC  Class` with `\tSS  Subclass` lines. `usb.ids` ends with
//! other sections (`AT`, `HID`, `L`…) that are skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};

use crate::root::Root;

/// Where distributions install `pci.ids`.
pub const PCI_IDS: &[&str] = &[
    "/usr/share/misc/pci.ids",
    "/usr/share/hwdata/pci.ids",
    "/usr/share/pci.ids",
];

/// Where distributions install `usb.ids`.
pub const USB_IDS: &[&str] = &[
    "/usr/share/misc/usb.ids",
    "/usr/share/hwdata/usb.ids",
    "/usr/share/usb.ids",
];

/// The IDs to look up.
#[derive(Debug, Default)]
pub struct Wanted {
    /// Vendor IDs.
    pub vendors: BTreeSet<u16>,
    /// (vendor, device) pairs.
    pub devices: BTreeSet<(u16, u16)>,
    /// Base class codes.
    pub classes: BTreeSet<u8>,
    /// (class, subclass) pairs.
    pub subclasses: BTreeSet<(u8, u8)>,
}

impl Wanted {
    fn len(&self) -> usize {
        self.vendors.len() + self.devices.len() + self.classes.len() + self.subclasses.len()
    }
}

/// The names found; an ID not in the database is absent.
#[derive(Debug, Default)]
pub struct Names {
    /// Vendor names.
    pub vendors: BTreeMap<u16, String>,
    /// Device names.
    pub devices: BTreeMap<(u16, u16), String>,
    /// Class names.
    pub classes: BTreeMap<u8, String>,
    /// Subclass names.
    pub subclasses: BTreeMap<(u8, u8), String>,
}

impl Names {
    fn len(&self) -> usize {
        self.vendors.len() + self.devices.len() + self.classes.len() + self.subclasses.len()
    }
}

/// Opens the first database of `candidates` that exists under `root` and
/// looks up `wanted`; `None` when there is no database.
pub fn lookup_file(root: &Root, candidates: &[&str], wanted: &Wanted) -> Option<Names> {
    candidates.iter().find_map(|path| {
        let file = std::fs::File::open(root.path(path)).ok()?;
        Some(lookup(BufReader::new(file), wanted))
    })
}

/// Where the walk is in the database.
enum Section {
    Vendor(u16),
    Class(u8),
    Other,
}

/// Streams an `*.ids` database and returns the names of `wanted`. A read
/// error ends the walk with what was found so far.
pub fn lookup(mut reader: impl BufRead, wanted: &Wanted) -> Names {
    let mut names = Names::default();
    let goal = wanted.len();
    let mut section = Section::Other;
    let mut line = Vec::with_capacity(128);
    while names.len() < goal {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.is_empty() || text.first() == Some(&b'#') {
            continue;
        }
        if let Some(rest) = text.strip_prefix(b"\t") {
            if rest.first() == Some(&b'\t') {
                continue; // subsystem or programming interface
            }
            match section {
                Section::Vendor(vendor) => {
                    if let Some((device, name)) = entry(rest, 4)
                        && wanted.devices.contains(&(vendor, device))
                    {
                        names.devices.insert((vendor, device), name);
                    }
                }
                Section::Class(class) => {
                    if let Some((sub, name)) = entry(rest, 2)
                        && let Ok(sub) = u8::try_from(sub)
                        && wanted.subclasses.contains(&(class, sub))
                    {
                        names.subclasses.insert((class, sub), name);
                    }
                }
                Section::Other => {}
            }
        } else if let Some((vendor, name)) = entry(text, 4) {
            section = Section::Vendor(vendor);
            if wanted.vendors.contains(&vendor) {
                names.vendors.insert(vendor, name);
            }
        } else if let Some(rest) = text.strip_prefix(b"C ")
            && let Some((class, name)) = entry(rest, 2)
            && let Ok(class) = u8::try_from(class)
        {
            section = Section::Class(class);
            if wanted.classes.contains(&class) {
                names.classes.insert(class, name);
            }
        } else {
            section = Section::Other;
        }
    }
    names
}

/// `XXXX  Name` with `digits` hex digits, then at least one space.
fn entry(text: &[u8], digits: usize) -> Option<(u16, String)> {
    let id = text.get(..digits)?;
    if !id.iter().all(u8::is_ascii_hexdigit) || text.get(digits) != Some(&b' ') {
        return None;
    }
    let id = u16::from_str_radix(std::str::from_utf8(id).ok()?, 16).ok()?;
    let name = String::from_utf8_lossy(text.get(digits..)?);
    let name = name.trim();
    (!name.is_empty()).then(|| (id, name.to_owned()))
}

/// Parses a sysfs hex ID (`0x8086` or `8086`).
pub fn hex_id(text: &str) -> Option<u32> {
    let text = text.trim();
    u32::from_str_radix(text.strip_prefix("0x").unwrap_or(text), 16).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    const PCI: &str = "#\n#\tList of PCI ID's\n#\n\
8086  Intel Corporation\n\
\t1237  440FX - 82441FX PMC [Natoma]\n\
\ta7a1  Raptor Lake-P [Iris Xe Graphics]\n\
\t\t1028 0c0f  Latitude 7440\n\
8087  Intel Corporation\n\
\t0033  AX211 Bluetooth\n\
\n\
# List of known device classes\n\
C 02  Network controller\n\
\t00  Ethernet controller\n\
C 03  Display controller\n\
\t00  VGA compatible controller\n\
\t\t00  VGA controller\n\
\t80  Display controller\n";

    #[test]
    fn vendors_devices_and_classes_are_found() {
        let mut wanted = Wanted::default();
        wanted.vendors.extend([0x8086, 0x10de]);
        wanted.devices.extend([(0x8086, 0xa7a1), (0x8086, 0x0033)]);
        wanted.classes.insert(3);
        wanted.subclasses.extend([(3, 0), (2, 0x80)]);
        let names = lookup(PCI.as_bytes(), &wanted);
        assert_eq!(names.vendors[&0x8086], "Intel Corporation");
        assert!(!names.vendors.contains_key(&0x10de));
        assert_eq!(
            names.devices[&(0x8086, 0xa7a1)],
            "Raptor Lake-P [Iris Xe Graphics]"
        );
        // 0033 is listed under 8087, not 8086.
        assert!(!names.devices.contains_key(&(0x8086, 0x0033)));
        assert_eq!(names.classes[&3], "Display controller");
        assert_eq!(names.subclasses[&(3, 0)], "VGA compatible controller");
        assert!(!names.subclasses.contains_key(&(2, 0x80)));
    }

    #[test]
    fn lookup_stops_when_everything_is_found() {
        let mut wanted = Wanted::default();
        wanted.vendors.insert(0x8086);
        // The rest of the input is not valid UTF-8 and would still parse,
        // but the walk must not need it.
        let text = [PCI.as_bytes(), b"\xff\xfe broken"].concat();
        let names = lookup(text.as_slice(), &wanted);
        assert_eq!(names.vendors.len(), 1);
    }

    #[test]
    fn sysfs_ids_parse_with_or_without_prefix() {
        assert_eq!(hex_id("0x8086\n"), Some(0x8086));
        assert_eq!(hex_id("1d6b"), Some(0x1d6b));
        assert_eq!(hex_id("zz"), None);
    }
}
