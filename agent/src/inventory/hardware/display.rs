//! Display adapters (PCI class 03) and connected monitors (EDID).
//!
//! Monitors are read from the EDID the kernel caches per DRM connector
//! (`/sys/class/drm/card0-DP-1/edid`). Only the 128-byte base block is
//! parsed (EDID 1.3/1.4): it holds the PNP manufacturer, product code,
//! serial, year, size and the name and serial descriptors. A block with a
//! bad checksum is a gap: the monitor is there but cannot be trusted.

use atalaya_common::model::{Gpu, Monitor, PciDevice};

use crate::root::{Gaps, Root};

use super::SOURCE;

const DRM: &str = "/sys/class/drm";
const HEADER: [u8; 8] = [0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00];

/// The display adapters among the PCI devices.
pub fn gpus(pci: &[PciDevice]) -> Vec<Gpu> {
    pci.iter()
        .filter(|d| d.class.starts_with("03"))
        .map(|d| Gpu {
            pci_address: d.address.clone(),
            vendor: d.vendor_name.clone().or_else(|| Some(d.vendor_id.clone())),
            model: d.device_name.clone().or_else(|| Some(d.device_id.clone())),
            driver: d.driver.clone(),
        })
        .collect()
}

/// Reads the monitors on connected DRM connectors.
pub fn monitors(root: &Root, gaps: &mut Gaps) -> Vec<Monitor> {
    let Ok(entries) = root.list(DRM) else {
        return Vec::new();
    };
    let mut monitors = Vec::new();
    // Connectors are `cardN-TYPE-M`; `cardN` and `renderD128` are devices.
    for connector in entries.into_iter().filter(|e| e.contains('-')) {
        let dir = format!("{DRM}/{connector}");
        if root.value(format!("{dir}/status")).as_deref() != Some("connected") {
            continue;
        }
        let path = format!("{dir}/edid");
        let edid = match root.read_bytes(&path) {
            Ok(bytes) if bytes.is_empty() => continue,
            Ok(bytes) => bytes,
            Err(err) => {
                gaps.io(SOURCE, &format!("monitor {connector}"), &path, &err);
                continue;
            }
        };
        match parse_edid(&edid) {
            Ok(mut monitor) => {
                monitor.connector = connector;
                monitors.push(monitor);
            }
            Err(why) => gaps.note(
                SOURCE,
                &format!("monitor {connector}"),
                format!("{path}: {why}"),
            ),
        }
    }
    monitors
}

/// Why an EDID blob was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EdidError {
    /// Fewer than 128 bytes.
    #[error("EDID too short ({0} bytes)")]
    Short(usize),
    /// The 8-byte header is wrong.
    #[error("not an EDID (bad header)")]
    Header,
    /// The base block does not sum to zero.
    #[error("bad EDID checksum")]
    Checksum,
}

/// Parses the EDID base block; `connector` is left empty for the caller.
pub fn parse_edid(edid: &[u8]) -> Result<Monitor, EdidError> {
    let base: &[u8; 128] = edid
        .get(..128)
        .and_then(|b| b.try_into().ok())
        .ok_or(EdidError::Short(edid.len()))?;
    if base[..8] != HEADER {
        return Err(EdidError::Header);
    }
    if base.iter().fold(0u8, |sum, b| sum.wrapping_add(*b)) != 0 {
        return Err(EdidError::Checksum);
    }
    let mut monitor = Monitor {
        manufacturer: pnp_id(u16::from_be_bytes([base[8], base[9]])),
        product_code: Some(format!("{:04x}", u16::from_le_bytes([base[10], base[11]]))),
        year: (base[17] != 0).then(|| 1990 + u16::from(base[17])),
        width_cm: (base[21] != 0).then_some(base[21]),
        height_cm: (base[22] != 0).then_some(base[22]),
        ..Monitor::default()
    };
    // Laptop panels rarely have a name (0xFC) but carry their part number
    // in the last unspecified-text (0xFE) descriptor; that is the model then.
    let mut part = None;
    for descriptor in base[54..126].chunks_exact(18) {
        // Display descriptors start with three zero bytes, then the tag.
        if descriptor[..3] != [0, 0, 0] {
            continue;
        }
        let text = descriptor_text(&descriptor[5..]);
        match descriptor[3] {
            0xfc => monitor.model = text,
            0xfe if text.is_some() => part = text,
            0xff => monitor.serial = text,
            _ => {}
        }
    }
    monitor.model = monitor.model.or(part);
    if monitor.serial.is_none() {
        let serial = u32::from_le_bytes([base[12], base[13], base[14], base[15]]);
        monitor.serial = (serial != 0).then(|| serial.to_string());
    }
    Ok(monitor)
}

/// Three letters of five bits each, `1` = `A`.
fn pnp_id(word: u16) -> Option<String> {
    [10u16, 5, 0]
        .iter()
        .map(|shift| match (word >> shift) & 0x1f {
            v @ 1..=26 => Some(char::from(b'A' + (v as u8) - 1)),
            _ => None,
        })
        .collect()
}

/// Descriptor text ends at a line feed and is padded with spaces.
fn descriptor_text(bytes: &[u8]) -> Option<String> {
    let end = bytes
        .iter()
        .position(|b| *b == b'\n')
        .unwrap_or(bytes.len());
    let text = String::from_utf8_lossy(&bytes[..end]);
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    /// A DELL P2422H-like base block with a valid checksum.
    fn edid() -> Vec<u8> {
        let mut e = vec![0u8; 128];
        e[..8].copy_from_slice(&HEADER);
        e[8..10].copy_from_slice(&0x10acu16.to_be_bytes()); // DEL
        e[10..12].copy_from_slice(&0x41b4u16.to_le_bytes());
        e[12..16].copy_from_slice(&0x4c4c_3033u32.to_le_bytes());
        e[17] = 32; // 2022
        e[18] = 1;
        e[19] = 4;
        e[21] = 53;
        e[22] = 30;
        let name = [
            0, 0, 0, 0xfc, 0, b'D', b'E', b'L', b'L', b' ', b'P', b'2', b'4', b'2', b'2', b'H',
            b'\n', b' ',
        ];
        e[72..90].copy_from_slice(&name);
        let serial = [
            0, 0, 0, 0xff, 0, b'7', b'X', b'K', b'8', b'L', b'9', b'3', b'\n', b' ', b' ', b' ',
            b' ', b' ',
        ];
        e[90..108].copy_from_slice(&serial);
        fix_checksum(&mut e);
        e
    }

    fn fix_checksum(e: &mut [u8]) {
        let sum = e[..127].iter().fold(0u8, |s, b| s.wrapping_add(*b));
        e[127] = 0u8.wrapping_sub(sum);
    }

    #[test]
    fn base_block_fields_are_read() {
        let m = parse_edid(&edid()).unwrap();
        assert_eq!(m.manufacturer.as_deref(), Some("DEL"));
        assert_eq!(m.product_code.as_deref(), Some("41b4"));
        assert_eq!(m.model.as_deref(), Some("DELL P2422H"));
        assert_eq!(m.serial.as_deref(), Some("7XK8L93"));
        assert_eq!(m.year, Some(2022));
        assert_eq!((m.width_cm, m.height_cm), (Some(53), Some(30)));
    }

    #[test]
    fn numeric_serial_is_used_without_a_serial_descriptor() {
        let mut e = edid();
        e[93] = 0x10; // turn the serial descriptor into "dummy"
        fix_checksum(&mut e);
        let m = parse_edid(&e).unwrap();
        assert_eq!(m.serial.as_deref(), Some("1280061491"));
    }

    #[test]
    fn bad_checksum_short_and_foreign_blobs_are_rejected() {
        let mut e = edid();
        e[20] ^= 1;
        assert_eq!(parse_edid(&e), Err(EdidError::Checksum));
        assert_eq!(parse_edid(&edid()[..100]), Err(EdidError::Short(100)));
        let mut e = edid();
        e[0] = 1;
        assert_eq!(parse_edid(&e), Err(EdidError::Header));
        for end in 0..128 {
            assert!(parse_edid(&edid()[..end]).is_err());
        }
    }

    #[test]
    fn corrupt_edid_is_a_gap_and_disconnected_connectors_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let drm = dir.path().join("sys/class/drm");
        let connector = |name: &str, status: &str, edid: &[u8]| {
            std::fs::create_dir_all(drm.join(name)).unwrap();
            std::fs::write(drm.join(name).join("status"), status).unwrap();
            std::fs::write(drm.join(name).join("edid"), edid).unwrap();
        };
        let mut bad = edid();
        bad[127] ^= 0xff;
        connector("card0-DP-1", "connected\n", &edid());
        connector("card0-DP-2", "connected\n", &bad);
        connector("card0-DP-3", "connected\n", &edid()[..64]);
        connector("card0-HDMI-A-1", "disconnected\n", &edid());
        connector("card0-HDMI-A-2", "connected\n", b"");
        std::fs::create_dir_all(drm.join("card0")).unwrap();
        let mut gaps = Gaps::default();
        let monitors = monitors(&Root::new(dir.path()), &mut gaps);
        assert_eq!(monitors.len(), 1);
        assert_eq!(monitors[0].connector, "card0-DP-1");
        let items: Vec<_> = gaps.0.iter().map(|g| g.item.as_str()).collect();
        assert_eq!(items, ["monitor card0-DP-2", "monitor card0-DP-3"]);
        assert!(
            gaps.0[0].reason.ends_with("bad EDID checksum"),
            "{:?}",
            gaps.0
        );
        assert!(gaps.0[1].reason.contains("too short (64 bytes)"));
    }

    #[test]
    fn gpus_are_class_03_with_ids_when_unnamed() {
        let pci = vec![
            PciDevice {
                address: "0000:00:02.0".into(),
                class: "030000".into(),
                vendor_id: "8086".into(),
                device_id: "a7a1".into(),
                vendor_name: Some("Intel Corporation".into()),
                driver: Some("i915".into()),
                ..PciDevice::default()
            },
            PciDevice {
                address: "0000:00:14.0".into(),
                class: "0c0330".into(),
                ..PciDevice::default()
            },
        ];
        let gpus = gpus(&pci);
        assert_eq!(gpus.len(), 1);
        assert_eq!(gpus[0].vendor.as_deref(), Some("Intel Corporation"));
        assert_eq!(gpus[0].model.as_deref(), Some("a7a1"));
        assert_eq!(gpus[0].driver.as_deref(), Some("i915"));
    }
}
