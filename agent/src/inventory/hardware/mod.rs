//! Hardware: firmware (DMI/SMBIOS), processors, memory, devices.
//!
//! Everything comes from files the kernel exports, read through a
//! [`Root`], so the same code runs on the live host and on fixture trees.
//! What a host is expected to have but does not show (no DMI, an
//! unreadable serial, a corrupt EDID) is noted in [`Gaps`]; what a host
//! simply lacks (a battery, a monitor) is not.
//!
//! # Layout
//! - [`dmi`]: system, board, BIOS and chassis from `/sys/class/dmi/id`.
//! - [`smbios`]: memory modules from the raw SMBIOS table.
//! - [`cpu`]: `/proc/cpuinfo` and `/proc/meminfo`.
//! - [`ids`]: name lookups in `pci.ids` and `usb.ids`.
//! - [`pci`]: PCI devices.
//! - [`usb`]: USB devices.
//! - [`power`]: the batteries of the machine.
//! - [`display`]: GPUs and monitors (EDID).

use atalaya_common::model::*;

use crate::root::{Gaps, Root};

pub mod cpu;
pub mod display;
pub mod dmi;
pub mod ids;
pub mod pci;
pub mod power;
pub mod smbios;
pub mod usb;

/// The source name in gaps.
const SOURCE: &str = "hardware";

const DMI_TABLE: &str = "/sys/firmware/dmi/tables/DMI";
const DMI_ENTRY: &str = "/sys/firmware/dmi/tables/smbios_entry_point";

/// Reads the hardware part of the inventory.
pub fn collect(root: &Root, gaps: &mut Gaps) -> Hardware {
    let dmi = dmi::collect(root, gaps);
    let pci = pci::collect(root, gaps);
    Hardware {
        system: dmi.system,
        board: dmi.board,
        bios: dmi.bios,
        chassis: dmi.chassis,
        cpu: cpu::collect(root, gaps),
        memory: cpu::collect_memory(root, gaps),
        memory_modules: memory_modules(root, gaps),
        gpus: display::gpus(&pci),
        pci,
        usb: usb::collect(root, gaps),
        batteries: power::collect(root, gaps),
        monitors: display::monitors(root, gaps),
    }
}

/// Memory modules from the SMBIOS table; the table is root-only, so an
/// unreadable one is the usual gap of an unprivileged agent.
fn memory_modules(root: &Root, gaps: &mut Gaps) -> Vec<MemoryModule> {
    let mut table = match root.read_bytes(DMI_TABLE) {
        Ok(table) => table,
        Err(err) => {
            gaps.io(SOURCE, "memory modules", DMI_TABLE, &err);
            return Vec::new();
        }
    };
    // The entry point bounds the table; without it the file length does.
    if let Some(entry) = root
        .read_bytes(DMI_ENTRY)
        .ok()
        .and_then(|b| smbios::entry_point(&b))
        && let Ok(len) = usize::try_from(entry.table_len)
    {
        table.truncate(len);
    }
    let modules = smbios::memory_modules(&table);
    if modules.is_empty() {
        gaps.note(
            SOURCE,
            "memory modules",
            format!("{DMI_TABLE}: no populated memory device (type 17)"),
        );
    }
    modules
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests;
