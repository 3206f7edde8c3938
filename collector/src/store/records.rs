//! Records kept in the store (postcard values) and the shapes queries return
//! (serde, printed as JSON by the API).

use std::fmt;

use atalaya_common::diff::InventoryDelta;
use atalaya_common::model::{Inventory, Timestamp};
use atalaya_common::token::{EnrollmentToken, hex, secret_sha256};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An enrollment token. Only the SHA-256 of its secret is kept.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Public id, shown in listings.
    pub id: String,
    /// SHA-256 of the secret the agent presents.
    pub secret_sha256: [u8; 32],
    /// When it was created.
    pub created_at: Timestamp,
    /// After this it is refused (`None`: never expires).
    pub expires_at: Option<Timestamp>,
    /// Enrollments it allows (`None`: unlimited).
    pub max_uses: Option<u32>,
    /// Enrollments made with it so far.
    pub uses: u32,
    /// Revoked by an administrator.
    pub revoked: bool,
    /// The collector address written into the token.
    pub collector_address: String,
}

impl TokenRecord {
    /// A new enrollment token for agents to reach the collector at
    /// `address`, whose CA certificate has the SHA-256 `ca_sha256`: its
    /// record, with a random `tok-` id and only the hash of a random
    /// 32-byte secret, and the token to hand out (the only copy of the
    /// secret). Every enrollment token is made here, so that all have one
    /// shape whoever asks for them.
    pub fn mint(
        address: &str,
        ca_sha256: [u8; 32],
        now: Timestamp,
        expires_at: Option<Timestamp>,
        max_uses: Option<u32>,
    ) -> (TokenRecord, String) {
        let secret = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        let record = TokenRecord {
            // Random, not derived from the secret: the id is shown to anyone
            // who lists tokens.
            id: format!("tok-{}", hex(&rand::random::<[u8; 6]>())),
            secret_sha256: secret_sha256(&secret),
            created_at: now,
            expires_at,
            max_uses,
            uses: 0,
            revoked: false,
            collector_address: address.to_owned(),
        };
        let token = EnrollmentToken {
            address: address.to_owned(),
            ca_sha256,
            secret,
        };
        (record, token.encode())
    }
}

impl fmt::Debug for TokenRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRecord")
            .field("id", &self.id)
            .field("secret_sha256", &"<redacted>")
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("max_uses", &self.max_uses)
            .field("uses", &self.uses)
            .field("revoked", &self.revoked)
            .field("collector_address", &self.collector_address)
            .finish()
    }
}

/// What an API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything.
    Admin,
    /// Incidents and read access.
    Helpdesk,
    /// Read access.
    Viewer,
    /// A phone system: posts incoming calls, and nothing else (no read
    /// access). Last, so that tokens stored before it decode as they were.
    Telephony,
}

/// An HTTP API token. Only the SHA-256 of its secret is kept.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiTokenRecord {
    /// Public id.
    pub id: String,
    /// Who or what it is for.
    pub name: String,
    /// SHA-256 of the secret sent in `Authorization: Bearer`.
    pub secret_sha256: [u8; 32],
    /// What it may do.
    pub role: Role,
    /// When it was created.
    pub created_at: Timestamp,
}

impl fmt::Debug for ApiTokenRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiTokenRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("secret_sha256", &"<redacted>")
            .field("role", &self.role)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// A person's console account. Only the argon2id hash of the password
/// is kept (a PHC string, which carries its own salt and parameters).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// The name the person logs in with; also how actions are signed.
    pub name: String,
    /// What the person may do.
    pub role: Role,
    /// argon2id hash of the password, as a PHC string.
    pub password_hash: String,
    /// A disabled account cannot log in and has no sessions.
    pub disabled: bool,
    /// When it was created.
    pub created_at: Timestamp,
    /// When its password was last set.
    pub password_set_at: Timestamp,
}

impl fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRecord")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("password_hash", &"<redacted>")
            .field("disabled", &self.disabled)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// A signed-in console session. The cookie holds a random secret; the
/// store keeps only its SHA-256 as the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The account.
    pub user: String,
    /// When the person logged in (for the absolute expiry).
    pub created_at: Timestamp,
    /// When the session was last used (for the idle expiry).
    pub last_seen: Timestamp,
    /// The token every form of this session must carry back.
    pub csrf: String,
    /// The address the login came from.
    pub address: String,
}

/// An enrolled agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentRecord {
    /// Agent id (its certificate's common name).
    pub id: String,
    /// Host name it gave at enrollment.
    pub hostname: String,
    /// Its certificate, PEM.
    pub certificate_pem: String,
    /// SHA-256 of the certificate DER.
    pub cert_sha256: [u8; 32],
    /// When it enrolled.
    pub enrolled_at: Timestamp,
    /// Last record or connection seen.
    pub last_seen: Option<Timestamp>,
    /// Agent build version last reported.
    pub agent_version: String,
    /// QUIC round-trip time, ms, from the connection stats.
    pub rtt_ms: Option<f64>,
    /// QUIC packets lost on the connection.
    pub lost_packets: u64,
    /// QUIC packets sent on the connection.
    pub sent_packets: u64,
    /// When it was revoked.
    pub revoked_at: Option<Timestamp>,
    /// The asset its data belongs to (set at its first record).
    pub asset_id: Option<String>,
}

impl AgentRecord {
    /// An agent enrolled at `at` with this certificate: not seen yet, not
    /// revoked, no asset until its first record.
    pub fn enrolled(
        id: impl Into<String>,
        hostname: impl Into<String>,
        certificate_pem: impl Into<String>,
        cert_sha256: [u8; 32],
        agent_version: impl Into<String>,
        at: Timestamp,
    ) -> Self {
        AgentRecord {
            id: id.into(),
            hostname: hostname.into(),
            certificate_pem: certificate_pem.into(),
            cert_sha256,
            enrolled_at: at,
            last_seen: None,
            agent_version: agent_version.into(),
            rtt_ms: None,
            lost_packets: 0,
            sent_packets: 0,
            revoked_at: None,
            asset_id: None,
        }
    }
}

/// Connection facts the server reports with no sequence number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentSeen {
    /// Agent build version.
    pub agent_version: String,
    /// QUIC round-trip time, ms.
    pub rtt_ms: f64,
    /// QUIC packets lost.
    pub lost_packets: u64,
    /// QUIC packets sent.
    pub sent_packets: u64,
    /// QUIC congestion window, bytes.
    pub cwnd_bytes: u64,
    /// Share of the packets sent since the previous report on this
    /// connection that were lost, %; `None` when none were sent.
    pub loss_percent: Option<f64>,
}

/// The series of an agent's asset that tell how its network path to the
/// collector fares, from the QUIC connection's own statistics.
pub mod path_series {
    /// Round-trip time, ms.
    pub const RTT_MS: &str = "network.collector_rtt_ms";
    /// Packets lost since the previous point, %.
    pub const LOSS_PERCENT: &str = "network.collector_loss_percent";
    /// Congestion window, bytes.
    pub const CWND_BYTES: &str = "network.collector_cwnd_bytes";
}

impl AgentSeen {
    /// The path series this report gives, as `(series, value)`.
    pub fn path_values(&self) -> Vec<(String, f64)> {
        let mut values = vec![
            (path_series::RTT_MS.to_owned(), self.rtt_ms),
            // Congestion windows stay far below 2^53 bytes.
            #[allow(clippy::cast_precision_loss)]
            (path_series::CWND_BYTES.to_owned(), self.cwnd_bytes as f64),
        ];
        if let Some(loss) = self.loss_percent {
            values.push((path_series::LOSS_PERCENT.to_owned(), loss));
        }
        values.retain(|(_, v)| v.is_finite());
        values
    }
}

/// How an asset's identity was decided for one agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// No known asset had its hardware keys: a new asset.
    New,
    /// Hardware keys matched an existing asset (a reinstall or re-enrollment).
    Matched,
    /// Same machine-id as another asset but different hardware.
    PossibleClone,
}

/// One identity decision, kept so the asset record says why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IdentityNote {
    /// When it was decided.
    pub at: Timestamp,
    /// The agent whose snapshot was reconciled.
    pub agent_id: String,
    /// The decision.
    pub verdict: Verdict,
    /// Keys that matched (for `matched`) or clashed (for `possible_clone`), e.g. `uuid:…`.
    pub keys: Vec<String>,
    /// The other asset (matched into, or cloned from).
    pub other_asset: Option<String>,
    /// The reason in words.
    pub reason: String,
}

/// An asset without its inventory, as stored in the `assets` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AssetMeta {
    /// Asset id, e.g. `asset-17`.
    pub id: String,
    /// Host name from the latest inventory (the agent's enrollment name before).
    pub hostname: String,
    /// OS pretty name, for listings and filters.
    pub os: Option<String>,
    /// OS id (`debian`, `rhel`…), for filters.
    pub os_id: Option<String>,
    /// Agents whose data belongs to this asset, oldest first.
    pub agent_ids: Vec<String>,
    /// Every identity decision, oldest first.
    pub identity: Vec<IdentityNote>,
    /// Assets this one may be a clone of (or that may be clones of it).
    pub possible_clones: Vec<String>,
    /// Administrator tags.
    pub tags: Vec<String>,
    /// First record received.
    pub first_seen: Timestamp,
    /// Last record received.
    pub last_seen: Timestamp,
    /// When the current inventory was taken (`None`: none received yet).
    pub inventory_at: Option<Timestamp>,
    /// Time of the latest change event, so events stay in apply order.
    pub last_change_at: Option<Timestamp>,
}

/// An asset with its current inventory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AssetRecord {
    /// Everything but the inventory.
    #[serde(flatten)]
    pub meta: AssetMeta,
    /// Current inventory (`None` before the first snapshot).
    pub inventory: Option<Inventory>,
}

/// One line of an asset list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AssetSummary {
    /// Asset id.
    pub id: String,
    /// Host name.
    pub hostname: String,
    /// OS pretty name.
    pub os: Option<String>,
    /// Agents.
    pub agent_ids: Vec<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Last record received.
    pub last_seen: Timestamp,
    /// Flagged as a possible clone.
    pub possible_clone: bool,
}

impl From<&AssetMeta> for AssetSummary {
    fn from(m: &AssetMeta) -> Self {
        AssetSummary {
            id: m.id.clone(),
            hostname: m.hostname.clone(),
            os: m.os.clone(),
            agent_ids: m.agent_ids.clone(),
            tags: m.tags.clone(),
            last_seen: m.last_seen,
            possible_clone: !m.possible_clones.is_empty(),
        }
    }
}

/// Filters of an asset list; every given filter must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AssetFilter {
    /// Host name, exact or with `*` globs, case-insensitive.
    pub hostname: Option<String>,
    /// OS: matches the OS id, or a case-insensitive substring of its name.
    pub os: Option<String>,
    /// Installed package name (exact or `*` glob).
    pub software: Option<String>,
    /// With `software`: lowest version, inclusive (dpkg ordering).
    pub version_min: Option<String>,
    /// With `software`: highest version, inclusive.
    pub version_max: Option<String>,
    /// Carries this tag.
    pub tag: Option<String>,
    /// Last seen strictly before.
    pub seen_before: Option<Timestamp>,
    /// Last seen at or after.
    pub seen_after: Option<Timestamp>,
    /// Matches to skip (paging).
    pub offset: usize,
    /// Most matches to return (0: 100).
    pub limit: usize,
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    /// This page.
    pub items: Vec<T>,
    /// Matches in all pages.
    pub total: usize,
    /// Offset of this page.
    pub offset: usize,
    /// Offset of the next page, if any.
    pub next_offset: Option<usize>,
}

/// Whether a change event came from a full snapshot or a delta.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A full inventory (its changes are the diff against the previous one).
    Snapshot,
    /// A delta.
    Delta,
}

/// A change event as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredChange {
    /// Agent sequence number.
    pub seq: u64,
    /// Agent that sent it.
    pub agent_id: String,
    /// Host name at the time.
    pub hostname: String,
    /// Snapshot or delta.
    pub kind: ChangeKind,
    /// The full inventory, for snapshots (the base of `as_of` rebuilds).
    pub snapshot: Option<Inventory>,
    /// The changes (for a snapshot: against the previous inventory).
    pub delta: InventoryDelta,
}

/// What happened to an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = ChangeAction)]
pub enum Action {
    /// New.
    Added,
    /// Gone.
    Removed,
    /// Other values.
    Changed,
}

/// One changed part or item, ready for JSON or a CLI table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChangeLine {
    /// Where, e.g. `software.packages`.
    pub path: String,
    /// Item key for collections, e.g. `("curl", Some("amd64"))`.
    pub key: Option<String>,
    /// What happened.
    pub action: Action,
    /// The value before.
    pub before: Option<serde_json::Value>,
    /// The value after.
    pub after: Option<serde_json::Value>,
}

/// One inventory change event of one asset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChangeEvent {
    /// Asset.
    pub asset_id: String,
    /// Host name at the time.
    pub hostname: String,
    /// When the inventory was taken.
    pub at: Timestamp,
    /// Agent sequence number.
    pub seq: u64,
    /// Snapshot or delta.
    pub kind: ChangeKind,
    /// What changed (empty for an asset's first snapshot, and for a
    /// network device's change, told in `device`).
    pub changes: Vec<ChangeLine>,
    /// For a network device: its name and what changed in its inventory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceChanged>,
}

/// What changed in a network device's inventory, as one change event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeviceChanged {
    /// The device (the one whose asset it is).
    pub name: String,
    /// The agent that polled it.
    pub agent_id: String,
    /// The changed parts, each with its before and after.
    pub items: Vec<crate::records::device::DeviceChangeItem>,
}

/// Installed base of the packages matching a name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SoftwareReport {
    /// The name or pattern asked for.
    pub query: String,
    /// Each matching package name.
    pub packages: Vec<PackageBase>,
}

/// Installed base of one package name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PackageBase {
    /// Package name.
    pub name: String,
    /// Assets with any version.
    pub assets: usize,
    /// Per version, in version order.
    pub versions: Vec<VersionBase>,
}

/// Assets with one version of a package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VersionBase {
    /// Version.
    pub version: String,
    /// Assets with it.
    pub count: usize,
    /// Which.
    pub assets: Vec<AssetRef>,
}

/// An asset named by id and host name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AssetRef {
    /// Asset id.
    pub id: String,
    /// Host name.
    pub hostname: String,
}

/// Counts for `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreStats {
    /// Assets.
    pub assets: u64,
    /// Agents enrolled.
    pub agents: u64,
    /// Metric series.
    pub series: u64,
    /// Metric blocks: closed ones and the agents' open ones.
    pub chunks: u64,
    /// Bytes of metric blocks, closed and open.
    pub chunk_bytes: u64,
    /// Change events.
    pub change_events: u64,
    /// Size of the store file.
    pub file_bytes: u64,
}

/// A problem reported by the person at a machine
/// (`atalaya-agent report`), as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReportRecord {
    /// The asset it is about.
    pub asset: String,
    /// The agent that sent it.
    pub agent_id: String,
    /// Its sequence number for the report.
    pub seq: u64,
    /// The report's id (given on the machine).
    pub id: String,
    /// When the person wrote it (the machine's clock).
    pub written_at: Timestamp,
    /// When the collector received it.
    pub received_at: Timestamp,
    /// What they wrote.
    pub text: String,
    /// The account that wrote it.
    pub user: Option<String>,
    /// Its uid.
    pub uid: Option<u32>,
    /// When the incident desk handled it (`None`: not yet, e.g. the
    /// collector stopped in between; handled at the next start).
    pub handled_at: Option<Timestamp>,
    /// The incident it opened or counted on.
    pub incident: Option<u64>,
}

/// Records an agent could not deliver, as stored: what is known to be
/// missing from its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GapRecord {
    /// The agent that reported it.
    pub agent_id: String,
    /// Its sequence number for the report.
    pub seq: u64,
    /// When the collector received the report.
    pub received_at: Timestamp,
    /// What went missing.
    pub missing: Missing,
}

impl Missing {
    /// When the missing stretch starts, as far as the agent knows.
    pub fn since(&self) -> Timestamp {
        match self {
            Missing::SpoolFull { from, .. } => *from,
            Missing::SpoolDamaged { found_at, .. } => *found_at,
        }
    }
}

/// What went missing from an agent's history, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Missing {
    /// Health samples dropped, oldest first, to keep the agent's spool
    /// under its size limit while the collector was out of reach.
    SpoolFull {
        /// Metric batches dropped.
        batches: u32,
        /// Health samples in them.
        samples: u32,
        /// First dropped sample.
        from: Timestamp,
        /// Last dropped sample.
        to: Timestamp,
    },
    /// A spool file the agent found damaged and moved aside; its intact
    /// records were delivered, the rest is lost.
    SpoolDamaged {
        /// When the agent found it.
        found_at: Timestamp,
        /// Where the agent moved it.
        file: String,
        /// What was wrong.
        reason: String,
        /// Its size.
        bytes: u64,
        /// Bytes outside any intact record.
        lost_bytes: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_token_carries_its_secret_and_the_record_only_its_hash() {
        let (rec, text) = TokenRecord::mint(
            "collector.example:4433",
            [7; 32],
            Timestamp(1_000),
            Some(Timestamp(5_000)),
            Some(2),
        );
        let token = EnrollmentToken::decode(&text).unwrap();
        assert_eq!(token.address, "collector.example:4433");
        assert_eq!(token.ca_sha256, [7; 32]);
        assert_eq!(URL_SAFE_NO_PAD.decode(&token.secret).unwrap().len(), 32);
        assert_eq!(rec.secret_sha256, secret_sha256(&token.secret));
        let id = rec.id.strip_prefix("tok-").unwrap();
        assert!(
            id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{}",
            rec.id
        );
        assert!(
            !hex(&rec.secret_sha256).contains(id),
            "the id tells nothing of the secret"
        );
        assert_eq!(
            (
                rec.created_at,
                rec.expires_at,
                rec.max_uses,
                rec.uses,
                rec.revoked
            ),
            (Timestamp(1_000), Some(Timestamp(5_000)), Some(2), 0, false)
        );
        assert_eq!(rec.collector_address, "collector.example:4433");
        let (again, again_text) = TokenRecord::mint(
            "collector.example:4433",
            [7; 32],
            Timestamp(1_000),
            None,
            None,
        );
        assert_ne!((again.id, again_text), (rec.id, text));
    }

    #[test]
    fn debug_of_token_records_hides_the_secret_hashes() {
        let token = TokenRecord {
            id: "tok-1".into(),
            secret_sha256: [0xab; 32],
            created_at: Timestamp(0),
            expires_at: None,
            max_uses: None,
            uses: 0,
            revoked: false,
            collector_address: "c:4433".into(),
        };
        let shown = format!("{token:?}");
        // Neither as hex nor as the array of bytes (171 = 0xab).
        assert!(!shown.contains("abab") && !shown.contains("171"), "{shown}");
        assert!(
            shown.contains("tok-1") && shown.contains("<redacted>"),
            "{shown}"
        );
        let api = ApiTokenRecord {
            id: "key-1".into(),
            name: "ops".into(),
            secret_sha256: [0xab; 32],
            role: Role::Admin,
            created_at: Timestamp(0),
        };
        let shown = format!("{api:?}");
        assert!(!shown.contains("abab") && !shown.contains("171"), "{shown}");
        assert!(
            shown.contains("key-1") && shown.contains("<redacted>"),
            "{shown}"
        );
    }
}
