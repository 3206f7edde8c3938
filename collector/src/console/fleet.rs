//! The fleet page: what the fleet is made of and how it is now — assets by
//! kind, OS, model and tag; agents connected, silent and disconnected;
//! network devices answering or not; open incidents by priority and the
//! SLA clocks at risk now.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use atalaya_common::model::Timestamp;
use atalaya_common::model::device::DeviceState;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use maud::{Markup, html};

use super::auth::Person;
use super::layout::{self, Section};
use super::{ConsoleState, PageResult, blocking};
use crate::records::incident::Priority;
use crate::store::{IncidentFilter, Store, StoreError};

/// How long the composition of the fleet (which reads every inventory for
/// the models) is reused before it is counted again.
pub const COMPOSITION_TTL: Duration = Duration::from_secs(60);

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new().route("/fleet", get(fleet))
}

/// Counts by a name, largest first when shown.
type Counts = BTreeMap<String, u64>;

/// What the fleet is made of: slow to count, cached for
/// [`COMPOSITION_TTL`].
#[derive(Debug, Clone, Default)]
pub struct Composition {
    /// When it was counted.
    pub at: Option<Timestamp>,
    kinds: Counts,
    os: Counts,
    models: Counts,
    tags: Counts,
    assets: u64,
}

fn count(c: &mut Counts, key: impl Into<String>) {
    *c.entry(key.into()).or_default() += 1;
}

fn composition(store: &Store, now: Timestamp) -> Result<Composition, StoreError> {
    let metas = store.all_asset_metas()?;
    let mut c = Composition {
        at: Some(now),
        ..Composition::default()
    };
    let mut hosts = Vec::new();
    for m in &metas {
        c.assets += 1;
        let device = m.id.starts_with("device:");
        count(&mut c.kinds, if device { "network device" } else { "host" });
        count(&mut c.os, m.os.clone().unwrap_or_else(|| "unknown".into()));
        for t in &m.tags {
            count(&mut c.tags, t.clone());
        }
        if m.tags.is_empty() {
            count(&mut c.tags, "(no tag)");
        }
        if !device {
            hosts.push(m.id.as_str());
        }
    }
    for chunk in hosts.chunks(500) {
        for inv in store.inventories(chunk)?.values() {
            let s = &inv.hardware.system;
            let model = [s.vendor.as_deref(), s.product.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            count(
                &mut c.models,
                if model.trim().is_empty() {
                    "unknown".to_owned()
                } else {
                    model
                },
            );
        }
    }
    Ok(c)
}

/// The live half of the page, counted on every view.
#[derive(Debug, Default)]
struct Now {
    agents: Counts,
    devices_up: u64,
    devices_down: u64,
    devices_unpolled: u64,
    by_priority: BTreeMap<Priority, u64>,
    at_risk: u64,
    breached: u64,
    unassigned: u64,
}

async fn fleet(State(state): State<ConsoleState>, me: Person) -> PageResult<Markup> {
    let now = Timestamp::now();
    let cached = state.fleet.lock().ok().map(|c| c.clone()).filter(|c| {
        c.at.is_some_and(|at| {
            now.0.saturating_sub(at.0) < i64::try_from(COMPOSITION_TTL.as_millis()).unwrap_or(0)
        })
    });
    let comp = match cached {
        Some(c) => c,
        None => {
            let c = blocking(&state, move |s| composition(s, now)).await?;
            if let Ok(mut slot) = state.fleet.lock() {
                *slot = c.clone();
            }
            c
        }
    };
    let admin = Arc::clone(&state.api.admin);
    let live = blocking(&state, move |s| {
        let mut n = Now::default();
        let silent_after = admin.silent_after();
        for a in s.list_agents()? {
            let status = crate::api::agent_status(&a, admin.is_connected(&a.id), silent_after, now);
            count(&mut n.agents, status);
        }
        for d in s.devices()? {
            match d.last_poll.as_ref().map(|p| p.state) {
                None | Some(DeviceState::Unpolled) => n.devices_unpolled += 1,
                Some(
                    DeviceState::Timeout | DeviceState::Unresolved | DeviceState::NetworkError,
                ) => {
                    n.devices_down += 1;
                }
                // Anything else answered, even if with a complaint.
                Some(_) => n.devices_up += 1,
            }
        }
        let active = s.incidents(&IncidentFilter {
            active: true,
            ..IncidentFilter::default()
        })?;
        for i in &active {
            *n.by_priority.entry(i.priority).or_default() += 1;
            if i.acknowledge_breached || i.resolve_breached {
                n.breached += 1;
            } else if now >= i.at_risk_at {
                n.at_risk += 1;
            }
            if i.assignee.is_none() {
                n.unassigned += 1;
            }
        }
        Ok(n)
    })
    .await?;
    let agents = |k: &str| live.agents.get(k).copied().unwrap_or(0);
    let body = html! {
        section.cards aria-label="Now" {
            (layout::card("assets", comp.assets, Some("/assets")))
            (layout::card("agents connected", agents("connected"), None))
            (layout::card("agents silent", agents("silent"), None))
            (layout::card("agents disconnected", agents("disconnected"), None))
            (layout::card("devices answering", live.devices_up, Some("/network")))
            (layout::card("devices not answering", live.devices_down, Some("/network")))
            (layout::card("open incidents", live.by_priority.values().sum::<u64>(), Some("/incidents")))
            (layout::card("SLA at risk now", live.at_risk, Some("/incidents?sla=at_risk")))
            (layout::card("SLA breached", live.breached, Some("/incidents?sla=breached")))
            (layout::card("unassigned", live.unassigned, Some("/incidents?assignee=none")))
        }
        section.grid {
            (table("Open incidents by priority", "Priority", live.by_priority.iter().map(|(p, n)| {
                (p.to_string(), *n, Some(format!("/incidents?priority={p}")))
            })))
            (counts_table("Assets by kind", "Kind", &comp.kinds, None))
            (counts_table("Assets by operating system", "Operating system", &comp.os, Some("os")))
            (counts_table("Hosts by model", "Model", &comp.models, None))
            (counts_table("Assets by tag", "Tag", &comp.tags, Some("tag")))
        }
        p.note {
            "The composition was counted at " (layout::when(comp.at)) "; it is counted again at most once a minute."
            @if live.devices_unpolled > 0 {
                " " (live.devices_unpolled) " network devices have not been polled yet."
            }
        }
    };
    Ok(layout::page(&me, Section::Fleet, "Fleet", body))
}

fn counts_table(title: &str, what: &str, counts: &Counts, filter: Option<&str>) -> Markup {
    let mut rows: Vec<(&String, &u64)> = counts.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    table(
        title,
        what,
        rows.into_iter().take(15).map(|(k, n)| {
            let href = filter
                .filter(|_| !k.starts_with('('))
                .map(|f| format!("/assets?{f}={}", layout::query_value(k)));
            (k.clone(), *n, href)
        }),
    )
}

fn table(
    title: &str,
    what: &str,
    rows: impl Iterator<Item = (String, u64, Option<String>)>,
) -> Markup {
    html! {
        table.counts {
            caption { (title) }
            thead { tr { th { (what) } th.num { "Count" } } }
            tbody {
                @for (name, n, href) in rows {
                    tr {
                        td { @if let Some(h) = href { a href=(h) { (name) } } @else { (name) } }
                        td.num { (n) }
                    }
                }
            }
        }
    }
}
