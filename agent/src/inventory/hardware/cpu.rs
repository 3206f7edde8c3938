//! Processors from `/proc/cpuinfo` and memory totals from `/proc/meminfo`.
//!
//! x86 lists one block per logical processor with `physical id` and
//! `core id`, so sockets and cores are counted as distinct ids. ARM lists
//! `CPU implementer` and `CPU part` instead and no topology, so it counts as
//! one socket with one thread per core.

use std::collections::BTreeSet;

use atalaya_common::model::{Cpu, Memory};

use crate::root::{Gaps, Root};

use super::SOURCE;

const CPUINFO: &str = "/proc/cpuinfo";
const MEMINFO: &str = "/proc/meminfo";
const MAX_FREQ: &str = "/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq";

/// Reads the processor summary.
pub fn collect(root: &Root, gaps: &mut Gaps) -> Cpu {
    let mut cpu = match root.read(CPUINFO) {
        Ok(text) => parse_cpuinfo(&text),
        Err(err) => {
            gaps.io(SOURCE, "cpu", CPUINFO, &err);
            return Cpu::default();
        }
    };
    // cpufreq knows the boost ceiling; `cpu MHz` is only the clock right now.
    if let Some(khz) = root.number(MAX_FREQ) {
        cpu.max_mhz = u32::try_from(khz / 1000).ok().or(cpu.max_mhz);
    }
    if cpu.max_mhz.is_none() {
        gaps.note(
            SOURCE,
            "cpu max frequency",
            format!("neither {MAX_FREQ} nor `cpu MHz` in {CPUINFO}"),
        );
    }
    cpu
}

/// Parses `/proc/cpuinfo`; `max_mhz` is the highest `cpu MHz` seen.
pub fn parse_cpuinfo(text: &str) -> Cpu {
    let mut cpu = Cpu::default();
    let mut sockets = BTreeSet::new();
    let mut cores = BTreeSet::new();
    let mut socket: Option<&str> = None;
    let mut max_mhz: Option<f64> = None;
    let mut arm_implementer = None;
    let mut arm_part = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        match key {
            "processor" if value.parse::<u32>().is_ok() => {
                cpu.logical_cores += 1;
                socket = None;
            }
            "vendor_id" => set_once(&mut cpu.vendor, value),
            "model name" => set_once(&mut cpu.model, value),
            "cpu family" => cpu.family = cpu.family.or(value.parse().ok()),
            "model" => cpu.model_number = cpu.model_number.or(value.parse().ok()),
            "stepping" => cpu.stepping = cpu.stepping.or(value.parse().ok()),
            "physical id" => {
                sockets.insert(value);
                socket = Some(value);
            }
            "core id" => {
                cores.insert((socket, value));
            }
            "cpu MHz" => {
                if let Ok(mhz) = value.parse::<f64>() {
                    max_mhz = Some(max_mhz.map_or(mhz, |m: f64| m.max(mhz)));
                }
            }
            "CPU implementer" => arm_implementer = arm_implementer.or(hex(value)),
            "CPU part" => arm_part = arm_part.or(hex(value)),
            "CPU architecture" => cpu.family = cpu.family.or(value.parse().ok()),
            "CPU revision" => cpu.stepping = cpu.stepping.or(value.parse().ok()),
            _ => {}
        }
    }
    if let Some(implementer) = arm_implementer {
        cpu.vendor = Some(arm_vendor(implementer));
        if let Some(part) = arm_part {
            cpu.model_number = Some(part);
            if let Some(name) = arm_part_name(implementer, part) {
                cpu.model = Some(name.to_owned());
            }
        }
    }
    if sockets.is_empty() {
        cpu.sockets = u32::from(cpu.logical_cores > 0);
        cpu.physical_cores = cpu.logical_cores;
    } else {
        cpu.sockets = count(sockets.len());
        cpu.physical_cores = if cores.is_empty() {
            cpu.logical_cores
        } else {
            count(cores.len())
        };
    }
    // Rounded, not truncated: 2593.906 is a 2594 MHz part.
    cpu.max_mhz = max_mhz
        .filter(|m| m.is_finite() && *m >= 0.5 && *m < f64::from(u32::MAX))
        .map(|m| m.round() as u32);
    cpu
}

/// Parses `/proc/meminfo`; `None` when `MemTotal` is missing.
pub fn parse_meminfo(text: &str) -> Option<Memory> {
    let mut total = None;
    let mut swap = 0;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let kib = value
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<u64>()
            .ok();
        match key {
            "MemTotal" => total = kib,
            "SwapTotal" => swap = kib.unwrap_or_default(),
            _ => {}
        }
    }
    Some(Memory {
        total_bytes: total?.saturating_mul(1024),
        swap_total_bytes: swap.saturating_mul(1024),
    })
}

/// Reads the memory totals.
pub fn collect_memory(root: &Root, gaps: &mut Gaps) -> Memory {
    match root.read(MEMINFO) {
        Ok(text) => parse_meminfo(&text).unwrap_or_else(|| {
            gaps.note(SOURCE, "memory", format!("{MEMINFO}: no MemTotal"));
            Memory::default()
        }),
        Err(err) => {
            gaps.io(SOURCE, "memory", MEMINFO, &err);
            Memory::default()
        }
    }
}

fn set_once(slot: &mut Option<String>, value: &str) {
    if slot.is_none() && !value.is_empty() {
        *slot = Some(value.to_owned());
    }
}

fn hex(value: &str) -> Option<u32> {
    u32::from_str_radix(value.strip_prefix("0x")?, 16).ok()
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// ARM implementer codes (the MIDR register), as `lscpu` names them.
fn arm_vendor(implementer: u32) -> String {
    let name = match implementer {
        0x41 => "ARM",
        0x42 => "Broadcom",
        0x43 => "Cavium",
        0x46 => "Fujitsu",
        0x48 => "HiSilicon",
        0x4e => "NVIDIA",
        0x50 => "APM",
        0x51 => "Qualcomm",
        0x53 => "Samsung",
        0x56 => "Marvell",
        0x61 => "Apple",
        0x69 => "Intel",
        0x6d => "Microsoft",
        0xc0 => "Ampere",
        other => return format!("0x{other:02x}"),
    };
    name.to_owned()
}

/// Names of the common ARM Ltd cores; other parts keep `model name` if any.
fn arm_part_name(implementer: u32, part: u32) -> Option<&'static str> {
    if implementer != 0x41 {
        return None;
    }
    Some(match part {
        0xd03 => "Cortex-A53",
        0xd04 => "Cortex-A35",
        0xd05 => "Cortex-A55",
        0xd07 => "Cortex-A57",
        0xd08 => "Cortex-A72",
        0xd09 => "Cortex-A73",
        0xd0a => "Cortex-A75",
        0xd0b => "Cortex-A76",
        0xd0c => "Neoverse-N1",
        0xd0d => "Cortex-A77",
        0xd40 => "Neoverse-V1",
        0xd41 => "Cortex-A78",
        0xd44 => "Cortex-X1",
        0xd46 => "Cortex-A510",
        0xd47 => "Cortex-A710",
        0xd48 => "Cortex-X2",
        0xd49 => "Neoverse-N2",
        0xd4f => "Neoverse-V2",
        _ => return None,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    const X86: &str = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\n\
model\t\t: 85\nmodel name\t: Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz\nstepping\t: 7\n\
cpu MHz\t\t: 2100.000\nphysical id\t: 0\ncore id\t\t: 0\n\n\
processor\t: 1\nvendor_id\t: GenuineIntel\nphysical id\t: 0\ncore id\t\t: 0\ncpu MHz\t\t: 3899.6\n\n\
processor\t: 2\nvendor_id\t: GenuineIntel\nphysical id\t: 1\ncore id\t\t: 0\n\n\
processor\t: 3\nvendor_id\t: GenuineIntel\nphysical id\t: 1\ncore id\t\t: 1\n";

    #[test]
    fn x86_topology_counts_distinct_sockets_and_cores() {
        let cpu = parse_cpuinfo(X86);
        assert_eq!(cpu.vendor.as_deref(), Some("GenuineIntel"));
        assert_eq!(
            cpu.model.as_deref(),
            Some("Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz")
        );
        assert_eq!(
            (cpu.family, cpu.model_number, cpu.stepping),
            (Some(6), Some(85), Some(7))
        );
        assert_eq!(cpu.sockets, 2);
        // core id 0 exists on both sockets: three physical cores, not two.
        assert_eq!(cpu.physical_cores, 3);
        assert_eq!(cpu.logical_cores, 4);
        assert_eq!(cpu.max_mhz, Some(3900));
    }

    const ARM: &str = "processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n\
CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n\
processor\t: 1\nBogoMIPS\t: 108.00\nCPU implementer\t: 0x41\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n\
Hardware\t: BCM2835\nRevision\t: c03114\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n";

    #[test]
    fn arm_without_topology_is_one_socket() {
        let cpu = parse_cpuinfo(ARM);
        assert_eq!(cpu.vendor.as_deref(), Some("ARM"));
        assert_eq!(cpu.model.as_deref(), Some("Cortex-A72"));
        assert_eq!(cpu.family, Some(8));
        assert_eq!(cpu.model_number, Some(0xd08));
        assert_eq!(cpu.stepping, Some(3));
        assert_eq!(
            (cpu.sockets, cpu.physical_cores, cpu.logical_cores),
            (1, 2, 2)
        );
        assert_eq!(cpu.max_mhz, None);
    }

    #[test]
    fn empty_cpuinfo_has_no_processors() {
        let cpu = parse_cpuinfo("garbage\n:::\nprocessor : x\n");
        assert_eq!((cpu.sockets, cpu.logical_cores), (0, 0));
    }

    #[test]
    fn meminfo_totals_are_bytes() {
        let mem =
            parse_meminfo("MemTotal:       16303800 kB\nMemFree: 1 kB\nSwapTotal:  2097148 kB\n")
                .unwrap();
        assert_eq!(mem.total_bytes, 16_303_800 * 1024);
        assert_eq!(mem.swap_total_bytes, 2_097_148 * 1024);
        assert_eq!(parse_meminfo("SwapTotal: 1 kB\n"), None);
    }
}
