//! The service-level report page (`/reports/slr?month=YYYY-MM`, or
//! `from`/`to` days): the report of `atalaya report slr`, printable (the
//! stylesheet's print rules drop the console's chrome).

use atalaya_common::model::Timestamp;
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use maud::{Markup, html};
use serde::Deserialize;

use super::auth::Person;
use super::layout::{self, Section};
use super::{ConsoleState, PageError, PageResult, blocking};
use crate::cli::report::html_body;
use crate::desk::slr::slr_report;
use crate::helpers::day::Day;
use crate::incidents::slr::Period;

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new().route("/reports/slr", get(page))
}

#[derive(Debug, Default, Deserialize)]
struct SlrQuery {
    month: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

fn nonempty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn period(q: &SlrQuery, now: Timestamp) -> PageResult<Period> {
    let bad = |e: crate::incidents::slr::PeriodError| PageError::Bad(e.to_string());
    let period = match (nonempty(q.month.clone()), nonempty(q.from.clone())) {
        (Some(m), _) => Period::month(&m).map_err(bad)?,
        (None, Some(f)) => {
            let to =
                nonempty(q.to.clone()).unwrap_or_else(|| Day::of_ms_saturating(now.0).to_string());
            Period::dates(&f, &to).map_err(bad)?
        }
        (None, None) => Period::month_before(now),
    };
    if period.start_ms() > now.0 {
        return Err(PageError::Bad(format!(
            "the period starts on {}, after today",
            period.first
        )));
    }
    Ok(period)
}

async fn page(
    State(state): State<ConsoleState>,
    me: Person,
    Query(q): Query<SlrQuery>,
) -> PageResult<Markup> {
    let now = Timestamp::now();
    let period = period(&q, now)?;
    let rules = state
        .api
        .desk
        .as_ref()
        .map(|d| d.rules())
        .unwrap_or_default();
    let report = blocking(&state, move |s| slr_report(s, &rules, period, now)).await?;
    let month = q.month.clone().unwrap_or_default();
    let body = html! {
        form.inline method="get" action="/reports/slr" {
            label { "Month" input type="month" name="month" value=(month); }
            button type="submit" { "Show" }
            span.note { "Print this page for the review: the navigation is left out on paper. "
                "The same report as a file: " code { "atalaya report slr --month YYYY-MM --html FILE" } }
        }
        div.slr { (html_body(&report)) }
    };
    Ok(layout::page(
        &me,
        Section::Reports,
        "Service-level report",
        body,
    ))
}
