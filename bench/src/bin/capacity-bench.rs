//! Times the capacity report (the code of `/api/v1/capacity` and `atalaya
//! capacity`) over a large fleet: N hosts with F filesystems each and a
//! month of history, written in simulated time through the store's own
//! API, no agents.
//!
//! Each host is enrolled with an inventory snapshot (its filesystems and
//! their sizes, 16 GiB of memory). The history older than the last
//! `--raw-hours` is imported as 1-hour and 1-day rollups
//! (`Store::import_history`, one `filesystem.used_percent` point every
//! `--history-minutes`); the last `--raw-hours` go through ingest as the
//! agents' batches would (every series of a sample: the filesystems'
//! bytes and percentages, memory, load), at `--interval-seconds`, so raw
//! blocks are closed and rolled up and the newest points sit in open
//! blocks. Then the report runs `--runs` times; it prints p50 and max, and
//! how many filesystems it dated.
//!
//! Filesystems follow straight lines with noise: a quarter flat, a half
//! growing slowly, a quarter growing fast enough to fill within weeks.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use atalaya_collector::capacity::Day;
use atalaya_collector::capacity::usage::{Resource, TrendState};
use atalaya_collector::desk::capacity::{
    Scope, forecast_report, read_use, read_uses, usage_report,
};
use atalaya_collector::incidents::RuleSet;
use atalaya_collector::records::rollup::Tier;
use atalaya_collector::store::rollups::History;
use atalaya_collector::store::{Ingest, IngestRecord, Store};
use atalaya_collector::telemetry::percentile;
use atalaya_common::model::*;
use atalaya_common::proto;
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The collector's allocator, so the figures are the collector's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Capacity report benchmark: a fleet with a month of filesystem history.
#[derive(Debug, Parser)]
struct Args {
    /// Hosts.
    #[arg(long, default_value_t = 10_000)]
    assets: usize,
    /// Filesystems per host.
    #[arg(long, default_value_t = 10)]
    filesystems: usize,
    /// Days of history up to the report.
    #[arg(long, default_value_t = 32)]
    days: i64,
    /// The last hours of history, stored as raw points through ingest.
    #[arg(long, default_value_t = 1)]
    raw_hours: i64,
    /// Seconds between the raw samples.
    #[arg(long, default_value_t = 60)]
    interval_seconds: i64,
    /// Minutes between the imported points of the older history.
    #[arg(long, default_value_t = 30)]
    history_minutes: i64,
    /// Times the report is run.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Store file (default: a temporary file, removed at the end).
    #[arg(long)]
    path: Option<PathBuf>,
    /// With `--path`: use the fleet already written there by an earlier run
    /// (the same arguments), rather than writing it again.
    #[arg(long)]
    reuse: bool,
    /// Time the forecast of every filesystem only, not the full report.
    #[arg(long)]
    forecast_only: bool,
    /// The store's page cache, MiB (the collector's `[store] cache_mb`).
    #[arg(long, default_value_t = 1024)]
    cache_mb: usize,
}

const GIB: u64 = 1 << 30;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// Sizes of the filesystems.
const FS_BYTES: u64 = 100 * GIB;

/// One filesystem's use: a line with noise, percent.
#[derive(Debug, Clone, Copy)]
struct Line {
    start: f64,
    per_day: f64,
    noise: f64,
}

impl Line {
    fn random(rng: &mut StdRng) -> Self {
        let per_day = match rng.random_range(0..4) {
            0 => 0.0,
            1 | 2 => rng.random_range(0.01..0.5),
            _ => rng.random_range(1.0..2.0),
        };
        Line {
            start: rng.random_range(5.0..40.0),
            per_day,
            noise: rng.random_range(0.0..0.3),
        }
    }

    fn at(&self, t: i64, t0: i64, rng: &mut StdRng) -> f64 {
        let v = self.start
            + self.per_day * (t - t0) as f64 / DAY as f64
            + rng.random_range(-self.noise..=self.noise);
        (v.clamp(0.0, 100.0) * 1000.0).round() / 1000.0
    }
}

fn mount(f: usize) -> String {
    format!("/data{f}")
}

fn inventory(host: usize, filesystems: usize) -> Inventory {
    let mut inv = Inventory::default();
    inv.host.hostname = format!("host-{host:05}");
    inv.host.machine_id = Some(format!("{host:032x}"));
    inv.os.id = Some("debian".into());
    inv.hardware.memory.total_bytes = 16 * GIB;
    inv.storage.filesystems = (0..filesystems)
        .map(|f| Filesystem {
            mount_point: mount(f),
            device: format!("/dev/vd{f}"),
            fs_type: "ext4".into(),
            total_bytes: Some(FS_BYTES),
            ..Default::default()
        })
        .collect();
    inv.canonicalize();
    inv
}

fn sample(at: i64, interval_ms: i64, used: &[f64], memory_used: u64) -> HealthSample {
    HealthSample {
        at: Timestamp(at),
        interval_ms: interval_ms as u64,
        memory: MemoryUsage {
            total_bytes: 16 * GIB,
            used_bytes: memory_used,
            available_bytes: 16 * GIB - memory_used,
            ..MemoryUsage::default()
        },
        filesystems: used
            .iter()
            .enumerate()
            .map(|(f, &p)| {
                let used_bytes = (FS_BYTES as f64 * p / 100.0) as u64;
                FilesystemUsage {
                    mount_point: mount(f),
                    total_bytes: FS_BYTES,
                    used_bytes,
                    available_bytes: FS_BYTES - used_bytes,
                    used_percent: p,
                    inodes_used_percent: None,
                }
            })
            .collect(),
        ..HealthSample::default()
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.assets > 0 && args.filesystems > 0,
        "--assets and --filesystems must be at least 1"
    );
    anyhow::ensure!(
        args.days * 24 > args.raw_hours && args.raw_hours > 0,
        "--raw-hours must be at least 1 and less than --days"
    );
    anyhow::ensure!(
        args.interval_seconds > 0 && args.history_minutes > 0,
        "--interval-seconds and --history-minutes must be at least 1"
    );
    let path = args.path.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "atalaya-capacity-bench-{}.redb",
            std::process::id()
        ))
    });
    let store = Store::open_with_cache(&path, args.cache_mb << 20)
        .with_context(|| format!("opening {}", path.display()))?;
    // Hour-aligned, as a real "now" needs not be: the report rounds nothing.
    let now: i64 = 1_800_000_000_000;
    let t0 = now - args.days * DAY;
    let raw_from = now - args.raw_hours * HOUR;
    let mut rng = StdRng::seed_from_u64(5);
    let lines: Vec<Vec<Line>> = (0..args.assets)
        .map(|_| {
            (0..args.filesystems)
                .map(|_| Line::random(&mut rng))
                .collect()
        })
        .collect();
    let names: Vec<String> = (0..args.filesystems)
        .map(|f| format!("filesystem.used_percent{{mount={}}}", mount(f)))
        .collect();

    let reuse = args.reuse && path.exists() && std::fs::metadata(&path)?.len() > 0;
    if reuse {
        println!("reusing the fleet in {}", path.display());
    }
    let agent = |a: usize| format!("agent-{a:05}");
    if !reuse {
        // Enrol every host with its inventory.
        let started = Instant::now();
        for chunk in (0..args.assets).collect::<Vec<_>>().chunks(500) {
            let items: Vec<Ingest> = chunk
                .iter()
                .map(|&a| Ingest {
                    agent_id: agent(a),
                    received_at: Timestamp(t0),
                    record: IngestRecord::Snapshot(proto::InventorySnapshot {
                        seq: 1,
                        taken_at: Timestamp(t0),
                        inventory: inventory(a, args.filesystems),
                    }),
                })
                .collect();
            store.commit(&items)?;
        }
        println!(
            "{} hosts enrolled in {:.1} s",
            args.assets,
            started.elapsed().as_secs_f64()
        );
    }
    let mut ids = Vec::with_capacity(args.assets);
    for a in 0..args.assets {
        ids.push(
            store
                .agent_asset_id(&agent(a))?
                .with_context(|| format!("{} has no asset", agent(a)))?,
        );
    }
    if !reuse {
        // The older history, as rollups.
        let started = Instant::now();
        let step = args.history_minutes * 60_000;
        let mut imported = 0u64;
        for chunk in (0..args.assets).collect::<Vec<_>>().chunks(100) {
            let mut series = Vec::new();
            for &a in chunk {
                for (f, line) in lines[a].iter().enumerate() {
                    let points: Vec<(i64, f64)> = (0..)
                        .map(|i| t0 + i * step)
                        .take_while(|t| *t < raw_from)
                        .map(|t| (t, line.at(t, t0, &mut rng)))
                        .collect();
                    imported += points.len() as u64;
                    series.push((a, f, points));
                }
            }
            let history: Vec<History<'_>> = series
                .iter()
                .map(|(a, f, points)| History {
                    asset: &ids[*a],
                    series: &names[*f],
                    points,
                })
                .collect();
            store.import_history(&history, &[Tier::OneHour, Tier::OneDay])?;
        }
        println!(
            "history: {imported} points of filesystem.used_percent over {} hours, one every {} minutes, imported as 1-hour and 1-day rollups in {:.1} s",
            args.days * 24 - args.raw_hours,
            args.history_minutes,
            started.elapsed().as_secs_f64()
        );

        // The last hours through ingest, every series of each sample.
        let started = Instant::now();
        let interval = args.interval_seconds * 1000;
        let times: Vec<i64> = (0..)
            .map(|i| raw_from + i * interval)
            .take_while(|t| *t <= now)
            .collect();
        let mut raw_points = 0u64;
        for chunk in (0..args.assets).collect::<Vec<_>>().chunks(50) {
            let items: Vec<Ingest> = chunk
                .iter()
                .map(|&a| {
                    let samples: Vec<HealthSample> = times
                        .iter()
                        .map(|&t| {
                            let used: Vec<f64> =
                                lines[a].iter().map(|l| l.at(t, t0, &mut rng)).collect();
                            let memory = rng.random_range(4 * GIB..12 * GIB);
                            sample(t, interval, &used, memory)
                        })
                        .collect();
                    raw_points += samples.len() as u64 * (6 + 4 * args.filesystems as u64 + 3);
                    Ingest {
                        agent_id: agent(a),
                        received_at: Timestamp(now),
                        record: IngestRecord::Metrics(proto::MetricBatch { seq: 2, samples }),
                    }
                })
                .collect();
            store.commit(&items)?;
        }
        println!(
            "raw: the last {} h at {} s, {raw_points} points through ingest in {:.1} s; file {} bytes",
            args.raw_hours,
            args.interval_seconds,
            started.elapsed().as_secs_f64(),
            std::fs::metadata(&path)?.len()
        );
    }
    let rules = RuleSet::default();
    let report_now = Timestamp(now + 60_000);
    // The day each filesystem is full by the report, to compare the forecast's with.
    let mut report_days: HashMap<(String, String), Option<Day>> = HashMap::new();
    if !args.forecast_only {
        // The report, as the API runs it.
        let mut times_ms = Vec::with_capacity(args.runs);
        let mut last = None;
        for _ in 0..args.runs.max(1) {
            let started = Instant::now();
            let report = usage_report(&store, &rules, &Scope::default(), None, report_now)?;
            times_ms.push(started.elapsed().as_secs_f64() * 1000.0);
            last = Some(report);
        }
        let report = last.context("no run")?;
        let filesystems: Vec<_> = report
            .rows
            .iter()
            .filter(|r| r.resource == Resource::Filesystem)
            .collect();
        let count = |state: TrendState| filesystems.iter().filter(|r| r.trend == state).count();
        println!(
            "report: {} rows, {} filesystems ({} growing and dated, {} not growing, {} not a trend, {} too little history), {} memory rows",
            report.rows.len(),
            filesystems.len(),
            count(TrendState::Growing) + count(TrendState::Full),
            count(TrendState::NotGrowing),
            count(TrendState::NotATrend),
            count(TrendState::TooLittleHistory),
            report
                .rows
                .iter()
                .filter(|r| r.resource == Resource::Memory)
                .count(),
        );
        if let Some(first) = report.rows.first() {
            println!(
                "most urgent: {} {} full on {}",
                first.hostname,
                first.subject,
                first.full_on.map_or("-".to_owned(), |d| d.to_string())
            );
        }
        times_ms.sort_by(f64::total_cmp);
        println!(
            "capacity report over {} assets x {} filesystems: p50 {:.0} ms, max {:.0} ms ({} runs)",
            args.assets,
            args.filesystems,
            percentile(&times_ms, 0.5),
            percentile(&times_ms, 1.0),
            times_ms.len()
        );
        report_days = filesystems
            .iter()
            .map(|f| ((f.asset_id.clone(), f.subject.clone()), f.full_on))
            .collect();
    }
    // The forecast of every filesystem: the same lines without the month
    // of percentiles.
    let mut forecast_ms = Vec::with_capacity(args.runs);
    let mut forecast = None;
    for _ in 0..args.runs.max(1) {
        let started = Instant::now();
        let f = forecast_report(
            &store,
            &rules,
            &Scope::default(),
            Resource::Filesystem,
            None,
            report_now,
        )?;
        forecast_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        forecast = Some(f);
    }
    let forecast = forecast.context("no run")?;
    let dated = forecast.rows.iter().filter(|r| r.full_on.is_some()).count();
    let same = forecast
        .rows
        .iter()
        .filter(|r| r.full_on.is_some())
        .filter(|r| report_days.get(&(r.asset_id.clone(), r.subject.clone())) == Some(&r.full_on))
        .count();
    forecast_ms.sort_by(f64::total_cmp);
    println!(
        "forecast of every filesystem ({} rows, {dated} dated, {same} of them on the report's day): p50 {:.0} ms, max {:.0} ms ({} runs)",
        forecast.rows.len(),
        percentile(&forecast_ms, 0.5),
        percentile(&forecast_ms, 1.0),
        forecast_ms.len()
    );
    if !args.forecast_only {
        // Where the time goes: each part of the report's reads on its own.
        let window = 72 * HOUR;
        let part = |f: &dyn Fn(&str) -> anyhow::Result<()>| -> anyhow::Result<f64> {
            let started = Instant::now();
            for id in &ids {
                f(id)?;
            }
            Ok(started.elapsed().as_secs_f64() * 1000.0)
        };
        let assets_ms = part(&|id| {
            store.asset(id)?;
            store.series_names(id)?;
            Ok(())
        })?;
        let reads: Vec<(&str, i64)> = names.iter().map(|n| (n.as_str(), window)).collect();
        let fs_ms = part(&|id| {
            read_uses(&store, id, &reads, report_now)?;
            Ok(())
        })?;
        let memory_ms = part(&|id| {
            read_use(&store, id, "memory.used_percent", report_now, window)?;
            Ok(())
        })?;
        println!(
            "of which: assets and series names {assets_ms:.0} ms, filesystems' series {fs_ms:.0} ms, memory (its available and total series) {memory_ms:.0} ms"
        );
    }
    drop(store);
    if args.path.is_none() {
        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    }
    Ok(())
}
