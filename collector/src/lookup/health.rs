//! Health now: the latest value of the series people look at first, each
//! from the last [`HEALTH_WINDOW_MS`].

use std::collections::BTreeMap;

use atalaya_common::model::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::helpers::series::{derive_percent, split_series, stored_value};

/// How far back "health now" looks for the latest point of each series, ms.
pub const HEALTH_WINDOW_MS: i64 = 10 * 60_000;

const CPU: &str = "cpu.total_percent";
const LOAD: &str = "load.one";
const MEMORY_AVAILABLE: &str = "memory.available_bytes";
const MEMORY_TOTAL: &str = "memory.total_bytes";
const FILESYSTEM: &str = "filesystem.used_percent";

/// Use of one mounted filesystem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MountUse {
    /// Mount point.
    pub mount: String,
    /// Space used, percent.
    pub used_percent: f64,
}

/// The latest value of the health series people look at first, each from
/// the last [`HEALTH_WINDOW_MS`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Time of the newest of these points.
    pub at: Timestamp,
    /// `cpu.total_percent`.
    pub cpu_percent: Option<f64>,
    /// Memory in use, percent: (total − available) / total, as the
    /// incident rules see it.
    pub memory_used_percent: Option<f64>,
    /// `load.one`.
    pub load_one: Option<f64>,
    /// `filesystem.used_percent` per mount point, sorted by mount.
    pub filesystems: Vec<MountUse>,
}

/// The time range whose points are health at `now`: the last
/// [`HEALTH_WINDOW_MS`], and as far ahead, since an agent's clock a little
/// ahead of ours still counts as now.
pub fn window(now: Timestamp) -> (Timestamp, Timestamp) {
    (
        Timestamp(now.0.saturating_sub(HEALTH_WINDOW_MS)),
        Timestamp(now.0.saturating_add(HEALTH_WINDOW_MS)),
    )
}

/// The series to read for [`summary`], of an asset that has the series
/// `names`.
pub fn series(names: &[String]) -> Vec<&str> {
    let mut out = vec![CPU, LOAD, MEMORY_AVAILABLE, MEMORY_TOTAL];
    out.extend(
        names
            .iter()
            .map(String::as_str)
            .filter(|n| split_series(n).0 == FILESYSTEM),
    );
    out
}

/// Health from `points`, the points in the [`window`] of each series
/// [`series`] names, oldest first (a series missing: no points); `None`
/// when none of the series shown has a point.
pub fn summary(points: &BTreeMap<String, Vec<(Timestamp, f64)>>) -> Option<Health> {
    let read = |series: &str| points.get(series).map_or(&[][..], Vec::as_slice);
    let mut newest: Option<Timestamp> = None;
    let mut latest_of = |points: &[(Timestamp, f64)]| {
        let last = points.last().copied();
        if let Some((at, _)) = last {
            newest = newest.max(Some(at));
        }
        last.map(|(_, v)| v)
    };
    let cpu_percent = latest_of(read(CPU));
    let load_one = latest_of(read(LOAD));
    // As the incident rules see it (see `series::DERIVED_PERCENTS`).
    let memory = derive_percent(read(MEMORY_AVAILABLE), read(MEMORY_TOTAL), true);
    let memory_used_percent = latest_of(&memory).map(|v| stored_value("memory.used_percent", v));
    let mut filesystems = Vec::new();
    for (name, points) in points {
        let (metric, mount) = split_series(name);
        if metric != FILESYSTEM {
            continue;
        }
        if let Some(used_percent) = latest_of(points) {
            filesystems.push(MountUse {
                mount: mount.to_owned(),
                used_percent,
            });
        }
    }
    filesystems.sort_by(|a, b| a.mount.cmp(&b.mount));
    newest.map(|at| Health {
        at,
        cpu_percent,
        memory_used_percent,
        load_one,
        filesystems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_series_gives_its_latest_point_and_the_newest_point_dates_it() {
        let names: Vec<String> = ["cpu.total_percent", "filesystem.used_percent{mount=/}"]
            .map(String::from)
            .into();
        let wanted = series(&names);
        assert!(wanted.contains(&"filesystem.used_percent{mount=/}"));
        assert!(wanted.contains(&"memory.total_bytes"));
        let points: BTreeMap<String, Vec<(Timestamp, f64)>> = [
            (
                "cpu.total_percent",
                vec![(Timestamp(1), 90.0), (Timestamp(5), 12.5)],
            ),
            ("memory.available_bytes", vec![(Timestamp(5), 250.0)]),
            ("memory.total_bytes", vec![(Timestamp(5), 1_000.0)]),
            (
                "filesystem.used_percent{mount=/}",
                vec![(Timestamp(7), 97.0)],
            ),
            ("load.one", vec![]),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let h = summary(&points).unwrap();
        assert_eq!(h.at, Timestamp(7));
        assert_eq!(
            (h.cpu_percent, h.memory_used_percent, h.load_one),
            (Some(12.5), Some(75.0), None)
        );
        assert_eq!(
            h.filesystems,
            [MountUse {
                mount: "/".into(),
                used_percent: 97.0
            }]
        );
        assert_eq!(summary(&BTreeMap::new()), None);
    }
}
