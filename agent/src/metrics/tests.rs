//! The sampler over fixture trees `t0` → `t1` → `t2` taken 10 s apart, and
//! once over the live host.
//!
//! Between `t0` and `t1` every counter grows by a known amount. In `t2`
//! `sda` was re-created (its counters reset), `eth0`'s 32-bit receive byte
//! counter wrapped, `wlan0` appeared, `virbr0` vanished, `cpu2` came
//! online, pid 1001 was recycled and hwmon reports no temperature.
//! Their mount table lists `/` (the tree itself) and `/srv/data`, which
//! the tree does not have: neither is measured.

use std::path::PathBuf;
use std::time::Duration;

use super::*;

fn tree(name: &str) -> Root {
    Root::new(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/metrics")
            .join(name),
    )
}

/// A sampler that has sampled `t0` at 100 s and is pointed at `t1`.
fn after_t0() -> Sampler {
    let mut s = Sampler::new(tree("t0"));
    s.sample_at(
        Timestamp::from_secs(1_795_863_490),
        Duration::from_secs(100),
    );
    s.reader.root = tree("t1");
    s
}

fn names(list: &[ProcessUsage]) -> Vec<(u32, &str)> {
    list.iter().map(|p| (p.pid, p.name.as_str())).collect()
}

#[test]
fn uptime_is_whole_seconds() {
    assert_eq!(parse_uptime("12345.67 23000.12\n"), Some(12345));
    assert_eq!(parse_uptime(""), None);
}

#[test]
fn counters_wrap_at_32_bits_or_reset() {
    assert_eq!(counter_delta(10, 25), Some(15));
    assert_eq!(counter_delta(u64::from(u32::MAX) - 4, 5), Some(10));
    assert_eq!(counter_delta(8_000_000_000, 160), None);
}

#[test]
fn first_sample_has_gauges_but_no_rates() {
    let mut s = Sampler::new(tree("t0"));
    let h = s.sample_at(
        Timestamp::from_secs(1_795_863_490),
        Duration::from_secs(100),
    );
    assert_eq!(h.at, Timestamp::from_secs(1_795_863_490));
    assert_eq!(h.interval_ms, 0);
    assert_eq!(h.cpu, None);
    assert!(h.disks.is_empty());
    assert!(h.network.is_empty());
    assert!(h.top_cpu.is_empty());
    assert_eq!(h.top_memory.first().map(|p| p.pid), Some(412));
    assert_eq!(h.memory.total_bytes, 16_303_412 * 1024);
    assert_eq!(h.load.one, 0.52);
    assert_eq!(h.uptime_seconds, 12345);
    assert_eq!(
        h.processes,
        ProcessCount {
            total: 7,
            running: 0,
            zombie: 1
        }
    );
    assert!(
        h.filesystems.is_empty(),
        "nothing is mounted inside the fixture tree: {:?}",
        h.filesystems
    );
    assert!(s.gaps().is_empty(), "{:?}", s.gaps());
}

#[test]
fn rates_over_an_injected_interval_are_exact() {
    let mut s = after_t0();
    let h = s.sample_at(
        Timestamp::from_secs(1_795_863_500),
        Duration::from_secs(110),
    );
    assert!(s.gaps().is_empty(), "{:?}", s.gaps());
    assert_eq!(h.interval_ms, 10_000);

    let cpu = h.cpu.unwrap();
    assert_eq!(cpu.total_percent, 35.0);
    assert_eq!(cpu.user_percent, 25.0);
    assert_eq!(cpu.system_percent, 9.0);
    assert_eq!(cpu.iowait_percent, 2.5);
    assert_eq!(cpu.steal_percent, 1.0);
    assert_eq!(cpu.per_core_percent, vec![50.0, 20.0]);

    assert_eq!(
        h.disks,
        vec![
            DiskIo {
                name: "sda".into(),
                read_bytes_per_second: 10_240_000.0,
                write_bytes_per_second: 2_048_000.0,
                reads_per_second: 100.0,
                writes_per_second: 50.0,
                busy_percent: 25.0,
            },
            DiskIo {
                name: "nvme0n1".into(),
                read_bytes_per_second: 204_800_000.0,
                write_bytes_per_second: 0.0,
                reads_per_second: 2000.0,
                writes_per_second: 0.0,
                busy_percent: 50.0,
            },
        ]
    );

    assert_eq!(
        h.network,
        vec![
            NetworkIo {
                interface: "eth0".into(),
                rx_bytes_per_second: 5_000_000.0,
                tx_bytes_per_second: 1_000_000.0,
                rx_packets_per_second: 4000.0,
                tx_packets_per_second: 2000.0,
                rx_errors: 3,
                tx_errors: 0,
                rx_drops: 1,
                tx_drops: 2,
            },
            NetworkIo {
                interface: "virbr0".into(),
                ..NetworkIo::default()
            },
        ]
    );

    assert_eq!(
        h.memory,
        MemoryUsage {
            total_bytes: 16_303_412 * 1024,
            available_bytes: 10_000_000 * 1024,
            used_bytes: 6_303_412 * 1024,
            cached_bytes: (412_300 + 5_230_100 + 301_200) * 1024,
            swap_total_bytes: 4_194_300 * 1024,
            swap_used_bytes: 194_300 * 1024,
        }
    );
    assert_eq!(
        h.load,
        LoadAverage {
            one: 1.25,
            five: 0.75,
            fifteen: 0.61
        }
    );
    assert_eq!(h.uptime_seconds, 12355);
    assert_eq!(
        h.temperatures,
        vec![
            Temperature {
                sensor: "coretemp/temp1".into(),
                label: Some("Package id 0".into()),
                celsius: 47.5
            },
            Temperature {
                sensor: "coretemp/temp2".into(),
                label: Some("Core 0".into()),
                celsius: 43.0
            },
            Temperature {
                sensor: "nvme/temp1".into(),
                label: None,
                celsius: 38.85
            },
        ]
    );
}

#[test]
fn top_processes_are_ordered_by_cpu_and_by_memory() {
    let mut s = after_t0();
    let h = s.sample_at(
        Timestamp::from_secs(1_795_863_500),
        Duration::from_secs(110),
    );
    let page = page_size_bytes();
    assert_eq!(
        names(&h.top_cpu),
        [
            (412, "Web Content"),
            (777, "weird) name"),
            (2000, "cc1"),
            (1001, "postgres"),
            (1, "systemd")
        ]
    );
    let cpu: Vec<f64> = h.top_cpu.iter().map(|p| p.cpu_percent).collect();
    // cc1 was born during the interval: all of its 300 ticks count.
    assert_eq!(cpu, [150.0, 50.0, 30.0, 20.0, 1.0]);
    assert_eq!(
        names(&h.top_memory),
        [
            (412, "Web Content"),
            (1001, "postgres"),
            (2000, "cc1"),
            (777, "weird) name"),
            (1, "systemd")
        ]
    );
    assert_eq!(
        h.top_memory.first().map(|p| p.rss_bytes),
        Some(120_000 * page)
    );
    assert_eq!(
        h.processes,
        ProcessCount {
            total: 7,
            running: 2,
            zombie: 1
        }
    );

    let mut s = Sampler::with_top(tree("t0"), 2);
    s.sample_at(Timestamp::default(), Duration::from_secs(100));
    s.reader.root = tree("t1");
    let h = s.sample_at(Timestamp::default(), Duration::from_secs(110));
    assert_eq!(
        names(&h.top_cpu),
        [(412, "Web Content"), (777, "weird) name")]
    );
    assert_eq!(h.top_memory.len(), 2);
}

fn page_size_bytes() -> u64 {
    u64::try_from(rustix::param::page_size()).unwrap()
}

#[test]
fn wrapped_reset_new_and_vanished_devices() {
    let mut s = after_t0();
    s.sample_at(Timestamp::default(), Duration::from_secs(110));
    s.reader.root = tree("t2");
    let h = s.sample_at(Timestamp::default(), Duration::from_secs(120));

    // sda was reset: no rate this time. nvme0n1 counts on.
    let disks: Vec<&str> = h.disks.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(disks, ["nvme0n1"]);
    let nvme = h.disks.first().unwrap();
    assert_eq!(nvme.read_bytes_per_second, 40_960.0);
    assert_eq!(nvme.write_bytes_per_second, 102_400.0);
    assert_eq!(nvme.busy_percent, 1.0);

    // eth0's 32-bit rx counter wrapped; wlan0 is new; virbr0 is gone.
    let nets: Vec<&str> = h.network.iter().map(|n| n.interface.as_str()).collect();
    assert_eq!(nets, ["eth0"]);
    let eth0 = h.network.first().unwrap();
    assert_eq!(eth0.rx_bytes_per_second, 30_000_000.0);
    assert_eq!(eth0.rx_packets_per_second, 1000.0);
    assert_eq!(eth0.tx_bytes_per_second, 1_000_000.0);

    // cpu2 came online: no previous reading, so 0 % this time.
    assert_eq!(h.cpu.unwrap().per_core_percent, vec![0.0, 100.0, 0.0]);

    // pid 1001 now is a new `bash`: its own 30 ticks, not postgres's.
    assert_eq!(names(&h.top_cpu), [(412, "Web Content"), (1001, "bash")]);
    let cpu: Vec<f64> = h.top_cpu.iter().map(|p| p.cpu_percent).collect();
    assert_eq!(cpu, [10.0, 3.0]);

    // No hwmon temperature: thermal zones instead.
    let temps: Vec<(&str, f64)> = h
        .temperatures
        .iter()
        .map(|t| (t.sensor.as_str(), t.celsius))
        .collect();
    assert_eq!(
        temps,
        [
            ("acpitz/thermal_zone0", 27.8),
            ("x86_pkg_temp/thermal_zone1", 51.0)
        ]
    );

    // The reset disk and the new interface are measured from the next sample on.
    let h = s.sample_at(Timestamp::default(), Duration::from_secs(130));
    let disks: Vec<&str> = h.disks.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(disks, ["sda", "nvme0n1"]);
    let nets: Vec<&str> = h.network.iter().map(|n| n.interface.as_str()).collect();
    assert_eq!(nets, ["eth0", "wlan0"]);
    assert!(h.disks.iter().all(|d| d.read_bytes_per_second == 0.0));
}

#[test]
fn no_time_passed_means_no_rates() {
    let mut s = after_t0();
    let h = s.sample_at(Timestamp::default(), Duration::from_secs(100));
    assert_eq!(h.interval_ms, 0);
    assert_eq!(h.cpu, None);
    assert!(h.disks.is_empty() && h.network.is_empty() && h.top_cpu.is_empty());
}

/// A directory of the live host on another device than `dir`, with
/// blocks (not `/proc` or `/sys`): something to mount inside a fixture.
fn another_filesystem_than(dir: &std::path::Path) -> PathBuf {
    let device = rustix::fs::stat(dir).unwrap().st_dev;
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    mounts
        .lines()
        .filter_map(|l| l.split_ascii_whitespace().nth(1))
        .map(PathBuf::from)
        .find(|p| {
            let on_another = rustix::fs::stat(p).is_ok_and(|s| {
                s.st_dev != device
                    && rustix::fs::FileType::from_raw_mode(s.st_mode)
                        == rustix::fs::FileType::Directory
            });
            on_another && rustix::fs::statvfs(p).is_ok_and(|v| v.f_blocks > 0)
        })
        .unwrap_or_else(|| panic!("no filesystem other than that of {}", dir.display()))
}

#[test]
fn on_a_fixture_only_what_is_mounted_inside_the_tree_is_measured() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("proc/self")).unwrap();
    std::fs::write(
        root.join("proc/self/mounts"),
        "/dev/sda2 / ext4 rw 0 0\n\
         /dev/sda3 /home ext4 rw 0 0\n\
         /dev/sda4 /gone ext4 rw 0 0\n\
         /dev/vdb1 /srv/data ext4 rw 0 0\n",
    )
    .unwrap();
    // `/home` is a plain directory of the tree, `/gone` is missing, and
    // `/srv/data` leads to another filesystem, as a mount there would
    // (mounting needs root; a link to a real mount point does not).
    std::fs::create_dir(root.join("home")).unwrap();
    std::fs::create_dir(root.join("srv")).unwrap();
    let elsewhere = another_filesystem_than(root);
    std::os::unix::fs::symlink(&elsewhere, root.join("srv/data")).unwrap();
    let mut s = Sampler::new(Root::new(root));
    let h = s.sample_at(Timestamp::default(), Duration::from_secs(1));
    assert!(
        !s.gaps().iter().any(|g| g.item == "filesystems"),
        "{:?}",
        s.gaps()
    );
    let points: Vec<&str> = h
        .filesystems
        .iter()
        .map(|f| f.mount_point.as_str())
        .collect();
    assert_eq!(points, ["/srv/data"], "{elsewhere:?}");
    let v = rustix::fs::statvfs(&elsewhere).unwrap();
    assert_eq!(
        h.filesystems.first().unwrap().total_bytes,
        v.f_blocks * v.f_frsize
    );
}

#[test]
fn missing_files_are_gaps_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Sampler::new(Root::new(dir.path()));
    let h = s.sample_at(Timestamp::default(), Duration::from_secs(1));
    assert_eq!(h.memory, MemoryUsage::default());
    let items: Vec<&str> = s.gaps().iter().map(|g| g.item.as_str()).collect();
    for item in [
        "cpu",
        "load",
        "memory",
        "uptime",
        "disks",
        "network",
        "processes",
        "filesystems",
    ] {
        assert!(items.contains(&item), "{item} not in {items:?}");
    }
    assert!(
        h.agent.rss_bytes > 0,
        "the agent is live even on a fixture root"
    );
}

#[test]
fn live_host_sanity() {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let total_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    let mut s = Sampler::new(Root::live());
    let first = s.sample();
    assert_eq!(first.cpu, None);
    std::thread::sleep(Duration::from_millis(50));
    let h = s.sample();
    assert!(h.interval_ms >= 50, "{}", h.interval_ms);
    assert_eq!(h.memory.total_bytes, total_kib * 1024);
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let cpus = stat
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count();
    let cpu = h.cpu.expect("rates on the second sample");
    assert_eq!(cpu.per_core_percent.len(), cpus);
    assert!((0.0..=100.0).contains(&cpu.total_percent));
    assert!(h.agent.rss_bytes > 0);
    assert!(h.processes.total > 0);
    assert!(h.uptime_seconds > 0);
    assert!(
        h.top_memory.iter().any(|p| p.pid == std::process::id())
            || h.top_memory.len() == DEFAULT_TOP
    );
    for fs in &h.filesystems {
        assert!(
            fs.total_bytes > 0 && (0.0..=100.0).contains(&fs.used_percent),
            "{fs:?}"
        );
    }
    assert!(s.gaps().is_empty(), "{:?}", s.gaps());
}
