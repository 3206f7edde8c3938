//! Incident engine throughput: a simulated fleet's health samples evaluated
//! against 50 rules (the built-in ones and generated thresholds), in
//! virtual time, with the time spent inside the engine measured.
//!
//! Each host has 4 cores, 3 filesystems, 2 disks, 2 interfaces and 2
//! temperature sensors (69 points per sample, as the collector feeds the
//! engine). Values follow random walks; a few hosts have a filesystem
//! filling up, CPUs that saturate in bursts or a load that jumps every few
//! minutes, so incidents open, resolve, reopen and flap during the run
//! instead of every series staying quiet.

use std::time::{Duration, Instant};

use atalaya_collector::helpers::series::points;
use atalaya_collector::incidents::rules::{
    Lifecycle, Op, Rule, RuleKind, Scope, Selector, Severity, Threshold, builtin,
};
use atalaya_collector::incidents::{ActionKind, AssetFacts, Engine, RuleSet};
use atalaya_common::model::*;
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rustix::time::{ClockId, clock_gettime};

/// Engine benchmark: samples per second evaluated against the rules.
#[derive(Debug, Parser)]
struct Args {
    /// Simulated assets.
    #[arg(long, default_value_t = 1000)]
    assets: usize,
    /// Rules in total (the built-in ones, then generated thresholds).
    #[arg(long, default_value_t = 50)]
    rules: usize,
    /// Simulated duration, hours.
    #[arg(long, default_value_t = 1.0)]
    hours: f64,
    /// Seconds between samples (and between engine ticks).
    #[arg(long, default_value_t = 10)]
    interval_seconds: u64,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Thresholds the generated rules are made from: metric, op, value, clear value.
const TEMPLATES: &[(&str, Op, f64, f64)] = &[
    ("load.one", Op::Above, 8.0, 6.0),
    ("cpu.core_percent", Op::AtLeast, 99.0, 90.0),
    ("cpu.iowait_percent", Op::Above, 30.0, 20.0),
    ("cpu.steal_percent", Op::Above, 20.0, 10.0),
    ("swap.used_percent", Op::Above, 50.0, 40.0),
    ("filesystem.inodes_used_percent", Op::Above, 90.0, 85.0),
    ("filesystem.available_bytes", Op::Below, 2e9, 3e9),
    ("disk.busy_percent", Op::Above, 90.0, 70.0),
    ("disk.write_bytes_per_second", Op::Above, 4e8, 3e8),
    ("network.rx_errors", Op::Above, 100.0, 10.0),
    ("network.tx_drops", Op::Above, 100.0, 10.0),
    ("network.rx_bytes_per_second", Op::Above, 1e9, 8e8),
    ("temperature.celsius", Op::Above, 85.0, 75.0),
    ("processes.zombie", Op::Above, 20.0, 5.0),
    ("processes.total", Op::Above, 3000.0, 2500.0),
    ("agent.rss_bytes", Op::Above, 5e7, 4e7),
];

fn rules(total: usize) -> RuleSet {
    let mut rules = builtin(Lifecycle::default());
    let mut i = 0;
    while rules.len() < total {
        let (metric, op, value, clear) = TEMPLATES[i % TEMPLATES.len()];
        // Later copies of a template are stricter and some are scoped, as
        // an administrator's rules for different groups of machines would be.
        let round = (i / TEMPLATES.len()) as f64;
        let scale = 1.0 + 0.1 * round;
        let (value, clear_value) = if op.rising() {
            (value * scale, clear * scale)
        } else {
            (value / scale, clear / scale)
        };
        let scope = Scope {
            tags: if i % 3 == 1 {
                vec!["prod".into()]
            } else {
                Vec::new()
            },
            ..Scope::default()
        };
        rules.push(Rule {
            name: format!("generated-{i}-{metric}"),
            description: format!("Generated threshold on {metric}."),
            severity: Severity::Warning,
            enabled: true,
            scope,
            kind: RuleKind::Threshold(Threshold {
                selector: Selector {
                    metric: metric.into(),
                    subjects: Vec::new(),
                    exclude_subjects: Vec::new(),
                },
                op,
                value,
                clear_value,
                for_seconds: 60 * (i as u64 % 5),
            }),
            lifecycle: Lifecycle::default(),
        });
        i += 1;
    }
    rules.truncate(total);
    RuleSet::from_rules(rules)
}

/// One simulated host.
struct Host {
    rng: StdRng,
    sample: HealthSample,
    /// Filling up /var by this many percentage points per sample.
    filling: f64,
    /// CPU saturates in bursts.
    bursty: bool,
    /// Load jumps up and down every few minutes.
    flappy: bool,
}

const GIB: u64 = 1 << 30;

impl Host {
    fn new(seed: u64, i: usize) -> Self {
        let mut rng = StdRng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let fs = |mount: &str, total_gib: u64, used: f64| FilesystemUsage {
            mount_point: mount.into(),
            total_bytes: total_gib * GIB,
            used_bytes: (total_gib as f64 * GIB as f64 * used / 100.0) as u64,
            available_bytes: (total_gib as f64 * GIB as f64 * (100.0 - used) / 100.0) as u64,
            used_percent: used,
            inodes_used_percent: Some(used / 3.0),
        };
        let sample = HealthSample {
            interval_ms: 10_000,
            cpu: Some(CpuUsage {
                total_percent: 10.0,
                per_core_percent: vec![10.0; 4],
                ..CpuUsage::default()
            }),
            load: LoadAverage {
                one: 0.5,
                five: 0.5,
                fifteen: 0.5,
            },
            memory: MemoryUsage {
                total_bytes: 16 * GIB,
                available_bytes: 10 * GIB,
                used_bytes: 6 * GIB,
                cached_bytes: 3 * GIB,
                swap_total_bytes: 2 * GIB,
                swap_used_bytes: 0,
            },
            filesystems: vec![
                fs("/", 50, rng.random_range(20.0..70.0)),
                fs("/var", 100, rng.random_range(20.0..80.0)),
                fs("/home", 500, rng.random_range(10.0..60.0)),
            ],
            disks: ["sda", "sdb"]
                .iter()
                .map(|d| DiskIo {
                    name: (*d).into(),
                    ..DiskIo::default()
                })
                .collect(),
            network: ["eth0", "eth1"]
                .iter()
                .map(|n| NetworkIo {
                    interface: (*n).into(),
                    ..NetworkIo::default()
                })
                .collect(),
            temperatures: ["coretemp/temp1", "nvme/temp1"]
                .iter()
                .map(|s| Temperature {
                    sensor: (*s).into(),
                    label: None,
                    celsius: 45.0,
                })
                .collect(),
            processes: ProcessCount {
                total: 200,
                running: 2,
                zombie: 0,
            },
            uptime_seconds: 86_400,
            agent: AgentUsage {
                cpu_percent: 0.2,
                rss_bytes: 5_000_000,
            },
            ..HealthSample::default()
        };
        Host {
            // 0.004 points per 10 s: 35 % a day, full within days.
            filling: if i.is_multiple_of(20) { 0.004 } else { 0.0 },
            bursty: i % 10 == 3,
            flappy: i % 25 == 7,
            rng,
            sample,
        }
    }

    /// The next sample: a step of every random walk.
    fn step(&mut self, at: i64, round: u64) {
        let rng = &mut self.rng;
        let s = &mut self.sample;
        s.at = Timestamp(at);
        let walk = |rng: &mut StdRng, v: f64, step: f64, lo: f64, hi: f64| {
            (v + rng.random_range(-step..step)).clamp(lo, hi)
        };
        if let Some(cpu) = &mut s.cpu {
            // Bursty hosts saturate for 20 minutes out of every hour.
            let burst = self.bursty && (round / 120) % 3 == 1;
            for core in &mut cpu.per_core_percent {
                *core = if burst {
                    rng.random_range(97.0..100.0)
                } else {
                    walk(rng, *core, 5.0, 0.0, 60.0)
                };
            }
            cpu.total_percent = cpu.per_core_percent.iter().sum::<f64>() / 4.0;
            cpu.user_percent = cpu.total_percent * 0.7;
            cpu.system_percent = cpu.total_percent * 0.3;
            cpu.iowait_percent = walk(rng, cpu.iowait_percent, 1.0, 0.0, 10.0);
        }
        s.load.one = if self.flappy && (round / 30) % 2 == 1 {
            12.0
        } else {
            walk(rng, s.load.one.min(6.0), 0.2, 0.0, 6.0)
        };
        let used = walk(rng, s.memory.used_bytes as f64, 1e8, 2e9, 14e9) as u64;
        s.memory.used_bytes = used;
        s.memory.available_bytes = s.memory.total_bytes - used;
        for (i, f) in s.filesystems.iter_mut().enumerate() {
            let grow = if i == 1 { self.filling } else { 0.0 };
            f.used_percent =
                (f.used_percent + grow + rng.random_range(-0.01..0.01)).clamp(0.0, 100.0);
            f.used_bytes = (f.total_bytes as f64 * f.used_percent / 100.0) as u64;
            f.available_bytes = f.total_bytes - f.used_bytes;
        }
        for d in &mut s.disks {
            d.busy_percent = walk(rng, d.busy_percent, 3.0, 0.0, 80.0);
            d.write_bytes_per_second = walk(rng, d.write_bytes_per_second, 1e6, 0.0, 1e8);
        }
        for n in &mut s.network {
            n.rx_bytes_per_second = walk(rng, n.rx_bytes_per_second, 1e5, 0.0, 1e8);
            n.tx_bytes_per_second = walk(rng, n.tx_bytes_per_second, 1e5, 0.0, 1e8);
        }
        for t in &mut s.temperatures {
            t.celsius = walk(rng, t.celsius, 0.5, 30.0, 80.0);
        }
        s.uptime_seconds += 10;
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let interval_ms = i64::try_from(args.interval_seconds.max(1))? * 1000;
    let rounds = ((args.hours * 3600.0) / args.interval_seconds.max(1) as f64).ceil() as u64;
    let rules = rules(args.rules);
    let builtins = builtin(Lifecycle::default()).len().min(args.rules);
    let mut engine = Engine::new(rules, 30);
    let mut hosts: Vec<Host> = (0..args.assets).map(|i| Host::new(args.seed, i)).collect();
    let ids: Vec<String> = (0..args.assets).map(|i| format!("asset-{i}")).collect();
    let start_ms = 1_800_000_000_000;
    for (i, id) in ids.iter().enumerate() {
        let facts = AssetFacts {
            hostname: format!("host-{i}"),
            tags: if i % 2 == 0 {
                vec!["prod".into()]
            } else {
                Vec::new()
            },
            os_id: Some("debian".into()),
            ..AssetFacts::default()
        };
        engine.set_asset(id, facts, atalaya_common::model::Timestamp(start_ms));
    }

    // Each round's samples are made first; only feeding them is timed, by
    // the wall clock and by this thread's CPU clock (which other processes
    // on a busy machine do not inflate).
    let mut wall = Duration::ZERO;
    let mut cpu = Duration::ZERO;
    let mut tick_time = Duration::ZERO;
    let mut points_total: u64 = 0;
    let mut samples_total: u64 = 0;
    let mut counts = std::collections::BTreeMap::<String, u64>::new();
    let mut opened_by_rule = std::collections::BTreeMap::<String, u64>::new();
    let mut batches: Vec<Vec<(String, f64)>> = Vec::with_capacity(args.assets);
    let mut actions = Vec::new();
    for round in 0..rounds {
        let now = start_ms + i64::try_from(round)? * interval_ms;
        batches.clear();
        for host in &mut hosts {
            host.step(now, round);
            batches.push(points(&host.sample));
        }
        let (started, started_cpu) = (Instant::now(), thread_cpu());
        for (batch, id) in batches.iter().zip(&ids) {
            actions.extend(engine.on_samples(id, Timestamp(now), batch));
            actions.extend(engine.on_seen(id, Timestamp(now)));
        }
        wall += started.elapsed();
        cpu += thread_cpu().saturating_sub(started_cpu);
        for batch in &batches {
            points_total += batch.len() as u64;
            samples_total += 1;
        }
        let started = Instant::now();
        actions.extend(engine.on_tick(Timestamp(now)));
        tick_time += started.elapsed();
        for a in actions.drain(..) {
            if a.kind == ActionKind::Open {
                *opened_by_rule.entry(a.key.rule.clone()).or_default() += 1;
            }
            *counts.entry(kind_name(a.kind)).or_default() += 1;
        }
    }

    let seconds = cpu.as_secs_f64().max(1e-9);
    let state = postcard::to_allocvec(engine.state())?;
    println!(
        "engine-bench: {} assets, {} rules ({} built-in, {} generated thresholds), {} rounds at {} s ({:.1} h of fleet time)",
        args.assets,
        args.rules,
        builtins,
        args.rules - builtins,
        rounds,
        args.interval_seconds,
        args.hours
    );
    println!(
        "evaluated {} points ({} health samples of {} points): {:.3} s of CPU inside the engine ({:.3} s wall)",
        group(points_total),
        group(samples_total),
        points_total / samples_total.max(1),
        seconds,
        wall.as_secs_f64()
    );
    println!(
        "throughput: {} points/s ({} health samples/s) per core; by wall clock {} points/s",
        group((points_total as f64 / seconds) as u64),
        group((samples_total as f64 / seconds) as u64),
        group((points_total as f64 / wall.as_secs_f64().max(1e-9)) as u64)
    );
    println!(
        "ticks: {} over {} assets, mean {:.2} ms",
        rounds,
        args.assets,
        tick_time.as_secs_f64() * 1000.0 / rounds.max(1) as f64
    );
    let summary: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!("actions: {}", summary.join(", "));
    let opened: Vec<String> = opened_by_rule
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!("opened by rule: {}", opened.join(", "));
    println!(
        "state: {} tracked (asset, rule, subject), {} open incidents, {} bytes serialized ({} per tracked)",
        group(engine.tracked() as u64),
        engine.open_incidents().len(),
        group(state.len() as u64),
        state.len() / engine.tracked().max(1)
    );
    Ok(())
}

fn thread_cpu() -> Duration {
    let t = clock_gettime(ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

fn kind_name(kind: ActionKind) -> String {
    match kind {
        ActionKind::Notify(event) => format!("notify:{event:?}").to_lowercase(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// `1234567` → `1,234,567`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
