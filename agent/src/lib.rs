//! The Atalaya agent: knows the host it runs on.
//!
//! It inventories hardware and software and samples health, reading
//! everything through a [`root::Root`] so the same code runs on the live
//! host and on fixture trees.
//!
//! # Layout
//! - [`root`]: the filesystem root being read, and the record of what could not be read.
//! - [`inventory`]: one source per part of the inventory.
//! - [`metrics`]: the health sampler.
//! - [`assist`]: remote assistance: diagnostic orders checked against the machine's allow-list, run, recorded.
//! - [`config`]: the agent's configuration file.
//! - [`daemon`]: `atalaya-agent run`: inventory, samples, heartbeats and device polls sent through the uplink.
//! - [`enroll`]: trading an enrollment token for a certificate.
//! - [`error`]: an error and its causes as one line, for the terminal and the log.
//! - [`outbox`]: records waiting for the collector's acknowledgement.
//! - [`probes`]: round trips, jitter and loss from this host to its gateway, DNS servers, collector and pushed targets.
//! - [`snmp`]: polling network devices over SNMP (the poller role).
//! - [`spool`]: the on-disk form of the outbox, which survives crashes.
//! - `state_file`: the lists the collector sent, kept in the state directory.
//! - [`summary`]: the human-readable text of `inventory` and `metrics`.
//! - [`identity`]: the agent's key pair and certificate, made at enrollment and kept on disk.
//! - [`renewal`]: when to renew the certificate, and checking the renewed one (sans-IO).
//! - [`tls`]: the QUIC/TLS client configurations for enrollment and for data.
//! - [`uplink`]: the QUIC session with the collector: records out, acks in, certificate renewal.

pub mod assist;
pub mod config;
pub mod daemon;
pub mod enroll;
pub mod error;
pub mod identity;
pub mod inventory;
pub mod metrics;
pub mod outbox;
pub mod policy;
pub mod probes;
pub mod renewal;
pub mod reports;
pub mod root;
pub mod snmp;
pub mod spool;
mod state_file;
pub mod summary;
pub mod tls;
pub mod uplink;
pub mod watch;
