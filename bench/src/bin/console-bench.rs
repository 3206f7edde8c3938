//! The web console on a large fleet: server time and size of each page.
//!
//! A store gets `--assets` hosts (inventories with a few hundred packages,
//! through `Store::commit` as the server stores them, each with its
//! enrolled agent; the host whose page is timed, `host-00042`, with 30
//! days of health samples a minute apart) and `--incidents`
//! incidents (as the desk stores them); the console and the API are served
//! on loopback as the collector serves them; one signed-in person asks
//! each page `--repetitions` times after one untimed request. One incident
//! in 200 is of `host-00042`. The time is
//! from the request to the last byte of the answer, over loopback HTTP, so
//! it holds the server's whole work; the size is the HTML without
//! compression or cache.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use atalaya_bench::incidents::incident;
use atalaya_collector::api::{AdminActions, ApiState};
use atalaya_collector::config::ConsoleSettings;
use atalaya_collector::console;
use atalaya_collector::helpers::password;
use atalaya_collector::store::{AgentRecord, Ingest, IngestRecord, Role, Store, UserRecord};
use atalaya_collector::telemetry::{Telemetry, percentile};
use atalaya_common::model::{
    CpuUsage, FilesystemUsage, HealthSample, Inventory, MemoryUsage, NetworkIo, Package, Timestamp,
};
use atalaya_common::proto;
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Console benchmark: time and bytes per page.
#[derive(Debug, Parser)]
struct Args {
    /// Simulated hosts.
    #[arg(long, default_value_t = 10_000)]
    assets: usize,
    /// Incidents stored.
    #[arg(long, default_value_t = 100_000)]
    incidents: u64,
    /// Timed requests of each page.
    #[arg(long, default_value_t = 30)]
    repetitions: usize,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Keep the store in this file, and reuse it when it exists (written
    /// by an earlier run with the same figures) instead of filling a new
    /// one in a temporary directory.
    #[arg(long)]
    store: Option<std::path::PathBuf>,
}

#[derive(Debug)]
struct NoServer;

impl AdminActions for NoServer {
    fn agent_revoked(&self, _id: &str) {}
    fn collector_address(&self) -> String {
        "collector.example:4433".into()
    }
    fn ca_sha256(&self) -> [u8; 32] {
        [0; 32]
    }
}

const OS: &[&str] = &[
    "Debian GNU/Linux 12 (bookworm)",
    "Debian GNU/Linux 13 (trixie)",
    "Ubuntu 24.04 LTS",
    "Rocky Linux 9.4",
];

fn inventory(i: usize, rng: &mut StdRng) -> Inventory {
    let mut inv = Inventory::default();
    inv.host.hostname = format!("host-{i:05}");
    inv.host.machine_id = Some(format!("{i:032x}"));
    inv.hardware.system.uuid = Some(format!("uuid-{i:08}"));
    inv.hardware.system.vendor = Some("Dell Inc.".into());
    inv.hardware.system.product = Some(format!("OptiPlex 70{}0", i % 10));
    inv.os.pretty_name = Some(OS[i % OS.len()].into());
    inv.os.id = Some("debian".into());
    for p in 0..rng.random_range(200..400) {
        inv.software.packages.push(Package {
            name: format!("package-{p:04}"),
            version: format!("1.{}", rng.random_range(0..5)),
            arch: Some("amd64".into()),
            vendor: None,
            installed_at: None,
            size_bytes: Some(100_000),
            source: None,
        });
    }
    inv
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let path = args
        .store
        .clone()
        .unwrap_or_else(|| dir.path().join("console.redb"));
    let reuse = path.exists();
    let t0 = Instant::now();
    let store = Arc::new(Store::open(&path).context("opening the store")?);
    if reuse {
        println!(
            "reusing {}: opened in {:.1} s",
            path.display(),
            t0.elapsed().as_secs_f64()
        );
    }
    let now = Timestamp::now();
    let mut rng = StdRng::seed_from_u64(args.seed);
    if !reuse {
        fill(&store, &args, now, &mut rng)?;
    }
    add_agents(&store, &args, now)?;
    add_health(&store, now)?;
    println!(
        "{} assets and {} incidents in {:.1} s; store file {:.1} MiB; release build: {}",
        args.assets,
        args.incidents,
        t0.elapsed().as_secs_f64(),
        std::fs::metadata(&path)?.len() as f64 / f64::from(1u32 << 20),
        !cfg!(debug_assertions)
    );
    serve_and_time(&store, &args)
}

/// Enrolls the agent of each host, seen now, with a certificate of the
/// usual size, unless a reused store has them already.
fn add_agents(store: &Store, args: &Args, now: Timestamp) -> anyhow::Result<()> {
    if args.assets == 0 || store.agent("agent-00000")?.is_some() {
        return Ok(());
    }
    let t = Instant::now();
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}-----END CERTIFICATE-----\n",
        "MIIBszCCAVmgAwIBAgIUV2VsbCwgdGhpcyBpcyBub3QgYSByZWFsIGNlcnRpZmlj\n".repeat(10)
    );
    for i in 0..args.assets {
        let id = format!("agent-{i:05}");
        let mut a = AgentRecord::enrolled(&id, format!("host-{i:05}"), &pem, [0; 32], "0.1.0", now);
        a.last_seen = Some(now);
        a.asset_id = store.agent_asset_id(&id)?;
        store.add_agent(&a)?;
    }
    println!(
        "{} agents enrolled in {:.1} s",
        args.assets,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Thirty days of health samples a minute apart (CPU, memory, two
/// filesystems, one interface) for the host whose page is timed, sent as
/// its agent sends them, a day a batch; unless a reused store has them.
fn add_health(store: &Store, now: Timestamp) -> anyhow::Result<()> {
    let asset = measured_asset(store)?;
    if !store.series_names(&asset)?.is_empty() {
        return Ok(());
    }
    let t = Instant::now();
    const DAY: i64 = 86_400_000;
    let from = now.0 - 30 * DAY;
    for day in 0..30 {
        let samples = (0..1440)
            .map(|i| {
                let k = day * 1440 + i;
                let cpu = (k * 7919 % 1000) as f64 / 10.0;
                HealthSample {
                    at: Timestamp(from + day * DAY + i * 60_000),
                    interval_ms: 60_000,
                    cpu: Some(CpuUsage {
                        total_percent: cpu,
                        ..CpuUsage::default()
                    }),
                    memory: MemoryUsage {
                        total_bytes: 16 << 30,
                        available_bytes: 6 << 30,
                        used_bytes: 10 << 30,
                        ..MemoryUsage::default()
                    },
                    filesystems: ["/", "/var"]
                        .into_iter()
                        .map(|m| FilesystemUsage {
                            mount_point: m.into(),
                            used_percent: 40.0 + cpu / 10.0,
                            ..FilesystemUsage::default()
                        })
                        .collect(),
                    network: vec![NetworkIo {
                        interface: "eth0".into(),
                        rx_bytes_per_second: cpu * 1000.0,
                        tx_bytes_per_second: cpu * 100.0,
                        ..NetworkIo::default()
                    }],
                    ..HealthSample::default()
                }
            })
            .collect();
        store.commit(&[Ingest {
            agent_id: "agent-00042".into(),
            received_at: now,
            record: IngestRecord::Metrics(proto::MetricBatch {
                seq: 2 + u64::try_from(day)?,
                samples,
            }),
        }])?;
    }
    println!(
        "30 days of health samples a minute apart stored in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Stores the hosts, the incidents and the person who signs in.
fn fill(store: &Store, args: &Args, now: Timestamp, rng: &mut StdRng) -> anyhow::Result<()> {
    for chunk in (0..args.assets).collect::<Vec<_>>().chunks(100) {
        let batch: Vec<Ingest> = chunk
            .iter()
            .map(|&i| Ingest {
                agent_id: format!("agent-{i:05}"),
                received_at: now,
                record: IngestRecord::Snapshot(proto::InventorySnapshot {
                    seq: 1,
                    taken_at: now,
                    inventory: inventory(i, rng),
                }),
            })
            .collect();
        store.commit(&batch).context("storing inventories")?;
    }
    // One incident in 200 is of the host whose page is timed.
    let shown = measured_asset(store)?;
    let mut id = 1;
    while id <= args.incidents {
        let txn = store.begin_desk()?;
        for _ in 0..5000 {
            if id > args.incidents {
                break;
            }
            let mut rec = incident(id, rng, args.incidents, 3, now);
            if id % 200 == 0 {
                rec.asset.clone_from(&shown);
            }
            txn.put_incident(&rec)?;
            id += 1;
        }
        txn.commit()?;
    }
    store.add_user(&UserRecord {
        name: "ana".into(),
        role: Role::Helpdesk,
        password_hash: password::hash("a long password 1")?,
        disabled: false,
        created_at: now,
        password_set_at: now,
    })?;
    Ok(())
}

/// The id of the host whose page is timed: `host-00042`.
fn measured_asset(store: &Store) -> anyhow::Result<String> {
    Ok(store
        .asset_by_hostname("host-00042")?
        .context("host-00042 is stored")?
        .meta
        .id)
}

/// Serves the console and times each page.
fn serve_and_time(store: &Arc<Store>, args: &Args) -> anyhow::Result<()> {
    let now = Timestamp::now();
    let asset = measured_asset(store)?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let base = format!("http://{}", listener.local_addr()?);
    let state = ApiState {
        store: Arc::clone(store),
        telemetry: Arc::new(Telemetry::default()),
        admin: Arc::new(NoServer),
        desk: None,
        calls: Default::default(),
    };
    rt.spawn(console::serve(
        listener,
        state,
        ConsoleSettings::default(),
        std::future::pending(),
    ));
    let http: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let resp = http
        .post(&format!("{base}/login"))
        .send_form([("name", "ana"), ("password", "a long password 1")])?;
    let cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .context("signed in")?
        .to_owned();
    let month = Timestamp(now.0)
        .to_rfc3339()
        .map(|t| t[..7].to_owned())
        .unwrap_or_default();
    let pages = [
        "/fleet".to_owned(),
        "/assets".to_owned(),
        "/assets?os=debian&offset=5000".to_owned(),
        format!("/assets/{asset}"),
        format!("/assets/{asset}?range=30d"),
        "/incidents".to_owned(),
        "/incidents?status=all&offset=50000".to_owned(),
        format!("/incidents/{}", args.incidents / 2),
        "/kb".to_owned(),
        "/lookup?q=host-00042".to_owned(),
        "/network".to_owned(),
        format!("/reports/slr?month={month}"),
    ];
    println!(
        "{:<40} {:>9} {:>9} {:>9} {:>10}",
        "page", "p50 ms", "p99 ms", "max ms", "bytes"
    );
    for page in &pages {
        let url = format!("{base}{page}");
        let get = || -> anyhow::Result<(f64, usize)> {
            let t = Instant::now();
            let mut r = http.get(&url).header("Cookie", &cookie).call()?;
            anyhow::ensure!(r.status() == 200, "{page}: {}", r.status());
            let body = r.body_mut().read_to_string()?;
            Ok((t.elapsed().as_secs_f64() * 1000.0, body.len()))
        };
        get()?;
        let mut times = Vec::with_capacity(args.repetitions);
        let mut bytes = 0;
        for _ in 0..args.repetitions {
            let (ms, len) = get()?;
            times.push(ms);
            bytes = len;
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{page:<40} {:>9.1} {:>9.1} {:>9.1} {bytes:>10}",
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            times.last().copied().unwrap_or_default()
        );
    }
    Ok(())
}
