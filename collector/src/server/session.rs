//! One agent's data session: `Hello`, then records in, acks out; the
//! devices the agent polls, at the start and whenever they change; the
//! discoveries asked of it; and,
//! when the agent asks, a renewed certificate (see [`super::renew`]).
//!
//! Everything wrong with the input closes this one connection with a logged
//! reason and a counted refusal; other agents are not affected.

use std::sync::Arc;
use std::time::Duration;

use atalaya_common::model::ProbeTarget;
use atalaya_common::model::Timestamp;
use atalaya_common::proto::{
    self, Ack, AgentPolicy, DecodeError, DeviceAssignment, EncodeError, FrameReader, Message,
    ProbeTargets, Refused, ReportState, ReportStatus, SnapshotRequest,
};
use quinn::{Connection, RecvStream, SendStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::committer::{CommitError, Progress, SessionQueue};
use super::diagnostics::DiagFeed;
use super::policy::PolicySet;
use super::renew::RenewError;
use super::{Hub, close_code};
use crate::screen::{Screened, screen};
use crate::store::probes::ProbeSelector;
use crate::store::{AgentSeen, Ingest, IngestRecord, Store};

/// How long an agent may take to open its stream and say `Hello`.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a frame may take from its first byte to its last.
/// How often connection statistics (RTT, loss) are stored.
const SEEN_EVERY: Duration = Duration::from_secs(30);
/// Least time between two renewal requests on one connection: an agent
/// that got its certificate reconnects with it, one that was refused
/// waits far longer than this before asking again.
const RENEW_SPACING: Duration = Duration::from_secs(10);
/// How often a session checks whether its agent's probe targets changed
/// (its host name or tags, which select them, change with inventories and
/// administrators).
const PROBE_RECHECK: Duration = Duration::from_secs(60);

/// Why a session ended. Except for the connection going away, the agent
/// is told this error's text as the reason the connection closes.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The agent broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// A frame did not decode.
    #[error("bad frame: {0}")]
    Frame(#[from] DecodeError),
    /// A message to the agent could not be encoded.
    #[error("protocol error: {0}")]
    Encode(#[from] EncodeError),
    /// The agent opened no stream: the connection went away.
    #[error("connection: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// Reading from the agent failed: the connection went away.
    #[error("connection: {0}")]
    Read(#[from] quinn::ReadError),
    /// Writing to the agent failed: the connection went away.
    #[error("connection: {0}")]
    Write(#[from] quinn::WriteError),
    /// Storing failed; the agent will send again.
    #[error("{0}")]
    Store(#[from] CommitError),
    /// The commit queue is gone; the agent will send again to the next
    /// collector process.
    #[error("the collector is shutting down")]
    ShuttingDown,
}

/// How an agent broke the session protocol.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// No stream was opened in time.
    #[error("no session stream within {} s", HELLO_TIMEOUT.as_secs())]
    NoStream,
    /// No `Hello` came in time.
    #[error("no Hello within {} s", HELLO_TIMEOUT.as_secs())]
    NoHello,
    /// The first message was something else, or none came.
    #[error("the first message must be Hello")]
    NotHello,
    /// A message only the collector sends.
    #[error("{kind} is not something an agent sends in a session")]
    Unexpected {
        /// The kind of message received.
        kind: &'static str,
    },
    /// A frame started but did not complete in time (slowloris).
    #[error("a frame took more than {} s to arrive", deadline.as_secs())]
    SlowFrame {
        /// The time a frame may take.
        deadline: Duration,
    },
    /// Nothing came, not even a heartbeat.
    #[error("nothing received for {} s", idle.as_secs())]
    Idle {
        /// How long the agent was quiet.
        idle: Duration,
    },
    /// The agent finished its stream in the middle of a frame.
    #[error("stream ended inside a frame")]
    Truncated,
}

/// Runs a data session for the authenticated agent `agent_id`.
pub async fn run(hub: Arc<Hub>, connection: Connection, agent_id: String) {
    let telemetry = hub.telemetry.clone();
    match hub.store.agent(&agent_id) {
        Ok(Some(agent)) if agent.revoked_at.is_none() => {}
        Ok(Some(_)) => {
            return refuse(
                &hub,
                &connection,
                "revoked",
                "this agent's certificate was revoked",
            );
        }
        Ok(None) => {
            return refuse(
                &hub,
                &connection,
                "unknown_agent",
                "this agent is not enrolled here",
            );
        }
        Err(err) => {
            return refuse(
                &hub,
                &connection,
                "store_error",
                &format!("store unavailable: {err}"),
            );
        }
    }
    telemetry.connected_agents.inc();
    hub.connections.insert(&agent_id, connection.clone());
    let result = serve(&hub, &connection, &agent_id).await;
    hub.connections.remove(&agent_id, &connection);
    telemetry.connected_agents.dec();
    match result {
        Ok(()) => tracing::info!(agent = %agent_id, "session ended"),
        Err(err) => {
            let reason = match &err {
                SessionError::Frame(_) => "bad_frame",
                SessionError::Protocol(_) | SessionError::Encode(_) => "protocol",
                SessionError::Store(_) | SessionError::ShuttingDown => "store_error",
                SessionError::Connection(_) | SessionError::Read(_) | SessionError::Write(_) => "",
            };
            if reason.is_empty() {
                tracing::info!(agent = %agent_id, error = %err, "session ended");
            } else {
                tracing::warn!(agent = %agent_id, error = %err, "closing the session");
                telemetry.refuse(reason);
                connection.close(close_code::PROTOCOL, err.to_string().as_bytes());
            }
        }
    }
}

fn refuse(hub: &Hub, connection: &Connection, reason: &'static str, message: &str) {
    tracing::warn!(remote = %connection.remote_address(), reason, "refusing a data connection: {message}");
    hub.telemetry.refuse(reason);
    connection.close(close_code::REFUSED, message.as_bytes());
}

async fn serve(hub: &Hub, connection: &Connection, agent_id: &str) -> Result<(), SessionError> {
    let (send, mut recv) = tokio::time::timeout(HELLO_TIMEOUT, connection.accept_bi())
        .await
        .map_err(|_| ProtocolError::NoStream)??;
    let mut frames = FrameReader::new();
    let mut buf = vec![0u8; 64 * 1024];
    let hello = tokio::time::timeout(
        HELLO_TIMEOUT,
        next_message(
            &mut recv,
            &mut frames,
            &mut buf,
            HELLO_TIMEOUT,
            hub.config.frame_timeout,
        ),
    )
    .await
    .map_err(|_| ProtocolError::NoHello)??;
    let Some(Message::Hello(hello)) = hello else {
        return Err(ProtocolError::NotHello.into());
    };
    tracing::info!(agent = %agent_id, version = %hello.agent_version, last_acked = hello.last_acked, remote = %connection.remote_address(), "agent connected");
    let (queue, progress) = SessionQueue::new();
    // Renewal answers: one per RENEW_SPACING at most.
    let (reply_tx, reply_rx) = mpsc::unbounded_channel();
    let mut path = PathMeter::default();
    seen(
        hub,
        connection,
        agent_id,
        &hello.agent_version,
        &queue,
        &mut path,
    )
    .await;
    let devices = DeviceFeed {
        store: hub.store.clone(),
        agent: agent_id.to_owned(),
        wake: hub.device_wakers.subscribe(agent_id),
        discoveries: hub.discoveries.subscribe(agent_id),
    };
    let probes = ProbeFeed {
        hub,
        agent: agent_id,
        sent: None,
    };
    let reports = ReportFeed {
        store: &hub.store,
        agent: agent_id,
        enabled: hello.has(proto::FEATURE_REPORT_STATUS),
        wake: hub.report_wakers.subscribe(agent_id),
        sent: None,
    };
    let diagnostics = DiagFeed {
        store: &hub.store,
        agent: agent_id,
        enabled: hello.has(proto::FEATURE_DIAG),
        wake: hub.diag_wakers.subscribe(agent_id),
        connections: &hub.connections,
        connection,
    };
    let policy = PolicyFeed {
        agent: agent_id,
        enabled: hello.has(proto::FEATURE_POLICY),
        wake: hub.policies.subscribe(),
        sent: None,
    };
    let writer = write_acks(
        send,
        progress,
        reply_rx,
        hub.config_update(),
        Feeds {
            devices,
            probes,
            reports,
            diagnostics,
            policy,
        },
    );

    // An agent sends at least a heartbeat per period; three missed ones
    // mean it is gone even if its QUIC keep-alives still arrive.
    let heartbeat = u64::from(hub.config.agent_intervals.heartbeat_interval_seconds.max(1));
    let idle = Duration::from_secs((heartbeat * 3).max(30));
    let reader = async {
        let mut last_seen = Instant::now();
        let mut last_renewal: Option<Instant> = None;
        // Whether this agent is listed as having a wrong clock (perhaps by
        // an earlier connection), so that a good time clears it.
        let mut skewed = hub.clock_skews.get(agent_id).is_some();
        loop {
            let Some(message) = next_message(
                &mut recv,
                &mut frames,
                &mut buf,
                idle,
                hub.config.frame_timeout,
            )
            .await?
            else {
                return Ok(());
            };
            let record = match message {
                Message::RenewRequest(req) => {
                    let reply = if last_renewal.is_some_and(|t| t.elapsed() < RENEW_SPACING) {
                        Err(RenewError::TooSoon {
                            spacing: RENEW_SPACING,
                        })
                    } else {
                        last_renewal = Some(Instant::now());
                        super::renew::renew(hub, connection, agent_id, req).await
                    };
                    let reply = reply.map(Message::Renewed).unwrap_or_else(|err| {
                        tracing::warn!(agent = %agent_id, reason = %err, "certificate renewal refused");
                        hub.telemetry.refuse("renewal");
                        Message::Refused(Refused {
                            reason: err.to_string(),
                        })
                    });
                    let _ = reply_tx.send(reply);
                    continue;
                }
                Message::PolicyState(m) => IngestRecord::PolicyState(m),
                Message::InventorySnapshot(m) => IngestRecord::Snapshot(m),
                Message::InventoryDelta(m) => IngestRecord::Delta(m),
                Message::MetricBatch(m) => IngestRecord::Metrics(m),
                Message::Heartbeat(m) => IngestRecord::Heartbeat(m),
                Message::Gap(m) => IngestRecord::Gap(m),
                Message::SpoolDamaged(m) => IngestRecord::SpoolDamaged(m),
                Message::UserReport(m) => IngestRecord::UserReport(m),
                Message::DevicePoll(m) => device_poll(hub, agent_id, m),
                Message::DeviceNeighbours(m) => IngestRecord::DeviceNeighbours(m),
                Message::PrinterTrays(m) => IngestRecord::PrinterTrays(m),
                // The commit checks the device is this agent's.
                Message::DeviceTrap(m) => IngestRecord::DeviceTrap(m),
                Message::ProbeRound(m) => IngestRecord::ProbeRound(m),
                Message::DiscoveryResult(m) => IngestRecord::DiscoveryResult(m),
                Message::DiagResult(m) => IngestRecord::DiagResult(m),
                other => {
                    return Err(ProtocolError::Unexpected { kind: other.name() }.into());
                }
            };
            let received_at = Timestamp::now();
            let (record, screened) = screen(record, received_at, &hub.config.time_limits);
            if screened.refused() {
                note_refused(hub, agent_id, &screened, received_at);
                skewed |= screened.bad_time > 0;
            } else if skewed && screened.time_accepted {
                hub.clock_skews.clear(agent_id);
                skewed = false;
            }
            let item = Ingest {
                agent_id: agent_id.to_owned(),
                received_at,
                record,
            };
            // Waits while this session has too many records in flight or
            // the commit queue is full. Meanwhile this stream is not read,
            // so QUIC flow control holds the agent back (see committer).
            if !hub.committer.submit(item, &queue).await {
                return Err(SessionError::ShuttingDown);
            }
            if last_seen.elapsed() >= SEEN_EVERY {
                last_seen = Instant::now();
                seen(
                    hub,
                    connection,
                    agent_id,
                    &hello.agent_version,
                    &queue,
                    &mut path,
                )
                .await;
            }
        }
    };
    tokio::select! {
        r = reader => r,
        r = writer => r,
    }
}

/// Counts what screening refused, notes a wrong clock on the agent's
/// listing, and logs it, once a minute per agent at most.
fn note_refused(hub: &Hub, agent_id: &str, screened: &Screened, now: Timestamp) {
    let telemetry = &hub.telemetry;
    telemetry.refuse_many("bad_time", screened.bad_time);
    telemetry.refuse_many("bad_value", screened.bad_value);
    if let Some(offset) = screened.offset_ms {
        hub.clock_skews
            .note(agent_id, offset, screened.bad_time, now);
    }
    let count = screened.bad_time.saturating_add(screened.bad_value);
    let due = hub.notices.lock().unwrap_or_else(|e| e.into_inner()).note(
        agent_id,
        count,
        std::time::Instant::now(),
    );
    let Some(since_last) = due else {
        return;
    };
    match screened.offset_ms {
        Some(offset) => tracing::warn!(
            agent = %agent_id,
            offset_seconds = offset / 1000,
            bad_time = screened.bad_time,
            bad_value = screened.bad_value,
            refused_since_last_notice = since_last,
            "refusing this agent's records whose time is {} s {} the collector's clock; is its clock wrong?",
            (offset / 1000).unsigned_abs(),
            if offset > 0 { "ahead of" } else { "behind" }
        ),
        None => tracing::warn!(
            agent = %agent_id,
            bad_value = screened.bad_value,
            refused_since_last_notice = since_last,
            "refusing this agent's samples with NaN or infinite numbers"
        ),
    }
}

/// A device poll to store, or only its sequence number when the device is
/// unknown or another agent polls it (the device was removed or moved
/// while the poll was on its way, or the agent is confused): counted and
/// logged once a minute per agent, never a reason to end the session.
fn device_poll(hub: &Hub, agent_id: &str, poll: proto::DevicePoll) -> IngestRecord {
    let poller = match hub.store.device(&poll.device) {
        Ok(found) => found.map(|d| d.poller),
        // The commit checks again, and fails the same way if the store does.
        Err(_) => return IngestRecord::DevicePoll(poll),
    };
    if poller.as_deref() == Some(agent_id) {
        return IngestRecord::DevicePoll(poll);
    }
    hub.telemetry.refuse("device_not_assigned");
    let due = hub
        .device_notices
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .note(agent_id, 1, std::time::Instant::now());
    if let Some(count) = due {
        tracing::warn!(
            agent = %agent_id,
            device = %poll.device,
            poller = poller.as_deref().unwrap_or("none"),
            refused_since_last_notice = count,
            "ignoring polls of a device this agent is not assigned (acknowledged, not stored)"
        );
    }
    IngestRecord::Refused {
        seq: poll.seq,
        inventory: false,
    }
}

/// The connection's packet counts at the previous report, so that each
/// report's loss is that of its own interval.
#[derive(Debug, Default)]
struct PathMeter {
    lost: u64,
    sent: u64,
}

impl PathMeter {
    /// Loss since the previous call, %; `None` when nothing was sent.
    fn loss_percent(&mut self, lost: u64, sent: u64) -> Option<f64> {
        let lost_now = lost.saturating_sub(self.lost);
        let sent_now = sent.saturating_sub(self.sent);
        self.lost = lost;
        self.sent = sent;
        // Packet counts stay far below 2^53.
        #[allow(clippy::cast_precision_loss)]
        (sent_now > 0).then(|| (lost_now as f64 / sent_now as f64 * 100.0).min(100.0))
    }
}

/// Stores when the agent was last seen and how its connection fares.
async fn seen(
    hub: &Hub,
    connection: &Connection,
    agent_id: &str,
    version: &str,
    queue: &SessionQueue,
    path: &mut PathMeter,
) {
    let stats = connection.stats();
    let record = IngestRecord::Seen(AgentSeen {
        agent_version: version.to_owned(),
        rtt_ms: stats.path.rtt.as_secs_f64() * 1000.0,
        lost_packets: stats.path.lost_packets,
        sent_packets: stats.path.sent_packets,
        cwnd_bytes: stats.path.cwnd,
        loss_percent: path.loss_percent(stats.path.lost_packets, stats.path.sent_packets),
    });
    hub.committer
        .submit(
            Ingest {
                agent_id: agent_id.to_owned(),
                received_at: Timestamp::now(),
                record,
            },
            queue,
        )
        .await;
}

/// The next message, `None` when the agent finished the stream cleanly.
///
/// Two clocks guard the read. Once a frame has started it must be complete
/// within `frame_deadline`: a peer that dribbles a frame byte by byte
/// (slowloris) is cut off. Between frames the agent may stay quiet for
/// `idle`, a few heartbeat periods; its QUIC keep-alives alone do not
/// count as being alive.
async fn next_message(
    recv: &mut RecvStream,
    frames: &mut FrameReader,
    buf: &mut [u8],
    idle: Duration,
    frame_deadline: Duration,
) -> Result<Option<Message>, SessionError> {
    let mut frame_started: Option<tokio::time::Instant> = None;
    loop {
        if let Some(message) = frames.next_message()? {
            return Ok(Some(message));
        }
        let limit = if frames.buffered() > 0 {
            let started = *frame_started.get_or_insert_with(tokio::time::Instant::now);
            frame_deadline.saturating_sub(started.elapsed())
        } else {
            idle
        };
        let read = tokio::time::timeout(limit, recv.read(buf))
            .await
            .map_err(|_| {
                if frames.buffered() > 0 {
                    ProtocolError::SlowFrame {
                        deadline: frame_deadline,
                    }
                } else {
                    ProtocolError::Idle { idle }
                }
            })?;
        match read? {
            Some(n) => frames.push(&buf[..n]),
            None if frames.buffered() == 0 => return Ok(None),
            None => return Err(ProtocolError::Truncated.into()),
        }
    }
}

/// What a session sends its agent unasked, each when it changes.
struct Feeds<'h> {
    devices: DeviceFeed,
    probes: ProbeFeed<'h>,
    reports: ReportFeed<'h>,
    diagnostics: DiagFeed<'h>,
    policy: PolicyFeed<'h>,
}

/// Sends acks as commits complete (the newest only: acks are cumulative),
/// a snapshot request when a delta could not be applied, the answers
/// to requests (renewals) as they come, and the news of its feeds.
async fn write_acks(
    mut send: SendStream,
    mut progress: watch::Receiver<Progress>,
    mut replies: mpsc::UnboundedReceiver<Message>,
    config: Message,
    feeds: Feeds<'_>,
) -> Result<(), SessionError> {
    let Feeds {
        mut devices,
        mut probes,
        mut reports,
        mut diagnostics,
        mut policy,
    } = feeds;
    send_message(&mut send, config).await?;
    policy.wake.mark_unchanged();
    let selector = selector_of(probes.hub, probes.agent);
    if let Some(settings) = selector.as_ref().and_then(|s| policy.next(s)) {
        send_message(&mut send, settings).await?;
    }
    if let Some(assignment) = devices.on_connect() {
        send_message(&mut send, assignment).await?;
    }
    if let Some(targets) = selector.as_ref().and_then(|s| probes.next(s, true)) {
        send_message(&mut send, targets).await?;
    }
    reports.wake.mark_unchanged();
    if let Some(status) = reports.next() {
        send_message(&mut send, status).await?;
    }
    diagnostics.wake.mark_unchanged();
    for request in diagnostics.due() {
        send_message(&mut send, request).await?;
    }
    let mut recheck = tokio::time::interval_at(Instant::now() + PROBE_RECHECK, PROBE_RECHECK);
    let mut acked = 0;
    let mut snapshots_asked = 0;
    loop {
        tokio::select! {
            Some(reply) = replies.recv() => {
                send_message(&mut send, reply).await?;
                continue;
            }
            Some(request) = devices.discoveries.recv() => {
                send_message(&mut send, Message::DiscoveryRequest(request)).await?;
                continue;
            }
            Ok(()) = devices.wake.changed() => {
                if let Some(assignment) = devices.assignment() {
                    send_message(&mut send, assignment).await?;
                }
                continue;
            }
            Ok(()) = reports.wake.changed(), if reports.enabled => {
                if let Some(status) = reports.next() {
                    send_message(&mut send, status).await?;
                }
                continue;
            }
            Ok(()) = diagnostics.wake.changed(), if diagnostics.enabled => {
                for request in diagnostics.due() {
                    send_message(&mut send, request).await?;
                }
                continue;
            }
            Ok(()) = policy.wake.changed(), if policy.enabled => {
                let selector = selector_of(probes.hub, probes.agent);
                if let Some(settings) = selector.as_ref().and_then(|s| policy.next(s)) {
                    send_message(&mut send, settings).await?;
                }
                continue;
            }
            _ = recheck.tick() => {
                // One read for both: the host name and tags select the
                // probe targets and the policy alike.
                let selector = selector_of(probes.hub, probes.agent);
                if let Some(targets) = selector.as_ref().and_then(|s| probes.next(s, false)) {
                    send_message(&mut send, targets).await?;
                }
                if let Some(settings) = selector.as_ref().and_then(|s| policy.next(s)) {
                    send_message(&mut send, settings).await?;
                }
                continue;
            }
            changed = progress.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
            }
        }
        let now = progress.borrow_and_update().clone();
        if let Some(err) = now.failed {
            let _ = send_message(
                &mut send,
                Refused {
                    reason: err.to_string(),
                }
                .into(),
            )
            .await;
            return Err(SessionError::Store(err));
        }
        if now.snapshot_requests > snapshots_asked {
            snapshots_asked = now.snapshot_requests;
            let req = SnapshotRequest {
                reason: "an inventory delta did not fit the stored inventory".into(),
            };
            send_message(&mut send, req.into()).await?;
        }
        if now.highest_seq > acked {
            acked = now.highest_seq;
            send_message(&mut send, Ack { seq: acked }.into()).await?;
        }
    }
}

/// Where a session finds the devices its agent polls, and hears that
/// they changed.
struct DeviceFeed {
    store: Arc<Store>,
    agent: String,
    wake: watch::Receiver<u64>,
    /// Discoveries to ask of the agent.
    discoveries: mpsc::UnboundedReceiver<proto::DiscoveryRequest>,
}

impl DeviceFeed {
    /// The assignment to send when the session starts: only to an agent
    /// ever assigned a device (an older agent never gets one otherwise),
    /// and then even an empty list, so that it stops polling devices
    /// removed while it was away.
    fn on_connect(&mut self) -> Option<Message> {
        self.wake.mark_unchanged();
        match self.store.is_device_poller(&self.agent) {
            Ok(true) => self.assignment(),
            Ok(false) => None,
            Err(err) => {
                tracing::warn!(agent = %self.agent, error = %err, "could not read whether this agent polls devices");
                None
            }
        }
    }

    /// The agent's whole device list, as it is now.
    fn assignment(&self) -> Option<Message> {
        match self.store.devices_of_poller(&self.agent) {
            Ok(list) => Some(Message::DeviceAssignment(DeviceAssignment {
                devices: list.into_iter().map(|d| d.spec).collect(),
            })),
            Err(err) => {
                tracing::warn!(agent = %self.agent, error = %err, "could not read the devices this agent polls");
                None
            }
        }
    }
}

/// The probe targets of a session's agent: the `[[probe]]` tables that
/// select its host name or tags.
struct ProbeFeed<'h> {
    hub: &'h Hub,
    agent: &'h str,
    /// The list last sent on this connection.
    sent: Option<Vec<ProbeTarget>>,
}

impl ProbeFeed<'_> {
    /// The list to send, when it differs from the one sent. At connect,
    /// an empty list goes only to an agent that was sent targets before
    /// (so it drops them); an agent never given any (perhaps of a version
    /// without probes) is sent nothing.
    fn next(&mut self, selector: &ProbeSelector, connect: bool) -> Option<Message> {
        let store = &self.hub.store;
        let targets = crate::config::probes::targets_for(
            &self.hub.config.probes,
            &selector.hostname,
            &selector.tags,
        );
        if self.sent.as_ref() == Some(&targets) {
            return None;
        }
        if connect && targets.is_empty() && !store.is_probe_agent(self.agent).unwrap_or(false) {
            self.sent = Some(targets);
            return None;
        }
        if !targets.is_empty()
            && let Err(err) = store.note_probe_agent(self.agent)
        {
            tracing::warn!(agent = %self.agent, error = %err, "could not note that this agent probes");
        }
        tracing::debug!(agent = %self.agent, targets = targets.len(), "probe targets for the agent");
        self.sent = Some(targets.clone());
        Some(Message::ProbeTargets(ProbeTargets { targets }))
    }
}

/// What became of the user reports written on the session's machine, for
/// an agent that said it understands it ([`proto::FEATURE_REPORT_STATUS`]):
/// an older one would end the session on a message it does not know.
struct ReportFeed<'h> {
    store: &'h Store,
    agent: &'h str,
    enabled: bool,
    /// Bumped when one of this agent's reports changed.
    wake: watch::Receiver<u64>,
    /// The list last sent on this connection.
    sent: Option<Vec<ReportState>>,
}

impl ReportFeed<'_> {
    /// The whole list, when it differs from the one sent (at connect
    /// always, even empty: the agent drops what it filed before).
    fn next(&mut self) -> Option<Message> {
        if !self.enabled {
            return None;
        }
        let read = self
            .store
            .agent_asset_id(self.agent)
            .and_then(|asset| match asset {
                Some(asset) => {
                    crate::desk::reports::told(self.store, &asset, self.agent, Timestamp::now())
                }
                None => Ok(Vec::new()),
            });
        let reports = match read {
            Ok(reports) => reports,
            Err(err) => {
                tracing::warn!(agent = %self.agent, error = %err, "could not read what became of this agent's user reports");
                return None;
            }
        };
        if self.sent.as_ref() == Some(&reports) {
            return None;
        }
        tracing::debug!(agent = %self.agent, reports = reports.len(), "user report status for the agent");
        self.sent = Some(reports.clone());
        Some(Message::ReportStatus(ReportStatus { reports }))
    }
}

/// The agent policy of a session's agent, for an agent that said it
/// understands it ([`proto::FEATURE_POLICY`]): the policies in force that
/// select its host name and tags.
struct PolicyFeed<'h> {
    agent: &'h str,
    enabled: bool,
    /// The policies in force; changes when others are put in force.
    wake: watch::Receiver<Arc<PolicySet>>,
    /// The policy last sent on this connection.
    sent: Option<AgentPolicy>,
}

impl PolicyFeed<'_> {
    /// The agent's policy, when it differs from the one sent (at connect
    /// always, even empty: the agent drops a policy it kept that no longer
    /// selects it).
    fn next(&mut self, selector: &ProbeSelector) -> Option<Message> {
        if !self.enabled {
            return None;
        }
        let policy = self
            .wake
            .borrow()
            .for_agent(&selector.hostname, &selector.tags);
        if self.sent.as_ref() == Some(&policy) {
            return None;
        }
        tracing::debug!(agent = %self.agent, policies = policy.policies.len(), "agent policy for the agent");
        self.sent = Some(policy.clone());
        Some(Message::AgentPolicy(policy))
    }
}

/// The host name and tags of `agent`, which select its probe targets and
/// its policy; `None` (said in the log) when the store cannot be read.
fn selector_of(hub: &Hub, agent: &str) -> Option<ProbeSelector> {
    match hub.store.probe_selector(agent) {
        Ok(found) => Some(found.unwrap_or_default()),
        Err(err) => {
            tracing::warn!(agent = %agent, error = %err, "could not read the host name and tags that select this agent's probe targets and policy");
            None
        }
    }
}

async fn send_message(send: &mut SendStream, message: Message) -> Result<(), SessionError> {
    let frame = proto::encode(&message)?;
    Ok(send.write_all(&frame).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_report_gives_the_loss_of_its_own_interval() {
        let mut path = PathMeter::default();
        assert_eq!(path.loss_percent(0, 0), None);
        assert_eq!(path.loss_percent(5, 100), Some(5.0));
        // 10 more sent, none lost: the earlier loss is not counted again.
        assert_eq!(path.loss_percent(5, 110), Some(0.0));
        assert_eq!(path.loss_percent(5, 110), None);
        assert_eq!(path.loss_percent(7, 114), Some(50.0));
    }

    /// These texts reach the agent as the reason its connection closed and
    /// end up in its log, so they keep their wording.
    #[test]
    fn close_reasons_keep_their_wording() {
        let text = |e: ProtocolError| SessionError::from(e).to_string();
        assert_eq!(
            text(ProtocolError::NoStream),
            "protocol error: no session stream within 10 s"
        );
        assert_eq!(
            text(ProtocolError::NoHello),
            "protocol error: no Hello within 10 s"
        );
        assert_eq!(
            text(ProtocolError::NotHello),
            "protocol error: the first message must be Hello"
        );
        assert_eq!(
            text(ProtocolError::Unexpected { kind: "Ack" }),
            "protocol error: Ack is not something an agent sends in a session"
        );
        assert_eq!(
            text(ProtocolError::SlowFrame {
                deadline: Duration::from_secs(2)
            }),
            "protocol error: a frame took more than 2 s to arrive"
        );
        assert_eq!(
            text(ProtocolError::Idle {
                idle: Duration::from_secs(90)
            }),
            "protocol error: nothing received for 90 s"
        );
        assert_eq!(
            text(ProtocolError::Truncated),
            "protocol error: stream ended inside a frame"
        );
        assert_eq!(
            SessionError::ShuttingDown.to_string(),
            "the collector is shutting down"
        );
        let corrupt = crate::store::StoreError::Corrupt {
            table: "agents",
            reason: "truncated".into(),
        };
        let failed = CommitError::Store(Arc::new(corrupt));
        assert_eq!(
            SessionError::from(failed.clone()).to_string(),
            "storing failed: store: record in table agents does not decode: truncated"
        );
        assert!(std::error::Error::source(&failed).is_some());
    }
}
