//! Record types shared by the store and the logic above it: what is kept
//! (a network device, an incident, a knowledge-base article, a queued webhook event, a
//! metric rollup point, the kinds of match of a caller lookup, a person of
//! the people directory) with no behaviour beyond naming and
//! small accessors. The store persists them without knowing the rules
//! that make them; the logic changes them without knowing where they are
//! kept.
//!
//! # Layout
//! - [`device`]: network devices, their last poll and inventory changes.
//! - [`diagnostic`]: diagnostic requests to agents and their results.
//! - [`incident`]: severities, priorities, the stored incident and its timeline.
//! - [`kb`]: knowledge-base articles and their signatures.
//! - [`lookup`]: the caller lookup's kinds of match.
//! - [`person`]: a person of the people directory and their phone numbers.
//! - [`outbox`]: webhook events and their delivery state.
//! - [`supplier`]: suppliers, their contracts (support, warranty, lease,
//!   licence, maintenance) and warranties entered per asset.
//! - [`rollup`]: rollup points of metric series, their tiers and the
//!   aggregations a query asks of them.

pub mod device;
pub mod diagnostic;
pub mod incident;
pub mod kb;
pub mod lookup;
pub mod outbox;
pub mod person;
pub mod rollup;
pub mod supplier;
