//! Renewal planning: assets by age, the operating system releases in use
//! with their end of support ([`super::eol`]), and the hosts whose
//! support ends within some months.
//!
//! An asset's age is counted from its firmware's release date (DMI BIOS
//! date), the closest the inventory comes to a purchase date: a machine is
//! rarely bought long after its firmware was built.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::eol::EolTable;
use super::{AssetClass, Day};

/// What the inventory says of one asset's age and OS.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AssetAge {
    /// Asset id.
    pub asset_id: String,
    /// Host or device name.
    pub hostname: String,
    /// Host or network device.
    pub class: Option<AssetClass>,
    /// Vendor and model.
    pub model: Option<String>,
    /// os-release `ID`.
    pub os_id: Option<String>,
    /// os-release `VERSION_ID`.
    pub os_version: Option<String>,
    /// OS name for people.
    pub os_name: Option<String>,
    /// The firmware's release date as it states it (`MM/DD/YYYY` usually).
    pub firmware_date: Option<String>,
}

/// Where an OS release stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Support {
    /// Its support has ended.
    Ended,
    /// Its support ends within the months asked about.
    EndsSoon,
    /// Supported beyond them.
    Supported,
    /// Not in the table, or no OS release is known.
    Unknown,
}

impl Support {
    /// For tables.
    pub fn words(self) -> &'static str {
        match self {
            Support::Ended => "ended",
            Support::EndsSoon => "ends soon",
            Support::Supported => "supported",
            Support::Unknown => "unknown",
        }
    }
}

/// One asset in the renewal report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RenewalRow {
    /// Asset id.
    pub asset_id: String,
    /// Host or device name.
    pub hostname: String,
    /// Host or network device.
    pub class: Option<AssetClass>,
    /// Vendor and model.
    pub model: Option<String>,
    /// Firmware release date.
    pub firmware_date: Option<Day>,
    /// Years from the firmware date to the report.
    pub age_years: Option<f64>,
    /// OS name as the system gives it.
    pub os: Option<String>,
    /// os-release `ID` and `VERSION_ID`, e.g. `debian 12`.
    pub os_version: Option<String>,
    /// The release in the end-of-support table.
    pub release: Option<String>,
    /// Its end of support.
    pub end_of_support: Option<Day>,
    /// Where it stands.
    pub support: Support,
    /// Why it is unknown, in words.
    pub note: Option<String>,
}

/// One OS release in use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OsVersionRow {
    /// os-release `ID` and `VERSION_ID`, e.g. `debian 12`.
    pub os_version: String,
    /// The release in the end-of-support table.
    pub release: Option<String>,
    /// Assets running it.
    pub assets: usize,
    /// Its end of support.
    pub end_of_support: Option<Day>,
    /// Where it stands.
    pub support: Support,
}

/// The renewal report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RenewalReport {
    /// The day it was made.
    pub as_of: Day,
    /// The months asked about.
    pub months: u32,
    /// Support ending on or before this day is "ending soon".
    pub until: Day,
    /// Assets whose support has ended or ends by `until`, soonest first.
    pub out_of_support: Vec<RenewalRow>,
    /// OS releases in use, soonest end of support first.
    pub os_versions: Vec<OsVersionRow>,
    /// Every asset, oldest first (unknown ages last).
    pub assets: Vec<RenewalRow>,
}

/// The firmware date as firmware writes it: `MM/DD/YYYY`, `MM/DD/YY`
/// (19YY, as DMI defines it) or `YYYY-MM-DD`.
pub fn firmware_day(text: &str) -> Option<Day> {
    let text = text.trim();
    if let Some(day) = Day::parse(text) {
        return Some(day);
    }
    let mut parts = text.split('/');
    let (m, d, y) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let year: i32 = y.parse().ok()?;
    let year = match y.len() {
        2 => 1900 + year,
        4 => year,
        _ => return None,
    };
    Day::from_ymd(year, m.parse().ok()?, d.parse().ok()?)
}

/// The report on `assets` as of `as_of`, support ending within `months`.
pub fn report(assets: &[AssetAge], table: &EolTable, as_of: Day, months: u32) -> RenewalReport {
    let until = as_of.plus_months(months);
    let mut rows: Vec<RenewalRow> = assets.iter().map(|a| row(a, table, as_of, until)).collect();
    let mut versions: BTreeMap<String, OsVersionRow> = BTreeMap::new();
    for r in &rows {
        let Some(v) = &r.os_version else { continue };
        versions
            .entry(v.clone())
            .or_insert_with(|| OsVersionRow {
                os_version: v.clone(),
                release: r.release.clone(),
                assets: 0,
                end_of_support: r.end_of_support,
                support: r.support,
            })
            .assets += 1;
    }
    let mut os_versions: Vec<OsVersionRow> = versions.into_values().collect();
    // Soonest end first; unknown releases after the known ones.
    os_versions.sort_by(|a, b| {
        (a.end_of_support.is_none(), a.end_of_support, &a.os_version).cmp(&(
            b.end_of_support.is_none(),
            b.end_of_support,
            &b.os_version,
        ))
    });
    let mut out_of_support: Vec<RenewalRow> = rows
        .iter()
        .filter(|r| matches!(r.support, Support::Ended | Support::EndsSoon))
        .cloned()
        .collect();
    out_of_support
        .sort_by(|a, b| (a.end_of_support, &a.hostname).cmp(&(b.end_of_support, &b.hostname)));
    rows.sort_by(|a, b| {
        (a.firmware_date.is_none(), a.firmware_date, &a.hostname).cmp(&(
            b.firmware_date.is_none(),
            b.firmware_date,
            &b.hostname,
        ))
    });
    RenewalReport {
        as_of,
        months,
        until,
        out_of_support,
        os_versions,
        assets: rows,
    }
}

fn row(a: &AssetAge, table: &EolTable, as_of: Day, until: Day) -> RenewalRow {
    let firmware_date = a.firmware_date.as_deref().and_then(firmware_day);
    let age_years = firmware_date.map(|d| (d.days_until(as_of) as f64 / 365.25).max(0.0));
    let os_version = match (&a.os_id, &a.os_version) {
        (Some(id), Some(v)) => Some(format!("{id} {v}")),
        (Some(id), None) => Some(id.clone()),
        _ => None,
    };
    let found = match (&a.os_id, &a.os_version) {
        (Some(id), Some(v)) => table.release(id, v),
        _ => None,
    };
    let (support, note) = match (found, &os_version) {
        (Some(r), _) if r.end_of_support < as_of => (Support::Ended, None),
        (Some(r), _) if r.end_of_support <= until => (Support::EndsSoon, None),
        (Some(_), _) => (Support::Supported, None),
        (None, Some(v)) if a.os_version.is_none() => {
            (Support::Unknown, Some(format!("{v} gives no VERSION_ID")))
        }
        (None, Some(v)) => (
            Support::Unknown,
            Some(format!("{v} is not in the end-of-support table")),
        ),
        (None, None) => (Support::Unknown, Some("no OS release known".to_owned())),
    };
    RenewalRow {
        asset_id: a.asset_id.clone(),
        hostname: a.hostname.clone(),
        class: a.class,
        model: a.model.clone(),
        firmware_date,
        age_years,
        os: a.os_name.clone(),
        os_version,
        release: found.map(|r| r.name.clone()),
        end_of_support: found.map(|r| r.end_of_support),
        support,
        note,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, os: Option<(&str, &str)>, bios: Option<&str>) -> AssetAge {
        AssetAge {
            asset_id: format!("id-{name}"),
            hostname: name.into(),
            class: Some(AssetClass::Host),
            os_id: os.map(|o| o.0.to_owned()),
            os_version: os.map(|o| o.1.to_owned()).filter(|v| !v.is_empty()),
            firmware_date: bios.map(str::to_owned),
            ..AssetAge::default()
        }
    }

    #[test]
    fn firmware_dates_as_firmware_writes_them() {
        let day = |s: &str| firmware_day(s).map(|d| d.to_string());
        assert_eq!(day("03/15/2019").as_deref(), Some("2019-03-15"));
        assert_eq!(day("12/01/98").as_deref(), Some("1998-12-01"));
        assert_eq!(day("2021-07-04").as_deref(), Some("2021-07-04"));
        for bad in ["13/01/2019", "1/2", "a/b/c", "03/15/219", ""] {
            assert_eq!(firmware_day(bad), None, "{bad}");
        }
    }

    #[test]
    fn support_ends_within_the_months_asked_and_unknowns_say_why() {
        let table = EolTable::built_in();
        let as_of = Day::parse("2026-03-01").unwrap();
        let assets = [
            host("old", Some(("debian", "10")), Some("03/15/2016")),
            host("soon", Some(("debian", "11")), Some("06/01/2021")),
            host("fine", Some(("debian", "12")), None),
            host("odd", Some(("slackware", "15.0")), Some("01/01/2020")),
            host("sid", Some(("debian", "")), None),
            host("bare", None, None),
        ];
        let r = report(&assets, &table, as_of, 6);
        assert_eq!(r.until.to_string(), "2026-09-01");
        let names: Vec<&str> = r
            .out_of_support
            .iter()
            .map(|a| a.hostname.as_str())
            .collect();
        assert_eq!(names, ["old", "soon"]);
        assert_eq!(r.out_of_support[0].support, Support::Ended);
        assert_eq!(r.out_of_support[1].support, Support::EndsSoon);
        assert_eq!(
            r.out_of_support[1].end_of_support.unwrap().to_string(),
            "2026-08-31"
        );
        let by_age: Vec<&str> = r.assets.iter().map(|a| a.hostname.as_str()).collect();
        assert_eq!(by_age, ["old", "odd", "soon", "bare", "fine", "sid"]);
        assert!((r.assets[0].age_years.unwrap() - 9.96).abs() < 0.01);
        let odd = r.assets.iter().find(|a| a.hostname == "odd").unwrap();
        assert_eq!(odd.support, Support::Unknown);
        assert_eq!(
            odd.note.as_deref(),
            Some("slackware 15.0 is not in the end-of-support table")
        );
        let sid = r.assets.iter().find(|a| a.hostname == "sid").unwrap();
        assert_eq!(sid.note.as_deref(), Some("debian gives no VERSION_ID"));
        let versions: Vec<(&str, usize, Support)> = r
            .os_versions
            .iter()
            .map(|v| (v.os_version.as_str(), v.assets, v.support))
            .collect();
        assert_eq!(
            versions,
            [
                ("debian 10", 1, Support::Ended),
                ("debian 11", 1, Support::EndsSoon),
                ("debian 12", 1, Support::Supported),
                ("debian", 1, Support::Unknown),
                ("slackware 15.0", 1, Support::Unknown),
            ]
        );
        // A year ahead, bookworm is still supported; 2 years ahead it is not.
        let later = report(&assets, &table, Day::parse("2027-01-01").unwrap(), 24);
        assert!(later.out_of_support.iter().any(|a| a.hostname == "fine"));
    }
}
