//! Memory modules from the raw SMBIOS table (`/sys/firmware/dmi/tables/DMI`).
//!
//! `/sys/class/dmi/id` has no memory devices, so the table itself is parsed
//! here: a run of structures, each a formatted area of `length` bytes and a
//! string set ending in two NULs. Written by hand because the crates that
//! parse SMBIOS either pull in far more than type 17 or assume a trusted
//! table; this one is fed bytes that may be truncated or garbage, so every
//! access is bounds-checked and a bad structure ends the walk, never the
//! agent.

use atalaya_common::model::MemoryModule;

use super::dmi::meaningful;

/// The table version and length from `smbios_entry_point`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryPoint {
    /// SMBIOS major version.
    pub major: u8,
    /// SMBIOS minor version.
    pub minor: u8,
    /// Table length (2.x) or maximum table length (3.x), bytes.
    pub table_len: u32,
}

/// Parses a 2.1 (`_SM_`) or 3.0 (`_SM3_`) entry point; `None` if neither.
pub fn entry_point(bytes: &[u8]) -> Option<EntryPoint> {
    if bytes.starts_with(b"_SM3_") {
        Some(EntryPoint {
            major: *bytes.get(7)?,
            minor: *bytes.get(8)?,
            table_len: le_u32(bytes, 0x0c)?,
        })
    } else if bytes.starts_with(b"_SM_") {
        Some(EntryPoint {
            major: *bytes.get(6)?,
            minor: *bytes.get(7)?,
            table_len: u32::from(le_u16(bytes, 0x16)?),
        })
    } else {
        None
    }
}

/// One structure of the table, with its string set.
#[derive(Debug, Clone, Copy)]
struct Structure<'a> {
    kind: u8,
    formatted: &'a [u8],
    strings: &'a [u8],
}

impl Structure<'_> {
    fn byte(&self, offset: usize) -> Option<u8> {
        self.formatted.get(offset).copied()
    }

    fn word(&self, offset: usize) -> Option<u16> {
        le_u16(self.formatted, offset)
    }

    fn dword(&self, offset: usize) -> Option<u32> {
        le_u32(self.formatted, offset)
    }

    /// The string whose 1-based number is at `offset`; 0 means none.
    fn string(&self, offset: usize) -> Option<String> {
        let index = usize::from(self.byte(offset)?);
        let raw = self.strings.split(|b| *b == 0).nth(index.checked_sub(1)?)?;
        meaningful(&String::from_utf8_lossy(raw))
    }
}

/// Walks the structures until type 127, the end of the data, or the first
/// structure that does not fit.
fn structures(table: &[u8]) -> impl Iterator<Item = Structure<'_>> {
    let mut rest = table;
    std::iter::from_fn(move || {
        let kind = *rest.first()?;
        let len = usize::from(*rest.get(1)?);
        if len < 4 || kind == 127 {
            rest = &[];
            return None;
        }
        let formatted = rest.get(..len)?;
        let tail = rest.get(len..)?;
        // The string set ends at the first double NUL; a structure with no
        // strings is just the two NULs.
        let end = tail.windows(2).position(|w| w == [0, 0]);
        let Some(end) = end else {
            rest = &[];
            return None;
        };
        let strings = tail.get(..end).unwrap_or_default();
        rest = tail.get(end + 2..).unwrap_or_default();
        Some(Structure {
            kind,
            formatted,
            strings,
        })
    })
}

/// Populated memory slots (type 17) in table order.
pub fn memory_modules(table: &[u8]) -> Vec<MemoryModule> {
    structures(table)
        .filter(|s| s.kind == 17)
        .filter_map(|s| memory_device(&s))
        .collect()
}

/// One type 17 structure, `None` for an empty slot.
fn memory_device(s: &Structure<'_>) -> Option<MemoryModule> {
    let size_bytes = match s.word(0x0c)? {
        0 => return None,
        0xffff => 0, // present, size unknown
        0x7fff => u64::from(s.dword(0x1c)? & 0x7fff_ffff) << 20,
        size if size & 0x8000 != 0 => u64::from(size & 0x7fff) << 10,
        size => u64::from(size) << 20,
    };
    let manufacturer = s.string(0x17);
    let locator = s.string(0x10);
    let speed = |offset: usize, extended: usize| match s.word(offset) {
        Some(0) | None => None,
        Some(0xffff) => s.dword(extended).filter(|v| *v != 0),
        Some(v) => Some(u32::from(v)),
    };
    Some(MemoryModule {
        locator: locator
            .or_else(|| s.word(2).map(|h| format!("handle 0x{h:04x}")))
            .unwrap_or_default(),
        bank: s.string(0x11),
        size_bytes,
        kind: s.byte(0x12).and_then(memory_type).map(str::to_owned),
        form_factor: s.byte(0x0e).and_then(form_factor).map(str::to_owned),
        speed_mts: speed(0x20, 0x58).or_else(|| speed(0x15, 0x54)),
        manufacturer,
        serial: s.string(0x18),
        part_number: s.string(0x1a),
    })
}

/// Memory device form factor (DSP0134 7.18.1).
fn form_factor(code: u8) -> Option<&'static str> {
    Some(match code {
        0x01 => "Other",
        0x03 => "SIMM",
        0x04 => "SIP",
        0x05 => "Chip",
        0x06 => "DIP",
        0x07 => "ZIP",
        0x08 => "Proprietary Card",
        0x09 => "DIMM",
        0x0a => "TSOP",
        0x0b => "Row Of Chips",
        0x0c => "RIMM",
        0x0d => "SODIMM",
        0x0e => "SRIMM",
        0x0f => "FB-DIMM",
        0x10 => "Die",
        0x11 => "CAMM",
        _ => return None, // 0x02 Unknown and reserved values
    })
}

/// Memory device type (DSP0134 7.18.2).
fn memory_type(code: u8) -> Option<&'static str> {
    Some(match code {
        0x01 => "Other",
        0x03 => "DRAM",
        0x04 => "EDRAM",
        0x05 => "VRAM",
        0x06 => "SRAM",
        0x07 => "RAM",
        0x08 => "ROM",
        0x09 => "Flash",
        0x0a => "EEPROM",
        0x0b => "FEPROM",
        0x0c => "EPROM",
        0x0d => "CDRAM",
        0x0e => "3DRAM",
        0x0f => "SDRAM",
        0x10 => "SGRAM",
        0x11 => "RDRAM",
        0x12 => "DDR",
        0x13 => "DDR2",
        0x14 => "DDR2 FB-DIMM",
        0x18 => "DDR3",
        0x19 => "FBD2",
        0x1a => "DDR4",
        0x1b => "LPDDR",
        0x1c => "LPDDR2",
        0x1d => "LPDDR3",
        0x1e => "LPDDR4",
        0x1f => "Logical non-volatile device",
        0x20 => "HBM",
        0x21 => "HBM2",
        0x22 => "DDR5",
        0x23 => "LPDDR5",
        0x24 => "HBM3",
        _ => return None, // 0x02 Unknown and reserved values
    })
}

fn le_u16(bytes: &[u8], offset: usize) -> Option<u16> {
    let b = bytes.get(offset..offset.checked_add(2)?)?;
    Some(u16::from_le_bytes([*b.first()?, *b.get(1)?]))
}

fn le_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(offset..offset.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A type 17 structure of SMBIOS 3.3 length with the given size word.
    fn type17(handle: u16, size: u16, ext: u32, strings: &[&str]) -> Vec<u8> {
        let mut s = vec![0u8; 0x5c];
        s[0] = 17;
        s[1] = 0x5c;
        s[2..4].copy_from_slice(&handle.to_le_bytes());
        s[0x0c..0x0e].copy_from_slice(&size.to_le_bytes());
        s[0x0e] = 0x0d; // SODIMM
        s[0x10] = 1; // locator
        s[0x11] = 2; // bank
        s[0x12] = 0x22; // DDR5
        s[0x15..0x17].copy_from_slice(&5600u16.to_le_bytes());
        s[0x17] = 3;
        s[0x18] = 4;
        s[0x1a] = 5;
        s[0x1c..0x20].copy_from_slice(&ext.to_le_bytes());
        s[0x20..0x22].copy_from_slice(&5200u16.to_le_bytes());
        for text in strings {
            s.extend_from_slice(text.as_bytes());
            s.push(0);
        }
        if strings.is_empty() {
            s.push(0);
        }
        s.push(0);
        s
    }

    fn table() -> Vec<u8> {
        let strings = [
            "DIMM A",
            "BANK 0",
            "Samsung",
            "12345678",
            "M425R2GA3BB0-CQKOD",
        ];
        let mut t = vec![0u8, 4, 0, 0, 0, 0]; // a type 0 with no strings
        t.extend(type17(0x10, 16384, 0, &strings));
        t.extend(type17(0x11, 0, 0, &["DIMM B", "BANK 1", "NO DIMM"]));
        t.extend(type17(0x12, 0x7fff, 65536, &strings));
        t.extend(type17(0x13, 0x8000 | 512, 0, &[]));
        t.extend([127, 4, 0xff, 0xfe, 0, 0]);
        t
    }

    #[test]
    fn populated_slots_are_read_with_sizes_types_and_strings() {
        let modules = memory_modules(&table());
        assert_eq!(modules.len(), 3, "{modules:?}");
        let a = &modules[0];
        assert_eq!(a.locator, "DIMM A");
        assert_eq!(a.bank.as_deref(), Some("BANK 0"));
        assert_eq!(a.size_bytes, 16 << 30);
        assert_eq!(a.kind.as_deref(), Some("DDR5"));
        assert_eq!(a.form_factor.as_deref(), Some("SODIMM"));
        assert_eq!(a.speed_mts, Some(5200));
        assert_eq!(a.manufacturer.as_deref(), Some("Samsung"));
        assert_eq!(a.serial.as_deref(), Some("12345678"));
        assert_eq!(a.part_number.as_deref(), Some("M425R2GA3BB0-CQKOD"));
        assert_eq!(modules[1].size_bytes, 64 << 30, "extended size");
        assert_eq!(modules[2].size_bytes, 512 << 10, "size in KiB");
        assert_eq!(modules[2].locator, "handle 0x0013", "no strings");
        assert_eq!(modules[2].manufacturer, None);
    }

    #[test]
    fn configured_speed_falls_back_to_speed() {
        let mut s = type17(1, 8192, 0, &["DIMM 0"]);
        s[0x20] = 0;
        s[0x21] = 0;
        let modules = memory_modules(&s);
        assert_eq!(modules[0].speed_mts, Some(5600));
        // An SMBIOS 2.3 structure ends before the configured speed.
        let mut short = s[..0x1b].to_vec();
        short[1] = 0x1b;
        short.extend_from_slice(b"DIMM 0\0\0");
        let modules = memory_modules(&short);
        assert_eq!(modules[0].speed_mts, Some(5600));
        assert_eq!(modules[0].part_number, None);
    }

    #[test]
    fn every_truncation_of_a_valid_table_parses_without_panic() {
        let t = table();
        for end in 0..=t.len() {
            let modules = memory_modules(&t[..end]);
            assert!(modules.len() <= 3);
        }
    }

    #[test]
    fn entry_points_of_both_versions_are_read() {
        let mut v3 = vec![0u8; 24];
        v3[..5].copy_from_slice(b"_SM3_");
        v3[7] = 3;
        v3[8] = 5;
        v3[0x0c..0x10].copy_from_slice(&1234u32.to_le_bytes());
        assert_eq!(
            entry_point(&v3),
            Some(EntryPoint {
                major: 3,
                minor: 5,
                table_len: 1234
            })
        );
        let mut v2 = vec![0u8; 31];
        v2[..4].copy_from_slice(b"_SM_");
        v2[6] = 2;
        v2[7] = 8;
        v2[0x16..0x18].copy_from_slice(&777u16.to_le_bytes());
        assert_eq!(entry_point(&v2).map(|e| e.table_len), Some(777));
        assert_eq!(entry_point(b"_SM3_"), None);
        assert_eq!(entry_point(b"garbage"), None);
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = memory_modules(&bytes);
            let _ = entry_point(&bytes);
        }

        #[test]
        fn corrupted_tables_never_panic(pos in 0usize..400, value in any::<u8>()) {
            let mut t = table();
            let len = t.len();
            t[pos % len] = value;
            // Each structure takes at least six bytes.
            prop_assert!(memory_modules(&t).len() <= len / 6);
        }
    }
}
