//! The supplier reports and imports read from and written to the store:
//! each asset's maker, model, serial, tags and packages as the supplier
//! logic wants them ([`asset_views`]), the reports of
//! [`crate::suppliers::reports`] over them, and CSV imports checked whole
//! before one transaction writes them.

use std::collections::BTreeMap;

use atalaya_common::model::Timestamp;
use atalaya_common::model::device::EntityClass;

use crate::capacity::AssetClass;
use crate::helpers::csvfile::CellProblem;
use crate::helpers::day::Day;
use crate::incidents::supplier_notices::{SupplierBookDay, contract_subject};
use crate::records::supplier::{Supplier, supplier_key};
use crate::store::devices::device_model;
use crate::store::suppliers::{SupplierBook, SupplierChanges};
use crate::store::{AssetFilter, Store, StoreError};
use crate::suppliers::import::{self, AssetRef};
use crate::suppliers::{AssetView, reports};

/// Days an asset counts as installed base after it was last seen, by default.
pub const DEFAULT_SEEN_DAYS: u32 = 30;

/// What the supplier logic knows of every asset.
pub fn asset_views(store: &Store) -> Result<Vec<AssetView>, StoreError> {
    let filter = AssetFilter {
        limit: usize::MAX,
        ..AssetFilter::default()
    };
    let mut out = Vec::new();
    for summary in store.assets(&filter)?.items {
        out.extend(asset_view(store, &summary.id)?);
    }
    Ok(out)
}

/// What the supplier logic knows of the asset `id` (`None`: no such asset).
pub fn asset_view(store: &Store, id: &str) -> Result<Option<AssetView>, StoreError> {
    let Some(record) = store.asset(id)? else {
        return Ok(None);
    };
    let meta = record.meta;
    let class = AssetClass::of_asset(&meta.id);
    let mut view = AssetView {
        asset_id: meta.id.clone(),
        hostname: meta.hostname.clone(),
        class: class.name().to_owned(),
        tags: meta.tags.clone(),
        last_seen: meta.last_seen,
        ..AssetView::default()
    };
    match class {
        AssetClass::Host => {
            if let Some(inv) = record.inventory {
                let hostname = view.hostname;
                view = AssetView::of_host(&meta.id, &meta.tags, meta.last_seen, &inv);
                view.hostname = hostname;
            }
        }
        AssetClass::NetworkDevice => {
            if let Some(inv) = store.device_inventory(&meta.id)? {
                let chassis = inv
                    .entities
                    .iter()
                    .find(|e| e.class == EntityClass::Chassis);
                let nonempty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
                view.maker = inv.system.vendor.clone();
                view.model = chassis
                    .and_then(|c| nonempty(&c.model))
                    .or_else(|| device_model(&inv));
                view.serial = chassis.and_then(|c| nonempty(&c.serial));
            }
        }
    }
    Ok(Some(view))
}

/// Whom to call about the asset `id` on `today`: the suppliers of the
/// contracts in force covering it, the quickest response first.
pub fn asset_contacts(
    store: &Store,
    id: &str,
    today: Day,
) -> Result<Vec<reports::SupplierContact>, StoreError> {
    let Some(asset) = asset_view(store, id)? else {
        return Ok(Vec::new());
    };
    let book = store.supplier_book()?;
    Ok(reports::contacts(
        &book.suppliers,
        &book.contracts,
        &asset,
        today,
    ))
}

/// Whom to call about the incident of `(asset, subject)`: for an asset,
/// the contracts in force covering it ([`asset_contacts`]); for one of the
/// fleet's (a contract due for renewal, a licence over its seats), the
/// supplier of that contract.
pub fn incident_contacts(
    store: &Store,
    asset: &str,
    subject: &str,
    today: Day,
) -> Result<Vec<reports::SupplierContact>, StoreError> {
    if !asset.is_empty() {
        return asset_contacts(store, asset, today);
    }
    let book = store.supplier_book()?;
    Ok(book
        .contracts
        .iter()
        .filter(|c| contract_subject(&c.supplier, &c.number) == subject)
        .map(|c| reports::contact(&book.suppliers, c))
        .collect())
}

/// The assets seen within `days` before `now`: the installed base a
/// licence counts.
pub fn seen_within(assets: Vec<AssetView>, days: u32, now: Timestamp) -> Vec<AssetView> {
    let since = now.0.saturating_sub(i64::from(days) * 86_400_000);
    assets
        .into_iter()
        .filter(|a| a.last_seen.0 >= since)
        .collect()
}

/// Days the suppliers report counts incidents over.
pub const INCIDENT_DAYS: u32 = 90;

/// The suppliers report, with the incidents active within the last
/// [`INCIDENT_DAYS`] on the assets each supplier made or covers.
pub fn supplier_report(store: &Store, today: Day) -> Result<Vec<reports::SupplierRow>, StoreError> {
    let book = store.supplier_book()?;
    let assets = asset_views(store)?;
    let to = today.next().start_ms();
    let from = today.minus_days(INCIDENT_DAYS).start_ms();
    let mut incidents: BTreeMap<String, u32> = BTreeMap::new();
    for rec in store.incidents_active_between(from, to)? {
        *incidents.entry(rec.asset).or_default() += 1;
    }
    Ok(reports::suppliers(
        &book.suppliers,
        &book.contracts,
        &assets,
        &incidents,
        today,
    ))
}

/// The contracts report; with `ending_within`, those ending within as many days.
pub fn contracts_report(
    store: &Store,
    today: Day,
    ending_within: Option<u32>,
) -> Result<reports::ContractsReport, StoreError> {
    let book = store.supplier_book()?;
    let assets = asset_views(store)?;
    Ok(reports::contracts(
        &book.contracts,
        &assets,
        today,
        ending_within,
    ))
}

/// The warranty report: every asset's warranty, expiring within `expiring_days`.
pub fn warranty_report(
    store: &Store,
    today: Day,
    expiring_days: u32,
) -> Result<Vec<reports::WarrantyRow>, StoreError> {
    let book = store.supplier_book()?;
    let assets = asset_views(store)?;
    Ok(reports::warranties(
        &book.contracts,
        &book.warranties,
        &assets,
        today,
        expiring_days,
    ))
}

/// Licence compliance over the assets seen within `seen_days` of `now`.
pub fn licence_report(
    store: &Store,
    now: Timestamp,
    seen_days: u32,
) -> Result<Vec<reports::LicenceRow>, StoreError> {
    let book = store.supplier_book()?;
    let assets = seen_within(asset_views(store)?, seen_days, now);
    Ok(reports::licences(
        &book.contracts,
        &assets,
        Day::of_ms_saturating(now.0),
    ))
}

/// The supplier book on the day of `now` as the supplier rules see it:
/// every contract, and the warranties and licence installations of the
/// assets seen within [`DEFAULT_SEEN_DAYS`]. Reads every asset once.
pub fn book_day(store: &Store, now: Timestamp) -> Result<SupplierBookDay, StoreError> {
    let today = Day::of_ms_saturating(now.0);
    let book = store.supplier_book()?;
    let seen = seen_within(asset_views(store)?, DEFAULT_SEEN_DAYS, now);
    Ok(SupplierBookDay {
        today,
        contracts: reports::contracts(&book.contracts, &seen, today, None).rows,
        warranties: reports::warranties(&book.contracts, &book.warranties, &seen, today, 0),
        licences: reports::licences(&book.contracts, &seen, today),
        seen_days: DEFAULT_SEEN_DAYS,
    })
}

/// What an import file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    /// Suppliers.
    Suppliers,
    /// Contracts.
    Contracts,
    /// Warranties per asset.
    Warranties,
}

impl ImportKind {
    /// The name in the CLI and the API.
    pub fn name(self) -> &'static str {
        match self {
            ImportKind::Suppliers => "suppliers",
            ImportKind::Contracts => "contracts",
            ImportKind::Warranties => "warranties",
        }
    }

    /// The kind named `name`.
    pub fn from_name(name: &str) -> Option<ImportKind> {
        [
            ImportKind::Suppliers,
            ImportKind::Contracts,
            ImportKind::Warranties,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[schema(as = SupplierImportOutcome)]
pub struct ImportOutcome {
    /// Records added.
    pub added: u32,
    /// Records that replaced one of the same key.
    pub replaced: u32,
}

/// Why an import took nothing.
#[derive(Debug)]
pub enum ImportError {
    /// The file's problems, every one.
    Rejected(Vec<CellProblem>),
    /// The store failed.
    Store(StoreError),
}

impl From<StoreError> for ImportError {
    fn from(e: StoreError) -> Self {
        ImportError::Store(e)
    }
}

fn known(book: &SupplierBook) -> BTreeMap<String, Supplier> {
    book.suppliers
        .iter()
        .map(|s| (supplier_key(&s.name), s.clone()))
        .collect()
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Imports the CSV file `bytes` of `kind`: all of its rows in one
/// transaction, or none and every problem of the file.
pub fn import(store: &Store, kind: ImportKind, bytes: &[u8]) -> Result<ImportOutcome, ImportError> {
    let book = store.supplier_book()?;
    let known = known(&book);
    let mut changes = SupplierChanges::default();
    let replaced = match kind {
        ImportKind::Suppliers => {
            let rows = import::parse_suppliers(bytes).map_err(ImportError::Rejected)?;
            changes.suppliers = rows.into_iter().map(|(_, s)| s).collect();
            changes
                .suppliers
                .iter()
                .filter(|s| known.contains_key(&supplier_key(&s.name)))
                .count()
        }
        ImportKind::Contracts => {
            let rows = import::parse_contracts(bytes, &known, &book.contracts)
                .map_err(ImportError::Rejected)?;
            changes.contracts = rows.into_iter().map(|(_, c)| c).collect();
            changes.contracts.iter().filter(|c| c.id != 0).count()
        }
        ImportKind::Warranties => {
            let rows = import::parse_warranties(bytes, &known).map_err(ImportError::Rejected)?;
            let assets = asset_views(store)?;
            let mut problems = Vec::new();
            let mut lines: BTreeMap<String, u64> = BTreeMap::new();
            for (line, row) in rows {
                let found: Vec<&AssetView> = assets
                    .iter()
                    .filter(|a| match &row.asset {
                        AssetRef::Id(id) => a.asset_id == *id,
                        AssetRef::Serial(s) => a
                            .serial
                            .as_deref()
                            .is_some_and(|x| x.trim().eq_ignore_ascii_case(s)),
                        AssetRef::Hostname(h) => a.hostname.eq_ignore_ascii_case(h),
                    })
                    .collect();
                let column = row.asset.column();
                match found.as_slice() {
                    [one] if lines.contains_key(&one.asset_id) => {
                        let first = lines.get(&one.asset_id).copied().unwrap_or_default();
                        problems.push(CellProblem::field(
                            line,
                            column,
                            format!(
                                "{} is also on line {first}: one warranty per asset",
                                one.hostname
                            ),
                        ));
                    }
                    [one] => {
                        lines.insert(one.asset_id.clone(), line);
                        let mut w = row.warranty;
                        w.asset_id = one.asset_id.clone();
                        changes.warranties.push(w);
                    }
                    [] => problems.push(CellProblem::field(line, column, "names no asset")),
                    many => problems.push(CellProblem::field(
                        line,
                        column,
                        format!(
                            "names {} assets ({}); name it by asset id",
                            many.len(),
                            many.iter()
                                .map(|a| a.asset_id.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )),
                }
            }
            if !problems.is_empty() {
                return Err(ImportError::Rejected(problems));
            }
            let had: std::collections::BTreeSet<&str> = book
                .warranties
                .iter()
                .map(|w| w.asset_id.as_str())
                .collect();
            changes
                .warranties
                .iter()
                .filter(|w| had.contains(w.asset_id.as_str()))
                .count()
        }
    };
    let total = changes.suppliers.len() + changes.contracts.len() + changes.warranties.len();
    store.change_suppliers(&changes)?;
    Ok(ImportOutcome {
        added: count(total - replaced),
        replaced: count(replaced),
    })
}
