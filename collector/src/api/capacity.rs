//! `/api/v1/capacity` (viewer role): the capacity report, installed
//! capacity (`/installed`), renewal planning (`/renewal`) and the
//! forecast of one resource across the fleet (`/forecast`), as
//! [`crate::capacity`] describes them. Each takes `tag` and `kind`
//! (`host` or `network-device`) to narrow the assets.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::{ApiError, ApiResult, ApiState, Caller, blocking, nonempty, parse_step};
use crate::capacity::AssetClass;
use crate::capacity::eol::EolTable;
use crate::capacity::installed::GroupBy;
use crate::capacity::usage::Resource;
use crate::desk::capacity::{self, Scope};
use crate::store::Role;
use atalaya_common::model::Timestamp;

/// Longest trend window, hours (as forecast rules allow).
const MAX_WINDOW_HOURS: u64 = 2160;
/// Default months ahead of the renewal report.
pub const DEFAULT_MONTHS: u32 = 12;
/// Longest look ahead of the renewal report, months.
const MAX_MONTHS: u32 = 120;

/// The capacity routes, to merge into the API router.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/capacity", get(usage))
        .route("/api/v1/capacity/forecast", get(forecast))
        .route("/api/v1/capacity/installed", get(installed))
        .route("/api/v1/capacity/renewal", get(renewal))
}

#[derive(Debug, Deserialize)]
struct CapacityQuery {
    /// Only assets with this tag.
    tag: Option<String>,
    /// `host` or `network-device`.
    kind: Option<String>,
    /// The trend window of every series, e.g. `7d` (default: each series'
    /// forecast rule's, else 72 h).
    window: Option<String>,
    /// `tag`, `os`, `model` or `site` (installed capacity).
    by: Option<String>,
    /// Months ahead (renewal).
    months: Option<String>,
    /// The resource forecast: `filesystem` (default), `memory`, `swap`,
    /// `cpu` or `interface`.
    resource: Option<String>,
    /// At most this many rows, most urgent first (forecast; default all).
    limit: Option<String>,
}

fn scope(q: &CapacityQuery) -> ApiResult<Scope> {
    let class = match nonempty(q.kind.clone()) {
        None => None,
        Some(k) => Some(AssetClass::from_name(k.trim()).ok_or_else(|| {
            ApiError::bad(
                "kind",
                format!("`{k}` is neither `host` nor `network-device`"),
            )
        })?),
    };
    Ok(Scope {
        tag: nonempty(q.tag.clone()),
        class,
    })
}

/// `GET /api/v1/capacity?tag=T&kind=host&window=7d`: a
/// [`crate::capacity::usage::UsageReport`].
async fn usage(
    State(state): State<ApiState>,
    caller: Caller,
    q: Result<Query<CapacityQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let Query(q) = q?;
    let scope = scope(&q)?;
    let window_hours = window_hours(q.window)?;
    let rules = state.desk.as_ref().map(|d| d.rules()).unwrap_or_default();
    let now = Timestamp::now();
    let report = blocking(&state, move |s| {
        capacity::usage_report(s, &rules, &scope, window_hours, now)
    })
    .await?;
    Ok(Json(report).into_response())
}

/// The `window` parameter, in whole hours.
fn window_hours(window: Option<String>) -> ApiResult<Option<u64>> {
    let Some(w) = nonempty(window) else {
        return Ok(None);
    };
    let hours = parse_step("window", &w)?.as_secs() / 3600;
    if !(1..=MAX_WINDOW_HOURS).contains(&hours) {
        return Err(ApiError::bad(
            "window",
            format!("`{w}` is not from 1 h to {MAX_WINDOW_HOURS} h (90 days)"),
        ));
    }
    Ok(Some(hours))
}

/// `GET /api/v1/capacity/forecast?resource=filesystem&limit=20`: the
/// capacity report's rows of one resource, most urgent first, without
/// the 95th percentile and headroom (see
/// [`crate::desk::capacity::forecast_report`]).
async fn forecast(
    State(state): State<ApiState>,
    caller: Caller,
    q: Result<Query<CapacityQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let Query(q) = q?;
    let scope = scope(&q)?;
    let window_hours = window_hours(q.window)?;
    let resource = match nonempty(q.resource) {
        None => Resource::Filesystem,
        Some(r) => Resource::forecast_named(r.trim()).ok_or_else(|| {
            ApiError::bad(
                "resource",
                format!("`{r}` is not one of filesystem, memory, swap, cpu, interface"),
            )
        })?,
    };
    let limit = match nonempty(q.limit) {
        None => usize::MAX,
        Some(l) => match l.trim().parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                return Err(ApiError::bad(
                    "limit",
                    format!("`{l}` is not a whole number above 0"),
                ));
            }
        },
    };
    let rules = state.desk.as_ref().map(|d| d.rules()).unwrap_or_default();
    let now = Timestamp::now();
    let mut report = blocking(&state, move |s| {
        capacity::forecast_report(s, &rules, &scope, resource, window_hours, now)
    })
    .await?;
    report.rows.truncate(limit);
    Ok(Json(report).into_response())
}

/// `GET /api/v1/capacity/installed?by=os`: an
/// [`crate::capacity::installed::InstalledReport`].
async fn installed(
    State(state): State<ApiState>,
    caller: Caller,
    q: Result<Query<CapacityQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let Query(q) = q?;
    let scope = scope(&q)?;
    let by = match nonempty(q.by) {
        None => GroupBy::Tag,
        Some(b) => GroupBy::from_name(b.trim()).ok_or_else(|| {
            ApiError::bad("by", format!("`{b}` is not one of tag, os, model, site"))
        })?,
    };
    let now = Timestamp::now();
    let report = blocking(&state, move |s| {
        capacity::installed_report(s, &scope, by, now)
    })
    .await?;
    Ok(Json(report).into_response())
}

/// `GET /api/v1/capacity/renewal?months=12`: a
/// [`crate::capacity::renewal::RenewalReport`].
async fn renewal(
    State(state): State<ApiState>,
    caller: Caller,
    q: Result<Query<CapacityQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let Query(q) = q?;
    let scope = scope(&q)?;
    let months = match nonempty(q.months) {
        None => DEFAULT_MONTHS,
        Some(m) => match m.trim().parse::<u32>() {
            Ok(n) if n <= MAX_MONTHS => n,
            _ => {
                return Err(ApiError::bad(
                    "months",
                    format!("`{m}` is not a whole number from 0 to {MAX_MONTHS}"),
                ));
            }
        },
    };
    let table = state
        .desk
        .as_ref()
        .map_or_else(EolTable::built_in, |d| d.eol_table());
    let now = Timestamp::now();
    let report = blocking(&state, move |s| {
        capacity::renewal_report(s, &table, &scope, months, now)
    })
    .await?;
    Ok(Json(report).into_response())
}
