//! `GET /api/v1/assets/{id}/metrics`: an asset's metric series over a
//! time range, raw or aggregated by a step, or the names of its series
//! when none is asked for; and `GET /api/v1/top`: the series of the fleet
//! highest over a range. Viewer role and up.
//!
//! The tier that answers (raw points, 5-minute, 1-hour or 1-day rollups)
//! is chosen from the range, the step and what retention left
//! ([`crate::tiers::choose`]), and named in the answer.

use atalaya_common::model::Timestamp;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{
    ApiError, ApiResult, ApiState, Caller, ErrorBody, blocking, nonempty, opt_time, parse_step,
    resolve_asset,
};
use crate::desk::metrics::{read_series, starts};
use crate::records::rollup::{Aggregation, Tier};
use crate::store::Role;
use crate::tiers::{self, Ranked};

/// The metric routes, to merge into the API router.
pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(asset_metrics))
        .routes(routes!(top))
}

/// Query of `GET /api/v1/assets/{id}/metrics`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct MetricsQuery {
    /// Series name, e.g. `cpu.total_percent`; without it, the answer lists
    /// the asset's series.
    name: Option<String>,
    /// Start of the range (RFC 3339, or a duration ago such as `24h`);
    /// default: an hour ago.
    from: Option<String>,
    /// End of the range (RFC 3339, or a duration ago); default: now.
    to: Option<String>,
    /// Bucket width such as `30s`, `5m` or `1h` (a bare number is
    /// seconds); default: raw points.
    step: Option<String>,
    /// How each step becomes one value.
    #[param(value_type = Option<Aggregation>, inline)]
    agg: Option<String>,
}

fn aggregation(value: Option<&str>, default: Aggregation) -> ApiResult<Aggregation> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|e| ApiError::bad("agg", format!("{e}"))),
    }
}

fn step_ms(step: Option<&str>) -> ApiResult<Option<i64>> {
    step.map(|s| parse_step("step", s))
        .transpose()
        .map(|d| d.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
}

/// One metric series of an asset over a time range.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MetricSeries {
    /// Asset id.
    pub asset_id: String,
    /// Series name.
    pub name: String,
    /// Start of the range.
    pub from: Timestamp,
    /// End of the range.
    pub to: Timestamp,
    /// Bucket width, ms (`None`: raw points).
    pub step_ms: Option<u64>,
    /// Where the points come from.
    pub tier: Tier,
    /// How each step (or rollup bucket) became one value.
    pub aggregation: Aggregation,
    /// `(time, value)`, oldest first.
    pub points: Vec<(Timestamp, f64)>,
}

/// The series an asset has, when no `name` is given.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SeriesList {
    /// Asset id.
    pub asset_id: String,
    /// Series names.
    pub series: Vec<String>,
}

/// What `GET /api/v1/assets/{id}/metrics` answers: one series when `name`
/// is given, else the names of the asset's series.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum MetricsAnswer {
    /// The series asked for.
    Series(MetricSeries),
    /// The asset's series names.
    Names(SeriesList),
}

/// An asset's metric series over a time range, raw or aggregated by a
/// step; or, without `name`, the names of its series.
///
/// The tier that answers (raw points, 5-minute, 1-hour or 1-day rollups)
/// is chosen from the range, the step and what retention left, and named
/// in the answer.
#[utoipa::path(
    get,
    path = "/api/v1/assets/{id}/metrics",
    tag = "metrics",
    params(("id" = String, Path, description = "Asset id (e.g. `asset-17`) or host name."), MetricsQuery),
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "A `MetricSeries`, or a `SeriesList` when no `name` is given.", body = MetricsAnswer),
        (status = 400, description = "A time, `step` or `agg` is malformed, or `from` is after `to`.", body = ErrorBody),
        (status = 404, description = "No asset has that id or host name.", body = ErrorBody),
    ),
)]
async fn asset_metrics(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    q: Result<Query<MetricsQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let Query(q) = q?;
    let now = Timestamp::now();
    let from = opt_time("from", q.from.as_ref(), now)?.unwrap_or(Timestamp(now.0 - 3_600_000));
    let to = opt_time("to", q.to.as_ref(), now)?.unwrap_or(now);
    if from > to {
        return Err(ApiError::bad(
            "from",
            format!("{from} is after `to` ({to})"),
        ));
    }
    let step = step_ms(q.step.as_deref())?;
    let agg = aggregation(q.agg.as_deref(), Aggregation::Avg)?;
    let asset = resolve_asset(&state, id).await?;
    let asset_id = asset.meta.id;
    let Some(name) = nonempty(q.name) else {
        let a = asset_id.clone();
        let series = blocking(&state, move |s| s.series_names(&a)).await?;
        return Ok(Json(MetricsAnswer::Names(SeriesList { asset_id, series })).into_response());
    };
    let (a, n) = (asset_id.clone(), name.clone());
    let (tier, points) = blocking(&state, move |s| {
        read_series(s, &a, &n, from.0, to.0, step, agg)
    })
    .await?;
    Ok(Json(MetricsAnswer::Series(MetricSeries {
        asset_id,
        name,
        from,
        to,
        step_ms: step.and_then(|s| u64::try_from(s).ok()),
        tier,
        aggregation: agg,
        points,
    }))
    .into_response())
}

/// Query of `GET /api/v1/top`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct TopQuery {
    /// Series name without its subject, e.g. `filesystem.used_percent`
    /// (required): every subject of it is ranked.
    #[param(required = true)]
    series: Option<String>,
    /// What to rank by: `max` (default), `avg`, `min`, `last`, `p50`,
    /// `p95` or `p99`.
    #[param(value_type = Option<Aggregation>, inline)]
    by: Option<String>,
    /// How far back, e.g. `24h` (default `7d`).
    over: Option<String>,
    /// Only assets with this tag.
    tag: Option<String>,
    /// Most series listed, 1 to 1000 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

/// Most series a ranking lists.
const MAX_TOP: usize = 1000;

/// The series of the fleet highest over a range.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TopList {
    /// Series asked for (every subject of it).
    pub series: String,
    /// What they are ranked by.
    pub by: Aggregation,
    /// Start of the first rollup bucket read (at or before the start of
    /// the range asked for).
    pub from: Timestamp,
    /// End of the range.
    pub to: Timestamp,
    /// The rollups read.
    pub tier: Tier,
    /// The highest, first.
    pub top: Vec<TopEntry>,
}

/// One series of one asset in a [`TopList`].
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TopEntry {
    /// Asset id.
    pub asset_id: String,
    /// The asset's host name.
    pub hostname: String,
    /// Full series name, with its subject.
    pub series: String,
    /// The value ranked by.
    pub value: f64,
}

/// The series of the fleet highest over a range, read from rollups.
#[utoipa::path(
    get,
    path = "/api/v1/top",
    tag = "metrics",
    params(TopQuery),
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "The highest series, first.", body = TopList),
        (status = 400, description = "`series` is missing, or `by`, `over` or `limit` is malformed.", body = ErrorBody),
    ),
)]
async fn top(
    State(state): State<ApiState>,
    caller: Caller,
    q: Result<Query<TopQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let Query(q) = q?;
    let Some(series) = nonempty(q.series) else {
        return Err(ApiError::bad(
            "series",
            "a series name is needed, e.g. filesystem.used_percent",
        ));
    };
    let by = aggregation(q.by.as_deref(), Aggregation::Max)?;
    if !matches!(
        by,
        Aggregation::Max | Aggregation::Avg | Aggregation::Min | Aggregation::Last
    ) && by.quantile().is_none()
    {
        return Err(ApiError::bad(
            "by",
            format!("{by} does not rank series; use max, avg, min, last, p50, p95 or p99"),
        ));
    }
    let over = step_ms(Some(q.over.as_deref().unwrap_or("7d")))?.unwrap_or(7 * 86_400_000);
    let limit = match q.limit.as_deref().map(str::trim) {
        None => 20,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_TOP).contains(&n) => n,
            _ => {
                return Err(ApiError::bad(
                    "limit",
                    format!("`{v}` is not a whole number from 1 to {MAX_TOP}"),
                ));
            }
        },
    };
    let tag = nonempty(q.tag);
    let to = Timestamp::now().0;
    let from = to.saturating_sub(over);
    let s2 = series.clone();
    let (tier, first, ranked, names) = blocking(&state, move |s| {
        // Rollups only: raw points of a whole fleet are too many to read.
        let mut st = starts(s.retention_bounds()?);
        st.raw = i64::MAX;
        let tier = tiers::choose(from, to, Some(over), &st);
        // From the bucket the range starts in: at least the range is read.
        let first = tier.bucket_of(from);
        let fleet = s.fleet_rollups(
            &s2,
            tier,
            first,
            to,
            tag.as_deref(),
            by.quantile().is_some(),
        )?;
        let candidates = fleet
            .into_iter()
            .filter_map(|f| {
                Some(Ranked {
                    value: f.rollup.value(by)?,
                    asset: f.asset,
                    series: f.series,
                })
            })
            .collect();
        let ranked = tiers::top(candidates, limit);
        let mut names = Vec::with_capacity(ranked.len());
        for r in &ranked {
            names.push(
                s.asset(&r.asset)?
                    .map(|a| a.meta.hostname)
                    .unwrap_or_default(),
            );
        }
        Ok((tier, first, ranked, names))
    })
    .await?;
    let top = ranked
        .into_iter()
        .zip(names)
        .map(|(r, hostname)| TopEntry {
            asset_id: r.asset,
            hostname,
            series: r.series,
            value: r.value,
        })
        .collect();
    Ok(Json(TopList {
        series,
        by,
        from: Timestamp(first),
        to: Timestamp(to),
        tier,
        top,
    })
    .into_response())
}
