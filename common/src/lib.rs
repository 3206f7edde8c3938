//! The contract between the Atalaya agent and collector.
//!
//! Everything both sides must agree on lives here, and nothing here does
//! I/O: no files, no sockets, no clock reads outside [`model::Timestamp::now`].
//! That keeps the contract testable byte by byte.
//!
//! # Layout
//! - [`assist`]: remote assistance: diagnostic actions and signed orders.
//! - [`model`]: the inventory of a host, health samples, timestamps.
//! - [`diff`]: inventory deltas, computed and applied without I/O.
//! - [`format`]: bytes and rates written for people, the same everywhere.
//! - [`render`]: an inventory and its changes as text for people.
//! - [`config`]: reading TOML configuration with every error reported at once.
//! - [`policy`]: the agent settings the collector may set, and their checker.
//! - [`proto`]: the wire protocol: envelope, messages, codec.
//! - [`version`]: package version order (dpkg's rules).
//! - [`token`]: enrollment tokens: encoding, decoding, secret hashing.
//! - `cli_docs` (feature `cli-docs`): man pages and shell completions
//!   rendered from a program's clap definitions, for the packages.

pub mod assist;
#[cfg(feature = "cli-docs")]
pub mod cli_docs;
pub mod config;
pub mod diff;
pub mod format;
pub mod model;
pub mod policy;
pub mod proto;
pub mod render;
pub mod token;
pub mod version;
