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
use crate::api::AdminActions;
use crate::records::incident::Priority;
use crate::store::{Store, StoreError};

/// How long the composition of the fleet (which reads every inventory for
/// the models) is reused before it is counted again.
pub const COMPOSITION_TTL: Duration = Duration::from_secs(60);

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new().route("/fleet", get(fleet))
}

/// Counts by a name, largest first when shown.
type Counts = BTreeMap<String, u64>;

/// What the fleet is made of: slow to count, cached for
/// [`COMPOSITION_TTL`], then counted again in the background while the
/// last count is still shown.
#[derive(Debug, Clone, Default)]
pub struct Composition {
    /// When it was counted.
    pub at: Option<Timestamp>,
    /// Being counted again in the background.
    refreshing: bool,
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

/// The composition counted last, if any; once it is older than
/// [`COMPOSITION_TTL`], a new count starts in the background (one at a
/// time) and the old one is still returned, so that no view waits for it.
fn cached_composition(state: &ConsoleState, now: Timestamp) -> Option<Composition> {
    let ttl = i64::try_from(COMPOSITION_TTL.as_millis()).unwrap_or(i64::MAX);
    let mut slot = state.fleet.lock().ok()?;
    let at = slot.at?;
    if now.0.saturating_sub(at.0) >= ttl && !slot.refreshing {
        slot.refreshing = true;
        let state = state.clone();
        tokio::spawn(async move {
            let counted = blocking(&state, move |s| composition(s, Timestamp::now())).await;
            if let Ok(mut slot) = state.fleet.lock() {
                match counted {
                    Ok(c) => *slot = c,
                    Err(e) => {
                        tracing::warn!(error = %e, "counting the fleet's composition");
                        slot.refreshing = false;
                    }
                }
            }
        });
    }
    Some(slot.clone())
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

/// Agents by status, devices by state and active incidents by priority
/// and SLA clock, now. Reads each agent's and each active incident's
/// leading fields only.
fn live(s: &Store, admin: &dyn AdminActions, now: Timestamp) -> Result<Now, StoreError> {
    let mut n = Now::default();
    let silent_after = admin.silent_after();
    for a in s.agent_presence()? {
        let connected = admin.is_connected(&a.id);
        let status =
            crate::api::agent_status_of(a.revoked_at, a.last_seen, connected, silent_after, now);
        count(&mut n.agents, status);
    }
    for d in s.devices()? {
        match d.last_poll.as_ref().map(|p| p.state) {
            None | Some(DeviceState::Unpolled) => n.devices_unpolled += 1,
            Some(DeviceState::Timeout | DeviceState::Unresolved | DeviceState::NetworkError) => {
                n.devices_down += 1;
            }
            // Anything else answered, even if with a complaint.
            Some(_) => n.devices_up += 1,
        }
    }
    for i in s.active_incident_heads()? {
        *n.by_priority.entry(i.priority).or_default() += 1;
        if i.acknowledge_breached || i.resolve_breached {
            n.breached += 1;
        } else if now >= i.at_risk_at {
            n.at_risk += 1;
        }
        if !i.assigned {
            n.unassigned += 1;
        }
    }
    Ok(n)
}

async fn fleet(State(state): State<ConsoleState>, me: Person) -> PageResult<Markup> {
    let now = Timestamp::now();
    let comp = match cached_composition(&state, now) {
        Some(c) => c,
        None => {
            // Never counted yet: this view waits for it.
            let c = blocking(&state, move |s| composition(s, now)).await?;
            if let Ok(mut slot) = state.fleet.lock() {
                *slot = c.clone();
            }
            c
        }
    };
    let admin = Arc::clone(&state.api.admin);
    let live = blocking(&state, move |s| live(s, admin.as_ref(), now)).await?;
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
            "The composition was counted at " (layout::when(comp.at)) "; once it is a minute old it is counted again in the background, and shown when done."
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

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;
    use crate::api::ApiState;
    use crate::config::ConsoleSettings;
    use crate::records::incident::{IncidentRecord, Severity, Status};
    use crate::store::AgentRecord;
    use crate::store::testutil::temp_store;

    struct Admin;

    impl AdminActions for Admin {
        fn agent_revoked(&self, _id: &str) {}
        fn collector_address(&self) -> String {
            String::new()
        }
        fn ca_sha256(&self) -> [u8; 32] {
            [0; 32]
        }
        fn is_connected(&self, id: &str) -> bool {
            id == "ag-on"
        }
    }

    fn incident(id: u64, status: Status, priority: Priority) -> IncidentRecord {
        IncidentRecord {
            id,
            asset: "asset-1".into(),
            rule: "r".into(),
            subject: id.to_string(),
            title: "t".into(),
            description: String::new(),
            severity: Severity::Warning,
            priority,
            status,
            level: 1,
            assignee: None,
            occurrences: 1,
            flapping: false,
            opened_at: Timestamp(0),
            stored_at: Timestamp(0),
            acknowledged_at: None,
            resolved_at: None,
            closed_at: None,
            acknowledge_due: Timestamp(1_000_000),
            at_risk_at: Timestamp(100_000_000),
            resolve_due: Timestamp(1_000_000),
            acknowledge_breached: false,
            resolve_breached: false,
            solution: None,
            kb_articles: Vec::new(),
            timeline: Vec::new(),
        }
    }

    #[test]
    fn live_counts_agents_by_status_and_active_incidents_by_clock() {
        let (_d, s) = temp_store();
        let now = Timestamp(10_000_000);
        let agent = |id: &str, seen: Option<i64>, revoked: bool| {
            let mut a = AgentRecord::enrolled(id, id, "pem", [0; 32], "1", Timestamp(0));
            a.last_seen = seen.map(Timestamp);
            a.revoked_at = revoked.then_some(Timestamp(5));
            s.add_agent(&a).unwrap();
        };
        agent("ag-on", Some(now.0 - 1_000), false);
        agent("ag-off", Some(now.0 - 1_000), false);
        agent("ag-quiet", Some(now.0 - 3_600_000), false);
        agent("ag-new", None, false);
        agent("ag-gone", Some(now.0), true);
        let txn = s.begin_desk().unwrap();
        let mut risky = incident(1, Status::Open, Priority::P1);
        risky.at_risk_at = Timestamp(now.0 - 1);
        txn.put_incident(&risky).unwrap();
        let mut late = incident(2, Status::Acknowledged, Priority::P2);
        late.assignee = Some("ana".into());
        late.resolve_breached = true;
        txn.put_incident(&late).unwrap();
        txn.put_incident(&incident(3, Status::Open, Priority::P2))
            .unwrap();
        txn.put_incident(&incident(4, Status::Closed, Priority::P1))
            .unwrap();
        txn.commit().unwrap();

        let n = live(&s, &Admin, now).unwrap();
        let agents: Vec<(&str, u64)> = n.agents.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(
            agents,
            [
                ("connected", 1),
                ("disconnected", 1),
                ("never_seen", 1),
                ("revoked", 1),
                ("silent", 1)
            ]
        );
        let by_priority: Vec<(Priority, u64)> =
            n.by_priority.iter().map(|(p, c)| (*p, *c)).collect();
        assert_eq!(by_priority, [(Priority::P1, 1), (Priority::P2, 2)]);
        assert_eq!((n.at_risk, n.breached, n.unassigned), (1, 1, 2));
        assert_eq!(n.devices_unpolled + n.devices_up + n.devices_down, 0);
    }

    #[tokio::test]
    async fn an_old_composition_is_shown_while_it_is_counted_again() {
        let (_d, s) = temp_store();
        let state = ConsoleState {
            api: ApiState {
                store: Arc::new(s),
                telemetry: Arc::default(),
                admin: Arc::new(Admin),
                desk: None,
                calls: Default::default(),
            },
            settings: ConsoleSettings::default(),
            guard: Arc::new(std::sync::Mutex::new(super::super::guard::LoginGuard::new(
                super::super::guard::Limits::from(&ConsoleSettings::default()),
            ))),
            tls: false,
            fleet: Arc::default(),
        };
        let now = Timestamp(100_000_000);
        assert!(cached_composition(&state, now).is_none(), "never counted");
        let old = Composition {
            at: Some(Timestamp(now.0 - 61_000)),
            assets: 7,
            ..Composition::default()
        };
        *state.fleet.lock().unwrap() = old;
        // Fresh enough: shown as it is, no count started.
        let shown = cached_composition(&state, Timestamp(now.0 - 2_000)).unwrap();
        assert_eq!((shown.assets, shown.refreshing), (7, false));
        // A minute old: still shown, and counted again in the background.
        let shown = cached_composition(&state, now).unwrap();
        assert_eq!(shown.assets, 7);
        assert!(state.fleet.lock().unwrap().refreshing);
        for _ in 0..500 {
            if !state.fleet.lock().unwrap().refreshing {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let counted = state.fleet.lock().unwrap().clone();
        assert_eq!(counted.assets, 0, "the empty store counted again");
        assert!(!counted.refreshing);
        assert!(counted.at.unwrap().0 > now.0);
    }
}
