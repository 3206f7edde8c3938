//! CSV files of suppliers, contracts and warranties, as spreadsheets
//! export them (a header naming the columns in any order and case, a
//! UTF-8 byte-order mark or none, CRLF or LF). Every bad field is named
//! with its line and column, and a file with any is refused whole: the
//! caller writes all of a file's records in one transaction or none.
//!
//! Lists in one field (aliases, serials, models, tags, package patterns)
//! are separated by `;`. Dates are `YYYY-MM-DD`.

use std::collections::BTreeMap;

use crate::helpers::csvfile::{CellProblem, ColumnSpec, TableRow, read_table};
use crate::helpers::day::Day;
use crate::records::supplier::{
    Contract, ContractKind, Coverage, ServiceLevels, Supplier, SupplierKind, Warranty, supplier_key,
};

/// Most rows a file may have.
pub const MAX_ROWS: usize = 100_000;

const fn col(name: &'static str, required: bool) -> ColumnSpec {
    ColumnSpec {
        name,
        aliases: &[],
        required,
    }
}

const fn alias(name: &'static str, aliases: &'static [&'static str], required: bool) -> ColumnSpec {
    ColumnSpec {
        name,
        aliases,
        required,
    }
}

/// The columns of a suppliers file.
pub const SUPPLIER_COLUMNS: [ColumnSpec; 8] = [
    col("name", true),
    col("kind", true),
    col("phone", false),
    alias("email", &["e-mail", "mail"], false),
    alias("portal", &["url", "website"], false),
    alias("account", &["account number"], false),
    col("aliases", false),
    col("notes", false),
];

/// The columns of a contracts file.
pub const CONTRACT_COLUMNS: [ColumnSpec; 16] = [
    col("supplier", true),
    alias("number", &["contract", "contract number"], true),
    col("kind", true),
    col("start", true),
    col("end", true),
    alias("notice_days", &["notice days", "notice"], false),
    col("cost", false),
    alias("response_hours", &["response hours", "response"], false),
    alias(
        "resolution_hours",
        &["resolution hours", "resolution"],
        false,
    ),
    alias("hours", &["service hours"], false),
    alias("serials", &["serial"], false),
    alias("models", &["model"], false),
    alias("tags", &["tag"], false),
    alias("software", &["packages", "package"], false),
    col("seats", false),
    col("notes", false),
];

/// The columns of a warranties file: the asset by `asset` id, `serial` or
/// `hostname` (at least one).
pub const WARRANTY_COLUMNS: [ColumnSpec; 7] = [
    alias("asset", &["asset_id", "asset id"], false),
    col("serial", false),
    alias("hostname", &["host"], false),
    col("supplier", true),
    col("start", false),
    col("end", true),
    col("notes", false),
];

/// Fields of one row, each checked, with the problems of the row.
struct Fields<'a> {
    row: &'a TableRow,
    problems: &'a mut Vec<CellProblem>,
}

impl Fields<'_> {
    fn text(&self, column: &str) -> Option<String> {
        self.row.get(column).map(str::to_owned)
    }

    fn wrong(&mut self, column: &str, message: String) {
        self.problems
            .push(CellProblem::field(self.row.line, column, message));
    }

    fn required(&mut self, column: &str) -> Option<String> {
        let got = self.text(column);
        if got.is_none() {
            self.wrong(column, "is empty".into());
        }
        got
    }

    /// The `supplier` field: the name of the known supplier it names.
    fn supplier(&mut self, known: &BTreeMap<String, Supplier>) -> Option<String> {
        let name = self.required("supplier")?;
        match known.get(&supplier_key(&name)) {
            Some(s) => Some(s.name.clone()),
            None => {
                self.wrong(
                    "supplier",
                    format!("`{name}` is not a known supplier: import or add it first"),
                );
                None
            }
        }
    }

    fn list(&self, column: &str) -> Vec<String> {
        self.row
            .get(column)
            .map(|v| {
                v.split(';')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn day(&mut self, column: &str) -> Option<Day> {
        let text = self.row.get(column)?;
        let got = Day::parse(text);
        if got.is_none() {
            let text = text.to_owned();
            self.wrong(column, format!("`{text}` is not a date (YYYY-MM-DD)"));
        }
        got
    }

    fn number<T: std::str::FromStr>(&mut self, column: &str, what: &str) -> Option<T> {
        let text = self.row.get(column)?;
        match text.parse::<T>() {
            Ok(v) => Some(v),
            Err(_) => {
                let text = text.to_owned();
                self.wrong(column, format!("`{text}` is not {what}"));
                None
            }
        }
    }

    fn hours(&mut self, column: &str) -> Option<f64> {
        let h: f64 = self.number(column, "a number of hours")?;
        if h.is_finite() && h >= 0.0 {
            Some(h)
        } else {
            self.wrong(column, format!("`{h}` is not a number of hours"));
            None
        }
    }
}

fn each_row<T>(
    bytes: &[u8],
    columns: &[ColumnSpec],
    mut make: impl FnMut(&mut Fields<'_>) -> Option<T>,
) -> Result<Vec<(u64, T)>, Vec<CellProblem>> {
    let table = read_table(bytes, columns, MAX_ROWS)?;
    let mut problems = table.problems;
    let mut out = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        let before = problems.len();
        let mut fields = Fields {
            row,
            problems: &mut problems,
        };
        let made = make(&mut fields);
        if let (Some(v), true) = (made, problems.len() == before) {
            out.push((row.line, v));
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        problems.sort_by_key(|p| p.line);
        Err(problems)
    }
}

/// The suppliers of a suppliers file, each with its line.
pub fn parse_suppliers(bytes: &[u8]) -> Result<Vec<(u64, Supplier)>, Vec<CellProblem>> {
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    each_row(bytes, &SUPPLIER_COLUMNS, |f| {
        let name = f.required("name");
        let kind = match f.required("kind") {
            Some(k) => {
                let kind = SupplierKind::from_name(&k);
                if kind.is_none() {
                    let names: Vec<&str> = SupplierKind::ALL.iter().map(|k| k.name()).collect();
                    f.wrong("kind", format!("`{k}` is not one of {}", names.join(", ")));
                }
                kind
            }
            None => None,
        };
        let email = f.text("email");
        if let Some(e) = &email
            && !e.contains('@')
        {
            f.wrong("email", format!("`{e}` is not an e-mail address"));
        }
        let name = name?;
        if let Some(first) = seen.insert(supplier_key(&name), f.row.line) {
            f.wrong(
                "name",
                format!("`{name}` is also on line {first}: one supplier per row"),
            );
        }
        Some(Supplier {
            name,
            kind: kind?,
            phone: f.text("phone"),
            email,
            portal: f.text("portal"),
            account: f.text("account"),
            aliases: f.list("aliases"),
            notes: f.text("notes"),
        })
    })
}

/// The contracts of a contracts file, for the suppliers `known` (by their
/// [`supplier_key`]) and over the contracts `existing`: a row whose
/// supplier and number are those of an existing contract replaces it
/// (keeps its id); the others are new (id 0).
pub fn parse_contracts(
    bytes: &[u8],
    known: &BTreeMap<String, Supplier>,
    existing: &[Contract],
) -> Result<Vec<(u64, Contract)>, Vec<CellProblem>> {
    let mut seen: BTreeMap<(String, String), u64> = BTreeMap::new();
    each_row(bytes, &CONTRACT_COLUMNS, |f| {
        let supplier = f.supplier(known);
        let number = f.required("number");
        let kind = f.required("kind").and_then(|k| {
            let kind = ContractKind::from_name(&k);
            if kind.is_none() {
                let names: Vec<&str> = ContractKind::ALL.iter().map(|k| k.name()).collect();
                f.wrong("kind", format!("`{k}` is not one of {}", names.join(", ")));
            }
            kind
        });
        let start = f.required("start").and(f.day("start"));
        let end = f.required("end").and(f.day("end"));
        if let (Some(s), Some(e)) = (start, end)
            && e < s
        {
            f.wrong("end", format!("{e} is before the start, {s}"));
        }
        let notice_days = f
            .number::<u32>("notice_days", "a whole number of days")
            .unwrap_or(0);
        let cost = f.number::<f64>("cost", "an amount");
        if cost.is_some_and(|c| !c.is_finite() || c < 0.0) {
            f.wrong("cost", "is not an amount of money".into());
        }
        let levels = ServiceLevels {
            response_hours: f.hours("response_hours"),
            resolution_hours: f.hours("resolution_hours"),
            hours: f.text("hours"),
        };
        let seats = f.number::<u32>("seats", "a whole number of seats");
        let mut covers: Vec<Coverage> = Vec::new();
        covers.extend(f.list("serials").into_iter().map(Coverage::Serial));
        covers.extend(f.list("models").into_iter().map(Coverage::Model));
        covers.extend(f.list("tags").into_iter().map(Coverage::Tag));
        covers.extend(f.list("software").into_iter().map(Coverage::Software));
        if kind == Some(ContractKind::Licence) {
            if seats.is_none() {
                f.wrong("seats", "a licence needs its number of seats".into());
            }
            if !covers.iter().any(|c| matches!(c, Coverage::Software(_))) {
                f.wrong(
                    "software",
                    "a licence needs the packages it licenses".into(),
                );
            }
        }
        let (supplier, number) = (supplier?, number?);
        let key = (supplier_key(&supplier), number.to_lowercase());
        if let Some(first) = seen.insert(key.clone(), f.row.line) {
            f.wrong(
                "number",
                format!("{supplier} {number} is also on line {first}: one contract per row"),
            );
        }
        let id = existing
            .iter()
            .find(|c| (supplier_key(&c.supplier), c.number.to_lowercase()) == key)
            .map_or(0, |c| c.id);
        Some(Contract {
            id,
            supplier,
            kind: kind?,
            number,
            start: start?,
            end: end?,
            notice_days,
            cost,
            levels,
            covers,
            seats,
            notes: f.text("notes"),
        })
    })
}

/// How a warranty row names its asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssetRef {
    /// By asset id.
    Id(String),
    /// By system serial number.
    Serial(String),
    /// By host name.
    Hostname(String),
}

impl AssetRef {
    /// The column it was read from.
    pub fn column(&self) -> &'static str {
        match self {
            AssetRef::Id(_) => "asset",
            AssetRef::Serial(_) => "serial",
            AssetRef::Hostname(_) => "hostname",
        }
    }
}

/// One row of a warranties file, before its asset is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarrantyRow {
    /// The asset it is for.
    pub asset: AssetRef,
    /// The warranty (its `asset_id` empty until the asset is found).
    pub warranty: Warranty,
}

/// The rows of a warranties file, for the suppliers `known`.
pub fn parse_warranties(
    bytes: &[u8],
    known: &BTreeMap<String, Supplier>,
) -> Result<Vec<(u64, WarrantyRow)>, Vec<CellProblem>> {
    each_row(bytes, &WARRANTY_COLUMNS, |f| {
        let asset = match (f.text("asset"), f.text("serial"), f.text("hostname")) {
            (Some(id), _, _) => Some(AssetRef::Id(id)),
            (None, Some(serial), _) => Some(AssetRef::Serial(serial)),
            (None, None, Some(host)) => Some(AssetRef::Hostname(host)),
            (None, None, None) => {
                f.wrong(
                    "asset",
                    "no asset, serial or hostname names the asset".into(),
                );
                None
            }
        };
        let supplier = f.supplier(known);
        let start = f.day("start");
        let end = f.required("end").and(f.day("end"));
        if let (Some(s), Some(e)) = (start, end)
            && e < s
        {
            f.wrong("end", format!("{e} is before the start, {s}"));
        }
        Some(WarrantyRow {
            asset: asset?,
            warranty: Warranty {
                asset_id: String::new(),
                supplier: supplier?,
                start,
                end: end?,
                notes: f.text("notes"),
            },
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> BTreeMap<String, Supplier> {
        let dell = Supplier {
            name: "Dell".into(),
            kind: SupplierKind::HardwareMaker,
            phone: None,
            email: None,
            portal: None,
            account: None,
            aliases: vec![],
            notes: None,
        };
        BTreeMap::from([("dell".to_owned(), dell)])
    }

    fn said(problems: Vec<CellProblem>) -> Vec<String> {
        problems.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_good_contracts_file_with_lists_and_quotes() {
        let text = "\u{feff}Supplier,Number,Kind,Start,End,Notice Days,Cost,Response Hours,Serials,Models,Software,Seats,Notes\r\n\
            dell,ES-1,warranty,2024-01-01,2027-01-31,90,1200.50,4,ABC1;ABC2,\"PowerEdge R6*\",,,\"next day, on site\"\r\n\
            Dell,LIC-9,License,2025-01-01,2026-12-31,,,,,,ms-office-*,25,\r\n";
        let existing = vec![Contract {
            id: 4,
            supplier: "Dell".into(),
            kind: ContractKind::Support,
            number: "es-1".into(),
            start: Day::parse("2020-01-01").unwrap(),
            end: Day::parse("2021-01-01").unwrap(),
            notice_days: 0,
            cost: None,
            levels: ServiceLevels::default(),
            covers: vec![],
            seats: None,
            notes: None,
        }];
        let got = parse_contracts(text.as_bytes(), &known(), &existing).unwrap();
        assert_eq!(got.len(), 2);
        let (line, es) = &got[0];
        assert_eq!(*line, 2);
        assert_eq!(es.id, 4, "the same supplier and number replace it");
        assert_eq!(es.supplier, "Dell");
        assert_eq!(es.notice_on().to_string(), "2026-11-02");
        assert_eq!(es.cost, Some(1200.5));
        assert_eq!(es.levels.response_hours, Some(4.0));
        assert_eq!(
            es.covers,
            [
                Coverage::Serial("ABC1".into()),
                Coverage::Serial("ABC2".into()),
                Coverage::Model("PowerEdge R6*".into())
            ]
        );
        assert_eq!(es.notes.as_deref(), Some("next day, on site"));
        let (_, lic) = &got[1];
        assert_eq!(
            (lic.id, lic.kind, lic.seats),
            (0, ContractKind::Licence, Some(25))
        );
    }

    #[test]
    fn every_bad_field_is_named_and_nothing_is_taken() {
        let text = "supplier,number,kind,start,end,seats,cost\n\
            Dell,A,support,2024-01-01,2025-01-01,,\n\
            Acme,B,support,2024-01-01,2025-01-01,,\n\
            Dell,C,rental,2024-13-01,2023-01-01,,-5\n\
            Dell,A,support,2024-01-01,2025-01-01,,\n\
            Dell,D,licence,2024-01-01,2023-01-01,lots,\n\
            Dell,E,support,2024-01-01\n";
        let problems = said(parse_contracts(text.as_bytes(), &known(), &[]).unwrap_err());
        assert_eq!(
            problems,
            [
                "line 3, column supplier: `Acme` is not a known supplier: import or add it first",
                "line 4, column kind: `rental` is not one of support, warranty, lease, licence, maintenance",
                "line 4, column start: `2024-13-01` is not a date (YYYY-MM-DD)",
                "line 4, column cost: is not an amount of money",
                "line 5, column number: Dell A is also on line 2: one contract per row",
                "line 6, column end: 2023-01-01 is before the start, 2024-01-01",
                "line 6, column seats: `lots` is not a whole number of seats",
                "line 6, column seats: a licence needs its number of seats",
                "line 6, column software: a licence needs the packages it licenses",
                "line 7: has 4 fields, the header has 7",
            ]
        );
    }

    #[test]
    fn suppliers_and_warranties() {
        let text = "name,kind,email,aliases\nDell,hardware maker,support@dell.example,Dell Inc.;DELL EMC\nHP,printer,hp,\nDELL,reseller,,\n";
        let problems = said(parse_suppliers(text.as_bytes()).unwrap_err());
        assert_eq!(
            problems,
            [
                "line 3, column kind: `printer` is not one of hardware-maker, software-publisher, reseller, service-provider",
                "line 3, column email: `hp` is not an e-mail address",
                "line 4, column name: `DELL` is also on line 2: one supplier per row",
            ]
        );
        let good = parse_suppliers(b"Name,Kind,Aliases\nDell,hardware-maker,Dell Inc.; DELL EMC\n")
            .unwrap();
        assert_eq!(good[0].1.aliases, ["Dell Inc.", "DELL EMC"]);

        let text = "serial,hostname,supplier,end\nS1,,Dell,2027-01-01\n,web-1,dell,2028-02-02\n,,Dell,2028-02-02\n";
        let problems = said(parse_warranties(text.as_bytes(), &known()).unwrap_err());
        assert_eq!(
            problems,
            ["line 4, column asset: no asset, serial or hostname names the asset"]
        );
        let good = parse_warranties(&text.as_bytes()[..text.len() - 19], &known()).unwrap();
        assert_eq!(good[0].1.asset, AssetRef::Serial("S1".into()));
        assert_eq!(good[1].1.asset, AssetRef::Hostname("web-1".into()));
        assert_eq!(good[1].1.warranty.supplier, "Dell");
    }
}
