//! Flattening a [`HealthSample`] into named points, one per series.
//!
//! A series name is the metric name with its labels in braces, e.g.
//! `cpu.core_percent{core=0}` or `filesystem.used_bytes{mount=/}`, the form
//! the API and CLI take. Top-process lists are left out: they are not
//! series (their members change every sample).
//!
//! # Stored precision
//! Percentages (`…_percent`) and per-second rates (`…_per_second`) are
//! stored rounded to three decimal places ([`stored_value`]). The agent
//! computes them as a ratio of two counters over the measured interval, so
//! they arrive as arbitrary doubles whose digits beyond that are an
//! artefact of the division, not information: one clock tick of one CPU
//! over a 10 s sample of a 4-CPU host is 0.025 %, and one byte or packet
//! over 10 s is 0.1/s; 0.001 is at least 25 times finer than either.
//! Kept whole, those digits would cost about 8 bytes a point. Every other
//! series (bytes, counts, load, temperatures, uptime) is stored exactly.

use atalaya_common::model::HealthSample;

/// Decimal places kept of percentages and rates.
pub const RATIO_DECIMALS: i32 = 3;

/// True for the series stored at [`RATIO_DECIMALS`]: percentages and
/// per-second rates.
pub fn is_ratio(name: &str) -> bool {
    let metric = name.split('{').next().unwrap_or(name);
    metric.ends_with("_percent") || metric.ends_with("_per_second")
}

/// The value stored for `value` of series `name`: rounded to
/// [`RATIO_DECIMALS`] places for percentages and rates, as sent otherwise.
/// Values too large for the rounding to mean anything (≥ 10¹²), and
/// non-finite ones, are kept as they are.
pub fn stored_value(name: &str, value: f64) -> f64 {
    if !is_ratio(name) || !value.is_finite() || value.abs() >= 1e12 {
        return value;
    }
    let scale = 10f64.powi(RATIO_DECIMALS);
    (value * scale).round() / scale
}

/// The points of one sample as `(series name, value)`.
pub fn flatten(s: &HealthSample) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = Vec::with_capacity(64);
    let mut put = |name: String, v: f64| out.push((name, v));
    if let Some(cpu) = &s.cpu {
        put("cpu.total_percent".into(), cpu.total_percent);
        put("cpu.user_percent".into(), cpu.user_percent);
        put("cpu.system_percent".into(), cpu.system_percent);
        put("cpu.iowait_percent".into(), cpu.iowait_percent);
        put("cpu.steal_percent".into(), cpu.steal_percent);
        for (i, p) in cpu.per_core_percent.iter().enumerate() {
            put(format!("cpu.core_percent{{core={i}}}"), *p);
        }
    }
    put("load.one".into(), s.load.one);
    put("load.five".into(), s.load.five);
    put("load.fifteen".into(), s.load.fifteen);
    let m = &s.memory;
    put("memory.total_bytes".into(), m.total_bytes as f64);
    put("memory.used_bytes".into(), m.used_bytes as f64);
    put("memory.available_bytes".into(), m.available_bytes as f64);
    put("memory.cached_bytes".into(), m.cached_bytes as f64);
    put("swap.total_bytes".into(), m.swap_total_bytes as f64);
    put("swap.used_bytes".into(), m.swap_used_bytes as f64);
    for f in &s.filesystems {
        let l = format!("{{mount={}}}", f.mount_point);
        put(format!("filesystem.total_bytes{l}"), f.total_bytes as f64);
        put(format!("filesystem.used_bytes{l}"), f.used_bytes as f64);
        put(
            format!("filesystem.available_bytes{l}"),
            f.available_bytes as f64,
        );
        put(format!("filesystem.used_percent{l}"), f.used_percent);
        if let Some(i) = f.inodes_used_percent {
            put(format!("filesystem.inodes_used_percent{l}"), i);
        }
    }
    for d in &s.disks {
        let l = format!("{{disk={}}}", d.name);
        put(
            format!("disk.read_bytes_per_second{l}"),
            d.read_bytes_per_second,
        );
        put(
            format!("disk.write_bytes_per_second{l}"),
            d.write_bytes_per_second,
        );
        put(format!("disk.reads_per_second{l}"), d.reads_per_second);
        put(format!("disk.writes_per_second{l}"), d.writes_per_second);
        put(format!("disk.busy_percent{l}"), d.busy_percent);
    }
    for n in &s.network {
        let l = format!("{{interface={}}}", n.interface);
        put(
            format!("network.rx_bytes_per_second{l}"),
            n.rx_bytes_per_second,
        );
        put(
            format!("network.tx_bytes_per_second{l}"),
            n.tx_bytes_per_second,
        );
        put(
            format!("network.rx_packets_per_second{l}"),
            n.rx_packets_per_second,
        );
        put(
            format!("network.tx_packets_per_second{l}"),
            n.tx_packets_per_second,
        );
        put(format!("network.rx_errors{l}"), n.rx_errors as f64);
        put(format!("network.tx_errors{l}"), n.tx_errors as f64);
        put(format!("network.rx_drops{l}"), n.rx_drops as f64);
        put(format!("network.tx_drops{l}"), n.tx_drops as f64);
    }
    for t in &s.temperatures {
        put(
            format!("temperature.celsius{{sensor={}}}", t.sensor),
            t.celsius,
        );
    }
    put("processes.total".into(), f64::from(s.processes.total));
    put("processes.running".into(), f64::from(s.processes.running));
    put("processes.zombie".into(), f64::from(s.processes.zombie));
    put("uptime.seconds".into(), s.uptime_seconds as f64);
    put("agent.cpu_percent".into(), s.agent.cpu_percent);
    put("agent.rss_bytes".into(), s.agent.rss_bytes as f64);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use atalaya_common::model::{CpuUsage, FilesystemUsage, ProcessUsage};

    #[test]
    fn labels_are_in_braces_and_top_lists_skipped() {
        let s = HealthSample {
            cpu: Some(CpuUsage {
                total_percent: 12.5,
                per_core_percent: vec![10.0, 15.0],
                ..CpuUsage::default()
            }),
            filesystems: vec![FilesystemUsage {
                mount_point: "/".into(),
                used_percent: 40.0,
                used_bytes: 4000,
                ..FilesystemUsage::default()
            }],
            top_cpu: vec![ProcessUsage::default()],
            uptime_seconds: 99,
            ..HealthSample::default()
        };
        let points = flatten(&s);
        let get = |n: &str| points.iter().find(|p| p.0 == n).map(|p| p.1);
        assert_eq!(get("cpu.total_percent"), Some(12.5));
        assert_eq!(get("cpu.core_percent{core=1}"), Some(15.0));
        assert_eq!(get("filesystem.used_percent{mount=/}"), Some(40.0));
        assert_eq!(get("filesystem.used_bytes{mount=/}"), Some(4000.0));
        assert_eq!(get("uptime.seconds"), Some(99.0));
        assert!(points.iter().all(|p| !p.0.starts_with("top")));
    }

    #[test]
    fn ratios_keep_three_decimals_and_the_rest_is_exact() {
        assert!(is_ratio("cpu.core_percent{core=0}"));
        assert!(is_ratio("network.rx_bytes_per_second{interface=eth0}"));
        assert!(!is_ratio("memory.used_bytes"));
        // A label that merely contains the word does not make a ratio.
        assert!(!is_ratio("filesystem.used_bytes{mount=/srv/_percent}"));
        assert_eq!(
            stored_value("cpu.total_percent", 100.0 * 253.0 / 1001.0),
            25.275
        );
        assert_eq!(
            stored_value("disk.reads_per_second{disk=sda}", 7.0 / 9.9987),
            0.7
        );
        assert_eq!(stored_value("load.one", 0.123456), 0.123456);
        assert_eq!(stored_value("memory.used_bytes", 12345.6789), 12345.6789);
        assert_eq!(stored_value("cpu.total_percent", 12.5), 12.5);
        assert!(stored_value("cpu.total_percent", f64::NAN).is_nan());
        assert_eq!(
            stored_value("network.rx_bytes_per_second", 2e12 + 0.5),
            2e12 + 0.5
        );
    }
}
