//! Suppliers, contracts, warranties and licences judged against the
//! inventory: which supplier a maker or publisher name stands for, what
//! a contract covers, which contracts end or are due for renewal, which
//! assets are out of warranty, and whether each licence has the seats
//! its installations take. Pure: the caller gives the records and what
//! it knows of the assets ([`AssetView`]), and a day or time for "now".
//!
//! # Layout
//! - [`matching`]: supplier names as the inventory writes them.
//! - [`reports`]: contracts, warranties, licences and the installed base
//!   by supplier.
//! - [`import`]: CSV files of suppliers, contracts and warranties.

pub mod import;
pub mod matching;
pub mod reports;

use atalaya_common::model::Timestamp;

use crate::helpers::pattern::glob;
use crate::records::supplier::{Contract, Coverage};

/// What the supplier logic knows of one asset.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AssetView {
    /// Asset id.
    pub asset_id: String,
    /// Host or device name.
    pub hostname: String,
    /// `host` or `network-device`.
    pub class: String,
    /// Maker (DMI system manufacturer, a device's vendor).
    pub maker: Option<String>,
    /// Model (DMI product name, a device's model).
    pub model: Option<String>,
    /// Serial number.
    pub serial: Option<String>,
    /// Administrator tags.
    pub tags: Vec<String>,
    /// Installed packages: name and vendor.
    pub packages: Vec<(String, Option<String>)>,
    /// When it last sent anything.
    pub last_seen: Timestamp,
}

impl AssetView {
    /// The view of a host from its inventory: maker, model and serial from
    /// DMI, every package with its vendor (an RPM vendor or packager, a
    /// Debian, Alpine or Arch maintainer).
    pub fn of_host(
        asset_id: &str,
        tags: &[String],
        last_seen: Timestamp,
        inv: &atalaya_common::model::Inventory,
    ) -> AssetView {
        let system = &inv.hardware.system;
        AssetView {
            asset_id: asset_id.to_owned(),
            hostname: inv.host.hostname.clone(),
            class: "host".to_owned(),
            maker: system.vendor.clone(),
            model: system.product.clone(),
            serial: system.serial.clone(),
            tags: tags.to_vec(),
            packages: inv
                .software
                .packages
                .iter()
                .map(|p| (p.name.clone(), p.vendor.clone()))
                .collect(),
            last_seen,
        }
    }
}

/// Whether `coverage` takes in `asset` as a whole (serial, model or tag).
fn covers_asset(coverage: &Coverage, asset: &AssetView) -> bool {
    let same = |a: &Option<String>, b: &str| {
        a.as_deref()
            .is_some_and(|a| a.trim().eq_ignore_ascii_case(b.trim()))
    };
    match coverage {
        Coverage::Serial(s) => same(&asset.serial, s),
        Coverage::Model(m) => asset
            .model
            .as_deref()
            .is_some_and(|model| glob(&m.trim().to_lowercase(), &model.trim().to_lowercase())),
        Coverage::Tag(t) => asset.tags.iter().any(|x| x == t),
        Coverage::Software(_) => false,
    }
}

/// The names of `asset`'s packages that `pattern` matches (case-insensitive).
pub fn matching_packages<'a>(pattern: &str, asset: &'a AssetView) -> Vec<&'a str> {
    let pattern = pattern.trim().to_lowercase();
    asset
        .packages
        .iter()
        .filter(|(name, _)| glob(&pattern, &name.to_lowercase()))
        .map(|(name, _)| name.as_str())
        .collect()
}

/// Whether `contract` covers `asset`: the asset itself by serial, model
/// or tag, or a package installed on it.
pub fn covers(contract: &Contract, asset: &AssetView) -> bool {
    contract.covers.iter().any(|c| match c {
        Coverage::Software(p) => !matching_packages(p, asset).is_empty(),
        other => covers_asset(other, asset),
    })
}

/// Whether `contract` covers `asset` as hardware (not through its software).
pub fn covers_hardware(contract: &Contract, asset: &AssetView) -> bool {
    contract.covers.iter().any(|c| covers_asset(c, asset))
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::helpers::day::Day;
    use crate::records::supplier::{ContractKind, ServiceLevels};

    pub fn day(text: &str) -> Day {
        Day::parse(text).unwrap()
    }

    pub fn contract(
        id: u64,
        supplier: &str,
        kind: ContractKind,
        end: &str,
        covers: Vec<Coverage>,
    ) -> Contract {
        Contract {
            id,
            supplier: supplier.into(),
            kind,
            number: format!("C-{id}"),
            start: day("2024-01-01"),
            end: day(end),
            notice_days: 60,
            cost: None,
            levels: ServiceLevels::default(),
            covers,
            seats: None,
            notes: None,
        }
    }

    pub fn asset(id: &str, maker: &str, model: &str, serial: &str, packages: &[&str]) -> AssetView {
        AssetView {
            asset_id: id.into(),
            hostname: format!("host-{id}"),
            class: "host".into(),
            maker: Some(maker.into()),
            model: Some(model.into()),
            serial: Some(serial.into()),
            tags: Vec::new(),
            packages: packages.iter().map(|p| ((*p).to_owned(), None)).collect(),
            last_seen: Timestamp(1_800_000_000_000),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use crate::records::supplier::ContractKind;

    #[test]
    fn coverage_by_serial_model_tag_and_package_pattern() {
        let mut a = asset(
            "a1",
            "Dell Inc.",
            "PowerEdge R640",
            "ABC123",
            &["MS-Office-2021", "vim"],
        );
        a.tags.push("finance".into());
        let by = |c: Coverage| contract(1, "Dell", ContractKind::Support, "2030-01-01", vec![c]);
        assert!(covers(&by(Coverage::Serial("abc123 ".into())), &a));
        assert!(!covers(&by(Coverage::Serial("ABC124".into())), &a));
        assert!(covers(&by(Coverage::Model("poweredge r*".into())), &a));
        assert!(!covers(&by(Coverage::Model("PowerEdge R740".into())), &a));
        assert!(covers(&by(Coverage::Tag("finance".into())), &a));
        assert!(!covers(&by(Coverage::Tag("fin".into())), &a));
        assert!(covers(&by(Coverage::Software("ms-office-*".into())), &a));
        assert!(!covers_hardware(
            &by(Coverage::Software("ms-office-*".into())),
            &a
        ));
        assert_eq!(matching_packages("*", &a).len(), 2);
        assert!(!covers(&by(Coverage::Software("emacs".into())), &a));
    }
}
