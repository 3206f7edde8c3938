//! PCI devices from `/sys/bus/pci/devices`, named from `pci.ids`.
//!
//! Each device directory holds its IDs as `0x…` files and a `driver` link
//! to the bound driver. Names are looked up in one pass over `pci.ids`
//! after all devices are read, so the database is streamed once.

use atalaya_common::model::PciDevice;

use crate::root::{Gaps, Root};

use super::SOURCE;
use super::ids::{self, Wanted, hex_id};

const DIR: &str = "/sys/bus/pci/devices";

/// Reads every PCI device; a machine without a PCI bus has none.
pub fn collect(root: &Root, gaps: &mut Gaps) -> Vec<PciDevice> {
    let Ok(addresses) = root.list(DIR) else {
        return Vec::new();
    };
    let mut devices: Vec<PciDevice> = addresses
        .into_iter()
        .filter_map(|address| device(root, gaps, address))
        .collect();
    name(root, gaps, &mut devices);
    devices
}

/// One device, or `None` (and a gap) when its IDs cannot be read.
fn device(root: &Root, gaps: &mut Gaps, address: String) -> Option<PciDevice> {
    let dir = format!("{DIR}/{address}");
    let id = |file: &str, digits: usize| {
        let value = hex_id(&root.value(format!("{dir}/{file}"))?)?;
        Some(format!("{value:0digits$x}"))
    };
    let (Some(class), Some(vendor_id), Some(device_id)) =
        (id("class", 6), id("vendor", 4), id("device", 4))
    else {
        gaps.note(
            SOURCE,
            &format!("pci {address}"),
            format!("{dir}: class, vendor or device unreadable"),
        );
        return None;
    };
    Some(PciDevice {
        class,
        class_name: None,
        vendor_id,
        device_id,
        vendor_name: None,
        device_name: None,
        subsystem_vendor_id: id("subsystem_vendor", 4),
        subsystem_device_id: id("subsystem_device", 4),
        revision: id("revision", 2),
        driver: root.link_name(format!("{dir}/driver")),
        address,
    })
}

/// Fills in names from `pci.ids`; a missing database is one gap.
fn name(root: &Root, gaps: &mut Gaps, devices: &mut [PciDevice]) {
    if devices.is_empty() {
        return;
    }
    let keys: Vec<_> = devices.iter().map(keys).collect();
    let mut wanted = Wanted::default();
    for k in keys.iter().flatten() {
        wanted.vendors.insert(k.vendor);
        wanted.devices.insert((k.vendor, k.device));
        wanted.classes.insert(k.class);
        wanted.subclasses.insert((k.class, k.subclass));
    }
    let Some(names) = ids::lookup_file(root, ids::PCI_IDS, &wanted) else {
        gaps.note(
            SOURCE,
            "pci names",
            format!("no pci.ids in {}", ids::PCI_IDS.join(", ")),
        );
        return;
    };
    for (dev, k) in devices.iter_mut().zip(&keys) {
        let Some(k) = k else { continue };
        dev.vendor_name = names.vendors.get(&k.vendor).cloned();
        dev.device_name = names.devices.get(&(k.vendor, k.device)).cloned();
        dev.class_name = names
            .subclasses
            .get(&(k.class, k.subclass))
            .or_else(|| names.classes.get(&k.class))
            .cloned();
    }
}

/// The numeric IDs of a device, for the lookup.
struct Keys {
    vendor: u16,
    device: u16,
    class: u8,
    subclass: u8,
}

fn keys(dev: &PciDevice) -> Option<Keys> {
    let class = hex_id(&dev.class)?;
    Some(Keys {
        vendor: u16::try_from(hex_id(&dev.vendor_id)?).ok()?,
        device: u16::try_from(hex_id(&dev.device_id)?).ok()?,
        class: u8::try_from((class >> 16) & 0xff).ok()?,
        subclass: u8::try_from((class >> 8) & 0xff).ok()?,
    })
}
