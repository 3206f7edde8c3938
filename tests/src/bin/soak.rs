//! `soak`: an hour (or any time) of crashes and partitions, then an exact
//! account of what reached the store. Not part of CI: run it before a
//! release, with `scripts/soak.sh [MINUTES]`.
//!
//! Three agents run the agent's real delivery path (spool, uplink, QUIC)
//! behind UDP relays and stream numbered samples and inventory changes.
//! At random moments the collector is killed with SIGKILL and restarted,
//! or one agent's link is cut for a few seconds up to a minute (past the
//! QUIC idle timeout, so some cuts end the connection and some do not).
//! At the end every agent must have every sample stored exactly once and
//! every change once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use rand::Rng;

use atalaya_tests::harness::Collector;
use atalaya_tests::loadgen::{produce_all, start_shared};
use atalaya_tests::relay::Relay;

/// Crashes and partitions for a while, then checks the store.
#[derive(Debug, Parser)]
struct Args {
    /// How long to run.
    #[arg(long, default_value_t = 60)]
    minutes: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let mut collector = Collector::start();
    let token = collector.token(3);
    let work = tempfile::tempdir()?;
    let relays: Vec<Relay> = (0..3)
        .map(|_| Relay::start(collector.quic_address()))
        .collect();
    let fleet = relays
        .iter()
        .enumerate()
        .map(|(n, relay)| (format!("soak-{n}"), Some(relay.addr)))
        .collect();
    let agents = rt.block_on(start_shared(work.path(), &token, fleet));
    let stop = Arc::new(AtomicBool::new(false));
    let producers = produce_all(&rt, &agents, &stop, 10, Duration::from_millis(50), 100);

    let started = Instant::now();
    let end = started + Duration::from_secs(args.minutes * 60);
    let mut rng = rand::rng();
    let (mut crashes, mut cuts) = (0, 0);
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(rng.random_range(500..10_000)));
        if rng.random_bool(0.5) {
            collector.kill();
            collector.restart();
            crashes += 1;
        } else {
            let relay = &relays[rng.random_range(0..relays.len())];
            relay.cut();
            std::thread::sleep(Duration::from_millis(rng.random_range(1_000..60_000)));
            relay.restore();
            cuts += 1;
        }
        println!(
            "{:>5.0} s: {crashes} collector crashes, {cuts} link cuts",
            started.elapsed().as_secs_f64()
        );
    }
    stop.store(true, Ordering::Release);
    rt.block_on(async {
        for p in producers {
            let _ = p.await;
        }
    });
    let give_up = Instant::now() + Duration::from_secs(180);
    loop {
        let waiting = agents
            .iter()
            .filter(|a| {
                let a = a.lock().unwrap_or_else(|e| e.into_inner());
                a.acked() < a.last_seq
            })
            .count();
        if waiting == 0 {
            break;
        }
        if Instant::now() > give_up {
            bail!("{waiting} agents still have unacknowledged records after 3 minutes");
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    let mut failed = false;
    for agent in &agents {
        let agent = agent.lock().unwrap_or_else(|e| e.into_inner());
        match agent.check_stored(&collector) {
            Ok(stored) => println!(
                "{}: {} samples generated, {stored} stored, 0 lost, 0 duplicated; {} inventory changes all stored once",
                agent.name,
                agent.generated.samples,
                agent.packages.len()
            ),
            Err(why) => {
                println!("{why}");
                failed = true;
            }
        }
    }
    println!(
        "{crashes} collector crashes and {cuts} link cuts in {} min",
        args.minutes
    );
    if failed {
        bail!("the store does not match what the agents generated");
    }
    Ok(())
}
