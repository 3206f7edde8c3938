//! `GET /api/v1/assets/{id}/metrics`: an asset's metric series over a
//! time range, raw or bucketed by a step, or the names of its series when
//! none is asked for. Viewer role and up.

use atalaya_common::model::Timestamp;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::{
    ApiError, ApiResult, ApiState, Caller, blocking, nonempty, opt_time, parse_step, resolve_asset,
};
use crate::store::Role;

/// The metric-series route, to merge into the API router.
pub(super) fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/assets/{id}/metrics", get(asset_metrics))
}

#[derive(Debug, Default, Deserialize)]
struct MetricsQuery {
    name: Option<String>,
    from: Option<String>,
    to: Option<String>,
    step: Option<String>,
}

/// One metric series of an asset over a time range.
#[derive(Debug, Serialize, Deserialize)]
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
    /// `(time, value)`, oldest first.
    pub points: Vec<(Timestamp, f64)>,
}

/// The series an asset has, when no `name` is given.
#[derive(Debug, Serialize, Deserialize)]
pub struct SeriesList {
    /// Asset id.
    pub asset_id: String,
    /// Series names.
    pub series: Vec<String>,
}

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
    let step_ms = q
        .step
        .as_deref()
        .map(|s| parse_step("step", s))
        .transpose()?
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let asset = resolve_asset(&state, id).await?;
    let asset_id = asset.meta.id;
    let Some(name) = nonempty(q.name) else {
        let a = asset_id.clone();
        let series = blocking(&state, move |s| s.series_names(&a)).await?;
        return Ok(Json(SeriesList { asset_id, series }).into_response());
    };
    let (a, n) = (asset_id.clone(), name.clone());
    let points = blocking(&state, move |s| s.metric(&a, &n, from, to, step_ms)).await?;
    Ok(Json(MetricSeries {
        asset_id,
        name,
        from,
        to,
        step_ms,
        points,
    })
    .into_response())
}
