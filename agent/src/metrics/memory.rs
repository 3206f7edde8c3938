//! Memory and swap from `/proc/meminfo` (values in KiB, written `kB`).

use atalaya_common::model::MemoryUsage;

/// Parses `/proc/meminfo`; `None` without `MemTotal`.
///
/// Kernels before 3.14 have no `MemAvailable`; there it is estimated as
/// free + buffers + page cache, as `free` did then.
pub fn parse(text: &str) -> Option<MemoryUsage> {
    let mut total = None;
    let mut available = None;
    let (mut free, mut buffers, mut cached, mut reclaimable) = (0, 0, 0, 0);
    let (mut swap_total, mut swap_free) = (0, 0);
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let slot = match key {
            "MemTotal" => total.insert(0),
            "MemAvailable" => available.insert(0),
            "MemFree" => &mut free,
            "Buffers" => &mut buffers,
            "Cached" => &mut cached,
            "SReclaimable" => &mut reclaimable,
            "SwapTotal" => &mut swap_total,
            "SwapFree" => &mut swap_free,
            _ => continue,
        };
        let kib: u64 = rest
            .split_ascii_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        *slot = kib.saturating_mul(1024);
    }
    let total = total?;
    let available = available.unwrap_or(free + buffers + cached).min(total);
    Some(MemoryUsage {
        total_bytes: total,
        available_bytes: available,
        used_bytes: total - available,
        cached_bytes: buffers + cached + reclaimable,
        swap_total_bytes: swap_total,
        swap_used_bytes: swap_total.saturating_sub(swap_free),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    #[test]
    fn modern_kernel() {
        let text = "MemTotal:       16000000 kB\nMemFree:         1000000 kB\n\
                    MemAvailable:   10000000 kB\nBuffers:          200000 kB\n\
                    Cached:          5000000 kB\nSwapCached:         1000 kB\n\
                    SwapTotal:       2000000 kB\nSwapFree:        1500000 kB\n\
                    SReclaimable:     300000 kB\n";
        let m = parse(text).unwrap();
        assert_eq!(m.total_bytes, 16_000_000 * 1024);
        assert_eq!(m.available_bytes, 10_000_000 * 1024);
        assert_eq!(m.used_bytes, 6_000_000 * 1024);
        assert_eq!(m.cached_bytes, 5_500_000 * 1024);
        assert_eq!(m.swap_total_bytes, 2_000_000 * 1024);
        assert_eq!(m.swap_used_bytes, 500_000 * 1024);
    }

    #[test]
    fn old_kernel_without_mem_available() {
        let text = "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\n";
        let m = parse(text).unwrap();
        assert_eq!(m.available_bytes, 400 * 1024);
        assert_eq!(m.used_bytes, 600 * 1024);
        assert_eq!(m.swap_total_bytes, 0);
        assert_eq!(parse("MemFree: 100 kB\n"), None);
    }
}
