//! `ingest-bench`: how many metric points per second the collector stores
//! durably when many agents stream at once.
//!
//! ```text
//! cargo run --release -p atalaya-tests --bin ingest-bench -- --agents 100
//! cargo run --release -p atalaya-tests --bin ingest-bench -- --agents 1000
//! ```
//!
//! It starts a real collector (QUIC endpoint, group commit, redb file in a
//! temporary directory), enrolls N agents with real certificates signed by
//! the collector's CA, and has each open its own mutual-TLS QUIC
//! connection and send metric batches as fast as acknowledgements allow
//! (a window of batches in flight per agent). A point counts only once its
//! batch is acknowledged, which the collector does only after the commit.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;

use atalaya_agent::identity::{self, AgentIdentity};
use atalaya_agent::tls as agent_tls;
use atalaya_collector::helpers::series;
use atalaya_collector::pki::{self, CertificateAuthority};
use atalaya_collector::screen::TimeLimits;
use atalaya_collector::server::{Committer, Hub, Server, ServerConfig};
use atalaya_collector::store::{AgentRecord, Store};
use atalaya_collector::telemetry::Telemetry;
use atalaya_collector::tls;
use atalaya_common::model::*;
use atalaya_common::proto::{self, ConfigUpdate, FrameReader, Hello, Message, MetricBatch};

/// Measures durable ingest over real QUIC connections.
#[derive(Debug, Parser)]
struct Args {
    /// Agents, each with its own connection.
    #[arg(long, default_value_t = 100)]
    agents: usize,
    /// How long to send, seconds.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Health samples per batch.
    #[arg(long, default_value_t = 6)]
    samples_per_batch: usize,
    /// Batches in flight per agent before waiting for an ack.
    #[arg(long, default_value_t = 4)]
    window: u64,
}

/// A health sample of a typical server: 4 CPUs, 3 filesystems, 2 disks,
/// 2 interfaces, 2 sensors; values move a little each time.
fn sample(at: Timestamp, i: u64) -> HealthSample {
    let wobble = |base: f64, amp: f64| base + amp * ((i as f64) * 0.37).sin();
    HealthSample {
        at,
        interval_ms: 10_000,
        cpu: Some(CpuUsage {
            total_percent: wobble(20.0, 5.0),
            user_percent: wobble(14.0, 4.0),
            system_percent: wobble(5.0, 1.0),
            iowait_percent: 0.5,
            steal_percent: 0.0,
            per_core_percent: vec![
                wobble(20.0, 5.0),
                wobble(18.0, 6.0),
                wobble(25.0, 3.0),
                wobble(17.0, 2.0),
            ],
        }),
        load: LoadAverage {
            one: wobble(0.8, 0.2),
            five: 0.7,
            fifteen: 0.6,
        },
        memory: MemoryUsage {
            total_bytes: 16 << 30,
            available_bytes: (9u64 << 30) + i * 4096,
            used_bytes: (7u64 << 30) - i * 4096,
            cached_bytes: 4 << 30,
            swap_total_bytes: 2 << 30,
            swap_used_bytes: 0,
        },
        filesystems: ["/", "/var", "/home"]
            .iter()
            .map(|m| FilesystemUsage {
                mount_point: (*m).to_owned(),
                total_bytes: 100 << 30,
                used_bytes: (40u64 << 30) + i * 8192,
                available_bytes: (60u64 << 30) - i * 8192,
                used_percent: 40.0,
                inodes_used_percent: Some(3.0),
            })
            .collect(),
        disks: ["sda", "sdb"]
            .iter()
            .map(|d| DiskIo {
                name: (*d).to_owned(),
                read_bytes_per_second: wobble(100_000.0, 50_000.0),
                write_bytes_per_second: wobble(300_000.0, 100_000.0),
                reads_per_second: 10.0,
                writes_per_second: 30.0,
                busy_percent: 2.0,
            })
            .collect(),
        network: ["eth0", "eth1"]
            .iter()
            .map(|n| NetworkIo {
                interface: (*n).to_owned(),
                rx_bytes_per_second: wobble(50_000.0, 20_000.0),
                tx_bytes_per_second: wobble(20_000.0, 5_000.0),
                rx_packets_per_second: 100.0,
                tx_packets_per_second: 80.0,
                ..NetworkIo::default()
            })
            .collect(),
        temperatures: vec![
            Temperature {
                sensor: "coretemp/temp1".into(),
                label: Some("Package id 0".into()),
                celsius: wobble(55.0, 3.0),
            },
            Temperature {
                sensor: "nvme/temp1".into(),
                label: None,
                celsius: 41.0,
            },
        ],
        processes: ProcessCount {
            total: 250,
            running: 2,
            zombie: 0,
        },
        uptime_seconds: 86_400 + i * 10,
        top_cpu: Vec::new(),
        top_memory: Vec::new(),
        agent: AgentUsage {
            cpu_percent: 0.1,
            rss_bytes: 4 << 20,
        },
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(bench(args))
}

async fn bench(args: Args) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let ca = Arc::new(CertificateAuthority::load_or_create(dir.path())?);
    let (chain, key) = ca.server_identity(dir.path(), &["localhost".to_owned()])?;
    let store = Arc::new(Store::open(&dir.path().join("atalaya.redb"))?);
    let telemetry = Arc::new(Telemetry::default());
    let hub = Arc::new(Hub::new(
        store.clone(),
        ca.clone(),
        telemetry.clone(),
        Committer::start(store.clone(), telemetry.clone()),
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            max_connections: args.agents + 10,
            frame_timeout: Duration::from_secs(30),
            certificate_validity: Duration::from_secs(86_400),
            time_limits: TimeLimits::default(),
            probes: Vec::new(),
            agent_intervals: ConfigUpdate {
                metrics_interval_seconds: 10,
                inventory_interval_seconds: 3600,
                heartbeat_interval_seconds: 30,
            },
        },
    ));
    let server = Server::bind(
        hub,
        tls::server_config(&ca, chain, key, telemetry.clone())?,
        &rand::random(),
    )?;
    let addr = server.local_addr()?;
    tokio::spawn(server.run());

    let points_per_sample = series::flatten(&sample(Timestamp(0), 0)).len() as u64;
    println!(
        "{} agents, {} samples per batch ({} points per sample), window {}, {} s",
        args.agents, args.samples_per_batch, points_per_sample, args.window, args.seconds
    );
    let started = Instant::now();
    let mut configs = Vec::with_capacity(args.agents);
    for i in 0..args.agents {
        let host = format!("bench-{i:05}");
        let (key_pem, csr) = identity::new_key_and_csr(&host)?;
        let id = pki::new_agent_id();
        let certificate_pem = ca.sign_agent_csr(&csr, &id, Duration::from_secs(86_400))?;
        store.add_agent(&AgentRecord {
            id: id.clone(),
            hostname: host,
            certificate_pem: certificate_pem.clone(),
            cert_sha256: [0; 32],
            enrolled_at: Timestamp::now(),
            last_seen: None,
            agent_version: "bench".into(),
            rtt_ms: None,
            lost_packets: 0,
            sent_packets: 0,
            revoked_at: None,
            asset_id: None,
        })?;
        let identity = AgentIdentity {
            agent_id: id,
            certificate_pem,
            key_pem,
            ca_pem: ca.cert_pem().to_owned(),
        };
        configs.push(agent_tls::data_client_config(&identity)?);
    }
    println!(
        "enrolled {} agents in {:.1} s",
        args.agents,
        started.elapsed().as_secs_f64()
    );

    let endpoint = quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let acked_points = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(std::sync::Mutex::new(Vec::<Duration>::new()));
    // Every agent connects and says Hello first; the clock starts when all
    // of them are in (or have given up), so the figure is N agents streaming.
    let ready = Arc::new(AtomicU64::new(0));
    let (go_tx, go) = tokio::sync::watch::channel(None::<Instant>);
    let connect_started = Instant::now();
    let mut tasks = Vec::new();
    for (n, config) in configs.into_iter().enumerate() {
        let endpoint = endpoint.clone();
        let acked_points = acked_points.clone();
        let latencies = latencies.clone();
        let samples = args.samples_per_batch;
        let window = args.window;
        let ready = ready.clone();
        let joined = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let go = go.clone();
        tasks.push(tokio::spawn(async move {
            let result = agent(
                endpoint,
                config,
                addr,
                n as u64,
                samples,
                window,
                points_per_sample,
                Start {
                    ready: ready.clone(),
                    joined: joined.clone(),
                    go: go.clone(),
                },
                acked_points,
                latencies,
            )
            .await;
            if !joined.load(Ordering::Relaxed) {
                // Gave up before connecting: counted in all the same.
                ready.fetch_add(1, Ordering::Relaxed);
            }
            result
        }));
    }
    while ready.load(Ordering::Relaxed) < args.agents as u64 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "all {} agents connected in {:.1} s",
        args.agents,
        connect_started.elapsed().as_secs_f64()
    );
    let measure_from = Instant::now();
    go_tx.send_replace(Some(measure_from + Duration::from_secs(args.seconds)));
    let mut failures = 0;
    for t in tasks {
        if let Err(err) = t.await? {
            failures += 1;
            if failures <= 3 {
                eprintln!("agent failed: {err:#}");
            }
        }
    }
    let elapsed = measure_from.elapsed().as_secs_f64();
    let points = acked_points.load(Ordering::Relaxed);
    let mut lat = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    lat.sort();
    let pct = |p: usize| {
        lat.get((lat.len() * p / 100).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "durable: {points} points in {elapsed:.1} s = {:.0} points/s ({:.0} health samples/s); {failures} agents failed",
        points as f64 / elapsed,
        points as f64 / elapsed / points_per_sample as f64
    );
    println!(
        "send→ack latency (includes the group commit): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms over {} batches",
        pct(50).as_secs_f64() * 1e3,
        pct(99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        lat.len()
    );
    let text = telemetry.render();
    for line in text
        .lines()
        .filter(|l| l.starts_with("atalaya_commit") || l.starts_with("atalaya_commits_total"))
    {
        println!("  {line}");
    }
    let file = std::fs::metadata(dir.path().join("atalaya.redb"))?.len();
    println!(
        "store file: {:.1} MiB, {:.2} bytes per point",
        file as f64 / 1_048_576.0,
        file as f64 / points.max(1) as f64
    );
    Ok(())
}

/// How an agent joins the common start: it counts itself in once
/// connected, then waits for the deadline to be announced.
struct Start {
    ready: Arc<AtomicU64>,
    joined: Arc<std::sync::atomic::AtomicBool>,
    go: tokio::sync::watch::Receiver<Option<Instant>>,
}

#[allow(clippy::too_many_arguments)]
async fn agent(
    endpoint: quinn::Endpoint,
    config: quinn::ClientConfig,
    addr: SocketAddr,
    n: u64,
    samples: usize,
    window: u64,
    points_per_sample: u64,
    start: Start,
    acked_points: Arc<AtomicU64>,
    latencies: Arc<std::sync::Mutex<Vec<Duration>>>,
) -> anyhow::Result<()> {
    // Like a real agent, a connection attempt that fails is retried after a
    // jittered, growing pause (all N connect at once at the start).
    let mut backoff =
        atalaya_agent::uplink::Backoff::new(Duration::from_millis(500), Duration::from_secs(8));
    let connect_by = Instant::now() + Duration::from_secs(120);
    let conn = loop {
        match endpoint
            .connect_with(config.clone(), addr, "localhost")?
            .await
        {
            Ok(conn) => break conn,
            Err(err) if Instant::now() < connect_by => {
                eprintln!("agent {n}: connecting: {err}; retrying");
                tokio::time::sleep(backoff.next_delay()).await;
            }
            Err(err) => return Err(err).context("connecting"),
        }
    };
    let (mut send, mut recv) = conn.open_bi().await?;
    let hello = Hello {
        agent_version: "bench".into(),
        protocol_version: proto::PROTOCOL_VERSION,
        last_acked: 0,
        features: Vec::new(),
    };
    send.write_all(&proto::encode(&hello.into())?).await?;
    // Connected: count in, then wait for the common start.
    start.joined.store(true, Ordering::Relaxed);
    start.ready.fetch_add(1, Ordering::Relaxed);
    let mut go = start.go;
    let deadline = loop {
        if let Some(deadline) = *go.borrow_and_update() {
            break deadline;
        }
        go.changed().await?;
    };
    let mut frames = FrameReader::new();
    let mut buf = vec![0u8; 16 * 1024];
    let mut seq = 0u64;
    let mut acked = 0u64;
    let mut sent_at = std::collections::VecDeque::new();
    // Samples 10 s apart, faster than real time: start far enough back that
    // a whole run stays in the past, where the collector accepts times.
    let base = Timestamp::now().0 - 20 * 86_400_000 + (n as i64 % 10) * 1000;
    let mut local = Vec::new();
    while Instant::now() < deadline || acked < seq {
        while seq - acked < window && Instant::now() < deadline {
            seq += 1;
            let batch: Vec<HealthSample> = (0..samples as u64)
                .map(|k| {
                    let i = (seq - 1) * samples as u64 + k;
                    sample(Timestamp(base + i as i64 * 10_000), i)
                })
                .collect();
            let frame = proto::encode(&Message::MetricBatch(MetricBatch {
                seq,
                samples: batch,
            }))?;
            send.write_all(&frame).await?;
            sent_at.push_back((seq, Instant::now()));
        }
        let Some(read) = recv.read(&mut buf).await? else {
            bail!("collector closed the stream")
        };
        frames.push(&buf[..read]);
        while let Some(message) = frames.next_message()? {
            if let Message::Ack(a) = message {
                while sent_at.front().is_some_and(|(s, _)| *s <= a.seq) {
                    if let Some((_, t)) = sent_at.pop_front() {
                        local.push(t.elapsed());
                    }
                }
                if a.seq > acked {
                    acked_points.fetch_add(
                        (a.seq - acked) * samples as u64 * points_per_sample,
                        Ordering::Relaxed,
                    );
                    acked = a.seq;
                }
            }
        }
    }
    conn.close(0u32.into(), b"done");
    if let Ok(mut l) = latencies.lock() {
        l.extend(local);
    }
    Ok(())
}
