//! Suppliers, contracts, warranties and licences:
//! - `GET /api/v1/suppliers`: each supplier with its contracts and the
//!   installed base it made or publishes;
//! - `GET /api/v1/contracts?expiring=90d`: contracts, soonest to end first;
//! - `GET /api/v1/warranties?expired=true|expiring=90d`: each asset's warranty;
//!   `PUT /api/v1/warranties/{asset}` (admin) enters one for an asset (by
//!   id or host name), `DELETE` removes it;
//! - `GET /api/v1/licences?seen=30d`: licence compliance;
//! - `POST /api/v1/suppliers`, `POST /api/v1/contracts` (admin): one
//!   record as JSON, added or replacing the one of the same name or id;
//!   `DELETE /api/v1/suppliers/{name}`, `DELETE /api/v1/contracts/{id}`;
//! - `POST /api/v1/import/{suppliers|contracts|warranties}` (admin): a
//!   CSV file as the body, all of it or nothing, every bad field named.

use atalaya_common::model::Timestamp;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use super::{
    ApiError, ApiResult, ApiState, Caller, ErrorBody, blocking, nonempty, parse_step, resolve_asset,
};
use crate::desk::suppliers::{self, DEFAULT_SEEN_DAYS, ImportError, ImportKind, ImportOutcome};
use crate::helpers::csvfile::CellProblem;
use crate::helpers::day::Day;
use crate::records::supplier::{Contract, Supplier, Warranty, supplier_key};
use crate::store::Role;
use crate::store::suppliers::{SupplierBook, SupplierChanges};
use crate::suppliers::reports::{ContractsReport, LicenceRow, Standing, SupplierRow, WarrantyRow};

/// Largest CSV file taken.
pub const MAX_IMPORT_BYTES: usize = 32 << 20;
/// Problems an import's error answer lists, at most.
const MAX_PROBLEMS: usize = 1000;
/// Days before its end a warranty is expiring, unless asked.
pub const DEFAULT_EXPIRING_DAYS: u32 = 90;

/// The supplier routes, to merge into the API router.
pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_suppliers, put_supplier))
        .routes(routes!(delete_supplier))
        .routes(routes!(list_contracts, put_contract))
        .routes(routes!(delete_contract))
        .routes(routes!(list_warranties))
        .routes(routes!(put_warranty, delete_warranty))
        .routes(routes!(list_licences))
        .routes(routes!(import).layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES)))
}

/// Query of the supplier reports.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    /// Contracts ending, or warranties expiring, within this long (`90d`).
    expiring: Option<String>,
    /// Only warranties that have ended.
    expired: Option<bool>,
    /// Licences: installations on assets seen within this long (`30d`).
    seen: Option<String>,
}

/// Whole days of a duration parameter such as `90d`.
fn days(param: &'static str, value: Option<String>) -> ApiResult<Option<u32>> {
    let Some(v) = nonempty(value) else {
        return Ok(None);
    };
    let secs = parse_step(param, &v)?.as_secs();
    u32::try_from(secs / 86_400)
        .ok()
        .filter(|d| *d <= 36_500)
        .map(Some)
        .ok_or_else(|| ApiError::bad(param, format!("`{v}` is more than 100 years")))
}

/// The supplier book, and the name of the supplier `name` stands for
/// (any case); a 400 naming `supplier` when none does.
pub(super) async fn known_supplier(
    state: &ApiState,
    name: &str,
) -> ApiResult<(SupplierBook, String)> {
    let book = blocking(state, |s| s.supplier_book()).await?;
    let key = supplier_key(name);
    let found = book
        .suppliers
        .iter()
        .find(|s| supplier_key(&s.name) == key)
        .map(|s| s.name.clone());
    match found {
        Some(name) => Ok((book, name)),
        None => Err(ApiError::bad(
            "supplier",
            format!("`{name}` is not a known supplier: add it first"),
        )),
    }
}

/// Writes `changes` to the supplier book; the desk checks it at its next tick.
async fn change_book(state: &ApiState, changes: SupplierChanges) -> ApiResult<Vec<u64>> {
    let ids = blocking(state, move |s| s.change_suppliers(&changes)).await?;
    book_changed(state);
    Ok(ids)
}

/// Tells the desk the supplier book changed.
fn book_changed(state: &ApiState) {
    if let Some(desk) = &state.desk {
        desk.supplier_book_changed();
    }
}

fn today() -> Day {
    Day::of_ms_saturating(Timestamp::now().0)
}

/// Each supplier with its contracts and the installed base it made or
/// publishes.
#[utoipa::path(
    get,
    path = "/api/v1/suppliers",
    tag = "suppliers",
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "Every supplier.", body = Vec<SupplierRow>),
    ),
)]
async fn list_suppliers(State(state): State<ApiState>, caller: Caller) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let today = today();
    let rows = blocking(&state, move |s| suppliers::supplier_report(s, today)).await?;
    Ok(Json(rows).into_response())
}

/// The contracts, soonest to end first.
#[utoipa::path(
    get,
    path = "/api/v1/contracts",
    tag = "suppliers",
    params(("expiring" = Option<String>, Query, description = "Only contracts ending within this long, e.g. `90d`.")),
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "The contracts.", body = ContractsReport),
        (status = 400, description = "`expiring` is not a duration, or an unknown parameter was given.", body = ErrorBody),
    ),
)]
async fn list_contracts(
    State(state): State<ApiState>,
    caller: Caller,
    q: Result<Query<ReportQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let Query(q) = q?;
    let within = days("expiring", q.expiring)?;
    let today = today();
    let report = blocking(&state, move |s| {
        suppliers::contracts_report(s, today, within)
    })
    .await?;
    Ok(Json(report).into_response())
}

/// Each asset's warranty, with its standing.
#[utoipa::path(
    get,
    path = "/api/v1/warranties",
    tag = "suppliers",
    params(
        ("expired" = Option<bool>, Query, description = "Only warranties that have ended."),
        ("expiring" = Option<String>, Query, description = "Only warranties ending within this long, e.g. `90d` (also the window a warranty counts as expiring in; default 90 days)."),
    ),
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "The warranties.", body = Vec<WarrantyRow>),
        (status = 400, description = "`expiring` is not a duration, both `expired` and `expiring` were given, or an unknown parameter was given.", body = ErrorBody),
    ),
)]
async fn list_warranties(
    State(state): State<ApiState>,
    caller: Caller,
    q: Result<Query<ReportQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let Query(q) = q?;
    let expiring = days("expiring", q.expiring)?;
    let expired = q.expired.unwrap_or(false);
    if expired && expiring.is_some() {
        return Err(ApiError::bad(
            "expired",
            "ask for expired or expiring warranties, not both",
        ));
    }
    let today = today();
    let window = expiring.unwrap_or(DEFAULT_EXPIRING_DAYS);
    let mut rows = blocking(&state, move |s| {
        suppliers::warranty_report(s, today, window)
    })
    .await?;
    if expired {
        rows.retain(|r| r.standing == Some(Standing::Expired));
    } else if expiring.is_some() {
        rows.retain(|r| r.standing == Some(Standing::Expiring));
    }
    Ok(Json(rows).into_response())
}

/// Licence compliance: each licence contract with its seats and the
/// assets seen lately that have a package it licenses installed.
#[utoipa::path(
    get,
    path = "/api/v1/licences",
    tag = "suppliers",
    params(("seen" = Option<String>, Query, description = "Count installations on assets seen within this long, e.g. `30d`.")),
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "One row per licence contract.", body = Vec<LicenceRow>),
        (status = 400, description = "`seen` is not a duration, or an unknown parameter was given.", body = ErrorBody),
    ),
)]
async fn list_licences(
    State(state): State<ApiState>,
    caller: Caller,
    q: Result<Query<ReportQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let Query(q) = q?;
    let seen = days("seen", q.seen)?.unwrap_or(DEFAULT_SEEN_DAYS);
    let now = Timestamp::now();
    let rows = blocking(&state, move |s| suppliers::licence_report(s, now, seen)).await?;
    Ok(Json(rows).into_response())
}

/// Adds a supplier, or replaces the one of the same name.
#[utoipa::path(
    post,
    path = "/api/v1/suppliers",
    tag = "suppliers",
    request_body = Supplier,
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "The supplier as stored.", body = Supplier),
        (status = 400, description = "The body does not parse, or the supplier has no name.", body = ErrorBody),
    ),
)]
async fn put_supplier(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<Json<Supplier>, JsonRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let Json(supplier) = body?;
    if supplier.name.trim().is_empty() {
        return Err(ApiError::BadRequest("a supplier needs a name".into()));
    }
    let changes = SupplierChanges {
        suppliers: vec![supplier.clone()],
        ..SupplierChanges::default()
    };
    change_book(&state, changes).await?;
    Ok((StatusCode::OK, Json(supplier)).into_response())
}

/// Removes a supplier that has no contracts left.
#[utoipa::path(
    delete,
    path = "/api/v1/suppliers/{name}",
    tag = "suppliers",
    params(("name" = String, Path, description = "The supplier's name (case and spacing do not matter).")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 204, description = "Removed."),
        (status = 404, description = "No supplier has that name.", body = ErrorBody),
        (status = 409, description = "The supplier still has contracts (named).", body = ErrorBody),
    ),
)]
async fn delete_supplier(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let key = supplier_key(&name);
    let book = blocking(&state, |s| s.supplier_book()).await?;
    if !book.suppliers.iter().any(|s| supplier_key(&s.name) == key) {
        return Err(ApiError::NotFound(format!("no supplier `{name}`")));
    }
    let theirs: Vec<&str> = book
        .contracts
        .iter()
        .filter(|c| supplier_key(&c.supplier) == key)
        .map(|c| c.number.as_str())
        .collect();
    if !theirs.is_empty() {
        return Err(ApiError::Conflict(format!(
            "`{name}` still has contracts ({}): remove them first",
            theirs.join(", ")
        )));
    }
    let changes = SupplierChanges {
        remove_suppliers: vec![name],
        ..SupplierChanges::default()
    };
    change_book(&state, changes).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Adds a contract (`id` 0), or replaces the one of its `id`.
#[utoipa::path(
    post,
    path = "/api/v1/contracts",
    tag = "suppliers",
    request_body = Contract,
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "The contract as stored, with its id.", body = Contract),
        (status = 400, description = "The body does not parse, the number is empty, it ends before it starts, or its supplier is not known.", body = ErrorBody),
        (status = 404, description = "No contract has the `id` given.", body = ErrorBody),
    ),
)]
async fn put_contract(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<Json<Contract>, JsonRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let Json(mut contract) = body?;
    if contract.number.trim().is_empty() {
        return Err(ApiError::BadRequest("a contract needs its number".into()));
    }
    if contract.end < contract.start {
        return Err(ApiError::BadRequest(format!(
            "the contract ends ({}) before it starts ({})",
            contract.end, contract.start
        )));
    }
    let (book, supplier) = known_supplier(&state, &contract.supplier).await?;
    contract.supplier = supplier;
    if contract.id != 0 && !book.contracts.iter().any(|c| c.id == contract.id) {
        return Err(ApiError::NotFound(format!("no contract {}", contract.id)));
    }
    let changes = SupplierChanges {
        contracts: vec![contract.clone()],
        ..SupplierChanges::default()
    };
    let ids = change_book(&state, changes).await?;
    contract.id = ids.first().copied().unwrap_or(contract.id);
    Ok(Json(contract).into_response())
}

/// Removes a contract.
#[utoipa::path(
    delete,
    path = "/api/v1/contracts/{id}",
    tag = "suppliers",
    params(("id" = u64, Path, description = "The contract's id.")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 204, description = "Removed."),
        (status = 404, description = "No contract has that id.", body = ErrorBody),
    ),
)]
async fn delete_contract(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let id: u64 = id
        .trim()
        .parse()
        .map_err(|_| ApiError::NotFound(format!("no contract `{id}`")))?;
    let book = blocking(&state, |s| s.supplier_book()).await?;
    if !book.contracts.iter().any(|c| c.id == id) {
        return Err(ApiError::NotFound(format!("no contract {id}")));
    }
    let changes = SupplierChanges {
        remove_contracts: vec![id],
        ..SupplierChanges::default()
    };
    change_book(&state, changes).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The body of `PUT /api/v1/warranties/{asset}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WarrantyEntry {
    /// Who gives it (a known supplier).
    pub supplier: String,
    /// First day, when known.
    pub start: Option<Day>,
    /// Last day covered.
    pub end: Day,
    /// The supplier's reference, the kind of service.
    pub notes: Option<String>,
}

/// Enters the warranty of an asset, replacing one entered before (an
/// asset's warranty is the longest of this and its warranty contracts).
#[utoipa::path(
    put,
    path = "/api/v1/warranties/{asset}",
    tag = "suppliers",
    params(("asset" = String, Path, description = "Asset id or host name.")),
    request_body = WarrantyEntry,
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "The warranty entered.", body = Warranty),
        (status = 400, description = "The body does not parse, the supplier is not known, or the warranty ends before it starts.", body = ErrorBody),
        (status = 404, description = "No asset has that id or host name.", body = ErrorBody),
    ),
)]
async fn put_warranty(
    State(state): State<ApiState>,
    caller: Caller,
    Path(asset): Path<String>,
    body: Result<Json<WarrantyEntry>, JsonRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let Json(entry) = body?;
    if entry.start.is_some_and(|s| entry.end < s) {
        return Err(ApiError::BadRequest(format!(
            "the warranty ends ({}) before it starts",
            entry.end
        )));
    }
    let asset = resolve_asset(&state, asset).await?;
    let (_, supplier) = known_supplier(&state, &entry.supplier).await?;
    let warranty = Warranty {
        asset_id: asset.meta.id.clone(),
        supplier,
        start: entry.start,
        end: entry.end,
        notes: entry.notes.filter(|n| !n.trim().is_empty()),
    };
    let changes = SupplierChanges {
        warranties: vec![warranty.clone()],
        ..SupplierChanges::default()
    };
    change_book(&state, changes).await?;
    Ok(Json(warranty).into_response())
}

/// Removes the warranty entered for an asset (its warranty contracts stay).
#[utoipa::path(
    delete,
    path = "/api/v1/warranties/{asset}",
    tag = "suppliers",
    params(("asset" = String, Path, description = "Asset id or host name.")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 204, description = "Removed."),
        (status = 404, description = "No asset has that id or host name, or none was entered for it.", body = ErrorBody),
    ),
)]
async fn delete_warranty(
    State(state): State<ApiState>,
    caller: Caller,
    Path(asset): Path<String>,
) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let asset = resolve_asset(&state, asset).await?;
    let id = asset.meta.id;
    let book = blocking(&state, |s| s.supplier_book()).await?;
    if !book.warranties.iter().any(|w| w.asset_id == id) {
        return Err(ApiError::NotFound(format!(
            "no warranty was entered for {id}"
        )));
    }
    let changes = SupplierChanges {
        remove_warranties: vec![id],
        ..SupplierChanges::default()
    };
    change_book(&state, changes).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The answer to an import with bad rows: the error in words and each
/// problem with its line and column.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = SupplierImportRefused)]
pub struct ImportRefused {
    /// The problems in a sentence (the first fifty).
    pub error: String,
    /// Every problem (at most a thousand), by line.
    pub problems: Vec<CellProblem>,
}

/// Imports suppliers, contracts or warranties from a CSV file (a header
/// row, then one record a line): all of it, or nothing when a field is
/// bad; each record is added or replaces the one of the same key.
#[utoipa::path(
    post,
    path = "/api/v1/import/{kind}",
    tag = "suppliers",
    operation_id = "import_supplier_records",
    params(("kind" = String, Path, pattern = "^(suppliers|contracts|warranties)$", description = "What the file holds.")),
    request_body(content = String, content_type = "text/csv", description = "The records as CSV, at most 32 MiB."),
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "How many records were added and replaced.", body = ImportOutcome),
        (status = 400, description = "Bad fields, each with its line and column; nothing was imported.", body = ImportRefused),
        (status = 404, description = "`kind` is not one of suppliers, contracts, warranties.", body = ErrorBody),
        (status = 413, description = "The file is larger than 32 MiB."),
    ),
)]
async fn import(
    State(state): State<ApiState>,
    caller: Caller,
    Path(kind): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let Some(kind) = ImportKind::from_name(&kind) else {
        return Err(ApiError::NotFound(format!(
            "nothing to import as `{kind}`: suppliers, contracts or warranties"
        )));
    };
    let store = state.store.clone();
    let result = tokio::task::spawn_blocking(move || suppliers::import(&store, kind, &body))
        .await
        .map_err(|e| ApiError::Internal(format!("store task: {e}")))?;
    match result {
        Ok(outcome) => {
            book_changed(&state);
            tracing::info!(
                by = %caller.0.id,
                kind = kind.name(),
                added = outcome.added,
                replaced = outcome.replaced,
                "supplier records imported"
            );
            Ok(Json::<ImportOutcome>(outcome).into_response())
        }
        Err(ImportError::Store(e)) => Err(ApiError::Store(e)),
        Err(ImportError::Rejected(mut problems)) => {
            const SHOWN: usize = 50;
            let shown: Vec<String> = problems
                .iter()
                .take(SHOWN)
                .map(ToString::to_string)
                .collect();
            let more = problems.len().saturating_sub(SHOWN);
            let error = format!(
                "{} problem{}, nothing imported: {}{}",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" },
                shown.join("; "),
                if more > 0 {
                    format!("; and {more} more")
                } else {
                    String::new()
                }
            );
            problems.truncate(MAX_PROBLEMS);
            Ok((
                StatusCode::BAD_REQUEST,
                Json(ImportRefused { error, problems }),
            )
                .into_response())
        }
    }
}
