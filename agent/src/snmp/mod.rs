//! Polling network devices over SNMP, for agents with the poller role.
//!
//! Each device ([`atalaya_common::model::DeviceSpec`]) gets an async-snmp
//! client on one shared UDP socket. A poll reads the system group, walks
//! the interface counters and, now and then, the inventory and neighbour
//! tables; the [`poller::Poller`] turns polls into inventories, neighbour
//! lists, rate points and a [`state::DeviceState`].
//!
//! # Layout
//! - [`client`]: the per-device client on the shared socket, and request errors.
//! - [`walk`]: multi-column GETBULK walks with per-device back-off and limits.
//! - [`inventory`]: the inventory tables and the pure builder of [`atalaya_common::model::DeviceInventory`].
//! - [`neighbours`]: LLDP and CDP neighbours, and how a local LLDP port is mapped to an interface.
//! - [`trays`]: a printer's paper trays (Printer-MIB `prtInputTable`).
//! - [`counters`]: interface counters (64-bit where the device has them).
//! - [`state`]: how a poll went, from async-snmp's errors.
//! - [`poller`]: scheduling, concurrency, and the sans-I/O tracker of each device.
//! - [`response`]: a received datagram to bindings, as one pure function (checked and fuzzed).
//! - [`oids`]: the numeric OIDs polled.
//! - [`assignment`]: the devices assigned to this agent, kept in its state directory.
//! - [`discovery`]: one sweep of address ranges for devices, when the collector asks.
//! - [`trap`]: receiving traps and informs from the assigned devices.

pub mod assignment;
pub mod client;
pub mod counters;
pub mod discovery;
pub mod inventory;
pub mod neighbours;
pub mod oids;
pub mod poller;
pub mod response;
pub mod state;
#[cfg(test)]
pub(crate) mod testdevice;
#[cfg(test)]
pub(crate) mod testmutate;
#[cfg(test)]
pub(crate) mod testvb;
pub mod trap;
pub mod trays;
pub mod walk;

pub use poller::{DevicePoll, DeviceTracker, Poller, PollerConfig, RawPoll};
