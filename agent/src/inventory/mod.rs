//! Inventory sources: one module per part of the inventory, each reading
//! through a [`Root`] so that it runs the same on the live host and on a
//! fixture tree.
//!
//! # Layout
//! - [`host`]: names, machine-id, boot time, time zone, virtualization.
//! - [`os`]: os-release and kernel.
//! - [`hardware`]: DMI/SMBIOS, CPU, memory, PCI, USB, batteries, GPUs, monitors.
//! - [`software`]: installed packages (dpkg, rpm, apk, pacman).
//! - [`network`]: interfaces, addresses, gateways, DNS.
//! - [`storage`]: block devices and filesystems.
//! - [`users`]: accounts, groups, sessions, last login.
//! - [`services`]: service units and listening sockets.

use std::time::{Duration, Instant};

use atalaya_common::model::Inventory;

use crate::root::{Gaps, Root};

pub mod hardware;
pub mod host;
pub mod network;
pub mod os;
pub mod services;
pub mod software;
pub mod storage;
pub mod users;

/// How one source did in one collection (node_exporter's per-collector report).
#[derive(Debug, Clone)]
pub struct SourceReport {
    /// Source name, e.g. `software`.
    pub name: &'static str,
    /// Time it took.
    pub duration: Duration,
    /// Values it could not read.
    pub gaps: usize,
}

type Source = fn(&Root, &mut Gaps, &mut Inventory);

/// Every source, in the order they run.
pub const SOURCES: &[(&str, Source)] = &[
    ("host", |root, gaps, inv| {
        inv.host = host::collect(root, gaps)
    }),
    ("os", |root, gaps, inv| inv.os = os::collect(root, gaps)),
    ("hardware", |root, gaps, inv| {
        inv.hardware = hardware::collect(root, gaps)
    }),
    ("software", |root, gaps, inv| {
        inv.software = software::collect(root, gaps)
    }),
    ("network", |root, gaps, inv| {
        inv.network = network::collect(root, gaps)
    }),
    ("storage", |root, gaps, inv| {
        inv.storage = storage::collect(root, gaps)
    }),
    ("users", |root, gaps, inv| {
        inv.users = users::collect(root, gaps)
    }),
    ("services", |root, gaps, inv| {
        inv.services = services::collect(root, gaps)
    }),
];

/// Collects the whole inventory of `root`, in canonical order.
pub fn collect(root: &Root) -> (Inventory, Vec<SourceReport>) {
    let mut inventory = Inventory::default();
    let mut gaps = Gaps::default();
    let mut reports = Vec::with_capacity(SOURCES.len());
    for (name, source) in SOURCES {
        let started = Instant::now();
        let before = gaps.0.len();
        source(root, &mut gaps, &mut inventory);
        reports.push(SourceReport {
            name,
            duration: started.elapsed(),
            gaps: gaps.0.len() - before,
        });
    }
    inventory.host.unavailable.extend(gaps.0);
    inventory.canonicalize();
    (inventory, reports)
}
