//! End-to-end tests of Atalaya: the real agent and collector programs
//! talking over loopback QUIC, plus the ingest load generator
//! (`ingest-bench`).
//!
//! # Layout
//! - [`harness`]: starting a collector and agents as processes, and asking them things.

pub mod harness;
