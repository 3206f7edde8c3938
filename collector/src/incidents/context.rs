//! What a user-report incident tells about the machine: a summary of its
//! current inventory and the last hour of its health, so the technician
//! who picks the incident up sees the machine without asking the caller.
//!
//! Pure functions over the inventory and the points the collector read;
//! the incident desk does the reading.

use std::fmt::Write as _;

use atalaya_common::diff;
use atalaya_common::model::{Inventory, Timestamp};
use atalaya_common::render;

/// How far back the health part looks.
pub const HEALTH_WINDOW_MS: i64 = 3_600_000;

/// Metrics shown in the health part, in this order; each matches the
/// stored series with that metric (a labelled series once per label).
/// `memory.used_percent` is derived by the caller.
pub const HEALTH_METRICS: &[&str] = &[
    "cpu.total_percent",
    "cpu.iowait_percent",
    "memory.used_percent",
    "swap.used_percent",
    "load.one",
    "filesystem.used_percent",
    "disk.busy_percent",
    "temperature.celsius",
    "processes.zombie",
];

/// One series over the window.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesStats {
    /// Series name as stored (or derived), e.g. `filesystem.used_percent{mount=/}`.
    pub series: String,
    /// Points in the window.
    pub samples: usize,
    /// Lowest value.
    pub min: f64,
    /// Mean.
    pub avg: f64,
    /// Highest value.
    pub max: f64,
    /// The newest value.
    pub last: f64,
}

/// The statistics of `points` (oldest first); `None` when there are none.
pub fn stats(series: &str, points: &[(Timestamp, f64)]) -> Option<SeriesStats> {
    let last = points.last()?.1;
    let (mut min, mut max, mut sum) = (f64::INFINITY, f64::NEG_INFINITY, 0.0);
    for &(_, v) in points {
        min = min.min(v);
        max = max.max(v);
        sum += v;
    }
    Some(SeriesStats {
        series: series.to_owned(),
        samples: points.len(),
        min,
        avg: sum / points.len() as f64,
        max,
        last,
    })
}

/// The stored series to show, in [`HEALTH_METRICS`] order, from an asset's
/// series names.
pub fn wanted_series(names: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for metric in HEALTH_METRICS {
        for name in names {
            let (m, _) = crate::helpers::series::split_series(name);
            if m == *metric {
                out.push(name.clone());
            }
        }
    }
    out
}

/// The machine part: what the machine is, its disks and addresses, who is
/// logged in; from the inventory the collector holds, in the lines every
/// Atalaya screen shows for an inventory. Volatile values (free space…)
/// are left out: the collector's copy of them is only as fresh as the last
/// snapshot, and the health part shows them now.
pub fn machine(inv: &Inventory) -> String {
    let inv = diff::without_volatile(inv);
    let sections: [fn(&Inventory) -> Vec<render::Line>; 7] = [
        render::host,
        render::os,
        render::hardware,
        render::memory,
        render::storage,
        render::network,
        render::users,
    ];
    let lines: Vec<render::Line> = sections.iter().flat_map(|s| s(&inv)).collect();
    format!(
        "Machine (inventory as last reported):\n{}",
        render::text(&lines, "  ")
    )
}

/// The health part: one line per series over `[from, to]`.
pub fn health(series: &[SeriesStats], from: Timestamp, to: Timestamp) -> String {
    if series.is_empty() {
        return format!("Health {from} to {to}: no samples.\n");
    }
    let width = series.iter().map(|s| s.series.len()).max().unwrap_or(0);
    let mut out = format!("Health {from} to {to}:\n");
    let _ = writeln!(
        out,
        "  {:<width$} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "series", "now", "min", "avg", "max", "samples"
    );
    for s in series {
        let _ = writeln!(
            out,
            "  {:<width$} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>7}",
            s.series, s.last, s.min, s.avg, s.max, s.samples
        );
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;
    use atalaya_common::model::{Filesystem, Interface, IpNet, Session};

    #[test]
    fn stats_of_a_series() {
        let p = |t: i64, v: f64| (Timestamp(t), v);
        let s = stats("cpu.total_percent", &[p(1, 10.0), p(2, 30.0), p(3, 20.0)]).unwrap();
        assert_eq!(
            (s.min, s.avg, s.max, s.last, s.samples),
            (10.0, 20.0, 30.0, 20.0, 3)
        );
        assert_eq!(stats("x", &[]), None);
    }

    #[test]
    fn wanted_series_follow_the_list_order() {
        let names: Vec<String> = [
            "network.rx_errors{interface=eth0}",
            "filesystem.used_percent{mount=/var}",
            "cpu.total_percent",
            "filesystem.used_percent{mount=/}",
            "memory.used_percent",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            wanted_series(&names),
            [
                "cpu.total_percent",
                "memory.used_percent",
                "filesystem.used_percent{mount=/var}",
                "filesystem.used_percent{mount=/}"
            ]
        );
    }

    #[test]
    fn machine_summary_names_the_person_and_the_machine() {
        let mut inv = Inventory::default();
        inv.host.hostname = "pc-17".into();
        inv.os.pretty_name = Some("Debian GNU/Linux 12 (bookworm)".into());
        inv.hardware.system.vendor = Some("Dell Inc.".into());
        inv.hardware.system.product = Some("Latitude 7420".into());
        inv.hardware.system.serial = Some("7XK2B43".into());
        inv.hardware.memory.total_bytes = 16 << 30;
        inv.network.interfaces.push(Interface {
            name: "wlp0s20f3".into(),
            addresses: vec![IpNet {
                address: "192.168.1.17".parse().unwrap(),
                prefix: 24,
            }],
            ..Interface::default()
        });
        inv.users.sessions.push(Session {
            user: "maria".into(),
            tty: "tty2".into(),
            ..Session::default()
        });
        inv.storage.filesystems.push(Filesystem {
            mount_point: "/".into(),
            device: "/dev/sda2".into(),
            fs_type: "ext4".into(),
            total_bytes: Some(100 << 30),
            free_bytes: Some(25 << 30),
            ..Filesystem::default()
        });
        let text = machine(&inv);
        assert!(text.contains("\n  Host         pc-17\n"), "{text}");
        assert!(
            text.contains("  OS           Debian GNU/Linux 12 (bookworm)\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "  Machine      machine kind unknown · Dell Inc. Latitude 7420 · serial 7XK2B43\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("  Memory       16 GiB (swap 0 B)\n"),
            "{text}"
        );
        assert!(
            text.contains("  Interface    wlp0s20f3 - 192.168.1.17/24\n"),
            "{text}"
        );
        assert!(
            text.contains("  Filesystem   / ext4 on /dev/sda2 · 100 GiB\n"),
            "free space is left out: {text}"
        );
        assert!(text.contains("  Logged in    maria on tty2\n"), "{text}");
        assert!(!text.contains("CPU"), "no CPU model, no CPU line: {text}");
    }

    #[test]
    fn health_table_has_a_line_per_series() {
        let s = stats("load.one", &[(Timestamp(0), 0.5), (Timestamp(1), 1.5)]).unwrap();
        let text = health(&[s], Timestamp(0), Timestamp(HEALTH_WINDOW_MS));
        assert!(
            text.starts_with("Health 1970-01-01T00:00:00Z to 1970-01-01T01:00:00Z:\n"),
            "{text}"
        );
        assert!(
            text.contains("load.one       1.5       0.5       1.0       1.5       2"),
            "{text}"
        );
        assert_eq!(
            health(&[], Timestamp(0), Timestamp(1)),
            "Health 1970-01-01T00:00:00Z to 1970-01-01T00:00:00.001Z: no samples.\n"
        );
    }
}
