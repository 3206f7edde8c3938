//! `snmp-bench`: measures what polling network devices over SNMP costs the poller.
//!
//! ```text
//! cargo build --release -p atalaya-bench --bin snmp-bench && ./target/release/snmp-bench --devices 1000
//! ```
//!
//! The bench runs itself again as a child process (`--serve`) that
//! simulates `--devices` SNMPv2c 48-port switches on 127.0.0.1, one UDP
//! port each: the system group, `ifTable` and `ifXTable`, with counters
//! advancing with time. The simulated devices live in their own process so
//! the CPU measured is the poller's alone.
//!
//! The poller (a [`Poller`] with the default [`PollerConfig`] but for
//! `--concurrency`, on a single-threaded tokio runtime: one core) polls
//! every device once, which walks the inventory tables too, then
//! `--rounds` more times (counters only). Printed for the inventory poll
//! and for each round:
//! - wall time;
//! - devices per minute per core: devices over the poller process's CPU
//!   seconds (`utime + stime` of `/proc/self/stat`), × 60;
//! - OIDs per second: the OIDs one poll of a switch reads (the poller
//!   does not count the bindings it receives) × devices answered, over wall time;
//! - CPU milliseconds per device poll;
//! - the poller's `VmRSS` after the round, and the simulator's CPU.
//!
//! With `--steady-intervals N` the poller instead runs as in the agent
//! (`Poller::run`, every device on its own `--interval`, spread over it)
//! for N intervals; each poll becomes its wire record, is encoded and
//! dropped, as the agent's spool does. Printed at the end of each interval:
//! polls received, CPU, and `VmRSS`/`VmHWM`: the memory an agent polling
//! that many devices holds.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use async_snmp::agent::Agent;
use async_snmp::handler::{
    BoxFuture, GetNextResult, GetResult, HandlerResult, MibHandler, RequestContext,
};
use async_snmp::{Oid, Value, VarBind};
use clap::Parser;

use atalaya_agent::snmp::poller::DEFAULT_CONCURRENCY;
use atalaya_agent::snmp::{DevicePoll, Poller, PollerConfig, counters, inventory};
use atalaya_bench::{cpu_ticks, memory, mib};
use atalaya_common::model::{DeviceSpec, DeviceState};
use atalaya_common::proto::Message;

/// Ports of each simulated switch.
const PORTS: u32 = 48;
/// Ports from this one on are down (no traffic), as on a real access switch.
const FIRST_DOWN_PORT: u32 = 45;
/// Interface columns of the inventory walk a simulated switch has: `ifTable`
/// descr, type, speed, physical address, admin and oper status, last change;
/// `ifXTable` name, high speed, alias. (The inventory's other tables are
/// absent on these switches and end at their first binding.)
const INVENTORY_INTERFACE_COLUMNS: usize = 10;
/// The community the simulated switches answer.
const COMMUNITY: &str = "public";
/// `mib-2`, under which every simulated object lives.
const MIB_2: &[u32] = &[1, 3, 6, 1, 2, 1];

/// Measures the SNMP poller's throughput against simulated 48-port switches.
#[derive(Debug, Parser)]
struct Args {
    /// Simulated switches polled.
    #[arg(long, default_value_t = 1000)]
    devices: usize,
    /// Counter-poll rounds after the inventory poll.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Devices polled at once.
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY)]
    concurrency: usize,
    /// Largest SNMP message a simulated switch sends (GETBULK answers are
    /// cut to fit, as on a real device).
    #[arg(long, default_value_t = 1472)]
    max_message_size: usize,
    /// Instead of back-to-back rounds, poll as an agent does for this many
    /// poll intervals: each device on its own schedule, each poll encoded
    /// as the record the agent spools and then dropped; prints the
    /// poller's memory at the end of each interval.
    #[arg(long)]
    steady_intervals: Option<u32>,
    /// Seconds between two polls of a device in `--steady-intervals` mode.
    #[arg(long, default_value_t = 60)]
    interval: u32,
    /// Serve the simulated switches (the child process).
    #[arg(long, hide = true)]
    serve: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.serve {
        return serve(args.devices, args.max_message_size);
    }
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; figures mean little. Use --release.");
    }
    measure(&args)
}

// ---------------------------------------------------------------------------
// The simulated switches.

/// How the value of one object is made.
#[derive(Debug, Clone)]
enum Cell {
    Fixed(Value),
    /// `sysUpTime`: hundredths of a second since the simulator started.
    Uptime,
    /// `sysName`, from the device number.
    SysName,
    /// `ifPhysAddress` of a port, from the device number.
    Mac(u32),
    /// A counter of a port, advancing at `per_second`.
    Counter {
        port: u32,
        per_second: u64,
        hc: bool,
    },
}

/// The objects of one 48-port switch, sorted by OID for GETNEXT.
struct Switch {
    cells: Vec<(Oid, Cell)>,
}

impl Switch {
    fn new() -> Self {
        let text = |s: String| Cell::Fixed(Value::OctetString(s.into()));
        let int = |i: i32| Cell::Fixed(Value::Integer(i));
        let gauge = |g: u32| Cell::Fixed(Value::Gauge32(g));
        let ticks = |t: u32| Cell::Fixed(Value::TimeTicks(t));
        let mut cells: Vec<(Oid, Cell)> = Vec::new();
        let mut put = |arcs: &[u32], cell: Cell| cells.push((Oid::from_slice(arcs), cell));

        let system = [1, 3, 6, 1, 2, 1, 1];
        let at = |base: &[u32], tail: &[u32]| [base, tail].concat();
        put(
            &at(&system, &[1, 0]),
            text("Simulated 48-port gigabit switch, firmware 15.2(7)E4".into()),
        );
        put(
            &at(&system, &[2, 0]),
            Cell::Fixed(Value::ObjectIdentifier(Oid::from_slice(&[
                1, 3, 6, 1, 4, 1, 9, 1, 2134,
            ]))),
        );
        put(&at(&system, &[3, 0]), Cell::Uptime);
        put(&at(&system, &[4, 0]), text("noc@example.net".into()));
        put(&at(&system, &[5, 0]), Cell::SysName);
        put(&at(&system, &[6, 0]), text("Rack 12, room 3".into()));
        put(&at(&system, &[7, 0]), int(6));
        put(&[1, 3, 6, 1, 2, 1, 2, 1, 0], int(PORTS as i32));

        let if_entry = [1, 3, 6, 1, 2, 1, 2, 2, 1];
        let ifx_entry = [1, 3, 6, 1, 2, 1, 31, 1, 1, 1];
        for port in 1..=PORTS {
            let up = port < FIRST_DOWN_PORT;
            // Octets per second: busier ports first, idle ports nothing.
            let octets = if up {
                u64::from(PORTS - port + 1) * 400_000
            } else {
                0
            };
            let counter = |per_second: u64, hc: bool| Cell::Counter {
                port,
                per_second,
                hc,
            };
            let col = |entry: &[u32], c: u32| [entry, &[c, port]].concat();
            put(&col(&if_entry, 1), int(port as i32));
            put(
                &col(&if_entry, 2),
                text(format!("GigabitEthernet1/0/{port}")),
            );
            put(&col(&if_entry, 3), int(6));
            put(&col(&if_entry, 4), int(1500));
            put(&col(&if_entry, 5), gauge(1_000_000_000));
            put(&col(&if_entry, 6), Cell::Mac(port));
            put(&col(&if_entry, 7), int(1));
            put(&col(&if_entry, 8), int(if up { 1 } else { 2 }));
            put(&col(&if_entry, 9), ticks(port * 100));
            put(&col(&if_entry, 10), counter(octets, false));
            put(&col(&if_entry, 11), counter(octets / 700, false));
            put(&col(&if_entry, 13), counter(octets / 2_000_000, false));
            put(&col(&if_entry, 14), counter(octets / 5_000_000, false));
            put(&col(&if_entry, 16), counter(octets * 2, false));
            put(&col(&if_entry, 17), counter(octets * 2 / 700, false));
            put(&col(&if_entry, 19), counter(octets / 3_000_000, false));
            put(&col(&if_entry, 20), counter(octets / 9_000_000, false));
            put(&col(&ifx_entry, 1), text(format!("Gi1/0/{port}")));
            put(&col(&ifx_entry, 6), counter(octets, true));
            put(&col(&ifx_entry, 7), counter(octets / 700, true));
            put(&col(&ifx_entry, 8), counter(octets / 40_000, true));
            put(&col(&ifx_entry, 9), counter(octets / 90_000, true));
            put(&col(&ifx_entry, 10), counter(octets * 2, true));
            put(&col(&ifx_entry, 11), counter(octets * 2 / 700, true));
            put(&col(&ifx_entry, 12), counter(octets / 30_000, true));
            put(&col(&ifx_entry, 13), counter(octets / 80_000, true));
            put(&col(&ifx_entry, 15), gauge(1000));
            put(&col(&ifx_entry, 18), text(format!("access port {port}")));
            put(&col(&ifx_entry, 19), ticks(0));
        }
        cells.sort_by(|a, b| a.0.cmp(&b.0));
        Switch { cells }
    }
}

/// One simulated switch: the shared object list and what makes it itself.
struct SwitchHandler {
    switch: Arc<Switch>,
    device: u32,
    started: Instant,
}

impl SwitchHandler {
    fn value(&self, cell: &Cell) -> Value {
        let elapsed = self.started.elapsed();
        match cell {
            Cell::Fixed(v) => v.clone(),
            Cell::Uptime => {
                // A switch up for a day when the simulation starts.
                let hundredths = elapsed.as_millis() / 10 + 8_640_000;
                Value::TimeTicks(u32::try_from(hundredths).unwrap_or(u32::MAX))
            }
            Cell::SysName => Value::OctetString(format!("switch-{:04}", self.device).into()),
            Cell::Mac(port) => {
                let [_, _, d1, d0] = self.device.to_be_bytes();
                Value::OctetString(vec![0x02, 0x00, d1, d0, 0x00, *port as u8].into())
            }
            Cell::Counter {
                port,
                per_second,
                hc,
            } => {
                // Devices and ports start at different counts.
                let base = u64::from(self.device) * 7_919_003 + u64::from(*port) * 104_729;
                let count = base + (*per_second as f64 * elapsed.as_secs_f64()) as u64;
                if *hc {
                    Value::Counter64(count)
                } else {
                    Value::Counter32(count as u32)
                }
            }
        }
    }
}

impl MibHandler for SwitchHandler {
    fn get<'a>(
        &'a self,
        _ctx: &'a RequestContext,
        oid: &'a Oid,
    ) -> BoxFuture<'a, HandlerResult<GetResult>> {
        let cells = &self.switch.cells;
        let found = cells
            .binary_search_by(|(o, _)| o.cmp(oid))
            .ok()
            .map(|i| GetResult::Value(self.value(&cells[i].1)));
        Box::pin(async move { Ok(found.unwrap_or(GetResult::NoSuchObject)) })
    }

    fn get_next<'a>(
        &'a self,
        _ctx: &'a RequestContext,
        oid: &'a Oid,
    ) -> BoxFuture<'a, HandlerResult<GetNextResult>> {
        let cells = &self.switch.cells;
        let next = cells.partition_point(|(o, _)| o <= oid);
        let found = cells
            .get(next)
            .map(|(o, cell)| GetNextResult::Value(VarBind::new(o.clone(), self.value(cell))));
        Box::pin(async move { Ok(found.unwrap_or(GetNextResult::EndOfMibView)) })
    }
}

/// The child process: serves `devices` switches, prints their ports, one a
/// line, then `ready`, and serves until its stdin closes.
fn serve(devices: usize, max_message_size: usize) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let switch = Arc::new(Switch::new());
        let started = Instant::now();
        let mut agents = Vec::with_capacity(devices);
        for device in 0..devices {
            let handler = Arc::new(SwitchHandler {
                switch: switch.clone(),
                device: u32::try_from(device)?,
                started,
            });
            let agent = Agent::builder()
                .bind("127.0.0.1:0")
                .community(COMMUNITY.as_bytes().to_vec())
                .handler(Oid::from_slice(MIB_2), handler)
                .allow_all_access()
                .max_message_size(max_message_size)
                .build()
                .await
                .map_err(|e| anyhow::anyhow!("starting simulated switch {device}: {e}"))?;
            agents.push(agent);
        }
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", switch.cells.len())?;
            for a in &agents {
                writeln!(out, "{}", a.local_addr().port())?;
            }
            writeln!(out, "ready")?;
            out.flush()?;
        }
        for agent in agents {
            tokio::spawn(async move { agent.run().await });
        }
        tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new())).await??;
        Ok(())
    })
}

// ---------------------------------------------------------------------------
// The measurement.

/// The simulator child; killed if the bench ends early.
struct Simulator {
    child: Child,
}

impl Drop for Simulator {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Starts the simulator; returns it, the OIDs each switch has and their ports.
fn start_simulator(args: &Args) -> anyhow::Result<(Simulator, usize, Vec<u16>)> {
    let exe = std::env::current_exe()?;
    let child = Command::new(&exe)
        .args([
            "--serve",
            "--devices",
            &args.devices.to_string(),
            "--max-message-size",
            &args.max_message_size.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {} --serve", exe.display()))?;
    let mut sim = Simulator { child };
    let stdout = sim
        .child
        .stdout
        .take()
        .context("no stdout of the simulator")?;
    let mut lines = BufReader::new(stdout).lines();
    let oids: usize = lines
        .next()
        .context("the simulator ended before starting")??
        .parse()?;
    let mut ports = Vec::with_capacity(args.devices);
    for line in lines {
        let line = line?;
        if line == "ready" {
            return Ok((sim, oids, ports));
        }
        ports.push(
            line.parse()
                .with_context(|| format!("simulator said {line:?}"))?,
        );
    }
    bail!("the simulator ended before it was ready")
}

/// What one round of `poll_all` cost and brought.
struct Round {
    wall: Duration,
    cpu: Duration,
    simulator_cpu: Duration,
    rss: u64,
    polls: Vec<DevicePoll>,
}

fn measure(args: &Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let (mut sim, oids_per_switch, ports) = start_simulator(args)?;
    let sim_pid = sim.child.id();
    println!(
        "anchors: LibreNMS ~1,000 devices per poller per 5-minute cycle (~200 devices/min); \
         target ≥ 1,000 48-port switches per minute on one core (≥ 16k OIDs/s), \
         poller RSS ≤ 30 MB while polling 1,000 devices"
    );
    println!(
        "simulated: {} SNMPv2c {PORTS}-port switches on 127.0.0.1, {oids_per_switch} OIDs each, \
         answers ≤ {} bytes, in a child process (started in {:.1} s)",
        ports.len(),
        args.max_message_size,
        started.elapsed().as_secs_f64()
    );
    let system = inventory::system_oids().len();
    let counter_oids = system + counters::columns().len() * PORTS as usize;
    let inventory_oids = counter_oids + INVENTORY_INTERFACE_COLUMNS * PORTS as usize;
    println!(
        "poller: default PollerConfig, concurrency {}, single-threaded tokio runtime; \
         OIDs read per switch: {inventory_oids} in the inventory poll, {counter_oids} in a counter poll",
        args.concurrency
    );

    let specs: Vec<DeviceSpec> = ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            let mut spec = DeviceSpec::v2c(&format!("switch-{i:04}"), "127.0.0.1", COMMUNITY);
            spec.port = *port;
            spec
        })
        .collect();
    let config = PollerConfig {
        concurrency: args.concurrency,
        ..PollerConfig::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let ticks = rustix::param::clock_ticks_per_second();
    if let Some(intervals) = args.steady_intervals {
        rt.block_on(steady(specs, config, args.interval, intervals, ticks))?;
        print_memory("poller at the end")?;
        drop(sim.child.stdin.take());
        sim.child.wait()?;
        return Ok(());
    }
    rt.block_on(async {
        let mut poller = Poller::new(specs, config).await?;
        let round = timed_round(&mut poller, sim_pid, ticks).await?;
        print_round("inventory poll", &round, inventory_oids);
        drop(round);
        print_rss_without_polls()?;
        for n in 1..=args.rounds {
            let round = timed_round(&mut poller, sim_pid, ticks).await?;
            print_round(&format!("counter round {n}"), &round, counter_oids);
            drop(round);
            print_rss_without_polls()?;
        }
        anyhow::Ok(())
    })?;
    print_memory("poller at the end")?;
    drop(sim.child.stdin.take());
    sim.child.wait()?;
    Ok(())
}

/// Polls as the agent does for `intervals` intervals of `interval` seconds.
async fn steady(
    specs: Vec<DeviceSpec>,
    config: PollerConfig,
    interval: u32,
    intervals: u32,
    ticks: u64,
) -> anyhow::Result<()> {
    let devices = specs.len();
    let specs: Vec<DeviceSpec> = specs
        .into_iter()
        .map(|mut s| {
            s.poll_interval_seconds = interval;
            s
        })
        .collect();
    // The list never changes here; the sender lives as long as the poller.
    let (_updates, watched) = tokio::sync::watch::channel(specs.clone());
    let poller = Poller::new(specs, config).await?;
    // The agent's queue between the poller and its spool is this small too.
    let (sender, mut polls) = tokio::sync::mpsc::channel(64);
    let task = tokio::spawn(poller.run(sender, watched));
    let period = Duration::from_secs(u64::from(interval));
    let started = tokio::time::Instant::now();
    let (mut seq, mut ok, mut bytes) = (0u64, 0usize, 0usize);
    for n in 1..=intervals {
        let cpu0 = cpu_ticks("self")?;
        let end = started + period * n;
        let mut received = 0usize;
        while let Ok(Some(poll)) = tokio::time::timeout_at(end, polls.recv()).await {
            seq += 1;
            received += 1;
            ok += usize::from(poll.state == DeviceState::Ok);
            let frame = atalaya_common::proto::encode(&Message::DevicePoll(poll.record(seq)))?;
            bytes += frame.len();
        }
        let cpu =
            Duration::from_secs_f64(cpu_ticks("self")?.saturating_sub(cpu0) as f64 / ticks as f64);
        println!(
            "steady interval {n}: {received} polls of {devices} devices ({ok} OK so far) · \
             {:.2} s CPU ({:.2} ms per poll) · {:.1} MiB of records so far",
            cpu.as_secs_f64(),
            cpu.as_secs_f64() * 1000.0 / received.max(1) as f64,
            mib(bytes as u64),
        );
        print_memory("    poller")?;
    }
    drop(polls);
    task.await?;
    Ok(())
}

/// Prints the process's `VmRSS` and `VmHWM` after `what`.
fn print_memory(what: &str) -> anyhow::Result<()> {
    let m = memory()?;
    println!(
        "{what}: VmRSS {:.1} MiB, VmHWM {:.1} MiB",
        mib(m.rss),
        mib(m.hwm)
    );
    Ok(())
}

async fn timed_round(poller: &mut Poller, sim_pid: u32, ticks: u64) -> anyhow::Result<Round> {
    let (cpu0, sim0) = (cpu_ticks("self")?, cpu_ticks(&sim_pid.to_string())?);
    let t = Instant::now();
    let polls = poller.poll_all().await;
    let wall = t.elapsed();
    let (cpu1, sim1) = (cpu_ticks("self")?, cpu_ticks(&sim_pid.to_string())?);
    let as_time = |t: u64| Duration::from_secs_f64(t as f64 / ticks as f64);
    Ok(Round {
        wall,
        cpu: as_time(cpu1.saturating_sub(cpu0)),
        simulator_cpu: as_time(sim1.saturating_sub(sim0)),
        rss: memory()?.rss,
        polls,
    })
}

fn print_round(name: &str, r: &Round, oids_per_device: usize) {
    let devices = r.polls.len();
    let ok = r
        .polls
        .iter()
        .filter(|p| p.state == DeviceState::Ok)
        .count();
    let cpu = r.cpu.as_secs_f64();
    let wall = r.wall.as_secs_f64();
    let per_core = if cpu > 0.0 {
        devices as f64 / cpu * 60.0
    } else {
        f64::INFINITY
    };
    let inventories = r.polls.iter().filter(|p| p.inventory.is_some()).count();
    let interfaces: usize = r
        .polls
        .iter()
        .filter_map(|p| p.inventory.as_ref())
        .map(|i| i.interfaces.len())
        .sum();
    let points: usize = r.polls.iter().map(|p| p.points.len()).sum();
    println!(
        "{name}: wall {:.2} s · {:.0} devices/min/core · {:.0} OIDs/s · {:.2} ms CPU per device poll \
         ({:.2} s CPU) · VmRSS {:.1} MiB · simulator CPU {:.2} s",
        wall,
        per_core,
        (ok * oids_per_device) as f64 / wall,
        cpu * 1000.0 / devices.max(1) as f64,
        cpu,
        mib(r.rss),
        r.simulator_cpu.as_secs_f64(),
    );
    println!(
        "    {ok}/{devices} polls OK · {inventories} inventories ({interfaces} interfaces) · {points} series points"
    );
    if let Some(problem) = r.polls.iter().find_map(|p| p.problems.first()) {
        println!("    first problem: {problem}");
    }
}

/// The poller's own memory: the polls a round returned are what an agent
/// sends on and drops, so they are left out here.
fn print_rss_without_polls() -> anyhow::Result<()> {
    println!(
        "    VmRSS with the round's polls dropped: {:.1} MiB",
        mib(memory()?.rss)
    );
    Ok(())
}
