//! The capacity pages: every resource ranked by urgency (`/capacity`),
//! which fill first (`/capacity/forecast`, one resource without P95), the
//! installed capacity and how much of it is used (`/capacity/installed`),
//! and renewal planning (`/capacity/renewal`) — the reports of
//! `atalaya capacity`, as tables.

use atalaya_common::model::Timestamp;
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use maud::{Markup, html};
use serde::Deserialize;

use super::auth::Person;
use super::layout::{self, Section};
use super::{ConsoleState, PageError, PageResult, blocking};
use crate::capacity::AssetClass;
use crate::capacity::eol::EolTable;
use crate::capacity::installed::GroupBy;
use crate::capacity::renewal::Support;
use crate::capacity::usage::{Resource, TrendState, UsageRow, amount};
use crate::desk::capacity::{self, Scope};

/// Rows of the ranking shown (the most urgent first).
const MAX_ROWS: usize = 200;

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/capacity", get(usage))
        .route("/capacity/forecast", get(forecast))
        .route("/capacity/installed", get(installed))
        .route("/capacity/renewal", get(renewal))
}

#[derive(Debug, Default, Deserialize)]
struct CapacityQuery {
    tag: Option<String>,
    kind: Option<String>,
    by: Option<String>,
    months: Option<String>,
    resource: Option<String>,
}

fn scope(q: &CapacityQuery) -> PageResult<Scope> {
    let class = match q.kind.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
        None => None,
        Some(k) => Some(AssetClass::from_name(k).ok_or_else(|| {
            PageError::Bad(format!("`{k}` is not a kind: use host or network-device"))
        })?),
    };
    Ok(Scope {
        tag: q
            .tag
            .clone()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty()),
        class,
    })
}

/// The tabs and the tag/kind filter every capacity page starts with.
fn header(q: &CapacityQuery, here: &str) -> Markup {
    let tabs = [
        ("/capacity", "By urgency"),
        ("/capacity/forecast", "Which fill first"),
        ("/capacity/installed", "Installed"),
        ("/capacity/renewal", "Renewal"),
    ];
    html! {
        nav.pages {
            @for (href, label) in tabs {
                a href=(href) aria-current=[(href == here).then_some("page")] { (label) }
            }
        }
        form.inline method="get" action=(here) {
            label { "Tag" input name="tag" value=(q.tag.clone().unwrap_or_default()); }
            label { "Kind"
                select name="kind" {
                    option value="" { "all" }
                    @for k in ["host", "network-device"] {
                        option value=(k) selected[q.kind.as_deref() == Some(k)] { (k) }
                    }
                }
            }
            @if here == "/capacity/installed" {
                label { "By"
                    select name="by" {
                        @for b in ["tag", "os", "model", "site"] {
                            option value=(b) selected[q.by.as_deref() == Some(b)] { (b) }
                        }
                    }
                }
            }
            @if here == "/capacity/forecast" {
                label { "Resource"
                    select name="resource" {
                        @for r in ["filesystem", "memory", "swap", "cpu", "interface"] {
                            option value=(r) selected[q.resource.as_deref() == Some(r)] { (r) }
                        }
                    }
                }
            }
            @if here == "/capacity/renewal" {
                label { "Within months" input name="months" type="number" min="0" max="120" value=(q.months.clone().unwrap_or_else(|| "12".into())); }
            }
            button type="submit" { "Show" }
        }
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(String::new, |v| format!("{v:.1}"))
}

async fn usage(
    State(state): State<ConsoleState>,
    me: Person,
    Query(q): Query<CapacityQuery>,
) -> PageResult<Markup> {
    let scope = scope(&q)?;
    let rules = state
        .api
        .desk
        .as_ref()
        .map(|d| d.rules())
        .unwrap_or_default();
    let now = Timestamp::now();
    let report = blocking(&state, move |s| {
        capacity::usage_report(s, &rules, &scope, None, now)
    })
    .await?;
    let body = html! {
        (header(&q, "/capacity"))
        p.note {
            "As of " (report.as_of.to_string()) ". P95 over " (report.p95_days) " days. Growth per day is the least-squares line "
            "over the forecast window; a date is given only when the line fits (R² at least the rule's minimum)."
        }
        (usage_table("capacity", &report.rows))
        @if report.rows.is_empty() {
            p.muted { "No resources: no asset matches, or none has sent its use yet." }
        } @else if report.rows.len() > MAX_ROWS {
            p.note { "The " (MAX_ROWS) " most urgent of " (report.rows.len()) " resources; " code { "atalaya capacity --csv" } " lists all." }
        }
    };
    Ok(layout::page(&me, Section::Capacity, "Capacity", body))
}

/// The rows of a usage report, the most urgent [`MAX_ROWS`] of them.
fn usage_table(id: &str, rows: &[UsageRow]) -> Markup {
    html! {
        table id=(id) {
            thead { tr {
                th { "Host" } th { "Resource" } th.num { "Size" } th.num { "Used %" } th.num { "P95 %" }
                th.num { "Per day" } th.num { "R²" } th { "Trend" } th { "Full on" } th.num { "Days" } th.num { "Headroom" }
            } }
            tbody {
                @for r in rows.iter().take(MAX_ROWS) {
                    @let fits = !matches!(r.trend, TrendState::TooLittleHistory | TrendState::NoHistory);
                    tr {
                        td { a href={ "/assets/" (layout::query_value(&r.asset_id)) } { (r.hostname) } }
                        td { (r.resource.name()) @if !r.subject.is_empty() { " " (r.subject) } }
                        td.num { @if let (Some(s), Some(u)) = (r.size, r.size_unit) { (amount(s, u)) } }
                        td.num { (pct(r.used_percent)) }
                        td.num { (pct(r.p95_percent)) }
                        td.num { @if let Some(g) = r.growth_per_day.filter(|_| fits) { (format!("{g:+.2}")) } }
                        td.num { @if let Some(r2) = r.r2.filter(|_| fits) { (format!("{r2:.2}")) } }
                        td { (layout::badge(match r.trend {
                            TrendState::Full => "bad",
                            TrendState::Growing => "warn",
                            TrendState::NotGrowing => "ok",
                            _ => "muted",
                        }, r.trend.words())) }
                        td { @if let Some(d) = r.full_on { (d.to_string()) } }
                        td.num { @if let Some(d) = r.days_until_full { (format!("{:.0}", d.floor())) } }
                        td.num {
                            @match (r.headroom, r.size_unit, r.headroom_percent) {
                                (Some(h), Some(u), _) => (amount(h, u)),
                                (None, _, Some(p)) => (format!("{p:.1} %")),
                                _ => "",
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Which fill first: the forecast of one resource across the fleet.
async fn forecast(
    State(state): State<ConsoleState>,
    me: Person,
    Query(q): Query<CapacityQuery>,
) -> PageResult<Markup> {
    let scope = scope(&q)?;
    let name = q
        .resource
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .unwrap_or("filesystem");
    let resource = Resource::forecast_named(name).ok_or_else(|| {
        PageError::Bad(format!(
            "`{name}` is not one of filesystem, memory, swap, cpu, interface"
        ))
    })?;
    let rules = state
        .api
        .desk
        .as_ref()
        .map(|d| d.rules())
        .unwrap_or_default();
    let now = Timestamp::now();
    let report = blocking(&state, move |s| {
        capacity::forecast_report(s, &rules, &scope, resource, None, now)
    })
    .await?;
    let body = html! {
        (header(&q, "/capacity/forecast"))
        p.note {
            "As of " (report.as_of.to_string()) ": the " (resource.name()) " of every asset by the day it fills, "
            "from the least-squares line over the forecast window (no 95th percentile: see By urgency)."
        }
        (usage_table("forecast", &report.rows))
        @if report.rows.is_empty() {
            p.muted { "Nothing to forecast: no asset matches, or none has sent its use yet." }
        } @else if report.rows.len() > MAX_ROWS {
            p.note { "The " (MAX_ROWS) " soonest of " (report.rows.len()) "; " code { "atalaya capacity forecast --csv" } " lists all." }
        }
    };
    Ok(layout::page(
        &me,
        Section::Capacity,
        "Which fill first",
        body,
    ))
}

async fn installed(
    State(state): State<ConsoleState>,
    me: Person,
    Query(q): Query<CapacityQuery>,
) -> PageResult<Markup> {
    let scope = scope(&q)?;
    let by = match q.by.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
        None => GroupBy::Tag,
        Some(b) => GroupBy::from_name(b)
            .ok_or_else(|| PageError::Bad(format!("`{b}` is not one of tag, os, model, site")))?,
    };
    let now = Timestamp::now();
    let report = blocking(&state, move |s| {
        capacity::installed_report(s, &scope, by, now)
    })
    .await?;
    let gib = |b: u64| format!("{:.0} GiB", b as f64 / f64::from(1u32 << 30));
    let body = html! {
        (header(&q, "/capacity/installed"))
        p.note { "As of " (report.as_of.to_string()) "; in use is the P95 of each resource over 30 days." }
        table #installed {
            thead { tr {
                th { (report.by.name()) } th.num { "Assets" } th.num { "CPUs" } th.num { "Cores" } th.num { "Memory" }
                th.num { "Disk" } th.num { "CPU used %" } th.num { "Memory used %" } th.num { "Disk used %" }
                th.num { "Bandwidth used %" } th { "Notes" }
            } }
            tbody {
                @for g in &report.groups {
                    tr {
                        td { (g.group) } td.num { (g.assets) } td.num { (g.cpus) } td.num { (g.cores) }
                        td.num { (gib(g.memory_bytes)) } td.num { (gib(g.disk_bytes)) }
                        td.num { (pct(g.cpu_used_percent)) } td.num { (pct(g.memory_used_percent)) }
                        td.num { (pct(g.disk_used_percent)) } td.num { (pct(g.bandwidth_used_percent)) }
                        td.note { (g.notes.join("; ")) }
                    }
                }
            }
        }
    };
    Ok(layout::page(
        &me,
        Section::Capacity,
        "Installed capacity",
        body,
    ))
}

async fn renewal(
    State(state): State<ConsoleState>,
    me: Person,
    Query(q): Query<CapacityQuery>,
) -> PageResult<Markup> {
    let scope = scope(&q)?;
    let months = match q.months.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        None => 12,
        Some(m) => match m.parse::<u32>() {
            Ok(n) if n <= 120 => n,
            _ => {
                return Err(PageError::Bad(format!(
                    "`{m}` is not a whole number of months from 0 to 120"
                )));
            }
        },
    };
    let table = state
        .api
        .desk
        .as_ref()
        .map_or_else(EolTable::built_in, |d| d.eol_table());
    let now = Timestamp::now();
    let report = blocking(&state, move |s| {
        capacity::renewal_report(s, &table, &scope, months, now)
    })
    .await?;
    let support = |s: Support| {
        layout::badge(
            match s {
                Support::Ended => "bad",
                Support::EndsSoon => "warn",
                Support::Supported => "ok",
                Support::Unknown => "muted",
            },
            s.words(),
        )
    };
    let body = html! {
        (header(&q, "/capacity/renewal"))
        h2 { "Out of support by " (report.until.to_string()) " (" (report.out_of_support.len()) ")" }
        table #out-of-support {
            thead { tr { th { "Host" } th { "OS" } th { "End of support" } th { "Support" } th { "Model" } th.num { "Age, years" } } }
            tbody {
                @for r in &report.out_of_support {
                    tr {
                        td { a href={ "/assets/" (layout::query_value(&r.asset_id)) } { (r.hostname) } }
                        td { (r.os.clone().unwrap_or_default()) " " (r.os_version.clone().unwrap_or_default()) }
                        td { @if let Some(d) = r.end_of_support { (d.to_string()) } }
                        td { (support(r.support)) }
                        td { (r.model.clone().unwrap_or_default()) }
                        td.num { @if let Some(a) = r.age_years { (format!("{a:.1}")) } }
                    }
                }
            }
        }
        h2 { "Operating system releases in use" }
        table #os-versions {
            thead { tr { th { "Release" } th.num { "Assets" } th { "End of support" } th { "Support" } } }
            tbody {
                @for v in &report.os_versions {
                    tr {
                        td { (v.os_version) @if let Some(r) = &v.release { " (" (r) ")" } }
                        td.num { (v.assets) }
                        td { @if let Some(d) = v.end_of_support { (d.to_string()) } }
                        td { (support(v.support)) }
                    }
                }
            }
        }
    };
    Ok(layout::page(
        &me,
        Section::Capacity,
        "Renewal planning",
        body,
    ))
}
