//! `reconnect-bench`: how long a fleet takes to be fully served again after
//! the collector crashes and restarts, and what the collector costs in
//! memory with the whole fleet connected.
//!
//! ```text
//! cargo build --release -p atalaya-collector --bin atalaya-collector \
//!     -p atalaya-tests --bin reconnect-bench
//! ./target/release/reconnect-bench --agents 1000
//! ```
//!
//! It starts the real `atalaya-collector serve` process, enrolls N agents
//! with a token and runs each with the agent's real delivery path (the
//! reconnecting uplink with backoff and full jitter, its own QUIC
//! connection on its own UDP socket; records kept in memory rather than in
//! an on-disk spool, so that ten thousand agents fit in one process). Every
//! agent sends a heartbeat every 10 s, as a real one does, so the collector
//! keeps its idle session open. Once every agent has delivered a first
//! batch, the collector's resident memory is read, the collector is killed
//! with SIGKILL and each agent queues one more batch while it is down. The
//! collector is started again on the same port and the clock runs until
//! every agent's batch is acknowledged (stored durably). It prints when
//! each agent got through, as percentiles, the collector's failed
//! handshakes, and the UDP datagrams the kernel dropped for want of buffer
//! space meanwhile (all sockets of the machine).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use atalaya_common::model::Timestamp;
use atalaya_common::proto::{Heartbeat, Message};
use clap::Parser;

use atalaya_tests::harness::Collector;
use atalaya_tests::loadgen::NumberedAgent;

/// Measures the fleet's reconnection after a collector restart.
#[derive(Debug, Parser)]
struct Args {
    /// Agents, each with its own connection and UDP socket.
    #[arg(long, default_value_t = 1000)]
    agents: usize,
    /// Enrollments under way at once while the fleet is set up.
    #[arg(long, default_value_t = 16)]
    enroll_at_once: usize,
    /// Seconds to wait for everyone before giving up.
    #[arg(long, default_value_t = 300)]
    limit_seconds: u64,
}

type Fleet = Vec<Arc<Mutex<NumberedAgent>>>;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    raise_fd_limit(args.agents)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let mut collector = Collector::start();
    let token = collector.token(u32::try_from(args.agents).context("--agents")?);
    let work = tempfile::tempdir()?;

    let started = Instant::now();
    let agents = rt.block_on(enroll_all(
        work.path(),
        &token,
        args.agents,
        args.enroll_at_once,
    ))?;
    let stop = Arc::new(AtomicBool::new(false));
    let beats = rt.spawn(heartbeats(agents.clone(), stop.clone()));
    let targets = push_batches(&agents);
    let limit = Duration::from_secs(args.limit_seconds);
    wait_all(&agents, &targets, limit).context("first delivery")?;
    println!(
        "{} agents enrolled and delivering in {:.1} s",
        agents.len(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "collector with {} data sessions open: VmRSS {}",
        collector.metric("atalaya_connected_agents"),
        rss(collector.pid())
    );

    collector.kill();
    let targets = push_batches(&agents);
    let drops_before = udp_receive_buffer_errors();
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
        for ((agent, target), at) in agents.iter().zip(&targets).zip(through.iter_mut()) {
            if at.is_none() && lock(agent).acked() >= *target {
                *at = Some(restart.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let drops = udp_receive_buffer_errors().saturating_sub(drops_before);
    // Counted by the restarted process, so since the restart.
    let handshakes = collector.metric("atalaya_refused_total{reason=\"handshake\"}");
    let mut times: Vec<Duration> = through.into_iter().flatten().collect();
    times.sort_unstable();
    let pct = |p: f64| atalaya_collector::telemetry::percentile(&times, p).as_secs_f64();
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
    println!(
        "meanwhile: {handshakes} failed handshakes at the collector, {drops} UDP datagrams dropped by the kernel for a full receive buffer"
    );
    println!(
        "collector with {} data sessions open again: VmRSS {}",
        collector.metric("atalaya_connected_agents"),
        rss(collector.pid())
    );
    stop.store(true, Ordering::Release);
    rt.block_on(beats).context("the heartbeat task")?;
    drop(rt);
    Ok(())
}

fn lock(agent: &Mutex<NumberedAgent>) -> std::sync::MutexGuard<'_, NumberedAgent> {
    agent.lock().unwrap_or_else(|e| e.into_inner())
}

/// Each agent's socket is a file descriptor: lift the soft limit to the
/// hard one, and say so when even that is too low.
fn raise_fd_limit(agents: usize) -> anyhow::Result<()> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let wanted = u64::try_from(agents)?.saturating_add(256);
    if limit.current.is_some_and(|c| c >= wanted) || limit.current.is_none() {
        return Ok(());
    }
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    setrlimit(Resource::Nofile, raised).context("raising the open file limit")?;
    anyhow::ensure!(
        limit.maximum.is_none_or(|m| m >= wanted),
        "{agents} agents need about {wanted} file descriptors; the hard limit is {:?} (raise it with ulimit -Hn)",
        limit.maximum
    );
    Ok(())
}

/// Enrolls and starts `count` agents, `at_once` enrollments at a time.
async fn enroll_all(
    dir: &std::path::Path,
    token: &str,
    count: usize,
    at_once: usize,
) -> anyhow::Result<Fleet> {
    let permits = Arc::new(tokio::sync::Semaphore::new(at_once.max(1)));
    let mut tasks = Vec::with_capacity(count);
    for n in 0..count {
        let permit = permits.clone().acquire_owned().await?;
        let (dir, token) = (dir.to_owned(), token.to_owned());
        tasks.push(tokio::spawn(async move {
            let agent =
                NumberedAgent::start_in_memory(&dir, &format!("fleet-{n:05}"), &token).await;
            drop(permit);
            agent
        }));
    }
    let mut agents = Vec::with_capacity(count);
    for task in tasks {
        agents.push(Arc::new(Mutex::new(task.await?)));
    }
    Ok(agents)
}

/// Queues a batch on every agent; the sequence each must see acknowledged.
fn push_batches(agents: &Fleet) -> Vec<u64> {
    agents
        .iter()
        .map(|agent| {
            let mut agent = lock(agent);
            agent.push_batch(6);
            agent.last_seq
        })
        .collect()
}

/// A heartbeat from every agent every 10 s, spread over the period.
async fn heartbeats(agents: Fleet, stop: Arc<AtomicBool>) {
    let period = Duration::from_secs(10);
    let pause = period / u32::try_from(agents.len().max(1)).unwrap_or(u32::MAX);
    while !stop.load(Ordering::Acquire) {
        for agent in &agents {
            if stop.load(Ordering::Acquire) {
                return;
            }
            lock(agent).push_message(|seq| {
                Message::Heartbeat(Heartbeat {
                    seq,
                    at: Timestamp::now(),
                })
            });
            tokio::time::sleep(pause).await;
        }
    }
}

/// Waits until each agent's `targets` sequence is acknowledged.
fn wait_all(agents: &Fleet, targets: &[u64], limit: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    let behind = || {
        agents
            .iter()
            .zip(targets)
            .filter(|(a, t)| lock(a).acked() < **t)
            .count()
    };
    loop {
        let waiting = behind();
        if waiting == 0 {
            return Ok(());
        }
        anyhow::ensure!(
            start.elapsed() < limit,
            "{waiting} agents not acknowledged after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The `VmRSS` line of a process, as the kernel shows it.
fn rss(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:").map(|v| v.trim().to_owned()))
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The machine's `Udp: RcvbufErrors` counter from `/proc/net/snmp`.
fn udp_receive_buffer_errors() -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/net/snmp") else {
        return 0;
    };
    let mut udp = text.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}
