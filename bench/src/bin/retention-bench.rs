//! The store over fleet time: `--agents` simulated hosts sampling every
//! `--interval-seconds` for `--days` of simulated time, written through
//! ingest as agents' batches (an hour of samples each), with the
//! collector's expiry pass run every simulated `--expire-minutes` at the
//! simulated time under the default retention (raw 14 days, 5-minute
//! rollups 400 days, 1-hour and 1-day rollups 5 years; `--raw-days`,
//! `--five-minute-days` and `--hour-days` shorten it, to see every tier
//! reach its steady state in a short run). Every simulated
//! `--report-days` it prints the file's size, the bytes in use and the
//! pages of each tier's tables, so the raw tier can be seen to stop growing
//! once retention deletes.
//!
//! At the end it counts each tier's points and prints its bytes per point
//! (measured), then the steady state of `--fleet` agents (derived: the
//! measured bytes per point times the points each tier holds at its
//! retention). A year at 10 s of a thousand agents is billions of points,
//! more than the bench can write; the figures say which are measured and
//! which derived.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use atalaya_bench::host::Host;
use atalaya_collector::records::rollup::Tier;
use atalaya_collector::store::retention::{Expiry, Retention};
use atalaya_collector::store::schema::rollup_table;
use atalaya_collector::store::{Ingest, IngestRecord, Store};
use atalaya_common::model::{HealthSample, Timestamp};
use atalaya_common::proto;
use clap::Parser;
use redb::{ReadableTable, TableHandle};

/// Store size over simulated fleet time, with retention.
#[derive(Debug, Parser)]
struct Args {
    /// Simulated agents.
    #[arg(long, default_value_t = 2)]
    agents: usize,
    /// Simulated days.
    #[arg(long, default_value_t = 21)]
    days: i64,
    /// Seconds between samples.
    #[arg(long, default_value_t = 10)]
    interval_seconds: i64,
    /// Simulated minutes between expiry passes (the collector: 5).
    #[arg(long, default_value_t = 60)]
    expire_minutes: i64,
    /// Simulated days between two size lines.
    #[arg(long, default_value_t = 1)]
    report_days: i64,
    /// Agents of the derived steady state.
    #[arg(long, default_value_t = 1000)]
    fleet: u64,
    /// Days raw points are kept (the collector's default: 14).
    #[arg(long, default_value_t = 14)]
    raw_days: i64,
    /// Days 5-minute rollups are kept (default: 400).
    #[arg(long, default_value_t = 400)]
    five_minute_days: i64,
    /// Days 1-hour and 1-day rollups are kept (default: 1825).
    #[arg(long, default_value_t = 1825)]
    hour_days: i64,
    /// Store file (default: a temporary file, removed at the end).
    #[arg(long)]
    path: Option<PathBuf>,
}

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// Tables of the raw tier (the closed blocks, their index, open blocks).
const RAW_TABLES: [&str; 4] = [
    "metric_blocks",
    "metric_block_index",
    "metric_heads",
    "metric_head_of",
];

/// Bytes of pages of the raw tables and of each rollup table.
fn tier_pages(store: &Store) -> anyhow::Result<[u64; 4]> {
    let usage = store.table_usage()?;
    let pages = |name: &str| {
        usage
            .iter()
            .find(|(n, _, _)| n == name)
            .map_or(0, |(_, _, p)| *p)
    };
    let mut out = [RAW_TABLES.iter().map(|n| pages(n)).sum(), 0, 0, 0];
    for (slot, tier) in out
        .iter_mut()
        .skip(1)
        .zip([Tier::FiveMinutes, Tier::OneHour, Tier::OneDay])
    {
        if let Some(def) = rollup_table(tier) {
            *slot = pages(def.name());
        }
    }
    Ok(out)
}

/// Rollup points held by each rollup table (a row holds its count first).
fn rollup_points(store: &Store) -> anyhow::Result<[u64; 3]> {
    let txn = store.begin_read()?;
    let mut out = [0u64; 3];
    for (slot, tier) in out
        .iter_mut()
        .zip([Tier::FiveMinutes, Tier::OneHour, Tier::OneDay])
    {
        let Some(def) = rollup_table(tier) else {
            continue;
        };
        for r in txn.open_table(def)?.iter()? {
            let (_, v) = r?;
            let mut bytes = v.value();
            *slot += atalaya_collector::helpers::sketch::get_varint(&mut bytes, "count")?;
        }
    }
    Ok(out)
}

fn mb(bytes: f64) -> f64 {
    bytes / 1e6
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.agents > 0 && args.days > 0 && args.interval_seconds > 0 && args.expire_minutes > 0,
        "--agents, --days, --interval-seconds and --expire-minutes must be at least 1"
    );
    let path = args.path.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "atalaya-retention-bench-{}.redb",
            std::process::id()
        ))
    });
    let store = Store::open(&path).with_context(|| format!("opening {}", path.display()))?;
    anyhow::ensure!(
        args.raw_days > 0 && args.five_minute_days > 0 && args.hour_days > 0,
        "--raw-days, --five-minute-days and --hour-days must be at least 1"
    );
    let policy = Retention {
        raw_ms: args.raw_days * DAY,
        five_minutes_ms: args.five_minute_days * DAY,
        one_hour_ms: args.hour_days * DAY,
        ..Retention::default()
    };
    let start: i64 = 1_800_000_000_000;
    let end = start + args.days * DAY;
    let interval = args.interval_seconds * 1000;
    let mut hosts: Vec<Host> = (0..args.agents).map(|i| Host::new(i as u64 + 1)).collect();
    let mut seq = vec![0u64; args.agents];
    let mut points = 0u64;
    let mut series = 0usize;
    let mut next_expiry = start + args.expire_minutes * 60_000;
    let mut next_report = start + args.report_days * DAY;
    let (mut deleted_blocks, mut deleted_rollups) = (0u64, 0u64);
    let began = Instant::now();
    println!(
        "{} agents every {} s for {} simulated days; expiry every {} simulated minutes, raw {} d, 5-minute {} d, 1-hour/1-day {} d",
        args.agents,
        args.interval_seconds,
        args.days,
        args.expire_minutes,
        policy.raw_ms / DAY,
        policy.five_minutes_ms / DAY,
        policy.one_hour_ms / DAY
    );
    println!(
        "{:>4} {:>12} {:>12} {:>11} {:>11} {:>11} {:>11} {:>9}",
        "day", "file MB", "in use MB", "raw MB", "5m MB", "1h MB", "1d MB", "wall s"
    );
    let mut t = start;
    while t < end {
        // An hour of samples from every agent, as each would send its spool.
        let hour_end = (t + HOUR).min(end);
        let mut items = Vec::with_capacity(args.agents);
        for (a, host) in hosts.iter_mut().enumerate() {
            let samples: Vec<HealthSample> = (0..)
                .map(|i| t + i * interval + (a as i64 * 1013) % interval)
                .take_while(|at| *at < hour_end)
                .map(|at| host.sample(at, args.interval_seconds as f64))
                .collect();
            if series == 0 {
                series = samples
                    .first()
                    .map_or(0, |s| atalaya_collector::helpers::series::flatten(s).len());
            }
            points += samples.len() as u64 * series as u64;
            seq[a] += 1;
            items.push(Ingest {
                agent_id: format!("agent-{a:04}"),
                received_at: Timestamp(hour_end),
                record: IngestRecord::Metrics(proto::MetricBatch {
                    seq: seq[a],
                    samples,
                }),
            });
        }
        store.commit(&items)?;
        t = hour_end;
        while next_expiry <= t {
            let mut pass = Expiry::new();
            while !pass.done() {
                store.expire_step(&policy, next_expiry, &mut pass, 256)?;
            }
            deleted_blocks += pass.report.blocks;
            deleted_rollups += pass.report.rollups;
            next_expiry += args.expire_minutes * 60_000;
        }
        if t >= next_report || t >= end {
            let file = std::fs::metadata(&path)?.len();
            let in_use = store.allocated_bytes()?;
            let tiers = tier_pages(&store)?;
            println!(
                "{:>4} {:>12.1} {:>12.1} {:>11.2} {:>11.2} {:>11.2} {:>11.2} {:>9.0}",
                (t - start) / DAY,
                mb(file as f64),
                mb(in_use as f64),
                mb(tiers[0] as f64),
                mb(tiers[1] as f64),
                mb(tiers[2] as f64),
                mb(tiers[3] as f64),
                began.elapsed().as_secs_f64()
            );
            next_report += args.report_days * DAY;
        }
    }
    let file = std::fs::metadata(&path)?.len();
    let in_use = store.allocated_bytes()?;
    let tiers = tier_pages(&store)?;
    let rollups = rollup_points(&store)?;
    let kept_days = args.days.min(args.raw_days);
    let raw_kept = points as f64 * kept_days as f64 / args.days as f64;
    println!(
        "measured: {points} raw points written ({series} series per agent), {deleted_blocks} raw blocks and {deleted_rollups} rollups deleted by retention; file {file} bytes, {in_use} in use",
    );
    let raw_per_point = tiers[0] as f64 / raw_kept;
    println!(
        "measured: raw tier {:.3} bytes per point in pages ({} bytes for the last {kept_days} days' {raw_kept:.0} points)",
        raw_per_point, tiers[0]
    );
    let mut per_rollup = [0.0f64; 3];
    for (i, tier) in [Tier::FiveMinutes, Tier::OneHour, Tier::OneDay]
        .iter()
        .enumerate()
    {
        per_rollup[i] = tiers[i + 1] as f64 / rollups[i].max(1) as f64;
        println!(
            "measured: {tier:<3} rollups: {} points, {:.1} bytes each in pages",
            rollups[i], per_rollup[i]
        );
    }
    // The steady state of a fleet: each tier full to its retention.
    let n = args.fleet as f64 * series as f64;
    let per_day_raw = 86_400.0 / args.interval_seconds as f64;
    let held = [
        (policy.raw_ms / DAY) as f64 * per_day_raw,
        (policy.five_minutes_ms / DAY) as f64 * 288.0,
        (policy.one_hour_ms / DAY) as f64 * 24.0,
        (policy.one_hour_ms / DAY) as f64,
    ];
    let bytes = [
        held[0] * raw_per_point,
        held[1] * per_rollup[0],
        held[2] * per_rollup[1],
        held[3] * per_rollup[2],
    ];
    let per_series: f64 = bytes.iter().sum();
    println!(
        "derived, {} agents x {series} series at {} s: raw {:.1} GB ({} days), 5m {:.1} GB ({} days), 1h {:.1} GB and 1d {:.1} GB ({} days); pages in use at steady state {:.1} GB",
        args.fleet,
        args.interval_seconds,
        bytes[0] * n / 1e9,
        args.raw_days,
        bytes[1] * n / 1e9,
        args.five_minute_days,
        bytes[2] * n / 1e9,
        bytes[3] * n / 1e9,
        args.hour_days,
        per_series * n / 1e9
    );
    let year_days = |keep: i64| keep.min(365) as f64;
    let year = [
        held[0] * raw_per_point,
        year_days(args.five_minute_days) * 288.0 * per_rollup[0],
        year_days(args.hour_days) * 24.0 * per_rollup[1],
        year_days(args.hour_days) * per_rollup[2],
    ];
    println!(
        "derived, {} agents after one year: {:.1} GB in use (raw {:.1}, 5m {:.1}, 1h {:.1}, 1d {:.1})",
        args.fleet,
        year.iter().sum::<f64>() * n / 1e9,
        year[0] * n / 1e9,
        year[1] * n / 1e9,
        year[2] * n / 1e9,
        year[3] * n / 1e9
    );
    drop(store);
    if args.path.is_none() {
        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    }
    Ok(())
}
