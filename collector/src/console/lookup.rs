//! The search box: a name, a login or a host name → the caller's
//! machines, each with why it matched, its health now and its open
//! incidents. The card is the same one an incoming call shows.

use std::sync::Arc;

use atalaya_common::model::Timestamp;
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use maud::{Markup, html};
use serde::Deserialize;

use super::auth::Person;
use super::layout::{self, Section};
use super::{ConsoleState, PageError, PageResult, blocking};
use crate::desk;
use crate::lookup::{Lookup, SlaState};

/// Machines shown for one search.
const LIMIT: usize = 20;
/// Longest query taken, in characters.
const MAX_QUERY_CHARS: usize = 256;

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new().route("/lookup", get(page))
}

#[derive(Debug, Default, Deserialize)]
struct LookupQuery {
    q: Option<String>,
}

async fn page(
    State(state): State<ConsoleState>,
    me: Person,
    Query(q): Query<LookupQuery>,
) -> PageResult<Markup> {
    let text = q.q.map(|s| s.trim().to_owned()).unwrap_or_default();
    if text.chars().count() > MAX_QUERY_CHARS {
        return Err(PageError::Bad(format!(
            "the search is longer than {MAX_QUERY_CHARS} characters"
        )));
    }
    let found = if text.is_empty() {
        None
    } else {
        Some(find(&state, text.clone()).await?)
    };
    let body = html! {
        form.inline method="get" action="/lookup" {
            input type="search" name="q" value=(text) placeholder="Name, login, host or phone" autofocus;
            button type="submit" { "Look up" }
        }
        @if let Some(found) = &found { (card(found)) }
    };
    Ok(layout::page(&me, Section::Lookup, "Caller lookup", body))
}

/// Looks `text` up as the API does.
pub(super) async fn find(state: &ConsoleState, text: String) -> PageResult<Lookup> {
    let admin = Arc::clone(&state.api.admin);
    let silent_after = admin.silent_after();
    let now = Timestamp::now();
    blocking(state, move |s| {
        desk::lookup::lookup(s, &text, LIMIT, now, &|a| {
            crate::api::agent_status(a, admin.is_connected(&a.id), silent_after, now)
        })
    })
    .await
}

fn percent(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v:.0} %"))
}

/// The caller card: the machines found, their health now and open incidents.
pub(super) fn card(found: &Lookup) -> Markup {
    html! {
        section.lookup data-query=(found.query) {
            @if found.machines.is_empty() && found.people.is_empty() {
                p.empty { "No one and no machine matches “" (found.query) "”." }
            } @else {
                p { (found.total) " machine" (if found.total == 1 { "" } else { "s" }) " for “" (found.query) "”" }
            }
            @for p in &found.people {
                article.person {
                    h2 { (p.name) }
                    p.facts {
                        @if let Some(d) = &p.department { (d) }
                        @if let Some(l) = &p.location { " · " (l) }
                        @if let Some(x) = &p.extension { " · extension " (x) }
                    }
                    p.facts {
                        @if let Some(e) = &p.email { a href={ "mailto:" (e) } { (e) } }
                        @for ph in &p.phones { " · " (ph.number) }
                        @if !p.logins.is_empty() { " · logins " (p.logins.join(", ")) }
                    }
                    ul.why { @for w in &p.why { li { (w) } } }
                }
            }
            @for m in &found.machines {
                article.machine {
                    h2 { a href={ "/assets/" (layout::query_value(&m.asset_id)) } { (m.hostname) } " "
                        (layout::badge(match m.agent_status.as_str() {
                            "connected" => "ok",
                            "silent" | "disconnected" => "bad",
                            _ => "muted",
                        }, &m.agent_status)) }
                    p.facts {
                        @if let Some(os) = &m.os { (os) }
                        @if let Some(model) = &m.model { " · " (model) }
                        @if let Some(serial) = &m.serial { " · serial " (serial) }
                        @if !m.addresses.is_empty() {
                            " · " (m.addresses.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))
                        }
                    }
                    ul.why { @for r in &m.why { li { (r.text) } } }
                    @if let Some(h) = &m.health {
                        p.health {
                            "CPU " (percent(h.cpu_percent))
                            " · memory " (percent(h.memory_used_percent))
                            @for fs in &h.filesystems { " · " (fs.mount) " " (format!("{:.0} %", fs.used_percent)) }
                            " · at " (layout::when(Some(h.at)))
                        }
                    } @else {
                        p.health.muted { "No recent health sample." }
                    }
                    @if m.open_incidents.is_empty() {
                        p.muted { "No open incident." }
                    } @else {
                        ul.incidents {
                            @for i in &m.open_incidents {
                                li {
                                    a href={ "/incidents/" (i.id) } { "#" (i.id) " " (i.title) }
                                    " " (layout::badge(match i.sla {
                                        SlaState::Ok => "ok",
                                        SlaState::AtRisk => "warn",
                                        SlaState::Breached => "bad",
                                    }, i.sla.name()))
                                    " " (i.priority.to_string()) " · " (i.status.name())
                                    @if let Some(a) = &i.assignee { " · " (a) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
