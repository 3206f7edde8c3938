//! The Atalaya collector: receives agents' inventories and metrics over
//! QUIC, keeps them in redb with their full history, and answers questions.
//!
//! # Layout
//! - [`api`]: the HTTP JSON API and `/metrics`.
//! - [`cli`]: table and CSV rendering for the `atalaya` CLI.
//! - [`config`]: the collector's configuration file.
//! - [`store`]: the redb store: schema, group commit, queries.
//! - [`telemetry`]: the collector's own health for `/metrics`.

pub mod api;
pub mod cli;
pub mod config;
pub mod store;
pub mod telemetry;
