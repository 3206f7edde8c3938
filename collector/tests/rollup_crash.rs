//! A process that stores samples and deletes expired data is killed with
//! SIGKILL at random moments, again and again, until it has stored a
//! known history. Every rollup then holds each sample exactly once: none
//! was lost or counted twice by a kill while a block was closed and
//! rolled up, or while expired blocks and rollups were being deleted.
//!
//! The test runs itself as that process (with [`WORKER`] set), so that
//! the kill hits the real store code at any instruction.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use atalaya_collector::records::rollup::Tier;
use atalaya_collector::store::retention::{Expiry, Retention};
use atalaya_collector::store::{Ingest, IngestRecord, Store};
use atalaya_common::model::{CpuUsage, HealthSample, Timestamp};
use atalaya_common::proto;
use rand::Rng;

/// Set to the store's path in the worker process.
const WORKER: &str = "ATALAYA_ROLLUP_CRASH_STORE";
const AGENT: &str = "crash-agent";
const SERIES: &str = "cpu.total_percent";
const T0: i64 = 1_800_000_000_000;
const STEP: i64 = 10_000;
const PER_BATCH: i64 = 60;
const BATCHES: u64 = 400;
const DAY: i64 = 86_400_000;

fn policy() -> Retention {
    Retention {
        raw_ms: DAY,
        five_minutes_ms: 2 * DAY,
        one_hour_ms: 3650 * DAY,
        max_bytes: None,
    }
}

/// Sample `i` of the history: its time and value.
fn point(i: i64) -> (i64, f64) {
    (T0 + i * STEP, ((i * 37) % 1000) as f64 / 10.0)
}

fn batch(k: u64) -> Ingest {
    let first = (k as i64 - 1) * PER_BATCH;
    let samples = (first..first + PER_BATCH)
        .map(|i| {
            let (at, v) = point(i);
            HealthSample {
                at: Timestamp(at),
                interval_ms: STEP as u64,
                cpu: Some(CpuUsage {
                    total_percent: v,
                    ..CpuUsage::default()
                }),
                ..HealthSample::default()
            }
        })
        .collect();
    Ingest {
        agent_id: AGENT.into(),
        received_at: Timestamp(point(first + PER_BATCH - 1).0),
        record: IngestRecord::Metrics(proto::MetricBatch { seq: k, samples }),
    }
}

/// The worker: goes on from the last batch stored, running an expiry pass
/// every ten batches, until the whole history is stored.
fn work(path: &Path) {
    let store = Store::open(path).unwrap();
    let heartbeat = Ingest {
        agent_id: AGENT.into(),
        received_at: Timestamp(T0),
        record: IngestRecord::Heartbeat(proto::Heartbeat {
            seq: 0,
            at: Timestamp(T0),
        }),
    };
    let done = store.commit(&[heartbeat]).unwrap()[0].highest_seq;
    for k in done + 1..=BATCHES {
        store.commit(&[batch(k)]).unwrap();
        if k % 10 == 0 {
            let now = point(k as i64 * PER_BATCH).0;
            let mut pass = Expiry::new();
            while !pass.done() {
                store.expire_step(&policy(), now, &mut pass, 20).unwrap();
            }
        }
    }
}

#[test]
fn killed_while_rolling_up_and_deleting_no_rollup_is_lost_or_doubled() {
    if let Ok(path) = std::env::var(WORKER) {
        work(Path::new(&path));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    // Created here: the kills are for rolling up and deleting, not for
    // the file's first creation.
    drop(Store::open(&path).unwrap());
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::rng();
    let mut kills = 0;
    loop {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "killed_while_rolling_up_and_deleting_no_rollup_is_lost_or_doubled",
                "--nocapture",
            ])
            .env(WORKER, &path)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        // The kill's moment: the worker runs for this long at most; short
        // lives first, so that even on a fast disk it is killed often.
        let life = if kills < 10 { 10..120 } else { 50..400 };
        std::thread::sleep(Duration::from_millis(rng.random_range(life)));
        match child.try_wait().unwrap() {
            Some(status) => {
                assert!(status.success(), "the worker failed: {status}");
                break;
            }
            None => {
                child.kill().unwrap();
                child.wait().unwrap();
                kills += 1;
                assert!(kills < 500, "the worker never finished");
            }
        }
    }
    assert!(kills >= 3, "only {kills} kills: the test proves little");

    let store = Store::open(&path).unwrap();
    let asset = store.agent_asset_id(AGENT).unwrap().unwrap();
    // Points not rolled up yet: the agent's open block.
    let open: Vec<i64> = store
        .open_points(&asset, SERIES, Timestamp(i64::MIN), Timestamp(i64::MAX))
        .unwrap()
        .into_iter()
        .map(|p| p.0)
        .collect();
    let all = BATCHES as i64 * PER_BATCH;
    let bounds = store.retention_bounds().unwrap();
    let mut checked = 0;
    for tier in [Tier::FiveMinutes, Tier::OneHour, Tier::OneDay] {
        let mut want: BTreeMap<i64, (u64, f64, f64)> = BTreeMap::new();
        for i in 0..all {
            let (t, v) = point(i);
            if open.contains(&t) {
                continue;
            }
            let e = want
                .entry(tier.bucket_of(t))
                .or_insert((0, f64::INFINITY, f64::NEG_INFINITY));
            e.0 += 1;
            e.1 = e.1.min(v);
            e.2 = e.2.max(v);
        }
        // What retention deleted of this tier.
        let kept_from = bounds.of(tier) - tier.bucket_ms();
        want.retain(|b, _| *b >= kept_from);
        let got: BTreeMap<i64, (u64, f64, f64)> = store
            .rollups(&asset, SERIES, tier, kept_from, i64::MAX)
            .unwrap()
            .into_iter()
            .map(|(b, r)| (b, (r.count, r.min, r.max)))
            .collect();
        assert_eq!(got, want, "{tier} rollups after {kills} kills");
        checked += got.len();
    }
    assert!(
        bounds.five_minutes > T0,
        "the 5-minute rollups expired in part"
    );
    // The raw points left are the end of the history, whole: no block
    // indexed without its bytes, none deleted after the raw cut-off.
    let raw = store
        .metric(
            &asset,
            SERIES,
            Timestamp(i64::MIN),
            Timestamp(i64::MAX),
            None,
        )
        .unwrap();
    let first = (raw[0].0.0 - T0) / STEP;
    let history: Vec<(Timestamp, f64)> = (first..all)
        .map(point)
        .map(|(t, v)| (Timestamp(t), v))
        .collect();
    assert_eq!(raw, history);
    assert!(raw[0].0.0 <= bounds.raw && bounds.raw > T0, "{bounds:?}");
    eprintln!("{kills} kills; {checked} rollup points hold every sample once");
}
