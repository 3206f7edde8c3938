//! The collector is killed with SIGKILL twenty times at random moments
//! while three agents stream numbered samples and inventory changes at a
//! high rate. Afterwards every sample is stored exactly once (count and
//! checksums) and every inventory change is present once.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use atalaya_tests::harness::{Collector, runtime};
use atalaya_tests::loadgen::{produce_all, start_shared};
use rand::Rng;

const CRASHES: usize = 20;
/// Samples per batch, and a batch every `PACE`: 500 samples/s per agent.
const BATCH: u64 = 10;
const PACE: Duration = Duration::from_millis(20);
/// One inventory change every this many batches.
const CHANGE_EVERY: u64 = 25;

#[test]
fn twenty_collector_crashes_lose_and_double_nothing() {
    let rt = runtime();
    let mut collector = Collector::start();
    let token = collector.token(3);
    let work = tempfile::tempdir().unwrap();
    let fleet = ["crash-a", "crash-b", "crash-c"]
        .map(|name| (name.to_owned(), None))
        .to_vec();
    let agents = rt.block_on(start_shared(work.path(), &token, fleet));

    let stop = Arc::new(AtomicBool::new(false));
    let producers = produce_all(&rt, &agents, &stop, BATCH, PACE, CHANGE_EVERY);

    let mut rng = rand::rng();
    let started = Instant::now();
    for _ in 0..CRASHES {
        std::thread::sleep(Duration::from_millis(rng.random_range(100..800)));
        collector.kill();
        collector.restart();
    }
    let crash_time = started.elapsed();
    stop.store(true, Ordering::Release);
    rt.block_on(async {
        for p in producers {
            p.await.unwrap();
        }
    });
    // Everything spooled reaches the store.
    let give_up = Instant::now() + Duration::from_secs(120);
    while agents.iter().any(|a| {
        let a = a.lock().unwrap();
        a.acked() < a.last_seq
    }) {
        assert!(Instant::now() < give_up, "the spools never drained");
        std::thread::sleep(Duration::from_millis(50));
    }

    let mut total = 0;
    for agent in &agents {
        let agent = agent.lock().unwrap();
        total += agent.check_stored(&collector).unwrap();
        eprintln!(
            "{}: {} samples and {} inventory changes generated, stored once each",
            agent.name,
            agent.generated.samples,
            agent.packages.len()
        );
    }
    eprintln!(
        "crash loop: {CRASHES} SIGKILLs in {:.1} s, {} samples generated, {} stored, 0 lost, 0 duplicated",
        crash_time.as_secs_f64(),
        total,
        total
    );
}
