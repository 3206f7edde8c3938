//! SNMP traps and informs a poller agent accepted from a device it polls:
//! what they were, as the agent classified them.
//!
//! A [`TrapEvent`] is built by the agent (which knows the device's
//! interface names from its last inventory), carried in the `DeviceTrap`
//! record and kept by the collector as one of the device's events.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::Timestamp;

/// `snmpTrapOID` of a standard `linkDown` (RFC 2863).
pub const LINK_DOWN: &str = "1.3.6.1.6.3.1.1.5.3";
/// `snmpTrapOID` of a standard `linkUp` (RFC 2863).
pub const LINK_UP: &str = "1.3.6.1.6.3.1.1.5.4";
/// `snmpTrapOID` of `coldStart` (RFC 3418).
pub const COLD_START: &str = "1.3.6.1.6.3.1.1.5.1";
/// `snmpTrapOID` of `warmStart` (RFC 3418).
pub const WARM_START: &str = "1.3.6.1.6.3.1.1.5.2";
/// `snmpTrapOID` of `authenticationFailure` (RFC 3418).
pub const AUTHENTICATION_FAILURE: &str = "1.3.6.1.6.3.1.1.5.5";

/// The series of a poller agent's own asset counting the messages its trap
/// listener dropped since it started, one per reason:
/// `snmp.traps_dropped{reason=bad_community}`.
pub const TRAPS_DROPPED: &str = "snmp.traps_dropped";

/// Most variable bindings kept of one trap.
pub const MAX_VARBINDS: usize = 64;
/// Most bytes kept of one rendered value.
pub const MAX_VALUE_BYTES: usize = 1024;

/// One trap or inform accepted from a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrapEvent {
    /// The device's name, as assigned by the collector.
    pub device: String,
    /// When the agent received it, on the agent's clock.
    pub received_at: Timestamp,
    /// The address it came from, `ip:port`.
    pub source: String,
    /// The SNMP version of the message.
    pub version: TrapVersion,
    /// An InformRequest (answered) rather than a trap.
    pub inform: bool,
    /// `snmpTrapOID`, dotted (for SNMPv1, the RFC 3584 translation).
    pub trap_oid: String,
    /// What it says, for the standard traps.
    pub kind: TrapKind,
    /// The interface of a `linkDown`/`linkUp`.
    pub interface: Option<TrapInterface>,
    /// The device's `sysUpTime` in the trap, hundredths of a second.
    pub uptime_ticks: Option<u32>,
    /// `(OID, rendered value)` of its variable bindings (the standard
    /// `sysUpTime` and `snmpTrapOID` ones left out), at most
    /// [`MAX_VARBINDS`], values cut at [`MAX_VALUE_BYTES`].
    pub varbinds: Vec<(String, String)>,
}

impl TrapEvent {
    /// The incident subject of a link trap: the interface's name when the
    /// poller knew it, else its `ifIndex` (as the polls name it).
    pub fn interface_subject(&self) -> Option<String> {
        self.interface.as_ref().map(TrapInterface::subject)
    }
}

/// The SNMP version a trap came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TrapVersion {
    /// SNMPv1 Trap-PDU.
    V1,
    /// SNMPv2c.
    V2c,
    /// SNMPv3 (USM, authenticated).
    V3,
}

impl TrapVersion {
    /// `v1`, `v2c`, `v3`.
    pub fn name(self) -> &'static str {
        match self {
            TrapVersion::V1 => "v1",
            TrapVersion::V2c => "v2c",
            TrapVersion::V3 => "v3",
        }
    }
}

/// What a trap says, for the standard ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TrapKind {
    /// An interface went down.
    LinkDown,
    /// An interface came up.
    LinkUp,
    /// The device (re)started with its configuration reset.
    ColdStart,
    /// The device (re)started with its configuration kept.
    WarmStart,
    /// The device refused a request for a wrong community or user.
    AuthenticationFailure,
    /// Any other trap; its OID says what.
    Other,
}

impl TrapKind {
    /// `link_down`, `link_up`, … as the API and the CLI write them.
    pub fn name(self) -> &'static str {
        match self {
            TrapKind::LinkDown => "link_down",
            TrapKind::LinkUp => "link_up",
            TrapKind::ColdStart => "cold_start",
            TrapKind::WarmStart => "warm_start",
            TrapKind::AuthenticationFailure => "authentication_failure",
            TrapKind::Other => "other",
        }
    }

    /// The kind of a trap with this (dotted) `snmpTrapOID`.
    pub fn of_oid(oid: &str) -> TrapKind {
        match oid {
            LINK_DOWN => TrapKind::LinkDown,
            LINK_UP => TrapKind::LinkUp,
            COLD_START => TrapKind::ColdStart,
            WARM_START => TrapKind::WarmStart,
            AUTHENTICATION_FAILURE => TrapKind::AuthenticationFailure,
            _ => TrapKind::Other,
        }
    }
}

impl fmt::Display for TrapKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The interface a link trap is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrapInterface {
    /// `ifIndex`.
    pub if_index: u32,
    /// Its name from the poller's last inventory of the device, when known.
    pub name: Option<String>,
    /// `ifAdminStatus` in the trap: `Some(false)` when an operator shut it.
    pub admin_up: Option<bool>,
    /// `ifOperStatus` in the trap.
    pub oper_up: Option<bool>,
}

impl TrapInterface {
    /// Its name, else its `ifIndex`.
    pub fn subject(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| self.if_index.to_string())
    }
}

/// Why a trap listener dropped a message, by the names its counters use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TrapDrop {
    /// It came from an address that is no assigned device's.
    UnknownSource,
    /// Its community is not the one of the device it came from.
    BadCommunity,
    /// SNMPv3: unknown user, wrong digest, undecryptable, replayed or outside the time window.
    V3AuthFailed,
    /// It does not decode as an SNMP notification.
    Malformed,
    /// Its source sent more than its share.
    RateLimited,
    /// The agent could not keep up (its queue to the spool was full).
    Overloaded,
    /// A kind of notification the listener does not take (an SNMPv3 inform,
    /// which needs the receiver's own engine).
    Unsupported,
}

impl TrapDrop {
    /// Every reason, in counter order.
    pub const ALL: [TrapDrop; 7] = [
        TrapDrop::UnknownSource,
        TrapDrop::BadCommunity,
        TrapDrop::V3AuthFailed,
        TrapDrop::Malformed,
        TrapDrop::RateLimited,
        TrapDrop::Overloaded,
        TrapDrop::Unsupported,
    ];

    /// `unknown_source`, `bad_community`, …
    pub fn name(self) -> &'static str {
        match self {
            TrapDrop::UnknownSource => "unknown_source",
            TrapDrop::BadCommunity => "bad_community",
            TrapDrop::V3AuthFailed => "v3_auth_failed",
            TrapDrop::Malformed => "malformed",
            TrapDrop::RateLimited => "rate_limited",
            TrapDrop::Overloaded => "overloaded",
            TrapDrop::Unsupported => "unsupported",
        }
    }
}

impl fmt::Display for TrapDrop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
