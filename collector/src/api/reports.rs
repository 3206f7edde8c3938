//! `/api/v1/reports/slr` (viewer role): the service-level report of a
//! period, as [`crate::incidents::slr`] describes it. The period is
//! `month=YYYY-MM`, or `from=YYYY-MM-DD` and `to=YYYY-MM-DD` (both days
//! included; `to` defaults to today); without either, the last whole
//! month.

use atalaya_common::model::Timestamp;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, ApiResult, ApiState, Caller, ErrorBody, blocking, nonempty};
use crate::desk::slr::slr_report;
use crate::helpers::day::Day;
use crate::incidents::slr::{Period, Slr};
use crate::store::Role;

/// The report routes, to merge into the API router.
pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(slr))
}

/// Query of `GET /api/v1/reports/slr`: `month`, or `from` and `to`;
/// without either, the last whole month.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct SlrQuery {
    /// The month, `YYYY-MM`.
    #[param(example = "2026-11")]
    month: Option<String>,
    /// The first day, `YYYY-MM-DD`.
    #[param(format = Date)]
    from: Option<String>,
    /// The last day, `YYYY-MM-DD`, included (default: today).
    #[param(format = Date)]
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

/// The service-level report of a month or other period: incidents,
/// targets met and breached, availability and response times.
#[utoipa::path(
    get,
    path = "/api/v1/reports/slr",
    tag = "reports",
    operation_id = "slr_report",
    params(SlrQuery),
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "The report of the period.", body = Slr),
        (status = 400, description = "A date is malformed, both a month and dates were given, `to` came without `from`, or the period starts after today (the parameter is named).", body = ErrorBody),
    ),
)]
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
