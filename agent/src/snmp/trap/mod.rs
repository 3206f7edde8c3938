//! Receiving SNMP traps and informs from the devices this agent polls.
//!
//! With `[snmp] trap_listen` set, the agent listens on that UDP address.
//! A datagram is taken only when it comes from the address of an assigned
//! device and carries that device's credentials: its community (SNMPv1
//! Trap-PDU, SNMPv2c Trap and InformRequest) or its SNMPv3 user, with the
//! message authenticated (and decrypted) with the device's keys localized
//! for the sending engine (the authoritative one for a trap). Informs are
//! answered with a Response. Everything else is dropped and counted by
//! reason ([`TrapDrop`](atalaya_common::model::device::trap::TrapDrop)),
//! logged at most once a minute per source; each source has its own rate.
//!
//! # Layout
//! - [`decode`]: reading a datagram, and opening an SNMPv3 one with keys (pure).
//! - [`receiver`]: the checks on each datagram, and what they remember (sans I/O).
//! - [`classify`]: a notification as a [`TrapEvent`](atalaya_common::model::device::trap::TrapEvent).
//! - [`limit`]: per-source token buckets and log gate (sans I/O).
//! - [`listener`]: the socket, and the device table it checks against.

pub mod classify;
pub mod decode;
pub mod limit;
pub mod listener;
pub mod receiver;

pub use decode::{DecodeError, Decoded, decode_trap};
pub use listener::{InterfaceNames, TrapCounters, TrapListener, build_table, trap_device};
pub use receiver::{DeviceTable, Received, TrapReceiver};
