//! Incident rules: what opens an incident, read from `config/rules.toml`
//! over the built-in defaults.
//!
//! A rule has a name, a description, a scope, a severity and one kind:
//! a threshold on a metric, an agent's absence, a forecast of a growing
//! series, a class of inventory change, or user reports. The built-in rules
//! ([`builtin`]) are always there; a `[rule.NAME]` table in the file with a
//! built-in name changes only the keys it gives (`enabled = false` turns
//! the rule off), any other name adds a rule.
//!
//! A file with an error is refused whole: [`RuleSet::parse`] returns every
//! problem (file, line, column, `rule.NAME.key`) and the caller keeps the
//! rules it runs.

use std::path::Path;

use atalaya_common::config::{ConfigErrors, Document, LoadError, Section};
use atalaya_common::model::device::DeviceState;
use atalaya_common::model::device::series::OPER_UP;
use atalaya_common::model::device::trap::{AUTHENTICATION_FAILURE, COLD_START, WARM_START};
use atalaya_common::model::{MachineKind, Virtualization};
use serde::{Deserialize, Serialize};

use crate::forecast::DEFAULT_MIN_R2;
use crate::helpers::pattern::glob;
use crate::helpers::series::KNOWN_METRICS;
pub use crate::records::incident::Severity;

/// How long after resolving a recurrence reopens the same incident, by default.
pub const DEFAULT_REOPEN_WINDOW_SECONDS: u64 = 3600;
/// Open/clear cycles within the flap window above which an incident is flapping, by default.
pub const DEFAULT_FLAP_CYCLES: u64 = 3;
/// The window flapping is counted over, and the quiet needed to end it, by default.
pub const DEFAULT_FLAP_WINDOW_SECONDS: u64 = 3600;

/// What kind of machine an asset is, for scopes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetKind {
    /// Not known (no inventory yet, or no evidence).
    #[default]
    Unknown,
    /// Bare metal.
    Physical,
    /// A virtual machine.
    Virtual,
    /// A container.
    Container,
}

impl AssetKind {
    const NAMES: &[&'static str] = &["physical", "virtual", "container", "unknown"];

    /// The kind of a host from its inventory.
    pub fn of(v: &Virtualization) -> Self {
        if v.container.is_some() {
            return AssetKind::Container;
        }
        match v.kind {
            MachineKind::Physical => AssetKind::Physical,
            MachineKind::Virtual => AssetKind::Virtual,
            MachineKind::Unknown => AssetKind::Unknown,
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "physical" => AssetKind::Physical,
            "virtual" => AssetKind::Virtual,
            "container" => AssetKind::Container,
            "unknown" => AssetKind::Unknown,
            _ => return None,
        })
    }
}

/// What the engine knows of an asset for scopes and titles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetFacts {
    /// Host name, for titles.
    pub hostname: String,
    /// Administrator tags.
    pub tags: Vec<String>,
    /// OS id from os-release (`debian`, `rhel`…).
    pub os_id: Option<String>,
    /// Physical, virtual, container.
    pub kind: AssetKind,
}

/// The assets a rule applies to. Every non-empty list must match (an
/// asset with one of the tags, and one of the OS ids, and one of the kinds);
/// all lists empty means every asset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// Any of these tags.
    pub tags: Vec<String>,
    /// Any of these OS ids.
    pub os: Vec<String>,
    /// Any of these kinds.
    pub kinds: Vec<AssetKind>,
}

impl Scope {
    /// Whether an asset is in scope.
    pub fn matches(&self, asset: &AssetFacts) -> bool {
        (self.tags.is_empty() || self.tags.iter().any(|t| asset.tags.contains(t)))
            && (self.os.is_empty()
                || asset
                    .os_id
                    .as_ref()
                    .is_some_and(|id| self.os.iter().any(|o| o == id)))
            && (self.kinds.is_empty() || self.kinds.contains(&asset.kind))
    }
}

/// A comparison of a value with a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// `>`
    #[serde(rename = ">")]
    Above,
    /// `>=`
    #[serde(rename = ">=")]
    AtLeast,
    /// `<`
    #[serde(rename = "<")]
    Below,
    /// `<=`
    #[serde(rename = "<=")]
    AtMost,
}

impl Op {
    const NAMES: &[&'static str] = &[">", ">=", "<", "<="];

    /// `value op threshold`.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Op::Above => value > threshold,
            Op::AtLeast => value >= threshold,
            Op::Below => value < threshold,
            Op::AtMost => value <= threshold,
        }
    }

    /// True for `>` and `>=`: the condition is a value too high.
    pub fn rising(self) -> bool {
        matches!(self, Op::Above | Op::AtLeast)
    }

    /// `>`, `>=`, `<` or `<=`.
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Above => ">",
            Op::AtLeast => ">=",
            Op::Below => "<",
            Op::AtMost => "<=",
        }
    }

    fn from_symbol(s: &str) -> Option<Self> {
        Some(match s {
            ">" => Op::Above,
            ">=" => Op::AtLeast,
            "<" => Op::Below,
            "<=" => Op::AtMost,
            _ => return None,
        })
    }
}

/// The series of one metric a rule watches, by subject (the label's value:
/// mount point, interface, disk…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selector {
    /// The metric, e.g. `filesystem.used_percent`.
    pub metric: String,
    /// Subjects to watch (`*` globs); empty: all.
    pub subjects: Vec<String>,
    /// Subjects to leave out (`*` globs).
    pub exclude_subjects: Vec<String>,
}

impl Selector {
    fn of(metric: &str) -> Self {
        Self {
            metric: metric.to_owned(),
            subjects: Vec::new(),
            exclude_subjects: Vec::new(),
        }
    }

    /// Whether a subject of the metric is watched.
    pub fn matches_subject(&self, subject: &str) -> bool {
        (self.subjects.is_empty() || self.subjects.iter().any(|g| glob(g, subject)))
            && !self.exclude_subjects.iter().any(|g| glob(g, subject))
    }
}

/// A metric crossing a value for a while.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    /// The series watched.
    pub selector: Selector,
    /// How the value compares with `value` while the condition holds.
    pub op: Op,
    /// The threshold.
    pub value: f64,
    /// The condition clears only beyond this value (below it for `>`/`>=`,
    /// above it for `<`/`<=`); between the two the incident stays as it is.
    pub clear_value: f64,
    /// How long the condition must hold before an incident opens, seconds.
    pub for_seconds: u64,
}

impl Threshold {
    /// The value is on the firing side of the threshold.
    pub fn fires(&self, value: f64) -> bool {
        self.op.holds(value, self.value)
    }

    /// The value is on the clear side of the clear value.
    pub fn clears(&self, value: f64) -> bool {
        if self.op.rising() {
            value < self.clear_value
        } else {
            value > self.clear_value
        }
    }
}

/// A series far above its own usual level for a while (see
/// [`super::baseline`]): above `factor` times the level and more than
/// `margin` above it, so that neither a tiny level (0.2 ms to 0.7 ms) nor a
/// small rise on a large one fires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineRise {
    /// The series watched.
    pub selector: Selector,
    /// Fires above this many times the level…
    pub factor: f64,
    /// …and more than this above it, in the series' unit.
    pub margin: f64,
    /// Clears at or below this many times the level (or within `margin` of it).
    pub clear_factor: f64,
    /// The level is that of this many hours before the value.
    pub window_hours: u64,
    /// Hours of history needed before the rule may fire.
    pub min_hours: u64,
    /// How long the condition must hold before an incident opens, seconds.
    pub for_seconds: u64,
}

impl BaselineRise {
    /// The value is far enough above `level` to fire.
    pub fn fires(&self, value: f64, level: f64) -> bool {
        value > level * self.factor && value > level + self.margin
    }

    /// The value is back near `level`.
    pub fn clears(&self, value: f64, level: f64) -> bool {
        value <= level * self.clear_factor || value <= level + self.margin
    }
}

/// An agent not heard from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Absence {
    /// Heartbeat periods without any record from the agent.
    pub missed_heartbeats: u64,
}

/// A growing series reaching a limit soon, by its least-squares trend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    /// The series watched.
    pub selector: Selector,
    /// The value at which the series is full (100 for percentages).
    pub limit: f64,
    /// The trend is fitted over this much recent history, hours.
    pub window_hours: u64,
    /// Opens when the limit is predicted within this many days.
    pub within_days: u64,
    /// A growing line that explains less of the series than this (R², 0
    /// to 1) is not a trend: no date, nothing opens.
    pub min_r2: f64,
}

impl Forecast {
    /// The window the trend is fitted over, ms.
    pub fn window_ms(&self) -> i64 {
        i64::try_from(self.window_hours)
            .unwrap_or(i64::MAX)
            .saturating_mul(3_600_000)
    }
}

/// Days a contract or warranty that has ended is still watched, by default:
/// long enough for a late renewal, short enough that a book imported with
/// years of history does not open an incident for each old contract.
pub const DEFAULT_EXPIRED_DAYS: u32 = 30;
/// Days before a warranty's last day it is called ending, by default.
pub const DEFAULT_WARRANTY_NOTICE_DAYS: u32 = 30;

/// A supplier contract whose renewal is due: from its notice day (its last
/// day less its own notice days) until `expired_days` after its last day.
/// Renewing it (a later last day) or removing it resolves the incident.
/// Contracts are the fleet's, not an asset's: the incident has no asset
/// and its subject is the supplier and the contract number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractNotice {
    /// Days after its last day a contract is still watched.
    pub expired_days: u32,
}

/// An asset's warranty (the longest of its warranty contracts and the one
/// entered for it) ending: from `notice_days` before its last day until
/// `expired_days` after it. Assets not seen for 30 days are not watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarrantyNotice {
    /// Days before the last day the incident opens.
    pub notice_days: u32,
    /// Days after the last day it is still watched.
    pub expired_days: u32,
}

/// A class of inventory change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeClass {
    /// A memory module added.
    MemoryAdded,
    /// A memory module removed or replaced by a smaller one, or less memory (VMs).
    MemoryRemoved,
    /// A fixed disk added.
    DiskAdded,
    /// A fixed disk removed, or replaced (another serial under its name).
    DiskRemoved,
    /// Other hardware under the same asset: DMI system or board serial or
    /// UUID, or the CPU model, changed; on a network device, the serial
    /// number of a part (ENTITY-MIB) changed.
    HardwareReplaced,
    /// `/etc/machine-id` changed: another installation (or machine) reports.
    MachineIdChanged,
    /// A package whose name matches the rule's patterns installed.
    SoftwareAdded,
    /// A package whose name matches the rule's patterns removed.
    SoftwareRemoved,
    /// A network device: a module (an entity with a serial number) appeared.
    ModuleAdded,
    /// A network device: a module (an entity with a serial number) disappeared.
    ModuleRemoved,
    /// A network device: an entity's firmware or software revision changed.
    FirmwareChanged,
}

impl ChangeClass {
    const NAMES: &[&'static str] = &[
        "memory-added",
        "memory-removed",
        "disk-added",
        "disk-removed",
        "hardware-replaced",
        "machine-id-changed",
        "software-added",
        "software-removed",
        "module-added",
        "module-removed",
        "firmware-changed",
    ];

    /// The name used in rules.
    pub fn name(self) -> &'static str {
        match self {
            ChangeClass::MemoryAdded => "memory-added",
            ChangeClass::MemoryRemoved => "memory-removed",
            ChangeClass::DiskAdded => "disk-added",
            ChangeClass::DiskRemoved => "disk-removed",
            ChangeClass::HardwareReplaced => "hardware-replaced",
            ChangeClass::MachineIdChanged => "machine-id-changed",
            ChangeClass::SoftwareAdded => "software-added",
            ChangeClass::SoftwareRemoved => "software-removed",
            ChangeClass::ModuleAdded => "module-added",
            ChangeClass::ModuleRemoved => "module-removed",
            ChangeClass::FirmwareChanged => "firmware-changed",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "memory-added" => ChangeClass::MemoryAdded,
            "memory-removed" => ChangeClass::MemoryRemoved,
            "disk-added" => ChangeClass::DiskAdded,
            "disk-removed" => ChangeClass::DiskRemoved,
            "hardware-replaced" => ChangeClass::HardwareReplaced,
            "machine-id-changed" => ChangeClass::MachineIdChanged,
            "software-added" => ChangeClass::SoftwareAdded,
            "software-removed" => ChangeClass::SoftwareRemoved,
            "module-added" => ChangeClass::ModuleAdded,
            "module-removed" => ChangeClass::ModuleRemoved,
            "firmware-changed" => ChangeClass::FirmwareChanged,
            _ => return None,
        })
    }

    fn is_software(self) -> bool {
        matches!(
            self,
            ChangeClass::SoftwareAdded | ChangeClass::SoftwareRemoved
        )
    }
}

/// Inventory changes of some classes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryChange {
    /// Any of these classes opens an incident.
    pub classes: Vec<ChangeClass>,
    /// Package names (`*` globs) for the software classes.
    pub packages: Vec<String>,
}

/// A device's polls ending in one of some states for a while.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevicePollState {
    /// Any of these poll outcomes holds the condition; `ok` clears it,
    /// other outcomes leave an incident as it is.
    pub states: Vec<DeviceState>,
    /// How long the polls must keep failing before an incident opens, seconds.
    pub for_seconds: u64,
}

/// A device interface that was up reported down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceDown {
    /// `interface.oper_up`, with the interfaces watched as subjects.
    pub selector: Selector,
    /// How long the interface must stay down before an incident opens, seconds.
    pub for_seconds: u64,
}

/// A network device's traps whose OID matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrapMatch {
    /// A trap whose `snmpTrapOID` matches one of these opens the incident
    /// (or counts an occurrence on it): a dotted OID matches itself and the
    /// OIDs under it, a pattern with `*` matches as a glob.
    pub oids: Vec<String>,
    /// A trap matching one of these resolves it (e.g. the "up" trap of a
    /// "down" one).
    pub clear_oids: Vec<String>,
    /// The incident resolves itself this long after the last matching trap,
    /// seconds; 0: it stays open until a clearing trap or staff resolve it.
    pub resolve_after_seconds: u64,
}

impl TrapMatch {
    /// Whether a trap with `oid` opens the incident.
    pub fn opens(&self, oid: &str) -> bool {
        self.oids.iter().any(|p| oid_matches(p, oid))
    }

    /// Whether a trap with `oid` resolves it.
    pub fn clears(&self, oid: &str) -> bool {
        self.clear_oids.iter().any(|p| oid_matches(p, oid))
    }
}

/// Whether the dotted `oid` matches `pattern`: a glob when it has a `*`,
/// else the OID itself or one under it (`1.3.6.1.4.1.9` matches
/// `1.3.6.1.4.1.9.9.41.2`, not `1.3.6.1.4.1.99`). Leading dots are ignored.
pub fn oid_matches(pattern: &str, oid: &str) -> bool {
    let pattern = pattern.trim_start_matches('.');
    let oid = oid.trim_start_matches('.');
    if pattern.contains('*') {
        return glob(pattern, oid);
    }
    oid == pattern
        || oid
            .strip_prefix(pattern)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// The poll outcomes by the names rules use for them (as the API writes them).
const DEVICE_STATES: &[(&str, DeviceState)] = &[
    ("ok", DeviceState::Ok),
    ("unpolled", DeviceState::Unpolled),
    ("timeout", DeviceState::Timeout),
    ("wrong_community", DeviceState::WrongCommunity),
    ("v3_unknown_user", DeviceState::V3UnknownUser),
    ("v3_wrong_digest", DeviceState::V3WrongDigest),
    ("v3_decryption_error", DeviceState::V3DecryptionError),
    ("v3_unknown_engine", DeviceState::V3UnknownEngine),
    ("v3_not_in_time_window", DeviceState::V3NotInTimeWindow),
    (
        "v3_unsupported_security_level",
        DeviceState::V3UnsupportedSecurityLevel,
    ),
    ("bad_credentials", DeviceState::BadCredentials),
    ("unresolved", DeviceState::Unresolved),
    ("network_error", DeviceState::NetworkError),
    ("too_big", DeviceState::TooBig),
    ("malformed", DeviceState::Malformed),
    ("walk_loop", DeviceState::WalkLoop),
    ("too_many_rows", DeviceState::TooManyRows),
];

/// The name of a poll outcome in rules and incident texts, e.g. `wrong_community`.
pub fn device_state_name(state: DeviceState) -> &'static str {
    DEVICE_STATES
        .iter()
        .find(|(_, s)| *s == state)
        .map_or("unknown", |(n, _)| n)
}

fn device_state_from_name(name: &str) -> Option<DeviceState> {
    DEVICE_STATES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
}

/// What makes a rule's incidents open and clear.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum RuleKind {
    /// A metric crossing a value.
    Threshold(Threshold),
    /// An agent silent.
    Absence(Absence),
    /// A series filling up.
    Forecast(Forecast),
    /// An inventory change.
    InventoryChange(InventoryChange),
    /// A report from the person at the machine.
    UserReport,
    /// A network device's polls failing in some way.
    DeviceState(DevicePollState),
    /// A network device's interface going down.
    InterfaceDown(InterfaceDown),
    /// A network device sending some traps.
    Trap(TrapMatch),
    /// A series far above its own usual level.
    Baseline(BaselineRise),
    /// A supplier contract due for renewal.
    ContractNotice(ContractNotice),
    /// An asset's warranty ending.
    WarrantyNotice(WarrantyNotice),
    /// A licence with more installations than seats.
    LicenceOver,
}

impl RuleKind {
    const NAMES: &[&'static str] = &[
        "threshold",
        "absence",
        "forecast",
        "inventory-change",
        "user-report",
        "device-state",
        "interface-down",
        "trap",
        "baseline",
        "contract-notice",
        "warranty-notice",
        "licence-over",
    ];

    /// The name used in rules.
    pub fn name(&self) -> &'static str {
        match self {
            RuleKind::Threshold(_) => "threshold",
            RuleKind::Absence(_) => "absence",
            RuleKind::Forecast(_) => "forecast",
            RuleKind::InventoryChange(_) => "inventory-change",
            RuleKind::UserReport => "user-report",
            RuleKind::DeviceState(_) => "device-state",
            RuleKind::InterfaceDown(_) => "interface-down",
            RuleKind::Trap(_) => "trap",
            RuleKind::Baseline(_) => "baseline",
            RuleKind::ContractNotice(_) => "contract-notice",
            RuleKind::WarrantyNotice(_) => "warranty-notice",
            RuleKind::LicenceOver => "licence-over",
        }
    }

    /// Whether its incidents are the fleet's, with no asset (contracts and
    /// licences): such a rule takes no asset scope.
    pub fn is_fleet_wide(&self) -> bool {
        matches!(self, RuleKind::ContractNotice(_) | RuleKind::LicenceOver)
    }
}

/// How an incident of a rule behaves after it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifecycle {
    /// A recurrence within this long of resolving reopens the same incident, seconds.
    pub reopen_window_seconds: u64,
    /// More open/clear cycles than this within `flap_window_seconds` make an incident flapping.
    pub flap_cycles: u64,
    /// The flap counting window, and the quiet that ends flapping, seconds.
    pub flap_window_seconds: u64,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self {
            reopen_window_seconds: DEFAULT_REOPEN_WINDOW_SECONDS,
            flap_cycles: DEFAULT_FLAP_CYCLES,
            flap_window_seconds: DEFAULT_FLAP_WINDOW_SECONDS,
        }
    }
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Unique name, e.g. `filesystem-full`; part of every incident's key.
    pub name: String,
    /// What it means and what to do, in words for the help desk.
    pub description: String,
    /// Severity of its incidents.
    pub severity: Severity,
    /// A disabled rule opens nothing.
    pub enabled: bool,
    /// The assets it applies to.
    pub scope: Scope,
    /// What opens and clears its incidents.
    pub kind: RuleKind,
    /// Reopening and flapping.
    pub lifecycle: Lifecycle,
}

/// The built-in rules, with `lifecycle` for all of them.
pub fn builtin(lifecycle: Lifecycle) -> Vec<Rule> {
    let rule = |name: &str, severity, description: &str, kind| Rule {
        name: name.to_owned(),
        description: description.to_owned(),
        severity,
        enabled: true,
        scope: Scope::default(),
        kind,
        lifecycle,
    };
    let threshold = |metric: &str, value, clear_value, for_seconds| {
        RuleKind::Threshold(Threshold {
            selector: Selector::of(metric),
            op: Op::Above,
            value,
            clear_value,
            for_seconds,
        })
    };
    vec![
        rule(
            "agent-offline",
            Severity::High,
            "The agent has not been heard from for several heartbeat periods: the machine may be off, off the network, or the agent stopped.",
            RuleKind::Absence(Absence {
                missed_heartbeats: 3,
            }),
        ),
        rule(
            "filesystem-full",
            Severity::High,
            "A filesystem is almost full; programs writing to it will fail. Free space or grow it.",
            threshold("filesystem.used_percent", 90.0, 85.0, 300),
        ),
        rule(
            "filesystem-filling",
            Severity::Warning,
            "At the rate of the last days a filesystem will be full within a week.",
            RuleKind::Forecast(Forecast {
                selector: Selector::of("filesystem.used_percent"),
                limit: 100.0,
                window_hours: 72,
                within_days: 7,
                min_r2: DEFAULT_MIN_R2,
            }),
        ),
        rule(
            "memory-pressure",
            Severity::Warning,
            "Almost no memory is available without swapping; the machine slows down and may start killing processes.",
            threshold("memory.used_percent", 90.0, 80.0, 600),
        ),
        rule(
            "cpu-saturated",
            Severity::Warning,
            "The CPUs have been almost fully busy for a long time.",
            threshold("cpu.total_percent", 95.0, 80.0, 900),
        ),
        rule(
            "hardware-change",
            Severity::Warning,
            "Hardware was removed or replaced: memory, a fixed disk, the mainboard or the CPU; on a network device, a module, or a part whose serial number changed.",
            RuleKind::InventoryChange(InventoryChange {
                classes: vec![
                    ChangeClass::MemoryRemoved,
                    ChangeClass::DiskRemoved,
                    ChangeClass::HardwareReplaced,
                    ChangeClass::ModuleRemoved,
                ],
                packages: Vec::new(),
            }),
        ),
        rule(
            "user-report",
            Severity::Warning,
            "Reported by the person at the machine.",
            RuleKind::UserReport,
        ),
        rule(
            "device-unreachable",
            Severity::High,
            "A network device has not answered its polls: it may be off, off the network, or filtering SNMP from its poller.",
            RuleKind::DeviceState(DevicePollState {
                states: vec![
                    DeviceState::Timeout,
                    DeviceState::NetworkError,
                    DeviceState::Unresolved,
                ],
                for_seconds: 120,
            }),
        ),
        rule(
            "device-credentials",
            Severity::Warning,
            "The device refused Atalaya's credentials: the SNMP community or SNMPv3 user and passwords of the device and of Atalaya differ.",
            RuleKind::DeviceState(DevicePollState {
                states: vec![
                    DeviceState::WrongCommunity,
                    DeviceState::V3UnknownUser,
                    DeviceState::V3WrongDigest,
                    DeviceState::V3DecryptionError,
                    DeviceState::BadCredentials,
                ],
                for_seconds: 0,
            }),
        ),
        rule(
            "interface-down",
            Severity::High,
            "A device interface that was up is down: a cable, the device at its other end, or the port itself failed.",
            RuleKind::InterfaceDown(InterfaceDown {
                selector: Selector::of(OPER_UP),
                for_seconds: 120,
            }),
        ),
        rule(
            "interface-in-utilisation",
            Severity::Warning,
            "A device interface has received close to its speed for a long time: traffic through it is slowed or dropped.",
            threshold("interface.in_utilisation_percent", 90.0, 70.0, 900),
        ),
        rule(
            "interface-out-utilisation",
            Severity::Warning,
            "A device interface has sent close to its speed for a long time: traffic through it is slowed or dropped.",
            threshold("interface.out_utilisation_percent", 90.0, 70.0, 900),
        ),
        rule(
            "interface-in-errors",
            Severity::Warning,
            "A device interface has received more than one damaged frame a second for 10 minutes: a bad cable or connector, a duplex mismatch, or a failing port at either end. It clears below one every 5 seconds.",
            threshold("interface.in_errors_per_second", 1.0, 0.2, 600),
        ),
        rule(
            "interface-out-errors",
            Severity::Warning,
            "A device interface has failed to send more than one frame a second for 10 minutes: collisions from a duplex mismatch, or a failing port. It clears below one every 5 seconds.",
            threshold("interface.out_errors_per_second", 1.0, 0.2, 600),
        ),
        rule(
            "interface-in-discards",
            Severity::Warning,
            "A device interface has thrown away more than 10 good received frames a second for 10 minutes: the device runs out of buffers or drops by policy, so traffic through it is lost. It clears below 2 a second.",
            threshold("interface.in_discards_per_second", 10.0, 2.0, 600),
        ),
        rule(
            "interface-out-discards",
            Severity::Warning,
            "A device interface has thrown away more than 10 frames a second it had to send, for 10 minutes: its output queue overflows (the link is too small for the traffic, or bursts exceed its buffers). It clears below 2 a second.",
            threshold("interface.out_discards_per_second", 10.0, 2.0, 600),
        ),
        rule(
            "device-restarted",
            Severity::Info,
            "A network device restarted (it sent a coldStart or warmStart trap): a power cut, a crash, or planned work. Resolves itself after ten minutes, as the device is up again.",
            RuleKind::Trap(TrapMatch {
                oids: vec![COLD_START.to_owned(), WARM_START.to_owned()],
                clear_oids: Vec::new(),
                resolve_after_seconds: 600,
            }),
        ),
        rule(
            "snmp-authentication-failure",
            Severity::Warning,
            "A network device refused an SNMP request with a wrong community or user (it sent an authenticationFailure trap): a misconfigured manager, or someone probing. Resolves itself an hour after the last one.",
            RuleKind::Trap(TrapMatch {
                oids: vec![AUTHENTICATION_FAILURE.to_owned()],
                clear_oids: Vec::new(),
                resolve_after_seconds: 3600,
            }),
        ),
        rule(
            "probe-loss",
            Severity::Warning,
            "More than a fifth of an agent's probes to a target went unanswered for 5 minutes: the path from this machine to the target drops packets, or the target is down. It clears below 5 %. `atalaya probes --asset HOST` shows the method and the latest round.",
            threshold("probe.loss_percent", 20.0, 5.0, 300),
        ),
        rule(
            "probe-latency",
            Severity::Warning,
            "An agent's round trip to a target has stayed above 3 times its usual level and more than 20 ms above it for 5 minutes. The usual level is the median of the hourly medians of the target's stored round trips (probe.rtt_ms) over the last 24 hours, so odd slow probes and a few bad hours do not move it; it needs 3 hours of history. It clears at or below twice the level.",
            RuleKind::Baseline(BaselineRise {
                selector: Selector::of("probe.rtt_ms"),
                factor: 3.0,
                margin: 20.0,
                clear_factor: 2.0,
                window_hours: 24,
                min_hours: 3,
                for_seconds: 300,
            }),
        ),
        rule(
            "contract-renewal",
            Severity::Warning,
            "A supplier contract reaches the day its renewal is to be decided (its end less its notice days): renew it, replace it or let it end knowingly. Resolves when its end moves (renewed) or it leaves the supplier book, and 30 days after it ended.",
            RuleKind::ContractNotice(ContractNotice {
                expired_days: DEFAULT_EXPIRED_DAYS,
            }),
        ),
        rule(
            "warranty-ending",
            Severity::Warning,
            "An asset's warranty ends within 30 days or has just ended: extend it, or plan the asset's replacement before it fails unprotected. Resolves when a later warranty is recorded, and 30 days after it ended.",
            RuleKind::WarrantyNotice(WarrantyNotice {
                notice_days: DEFAULT_WARRANTY_NOTICE_DAYS,
                expired_days: DEFAULT_EXPIRED_DAYS,
            }),
        ),
        rule(
            "licence-over-seats",
            Severity::Warning,
            "A licence is installed on more assets (seen within 30 days) than it has seats: buy seats or remove the software from the assets listed. Resolves when the installations fit the seats.",
            RuleKind::LicenceOver,
        ),
    ]
}

/// The rules in force: the built-in ones as the file changed them, then the file's own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

impl Default for RuleSet {
    /// The built-in rules.
    fn default() -> Self {
        Self {
            rules: builtin(Lifecycle::default()),
        }
    }
}

impl RuleSet {
    /// A rule set of exactly these rules (tests, benchmarks).
    pub fn from_rules(rules: Vec<Rule>) -> Self {
        Self { rules }
    }

    /// Every rule, disabled ones included.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The rule named `name`.
    pub fn get(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.name == name)
    }

    /// What the knowledge base matches the incidents of rule `name` on:
    /// the metric it watches, or that they are reports in people's words.
    pub fn kb_of(&self, name: &str) -> crate::kb::RuleKb {
        let mut kb = crate::kb::RuleKb::default();
        match self.get(name).map(|r| &r.kind) {
            Some(RuleKind::Threshold(t)) => kb.metric = Some(t.selector.metric.clone()),
            Some(RuleKind::Forecast(f)) => kb.metric = Some(f.selector.metric.clone()),
            Some(RuleKind::Baseline(b)) => kb.metric = Some(b.selector.metric.clone()),
            Some(RuleKind::UserReport) => kb.reported = true,
            _ => {}
        }
        kb
    }

    /// Reads and parses a rules file.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|e| LoadError::read(path, e))?;
        Ok(Self::parse(&path.display().to_string(), &text)?)
    }

    /// Parses a rules file over the built-in rules; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Self, ConfigErrors> {
        let doc = Document::parse(file, text)?;
        let settings = doc.section("incidents");
        let lifecycle = lifecycle(&settings, Lifecycle::default());
        let builtins = builtin(lifecycle);
        let mut rules = builtins.clone();
        for (name, section) in doc.section("rule").tables() {
            let base = builtins.iter().find(|r| r.name == name);
            if let Some(rule) = parse_rule(&name, &section, base, lifecycle) {
                match rules.iter_mut().find(|r| r.name == name) {
                    Some(slot) => *slot = rule,
                    None => rules.push(rule),
                }
            }
        }
        doc.finish()?;
        Ok(Self { rules })
    }
}

fn lifecycle(s: &Section<'_, '_>, base: Lifecycle) -> Lifecycle {
    Lifecycle {
        reopen_window_seconds: opt_integer(s, "reopen_window_seconds", 0..=2_592_000, "seconds")
            .unwrap_or(base.reopen_window_seconds),
        flap_cycles: opt_integer(s, "flap_cycles", 1..=1000, "cycles").unwrap_or(base.flap_cycles),
        flap_window_seconds: opt_integer(s, "flap_window_seconds", 60..=604_800, "seconds")
            .unwrap_or(base.flap_window_seconds),
    }
}

/// An integer that is given, or `None`; the key counts as known either way.
fn opt_integer(
    s: &Section<'_, '_>,
    key: &str,
    range: std::ops::RangeInclusive<u64>,
    unit: &str,
) -> Option<u64> {
    let given = s.has(key);
    let value = s.integer(key, *range.start(), range, unit);
    given.then_some(value)
}

/// A number of days, 0 to ten years.
fn opt_days(s: &Section<'_, '_>, key: &str) -> Option<u32> {
    opt_integer(s, key, 0..=3650, "days").and_then(|d| u32::try_from(d).ok())
}

fn opt_strings(s: &Section<'_, '_>, key: &str) -> Option<Vec<String>> {
    let given = s.has(key);
    let value = s.strings(key, &[]);
    given.then_some(value)
}

fn opt_boolean(s: &Section<'_, '_>, key: &str) -> Option<bool> {
    let given = s.has(key);
    let value = s.boolean(key, false);
    given.then_some(value)
}

/// A string that must be one of `names`, mapped by `from`.
fn opt_named<T>(
    s: &Section<'_, '_>,
    key: &str,
    names: &[&str],
    from: impl Fn(&str) -> Option<T>,
) -> Option<T> {
    let text = s.string(key)?;
    let found = from(&text);
    if found.is_none() {
        s.invalid(
            key,
            format!("expected one of {}, found {text:?}", quoted(names)),
        );
    }
    found
}

/// A list of names each of which must be one of `names`; `Some(None)` when
/// one was not (and that was reported).
fn opt_named_list<T>(
    s: &Section<'_, '_>,
    key: &str,
    names: &[&str],
    from: impl Fn(&str) -> Option<T>,
) -> Option<Option<Vec<T>>> {
    let list = opt_strings(s, key)?;
    let mut out = Vec::new();
    let mut all_known = true;
    for item in &list {
        match from(item) {
            Some(v) => out.push(v),
            None => {
                all_known = false;
                s.invalid(
                    key,
                    format!("expected each of {}, found {item:?}", quoted(names)),
                );
            }
        }
    }
    Some(all_known.then_some(out))
}

fn quoted(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse_rule(
    name: &str,
    s: &Section<'_, '_>,
    base: Option<&Rule>,
    global: Lifecycle,
) -> Option<Rule> {
    let kind_name = opt_named(s, "kind", RuleKind::NAMES, |k| {
        RuleKind::NAMES.iter().copied().find(|n| *n == k)
    });
    let given_kind = s.has("kind");
    if given_kind && kind_name.is_none() {
        s.skip_unread();
        return None;
    }
    // The built-in rule's kind-specific values are a base only when the
    // file keeps its kind.
    let same_kind = base.filter(|b| kind_name.is_none_or(|k| k == b.kind.name()));
    let description = s
        .string("description")
        .or_else(|| base.map(|b| b.description.clone()))
        .unwrap_or_default();
    let severity = opt_named(s, "severity", Severity::NAMES, Severity::from_name)
        .or(base.map(|b| b.severity))
        .unwrap_or(Severity::Warning);
    let enabled = opt_boolean(s, "enabled")
        .or(base.map(|b| b.enabled))
        .unwrap_or(true);
    let base_scope = base.map(|b| b.scope.clone()).unwrap_or_default();
    let scope = Scope {
        tags: opt_strings(s, "tags").unwrap_or(base_scope.tags),
        os: opt_strings(s, "os").unwrap_or(base_scope.os),
        kinds: opt_named_list(s, "asset_kinds", AssetKind::NAMES, AssetKind::from_name)
            .map(Option::unwrap_or_default)
            .unwrap_or(base_scope.kinds),
    };
    let lifecycle = lifecycle(s, base.map_or(global, |b| b.lifecycle));
    let kind_name = match kind_name.or(base.map(|b| b.kind.name())) {
        Some(k) => k,
        None => {
            s.skip_unread();
            s.missing(
                "kind",
                format!(
                    "a new rule needs a kind, one of {} (built-in rules to change instead: {})",
                    quoted(RuleKind::NAMES),
                    builtin(global)
                        .iter()
                        .map(|r| r.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            return None;
        }
    };
    let base_kind = same_kind.map(|b| &b.kind);
    let kind = match kind_name {
        "threshold" => RuleKind::Threshold(parse_threshold(
            s,
            match base_kind {
                Some(RuleKind::Threshold(t)) => Some(t),
                _ => None,
            },
        )?),
        "absence" => RuleKind::Absence(Absence {
            missed_heartbeats: opt_integer(s, "missed_heartbeats", 1..=1000, "heartbeats")
                .or(match base_kind {
                    Some(RuleKind::Absence(a)) => Some(a.missed_heartbeats),
                    _ => None,
                })
                .unwrap_or(3),
        }),
        "forecast" => RuleKind::Forecast(parse_forecast(
            s,
            match base_kind {
                Some(RuleKind::Forecast(f)) => Some(f),
                _ => None,
            },
        )?),
        "inventory-change" => RuleKind::InventoryChange(parse_inventory_change(
            s,
            match base_kind {
                Some(RuleKind::InventoryChange(c)) => Some(c),
                _ => None,
            },
        )?),
        "baseline" => RuleKind::Baseline(parse_baseline(
            s,
            match base_kind {
                Some(RuleKind::Baseline(b)) => Some(b),
                _ => None,
            },
        )?),
        "device-state" => RuleKind::DeviceState(parse_device_state(
            s,
            match base_kind {
                Some(RuleKind::DeviceState(d)) => Some(d),
                _ => None,
            },
        )?),
        "trap" => RuleKind::Trap(parse_trap(
            s,
            match base_kind {
                Some(RuleKind::Trap(t)) => Some(t),
                _ => None,
            },
        )?),
        "interface-down" => {
            let base = match base_kind {
                Some(RuleKind::InterfaceDown(d)) => Some(d),
                _ => None,
            };
            let selector = base.map_or_else(|| Selector::of(OPER_UP), |b| b.selector.clone());
            RuleKind::InterfaceDown(InterfaceDown {
                selector: Selector {
                    subjects: opt_strings(s, "subjects").unwrap_or(selector.subjects),
                    exclude_subjects: opt_strings(s, "exclude_subjects")
                        .unwrap_or(selector.exclude_subjects),
                    metric: selector.metric,
                },
                for_seconds: opt_integer(s, "for_seconds", 0..=604_800, "seconds")
                    .or(base.map(|b| b.for_seconds))
                    .unwrap_or(120),
            })
        }
        "contract-notice" => RuleKind::ContractNotice(ContractNotice {
            expired_days: opt_days(s, "expired_days")
                .or(match base_kind {
                    Some(RuleKind::ContractNotice(c)) => Some(c.expired_days),
                    _ => None,
                })
                .unwrap_or(DEFAULT_EXPIRED_DAYS),
        }),
        "warranty-notice" => {
            let base = match base_kind {
                Some(RuleKind::WarrantyNotice(w)) => Some(*w),
                _ => None,
            };
            RuleKind::WarrantyNotice(WarrantyNotice {
                notice_days: opt_days(s, "notice_days")
                    .or(base.map(|b| b.notice_days))
                    .unwrap_or(DEFAULT_WARRANTY_NOTICE_DAYS),
                expired_days: opt_days(s, "expired_days")
                    .or(base.map(|b| b.expired_days))
                    .unwrap_or(DEFAULT_EXPIRED_DAYS),
            })
        }
        "licence-over" => RuleKind::LicenceOver,
        _ => RuleKind::UserReport,
    };
    if kind.is_fleet_wide() {
        for key in ["tags", "os", "asset_kinds"] {
            if s.has(key) {
                s.invalid(
                    key,
                    format!(
                        "a {} rule watches the fleet's contracts and licences, not assets: it takes no `{key}`",
                        kind.name()
                    ),
                );
            }
        }
    }
    Some(Rule {
        name: name.to_owned(),
        description,
        severity,
        enabled,
        scope,
        kind,
        lifecycle,
    })
}

fn parse_selector(s: &Section<'_, '_>, base: Option<&Selector>, kind: &str) -> Option<Selector> {
    let metric = match s.string("series") {
        Some(m) if KNOWN_METRICS.binary_search(&m.as_str()).is_ok() => Some(m),
        Some(m) => {
            let hint = if m.contains('{') {
                "name the metric without its label, e.g. \"filesystem.used_percent\", and pick mount points, interfaces or disks with `subjects`".to_owned()
            } else {
                format!("expected one of {}", KNOWN_METRICS.join(", "))
            };
            s.invalid("series", format!("unknown series {m:?}: {hint}"));
            None
        }
        None => match base {
            Some(b) => Some(b.metric.clone()),
            None => {
                s.missing(
                    "series",
                    format!(
                        "a {kind} rule needs the metric it watches, e.g. \"filesystem.used_percent\""
                    ),
                );
                None
            }
        },
    };
    let subjects = opt_strings(s, "subjects").or_else(|| base.map(|b| b.subjects.clone()));
    let exclude =
        opt_strings(s, "exclude_subjects").or_else(|| base.map(|b| b.exclude_subjects.clone()));
    Some(Selector {
        metric: metric?,
        subjects: subjects.unwrap_or_default(),
        exclude_subjects: exclude.unwrap_or_default(),
    })
}

fn parse_threshold(s: &Section<'_, '_>, base: Option<&Threshold>) -> Option<Threshold> {
    let selector = parse_selector(s, base.map(|b| &b.selector), "threshold");
    let op = opt_named(s, "op", Op::NAMES, Op::from_symbol).or(base.map(|b| b.op));
    if op.is_none() && !s.has("op") {
        s.missing(
            "op",
            format!("a threshold rule needs `op`, one of {}", quoted(Op::NAMES)),
        );
    }
    let value = s.number("value").or(base.map(|b| b.value));
    if value.is_none() && !s.has("value") {
        s.missing("value", "a threshold rule needs `value`, the threshold");
    }
    let given_clear = s.number("clear_value");
    let for_seconds = opt_integer(s, "for_seconds", 0..=604_800, "seconds")
        .or(base.map(|b| b.for_seconds))
        .unwrap_or(0);
    let (op, value) = (op?, value?);
    let clear_value = given_clear.or(base.map(|b| b.clear_value)).unwrap_or(value);
    let wrong_side = if op.rising() {
        clear_value > value
    } else {
        clear_value < value
    };
    if wrong_side {
        let side = if op.rising() { "at most" } else { "at least" };
        let message = format!(
            "clear_value {clear_value} must be {side} value {value} for `{}`: the incident clears when the value is back past it",
            op.symbol()
        );
        if s.has("clear_value") {
            s.invalid("clear_value", message);
        } else {
            s.missing(
                "clear_value",
                format!("{message} (the built-in rule's clear_value; give one)"),
            );
        }
        return None;
    }
    Some(Threshold {
        selector: selector?,
        op,
        value,
        clear_value,
        for_seconds,
    })
}

fn parse_forecast(s: &Section<'_, '_>, base: Option<&Forecast>) -> Option<Forecast> {
    let selector = parse_selector(s, base.map(|b| &b.selector), "forecast");
    let limit = s.number("limit").or(base.map(|b| b.limit));
    if limit.is_none() && !s.has("limit") {
        s.missing(
            "limit",
            "a forecast rule needs `limit`, the value at which the series is full (100 for a percentage)",
        );
    }
    let window_hours = opt_integer(s, "window_hours", 1..=2160, "hours")
        .or(base.map(|b| b.window_hours))
        .unwrap_or(72);
    let within_days = opt_integer(s, "within_days", 1..=3650, "days")
        .or(base.map(|b| b.within_days))
        .unwrap_or(7);
    let min_r2 = match s.number("min_r2") {
        Some(r2) if (0.0..=1.0).contains(&r2) => r2,
        Some(r2) => {
            s.invalid(
                "min_r2",
                format!("expected a fit quality from 0 to 1, found {r2}"),
            );
            DEFAULT_MIN_R2
        }
        None => base.map_or(DEFAULT_MIN_R2, |b| b.min_r2),
    };
    Some(Forecast {
        selector: selector?,
        limit: limit?,
        window_hours,
        within_days,
        min_r2,
    })
}

fn parse_baseline(s: &Section<'_, '_>, base: Option<&BaselineRise>) -> Option<BaselineRise> {
    let selector = parse_selector(s, base.map(|b| &b.selector), "baseline");
    let factor = |key: &str, base_value: Option<f64>, default: f64| {
        let value = s.number(key).or(base_value).unwrap_or(default);
        if !(1.0..=1000.0).contains(&value) {
            s.invalid(
                key,
                format!("expected a factor from 1 to 1000, found {value}"),
            );
            return None;
        }
        Some(value)
    };
    let rise = factor("factor", base.map(|b| b.factor), 3.0);
    let clear_factor = factor("clear_factor", base.map(|b| b.clear_factor), 2.0);
    let margin = s.number("margin").or(base.map(|b| b.margin)).unwrap_or(0.0);
    if margin < 0.0 {
        s.invalid(
            "margin",
            format!("expected a margin of at least 0, found {margin}"),
        );
        return None;
    }
    let window_hours = opt_integer(s, "window_hours", 2..=720, "hours")
        .or(base.map(|b| b.window_hours))
        .unwrap_or(24);
    let min_hours = opt_integer(s, "min_hours", 1..=720, "hours")
        .or(base.map(|b| b.min_hours))
        .unwrap_or(3);
    let for_seconds = opt_integer(s, "for_seconds", 0..=604_800, "seconds")
        .or(base.map(|b| b.for_seconds))
        .unwrap_or(0);
    let (factor, clear_factor) = (rise?, clear_factor?);
    if clear_factor > factor {
        s.invalid(
            "clear_factor",
            format!("clear_factor {clear_factor} must be at most factor {factor}: the incident clears when the value is back under it"),
        );
        return None;
    }
    if min_hours > window_hours {
        s.invalid(
            "min_hours",
            format!("min_hours {min_hours} is more than the {window_hours} hours of window_hours"),
        );
        return None;
    }
    Some(BaselineRise {
        selector: selector?,
        factor,
        margin,
        clear_factor,
        window_hours,
        min_hours,
        for_seconds,
    })
}

fn parse_device_state(
    s: &Section<'_, '_>,
    base: Option<&DevicePollState>,
) -> Option<DevicePollState> {
    let names: Vec<&str> = DEVICE_STATES.iter().map(|(n, _)| *n).collect();
    let states = opt_named_list(s, "states", &names, device_state_from_name)
        .or_else(|| base.map(|b| Some(b.states.clone())));
    let for_seconds = opt_integer(s, "for_seconds", 0..=604_800, "seconds")
        .or(base.map(|b| b.for_seconds))
        .unwrap_or(0);
    let Some(states) = states else {
        s.missing(
            "states",
            format!(
                "a device-state rule needs `states`, a list of {}",
                quoted(&names)
            ),
        );
        return None;
    };
    // An unknown state was reported already.
    let states = states?;
    if states.is_empty() || states.contains(&DeviceState::Ok) {
        s.invalid(
            "states",
            "expected at least one poll outcome other than \"ok\" (an ok poll clears the incident)",
        );
        return None;
    }
    Some(DevicePollState {
        states,
        for_seconds,
    })
}

/// OID patterns given as `key` (one) or `keys` (a list), checked.
/// A bad pattern is reported, and gives an empty list.
fn opt_oid_patterns(s: &Section<'_, '_>, one: &str, many: &str) -> Option<Vec<String>> {
    let mut given = opt_strings(s, many);
    if let Some(single) = s.string(one) {
        given.get_or_insert_with(Vec::new).push(single);
    }
    let patterns = given?;
    if patterns.is_empty() && one == "oid" {
        s.invalid(many, "expected at least one trap OID");
    }
    for p in &patterns {
        let ok = !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_digit() || c == '.' || c == '*')
            && p.chars().any(|c| c.is_ascii_digit() || c == '*');
        if !ok {
            let key = if s.has(one) { one } else { many };
            s.invalid(
                key,
                format!("expected dotted OIDs such as \"1.3.6.1.4.1.9\" (with `*` as a wildcard), found {p:?}"),
            );
            return Some(Vec::new());
        }
    }
    Some(patterns)
}

fn parse_trap(s: &Section<'_, '_>, base: Option<&TrapMatch>) -> Option<TrapMatch> {
    let oids = opt_oid_patterns(s, "oid", "oids").or_else(|| base.map(|b| b.oids.clone()));
    let clear_oids = opt_oid_patterns(s, "clear_oid", "clear_oids")
        .or_else(|| base.map(|b| b.clear_oids.clone()))
        .unwrap_or_default();
    let resolve_after_seconds = opt_integer(s, "resolve_after_seconds", 0..=2_592_000, "seconds")
        .or(base.map(|b| b.resolve_after_seconds))
        .unwrap_or(0);
    let Some(oids) = oids else {
        s.missing(
            "oid",
            "a trap rule needs `oid` (or `oids`), the trap OIDs that open it, e.g. \"1.3.6.1.4.1.9.9.41.2.0.1\" or \"1.3.6.1.4.1.9.*\"",
        );
        return None;
    };
    if oids.is_empty() {
        // An empty list, or a bad pattern: reported already.
        return None;
    }
    Some(TrapMatch {
        oids,
        clear_oids,
        resolve_after_seconds,
    })
}

fn parse_inventory_change(
    s: &Section<'_, '_>,
    base: Option<&InventoryChange>,
) -> Option<InventoryChange> {
    let classes = opt_named_list(s, "changes", ChangeClass::NAMES, ChangeClass::from_name)
        .or_else(|| base.map(|b| Some(b.classes.clone())));
    let packages = opt_strings(s, "packages").or_else(|| base.map(|b| b.packages.clone()));
    let Some(classes) = classes else {
        s.missing(
            "changes",
            format!(
                "an inventory-change rule needs `changes`, a list of {}",
                quoted(ChangeClass::NAMES)
            ),
        );
        return None;
    };
    // An unknown class was reported already.
    let classes = classes?;
    let packages = packages.unwrap_or_default();
    if classes.is_empty() {
        s.invalid("changes", "expected at least one class of change");
        return None;
    }
    let software = classes.iter().any(|c| c.is_software());
    if software && packages.is_empty() {
        let message = "software-added and software-removed need `packages`, name patterns such as [\"teamviewer*\"] ([\"*\"] for every package)";
        if s.has("packages") {
            s.invalid("packages", message);
        } else {
            s.missing("packages", message);
        }
        return None;
    }
    if !software && !packages.is_empty() {
        s.invalid(
            "packages",
            "`packages` is only used with software-added and software-removed",
        );
        return None;
    }
    Some(InventoryChange { classes, packages })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        RuleSet::parse("rules.toml", text)
            .unwrap_err()
            .0
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn one_error(text: &str) -> String {
        let all = errors(text);
        assert_eq!(all.len(), 1, "{all:#?}");
        all.into_iter().next().unwrap_or_default()
    }

    fn threshold(set: &RuleSet, name: &str) -> Threshold {
        match &set.get(name).unwrap().kind {
            RuleKind::Threshold(t) => t.clone(),
            other => panic!("{name} is {other:?}"),
        }
    }

    #[test]
    fn an_empty_file_gives_the_builtin_rules() {
        let set = RuleSet::parse("rules.toml", "").unwrap();
        assert_eq!(set, RuleSet::default());
        let names: Vec<&str> = set.rules().iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "agent-offline",
                "filesystem-full",
                "filesystem-filling",
                "memory-pressure",
                "cpu-saturated",
                "hardware-change",
                "user-report",
                "device-unreachable",
                "device-credentials",
                "interface-down",
                "interface-in-utilisation",
                "interface-out-utilisation",
                "interface-in-errors",
                "interface-out-errors",
                "interface-in-discards",
                "interface-out-discards",
                "device-restarted",
                "snmp-authentication-failure",
                "probe-loss",
                "probe-latency",
                "contract-renewal",
                "warranty-ending",
                "licence-over-seats"
            ]
        );
        assert!(set.rules().iter().all(|r| r.enabled));
        let fs = threshold(&set, "filesystem-full");
        assert_eq!(
            (fs.op, fs.value, fs.clear_value, fs.for_seconds),
            (Op::Above, 90.0, 85.0, 300)
        );
    }

    #[test]
    fn trap_oids_match_as_prefixes_on_arcs_or_as_globs() {
        assert!(oid_matches("1.3.6.1.4.1.9", "1.3.6.1.4.1.9"));
        assert!(oid_matches(".1.3.6.1.4.1.9", "1.3.6.1.4.1.9.9.41.2.0.1"));
        assert!(!oid_matches("1.3.6.1.4.1.9", "1.3.6.1.4.1.99.1"));
        assert!(oid_matches("1.3.6.1.4.1.*.0.1", "1.3.6.1.4.1.2636.0.1"));
        assert!(!oid_matches("1.3.6.1.4.1.*.0.1", "1.3.6.1.4.1.2636.0.2"));
        assert!(!oid_matches("1.3.6.1.6.3.1.1.5.3", "1.3.6.1.6.3.1.1.5.4"));
    }

    #[test]
    fn a_trap_rule_is_read_and_checked() {
        let set = RuleSet::parse(
            "rules.toml",
            "[rule.ups-on-battery]\nkind = \"trap\"\nseverity = \"high\"\noid = \"1.3.6.1.4.1.318.0.5\"\nclear_oid = \"1.3.6.1.4.1.318.0.9\"\n\n[rule.device-restarted]\nresolve_after_seconds = 0\n",
        )
        .unwrap();
        let RuleKind::Trap(ups) = &set.get("ups-on-battery").unwrap().kind else {
            panic!("not a trap rule");
        };
        assert!(ups.opens("1.3.6.1.4.1.318.0.5") && ups.clears("1.3.6.1.4.1.318.0.9"));
        assert_eq!(ups.resolve_after_seconds, 0);
        // A built-in keeps its OIDs when only its timing changes.
        let RuleKind::Trap(restarted) = &set.get("device-restarted").unwrap().kind else {
            panic!("not a trap rule");
        };
        assert!(restarted.opens("1.3.6.1.6.3.1.1.5.1") && restarted.opens("1.3.6.1.6.3.1.1.5.2"));
        assert_eq!(restarted.resolve_after_seconds, 0);
        assert_eq!(
            one_error("[rule.x]\nkind = \"trap\"\n"),
            "rules.toml:1:7: `rule.x.oid`: a trap rule needs `oid` (or `oids`), the trap OIDs that open it, e.g. \"1.3.6.1.4.1.9.9.41.2.0.1\" or \"1.3.6.1.4.1.9.*\""
        );
        assert!(
            one_error("[rule.x]\nkind = \"trap\"\noid = \"linkDown\"\n")
                .contains("expected dotted OIDs such as")
        );
        assert!(
            one_error("[rule.x]\nkind = \"trap\"\noids = []\n").contains("at least one trap OID")
        );
    }

    #[test]
    fn the_example_file_parses() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/rules.toml");
        let set = RuleSet::load(Path::new(path)).unwrap();
        let builtins = RuleSet::default();
        assert_eq!(&set.rules()[..builtins.rules().len()], builtins.rules());
        let own: Vec<&str> = set.rules()[builtins.rules().len()..]
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(
            own,
            ["remote-access-software", "machine-replaced", "root-inodes"]
        );
        let inodes = threshold(&set, "root-inodes");
        assert_eq!(inodes.selector.subjects, ["/"]);
        assert_eq!(inodes.op, Op::AtLeast);
    }

    /// The commented built-in rules in the example file, uncommented, are
    /// exactly the compiled-in ones: the documentation cannot drift.
    #[test]
    fn the_example_file_documents_the_builtin_rules_as_they_are() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/rules.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let start = text
            .find("# The built-in rules as they are compiled in.")
            .unwrap();
        let end = start + text[start..].find("# ----").unwrap();
        let uncommented: String = text[start..end]
            .lines()
            .skip(1)
            .map(|l| l.strip_prefix("# ").or(l.strip_prefix('#')).unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        let set = RuleSet::parse("uncommented", &uncommented).unwrap();
        let mut expected = RuleSet::default();
        // The file does not repeat the long descriptions.
        for (rule, documented) in expected.rules.iter_mut().zip(set.rules()) {
            rule.description = documented.description.clone();
        }
        assert_eq!(set, expected);
    }

    #[test]
    fn a_builtin_rule_changes_only_in_the_keys_given() {
        let set = RuleSet::parse(
            "rules.toml",
            "[rule.filesystem-full]\nvalue = 95\nclear_value = 92\nseverity = \"critical\"\nexclude_subjects = [\"/boot*\"]\n\
             [rule.cpu-saturated]\nenabled = false\n\
             [rule.agent-offline]\nmissed_heartbeats = 5\ntags = [\"server\"]\nreopen_window_seconds = 60\n",
        )
        .unwrap();
        let fs = set.get("filesystem-full").unwrap();
        assert_eq!(fs.severity, Severity::Critical);
        let t = threshold(&set, "filesystem-full");
        assert_eq!((t.value, t.clear_value, t.for_seconds), (95.0, 92.0, 300));
        assert_eq!(t.selector.metric, "filesystem.used_percent");
        assert!(!t.selector.matches_subject("/boot/efi"));
        assert!(t.selector.matches_subject("/var"));
        assert!(fs.description.starts_with("A filesystem is almost full"));
        assert!(!set.get("cpu-saturated").unwrap().enabled);
        let offline = set.get("agent-offline").unwrap();
        assert_eq!(
            offline.kind,
            RuleKind::Absence(Absence {
                missed_heartbeats: 5
            })
        );
        assert_eq!(offline.scope.tags, ["server"]);
        assert_eq!(offline.lifecycle.reopen_window_seconds, 60);
        assert_eq!(offline.lifecycle.flap_cycles, DEFAULT_FLAP_CYCLES);
        assert_eq!(set.rules().len(), RuleSet::default().rules().len());
    }

    #[test]
    fn global_lifecycle_settings_reach_every_rule_unless_a_rule_sets_its_own() {
        let set = RuleSet::parse(
            "rules.toml",
            "[incidents]\nflap_cycles = 5\nreopen_window_seconds = 0\n\
             [rule.mine]\nkind = \"absence\"\nflap_cycles = 2\n",
        )
        .unwrap();
        assert!(
            set.rules().iter().filter(|r| r.name != "mine").all(|r| {
                r.lifecycle.flap_cycles == 5 && r.lifecycle.reopen_window_seconds == 0
            })
        );
        let mine = set.get("mine").unwrap();
        assert_eq!(mine.lifecycle.flap_cycles, 2);
        assert_eq!(mine.lifecycle.reopen_window_seconds, 0);
        assert_eq!(
            mine.kind,
            RuleKind::Absence(Absence {
                missed_heartbeats: 3
            })
        );
    }

    #[test]
    fn a_builtin_rule_can_change_kind_with_a_full_definition() {
        let set = RuleSet::parse(
            "rules.toml",
            "[rule.filesystem-filling]\nkind = \"threshold\"\nseries = \"filesystem.used_percent\"\nop = \">\"\nvalue = 80\n",
        )
        .unwrap();
        let t = threshold(&set, "filesystem-filling");
        assert_eq!((t.value, t.clear_value, t.for_seconds), (80.0, 80.0, 0));
        // Without the threshold's own keys it is an error, not a mix of kinds.
        let shown = errors("[rule.filesystem-filling]\nkind = \"threshold\"\n");
        assert!(
            shown
                .iter()
                .any(|e| e.contains("`rule.filesystem-filling.op`")),
            "{shown:?}"
        );
        assert!(
            shown
                .iter()
                .any(|e| e.contains("`rule.filesystem-filling.value`")),
            "{shown:?}"
        );
    }

    #[test]
    fn new_rules_of_every_kind() {
        let set = RuleSet::parse(
            "rules.toml",
            r#"
[rule.cold-room]
kind = "threshold"
description = "Too cold"
series = "temperature.celsius"
op = "<"
value = 5
clear_value = 8
for_seconds = 60
os = ["debian"]
asset_kinds = ["physical"]

[rule.probe-silent]
kind = "absence"
missed_heartbeats = 10
severity = "critical"

[rule.inodes-filling]
kind = "forecast"
series = "filesystem.inodes_used_percent"
limit = 100
window_hours = 24
within_days = 2

[rule.new-disk]
kind = "inventory-change"
changes = ["disk-added"]

[rule.vip-report]
kind = "user-report"
severity = "critical"
tags = ["vip"]
"#,
        )
        .unwrap();
        let cold = set.get("cold-room").unwrap();
        let t = threshold(&set, "cold-room");
        assert_eq!((t.op, t.value, t.clear_value), (Op::Below, 5.0, 8.0));
        assert!(t.fires(4.0) && !t.fires(6.0));
        assert!(t.clears(8.5) && !t.clears(7.0));
        assert_eq!(cold.scope.os, ["debian"]);
        assert_eq!(cold.scope.kinds, [AssetKind::Physical]);
        assert_eq!(
            set.get("probe-silent").unwrap().severity,
            Severity::Critical
        );
        assert_eq!(
            set.get("inodes-filling").unwrap().kind,
            RuleKind::Forecast(Forecast {
                selector: Selector::of("filesystem.inodes_used_percent"),
                limit: 100.0,
                window_hours: 24,
                within_days: 2,
                min_r2: DEFAULT_MIN_R2,
            })
        );
        assert_eq!(
            set.get("new-disk").unwrap().kind,
            RuleKind::InventoryChange(InventoryChange {
                classes: vec![ChangeClass::DiskAdded],
                packages: vec![]
            })
        );
        assert_eq!(set.get("vip-report").unwrap().kind, RuleKind::UserReport);
    }

    #[test]
    fn device_rules_change_like_other_builtins() {
        let set = RuleSet::parse(
            "rules.toml",
            "[rule.device-unreachable]\nfor_seconds = 300\n\
             [rule.device-credentials]\nenabled = false\n\
             [rule.interface-down]\nexclude_subjects = [\"lo*\"]\n\
             [rule.printer-jams]\nkind = \"device-state\"\nstates = [\"malformed\"]\n",
        )
        .unwrap();
        let RuleKind::DeviceState(d) = &set.get("device-unreachable").unwrap().kind else {
            panic!("device-unreachable changed kind");
        };
        assert_eq!(d.for_seconds, 300);
        assert_eq!(
            d.states,
            [
                DeviceState::Timeout,
                DeviceState::NetworkError,
                DeviceState::Unresolved
            ]
        );
        assert!(!set.get("device-credentials").unwrap().enabled);
        let RuleKind::InterfaceDown(i) = &set.get("interface-down").unwrap().kind else {
            panic!("interface-down changed kind");
        };
        assert_eq!(i.for_seconds, 120);
        assert!(!i.selector.matches_subject("lo0") && i.selector.matches_subject("Gi0/1"));
        assert_eq!(
            set.get("printer-jams").unwrap().kind,
            RuleKind::DeviceState(DevicePollState {
                states: vec![DeviceState::Malformed],
                for_seconds: 0
            })
        );
        let util = threshold(&set, "interface-in-utilisation");
        assert_eq!(
            (util.value, util.clear_value, util.for_seconds),
            (90.0, 70.0, 900)
        );
        let e = one_error("[rule.d]\nkind = \"device-state\"\nstates = [\"ok\"]\n");
        assert!(
            e.contains("`rule.d.states`: expected at least one poll outcome other than \"ok\""),
            "{e}"
        );
        let e = one_error("[rule.d]\nkind = \"device-state\"\nstates = [\"down\"]\n");
        assert!(
            e.contains("expected each of \"ok\"") && e.contains("found \"down\""),
            "{e}"
        );
        let e = one_error("[rule.d]\nkind = \"device-state\"\n");
        assert!(
            e.contains("`rule.d.states`: a device-state rule needs `states`"),
            "{e}"
        );
    }

    #[test]
    fn scope_matching() {
        let asset = AssetFacts {
            hostname: "db-1".into(),
            tags: vec!["db".into(), "prod".into()],
            os_id: Some("debian".into()),
            kind: AssetKind::Virtual,
        };
        let scope = |tags: &[&str], os: &[&str], kinds: &[AssetKind]| Scope {
            tags: tags.iter().map(|s| (*s).to_owned()).collect(),
            os: os.iter().map(|s| (*s).to_owned()).collect(),
            kinds: kinds.to_vec(),
        };
        assert!(scope(&[], &[], &[]).matches(&asset));
        assert!(scope(&["web", "db"], &[], &[]).matches(&asset));
        assert!(!scope(&["web"], &[], &[]).matches(&asset));
        assert!(scope(&["db"], &["rhel", "debian"], &[AssetKind::Virtual]).matches(&asset));
        assert!(!scope(&["db"], &["rhel"], &[]).matches(&asset));
        assert!(!scope(&[], &[], &[AssetKind::Physical]).matches(&asset));
        assert!(!scope(&[], &["debian"], &[]).matches(&AssetFacts::default()));
        let container = Virtualization {
            kind: MachineKind::Virtual,
            container: Some("docker".into()),
            ..Virtualization::default()
        };
        assert_eq!(AssetKind::of(&container), AssetKind::Container);
    }

    #[test]
    fn every_error_in_a_file_at_once_with_file_rule_and_key() {
        let text = r#"[incidents]
flap_cycles = 0

[rule.filesystem-full]
value = "high"
colour = "red"

[rule.mystery]
description = "no kind"
series = "x"

[rule.hot]
kind = "threshold"
series = "temperature.celsius"
op = "=>"
value = 80
severity = "urgent"
"#;
        let shown = errors(text);
        assert_eq!(
            shown,
            [
                "rules.toml:2:15: `incidents.flap_cycles`: expected a whole number of cycles from 1 to 1000, found 0",
                "rules.toml:5:9: `rule.filesystem-full.value`: expected a finite number, found \"high\"",
                "rules.toml:6:1: `rule.filesystem-full.colour`: unknown key (known keys here: asset_kinds, clear_value, description, enabled, exclude_subjects, flap_cycles, flap_window_seconds, for_seconds, kind, op, os, reopen_window_seconds, series, severity, subjects, tags, value)",
                "rules.toml:8:7: `rule.mystery.kind`: a new rule needs a kind, one of \"threshold\", \"absence\", \"forecast\", \"inventory-change\", \"user-report\", \"device-state\", \"interface-down\", \"trap\", \"baseline\", \"contract-notice\", \"warranty-notice\", \"licence-over\" (built-in rules to change instead: agent-offline, filesystem-full, filesystem-filling, memory-pressure, cpu-saturated, hardware-change, user-report, device-unreachable, device-credentials, interface-down, interface-in-utilisation, interface-out-utilisation, interface-in-errors, interface-out-errors, interface-in-discards, interface-out-discards, device-restarted, snmp-authentication-failure, probe-loss, probe-latency, contract-renewal, warranty-ending, licence-over-seats)",
                "rules.toml:15:6: `rule.hot.op`: expected one of \">\", \">=\", \"<\", \"<=\", found \"=>\"",
                "rules.toml:17:12: `rule.hot.severity`: expected one of \"info\", \"warning\", \"high\", \"critical\", found \"urgent\"",
            ]
        );
    }

    #[test]
    fn unknown_kind_is_one_error_not_one_per_key() {
        let e = one_error("[rule.x]\nkind = \"thresold\"\nseries = \"load.one\"\nvalue = 3\n");
        assert!(
            e.starts_with("rules.toml:2:8: `rule.x.kind`: expected one of \"threshold\""),
            "{e}"
        );
    }

    #[test]
    fn threshold_errors() {
        let base = "[rule.t]\nkind = \"threshold\"\n";
        let e = one_error(&format!("{base}op = \">\"\nvalue = 1\n"));
        assert!(
            e.contains("`rule.t.series`: a threshold rule needs the metric"),
            "{e}"
        );
        let e = one_error(&format!("{base}series = \"load.one\"\nvalue = 1\n"));
        assert!(
            e.contains("`rule.t.op`: a threshold rule needs `op`"),
            "{e}"
        );
        let e = one_error(&format!("{base}series = \"load.one\"\nop = \">\"\n"));
        assert!(
            e.contains("`rule.t.value`: a threshold rule needs `value`"),
            "{e}"
        );
        let e = one_error(&format!(
            "{base}series = \"load.onee\"\nop = \">\"\nvalue = 1\n"
        ));
        assert!(
            e.contains("`rule.t.series`: unknown series \"load.onee\": expected one of"),
            "{e}"
        );
        let e = one_error(&format!(
            "{base}series = \"filesystem.used_percent{{mount=/}}\"\nop = \">\"\nvalue = 1\n"
        ));
        assert!(
            e.contains("without its label") && e.contains("`subjects`"),
            "{e}"
        );
        let e = one_error(&format!(
            "{base}series = \"load.one\"\nop = \">\"\nvalue = 4\nclear_value = 5\n"
        ));
        assert!(
            e.starts_with("rules.toml:6:15: `rule.t.clear_value`: clear_value 5 must be at most value 4 for `>`"),
            "{e}"
        );
        let e = one_error(&format!(
            "{base}series = \"load.one\"\nop = \"<=\"\nvalue = 4\nclear_value = 3\n"
        ));
        assert!(
            e.contains("clear_value 3 must be at least value 4 for `<=`"),
            "{e}"
        );
        let e = one_error(&format!(
            "{base}series = \"load.one\"\nop = \">\"\nvalue = 4\nfor_seconds = -5\n"
        ));
        assert!(
            e.contains("`rule.t.for_seconds`: expected a whole number of seconds from 0 to 604800"),
            "{e}"
        );
        // A built-in's clear_value on the wrong side of a new value is named too.
        let e = one_error("[rule.filesystem-full]\nvalue = 80\n");
        assert!(
            e.starts_with("rules.toml:1:7: `rule.filesystem-full.clear_value`: clear_value 85 must be at most value 80")
                && e.contains("built-in"),
            "{e}"
        );
    }

    #[test]
    fn absence_and_forecast_errors() {
        let e = one_error("[rule.a]\nkind = \"absence\"\nmissed_heartbeats = 0\n");
        assert!(
            e.contains(
                "`rule.a.missed_heartbeats`: expected a whole number of heartbeats from 1 to 1000"
            ),
            "{e}"
        );
        let e = one_error("[rule.f]\nkind = \"forecast\"\nseries = \"filesystem.used_bytes\"\n");
        assert!(
            e.contains("`rule.f.limit`: a forecast rule needs `limit`"),
            "{e}"
        );
        let shown = errors(
            "[rule.f]\nkind = \"forecast\"\nseries = \"filesystem.used_percent\"\nlimit = 100\nwindow_hours = 0\nwithin_days = 4000\n",
        );
        assert_eq!(shown.len(), 2, "{shown:?}");
        assert!(shown[0].contains("`rule.f.window_hours`"), "{shown:?}");
        assert!(shown[1].contains("`rule.f.within_days`"), "{shown:?}");
    }

    #[test]
    fn inventory_change_errors() {
        let base = "[rule.i]\nkind = \"inventory-change\"\n";
        let e = one_error(base);
        assert!(
            e.contains("`rule.i.changes`: an inventory-change rule needs `changes`"),
            "{e}"
        );
        let e = one_error(&format!("{base}changes = []\n"));
        assert!(
            e.contains("`rule.i.changes`: expected at least one class"),
            "{e}"
        );
        let e = one_error(&format!("{base}changes = [\"ram-removed\"]\n"));
        assert!(
            e.contains("`rule.i.changes`: expected each of \"memory-added\""),
            "{e}"
        );
        assert!(e.contains("found \"ram-removed\""), "{e}");
        let e = one_error(&format!("{base}changes = [\"software-added\"]\n"));
        assert!(
            e.contains("`rule.i.packages`: software-added and software-removed need `packages`"),
            "{e}"
        );
        let e = one_error(&format!(
            "{base}changes = [\"disk-removed\"]\npackages = [\"x\"]\n"
        ));
        assert!(
            e.contains("`rule.i.packages`: `packages` is only used with"),
            "{e}"
        );
    }

    #[test]
    fn type_errors_in_common_keys() {
        let shown = errors(
            "[rule.user-report]\nenabled = \"no\"\ntags = \"vip\"\nasset_kinds = [\"laptop\"]\ndescription = 3\n[rule.odd]\nkind = \"user-report\"\nos = [1]\n[rule]\nflat = 1\n[other]\n",
        );
        let keys: Vec<&str> = shown
            .iter()
            .map(|e| e.split('`').nth(1).unwrap_or(""))
            .collect();
        assert_eq!(
            keys,
            [
                "rule.user-report.enabled",
                "rule.user-report.tags",
                "rule.user-report.asset_kinds",
                "rule.user-report.description",
                "rule.odd.os",
                "rule.flat",
                "other",
            ],
            "{shown:#?}"
        );
    }

    #[test]
    fn syntax_errors_refuse_the_file() {
        let e = errors("[rule.x\nkind = 1\n");
        assert!(
            e[0].starts_with("rules.toml:1:") && e[0].contains("invalid TOML"),
            "{e:?}"
        );
        let e = errors("[rule.a]\nkind = \"absence\"\n[rule.a]\nkind = \"absence\"\n");
        assert!(e[0].contains("invalid TOML"), "{e:?}");
    }

    #[test]
    fn unknown_rule_disabled_by_name_is_an_error() {
        // A typo in the name of a built-in rule to switch off must not pass silently.
        let e = one_error("[rule.cpu-saturation]\nenabled = false\n");
        assert!(
            e.contains("`rule.cpu-saturation.kind`: a new rule needs a kind"),
            "{e}"
        );
        assert!(e.contains("cpu-saturated"), "{e}");
    }
}
