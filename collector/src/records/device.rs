//! Network devices: what Atalaya keeps of each one (its spec, its poller,
//! how its last poll went, its LLDP and CDP neighbours), the changes seen
//! in its inventory and neighbours, its events (the traps its poller
//! accepted from it), which device's asset it turned out to be, and the
//! discoveries asked for.

use std::collections::BTreeMap;

use atalaya_common::model::Timestamp;
use atalaya_common::model::device::trap::TrapEvent;
use atalaya_common::model::device::{
    Credentials, DeviceSpec, DeviceState, Neighbour, NeighbourProtocol, PaperTray, PeerId,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The prefix of a device's asset id: `device:<name>`.
pub const DEVICE_ASSET_PREFIX: &str = "device:";

/// The asset id of the device named `name`.
pub fn device_asset_id(name: &str) -> String {
    format!("{DEVICE_ASSET_PREFIX}{name}")
}

/// One device Atalaya polls through an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// The device's name (its key).
    pub name: String,
    /// How to reach it, with its credentials.
    pub spec: DeviceSpec,
    /// The agent that polls it.
    pub poller: String,
    /// Where its inventory and series are kept (`device:<name>`).
    pub asset_id: String,
    /// When it was added.
    pub added_at: Timestamp,
    /// How the last poll went (`None`: no poll received yet).
    pub last_poll: Option<DeviceStatus>,
    /// When the current inventory was polled (`None`: none received yet).
    pub inventory_at: Option<Timestamp>,
}

/// How one poll of a device went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceStatus {
    /// When the poll started, on the poller's clock.
    pub at: Timestamp,
    /// Its outcome.
    pub state: DeviceState,
    /// Time to the device's first answer, ms (`None`: no answer).
    pub response_ms: Option<u32>,
}

/// What changed in a device's inventory between two polls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeviceChange {
    /// The poller's sequence number of the poll that saw it.
    pub seq: u64,
    /// The agent that polled.
    pub agent_id: String,
    /// When the poll started.
    pub at: Timestamp,
    /// The changed parts.
    pub items: Vec<DeviceChangeItem>,
}

/// One changed part of a device's inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeviceChangeItem {
    /// A system field (`descr`, `object_id`, `name`, `location`, `contact`) changed.
    System {
        /// Which field.
        field: String,
        /// Before.
        before: String,
        /// After.
        after: String,
    },
    /// An interface appeared.
    InterfaceAdded {
        /// `ifIndex`.
        if_index: u32,
        /// Its name.
        name: String,
    },
    /// An interface disappeared.
    InterfaceRemoved {
        /// `ifIndex`.
        if_index: u32,
        /// Its name.
        name: String,
    },
    /// A module (or other physical entity with a serial number) appeared.
    ModuleAdded {
        /// `entPhysicalIndex`.
        index: u32,
        /// Its name and model.
        name: String,
        /// Its serial number.
        serial: String,
    },
    /// A module (or other physical entity with a serial number) disappeared.
    ModuleRemoved {
        /// `entPhysicalIndex`.
        index: u32,
        /// Its name and model.
        name: String,
        /// Its serial number.
        serial: String,
    },
    /// The serial number of an entity changed (it was replaced in place).
    SerialChanged {
        /// `entPhysicalIndex`.
        index: u32,
        /// Its name.
        name: String,
        /// Before.
        before: String,
        /// After.
        after: String,
    },
    /// The firmware or software revision of an entity changed.
    FirmwareChanged {
        /// `entPhysicalIndex`.
        index: u32,
        /// Its name.
        name: String,
        /// Before (`firmware / software`).
        before: String,
        /// After.
        after: String,
    },
    // New variants go last: stored changes name theirs by position.
    /// A neighbour appeared on an interface (LLDP or CDP).
    NeighbourAdded(NeighbourChange),
    /// A neighbour disappeared from an interface.
    NeighbourRemoved(NeighbourChange),
}

/// A neighbour that appeared or disappeared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NeighbourChange {
    /// The local interface (or local port, when unmapped).
    pub interface: String,
    /// The protocol it was learnt by.
    pub protocol: NeighbourProtocol,
    /// The remote system's name (else its chassis id).
    pub neighbour: String,
    /// The remote port.
    pub port: String,
}

impl NeighbourChange {
    /// The change naming `n`.
    pub fn of(n: &Neighbour) -> Self {
        NeighbourChange {
            interface: n.local_name().to_owned(),
            protocol: n.protocol,
            neighbour: n.remote_name().to_owned(),
            port: n.remote_port().to_owned(),
        }
    }
}

/// The neighbours a device reported last, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceNeighboursRecord {
    /// When the poll that read them started, on the poller's clock.
    pub at: Timestamp,
    /// The device's own LLDP chassis id.
    pub chassis_id: Option<PeerId>,
    /// Its neighbours now.
    pub neighbours: Vec<Neighbour>,
    /// By local interface name: the last neighbour seen on it and when,
    /// kept after it is gone, so that a link that went down (and took its
    /// LLDP entry with it) still names its other end.
    pub last_seen: BTreeMap<String, LastNeighbour>,
}

/// The paper trays a printer reported last, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceTraysRecord {
    /// When the poll that read them started, on the poller's clock.
    pub at: Timestamp,
    /// Its trays, sorted by printer and tray index.
    pub trays: Vec<PaperTray>,
}

/// The last neighbour seen on one interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastNeighbour {
    /// The neighbour.
    pub neighbour: Neighbour,
    /// When it was last reported.
    pub at: Timestamp,
}

/// What is known of the other end of one interface of a device, as the
/// incident rules see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfacePeer {
    /// The local interface's name.
    pub interface: String,
    /// The remote system's name (else its chassis id).
    pub neighbour: String,
    /// The remote port.
    pub port: String,
    /// When the neighbour was last reported on it.
    pub seen_at: Timestamp,
    /// Whether it is still reported.
    pub current: bool,
}

/// One event of a device: a trap or inform its poller accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeviceEvent {
    /// The agent that received it.
    pub agent_id: String,
    /// That agent's sequence number of the record.
    pub seq: u64,
    /// When the collector stored it.
    pub stored_at: Timestamp,
    /// The trap, as the agent classified it.
    pub trap: TrapEvent,
}

/// Why a device is another device's asset: the keys its inventory shares
/// with that asset's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceAlias {
    /// The asset it was merged into.
    pub asset: String,
    /// The device whose asset it was then.
    pub same_as: String,
    /// The identity keys that matched, e.g. `serial:fdo1234`.
    pub keys: Vec<String>,
    /// What matched, as shown beside the device, e.g. `serial FDO1234`.
    pub evidence: String,
    /// The reason in words.
    pub reason: String,
    /// When it was decided.
    pub at: Timestamp,
}

/// A discovery asked of a poller, with the credentials it tries (so that
/// the devices it finds can be added with the one that worked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveryRecord {
    /// Its id.
    pub id: u64,
    /// The agent that sweeps.
    pub poller: String,
    /// Address ranges, as asked.
    pub ranges: Vec<String>,
    /// UDP port asked.
    pub port: u16,
    /// Credentials tried, in order.
    pub credentials: Vec<Credentials>,
    /// Addresses asked at once.
    pub concurrency: u32,
    /// Milliseconds each request waits.
    pub timeout_ms: u32,
    /// How many addresses the ranges hold.
    pub addresses: u64,
    /// When it was asked.
    pub asked_at: Timestamp,
    /// Who asked (API token id).
    pub asked_by: String,
    /// How it ended (`None`: still running, or the poller never answered).
    pub ended: Option<DiscoveryEnd>,
}

/// How a discovery ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscoveryEnd {
    /// Every address was asked.
    Finished {
        /// When, on the poller's clock.
        at: Timestamp,
        /// Addresses asked.
        addresses: u32,
        /// Devices that answered.
        found: u32,
    },
    /// The poller refused to sweep.
    Refused {
        /// When.
        at: Timestamp,
        /// Why.
        reason: String,
    },
}
