//! The QUIC client: keeps one connection to the collector, sends what the
//! outbox holds, and takes acknowledgements, settings and requests back.
//!
//! One bidirectional stream per connection carries the session: `Hello`,
//! then records in sequence order; the collector answers on the same
//! stream. When the connection breaks, the uplink waits (exponential
//! backoff with full jitter, so a fleet does not reconnect in one wave) and
//! starts again from the last acknowledged sequence.
//!
//! The session also keeps the agent's certificate alive: when the time
//! [`renewal`] chose has come, the uplink makes a new key, asks for a
//! certificate on the open connection, checks and stores what comes back
//! (old pair valid until the new one is on disk), and reconnects with it at
//! once. An expired certificate is never offered: the uplink logs why and
//! what to do, and waits for a new enrollment in the state directory.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use atalaya_common::model::{DeviceSpec, ProbeTarget};
use atalaya_common::policy as policy_settings;
use atalaya_common::proto::{
    self, AgentPolicy, ConfigUpdate, DecodeError, DiscoveryRequest, EncodeError, FrameReader,
    Hello, Message, PolicyState, RenewRequest, ReportState,
};
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;

use crate::error::describe;
use crate::identity::AgentIdentity;
use crate::outbox::{Outbox, OutboxError};
use crate::policy::{self, Effective, Layers};
use crate::renewal::{self, Pending, Validity};
use crate::tls::{self, TlsError};

/// How often an agent with an expired certificate looks for a new identity
/// in its state directory.
const IDENTITY_RECHECK: Duration = Duration::from_secs(30);

/// Settings the collector may change at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intervals {
    /// Between health samples.
    pub metrics: Duration,
    /// Between full re-inventories.
    pub inventory: Duration,
    /// Between heartbeats.
    pub heartbeat: Duration,
}

/// Records sent but not yet acknowledged, at most. Beyond it the writer
/// waits for acks: what sits in the spool can still be shed if it fills,
/// what was sent cannot (it may have arrived).
pub const IN_FLIGHT: u64 = 256;

/// Requests from the collector that one task of the daemon works through
/// (discoveries, diagnostic orders): queued as they come, until that task
/// takes the queue.
#[derive(Debug)]
struct Inbox<T> {
    tx: mpsc::UnboundedSender<T>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<T>>>,
}

impl<T> Default for Inbox<T> {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            tx,
            rx: Mutex::new(Some(rx)),
        }
    }
}

impl<T> Inbox<T> {
    /// A request came.
    fn deliver(&self, request: T) {
        // Fails only once nobody takes them any more.
        let _ = self.tx.send(request);
    }

    /// The queue; `None` after the first call.
    fn take(&self) -> Option<mpsc::UnboundedReceiver<T>> {
        self.rx.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// What the uplink and the producers of records share.
#[derive(Debug)]
pub struct Shared {
    outbox: Mutex<Outbox>,
    wake: Notify,
    snapshot_wanted: AtomicBool,
    connected: AtomicBool,
    intervals: watch::Sender<Intervals>,
    /// The last device list the collector assigned; `None` until one came.
    devices: watch::Sender<Option<Vec<DeviceSpec>>>,
    /// Discoveries the collector asked for.
    discoveries: Inbox<DiscoveryRequest>,
    /// The last probe target list the collector pushed; `None` until one came.
    probe_targets: watch::Sender<Option<Vec<ProbeTarget>>>,
    /// The last status of this machine's user reports; `None` until one came.
    report_status: watch::Sender<Option<Vec<ReportState>>>,
    /// Diagnostic orders from the help desk, for [`crate::assist`].
    diagnostics: Inbox<proto::DiagRequest>,
    /// The settings' layers (the file, the pushed policy, the collector's
    /// intervals) and where the pushed policy is kept.
    layers: Mutex<(Layers, Option<PathBuf>)>,
    /// The settings in force, which the agent's tasks follow.
    effective: watch::Sender<Effective>,
}

impl Shared {
    /// Shared state around an outbox, with the configured intervals.
    pub fn new(outbox: Outbox, intervals: Intervals) -> Arc<Self> {
        let layers = Layers::new(
            policy_settings::Settings::default(),
            crate::probes::Plan::DEFAULT,
        );
        let effective = layers.effective();
        Arc::new(Self {
            layers: Mutex::new((layers, None)),
            effective: watch::Sender::new(effective),
            discoveries: Inbox::default(),
            outbox: Mutex::new(outbox),
            wake: Notify::new(),
            snapshot_wanted: AtomicBool::new(false),
            connected: AtomicBool::new(false),
            intervals: watch::Sender::new(intervals),
            devices: watch::Sender::new(None),
            probe_targets: watch::Sender::new(None),
            report_status: watch::Sender::new(None),
            diagnostics: Inbox::default(),
        })
    }

    /// The outbox, locked. A poisoned lock only means another task
    /// panicked while holding it; the queue itself stays consistent.
    pub fn outbox(&self) -> MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a record and wakes the sender.
    pub fn send(&self, build: impl FnOnce(u64) -> Message) -> Result<u64, OutboxError> {
        let seq = self.outbox().push(build)?;
        self.wake.notify_one();
        Ok(seq)
    }

    /// True once after the collector asked for a full inventory.
    pub fn take_snapshot_request(&self) -> bool {
        self.snapshot_wanted.swap(false, Ordering::AcqRel)
    }

    /// Whether the collector asked for a full inventory not yet taken.
    pub fn snapshot_pending(&self) -> bool {
        self.snapshot_wanted.load(Ordering::Acquire)
    }

    /// Whether a session is up now.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// Follows the intervals the collector sets.
    pub fn intervals(&self) -> watch::Receiver<Intervals> {
        self.intervals.subscribe()
    }

    /// Follows the device lists the collector assigns.
    pub fn assignments(&self) -> watch::Receiver<Option<Vec<DeviceSpec>>> {
        self.devices.subscribe()
    }

    /// The collector assigned `devices` to this agent (the whole list).
    pub fn assign_devices(&self, devices: Vec<DeviceSpec>) {
        self.devices.send_replace(Some(devices));
    }

    /// The collector asked for a discovery.
    pub fn request_discovery(&self, request: DiscoveryRequest) {
        self.discoveries.deliver(request);
    }

    /// The discoveries the collector asks for; `None` after the first call.
    pub fn take_discoveries(&self) -> Option<mpsc::UnboundedReceiver<DiscoveryRequest>> {
        self.discoveries.take()
    }

    /// Follows the probe target lists the collector pushes.
    pub fn probe_targets(&self) -> watch::Receiver<Option<Vec<ProbeTarget>>> {
        self.probe_targets.subscribe()
    }

    /// The collector pushed `targets` to this agent (the whole list).
    pub fn push_probe_targets(&self, targets: Vec<ProbeTarget>) {
        self.probe_targets.send_replace(Some(targets));
    }

    /// Runs with the layers of this agent's file, and keeps pushed
    /// policies in `state_dir`; the policy kept there from an earlier run
    /// is applied at once.
    pub fn set_layers(&self, mut layers: Layers, state_dir: PathBuf) {
        match policy::load(&state_dir) {
            Ok(Some(kept)) => {
                tracing::info!(policies = %names(&kept.policies), "running the agent policy kept from the last run");
                layers.set_central(kept);
            }
            Ok(None) => {}
            Err(err) => {
                tracing::error!(error = %describe(&err), "starting without the kept agent policy");
            }
        }
        *self.lock_layers() = (layers, Some(state_dir));
        self.apply();
    }

    fn lock_layers(&self) -> MutexGuard<'_, (Layers, Option<PathBuf>)> {
        self.layers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Follows the settings in force.
    pub fn effective(&self) -> watch::Receiver<Effective> {
        self.effective.subscribe()
    }

    /// The collector sent its general intervals.
    pub fn take_config_update(&self, update: &ConfigUpdate) {
        self.lock_layers().0.set_fleet(update);
        let heartbeat = Duration::from_secs(u64::from(update.heartbeat_interval_seconds.max(1)));
        self.intervals.send_if_modified(|i| {
            let changed = i.heartbeat != heartbeat;
            i.heartbeat = heartbeat;
            changed
        });
        self.apply();
    }

    /// The collector pushed `pushed`: kept on disk, applied; what to tell
    /// the collector back.
    pub fn take_policy(&self, pushed: AgentPolicy) -> PolicyState {
        let state = {
            let mut guard = self.lock_layers();
            if let Some(dir) = &guard.1
                && guard.0.central() != Some(&pushed)
                && let Err(err) = policy::save(dir, &pushed)
            {
                // Running it matters more; a restart would run the old one.
                tracing::error!(error = %describe(&err), "cannot keep the agent policy on disk");
            }
            guard.0.set_central(pushed);
            guard.0.state()
        };
        self.apply();
        tracing::info!(
            policies = %names(&state.policies),
            pinned = state.pinned.len(),
            refused = state.refused.len(),
            "agent policy from the collector applied"
        );
        for (key, reason) in &state.refused {
            tracing::warn!(key = %key, %reason, "a key of the agent policy is refused");
        }
        state
    }

    /// Puts the layers' settings in force.
    fn apply(&self) {
        let effective = self.lock_layers().0.effective();
        self.intervals.send_if_modified(|i| {
            let next = Intervals {
                metrics: effective.metrics_interval,
                inventory: effective.inventory_interval,
                heartbeat: i.heartbeat,
            };
            let changed = *i != next;
            *i = next;
            changed
        });
        // Only a change moves the spool's limit: the outbox was opened with
        // the file's (or a test's) own.
        if self.effective.borrow().spool_max_bytes != effective.spool_max_bytes {
            self.outbox().set_limit(effective.spool_max_bytes);
        }
        self.effective.send_if_modified(|e| {
            let changed = *e != effective;
            *e = effective;
            changed
        });
    }

    /// Follows the status lists of this machine's user reports.
    pub fn report_status(&self) -> watch::Receiver<Option<Vec<ReportState>>> {
        self.report_status.subscribe()
    }

    /// Diagnostic orders from the help desk; `None` after the first call.
    pub fn take_diagnostics(&self) -> Option<mpsc::UnboundedReceiver<proto::DiagRequest>> {
        self.diagnostics.take()
    }

    /// The collector sent the status of this machine's reports (the whole list).
    pub fn push_report_status(&self, reports: Vec<ReportState>) {
        self.report_status.send_replace(Some(reports));
    }
}

/// Exponential backoff with full jitter: the n-th wait is uniform in
/// `[0, min(cap, base · 2^n)]`.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    /// Starts at `base`, never above `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap,
            attempt: 0,
        }
    }

    /// The next wait, drawn with `unit` in `[0, 1)`.
    pub fn next_with(&mut self, unit: f64) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX))
            .min(self.cap);
        self.attempt = self.attempt.saturating_add(1);
        ceiling.mul_f64(unit.clamp(0.0, 1.0))
    }

    /// The next wait, randomly drawn.
    pub fn next_delay(&mut self) -> Duration {
        self.next_with(rand::random::<f64>())
    }

    /// After a session that worked, start small again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// Where to connect.
#[derive(Debug, Clone)]
pub struct Target {
    /// Collector address.
    pub address: SocketAddr,
    /// Name the collector's certificate must carry.
    pub server_name: String,
}

/// The agent's identity as the uplink uses it, and when to renew it.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// Where the identity is kept; a renewed one is written there.
    pub state_dir: PathBuf,
    /// Key, certificate and collector CA.
    pub identity: AgentIdentity,
    /// The certificate's validity.
    pub validity: Validity,
    /// Renew when less than this share of the certificate's life is left, percent.
    pub renew_percent: u8,
    /// Where in the renewal window this certificate is renewed, in `[0, 1)`.
    jitter: f64,
}

impl Credentials {
    /// Credentials for `identity`, read from its certificate.
    pub fn new(
        state_dir: PathBuf,
        identity: AgentIdentity,
        renew_percent: u8,
    ) -> Result<Self, renewal::CertError> {
        let validity = Validity::of_pem(&identity.certificate_pem)?;
        Ok(Self {
            state_dir,
            identity,
            validity,
            renew_percent,
            jitter: rand::random(),
        })
    }

    /// What to do about the certificate at `now`.
    pub fn plan(&self, now: SystemTime) -> renewal::Plan {
        renewal::plan(&self.validity, now, self.renew_percent, self.jitter)
    }
}

/// Why a session with the collector ended.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The stored identity does not make a TLS configuration.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The connection could not even be started (e.g. an unusable name).
    #[error("connecting to {address}")]
    Start {
        /// The collector.
        address: SocketAddr,
        /// What QUIC said.
        #[source]
        source: quinn::ConnectError,
    },
    /// The collector turned this agent's certificate away during the TLS
    /// handshake; reconnecting will not help until the agent is enrolled again.
    #[error("{address}: {explanation}")]
    CertificateRefused {
        /// The collector.
        address: SocketAddr,
        /// What the refusal most likely means, and what to do.
        explanation: &'static str,
        /// What QUIC said.
        #[source]
        source: quinn::ConnectionError,
    },
    /// The collector could not be reached, or the connection broke.
    #[error("connection to {address}")]
    Connection {
        /// The collector.
        address: SocketAddr,
        /// What QUIC said.
        #[source]
        source: quinn::ConnectionError,
    },
    /// A record or request could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// Sending on the session stream failed.
    #[error("sending to {address}")]
    Write {
        /// The collector.
        address: SocketAddr,
        /// What QUIC said.
        #[source]
        source: quinn::WriteError,
    },
    /// Reading the session stream failed.
    #[error("reading from {address}")]
    Read {
        /// The collector.
        address: SocketAddr,
        /// What QUIC said.
        #[source]
        source: quinn::ReadError,
    },
    /// The collector ended the session stream.
    #[error("the collector closed the session")]
    Closed,
    /// The collector sent bytes that are not a valid frame.
    #[error("the collector broke the protocol")]
    Protocol(#[source] DecodeError),
    /// The collector refused this agent, and said why.
    #[error("the collector refused this agent: {reason}")]
    Refused {
        /// The collector's sentence.
        reason: String,
    },
}

impl SessionError {
    /// A lost connection, told apart from a refused certificate.
    fn lost(address: SocketAddr, source: quinn::ConnectionError) -> Self {
        match tls::explain_refusal(&source) {
            Some(explanation) => SessionError::CertificateRefused {
                address,
                explanation,
                source,
            },
            None => SessionError::Connection { address, source },
        }
    }

    fn read(address: SocketAddr, source: quinn::ReadError) -> Self {
        match source {
            quinn::ReadError::ConnectionLost(lost) => Self::lost(address, lost),
            source => SessionError::Read { address, source },
        }
    }

    fn write(address: SocketAddr, source: quinn::WriteError) -> Self {
        match source {
            quinn::WriteError::ConnectionLost(lost) => Self::lost(address, lost),
            source => SessionError::Write { address, source },
        }
    }

    /// Whether the agent cannot get in until someone acts (enrolls it
    /// again, or lifts a revocation), as opposed to a network hiccup.
    pub fn needs_attention(&self) -> bool {
        matches!(
            self,
            SessionError::CertificateRefused { .. }
                | SessionError::Refused { .. }
                | SessionError::Tls(_)
        )
    }
}

/// The renewal state that outlives one session: a request left unanswered
/// by a lost connection is retried later, not at every reconnection.
#[derive(Debug, Default)]
struct Renewing {
    /// A request sent and not answered yet.
    pending: Option<Pending>,
    /// Not before this time again (after a refusal or a lost answer).
    not_before: Option<Instant>,
}

impl Renewing {
    /// Gives up the pending request and waits `retry` before the next.
    fn retry_later(&mut self, retry: Duration) {
        self.pending = None;
        self.not_before = Some(Instant::now() + retry);
    }
}

/// Keeps a session with the collector up for ever.
pub async fn run(
    endpoint: quinn::Endpoint,
    target: Target,
    mut credentials: Credentials,
    shared: Arc<Shared>,
) {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(60));
    let renewing = Mutex::new(Renewing::default());
    loop {
        if let renewal::Plan::Expired(at) = credentials.plan(SystemTime::now()) {
            shared.connected.store(false, Ordering::Release);
            tracing::error!("{}", renewal::expired_message(at));
            credentials = wait_for_identity(credentials).await;
            *lock(&renewing) = Renewing::default();
            backoff.reset();
            continue;
        }
        let outcome = session(&endpoint, &target, &credentials, &shared, &renewing).await;
        // A session that came up starts the backoff afresh.
        if shared.connected.swap(false, Ordering::AcqRel) {
            backoff.reset();
        }
        {
            let mut renewing = lock(&renewing);
            if renewing.pending.is_some() {
                let retry = renewal::retry_after(&credentials.validity, SystemTime::now());
                tracing::warn!(
                    retry_seconds = retry.as_secs(),
                    "the connection ended before the certificate renewal was answered"
                );
                renewing.retry_later(retry);
            }
        }
        match outcome {
            Ok(renewed) => {
                credentials = renewed;
                *lock(&renewing) = Renewing::default();
                continue;
            }
            Err(err) if err.needs_attention() => {
                tracing::error!(collector = %target.address, error = %describe(&err), "the collector does not let this agent in");
            }
            Err(err) => {
                tracing::warn!(collector = %target.address, error = %describe(&err), "connection to the collector lost");
            }
        }
        let wait = backoff.next_delay();
        tracing::info!(seconds = wait.as_secs_f64(), "reconnecting after a pause");
        tokio::time::sleep(wait).await;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// `name v3, other v1`, for logs.
fn names(policies: &[(String, u64)]) -> String {
    if policies.is_empty() {
        return "none".to_owned();
    }
    let shown: Vec<String> = policies.iter().map(|(n, v)| format!("{n} v{v}")).collect();
    shown.join(", ")
}

/// Waits until the state directory holds an identity whose certificate is
/// valid (the agent was enrolled again), without touching the network.
async fn wait_for_identity(expired: Credentials) -> Credentials {
    loop {
        tokio::time::sleep(IDENTITY_RECHECK).await;
        let found = match AgentIdentity::load(&expired.state_dir) {
            Ok(Some(identity)) if identity.certificate_pem != expired.identity.certificate_pem => {
                identity
            }
            Ok(_) => continue,
            Err(err) => {
                tracing::debug!(error = %err, "no usable identity yet");
                continue;
            }
        };
        match Credentials::new(expired.state_dir.clone(), found, expired.renew_percent) {
            Ok(fresh) if !fresh.validity.expired(SystemTime::now()) => {
                tracing::info!(agent = %fresh.identity.agent_id, expires = %fresh.validity.expires(), "a new identity was enrolled; connecting with it");
                return fresh;
            }
            Ok(_) => {}
            Err(err) => tracing::debug!(error = %err, "no usable identity yet"),
        }
    }
}

/// The renewal request to send now, if its time has come.
fn renewal_request(
    credentials: &Credentials,
    renewing: &Mutex<Renewing>,
) -> Result<Option<Vec<u8>>, EncodeError> {
    let mut state = lock(renewing);
    if state.pending.is_some() || !renewal_due(credentials, &state) {
        return Ok(None);
    }
    let pending = match Pending::new(&credentials.identity.agent_id) {
        Ok(p) => p,
        Err(err) => {
            let retry = renewal::retry_after(&credentials.validity, SystemTime::now());
            tracing::error!(error = %err, retry_seconds = retry.as_secs(), "cannot make a key for the certificate renewal");
            state.retry_later(retry);
            return Ok(None);
        }
    };
    let frame = proto::encode(
        &RenewRequest {
            csr_der: pending.csr_der.clone(),
        }
        .into(),
    )?;
    tracing::info!(expires = %credentials.validity.expires(), "asking the collector to renew this agent's certificate");
    state.pending = Some(pending);
    Ok(Some(frame))
}

fn renewal_due(credentials: &Credentials, state: &Renewing) -> bool {
    renewal_deadline(credentials, state).is_some_and(|t| t <= Instant::now())
}

/// When the next renewal request is due; `None` once the certificate has
/// expired (the collector refuses to renew it; a new enrollment is needed).
fn renewal_deadline(credentials: &Credentials, state: &Renewing) -> Option<Instant> {
    let renewal::Plan::RenewAt(at) = credentials.plan(SystemTime::now()) else {
        return None;
    };
    let wait = at
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    let due = Instant::now() + wait;
    Some(state.not_before.map_or(due, |t| t.max(due)))
}

/// One connection: runs until it breaks (an error), or until a renewed
/// identity is stored, which it returns so the next connection uses it.
async fn session(
    endpoint: &quinn::Endpoint,
    target: &Target,
    credentials: &Credentials,
    shared: &Shared,
    renewing: &Mutex<Renewing>,
) -> Result<Credentials, SessionError> {
    let address = target.address;
    let client_config = tls::data_client_config(&credentials.identity)?;
    let connection = endpoint
        .connect_with(client_config, address, &target.server_name)
        .map_err(|source| SessionError::Start { address, source })?
        .await
        .map_err(|e| SessionError::lost(address, e))?;
    let (mut send, mut recv) = connection
        .open_bi()
        .await
        .map_err(|e| SessionError::lost(address, e))?;
    let acked = shared.outbox().acked();
    let hello = Hello {
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        protocol_version: proto::PROTOCOL_VERSION,
        last_acked: acked,
        features: vec![
            proto::FEATURE_REPORT_STATUS.to_owned(),
            proto::FEATURE_DIAG.to_owned(),
            proto::FEATURE_POLICY.to_owned(),
        ],
    };
    send.write_all(&proto::encode(&hello.into())?)
        .await
        .map_err(|e| SessionError::write(address, e))?;
    shared.connected.store(true, Ordering::Release);
    tracing::info!(collector = %target.address, resend_from = acked + 1, "connected");
    // Answers to the collector's messages (not records), sent by the writer.
    let replies: Mutex<Vec<Message>> = Mutex::new(Vec::new());

    let reader = async {
        let mut frames = FrameReader::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let Some(n) = recv
                .read(&mut buf)
                .await
                .map_err(|e| SessionError::read(address, e))?
            else {
                return Err(SessionError::Closed);
            };
            frames.push(&buf[..n]);
            while let Some(message) = frames.next_message().map_err(SessionError::Protocol)? {
                match message {
                    Message::Ack(ack) => {
                        shared.outbox().ack(ack.seq);
                        // Room in the window: the writer may go on.
                        shared.wake.notify_one();
                    }
                    Message::SnapshotRequest(req) => {
                        tracing::info!(reason = %req.reason, "the collector asks for a full inventory");
                        shared.snapshot_wanted.store(true, Ordering::Release);
                    }
                    Message::ConfigUpdate(c) => shared.take_config_update(&c),
                    Message::AgentPolicy(p) => {
                        let state = shared.take_policy(p);
                        lock(&replies).push(Message::PolicyState(state));
                        shared.wake.notify_one();
                    }
                    Message::DeviceAssignment(a) => {
                        // Only the count: the list carries credentials.
                        tracing::debug!(
                            devices = a.devices.len(),
                            "device list from the collector"
                        );
                        shared.assign_devices(a.devices);
                    }
                    Message::DiscoveryRequest(r) => {
                        // Not the credentials: only what is swept.
                        tracing::info!(
                            id = r.id,
                            ranges = %r.ranges.join(", "),
                            credentials = r.credentials.len(),
                            "the collector asks for a discovery"
                        );
                        shared.request_discovery(r);
                    }
                    Message::ProbeTargets(t) => shared.push_probe_targets(t.targets),
                    Message::ReportStatus(s) => shared.push_report_status(s.reports),
                    Message::DiagRequest(r) => {
                        tracing::debug!(id = %r.order.id, action = %r.order.action, "diagnostic order from the collector");
                        shared.diagnostics.deliver(r);
                    }
                    Message::Renewed(renewed) => {
                        if let Some(fresh) =
                            store_renewal(credentials, renewing, renewed.certificate_pem).await
                        {
                            return Ok(fresh);
                        }
                        shared.wake.notify_one();
                    }
                    Message::Refused(r) if lock(renewing).pending.is_some() => {
                        let retry = renewal::retry_after(&credentials.validity, SystemTime::now());
                        tracing::error!(reason = %r.reason, retry_seconds = retry.as_secs(), "the collector refused to renew this agent's certificate");
                        lock(renewing).retry_later(retry);
                        shared.wake.notify_one();
                    }
                    Message::Refused(r) => return Err(SessionError::Refused { reason: r.reason }),
                    other => {
                        tracing::warn!(kind = other.name(), "unexpected message from the collector")
                    }
                }
            }
        }
    };
    let writer = async {
        let mut sent = acked;
        loop {
            if let Some(request) = renewal_request(credentials, renewing)? {
                send.write_all(&request)
                    .await
                    .map_err(|e| SessionError::write(address, e))?;
            }
            let answers = std::mem::take(&mut *lock(&replies));
            for answer in answers {
                send.write_all(&proto::encode(&answer)?)
                    .await
                    .map_err(|e| SessionError::write(address, e))?;
            }
            let next = {
                let mut outbox = shared.outbox();
                if sent >= outbox.acked().saturating_add(IN_FLIGHT) {
                    None
                } else {
                    let next = outbox.next_after(sent);
                    if let Some(p) = &next {
                        outbox.mark_sent(p.seq);
                    }
                    next
                }
            };
            match next {
                Some(p) => {
                    send.write_all(&p.frame)
                        .await
                        .map_err(|e| SessionError::write(address, e))?;
                    sent = p.seq;
                }
                None => {
                    let deadline = {
                        let state = lock(renewing);
                        if state.pending.is_none() {
                            renewal_deadline(credentials, &state)
                        } else {
                            None
                        }
                    };
                    tokio::select! {
                        _ = shared.wake.notified() => {}
                        _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {}
                    }
                }
            }
        }
    };
    let renewed = tokio::select! {
        r = reader => r,
        r = writer => r,
    }?;
    connection.close(
        0u32.into(),
        b"certificate renewed; reconnecting with the new one",
    );
    Ok(renewed)
}

/// Checks and stores a renewed certificate; the new credentials when both
/// went well, `None` (a retry is planned) when not.
async fn store_renewal(
    credentials: &Credentials,
    renewing: &Mutex<Renewing>,
    certificate_pem: String,
) -> Option<Credentials> {
    let retry = renewal::retry_after(&credentials.validity, SystemTime::now());
    let Some(pending) = lock(renewing).pending.take() else {
        tracing::warn!("the collector sent a certificate that was not asked for; ignored");
        return None;
    };
    let identity = match pending.accept(&credentials.identity, certificate_pem, SystemTime::now()) {
        Ok(identity) => identity,
        Err(err) => {
            tracing::error!(error = %err, retry_seconds = retry.as_secs(), "the renewed certificate is not usable; keeping the current one");
            lock(renewing).retry_later(retry);
            return None;
        }
    };
    let state_dir = credentials.state_dir.clone();
    let saved = {
        let identity = identity.clone();
        tokio::task::spawn_blocking(move || identity.save_renewed(&state_dir)).await
    };
    let fresh = match saved {
        Ok(Ok(())) => Credentials::new(
            credentials.state_dir.clone(),
            identity,
            credentials.renew_percent,
        ),
        Ok(Err(err)) => {
            tracing::error!(error = %err, retry_seconds = retry.as_secs(), "cannot store the renewed certificate; keeping the current one");
            lock(renewing).retry_later(retry);
            return None;
        }
        Err(err) => {
            tracing::error!(error = %err, "storing the renewed certificate failed");
            lock(renewing).retry_later(retry);
            return None;
        }
    };
    match fresh {
        Ok(fresh) => {
            tracing::info!(agent = %fresh.identity.agent_id, expires = %fresh.validity.expires(), "certificate renewed; reconnecting with it");
            Some(fresh)
        }
        Err(err) => {
            tracing::error!(error = %err, "the stored renewed certificate does not read back");
            lock(renewing).retry_later(retry);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_with_full_jitter() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(60));
        let ceilings: Vec<Duration> = (0..10).map(|_| b.next_with(1.0)).collect();
        assert_eq!(ceilings[0], Duration::from_millis(500));
        assert_eq!(ceilings[1], Duration::from_secs(1));
        assert_eq!(ceilings[3], Duration::from_secs(4));
        assert_eq!(ceilings[9], Duration::from_secs(60));
        assert_eq!(b.next_with(0.0), Duration::ZERO);
        b.reset();
        assert_eq!(b.next_with(0.5), Duration::from_millis(250));
    }
}
