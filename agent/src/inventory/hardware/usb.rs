//! USB devices from `/sys/bus/usb/devices`.
//!
//! The directory mixes devices (`usb1`, `1-1.2`) with their interfaces
//! (`1-1.2:1.0`); only devices have `idVendor`. Most devices describe
//! themselves with strings; for those that do not, the vendor and product
//! names come from `usb.ids`.

use atalaya_common::model::UsbDevice;

use crate::root::{Gaps, Root};

use super::SOURCE;
use super::dmi::meaningful;
use super::ids::{self, Wanted, hex_id};

const DIR: &str = "/sys/bus/usb/devices";

/// Reads every USB device, hubs included.
pub fn collect(root: &Root, gaps: &mut Gaps) -> Vec<UsbDevice> {
    let Ok(ports) = root.list(DIR) else {
        return Vec::new();
    };
    let mut devices = Vec::new();
    for port in ports {
        let dir = format!("{DIR}/{port}");
        let Some(vendor) = root.value(format!("{dir}/idVendor")) else {
            continue;
        };
        let text = |file: &str| {
            root.read(format!("{dir}/{file}"))
                .ok()
                .and_then(|t| meaningful(&t))
        };
        devices.push(UsbDevice {
            vendor_id: vendor.to_ascii_lowercase(),
            product_id: root
                .value(format!("{dir}/idProduct"))
                .unwrap_or_default()
                .to_ascii_lowercase(),
            manufacturer: text("manufacturer"),
            product: text("product"),
            serial: text("serial"),
            // Raw values: `00` and `ff` are real classes, not placeholders.
            class: root
                .value(format!("{dir}/bDeviceClass"))
                .map(|c| c.to_ascii_lowercase()),
            speed_mbps: root
                .value(format!("{dir}/speed"))
                .as_deref()
                .and_then(speed_mbps),
            port,
        });
    }
    name(root, gaps, &mut devices);
    devices
}

/// `speed` is Mbit/s, `1.5` for low-speed devices, which rounds up to 2
/// so that a keyboard never shows as speed 0 or 1 like a broken link.
pub fn speed_mbps(text: &str) -> Option<u32> {
    match text.split_once('.') {
        Some((whole, frac)) => {
            let whole: u32 = whole.parse().ok()?;
            let up = frac.bytes().next().is_some_and(|d| d >= b'5');
            Some(whole + u32::from(up))
        }
        None => text.parse().ok(),
    }
}

/// Fills in names from `usb.ids` for devices that gave none.
fn name(root: &Root, gaps: &mut Gaps, devices: &mut [UsbDevice]) {
    let mut wanted = Wanted::default();
    for dev in devices.iter() {
        let (Some(vendor), Some(product)) = (id(&dev.vendor_id), id(&dev.product_id)) else {
            continue;
        };
        if dev.manufacturer.is_none() {
            wanted.vendors.insert(vendor);
        }
        if dev.product.is_none() {
            wanted.devices.insert((vendor, product));
        }
    }
    if wanted.vendors.is_empty() && wanted.devices.is_empty() {
        return;
    }
    let Some(names) = ids::lookup_file(root, ids::USB_IDS, &wanted) else {
        gaps.note(
            SOURCE,
            "usb names",
            format!("no usb.ids in {}", ids::USB_IDS.join(", ")),
        );
        return;
    };
    for dev in devices {
        let (Some(vendor), Some(product)) = (id(&dev.vendor_id), id(&dev.product_id)) else {
            continue;
        };
        if dev.manufacturer.is_none() {
            dev.manufacturer = names.vendors.get(&vendor).cloned();
        }
        if dev.product.is_none() {
            dev.product = names.devices.get(&(vendor, product)).cloned();
        }
    }
}

fn id(text: &str) -> Option<u16> {
    u16::try_from(hex_id(text)?).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    #[test]
    fn speeds_are_whole_mbits() {
        assert_eq!(speed_mbps("480"), Some(480));
        assert_eq!(speed_mbps("5000"), Some(5000));
        assert_eq!(speed_mbps("1.5"), Some(2));
        assert_eq!(speed_mbps("12"), Some(12));
        assert_eq!(speed_mbps("fast"), None);
    }
}
