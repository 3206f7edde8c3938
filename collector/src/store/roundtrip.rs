//! Property test of the metric store as a whole: random batches in, the
//! same points out, against a model that keeps every accepted point in
//! arrival order.
//!
//! What the model says a query returns: every point of every batch whose
//! sequence number was new, at the precision of [`series::stored_value`],
//! sorted by time; points with equal times in the order they arrived.

use std::collections::BTreeMap;

use atalaya_common::model::*;
use proptest::prelude::*;

use super::testutil::metrics;
use super::*;
use crate::helpers::series;

/// How the next sample's time follows the previous one.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// The usual interval with timer jitter.
    Next(i64),
    /// The same time again.
    Same,
    /// Back in time (clock stepped back, or an old batch).
    Back(i64),
    /// Forward past the longest block span.
    Jump,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        16 => (-3i64..=3).prop_map(Step::Next),
        1 => Just(Step::Same),
        2 => (1i64..50_000).prop_map(Step::Back),
        1 => Just(Step::Jump),
    ]
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-1_000_000i64..1_000_000).prop_map(|n| n as f64),
        (0i64..100_000, 0u32..4).prop_map(|(n, k)| n as f64 / 10f64.powi(k as i32)),
        any::<f64>(),
        Just(f64::NAN),
        Just(-0.0),
    ]
}

/// A sample with a few series of every kind; `dup` repeats a mount point.
fn sample() -> impl Strategy<Value = (Step, Vec<f64>, u8)> {
    (step(), proptest::collection::vec(value(), 12), 0u8..6)
}

fn health(at: i64, v: &[f64], shape: u8) -> HealthSample {
    let fs = |mount: &str, a: f64, b: f64| FilesystemUsage {
        mount_point: mount.into(),
        total_bytes: 1 << 30,
        used_bytes: (a.abs() as u64) << 12,
        available_bytes: (1 << 30) - ((a.abs() as u64 % 1000) << 12),
        used_percent: b,
        inodes_used_percent: shape.is_multiple_of(2).then_some(b / 3.0),
    };
    let mut filesystems = vec![fs("/", v[0], v[1])];
    match shape {
        // The same mount point twice in one sample.
        0 | 1 => filesystems.push(fs("/", v[2], v[3])),
        2 => filesystems.push(fs("/srv", v[2], v[3])),
        _ => {}
    }
    HealthSample {
        at: Timestamp(at),
        interval_ms: 10_000,
        // Series that come and go: no CPU on the first sample of an agent.
        cpu: (shape != 5).then(|| CpuUsage {
            total_percent: v[4],
            user_percent: v[5],
            per_core_percent: vec![v[6], v[7]],
            ..CpuUsage::default()
        }),
        load: LoadAverage {
            one: v[8],
            five: v[9],
            fifteen: 0.5,
        },
        memory: MemoryUsage {
            total_bytes: 16 << 30,
            used_bytes: (v[10].abs() as u64) << 10,
            available_bytes: (16u64 << 30).wrapping_sub((v[10].abs() as u64) << 10),
            ..MemoryUsage::default()
        },
        filesystems,
        disks: vec![DiskIo {
            name: "sda".into(),
            read_bytes_per_second: v[11],
            write_bytes_per_second: v[11] / 7.0,
            ..DiskIo::default()
        }],
        uptime_seconds: (at / 1000).unsigned_abs(),
        ..HealthSample::default()
    }
}

/// One batch: agent index, whether to send it again afterwards, samples.
type Batch = (usize, bool, Vec<(Step, Vec<f64>, u8)>);

fn batches() -> impl Strategy<Value = Vec<Vec<Batch>>> {
    // Commits of a few batches each; ~150 samples per agent over a case,
    // enough for several closed blocks.
    let batch = (
        0usize..2,
        proptest::bool::weighted(0.1),
        proptest::collection::vec(sample(), 1..8),
    );
    proptest::collection::vec(proptest::collection::vec(batch, 1..4), 10..40)
}

fn bits_equal(a: &[(Timestamp, f64)], b: &[(Timestamp, f64)]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.0 == y.0 && x.1.to_bits() == y.1.to_bits())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn random_batches_come_back_as_sent(commits in batches(), reopen_at in 0usize..40) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let mut store = Some(Store::open(&path).unwrap());
        let agents = ["agent-a", "agent-b"];
        let mut clock = [1_795_000_000_000i64, 1_795_000_003_000];
        let mut seq = [0u64; 2];
        // Model: agent → series → points in arrival order.
        let mut model: Vec<BTreeMap<String, Vec<(Timestamp, f64)>>> = vec![BTreeMap::new(); 2];
        for (n, commit) in commits.iter().enumerate() {
            if n == reopen_at {
                drop(store.take());
                store = Some(Store::open(&path).unwrap());
            }
            let s = store.as_ref().unwrap();
            let mut items = Vec::new();
            for (agent, resend, samples) in commit {
                let mut hs = Vec::new();
                for (step, values, shape) in samples {
                    clock[*agent] = match *step {
                        Step::Next(j) => clock[*agent] + 10_000 + j,
                        Step::Same => clock[*agent],
                        Step::Back(b) => clock[*agent] - b,
                        Step::Jump => clock[*agent] + 3 * 3_600_000,
                    };
                    let h = health(clock[*agent], values, *shape);
                    for (name, v) in series::flatten(&h) {
                        let v = series::stored_value(&name, v);
                        model[*agent].entry(name).or_default().push((h.at, v));
                    }
                    hs.push(h);
                }
                seq[*agent] += 1;
                let item = metrics(agents[*agent], seq[*agent], hs);
                if *resend {
                    items.push(item.clone());
                }
                items.push(item);
            }
            s.commit(&items).unwrap();
        }
        let s = store.as_ref().unwrap();
        for (i, agent) in agents.iter().enumerate() {
            let Some(asset) = s.agent_asset_id(agent).unwrap() else {
                prop_assert!(model[i].is_empty());
                continue;
            };
            let names: Vec<String> = model[i].keys().cloned().collect();
            prop_assert_eq!(s.series_names(&asset).unwrap(), names);
            for (name, sent) in &model[i] {
                let mut want = sent.clone();
                want.sort_by_key(|p| p.0);
                let got = s.metric(&asset, name, Timestamp(i64::MIN), Timestamp(i64::MAX), None).unwrap();
                prop_assert!(bits_equal(&got, &want), "{name}: got {got:?}, want {want:?}");
                // A window in the middle, raw and averaged.
                let (from, to) = (want[want.len() / 3].0, want[want.len() * 2 / 3].0);
                let inside: Vec<_> = want.iter().copied().filter(|p| p.0 >= from && p.0 <= to).collect();
                let got = s.metric(&asset, name, from, to, None).unwrap();
                prop_assert!(bits_equal(&got, &inside), "{name} in [{from:?}, {to:?}]");
                let step = 25_000i64;
                let mut buckets: BTreeMap<i64, (f64, u32)> = BTreeMap::new();
                for (t, v) in &inside {
                    let e = buckets.entry(from.0 + (t.0 - from.0) / step * step).or_insert((0.0, 0));
                    e.0 += v;
                    e.1 += 1;
                }
                let avg: Vec<_> = buckets.into_iter().map(|(b, (sum, n))| (Timestamp(b), sum / f64::from(n))).collect();
                let got = s.metric(&asset, name, from, to, Some(step as u64)).unwrap();
                prop_assert!(bits_equal(&got, &avg), "{name} averaged");
                // An inverted range is empty, not an error.
                let inverted = s.metric(&asset, name, Timestamp(to.0 + 1), from, None).unwrap();
                prop_assert!(inverted.is_empty());
            }
        }
    }
}
