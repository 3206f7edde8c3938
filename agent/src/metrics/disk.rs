//! I/O of whole disks from `/proc/diskstats`.
//!
//! Partitions are left out (their I/O is already in their disk's), and so
//! are loop, RAM and zram devices, which are memory or files rather than
//! disks. A whole disk is one with an entry in `/sys/block`.

use atalaya_common::model::DiskIo;

use super::{Baseline, Reader, SOURCE, per_second};
use crate::root::Gaps;

/// Counters kept: reads, sectors read, writes, sectors written, ms busy.
pub const FIELDS: usize = 5;

/// `/proc/diskstats` sectors are 512 bytes whatever the device's own sector size.
const SECTOR_BYTES: u64 = 512;

/// One line: the device name and its [`FIELDS`] counters.
pub fn parse_line(line: &str) -> Option<(&str, [u64; FIELDS])> {
    let mut words = line.split_ascii_whitespace();
    let name = words.nth(2)?;
    // reads merged sectors ms-reading writes merged sectors ms-writing in-flight io-ticks
    let mut f = [0u64; 10];
    for slot in &mut f {
        *slot = words.next()?.parse().ok()?;
    }
    let [
        reads,
        _,
        sectors_read,
        _,
        writes,
        _,
        sectors_written,
        _,
        _,
        io_ticks,
    ] = f;
    Some((
        name,
        [reads, sectors_read, writes, sectors_written, io_ticks],
    ))
}

/// Devices never reported: loop, RAM disks, compressed RAM swap.
fn is_memory_device(name: &str) -> bool {
    ["loop", "ram", "zram"].iter().any(|p| {
        name.strip_prefix(p)
            .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit()))
    })
}

/// The rates of one disk from the growth of its counters over `seconds`.
pub fn rates(name: &str, d: [u64; FIELDS], seconds: f64) -> DiskIo {
    let [reads, sectors_read, writes, sectors_written, io_ticks] = d;
    DiskIo {
        name: name.to_owned(),
        read_bytes_per_second: per_second(sectors_read.saturating_mul(SECTOR_BYTES), seconds),
        write_bytes_per_second: per_second(sectors_written.saturating_mul(SECTOR_BYTES), seconds),
        reads_per_second: per_second(reads, seconds),
        writes_per_second: per_second(writes, seconds),
        // io_ticks can run ahead of the wall clock by a tick or so.
        busy_percent: (io_ticks as f64 / (seconds * 1000.0) * 100.0).min(100.0),
    }
}

/// Reads `/proc/diskstats`; rates of the disks that were there last time.
pub(crate) fn sample(
    reader: &mut Reader,
    gaps: &mut Gaps,
    baseline: &mut Baseline<FIELDS>,
    seconds: Option<f64>,
) -> Vec<DiskIo> {
    let root = reader.root().clone();
    let text = match reader.read("/proc/diskstats") {
        Ok(text) => text,
        Err(e) => {
            gaps.io(SOURCE, "disks", "/proc/diskstats", &e);
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    let mut sys = String::new();
    for line in text.lines() {
        let Some((name, counters)) = parse_line(line) else {
            continue;
        };
        if is_memory_device(name) {
            continue;
        }
        // sysfs spells the '/' of names like cciss/c0d0 as '!'.
        sys.clear();
        sys.push_str("/sys/block/");
        sys.extend(name.chars().map(|c| if c == '/' { '!' } else { c }));
        if !root.exists(&sys) {
            continue;
        }
        if let (Some(delta), Some(seconds)) = (baseline.update(name, counters), seconds) {
            out.push(rates(name, delta, seconds));
        }
    }
    baseline.finish();
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    #[test]
    fn lines_of_every_kernel_era_parse() {
        let old = "   8       0 sda 100 5 2000 30 40 6 800 70 0 90 100";
        assert_eq!(parse_line(old), Some(("sda", [100, 2000, 40, 800, 90])));
        let new = " 259 0 nvme0n1 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19";
        assert_eq!(parse_line(new), Some(("nvme0n1", [1, 3, 5, 7, 10])));
        assert_eq!(parse_line("8 0 sda 1 2 3"), None);
    }

    #[test]
    fn memory_devices_are_recognised_by_name() {
        assert!(is_memory_device("loop0"));
        assert!(is_memory_device("ram15"));
        assert!(is_memory_device("zram0"));
        assert!(!is_memory_device("sda"));
        assert!(!is_memory_device("ramdisk-not-really"));
    }

    #[test]
    fn rates_are_per_second_and_busy_is_capped() {
        let r = rates("sda", [100, 2000, 50, 1000, 20_000], 10.0);
        assert_eq!(r.reads_per_second, 10.0);
        assert_eq!(r.read_bytes_per_second, 102_400.0);
        assert_eq!(r.writes_per_second, 5.0);
        assert_eq!(r.write_bytes_per_second, 51_200.0);
        assert_eq!(r.busy_percent, 100.0);
    }
}
