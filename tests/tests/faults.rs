//! Nothing lost, nothing doubled: the collector crashes, the agent spools,
//! the agent is killed with SIGKILL while its spool holds records, one of
//! them is damaged on disk, both come back: the damaged file is moved
//! aside and reported, and every intact record is stored once.

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

/// The metric batches waiting in a (stopped) agent's spool: their frames
/// and sample timestamps.
fn spooled_batches(spool: &Path) -> Vec<(Vec<u8>, Vec<i64>)> {
    let (spool, _) = Spool::open(spool).unwrap();
    let mut batches = Vec::new();
    let mut after = spool.acked();
    while let Some((seq, frame)) = spool.next_after(after).unwrap() {
        after = seq;
        if let Some((Message::MetricBatch(batch), _)) = proto::decode(&frame).unwrap() {
            let times = batch.samples.iter().map(|s| s.at.0).collect();
            batches.push((frame, times));
        }
    }
    batches
}

/// Flips a byte inside `frame` where it sits in one of the spool's
/// segment files, as a bad disk sector would.
fn damage(spool: &Path, frame: &[u8]) {
    for entry in std::fs::read_dir(spool).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "seg") {
            continue;
        }
        let mut data = std::fs::read(&path).unwrap();
        if let Some(at) = data.windows(frame.len()).position(|w| w == frame) {
            data[at + frame.len() / 2] ^= 0x5a;
            std::fs::write(&path, data).unwrap();
            return;
        }
    }
    panic!("the frame to damage is in no segment");
}

#[test]
fn collector_crash_agent_kill_and_a_damaged_spool_lose_nothing_intact() {
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

    // The agent is killed mid-spool; a record in the middle of its spool
    // is damaged on disk; then both come back.
    drop(desk);
    let batches = spooled_batches(&spool);
    assert!(
        batches.len() >= 3,
        "only {} batches were spooled",
        batches.len()
    );
    let (frame, lost) = &batches[batches.len() / 2];
    damage(&spool, frame);
    let lost: BTreeSet<i64> = lost.iter().copied().collect();
    let waiting: BTreeSet<i64> = batches
        .iter()
        .flat_map(|b| b.1.iter().copied())
        .filter(|t| !lost.contains(t))
        .collect();
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
    assert!(
        unique.is_disjoint(&lost),
        "the damaged record's samples were stored"
    );

    // The damage was reported: in the agent's log, and to the collector.
    let gaps = eventually(
        "the damaged spool to be reported",
        Duration::from_secs(30),
        || {
            let (_, gaps) = collector.get(
                &format!("/api/v1/assets/{asset}/gaps"),
                Some(&collector.admin),
            );
            gaps.as_array()?
                .iter()
                .any(|g| g["missing"]["spool_damaged"].is_object())
                .then_some(gaps)
        },
    );
    let report = gaps.to_string();
    assert!(report.contains("checksum mismatch"), "{report}");
    assert!(work.path().join("desk/state/spool/quarantine").is_dir());
    drop(desk);
    let log = std::fs::read_to_string(work.path().join("desk/agent.log")).unwrap();
    assert!(log.contains("damaged spool segment moved aside"), "{log}");
}
