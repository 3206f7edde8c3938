//! The neighbours a network device reports over LLDP (LLDP-MIB) and CDP
//! (CISCO-CDP-MIB): who is at the other end of each of its links.
//!
//! A poller reads them and sends a [`Neighbour`] per remote entry, with
//! its local interface mapped to an `ifIndex` where it can be. Ids are
//! decoded to text by their subtype (a MAC as `aa:bb:…`, a network address
//! as an IP address, anything else as text), so two polls of the same
//! neighbours compare equal and the collector can match them to assets.

use serde::{Deserialize, Serialize};

/// The discovery protocol a neighbour was learnt by.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum NeighbourProtocol {
    /// IEEE 802.1AB LLDP.
    #[default]
    Lldp,
    /// Cisco Discovery Protocol.
    Cdp,
}

impl NeighbourProtocol {
    /// `lldp` or `cdp`.
    pub fn as_str(self) -> &'static str {
        match self {
            NeighbourProtocol::Lldp => "lldp",
            NeighbourProtocol::Cdp => "cdp",
        }
    }
}

/// What an LLDP chassis or port id is (its subtype), or the kind of a CDP id.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum IdKind {
    /// `entPhysicalAlias` of a chassis (chassis subtype 1).
    ChassisComponent,
    /// `ifAlias` of an interface (chassis subtype 2, port subtype 1).
    InterfaceAlias,
    /// `entPhysicalAlias` of a port or backplane (chassis subtype 3, port subtype 2).
    PortComponent,
    /// A MAC address (chassis subtype 4, port subtype 3).
    MacAddress,
    /// A network address (chassis subtype 5, port subtype 4).
    NetworkAddress,
    /// `ifName` of an interface (chassis subtype 6, port subtype 5), or a
    /// CDP device port.
    InterfaceName,
    /// An agent circuit id (port subtype 6).
    AgentCircuitId,
    /// A name the device chose (chassis subtype 7, port subtype 7), or a
    /// CDP device id.
    Local,
    /// A subtype outside the MIB's list.
    #[default]
    Other,
}

impl IdKind {
    /// The kind of an `LldpChassisIdSubtype` value.
    pub fn of_chassis_subtype(code: i64) -> IdKind {
        match code {
            1 => IdKind::ChassisComponent,
            2 => IdKind::InterfaceAlias,
            3 => IdKind::PortComponent,
            4 => IdKind::MacAddress,
            5 => IdKind::NetworkAddress,
            6 => IdKind::InterfaceName,
            7 => IdKind::Local,
            _ => IdKind::Other,
        }
    }

    /// The kind of an `LldpPortIdSubtype` value.
    pub fn of_port_subtype(code: i64) -> IdKind {
        match code {
            1 => IdKind::InterfaceAlias,
            2 => IdKind::PortComponent,
            3 => IdKind::MacAddress,
            4 => IdKind::NetworkAddress,
            5 => IdKind::InterfaceName,
            6 => IdKind::AgentCircuitId,
            7 => IdKind::Local,
            _ => IdKind::Other,
        }
    }

    /// Whether an id of this kind names an interface the way people do
    /// (so it is the port's name rather than its description).
    pub fn is_a_name(self) -> bool {
        matches!(
            self,
            IdKind::InterfaceName | IdKind::InterfaceAlias | IdKind::Local
        )
    }
}

/// A chassis or port id, decoded to text by its kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PeerId {
    /// What the id is.
    pub kind: IdKind,
    /// The id: `aa:bb:cc:dd:ee:ff` for a MAC, an IP address for a network
    /// address, else the text (bytes that are not printable as hex).
    pub value: String,
}

/// One neighbour of a device, as one remote entry of its LLDP or CDP table.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Neighbour {
    /// The local interface's `ifIndex`, when the local port could be mapped
    /// to one (see the poller's port mapping rule).
    pub local_if_index: Option<u32>,
    /// The local interface's name (`ifName`), when mapped.
    pub local_if_name: Option<String>,
    /// The local port as the device names it in its LLDP tables (port id
    /// or description, or the port number), kept when it maps to no interface.
    pub local_port: String,
    /// The protocol it was learnt by.
    pub protocol: NeighbourProtocol,
    /// The remote chassis id (LLDP), or the CDP device id.
    pub chassis_id: PeerId,
    /// The remote port id (LLDP), or the CDP device port.
    pub port_id: PeerId,
    /// The remote port's description (LLDP `lldpRemPortDesc`).
    pub port_descr: String,
    /// The remote system's name (LLDP `lldpRemSysName`; for CDP, the device id).
    pub sys_name: String,
    /// The remote system's description (LLDP) or platform (CDP).
    pub platform: String,
    /// A management address of the remote system, IPv4 preferred.
    pub management_address: Option<String>,
    /// What the remote system says it is and has enabled (`bridge`,
    /// `router`, `station`…).
    pub capabilities: Vec<String>,
}

impl Neighbour {
    /// The remote system for people: its name, else its chassis id.
    pub fn remote_name(&self) -> &str {
        if self.sys_name.is_empty() {
            &self.chassis_id.value
        } else {
            &self.sys_name
        }
    }

    /// The remote port for people: the port id when it is a name, else its
    /// description, else the port id whatever it is.
    pub fn remote_port(&self) -> &str {
        if self.port_id.kind.is_a_name() || self.port_descr.is_empty() {
            &self.port_id.value
        } else {
            &self.port_descr
        }
    }

    /// The local interface for people: its name, else the local port.
    pub fn local_name(&self) -> &str {
        self.local_if_name.as_deref().unwrap_or(&self.local_port)
    }
}
