//! Installed capacity: CPUs, cores, memory, disk and interface bandwidth
//! summed by tag, OS, model or site, with how much of each is in use (by
//! the 95th percentile of each asset's use), and where a group has far
//! more than it uses or too little.
//!
//! An asset with several tags counts in each of their groups; one without
//! any counts under `(none)`. The site of an asset is the value of its
//! `site:NAME` tag, else a network device's `sysLocation`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{AssetClass, Day};

/// Under this share in use, a group has more than it needs, percent.
pub const OVER_PROVISIONED_BELOW: f64 = 20.0;
/// Over this share in use, a group is short of it, percent.
pub const UNDER_PROVISIONED_ABOVE: f64 = 80.0;

/// The tag prefix naming an asset's site.
pub const SITE_TAG: &str = "site:";

/// What one asset has installed and uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AssetCapacity {
    /// Asset id.
    pub asset_id: String,
    /// Host or network device.
    pub class: Option<AssetClass>,
    /// Tags.
    pub tags: Vec<String>,
    /// OS name (`Debian GNU/Linux 12 (bookworm)`), or a device's software.
    pub os: Option<String>,
    /// Vendor and model.
    pub model: Option<String>,
    /// A network device's `sysLocation`.
    pub location: Option<String>,
    /// CPU sockets (a device's processors).
    pub cpus: u64,
    /// Physical cores.
    pub cores: u64,
    /// Logical CPUs (threads).
    pub threads: u64,
    /// Memory, bytes.
    pub memory_bytes: u64,
    /// Fixed disks, bytes.
    pub disk_bytes: u64,
    /// Speed of the interfaces that are up, bits per second.
    pub bandwidth_bps: u64,
    /// 95th percentile of CPU use, percent.
    pub cpu_p95_percent: Option<f64>,
    /// 95th percentile of memory use, percent.
    pub memory_p95_percent: Option<f64>,
    /// Sum of the 95th percentiles of the filesystems' used bytes.
    pub disk_used_p95_bytes: Option<f64>,
    /// Sum over the interfaces of the 95th percentile of the busier direction, bits per second.
    pub bandwidth_p95_bps: Option<f64>,
}

impl AssetCapacity {
    /// The site: the `site:NAME` tag, else the device's location.
    pub fn site(&self) -> Option<String> {
        self.tags
            .iter()
            .find_map(|t| t.strip_prefix(SITE_TAG))
            .map(str::to_owned)
            .or_else(|| self.location.clone().filter(|l| !l.trim().is_empty()))
    }
}

/// What assets are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// Each tag.
    Tag,
    /// OS name.
    Os,
    /// Vendor and model.
    Model,
    /// Site.
    Site,
}

impl GroupBy {
    /// From `tag`, `os`, `model` or `site`.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "tag" => GroupBy::Tag,
            "os" => GroupBy::Os,
            "model" => GroupBy::Model,
            "site" => GroupBy::Site,
            _ => return None,
        })
    }

    /// As [`GroupBy::from_name`] takes it.
    pub fn name(self) -> &'static str {
        match self {
            GroupBy::Tag => "tag",
            GroupBy::Os => "os",
            GroupBy::Model => "model",
            GroupBy::Site => "site",
        }
    }

    fn keys(self, a: &AssetCapacity) -> Vec<String> {
        let none = || vec![NONE.to_owned()];
        match self {
            GroupBy::Tag if a.tags.is_empty() => none(),
            GroupBy::Tag => a.tags.clone(),
            GroupBy::Os => a.os.clone().map_or_else(none, |o| vec![o]),
            GroupBy::Model => a.model.clone().map_or_else(none, |m| vec![m]),
            GroupBy::Site => a.site().map_or_else(none, |s| vec![s]),
        }
    }
}

/// The group of assets without the grouping's value.
pub const NONE: &str = "(none)";

/// Totals of one group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InstalledGroup {
    /// The tag, OS, model or site.
    pub group: String,
    /// Assets in it.
    pub assets: usize,
    /// CPU sockets.
    pub cpus: u64,
    /// Physical cores.
    pub cores: u64,
    /// Logical CPUs.
    pub threads: u64,
    /// Memory, bytes.
    pub memory_bytes: u64,
    /// Fixed disks, bytes.
    pub disk_bytes: u64,
    /// Interfaces up, bits per second.
    pub bandwidth_bps: u64,
    /// CPU in use (95th percentile), percent of the logical CPUs of the assets measured.
    pub cpu_used_percent: Option<f64>,
    /// Memory in use (95th percentile), percent of the memory of the assets measured.
    pub memory_used_percent: Option<f64>,
    /// Filesystems' used bytes (95th percentile), percent of the disks of the assets measured.
    pub disk_used_percent: Option<f64>,
    /// Traffic (95th percentile), percent of the bandwidth of the assets measured.
    pub bandwidth_used_percent: Option<f64>,
    /// Over- and under-provisioning, in words.
    pub notes: Vec<String>,
}

/// The installed capacity report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InstalledReport {
    /// The day it was made.
    pub as_of: Day,
    /// What the groups are.
    pub by: GroupBy,
    /// Groups by name, then the whole fleet as `(all)`.
    pub groups: Vec<InstalledGroup>,
}

/// Sums of installed amounts and of the part in use, over the assets measured.
#[derive(Debug, Clone, Copy, Default)]
struct Share {
    used: f64,
    of: f64,
}

impl Share {
    fn add(&mut self, installed: f64, used_part: Option<f64>) {
        if let Some(used) = used_part
            && installed > 0.0
        {
            self.used += used;
            self.of += installed;
        }
    }

    fn percent(self) -> Option<f64> {
        (self.of > 0.0).then(|| self.used * 100.0 / self.of)
    }
}

#[derive(Debug, Default)]
struct Sums {
    group: InstalledGroup,
    cpu: Share,
    memory: Share,
    disk: Share,
    bandwidth: Share,
}

impl Sums {
    fn add(&mut self, a: &AssetCapacity) {
        let g = &mut self.group;
        g.assets += 1;
        g.cpus += a.cpus;
        g.cores += a.cores;
        g.threads += a.threads;
        g.memory_bytes += a.memory_bytes;
        g.disk_bytes += a.disk_bytes;
        g.bandwidth_bps += a.bandwidth_bps;
        let threads = a.threads as f64;
        self.cpu
            .add(threads, a.cpu_p95_percent.map(|p| threads * p / 100.0));
        let memory = a.memory_bytes as f64;
        self.memory
            .add(memory, a.memory_p95_percent.map(|p| memory * p / 100.0));
        self.disk.add(a.disk_bytes as f64, a.disk_used_p95_bytes);
        self.bandwidth
            .add(a.bandwidth_bps as f64, a.bandwidth_p95_bps);
    }

    fn finish(mut self, name: String) -> InstalledGroup {
        let g = &mut self.group;
        g.group = name;
        g.cpu_used_percent = self.cpu.percent();
        g.memory_used_percent = self.memory.percent();
        g.disk_used_percent = self.disk.percent();
        g.bandwidth_used_percent = self.bandwidth.percent();
        for (what, used) in [
            ("CPU", g.cpu_used_percent),
            ("memory", g.memory_used_percent),
            ("disk", g.disk_used_percent),
            ("bandwidth", g.bandwidth_used_percent),
        ] {
            match used {
                Some(u) if u < OVER_PROVISIONED_BELOW => g.notes.push(format!(
                    "{what} over-provisioned ({} % used)",
                    super::num(u, 0)
                )),
                Some(u) if u > UNDER_PROVISIONED_ABOVE => g
                    .notes
                    .push(format!("{what} short ({} % used)", super::num(u, 0))),
                _ => {}
            }
        }
        self.group
    }
}

/// The group for all assets, after the others.
pub const ALL: &str = "(all)";

/// Totals of `assets` grouped `by`, and of all of them.
pub fn report(assets: &[AssetCapacity], by: GroupBy, as_of: Day) -> InstalledReport {
    let mut groups: BTreeMap<String, Sums> = BTreeMap::new();
    let mut all = Sums::default();
    for a in assets {
        all.add(a);
        let mut keys = by.keys(a);
        keys.sort();
        keys.dedup();
        for key in keys {
            groups.entry(key).or_default().add(a);
        }
    }
    let mut out: Vec<InstalledGroup> = groups
        .into_iter()
        .map(|(name, sums)| sums.finish(name))
        .collect();
    out.push(all.finish(ALL.to_owned()));
    InstalledReport {
        as_of,
        by,
        groups: out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(id: &str, tags: &[&str], threads: u64, cpu: Option<f64>) -> AssetCapacity {
        AssetCapacity {
            asset_id: id.into(),
            class: Some(AssetClass::Host),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            os: Some("Debian GNU/Linux 12 (bookworm)".into()),
            model: Some("Dell Inc. PowerEdge R650".into()),
            cpus: 1,
            cores: threads / 2,
            threads,
            memory_bytes: 64 << 30,
            disk_bytes: 1_000_000_000_000,
            bandwidth_bps: 10_000_000_000,
            cpu_p95_percent: cpu,
            memory_p95_percent: Some(90.0),
            disk_used_p95_bytes: Some(500_000_000_000.0),
            bandwidth_p95_bps: None,
            ..AssetCapacity::default()
        }
    }

    #[test]
    fn groups_sum_installed_and_weigh_use_by_size() {
        let assets = [
            asset("a", &["web", "site:mad"], 8, Some(10.0)),
            asset("b", &["web"], 24, Some(2.0)),
            asset("c", &[], 16, None),
        ];
        let day = Day::parse("2026-05-01").unwrap();
        let r = report(&assets, GroupBy::Tag, day);
        let names: Vec<&str> = r.groups.iter().map(|g| g.group.as_str()).collect();
        assert_eq!(names, ["(none)", "site:mad", "web", "(all)"]);
        let web = &r.groups[2];
        assert_eq!(
            (web.assets, web.cpus, web.cores, web.threads),
            (2, 2, 16, 32)
        );
        // (8 × 10 % + 24 × 2 %) of 32 CPUs = 4 %.
        assert!((web.cpu_used_percent.unwrap() - 4.0).abs() < 1e-9);
        assert_eq!(web.memory_used_percent, Some(90.0));
        assert_eq!(web.disk_used_percent, Some(50.0));
        assert_eq!(web.bandwidth_used_percent, None);
        assert_eq!(
            web.notes,
            [
                "CPU over-provisioned (4 % used)",
                "memory short (90 % used)"
            ]
        );
        let all = r.groups.last().unwrap();
        assert_eq!((all.assets, all.threads), (3, 48));
        // c has no CPU figures: its CPUs count as installed, not in the share.
        assert!((all.cpu_used_percent.unwrap() - 4.0).abs() < 1e-9);
        let sites = report(&assets, GroupBy::Site, day);
        let names: Vec<&str> = sites.groups.iter().map(|g| g.group.as_str()).collect();
        assert_eq!(names, ["(none)", "mad", "(all)"]);
        assert_eq!(GroupBy::from_name("model"), Some(GroupBy::Model));
        assert_eq!(GroupBy::from_name("rack"), None);
    }
}
