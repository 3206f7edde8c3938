//! The wire protocol between agent and collector.
//!
//! Every message travels in a frame: an 8-byte envelope, then a postcard
//! payload.
//!
//! ```text
//! 0      2      3       4              8
//! +------+------+-------+--------------+-------------------+
//! | ver  | kind | flags | payload len  | payload (postcard)|
//! | u16  | u8   | u8=0  | u32          | len bytes         |
//! +------+------+-------+--------------+-------------------+
//!   big-endian
//! ```
//!
//! This module is the one place that knows the framing, the size limit,
//! the protocol version and the encoding settings. Decoding never panics:
//! any bytes give a message or a [`DecodeError`] that says what was wrong.
//! postcard was chosen over bincode because bincode's development has ended;
//! postcard's format is documented and stable, and the envelope carries our
//! own version so the format can move deliberately.
//!
//! Every record the agent sends carries its per-agent sequence number; the
//! collector answers [`Ack`] with the highest sequence it has durably
//! committed, and the agent forgets records up to it.

use serde::{Deserialize, Serialize};

use crate::assist::{DiagOrder, DiagOutcome};
use crate::diff;
use crate::model::device::trap::TrapEvent;
use crate::model::device::{
    Credentials, DeviceInventory, DeviceSpec, DeviceState, Neighbour, PaperTray, PeerId,
};
use crate::model::probe::{ProbeResult, ProbeTarget};
use crate::model::{HealthSample, Inventory, Timestamp};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u16 = 1;
/// ALPN of data connections (mutual TLS).
pub const ALPN_DATA: &[u8] = b"atalaya/1";
/// ALPN of enrollment connections (the agent has no certificate yet).
pub const ALPN_ENROLL: &[u8] = b"atalaya-enroll/1";
/// Interval of QUIC keep-alives, well inside the idle timeout and NAT
/// timeouts. Both ends set it: it is part of the contract.
pub const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(5);
/// A QUIC connection silent this long is closed, on either end.
pub const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Prefix of the URI SAN that names an agent in its certificate
/// (`urn:atalaya:agent:<id>`); the collector writes it, the agent checks it.
pub const AGENT_URI_PREFIX: &str = "urn:atalaya:agent:";
/// Envelope length.
pub const HEADER_LEN: usize = 8;
/// Largest payload accepted: a full inventory of a big server is well under 2 MiB.
pub const MAX_PAYLOAD_BYTES: u32 = 16 << 20;

macro_rules! messages {
    ($($(#[$doc:meta])* $name:ident = $kind:literal,)*) => {
        /// Any message of the protocol.
        // A message is built, encoded and dropped; it is never stored in
        // bulk, so the size of the inventory variant costs nothing.
        #[allow(clippy::large_enum_variant)]
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        pub enum Message {
            $($(#[$doc])* $name($name),)*
        }

        impl Message {
            /// The kind byte of the envelope.
            pub fn kind(&self) -> u8 {
                match self {
                    $(Message::$name(_) => $kind,)*
                }
            }

            /// The message's name, for logs and errors.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Message::$name(_) => stringify!($name),)*
                }
            }

            fn encode_payload(&self) -> Result<Vec<u8>, postcard::Error> {
                match self {
                    $(Message::$name(m) => postcard::to_stdvec(m),)*
                }
            }

            fn decode_payload(kind: u8, payload: &[u8]) -> Result<Self, DecodeError> {
                match kind {
                    $($kind => postcard::from_bytes(payload)
                        .map(Message::$name)
                        .map_err(|e| DecodeError::Malformed { kind: stringify!($name), reason: e.to_string() }),)*
                    other => Err(DecodeError::UnknownKind(other)),
                }
            }
        }

        /// Every message kind of the protocol, as `(kind byte, name)`, in
        /// the order of the table: what a test or a fuzzer must cover.
        pub const KINDS: &[(u8, &str)] = &[$(($kind, stringify!($name)),)*];

        $(impl From<$name> for Message {
            fn from(m: $name) -> Self {
                Message::$name(m)
            }
        })*
    };
}

messages! {
    /// Agent → collector, first on every data connection.
    Hello = 1,
    /// Agent → collector: the whole inventory (first contact, or when asked).
    InventorySnapshot = 2,
    /// Agent → collector: what changed since the previous inventory.
    InventoryDelta = 3,
    /// Agent → collector: health samples.
    MetricBatch = 4,
    /// Agent → collector: alive, nothing else to say.
    Heartbeat = 5,
    /// Agent → collector: health samples were dropped to keep the spool in bounds.
    Gap = 6,
    /// Agent → collector: a damaged spool file was moved aside.
    SpoolDamaged = 7,
    /// Agent → collector, on its data connection: a certificate for a new key, please.
    RenewRequest = 8,
    /// Agent → collector: the person at the machine reports a problem.
    UserReport = 9,
    /// Agent (poller) → collector: one poll of a network device.
    DevicePoll = 10,
    /// Agent (poller) → collector: the LLDP and CDP neighbours of a network device.
    DeviceNeighbours = 12,
    /// Agent (poller) → collector: the paper trays of a network printer.
    PrinterTrays = 15,
    /// Agent (poller) → collector: a trap accepted from a device, and the
    /// trap listener's drop counters.
    DeviceTrap = 11,
    /// Agent → collector: one round of network probes.
    ProbeRound = 13,
    /// Agent (poller) → collector: a device a discovery found, or its end.
    DiscoveryResult = 14,
    /// Collector → agent: everything up to this sequence is durably stored.
    Ack = 16,
    /// Collector → agent: settings the collector wants the agent to use.
    ConfigUpdate = 17,
    /// Collector → agent: send a full inventory snapshot next.
    SnapshotRequest = 18,
    /// Collector → agent: the certificate for the key of a [`RenewRequest`].
    Renewed = 19,
    /// Collector → agent: the network devices this agent polls.
    DeviceAssignment = 20,
    /// Collector → agent: the probe targets this agent is given.
    ProbeTargets = 21,
    /// Collector → agent (poller): sweep these address ranges for SNMP devices, once.
    DiscoveryRequest = 22,
    /// Collector → agent: what became of the reports people wrote on this
    /// machine (only to agents whose [`Hello`] lists [`FEATURE_REPORT_STATUS`]).
    ReportStatus = 23,
    /// Collector → agent: run a diagnostic action, signed by the collector's
    /// CA (only to agents whose [`Hello`] lists [`FEATURE_DIAG`]).
    DiagRequest = 25,
    /// Agent → collector: what became of a [`DiagRequest`].
    DiagResult = 41,
    /// Collector → agent: the settings of the agent policies that select
    /// it (only to agents whose [`Hello`] lists [`FEATURE_POLICY`]).
    AgentPolicy = 24,
    /// Agent → collector: the policy it runs, the keys its own file pins,
    /// the keys it refused (only after an [`AgentPolicy`]).
    PolicyState = 40,
    /// Agent → collector on an enrollment connection.
    EnrollRequest = 32,
    /// Collector → agent: the signed certificate.
    EnrollResponse = 33,
    /// Either way: the request was refused, and why.
    Refused = 34,
}

/// Kind byte of [`Hello`], the one message whose older form is still read.
const HELLO_KIND: u8 = 1;

/// A [`Hello`] feature: the agent understands [`ReportStatus`] and keeps
/// it for the people who wrote the reports.
pub const FEATURE_REPORT_STATUS: &str = "report-status";

/// A [`Hello`] feature: the agent understands [`DiagRequest`] and answers
/// each with a [`DiagResult`].
pub const FEATURE_DIAG: &str = "diag";
/// A [`Hello`] feature: the agent applies [`AgentPolicy`] and answers
/// with [`PolicyState`].
pub const FEATURE_POLICY: &str = "policy";

/// First message of a data connection.
///
/// Messages the collector sends unasked that an older agent would not
/// know are sent only to agents that list them in `features`: an agent
/// ends its session on a kind it does not know. The field was added at
/// the end of the payload, so an older collector reads the older fields
/// and ignores it, and a `Hello` from an older agent (without it) is read
/// as one with no features.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Agent build version, e.g. `0.1.0`.
    pub agent_version: String,
    /// Protocol version the agent speaks.
    pub protocol_version: u16,
    /// Highest sequence the agent has seen acknowledged.
    pub last_acked: u64,
    /// What this agent understands beyond the first release, e.g.
    /// [`FEATURE_REPORT_STATUS`].
    pub features: Vec<String>,
}

impl Hello {
    /// Whether the agent said it understands `feature`.
    pub fn has(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }

    /// The `Hello` of agents built before `features` existed.
    fn decode_first_release(payload: &[u8]) -> Option<Hello> {
        #[derive(Deserialize)]
        struct FirstRelease {
            agent_version: String,
            protocol_version: u16,
            last_acked: u64,
        }
        let old: FirstRelease = postcard::from_bytes(payload).ok()?;
        Some(Hello {
            agent_version: old.agent_version,
            protocol_version: old.protocol_version,
            last_acked: old.last_acked,
            features: Vec::new(),
        })
    }
}

/// A full inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventorySnapshot {
    /// Per-agent sequence number.
    pub seq: u64,
    /// When it was taken.
    pub taken_at: Timestamp,
    /// The inventory.
    pub inventory: Inventory,
}

/// Changes since the previous inventory the agent sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryDelta {
    /// Per-agent sequence number.
    pub seq: u64,
    /// When the newer inventory was taken.
    pub taken_at: Timestamp,
    /// The changes.
    pub delta: diff::InventoryDelta,
}

/// Health samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricBatch {
    /// Per-agent sequence number.
    pub seq: u64,
    /// Samples, oldest first.
    pub samples: Vec<HealthSample>,
}

/// Alive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Per-agent sequence number.
    pub seq: u64,
    /// Agent's clock when sent.
    pub at: Timestamp,
}

/// Health samples the agent dropped, oldest first, because its spool
/// reached its size limit while the collector was out of reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// Per-agent sequence number.
    pub seq: u64,
    /// Metric batches dropped.
    pub batches: u32,
    /// Health samples in them.
    pub samples: u32,
    /// Time of the first dropped sample.
    pub from: Timestamp,
    /// Time of the last dropped sample.
    pub to: Timestamp,
}

/// A spool file the agent found damaged when it started: its intact
/// records were kept and sent, the file itself moved to the agent's
/// `spool/quarantine/` directory. What it held beyond them is lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpoolDamaged {
    /// Per-agent sequence number.
    pub seq: u64,
    /// When the agent found it.
    pub found_at: Timestamp,
    /// Where the agent moved it.
    pub file: String,
    /// What was wrong.
    pub reason: String,
    /// Its size.
    pub bytes: u64,
    /// Bytes outside any intact record: lost.
    pub lost_bytes: u64,
}

/// A problem reported by the person at the machine with
/// `atalaya-agent report "TEXT"`. A record like the others: spooled,
/// sequenced, acknowledged once stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserReport {
    /// Per-agent sequence number.
    pub seq: u64,
    /// The report's own id, given when it was written: a report the agent
    /// had to send twice is still one report.
    pub id: String,
    /// When the person wrote it.
    pub written_at: Timestamp,
    /// What they wrote.
    pub text: String,
    /// The account that wrote it (owner of the report file, not a claim in it).
    pub user: Option<String>,
    /// Its numeric uid.
    pub uid: Option<u32>,
}

/// One poll of a network device by a poller agent: how it went, what the
/// device is (when its inventory changed, or every so many polls), and the
/// values of its series at `polled_at` (interface rates, reachability,
/// response time). A record like the others: spooled, sequenced,
/// acknowledged once stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DevicePoll {
    /// Per-agent sequence number.
    pub seq: u64,
    /// The device's name, as assigned by the collector.
    pub device: String,
    /// When the poll started, on the poller's clock.
    pub polled_at: Timestamp,
    /// How the poll went.
    pub state: DeviceState,
    /// Time to the device's first answer, ms (`None`: no answer).
    pub response_ms: Option<u32>,
    /// The device's inventory, when it changed since the last one sent.
    pub inventory: Option<DeviceInventory>,
    /// `(series, value)` at `polled_at`, e.g.
    /// `("interface.in_bits_per_second{if=ge-0/0/1}", 1.2e6)`.
    pub values: Vec<(String, f64)>,
}

/// The neighbours a network device reports over LLDP and CDP, sent by its
/// poller on the first neighbour walk after the poller starts and then
/// only when they changed. The list is whole: a neighbour missing from it
/// is gone. A record like the others: spooled, sequenced, acknowledged
/// once stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceNeighbours {
    /// Per-agent sequence number.
    pub seq: u64,
    /// The device's name, as assigned by the collector.
    pub device: String,
    /// When the poll that read them started, on the poller's clock.
    pub polled_at: Timestamp,
    /// The device's own LLDP chassis id (`lldpLocChassisId`), when it has
    /// LLDP: how its neighbours know it.
    pub chassis_id: Option<PeerId>,
    /// Its neighbours, sorted.
    pub neighbours: Vec<Neighbour>,
}

/// The paper trays of a network printer (Printer-MIB `prtInputTable`), sent
/// by its poller on the first read after the poller starts and then when
/// they changed (their levels also go out every poll as series). Sent apart
/// from [`DevicePoll`] so that its inventory keeps the form older agents
/// and collectors know. The list is whole. A record like the others:
/// spooled, sequenced, acknowledged once stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrinterTrays {
    /// Per-agent sequence number.
    pub seq: u64,
    /// The device's name, as assigned by the collector.
    pub device: String,
    /// When the poll that read them started, on the poller's clock.
    pub polled_at: Timestamp,
    /// Its trays, sorted by printer and tray index.
    pub trays: Vec<PaperTray>,
}

/// What a poller agent's trap listener has to say: a trap or inform it
/// accepted from one of its devices, and how many messages it dropped so
/// far, by reason. A record like the others: spooled, sequenced,
/// acknowledged once stored. When messages are dropped and none accepted,
/// the listener still sends its totals now and then, with no trap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceTrap {
    /// Per-agent sequence number.
    pub seq: u64,
    /// The trap accepted (`None`: only the counters).
    pub trap: Option<TrapEvent>,
    /// `(reason, messages dropped since the listener started)`, e.g.
    /// `("bad_community", 3)`: totals, so a lost or repeated record
    /// changes nothing; they start again from zero when the agent restarts.
    pub dropped: Vec<(String, u64)>,
}

/// The whole list of devices an agent polls (replacing any earlier one),
/// with their credentials: sent on connect and whenever it changes. An
/// empty list ends polling. The agent keeps it so that it polls on while
/// the collector is out of reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceAssignment {
    /// The devices.
    pub devices: Vec<DeviceSpec>,
}

/// A discovery the collector asks a poller for: each address of `ranges`
/// is asked, once per credential until one answers, for `sysDescr`,
/// `sysObjectID` and `sysName`. Not a record: a request the poller
/// answers with [`DiscoveryResult`] records, then forgets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveryRequest {
    /// The collector's id of this discovery, repeated in every result.
    pub id: u64,
    /// Address ranges, e.g. `192.0.2.0/24` (at most a /20 in all, see
    /// [`crate::model::device::ranges`]).
    pub ranges: Vec<String>,
    /// UDP port asked on every address.
    pub port: u16,
    /// Credentials to try, in order; a result names the one that worked
    /// by its index here.
    pub credentials: Vec<Credentials>,
    /// Addresses asked at once, at most.
    pub concurrency: u32,
    /// Milliseconds one request waits for its answer (no retry).
    pub timeout_ms: u32,
}

/// One outcome of a discovery: a device found, the end of the sweep, or
/// the poller's refusal. A record like the others: spooled, sequenced,
/// acknowledged once stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveryResult {
    /// Per-agent sequence number.
    pub seq: u64,
    /// The [`DiscoveryRequest::id`] it answers.
    pub id: u64,
    /// When it was found (or the sweep ended), on the poller's clock.
    pub at: Timestamp,
    /// What happened.
    pub outcome: DiscoveryOutcome,
}

/// What a [`DiscoveryResult`] says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DiscoveryOutcome {
    /// A device answered.
    Found(DiscoveredDevice),
    /// The sweep ended: every address was asked.
    Finished {
        /// Addresses asked.
        addresses: u32,
        /// Devices that answered.
        found: u32,
    },
    /// The poller did not sweep, and why.
    Refused {
        /// Why, in words for the person who asked.
        reason: String,
    },
}

/// A device that answered a discovery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveredDevice {
    /// The address that answered.
    pub address: String,
    /// Index in [`DiscoveryRequest::credentials`] of the credential that
    /// worked (never the secret itself).
    pub credential: u32,
    /// `sysName`.
    pub sys_name: String,
    /// `sysDescr`.
    pub sys_descr: String,
    /// `sysObjectID`, dotted.
    pub object_id: String,
    /// Vendor from the enterprise number of `sysObjectID`, when known.
    pub vendor: Option<String>,
}

/// One round of network probes: a result per target. A record like the
/// others: spooled, sequenced, acknowledged once stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeRound {
    /// Per-agent sequence number.
    pub seq: u64,
    /// When the round ended, on the agent's clock.
    pub at: Timestamp,
    /// One result per target.
    pub results: Vec<ProbeResult>,
}

/// The whole list of probe targets the collector gives an agent (beyond
/// the ones it probes by default), replacing any earlier one: sent on
/// connect and whenever it changes. The agent keeps it so that it probes
/// on while the collector is out of reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeTargets {
    /// The targets.
    pub targets: Vec<ProbeTarget>,
}

/// A renewal of the agent's certificate, sent on its authenticated data
/// connection when little of the certificate's life is left. The identity
/// of the new certificate is the one of the connection, so the request
/// carries only a certificate request for a new key; it is not a record
/// (no sequence number, never spooled).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewRequest {
    /// PKCS#10 certificate request for the new key, DER. The key stays on the agent.
    pub csr_der: Vec<u8>,
}

impl std::fmt::Debug for RenewRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenewRequest")
            .field("csr_der", &format_args!("{} bytes", self.csr_der.len()))
            .finish()
    }
}

/// The renewed certificate; the agent keeps using its old one until the
/// new key and certificate are safely on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Renewed {
    /// The agent's new certificate, PEM, for the key of the request.
    pub certificate_pem: String,
}

/// A diagnostic order from the help desk, and the collector CA's
/// signature over [`DiagOrder::signed_bytes`]. The agent checks the
/// signature, the expiry, that it has not run this id before, and its own
/// allow-list, every time; each refusal comes back as a [`DiagResult`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiagRequest {
    /// What is asked.
    pub order: DiagOrder,
    /// The CA key's signature, in the form of its algorithm (ASN.1 DER for ECDSA).
    pub signature: Vec<u8>,
}

impl std::fmt::Debug for DiagRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiagRequest")
            .field("order", &self.order)
            .field("signature", &format_args!("{} bytes", self.signature.len()))
            .finish()
    }
}

/// What became of a diagnostic request on the agent. A record like the
/// others: spooled, sequenced, acknowledged once stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiagResult {
    /// Per-agent sequence number.
    pub seq: u64,
    /// The request's id.
    pub id: String,
    /// When the agent started on it.
    pub started_at: Timestamp,
    /// How long it took, milliseconds.
    pub duration_ms: u64,
    /// How it ended.
    pub outcome: DiagOutcome,
    /// What the action printed or found, cut at the agent's `max_output_bytes`.
    pub output: String,
    /// Whether `output` was cut.
    pub truncated: bool,
}

/// Durable up to here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// Highest committed sequence.
    pub seq: u64,
}

/// The whole list of the reports written on the agent's machine that the
/// help desk still tells about (the newest, and none whose incident was
/// closed long ago), replacing any earlier one: sent when the session
/// starts and whenever one of them changes. The agent files each report
/// where only the account that wrote it can read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportStatus {
    /// Newest first.
    pub reports: Vec<ReportState>,
}

/// What became of one user report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportState {
    /// The report's id, as the machine gave it.
    pub id: String,
    /// The account that wrote it (`None`: unknown; then nobody is told).
    pub uid: Option<u32>,
    /// When it was written.
    pub written_at: Timestamp,
    /// The start of what was written, to recognise it by.
    pub summary: String,
    /// The incident it opened or was counted on (`None`: not handled yet).
    pub incident: Option<u64>,
    /// The incident's status: `open`, `acknowledged`, `resolved`, `closed`.
    pub status: Option<String>,
    /// Who at the help desk has it.
    pub assignee: Option<String>,
    /// When the incident last changed.
    pub updated_at: Timestamp,
    /// The newest note the help desk marked public.
    pub note: Option<PublicNote>,
}

/// A note the help desk wrote for the person who reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicNote {
    /// When.
    pub at: Timestamp,
    /// Who.
    pub author: String,
    /// What.
    pub text: String,
}

/// Settings pushed by the collector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigUpdate {
    /// Seconds between health samples.
    pub metrics_interval_seconds: u32,
    /// Seconds between full re-inventories.
    pub inventory_interval_seconds: u32,
    /// Seconds between heartbeats.
    pub heartbeat_interval_seconds: u32,
}

/// The central settings of an agent: the policies that select it, most
/// specific first, merged into one list (a key of a more specific policy
/// wins). The whole list replaces any earlier one; an empty `policies`
/// means none selects the agent any more. Keys are `section.key` of the
/// agent's file ([`crate::policy::KEYS`]); an agent refuses the ones it
/// does not know and applies the rest, live. Not a record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentPolicy {
    /// `(policy name, version)` of every policy merged, most specific first.
    pub policies: Vec<(String, u64)>,
    /// The merged settings.
    pub settings: Vec<(String, crate::policy::Value)>,
}

/// What an agent made of the last [`AgentPolicy`]: sent when it applied
/// one, and again at each connection. Not a record: the newest replaces
/// the one stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyState {
    /// `(policy name, version)` the agent runs, as it received them.
    pub policies: Vec<(String, u64)>,
    /// Keys its own file sets, with the file's value: they win over the policy.
    pub pinned: Vec<(String, crate::policy::Value)>,
    /// Keys of the policy it refused, with the reason.
    pub refused: Vec<(String, String)>,
    /// Every key's value in force now.
    pub effective: Vec<(String, crate::policy::Value)>,
}

/// Ask for a full inventory (the collector could not apply a delta).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRequest {
    /// Why, for the agent's log.
    pub reason: String,
}

/// Enrollment: a token and a certificate request.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollRequest {
    /// The token's secret part.
    pub token_secret: String,
    /// PKCS#10 certificate request, DER. The key stays on the agent.
    pub csr_der: Vec<u8>,
    /// The host name, for the administrator's agent list.
    pub hostname: String,
    /// Agent build version.
    pub agent_version: String,
}

impl std::fmt::Debug for EnrollRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollRequest")
            .field("token_secret", &"<redacted>")
            .field("csr_der", &format_args!("{} bytes", self.csr_der.len()))
            .field("hostname", &self.hostname)
            .field("agent_version", &self.agent_version)
            .finish()
    }
}

/// Enrollment accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollResponse {
    /// The identity given to the agent (also the certificate's common name).
    pub agent_id: String,
    /// The agent's certificate, PEM.
    pub certificate_pem: String,
    /// The collector's CA certificate, PEM.
    pub ca_pem: String,
}

/// A refusal with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refused {
    /// Why, in words for the person reading the log.
    pub reason: String,
}

/// The envelope of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Protocol version of the payload.
    pub version: u16,
    /// Message kind.
    pub kind: u8,
    /// Payload length, bytes.
    pub len: u32,
}

/// Bytes that are not a valid frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Another protocol version.
    #[error("protocol version {found} is not supported (this side speaks {supported})")]
    UnsupportedVersion {
        /// The version in the frame.
        found: u16,
        /// The version spoken here.
        supported: u16,
    },
    /// A kind byte no message has.
    #[error("unknown message kind {0}")]
    UnknownKind(u8),
    /// Flags this version does not define.
    #[error("reserved flags {0:#04x} set")]
    ReservedFlags(u8),
    /// A payload over the limit.
    #[error("frame of {len} bytes is over the {max}-byte limit")]
    TooLarge {
        /// Declared payload length.
        len: u32,
        /// The limit.
        max: u32,
    },
    /// A payload that does not decode as its kind.
    #[error("malformed {kind}: {reason}")]
    Malformed {
        /// The message kind.
        kind: &'static str,
        /// What postcard said.
        reason: String,
    },
}

/// A message that cannot be framed.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// Serialization failed.
    #[error("encoding {kind}: {source}")]
    Postcard {
        /// The message kind.
        kind: &'static str,
        /// What postcard said.
        source: postcard::Error,
    },
    /// The payload is over the limit.
    #[error("{kind} of {len} bytes is over the {max}-byte frame limit")]
    TooLarge {
        /// The message kind.
        kind: &'static str,
        /// Payload length.
        len: usize,
        /// The limit.
        max: u32,
    },
}

/// Encodes a message as one frame (envelope and payload).
pub fn encode(message: &Message) -> Result<Vec<u8>, EncodeError> {
    let kind = message.name();
    let payload = message
        .encode_payload()
        .map_err(|source| EncodeError::Postcard { kind, source })?;
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|len| *len <= MAX_PAYLOAD_BYTES)
        .ok_or(EncodeError::TooLarge {
            kind,
            len: payload.len(),
            max: MAX_PAYLOAD_BYTES,
        })?;
    let mut frame = Vec::with_capacity(HEADER_LEN + payload.len());
    frame.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    frame.push(message.kind());
    frame.push(0);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&payload);
    Ok(frame)
}

/// Reads and checks an envelope.
pub fn decode_header(bytes: &[u8; HEADER_LEN]) -> Result<Header, DecodeError> {
    let version = u16::from_be_bytes([bytes[0], bytes[1]]);
    let kind = bytes[2];
    let flags = bytes[3];
    let len = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    if version != PROTOCOL_VERSION {
        return Err(DecodeError::UnsupportedVersion {
            found: version,
            supported: PROTOCOL_VERSION,
        });
    }
    if flags != 0 {
        return Err(DecodeError::ReservedFlags(flags));
    }
    if len > MAX_PAYLOAD_BYTES {
        return Err(DecodeError::TooLarge {
            len,
            max: MAX_PAYLOAD_BYTES,
        });
    }
    Ok(Header { version, kind, len })
}

/// Decodes the payload that follows `header`.
pub fn decode_payload(header: Header, payload: &[u8]) -> Result<Message, DecodeError> {
    match Message::decode_payload(header.kind, payload) {
        Err(err) if header.kind == HELLO_KIND => Hello::decode_first_release(payload)
            .map(Message::Hello)
            .ok_or(err),
        decoded => decoded,
    }
}

/// Decodes one whole frame; `Ok(None)` when `bytes` holds only part of one.
/// On success, also returns how many bytes the frame took.
pub fn decode(bytes: &[u8]) -> Result<Option<(Message, usize)>, DecodeError> {
    let Some(head) = bytes.first_chunk::<HEADER_LEN>() else {
        return Ok(None);
    };
    let header = decode_header(head)?;
    let end = HEADER_LEN + header.len as usize;
    let Some(payload) = bytes.get(HEADER_LEN..end) else {
        return Ok(None);
    };
    Ok(Some((decode_payload(header, payload)?, end)))
}

/// Turns a byte stream into messages: feed it what the socket gave, take
/// whole messages out. Sans-IO, so both sides and the tests share it.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
    start: usize,
}

impl FrameReader {
    /// An empty reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole message, `Ok(None)` when more bytes are needed. An
    /// oversized or unknown frame is refused as soon as its envelope is in,
    /// before its payload is buffered.
    pub fn next_message(&mut self) -> Result<Option<Message>, DecodeError> {
        let rest = &self.buf[self.start..];
        match decode(rest)? {
            Some((message, used)) => {
                self.start += used;
                if self.start > 64 * 1024 && self.start * 2 > self.buf.len() {
                    self.buf.drain(..self.start);
                    self.start = 0;
                }
                Ok(Some(message))
            }
            None => Ok(None),
        }
    }

    /// Bytes received but not yet part of a whole message.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip_and_envelope_layout() {
        let msg = Message::Ack(Ack { seq: 300 });
        let frame = encode(&msg).unwrap();
        assert_eq!(frame, [0, 1, 16, 0, 0, 0, 0, 2, 0xac, 0x02]);
        assert_eq!(decode(&frame).unwrap(), Some((msg, frame.len())));
        assert_eq!(decode(&frame[..9]).unwrap(), None);
        assert_eq!(decode(&frame[..3]).unwrap(), None);
    }

    #[test]
    fn bad_envelopes_say_what_is_wrong() {
        let err = decode(&[0, 2, 16, 0, 0, 0, 0, 1, 0]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "protocol version 2 is not supported (this side speaks 1)"
        );
        let err = decode(&[0, 1, 99, 0, 0, 0, 0, 1, 0]).unwrap_err();
        assert_eq!(err, DecodeError::UnknownKind(99));
        let err = decode(&[0, 1, 16, 0, 0xff, 0, 0, 0]).unwrap_err();
        assert!(matches!(err, DecodeError::TooLarge { .. }), "{err}");
        let err = decode(&[0, 1, 1, 0, 0, 0, 0, 1, 0xff]).unwrap_err();
        assert!(err.to_string().starts_with("malformed Hello"), "{err}");
        let err = decode(&[0, 1, 16, 1, 0, 0, 0, 1, 0]).unwrap_err();
        assert_eq!(err, DecodeError::ReservedFlags(1));
    }

    #[test]
    fn every_kind_is_one_message_and_decodes_as_it() {
        let mut bytes: Vec<u8> = KINDS.iter().map(|(kind, _)| *kind).collect();
        let mut names: Vec<&str> = KINDS.iter().map(|(_, name)| *name).collect();
        bytes.sort_unstable();
        bytes.dedup();
        names.sort_unstable();
        names.dedup();
        assert_eq!((bytes.len(), names.len()), (KINDS.len(), KINDS.len()));
        for &(kind, name) in KINDS {
            // Every message has a field, so no payload is malformed, and
            // the error names the message the kind byte stands for.
            let err = Message::decode_payload(kind, &[]).unwrap_err();
            assert!(
                matches!(err, DecodeError::Malformed { kind: k, .. } if k == name),
                "{kind}: {err}"
            );
        }
    }

    #[test]
    fn enroll_request_debug_hides_the_token() {
        let req = EnrollRequest {
            token_secret: "s3cret".into(),
            csr_der: vec![1, 2, 3],
            hostname: "h".into(),
            agent_version: "0.1.0".into(),
        };
        let shown = format!("{req:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn frame_reader_reassembles_messages_split_anywhere() {
        let mut stream = Vec::new();
        for seq in 0..20 {
            stream.extend(encode(&Message::Ack(Ack { seq: seq * 1000 })).unwrap());
        }
        for chunk in [1, 3, 7, 64] {
            let mut reader = FrameReader::new();
            let mut got = Vec::new();
            for piece in stream.chunks(chunk) {
                reader.push(piece);
                while let Some(Message::Ack(a)) = reader.next_message().unwrap() {
                    got.push(a.seq);
                }
            }
            assert_eq!(got, (0..20).map(|s| s * 1000).collect::<Vec<_>>());
            assert_eq!(reader.buffered(), 0);
        }
    }

    #[test]
    fn frame_reader_refuses_an_oversized_frame_from_its_envelope() {
        let mut reader = FrameReader::new();
        reader.push(&[0, 1, 2, 0, 0x7f, 0xff, 0xff, 0xff]);
        assert!(matches!(
            reader.next_message(),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    proptest! {
        #[test]
        fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn any_payload_after_a_valid_envelope_fails_cleanly(kind in any::<u8>(), payload in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut frame = vec![0, 1, kind, 0];
            frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            frame.extend_from_slice(&payload);
            let _ = decode(&frame);
        }
    }
}
