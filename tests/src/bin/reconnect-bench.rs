//! `reconnect-bench`: how long a fleet takes to be fully served again after
//! the collector crashes and restarts.
//!
//! ```text
//! cargo build --release --workspace --bins
//! ./target/release/reconnect-bench --agents 1000
//! ```
//!
//! It starts the real `atalaya-collector serve` process, enrolls N agents
//! with a token and runs each with the agent's real delivery path (on-disk
//! spool, reconnecting uplink with backoff and full jitter, its own QUIC
//! connection). Once every agent has delivered a first batch, the
//! collector is killed with SIGKILL and each agent queues one more batch
//! while it is down. The collector is started again on the same port and
//! the clock runs until every agent's batch is acknowledged (stored
//! durably). It prints when each agent got through, as percentiles.

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;

use atalaya_tests::harness::Collector;
use atalaya_tests::loadgen::NumberedAgent;

/// Measures the fleet's reconnection after a collector restart.
#[derive(Debug, Parser)]
struct Args {
    /// Agents, each with its own connection.
    #[arg(long, default_value_t = 1000)]
    agents: usize,
    /// Seconds to wait for everyone before giving up.
    #[arg(long, default_value_t = 300)]
    limit_seconds: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let mut collector = Collector::start();
    let token = collector.token(u32::try_from(args.agents).context("--agents")?);
    let work = tempfile::tempdir()?;

    let started = Instant::now();
    let mut agents = rt.block_on(async {
        let mut agents = Vec::with_capacity(args.agents);
        for n in 0..args.agents {
            let name = format!("fleet-{n:05}");
            agents.push(NumberedAgent::start(work.path(), &name, &token, None).await);
        }
        agents
    });
    for agent in &mut agents {
        agent.push_batch(6);
    }
    let limit = Duration::from_secs(args.limit_seconds);
    wait_all(&agents, limit).context("first delivery")?;
    println!(
        "{} agents enrolled and delivering in {:.1} s",
        agents.len(),
        started.elapsed().as_secs_f64()
    );

    collector.kill();
    for agent in &mut agents {
        agent.push_batch(6);
    }
    let restart = Instant::now();
    collector.restart();
    let up = restart.elapsed();
    let mut through: Vec<Option<Duration>> = vec![None; agents.len()];
    while through.iter().any(Option::is_none) {
        anyhow::ensure!(
            restart.elapsed() < limit,
            "{} agents still waiting after {limit:?}",
            through.iter().filter(|t| t.is_none()).count()
        );
        for (agent, at) in agents.iter().zip(through.iter_mut()) {
            if at.is_none() && agent.acked() >= agent.last_seq {
                *at = Some(restart.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut times: Vec<Duration> = through.into_iter().flatten().collect();
    times.sort_unstable();
    let pct = |p: f64| {
        let i = ((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1;
        times[i].as_secs_f64()
    };
    println!(
        "collector restarted (process start to API answering) in {:.2} s",
        up.as_secs_f64()
    );
    println!(
        "{} agents back and acknowledged after the restart began: p50 {:.2} s, p90 {:.2} s, p99 {:.2} s, all {:.2} s",
        times.len(),
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(1.0)
    );
    drop(rt);
    Ok(())
}

/// Waits until every agent's spooled records are acknowledged.
fn wait_all(agents: &[NumberedAgent], limit: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    while agents.iter().any(|a| a.acked() < a.last_seq) {
        anyhow::ensure!(
            start.elapsed() < limit,
            "{} agents not acknowledged after {limit:?}",
            agents.iter().filter(|a| a.acked() < a.last_seq).count()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}
