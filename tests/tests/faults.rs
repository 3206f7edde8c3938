//! Nothing lost, nothing doubled: the collector crashes, the agent spools,
//! the agent is killed with SIGKILL while its spool holds records, both
//! come back, and every record the agent had made durable is stored once.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use atalaya_agent::spool::Spool;
use atalaya_common::proto::{self, Message};
use atalaya_tests::harness::{Collector, agent, copy_tree, eventually, fixture};

/// Timestamps (ms) of the health samples of `asset`, as stored.
fn stored_times(collector: &Collector, asset: &str) -> Vec<i64> {
    collector
        .points(asset, "memory.used_bytes")
        .iter()
        .map(|p| p.0)
        .collect()
}

/// Sample timestamps of the metric batches waiting in a (stopped) agent's spool.
fn spooled_times(spool: &Path) -> BTreeSet<i64> {
    let (spool, _) = Spool::open(spool).unwrap();
    let mut times = BTreeSet::new();
    let mut after = spool.acked();
    while let Some((seq, frame)) = spool.next_after(after).unwrap() {
        after = seq;
        if let Some((Message::MetricBatch(batch), _)) = proto::decode(&frame).unwrap() {
            times.extend(batch.samples.iter().map(|s| s.at.0));
        }
    }
    times
}

#[test]
fn collector_crash_and_agent_kill_lose_and_double_nothing() {
    let mut collector = Collector::start();
    let token = collector.token(1);
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    copy_tree(&fixture("arch"), &root);
    let mut desk = agent(work.path(), "desk", Some(&root), &token);
    let asset = eventually("the agent's first samples", Duration::from_secs(30), || {
        let id = collector
            .assets()
            .first()
            .and_then(|a| a["id"].as_str().map(str::to_owned))?;
        (stored_times(&collector, &id).len() >= 2).then_some(id)
    });

    // The collector crashes; the agent keeps sampling into its spool.
    collector.kill();
    let spool = work.path().join("desk/state/spool");
    let spool_bytes = || -> u64 {
        std::fs::read_dir(&spool)
            .map(|dir| {
                dir.filter_map(|e| e.ok()?.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    };
    // Unacked samples pile up, one a second, a few hundred bytes each
    // from this fixture host: wait for several.
    let at_crash = spool_bytes();
    eventually(
        "samples to pile up in the spool",
        Duration::from_secs(30),
        || (spool_bytes() >= at_crash + 600).then_some(()),
    );

    // The agent is killed mid-spool, then both come back.
    drop(desk);
    let waiting = spooled_times(&spool);
    assert!(
        waiting.len() >= 2,
        "only {} samples were spooled",
        waiting.len()
    );
    desk = agent(work.path(), "desk", Some(&root), &token);
    collector.restart();

    let last_waiting = *waiting.iter().max().unwrap();
    let stored = eventually(
        "the spooled samples to arrive",
        Duration::from_secs(60),
        || {
            let stored = stored_times(&collector, &asset);
            (stored.iter().any(|t| *t > last_waiting)).then_some(stored)
        },
    );
    let unique: BTreeSet<i64> = stored.iter().copied().collect();
    assert_eq!(
        unique.len(),
        stored.len(),
        "a sample was stored twice: {stored:?}"
    );
    let missing: Vec<&i64> = waiting.iter().filter(|t| !unique.contains(t)).collect();
    assert!(
        missing.is_empty(),
        "spooled samples never stored: {missing:?}\n{}",
        collector.log()
    );
    drop(desk);
}
