//! The supplier reports: contracts by the day they end, each asset's
//! warranty, licence compliance and the installed base by supplier.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::matching::Directory;
use super::{AssetView, covers, covers_hardware, matching_packages};
use crate::helpers::day::Day;
use crate::records::supplier::{
    Contract, ContractKind, Coverage, ServiceLevels, Supplier, SupplierKind, Warranty,
};

/// Where a contract or warranty stands on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Standing {
    /// Ended.
    Expired,
    /// In force, but the renewal notice day (or, for a warranty, the
    /// window asked) has come.
    Expiring,
    /// In force.
    Active,
    /// Not in force yet.
    NotStarted,
}

impl Standing {
    /// For tables.
    pub fn words(self) -> &'static str {
        match self {
            Standing::Expired => "expired",
            Standing::Expiring => "expiring",
            Standing::Active => "active",
            Standing::NotStarted => "not started",
        }
    }

    /// Where something from `start` to `end` stands on `today`, expiring
    /// from `notice_on`.
    pub fn of(start: Option<Day>, end: Day, notice_on: Day, today: Day) -> Standing {
        if today > end {
            Standing::Expired
        } else if start.is_some_and(|s| today < s) {
            Standing::NotStarted
        } else if today >= notice_on {
            Standing::Expiring
        } else {
            Standing::Active
        }
    }
}

/// One contract in the contracts report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ContractRow {
    /// The contract.
    pub contract: Contract,
    /// Where it stands.
    pub standing: Standing,
    /// Days from the report to its last day (negative: ended that long ago).
    pub days_left: i64,
    /// The day its renewal is to be decided.
    pub notice_on: Day,
    /// Assets it covers (by serial, model, tag or an installed package).
    pub assets: usize,
}

/// The contracts report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ContractsReport {
    /// The day it was made.
    pub as_of: Day,
    /// Contracts, the soonest to end first.
    pub rows: Vec<ContractRow>,
}

/// Every contract with where it stands on `today`, soonest to end first;
/// with `ending_within`, only those in force ending within that many days.
pub fn contracts(
    contracts: &[Contract],
    assets: &[AssetView],
    today: Day,
    ending_within: Option<u32>,
) -> ContractsReport {
    let mut rows: Vec<ContractRow> = contracts
        .iter()
        .map(|c| ContractRow {
            standing: Standing::of(Some(c.start), c.end, c.notice_on(), today),
            days_left: today.days_until(c.end),
            notice_on: c.notice_on(),
            assets: assets.iter().filter(|a| covers(c, a)).count(),
            contract: c.clone(),
        })
        .filter(|r| ending_within.is_none_or(|d| (0..=i64::from(d)).contains(&r.days_left)))
        .collect();
    rows.sort_by(|a, b| {
        a.contract
            .end
            .cmp(&b.contract.end)
            .then_with(|| a.contract.supplier.cmp(&b.contract.supplier))
            .then_with(|| a.contract.number.cmp(&b.contract.number))
    });
    ContractsReport { as_of: today, rows }
}

/// Where a warranty comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case", tag = "from")]
pub enum WarrantySource {
    /// A warranty contract covering the asset.
    Contract {
        /// Its number in the store.
        id: u64,
        /// Its number with the supplier.
        number: String,
    },
    /// Entered or imported for the asset.
    Entered,
}

/// One asset in the warranty report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WarrantyRow {
    /// Asset id.
    pub asset_id: String,
    /// Host or device name.
    pub hostname: String,
    /// Maker.
    pub maker: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// Serial number.
    pub serial: Option<String>,
    /// Who gives the warranty (`None`: no warranty is known).
    pub supplier: Option<String>,
    /// Its last day.
    pub end: Option<Day>,
    /// Where it comes from.
    pub source: Option<WarrantySource>,
    /// Where it stands (`None`: no warranty is known).
    pub standing: Option<Standing>,
    /// Days from the report to its last day.
    pub days_left: Option<i64>,
}

/// Each asset's warranty on `today`: the one that lasts longest of the
/// warranty contracts covering it (by serial, model or tag) and the one
/// entered for it. A warranty ending within `expiring_days` is expiring.
/// Out of warranty first, then expiring, unknown, and in force, each the
/// soonest to end first.
pub fn warranties(
    contracts: &[Contract],
    entered: &[Warranty],
    assets: &[AssetView],
    today: Day,
    expiring_days: u32,
) -> Vec<WarrantyRow> {
    let entered: BTreeMap<&str, &Warranty> =
        entered.iter().map(|w| (w.asset_id.as_str(), w)).collect();
    let mut rows: Vec<WarrantyRow> = assets
        .iter()
        .map(|a| {
            let from_contracts = contracts
                .iter()
                .filter(|c| c.kind == ContractKind::Warranty && covers_hardware(c, a))
                .map(|c| {
                    let source = WarrantySource::Contract {
                        id: c.id,
                        number: c.number.clone(),
                    };
                    (c.supplier.clone(), Some(c.start), c.end, source)
                });
            let own = entered
                .get(a.asset_id.as_str())
                .map(|w| (w.supplier.clone(), w.start, w.end, WarrantySource::Entered));
            let best = from_contracts.chain(own).max_by_key(|w| w.2);
            let mut row = WarrantyRow {
                asset_id: a.asset_id.clone(),
                hostname: a.hostname.clone(),
                maker: a.maker.clone(),
                model: a.model.clone(),
                serial: a.serial.clone(),
                supplier: None,
                end: None,
                source: None,
                standing: None,
                days_left: None,
            };
            if let Some((supplier, start, end, source)) = best {
                row.standing = Some(Standing::of(
                    start,
                    end,
                    end.minus_days(expiring_days),
                    today,
                ));
                row.days_left = Some(today.days_until(end));
                row.supplier = Some(supplier);
                row.end = Some(end);
                row.source = Some(source);
            }
            row
        })
        .collect();
    rows.sort_by(|a, b| {
        let rank = |s: Option<Standing>| match s {
            Some(Standing::Expired) => 0,
            Some(Standing::Expiring) => 1,
            None => 2,
            Some(Standing::Active) => 3,
            Some(Standing::NotStarted) => 4,
        };
        let key = |r: &WarrantyRow| (rank(r.standing), r.end);
        key(a)
            .cmp(&key(b))
            .then_with(|| a.hostname.cmp(&b.hostname))
    });
    rows
}

/// Whether a licence has the seats its installations take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[schema(as = LicenceCompliance)]
pub enum Compliance {
    /// As many installations as seats, or fewer.
    Within,
    /// More installations than seats.
    Over,
}

/// One licence in the compliance report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LicenceRow {
    /// Contract number in the store.
    pub contract_id: u64,
    /// Its number with the supplier.
    pub number: String,
    /// The supplier.
    pub supplier: String,
    /// The package patterns it licenses.
    pub software: Vec<String>,
    /// Seats bought.
    pub seats: u32,
    /// Assets seen within the window with a licensed package installed.
    pub installed: u32,
    /// Where it stands.
    pub compliance: Compliance,
    /// Installations beyond the seats.
    pub over: u32,
    /// Seats no installation takes.
    pub unused: u32,
    /// The assets with it installed, by host name.
    pub assets: Vec<String>,
    /// Where the contract stands.
    pub standing: Standing,
    /// Its last day.
    pub end: Day,
}

/// Licence compliance on `today`: for every licence contract, the assets
/// in `assets` (the caller keeps those seen lately) with a package its
/// patterns match, against its seats. Over first, then by supplier.
pub fn licences(contracts: &[Contract], assets: &[AssetView], today: Day) -> Vec<LicenceRow> {
    let mut rows: Vec<LicenceRow> = contracts
        .iter()
        .filter(|c| c.kind == ContractKind::Licence)
        .map(|c| {
            let software: Vec<String> = c
                .covers
                .iter()
                .filter_map(|cov| match cov {
                    Coverage::Software(p) => Some(p.clone()),
                    _ => None,
                })
                .collect();
            let mut hosts: Vec<String> = assets
                .iter()
                .filter(|a| software.iter().any(|p| !matching_packages(p, a).is_empty()))
                .map(|a| a.hostname.clone())
                .collect();
            hosts.sort();
            let installed = u32::try_from(hosts.len()).unwrap_or(u32::MAX);
            let seats = c.seats.unwrap_or(0);
            LicenceRow {
                contract_id: c.id,
                number: c.number.clone(),
                supplier: c.supplier.clone(),
                software,
                seats,
                installed,
                compliance: if installed > seats {
                    Compliance::Over
                } else {
                    Compliance::Within
                },
                over: installed.saturating_sub(seats),
                unused: seats.saturating_sub(installed),
                assets: hosts,
                standing: Standing::of(Some(c.start), c.end, c.notice_on(), today),
                end: c.end,
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        (b.compliance == Compliance::Over)
            .cmp(&(a.compliance == Compliance::Over))
            .then_with(|| a.supplier.cmp(&b.supplier))
            .then_with(|| a.number.cmp(&b.number))
    });
    rows
}

/// One supplier with what the fleet has from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SupplierRow {
    /// Its name.
    pub name: String,
    /// What it is.
    pub kind: SupplierKind,
    /// Support phone.
    pub phone: Option<String>,
    /// Support e-mail.
    pub email: Option<String>,
    /// Support portal.
    pub portal: Option<String>,
    /// The organisation's account with it.
    pub account: Option<String>,
    /// Its contracts in force.
    pub active_contracts: u32,
    /// All its contracts.
    pub contracts: u32,
    /// Assets it made (by maker name).
    pub hardware: u32,
    /// Installed packages it publishes (by package vendor), over all assets.
    pub software: u32,
    /// Assets any of its contracts covers.
    pub covered_assets: u32,
    /// Incidents on the assets it made or covers, in the window the
    /// caller counted them over.
    #[serde(default)]
    pub incidents: u32,
    /// The best service levels of its contracts in force.
    pub levels: ServiceLevels,
}

/// The installed base by supplier on `today`: every supplier with its
/// contracts and what the fleet has from it, by name; `incidents` counts
/// the incidents of each asset (by asset id).
pub fn suppliers(
    suppliers: &[Supplier],
    contracts: &[Contract],
    assets: &[AssetView],
    incidents: &BTreeMap<String, u32>,
    today: Day,
) -> Vec<SupplierRow> {
    let directory = Directory::new(suppliers);
    let mut hardware: BTreeMap<&str, u32> = BTreeMap::new();
    let mut software: BTreeMap<&str, u32> = BTreeMap::new();
    for a in assets {
        if let Some(s) = a.maker.as_deref().and_then(|m| directory.find(m)) {
            *hardware.entry(s.name.as_str()).or_default() += 1;
        }
        for (_, vendor) in &a.packages {
            if let Some(s) = vendor.as_deref().and_then(|v| directory.find(v)) {
                *software.entry(s.name.as_str()).or_default() += 1;
            }
        }
    }
    let mut rows: Vec<SupplierRow> = suppliers
        .iter()
        .map(|s| {
            let theirs: Vec<&Contract> = contracts
                .iter()
                .filter(|c| c.supplier.eq_ignore_ascii_case(&s.name))
                .collect();
            let active: Vec<&&Contract> = theirs
                .iter()
                .filter(|c| c.start <= today && today <= c.end)
                .collect();
            let best = |f: fn(&ServiceLevels) -> Option<f64>| {
                active
                    .iter()
                    .filter_map(|c| f(&c.levels))
                    .min_by(f64::total_cmp)
            };
            let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
            let theirs_asset = |a: &AssetView| {
                a.maker
                    .as_deref()
                    .and_then(|m| directory.find(m))
                    .is_some_and(|x| std::ptr::eq(x, s))
                    || theirs.iter().any(|c| covers_hardware(c, a))
            };
            let incidents_of = assets
                .iter()
                .filter(|a| theirs_asset(a))
                .map(|a| incidents.get(&a.asset_id).copied().unwrap_or(0))
                .fold(0u32, u32::saturating_add);
            SupplierRow {
                name: s.name.clone(),
                kind: s.kind,
                phone: s.phone.clone(),
                email: s.email.clone(),
                portal: s.portal.clone(),
                account: s.account.clone(),
                active_contracts: count(active.len()),
                contracts: count(theirs.len()),
                hardware: hardware.get(s.name.as_str()).copied().unwrap_or(0),
                software: software.get(s.name.as_str()).copied().unwrap_or(0),
                covered_assets: count(
                    assets
                        .iter()
                        .filter(|a| theirs.iter().any(|c| covers(c, a)))
                        .count(),
                ),
                incidents: incidents_of,
                levels: ServiceLevels {
                    response_hours: best(|l| l.response_hours),
                    resolution_hours: best(|l| l.resolution_hours),
                    hours: active.iter().find_map(|c| c.levels.hours.clone()),
                },
            }
        })
        .collect();
    rows.sort_by_key(|r| r.name.to_lowercase());
    rows
}

/// Whom to call about an asset under one contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SupplierContact {
    /// The supplier.
    pub supplier: String,
    /// Support phone.
    pub phone: Option<String>,
    /// Support e-mail.
    pub email: Option<String>,
    /// Support portal.
    pub portal: Option<String>,
    /// The organisation's account with it.
    pub account: Option<String>,
    /// Contract number in the store.
    pub contract_id: u64,
    /// Its number with the supplier.
    pub number: String,
    /// What kind of contract.
    pub kind: ContractKind,
    /// Its last day.
    pub end: Day,
    /// What the supplier promises under it.
    pub levels: ServiceLevels,
}

/// Whom to call about the contract `c`.
pub fn contact(suppliers: &[Supplier], c: &Contract) -> SupplierContact {
    let s = suppliers
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(&c.supplier));
    let field = |f: fn(&Supplier) -> &Option<String>| s.and_then(|s| f(s).clone());
    SupplierContact {
        supplier: c.supplier.clone(),
        phone: field(|s| &s.phone),
        email: field(|s| &s.email),
        portal: field(|s| &s.portal),
        account: field(|s| &s.account),
        contract_id: c.id,
        number: c.number.clone(),
        kind: c.kind,
        end: c.end,
        levels: c.levels.clone(),
    }
}

/// The contracts in force on `today` that cover `asset` (itself or a
/// package on it), each with its supplier's contacts; the quickest
/// promised response first, contracts promising none last.
pub fn contacts(
    suppliers: &[Supplier],
    contracts: &[Contract],
    asset: &AssetView,
    today: Day,
) -> Vec<SupplierContact> {
    let mut out: Vec<SupplierContact> = contracts
        .iter()
        .filter(|c| c.start <= today && today <= c.end && covers(c, asset))
        .map(|c| contact(suppliers, c))
        .collect();
    out.sort_by(|a, b| {
        let response = |c: &SupplierContact| c.levels.response_hours.unwrap_or(f64::INFINITY);
        response(a)
            .total_cmp(&response(b))
            .then_with(|| a.supplier.cmp(&b.supplier))
            .then_with(|| a.number.cmp(&b.number))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn contracts_stand_by_their_notice_and_end_days() {
        let c = |id, end| contract(id, "Dell", ContractKind::Support, end, vec![]);
        let all = [c(1, "2027-03-01"), c(2, "2026-12-01"), c(3, "2028-01-01")];
        let report = contracts(&all, &[], day("2026-12-15"), None);
        let got: Vec<(u64, Standing, i64)> = report
            .rows
            .iter()
            .map(|r| (r.contract.id, r.standing, r.days_left))
            .collect();
        // Notice 60 days before the end: 2027-01-01 for the first.
        assert_eq!(
            got,
            [
                (2, Standing::Expired, -14),
                (1, Standing::Active, 76),
                (3, Standing::Active, 382)
            ]
        );
        let report = contracts(&all, &[], day("2027-01-01"), Some(90));
        assert_eq!(report.rows.len(), 1);
        assert_eq!(report.rows[0].standing, Standing::Expiring);
    }

    #[test]
    fn licence_compliance_counts_installations_against_seats() {
        let mut office = contract(
            7,
            "Microsoft",
            ContractKind::Licence,
            "2027-06-30",
            vec![Coverage::Software("ms-office-*".into())],
        );
        office.seats = Some(2);
        let mut visio = office.clone();
        visio.id = 8;
        visio.number = "C-8".into();
        visio.covers = vec![Coverage::Software("visio".into())];
        visio.seats = Some(5);
        let fleet = [
            asset("a1", "Dell", "X", "1", &["ms-office-2021"]),
            asset("a2", "Dell", "X", "2", &["MS-Office-2019", "visio"]),
            asset("a3", "HP", "Y", "3", &["ms-office-2021"]),
            asset("a4", "HP", "Y", "4", &["vim"]),
        ];
        let rows = licences(&[visio, office], &fleet, day("2026-12-01"));
        let office = &rows[0];
        assert_eq!(office.contract_id, 7);
        assert_eq!((office.installed, office.over, office.unused), (3, 1, 0));
        assert_eq!(office.compliance, Compliance::Over);
        assert_eq!(office.assets, ["host-a1", "host-a2", "host-a3"]);
        let visio = &rows[1];
        assert_eq!((visio.installed, visio.over, visio.unused), (1, 0, 4));
        assert_eq!(visio.compliance, Compliance::Within);
    }

    #[test]
    fn the_longest_warranty_of_contracts_and_entries_is_an_assets() {
        let by_model = contract(
            1,
            "Dell",
            ContractKind::Warranty,
            "2027-01-31",
            vec![Coverage::Model("PowerEdge*".into())],
        );
        let support = contract(
            2,
            "Dell",
            ContractKind::Support,
            "2030-01-31",
            vec![Coverage::Model("PowerEdge*".into())],
        );
        let fleet = [
            asset("a1", "Dell", "PowerEdge R640", "S1", &[]),
            asset("a2", "Dell", "PowerEdge R740", "S2", &[]),
            asset("a3", "HP", "ProLiant", "S3", &[]),
        ];
        let entered = [Warranty {
            asset_id: "a2".into(),
            supplier: "Dell".into(),
            start: None,
            end: day("2029-05-01"),
            notes: None,
        }];
        let rows = warranties(
            &[by_model, support],
            &entered,
            &fleet,
            day("2026-12-01"),
            90,
        );
        let find = |id: &str| rows.iter().find(|r| r.asset_id == id).unwrap();
        assert_eq!(find("a1").standing, Some(Standing::Expiring));
        assert_eq!(find("a1").days_left, Some(61));
        assert_eq!(
            find("a1").source,
            Some(WarrantySource::Contract {
                id: 1,
                number: "C-1".into()
            })
        );
        assert_eq!(find("a2").end, Some(day("2029-05-01")));
        assert_eq!(find("a2").source, Some(WarrantySource::Entered));
        // A support contract is not a warranty.
        assert_eq!(find("a3").standing, None);
        // Expiring, then unknown, then in force.
        let order: Vec<&str> = rows.iter().map(|r| r.asset_id.as_str()).collect();
        assert_eq!(order, ["a1", "a3", "a2"]);
    }
}
