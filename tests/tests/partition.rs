//! Network partitions between an agent and the collector, made by a UDP
//! relay that drops every datagram while cut: the agent spools and
//! backfills, nothing is lost or doubled, the collector shows the agent as
//! silent during the cut, and when the spool overflows during a long cut
//! the gap is recorded while every inventory change still arrives. And an
//! agent whose address changes keeps its connection (QUIC migration).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atalaya_tests::harness::{Collector, eventually, runtime};
use atalaya_tests::loadgen::{NumberedAgent, SERIES, produce};
use atalaya_tests::relay::Relay;

/// Waits until the collector acknowledged everything the agent spooled.
fn drained(agent: &Mutex<NumberedAgent>, limit: Duration) {
    eventually("the agent's spool to drain", limit, || {
        let a = agent.lock().unwrap();
        (a.acked() >= a.last_seq).then_some(())
    });
}

#[test]
fn a_cut_link_is_backfilled_and_the_agent_shows_silent_meanwhile() {
    let rt = runtime();
    let collector = Collector::start();
    let token = collector.token(1);
    let relay = Relay::start(collector.quic_address());
    let work = tempfile::tempdir().unwrap();
    let agent = rt.block_on(NumberedAgent::start(
        work.path(),
        "cut-off",
        &token,
        Some(relay.addr),
    ));
    let agent_id = agent.agent_id.clone();
    let agent = Arc::new(Mutex::new(agent));
    let stop = Arc::new(AtomicBool::new(false));
    let producer = rt.spawn(produce(
        agent.clone(),
        stop.clone(),
        10,
        Duration::from_millis(20),
        0,
    ));
    drained(&agent, Duration::from_secs(30));
    assert_eq!(collector.agent_status(&agent_id), "connected");

    relay.cut();
    let cut_at = Instant::now();
    agent.lock().unwrap().push_package();
    eventually(
        "the collector to call the agent silent",
        Duration::from_secs(20),
        || (collector.agent_status(&agent_id) == "silent").then_some(()),
    );
    let silent_after = cut_at.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    agent.lock().unwrap().push_package();
    relay.restore();
    let restored_at = Instant::now();
    eventually(
        "the agent to be heard again",
        Duration::from_secs(60),
        || (collector.agent_status(&agent_id) == "connected").then_some(()),
    );
    stop.store(true, Ordering::Release);
    rt.block_on(producer).unwrap();
    drained(&agent, Duration::from_secs(60));
    let backfilled_in = restored_at.elapsed();

    let agent = agent.lock().unwrap();
    let stored = agent.check_stored(&collector).unwrap();
    assert!(relay.dropped() > 0, "the relay dropped nothing");
    eprintln!(
        "partition: cut {:.1} s, silent after {:.1} s, {} datagrams dropped; {} samples generated, {} stored, 0 lost, 0 duplicated; backfilled {:.1} s after the link came back",
        (restored_at - cut_at).as_secs_f64(),
        silent_after.as_secs_f64(),
        relay.dropped(),
        agent.generated.samples,
        stored,
        backfilled_in.as_secs_f64(),
    );
}

#[test]
fn a_full_spool_during_a_long_cut_records_the_gap_and_keeps_every_change() {
    let rt = runtime();
    let collector = Collector::start();
    let token = collector.token(1);
    let relay = Relay::start(collector.quic_address());
    let work = tempfile::tempdir().unwrap();
    // The smallest spool the configuration allows.
    let mut agent = rt.block_on(NumberedAgent::start_with_spool(
        work.path(),
        "far-away",
        &token,
        Some(relay.addr),
        16 << 10,
    ));
    agent.push_batch(10);
    let _guard = rt.enter();
    let agent = Mutex::new(agent);
    drained(&agent, Duration::from_secs(30));

    // A long cut, compressed: far more samples than the spool holds, and
    // inventory changes among them.
    relay.cut();
    {
        let mut a = agent.lock().unwrap();
        for batch in 1..=400 {
            a.push_batch(10);
            if batch % 40 == 0 {
                a.push_package();
            }
        }
    }
    relay.restore();
    drained(&agent, Duration::from_secs(90));

    let agent = agent.lock().unwrap();
    let asset = collector.asset_named(&agent.name);
    let points = collector.points(&asset, SERIES);
    let (status, gaps) = collector.get(
        &format!("/api/v1/assets/{asset}/gaps"),
        Some(&collector.admin),
    );
    assert_eq!(status, 200, "{gaps}");
    let mut dropped = 0;
    let mut ranges = Vec::new();
    for gap in gaps.as_array().unwrap() {
        let full = &gap["missing"]["spool_full"];
        dropped += full["samples"].as_u64().unwrap();
        let at = |k: &str| {
            atalaya_common::model::Timestamp::parse_rfc3339(full[k].as_str().unwrap())
                .unwrap()
                .0
        };
        ranges.push((at("from"), at("to")));
    }
    assert!(dropped > 0, "nothing was dropped: {gaps}");
    assert_eq!(
        points.len() as u64 + dropped,
        agent.generated.samples,
        "stored + dropped ≠ generated: {gaps}"
    );
    for (t, _) in &points {
        assert!(
            !ranges.iter().any(|(from, to)| from <= t && t <= to),
            "a sample at {t} is both stored and in a gap"
        );
    }
    agent.check_changes(&collector, &asset).unwrap();
    eprintln!(
        "spool full: {} samples generated, {} stored, {} dropped and reported in {} gap records, {} inventory changes all stored",
        agent.generated.samples,
        points.len(),
        dropped,
        ranges.len(),
        agent.packages.len()
    );
}

#[test]
fn an_agent_whose_address_changes_keeps_its_connection() {
    let rt = runtime();
    let collector = Collector::start();
    let token = collector.token(1);
    let work = tempfile::tempdir().unwrap();
    let mut agent = rt.block_on(NumberedAgent::start(work.path(), "roamer", &token, None));
    let _guard = rt.enter();
    for _ in 0..20 {
        agent.push_batch(10);
    }
    let agent = Mutex::new(agent);
    drained(&agent, Duration::from_secs(30));

    // New local port mid-stream: QUIC migrates the connection, so the
    // records keep flowing at once, with no reconnect (a connection that
    // did not follow would stall until the 30 s idle timeout).
    {
        let mut a = agent.lock().unwrap();
        a.change_address();
        for _ in 0..20 {
            a.push_batch(10);
        }
    }
    drained(&agent, Duration::from_secs(10));
    let a = agent.lock().unwrap();
    assert!(a.is_connected(), "the session was lost");
    a.check_stored(&collector).unwrap();
}
