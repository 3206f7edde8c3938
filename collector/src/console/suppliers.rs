//! The supplier pages: suppliers with what the fleet has from each
//! (`/suppliers`), contracts by the day they end (`/suppliers/contracts`),
//! each asset's warranty (`/suppliers/warranties`) and licence
//! compliance (`/suppliers/licences`) — the reports of `atalaya
//! suppliers`, `contracts`, `warranty` and `licences`, as tables.

use atalaya_common::model::Timestamp;
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use maud::{Markup, html};
use serde::Deserialize;

use super::auth::Person;
use super::layout::{self, Section};
use super::{ConsoleState, PageError, PageResult, blocking};
use crate::desk::suppliers::{self, DEFAULT_SEEN_DAYS};
use crate::helpers::day::Day;
use crate::records::supplier::Coverage;
use crate::suppliers::reports::{Compliance, Standing, WarrantySource};

/// Days before its end a warranty counts as expiring, unless asked.
const EXPIRING_DAYS: u32 = 90;

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/suppliers", get(list))
        .route("/suppliers/contracts", get(contracts))
        .route("/suppliers/warranties", get(warranties))
        .route("/suppliers/licences", get(licences))
}

#[derive(Debug, Default, Deserialize)]
struct SupplierQuery {
    /// Contracts ending, or warranties expiring, within this many days.
    within: Option<String>,
}

fn within(q: &SupplierQuery) -> PageResult<Option<u32>> {
    match q.within.as_deref().map(str::trim).filter(|w| !w.is_empty()) {
        None => Ok(None),
        Some(w) => w
            .parse::<u32>()
            .ok()
            .filter(|d| *d <= 36_500)
            .map(Some)
            .ok_or_else(|| PageError::Bad(format!("`{w}` is not a number of days"))),
    }
}

fn today() -> Day {
    Day::of_ms_saturating(Timestamp::now().0)
}

fn header(here: &str, q: Option<&SupplierQuery>) -> Markup {
    let tabs = [
        ("/suppliers", "Suppliers"),
        ("/suppliers/contracts", "Contracts"),
        ("/suppliers/warranties", "Warranties"),
        ("/suppliers/licences", "Licences"),
    ];
    html! {
        nav.pages {
            @for (href, label) in tabs {
                a href=(href) aria-current=[(href == here).then_some("page")] { (label) }
            }
        }
        @if let Some(q) = q {
            form.inline method="get" action=(here) {
                label { "Ending within days" input name="within" type="number" min="0" value=(q.within.clone().unwrap_or_default()); }
                button type="submit" { "Show" }
            }
        }
    }
}

fn standing(s: Option<Standing>) -> Markup {
    match s {
        Some(Standing::Expired) => layout::badge("bad", "expired"),
        Some(Standing::Expiring) => layout::badge("warn", "expiring"),
        Some(Standing::Active) => layout::badge("ok", "active"),
        Some(Standing::NotStarted) => layout::badge("muted", "not started"),
        None => layout::badge("muted", "unknown"),
    }
}

fn hours(v: Option<f64>) -> String {
    v.map(|h| format!("{h} h")).unwrap_or_default()
}

async fn list(State(state): State<ConsoleState>, me: Person) -> PageResult<Markup> {
    let today = today();
    let rows = blocking(&state, move |s| suppliers::supplier_report(s, today)).await?;
    let body = html! {
        (header("/suppliers", None))
        table #suppliers {
            thead { tr {
                th { "Supplier" } th { "Kind" } th { "Phone" } th { "E-mail" } th { "Portal" } th { "Account" }
                th.num { "Contracts" } th.num { "In force" } th.num { "Hardware" } th.num { "Software" }
                th.num { "Covered" } th.num { "Incidents" } th.num { "Response" }
            } }
            tbody {
                @for r in &rows {
                    tr {
                        td { (r.name) }
                        td { (r.kind.name()) }
                        td { (r.phone.clone().unwrap_or_default()) }
                        td { @if let Some(e) = &r.email { a href={ "mailto:" (e) } { (e) } } }
                        td { (r.portal.clone().unwrap_or_default()) }
                        td { (r.account.clone().unwrap_or_default()) }
                        td.num { (r.contracts) }
                        td.num { (r.active_contracts) }
                        td.num { (r.hardware) }
                        td.num { (r.software) }
                        td.num { (r.covered_assets) }
                        td.num { (r.incidents) }
                        td.num { (hours(r.levels.response_hours)) }
                    }
                }
            }
        }
        @if rows.is_empty() {
            p.muted { "No suppliers yet: " code { "atalaya import suppliers FILE.csv" } " adds them." }
        } @else {
            p.note { "Hardware: assets the supplier made (by maker name); software: installed packages it publishes (by package vendor); covered: assets under any of its contracts; incidents: active in the last " (suppliers::INCIDENT_DAYS) " days on the assets it made or covers." }
        }
    };
    Ok(layout::page(&me, Section::Suppliers, "Suppliers", body))
}

fn coverage(c: &Coverage) -> String {
    match c {
        Coverage::Serial(s) => format!("serial {s}"),
        Coverage::Model(m) => format!("model {m}"),
        Coverage::Tag(t) => format!("tag {t}"),
        Coverage::Software(p) => format!("software {p}"),
    }
}

async fn contracts(
    State(state): State<ConsoleState>,
    me: Person,
    Query(q): Query<SupplierQuery>,
) -> PageResult<Markup> {
    let within = within(&q)?;
    let today = today();
    let report = blocking(&state, move |s| {
        suppliers::contracts_report(s, today, within)
    })
    .await?;
    let body = html! {
        (header("/suppliers/contracts", Some(&q)))
        table #contracts {
            thead { tr {
                th { "Supplier" } th { "Number" } th { "Kind" } th { "Start" } th { "End" } th { "Notice on" }
                th.num { "Days left" } th { "Standing" } th.num { "Assets" } th.num { "Response" } th { "Covers" }
            } }
            tbody {
                @for r in &report.rows {
                    @let c = &r.contract;
                    tr {
                        td { (c.supplier) }
                        td { (c.number) }
                        td { (c.kind.name()) }
                        td { (c.start.to_string()) }
                        td { (c.end.to_string()) }
                        td { (r.notice_on.to_string()) }
                        td.num { (r.days_left) }
                        td { (standing(Some(r.standing))) }
                        td.num { (r.assets) }
                        td.num { (hours(c.levels.response_hours)) }
                        td { (c.covers.iter().map(coverage).collect::<Vec<_>>().join("; ")) }
                    }
                }
            }
        }
        @if report.rows.is_empty() {
            p.muted { "No contracts" @if within.is_some() { " ending within that many days" } "." }
        }
    };
    Ok(layout::page(&me, Section::Suppliers, "Contracts", body))
}

async fn warranties(
    State(state): State<ConsoleState>,
    me: Person,
    Query(q): Query<SupplierQuery>,
) -> PageResult<Markup> {
    let window = within(&q)?.unwrap_or(EXPIRING_DAYS);
    let today = today();
    let rows = blocking(&state, move |s| {
        suppliers::warranty_report(s, today, window)
    })
    .await?;
    let body = html! {
        (header("/suppliers/warranties", Some(&q)))
        p.note { "Expiring: ending within " (window) " days. Out of warranty first, then expiring, unknown and in force." }
        table #warranties {
            thead { tr {
                th { "Host" } th { "Maker" } th { "Model" } th { "Serial" } th { "Supplier" } th { "End" }
                th.num { "Days left" } th { "Standing" } th { "From" }
            } }
            tbody {
                @for r in &rows {
                    tr {
                        td { a href={ "/assets/" (layout::query_value(&r.asset_id)) } { (r.hostname) } }
                        td { (r.maker.clone().unwrap_or_default()) }
                        td { (r.model.clone().unwrap_or_default()) }
                        td { (r.serial.clone().unwrap_or_default()) }
                        td { (r.supplier.clone().unwrap_or_default()) }
                        td { @if let Some(e) = r.end { (e.to_string()) } }
                        td.num { @if let Some(d) = r.days_left { (d) } }
                        td { (standing(r.standing)) }
                        td { @match &r.source {
                            Some(WarrantySource::Contract { number, .. }) => { "contract " (number) },
                            Some(WarrantySource::Entered) => "entered",
                            None => "",
                        } }
                    }
                }
            }
        }
    };
    Ok(layout::page(&me, Section::Suppliers, "Warranties", body))
}

async fn licences(State(state): State<ConsoleState>, me: Person) -> PageResult<Markup> {
    let now = Timestamp::now();
    let rows = blocking(&state, move |s| {
        suppliers::licence_report(s, now, DEFAULT_SEEN_DAYS)
    })
    .await?;
    let body = html! {
        (header("/suppliers/licences", None))
        p.note { "Installations on assets seen in the last " (DEFAULT_SEEN_DAYS) " days, against the seats of each licence contract." }
        table #licences {
            thead { tr {
                th { "Supplier" } th { "Number" } th { "Software" } th.num { "Seats" } th.num { "Installed" }
                th { "Compliance" } th.num { "Over" } th.num { "Unused" } th { "End" } th { "Assets" }
            } }
            tbody {
                @for r in &rows {
                    tr {
                        td { (r.supplier) }
                        td { (r.number) }
                        td { (r.software.join("; ")) }
                        td.num { (r.seats) }
                        td.num { (r.installed) }
                        td { @match r.compliance {
                            Compliance::Over => (layout::badge("bad", "over")),
                            Compliance::Within => (layout::badge("ok", "within")),
                        } }
                        td.num { (r.over) }
                        td.num { (r.unused) }
                        td { (r.end.to_string()) }
                        td { (r.assets.join(" ")) }
                    }
                }
            }
        }
        @if rows.is_empty() {
            p.muted { "No licence contracts." }
        }
    };
    Ok(layout::page(&me, Section::Suppliers, "Licences", body))
}
