//! `linkdown-latency-bench`: how long after a link goes down the
//! interface-down incident that polls open is stored, and visible through
//! the API.
//!
//! ```text
//! cargo build -p atalaya-agent -p atalaya-collector
//! cargo run -p atalaya-tests --bin linkdown-latency-bench -- --runs 5
//! ```
//!
//! Needs root (network namespaces) and net-snmp's `snmpd`. It starts a real
//! collector and a real agent in the root namespace, and a real `snmpd` as
//! the device inside a network namespace of its own, reached over one veth
//! pair (management) and watching a second one (the link). The agent polls
//! the device every `--poll-seconds`; the collector's rules file holds the
//! interface-down rule for `--hold-seconds` (`for_seconds`).
//!
//! Each run waits a random part of a poll interval (so the fault falls
//! anywhere in the poll cycle), sets the link's root end down (t0: the
//! device's end loses its carrier while administratively up), reads
//! `/api/v1/incidents` every 20 ms until the link's incident shows open,
//! then sets the link up and waits for the incident to resolve. For each
//! incident:
//! - stored: t0 → its `stored_at`, the collector's clock when the desk
//!   applied the open;
//! - visible: t0 → the API listing it open, as a dashboard would see it.
//!
//! The expectation is the hold plus up to one poll interval: the first poll
//! after t0 sees the link down, and the incident opens with the poll that
//! completes the hold. All clocks are this machine's.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use rand::Rng;
use serde_json::Value;

use atalaya_common::model::Timestamp;
use atalaya_tests::harness::{Collector, Proc, agent};
use atalaya_tests::latency::{report, time_of, wait_incident};
use atalaya_tests::netns::{Lab, Link};

/// Link-down-to-incident latency over polls of a real device.
#[derive(Debug, Parser)]
struct Args {
    /// Incidents to open, one after the other on the same link.
    #[arg(long, default_value_t = 10)]
    runs: u32,
    /// Seconds between two polls of the device (`device add --interval`).
    #[arg(long, default_value_t = 10)]
    poll_seconds: u64,
    /// The interface-down rule's hold (`for_seconds` in the rules file).
    #[arg(long, default_value_t = 20)]
    hold_seconds: u64,
}

const COMMUNITY: &str = "bench-linkdown";
const DEVICE: &str = "bench-sw";
/// How often the incident list is read: the resolution of "visible".
const EVERY: Duration = Duration::from_millis(20);

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.runs == 0 || args.poll_seconds == 0 {
        bail!("--runs and --poll-seconds must be at least 1");
    }
    let poll = Duration::from_secs(args.poll_seconds);
    let hold = Duration::from_secs(args.hold_seconds);
    // The hold, two polls (the fault may fall just after one, and poll
    // times jitter), and the way of a record to the desk.
    let open_limit = hold + 3 * poll + Duration::from_secs(30);
    let resolve_limit = 3 * poll + Duration::from_secs(30);

    let mut lab = Lab::new();
    let ns = lab.namespace("dev");
    let management = lab.link(&ns, 0);
    let watched = lab.link(&ns, 1);
    let work = tempfile::tempdir()?;
    let snmpd = start_snmpd(&lab, work.path(), &management)?;

    let rules = work.path().join("rules.toml");
    // Every run a new incident: no reopening, no flapping.
    std::fs::write(
        &rules,
        format!(
            "[rule.interface-down]\nfor_seconds = {}\nreopen_window_seconds = 0\nflap_cycles = 1000\n",
            args.hold_seconds
        ),
    )
    .context("writing the rules file")?;
    let collector = Collector::start_with(&format!(
        "[incidents]\nrules_file = {:?}\ntick_seconds = 1\n",
        rules.display().to_string()
    ));
    let token = collector.token(1);
    let _agent = agent(work.path(), "poller", None, &token);
    until("the agent to enroll", Duration::from_secs(60), || {
        !collector.assets().is_empty()
    })?;
    let address = management.ns_ip.to_string();
    let out = collector.cli(&[
        "device",
        "add",
        &address,
        "--name",
        DEVICE,
        "--community",
        COMMUNITY,
        "--interval",
        &args.poll_seconds.to_string(),
    ]);
    if !out.status.success() {
        bail!("device add: {}", String::from_utf8_lossy(&out.stderr));
    }
    // The rule watches an interface once a poll has seen it up.
    until(
        "a poll to list the link up",
        3 * poll + Duration::from_secs(30),
        || link_up(&collector, &watched.ns_end),
    )?;
    println!(
        "{} runs: link {} down, interface-down incident, link up, resolved (poll every {} s, hold {} s)",
        args.runs, watched.ns_end, args.poll_seconds, args.hold_seconds
    );

    let mut rng = rand::rng();
    let mut seen: Vec<u64> = Vec::new();
    let mut stored = Vec::new();
    let mut visible = Vec::new();
    let mut resolved = Vec::new();
    let started = Instant::now();
    for run in 1..=args.runs {
        std::thread::sleep(Duration::from_millis(
            rng.random_range(0..args.poll_seconds * 1000),
        ));
        let t0 = Timestamp::now();
        watched.set_root_end(false);
        let incident = wait_incident(
            &collector,
            "open",
            (EVERY, open_limit),
            &format!("run {run}"),
            |i| is_new_incident(i, &watched.ns_end, &seen),
        )?;
        visible.push(Timestamp::now().0 - t0.0);
        stored.push(time_of(&incident, "stored_at")? - t0.0);
        let id = incident["id"].as_u64().context("an incident without id")?;
        seen.push(id);

        let up = Timestamp::now();
        watched.set_root_end(true);
        wait_incident(
            &collector,
            "resolved",
            (EVERY, resolve_limit),
            &format!("run {run}, back up"),
            |i| i["id"] == id,
        )?;
        resolved.push(Timestamp::now().0 - up.0);
        println!(
            "run {run}: visible after {} ms",
            visible.last().copied().unwrap_or(0)
        );
    }
    drop(snmpd);

    println!(
        "{} link-down incidents, one at a time, in {:.1} s",
        stored.len(),
        started.elapsed().as_secs_f64()
    );
    println!("t0 = the link's root end set down (ip link set … down)");
    report("t0 → incident stored (stored_at)", &mut stored);
    report("t0 → incident listed open by the API", &mut visible);
    report("link up → incident listed resolved", &mut resolved);
    let within = |polls: u32| {
        let (low, high) = (hold.as_millis(), (hold + polls * poll).as_millis());
        let count = visible
            .iter()
            .filter(|&&v| u128::try_from(v).is_ok_and(|v| (low..=high).contains(&v)))
            .count();
        (low, high, count)
    };
    let (low, high, one) = within(1);
    println!(
        "expected: hold {} s + up to one poll interval ({} s) = {low}–{high} ms; visible within it: {one} of {}",
        args.hold_seconds,
        args.poll_seconds,
        visible.len()
    );
    // The hold counts from the first poll that saw the link down, on poll
    // times, which jitter: the poll due when it ends may fall a few ms
    // short of it, and the next one opens the incident.
    let (_, high, two) = within(2);
    println!(
        "within hold + two poll intervals ({low}–{high} ms): {two} of {}",
        visible.len()
    );
    Ok(())
}

/// Starts `snmpd` in the link's namespace, answering `COMMUNITY` on the
/// namespace's management address, and waits until it answers.
fn start_snmpd(lab: &Lab, dir: &Path, management: &Link) -> anyhow::Result<Proc> {
    let dir = dir.join("snmpd");
    std::fs::create_dir_all(dir.join("persist"))?;
    let conf = dir.join("snmpd.conf");
    std::fs::write(
        &conf,
        format!("rocommunity {COMMUNITY}\nsysName {DEVICE}\n"),
    )?;
    let snmpd = Proc(
        lab.command(&management.ns, "/usr/sbin/snmpd")
            .args(["-f", "-Lf"])
            .arg(dir.join("snmpd.log"))
            .args(["-C", "-M", "/nonexistent", "-m", "", "-c"])
            .arg(&conf)
            .arg(format!("udp:{}:161", management.ns_ip))
            .env("SNMP_PERSISTENT_DIR", dir.join("persist"))
            .env("SNMPCONFPATH", &dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting snmpd (apt-get install snmpd)")?,
    );
    let target = management.ns_ip.to_string();
    until("snmpd to answer", Duration::from_secs(20), || {
        Command::new("snmpget")
            .args(["-v2c", "-c", COMMUNITY, "-M", "/nonexistent", "-m", ""])
            .args(["-t", "0.3", "-r", "0", &target, "1.3.6.1.2.1.1.3.0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })?;
    Ok(snmpd)
}

/// Whether the interfaces the collector lists have `name` of the device,
/// operationally up.
fn link_up(collector: &Collector, name: &str) -> bool {
    let (code, body) = collector.get("/api/v1/interfaces", Some(&collector.admin));
    code == 200
        && body.as_array().is_some_and(|rows| {
            rows.iter()
                .any(|r| r["device"] == DEVICE && r["name"] == name && r["oper_status"] == "up")
        })
}

/// Whether `incident` is the interface-down incident of link `name`, and
/// none of the runs before opened it.
fn is_new_incident(incident: &Value, name: &str, seen: &[u64]) -> bool {
    incident["rule"] == "interface-down"
        && incident["asset"] == format!("device:{DEVICE}").as_str()
        && incident["subject"] == name
        && incident["id"]
            .as_u64()
            .is_some_and(|id| !seen.contains(&id))
}

/// Checks `done` every 100 ms; an error naming `what` after `limit`.
fn until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> anyhow::Result<()> {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > limit {
            bail!("waited {limit:?} for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}
