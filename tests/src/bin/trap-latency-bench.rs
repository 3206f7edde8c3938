//! `trap-latency-bench`: how long after a device sends a `linkDown` trap
//! its interface-down incident is stored, and visible through the API.
//!
//! ```text
//! cargo build --release -p atalaya-agent -p atalaya-collector
//! cargo run --release -p atalaya-tests --bin trap-latency-bench -- --runs 200
//! ```
//!
//! It starts a real collector, a real agent listening for traps on a
//! loopback port and a real net-snmp `snmpd` as the device (polled once an
//! hour, so no poll takes part). The `linkDown` and `linkUp` datagrams of
//! `--runs` interfaces are made beforehand with net-snmp's `snmptrap`.
//! Each run sends one `linkDown` (t0), reads `/api/v1/incidents` every few
//! milliseconds until the interface's incident shows (visible), then sends
//! its `linkUp` and waits for the incident to resolve. For each incident:
//! - stored: t0 → its `stored_at`, the collector's clock when the desk
//!   applied the open (its `opened_at` is the agent's receipt of the trap);
//! - visible: t0 → the API listing it open, as a dashboard would see it.
//!
//! All clocks are this machine's.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Parser;
use serde_json::Value;

use atalaya_common::model::Timestamp;
use atalaya_tests::harness::{Collector, agent_with};
use atalaya_tests::latency::{find_incident, report, time_of, wait_incident};
use atalaya_tests::snmpd::{Snmpd, free_port};
use atalaya_tests::traps::capture;

/// Trap-to-incident latency over a real agent and collector.
#[derive(Debug, Parser)]
struct Args {
    /// Incidents to open (one interface each).
    #[arg(long, default_value_t = 200)]
    runs: u32,
}

const COMMUNITY: &str = "bench-traps";
/// How long to wait for one incident before giving up.
const LIMIT: Duration = Duration::from_secs(30);

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let snmpd = Snmpd::start(&format!("rocommunity {COMMUNITY} 127.0.0.1\n"), COMMUNITY);
    let work = tempfile::tempdir()?;
    let persist = work.path().join("snmptrap");
    std::fs::create_dir_all(&persist)?;
    let collector = Collector::start_with("[incidents]\ntick_seconds = 1\n");
    let token = collector.token(1);
    let trap_port = free_port();
    let listen = format!("[snmp]\ntrap_listen = \"127.0.0.1:{trap_port}\"");
    let _agent = agent_with(work.path(), "poller", None, &token, &listen);
    let start = Instant::now();
    while collector.assets().is_empty() {
        if start.elapsed() > LIMIT {
            bail!("the agent did not enroll");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let port = snmpd.port.to_string();
    let out = collector.cli(&[
        "device",
        "add",
        "127.0.0.1",
        "--name",
        "bench-sw",
        "--port",
        &port,
        "--interval",
        "3600",
        "--community",
        COMMUNITY,
    ]);
    if !out.status.success() {
        bail!("device add: {}", String::from_utf8_lossy(&out.stderr));
    }

    println!("making {} linkDown/linkUp pairs with snmptrap", args.runs);
    let options = ["-v2c", "-c", COMMUNITY];
    let link = |oid: &str, if_index: u32, oper: &str| {
        let index = format!("1.3.6.1.2.1.2.2.1.1.{if_index}");
        let admin = format!("1.3.6.1.2.1.2.2.1.7.{if_index}");
        let status = format!("1.3.6.1.2.1.2.2.1.8.{if_index}");
        let value = if_index.to_string();
        capture(
            &persist,
            &options,
            &[
                "", oid, &index, "i", &value, &admin, "i", "1", &status, "i", oper,
            ],
        )
    };
    let pairs: Vec<(u32, Vec<u8>, Vec<u8>)> = (0..args.runs)
        .map(|i| {
            let if_index = 1000 + i;
            let down = link("1.3.6.1.6.3.1.1.5.3", if_index, "2");
            let up = link("1.3.6.1.6.3.1.1.5.4", if_index, "1");
            (if_index, down, up)
        })
        .collect();

    let socket = UdpSocket::bind("127.0.0.1:0")?;
    let target = format!("127.0.0.1:{trap_port}");
    // The listener takes the device's traps once its table is built.
    let (warm_index, warm_down, _) = &pairs[0];
    let warm = Instant::now();
    loop {
        socket.send_to(warm_down, &target)?;
        std::thread::sleep(Duration::from_millis(200));
        if find(&collector, "open", *warm_index)?.is_some() {
            break;
        }
        if warm.elapsed() > LIMIT {
            bail!("no incident from the first trap");
        }
    }
    socket.send_to(&pairs[0].2, &target)?;
    wait(&collector, "resolved", *warm_index)?;

    let mut stored = Vec::new();
    let mut visible = Vec::new();
    let started = Instant::now();
    for (if_index, down, up) in &pairs[1..] {
        let t0 = Timestamp::now();
        socket.send_to(down, &target)?;
        let incident = wait(&collector, "open", *if_index)?;
        visible.push(Timestamp::now().0 - t0.0);
        stored.push(time_of(&incident, "stored_at")? - t0.0);
        socket.send_to(up, &target)?;
        wait(&collector, "resolved", *if_index)?;
    }
    println!(
        "{} linkDown traps, one at a time, in {:.1} s",
        stored.len(),
        started.elapsed().as_secs_f64()
    );
    println!("t0 = the linkDown datagram sent to the agent's trap port");
    report("t0 → incident stored (stored_at)", &mut stored);
    report("t0 → incident listed open by the API", &mut visible);
    Ok(())
}

/// The interface-down incident of `if_index` in `status`, if listed.
fn find(collector: &Collector, status: &str, if_index: u32) -> anyhow::Result<Option<Value>> {
    find_incident(collector, status, of_interface(if_index))
}

/// Reads the incident list every 2 ms until `find` has it.
fn wait(collector: &Collector, status: &str, if_index: u32) -> anyhow::Result<Value> {
    wait_incident(
        collector,
        status,
        (Duration::from_millis(2), LIMIT),
        &format!("interface {if_index}"),
        of_interface(if_index),
    )
}

/// Whether an incident is the interface-down incident of `if_index`.
fn of_interface(if_index: u32) -> impl Fn(&Value) -> bool {
    let subject = if_index.to_string();
    move |i| i["rule"] == "interface-down" && i["subject"] == subject.as_str()
}
