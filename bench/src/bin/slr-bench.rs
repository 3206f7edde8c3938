//! Service-level report latency: how long `GET /api/v1/reports/slr`
//! (that is, [`slr_report`]: the store read and the report) takes for a
//! month of 100,000 incidents in a store that also holds the months
//! around it.
//!
//! The fleet is `--assets` hosts (stored as snapshots, so the report names
//! them). Incidents are spread evenly over the month reported on
//! (`--incidents`) and over each of the two months before and the month
//! after it (`--around` each), as the desk stores them: rules of every
//! category, the priorities of a real queue, most acknowledged within
//! minutes, most resolved within hours, some reopened, some left open,
//! some with KB suggestions and solutions, each with its timeline. Then
//! the report is made `--repetitions` times after one untimed run, and
//! the read of every incident (the report without the index by time) once.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use atalaya_collector::capacity::Day;
use atalaya_collector::desk::slr::slr_report;
use atalaya_collector::incidents::RuleSet;
use atalaya_collector::incidents::slr::{self, Period};
use atalaya_collector::records::incident::{
    IncidentRecord, KbSolution, Priority, SYSTEM, Severity, Status, TimelineEntry,
};
use atalaya_collector::store::{IncidentFilter, Ingest, IngestRecord, Store, schema};
use atalaya_collector::telemetry::percentile;
use atalaya_common::model::{Inventory, Timestamp};
use atalaya_common::proto;
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rustix::time::{ClockId, clock_gettime};

const MIN: i64 = 60_000;
const H: i64 = 3_600_000;

/// SLR benchmark: time to make the service-level report of a month.
#[derive(Debug, Parser)]
struct Args {
    /// Incidents opened in the month reported on.
    #[arg(long, default_value_t = 100_000)]
    incidents: u64,
    /// Incidents opened in each of the two months before and the month after.
    #[arg(long, default_value_t = 50_000)]
    around: u64,
    /// Hosts in the fleet.
    #[arg(long, default_value_t = 2000)]
    assets: u64,
    /// The month reported on.
    #[arg(long, default_value = "2026-10")]
    month: String,
    /// Timed reports.
    #[arg(long, default_value_t = 10)]
    repetitions: usize,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Store file (default: a temporary file, removed at the end).
    #[arg(long)]
    path: Option<PathBuf>,
}

/// Rules, their priority range and how long their incidents last (mean minutes).
const RULES: &[(&str, Severity, i64)] = &[
    ("agent-offline", Severity::High, 40),
    ("filesystem-full", Severity::High, 300),
    ("filesystem-filling", Severity::Warning, 2000),
    ("memory-pressure", Severity::Warning, 60),
    ("cpu-saturated", Severity::Warning, 45),
    ("user-report", Severity::Warning, 240),
    ("device-unreachable", Severity::High, 30),
    ("interface-down", Severity::High, 90),
    ("probe-loss", Severity::Warning, 20),
    ("hardware-change", Severity::Warning, 4000),
];

fn entry(at: i64, author: &str, event: &str, text: &str) -> TimelineEntry {
    TimelineEntry {
        at: Timestamp(at),
        author: author.into(),
        event: event.into(),
        text: text.into(),
    }
}

/// One incident opened at `opened`, as the desk would have stored it.
fn incident(id: u64, opened: i64, assets: u64, rng: &mut StdRng) -> IncidentRecord {
    let (rule, severity, mean_min) = RULES[rng.random_range(0..RULES.len())];
    let priority = Priority::ALL[rng.random_range(0..4usize)];
    let (ack_s, res_s) = match priority {
        Priority::P1 => (900, 4 * 3600),
        Priority::P2 => (1800, 8 * 3600),
        Priority::P3 => (4 * 3600, 30 * 3600),
        Priority::P4 => (10 * 3600, 50 * 3600),
    };
    let mut timeline = vec![entry(opened, SYSTEM, "opened", "opened by rule")];
    let mut rec = IncidentRecord {
        id,
        asset: format!("asset-{}", rng.random_range(1..=assets)),
        rule: rule.into(),
        subject: String::new(),
        title: format!("{rule} on a host"),
        description: "what was seen, a line or two of it".into(),
        severity,
        priority,
        status: Status::Open,
        level: 1,
        assignee: None,
        occurrences: 1,
        flapping: false,
        opened_at: Timestamp(opened),
        stored_at: Timestamp(opened + 2),
        acknowledged_at: None,
        resolved_at: None,
        closed_at: None,
        acknowledge_due: Timestamp(opened + ack_s * 1000),
        at_risk_at: Timestamp(opened + ack_s * 800),
        resolve_due: Timestamp(opened + res_s * 1000),
        acknowledge_breached: false,
        resolve_breached: false,
        solution: None,
        kb_articles: Vec::new(),
        timeline: Vec::new(),
    };
    if rng.random_bool(0.3) {
        rec.kb_articles = vec![rng.random_range(1..200u64).to_string()];
    }
    if rng.random_bool(0.8) {
        let at = opened + rng.random_range(1..(ack_s * 1200));
        rec.acknowledged_at = Some(Timestamp(at));
        rec.acknowledge_breached = at > rec.acknowledge_due.0;
        rec.status = Status::Acknowledged;
        rec.assignee = Some("ana".into());
        timeline.push(entry(at, "ana", "acknowledged", "acknowledged by ana"));
    }
    // 1 in 20 still open; the others resolved after about their rule's mean.
    if rng.random_bool(0.95) {
        let mut at = opened + rng.random_range(MIN..(2 * mean_min * MIN));
        if rng.random_bool(0.1) {
            timeline.push(entry(at, SYSTEM, "resolved", "resolved automatically"));
            at += rng.random_range(MIN..H);
            timeline.push(entry(
                at,
                SYSTEM,
                "reopened",
                "reopened: the condition recurred",
            ));
            rec.occurrences = 2;
            at += rng.random_range(MIN..(mean_min * MIN));
        }
        if rng.random_bool(0.1) {
            let kb = KbSolution {
                article: rng.random_range(1..200),
                confirmed: rng.random_bool(0.5),
                suggested: false,
            };
            let (event, text) = kb.entry();
            timeline.push(entry(at, "ana", event, &text));
        }
        timeline.push(entry(at, "ana", "resolved", "resolved by ana"));
        rec.status = Status::Resolved;
        rec.resolved_at = Some(Timestamp(at));
        rec.resolve_breached = at > rec.resolve_due.0;
    }
    rec.timeline = timeline;
    rec
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let period = Period::month(&args.month).context("--month")?;
    let dir = tempfile::tempdir()?;
    let path = args
        .path
        .clone()
        .unwrap_or_else(|| dir.path().join("slr.redb"));
    let store = Store::open(&path).context("opening the store")?;
    let mut rng = StdRng::seed_from_u64(args.seed);

    let started = Instant::now();
    for chunk in (1..=args.assets).collect::<Vec<_>>().chunks(100) {
        let batch: Vec<Ingest> = chunk
            .iter()
            .map(|n| {
                let mut inv = Inventory::default();
                inv.host.hostname = format!("host-{n:05}");
                inv.host.machine_id = Some(format!("machine-{n}"));
                inv.canonicalize();
                Ingest {
                    agent_id: format!("agent-{n}"),
                    received_at: Timestamp(period.start_ms() - 100 * 86_400_000),
                    record: IngestRecord::Snapshot(proto::InventorySnapshot {
                        seq: 1,
                        taken_at: Timestamp(period.start_ms() - 100 * 86_400_000),
                        inventory: inv,
                    }),
                }
            })
            .collect();
        store.commit(&batch)?;
    }
    // The months around: two before, one after.
    let month = |first: Day| Period {
        first,
        last: first.last_of_month(),
    };
    let before1 = month(Day::of_ms_saturating(period.start_ms() - 1).first_of_month());
    let before2 = month(Day::of_ms_saturating(before1.start_ms() - 1).first_of_month());
    let after = month(period.last.next());
    let mut id = 0;
    let mut months = vec![(before2, args.around), (before1, args.around)];
    months.push((period, args.incidents));
    months.push((after, args.around));
    for (m, count) in months {
        let span = m.end_ms() - m.start_ms();
        let mut left = count;
        while left > 0 {
            let n = left.min(5000);
            let txn = store.begin_desk()?;
            for _ in 0..n {
                id += 1;
                let opened = m.start_ms() + rng.random_range(0..span);
                txn.put_incident(&incident(id, opened, args.assets, &mut rng))?;
            }
            txn.commit()?;
            left -= n;
        }
    }
    let file = std::fs::metadata(&path)?.len();
    println!(
        "store: {} assets, {id} incidents ({} in {} to {}, {} in each month around), {:.0} MiB, written in {:.1} s",
        args.assets,
        args.incidents,
        period.first,
        period.last,
        args.around,
        file as f64 / (1 << 20) as f64,
        started.elapsed().as_secs_f64()
    );

    let rules = RuleSet::default();
    // As the API would at the start of the month after the next: the
    // month reported on is over.
    let now = Timestamp(after.end_ms() + 3_600_000);
    let first = slr_report(&store, &rules, period, now)?;
    let read = store.incidents_active_between(period.start_ms(), period.end_ms())?;
    println!(
        "report: {} incidents read (active in the month), {} opened, {} breaches, {} backlog days, {} assets with outages",
        read.len(),
        first.total.opened,
        first.breaches.len(),
        first.backlog.len(),
        first.availability.assets.len()
    );
    let mut ms = Vec::with_capacity(args.repetitions);
    let mut cpu_ms = Vec::with_capacity(args.repetitions);
    let mut read_ms = Vec::with_capacity(args.repetitions);
    for _ in 0..args.repetitions {
        let (t, cpu) = (Instant::now(), thread_cpu_ms());
        let r = slr_report(&store, &rules, period, now)?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        cpu_ms.push(thread_cpu_ms() - cpu);
        anyhow::ensure!(r.total == first.total, "the report changed between runs");
        let t = Instant::now();
        let n = store
            .incidents_active_between(period.start_ms(), period.end_ms())?
            .len();
        read_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(n == read.len(), "the read changed between runs");
    }
    ms.sort_by(f64::total_cmp);
    cpu_ms.sort_by(f64::total_cmp);
    read_ms.sort_by(f64::total_cmp);
    let max = |v: &[f64]| v.last().copied().unwrap_or_default();
    println!(
        "slr of {} ({} runs): p50 {:.0} ms, max {:.0} ms; of which the store read p50 {:.0} ms, max {:.0} ms",
        args.month,
        args.repetitions,
        percentile(&ms, 0.5),
        max(&ms),
        percentile(&read_ms, 0.5),
        max(&read_ms)
    );
    println!(
        "  by the thread's CPU clock: p50 {:.0} ms, max {:.0} ms (load average {})",
        percentile(&cpu_ms, 0.5),
        max(&cpu_ms),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .next()
            .unwrap_or("?")
    );
    let t = Instant::now();
    let json = serde_json::to_vec(&first)?;
    println!(
        "as JSON (the API's answer): {:.1} MiB in {:.0} ms",
        json.len() as f64 / (1 << 20) as f64,
        t.elapsed().as_secs_f64() * 1000.0
    );
    // What the index saves: every incident read and the same report made.
    let t = Instant::now();
    let all = store.incidents(&IncidentFilter::default())?;
    let facts = atalaya_collector::desk::slr::rule_facts(&rules);
    let whole = slr::slr(period, &all, &facts, now);
    println!(
        "without the index by time: {} incidents read, report in {:.0} ms (once)",
        all.len(),
        t.elapsed().as_secs_f64() * 1000.0
    );
    anyhow::ensure!(whole.total == first.total, "the index lost incidents");
    // A store written before the index by time: it is built at open.
    let txn = store.begin_write()?;
    txn.open_table(schema::INCIDENT_SPANS)?
        .retain(|_, _| false)?;
    txn.open_table(schema::META)?
        .remove(schema::META_INCIDENT_SPANS)?;
    txn.commit()?;
    drop(store);
    let t = Instant::now();
    let store = Store::open(&path).with_context(|| format!("reopening {}", path.display()))?;
    let open = t.elapsed();
    let again = slr_report(&store, &rules, period, now)?;
    anyhow::ensure!(again.total == first.total, "the rebuilt index differs");
    println!(
        "opening the store with the index by time missing (built then): {:.0} ms",
        open.as_secs_f64() * 1000.0
    );
    Ok(())
}

/// CPU time of this thread, ms: what the report costs, whatever else
/// the machine runs.
fn thread_cpu_ms() -> f64 {
    let t = clock_gettime(ClockId::ThreadCPUTime);
    t.tv_sec as f64 * 1000.0 + t.tv_nsec as f64 / 1e6
}
