//! `/api/v1/reports/slr` (viewer role): the service-level report of a
//! period, as [`crate::incidents::slr`] describes it. The period is
//! `month=YYYY-MM`, or `from=YYYY-MM-DD` and `to=YYYY-MM-DD` (both days
//! included; `to` defaults to today); without either, the last whole
//! month.

use atalaya_common::model::Timestamp;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::{ApiError, ApiResult, ApiState, Caller, blocking, nonempty};
use crate::desk::slr::slr_report;
use crate::helpers::day::Day;
use crate::incidents::slr::Period;
use crate::store::Role;

/// The report routes, to merge into the API router.
pub(super) fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/reports/slr", get(slr))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlrQuery {
    /// `YYYY-MM`.
    month: Option<String>,
    /// `YYYY-MM-DD`, the first day.
    from: Option<String>,
    /// `YYYY-MM-DD`, the last day (included).
    to: Option<String>,
}

/// The period asked for, each error naming its parameter.
fn period(q: SlrQuery, now: Timestamp) -> ApiResult<Period> {
    let (month, from, to) = (nonempty(q.month), nonempty(q.from), nonempty(q.to));
    let period = match (month, from, to) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(ApiError::bad(
                "month",
                "give either `month` or `from` and `to`, not both",
            ));
        }
        (Some(m), None, None) => {
            Period::month(&m).map_err(|e| ApiError::bad("month", e.to_string()))?
        }
        (None, None, Some(_)) => {
            return Err(ApiError::bad("from", "`to` needs `from`, the first day"));
        }
        (None, Some(f), to) => {
            let to = to.unwrap_or_else(|| Day::of_ms_saturating(now.0).to_string());
            Period::dates(&f, &to).map_err(|e| {
                let param = match &e {
                    crate::incidents::slr::PeriodError::Date(d) if *d == to => "to",
                    _ => "from",
                };
                ApiError::bad(param, e.to_string())
            })?
        }
        (None, None, None) => Period::month_before(now),
    };
    if period.start_ms() > now.0 {
        return Err(ApiError::bad(
            "from",
            format!("the period starts on {}, after today", period.first),
        ));
    }
    Ok(period)
}

/// `GET /api/v1/reports/slr?month=2026-11`: an [`crate::incidents::slr::Slr`].
async fn slr(
    State(state): State<ApiState>,
    caller: Caller,
    q: Result<Query<SlrQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let Query(q) = q?;
    let now = Timestamp::now();
    let period = period(q, now)?;
    let rules = state.desk.as_ref().map(|d| d.rules()).unwrap_or_default();
    let report = blocking(&state, move |s| slr_report(s, &rules, period, now)).await?;
    Ok(Json(report).into_response())
}
