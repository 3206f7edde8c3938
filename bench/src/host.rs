//! A simulated host for the storage benchmarks: CPU ticks, load, used
//! memory, disk and network rates and temperatures follow random walks
//! computed the way the agent computes them (percent of jiffies, counts
//! over the measured interval); totals stay constant.

use atalaya_common::model::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// One simulated host's counters and gauges.
#[derive(Debug)]
pub struct Host {
    rng: StdRng,
    cores: usize,
    busy: Vec<f64>,
    load: f64,
    mem_used_kb: u64,
    cached_kb: u64,
    root_used: u64,
    disk_rate: f64,
    net_rate: f64,
    temp: f64,
    procs: u32,
    rss_pages: u64,
    uptime: u64,
}

const MEM_TOTAL_KB: u64 = 16 * 1024 * 1024;
const ROOT_TOTAL: u64 = 100 * 1024 * 1024 * 1024;

impl Host {
    /// A host of its own random walks, from `seed`.
    pub fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        Host {
            cores: 4,
            busy: vec![10.0; 4],
            load: rng.random_range(0.1..2.0),
            mem_used_kb: rng.random_range(2_000_000..8_000_000),
            cached_kb: rng.random_range(1_000_000..4_000_000),
            root_used: rng.random_range(10..60) * 1024 * 1024 * 1024,
            disk_rate: 20_000.0,
            net_rate: 5_000.0,
            temp: rng.random_range(38.0f64..50.0).round(),
            procs: rng.random_range(150..300),
            rss_pages: 2_500,
            uptime: rng.random_range(1_000..1_000_000),
            rng,
        }
    }

    fn walk(&mut self, v: f64, step: f64, lo: f64, hi: f64) -> f64 {
        (v + self.rng.random_range(-step..step)).clamp(lo, hi)
    }

    /// Its next sample, taken at `at` (ms) `seconds` after the last.
    pub fn sample(&mut self, at: i64, seconds: f64) -> HealthSample {
        let hz_ticks = (seconds * 100.0).round() as u64; // USER_HZ per core
        let mut per_core = Vec::new();
        let (mut busy_sum, mut total_sum) = (0u64, 0u64);
        for c in 0..self.cores {
            self.busy[c] = self.walk(self.busy[c], 3.0, 0.0, 100.0);
            // Two readings of /proc/stat 10 s apart see 1000 ± 1 ticks of
            // a CPU: the readings fall anywhere within a tick.
            let ticks = (hz_ticks + self.rng.random_range(0..=2)).saturating_sub(1);
            let b = (self.busy[c] / 100.0 * ticks as f64) as u64;
            busy_sum += b;
            total_sum += ticks;
            per_core.push(100.0 * b as f64 / ticks.max(1) as f64);
        }
        let pct = |part: u64| 100.0 * part as f64 / total_sum.max(1) as f64;
        let user = busy_sum * 7 / 10;
        let iowait = self.rng.random_range(0..3u64);
        self.load = (self.walk(self.load, 0.1, 0.0, 8.0) * 100.0).round() / 100.0;
        let step = self.rng.random_range(-20_000i64..20_000);
        self.mem_used_kb = self
            .mem_used_kb
            .saturating_add_signed(step)
            .min(MEM_TOTAL_KB);
        if self.rng.random_bool(0.1) {
            self.cached_kb += self.rng.random_range(0..4_000);
        }
        if self.rng.random_bool(0.2) {
            self.root_used += self.rng.random_range(1..64) * 4096;
        }
        self.disk_rate = self.walk(self.disk_rate, 8_000.0, 0.0, 5e6);
        self.net_rate = self.walk(self.net_rate, 2_000.0, 0.0, 1e7);
        if self.rng.random_bool(0.2) {
            self.temp = self.walk(self.temp, 1.5, 30.0, 90.0).round();
        }
        if self.rng.random_bool(0.3) {
            self.procs = self
                .procs
                .saturating_add_signed(self.rng.random_range(-3..4));
        }
        if self.rng.random_bool(0.05) {
            self.rss_pages += 1;
        }
        self.uptime += seconds.round() as u64;
        // Rates are counts over the measured interval, as the agent does.
        let written_sectors = (self.disk_rate * seconds / 512.0) as u64;
        let reads = if self.rng.random_bool(0.1) {
            self.rng.random_range(1..40u64)
        } else {
            0
        };
        let rx_bytes = (self.net_rate * seconds) as u64;
        let tx_bytes = rx_bytes / 3 + self.rng.random_range(0..500);
        let root_avail = ROOT_TOTAL - self.root_used;
        HealthSample {
            at: Timestamp(at),
            interval_ms: (seconds * 1000.0) as u64,
            cpu: Some(CpuUsage {
                total_percent: pct(busy_sum),
                user_percent: pct(user),
                system_percent: pct(busy_sum - user),
                iowait_percent: pct(iowait),
                steal_percent: 0.0,
                per_core_percent: per_core,
            }),
            load: LoadAverage {
                one: self.load,
                five: (self.load * 80.0).round() / 100.0,
                fifteen: (self.load * 60.0).round() / 100.0,
            },
            memory: MemoryUsage {
                total_bytes: MEM_TOTAL_KB * 1024,
                used_bytes: self.mem_used_kb * 1024,
                available_bytes: (MEM_TOTAL_KB - self.mem_used_kb) * 1024,
                cached_bytes: self.cached_kb * 1024,
                swap_total_bytes: 2 * 1024 * 1024 * 1024,
                swap_used_bytes: 0,
            },
            filesystems: vec![
                FilesystemUsage {
                    mount_point: "/".into(),
                    total_bytes: ROOT_TOTAL,
                    used_bytes: self.root_used,
                    available_bytes: root_avail,
                    used_percent: 100.0 * self.root_used as f64 / ROOT_TOTAL as f64,
                    inodes_used_percent: Some(4.0),
                },
                FilesystemUsage {
                    mount_point: "/boot".into(),
                    total_bytes: 1 << 30,
                    used_bytes: 200 << 20,
                    available_bytes: (1 << 30) - (200 << 20),
                    used_percent: 19.53125,
                    inodes_used_percent: Some(0.5),
                },
            ],
            disks: vec![DiskIo {
                name: "sda".into(),
                read_bytes_per_second: (reads * 8 * 512) as f64 / seconds,
                write_bytes_per_second: (written_sectors * 512) as f64 / seconds,
                reads_per_second: reads as f64 / seconds,
                writes_per_second: (written_sectors / 16) as f64 / seconds,
                busy_percent: 100.0 * (written_sectors / 64) as f64 / (seconds * 1000.0),
            }],
            network: vec![NetworkIo {
                interface: "eth0".into(),
                rx_bytes_per_second: rx_bytes as f64 / seconds,
                tx_bytes_per_second: tx_bytes as f64 / seconds,
                rx_packets_per_second: (rx_bytes / 800) as f64 / seconds,
                tx_packets_per_second: (tx_bytes / 600) as f64 / seconds,
                ..NetworkIo::default()
            }],
            temperatures: vec![
                Temperature {
                    sensor: "coretemp/temp1".into(),
                    label: Some("Package id 0".into()),
                    celsius: self.temp,
                },
                Temperature {
                    sensor: "acpitz/temp1".into(),
                    label: None,
                    celsius: 27.8,
                },
            ],
            processes: ProcessCount {
                total: self.procs,
                running: 1,
                zombie: 0,
            },
            uptime_seconds: self.uptime,
            agent: AgentUsage {
                cpu_percent: 100.0 * self.rng.random_range(0..3u64) as f64 / (seconds * 100.0),
                rss_bytes: self.rss_pages * 4096,
            },
            ..HealthSample::default()
        }
    }
}
