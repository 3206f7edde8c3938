//! Network devices polled over SNMP: how to reach them, what they are, and
//! the counters their interface rates are computed from.
//!
//! A [`DeviceSpec`] is configuration (one device a poller agent polls); a
//! [`DeviceInventory`] is what a poll found; [`InterfaceCounters`] are the raw
//! counters of one interface, turned into rates by [`rates::interface_rates`].
//! Series names for the rates are in [`series`]; the LLDP and CDP
//! neighbours a device reports are in [`neighbours`].
//!
//! The types encode with postcard as well as TOML/JSON: no field is skipped
//! when serializing and enums are externally tagged. Secrets never show in
//! `Debug` or `Display` output. The inventory holds no float, so it is `Ord`,
//! and [`DeviceInventory::canonicalize`] sorts every list by its index so two
//! polls of an unchanged device compare equal.

pub mod neighbours;
pub mod ranges;
pub mod rates;
pub mod series;
pub mod trap;
pub mod trays;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use neighbours::{IdKind, Neighbour, NeighbourProtocol, PeerId};
pub use trays::PaperTray;

/// The SNMP port devices listen on unless told otherwise.
pub const DEFAULT_SNMP_PORT: u16 = 161;
/// Seconds between two polls of a device unless told otherwise.
pub const DEFAULT_POLL_INTERVAL_SECONDS: u32 = 60;
/// How long one request waits for its answer unless told otherwise.
pub const DEFAULT_TIMEOUT_MS: u32 = 2_000;
/// How many times a request is sent again after a timeout unless told otherwise.
pub const DEFAULT_RETRIES: u32 = 1;

/// One device to poll and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceSpec {
    /// The name the device is known by in Atalaya (unique per poller).
    pub name: String,
    /// Host name or IP address.
    pub address: String,
    /// UDP port of the device's SNMP agent.
    #[serde(default = "default_port")]
    pub port: u16,
    /// SNMP version and its credentials.
    pub credentials: Credentials,
    /// Seconds between two polls.
    #[serde(default = "default_interval")]
    pub poll_interval_seconds: u32,
    /// Milliseconds one request waits for its answer.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u32,
    /// Times a request is sent again after a timeout.
    #[serde(default = "default_retries")]
    pub retries: u32,
}

fn default_port() -> u16 {
    DEFAULT_SNMP_PORT
}
fn default_interval() -> u32 {
    DEFAULT_POLL_INTERVAL_SECONDS
}
fn default_timeout() -> u32 {
    DEFAULT_TIMEOUT_MS
}
fn default_retries() -> u32 {
    DEFAULT_RETRIES
}

impl DeviceSpec {
    /// A v2c device with the default port, interval, timeout and retries.
    pub fn v2c(name: &str, address: &str, community: &str) -> Self {
        DeviceSpec {
            name: name.to_owned(),
            address: address.to_owned(),
            port: DEFAULT_SNMP_PORT,
            credentials: Credentials::V2c {
                community: Secret::new(community),
            },
            poll_interval_seconds: DEFAULT_POLL_INTERVAL_SECONDS,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            retries: DEFAULT_RETRIES,
        }
    }

    /// The longest a single request can take: the timeout once per try.
    pub fn request_budget_ms(&self) -> u64 {
        u64::from(self.timeout_ms) * (u64::from(self.retries) + 1)
    }
}

/// SNMP version and credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Credentials {
    /// SNMPv1 with a community string.
    V1 {
        /// The community (sent in clear on the wire).
        community: Secret,
    },
    /// SNMPv2c with a community string.
    V2c {
        /// The community (sent in clear on the wire).
        community: Secret,
    },
    /// SNMPv3 with the user-based security model.
    V3 {
        /// USM user name.
        user: String,
        /// Authentication protocol and password; `None` is noAuthNoPriv.
        auth: Option<(AuthProtocol, Secret)>,
        /// Privacy protocol and password; needs `auth`.
        privacy: Option<(PrivProtocol, Secret)>,
    },
}

/// SNMPv3 authentication (HMAC) protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum AuthProtocol {
    /// HMAC-MD5-96.
    Md5,
    /// HMAC-SHA-96.
    Sha1,
    /// HMAC-SHA-224 (RFC 7860).
    Sha224,
    /// HMAC-SHA-256 (RFC 7860).
    Sha256,
    /// HMAC-SHA-384 (RFC 7860).
    Sha384,
    /// HMAC-SHA-512 (RFC 7860).
    Sha512,
}

/// SNMPv3 privacy (encryption) protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum PrivProtocol {
    /// CBC-DES.
    Des,
    /// CFB128-AES-128 (RFC 3826).
    Aes128,
    /// CFB128-AES-192 with the Reeder key extension, as Cisco and most
    /// network gear implement it (net-snmp's `AES-192-C`).
    Aes192,
    /// CFB128-AES-256 with the Reeder key extension, as Cisco and most
    /// network gear implement it (net-snmp's `AES-256-C`).
    Aes256,
}

/// A password or community: printed as `<redacted>` so it never reaches a
/// log line, while still serialized as the plain string it is.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret string.
    pub fn new(value: &str) -> Self {
        Secret(value.to_owned())
    }

    /// The secret itself, for the code that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What one poll found on a device.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceInventory {
    /// The MIB-II system group.
    pub system: DeviceSystem,
    /// IF-MIB interfaces, by `ifIndex`.
    pub interfaces: Vec<DeviceInterface>,
    /// IP-MIB addresses, by interface then address.
    pub addresses: Vec<DeviceAddress>,
    /// ENTITY-MIB physical entities (chassis, modules, fans…), by index.
    pub entities: Vec<PhysicalEntity>,
    /// HOST-RESOURCES-MIB storage areas, by index.
    pub storage: Vec<DeviceStorage>,
    /// HOST-RESOURCES-MIB processors, by index.
    pub processors: Vec<DeviceProcessor>,
    /// Printer-MIB marker supplies (toner, ink, drums…), by index.
    pub supplies: Vec<PrinterSupply>,
}

impl DeviceInventory {
    /// Sorts every list by its index, so equal devices give equal inventories.
    pub fn canonicalize(&mut self) {
        self.interfaces.sort();
        self.addresses.sort();
        self.entities.sort();
        self.storage.sort();
        self.processors.sort();
        self.supplies.sort();
    }

    /// This inventory less what changes from one poll to the next (uptime,
    /// interface status, storage use, processor load, supply levels):
    /// two polls of an unchanged device have equal stable forms, so a
    /// poller sends the inventory again only when this differs.
    pub fn stable(&self) -> DeviceInventory {
        let mut s = self.clone();
        s.system.uptime_seconds = 0;
        for i in &mut s.interfaces {
            i.oper_status = OperStatus::Unknown;
            i.last_change_seconds = 0;
        }
        for st in &mut s.storage {
            st.used_bytes = 0;
        }
        for p in &mut s.processors {
            p.load_percent = None;
        }
        for su in &mut s.supplies {
            su.level = SupplyAmount::Unknown;
            su.percent = None;
        }
        s
    }
}

/// The MIB-II system group.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceSystem {
    /// `sysDescr`: vendor's free text, usually model and software version.
    pub descr: String,
    /// `sysObjectID` in dotted form, e.g. `1.3.6.1.4.1.9.1.1208`.
    pub object_id: String,
    /// Private enterprise number from `sysObjectID` (`1.3.6.1.4.1.N…`).
    pub enterprise: Option<u32>,
    /// Vendor named by the enterprise number, when Atalaya knows it.
    pub vendor: Option<String>,
    /// `sysName`.
    pub name: String,
    /// `sysLocation`.
    pub location: String,
    /// `sysContact`.
    pub contact: String,
    /// `sysUpTime`: seconds since the SNMP agent (re)started.
    pub uptime_seconds: u64,
}

/// The vendor for a private enterprise number (the IANA registry, for the
/// makers of network gear and printers Atalaya is most likely to meet).
pub fn vendor_for_enterprise(number: u32) -> Option<&'static str> {
    Some(match number {
        9 => "Cisco",
        11 => "HP",
        253 => "Xerox",
        311 => "Microsoft",
        367 => "Ricoh",
        641 => "Lexmark",
        674 => "Dell",
        1347 => "Kyocera",
        1588 => "Brocade",
        1602 => "Canon",
        2011 => "Huawei",
        2435 => "Brother",
        2636 => "Juniper",
        4526 => "Netgear",
        6876 => "VMware",
        8072 => "net-snmp",
        12356 => "Fortinet",
        14988 => "MikroTik",
        18334 => "Konica Minolta",
        25506 => "H3C/HPE",
        30065 => "Arista",
        41112 => "Ubiquiti",
        _ => return None,
    })
}

/// The enterprise number of a dotted `sysObjectID`, if it is under
/// `1.3.6.1.4.1` (private enterprises).
pub fn enterprise_of(object_id: &str) -> Option<u32> {
    let rest = object_id
        .trim_start_matches('.')
        .strip_prefix("1.3.6.1.4.1.")?;
    rest.split('.').next()?.parse().ok()
}

/// One interface (IF-MIB `ifTable` joined with `ifXTable`).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceInterface {
    /// `ifIndex`.
    pub if_index: u32,
    /// `ifName` (falls back to `ifDescr` where the device has no `ifXTable`).
    pub name: String,
    /// `ifDescr`.
    pub descr: String,
    /// `ifAlias`: the operator's description.
    pub alias: String,
    /// `ifType` (IANAifType: 6 ethernet, 24 loopback, 53 virtual, 131 tunnel…).
    pub if_type: u32,
    /// `ifPhysAddress` as `aa:bb:cc:dd:ee:ff`; `None` when empty.
    pub mac: Option<String>,
    /// Bits per second: `ifHighSpeed`×10⁶ where present and non-zero, else `ifSpeed`.
    pub speed_bps: Option<u64>,
    /// `ifAdminStatus` is up.
    pub admin_up: bool,
    /// `ifOperStatus`.
    pub oper_status: OperStatus,
    /// `ifLastChange`: the agent's uptime, in seconds, when the status last changed.
    pub last_change_seconds: u64,
}

/// `ifOperStatus`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OperStatus {
    /// Ready to pass packets.
    Up,
    /// Not ready.
    Down,
    /// In a test mode.
    Testing,
    /// Status cannot be determined.
    #[default]
    Unknown,
    /// Waiting for an external event.
    Dormant,
    /// A component (typically hardware) is missing.
    NotPresent,
    /// Down because a lower-layer interface is down.
    LowerLayerDown,
}

impl OperStatus {
    /// The status for an `ifOperStatus` value; out-of-range values are unknown.
    pub fn from_code(code: i64) -> OperStatus {
        match code {
            1 => OperStatus::Up,
            2 => OperStatus::Down,
            3 => OperStatus::Testing,
            5 => OperStatus::Dormant,
            6 => OperStatus::NotPresent,
            7 => OperStatus::LowerLayerDown,
            _ => OperStatus::Unknown,
        }
    }
}

/// One IP address of the device (IP-MIB).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceAddress {
    /// Interface the address is on (`ifIndex`).
    pub if_index: u32,
    /// The address, IPv4 dotted or IPv6 text form.
    pub address: String,
    /// Prefix length, from `ipAddressPrefix` or the `ipAdEntNetMask` netmask.
    pub prefix_len: Option<u8>,
}

/// One physical entity (ENTITY-MIB `entPhysicalTable`).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PhysicalEntity {
    /// `entPhysicalIndex`.
    pub index: u32,
    /// `entPhysicalClass`.
    pub class: EntityClass,
    /// `entPhysicalDescr`.
    pub descr: String,
    /// `entPhysicalName`.
    pub name: String,
    /// `entPhysicalModelName`.
    pub model: String,
    /// `entPhysicalSerialNum`.
    pub serial: String,
    /// `entPhysicalFirmwareRev`.
    pub firmware_rev: String,
    /// `entPhysicalHardwareRev`.
    pub hardware_rev: String,
    /// `entPhysicalSoftwareRev`.
    pub software_rev: String,
    /// `entPhysicalContainedIn`: the index of the entity holding this one (0: none).
    pub contained_in: u32,
}

/// `entPhysicalClass`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EntityClass {
    /// A whole box.
    Chassis,
    /// A plug-in card or sub-module.
    Module,
    /// A power supply.
    PowerSupply,
    /// A fan.
    Fan,
    /// A sensor (temperature, voltage…).
    Sensor,
    /// A network port.
    Port,
    /// A stack of chassis acting as one.
    Stack,
    /// A slot or bay that holds other entities.
    Container,
    /// A processor.
    Cpu,
    /// A backplane.
    Backplane,
    /// Anything else, or a class the device did not say.
    #[default]
    Other,
}

impl EntityClass {
    /// The class for an `entPhysicalClass` value.
    pub fn from_code(code: i64) -> EntityClass {
        match code {
            3 => EntityClass::Chassis,
            4 => EntityClass::Backplane,
            5 => EntityClass::Container,
            6 => EntityClass::PowerSupply,
            7 => EntityClass::Fan,
            8 => EntityClass::Sensor,
            9 => EntityClass::Module,
            10 => EntityClass::Port,
            11 => EntityClass::Stack,
            12 => EntityClass::Cpu,
            _ => EntityClass::Other,
        }
    }
}

/// One storage area (HOST-RESOURCES-MIB `hrStorageTable`).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceStorage {
    /// `hrStorageIndex`.
    pub index: u32,
    /// `hrStorageDescr`, e.g. a mount point or `Physical memory`.
    pub descr: String,
    /// `hrStorageType`.
    pub kind: StorageKind,
    /// Size, bytes (`hrStorageSize` × `hrStorageAllocationUnits`).
    pub size_bytes: u64,
    /// Used, bytes (`hrStorageUsed` × `hrStorageAllocationUnits`).
    pub used_bytes: u64,
}

/// `hrStorageType` (the last arc of `1.3.6.1.2.1.25.2.1.N`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StorageKind {
    /// RAM.
    Ram,
    /// Virtual memory (RAM and swap).
    VirtualMemory,
    /// A fixed disk or its filesystem.
    FixedDisk,
    /// A removable disk.
    RemovableDisk,
    /// A floppy disk.
    FloppyDisk,
    /// An optical disc.
    CompactDisc,
    /// A RAM disk.
    RamDisk,
    /// Flash memory.
    FlashMemory,
    /// A network filesystem.
    NetworkDisk,
    /// Anything else, including a type outside `hrStorageTypes`.
    #[default]
    Other,
}

impl StorageKind {
    /// The kind for the last arc of an `hrStorageTypes` OID.
    pub fn from_code(code: u32) -> StorageKind {
        match code {
            2 => StorageKind::Ram,
            3 => StorageKind::VirtualMemory,
            4 => StorageKind::FixedDisk,
            5 => StorageKind::RemovableDisk,
            6 => StorageKind::FloppyDisk,
            7 => StorageKind::CompactDisc,
            8 => StorageKind::RamDisk,
            9 => StorageKind::FlashMemory,
            10 => StorageKind::NetworkDisk,
            _ => StorageKind::Other,
        }
    }
}

/// One processor (HOST-RESOURCES-MIB `hrProcessorTable`).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceProcessor {
    /// `hrDeviceIndex` of the processor.
    pub index: u32,
    /// `hrProcessorLoad`: average busy percent over the last minute.
    pub load_percent: Option<u8>,
}

/// One marker supply of a printer (Printer-MIB `prtMarkerSuppliesTable`).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PrinterSupply {
    /// `hrDeviceIndex` of the printer.
    pub device_index: u32,
    /// `prtMarkerSuppliesIndex`.
    pub index: u32,
    /// `prtMarkerSuppliesDescription`, e.g. `Black Toner Cartridge`.
    pub descr: String,
    /// `prtMarkerSuppliesType` code: 3 toner, 4 waste toner, 5 ink,
    /// 6 ink cartridge, 9 photoconductor drum, 15 fuser, 21 toner cartridge…
    pub supply_type: u32,
    /// `prtMarkerSuppliesLevel`.
    pub level: SupplyAmount,
    /// `prtMarkerSuppliesMaxCapacity`.
    pub max_capacity: SupplyAmount,
    /// Level as a percent of the maximum, when both are known quantities.
    pub percent: Option<u8>,
}

/// A Printer-MIB supply level or capacity, with its special values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SupplyAmount {
    /// A quantity in the supply's own unit (`prtMarkerSuppliesSupplyUnit`).
    Units(u32),
    /// `-1`: the printer places no restriction (level: "other").
    NoRestriction,
    /// `-2`: the printer cannot tell.
    #[default]
    Unknown,
    /// `-3`: some remains, amount unknown (level only).
    SomeRemaining,
}

impl SupplyAmount {
    /// The amount for a raw `Integer32` value; other negatives are unknown.
    pub fn from_raw(value: i64) -> SupplyAmount {
        match value {
            -1 => SupplyAmount::NoRestriction,
            -3 => SupplyAmount::SomeRemaining,
            v => u32::try_from(v).map_or(SupplyAmount::Unknown, SupplyAmount::Units),
        }
    }
}

impl PrinterSupply {
    /// Level as a percent of capacity, when both are quantities and the
    /// capacity is not zero; clamped to 100 for printers that overfill.
    pub fn compute_percent(level: SupplyAmount, max: SupplyAmount) -> Option<u8> {
        match (level, max) {
            (SupplyAmount::Units(l), SupplyAmount::Units(m)) if m > 0 => {
                let p = (u64::from(l) * 100 / u64::from(m)).min(100);
                u8::try_from(p).ok()
            }
            _ => None,
        }
    }
}

/// How the last poll of a device went.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeviceState {
    /// The device answered every request of the poll.
    Ok,
    /// Not polled yet.
    #[default]
    Unpolled,
    /// The device never answered: it is down, unreachable, filtered, or
    /// (SNMPv1/v2c) it drops requests with a wrong community and also
    /// ignores SNMPv3, so the two cannot be told apart. A device that sends
    /// back only what answers no request (too late, garbled beyond its
    /// request ID, or with another request's ID) is in this state too.
    Timeout,
    /// SNMPv1/v2c: the device did not answer our community, yet its SNMP
    /// engine answered an SNMPv3 discovery probe, so it is up and the
    /// community is wrong (or v1/v2c is disabled on it).
    WrongCommunity,
    /// SNMPv3: the device does not know the user (`usmStatsUnknownUserNames`).
    V3UnknownUser,
    /// SNMPv3: the authentication password is wrong (`usmStatsWrongDigests`).
    V3WrongDigest,
    /// SNMPv3: the device could not decrypt the request, so the privacy
    /// password or protocol is wrong (`usmStatsDecryptionErrors`). Devices
    /// that drop such requests silently, as net-snmp does, show as [`Self::Timeout`].
    V3DecryptionError,
    /// SNMPv3: the device does not recognise the engine ID the request was
    /// addressed to (`usmStatsUnknownEngineIDs`), e.g. after it was replaced;
    /// the engine is rediscovered before the next poll.
    V3UnknownEngine,
    /// SNMPv3: the request fell outside the device's time window
    /// (`usmStatsNotInTimeWindows`), typically after a reboot of a device
    /// that does not persist its boot counter; the engine is rediscovered
    /// before the next poll.
    V3NotInTimeWindow,
    /// SNMPv3: the device refuses the security level asked for
    /// (`usmStatsUnsupportedSecLevels`).
    V3UnsupportedSecurityLevel,
    /// SNMPv3 credentials the agent cannot use (a password shorter than 8
    /// characters, privacy without authentication).
    BadCredentials,
    /// The device's address does not resolve.
    Unresolved,
    /// The request could not be sent (no route, socket error).
    NetworkError,
    /// The device answered `tooBig` even to single-row requests.
    TooBig,
    /// The device answered with something that is not a valid SNMP answer,
    /// or an error status for a read it should serve.
    Malformed,
    /// A table walk returned an OID that does not follow the previous one:
    /// the device's table loops.
    WalkLoop,
    /// A table walk passed its row or time limit: the table is endless or
    /// too large to poll.
    TooManyRows,
}

impl DeviceState {
    /// What the state means, in a sentence for people (incidents, the
    /// device page).
    pub fn meaning(self) -> &'static str {
        match self {
            DeviceState::Ok => "the device answered",
            DeviceState::Unpolled => "the device was not polled yet",
            DeviceState::Timeout => {
                "the device never answered (down, unreachable, filtering SNMP, or a wrong SNMPv1/v2c community it ignores), or sent back only what answers no request (too late, garbled, or with another request's ID)"
            }
            DeviceState::NetworkError => {
                "the request could not be sent (no route to the device, or a socket error on the poller)"
            }
            DeviceState::Unresolved => "the device's address does not resolve",
            DeviceState::WrongCommunity => {
                "the device is up but does not accept the SNMP community (or has SNMPv1/v2c disabled)"
            }
            DeviceState::V3UnknownUser => "the device does not know the SNMPv3 user",
            DeviceState::V3WrongDigest => "the SNMPv3 authentication password is wrong",
            DeviceState::V3DecryptionError => {
                "the device could not decrypt the request: the SNMPv3 privacy password or protocol is wrong"
            }
            DeviceState::BadCredentials => {
                "the SNMPv3 credentials cannot be used (a password shorter than 8 characters, or privacy without authentication)"
            }
            DeviceState::V3UnknownEngine => {
                "the device does not recognise its SNMPv3 engine ID (it may have been replaced)"
            }
            DeviceState::V3NotInTimeWindow => {
                "the request fell outside the device's SNMPv3 time window (typically after a reboot)"
            }
            DeviceState::V3UnsupportedSecurityLevel => {
                "the device refuses the SNMPv3 security level asked for"
            }
            DeviceState::TooBig => "the device answers too big even to single-row requests",
            DeviceState::Malformed => "the device's answer was not valid SNMP",
            DeviceState::WalkLoop => "a table walk of the device loops",
            DeviceState::TooManyRows => "a table of the device is too large to poll",
        }
    }
}

/// The raw counters of one interface at one moment, as polled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InterfaceCounters {
    /// `ifIndex`.
    pub if_index: u32,
    /// `sysUpTime` in hundredths of a second when the counters were read.
    pub sys_uptime_ticks: u32,
    /// `ifCounterDiscontinuityTime` (ticks), where the device has it.
    pub discontinuity_ticks: Option<u32>,
    /// Octets received (`ifHCInOctets`, else `ifInOctets`).
    pub in_octets: Option<Counter>,
    /// Octets sent (`ifHCOutOctets`, else `ifOutOctets`).
    pub out_octets: Option<Counter>,
    /// Unicast packets received.
    pub in_ucast_pkts: Option<Counter>,
    /// Multicast packets received.
    pub in_mcast_pkts: Option<Counter>,
    /// Broadcast packets received.
    pub in_bcast_pkts: Option<Counter>,
    /// Unicast packets sent.
    pub out_ucast_pkts: Option<Counter>,
    /// Multicast packets sent.
    pub out_mcast_pkts: Option<Counter>,
    /// Broadcast packets sent.
    pub out_bcast_pkts: Option<Counter>,
    /// `ifInErrors` (only ever 32-bit).
    pub in_errors: Option<Counter>,
    /// `ifOutErrors`.
    pub out_errors: Option<Counter>,
    /// `ifInDiscards`.
    pub in_discards: Option<Counter>,
    /// `ifOutDiscards`.
    pub out_discards: Option<Counter>,
}

/// A counter value and its width, which decides how it wraps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Counter {
    /// A `Counter64` (IF-MIB high-capacity counters).
    Hc(u64),
    /// A `Counter32`.
    C32(u32),
}

#[cfg(test)]
mod tests;
