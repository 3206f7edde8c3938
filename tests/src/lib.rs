//! End-to-end tests of Atalaya: the real agent and collector programs
//! talking over loopback QUIC, plus the benches that drive them
//! (`ingest-bench`, `reconnect-bench`, `incident-latency-bench`,
//! `trap-latency-bench`, `linkdown-latency-bench`) and the
//! soak.
//!
//! # Layout
//! - [`harness`]: starting a collector and agents as processes, and asking them things.
//! - [`latency`]: finding and waiting for incidents, and printing latencies, for the benches.
//! - [`layers`]: a crate's module layering, checked from its sources.

//! - [`loadgen`]: an agent that streams numbered records through the real
//!   spool and uplink, remembering what it generated.
//! - [`netns`]: network namespaces and veth pairs made with `ip`, removed on
//!   drop, and loopback servers (a slow DNS server, open and closed TCP ports).
//! - [`relay`]: a UDP relay in front of the collector that a test can cut.
//! - [`scripted`]: an SNMP device on a loopback port that serves what a test
//!   built and misbehaves as the test picks (tooBig, garbage, loops…).
//! - [`snmpsim`]: SNMP Simulator serving devices generated from Rust data
//!   (a switch with ENTITY-MIB, a printer…), one community each.
//! - [`snmpd`]: a real net-snmp `snmpd` on a loopback port, and the net-snmp
//!   tools to compare polls with.
//! - [`traps`]: net-snmp's `snmptrap` and `snmpinform`, and datagrams of theirs.
//! - [`webhook`]: an HTTP receiver that keeps the webhooks it gets.

pub mod browser;
pub mod harness;
pub mod latency;
pub mod layers;
pub mod loadgen;
pub mod netns;
pub mod raw;
pub mod relay;
pub mod scripted;
pub mod snmpd;
pub mod snmpsim;
pub mod traps;
pub mod webhook;
