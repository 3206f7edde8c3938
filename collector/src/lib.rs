//! The Atalaya collector: receives agents' inventories and metrics over
//! QUIC, keeps them in redb with their full history, and answers questions.
//!
//! # Layers
//! Each module uses modules of its own layer or below, never above, and
//! modules never import each other in a circle (`tests/tests/layers.rs`
//! in the workspace checks both from the sources). Bottom first:
//! 1. **Foundations**: [`helpers`] (globs, version order, series names,
//!    the users a name stands for), [`pki`] (the certificate authority),
//!    [`telemetry`] (the collector's own counters).
//! 2. **Records** shared by storage and logic: [`records`] (incidents,
//!    knowledge-base articles, webhook events, lookup match kinds,
//!    suppliers and contracts).
//! 3. **Storage**: [`store`], the redb file. It persists records and knows
//!    no rule, matching or wording.
//! 4. **Logic**, pure and tested in virtual time; it never touches the
//!    store: [`forecast`] (when a series reaches a limit, for incident rules
//!    and capacity reports alike), [`incidents`] (rules, engine, lifecycle,
//!    SLA, the SLA report), [`capacity`] (use, growth and headroom of each
//!    resource, installed capacity, renewal and end of support),
//!    [`kb`] (article checks and matching), [`notify`] (incident events,
//!    their routing to webhooks and mail, their e-mail wording),
//!    [`lookup`] (a caller's machines: matching, ranking, why),
//!    [`people`] (the people directory: CSV import, phone numbers, cards),
//!    [`suppliers`] (supplier names, contract coverage, warranties,
//!    licence compliance, their CSV import),
//!    [`topology`] (the network map from LLDP and CDP neighbours),
//!    [`tiers`] (which metric tier answers a query, aggregations, top-N),
//!    [`formats`] (a host's inventory in other systems' formats: GLPI).
//! 5. **Orchestration**: [`desk`] (the incident engine wired to the
//!    store: actions, staff, SLA sweep, knowledge base, each decision in
//!    one transaction; the caller lookup read from the store),
//!    [`webhooks`] (the delivery worker of webhooks and e-mail), [`config`].
//! 6. **Edges**: [`server`] (QUIC: enrollment, sessions, the committer),
//!    [`api`] (HTTP), [`cli`] (tables for the `atalaya` CLI), [`tls`],
//!    [`run`] (starting everything), [`demo`].

pub mod api;
pub mod capacity;
pub mod cli;
pub mod config;
pub mod console;
pub mod demo;
pub mod desk;
pub mod forecast;
pub mod formats;
pub mod helpers;
pub mod https;
pub mod incidents;
pub mod kb;
pub mod lookup;
pub mod notify;
pub mod people;
pub mod pki;
pub mod records;
pub mod run;
pub mod screen;
pub mod server;
pub mod store;
pub mod suppliers;
pub mod telemetry;
pub mod tiers;
pub mod tls;
pub mod topology;
pub mod webhooks;
