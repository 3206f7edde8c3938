//! `/api/v1/capacity` (viewer role): the capacity report, installed
//! capacity (`/installed`), renewal planning (`/renewal`) and the
//! forecast of one resource across the fleet (`/forecast`), as
//! [`crate::capacity`] describes them. Each takes `tag` and `kind`
//! (`host` or `network-device`) to narrow the assets.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, ApiResult, ApiState, Caller, ErrorBody, blocking, nonempty, parse_step};
use crate::capacity::AssetClass;
use crate::capacity::eol::EolTable;
use crate::capacity::installed::{GroupBy, InstalledReport};
use crate::capacity::renewal::RenewalReport;
use crate::capacity::usage::{Resource, UsageReport};
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
pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(usage))
        .routes(routes!(forecast))
        .routes(routes!(installed))
        .routes(routes!(renewal))
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

/// The capacity report: every resource of the fleet (filesystems, memory,
/// swap, CPU, interfaces, device storage) with its use now, its 95th
/// percentile, its headroom and when its trend fills it, most urgent first.
#[utoipa::path(
    get,
    path = "/api/v1/capacity",
    tag = "capacity",
    operation_id = "capacity_report",
    params(
        ("tag" = Option<String>, Query, description = "Only assets with this tag."),
        ("kind" = inline(Option<AssetClass>), Query, description = "Only hosts (`host`) or only network devices (`network-device`)."),
        ("window" = Option<String>, Query, description = "The trend window of every series, 1 h to 90 days, e.g. `7d` (default: each series' forecast rule's, else 72 h)."),
    ),
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "The resources, most urgent first.", body = UsageReport),
        (status = 400, description = "A parameter is malformed (named).", body = ErrorBody),
    ),
)]
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

/// The forecast of one resource across the fleet: the capacity report's
/// rows of that resource, most urgent first, without the 95th percentile
/// and headroom.
#[utoipa::path(
    get,
    path = "/api/v1/capacity/forecast",
    tag = "capacity",
    operation_id = "capacity_forecast",
    params(
        ("resource" = Option<String>, Query, description = "`filesystem` (default), `memory`, `swap`, `cpu` or `interface`."),
        ("limit" = Option<u32>, Query, minimum = 1, description = "At most this many rows, most urgent first (default: all)."),
        ("tag" = Option<String>, Query, description = "Only assets with this tag."),
        ("kind" = inline(Option<AssetClass>), Query, description = "Only hosts (`host`) or only network devices (`network-device`)."),
        ("window" = Option<String>, Query, description = "The trend window of every series, 1 h to 90 days, e.g. `7d` (default: each series' forecast rule's, else 72 h)."),
    ),
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "The resource's rows, most urgent first.", body = UsageReport),
        (status = 400, description = "A parameter is malformed (named).", body = ErrorBody),
    ),
)]
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

/// Installed capacity: assets, cores, memory and storage summed by group,
/// with the share in use, then the whole fleet.
#[utoipa::path(
    get,
    path = "/api/v1/capacity/installed",
    tag = "capacity",
    operation_id = "capacity_installed",
    params(
        ("by" = inline(Option<GroupBy>), Query, description = "How to group the assets (default `tag`)."),
        ("tag" = Option<String>, Query, description = "Only assets with this tag."),
        ("kind" = inline(Option<AssetClass>), Query, description = "Only hosts (`host`) or only network devices (`network-device`)."),
    ),
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "The groups, then the fleet as `(all)`.", body = InstalledReport),
        (status = 400, description = "A parameter is malformed (named).", body = ErrorBody),
    ),
)]
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

/// Renewal planning: assets whose support has ended or ends within the
/// months asked, the OS releases in use with their end of support, and
/// every asset by age.
#[utoipa::path(
    get,
    path = "/api/v1/capacity/renewal",
    tag = "capacity",
    operation_id = "capacity_renewal",
    params(
        ("months" = Option<u32>, Query, maximum = 120, description = "Months ahead, 0 to 120 (default 12)."),
        ("tag" = Option<String>, Query, description = "Only assets with this tag."),
        ("kind" = inline(Option<AssetClass>), Query, description = "Only hosts (`host`) or only network devices (`network-device`)."),
    ),
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "The renewal report.", body = RenewalReport),
        (status = 400, description = "A parameter is malformed (named).", body = ErrorBody),
    ),
)]
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
