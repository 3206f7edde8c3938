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
use atalaya_bench::incidents::incident;
use atalaya_collector::lookup::SlaState;
use atalaya_collector::records::incident::{IncidentRecord, Priority, Status};
use atalaya_collector::store::{IncidentFilter, Store};
use atalaya_collector::telemetry::percentile;
use atalaya_common::model::Timestamp;
use clap::Parser;
use rand::SeedableRng;
use rand::rngs::StdRng;

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
            txn.put_incident(&incident(
                id,
                &mut rng,
                args.incidents,
                args.active_percent,
                now,
            ))?;
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
