//! The Atalaya collector: receives agents' inventories and metrics over
//! QUIC, keeps them in redb with their full history, and answers questions.
//!
//! # Layout
//! - [`api`]: the HTTP JSON API and `/metrics`.
//! - [`cli`]: table and CSV rendering for the `atalaya` CLI.
//! - [`config`]: the collector's configuration file.
//! - [`demo`]: `atalaya-collector demo`, a collector and a local agent in one command.
//! - [`incidents`]: incident rules and the sans-IO engine that opens and resolves incidents.
//! - [`kb`]: the knowledge base: articles matched to incidents by signature.
//! - [`notify`]: outbound webhooks from a durable outbox.
//! - [`pki`]: the certificate authority: CA, server certificate, agent certificates.
//! - [`run`]: starting everything from one configuration.
//! - [`server`]: the QUIC endpoint: enrollment and agents' data sessions.
//! - [`store`]: the redb store: schema, group commit, queries.
//! - [`telemetry`]: the collector's own health for `/metrics`.
//! - [`tls`]: the QUIC/TLS server configuration and the peer's agent id.

pub mod api;
pub mod cli;
pub mod config;
pub mod demo;
pub mod incidents;
pub mod kb;
pub mod notify;
pub mod pki;
pub mod run;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod tls;
