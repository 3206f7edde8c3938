//! Supplier names matched to what the real agent reads: the makers and
//! package vendors of every fixture host (Debian, RPM, Alpine, Arch) and
//! of the machine the tests run on, against a supplier list written the
//! way an administrator would write it.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use atalaya_agent::inventory;
use atalaya_agent::root::Root;
use atalaya_collector::records::supplier::{Supplier, SupplierKind};
use atalaya_collector::suppliers::AssetView;
use atalaya_collector::suppliers::matching::Directory;
use atalaya_common::model::Timestamp;

fn root(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../agent/tests/fixtures")
        .join(name)
}

fn supplier(name: &str, kind: SupplierKind, aliases: &[&str]) -> Supplier {
    Supplier {
        name: name.into(),
        kind,
        phone: None,
        email: None,
        portal: None,
        account: None,
        aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
        notes: None,
    }
}

fn suppliers() -> Vec<Supplier> {
    vec![
        supplier("Dell", SupplierKind::HardwareMaker, &[]),
        supplier("QEMU", SupplierKind::HardwareMaker, &[]),
        supplier(
            "Debian",
            SupplierKind::SoftwarePublisher,
            &[
                "GNU Libc Maintainers",
                "Maintainers of Mozilla-related packages",
            ],
        ),
        supplier(
            "Rocky Enterprise Software Foundation",
            SupplierKind::SoftwarePublisher,
            &["Rocky Linux Build System"],
        ),
        supplier("ACME", SupplierKind::ServiceProvider, &[]),
        supplier(
            "Alpine Linux",
            SupplierKind::SoftwarePublisher,
            &["Natanael Copa", "Sören Tempel"],
        ),
    ]
}

/// A host's maker's supplier and its packages by supplier.
fn matched(
    view: &AssetView,
    directory: &Directory<'_>,
) -> (Option<String>, BTreeMap<String, usize>) {
    let maker = view
        .maker
        .as_deref()
        .and_then(|m| directory.find(m))
        .map(|s| s.name.clone());
    let mut packages = BTreeMap::new();
    for (_, vendor) in &view.packages {
        let name = vendor
            .as_deref()
            .and_then(|v| directory.find(v))
            .map_or("(none)".to_owned(), |s| s.name.clone());
        *packages.entry(name).or_default() += 1;
    }
    (maker, packages)
}

fn view_of(name: &str) -> AssetView {
    let (inv, _) = inventory::collect(&Root::new(root(name)));
    AssetView::of_host("asset-1", &[], Timestamp(0), &inv)
}

#[test]
fn fixture_hosts_makers_and_package_vendors_find_their_suppliers() {
    let all = suppliers();
    let directory = Directory::new(&all);
    let count = |pairs: &[(&str, usize)]| -> BTreeMap<String, usize> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    };

    // Debian: "Dell Inc." is Dell; maintainers by team name or alias.
    let (maker, packages) = matched(&view_of("debian"), &directory);
    assert_eq!(maker.as_deref(), Some("Dell"));
    assert_eq!(
        packages,
        count(&[("Debian", 5), ("(none)", 2)]),
        "the Debian teams and the aliased maintainers, not the two people"
    );

    // RPM: the vendor first, the packager when there is none.
    let (maker, packages) = matched(&view_of("rpm"), &directory);
    assert_eq!(maker.as_deref(), Some("QEMU"));
    assert_eq!(
        packages.get("Rocky Enterprise Software Foundation"),
        Some(&3)
    );
    assert_eq!(
        packages.get("ACME"),
        Some(&1),
        "ACME Ops <ops@acme.example>"
    );

    // Alpine: maintainers named one by one.
    let (_, packages) = matched(&view_of("alpine"), &directory);
    assert_eq!(packages.get("Alpine Linux"), Some(&5), "{packages:?}");

    // Arch: a placeholder maker names no supplier.
    let (maker, packages) = matched(&view_of("arch"), &directory);
    assert_eq!(maker, None, "System manufacturer");
    assert_eq!(packages.keys().collect::<Vec<_>>(), ["(none)"]);
}

#[test]
fn the_live_hosts_maker_and_packages_are_matched_consistently() {
    let (inv, _) = inventory::collect(&Root::new(Path::new("/")));
    let view = AssetView::of_host("asset-1", &[], Timestamp(0), &inv);
    assert!(
        !view.packages.is_empty(),
        "the live host has a package database"
    );
    // A supplier named after each vendor the live host's packages give
    // (as an administrator would add them) finds every one of them, and
    // nothing finds a name no supplier starts.
    let mut vendors: Vec<String> = view
        .packages
        .iter()
        .filter_map(|(_, v)| v.clone())
        .collect();
    vendors.sort();
    vendors.dedup();
    let all: Vec<Supplier> = vendors
        .iter()
        .map(|v| supplier(v, SupplierKind::SoftwarePublisher, &[]))
        .collect();
    let directory = Directory::new(&all);
    let (_, packages) = matched(&view, &directory);
    let with_vendor = view.packages.iter().filter(|(_, v)| v.is_some()).count();
    let found: usize = packages
        .iter()
        .filter(|(k, _)| *k != "(none)")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(found, with_vendor, "{packages:?}");
    if let Some(maker) = &view.maker {
        let makers = [supplier(maker, SupplierKind::HardwareMaker, &[])];
        let d = Directory::new(&makers);
        assert_eq!(
            d.find(&maker.to_uppercase()).map(|s| s.name.as_str()),
            Some(maker.as_str())
        );
    }
    assert!(directory.find("Zzyzx Unknown Vendor Corp.").is_none());
}
