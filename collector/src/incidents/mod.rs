//! Incidents that raise themselves: rules and the engine that applies them.
//!
//! The engine is sans-IO (fed events with their times, it returns actions),
//! so storage, the API and notifications are wired around it without it
//! knowing about them.
//!
//! # Layout
//! - [`rules`]: the rule model, the built-in rules, `rules.toml` parsing.
//! - [`engine`]: the state machine: events in, [`engine::Action`]s out.
//! - [`baseline`]: a series' usual level, which baseline rules compare with.
//! - [`supplier_notices`]: the supplier book as the contract, warranty and
//!   licence rules see it, and the words of their incidents.
//!
//! - [`context`]: what a user-report incident tells about the machine.
//! - [`changes`]: inventory changes sorted into classes, told with before and after.
//! - [`sla`]: priorities, SLA policies and business-hours clocks.
//! - [`lifecycle`]: the help-desk life of a stored incident and its timeline.
//! - [`report`]: the SLA report over stored incidents, per priority.
//! - [`slr`]: the service-level report of a period (month), as managers
//!   review it with the customer.

pub mod baseline;
pub mod changes;
pub mod context;
pub mod engine;
pub mod lifecycle;
pub mod report;
pub mod rules;
pub mod sla;
pub mod slr;
pub mod supplier_notices;

pub use engine::{Action, ActionKind, DevicePolled, Engine, EngineState, OpenIncident, UserReport};
pub use rules::{AssetFacts, AssetKind, Rule, RuleKind, RuleSet};

pub use crate::records::incident::{IncidentKey, NotifyEvent, Severity};

#[cfg(test)]
mod probe_tests;
#[cfg(test)]
mod supplier_tests;
#[cfg(test)]
mod tests;
