//! Quantities written for people, one way everywhere: the agent's summary,
//! the `atalaya` CLI and incident texts all show `16 GiB` for the same
//! module, never `16.0 GiB` in one place and `16 GiB` in another.
//!
//! Pure functions, no I/O.

const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/// Bytes in binary units with at most one decimal, and none when it would
/// be zero: `512 B`, `1.5 KiB`, `16 GiB`, `976 MiB`.
pub fn bytes(n: u64) -> String {
    let mut value = n as f64;
    let mut unit = 0;
    // 1023.96 KiB would print as `1024 KiB`: a value that rounds up to the
    // next unit is written in it.
    while value >= 1023.95 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        return format!("{n} B");
    }
    let text = format!("{value:.1}");
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{text} {}", UNITS[unit])
}

/// A rate in bytes per second, e.g. `1.2 MiB/s`; a negative rate (a
/// counter that went back) reads as zero.
pub fn rate(per_second: f64) -> String {
    format!("{}/s", bytes(per_second.max(0.0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_like_people_write_them() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1 KiB");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(16 << 30), "16 GiB");
        assert_eq!(bytes(976 << 20), "976 MiB");
        assert_eq!(bytes((1 << 40) + (1 << 39)), "1.5 TiB");
        assert_eq!(bytes((1 << 20) - 1), "1 MiB");
        assert_eq!(bytes(u64::MAX), "16384 PiB");
    }

    #[test]
    fn rates_never_go_negative() {
        assert_eq!(rate(-3.0), "0 B/s");
        assert_eq!(rate(1_258_291.2), "1.2 MiB/s");
        assert_eq!(rate(f64::NAN), "0 B/s");
    }
}
