//! The series the engine watches: names as the store writes them, split
//! into metric and subject, and the derived percentages rules need.
//!
//! A stored series name is a metric with at most one label in braces,
//! `filesystem.used_percent{mount=/var}` (see [`crate::store::series`]).
//! Rules name the metric (`filesystem.used_percent`); the label's value
//! (`/var`) is the incident's subject, so each mount point, interface or
//! disk has its own incident.

use atalaya_common::model::{HealthSample, Timestamp};

/// Every metric a rule can watch, as the collector stores them, plus the
/// derived `memory.used_percent` and `swap.used_percent` of [`points`].
pub const KNOWN_METRICS: &[&str] = &[
    "agent.cpu_percent",
    "agent.rss_bytes",
    "cpu.core_percent",
    "cpu.iowait_percent",
    "cpu.steal_percent",
    "cpu.system_percent",
    "cpu.total_percent",
    "cpu.user_percent",
    "disk.busy_percent",
    "disk.read_bytes_per_second",
    "disk.reads_per_second",
    "disk.write_bytes_per_second",
    "disk.writes_per_second",
    "filesystem.available_bytes",
    "filesystem.inodes_used_percent",
    "filesystem.total_bytes",
    "filesystem.used_bytes",
    "filesystem.used_percent",
    "load.fifteen",
    "load.five",
    "load.one",
    "memory.available_bytes",
    "memory.cached_bytes",
    "memory.total_bytes",
    "memory.used_bytes",
    "memory.used_percent",
    "network.rx_bytes_per_second",
    "network.rx_drops",
    "network.rx_errors",
    "network.rx_packets_per_second",
    "network.tx_bytes_per_second",
    "network.tx_drops",
    "network.tx_errors",
    "network.tx_packets_per_second",
    "processes.running",
    "processes.total",
    "processes.zombie",
    "swap.total_bytes",
    "swap.used_bytes",
    "swap.used_percent",
    "temperature.celsius",
    "uptime.seconds",
];

/// Splits a stored series name into its metric and its label's value:
/// `filesystem.used_percent{mount=/var}` → (`filesystem.used_percent`, `/var`);
/// a series without a label has the subject `""`.
pub fn split_series(series: &str) -> (&str, &str) {
    match series.split_once('{') {
        Some((metric, rest)) => {
            let label = rest.strip_suffix('}').unwrap_or(rest);
            let value = label.split_once('=').map_or(label, |(_, v)| v);
            (metric, value)
        }
        None => (series, ""),
    }
}

/// The points of a health sample the engine is fed: the stored series
/// ([`crate::store::series::flatten`]) and the memory and swap use in
/// percent, which rules need to be the same on every machine size.
pub fn points(sample: &HealthSample) -> Vec<(String, f64)> {
    let mut out = crate::store::series::flatten(sample);
    let m = &sample.memory;
    if m.total_bytes > 0 {
        let used = m.total_bytes.saturating_sub(m.available_bytes);
        out.push((
            "memory.used_percent".into(),
            used as f64 * 100.0 / m.total_bytes as f64,
        ));
    }
    if m.swap_total_bytes > 0 {
        out.push((
            "swap.used_percent".into(),
            m.swap_used_bytes as f64 * 100.0 / m.swap_total_bytes as f64,
        ));
    }
    out
}

/// How the percentages of [`points`] come from stored series, for
/// reading them back: (derived name, stored part, stored total, whether
/// the part is what is *available* rather than used).
pub const DERIVED_PERCENTS: &[(&str, &str, &str, bool)] = &[
    (
        "memory.used_percent",
        "memory.available_bytes",
        "memory.total_bytes",
        true,
    ),
    (
        "swap.used_percent",
        "swap.used_bytes",
        "swap.total_bytes",
        false,
    ),
];

/// A derived percentage from the stored points of its part and total
/// (points at the same time pair up; a zero total gives no point).
pub fn derive_percent(
    part: &[(Timestamp, f64)],
    total: &[(Timestamp, f64)],
    part_is_available: bool,
) -> Vec<(Timestamp, f64)> {
    let totals: std::collections::HashMap<Timestamp, f64> = total.iter().copied().collect();
    part.iter()
        .filter_map(|&(t, p)| {
            let total = *totals.get(&t)?;
            if total <= 0.0 {
                return None;
            }
            let used = if part_is_available { total - p } else { p };
            Some((t, used.max(0.0) * 100.0 / total))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use atalaya_common::model::*;

    #[test]
    fn derived_percent_pairs_points_by_time() {
        let t = Timestamp;
        let available = [(t(1), 25.0), (t(2), 50.0), (t(3), 10.0)];
        let total = [(t(1), 100.0), (t(2), 0.0)];
        assert_eq!(
            derive_percent(&available, &total, true),
            [(t(1), 75.0)],
            "no total at t3, a zero total at t2"
        );
        assert_eq!(derive_percent(&available, &total, false), [(t(1), 25.0)]);
    }

    #[test]
    fn series_split_into_metric_and_subject() {
        assert_eq!(
            split_series("filesystem.used_percent{mount=/var}"),
            ("filesystem.used_percent", "/var")
        );
        assert_eq!(split_series("load.one"), ("load.one", ""));
        assert_eq!(
            split_series("network.rx_errors{interface=eth0}"),
            ("network.rx_errors", "eth0")
        );
        // A mount point may itself hold `=` or `}`; only the first `=` splits.
        assert_eq!(split_series("fs.x{mount=/a=b}"), ("fs.x", "/a=b"));
        assert_eq!(split_series("odd{"), ("odd", ""));
    }

    #[test]
    fn every_series_of_a_full_sample_is_a_known_metric() {
        let sample = HealthSample {
            cpu: Some(CpuUsage {
                per_core_percent: vec![1.0],
                ..CpuUsage::default()
            }),
            memory: MemoryUsage {
                total_bytes: 1000,
                available_bytes: 250,
                used_bytes: 750,
                swap_total_bytes: 100,
                swap_used_bytes: 10,
                ..MemoryUsage::default()
            },
            filesystems: vec![FilesystemUsage {
                mount_point: "/".into(),
                inodes_used_percent: Some(1.0),
                ..FilesystemUsage::default()
            }],
            disks: vec![DiskIo::default()],
            network: vec![NetworkIo::default()],
            temperatures: vec![Temperature::default()],
            ..HealthSample::default()
        };
        let points = points(&sample);
        for (series, _) in &points {
            let (metric, _) = split_series(series);
            assert!(KNOWN_METRICS.contains(&metric), "{metric} is not listed");
        }
        let get = |n: &str| points.iter().find(|p| p.0 == n).map(|p| p.1);
        assert_eq!(get("memory.used_percent"), Some(75.0));
        assert_eq!(get("swap.used_percent"), Some(10.0));
        let mut sorted = KNOWN_METRICS.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, KNOWN_METRICS, "kept sorted for binary search");
    }
}
