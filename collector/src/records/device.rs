//! Network devices: what Atalaya keeps of each one (its spec, its poller,
//! how its last poll went), the changes seen in its inventory, and its
//! events (the traps its poller accepted from it).

use atalaya_common::model::Timestamp;
use atalaya_common::model::device::trap::TrapEvent;
use atalaya_common::model::device::{DeviceSpec, DeviceState};
use serde::{Deserialize, Serialize};

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

/// One event of a device: a trap or inform its poller accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
