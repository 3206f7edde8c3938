//! `probe-bench`: what network probes cost the agent.
//!
//! ```text
//! cargo build --release -p atalaya-bench --bin probe-bench && sudo ./target/release/probe-bench
//! ```
//!
//! The agent's own [`Prober`], on a single-threaded tokio runtime as in the
//! daemon, runs `--rounds` rounds over `--targets` loopback targets
//! (`127.0.0.1`, `127.0.0.2`, … for `icmp`; one listening loopback port
//! for `tcp`), each round `--count` probes per target `--spacing-ms`
//! apart, `--concurrency` targets at once. A round is what the agent does
//! once per `[probes] interval_seconds` (60 s by default), so the CPU of a
//! round is the CPU per minute. Printed per round: wall time, CPU ms
//! (`utime + stime` of `/proc/self/stat`), answers; then the mean CPU per
//! round as ms per minute and percent of one core at a 60 s interval, and
//! `VmRSS`/`VmHWM`. ICMP over raw sockets needs root (or `CAP_NET_RAW`);
//! the method used is printed.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;

use atalaya_agent::probes::{Plan, Prober};
use atalaya_bench::{cpu_ticks, memory, mib};
use atalaya_common::model::{ProbeKind, ProbeTarget};

/// Measures the CPU and memory network probes cost.
#[derive(Debug, Parser)]
struct Args {
    /// Targets per round.
    #[arg(long, default_value_t = 100)]
    targets: u32,
    /// Probes per target per round.
    #[arg(long, default_value_t = 5)]
    count: u16,
    /// Time between two probes to one target, ms.
    #[arg(long, default_value_t = 200)]
    spacing_ms: u64,
    /// How long a probe waits for its answer, ms.
    #[arg(long, default_value_t = 1000)]
    timeout_ms: u64,
    /// Targets probed at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Rounds measured.
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// icmp or tcp.
    #[arg(long, default_value = "icmp")]
    kind: String,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let kind = ProbeKind::from_name(&args.kind).context("--kind is icmp or tcp")?;
    let targets: Vec<ProbeTarget> = match kind {
        ProbeKind::Icmp => (0..args.targets)
            .map(|i| {
                let n = i + 1;
                ProbeTarget::new(kind, format!("127.0.{}.{}", n / 250, n % 250 + 1))
            })
            .collect(),
        ProbeKind::Tcp => {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let address = listener.local_addr()?;
            std::thread::spawn(move || for _ in listener.incoming() {});
            (0..args.targets)
                .map(|_| ProbeTarget::new(kind, address.to_string()))
                .collect()
        }
        _ => anyhow::bail!("--kind is icmp or tcp"),
    };
    let plan = Plan {
        count: args.count,
        spacing: Duration::from_millis(args.spacing_ms),
        timeout: Duration::from_millis(args.timeout_ms),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let ticks = rustix::param::clock_ticks_per_second();
    println!(
        "{} {} targets × {} probes, {} ms apart, timeout {} ms, {} at once; {} rounds",
        args.targets,
        args.kind,
        args.count,
        args.spacing_ms,
        args.timeout_ms,
        args.concurrency,
        args.rounds
    );
    let mut cpu_total_ms = 0.0;
    runtime.block_on(async {
        let prober = Prober::new(plan, args.concurrency);
        // One round first, not counted: sockets, the resolver, the roots.
        let warm = prober.round(&targets).await;
        let method = warm
            .first()
            .map(|r| r.method.to_string())
            .unwrap_or_default();
        println!("method: {method}");
        for round in 1..=args.rounds {
            let cpu0 = cpu_ticks("self")?;
            let start = Instant::now();
            let results = prober.round(&targets).await;
            let wall = start.elapsed();
            let cpu_ms = (cpu_ticks("self")? - cpu0) as f64 * 1000.0 / ticks as f64;
            cpu_total_ms += cpu_ms;
            let sent: u32 = results.iter().map(|r| u32::from(r.sent)).sum();
            let received: u32 = results.iter().map(|r| u32::from(r.received)).sum();
            println!(
                "round {round}: {:.2} s wall, {cpu_ms:.0} ms CPU, {received}/{sent} answered",
                wall.as_secs_f64()
            );
        }
        anyhow::Ok(())
    })?;
    let per_round = cpu_total_ms / f64::from(args.rounds.max(1));
    let memory = memory()?;
    println!(
        "per 60 s interval: {per_round:.0} ms CPU per minute = {:.3} % of one core; VmRSS {:.1} MiB, VmHWM {:.1} MiB",
        per_round / 60_000.0 * 100.0,
        mib(memory.rss),
        mib(memory.hwm)
    );
    Ok(())
}
