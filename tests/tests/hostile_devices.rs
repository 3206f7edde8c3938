//! Hostile and broken SNMP devices against the real poller: answers cut
//! short, garbage, other requests' IDs, walks that loop, a table that never
//! ends, answers after the timeout. Each device ends its poll in a named
//! state within its time budget, the walk's row limit bounds what one
//! poll holds, and well-behaved devices polled beside them keep their
//! schedule.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use atalaya_agent::snmp::walk::{DEFAULT_MAX_ROWS, WalkLimits};
use atalaya_agent::snmp::{DevicePoll, Poller, PollerConfig};
use atalaya_common::model::{DeviceSpec, DeviceState};
use atalaya_tests::scripted::{Fault, ScriptedDevice, Switch};

const COMMUNITY: &str = "hostile";
/// Rows an endless table offers.
const ENDLESS_ROWS: u32 = 100_000;
/// The row limit of the polls that share the poller with well-behaved devices.
const TEST_MAX_ROWS: usize = 2_000;

fn device(fault: Fault) -> ScriptedDevice {
    let mib = Switch {
        name: "scripted".into(),
        ports: 4,
        uptime_ticks: 500_000,
    }
    .mib();
    ScriptedDevice::start(COMMUNITY, mib, fault)
}

fn spec(name: &str, dev: &ScriptedDevice) -> DeviceSpec {
    let mut s = DeviceSpec::v2c(name, "127.0.0.1", COMMUNITY);
    s.port = dev.port();
    s.timeout_ms = 300;
    s.retries = 0;
    s.poll_interval_seconds = 1;
    s
}

fn config(max_rows: usize) -> PollerConfig {
    PollerConfig {
        limits: WalkLimits {
            max_rows,
            ..WalkLimits::default()
        },
        ..PollerConfig::default()
    }
}

/// Each fault, the state its poll must end in, and a word its problem names.
fn faults() -> Vec<(&'static str, Fault, DeviceState, &'static str)> {
    vec![
        // async-snmp drops a datagram it cannot decode and waits on for a
        // real answer (a forged or broken datagram must not end a request),
        // so these end as a timeout, whose meaning names them.
        (
            "truncated",
            Fault::Truncated,
            DeviceState::Timeout,
            "no answer",
        ),
        ("garbage", Fault::Garbage, DeviceState::Timeout, "no answer"),
        (
            "wrong-id",
            Fault::WrongRequestId,
            DeviceState::Timeout,
            "no answer",
        ),
        ("loop", Fault::Loop, DeviceState::WalkLoop, "loops"),
        (
            "endless",
            Fault::Endless(ENDLESS_ROWS),
            DeviceState::TooManyRows,
            "rows",
        ),
        (
            "slow",
            Fault::Slow(Duration::from_millis(450)),
            DeviceState::Timeout,
            "no answer",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_hostile_device_ends_its_poll_in_a_named_state() {
    let devices: Vec<_> = faults()
        .into_iter()
        .map(|(name, fault, state, word)| (name, device(fault), state, word))
        .collect();
    let specs = devices.iter().map(|(n, d, ..)| spec(n, d)).collect();
    let mut poller = Poller::new(specs, config(TEST_MAX_ROWS)).await.unwrap();
    let started = Instant::now();
    let polls = poller.poll_all().await;
    let took = started.elapsed();
    for ((name, dev, state, word), poll) in devices.iter().zip(&polls) {
        assert_eq!(poll.device, *name);
        assert_eq!(poll.state, *state, "{name}: {:?}", poll.problems);
        assert!(
            poll.problems.iter().any(|p| p.contains(word)),
            "{name}: {:?}",
            poll.problems
        );
        assert!(poll.inventory.is_none(), "{name} sent an inventory");
        assert!(dev.requests() > 0, "{name} was never asked");
    }
    // The endless table stopped at the row limit: its rows came 25 at a
    // time, and the poll asked for no more than the limit needs.
    let endless = &devices[4].1;
    let most = u64::try_from(TEST_MAX_ROWS / 25 + 10).unwrap();
    assert!(
        endless.requests() <= most,
        "{} requests",
        endless.requests()
    );
    // Polled together, the slowest of them is bounded by its own budget
    // (a timed-out request, or the row limit), not by the others.
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_row_limit_ends_an_endless_table() {
    let dev = device(Fault::Endless(ENDLESS_ROWS));
    let mut poller = Poller::new(vec![spec("endless", &dev)], PollerConfig::default())
        .await
        .unwrap();
    let poll = poller.poll_all().await.remove(0);
    assert_eq!(poll.state, DeviceState::TooManyRows, "{:?}", poll.problems);
    let limit = format!("more than {DEFAULT_MAX_ROWS} rows");
    assert!(
        poll.problems.iter().any(|p| p.contains(&limit)),
        "{:?}",
        poll.problems
    );
    // It stopped at the limit, well before the table's end.
    let most = u64::try_from(DEFAULT_MAX_ROWS / 25 + 10).unwrap();
    assert!(dev.requests() <= most, "{} requests", dev.requests());
}

/// `VmRSS` of this process, bytes.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    kb * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn well_behaved_devices_keep_their_schedule_beside_twenty_hostile_ones() {
    let good: Vec<ScriptedDevice> = (0..4).map(|_| device(Fault::None)).collect();
    let faults = faults();
    let hostile: Vec<(String, ScriptedDevice, DeviceState)> = (0..20)
        .map(|i| {
            let (name, fault, state, _) = faults[i % faults.len()];
            (format!("{name}-{i}"), device(fault), state)
        })
        .collect();
    let mut specs: Vec<DeviceSpec> = good
        .iter()
        .enumerate()
        .map(|(i, d)| spec(&format!("good-{i}"), d))
        .collect();
    specs.extend(hostile.iter().map(|(n, d, _)| spec(n, d)));
    let (_updates, watched) = tokio::sync::watch::channel(specs.clone());
    let poller = Poller::new(specs, config(TEST_MAX_ROWS)).await.unwrap();
    let rss_before = rss_bytes();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<DevicePoll>(64);
    let run = tokio::spawn(poller.run(tx, watched));

    // Every device polled at least four times (the good ones once a second).
    let mut polls: BTreeMap<String, Vec<DevicePoll>> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while polls.len() < 24 || polls.values().any(|p| p.len() < 4) {
        let poll = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("every device polled four times within 30 s")
            .expect("the poller runs");
        polls.entry(poll.device.clone()).or_default().push(poll);
    }
    drop(rx);
    run.await.unwrap();
    let rss_growth = rss_bytes().saturating_sub(rss_before);

    for i in 0..4 {
        let name = format!("good-{i}");
        let mine = &polls[&name];
        for p in mine {
            assert_eq!(p.state, DeviceState::Ok, "{name}: {:?}", p.problems);
        }
        let times: Vec<i64> = mine.iter().map(|p| p.at.0).collect();
        let widest = times.windows(2).map(|w| w[1] - w[0]).max().unwrap();
        // Interval 1 s; a poll of a good device takes milliseconds.
        assert!(widest <= 1_500, "{name}: polls at {times:?}");
    }
    for (name, _, state) in &hostile {
        for p in &polls[name] {
            assert_eq!(p.state, *state, "{name}: {:?}", p.problems);
        }
    }
    eprintln!("VmRSS grew {} KiB", rss_growth / 1024);
    assert!(rss_growth < 50 << 20, "VmRSS grew {rss_growth} bytes");
}
