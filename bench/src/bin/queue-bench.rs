//! The console's incident queue on a large history: how long one page
//! ([`Store::incident_page`], 50 incidents) takes to read per filter, beside
//! reading every matching incident ([`Store::incidents`], what a list
//! without pages costs).
//!
//! The incidents are written straight to the store, as the desk stores
//! them: a few per cent still open or acknowledged, the rest resolved or
//! closed; 200 assets; eight people; a description of a few hundred bytes
//! and a timeline of three to six entries each.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use atalaya_collector::lookup::SlaState;
use atalaya_collector::records::incident::{
    IncidentRecord, Priority, Severity, Status, TimelineEntry,
};
use atalaya_collector::store::{IncidentFilter, Store};
use atalaya_collector::telemetry::percentile;
use atalaya_common::model::Timestamp;
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Queue benchmark: one page of incidents per filter.
#[derive(Debug, Parser)]
struct Args {
    /// Incidents stored.
    #[arg(long, default_value_t = 100_000)]
    incidents: u64,
    /// Per cent of them still open or acknowledged.
    #[arg(long, default_value_t = 3)]
    active_percent: u64,
    /// Timed repetitions of each query.
    #[arg(long, default_value_t = 20)]
    repetitions: usize,
    /// Incidents per page (the console's).
    #[arg(long, default_value_t = 50)]
    page: usize,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Store file (default: a temporary file, removed at the end).
    #[arg(long)]
    path: Option<PathBuf>,
}

const PEOPLE: &[&str] = &[
    "ana", "luis", "marta", "jorge", "eva", "pablo", "sara", "ivan",
];
const RULES: &[(&str, &str)] = &[
    ("filesystem-full", "Disk almost full on"),
    ("cpu-high", "CPU busy on"),
    ("agent-silent", "Agent silent on"),
    ("user-report", "Printer does not print at"),
    ("memory-high", "Memory short on"),
];

fn incident(id: u64, rng: &mut StdRng, args: &Args, now: Timestamp) -> IncidentRecord {
    let hour = 3_600_000;
    let opened = Timestamp(now.0 - i64::try_from(args.incidents - id).unwrap_or(0) * 300_000);
    let active = rng.random_range(0..100) < args.active_percent;
    let status = match (active, rng.random_range(0..2)) {
        (true, 0) => Status::Open,
        (true, _) => Status::Acknowledged,
        (false, 0) => Status::Resolved,
        (false, _) => Status::Closed,
    };
    let (rule, words) = RULES[rng.random_range(0..RULES.len())];
    let asset = format!("asset-{:03}", rng.random_range(0..200));
    let who = PEOPLE[rng.random_range(0..PEOPLE.len())];
    let mut timeline = vec![TimelineEntry {
        at: opened,
        author: "atalaya".into(),
        event: "opened".into(),
        text: format!("opened by rule {rule} (warning, priority P3)"),
    }];
    for n in 0..rng.random_range(2..6) {
        timeline.push(TimelineEntry {
            at: Timestamp(opened.0 + n * 60_000),
            author: who.into(),
            event: "note".into(),
            text: "called the user; looking at it, more in a moment".into(),
        });
    }
    IncidentRecord {
        id,
        asset: asset.clone(),
        rule: rule.into(),
        subject: id.to_string(),
        title: format!("{words} ws-{asset}"),
        description: "Seen by the collector: the value stayed over the limit for the whole \
                      window. "
            .repeat(4),
        severity: Severity::Warning,
        priority: Priority::ALL[rng.random_range(0..4)],
        status,
        level: 1,
        assignee: (rng.random_range(0..3) > 0).then(|| who.to_owned()),
        occurrences: rng.random_range(1..20),
        flapping: false,
        opened_at: opened,
        stored_at: opened,
        acknowledged_at: None,
        resolved_at: (!active).then_some(opened),
        closed_at: None,
        acknowledge_due: Timestamp(opened.0 + 4 * hour),
        at_risk_at: Timestamp(opened.0 + 3 * hour),
        resolve_due: Timestamp(opened.0 + 48 * hour),
        acknowledge_breached: false,
        resolve_breached: false,
        solution: None,
        kb_articles: Vec::new(),
        timeline,
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let path = args
        .path
        .clone()
        .unwrap_or_else(|| dir.path().join("queue.redb"));
    let store = Store::open(&path).context("opening the store")?;
    let now = Timestamp::now();
    let mut rng = StdRng::seed_from_u64(args.seed);
    let started = Instant::now();
    let mut id = 1;
    while id <= args.incidents {
        let txn = store.begin_desk()?;
        for _ in 0..5000 {
            if id > args.incidents {
                break;
            }
            txn.put_incident(&incident(id, &mut rng, &args, now))?;
            id += 1;
        }
        txn.commit()?;
    }
    println!(
        "stored {} incidents ({} % active) in {:.1} s; store file {:.1} MB",
        args.incidents,
        args.active_percent,
        started.elapsed().as_secs_f64(),
        std::fs::metadata(&path)?.len() as f64 / 1e6
    );

    let breached = |r: &IncidentRecord| SlaState::of(r, now) == SlaState::Breached;
    let any: Option<&dyn Fn(&IncidentRecord) -> bool> = None;
    let breached: Option<&dyn Fn(&IncidentRecord) -> bool> = Some(&breached);
    let active = IncidentFilter {
        active: true,
        ..IncidentFilter::default()
    };
    let all = IncidentFilter::default();
    let mid = Some(args.incidents / 2);
    type Query<'a> = (
        &'a str,
        IncidentFilter,
        Option<&'a dyn Fn(&IncidentRecord) -> bool>,
        Option<u64>,
    );
    let queries: Vec<Query> = vec![
        ("active (the default)", active.clone(), any, None),
        (
            "active, unassigned",
            IncidentFilter {
                assignee: Some(None),
                ..active.clone()
            },
            any,
            None,
        ),
        ("active, SLA breached", active.clone(), breached, None),
        ("all, first page", all.clone(), any, None),
        ("all, a page half way", all.clone(), any, mid),
        (
            "closed, title `printer`",
            IncidentFilter {
                status: Some(Status::Closed),
                title_contains: Some("printer".into()),
                ..IncidentFilter::default()
            },
            any,
            None,
        ),
        (
            "all, assignee ana, P1",
            IncidentFilter {
                assignee: Some(Some("ana".into())),
                priority: Some(Priority::P1),
                ..IncidentFilter::default()
            },
            any,
            None,
        ),
    ];
    println!(
        "{:<28} {:>8} {:>10} {:>10}",
        "page of 50", "matched", "median ms", "p95 ms"
    );
    for (name, filter, also, from) in &queries {
        let first = store.incident_page(filter, *also, *from, args.page)?;
        let mut ms = Vec::with_capacity(args.repetitions);
        for _ in 0..args.repetitions {
            let t = Instant::now();
            let page = store.incident_page(filter, *also, *from, args.page)?;
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(page.matched, first.matched);
        }
        ms.sort_by(f64::total_cmp);
        println!(
            "{name:<28} {:>8} {:>10.2} {:>10.2}",
            first.matched,
            percentile(&ms, 0.5),
            percentile(&ms, 0.95)
        );
    }
    println!(
        "{:<28} {:>8} {:>10} {:>10}",
        "every match, no pages", "matched", "median ms", "p95 ms"
    );
    for (name, filter) in [("active", active), ("all", all)] {
        let mut ms = Vec::with_capacity(args.repetitions);
        let mut n = 0;
        for _ in 0..args.repetitions {
            let t = Instant::now();
            n = store.incidents(&filter)?.len();
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(f64::total_cmp);
        println!(
            "{name:<28} {n:>8} {:>10.2} {:>10.2}",
            percentile(&ms, 0.5),
            percentile(&ms, 0.95)
        );
    }
    Ok(())
}
