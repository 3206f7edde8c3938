//! An agent that sends numbered records instead of measuring a host.
//!
//! It runs the agent's real delivery path — enrollment with a token,
//! mutual-TLS QUIC, the on-disk spool, the reconnecting uplink — and feeds
//! it samples whose values are their own serial numbers and inventory
//! deltas that each add one named package. Because it remembers everything
//! it generated, a test can check the store against it exactly: every
//! sample once (count and checksum), every change once.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)] // a failed unwrap is a failed test

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atalaya_agent::enroll;
use atalaya_agent::outbox::Outbox;
use atalaya_agent::uplink::{self, Credentials, Intervals, Shared, Target};
use atalaya_common::diff;
use atalaya_common::model::{HealthSample, Inventory, MemoryUsage, Package, Timestamp};
use atalaya_common::proto::{InventoryDelta, InventorySnapshot, Message, MetricBatch};
use atalaya_common::token::EnrollmentToken;

use crate::harness::Collector;

/// The series the numbered samples land in.
pub const SERIES: &str = "memory.used_bytes";

/// What a [`NumberedAgent`] generated, to compare with the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Generated {
    /// Samples generated.
    pub samples: u64,
    /// Sum of their values (their serial numbers).
    pub value_sum: u64,
    /// Sum of their timestamps, ms.
    pub time_sum: i64,
}

impl Generated {
    /// The same figures over stored `(time, value)` points.
    pub fn of_points(points: &[(i64, f64)]) -> Self {
        Generated {
            samples: points.len() as u64,
            value_sum: points.iter().map(|p| p.1 as u64).sum(),
            time_sum: points.iter().map(|p| p.0).sum(),
        }
    }
}

/// A synthetic agent streaming numbered records through the real uplink.
#[derive(Debug)]
pub struct NumberedAgent {
    /// The name it enrolled with (its asset's hostname).
    pub name: String,
    /// Its agent id.
    pub agent_id: String,
    shared: Arc<Shared>,
    endpoint: quinn::Endpoint,
    inventory: Inventory,
    /// Time of the first sample, ms; sample `n` is taken at `start + n`.
    start: i64,
    /// What it generated so far.
    pub generated: Generated,
    /// Packages it added, one inventory delta each.
    pub packages: Vec<String>,
    /// Highest sequence handed to the spool.
    pub last_seq: u64,
}

impl NumberedAgent {
    /// Enrolls with `token` and starts delivering from a spool in `dir`.
    /// `via` replaces the collector address for data connections (a relay
    /// in front of the collector).
    pub async fn start(dir: &Path, name: &str, token: &str, via: Option<SocketAddr>) -> Self {
        Self::start_with_spool(dir, name, token, via, 64 << 20).await
    }

    /// As [`Self::start`], with a spool bounded to `spool_max_bytes`.
    pub async fn start_with_spool(
        dir: &Path,
        name: &str,
        token: &str,
        via: Option<SocketAddr>,
        spool_max_bytes: u64,
    ) -> Self {
        let spool = dir.join(name).join("spool");
        let (outbox, _) = Outbox::open(&spool, spool_max_bytes).unwrap();
        Self::start_with_outbox(dir, name, token, via, outbox).await
    }

    /// As [`Self::start`], keeping its records in memory: no spool file
    /// and no fsync per record, for benches with thousands of agents.
    pub async fn start_in_memory(dir: &Path, name: &str, token: &str) -> Self {
        Self::start_with_outbox(dir, name, token, None, Outbox::new(0)).await
    }

    async fn start_with_outbox(
        dir: &Path,
        name: &str,
        token: &str,
        via: Option<SocketAddr>,
        outbox: Outbox,
    ) -> Self {
        let state = dir.join(name);
        let token = EnrollmentToken::decode(token).unwrap();
        let identity = enroll::enroll(&token, &state, name).await.unwrap();
        let (enrolled_at, server_name) = enroll::resolve(&token.address).await.unwrap();
        let endpoint = quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
        let credentials = Credentials::new(state.clone(), identity.clone(), 33).unwrap();
        let shared = Shared::new(
            outbox,
            Intervals {
                metrics: Duration::from_secs(1),
                inventory: Duration::from_secs(3600),
                heartbeat: Duration::from_secs(1),
            },
        );
        let target = Target {
            address: via.unwrap_or(enrolled_at),
            server_name,
        };
        tokio::spawn(uplink::run(
            endpoint.clone(),
            target,
            credentials,
            shared.clone(),
        ));

        let mut inventory = Inventory::default();
        inventory.host.hostname = name.to_owned();
        let start = Timestamp::now().0 - 3_000_000;
        let mut agent = NumberedAgent {
            name: name.to_owned(),
            agent_id: identity.agent_id.clone(),
            shared,
            endpoint,
            inventory,
            start,
            generated: Generated::default(),
            packages: Vec::new(),
            last_seq: 0,
        };
        let snapshot = agent.inventory.clone();
        agent.last_seq = agent
            .shared
            .send(|seq| {
                Message::InventorySnapshot(InventorySnapshot {
                    seq,
                    taken_at: Timestamp::now(),
                    inventory: snapshot,
                })
            })
            .unwrap();
        agent
    }

    /// Spools one metric batch of `count` numbered samples.
    pub fn push_batch(&mut self, count: u64) {
        let first = self.generated.samples;
        let samples: Vec<HealthSample> = (first..first + count)
            .map(|n| HealthSample {
                at: Timestamp(self.start + n as i64),
                interval_ms: 1,
                memory: MemoryUsage {
                    used_bytes: n,
                    ..MemoryUsage::default()
                },
                ..HealthSample::default()
            })
            .collect();
        for s in &samples {
            self.generated.samples += 1;
            self.generated.value_sum += s.memory.used_bytes;
            self.generated.time_sum += s.at.0;
        }
        self.last_seq = self
            .shared
            .send(|seq| Message::MetricBatch(MetricBatch { seq, samples }))
            .unwrap();
    }

    /// Spools one metric batch of chosen samples (a series a test shapes,
    /// e.g. one crossing a rule's threshold). They are not counted in
    /// [`Self::generated`], so [`Self::check_stored`] is for agents that
    /// only send numbered batches.
    pub fn push_samples(&mut self, samples: Vec<HealthSample>) {
        self.last_seq = self
            .shared
            .send(|seq| Message::MetricBatch(MetricBatch { seq, samples }))
            .unwrap();
    }

    /// Spools any record the agent could send (a heartbeat, a user
    /// report), built around the sequence number it gets.
    pub fn push_message(&mut self, build: impl FnOnce(u64) -> Message) {
        self.last_seq = self.shared.send(build).unwrap();
    }

    /// Spools an inventory delta that installs one more package.
    pub fn push_package(&mut self) {
        let name = format!("{}-pkg-{}", self.name, self.packages.len());
        let before = self.inventory.clone();
        self.inventory.software.packages.push(Package {
            name: name.clone(),
            version: "1.0".into(),
            arch: None,
            vendor: None,
            installed_at: None,
            size_bytes: None,
            source: None,
        });
        let delta = diff::diff(&before, &self.inventory);
        self.last_seq = self
            .shared
            .send(|seq| {
                Message::InventoryDelta(InventoryDelta {
                    seq,
                    taken_at: Timestamp::now(),
                    delta,
                })
            })
            .unwrap();
        self.packages.push(name);
    }

    /// Compares the store with what this agent generated: every sample
    /// exactly once (count, value and time checksums) and every package it
    /// installed in one change event and in the current inventory. Returns
    /// the samples stored, or what is wrong.
    pub fn check_stored(&self, collector: &Collector) -> Result<u64, String> {
        let asset = collector.asset_named(&self.name);
        let points = collector.points(&asset, SERIES);
        let mut times: Vec<i64> = points.iter().map(|p| p.0).collect();
        times.dedup();
        if times.len() != points.len() {
            return Err(format!(
                "{}: {} samples stored more than once",
                self.name,
                points.len() - times.len()
            ));
        }
        let stored = Generated::of_points(&points);
        if stored != self.generated {
            return Err(format!(
                "{}: stored {stored:?}, generated {:?}",
                self.name, self.generated
            ));
        }
        self.check_changes(collector, &asset)?;
        Ok(stored.samples)
    }

    /// Every package this agent installed is in exactly one change event of
    /// `asset` and in its current inventory.
    pub fn check_changes(&self, collector: &Collector, asset: &str) -> Result<(), String> {
        let changes = collector.changes_text(asset);
        let (_, now) = collector.get(
            &format!("/api/v1/assets/{asset}/inventory"),
            Some(&collector.admin),
        );
        let installed = now["inventory"]["software"]["packages"].to_string();
        for package in &self.packages {
            let quoted = format!("\"{package}\"");
            let seen = changes.matches(&quoted).count();
            if seen != 1 {
                return Err(format!("{package} appears {seen} times in the changes"));
            }
            if !installed.contains(&quoted) {
                return Err(format!("{package} is missing from the inventory"));
            }
        }
        Ok(())
    }

    /// Moves the agent to a new local address (a new UDP port), as a
    /// laptop changing networks would; the open connection migrates.
    pub fn change_address(&self) {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        self.endpoint.rebind(socket).unwrap();
    }

    /// Highest sequence the collector acknowledged.
    pub fn acked(&self) -> u64 {
        self.shared.outbox().acked()
    }

    /// True while a session with the collector is up.
    pub fn is_connected(&self) -> bool {
        self.shared.is_connected()
    }

    /// Waits until everything spooled is acknowledged.
    pub async fn drained(&self, limit: Duration) {
        let give_up = tokio::time::Instant::now() + limit;
        while self.acked() < self.last_seq {
            assert!(
                tokio::time::Instant::now() < give_up,
                "{}: acked {} of {} after {limit:?}",
                self.name,
                self.acked(),
                self.last_seq
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A health sample taken `at` whose only content is memory
/// `used_percent` full (of 1 GiB), the series `memory.used_percent` that
/// memory rules watch.
pub fn memory_sample(at: Timestamp, used_percent: f64) -> HealthSample {
    const TOTAL: u64 = 1 << 30;
    let used = (TOTAL as f64 * used_percent / 100.0).round() as u64;
    let used = used.min(TOTAL);
    HealthSample {
        at,
        interval_ms: 1000,
        memory: MemoryUsage {
            total_bytes: TOTAL,
            available_bytes: TOTAL - used,
            used_bytes: used,
            ..MemoryUsage::default()
        },
        ..HealthSample::default()
    }
}

/// Streams from `agent` until `stop`: `batch` samples every `pace`, and an
/// inventory change every `change_every` batches (0: none).
pub async fn produce(
    agent: Arc<Mutex<NumberedAgent>>,
    stop: Arc<AtomicBool>,
    batch: u64,
    pace: Duration,
    change_every: u64,
) {
    let mut batches = 0u64;
    while !stop.load(Ordering::Acquire) {
        {
            let mut agent = agent.lock().unwrap_or_else(|e| e.into_inner());
            agent.push_batch(batch);
            batches += 1;
            if change_every > 0 && batches.is_multiple_of(change_every) {
                agent.push_package();
            }
        }
        tokio::time::sleep(pace).await;
    }
}

/// Starts a [`produce`] task on `rt` for each of `agents`, all stopped by `stop`.
pub fn produce_all(
    rt: &tokio::runtime::Runtime,
    agents: &[Arc<Mutex<NumberedAgent>>],
    stop: &Arc<AtomicBool>,
    batch: u64,
    pace: Duration,
    change_every: u64,
) -> Vec<tokio::task::JoinHandle<()>> {
    agents
        .iter()
        .map(|agent| {
            rt.spawn(produce(
                agent.clone(),
                stop.clone(),
                batch,
                pace,
                change_every,
            ))
        })
        .collect()
}

/// Enrolls and starts one agent per `(name, relay)` in `dir`, each shared
/// with a producer task and the test.
pub async fn start_shared(
    dir: &Path,
    token: &str,
    fleet: Vec<(String, Option<SocketAddr>)>,
) -> Vec<Arc<Mutex<NumberedAgent>>> {
    let mut agents = Vec::new();
    for (name, via) in fleet {
        let agent = NumberedAgent::start(dir, &name, token, via).await;
        agents.push(Arc::new(Mutex::new(agent)));
    }
    agents
}
