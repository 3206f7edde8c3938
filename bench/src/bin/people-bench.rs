//! The people directory's cost: how long importing a company's CSV file
//! takes (parsing and checking, then the one transaction), a re-import
//! that replaces everyone, and how long the lookup of an incoming call
//! takes (by phone number, by extension, by login, and a number no one
//! has) while the phone rings.
//!
//! Each person gets two phone numbers (a mobile and a desk line), an
//! extension and two logins; the first `--machines` of them have a
//! machine each on which they are logged in (a snapshot through
//! [`Store::commit`], as the server stores it), so that a lookup of them
//! also finds, ranks and reads a machine.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use atalaya_collector::desk::calls::{CALL_MACHINES, resolve};
use atalaya_collector::desk::lookup::lookup_with;
use atalaya_collector::desk::people::import;
use atalaya_collector::people::import::parse;
use atalaya_collector::people::phone::PhonePlan;
use atalaya_collector::store::{AgentRecord, Ingest, IngestRecord, Store};
use atalaya_collector::telemetry::percentile;
use atalaya_common::model::*;
use atalaya_common::proto;
use clap::Parser;

/// People directory benchmark: import time and call lookup latency.
#[derive(Debug, Parser)]
struct Args {
    /// People in the directory.
    #[arg(long, default_value_t = 10_000)]
    people: usize,
    /// People with a machine of their own (the first ones).
    #[arg(long, default_value_t = 1000)]
    machines: usize,
    /// Timed repetitions of each lookup.
    #[arg(long, default_value_t = 200)]
    repetitions: usize,
    /// Store file (default: a temporary file, removed at the end).
    #[arg(long)]
    path: Option<PathBuf>,
}

/// The directory as an HR export would give it, `mobile` numbering the
/// mobile phones from 600 000 000 + `mobile`.
fn csv_file(people: usize, mobile: usize) -> String {
    let mut out = String::from("name,logins,email,phones,extension,department,location\r\n");
    for i in 0..people {
        let _ = write!(
            out,
            "Person {i},user{i};u{i},user{i}@corp.example,\"+34 {} ; 91 {:03} {:02} {:02}\",{},Dept {},\"Site {}, floor {}\"\r\n",
            spaced(600_000_000 + mobile + i),
            i / 10_000 % 1000,
            i / 100 % 100,
            i % 100,
            10_000 + i,
            i % 40,
            i % 7,
            i % 5
        );
    }
    out
}

/// `600123456` as `600 123 456`.
fn spaced(n: usize) -> String {
    let s = n.to_string();
    let (a, rest) = s.split_at(3);
    let (b, c) = rest.split_at(3);
    format!("{a} {b} {c}")
}

/// Person `i`'s machine: they are logged in on it.
fn machine(i: usize) -> Inventory {
    let mut inv = Inventory::default();
    let host = format!("ws-{i:05}");
    inv.host.hostname = host.clone();
    inv.host.machine_id = Some(format!("mid-{host}"));
    inv.hardware.system.uuid = Some(format!("uuid-{host}"));
    let login = format!("user{i}");
    inv.users.accounts.push(Account {
        name: login.clone(),
        uid: 1000,
        gid: 1000,
        full_name: Some(format!("Person {i}")),
        home: format!("/home/{login}"),
        shell: "/bin/bash".into(),
        system: false,
    });
    inv.users.sessions.push(Session {
        user: login,
        tty: "tty2".into(),
        ..Session::default()
    });
    inv.canonicalize();
    inv
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.people > 0, "--people must be at least 1");
    let dir = tempfile::tempdir()?;
    let path = args
        .path
        .clone()
        .unwrap_or_else(|| dir.path().join("store.redb"));
    let store = Store::open(&path).with_context(|| format!("opening {}", path.display()))?;
    let now = Timestamp::now();
    for chunk in (0..args.machines.min(args.people))
        .collect::<Vec<_>>()
        .chunks(100)
    {
        let batch: Vec<Ingest> = chunk
            .iter()
            .map(|&i| Ingest {
                agent_id: format!("agent-{i:05}"),
                received_at: now,
                record: IngestRecord::Snapshot(proto::InventorySnapshot {
                    seq: 1,
                    taken_at: now,
                    inventory: machine(i),
                }),
            })
            .collect();
        store.commit(&batch).context("commit")?;
    }
    let plan = PhonePlan::with_country_code("34");
    let file = csv_file(args.people, 0);
    println!(
        "{} people, {} with a machine; CSV file {} bytes; release build: {}",
        args.people,
        args.machines.min(args.people),
        file.len(),
        !cfg!(debug_assertions)
    );

    let t = Instant::now();
    let rows = parse(file.as_bytes(), &plan).map_err(|p| anyhow::anyhow!("{p:?}"))?;
    let parsed = t.elapsed();
    anyhow::ensure!(rows.len() == args.people, "parsed {} rows", rows.len());
    let t = Instant::now();
    let counts = import(&store, file.as_bytes(), &plan, false, now)?;
    let first = t.elapsed();
    anyhow::ensure!(counts.added == args.people, "{counts:?}");
    // Everyone's mobile number changes: every record and index row replaced.
    let moved = csv_file(args.people, 1_000_000);
    let t = Instant::now();
    let counts = import(&store, moved.as_bytes(), &plan, false, now)?;
    let again = t.elapsed();
    anyhow::ensure!(counts.replaced == args.people, "{counts:?}");
    // A bad last row: the whole file is checked, nothing written.
    let bad = format!("{moved}Nobody,,,not a number,,,\r\n");
    let t = Instant::now();
    let refused = import(&store, bad.as_bytes(), &plan, false, now).is_err();
    let checked = t.elapsed();
    anyhow::ensure!(refused, "a bad row was imported");
    println!(
        "parse and check only: {:.0} ms; first import: {:.0} ms; re-import replacing everyone: {:.0} ms; a file with one bad last row refused in {:.0} ms",
        parsed.as_secs_f64() * 1000.0,
        first.as_secs_f64() * 1000.0,
        again.as_secs_f64() * 1000.0,
        checked.as_secs_f64() * 1000.0
    );
    let size = std::fs::metadata(&path)?.len();
    for (name, stored, pages) in store.table_usage()? {
        if name.starts_with("people") {
            println!("  table {name:<20} {stored:>10} bytes stored, {pages:>10} in pages");
        }
    }
    println!("store file {size} bytes");

    let one = args.machines.min(args.people) / 2;
    let mobile = spaced(601_000_000 + one);
    let queries: Vec<(&str, String)> = vec![
        ("mobile, written nationally", mobile.clone()),
        ("mobile, +34", format!("+34 {mobile}")),
        ("extension", (10_000 + one).to_string()),
        ("login", format!("u{one}")),
        ("a number no one has", "+44 20 7946 0000".into()),
    ];
    let status = |_: &AgentRecord| "connected";
    println!(
        "{} repetitions each; lookup limit 20, a call's card {CALL_MACHINES} machines",
        args.repetitions
    );
    println!(
        "{:<28} {:<20} {:>6} {:>8} {:>12} {:>10} {:>12} {:>10}",
        "query", "text", "people", "machines", "lookup med", "p95 ms", "call med", "p95 ms"
    );
    for (kind, q) in &queries {
        let first = lookup_with(&store, q, &plan, 20, now, &status)?;
        let mut lookups = Vec::with_capacity(args.repetitions);
        let mut calls = Vec::with_capacity(args.repetitions);
        for _ in 0..args.repetitions {
            let t = Instant::now();
            let l = lookup_with(&store, q, &plan, 20, now, &status)?;
            lookups.push(t.elapsed().as_secs_f64() * 1000.0);
            anyhow::ensure!(l.people.len() == first.people.len(), "{q}: answers differ");
            let t = Instant::now();
            let call = resolve(&store, &plan, q, Some("2041".into()), now, &status)?;
            calls.push(t.elapsed().as_secs_f64() * 1000.0);
            anyhow::ensure!(!call.card.text.is_empty());
        }
        lookups.sort_by(f64::total_cmp);
        calls.sort_by(f64::total_cmp);
        println!(
            "{kind:<28} {q:<20} {:>6} {:>8} {:>12.3} {:>10.3} {:>12.3} {:>10.3}",
            first.people.len(),
            first.total,
            percentile(&lookups, 0.5),
            percentile(&lookups, 0.95),
            percentile(&calls, 0.5),
            percentile(&calls, 0.95)
        );
    }
    drop(store);
    if args.path.is_none() {
        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    }
    Ok(())
}
