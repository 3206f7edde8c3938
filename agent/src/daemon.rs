//! `atalaya-agent run`: the daemon.
//!
//! A few tasks on one thread: inventory (at start, every period, and when
//! the package database changes), health samples, heartbeats, the polling
//! of the network devices the collector assigns ([`devices`]), network
//! probes ([`probes`]), remote assistance ([`assist`]), and the uplink that carries what they produce to the collector. The first
//! inventory of a run is a full snapshot; after it only deltas are sent,
//! and only when something changed.

pub mod assist;
pub mod devices;
pub mod discovery;
pub mod probes;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use atalaya_common::diff;
use atalaya_common::model::{Inventory, Timestamp};
use atalaya_common::proto::{
    Heartbeat, InventoryDelta, InventorySnapshot, Message, MetricBatch, SpoolDamaged, UserReport,
};
use atalaya_common::token::{EnrollmentToken, TokenFormatError};

use crate::config::AgentConfig;
use crate::enroll::{AddressError, EnrollError};
use crate::error::describe;
use crate::identity::{AgentIdentity, IdentityError};
use crate::metrics::Sampler;
use crate::outbox::{Outbox, OutboxError};
use crate::renewal::CertError;
use crate::root::Root;
use crate::spool::SpoolError;
use crate::tls::TlsError;
use crate::uplink::{self, Credentials, Intervals, Shared, Target};
use crate::{enroll, inventory, reports, tls, watch};

/// How long the package database must be quiet before it is read again.
const SETTLE: Duration = Duration::from_secs(1);

/// Why the agent could not start, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The async runtime could not be started.
    #[error("starting the runtime")]
    Runtime(#[source] io::Error),
    /// There is no identity and nothing to enroll with.
    #[error(
        "this agent is not enrolled: no identity in {} and no token in the configuration; run `atalaya-agent enroll --token TOKEN`",
        state_dir.display()
    )]
    NotEnrolled {
        /// Where the identity was looked for.
        state_dir: PathBuf,
    },
    /// The stored identity cannot be read.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The token in the configuration is not a token.
    #[error("the configured enrollment token")]
    Token(#[source] TokenFormatError),
    /// Enrolling with the configured token failed.
    #[error(transparent)]
    Enroll(#[from] EnrollError),
    /// The configuration names no collector and none was stored at enrollment.
    #[error(
        "no collector address in the configuration and none in {}",
        path.display()
    )]
    NoCollectorAddress {
        /// The file written at enrollment.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: io::Error,
    },
    /// The collector address is unusable.
    #[error(transparent)]
    Address(#[from] AddressError),
    /// No UDP socket for the connection.
    #[error("opening a UDP socket")]
    Socket(#[source] io::Error),
    /// The stored identity does not make a TLS configuration.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The stored certificate cannot be read.
    #[error("{}: unusable certificate; enroll again with a new token", path.display())]
    Certificate {
        /// The certificate file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: CertError,
    },
    /// The spool could not be opened.
    #[error("opening the spool in {}", dir.display())]
    Spool {
        /// The spool directory.
        dir: PathBuf,
        /// What went wrong.
        #[source]
        source: SpoolError,
    },
    /// A record could not be queued.
    #[error("queueing a record for the collector")]
    Queue(#[from] OutboxError),
    /// The inventory task panicked.
    #[error("the inventory task failed")]
    InventoryTask(#[from] tokio::task::JoinError),
}

/// Why `enroll --token` failed.
#[derive(Debug, thiserror::Error)]
pub enum EnrollNowError {
    /// The token given is not a token.
    #[error("the enrollment token")]
    Token(#[source] TokenFormatError),
    /// The async runtime could not be started.
    #[error("starting the runtime")]
    Runtime(#[source] io::Error),
    /// The enrollment itself failed.
    #[error(transparent)]
    Enroll(#[from] EnrollError),
}

/// Runs the agent until it is stopped by a signal.
pub fn run(config: AgentConfig, log_level: Option<LogLevelControl>) -> Result<(), DaemonError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DaemonError::Runtime)?;
    runtime.block_on(run_async(config, log_level))
}

/// Sets the level of the agent's log, for a policy that changes it.
pub type LogLevelControl = Box<dyn Fn(&'static str) + Send + Sync>;

/// Sets the log level whenever the settings in force change it.
async fn follow_log_level(shared: Arc<Shared>, set_level: LogLevelControl) {
    let mut effective = shared.effective();
    let mut current = "";
    loop {
        let level = effective.borrow_and_update().log_level;
        if level != current {
            set_level(level);
            if !current.is_empty() {
                tracing::info!(level, "log level changed");
            }
            current = level;
        }
        if effective.changed().await.is_err() {
            return;
        }
    }
}

/// The identity in the state directory, enrolling first if there is none.
pub async fn identity(config: &AgentConfig, hostname: &str) -> Result<AgentIdentity, DaemonError> {
    if let Some(identity) = AgentIdentity::load(&config.state_dir)? {
        return Ok(identity);
    }
    let token =
        config
            .token
            .as_ref()
            .map(|t| t.0.as_str())
            .ok_or_else(|| DaemonError::NotEnrolled {
                state_dir: config.state_dir.clone(),
            })?;
    let token = EnrollmentToken::decode(token).map_err(DaemonError::Token)?;
    let identity = enroll::enroll(&token, &config.state_dir, hostname).await?;
    tracing::info!(agent = %identity.agent_id, collector = %token.address, "enrolled");
    Ok(identity)
}

/// The collector address: from the configuration, else the one enrolled with.
fn collector_address(config: &AgentConfig) -> Result<String, DaemonError> {
    if let Some(address) = &config.collector_address {
        return Ok(address.clone());
    }
    let path = config.state_dir.join("collector-address");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(source) => return Err(DaemonError::NoCollectorAddress { path, source }),
    };
    Ok(text.trim().to_owned())
}

async fn run_async(
    config: AgentConfig,
    log_level: Option<LogLevelControl>,
) -> Result<(), DaemonError> {
    let root = Root::new(&config.root);
    let hostname = root
        .value("/proc/sys/kernel/hostname")
        .unwrap_or_else(|| "unknown".into());
    let identity = identity(&config, &hostname).await?;
    let address = collector_address(&config)?;
    let (addr, server_name) = enroll::resolve(&address).await?;
    let endpoint = quinn::Endpoint::client(std::net::SocketAddr::from(([0, 0, 0, 0], 0)))
        .map_err(DaemonError::Socket)?;
    // Checked now so that a damaged identity stops the agent with its reason.
    tls::data_client_config(&identity)?;
    let credentials = Credentials::new(
        config.state_dir.clone(),
        identity.clone(),
        config.renew_when_remaining_percent,
    )
    .map_err(|source| DaemonError::Certificate {
        path: config.state_dir.join(crate::identity::CERT_FILE),
        source,
    })?;
    let intervals = Intervals {
        metrics: config.metrics_interval,
        inventory: config.inventory_interval,
        heartbeat: Duration::from_secs(30),
    };
    let spool_dir = config.state_dir.join("spool");
    let (outbox, recovery) =
        Outbox::open(&spool_dir, config.spool_max_bytes).map_err(|source| DaemonError::Spool {
            dir: spool_dir.clone(),
            source,
        })?;
    if recovery.pending > 0 || recovery.truncated_bytes > 0 {
        tracing::info!(
            pending = recovery.pending,
            truncated_bytes = recovery.truncated_bytes,
            "spool recovered"
        );
    }
    let shared = Shared::new(outbox, intervals);
    shared.set_layers(
        crate::policy::Layers::new(config.pinned.clone(), config.probes.plan),
        config.state_dir.clone(),
    );
    if let Some(set_level) = log_level {
        tokio::spawn(follow_log_level(shared.clone(), set_level));
    }
    for q in recovery.quarantined {
        tracing::error!(
            file = %q.file.display(),
            reason = %q.reason,
            kept_records = q.kept_records,
            lost_bytes = q.lost_bytes,
            "damaged spool segment moved aside; its intact records are kept"
        );
        // The collector records it with the asset's gaps.
        shared.send(|seq| {
            Message::SpoolDamaged(SpoolDamaged {
                seq,
                found_at: Timestamp::now(),
                file: q.file.display().to_string(),
                reason: q.reason,
                bytes: q.bytes,
                lost_bytes: q.lost_bytes,
            })
        })?;
    }
    tracing::info!(agent = %identity.agent_id, collector = %address, certificate_expires = %credentials.validity.expires(), "agent running");

    // Subscribed before the uplink starts, so no assignment is missed.
    let assignments = shared.assignments();
    let polling =
        devices::DevicePolling::start(&config.state_dir, config.snmp, shared.clone()).await;
    tokio::spawn(polling.run(assignments));
    if let Some(requests) = shared.take_discoveries() {
        tokio::spawn(discovery::serve(requests, config.snmp, shared.clone()));
    }
    // The health samples of the last hour, kept only for support bundles
    // this machine allows.
    let recent = Arc::new(crate::assist::bundle::Recent::default());
    let keep_recent = config.assist.allows_bundles().then(|| recent.clone());
    if let Some(orders) = shared.take_diagnostics() {
        use crate::assist::verify::{CaKey, Verifier};
        let verifier = match CaKey::from_pem(&identity.ca_pem) {
            Ok(key) => Verifier::new(key, &identity.agent_id),
            Err(e) => {
                tracing::error!(error = %e, "diagnostic orders cannot be checked: every one is refused");
                Verifier::without_key(e.to_string(), &identity.agent_id)
            }
        };
        tokio::spawn(assist::serve(
            orders,
            verifier,
            config.assist.clone(),
            root.clone(),
            crate::assist::bundle::Sources {
                recent: recent.clone(),
                state_dir: config.state_dir.clone(),
            },
            shared.clone(),
        ));
    }
    let probe_targets = shared.probe_targets();
    let host = probes::Host {
        root: root.clone(),
        collector: Some(addr.ip()),
        dns_name: dns_name(&address),
    };
    let probing = probes::Probing::new(&config.state_dir, config.probes, host, shared.clone());
    tokio::spawn(probing.run(probe_targets, shared.effective()));

    let target = Target {
        address: addr,
        server_name,
    };
    tokio::spawn(uplink::run(
        endpoint.clone(),
        target,
        credentials,
        shared.clone(),
    ));
    tokio::spawn(heartbeats(shared.clone()));
    tokio::spawn(user_reports(
        config.reports_dir.clone(),
        root.clone(),
        shared.clone(),
    ));
    tokio::spawn(report_status(config.reports_dir.clone(), shared.clone()));
    tokio::spawn(metrics(
        root.clone(),
        config.top_processes,
        shared.clone(),
        keep_recent,
    ));
    let inventories = tokio::spawn(inventories(
        root,
        config.watch_package_database,
        shared.clone(),
    ));

    tokio::select! {
        _ = shutdown_signal() => tracing::info!("stopping"),
        r = inventories => r??,
    }
    endpoint.close(0u32.into(), b"agent stopping");
    // The close is sent before the process ends, so the collector ends the
    // session now rather than after its idle timeout; a collector out of
    // reach is not waited for long.
    let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
    Ok(())
}

/// The name DNS probes ask for by default: the collector's host name when
/// its address is a name, else none (the root's name servers).
fn dns_name(address: &str) -> String {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.parse::<std::net::IpAddr>().is_ok() || address.parse::<std::net::SocketAddr>().is_ok() {
        String::new()
    } else {
        host.to_owned()
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = ctrl_c.await;
}

async fn inventories(root: Root, watch_db: bool, shared: Arc<Shared>) -> Result<(), DaemonError> {
    let mut intervals = shared.intervals();
    let (_watcher, mut changes) = if watch_db {
        match watch::package_databases(&root, SETTLE) {
            Ok((w, rx)) => (Some(w), Some(rx)),
            Err(err) => {
                tracing::warn!(error = %err, "cannot watch the package database; software changes show at the next period");
                (None, None)
            }
        }
    } else {
        (None, None)
    };
    let mut last: Option<Inventory> = None;
    loop {
        let r = root.clone();
        let (inventory, _) = tokio::task::spawn_blocking(move || inventory::collect(&r)).await?;
        let taken_at = Timestamp::now();
        let wants_snapshot = shared.take_snapshot_request();
        match (&last, wants_snapshot) {
            (Some(previous), false) => {
                let delta = diff::diff(previous, &inventory);
                if !delta.is_empty() {
                    tracing::info!(changes = delta.changes.len(), "inventory changed");
                    shared.send(|seq| {
                        Message::InventoryDelta(InventoryDelta {
                            seq,
                            taken_at,
                            delta,
                        })
                    })?;
                }
            }
            _ => {
                let snapshot = inventory.clone();
                shared.send(|seq| {
                    Message::InventorySnapshot(InventorySnapshot {
                        seq,
                        taken_at,
                        inventory: snapshot,
                    })
                })?;
            }
        }
        last = Some(inventory);
        let taken = tokio::time::Instant::now();
        loop {
            let period = intervals.borrow_and_update().inventory;
            let changed = async {
                match changes.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            // A new period from the collector counts from the last
            // inventory: the first one is taken before the collector has
            // said its period, and must not wait out the configured one.
            tokio::select! {
                _ = tokio::time::sleep_until(taken + period) => break,
                _ = changed => {
                    tracing::info!("package database changed");
                    break;
                }
                _ = snapshot_asked(&shared) => break,
                Ok(()) = intervals.changed() => {}
            }
        }
    }
}

/// Resolves soon after the collector asked for a snapshot.
async fn snapshot_asked(shared: &Shared) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if shared.snapshot_pending() {
            return;
        }
    }
}

async fn metrics(
    root: Root,
    top: usize,
    shared: Arc<Shared>,
    recent: Option<Arc<crate::assist::bundle::Recent>>,
) {
    let mut intervals = shared.intervals();
    let mut sampler = Sampler::with_top(root, top);
    sampler.sample();
    loop {
        let period = intervals.borrow_and_update().metrics;
        tokio::time::sleep(period).await;
        let sample = sampler.sample();
        if let Some(recent) = &recent {
            recent.push(sample.clone());
        }
        if let Err(err) = shared.send(|seq| {
            Message::MetricBatch(MetricBatch {
                seq,
                samples: vec![sample],
            })
        }) {
            tracing::error!(error = %describe(&err), "dropping a health sample");
        }
    }
}

async fn heartbeats(shared: Arc<Shared>) {
    let mut intervals = shared.intervals();
    loop {
        let period = intervals.borrow_and_update().heartbeat;
        tokio::time::sleep(period).await;
        let _ = shared.send(|seq| {
            Message::Heartbeat(Heartbeat {
                seq,
                at: Timestamp::now(),
            })
        });
    }
}

/// How often the report folder is looked at when no change was noticed
/// (a missed file-system event costs at most this long).
const REPORTS_RESCAN: Duration = Duration::from_secs(60);

/// Takes the reports people leave with `atalaya-agent report` into the
/// spool; a report file is removed only once its record is on disk.
async fn user_reports(dir: PathBuf, root: Root, shared: Arc<Shared>) {
    if let Err(err) = reports::prepare(&dir) {
        tracing::warn!(folder = %dir.display(), error = %err, "cannot make the report folder; `atalaya-agent report` will not work");
        return;
    }
    let (_watcher, mut changed) = match watch::directory(&dir) {
        Ok((w, rx)) => (Some(w), Some(rx)),
        Err(err) => {
            tracing::warn!(folder = %dir.display(), error = %err, "cannot watch the report folder; it is read every minute");
            (None, None)
        }
    };
    loop {
        let (d, r) = (dir.clone(), root.clone());
        let pass = match tokio::task::spawn_blocking(move || reports::take(&d, &r)).await {
            Ok(Ok(pass)) => pass,
            Ok(Err(err)) => {
                tracing::warn!(folder = %dir.display(), error = %err, "reading the report folder");
                reports::Pass::default()
            }
            Err(err) => {
                tracing::error!(error = %err, "the report task failed");
                reports::Pass::default()
            }
        };
        for (file, reason) in &pass.rejected {
            tracing::warn!(file = %file.display(), %reason, "not a user report; moved to {}", reports::REJECTED);
        }
        let full = pass.reports.len() == reports::MAX_PER_PASS;
        for report in pass.reports {
            let sent = shared.send(|seq| {
                Message::UserReport(UserReport {
                    seq,
                    id: report.id.clone(),
                    written_at: report.written_at,
                    text: report.text.clone(),
                    user: report.user.clone(),
                    uid: Some(report.uid),
                })
            });
            match sent {
                Ok(seq) => {
                    tracing::info!(report = %report.id, user = ?report.user, seq, "user report spooled");
                    if let Err(err) = std::fs::remove_file(&report.file) {
                        tracing::warn!(file = %report.file.display(), error = %err, "cannot remove a spooled report; it will be sent again");
                    }
                }
                Err(err) => {
                    tracing::error!(report = %report.id, error = %describe(&err), "cannot spool a user report; trying again later");
                    break;
                }
            }
        }
        if full {
            continue;
        }
        let wake = async {
            match changed.as_mut() {
                Some(rx) => {
                    rx.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = wake => {}
            _ = tokio::time::sleep(REPORTS_RESCAN) => {}
        }
    }
}

/// Files what the collector says became of this machine's user reports,
/// each account's where only it can read them (`atalaya-agent reports`).
async fn report_status(dir: PathBuf, shared: Arc<Shared>) {
    let mut lists = shared.report_status();
    while lists.changed().await.is_ok() {
        let Some(reports) = lists.borrow_and_update().clone() else {
            continue;
        };
        let d = dir.clone();
        let filed = tokio::task::spawn_blocking(move || {
            reports::status::file(&d, &reports, Timestamp::now())
        })
        .await;
        match filed {
            Ok(Ok(filed)) => {
                for (uid, reason) in &filed.failed {
                    tracing::warn!(uid, %reason, "cannot file the status of an account's reports");
                }
                tracing::debug!(
                    written = filed.written,
                    removed = filed.removed,
                    "report status filed"
                );
            }
            Ok(Err(err)) => {
                tracing::warn!(folder = %dir.display(), error = %describe(&err), "cannot file the status of the user reports");
            }
            Err(err) => tracing::error!(error = %err, "the report status task failed"),
        }
    }
}

/// Used by `enroll --token`: enroll now, print who we are.
pub fn enroll_now(
    config: &AgentConfig,
    token: &str,
    state_dir: &Path,
) -> Result<AgentIdentity, EnrollNowError> {
    let token = EnrollmentToken::decode(token).map_err(EnrollNowError::Token)?;
    let root = Root::new(&config.root);
    let hostname = root
        .value("/proc/sys/kernel/hostname")
        .unwrap_or_else(|| "unknown".into());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(EnrollNowError::Runtime)?;
    Ok(runtime.block_on(enroll::enroll(&token, state_dir, &hostname))?)
}

/// A fresh in-memory outbox behind the uplink's shared state, for the
/// roles' tests.
#[cfg(test)]
fn test_shared() -> Arc<Shared> {
    let secs = Duration::from_secs;
    Shared::new(
        crate::outbox::Outbox::new(0),
        Intervals {
            metrics: secs(10),
            inventory: secs(3600),
            heartbeat: secs(30),
        },
    )
}
