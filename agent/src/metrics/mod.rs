//! Health sampling: gauges read now, rates computed from kernel counters
//! between two samples.
//!
//! One file per area, as Vector's `host_metrics` does: each parses its
//! `/proc` or `/sys` text with pure functions and keeps only the counters
//! it needs for the next rate. A [`Sampler`] reads everything through a
//! [`Root`], reusing one read buffer, so a sample costs a few hundred
//! microseconds and allocates little beyond the sample itself.
//!
//! # Layout
//! - [`cpu`]: total and per-CPU shares, from `/proc/stat`.
//! - [`load`]: load averages, from `/proc/loadavg`.
//! - [`memory`]: memory and swap, from `/proc/meminfo`.
//! - [`filesystem`]: the mount table and `statvfs` (on a fixture root,
//!   only what is mounted inside the tree).
//! - [`disk`]: whole-disk I/O, from `/proc/diskstats`.
//! - [`network`]: interface traffic, from `/proc/net/dev`.
//! - [`thermal`]: hwmon sensors, or thermal zones.
//! - [`process`]: counts, top processes and the agent itself, from `/proc/<pid>/stat`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::mem;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use atalaya_common::model::*;

use crate::root::{Gaps, MOUNT_TABLES, Root};

pub mod cpu;
pub mod disk;
pub mod filesystem;
pub mod load;
pub mod memory;
pub mod network;
pub mod process;
pub mod thermal;

/// How many processes `top_cpu` and `top_memory` hold unless told otherwise.
pub const DEFAULT_TOP: usize = 5;

/// The source name under which sampling gaps are recorded.
const SOURCE: &str = "metrics";

/// Takes health samples; keeps the previous counters to compute rates.
#[derive(Debug)]
pub struct Sampler {
    reader: Reader,
    top: usize,
    /// Monotonic time of the previous sample, `None` before the first.
    previous: Option<Duration>,
    cpu: cpu::CpuState,
    disks: Baseline<{ disk::FIELDS }>,
    network: Baseline<{ network::FIELDS }>,
    processes: process::ProcessState,
    agent: process::AgentState,
    gaps: Gaps,
}

impl Sampler {
    /// A sampler of `root` with no previous sample, keeping the top
    /// [`DEFAULT_TOP`] processes.
    pub fn new(root: Root) -> Self {
        Self::with_top(root, DEFAULT_TOP)
    }

    /// A sampler of `root` keeping the top `top` processes by CPU and by memory.
    pub fn with_top(root: Root, top: usize) -> Self {
        Self {
            reader: Reader::new(root),
            top,
            previous: None,
            cpu: cpu::CpuState::default(),
            disks: Baseline::default(),
            network: Baseline::default(),
            processes: process::ProcessState::default(),
            agent: process::AgentState::default(),
            gaps: Gaps::default(),
        }
    }

    /// Takes one sample now.
    pub fn sample(&mut self) -> HealthSample {
        self.sample_at(Timestamp::now(), monotonic_now())
    }

    /// Takes one sample, stamped `now`, with rates computed over the time
    /// since the previous sample on the monotonic clock `monotonic` (any
    /// origin; only differences count). Tests drive time through here.
    pub fn sample_at(&mut self, now: Timestamp, monotonic: Duration) -> HealthSample {
        self.gaps.0.clear();
        // A zero or backwards interval gives no rates, but the counters are
        // still taken as the new baseline.
        let interval = self
            .previous
            .and_then(|prev| monotonic.checked_sub(prev))
            .filter(|d| !d.is_zero());
        self.previous = Some(monotonic);
        let seconds = interval.map(|d| d.as_secs_f64());

        let mut sample = HealthSample {
            at: now,
            interval_ms: interval.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            ..HealthSample::default()
        };
        let r = &mut self.reader;
        let g = &mut self.gaps;

        match r.read("/proc/stat") {
            Ok(text) => match self.cpu.update(text) {
                Ok(usage) => sample.cpu = if seconds.is_some() { usage } else { None },
                Err(why) => g.note(SOURCE, "cpu", format!("/proc/stat: {why}")),
            },
            Err(e) => g.io(SOURCE, "cpu", "/proc/stat", &e),
        }

        let mut load_counts = None;
        match r.read("/proc/loadavg") {
            Ok(text) => match load::parse(text) {
                Some(l) => {
                    sample.load = l.average.clone();
                    load_counts = Some(l);
                }
                None => g.note(SOURCE, "load", "/proc/loadavg: unrecognised format"),
            },
            Err(e) => g.io(SOURCE, "load", "/proc/loadavg", &e),
        }

        match r.read("/proc/meminfo") {
            Ok(text) => match memory::parse(text) {
                Some(m) => sample.memory = m,
                None => g.note(SOURCE, "memory", "/proc/meminfo: no MemTotal"),
            },
            Err(e) => g.io(SOURCE, "memory", "/proc/meminfo", &e),
        }

        match r.read("/proc/uptime") {
            Ok(text) => match parse_uptime(text) {
                Some(s) => sample.uptime_seconds = s,
                None => g.note(SOURCE, "uptime", "/proc/uptime: unrecognised format"),
            },
            Err(e) => g.io(SOURCE, "uptime", "/proc/uptime", &e),
        }

        sample.filesystems = filesystem::sample(r, g);
        sample.disks = disk::sample(r, g, &mut self.disks, seconds);
        sample.network = network::sample(r, g, &mut self.network, seconds);
        sample.temperatures = thermal::sample(r);

        let procs = self.processes.sample(r, g, seconds, self.top);
        sample.processes = match (procs.counted, load_counts) {
            (true, _) => procs.count,
            // Without a readable /proc walk, the scheduler's own count is
            // the best there is (it counts threads, and knows no zombies).
            (false, Some(l)) => ProcessCount {
                total: l.entities,
                running: l.runnable,
                zombie: 0,
            },
            (false, None) => ProcessCount::default(),
        };
        sample.top_cpu = procs.top_cpu;
        sample.top_memory = procs.top_memory;
        sample.agent = self.agent.sample(r, g, seconds);
        sample
    }

    /// What the last sample could not read.
    pub fn gaps(&self) -> &[Unavailable] {
        &self.gaps.0
    }

    /// The root being sampled.
    pub fn root(&self) -> &Root {
        &self.reader.root
    }
}

/// Time on a monotonic clock since the first call in this process.
fn monotonic_now() -> Duration {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed()
}

/// Whole seconds since boot from `/proc/uptime` (`12345.67 23456.78`).
pub fn parse_uptime(text: &str) -> Option<u64> {
    let first = text.split_ascii_whitespace().next()?;
    let whole = first.split('.').next()?;
    whole.parse().ok()
}

/// Reads files under a root into one buffer reused for every file, so a
/// sample does not allocate per file read.
#[derive(Debug)]
pub(crate) struct Reader {
    root: Root,
    bytes: Vec<u8>,
    text: String,
    path: PathBuf,
}

impl Reader {
    fn new(root: Root) -> Self {
        Self {
            root,
            bytes: Vec::with_capacity(16 * 1024),
            text: String::new(),
            path: PathBuf::new(),
        }
    }

    /// Whether the root is the running host.
    fn is_live(&self) -> bool {
        self.root.is_live()
    }

    /// The root being read.
    fn root(&self) -> &Root {
        &self.root
    }

    /// The text of `path` (absolute, as on the host) under the root.
    fn read(&mut self, path: &str) -> io::Result<&str> {
        let file = self.open(path)?;
        self.read_file(file)
    }

    /// The first of [`MOUNT_TABLES`] that can be opened, read; or why the
    /// last could not be, with its path (as [`Root::mount_table`]).
    fn mount_table(&mut self) -> Result<&str, (io::Error, &'static str)> {
        let mut failed = None;
        for table in MOUNT_TABLES {
            match self.open(table) {
                Ok(file) => return self.read_file(file).map_err(|e| (e, table)),
                Err(e) => failed = Some((e, table)),
            }
        }
        Err(failed.expect("MOUNT_TABLES is not empty"))
    }

    /// `path` (absolute, as on the host) under the root, opened.
    fn open(&mut self, path: &str) -> io::Result<File> {
        if self.root.is_live() {
            File::open(path)
        } else {
            self.path.clear();
            self.path.push(self.root.base());
            self.path.push(path.trim_start_matches('/'));
            File::open(&self.path)
        }
    }

    /// The text of `path` on the running host, whatever the root.
    fn read_live(&mut self, path: &str) -> io::Result<&str> {
        let file = File::open(path)?;
        self.read_file(file)
    }

    fn read_file(&mut self, mut file: File) -> io::Result<&str> {
        self.bytes.clear();
        file.read_to_end(&mut self.bytes)?;
        // Process names are arbitrary bytes; keep the rest of the line usable.
        Ok(match std::str::from_utf8(&self.bytes) {
            Ok(text) => text,
            Err(_) => {
                self.text = String::from_utf8_lossy(&self.bytes).into_owned();
                &self.text
            }
        })
    }
}

/// How much a kernel counter grew from `prev` to `cur`, or `None` when it
/// was reset.
///
/// Some drivers keep 32-bit counters that wrap; a counter that went down
/// from a value a 32-bit counter can hold is taken to have wrapped once. A
/// counter that went down from beyond 32 bits was reset (device re-created,
/// driver reloaded) and its growth is unknown.
pub fn counter_delta(prev: u64, cur: u64) -> Option<u64> {
    if cur >= prev {
        Some(cur - prev)
    } else if prev <= u64::from(u32::MAX) {
        Some(cur + (1u64 << 32) - prev)
    } else {
        None
    }
}

/// The counters of each device at the previous sample.
///
/// Two maps swapped each sample: devices that disappeared are dropped, and
/// names are moved rather than re-allocated in the steady state.
#[derive(Debug)]
pub(crate) struct Baseline<const N: usize> {
    previous: HashMap<String, [u64; N]>,
    current: HashMap<String, [u64; N]>,
}

impl<const N: usize> Default for Baseline<N> {
    fn default() -> Self {
        Self {
            previous: HashMap::new(),
            current: HashMap::new(),
        }
    }
}

impl<const N: usize> Baseline<N> {
    /// Records `now` for `name`; returns the growth of each counter since
    /// the previous sample, or `None` when the device is new or was reset.
    fn update(&mut self, name: &str, now: [u64; N]) -> Option<[u64; N]> {
        let (key, prev) = match self.previous.remove_entry(name) {
            Some((key, prev)) => (key, Some(prev)),
            None => (name.to_owned(), None),
        };
        self.current.insert(key, now);
        let prev = prev?;
        let mut delta = [0u64; N];
        for ((d, p), c) in delta.iter_mut().zip(prev).zip(now) {
            *d = counter_delta(p, c)?;
        }
        Some(delta)
    }

    /// Ends a sample: what was recorded becomes the previous counters.
    fn finish(&mut self) {
        mem::swap(&mut self.previous, &mut self.current);
        self.current.clear();
    }
}

/// `count` events over `seconds` as a per-second rate.
fn per_second(count: u64, seconds: f64) -> f64 {
    count as f64 / seconds
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests;

/// This process's peak resident memory (`VmHWM`), bytes.
pub fn own_peak_rss_bytes() -> Option<u64> {
    status_bytes(
        &std::fs::read_to_string("/proc/self/status").ok()?,
        "VmHWM:",
    )
}

/// A `kB` field of a `/proc/PID/status` text (`VmRSS:`, `VmHWM:`…), in bytes.
pub fn status_bytes(status: &str, field: &str) -> Option<u64> {
    let kib = status.lines().find_map(|l| l.strip_prefix(field))?;
    kib.trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()
        .map(|k| k * 1024)
}
