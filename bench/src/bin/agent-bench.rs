//! `agent-bench`: measures what the agent costs on this host.
//!
//! ```text
//! cargo build --release -p atalaya-agent -p atalaya-bench --bin atalaya-agent --bin agent-bench && ./target/release/agent-bench
//! ```
//!
//! Prints, for the live host:
//! - full inventory: wall time in-process (best, median, p95 of many runs)
//!   and of the whole `atalaya-agent inventory --json` process, with the
//!   process's peak RSS;
//! - one health sample: CPU time (thread CPU clock) per sample;
//! - steady RSS of `atalaya-agent metrics --count N --interval-seconds 1`
//!   (N = 120 unless `--metrics-seconds` says otherwise);
//! - the size of the stripped release binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use rustix::time::{ClockId, clock_gettime};

use atalaya_agent::inventory;
use atalaya_agent::metrics::Sampler;
use atalaya_agent::root::Root;

/// Measures the agent's cost on this host.
#[derive(Debug, Parser)]
struct Args {
    /// In-process inventory runs.
    #[arg(long, default_value_t = 30)]
    inventory_runs: usize,
    /// `atalaya-agent inventory --json` process runs.
    #[arg(long, default_value_t = 10)]
    process_runs: usize,
    /// Health samples timed in-process.
    #[arg(long, default_value_t = 500)]
    samples: usize,
    /// Length of the `metrics --interval-seconds 1` run whose RSS is watched.
    #[arg(long, default_value_t = 120)]
    metrics_seconds: u32,
    /// Records appended to a spool to time the durable write.
    #[arg(long, default_value_t = 500)]
    spool_records: usize,
    /// The agent binary (default: `atalaya-agent` beside this one).
    #[arg(long)]
    agent: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let agent = match args.agent {
        Some(path) => path,
        None => std::env::current_exe()?.with_file_name("atalaya-agent"),
    };
    if !agent.exists() {
        bail!(
            "{} not found: build it first with `cargo build --release -p atalaya-agent`",
            agent.display()
        );
    }
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; figures mean little. Use --release.");
    }

    let root = Root::live();
    let (inv, _) = inventory::collect(&root);
    println!(
        "host: {} · {} packages · {} processes-worth of /proc · {} logical CPUs",
        inv.host.hostname,
        inv.software.packages.len(),
        std::fs::read_dir("/proc")?
            .filter(|e| e.as_ref().is_ok_and(|e| e
                .file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())))
            .count(),
        inv.hardware.cpu.logical_cores,
    );

    let mut walls: Vec<Duration> = (0..args.inventory_runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(inventory::collect(&root));
            t.elapsed()
        })
        .collect();
    walls.sort();
    println!(
        "full inventory, in-process ({} runs): best {:.1} ms, median {:.1} ms, p95 {:.1} ms",
        walls.len(),
        ms(walls[0]),
        ms(walls[walls.len() / 2]),
        ms(walls[(walls.len() * 95 / 100).min(walls.len() - 1)])
    );

    let (proc_walls, peak) = inventory_processes(&agent, args.process_runs)?;
    println!(
        "full inventory, `atalaya-agent inventory --json` process ({} runs): median {:.1} ms wall, max {:.1} ms; peak RSS {:.1} MiB",
        proc_walls.len(),
        ms(proc_walls[proc_walls.len() / 2]),
        ms(proc_walls[proc_walls.len() - 1]),
        peak as f64 / 1_048_576.0
    );

    let mut sampler = Sampler::new(root);
    sampler.sample();
    std::thread::sleep(Duration::from_millis(50));
    let mut cpu: Vec<Duration> = (0..args.samples)
        .map(|_| {
            let before = thread_cpu();
            std::hint::black_box(sampler.sample());
            thread_cpu().saturating_sub(before)
        })
        .collect();
    cpu.sort();
    println!(
        "one health sample ({} samples): CPU median {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        cpu.len(),
        ms(cpu[cpu.len() / 2]),
        ms(cpu[(cpu.len() * 95 / 100).min(cpu.len() - 1)]),
        ms(cpu[cpu.len() - 1])
    );

    // What the durable spool costs per record: one health sample of this
    // host as a MetricBatch frame, appended and synced to disk (the agent
    // does this for every record before it counts as queued).
    let batch = atalaya_common::proto::encode(&atalaya_common::proto::Message::MetricBatch(
        atalaya_common::proto::MetricBatch {
            seq: 1,
            samples: vec![sampler.sample()],
        },
    ))?;
    let dir = std::env::temp_dir().join(format!("atalaya-spool-bench-{}", std::process::id()));
    let (mut spool, _) = atalaya_agent::spool::Spool::open(&dir)?;
    let mut appends: Vec<Duration> = (1..=args.spool_records as u64)
        .map(|seq| {
            let t = Instant::now();
            spool.append(seq, &batch)?;
            Ok(t.elapsed())
        })
        .collect::<Result<_, atalaya_agent::spool::SpoolError>>()?;
    appends.sort();
    let on_disk = spool.file_bytes() as f64 / args.spool_records as f64;
    println!(
        "spool ({} records of one health sample, {} bytes each): append + fsync median {:.3} ms, p95 {:.3} ms; {:.0} bytes on disk per record ({} of them the frame)",
        appends.len(),
        batch.len(),
        ms(appends[appends.len() / 2]),
        ms(appends[(appends.len() * 95 / 100).min(appends.len() - 1)]),
        on_disk,
        batch.len()
    );
    drop(spool);
    std::fs::remove_dir_all(&dir)?;

    let (steady, max, hwm) = metrics_rss(&agent, args.metrics_seconds)?;
    println!(
        "`atalaya-agent metrics --count {} --interval-seconds 1`: steady RSS {:.1} MiB (median of the second half), max seen {:.1} MiB, VmHWM {:.1} MiB",
        args.metrics_seconds,
        steady as f64 / 1_048_576.0,
        max as f64 / 1_048_576.0,
        hwm as f64 / 1_048_576.0
    );

    // What an agent sends when one package was upgraded: the framed
    // InventoryDelta record, as it goes on the wire.
    if let Some(first) = inv.software.packages.first() {
        let mut newer = inv.clone();
        newer.software.packages[0].version.push_str("+1");
        let delta = atalaya_common::diff::diff(&inv, &newer);
        let frame =
            atalaya_common::proto::encode(&atalaya_common::proto::Message::InventoryDelta(
                atalaya_common::proto::InventoryDelta {
                    seq: 1234,
                    taken_at: atalaya_common::model::Timestamp::now(),
                    delta,
                },
            ))?;
        let full =
            atalaya_common::proto::encode(&atalaya_common::proto::Message::InventorySnapshot(
                atalaya_common::proto::InventorySnapshot {
                    seq: 1,
                    taken_at: atalaya_common::model::Timestamp::now(),
                    inventory: inv.clone(),
                },
            ))?;
        println!(
            "one package upgraded ({}): delta frame {} bytes on the wire; a full snapshot frame is {} bytes",
            first.name,
            frame.len(),
            full.len()
        );
    }

    let size = std::fs::metadata(&agent)?.len();
    println!(
        "binary {}: {:.2} MiB ({} bytes)",
        agent.display(),
        size as f64 / 1_048_576.0,
        size
    );
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn thread_cpu() -> Duration {
    let t = clock_gettime(ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec.unsigned_abs(), t.tv_nsec.unsigned_abs() as u32)
}

/// Runs `inventory --json --timings` as a process; wall times (sorted) and
/// the largest peak RSS the process reported for itself.
fn inventory_processes(agent: &Path, runs: usize) -> anyhow::Result<(Vec<Duration>, u64)> {
    let mut walls = Vec::with_capacity(runs);
    let mut peak = 0u64;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let out = Command::new(agent)
            .args(["inventory", "--json", "--timings"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .with_context(|| format!("running {}", agent.display()))?;
        walls.push(t.elapsed());
        if !out.status.success() {
            bail!(
                "{} inventory failed: {}",
                agent.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let mib: f64 = stderr
            .lines()
            .find_map(|l| l.strip_prefix("peak_rss"))
            .and_then(|l| l.trim().trim_end_matches("MiB").trim().parse().ok())
            .context("the agent did not report its peak RSS")?;
        peak = peak.max((mib * 1_048_576.0) as u64);
    }
    walls.sort();
    Ok((walls, peak))
}

/// Watches the RSS of a `metrics` run once a second: (steady, max, VmHWM).
fn metrics_rss(agent: &Path, seconds: u32) -> anyhow::Result<(u64, u64, u64)> {
    let mut child = Command::new(agent)
        .args([
            "metrics",
            "--json",
            "--count",
            &seconds.to_string(),
            "--interval-seconds",
            "1",
        ])
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("running {}", agent.display()))?;
    let status_path = format!("/proc/{}/status", child.id());
    let field = atalaya_agent::metrics::status_bytes;
    let mut rss = Vec::new();
    let mut hwm = 0;
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        if let Ok(status) = std::fs::read_to_string(&status_path) {
            rss.extend(field(&status, "VmRSS:"));
            hwm = hwm.max(field(&status, "VmHWM:").unwrap_or(0));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    if rss.is_empty() {
        bail!("could not read the RSS of the metrics process");
    }
    let max = rss.iter().copied().max().unwrap_or(0);
    let mut second_half = rss.split_off(rss.len() / 2);
    second_half.sort();
    Ok((second_half[second_half.len() / 2], max, hwm))
}
