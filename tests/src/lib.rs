//! End-to-end tests of Atalaya: the real agent and collector programs
//! talking over loopback QUIC, plus the benches that drive them
//! (`ingest-bench`, `reconnect-bench`, `incident-latency-bench`) and the
//! soak.
//!
//! # Layout
//! - [`harness`]: starting a collector and agents as processes, and asking them things.
//! - [`layers`]: a crate's module layering, checked from its sources.

//! - [`loadgen`]: an agent that streams numbered records through the real
//!   spool and uplink, remembering what it generated.
//! - [`probe_net`]: a veth pair into a network namespace, a slow DNS
//!   server and TCP ports, for the network probe tests.
//! - [`relay`]: a UDP relay in front of the collector that a test can cut.
//! - [`snmpd`]: a real net-snmp `snmpd` on a loopback port, and the net-snmp
//!   tools to compare polls with.
//! - [`webhook`]: an HTTP receiver that keeps the webhooks it gets.

pub mod harness;
pub mod layers;
pub mod loadgen;
pub mod probe_net;
pub mod relay;
pub mod snmpd;
pub mod webhook;
