//! Simulates a fleet streaming health samples into a fresh store and prints
//! bytes on disk per stored sample and commit throughput and latency; then
//! the bytes of each rollup tier's points, and the time of two queries
//! over rollups: a year of one series at a one-day step, and the top 20
//! filesystems of a large fleet over 7 days (on stores of their own, their
//! history imported as rollups).
//!
//! Each simulated host behaves like an idle-to-busy server: CPU ticks,
//! load, used memory, disk and network rates and temperatures follow random
//! walks computed the way the agent computes them (percent of jiffies,
//! counts over the measured interval), totals stay constant, timestamps
//! carry a few milliseconds of timer jitter. Every tick, one group commit
//! carries one sample from every agent, as the server's batcher would.
//!
//! With `--prometheus DIR`, the same raw points are also written as
//! OpenMetrics text and turned into Prometheus TSDB blocks by `promtool`,
//! so that the bytes per point of both stores come from one run.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use atalaya_bench::host::Host;
use atalaya_collector::records::rollup::{Aggregation, Tier};
use atalaya_collector::store::rollups::History;
use atalaya_collector::store::{Ingest, IngestRecord, Store};
use atalaya_collector::telemetry::percentile;
use atalaya_collector::tiers;
use atalaya_common::model::*;
use atalaya_common::proto;
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Store benchmark: a simulated fleet at a fixed sampling interval.
#[derive(Debug, Parser)]
struct Args {
    /// Simulated agents.
    #[arg(long, default_value_t = 50)]
    agents: usize,
    /// Simulated duration, hours.
    #[arg(long, default_value_t = 1.0)]
    hours: f64,
    /// Seconds between samples.
    #[arg(long, default_value_t = 10)]
    interval_seconds: u64,
    /// Timer jitter of sample timestamps, ms (0 to 2·this).
    #[arg(long, default_value_t = 1)]
    jitter_ms: i64,
    /// Also print, per series of the first agent, its compressed bytes per point.
    #[arg(long)]
    breakdown: bool,
    /// Every this many ticks, print file, allocated and metric block bytes (0: never),
    /// to see how the file grows against what it holds.
    #[arg(long, default_value_t = 0)]
    trace_every: i64,
    /// Rows per block in the breakdown (the store's own: its block length).
    #[arg(long, default_value_t = atalaya_collector::store::ingest::BLOCK_ROWS)]
    block_rows: usize,
    /// Store file (default: a temporary directory).
    #[arg(long)]
    path: Option<PathBuf>,
    /// Assets of the top-N query's fleet (0: skip the rollup queries).
    #[arg(long, default_value_t = 10_000)]
    top_assets: usize,
    /// Filesystems per asset of the top-N query's fleet.
    #[arg(long, default_value_t = 10)]
    top_filesystems: usize,
    /// Also write the raw points as OpenMetrics text into this directory,
    /// build Prometheus TSDB blocks of them with `promtool tsdb
    /// create-blocks-from openmetrics` (into `DIR/tsdb`, which must not
    /// exist) and print their bytes per point.
    #[arg(long, value_name = "DIR")]
    prometheus: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let path = args.path.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("atalaya-store-bench-{}.redb", std::process::id()))
    });
    if path.exists() {
        anyhow::bail!("{} exists; the bench needs a fresh file", path.display());
    }
    let mut store = Store::open(&path).with_context(|| format!("opening {}", path.display()))?;
    let mut hosts: Vec<Host> = (0..args.agents).map(|i| Host::new(i as u64 + 1)).collect();
    let ticks = (args.hours * 3600.0 / args.interval_seconds as f64).round() as i64;
    let start: i64 = 1_795_000_000_000;
    let interval_ms = args.interval_seconds as i64 * 1000;
    let mut jitter_rng = StdRng::seed_from_u64(99);
    let mut last_at = vec![start - interval_ms; args.agents];
    let mut latencies = Vec::new();
    let mut points = 0u64;
    let mut commit_time = 0.0f64;
    let mut first_agent: std::collections::BTreeMap<String, Vec<(i64, f64)>> = Default::default();
    let mut exported = args.prometheus.as_ref().map(|_| Families::default());
    // One group commit's worth: a sample from every agent at `tick`; its
    // stored points also go to `exported` when given.
    let mut batch_at = |tick: i64,
                        first_agent: &mut std::collections::BTreeMap<String, Vec<(i64, f64)>>,
                        mut exported: Option<&mut Families>| {
        let mut batch = Vec::with_capacity(args.agents);
        let mut points = 0u64;
        for (i, host) in hosts.iter_mut().enumerate() {
            let jitter = if args.jitter_ms > 0 {
                jitter_rng.random_range(0..=2 * args.jitter_ms)
            } else {
                0
            };
            let at = start + tick * interval_ms + jitter;
            let seconds = (at - last_at[i]) as f64 / 1000.0;
            last_at[i] = at;
            let sample = host.sample(at, seconds);
            let flat = atalaya_collector::helpers::series::flatten(&sample);
            points += flat.len() as u64;
            if let Some(families) = exported.as_deref_mut() {
                let agent = format!("agent-{i:04}");
                for (name, v) in &flat {
                    let v = atalaya_collector::helpers::series::stored_value(name, *v);
                    families.push(&agent, name, at, v);
                }
            }
            if args.breakdown && i == 0 {
                for (name, v) in flat {
                    let v = atalaya_collector::helpers::series::stored_value(&name, v);
                    first_agent.entry(name).or_default().push((at, v));
                }
            }
            batch.push(Ingest {
                agent_id: format!("agent-{i:04}"),
                received_at: Timestamp(at + 5),
                record: IngestRecord::Metrics(proto::MetricBatch {
                    seq: tick as u64 + 1,
                    samples: vec![sample],
                }),
            });
        }
        (batch, points)
    };
    let mut largest = (0u64, 0i64, 0u64);
    for tick in 0..ticks {
        let (batch, n) = batch_at(tick, &mut first_agent, exported.as_mut());
        points += n;
        let t0 = Instant::now();
        store.commit(&batch).context("commit")?;
        let dt = t0.elapsed().as_secs_f64();
        commit_time += dt;
        latencies.push(dt * 1000.0);
        let file = std::fs::metadata(&path)?.len();
        if file > largest.0 {
            largest = (file, tick, points);
        }
        if args.trace_every > 0 && tick % args.trace_every == 0 {
            let st = store.stats()?;
            println!(
                "tick {tick}: file {} B, allocated {} B, blocks {} B",
                st.file_bytes,
                store.allocated_bytes()?,
                st.chunk_bytes
            );
        }
    }
    let stats = store.stats()?;
    latencies.sort_by(f64::total_cmp);
    let file_before = stats.file_bytes;
    let allocated = store.allocated_bytes()?;
    let usage = store.table_usage()?;
    // What compaction would do: the file shrinks to its pages in use, and
    // the next commit, finding no free page, doubles it.
    store.compact().context("compacting")?;
    let file_compacted = std::fs::metadata(&path)?.len();
    // Not counted in the points above, nor exported.
    let (batch, _) = batch_at(ticks, &mut Default::default(), None);
    store.commit(&batch).context("commit")?;
    let file_recommitted = std::fs::metadata(&path)?.len();
    println!(
        "agents: {}, samples each: {ticks}, interval: {} s, jitter: 0..{} ms",
        args.agents,
        args.interval_seconds,
        2 * args.jitter_ms
    );
    println!(
        "commits: {} (one per tick, {} agents each)",
        latencies.len(),
        args.agents
    );
    println!(
        "points: {points} in {} series, {} metric blocks",
        stats.series, stats.chunks
    );
    println!(
        "metric blocks (keys+values): {} = {:.3} bytes/point",
        stats.chunk_bytes,
        stats.chunk_bytes as f64 / points as f64
    );
    println!(
        "file: {} bytes = {:.3} bytes/point",
        file_before,
        file_before as f64 / points as f64
    );
    println!(
        "file at its largest: {} bytes at tick {} = {:.3} bytes/point stored by then",
        largest.0,
        largest.1,
        largest.0 as f64 / largest.2.max(1) as f64
    );
    println!(
        "allocated pages: {} bytes = {:.3} bytes/point",
        allocated,
        allocated as f64 / points as f64
    );
    println!("tables (stored bytes / page bytes):");
    for (name, stored, pages) in &usage {
        if *pages > 0 {
            println!("  {name:<22} {stored:>9} / {pages:>9}");
        }
    }
    println!(
        "Store::compact (the collector does not call it): {} bytes = {:.3} bytes/point, \
         then {} bytes after one more tick",
        file_compacted,
        file_compacted as f64 / points as f64,
        file_recommitted
    );
    println!(
        "throughput: {:.0} points/s of commit time",
        points as f64 / commit_time
    );
    println!(
        "commit latency: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0)
    );
    if let (Some(dir), Some(families)) = (&args.prometheus, &exported) {
        use atalaya_collector::store::schema::{BLOCK_INDEX, BLOCKS, HEADS};
        use redb::TableHandle;
        let raw = [BLOCKS.name(), HEADS.name(), BLOCK_INDEX.name()];
        let raw_pages: u64 = usage
            .iter()
            .filter(|(n, _, _)| raw.contains(&n.as_str()))
            .map(|(_, _, pages)| pages)
            .sum();
        println!(
            "atalaya raw points: metric blocks {:.3} B/point, raw tables' pages {:.3} B/point",
            stats.chunk_bytes as f64 / points as f64,
            raw_pages as f64 / points as f64
        );
        prometheus_tsdb(dir, families, points)?;
    }
    if args.breakdown {
        breakdown(&first_agent, args.block_rows);
    }
    rollup_usage(&store, points)?;
    expiry_steps(&store, start + ticks * interval_ms)?;
    drop(store);
    if args.path.is_none() {
        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    }
    if args.top_assets > 0 {
        year_query()?;
        top_query(args.top_assets, args.top_filesystems)?;
    }
    Ok(())
}

/// Rows and bytes of each rollup table: stored bytes (keys and values)
/// and pages per rollup point.
fn rollup_usage(store: &Store, raw_points: u64) -> anyhow::Result<()> {
    use atalaya_collector::store::schema::rollup_table;
    use redb::{ReadableTable, TableHandle};
    let usage = store.table_usage()?;
    let txn = store.begin_read()?;
    println!("rollups (stored bytes / page bytes per rollup point):");
    for tier in [Tier::FiveMinutes, Tier::OneHour, Tier::OneDay] {
        let Some(def) = rollup_table(tier) else {
            continue;
        };
        // A row holds the rollups of a group of buckets, their count first.
        let table = txn.open_table(def)?;
        let mut rows = 0u64;
        for r in table.iter()? {
            let (_, v) = r?;
            let mut bytes = v.value();
            rows += atalaya_collector::helpers::sketch::get_varint(&mut bytes, "count")?;
        }
        let (_, stored, pages) = usage
            .iter()
            .find(|(n, _, _)| n == def.name())
            .cloned()
            .unwrap_or_default();
        println!(
            "  {tier:<3} {rows:>7} points: {:.1} / {:.1} bytes each, {:.3} / {:.3} bytes per raw point",
            stored as f64 / rows.max(1) as f64,
            pages as f64 / rows.max(1) as f64,
            stored as f64 / raw_points.max(1) as f64,
            pages as f64 / raw_points.max(1) as f64,
        );
    }
    Ok(())
}

/// An expiry pass that deletes the blocks of the first half of the run:
/// how long each of its transactions holds the write lock (what a commit
/// of agents' records may wait).
fn expiry_steps(store: &Store, now: i64) -> anyhow::Result<()> {
    use atalaya_collector::store::ingest::MAX_BLOCK_SPAN_MS;
    use atalaya_collector::store::retention::{Expiry, Retention};
    // Blocks that start before the cut-off less their longest span go.
    let half = (now - 1_795_000_000_000) / 2;
    let policy = Retention {
        raw_ms: half - MAX_BLOCK_SPAN_MS,
        ..Retention::default()
    };
    let mut pass = Expiry::new();
    let mut steps = Vec::new();
    while !pass.done() {
        let t0 = Instant::now();
        store.expire_step(&policy, now, &mut pass, 256)?;
        steps.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    steps.sort_by(f64::total_cmp);
    println!(
        "expiry of half the raw points: {} blocks in {} transactions of at most 256 entries, each p50 {:.2} ms, max {:.2} ms",
        pass.report.blocks,
        steps.len(),
        percentile(&steps, 0.5),
        percentile(&steps, 1.0)
    );
    Ok(())
}

/// A temporary store file for one of the rollup queries.
fn scratch(name: &str) -> anyhow::Result<(PathBuf, Store)> {
    let path = std::env::temp_dir().join(format!(
        "atalaya-store-bench-{name}-{}.redb",
        std::process::id()
    ));
    let store = Store::open(&path).with_context(|| format!("opening {}", path.display()))?;
    Ok((path, store))
}

/// Median of `runs` timings of `f`, ms.
fn median_ms<T>(runs: usize, mut f: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<(f64, T)> {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs.max(1) {
        let t0 = Instant::now();
        last = Some(f()?);
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let out = last.context("no run")?;
    Ok((percentile(&times, 0.5), out))
}

/// A year of one series at 5-minute resolution, imported as rollups, read
/// back at a one-day step as the metrics API reads it.
fn year_query() -> anyhow::Result<()> {
    let (path, store) = scratch("year")?;
    let day = 86_400_000i64;
    let end: i64 = 1_795_000_000_000;
    let start = end - 365 * day;
    let mut rng = StdRng::seed_from_u64(7);
    let mut v = 40.0f64;
    let points: Vec<(i64, f64)> = (0..365 * 288)
        .map(|i| {
            v = (v + rng.random_range(-2.0..2.0)).clamp(0.0, 100.0);
            (start + i * 300_000, (v * 1000.0).round() / 1000.0)
        })
        .collect();
    let series = "cpu.total_percent";
    store.import_history(
        &[History {
            asset: "asset-1",
            series,
            points: &points,
        }],
        &[Tier::FiveMinutes, Tier::OneHour, Tier::OneDay],
    )?;
    let (ms, (tier, answer)) = median_ms(21, || {
        let b = store.retention_bounds()?;
        let starts = tiers::Starts {
            raw: b.raw,
            five_minutes: b.five_minutes,
            one_hour: b.one_hour,
        };
        let tier = tiers::choose(start, end, Some(day), &starts);
        let mut rollups: BTreeMap<i64, _> = store
            .rollups("asset-1", series, tier, tier.bucket_of(start), end)?
            .into_iter()
            .collect();
        let open = store.open_points("asset-1", series, Timestamp(start), Timestamp(end))?;
        tiers::fold_points(tier, &mut rollups, &open);
        let answer = tiers::from_rollups(&rollups, tier, start, Some(day), Aggregation::P95);
        Ok((tier, answer))
    })?;
    println!(
        "a year of one series at a 1-day step (p95 per day): {} points from {tier} rollups in {ms:.2} ms (median of 21)",
        answer.len()
    );
    drop(store);
    std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    Ok(())
}

/// `assets` assets with `filesystems` filesystems each, a used percentage
/// per hour for 7 days imported as 1-day rollups; the 20 fullest by max
/// and by p95, as `/api/v1/top` finds them.
fn top_query(assets: usize, filesystems: usize) -> anyhow::Result<()> {
    let (path, store) = scratch("top")?;
    let day = 86_400_000i64;
    let now: i64 = 1_795_000_000_000;
    let from = now - 7 * day;
    let mut rng = StdRng::seed_from_u64(11);
    let names: Vec<String> = (0..filesystems)
        .map(|f| format!("filesystem.used_percent{{mount=/data{f}}}"))
        .collect();
    let t0 = Instant::now();
    let mut rows = 0usize;
    for chunk in (0..assets).collect::<Vec<_>>().chunks(500) {
        let ids: Vec<String> = chunk.iter().map(|a| format!("asset-{a}")).collect();
        let mut series = Vec::new();
        for id in &ids {
            for name in &names {
                let mut v = rng.random_range(5.0..90.0f64);
                let points: Vec<(i64, f64)> = (0..7 * 24)
                    .map(|h| {
                        v = (v + rng.random_range(-1.0..1.2)).clamp(0.0, 100.0);
                        (from + h * 3_600_000, (v * 1000.0).round() / 1000.0)
                    })
                    .collect();
                series.push((id.as_str(), name.as_str(), points));
            }
        }
        let history: Vec<History<'_>> = series
            .iter()
            .map(|(asset, series, points)| History {
                asset,
                series,
                points,
            })
            .collect();
        rows += history.len();
        store.import_history(&history, &[Tier::OneDay])?;
    }
    println!(
        "top fleet: {assets} assets x {filesystems} filesystems = {rows} series, 7 days hourly, imported in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    for by in [Aggregation::Max, Aggregation::P95] {
        let (ms, top) = median_ms(5, || {
            let b = store.retention_bounds()?;
            let starts = tiers::Starts {
                raw: i64::MAX,
                five_minutes: b.five_minutes,
                one_hour: b.one_hour,
            };
            let tier = tiers::choose(from, now, Some(7 * day), &starts);
            let fleet = store.fleet_rollups(
                "filesystem.used_percent",
                tier,
                tier.bucket_of(from),
                now,
                None,
                by.quantile().is_some(),
            )?;
            let candidates = fleet
                .into_iter()
                .filter_map(|f| {
                    Some(tiers::Ranked {
                        value: f.rollup.value(by)?,
                        asset: f.asset,
                        series: f.series,
                    })
                })
                .collect();
            Ok(tiers::top(candidates, 20))
        })?;
        println!(
            "top-20 filesystems by {by} over 7 days: {} listed (first {} {} at {:.3}) in {ms:.0} ms (median of 5)",
            top.len(),
            top.first().map_or("", |t| t.asset.as_str()),
            top.first().map_or("", |t| t.series.as_str()),
            top.first().map_or(0.0, |t| t.value),
        );
    }
    drop(store);
    std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    Ok(())
}

/// Prints what each series of one agent costs in blocks of `rows` rows:
/// the bytes its column adds to a block holding only the timestamps.
fn breakdown(series: &std::collections::BTreeMap<String, Vec<(i64, f64)>>, rows: usize) {
    use atalaya_collector::store::block::{Block, Column};
    let Some(times) = series
        .values()
        .next()
        .map(|p| p.iter().map(|x| x.0).collect::<Vec<_>>())
    else {
        return;
    };
    let blocks = |cols: &[(u32, &Vec<(i64, f64)>)]| -> usize {
        times
            .chunks(rows)
            .enumerate()
            .map(|(b, ts)| {
                let mut block = Block {
                    ts: ts.to_vec(),
                    ..Block::default()
                };
                for (id, pts) in cols {
                    let part = &pts[b * rows..(b * rows + ts.len()).min(pts.len())];
                    block.columns.insert(
                        *id,
                        Column {
                            rows: (0..part.len() as u32).collect(),
                            values: part.iter().map(|p| p.1).collect(),
                        },
                    );
                }
                block.encode().len()
            })
            .sum()
    };
    let base = blocks(&[]);
    let all: Vec<(u32, &Vec<(i64, f64)>)> = series
        .values()
        .enumerate()
        .map(|(i, p)| (i as u32, p))
        .collect();
    let total = blocks(&all);
    let points: usize = series.values().map(Vec::len).sum();
    println!(
        "first agent in blocks of {rows} rows: {total} bytes = {:.3} bytes/point ({base} bytes of timestamps and headers)",
        total as f64 / points as f64
    );
    for (name, pts) in series {
        let bytes = blocks(&[(0, pts)]) - base;
        println!(
            "  {name:<45} {:.3} bytes/point",
            bytes as f64 / pts.len() as f64
        );
    }
}

/// The raw points of a run by OpenMetrics metric family, then by label
/// set, each series' points in time order, as the text format wants them
/// grouped.
///
/// Atalaya's series names map to Prometheus names this way: the metric
/// (`filesystem.used_percent`) becomes the family name with every
/// character outside `[a-zA-Z0-9_:]` (the dots) turned into `_`
/// (`filesystem_used_percent`); its label in braces, `{mount=/srv}`,
/// becomes `mount="/srv"`, the value quoted and escaped; each point also
/// carries the agent that sent it as `agent="agent-0001"`, the key
/// Atalaya files its points under (through the agent's asset).
#[derive(Default)]
struct Families {
    families: BTreeMap<String, BTreeMap<String, Vec<(i64, f64)>>>,
}

impl Families {
    /// Files the stored point `(at ms, value)` of Atalaya series `name` of `agent`.
    fn push(&mut self, agent: &str, name: &str, at: i64, value: f64) {
        let (metric, label) = match name.split_once('{') {
            Some((metric, rest)) => (
                metric,
                rest.strip_suffix('}').unwrap_or(rest).split_once('='),
            ),
            None => (name, None),
        };
        let mut labels = format!("agent=\"{}\"", escape_label(agent));
        if let Some((key, value)) = label {
            labels.push_str(&format!(",{}=\"{}\"", prom_name(key), escape_label(value)));
        }
        self.families
            .entry(prom_name(metric))
            .or_default()
            .entry(labels)
            .or_default()
            .push((at, value));
    }

    /// Writes the OpenMetrics text: gauges, timestamps in seconds with
    /// the milliseconds as decimals, values in the shortest form that
    /// reads back as the same double.
    fn write(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        for (family, series) in &self.families {
            writeln!(out, "# TYPE {family} gauge")?;
            for (labels, points) in series {
                for &(at, value) in points {
                    let value = if value.is_nan() {
                        "NaN".to_owned()
                    } else if value.is_infinite() {
                        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
                    } else {
                        value.to_string()
                    };
                    let (secs, ms) = (at.div_euclid(1000), at.rem_euclid(1000));
                    writeln!(out, "{family}{{{labels}}} {value} {secs}.{ms:03}")?;
                }
            }
        }
        writeln!(out, "# EOF")
    }
}

/// A Prometheus metric or label name: characters outside `[a-zA-Z0-9_:]`
/// become `_`, and a leading digit gets a `_` before it.
fn prom_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// A label value as OpenMetrics quotes it: `\`, `"` and newlines escaped.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

/// Writes `families` into `dir` as OpenMetrics text, has `promtool` build
/// TSDB blocks of it under `dir/tsdb`, and prints their bytes per point,
/// all files and the `chunks/` files apart. Without `promtool` on the
/// PATH, says so and skips.
fn prometheus_tsdb(dir: &std::path::Path, families: &Families, points: u64) -> anyhow::Result<()> {
    use std::process::Command;
    let version = match Command::new("promtool").arg("--version").output() {
        // "promtool, version 2.42.0+ds (branch: …": the version alone.
        Ok(out) => String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .skip_while(|w| *w != "version")
            .nth(1)
            .map_or_else(|| "promtool".to_owned(), |v| format!("promtool {v}")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!(
                "prometheus tsdb: skipped, promtool is not on the PATH (Debian: apt-get install prometheus)"
            );
            return Ok(());
        }
        Err(e) => return Err(e).context("running promtool --version"),
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let blocks = dir.join("tsdb");
    if blocks.exists() {
        anyhow::bail!(
            "{} exists; promtool would add blocks to it and the sizes would not be this run's",
            blocks.display()
        );
    }
    let text = dir.join("points.om");
    let file =
        std::fs::File::create(&text).with_context(|| format!("creating {}", text.display()))?;
    let mut out = std::io::BufWriter::new(file);
    families
        .write(&mut out)
        .and_then(|()| std::io::Write::flush(&mut out))
        .with_context(|| format!("writing {}", text.display()))?;
    let text_bytes = std::fs::metadata(&text)?.len();
    let t0 = Instant::now();
    let run = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&text)
        .arg(&blocks)
        .output()
        .context("running promtool tsdb create-blocks-from openmetrics")?;
    if !run.status.success() {
        anyhow::bail!(
            "promtool tsdb create-blocks-from openmetrics failed ({}): {}",
            run.status,
            String::from_utf8_lossy(&run.stderr).trim()
        );
    }
    let seconds = t0.elapsed().as_secs_f64();
    let (mut total, mut chunks, mut block_count) = (0u64, 0u64, 0usize);
    for entry in
        std::fs::read_dir(&blocks).with_context(|| format!("reading {}", blocks.display()))?
    {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            block_count += 1;
        }
        let (all, in_chunks) = dir_bytes(&entry.path(), false)?;
        total += all;
        chunks += in_chunks;
    }
    println!(
        "openmetrics text: {} ({text_bytes} bytes = {:.1} B/point); {version} built {block_count} blocks in {seconds:.1} s",
        text.display(),
        text_bytes as f64 / points as f64
    );
    println!(
        "prometheus tsdb: {total} bytes = {:.3} B/point (chunks {:.3} B/point)",
        total as f64 / points as f64,
        chunks as f64 / points as f64
    );
    Ok(())
}

/// Bytes of the files at or under `path`: all of them, and those in a
/// `chunks` directory (`in_chunks` when `path` is inside one already).
fn dir_bytes(path: &std::path::Path, in_chunks: bool) -> anyhow::Result<(u64, u64)> {
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.is_dir() {
        let len = meta.len();
        return Ok((len, if in_chunks { len } else { 0 }));
    }
    let in_chunks = in_chunks || path.file_name().is_some_and(|n| n == "chunks");
    let (mut all, mut chunks) = (0, 0);
    for entry in std::fs::read_dir(path).with_context(|| format!("reading {}", path.display()))? {
        let (a, c) = dir_bytes(&entry?.path(), in_chunks)?;
        all += a;
        chunks += c;
    }
    Ok((all, chunks))
}
