//! The QUIC endpoint: enrollment connections and agents' data sessions.
//!
//! One endpoint serves two ALPNs. `atalaya-enroll/1` connections carry no
//! client certificate and make one enrollment exchange; `atalaya/1`
//! connections must present a certificate signed by the collector's CA,
//! and the agent's identity is the one in that certificate.
//!
//! # Layout
//! - [`committer`]: group commit of every session's records.
//! - [`session`]: one agent's data session.
//! - [`diagnostics`]: diagnostic requests on their way to an agent's session.
//! - [`enroll`]: enrollment of new agents.
//! - [`renew`]: renewal of enrolled agents' certificates.
//! - [`policy`]: the agent policies in force, for the sessions.
//! - [`limiter`]: failed-enrollment limits per address (token guessing),
//!   and log lines per agent.
//! - [`screen`]: times and numbers refused before they are stored.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atalaya_common::proto::{self, ConfigUpdate, Message};
use quinn::Connection;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::pki::CertificateAuthority;
use crate::screen;
use crate::store::Store;
use crate::telemetry::Telemetry;
use crate::tls;

pub mod committer;
pub mod diagnostics;
pub mod enroll;
pub mod limiter;
pub mod policy;
pub mod renew;
pub mod session;

pub use crate::desk::wakers::AgentWakers;
pub use committer::Committer;

/// QUIC application close codes.
pub mod close_code {
    use quinn::VarInt;
    /// The peer broke the protocol.
    pub const PROTOCOL: VarInt = VarInt::from_u32(1);
    /// The peer is not allowed (revoked, unknown, no certificate).
    pub const REFUSED: VarInt = VarInt::from_u32(2);
    /// The collector is shutting down.
    pub const SHUTDOWN: VarInt = VarInt::from_u32(3);
}

/// Least time between two log lines about one agent's refused records.
const NOTICE_EVERY: Duration = Duration::from_secs(60);

/// Settings of the QUIC side.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Most connections at once, handshakes and enrollments included;
    /// more are refused at the door.
    pub max_connections: usize,
    /// Once a frame has started, the time it has to arrive whole: a peer
    /// that dribbles bytes (slowloris) is cut off after it.
    pub frame_timeout: Duration,
    /// Lifetime of agent certificates.
    pub certificate_validity: Duration,
    /// How far from the collector's clock agents' times may be.
    pub time_limits: screen::TimeLimits,
    /// Pushed to agents when they connect.
    pub agent_intervals: ConfigUpdate,
    /// `[[probe]]`: the probe targets pushed to the agents they select.
    pub probes: Vec<crate::config::probes::ProbeRule>,
}

/// What every connection handler shares.
#[derive(Debug)]
pub struct Hub {
    /// The store.
    pub store: Arc<Store>,
    /// The certificate authority.
    pub ca: Arc<CertificateAuthority>,
    /// Counters for `/metrics`.
    pub telemetry: Arc<Telemetry>,
    /// The commit queue.
    pub committer: Committer,
    /// Open data connections by agent.
    pub connections: Connections,
    /// Settings.
    pub config: ServerConfig,
    /// Failed enrollments per address.
    pub enroll_failures: Mutex<limiter::FailureLimiter>,
    /// Log lines about refused records, per agent.
    pub notices: Mutex<limiter::NoticeLimiter>,
    /// Agents whose times are being refused.
    pub clock_skews: screen::ClockSkews,
    /// Wakes the sessions of agents whose device list changed.
    pub device_wakers: AgentWakers,
    /// Wakes the sessions of agents one of whose user reports changed.
    pub report_wakers: AgentWakers,
    /// Discoveries on their way to the agents' sessions.
    pub discoveries: DiscoveryQueues,
    /// Wakes the sessions of agents a diagnostic request was made for.
    pub diag_wakers: AgentWakers,
    /// Log lines about polls of devices an agent does not poll, per agent.
    pub device_notices: Mutex<limiter::NoticeLimiter>,
    /// The agent policies in force.
    pub policies: Arc<policy::AgentPolicies>,
}

impl Hub {
    /// What connection handlers share, with nothing noted yet.
    pub fn new(
        store: Arc<Store>,
        ca: Arc<CertificateAuthority>,
        telemetry: Arc<Telemetry>,
        committer: Committer,
        config: ServerConfig,
    ) -> Self {
        Self {
            store,
            ca,
            telemetry,
            committer,
            connections: Connections::default(),
            config,
            enroll_failures: Mutex::default(),
            notices: Mutex::new(limiter::NoticeLimiter::new(NOTICE_EVERY)),
            clock_skews: screen::ClockSkews::default(),
            device_wakers: AgentWakers::default(),
            report_wakers: AgentWakers::default(),
            discoveries: DiscoveryQueues::default(),
            diag_wakers: AgentWakers::default(),
            device_notices: Mutex::new(limiter::NoticeLimiter::new(NOTICE_EVERY)),
            policies: Arc::default(),
        }
    }

    /// The settings message sent to each agent on connect.
    pub fn config_update(&self) -> Message {
        Message::ConfigUpdate(self.config.agent_intervals.clone())
    }
}

/// Open data connections, so a revocation can close them at once.
#[derive(Debug, Default, Clone)]
pub struct Connections(Arc<Mutex<HashMap<String, Vec<Connection>>>>);

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Connection>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers an agent's connection.
    pub fn insert(&self, agent: &str, conn: Connection) {
        self.lock().entry(agent.to_owned()).or_default().push(conn);
    }

    /// Forgets a connection that ended.
    pub fn remove(&self, agent: &str, conn: &Connection) {
        let mut map = self.lock();
        if let Some(list) = map.get_mut(agent) {
            list.retain(|c| c.stable_id() != conn.stable_id());
            if list.is_empty() {
                map.remove(agent);
            }
        }
    }

    /// Closes every connection of `agent`; returns how many there were.
    pub fn close(&self, agent: &str, reason: &str) -> usize {
        let conns = self.lock().remove(agent).unwrap_or_default();
        for c in &conns {
            c.close(close_code::REFUSED, reason.as_bytes());
        }
        conns.len()
    }

    /// Whether `conn` is the newest connection of `agent`: the one the
    /// agent is using. An older one is a session whose agent went away
    /// without a word (a restart, a lost network) and is not yet timed out.
    pub fn is_newest(&self, agent: &str, conn: &Connection) -> bool {
        self.lock()
            .get(agent)
            .and_then(|list| list.last())
            .is_some_and(|newest| newest.stable_id() == conn.stable_id())
    }

    /// Whether `agent` has a session open.
    pub fn is_connected(&self, agent: &str) -> bool {
        self.lock().contains_key(agent)
    }

    /// Agents connected now.
    pub fn count(&self) -> usize {
        self.lock().len()
    }
}

/// Per agent, the queue of discoveries its newest data session sends.
#[derive(Debug, Default, Clone)]
pub struct DiscoveryQueues(
    Arc<Mutex<HashMap<String, mpsc::UnboundedSender<proto::DiscoveryRequest>>>>,
);

impl DiscoveryQueues {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::UnboundedSender<proto::DiscoveryRequest>>>
    {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What a new session of `agent` sends (an older session's queue is
    /// replaced: the agent keeps one connection).
    pub fn subscribe(&self, agent: &str) -> mpsc::UnboundedReceiver<proto::DiscoveryRequest> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.lock().insert(agent.to_owned(), tx);
        rx
    }

    /// Hands `request` to a session of `agent`; false when none is open.
    pub fn send(&self, agent: &str, request: proto::DiscoveryRequest) -> bool {
        let mut map = self.lock();
        match map.get(agent) {
            Some(tx) if tx.send(request).is_ok() => true,
            Some(_) => {
                map.remove(agent);
                false
            }
            None => false,
        }
    }
}

/// A running QUIC server.
#[derive(Debug)]
pub struct Server {
    endpoint: quinn::Endpoint,
    hub: Arc<Hub>,
    /// One permit per connection, from the moment it is accepted (before
    /// its handshake) until it ends: handshakes, enrollments and data
    /// sessions all count against `max_connections`, so a flood of any of
    /// them meets the same cap.
    admission: Arc<Semaphore>,
}

impl Server {
    /// Binds the endpoint. `reset_key` signs QUIC stateless resets; the
    /// same key after a restart lets agents learn at once that their old
    /// connection is gone.
    pub fn bind(
        hub: Arc<Hub>,
        tls_config: quinn::ServerConfig,
        reset_key: &[u8; 32],
    ) -> std::io::Result<Self> {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, reset_key);
        // Connection ids carry a keyed hash; a restarted collector must
        // recognise its predecessor's ids as its own, or it drops their
        // packets silently instead of resetting them.
        let cid_key = ring::hmac::sign(&key, b"atalaya connection ids");
        let cid_key = u64::from_le_bytes(cid_key.as_ref()[..8].try_into().unwrap_or_default());
        let mut endpoint_config = quinn::EndpointConfig::new(Arc::new(key));
        endpoint_config.cid_generator(move || {
            Box::new(quinn_proto::HashedConnectionIdGenerator::from_key(cid_key))
        });
        // quinn's default (one reset per 20 ms, endpoint-wide) would take a
        // thousand agents 20 s to hear about a restart, and a probe that
        // falls in the window waits for the agent's next, ever later, retry.
        // A reset is always smaller than the packet that caused it, so
        // answering every one cannot amplify traffic or loop for ever.
        endpoint_config.min_reset_interval(Duration::ZERO);
        let socket = std::net::UdpSocket::bind(hub.config.listen)?;
        grow_receive_buffer(&socket);
        let endpoint = quinn::Endpoint::new(
            endpoint_config,
            Some(tls_config),
            socket,
            Arc::new(quinn::TokioRuntime),
        )?;
        let permits = hub.config.max_connections.min(Semaphore::MAX_PERMITS);
        Ok(Self {
            endpoint,
            admission: Arc::new(Semaphore::new(permits)),
            hub,
        })
    }

    /// The address actually bound (the port may have been 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// Accepts connections until the endpoint is closed.
    pub async fn run(self) {
        while let Some(incoming) = self.endpoint.accept().await {
            // Over the cap, refused before any cryptography is done.
            let Ok(permit) = self.admission.clone().try_acquire_owned() else {
                self.hub.telemetry.refuse("connection_limit");
                incoming.refuse();
                continue;
            };
            let admitted = Admitted::new(permit, self.hub.telemetry.clone());
            let hub = self.hub.clone();
            // Each handshake runs in its own task: one slow or silent peer
            // never holds up the next one in the accept loop.
            tokio::spawn(async move {
                serve(hub, incoming).await;
                drop(admitted);
            });
        }
    }

    /// A handle to close the endpoint from elsewhere.
    pub fn endpoint(&self) -> quinn::Endpoint {
        self.endpoint.clone()
    }
}

/// Receive buffer asked of the kernel for the endpoint's socket.
const RECEIVE_BUFFER_BYTES: usize = 8 << 20;

/// A fleet that reconnects at once (after a collector restart) sends
/// thousands of handshake packets within milliseconds, each padded to
/// 1200 bytes. The kernel's usual receive buffer (208 KiB) holds about 90
/// of them; the rest are dropped before the collector sees them, and every
/// dropped one costs its agent a retransmission timeout, doubling each
/// time. With 1000 agents, 4515 datagrams were dropped and the last agent
/// was back after 23.7 s. The kernel caps the size at `net.core.rmem_max`.
fn grow_receive_buffer(socket: &std::net::UdpSocket) {
    let set = quinn::udp::UdpSocketState::new(socket.into()).and_then(|state| {
        state.set_recv_buffer_size(socket.into(), RECEIVE_BUFFER_BYTES)?;
        state.recv_buffer_size(socket.into())
    });
    match set {
        // Linux reports twice the size it grants (half is its overhead):
        // below what was asked means at most half of it was granted.
        Ok(got) if got < RECEIVE_BUFFER_BYTES => tracing::info!(
            asked = RECEIVE_BUFFER_BYTES,
            got,
            "the UDP receive buffer is smaller than asked; with many agents reconnecting at once, raise the sysctl net.core.rmem_max"
        ),
        Ok(_) => {}
        Err(err) => tracing::warn!(error = %err, "could not grow the UDP receive buffer"),
    }
}

/// A connection holding its admission permit, counted as open while it lives.
struct Admitted {
    _permit: OwnedSemaphorePermit,
    telemetry: Arc<Telemetry>,
}

impl Admitted {
    fn new(permit: OwnedSemaphorePermit, telemetry: Arc<Telemetry>) -> Self {
        telemetry.open_connections.inc();
        Self {
            _permit: permit,
            telemetry,
        }
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.telemetry.open_connections.dec();
    }
}

/// One accepted connection, from its handshake to its end.
async fn serve(hub: Arc<Hub>, incoming: quinn::Incoming) {
    let remote = incoming.remote_address();
    let connection = match incoming.await {
        Ok(c) => c,
        // Counted by the client verifier, which knows the reason.
        Err(err) if tls::is_certificate_refusal(&err) => {
            tracing::warn!(%remote, error = %err, "agent certificate refused");
            return;
        }
        Err(err) => {
            tracing::warn!(%remote, error = %err, "handshake failed");
            hub.telemetry.refuse("handshake");
            return;
        }
    };
    let alpn = connection
        .handshake_data()
        .and_then(|d| d.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
        .and_then(|d| d.protocol);
    match alpn.as_deref() {
        Some(p) if p == proto::ALPN_ENROLL => enroll::run(hub, connection).await,
        Some(p) if p == proto::ALPN_DATA => match tls::peer_agent_id(&connection) {
            Some(agent) => session::run(hub, connection, agent).await,
            None => {
                tracing::warn!(%remote, "data connection without a client certificate refused");
                hub.telemetry.refuse("no_certificate");
                connection.close(
                    close_code::REFUSED,
                    b"a client certificate signed by this collector is required",
                );
            }
        },
        _ => {
            hub.telemetry.refuse("alpn");
            connection.close(close_code::PROTOCOL, b"unknown application protocol");
        }
    }
}
