//! What the benchmark binaries share: a process's CPU time and memory, as
//! Linux reports them under `/proc`, and a simulated host's samples.
//!
//! # Layout
//! - [`host`]: a simulated host's health samples (random walks).
//! - [`incidents`]: a help desk's history of incidents.

pub mod host;
pub mod incidents;

use anyhow::Context;

/// `utime + stime` of `/proc/<pid>/stat` (`pid` may be `self`), in clock
/// ticks (`rustix::param::clock_ticks_per_second` a second).
pub fn cpu_ticks(pid: &str) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command (which may hold spaces) in parentheses.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("malformed /proc stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    Ok(utime + stime)
}

/// This process's resident memory, bytes.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    /// Resident now (`VmRSS`).
    pub rss: u64,
    /// The most ever resident (`VmHWM`).
    pub hwm: u64,
}

/// This process's [`Memory`], from `/proc/self/status`.
pub fn memory() -> anyhow::Result<Memory> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let field = |name| atalaya_agent::metrics::status_bytes(&status, name).unwrap_or(0);
    Ok(Memory {
        rss: field("VmRSS:"),
        hwm: field("VmHWM:"),
    })
}

/// `bytes` in MiB.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}
