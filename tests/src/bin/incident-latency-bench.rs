//! `incident-latency-bench`: how long after the sample that completes a
//! threshold's hold time the incident is stored and its webhook sent.
//!
//! ```text
//! cargo build --release -p atalaya-collector --bin atalaya-collector
//! cargo run --release -p atalaya-tests --bin incident-latency-bench -- --agents 20 --runs 400
//! ```
//!
//! It starts a real collector (the release `atalaya-collector serve`, in a
//! temporary directory) with one rule, memory above 90 % for `--hold-seconds`
//! (clears below 80 %, no reopen window, so every run is a new incident),
//! and a webhook receiver; then N agents running the agent's real spool and
//! uplink over QUIC. Each agent in turn, after a random pause of up to a
//! second: sends a sample above 90 % (the fault), waits out the hold on the
//! wall clock, sends the sample that completes it, waits for the incident's
//! `opened` webhook, sends a sample below 80 % and waits for `resolved`.
//!
//! Every sample is stamped with the wall clock when it is spooled, so the
//! completing sample's time (t0) is both when the agent sent it and the
//! incident's `opened_at`. For each incident it reports:
//! - stored: t0 → the incident's `stored_at`, the collector's wall clock
//!   when the desk applied the engine's actions (the transaction commits
//!   a few ms later);
//! - notified: t0 → the webhook receiver reading the `opened` event, which
//!   the collector queues in the same transaction as the incident, so it
//!   bounds "stored" from above.
//!
//! All three clocks are this machine's.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use rand::Rng;

use atalaya_collector::telemetry::percentile;
use atalaya_common::model::Timestamp;
use atalaya_tests::harness::Collector;
use atalaya_tests::latency::{report, time_of};
use atalaya_tests::loadgen::{NumberedAgent, memory_sample, start_shared};
use atalaya_tests::webhook::{Received, Receiver};

/// Fault-to-incident latency over real agents, collector and webhook.
#[derive(Debug, Parser)]
struct Args {
    /// Agents, each with its own QUIC connection and spool.
    #[arg(long, default_value_t = 20)]
    agents: usize,
    /// Incidents in total, shared among the agents.
    #[arg(long, default_value_t = 400)]
    runs: usize,
    /// The rule's hold time (`for_seconds`).
    #[arg(long, default_value_t = 2)]
    hold_seconds: u64,
    /// The desk's tick (`[incidents] tick_seconds`; 5 by default).
    #[arg(long, default_value_t = 5)]
    tick_seconds: u64,
}

const RULE: &str = "memory-hot";

/// One incident as the agent saw it.
#[derive(Debug, Clone)]
struct Run {
    /// The sample that completed the hold, ms.
    t0: i64,
    /// The incident it opened.
    incident: u64,
    /// When the receiver read the `opened` event, ms.
    notified: i64,
}

/// How long to wait for one webhook before giving up on the run.
const WEBHOOK_LIMIT: Duration = Duration::from_secs(30);

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.agents == 0 || args.runs == 0 {
        bail!("--agents and --runs must be at least 1");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let work = tempfile::tempdir()?;
    let rules = work.path().join("rules.toml");
    std::fs::write(
        &rules,
        format!(
            "[rule.{RULE}]\nkind = \"threshold\"\nseverity = \"high\"\nseries = \"memory.used_percent\"\nop = \">\"\nvalue = 90\nclear_value = 80\nfor_seconds = {}\nreopen_window_seconds = 0\nflap_cycles = 1000\nflap_window_seconds = 60\n",
            args.hold_seconds
        ),
    )
    .context("writing the rules file")?;
    let hook = Receiver::start().context("starting the webhook receiver")?;
    let collector = Collector::start_with(&format!(
        "[incidents]\nrules_file = {:?}\ntick_seconds = {}\n[webhook.bench]\nurl = {:?}\n",
        rules.display().to_string(),
        args.tick_seconds,
        hook.url
    ));
    let token = collector.token(u32::try_from(args.agents)?);
    let fleet = (0..args.agents)
        .map(|n| (format!("lat-{n}"), None))
        .collect();
    let agents = rt.block_on(start_shared(work.path(), &token, fleet));
    for agent in &agents {
        let name = agent.lock().unwrap_or_else(|e| e.into_inner()).name.clone();
        collector.asset_named(&name);
    }
    println!(
        "{} agents connected; {} runs of: above 90 % for {} s, incident, below 80 %, resolved",
        args.agents, args.runs, args.hold_seconds
    );

    let started = Instant::now();
    let hold = Duration::from_secs(args.hold_seconds);
    let runs: Vec<Run> = std::thread::scope(|s| {
        let drivers: Vec<_> = agents
            .iter()
            .enumerate()
            .map(|(i, agent)| {
                let share = args.runs / args.agents + usize::from(i < args.runs % args.agents);
                let hook = &hook;
                s.spawn(move || drive(agent, hook, hold, share))
            })
            .collect();
        drivers
            .into_iter()
            .map(|d| d.join().unwrap_or_else(|_| bail!("a driver panicked")))
            .collect::<anyhow::Result<Vec<Vec<Run>>>>()
            .map(|v| v.into_iter().flatten().collect())
    })?;
    let elapsed = started.elapsed();

    let (status, body) = collector.get("/api/v1/incidents", Some(&collector.admin));
    if status != 200 {
        bail!("listing incidents: HTTP {status}: {body}");
    }
    let stored_incidents: Vec<&serde_json::Value> = body
        .as_array()
        .context("the incident list is not an array")?
        .iter()
        .filter(|i| i["rule"] == RULE)
        .collect();
    if stored_incidents.len() != runs.len() {
        bail!(
            "{} runs but {} {RULE} incidents stored",
            runs.len(),
            stored_incidents.len()
        );
    }
    let mut stored = Vec::new();
    let mut notified = Vec::new();
    for run in &runs {
        let rec = stored_incidents
            .iter()
            .find(|i| i["id"] == run.incident)
            .with_context(|| format!("incident {} is not stored", run.incident))?;
        if time_of(rec, "opened_at")? != run.t0 || rec["occurrences"] != 1 {
            bail!("incident {} is not the run's: {rec}", run.incident);
        }
        stored.push(time_of(rec, "stored_at")? - run.t0);
        notified.push(run.notified - run.t0);
    }
    println!(
        "{} incidents in {:.1} s ({} agents, hold {} s, desk tick {} s)",
        runs.len(),
        elapsed.as_secs_f64(),
        args.agents,
        args.hold_seconds,
        args.tick_seconds
    );
    println!(
        "t0 = the sample completing the hold (spooled at its own time; the incident's opened_at)"
    );
    report("t0 → stored_at (desk applies the open)", &mut stored);
    report("t0 → opened webhook received", &mut notified);
    let p99 = percentile(&notified, 0.99);
    println!(
        "target p99 ≤ 2000 ms (webhook received, the later of the two): {}",
        if p99 <= 2000 { "met" } else { "missed" }
    );
    Ok(())
}

/// One agent's runs: fault, hold, incident, clear, resolved; again.
fn drive(
    agent: &Arc<Mutex<NumberedAgent>>,
    hook: &Receiver,
    hold: Duration,
    runs: usize,
) -> anyhow::Result<Vec<Run>> {
    let push = |at: Timestamp, percent: f64| {
        agent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_samples(vec![memory_sample(at, percent)]);
    };
    let name = agent.lock().unwrap_or_else(|e| e.into_inner()).name.clone();
    let hold_ms = i64::try_from(hold.as_millis())?;
    let mut rng = rand::rng();
    let mut out = Vec::with_capacity(runs);
    for _ in 0..runs {
        std::thread::sleep(Duration::from_millis(rng.random_range(0..1000)));
        let fault = Timestamp::now();
        push(fault, 95.0);
        std::thread::sleep(hold);
        let mut t0 = Timestamp::now();
        while t0.0 < fault.0 + hold_ms {
            std::thread::sleep(Duration::from_millis(1));
            t0 = Timestamp::now();
        }
        push(t0, 95.0);
        let opened = hook
            .wait_for(WEBHOOK_LIMIT, |r| {
                r.body["kind"] == "opened"
                    && r.body["incident"]["hostname"] == name.as_str()
                    && event_time(r) == Some(t0.0)
            })
            .with_context(|| format!("{name}: no opened webhook after {WEBHOOK_LIMIT:?}"))?;
        let incident = opened.body["incident"]["id"]
            .as_u64()
            .with_context(|| format!("no incident id in {}", opened.body))?;
        push(Timestamp::now(), 50.0);
        hook.wait_for(WEBHOOK_LIMIT, |r| {
            r.body["kind"] == "resolved" && r.body["incident"]["id"] == incident
        })
        .with_context(|| {
            format!("{name}: incident {incident} not resolved after {WEBHOOK_LIMIT:?}")
        })?;
        out.push(Run {
            t0: t0.0,
            incident,
            notified: opened.received_at.0,
        });
    }
    Ok(out)
}

/// The event's `at`, ms.
fn event_time(r: &Received) -> Option<i64> {
    Timestamp::parse_rfc3339(r.body["at"].as_str()?)
        .ok()
        .map(|t| t.0)
}
