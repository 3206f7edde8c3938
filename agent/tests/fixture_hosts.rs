//! The whole inventory of each fixture host, compared with its golden
//! output (`tests/snapshots/`). A change in what the agent reports shows up
//! here as a diff to review; accept a deliberate one with
//! `INSTA_UPDATE=always cargo test -p atalaya-agent --test fixture_hosts`.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use atalaya_agent::inventory;
use atalaya_agent::root::Root;
use atalaya_agent::summary;
use atalaya_common::model::Inventory;

fn fixture(host: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(host)
}

/// dpkg keeps no install date; the agent takes it from the mtime of the
/// package's file list, which a git checkout does not preserve. Pin them.
fn pin_dpkg_dates(root: &Path) {
    let info = root.join("var/lib/dpkg/info");
    let Ok(entries) = std::fs::read_dir(&info) else {
        return;
    };
    let when = UNIX_EPOCH + Duration::from_secs(1_768_435_200); // 2026-01-15T00:00:00Z
    for entry in entries {
        let path = entry.unwrap().path();
        let file = std::fs::File::options().append(true).open(&path).unwrap();
        file.set_modified(when).unwrap();
    }
}

fn collect(host: &str) -> Inventory {
    let root = fixture(host);
    pin_dpkg_dates(&root);
    let (inventory, reports) = inventory::collect(&Root::new(&root));
    assert_eq!(reports.len(), inventory::SOURCES.len());
    inventory
}

fn check(host: &str) -> Inventory {
    let inv = collect(host);
    insta::assert_json_snapshot!(format!("{host}-inventory"), inv);
    let mut text = Vec::new();
    summary::inventory(&mut text, &inv).unwrap();
    insta::assert_snapshot!(format!("{host}-summary"), String::from_utf8(text).unwrap());
    inv
}

#[test]
fn debian_laptop() {
    let inv = check("debian");
    assert_eq!(inv.software.manager.as_deref(), Some("dpkg"));
    assert_eq!(inv.host.fqdn.as_deref(), Some("lat-maria.corp.example"));
}

#[test]
fn rocky_virtual_server() {
    let inv = check("rpm");
    assert_eq!(inv.software.manager.as_deref(), Some("rpm"));
    assert_eq!(inv.host.virtualization.hypervisor.as_deref(), Some("kvm"));
}

#[test]
fn alpine_box() {
    let inv = check("alpine");
    assert_eq!(inv.software.manager.as_deref(), Some("apk"));
    assert!(inv.host.unavailable.iter().any(|u| u.item == "machine-id"));
}

#[test]
fn arch_desktop() {
    let inv = check("arch");
    assert_eq!(inv.software.manager.as_deref(), Some("pacman"));
    assert_eq!(inv.host.fqdn, None);
}

#[test]
fn a_missing_root_is_reported_not_a_crash() {
    let (inv, _) = inventory::collect(&Root::new("/nonexistent/atalaya-root"));
    assert!(
        inv.host.unavailable.len() >= 5,
        "{:?}",
        inv.host.unavailable
    );
    assert!(inv.software.packages.is_empty());
}
