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
//!
//! # The series rules watch
//! The series the engine watches: names as the store writes them, split
//! into metric and subject, and the derived percentages rules need.
//!
//! A stored series name is a metric with at most one label in braces,
//! `filesystem.used_percent{mount=/var}`.
//! Rules name the metric (`filesystem.used_percent`); the label's value
//! (`/var`) is the incident's subject, so each mount point, interface or
//! disk has its own incident.

use atalaya_common::model::{HealthSample, Timestamp};

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

/// Every metric a rule can watch, as the collector stores them, plus the
/// derived `memory.used_percent` and `swap.used_percent` of [`points`], the
/// series pollers send for network devices, and the probe series of
/// [`atalaya_common::model::probe::series`].
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
    "interface.in_bits_per_second",
    "interface.in_discards_per_second",
    "interface.in_errors_per_second",
    "interface.in_utilisation_percent",
    "interface.oper_up",
    "interface.out_bits_per_second",
    "interface.out_discards_per_second",
    "interface.out_errors_per_second",
    "interface.out_utilisation_percent",
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
    "probe.jitter_ms",
    "probe.loss_percent",
    "probe.rtt_max_ms",
    "probe.rtt_min_ms",
    "probe.rtt_ms",
    "processes.running",
    "processes.total",
    "processes.zombie",
    "snmp.reachable",
    "snmp.response_ms",
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
/// ([`flatten`]) and the memory and swap use in
/// percent, which rules need to be the same on every machine size.
pub fn points(sample: &HealthSample) -> Vec<(String, f64)> {
    let mut out = flatten(sample);
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
mod derived_tests {
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
