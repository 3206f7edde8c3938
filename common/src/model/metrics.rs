//! Health samples: how a host is doing right now.
//!
//! A sample holds gauges (memory, load, filesystem use) and rates computed
//! by the agent from kernel counters between two samples (CPU, disk and
//! network I/O). The first sample after start has no previous counters, so
//! its rates are `None` and its per-device rate lists are empty.

use serde::{Deserialize, Serialize};

use super::Timestamp;

/// One health sample of one host.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthSample {
    /// When the sample was taken.
    pub at: Timestamp,
    /// Milliseconds since the previous sample the rates were computed over (0 on the first).
    pub interval_ms: u64,
    /// CPU use over the interval.
    pub cpu: Option<CpuUsage>,
    /// Load averages.
    pub load: LoadAverage,
    /// Memory and swap.
    pub memory: MemoryUsage,
    /// Use of each mounted (non-pseudo) filesystem.
    pub filesystems: Vec<FilesystemUsage>,
    /// I/O of each whole disk over the interval.
    pub disks: Vec<DiskIo>,
    /// Traffic of each interface over the interval.
    pub network: Vec<NetworkIo>,
    /// Temperature sensors.
    pub temperatures: Vec<Temperature>,
    /// Processes (and threads) alive.
    pub processes: ProcessCount,
    /// Seconds since boot.
    pub uptime_seconds: u64,
    /// The busiest processes by CPU over the interval.
    pub top_cpu: Vec<ProcessUsage>,
    /// The largest processes by resident memory.
    pub top_memory: Vec<ProcessUsage>,
    /// What the agent itself costs.
    pub agent: AgentUsage,
}

/// CPU time shares over the interval, percent of all logical CPUs (0–100).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CpuUsage {
    /// Busy (everything but idle and iowait).
    pub total_percent: f64,
    /// User and nice.
    pub user_percent: f64,
    /// System, irq and softirq.
    pub system_percent: f64,
    /// Waiting for I/O.
    pub iowait_percent: f64,
    /// Stolen by the hypervisor.
    pub steal_percent: f64,
    /// Busy per logical CPU, in CPU number order.
    pub per_core_percent: Vec<f64>,
}

/// Load averages.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoadAverage {
    /// Over one minute.
    pub one: f64,
    /// Over five minutes.
    pub five: f64,
    /// Over fifteen minutes.
    pub fifteen: f64,
}

/// Memory and swap.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemoryUsage {
    /// `MemTotal`, bytes.
    pub total_bytes: u64,
    /// `MemAvailable`, bytes: what can be had without swapping.
    pub available_bytes: u64,
    /// Total minus available, bytes.
    pub used_bytes: u64,
    /// Page cache and buffers, bytes.
    pub cached_bytes: u64,
    /// `SwapTotal`, bytes.
    pub swap_total_bytes: u64,
    /// Swap in use, bytes.
    pub swap_used_bytes: u64,
}

/// Use of one filesystem.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FilesystemUsage {
    /// Mount point.
    pub mount_point: String,
    /// Size, bytes.
    pub total_bytes: u64,
    /// Used, bytes.
    pub used_bytes: u64,
    /// Available to unprivileged users, bytes.
    pub available_bytes: u64,
    /// Used as users see it (`df`'s Use%), percent.
    pub used_percent: f64,
    /// Inodes used, percent (`None` where the filesystem has no inode limit).
    pub inodes_used_percent: Option<f64>,
}

/// I/O of one disk over the interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DiskIo {
    /// Kernel name, e.g. `sda`.
    pub name: String,
    /// Bytes read per second.
    pub read_bytes_per_second: f64,
    /// Bytes written per second.
    pub write_bytes_per_second: f64,
    /// Reads completed per second.
    pub reads_per_second: f64,
    /// Writes completed per second.
    pub writes_per_second: f64,
    /// Share of the interval the device was busy, percent.
    pub busy_percent: f64,
}

/// Traffic of one interface over the interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NetworkIo {
    /// Interface name.
    pub interface: String,
    /// Bytes received per second.
    pub rx_bytes_per_second: f64,
    /// Bytes sent per second.
    pub tx_bytes_per_second: f64,
    /// Packets received per second.
    pub rx_packets_per_second: f64,
    /// Packets sent per second.
    pub tx_packets_per_second: f64,
    /// Receive errors during the interval.
    pub rx_errors: u64,
    /// Transmit errors during the interval.
    pub tx_errors: u64,
    /// Received packets dropped during the interval.
    pub rx_drops: u64,
    /// Transmitted packets dropped during the interval.
    pub tx_drops: u64,
}

/// One temperature sensor.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Temperature {
    /// Sensor chip and input, e.g. `coretemp/temp1`, or a thermal zone.
    pub sensor: String,
    /// Label, e.g. `Package id 0`.
    pub label: Option<String>,
    /// Degrees Celsius.
    pub celsius: f64,
}

/// Processes alive.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProcessCount {
    /// Processes.
    pub total: u32,
    /// Processes running or runnable.
    pub running: u32,
    /// Zombies.
    pub zombie: u32,
}

/// One process's use.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProcessUsage {
    /// Process ID.
    pub pid: u32,
    /// Command name.
    pub name: String,
    /// CPU over the interval, percent of one CPU (can exceed 100 with threads).
    pub cpu_percent: f64,
    /// Resident memory, bytes.
    pub rss_bytes: u64,
}

/// The agent's own cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentUsage {
    /// CPU over the interval, percent of one CPU.
    pub cpu_percent: f64,
    /// Resident memory, bytes.
    pub rss_bytes: u64,
}
